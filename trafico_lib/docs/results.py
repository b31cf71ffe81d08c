"""Stored validation results: one JSON file per table per run, read back newest first, pruned.

    save_validation(cfg, "arribos", run_id, val)   # the pipeline, after validate()
    stored_validations(cfg, "arribos")             # newest first, each with its ``_path``

One file per table per run, ``<reports_dir>/validations/<table>/<run_id>.json``::

    {"table": "arribos", "run_id": "...", "saved_at": "2026-11-29T15:48:25+00:00",
     "summary": <ValidationResult.to_json()>,        # counts, rules, failing keys
     "gx_result": <ExpectationSuiteValidationResult.to_json_dict()> | null}

Only the newest ``runner.data_docs_keep_runs`` (default 20) files of a table are kept, so
the site stays small and fast whatever the age of the installation. Reading a summary
(:func:`failing_rules`, :func:`passed`) is pure.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import SyncFailed
from ..tables import get_table
from ..values import plain

DEFAULT_KEEP_RUNS = 20
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_ROW_TEXT = re.compile(r"row (\S+)")


class DocsError(SyncFailed):
    """A validation result could not be stored or read; one readable line."""


# ---- where things live ---------------------------------------------------------------------------

def reports_dir(cfg) -> Path:
    return cfg.resolve(cfg.runner.reports_dir)


def validations_dir(cfg) -> Path:
    """``<reports_dir>/validations``: the stored results, one folder per table."""
    return reports_dir(cfg) / "validations"


def keep_runs(cfg) -> int:
    return int(getattr(cfg.runner, "data_docs_keep_runs", DEFAULT_KEEP_RUNS) or DEFAULT_KEEP_RUNS)


def safe_name(text: str) -> str:
    """A run id as a file name: anything but letters, digits, ``.``, ``_``, ``-`` becomes ``_``."""
    name = _SAFE.sub("_", str(text)).strip("._")
    if not name:
        raise DocsError(f"run id {text!r} cannot name a file")
    return name


# ---- storing ------------------------------------------------------------------------------------

def _as_dict(value: Any, what: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            out = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DocsError(f"{what} is not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(out, dict):
            raise DocsError(f"{what} is not a JSON object")
        return out
    for method in ("to_json_dict", "to_json"):
        if hasattr(value, method):
            return _as_dict(getattr(value, method)(), what)
    raise DocsError(f"{what}: expected a dict, JSON text or an object with to_json(), got {type(value).__name__}")


def _jsonable(value: Any) -> Any:
    """A JSON round trip with a tolerant default (numpy scalars, dates, sets: :func:`plain`)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=plain))


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so readers never see half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # plain open(): the umask decides the mode
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_validation(cfg, table: str, run_id: str, result_json: Any, *, gx_result: Any = None,
                    saved_at: datetime | None = None) -> Path:
    """Store one run's validation result for ``table``; returns the JSON file's path.

    ``result_json`` is ``ValidationResult.to_json()`` (a dict or JSON text), or the
    ``ValidationResult`` itself, whose ``gx_result`` is then stored too. ``gx_result`` is a
    GX ``ExpectationSuiteValidationResult`` (or its ``to_json_dict()``), rendered as the
    run's GX page. Older results beyond the table's kept history are deleted.
    """
    try:
        spec = get_table(table)
    except KeyError as exc:
        raise DocsError(exc.args[0]) from None
    if gx_result is None and hasattr(result_json, "gx_result") and hasattr(result_json, "to_json"):
        gx_result = result_json.gx_result
    summary = _as_dict(result_json, f"validation result of {spec.name}")
    gx = _as_dict(gx_result, f"GX result of {spec.name}")
    saved_at = saved_at or datetime.now(timezone.utc)
    record = {"table": spec.name, "run_id": str(run_id), "saved_at": saved_at.isoformat(),
              "summary": _jsonable(summary), "gx_result": _jsonable(gx) if gx is not None else None}
    path = validations_dir(cfg) / spec.name / f"{safe_name(run_id)}.json"
    write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1))
    prune_validations(cfg, spec.name)
    return path


