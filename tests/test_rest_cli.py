"""Only a Supabase project URL and its service key, as most deployments of the old tool hold:
the command line and the notebooks' runner sync through the project's REST API (a real
PostgREST), name the store they use, and leave the key nowhere: not in what they print, the
archived notebooks, the reports, the backups or the log rows. What the REST API cannot do
(create tables) says what to do instead."""
from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

import cli_inprocess as inprocess
import rest_server as harness
from trafico_lib.config import load_config
from trafico_lib.sample import create_source_tables, load_samples

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(empty_db_url, tmp_path):
    (tmp_path / "trafico_config.json").write_text(json.dumps({
        "csv_sources": {"data_path": str(ROOT / "data"), "backup_path": "backup"},
        "audit_archive": {"path": "runs"}, "runner": {"reports_dir": "reports"}}), encoding="utf-8")

    def sources(c):
        create_source_tables(c)
        load_samples(c, load_config(tmp_path / "trafico_config.json", env_file=None))
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", prepare=sources) as server:
        yield server


def _run(args, server, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase")}
    env.update(SUPABASE_URL=server.url, SUPABASE_KEY=server.service_key)
    return inprocess.run(args, env=env, cwd=cwd)  # tests/cli_inprocess.py: kernels are processes still


def test_a_url_and_a_key_sync_the_project_through_its_api_and_the_key_stays_secret(project, tmp_path):
    (tmp_path / "pgrst").mkdir(exist_ok=True)
    p = _run(["update_traficov2.py", "--no-notebook", "--table", "arribos", "--mode", "full"], project, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Supabase REST API" in p.stdout + p.stderr
    p2 = _run(["-m", "trafico_lib.runner", "sync", "--params", str(ROOT / "params" / "full.yaml"),
               "--table", "remisiones"], project, tmp_path)
    assert p2.returncode == 0, p2.stdout + p2.stderr
    p3 = _run(["update_traficov2.py", "--no-notebook", "--table", "arribos", "--dry-run"], project, tmp_path)
    assert p3.returncode == 0 and ("planned: no change" in p3.stdout or ", 0 new rows," in p3.stdout), p3.stdout + p3.stderr
    nb_health = _run(["-m", "trafico_lib.runner", "health"], project, tmp_path)
    # its exit code is the block's verdict (two of the tables were never synced here)
    assert nb_health.stdout.count("=== System Health Check ===") == 1, nb_health.stdout + nb_health.stderr
    assert nb_health.returncode == (0 if "Status: HEALTHY" in nb_health.stdout else 1), nb_health.stdout
    assert "Supabase REST API" in nb_health.stdout + nb_health.stderr
    nb_back = _run(["-m", "trafico_lib.runner", "back-propagate", "--dry-run"], project, tmp_path)
    assert nb_back.returncode == 0, nb_back.stdout + nb_back.stderr
    health = _run(["update_traficov2.py", "--health-check", "--json"], project, tmp_path)
    facts = json.loads(health.stdout)
    assert facts["database"]["ok"] and facts["database"]["name"].startswith("Supabase REST API"), health.stdout
    assert facts["schema_ok"] and {t["table"] for t in facts["tables"]} >= {"arribos", "remisiones"}
    init = _run(["update_traficov2.py", "--init-db"], project, tmp_path)
    assert init.returncode == 2 and "make sql" in init.stderr and len(init.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".trafico").exists()  # no embedded database was started
    with psycopg.connect(project.db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos WHERE activo").fetchone()[0] > 100
        assert c.execute("SELECT count(*) FROM traficov2_remisiones").fetchone()[0] > 0
        log = c.execute("SELECT details::text FROM traficov2_sync_log").fetchall()
        assert len(log) >= 2 and all('"store": "supabase-rest"' in r[0] for r in log)
    archived = [f for f in (tmp_path / "runs").rglob("*") if f.is_file()]
    assert any(f.suffix == ".ipynb" for f in archived)
    key = project.service_key
    said = "".join(x.stdout + x.stderr for x in (p, p2, p3, nb_health, nb_back, health, init))
    assert key not in said and key.split(".")[2] not in said
    for f in [*archived, *(tmp_path / "reports").rglob("*"), *(tmp_path / "backup").rglob("*")]:
        if f.is_file():
            data = f.read_bytes()
            assert key.encode() not in data and key.split(".")[2].encode() not in data, f
    assert key not in " ".join(r[0] for r in log)
