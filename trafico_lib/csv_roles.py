"""The old tool's two CSV roles (when ``csv_sources.enabled``): backup and external validation.

* **Backup**: after a successful sync that changed something (or the first of the day), the
  target table is written as a dated CSV snapshot ``<data_path>/backup/<target>_<date>.csv``
  (``csv_sources.backup_path`` to put it elsewhere; never on a dry run); snapshots older than
  ``audit_archive.days_to_keep`` days are removed as the next one is written (README, *CSV backups*).
* **External validation**: a run that read the whole source table compares its keys with the
  table's CSV export and reports rows present in one and missing in the other. It never
  blocks the sync: the result goes to the notebook (a frame) and into the log row's details.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from .tables import TableSpec

SAMPLE = 20


# ---- external validation ---------------------------------------------------------------------

@dataclass
class CrossCheck:
    csv: str | None
    differences: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["key", "present_in"]))
    note: str | None = None

    @property
    def only_in_source(self) -> int:
        return int((self.differences["present_in"] == "source").sum())

    @property
    def only_in_csv(self) -> int:
        return int((self.differences["present_in"] == "csv").sum())

    def to_details(self) -> dict:
        return {"csv": self.csv, "only_in_source": self.only_in_source, "only_in_csv": self.only_in_csv,
                "sample": self.differences.head(SAMPLE).to_dict("records"), "note": self.note}


def keys_of(frame: pd.DataFrame, spec: TableSpec, key: list[str] | None = None) -> set[str]:
    """The keys a normalized frame holds, as the cross-check compares them (bookings for slots)."""
    from .engine.stage import build_sync_key
    if spec.slots:  # slots: compare their groups (bookings)
        values = frame[spec.slots.group]
    else:
        values = build_sync_key(frame, spec, key)
    return {v for v in values if isinstance(v, str) and v}


def cross_check(cfg, spec: TableSpec, source_keys: set[str], run_date: date,
                key: list[str] | None = None) -> CrossCheck:
    """Compare the source's keys (:func:`keys_of` each normalized chunk) with the CSV export's
    keys (normalized the same way)."""
    from .normalize import normalize_frame
    from .sources.csv import read_table_csv
    path = cfg.csv_path(spec.csv_file_key)
    if not path.exists():
        return CrossCheck(None, note=f"no CSV export at {path}")
    try:
        exported = normalize_frame(read_table_csv(cfg, spec), spec, run_date).frame
    except Exception as exc:  # a broken export is reported, never fatal to the sync
        return CrossCheck(str(path), note=f"CSV export unreadable: {exc}")
    src, csv = source_keys, keys_of(exported, spec, key)
    rows = [(k, "source") for k in sorted(src - csv)] + [(k, "csv") for k in sorted(csv - src)]
    return CrossCheck(str(path), pd.DataFrame(rows, columns=["key", "present_in"]))


# ---- backup snapshots ------------------------------------------------------------------------

def backup_dir(cfg) -> Path:
    if cfg.csv_sources.backup_path:
        return cfg.resolve(cfg.csv_sources.backup_path)
    return cfg.resolve(cfg.csv_sources.data_path) / "backup"


def snapshot_path(cfg, spec: TableSpec, day: date) -> Path:
    return backup_dir(cfg) / f"{spec.target}_{day:%Y-%m-%d}.csv"


def write_snapshot(store, cfg, spec: TableSpec, day: date, *, changed: bool) -> Path | None:
    """Write today's snapshot of the target (atomically) when something changed or none exists."""
    path = snapshot_path(cfg, spec, day)
    if path.exists() and not changed:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            store.write_snapshot(spec, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    prune_snapshots(cfg, spec, day)
    return path


def prune_snapshots(cfg, spec: TableSpec, today: date) -> list[Path]:
    keep_from = today - timedelta(days=cfg.audit_archive.days_to_keep)
    gone = []
    for p in backup_dir(cfg).glob(f"{spec.target}_*.csv"):
        try:
            day = datetime.strptime(p.stem.removeprefix(f"{spec.target}_"), "%Y-%m-%d").date()
        except ValueError:
            continue
        if day < keep_from:
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone
