"""Validation rules: the GX suites in ``expectations/``, ISO 6346, severities (docs/architecture.md §4 step 3).

``validate(frame, spec, cfg, issues=...)`` is the step; ``load_suite(table, cfg)`` shows the
rules in force; ``check_digit`` / ``is_valid_container`` are the ISO 6346 helpers.
GX itself is imported only when ``validate`` runs.
"""
from .iso6346 import check_digit, is_valid_container, valid_container_mask
from .suites import BLOCKING, WARNING, SuiteError, key_columns, load_suite, suite_rules
from .validate import RulesError, ValidationResult, build_gx_suite, register_gx_expectations, validate

__all__ = [
    "BLOCKING", "WARNING", "RulesError", "SuiteError", "ValidationResult", "build_gx_suite",
    "check_digit", "is_valid_container", "key_columns", "load_suite", "register_gx_expectations",
    "suite_rules", "valid_container_mask", "validate",
]
