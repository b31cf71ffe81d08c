"""Retention (``--prune``): old log, changes and rejects rows and old archived notebooks go,
open rejects and everything recent stay; dry-run deletes nothing; the sync never prunes."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, UTC

import pytest

from trafico_lib.cli import main
from trafico_lib.retention import RetentionError, cutoff_for, old_archive_files, prune, prune_archive


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _history(conn) -> None:
    """Log, changes and rejects 40 days old and 1 day old; targets with some active keys."""
    conn.execute("INSERT INTO traficov2_sync_log (table_name, operation, sync_timestamp, details) VALUES "
                 "('traficov2_arribos', 'SYNC', now() - interval '40 days', '{}'), "
                 "('traficov2_arribos', 'ERROR', now() - interval '31 days', '{}'), "
                 "('traficov2_arribos', 'SYNC', now() - interval '1 day', '{}')")
    conn.execute("INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, created_at) VALUES "
                 "('r0', 'traficov2_arribos', 'K1', 'Chofer', now() - interval '40 days'), "
                 "('r9', 'traficov2_arribos', 'K1', 'Chofer', now() - interval '1 day')")
    conn.execute("INSERT INTO traficov2_arribos (\"Contenedor\", sync_key) VALUES ('FIXED00001', 'FIXED00001')")
    conn.execute("INSERT INTO traficov2_arribos_ctns_expo (\"Booking\", \"Secuencia\", sync_key) "
                 "VALUES ('BK1', 1, 'BK1|1')")
    old, new = "now() - interval '40 days'", "now() - interval '1 day'"
    rows = [
        ("r0", "traficov2_arribos", "FIXED00001", old),   # key synced since: goes
        ("r0", "traficov2_arribos", "BROKEN01", old),     # superseded by the newer reject below: goes
        ("r1", "traficov2_arribos", "BROKEN01", old),     # newest reject of a key still missing: kept (open)
        ("r0", "traficov2_arribos", None, old),           # no key: goes by age
        ("r0", "traficov2_arribos_ctns_expo", "BK1", old),  # expo booking with active slots: goes
        ("r0", "traficov2_arribos_ctns_expo", "BK2", old),  # expo booking never slotted: kept (open)
        ("r9", "traficov2_arribos", "NEW01", new),        # recent: kept
    ]
    for i, (run, table, key, when) in enumerate(rows):
        conn.execute(f"INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, created_at) "
                     f"VALUES (%s, %s, %s, {when} + %s::interval)", (run, table, key, f"{i} seconds"))


@pytest.fixture
def cfg(make_config, db_url, tmp_path):
    return make_config({"audit_archive": {"days_to_keep": 30, "path": str(tmp_path / "runs")}}, db_url=db_url)


def _archive(root, days_ago: list[int], today: date) -> dict[int, list]:
    out = {}
    for n in days_ago:
        d = today - timedelta(days=n)
        folder = root / f"{d:%Y}" / f"{d:%m}" / f"{d:%d}"
        folder.mkdir(parents=True, exist_ok=True)
        files = [folder / f"run{n}_arribos.ipynb", folder / f"run{n}_arribos.html"]
        for f in files:
            f.write_text("x" * 10, encoding="utf-8")
        out[n] = files
    return out


def test_prune_database_keeps_recent_rows_and_open_rejects(conn, cfg):
    _history(conn)
    res = prune(cfg)
    assert (res.log_rows, res.changes_rows, res.rejects_rows, res.open_rejects_kept) == (2, 1, 4, 2)
    assert _count(conn, "traficov2_sync_log") == 1 and _count(conn, "traficov2_sync_changes") == 1
    kept = conn.execute("SELECT run_id, sync_key FROM traficov2_sync_rejects ORDER BY id").fetchall()
    assert kept == [("r1", "BROKEN01"), ("r0", "BK2"), ("r9", "NEW01")]
    assert _count(conn, "traficov2_arribos") == 1  # targets are never touched
    again = prune(cfg)  # idempotent
    assert (again.log_rows, again.changes_rows, again.rejects_rows) == (0, 0, 0)


def test_dry_run_counts_and_deletes_nothing(conn, cfg, tmp_path):
    _history(conn)
    today = datetime.now(UTC).date()
    _archive(tmp_path / "runs", [45], today)
    res = prune(cfg, dry_run=True)
    assert (res.log_rows, res.changes_rows, res.rejects_rows, res.open_rejects_kept) == (2, 1, 4, 2)
    assert len(res.archive_files) == 2 and res.archive_bytes == 20
    assert _count(conn, "traficov2_sync_log") == 3 and _count(conn, "traficov2_sync_rejects") == 7
    assert len(old_archive_files(tmp_path / "runs", today - timedelta(days=30))) == 2
    assert "Would delete: 2 sync log rows" in res.summary() and "dry-run" in res.summary()


def test_archive_prunes_old_day_folders_only(tmp_path):
    root = tmp_path / "runs"
    today = date(2026, 11, 29)
    files = _archive(root, [120, 31, 30, 0], today)
    (root / "README.txt").write_text("keep me", encoding="utf-8")
    odd = root / "2026" / "13" / "01"  # not a date: not archive layout, untouched
    odd.mkdir(parents=True)
    (odd / "x.ipynb").write_text("x", encoding="utf-8")
    (root / "misc" / "01" / "01").mkdir(parents=True)
    gone, size = prune_archive(root, today - timedelta(days=30))
    assert sorted(gone) == sorted(files[120] + files[31]) and size == 40
    assert not any(p.exists() for p in files[120] + files[31])
    assert all(p.exists() for p in files[30] + files[0])
    assert not (root / "2026" / "07").exists()       # emptied month folder removed
    assert (root / "README.txt").exists() and (odd / "x.ipynb").exists() and (root / "misc").exists()
    assert prune_archive(tmp_path / "nowhere", today) == ([], 0)


def test_dry_run_notebooks_are_kept_apart_and_pruned_by_the_same_rule(conn, cfg, tmp_path):
    """A dry run's notebooks live in runs-dry/ beside runs/ (never in the audit archive), and
    make prune removes their old days too."""
    from trafico_lib.retention import archive_root
    from trafico_lib.runner import archive_path
    assert archive_root(cfg) == tmp_path / "runs" and archive_root(cfg, dry_run=True) == tmp_path / "runs-dry"
    run_id = "20261130T120000-abcdef"
    assert archive_path(cfg, run_id, "sync_arribos", dry_run=True) == \
        tmp_path / "runs-dry" / "2026" / "11" / "30" / f"{run_id}_sync_arribos.ipynb"
    assert archive_path(cfg, run_id, "sync_arribos").parent == tmp_path / "runs" / "2026" / "11" / "30"
    today = datetime.now(UTC).date()
    real, dry = _archive(tmp_path / "runs", [45, 1], today), _archive(tmp_path / "runs-dry", [45, 1], today)
    res = prune(cfg)
    assert sorted(res.archive_files) == sorted(str(p) for p in real[45] + dry[45]) and res.archive_bytes == 40
    assert not any(p.exists() for p in real[45] + dry[45]) and all(p.exists() for p in real[1] + dry[1])
    assert "runs-dry (dry runs)" in res.summary()


def test_cutoff_needs_positive_days():
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert cutoff_for(30, now) == datetime(2026, 10, 30, tzinfo=UTC)
    with pytest.raises(RetentionError, match="positive"):
        cutoff_for(0, now)


def test_cli_prune_with_json_and_dry_run(conn, cfg, tmp_path, capsys):
    _history(conn)
    _archive(tmp_path / "runs", [60], datetime.now(UTC).date())
    assert main(["--prune", "--dry-run", "--json", "--config", cfg.source_path]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dry_run"] is True and doc["log_rows"] == 2 and len(doc["archive_files"]) == 2
    assert _count(conn, "traficov2_sync_log") == 3
    assert main(["--prune", "--config", cfg.source_path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== Prune (older than 30 days") and "Deleted: 2 sync log rows, 1 change rows, 4 reject rows" in out
    assert _count(conn, "traficov2_sync_log") == 1 and not list((tmp_path / "runs").rglob("*.ipynb"))


def test_the_sync_itself_never_prunes(conn, cfg, make_config, db_url, tmp_path):
    from trafico_lib.pipeline import run_table
    from trafico_lib.sample import load_samples
    _history(conn)
    _archive(tmp_path / "runs", [90], datetime.now(UTC).date())
    sync_cfg = make_config({"audit_archive": {"days_to_keep": 1, "path": str(tmp_path / "runs")},
                            "sync_settings": {"pendiente_desconsolidar": {"validation_enabled": False,
                                                                          "status_validation": False}}},
                           db_url=db_url)
    load_samples(conn, sync_cfg, tables=["pendiente_desconsolidar"])
    assert run_table("pendiente_desconsolidar", mode="full", cfg=sync_cfg).status == "ok"
    assert _count(conn, "traficov2_sync_log") == 4 and _count(conn, "traficov2_sync_changes") >= 2
    assert _count(conn, "traficov2_sync_rejects") == 7
    assert len(list((tmp_path / "runs").rglob("*.ipynb"))) == 1
