"""What a source row's outcome depends on besides its own values: the run's context, as one text.

A source row whose text and context are both unchanged since the sync last wrote it gives the
same target row again, so the store can set it aside before it is even read into memory
(docs/architecture.md §9: a no-op rerun costs a fraction of a full sync). The target keeps, per row,
``source_hash`` = md5 of the row's source text plus this fingerprint. The context is:

* the code that decides a row's values (:data:`ROW_CODE`: normalization, rules, enrichment,
  staging, the registry) and the shipped suites (``expectations/*.json``): a new normalization
  or rule reprocesses every row once (other code, the command line or the reports, does not);
* the table's settings, its preserved fields and its suite with the configuration's
  ``business_rules`` applied;
* the run's date (a ``dd/mm`` date gets the year nearest to it);
* the exit records the status comes from (a new exit marks an unchanged row done);
* the target's layout: which of its columns hold text (``engine.conform``: the text written there).

Anything else a row's outcome depends on (another row: expo slots are assigned per booking)
makes the table unfit for this, and the store reads it whole instead.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

VERSION = "1"  # bump when the meaning of source_hash changes
_PACKAGE = Path(__file__).resolve().parent.parent


# The package's parts a target row's values depend on (relative to the package; folders whole).
ROW_CODE = ("normalize.py", "tables.py", "rules", "enrich", "engine/stage.py", "engine/conform.py",
            "engine/fingerprint.py")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the code in :data:`ROW_CODE` and the shipped suites (one install, one digest)."""
    h = hashlib.sha256()
    files = sorted(f for part in ROW_CODE for f in ((_PACKAGE / part).rglob("*.py") if (_PACKAGE / part).is_dir()
                                                   else [_PACKAGE / part]))
    files += sorted((_PACKAGE.parent / "expectations").glob("*.json"))
    for f in files:
        h.update(f.relative_to(_PACKAGE.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def frame_digest(frame: pd.DataFrame | None) -> str | None:
    """A digest of a frame's values (the exit records), independent of its row order."""
    if frame is None:
        return None
    if frame.empty:
        return "empty"
    text = frame.astype(str)
    hashed = pd.util.hash_pandas_object(text, index=False).to_numpy()
    return f"{len(frame)}:{int(hashed.sum()) & 0xFFFFFFFFFFFFFFFF:016x}"


def context_fingerprint(cfg, spec, run_date: date, *, exits_digest: str | None, layout=None) -> str:
    """The run's context for ``spec`` (see the module's docstring) as a short hex text."""
    from ..rules.suites import load_suite
    parts = {
        "version": VERSION, "code": code_digest(), "table": spec.name,
        "settings": cfg.table(spec.name).model_dump(mode="json"),
        "preserve": cfg.preserve_fields(spec.name),
        "suite": load_suite(spec.name, cfg),
        "run_date": run_date.isoformat(),
        "exits": exits_digest,
    }
    if layout is not None and (layout.text_columns(spec) or layout.whole_source_id()):  # typed: as before
        parts["layout"] = [layout.text_columns(spec), layout.whole_source_id()]
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
