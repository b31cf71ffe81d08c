"""The notebook runner with small notebooks of its own: papermill execution, the archive and its
HTML, results read back from the executed notebook, failing and timed-out cells reported in
one line, secrets scrubbed, parameter files, the kernel spec, and the exit code of the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import psycopg
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import cli_inprocess as inprocess
from trafico_lib import runner

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "20260102T030405-abc123"
PARAMS = ('table = "arribos"\nmode = "incremental"\ndry_run = False\nconfig_path = None\n'
          'run_id = None\narchive_path = None')


def write_notebook(folder: Path, name: str, cells: list[tuple[str, str]]) -> Path:
    """A notebook with the sync parameters cell, then ``(cell id, source)`` code cells."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(
        cells=[new_code_cell(PARAMS, id="parameters", metadata={"tags": ["parameters"]}),
               *[new_code_cell(src, id=cid) for cid, src in cells]],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


RECORD = ("from trafico_lib.runner.notebook import record_result\n"
          "record_result({'table': table, 'mode': mode, 'dry_run': dry_run, 'dry_run_type': type(dry_run).__name__,"
          " 'status': 'ok', 'counts': {'read': 3, 'inserted': 2}})")


@pytest.fixture
def nbdir(tmp_path):
    return tmp_path / "nbs"


@pytest.fixture
def cfg_for(make_config, nbdir, tmp_path):
    def factory(extra: dict | None = None, **kw):
        data = {"runner": {"notebooks_dir": str(nbdir)}, "audit_archive": {"path": str(tmp_path / "runs")}}
        for k, v in (extra or {}).items():
            data.setdefault(k, {}).update(v)
        return make_config(data, **kw)
    return factory


def test_archives_the_executed_notebook_with_html_and_reads_the_result_back(cfg_for, nbdir, tmp_path):
    write_notebook(nbdir, "sync_demo", [("work", "print('working on', table)"), ("summary", RECORD)])
    cfg = cfg_for()
    run = runner.execute(cfg, "sync_demo", {"table": "remisiones", "mode": "full", "dry_run": False},
                         run_id=RUN_ID)
    expected = tmp_path / "runs" / "2026" / "01" / "02" / f"{RUN_ID}_sync_demo.ipynb"
    assert run.ok and run.error is None and run.failure is None
    assert run.output == expected and expected.is_file()
    assert run.html == expected.with_suffix(".html") and run.html.is_file()
    # the result comes from the executed notebook, booleans stay booleans
    assert run.result == {"table": "remisiones", "mode": "full", "dry_run": False, "dry_run_type": "bool",
                          "status": "ok", "counts": {"read": 3, "inserted": 2}}
    nb = nbformat.read(expected, as_version=4)
    assert runner.read_result(nb) == run.result
    assert nb.metadata.papermill.parameters["run_id"] == RUN_ID
    # relative to the configuration's folder (the kernel's): no machine's folder in the parameters
    assert nb.metadata.papermill.parameters["archive_path"] == str(expected.relative_to(tmp_path))
    html = run.html.read_text(encoding="utf-8")
    # the result is read back from the notebook, and shown as one line, not as a JSON dump
    assert "working on remisiones" in html and "result recorded for the runner: ok" in html
    assert '"dry_run_type"' not in html and "&quot;dry_run_type&quot;" not in html


def test_a_failing_cell_is_named_in_one_line_and_visible_in_the_archive(cfg_for, nbdir):
    write_notebook(nbdir, "sync_bad", [("extract", "x = 1"), ("normalize", "raise ValueError('kaput: column Fecha')"),
                                       ("summary", RECORD)])
    run = runner.execute(cfg_for(), "sync_bad", {"table": "arribos"}, run_id=RUN_ID)
    assert not run.ok and run.result is None
    assert run.failure.step == "normalize" and run.failure.ename == "ValueError"
    assert "\n" not in run.error
    assert "sync_bad failed at cell In [" in run.error
    assert "'normalize'" in run.error and "ValueError: kaput: column Fecha" in run.error
    nb = nbformat.read(run.output, as_version=4)
    by_id = {c.get("id"): c for c in nb.cells}
    assert by_id["summary"].outputs == []  # execution stopped at the failing cell
    assert any(o.output_type == "error" for o in by_id["normalize"].outputs)
    html = run.html.read_text(encoding="utf-8")
    assert "kaput: column Fecha" in html and "An Exception was encountered" in html


def test_a_cell_over_the_timeout_is_interrupted_and_reported(cfg_for, nbdir):
    write_notebook(nbdir, "slow", [("apply", "import time\ntime.sleep(60)")])
    run = runner.execute(cfg_for({"runner": {"cell_timeout_seconds": 2}}), "slow", {}, run_id=RUN_ID)
    assert not run.ok and run.duration_seconds < 30
    assert "'apply'" in run.error and "Timeout: the cell ran longer than 2 s" in run.error
    assert run.output.is_file() and run.html.is_file()


