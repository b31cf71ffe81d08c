"""The validation rules of each table: Great Expectations suites in ``expectations/<table>.json``.

A suite file is plain GX 1.x JSON (``name``, ``meta``, ``expectations`` with ``type``,
``kwargs``, ``meta`` and optional ``notes``/``description``). Each expectation's ``meta``
names the rule and its default severity::

    {"rule": "container_format", "severity": "warning",
     "override": "container_validation.container_format_regex"}

``rule`` is the stable identifier used in the config (``business_rules.severity``), in the
targets' ``validation_warnings`` and in the rejects' ``reasons``. ``severity`` is
``blocking`` (the row goes to the rejects) or ``warning`` (the row is kept and tagged);
missing means ``warning``. ``override`` names the old config key that replaces the
expectation's parameter at run time.

How the old ``business_rules`` apply (:func:`load_suite` with a config):

- ``container_format_regex`` / ``booking_format_regex`` replace the ``regex`` of every
  expectation whose ``override`` names them (the container rule on every table with
  containers, the booking rule on every table with bookings).
- ``required_fields`` of a group (``container_validation`` or ``booking_validation``) apply
  to the tables whose suite lists the group in ``meta.required_fields_from``: tables keyed
  by container (arribos, pendiente_desconsolidar) for ``container_validation``, tables with
  a ``Booking`` column (arribos, remisiones, arribos_expo_ctns) for ``booking_validation``.
  Not to expo for ``container_validation``: an expo row without Contenedor is a pending
  slot, which is normal. When the config gives a group's ``required_fields``, that group's
  ``required_<field>`` expectations are replaced by the configured list (fields the table
  doesn't have are skipped).
- Severity: only a missing or unparseable **business key** is blocking by default
  (``required_<key>``, ``key_parseable``, ``parseable_<key>``). Every other required field is
  a *warning*: the old config requires ``Booking`` on container rows, but the desk often has
  none in arribos, and losing those rows would lose real containers. So with the old
  config, no row with a usable key is lost. ``business_rules.severity`` changes any rule's
  severity, except that a table's own key stays required (``required_<key>`` is always
  blocking there; the same name may still be a warning on tables where it is not the key).
- A ``sync_settings.<table>.key`` in the config adds a blocking ``required_<column>`` for
  each key column.

Loading is strict: malformed JSON, an unknown expectation type (GX would drop it with only a
log line), a missing ``meta.rule``, a duplicated rule, an unknown column or an unknown
severity is a :class:`SuiteError`, one line naming the file and the problem. A broken suite
is configuration: a :class:`~trafico_lib.errors.UsageError` (exit 2). The config's rule
names are checked when it loads (:func:`unknown_severity_rule`, used by ``load_config``);
this module reads the suites as plain JSON and never imports GX.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..jsonfile import read_json
from ..tables import TABLES, TableSpec, get_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

BLOCKING, WARNING = "blocking", "warning"
SEVERITIES = (BLOCKING, WARNING)
NOT_NULL = "expect_column_values_to_not_be_null"
MATCH_REGEX = "expect_column_values_to_match_regex"
ISO6346 = "expect_column_values_to_be_valid_iso6346"
# Expectation types trafico registers with GX itself (see validate.register_gx_expectations).
CUSTOM_EXPECTATION_TYPES = frozenset({ISO6346})

FIELD_RULE_GROUPS = ("container_validation", "booking_validation")
OVERRIDE_KEYS = frozenset(
    f"{g}.{k}" for g in FIELD_RULE_GROUPS
    for k in ("required_fields", "container_format_regex", "booking_format_regex")
)
_SUITE_KEYS = {"name", "meta", "expectations", "notes", "id", "suite_parameters"}
_EXPECTATION_KEYS = {"type", "kwargs", "meta", "notes", "description", "id"}
_COLUMN_KWARGS = ("column", "column_A", "column_B")


class SuiteError(UsageError):
    """A suite file (or the config's business rules) can't be used; one readable line."""


# ---- small helpers other modules use ----------------------------------------------------

def parseable_rule(column: str) -> str:
    """The rule name for a value of ``column`` that normalization could not parse."""
    return f"parseable_{column}"


def readable_rule(column: str) -> str:
    """The rule name for a cell of ``column`` holding bytes that are not text (a NUL, a byte
    outside the file's encoding): blocking by default, the row goes to the rejects."""
    return f"readable_{column}"


def required_rule(column: str) -> str:
    return f"required_{column}"


def key_columns(spec: TableSpec, cfg=None) -> list[str]:
    """The required business-key columns of a table (config ``key`` override honoured).

    Only columns of the source frame count (expo's ``Secuencia`` is assigned later).
    """
    key = (cfg.table(spec.name).key if cfg is not None else None) or list(spec.key)
    return [c for c in key if c in spec.column_names]


def suite_path(table: str, directory: str | os.PathLike | None = None) -> Path:
    return Path(directory or EXPECTATIONS_DIR) / f"{get_table(table).name}.json"


def display_path(path: str | os.PathLike) -> str:
    """A path as shown in messages: relative to the project when it lives inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(p)


@lru_cache(maxsize=1)
def known_expectation_types() -> frozenset[str]:
    """Every expectation type GX core ships, plus trafico's own, without importing GX.

    GX core keeps one module per expectation, named after its type, in
    ``great_expectations/expectations/core``; listing that folder costs nothing, while
    importing GX costs seconds. Returns an empty set when the folder can't be found (the
    GX-side check in ``validate`` still catches unknown types then).
    """
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    core = Path(list(spec.submodule_search_locations)[0]) / "expectations" / "core"
    names = {p.stem for p in core.glob("expect_*.py")}
    return frozenset(names | CUSTOM_EXPECTATION_TYPES) if names else frozenset()


# ---- reading -------------------------------------------------------------------------------

def read_suite(path: str | os.PathLike, spec: TableSpec) -> dict[str, Any]:
    """Read and check one suite file as written (no config applied)."""
    where = display_path(path)
    data = read_json(path, where, SuiteError)
    check_suite(data, spec, where)
    return data


def check_suite(data: Any, spec: TableSpec, where: str) -> None:
    """Raise :class:`SuiteError` unless ``data`` is a usable suite for ``spec``'s table."""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a JSON object with name and expectations")
    extra = sorted(set(data) - _SUITE_KEYS)
    if extra:
        raise SuiteError(f"{where}: unknown key {extra[0]!r} (expected {', '.join(sorted(_SUITE_KEYS))})")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise SuiteError(f"{where}: 'name' must be a non-empty string")
    if not isinstance(data.get("meta", {}), dict):
        raise SuiteError(f"{where}: 'meta' must be an object")
    groups = data.get("meta", {}).get("required_fields_from", [])
    if not isinstance(groups, list) or any(g not in FIELD_RULE_GROUPS for g in groups):
        raise SuiteError(f"{where}: meta.required_fields_from must list some of {', '.join(FIELD_RULE_GROUPS)}")
    exps = data.get("expectations")
    if not isinstance(exps, list):
        raise SuiteError(f"{where}: 'expectations' must be a list")
    known = known_expectation_types()
    columns = set(spec.column_names)
    seen: dict[str, int] = {}
    for i, exp in enumerate(exps, 1):
        at = f"{where}: expectation {i}"
        if not isinstance(exp, dict):
            raise SuiteError(f"{at}: expected an object with type, kwargs and meta")
        meta = exp.get("meta")
        if not isinstance(meta, dict):
            meta = {}  # no rule name in it: refused just below
        rule = meta.get("rule")
        if not isinstance(rule, str) or not rule.strip():
            raise SuiteError(f"{at}: meta.rule is missing (every expectation needs a rule name)")
        at = f"{at} ({rule})"
        extra = sorted(set(exp) - _EXPECTATION_KEYS)
        if extra:
            raise SuiteError(f"{at}: unknown key {extra[0]!r} (expected {', '.join(sorted(_EXPECTATION_KEYS))})")
        if rule in seen:
            raise SuiteError(f"{at}: rule name already used by expectation {seen[rule]}")
        seen[rule] = i
        typ = exp.get("type")
        if not isinstance(typ, str) or not typ:
            raise SuiteError(f"{at}: 'type' is missing")
        if known and typ not in known:
            raise SuiteError(f"{at}: unknown expectation type {typ!r}")
        kwargs = exp.get("kwargs")
        if not isinstance(kwargs, dict):
            raise SuiteError(f"{at}: 'kwargs' must be an object")
        for k in _COLUMN_KWARGS:
            if k in kwargs and kwargs[k] not in columns:
                raise SuiteError(f"{at}: {k} {kwargs[k]!r} is not a column of {spec.name}")
        for c in kwargs.get("column_list") or []:
            if c not in columns:
                raise SuiteError(f"{at}: column {c!r} is not a column of {spec.name}")
        sev = meta.get("severity", WARNING)
        if sev not in SEVERITIES:
            raise SuiteError(f"{at}: meta.severity must be blocking or warning, got {sev!r}")
        ov = meta.get("override")
        if ov is not None:
            if ov not in OVERRIDE_KEYS:
                raise SuiteError(f"{at}: meta.override {ov!r} is not one of {', '.join(sorted(OVERRIDE_KEYS))}")
            if ov.endswith("_regex") and "regex" not in kwargs:
                raise SuiteError(f"{at}: meta.override {ov!r} needs an expectation with a 'regex' kwarg")
            if ov.endswith(".required_fields") and typ != NOT_NULL:
                raise SuiteError(f"{at}: meta.override {ov!r} needs a {NOT_NULL} expectation")


# ---- config overrides ------------------------------------------------------------------------

def _field_rule(cfg, group: str):
    return getattr(cfg.business_rules, group, None) if cfg is not None else None


def _regex_override(cfg, path: str) -> tuple[str, str] | None:
    """(regex, config path) for an ``*_format_regex`` override, the named group first."""
    group, field = path.split(".")
    others = [g for g in FIELD_RULE_GROUPS if g != group]
    for g in [group, *others]:
        rule = _field_rule(cfg, g)
        value = getattr(rule, field, None) if rule is not None else None
        if value is not None:
            return value, f"business_rules.{g}.{field}"
    return None


def _not_null(column: str, rule: str, severity: str, override: str | None) -> dict[str, Any]:
    meta = {"rule": rule, "severity": severity}
    if override:
        meta["override"] = override
    return {"type": NOT_NULL, "kwargs": {"column": column}, "meta": meta}


def _config_where(cfg) -> str:
    return display_path(cfg.source_path) if cfg is not None and cfg.source_path else "config"


def suite_rule_names(directory: str | os.PathLike | None = None) -> set[str]:
    """The rule names the suites declare (a broken suite is reported when its table loads it)."""
    names: set[str] = set()
    for spec in TABLES.values():
        try:
            data = json.loads(suite_path(spec.name, directory).read_text(encoding="utf-8-sig"))
            names.update(e["meta"]["rule"] for e in data.get("expectations", []))
        except Exception:  # a broken suite is reported when that table's suite is loaded
            pass
    return names


def known_rule_names(directory: str | os.PathLike | None = None) -> set[str]:
    """Every rule name a config may mention: the suites' rules plus required_/parseable_/readable_<column>."""
    names = suite_rule_names(directory)
    for spec in TABLES.values():
        for c in spec.column_names:
            names.update({required_rule(c), parseable_rule(c), readable_rule(c)})
    return names


def unknown_severity_rule(rules: Iterable[str], directory: str | os.PathLike | None = None,
                          also_known: Iterable[str] = ()) -> str | None:
    """The problem with ``business_rules.severity`` naming ``rules``, as one line (None: none):
    the first rule that exists nowhere and the rules that do."""
    unknown = sorted(set(rules) - known_rule_names(directory) - set(also_known))
    if not unknown:
        return None
    known = ", ".join(sorted(suite_rule_names(directory) | set(also_known)))
    return (f"business_rules.severity: unknown rule {unknown[0]!r} "
            f"(known rules: {known}, required_<column>, parseable_<column>, readable_<column>)")


def rule_severity(rule: str, default: str, cfg=None) -> str:
    """A rule's severity: the config's ``business_rules.severity`` if it names it, else ``default``."""
    if cfg is not None and rule in cfg.business_rules.severity:
        return cfg.business_rules.severity[rule]
    return default


def apply_overrides(suite: dict[str, Any], spec: TableSpec, cfg) -> dict[str, Any]:
    """A copy of ``suite`` with the config's business rules applied (see module docstring).

    Adds ``overrides``: one readable line per change the config made.
    """
    out = copy.deepcopy(suite)
    notes: list[str] = []
    exps: list[dict[str, Any]] = out["expectations"]
    cols = spec.column_names
    keys = key_columns(spec, cfg)

    # 1. regexes
    for exp in exps:
        ov = exp["meta"].get("override", "")
        if ov.endswith("_regex"):
            found = _regex_override(cfg, ov)
            if found and found[0] != exp["kwargs"].get("regex"):
                exp["kwargs"]["regex"] = found[0]
                notes.append(f"{exp['meta']['rule']}: regex {found[0]!r} from {found[1]}")

    # 2. required fields of the groups that apply to this table and that the config gives
    configured = []
    for g in out.get("meta", {}).get("required_fields_from", []):
        rule = _field_rule(cfg, g)
        if rule is not None and "required_fields" in rule.model_fields_set:
            configured.append((g, rule.required_fields))
    if configured:
        wanted: dict[str, str] = {}
        for g, fields in configured:
            for f in fields:
                if f in cols and f not in wanted:
                    wanted[f] = g
        replaced = {f"{g}.required_fields" for g, _ in configured}
        kept = []
        for exp in exps:
            if exp["meta"].get("override") in replaced and exp["kwargs"].get("column") not in wanted:
                notes.append(f"{exp['meta']['rule']}: removed (not in {exp['meta']['override']})")
                continue
            kept.append(exp)
        exps[:] = kept
        required_now = {e["kwargs"].get("column") for e in exps if e["type"] == NOT_NULL}
        for f, g in wanted.items():
            if f not in required_now:
                sev = BLOCKING if f in keys else WARNING
                exps.append(_not_null(f, required_rule(f), sev, f"{g}.required_fields"))
                notes.append(f"{required_rule(f)}: added from business_rules.{g}.required_fields")

    # 3. a configured business key is always required
    for k in keys:
        if not any(e["type"] == NOT_NULL and e["kwargs"].get("column") == k for e in exps):
            exps.insert(0, _not_null(k, required_rule(k), BLOCKING, None))
            notes.append(f"{required_rule(k)}: added (key column)")

    # 4. severities
    for exp in exps:
        meta = exp["meta"]
        meta.setdefault("severity", WARNING)
        new = rule_severity(meta["rule"], meta["severity"], cfg)
        is_key_required = exp["type"] == NOT_NULL and exp["kwargs"].get("column") in keys
        if is_key_required:
            if new != BLOCKING:
                notes.append(f"{meta['rule']}: stays blocking ({exp['kwargs']['column']} is the business key)")
            meta["severity"] = BLOCKING
        elif new != meta["severity"]:
            notes.append(f"{meta['rule']}: severity {new} from business_rules.severity")
            meta["severity"] = new
    out["overrides"] = notes
    return out


def load_suite(table: str, cfg=None, *, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The table's suite as a dict, with the config's ``business_rules`` applied.

    The result is the file's JSON plus ``source`` (the file, for messages) and ``overrides``
    (what the config changed, one line each). Raises :class:`SuiteError` for a broken file or
    a ``business_rules.severity`` naming a rule that exists nowhere.
    """
    spec = get_table(table)
    path = suite_path(spec.name, directory)
    suite = read_suite(path, spec)
    if cfg is not None and cfg.business_rules.severity:
        problem = unknown_severity_rule(cfg.business_rules.severity, directory,
                                        {e["meta"]["rule"] for e in suite["expectations"]})
        if problem:
            raise SuiteError(f"{_config_where(cfg)}: {problem}")
    out = apply_overrides(suite, spec, cfg)
    out["source"] = display_path(path)
    return out


def suite_rules(suite: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per expectation: rule, severity, expectation_type, column (a readable table)."""
    return [
        {"rule": e["meta"]["rule"], "severity": e["meta"].get("severity", WARNING),
         "expectation_type": e["type"],
         "column": e["kwargs"].get("column") or e["kwargs"].get("column_A"),
         "kwargs": {k: v for k, v in e["kwargs"].items() if k != "column"}}
        for e in suite["expectations"]
    ]

