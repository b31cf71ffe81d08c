"""Every `update_traficov2.py` command line of the old tool's documentation works as written.

The commands run in a folder of their own (as an operator's working directory), with the
config files they name, against a real seeded database reached through TRAFICO_DATABASE_URL.
They go through the default path: the notebooks, run by papermill.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from conftest import fresh_database
from output_lines import stamped_lines, unstamped
from trafico_lib.config import load_config
from trafico_lib.sample import load_samples

ROOT = Path(__file__).resolve().parent.parent

# In the order the old documentation gives them (seed.md: usage, examples, debug mode).
SEED_COMMANDS = [
    "python update_traficov2.py --mode full",
    "python update_traficov2.py --mode incremental",
    "python update_traficov2.py --config custom_config.json --verbose",
    "python update_traficov2.py --health-check",
    "python update_traficov2.py --dry-run --table arribos",
    "python update_traficov2.py --back-propagate",
    "python update_traficov2.py",
    "python update_traficov2.py --table arribos --verbose",
    "python update_traficov2.py --dry-run",
    "python update_traficov2.py --config production_config.json",
    "python update_traficov2.py --verbose --dry-run",
]


@pytest.fixture(scope="module")
def workdir(pg_server, tmp_path_factory):
    with fresh_database(pg_server, f"seed_{os.getpid()}") as url:
        yield from _operator_folder(url, tmp_path_factory)


def _operator_folder(url, tmp_path_factory):
    work = tmp_path_factory.mktemp("operator")
    cfg = {"csv_sources": {"data_path": str(ROOT / "data"), "backup_path": str(work / "backup")}}
    for f in ("trafico_config.json", "custom_config.json", "production_config.json"):
        (work / f).write_text(json.dumps(cfg), encoding="utf-8")
    (work / "update_traficov2.py").symlink_to(ROOT / "update_traficov2.py")
    env = {**os.environ, "TRAFICO_DATABASE_URL": url}
    subprocess.run([sys.executable, "update_traficov2.py", "--init-db"], cwd=work, env=env, check=True,
                   capture_output=True, timeout=120)
    os.environ["TRAFICO_DATABASE_URL"] = url
    try:
        with psycopg.connect(url, autocommit=True) as c:
            load_samples(c, load_config(work / "trafico_config.json", env_file=None))
    finally:
        del os.environ["TRAFICO_DATABASE_URL"]
    yield work, env, url


@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_documented_command_works_as_written(workdir, command):
    work, env, url = workdir
    argv = shlex.split(command)
    argv[0] = sys.executable  # `python` of the documentation: this environment's interpreter
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-2000:])
    out = "\n".join(unstamped(proc.stdout))  # every summary line starts with its time and run id
    if "--health-check" in command:
        assert out.startswith("=== System Health Check ===") and "Database Connection: ✓" in out
    elif "--back-propagate" in command:
        assert "=== Back-propagation" in out
    elif "--dry-run" in command:
        assert "=== Dry-run Plan (nothing written) ===" in out and "Total: Would insert " in out
        assert ": Inserted " not in out  # nothing was: the counts say what would be
    else:
        assert "=== Sync Summary ===" in out and out.rstrip().splitlines()[-1].startswith("Total: Inserted")
        assert len(stamped_lines(proc.stdout)) == len(proc.stdout.splitlines()), proc.stdout
    if "--table arribos" in command:
        summary = [l for l in out.splitlines() if re.search(r": (Inserted|Would insert) ", l) and not l.startswith("Total")]
        assert [l.split(":")[0] for l in summary] == ["arribos"]
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()[0] == 0