def test_secrets_in_outputs_are_scrubbed_from_the_archive(cfg_for, nbdir, monkeypatch):
    secret = "Sup3r-S3cret&pw"
    url = f"postgresql://trafico:{secret}@db.example.invalid:5432/depot"
    write_notebook(nbdir, "leaky", [
        ("leak", "import os\nprint(os.environ['TRAFICO_DATABASE_URL'])\nos.environ['TRAFICO_DATABASE_URL']"),
        ("boom", "raise RuntimeError('cannot connect to ' + os.environ['TRAFICO_DATABASE_URL'])")])
    cfg = cfg_for()
    monkeypatch.setenv("TRAFICO_DATABASE_URL", url)  # the kernel inherits it; no parameter carries it
    from trafico_lib.config import load_config
    cfg = load_config(cfg.source_path, env_file=None)
    assert secret in cfg.secrets
    run = runner.execute(cfg, "leaky", {}, run_id=RUN_ID)
    assert not run.ok
    files = [p for p in run.output.parent.iterdir() if p.suffix != ".css"]  # the shared stylesheet is static
    assert {p.suffix for p in files} == {".ipynb", ".html"}
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert secret not in text and "Sup3r-S3cret&amp;pw" not in text, p.name
        assert "***" in text
    assert secret not in run.error and "***" in run.error


def test_parameters_are_checked_and_never_carry_a_secret():
    assert runner.check_parameters({"mode": "full", "dry_run": True}, ["pw"]) == {"mode": "full", "dry_run": True}
    with pytest.raises(runner.RunnerError, match="holds a secret"):
        runner.check_parameters({"config_path": "/etc/x?password=hunter2"}, ["hunter2"])
    with pytest.raises(runner.RunnerError, match="mode: expected one of incremental, full"):
        runner.check_parameters({"mode": "weekly"}, [])
    with pytest.raises(runner.RunnerError, match="dry_run: expected true or false, got 'false'"):
        runner.check_parameters({"dry_run": "false"}, [])