def _read(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # a half-written or foreign file is skipped, never fatal
    if not isinstance(rec, dict):
        return None
    rec["_path"] = str(path)
    rec.setdefault("run_id", path.stem)
    rec.setdefault("saved_at", datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat())
    rec["summary"] = rec.get("summary") or summary_from_gx(rec.get("gx_result"))
    return rec


def stored_validations(cfg, table: str) -> list[dict]:
    """The stored results of a table, newest first (each with ``_path``)."""
    folder = validations_dir(cfg) / get_table(table).name
    if not folder.is_dir():
        return []
    recs = [r for p in folder.glob("*.json") if (r := _read(p)) is not None]
    recs.sort(key=lambda r: (str(r["saved_at"]), r["run_id"]), reverse=True)
    return recs


def prune_validations(cfg, table: str, keep: int | None = None) -> list[Path]:
    """Delete a table's stored results beyond the newest ``keep``; returns what went."""
    keep = keep or keep_runs(cfg)
    gone = [Path(r["_path"]) for r in stored_validations(cfg, table)[keep:]]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


# ---- reading summaries ----------------------------------------------------------------------------

def summary_from_gx(gx: dict | None) -> dict:
    """A summary in ``ValidationResult.to_json()``'s shape, from a GX result alone.

    GX keeps no row keys: each failing row is its ``row`` (GX's partial index, mapped to
    ``_row`` by validate()) and its ``value`` in the rule's column; ``failing_keys`` stays empty.
    """
    if not gx:
        return {"success": None, "rules": []}
    rules = []
    for r in gx.get("results", []):
        conf = r.get("expectation_config") or {}
        meta = conf.get("meta") or {}
        res = r.get("result") or {}
        failed = res.get("unexpected_count")
        if failed is None:
            failed = 0 if r.get("success") else 1
        values = res.get("partial_unexpected_list") or []
        index = res.get("partial_unexpected_index_list") or []
        rows = [{"row": index[i] if i < len(index) else None, "key": {}, "value": v}
                for i, v in enumerate(values[:20])]
        rules.append({"rule": meta.get("rule") or conf.get("type"), "severity": meta.get("severity", "warning"),
                      "column": (conf.get("kwargs") or {}).get("column"), "expectation_type": conf.get("type"),
                      "failed": int(failed), "failing_keys": [], "failing_rows": rows})
    return {"success": gx.get("success"), "rules": rules,
            "rows": next((r.get("result", {}).get("element_count") for r in gx.get("results", [])
                          if r.get("result", {}).get("element_count") is not None), None)}


def failing_rows(rule: dict, key: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """A rule's failing rows as ``{"row", "key": {column: value}, "value"?}`` dicts.

    Results stored before ``failing_rows`` existed have only ``failing_keys``: each is
    ``row N`` (a row without its key) or the key's values joined by ``|``, read back under
    ``key``, the table's key columns (a text that does not split into as many parts is kept
    whole under ``"key"``). Their offending value was not stored.
    """
    if isinstance(rule.get("failing_rows"), list):
        return [r for r in rule["failing_rows"] if isinstance(r, dict)]
    out = []
    for text in rule.get("failing_keys") or []:
        text = str(text)
        m = _ROW_TEXT.fullmatch(text)
        if m:
            out.append({"row": int(m.group(1)) if m.group(1).isdigit() else m.group(1), "key": {}})
            continue
        parts = text.split("|")
        out.append({"row": None, "key": dict(zip(key, parts)) if key and len(parts) == len(key) else {"key": text}})
    return out


def failing_rules(summary: dict) -> list[dict]:
    """The rules some row broke, blocking first, then by rows broken."""
    rules = [r for r in summary.get("rules") or [] if (r.get("failed") or 0) > 0]
    return sorted(rules, key=lambda r: (r.get("severity") != "blocking", -(r.get("failed") or 0), str(r.get("rule"))))


def passed(summary: dict) -> bool | str | None:
    """True: every rule held; "warnings": only warning rules broke (rows kept);
    False: a blocking rule broke (rows rejected); None: unknown."""
    failing = failing_rules(summary)
    if summary.get("rules") is not None:
        if not failing:
            return True
        return False if any(r.get("severity") == "blocking" for r in failing) else "warnings"
    s = summary.get("success")
    return None if s is None else bool(s)
