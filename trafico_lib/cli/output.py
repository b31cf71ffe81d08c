"""What the command lines print: the sync summary, back-propagation, the archive line, JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..runner.runs import shown_path

_COUNTS = ("inserted", "updated", "errors", "unchanged", "rejected", "deactivated")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def format_summary(results: list[dict], *, dry_run: bool = False, store: str | None = None) -> str:
    """The old tool's closing summary, extended: the store it ran on, per table, then totals."""
    title = "=== Dry-run Plan (nothing written) ===" if dry_run else "=== Sync Summary ==="
    lines = [title] + ([f"Store: {store}"] if store else [])
    tot = dict.fromkeys(_COUNTS, 0)
    for r in results:
        c = r.get("counts") or {}
        row = {"inserted": c.get("inserted", 0) or 0, "updated": c.get("updated", 0) or 0,
               "errors": 0 if r.get("status") in ("ok", "dry-run") else 1,
               "unchanged": c.get("unchanged", 0) or 0, "rejected": c.get("rejected", 0) or 0,
               "deactivated": c.get("deactivated", 0) or 0}
        lines.append(f"{r['table']}: Inserted {row['inserted']}, Updated {row['updated']}, Errors {row['errors']} | "
                     f"unchanged {row['unchanged']}, {_rejected(row['rejected'], dry_run)}, "
                     f"deactivated {row['deactivated']}"
                     + (f" | archive {r['notebook']}" if r.get("notebook") else ""))
        if r.get("error"):
            lines.append(f"  error: {r['error']}")
        if r.get("duplicates"):
            lines.append(_duplicates_line(r, dry_run))
        for k in _COUNTS:
            tot[k] += row[k]
    lines.append(f"Total: Inserted {tot['inserted']}, Updated {tot['updated']}, Errors {tot['errors']} | "
                 f"unchanged {tot['unchanged']}, {_rejected(tot['rejected'], dry_run)}, "
                 f"deactivated {tot['deactivated']}")
    return "\n".join(lines)


def _rejected(n: int, dry_run: bool) -> str:
    """Rows refused (not counted as Errors, which are failed tables): where to read them."""
    if not n:
        return "rejected 0"
    return f"rejected {n} ({'not recorded: dry run' if dry_run else 'see traficov2_sync_rejects'})"


def _duplicates_line(r: dict, dry_run: bool) -> str:
    """Which source rows lost to a later row of their key: the first few, and where all are."""
    dups, n = r["duplicates"], (r.get("counts") or {}).get("duplicates") or len(r["duplicates"])
    shown = ", ".join(f"{d['sync_key']} (source id {d['source_id']})" for d in dups[:5])
    more = f" and {n - 5} more" if n > 5 else ""
    where = "" if dry_run else "; all in traficov2_sync_changes (field 'duplicate')"
    return f"  duplicate keys, latest row kept: {n} row(s) replaced: {shown}{more}{where}"


def format_back_propagation(results: list[dict], *, dry_run: bool) -> str:
    lines = ["=== Back-propagation" + (" (dry-run, nothing written)" if dry_run else "") + " ==="]
    for r in results:
        n = r.get("rows_updated", 0)
        done = f"would update {n} source rows" if dry_run else f"{n} source rows updated"
        lines.append(f"{r['table']}: {done}" + (f"  error: {r['error']}" if r.get("error") else ""))
    return "\n".join(lines)


def format_archive(outputs: Iterable[str | Path]) -> str | None:
    outputs = [Path(p) for p in outputs if p]
    if not outputs:
        return None
    where = sorted({shown_path(p.parent) for p in outputs})
    return f"Archive: {', '.join(where)} ({len(outputs)} executed notebook(s), each with an .html beside it)"