def test_parameter_files_layer_and_unknown_keys_are_refused(tmp_path):
    params = ROOT / "params"
    assert runner.load_params(params / "incremental.yaml") == {"mode": "incremental", "dry_run": False}
    assert runner.load_params(params / "full.yaml", params / "dry_run.yaml") == {"mode": "full", "dry_run": True}
    from trafico_lib.tables import TABLES
    for name in TABLES:
        assert runner.load_params(params / f"{name}.yaml")["table"] == name
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: full\npassword: x\n", encoding="utf-8")
    with pytest.raises(runner.RunnerError, match=r"bad.yaml: unknown parameter\(s\) password"):
        runner.load_params(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("mode: [full\n", encoding="utf-8")
    with pytest.raises(runner.RunnerError, match="broken.yaml: broken YAML at line"):
        runner.load_params(broken)
    with pytest.raises(runner.RunnerError, match="parameter file not found"):
        runner.load_params(tmp_path / "missing.yaml")


def test_ensure_kernel_runs_this_python_even_over_a_stale_user_spec(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager
    user = tmp_path / "user"
    stale = user / "kernels" / "trafico-test-kernel"
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(json.dumps({"argv": ["/gone/venv/bin/python", "-m", "ipykernel_launcher",
                                                            "-f", "{connection_file}"], "language": "python",
                                                   "display_name": "stale"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user))
    monkeypatch.setenv("JUPYTER_PATH", "")
    assert KernelSpecManager().get_kernel_spec("trafico-test-kernel").argv[0] == "/gone/venv/bin/python"
    assert runner.ensure_kernel("trafico-test-kernel", prefix=tmp_path / "env") is True
    assert KernelSpecManager().get_kernel_spec("trafico-test-kernel").argv[0] == sys.executable
    assert runner.ensure_kernel("trafico-test-kernel", prefix=tmp_path / "env") is False


def test_archive_path_takes_the_run_ids_date(make_config, tmp_path):
    cfg = make_config({"audit_archive": {"path": str(tmp_path / "arch")}})
    assert runner.archive_path(cfg, "20261129T235959-ffffff", "sync_arribos") == \
        tmp_path / "arch" / "2026" / "11" / "29" / "20261129T235959-ffffff_sync_arribos.ipynb"
    odd = runner.archive_path(cfg, "my run/1", "health_check")
    assert odd.name == "my_run_1_health_check.ipynb" and odd.parent.parent.parent.parent == tmp_path / "arch"


def test_scrub_file_replaces_plain_json_and_html_escaped_forms(tmp_path):
    secret = 'p"w<1>'
    p = tmp_path / "x.ipynb"
    p.write_text(json.dumps({"a": f"url {secret}", "b": "&lt;" + secret.replace("<", "&lt;").replace(">", "&gt;")}),
                 encoding="utf-8")
    assert runner.scrub_file(p, [secret]) == 2
    text = p.read_text(encoding="utf-8")
    assert "p\\\"w<1>" not in text and "w&lt;1&gt;" not in text and text.count("***") == 2


def test_a_failing_sync_notebook_makes_the_commands_exit_1_with_one_line(cfg_for, nbdir, db_url):
    write_notebook(nbdir, "sync", [("start", "x = 1"),
                                          ("extract", "raise ValueError('source table arribos has no column Fecha')"),
                                          ("summary", RECORD)])
    cfg = cfg_for(db_url=db_url)
    # the commands in this process, their logging and signal handlers put back after (tests/cli_inprocess.py)
    p = inprocess.run(["trafico", "--config", cfg.source_path, "--table", "arribos", "--run-id", RUN_ID])
    code, out = p.returncode, p.stdout
    assert code == 1
    line = next(ln for ln in out.splitlines() if "error:" in ln)
    assert "table arribos: sync_arribos failed at cell In [" in line
    assert "'extract'" in line and "ValueError: source table arribos has no column Fecha" in line
    with psycopg.connect(db_url) as c:
        ops = c.execute("SELECT operation, details FROM traficov2_sync_log").fetchall()
    assert [o for o, _ in ops] == ["ERROR"]
    details = ops[0][1]
    assert details["run_id"] == RUN_ID and Path(details["notebook"]).is_file()
    assert "'extract'" in details["error"]

    p = inprocess.run(["-m", "trafico_lib.runner", "sync", "--config", cfg.source_path, "--table", "arribos",
                       "--params", str(ROOT / "params" / "full.yaml")])
    code, err = p.returncode, p.stderr
    assert code == 1
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        next(ln for ln in err.splitlines() if ln.startswith("error: table arribos: sync_arribos failed at cell In ["))]


def test_runner_command_refuses_a_bad_parameter_file_with_exit_2(cfg_for, tmp_path):
    bad = tmp_path / "weekly.yaml"
    bad.write_text("mode: weekly\n", encoding="utf-8")
    cfg = cfg_for()
    p = inprocess.run(["-m", "trafico_lib.runner", "sync", "--config", cfg.source_path, "--params", str(bad)])
    assert p.returncode == 2
    assert p.stderr.strip() == "error: parameter mode: expected one of incremental, full, got 'weekly'"


def test_a_kernel_that_dies_at_start_is_started_again_and_the_notebook_runs_once(cfg_for, nbdir, monkeypatch, caplog):
    """Two kernels starting at once on one machine can be handed the same free port; the one
    that loses dies before it answers. The collision is forced here, with real kernels: the first
    start is given a port this test holds (jupyter_client's port finder patched for that one
    call), so that kernel dies on its bind as it would in the race; the runner starts another,
    and the notebook runs once. A notebook whose cells ran is never started again."""
    import socket

    from jupyter_client.connect import LocalPortCache

    write_notebook(nbdir, "sync_once", [("count", "open('ran.txt', 'a').write('x')"), ("summary", RECORD)])
    cfg = cfg_for()
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    taken = held.getsockname()[1]
    real = LocalPortCache.find_available_port
    calls = {"n": 0}

    def first_port_taken(self, ip):
        calls["n"] += 1
        return taken if calls["n"] == 1 else real(self, ip)

    monkeypatch.setattr(LocalPortCache, "find_available_port", first_port_taken)
    try:
        with caplog.at_level("WARNING", logger="trafico"):
            run = runner.execute(cfg, "sync_once", {"table": "arribos", "mode": "full", "dry_run": False},
                                 run_id=RUN_ID)
    finally:
        held.close()
    assert run.ok, run.error
    assert run.result is not None and run.result["status"] == "ok"
    assert (cfg.base_dir / "ran.txt").read_text() == "x"  # its cells ran once
    assert any("its kernel did not start" in r.getMessage() and "2 of 3" in r.getMessage() for r in caplog.records)

    # a kernel that died after a cell ran is a failed run, not a second run of the notebook
    write_notebook(nbdir, "sync_dies", [("count", "open('died.txt', 'a').write('x')"),
                                        ("die", "import os; os._exit(1)")])
    run = runner.execute(cfg, "sync_dies", {"table": "arribos", "mode": "full", "dry_run": False}, run_id=RUN_ID)
    assert not run.ok and (cfg.base_dir / "died.txt").read_text() == "x"


def test_an_archived_page_scrolls_a_wide_frame_sideways_instead_of_cutting_it(tmp_path):
    """A frame wider than a 1024 px screen (the health history) scrolls inside its output, one
    line per row: the rendered page carries the rule in its head (nbconvert's page alone lets the
    table run past the page's edge, squeezed into wrapped cells)."""
    import nbformat
    from trafico_lib.runner.archive import WIDE_OUTPUTS, render_html
    wide = "<table border=\"1\" class=\"dataframe\"><tr>" + "".join(f"<td>column {i}</td>" for i in range(40)) + "</tr></table>"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("frame", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": wide})])])
    src = tmp_path / "wide.ipynb"
    nbformat.write(nb, src)
    page = render_html(src).read_text(encoding="utf-8")
    head = page.split("</head>", 1)[0]
    assert WIDE_OUTPUTS in head and "overflow-x: auto" in WIDE_OUTPUTS and "white-space: nowrap" in WIDE_OUTPUTS
    assert page.index(WIDE_OUTPUTS) > max(page.rfind("notebook-", 0, len(head)), 0)  # after Lab's styles: it wins
    assert "column 39" in page
