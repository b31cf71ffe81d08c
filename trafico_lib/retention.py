"""Retention: prune what is older than ``audit_archive.days_to_keep`` (``--prune``, ``make prune``).

Run on its own (cron, ``make prune``), never by the sync itself, so a sync's time and
locks never depend on how much history there is.

What goes, for a cutoff of ``now - days_to_keep``:

* ``traficov2_sync_log`` rows with ``sync_timestamp`` before the cutoff;
* ``traficov2_sync_changes`` rows created before the cutoff;
* ``traficov2_sync_rejects`` rows created before the cutoff, **except each key's newest
  reject while that key has no active target row** (an *open* reject). A row that stays
  broken in the source is re-read, and re-rejected, only when it changes (incremental by
  timestamp), so its old reject is the only record that it was not lost; the health check
  counts it as accounted for. It goes at the first prune after its key syncs. Rejects
  without a key (the key itself was missing) are pruned by age like the rest;
* archived notebooks (and their HTML) under ``cfg.resolve(audit_archive.path)`` in day
  folders ``yyyy/mm/dd`` whose day is before the cutoff's day; emptied folders are
  removed. Nothing outside that layout is touched. The dry runs' notebooks, kept apart from
  the audit archive (:func:`archive_root`, ``runs-dry/`` beside ``runs/``), go by the same rule.

``dry_run=True`` counts what would go and deletes nothing. The state table
(``traficov2_sync_state``) and the targets are never touched.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from . import clock
from .errors import UsageError
from .paths import shown_path

_YEAR, _MONTH, _DAY = re.compile(r"^\d{4}$"), re.compile(r"^\d{2}$"), re.compile(r"^\d{2}$")


def archive_root(cfg, *, dry_run: bool = False) -> Path:
    """Where executed notebooks are kept: ``audit_archive.path`` (the audit archive) for real
    runs; for dry runs its sibling ``<name>-dry`` (``runs-dry/`` beside ``runs/``), so a dry run
    never adds to the audit archive, yet its notebooks (the planned changes) can be read."""
    root = cfg.resolve(cfg.audit_archive.path)
    return root.with_name(f"{root.name}-dry") if dry_run else root


class RetentionError(UsageError):
    """Pruning cannot run with these settings; one readable line."""


@dataclass
class PruneResult:
    cutoff: datetime
    days_to_keep: int
    dry_run: bool
    log_rows: int = 0
    changes_rows: int = 0
    rejects_rows: int = 0
    open_rejects_kept: int = 0
    archive_root: str = ""
    dry_run_root: str = ""
    archive_files: list[str] = field(default_factory=list)
    archive_bytes: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cutoff"] = self.cutoff.isoformat()
        return d

    def summary(self) -> str:
        verb = "Would delete" if self.dry_run else "Deleted"
        return "\n".join([
            f"=== Prune (older than {self.days_to_keep} days, before {clock.minute_text(self.cutoff)})"
            + (" (dry-run, nothing deleted)" if self.dry_run else "") + " ===",
            f"{verb}: {self.log_rows} sync log rows, {self.changes_rows} change rows, "
            f"{self.rejects_rows} reject rows ({self.open_rejects_kept} open rejects kept)",
            f"{verb}: {len(self.archive_files)} archived files ({self.archive_bytes / 1e6:.1f} MB) "
            f"under {shown_path(self.archive_root)} and {shown_path(self.dry_run_root)} (dry runs)",
        ])


def cutoff_for(days_to_keep: int, now: datetime | None = None) -> datetime:
    """The moment before which history goes."""
    if days_to_keep <= 0:
        raise RetentionError(f"days_to_keep must be positive, got {days_to_keep}")
    now = now or datetime.now(UTC)
    return now - timedelta(days=days_to_keep)


# ---- the archive ---------------------------------------------------------------------------------

def _day_folders(root: Path):
    """(date, folder) for every ``yyyy/mm/dd`` folder under ``root`` that names a real day."""
    if not root.is_dir():
        return
    for y in sorted(root.iterdir()):
        if not (y.is_dir() and _YEAR.match(y.name)):
            continue
        for m in sorted(y.iterdir()):
            if not (m.is_dir() and _MONTH.match(m.name)):
                continue
            for d in sorted(m.iterdir()):
                if not (d.is_dir() and _DAY.match(d.name)):
                    continue
                try:
                    yield date(int(y.name), int(m.name), int(d.name)), d
                except ValueError:
                    continue


def old_archive_files(root: str | Path, before: date) -> list[Path]:
    """Files in archive day folders whose day is before ``before``."""
    out: list[Path] = []
    for day, folder in _day_folders(Path(root)):
        if day < before:
            out.extend(sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()))
    return out


def prune_archive(root: str | Path, before: date, *, dry_run: bool = False) -> tuple[list[Path], int]:
    """Delete (or list) archived files of days before ``before``; returns (files, bytes)."""
    root = Path(root)
    files = old_archive_files(root, before)
    size = sum(p.lstat().st_size for p in files)
    if dry_run:
        return files, size
    for day, folder in list(_day_folders(root)):
        if day < before:
            shutil.rmtree(folder)
    for y in [p for p in root.iterdir() if p.is_dir() and _YEAR.match(p.name)] if root.is_dir() else []:
        for m in [p for p in y.iterdir() if p.is_dir() and _MONTH.match(p.name)]:
            if not any(m.iterdir()):
                m.rmdir()
        if not any(y.iterdir()):
            y.rmdir()
    return files, size


# ---- the whole thing -----------------------------------------------------------------------------

def prune(cfg, *, days: int | None = None, dry_run: bool = False, now: datetime | None = None,
          store=None) -> PruneResult:
    """Prune the database history and the archive older than ``days`` (default:
    ``audit_archive.days_to_keep``). Raises ``StoreError`` when the database cannot be reached."""
    days = days if days is not None else cfg.audit_archive.days_to_keep
    cutoff = cutoff_for(days, now)
    root, dry_root = archive_root(cfg), archive_root(cfg, dry_run=True)
    result = PruneResult(cutoff=cutoff, days_to_keep=days, dry_run=dry_run, archive_root=str(root),
                         dry_run_root=str(dry_root))
    if store is None:
        from .stores import open_store
        store = open_store(cfg)
    counts = store.prune(cutoff, dry_run=dry_run)
    result.log_rows, result.changes_rows = counts["log"], counts["changes"]
    result.rejects_rows, result.open_rejects_kept = counts["rejects"], counts["open_rejects_kept"]
    day = clock.local(cutoff).date()  # the archive's folders are dates in the display zone (clock.py)
    files, size = prune_archive(root, day, dry_run=dry_run)
    dry_files, dry_size = prune_archive(dry_root, day, dry_run=dry_run)
    result.archive_files = [str(p) for p in files + dry_files]
    result.archive_bytes = size + dry_size
    return result


