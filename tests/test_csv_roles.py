"""The old tool's CSV roles: dated backups of the targets and external validation of the sources."""
from __future__ import annotations

import csv
import os
from datetime import date, timedelta


from trafico_lib import pipeline as P
from trafico_lib.csv_roles import snapshot_path
from trafico_lib.sample import load_samples
from trafico_lib.tables import TABLES


def test_sync_writes_a_dated_backup_and_prunes_old_ones(conn, make_config, db_url, tmp_path):
    cfg = make_config({"audit_archive": {"days_to_keep": 30}}, db_url=db_url)
    load_samples(conn, cfg)
    backup = tmp_path / "backup"
    backup.mkdir()
    old = backup / f"traficov2_arribos_{date.today() - timedelta(days=40):%Y-%m-%d}.csv"
    recent = backup / f"traficov2_arribos_{date.today() - timedelta(days=3):%Y-%m-%d}.csv"
    old.write_text("old"), recent.write_text("recent")
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "ok" and res.backup
    path = snapshot_path(cfg, TABLES["arribos"], P.start("arribos", cfg=cfg).run_date)
    assert res.backup == str(path) and path.exists()
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    n = conn.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0]
    assert len(rows) == n and "sync_key" in rows[0] and "Chofer" in rows[0]
    assert not old.exists() and recent.exists()
    # a rerun that changes nothing leaves today's snapshot alone
    os.utime(path, (1, 1))
    again = P.run_table("arribos", mode="full", cfg=cfg)
    assert again.backup is None and path.stat().st_mtime == 1


def test_source_compared_with_its_csv_export_without_blocking(conn, make_config, db_url):
    cfg = make_config(db_url=db_url)
    load_samples(conn, cfg)
    first = P.run_table("pendiente_desconsolidar", mode="full", cfg=cfg)
    details = conn.execute("SELECT details->'external_validation' FROM traficov2_sync_log").fetchone()[0]
    assert first.status == "ok" and details["only_in_source"] == 0 and details["only_in_csv"] == 0
    conn.execute("""DELETE FROM pendiente_desconsolidar WHERE id = (SELECT min(id) FROM pendiente_desconsolidar)""")
    conn.execute("""INSERT INTO pendiente_desconsolidar ("Contenedor", "Cliente") VALUES ('GYOU4047990', 'Nuevo')""")
    # the keys of rows read, and of rows left unread because nothing changed, all count
    ctx = P.start("pendiente_desconsolidar", mode="full", cfg=cfg, dry_run=True)
    val = P.validate(ctx, P.normalize(ctx, P.extract(ctx)))
    P.stage(ctx, P.enrich(ctx, val), val)
    P.stage_remaining(ctx)
    assert ctx.extract.unchanged > 30 and len(ctx.extract.frame) == 1
    chk = P.cross_check(ctx)
    ctx.close()
    assert chk.differences[chk.differences["present_in"] == "source"]["key"].tolist() == ["GYOU4047990"]
    assert chk.only_in_csv == 1
    res = P.run_table("pendiente_desconsolidar", mode="full", cfg=cfg)
    assert res.status == "ok" and res.counts["inserted"] == 1
    details = conn.execute("SELECT details->'external_validation' FROM traficov2_sync_log ORDER BY id DESC").fetchone()[0]
    assert details["only_in_source"] == 1 and details["only_in_csv"] == 1
    assert {"key": "GYOU4047990", "present_in": "source"} in details["sample"]


def test_csv_roles_off_when_csv_sources_disabled(conn, make_config, db_url, tmp_path):
    cfg = make_config({"csv_sources": {"enabled": False}}, db_url=db_url)
    load_samples(conn, cfg)
    res = P.run_table("remisiones", mode="full", cfg=cfg)
    assert res.status == "ok" and res.backup is None and not (tmp_path / "backup").exists()
    assert conn.execute("SELECT details->'external_validation' FROM traficov2_sync_log").fetchone()[0] is None
