"""One kernel for a run's notebooks (trafico_lib/runner/session.py), with real kernels.

A run of several tables starts one kernel; each archived notebook still reads as if it had had
a kernel of its own (execution counts from 1, nothing of the table before it: variables, log
handlers, warnings already shown, the folder); a notebook that fails, a kernel that dies, a cell
interrupted at its timeout do not spoil the next table.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import psycopg
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import fresh_database
from trafico_lib import runner
from trafico_lib.config import load_config
from trafico_lib.runner import session as session_module
from trafico_lib.sample import create_source_tables, load_samples
from trafico_lib.schema import apply_migrations

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "20260102T030405-abc123"
PARAMS = 'table = "arribos"\nrun_id = None\narchive_path = None'


def write_notebook(folder: Path, name: str, cells: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(
        cells=[new_code_cell(PARAMS, id="parameters", metadata={"tags": ["parameters"]}),
               *[new_code_cell(src, id=cid) for cid, src in cells]],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, folder / f"{name}.ipynb")


# ---- the real sync notebook: shared kernel vs a kernel of its own -----------------------------------

@pytest.fixture(scope="module")
def seeded(pg_server, tmp_path_factory):
    """A database with the schema and the sample sources, and a configuration naming it."""
    with fresh_database(pg_server, f"ks_{os.getpid()}") as url:
        work = tmp_path_factory.mktemp("kernel-session")
        cfg_path = work / "trafico_config.json"
        cfg_path.write_text(json.dumps({"csv_sources": {"data_path": str(ROOT / "data")},
                                        "audit_archive": {"path": str(work / "runs")}}), encoding="utf-8")
        with psycopg.connect(url, autocommit=True) as conn:
            apply_migrations(conn)
            create_source_tables(conn)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("TRAFICO_DATABASE_URL", url)
                cfg = load_config(cfg_path, env_file=None)
                load_samples(conn, cfg)
                yield cfg, cfg_path


_RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z| ?[A-Z]{2,5})?|\b\d{2}:\d{2}(:\d{2})?\b")
_SECONDS = re.compile(r"\d+(\.\d+)?\s?(s|ms|seconds?)\b|(?<=_seconds\": )[\d.]+")


def readable(path: Path) -> list[tuple]:
    """What a reader sees of an archived notebook: each cell's source, prompt number and outputs
    (their text and data), run ids, times and durations written as placeholders."""
    nb = nbformat.read(path, as_version=4)

    def norm(text: str) -> str:
        return _SECONDS.sub("<secs>", _TIME.sub("<time>", _RUN_ID.sub("<run>", text)))
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs: list[dict] = []
        for out in cell.outputs:
            shown = {k: v for k, v in out.items() if k not in ("metadata", "transient")}
            last = outputs[-1] if outputs else None
            if (last is not None and shown.get("output_type") == last.get("output_type") == "stream"
                    and shown.get("name") == last.get("name")):
                last["text"] += shown["text"]  # one print flushed in two messages reads the same
                continue
            outputs.append(shown)
        outputs = [norm(json.dumps(o, sort_keys=True)) for o in outputs]
        injected = "injected-parameters" in cell.metadata.get("tags", [])  # (papermill gives it a random id)
        cells.append(("injected-parameters" if injected else cell.id, norm(cell.source), cell.execution_count, outputs))
    return cells


def test_a_run_of_three_tables_starts_one_kernel_and_each_notebook_reads_as_if_it_had_its_own(seeded):
    cfg, cfg_path = seeded
    tables = ["remisiones", "pendiente_desconsolidar", "arribos"]
    with runner.kernel_session(cfg) as shared:
        results = runner.run_sync_notebooks(cfg, tables, mode="full", dry_run=True, config_path=str(cfg_path),
                                            progress=False, session=shared)
        assert shared.starts == 1 and shared.notebooks == 3
        pid = shared.pid
        assert pid is not None and _running(pid)
    assert not _running(pid)  # shut down with the session
    assert [r["status"] for r in results] == ["dry-run"] * 3, [r["error"] for r in results]
    alone = runner.run_sync_notebooks(cfg, ["arribos"], mode="full", dry_run=True, config_path=str(cfg_path),
                                      progress=False)  # a kernel of its own
    shared_copy, own_copy = Path(results[2]["notebook"]), Path(alone[0]["notebook"])
    assert shared_copy != own_copy
    seen_shared, seen_own = readable(shared_copy), readable(own_copy)
    assert [c[2] for c in seen_shared] == list(range(1, len(seen_shared) + 1))  # In [1], In [2], ...
    for a, b in zip(seen_shared, seen_own, strict=True):
        assert a == b, f"cell {a[0]} differs from the same table run in a kernel of its own"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# ---- small notebooks: what one notebook leaves, the next does not see -------------------------------

@pytest.fixture
def nbdir(tmp_path):
    return tmp_path / "nbs"


@pytest.fixture
def cfg(make_config, nbdir, tmp_path):
    return make_config({"runner": {"notebooks_dir": str(nbdir), "cell_timeout_seconds": 3},
                        "audit_archive": {"path": str(tmp_path / "runs")}})


LEAVES = [  # the first notebook: leaves everything it can behind, then fails
    ("define", "leftover = 42\nimport logging, os, warnings\n"
               "logging.getLogger('trafico').addHandler(logging.StreamHandler())\n"
               "os.makedirs('sub', exist_ok=True); os.chdir('sub')\n"
               "warnings.warn('watch out: ' + table)\nprint('first notebook')"),
    ("boom", "raise ValueError('the first table failed')"),
]
FRESH = [  # the next: sees none of it, and the same warning shows again
    ("check", "import logging, os, warnings\n"
              "assert 'leftover' not in globals(), 'a variable of the last notebook'\n"
              "assert logging.getLogger('trafico').handlers == [], logging.getLogger('trafico').handlers\n"
              "print(os.path.basename(os.getcwd()))\n"
              "warnings.warn('watch out: ' + table)"),
    ("summary", "from trafico_lib.runner.notebook import record_result\nrecord_result({'table': table, 'status': 'ok'})"),
]


def test_a_failed_notebook_leaves_nothing_for_the_next_table(cfg, nbdir):
    write_notebook(nbdir, "leaves", LEAVES)
    write_notebook(nbdir, "fresh", FRESH)
    with runner.kernel_session(cfg) as shared:
        first = runner.execute(cfg, "leaves", {"table": "arribos"}, run_id=RUN_ID, session=shared)
        second = runner.execute(cfg, "fresh", {"table": "arribos"}, run_id=RUN_ID, session=shared)
        assert shared.starts == 1
    assert not first.ok and "the first table failed" in first.error
    assert second.ok, second.error
    nb = nbformat.read(second.output, as_version=4)
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2, 3, 4]
    check = next(c for c in nb.cells if c.get("id") == "check")
    text = "".join(o.get("text", "") for o in check.outputs)
    assert cfg.base_dir.name in text and "first notebook" not in text  # back in the run's folder
    assert "UserWarning: watch out: arribos" in text  # shown again, as a fresh kernel shows it


def test_a_kernel_that_dies_is_replaced_for_the_next_table_with_one_line(cfg, nbdir, caplog):
    write_notebook(nbdir, "dies", [("die", "import os; os._exit(1)")])
    write_notebook(nbdir, "fresh", FRESH)
    with caplog.at_level("WARNING", logger="trafico"), runner.kernel_session(cfg) as shared:
        died = runner.execute(cfg, "dies", {"table": "arribos"}, run_id=RUN_ID, archive_name="sync_a", session=shared)
        after = runner.execute(cfg, "fresh", {"table": "remisiones"}, run_id=RUN_ID, archive_name="sync_b",
                               session=shared)
        assert shared.starts == 2
    assert not died.ok and after.ok, after.error
    lines = [r.getMessage() for r in caplog.records if r.name == "trafico"]
    assert len(lines) == 1 and lines[0].startswith("sync_b: ") and "starting a new one" in lines[0], lines


def test_a_cell_interrupted_at_its_timeout_leaves_the_kernel_usable(cfg, nbdir):
    write_notebook(nbdir, "slow", [("apply", "import time\nleftover = 1\ntime.sleep(60)")])
    write_notebook(nbdir, "fresh", FRESH)
    with runner.kernel_session(cfg) as shared:
        slow = runner.execute(cfg, "slow", {}, run_id=RUN_ID, session=shared)
        usable = runner.execute(cfg, "fresh", {}, run_id=RUN_ID, session=shared)
        assert shared.starts == 1  # interrupted, the same kernel ran the next notebook
    assert "Timeout: the cell ran longer than 3 s" in slow.error and usable.ok, usable.error


def test_a_kernel_that_does_not_answer_after_a_notebook_is_replaced(cfg, nbdir, monkeypatch, caplog):
    """A notebook that leaves the kernel unable to answer (here: a hook that blocks whatever the
    kernel runs next, as a cell the interrupt could not stop would): the next table gets a new kernel."""
    write_notebook(nbdir, "hog", [("hog", "import time\n"
                                          "get_ipython().events.register('pre_execute', lambda: time.sleep(60))")])
    write_notebook(nbdir, "fresh", FRESH)
    monkeypatch.setattr(session_module, "RESET_TIMEOUT_SECONDS", 2)
    with caplog.at_level("WARNING", logger="trafico"), runner.kernel_session(cfg) as shared:
        runner.execute(cfg, "hog", {}, run_id=RUN_ID, session=shared)
        replaced = runner.execute(cfg, "fresh", {}, run_id=RUN_ID, session=shared)
        assert shared.starts == 2
    assert replaced.ok, replaced.error
    assert any("did not answer after the last notebook" in r.getMessage() for r in caplog.records)


def test_progress_lines_of_every_notebook_reach_the_runner(cfg, nbdir, caplog):
    """The kernel inherits the progress file once, at its start; each notebook's lines still
    come through (a notebook's handler is removed after it, and the next adds it again)."""
    write_notebook(nbdir, "chatty", [("say", "import logging\nfrom trafico_lib.runner.notebook import forward_progress\n"
                                             "forward_progress()\nlogging.getLogger('trafico.progress').info("
                                             "'chunk 1 of %s', table)")])
    with caplog.at_level("INFO", logger="trafico.progress"), runner.kernel_session(cfg) as shared:
        for table in ("arribos", "remisiones"):
            assert runner.execute(cfg, "chatty", {"table": table}, run_id=RUN_ID, archive_name=f"chatty_{table}",
                                  session=shared).ok
    lines = [r.getMessage() for r in caplog.records if r.name == "trafico.progress"]
    assert lines.count("chunk 1 of arribos") == 1 and lines.count("chunk 1 of remisiones") == 1, lines


def test_a_session_that_runs_no_notebook_starts_no_kernel(cfg):
    with runner.kernel_session(cfg) as shared:
        pass
    assert shared.starts == 0 and shared.pid is None
