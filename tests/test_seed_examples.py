"""Every `update_traficov2.py` command line of the old tool's documentation works as written.

The commands run in a folder of their own (as an operator's working directory), with the
config files they name, against a real seeded database reached through TRAFICO_DATABASE_URL.

One of them (:data:`THROUGH_THE_NOTEBOOKS`) runs exactly as written: a real ``python``
process, through the default path, the notebooks run by papermill. The others are about what
the command does (its flags, its output, what it writes), not about the notebooks (proven by
that one and by ``test_notebooks.py``): they run in this process, through the same entry point
(``trafico_lib.cli.main``, which ``update_traficov2.py`` only forwards to), from the operator's
folder, with ``--no-notebook`` added where the command would start notebooks.
"""
from __future__ import annotations

import contextlib
import io
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
from trafico_lib.cli import main as cli_main
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
# run as written, in a process of its own, through the notebook (one table: one kernel)
THROUGH_THE_NOTEBOOKS = "python update_traficov2.py --table arribos --verbose"


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
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAFICO_DATABASE_URL", url)
        mp.chdir(work)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert cli_main(["--init-db"], prog="update_traficov2.py") == 0, printed.getvalue()
        with psycopg.connect(url, autocommit=True) as c:
            load_samples(c, load_config(work / "trafico_config.json", env_file=None))
    yield work, env, url


def run_in_process(argv: list[str], work: Path, url: str, monkeypatch, capsys) -> tuple[int, str, str]:
    """``python update_traficov2.py <args>`` from ``work``, in this process: the entry point's
    ``main`` with the script's name; (exit code, stdout, stderr)."""
    assert argv[:2] == ["python", "update_traficov2.py"], argv
    monkeypatch.setenv("TRAFICO_DATABASE_URL", url)
    monkeypatch.chdir(work)
    capsys.readouterr()  # nothing printed before the command
    code = cli_main(argv[2:], prog="update_traficov2.py")
    out, err = capsys.readouterr()
    return code, out, err


def without_notebooks(argv: list[str]) -> list[str]:
    """``argv`` with ``--no-notebook`` where the command would run notebooks (sync, back-propagation)."""
    return argv if "--health-check" in argv else [*argv, "--no-notebook"]


@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_documented_command_works_as_written(workdir, command, monkeypatch, capsys):
    work, env, url = workdir
    argv = shlex.split(command)
    if command == THROUGH_THE_NOTEBOOKS:
        argv[0] = sys.executable  # `python` of the documentation: this environment's interpreter
        with psycopg.connect(url, autocommit=True) as c:  # a change to sync: an unchanged table runs no notebook
            c.execute("""UPDATE arribos SET "Cliente" = 'Otro cliente', updated_at = now()
                         WHERE id = (SELECT min(id) FROM arribos)""")
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    else:
        if "--health-check" in argv:  # healthy once the tables synced, whichever worker ran the syncs above
            assert run_in_process(["python", "update_traficov2.py", "--mode", "full", "--no-notebook"], work, url,
                                  monkeypatch, capsys)[0] == 0
        code, stdout, stderr = run_in_process(without_notebooks(argv), work, url, monkeypatch, capsys)
    assert code == 0, (command, stdout[-2000:], stderr[-2000:])
    out = "\n".join(unstamped(stdout))  # every summary line starts with its time and run id
    if "--health-check" in command:
        assert out.startswith("=== System Health Check ===") and "Database Connection: ✓" in out
    elif "--back-propagate" in command:
        assert "=== Back-propagation" in out
    elif "--dry-run" in command:
        assert "=== Dry-run Plan (nothing written) ===" in out and "Total: Would insert " in out
        assert ": Inserted " not in out  # nothing was: the counts say what would be
    else:
        lines = out.rstrip().splitlines()  # the totals, then how they add up
        assert "=== Sync Summary ===" in out and lines[-2].startswith("Total: Inserted") and (
                " rows read = " in lines[-1] or lines[-1].startswith("  nothing read: "))
        assert len(stamped_lines(stdout)) == len(stdout.splitlines()), stdout
    if "--table arribos" in command:
        summary = [ln for ln in out.splitlines() if re.search(r": (Inserted|Would insert) ", ln) and not ln.startswith("Total")]
        assert [ln.split(":")[0] for ln in summary] == ["arribos"]
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()[0] == 0
        if command == THROUGH_THE_NOTEBOOKS:  # the sync notebook ran it: its executed copy is archived
            (notebook,) = c.execute("SELECT details->>'notebook' FROM traficov2_sync_log WHERE operation = 'SYNC' "
                                    "ORDER BY id DESC LIMIT 1").fetchone()
            assert notebook and notebook.endswith("_sync_arribos.ipynb") and (work / notebook).is_file(), notebook
