"""The notebooks as an analyst opens them in JupyterLab: what "Run all" does with their defaults,
what a run that writes leaves on the record, and that they open unmodified.

* ``sync.ipynb`` run with its defaults (a real kernel, through papermill, against a seeded test
  database) is a dry run: nothing written, not even a log row;
* with ``dry_run = False``, in a kernel started as the Jupyter server starts one for a notebook
  (``JPY_SESSION_NAME``), it writes, and its log row names the interactive run, so health and
  the Data Docs say "run interactively in JupyterLab (not archived)", not "run without a notebook";
* the notebooks' metadata is what JupyterLab writes into a notebook it opens with the project's
  kernel (the kernel spec's name and language, the kernel's own ``language_info``);
* ``notebooks/`` holds notebooks only (nbval's configuration is the project's ``conftest.py``).
"""
from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
from pathlib import Path

import nbformat
import papermill
import psycopg
import pytest

import cli_inprocess as inprocess
from trafico_lib.config import load_config
from trafico_lib.interactive import NOT_ARCHIVED, SESSION_ENV
from trafico_lib.runner import ensure_kernel, read_result
from trafico_lib.sample import create_source_tables, load_samples

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def test_the_notebooks_folder_holds_only_notebooks():
    tracked = subprocess.run(["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True)
    names = tracked.stdout.split() if tracked.returncode == 0 else [str(p.relative_to(ROOT)) for p in NOTEBOOKS.iterdir()]
    assert names and all(n.endswith(".ipynb") for n in names), names
    assert not list(NOTEBOOKS.glob("*.py"))


def test_the_notebooks_metadata_is_what_jupyterlab_writes_with_the_projects_kernel():
    """JupyterLab sets a notebook's ``kernelspec`` (the spec's name, display name, language) and
    ``language_info`` (the kernel's reply) when its kernel starts: any difference marks the
    notebook modified as it opens. (The Python version is compared to the minor: a patch
    release of its own would open it modified until saved, as any notebook.)"""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel
    ensure_kernel("python3")  # the spec `make lab` and the runner use (first on JUPYTER_PATH)
    spec = KernelSpecManager().get_kernel_spec("python3")
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        info = kc.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    major_minor = ".".join(info["version"].split(".")[:2])
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert meta["kernelspec"] == {"name": "python3", "display_name": spec.display_name,
                                      "language": spec.language}, path.name
        theirs = dict(meta["language_info"])
        assert ".".join(theirs.pop("version").split(".")[:2]) == major_minor, path.name
        assert theirs == {k: v for k, v in info.items() if k != "version"}, path.name
        assert set(meta) == {"kernelspec", "language_info"}, path.name


def _count(conn, table: str) -> int:
    return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def test_sync_notebook_run_by_hand_is_a_dry_run_and_a_run_that_writes_is_logged_as_interactive(
        db_url, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "trafico_config.json").write_text(json.dumps({  # read by the notebook's defaults (config_path None)
        "csv_sources": {"data_path": str(ROOT / "data"), "backup_path": str(tmp_path / "backup")},
        "runner": {"reports_dir": str(tmp_path / "reports")},
        "audit_archive": {"path": str(tmp_path / "runs")}}), encoding="utf-8")
    monkeypatch.setenv("TRAFICO_DATABASE_URL", db_url)  # the kernels inherit it
    monkeypatch.delenv(SESSION_ENV, raising=False)
    cfg = load_config(work / "trafico_config.json", env_file=None)
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_source_tables(conn)
        load_samples(conn, cfg)
    ensure_kernel("python3")

    def run(name: str, **parameters) -> dict:
        out = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(str(NOTEBOOKS / "sync.ipynb"), str(out), parameters=parameters,
                                   kernel_name="python3", cwd=str(work), progress_bar=False)
        result = read_result(nbformat.read(out, as_version=4))
        assert result is not None, name
        return result

    # "Run all" with the defaults: the plan, shown; nothing written anywhere
    monkeypatch.setenv(SESSION_ENV, "notebooks/sync.ipynb")  # as JupyterLab starts the kernel
    planned = run("defaults")
    assert planned["status"] == "dry-run" and planned["dry_run"] is True
    assert planned["counts"]["inserted"] > 0  # it did plan the first sync
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert _count(conn, "traficov2_arribos") == 0 and _count(conn, "traficov2_sync_log") == 0
        assert _count(conn, "traficov2_sync_changes") == 0 and _count(conn, "traficov2_sync_rejects") == 0
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()

    # the analyst sets dry_run = False: written, and logged as an interactive run
    written = run("writes", dry_run=False)
    assert written["status"] == "ok" and written["counts"]["inserted"] == planned["counts"]["inserted"]
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert _count(conn, "traficov2_arribos") == planned["counts"]["inserted"]
        logged = [r[0] for r in conn.execute(
            "SELECT details->>'notebook' FROM traficov2_sync_log WHERE operation = 'SYNC'")]
    assert logged == [f"interactive: notebooks/sync.ipynb by {by}"]

    env = {k: v for k, v in os.environ.items() if k != SESSION_ENV}
    health = inprocess.run(["update_traficov2.py", "--health-check"], env=env, cwd=work)
    said = [ln.strip() for ln in health.stdout.splitlines() if ln.strip().startswith("archive:")]
    assert said == [f"archive: {NOT_ARCHIVED}: notebooks/sync.ipynb by {by}"], health.stdout + health.stderr
    assert "without a notebook" not in health.stdout

    docs = inprocess.run(["-m", "trafico_lib.docs"], env=env, cwd=work)
    assert docs.returncode == 0, docs.stderr
    page = (tmp_path / "reports" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert NOT_ARCHIVED in page and "without a notebook" not in page


@pytest.mark.parametrize("environ, expected", [
    ({}, None),                                             # the runner, papermill, the command line
    ({SESSION_ENV: "notebooks/sync.ipynb"}, "interactive: notebooks/sync.ipynb by "),
    # jupyter_server 2 gives the absolute path; the kernel works from the project folder
    ({SESSION_ENV: str(ROOT / "notebooks" / "sync.ipynb")}, "interactive: notebooks/sync.ipynb by "),
])
def test_only_a_kernel_a_jupyter_server_started_is_an_interactive_run(environ, expected, monkeypatch):
    from trafico_lib.interactive import interactive_notebook, is_interactive
    import ipykernel  # noqa: F401  (as in a kernel)
    monkeypatch.chdir(ROOT)
    got = interactive_notebook(environ)
    assert (got is None) if expected is None else got.startswith(expected)
    assert is_interactive(got) is (expected is not None)
    assert not is_interactive("runs/2026/12/06/20261206T101031-d9a413_sync_arribos.ipynb")
