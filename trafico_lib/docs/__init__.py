"""Data Docs: each run's validation results stored, and a static site built from them (docs/architecture.md §4 step 3).

    save_validation(cfg, "arribos", run_id, val)   # the pipeline, after validate()
    build_docs(cfg)                                # make docs -> reports/data_docs/index.html
    refresh_docs(cfg, run_id=rid, command="sync")  # end of every sync / health run; never raises

Rooms: :mod:`.results` stores, reads and prunes the results; :mod:`.site` builds the site
from them with the Jinja templates of ``templates/``; :mod:`.refresh` rebuilds it after a
run. ``python -m trafico_lib.docs`` (``make docs``) is the command line's
(``trafico_lib.cli.docs_main``).
"""
from .results import (
    DEFAULT_KEEP_RUNS, DocsError, failing_rows, failing_rules, keep_runs, passed, prune_validations, reports_dir, safe_name,
    save_validation, stored_validations, summary_from_gx, validations_dir,
)
from .refresh import refresh_docs
from .site import build_docs, run_page_path, site_dir

__all__ = [
    "DEFAULT_KEEP_RUNS", "DocsError", "build_docs", "failing_rows", "failing_rules", "keep_runs", "passed", "prune_validations",
    "refresh_docs", "reports_dir", "run_page_path", "safe_name", "save_validation", "site_dir", "stored_validations",
    "summary_from_gx", "validations_dir",
]
