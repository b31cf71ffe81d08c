"""The notebooks, executed by papermill through the runner against a real seeded database.

The notebooks run once per module, in the order an operator would: a full sync of every
table (database credentials only in the environment), a full dry-run on top of it,
back-propagation of a traffic-desk edit, and the health check. Each test then asserts on the
database and on the results the runner read back from the executed notebooks. Plus the static
checks: outputs stripped in git, every code cell compiles, parameters. (``make test`` also runs
with nbval the notebook these runs leave at other defaults, ``sync.ipynb``: see the project's ``conftest.py``;
tests/test_notebook_defaults.py runs its defaults through papermill: a dry run.)
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import papermill
import psycopg
import pytest

from conftest import fresh_database
from html_tables import table_rows
from trafico_lib import health, runner, views
from trafico_lib.cli import main as cli_main
from trafico_lib.cli.runner import main as runner_main
from trafico_lib.config import load_config
from trafico_lib.runner import run_health_notebook
from trafico_lib.sample import create_source_tables, load_samples
from trafico_lib.schema import apply_migrations
from trafico_lib.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SYNC_PARAMETERS = ["table", "mode", "dry_run", "allow_mass_deactivation", "config_path", "run_id", "archive_path"]
PASSWORD = "nb-T3st-s3cret-pw"
MANUAL_CHOFER = "Juan Pérez (mesa)"


def snapshot(conn) -> dict:
    """Every user table's content as one hash per table, to prove nothing was written."""
    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    return {t: conn.execute(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                            f'FROM "{t}" x').fetchone() for t in tables}


@pytest.fixture(scope="module")
def runs(pg_server, tmp_path_factory):
    """A seeded database, the notebooks run through the runner; what each run gave back."""
    with fresh_database(pg_server, f"nb_{os.getpid()}") as url:
        yield from _run_everything(url, tmp_path_factory)


def _run_everything(url, tmp_path_factory):
    user, _, rest = url.partition("://")[2].partition("@")
    secret_url = f"postgresql://{user.split(':')[0]}:{PASSWORD}@{rest}"  # trust auth: the password is carried, unused
    work = tmp_path_factory.mktemp("notebook-runs")
    cfg_path = work / "trafico_config.json"
    cfg_path.write_text(json.dumps({"csv_sources": {"data_path": str(ROOT / "data")},
                                    "audit_archive": {"path": str(work / "runs")}}), encoding="utf-8")
    out: dict = {"url": url, "work": work}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAFICO_DATABASE_URL", secret_url)  # the only way the credentials reach the kernels
        cfg = load_config(cfg_path, env_file=None)
        assert PASSWORD in cfg.secrets
        with psycopg.connect(url, autocommit=True) as conn:
            apply_migrations(conn)
            create_source_tables(conn)
            out["loaded"] = load_samples(conn, cfg)
            out["full"] = runner.run_sync_notebooks(cfg, list(TABLES), mode="full", config_path=str(cfg_path),
                                                    progress=False)
            out["after_full"] = snapshot(conn)
            out["dry"] = runner.run_sync_notebooks(cfg, list(TABLES), mode="full", dry_run=True,
                                                   config_path=str(cfg_path), progress=False)
            out["after_dry"] = snapshot(conn)
            key = conn.execute("SELECT min(sync_key) FROM traficov2_arribos WHERE activo").fetchone()[0]
            conn.execute('UPDATE traficov2_arribos SET "Chofer" = %s WHERE sync_key = %s', (MANUAL_CHOFER, key))
            out["edited_key"] = key
            out["backprop"], out["backprop_run"] = runner.run_back_propagate_notebook(
                cfg, None, config_path=str(cfg_path), progress=False)
            # `make health`, the runner's health command, runs the health notebook once: what it
            # prints and returns, and (kept on its way back) the notebook run itself
            health_runs = []

            def kept(*args, **kwargs):
                health_runs.append(run_health_notebook(*args, **kwargs))
                return health_runs[-1]
            mp.setattr(runner, "run_health_notebook", kept)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                out["health_code"] = runner_main(["health", "--config", str(cfg_path)])
            out["health_printed"] = printed.getvalue()
            [out["health"]] = health_runs
    yield out


@pytest.fixture
def db(runs):
    with psycopg.connect(runs["url"], autocommit=True) as c:
        yield c


# ---- static checks (no kernel) -------------------------------------------------------------------

def test_committed_notebooks_carry_no_outputs():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {"back_propagate.ipynb", "health_check.ipynb", "sync.ipynb"} <= {p.name for p in paths}
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        nbformat.validate(nb)
        assert "papermill" not in nb.metadata and "widgets" not in nb.metadata, p.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{p.name}: cell {cell.id} has outputs"


def as_python(source: str) -> str:
    """A cell's source as plain Python: IPython's own transforms turn magics (``%time``, ``!ls``)
    into ``get_ipython()`` calls, as the kernel would before running it."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def test_every_code_cell_of_every_notebook_compiles():
    """A broken cell is caught here, without running it; and cell ids are unique and stable."""
    for p in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        ids = [c.get("id") for c in nb.cells]
        assert all(ids) and len(set(ids)) == len(ids), f"{p.name}: missing or repeated cell ids"
        assert nb.metadata.kernelspec.name == "python3", p.name  # the kernel the runner and nbval start
        for cell in nb.cells:
            if cell.cell_type == "code":
                try:
                    compile(ast.parse(as_python(cell.source), f"{p.name}:{cell.id}"), p.name, "exec")
                except SyntaxError as exc:
                    pytest.fail(f"{p.name}: cell {cell.id!r} does not compile: {exc}")


def test_sync_notebook_declares_its_parameters_and_tells_each_step():
    path = NOTEBOOKS / "sync.ipynb"
    params = papermill.inspect_notebook(str(path))
    assert list(params) == SYNC_PARAMETERS
    assert params["table"]["default"] == '"arribos"'
    # by hand in JupyterLab a dry run (writing is the analyst's choice); the runner always passes it
    assert params["mode"]["default"] == '"incremental"' and params["dry_run"]["default"] == "True"
    nb = nbformat.read(path, as_version=4)
    ids = [c.id for c in nb.cells]
    for step in ("parameters", "extract", "normalize", "validate", "enrich", "plan", "apply", "summary"):
        i = ids.index(step)
        assert nb.cells[i - 1].cell_type == "markdown", f"no markdown before {step}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for call in ("pipeline.extract(", "pipeline.normalize(", "pipeline.validate(", "pipeline.enrich(",
                 "pipeline.plan(", "pipeline.apply(", "record_result("):
        assert call in code, call
    assert "password" not in code.lower()
    for name in TABLES:  # the notebook names no table but its default: the registry tells them apart
        assert name == "arribos" or name not in code, name
    back = papermill.inspect_notebook(str(NOTEBOOKS / "back_propagate.ipynb"))
    assert list(back) == ["table", "dry_run", "config_path", "run_id", "archive_path"]
    assert back["dry_run"]["default"] == "True"
    assert list(papermill.inspect_notebook(str(NOTEBOOKS / "health_check.ipynb"))) == \
        ["config_path", "run_id", "archive_path", "days"]


def test_views_follow_the_registry_traits_not_table_names():
    """What the sync notebook shows for a table comes from its registry entry."""
    for spec in TABLES.values():
        text = views.about(spec.name)
        assert text.startswith(f"## Sync `{spec.name}`: {spec.title}") and spec.about in text and spec.about
    plain = next(s for s in TABLES.values() if not s.slots)
    enr = SimpleNamespace(frame=pd.DataFrame({"Contenedor": ["A", "B"]}), slots=None, status_note="no exits",
                          status_matches=pd.DataFrame({"key": ["A"]}))
    assert views.slots_line(plain, enr) == f"{plain.name} has no container slots: one target row per source row"
    assert views.slot_summary(plain, enr) is None and views.slot_rows(plain, enr) is None
    assert views.status_line(plain, enr) == "no exits\n1 of 2 rows marked from the exit records"
    assert views.cross_check(None).startswith("not compared") and views.cross_check_differences(None) is None


# ---- the executed notebooks -----------------------------------------------------------------------

def test_full_sync_through_the_notebooks(runs, db):
    full = runs["full"]
    assert [r["table"] for r in full] == list(TABLES)
    assert all(r["status"] == "ok" and r["error"] is None for r in full), [r["error"] for r in full]
    assert len({r["run_id"] for r in full}) == 1  # one run id per invocation
    for r in full:
        spec = TABLES[r["table"]]
        active = db.execute(f'SELECT count(*) FROM "{spec.target}" WHERE activo').fetchone()[0]
        assert r["counts"]["inserted"] == active > 0
        rejects = db.execute("SELECT count(*) FROM traficov2_sync_rejects WHERE table_name = %s AND run_id = %s",
                             (spec.target, r["run_id"])).fetchone()[0]
        assert r["counts"]["rejected"] == rejects
        assert r["counts"]["read"] == runs["loaded"][r["table"]]
        log = db.execute("SELECT details FROM traficov2_sync_log WHERE table_name = %s AND operation = 'SYNC'",
                         (spec.target,)).fetchall()
        assert len(log) == 1
        logged = log[0][0]["notebook"]  # relative to the configuration's folder: no machine's folders
        assert not Path(logged).is_absolute() and runs["work"] / logged == Path(r["notebook"])
        assert log[0][0]["counts"]["inserted"] == r["counts"]["inserted"]
        nb = Path(r["notebook"])
        assert nb.is_file() and nb.with_suffix(".html").is_file() and r["html"] == str(nb.with_suffix(".html"))
        assert nb.name == f"{r['run_id']}_sync_{r['table']}.ipynb"
        rid = r["run_id"]
        assert nb.parent == runs["work"] / "runs" / rid[:4] / rid[4:6] / rid[6:8]
    assert next(r for r in full if r["table"] == "arribos")["counts"]["rejected"] >= 1


def test_results_are_the_ones_recorded_in_the_executed_notebooks(runs):
    for r in runs["full"] + runs["dry"]:
        recorded = runner.read_result(nbformat.read(r["notebook"], as_version=4))
        assert recorded is not None, r.get("error")
        assert {k: r[k] for k in recorded if k != "notebook"} == {k: v for k, v in recorded.items() if k != "notebook"}
        # the notebook knew where it is archived, relative to the configuration's folder
        assert runs["work"] / recorded["notebook"] == Path(r["notebook"])


def test_executed_notebooks_show_every_step(runs):
    def outputs(table: str) -> dict[str, str]:
        r = next(x for x in runs["full"] if x["table"] == table)
        nb = nbformat.read(r["notebook"], as_version=4)
        text = {}
        for c in nb.cells:
            if c.cell_type == "code":
                text[c.id] = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in c.outputs)
        return text

    arr = outputs("arribos")
    assert "rows from table arribos" in arr["extract"]
    assert "'MSKU-" in arr["normalize"] or "'msku " in arr["normalize"].lower()  # before → after
    assert "required_Contenedor" in arr["validate"] and "required_Contenedor" in arr["validate-rejects"]
    assert "to insert" in arr["plan"] and arr["plan-inserts"].splitlines()[1].split()[0] == "Contenedor"  # key first
    inserted = next(r for r in runs["full"] if r["table"] == "arribos")["counts"]["inserted"]
    assert arr["plan-inserts"].splitlines()[-1].startswith(f"… {inserted - 10} more new rows; all in traficov2_arribos")
    assert re.search(r"apply arribos: rows 1–\d+ of \d+ written", arr["apply"])  # a line per batch
    assert "arribos: ok (run " in arr["summary"]
    expo = outputs("arribos_expo_ctns")
    assert "slots for" in expo["enrich"] and "demand" in expo["enrich"]
    assert "Secuencia" in expo["enrich-slots"]


REPRS = re.compile(r"datetime\.datetime\(|Timestamp\(|zoneinfo|\{\}|\{'|\"status\":|\bNaN\b|<NA>|\bNone\b|NaT\b"
                   r"|<IPython\.|<pandas\.|Empty DataFrame|\[required_")


def shown_text(nb) -> dict[str, str]:
    """What a reader sees as text in each code cell: streams, and the plain text of every result
    that has no picture (a figure's text is only its fallback)."""
    text = {}
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        parts = []
        for o in c.outputs:
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type in ("execute_result", "display_data") and "image/png" not in o.data:
                parts.append(o.data.get("text/plain", ""))
        text[c.get("id")] = "\n".join(parts)
    return text


def test_executed_sync_notebooks_read_as_a_story(runs):
    """No stderr box, no Python reprs, one look for missing values, empty frames as "none",
    frames by source row or key, and no JSON dump of the result (it is still there for the runner)."""
    for r in runs["full"] + runs["dry"]:
        nb = nbformat.read(r["notebook"], as_version=4)
        for c in nb.cells:
            for o in c.get("outputs", []):
                assert not (o.output_type == "stream" and o.name == "stderr"), (r["notebook"], c.id, o.text)
                if o.output_type == "execute_result":  # a cell's value: a frame or a line, never a repr
                    assert {"text/html"} <= set(o.data) or {"text/markdown"} <= set(o.data), (c.id, o.data)
        text = shown_text(nb)
        for cell, t in text.items():
            assert not REPRS.search(t), (r["table"], cell, REPRS.search(t).group(0), t[:2000])
        summary = [o for o in {c.id: c for c in nb.cells}["summary"].outputs if runner.RESULT_MIME in o.get("data", {})]
        assert len(summary) == 1 and summary[0].data["text/plain"].count("\n") == 0
        assert summary[0].data["text/plain"].startswith(f"{r['table']}: {r['status']} (run ")
        html = Path(r["html"]).read_text(encoding="utf-8") if r.get("html") else ""
        assert '"counts"' not in html and "stderr" not in html, r["html"]
    arr = {c.id: c for c in nbformat.read(runs["full"][0]["notebook"], as_version=4).cells}
    assert arr["plan-updates"].outputs[0].data["text/plain"] == "none"  # a full first run updates nothing
    rejects = arr["validate-rejects"].outputs[0].data["text/plain"].splitlines()
    assert rejects[1].startswith("row") and "required_Contenedor" in rejects[2]  # by source row
    assert "—" in arr["validate-rejects"].outputs[0].data["text/plain"]  # the missing Contenedor


def test_no_machine_path_in_what_a_notebook_shows(runs):
    """The parameters cell, papermill's record of them and the outputs name paths relative to the
    configuration's folder (runs/…, data/…), never the machine's folders."""
    work = str(runs["work"])
    dry = {r["notebook"] for r in runs["dry"]}
    for path in [r["notebook"] for r in runs["full"] + runs["dry"]] + [runs["health"].output,
                                                                       runs["backprop_run"].output]:
        nb = nbformat.read(path, as_version=4)
        injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert work not in injected.source and not re.search(r"= \"/", injected.source), injected.source
        for name, value in nb.metadata.papermill.parameters.items():
            assert not (isinstance(value, str) and Path(value).is_absolute()), (path, name, value)
        assert f'archive_path = "{"runs-dry" if path in dry else "runs"}/' in injected.source
        for cell, t in shown_text(nb).items():
            assert work not in t and str(ROOT) not in t, (path, cell, t)


def test_dry_run_plans_nothing_new_and_writes_nothing(runs):
    dry = runs["dry"]
    assert all(r["status"] == "dry-run" for r in dry), [r["error"] for r in dry]
    for r in dry:
        assert r["counts"]["inserted"] == r["counts"]["updated"] == r["counts"]["deactivated"] == 0
        assert Path(r["notebook"]).is_file()
    assert runs["after_dry"] == runs["after_full"]


def test_back_propagation_notebook_copies_the_desks_edit_to_the_source(runs, db):
    run = runs["backprop_run"]
    assert run.ok and Path(run.output).is_file() and Path(run.html).is_file()
    by_table = {r["table"]: r for r in runs["backprop"]}
    assert set(by_table) == set(TABLES)
    assert by_table["arribos"]["rows_updated"] == 1 and by_table["arribos"]["status"] == "ok"
    rows = db.execute("""SELECT "Chofer" FROM arribos
                         WHERE upper(replace(replace("Contenedor", '-', ''), ' ', '')) = %s""",
                      (runs["edited_key"],)).fetchall()
    assert rows and all(r[0] == MANUAL_CHOFER for r in rows)
    logged = dict(db.execute("SELECT table_name, (details->'counts'->>'updated')::int FROM traficov2_sync_log "
                             "WHERE operation = 'BACK_PROPAGATE'").fetchall())
    assert logged == {spec.target: int(spec.name == "arribos") for spec in TABLES.values()}
    # its log rows name the archived notebook, as a sync's do: the health check that followed
    # (its last run is this back-propagation) links it, never "run without a notebook"
    notebooks = {r[0] for r in db.execute("SELECT details->>'notebook' FROM traficov2_sync_log "
                                          "WHERE operation = 'BACK_PROPAGATE'").fetchall()}
    assert len(notebooks) == 1 and Path(notebooks.pop()).name == Path(run.output).name
    assert Path(run.html).name in runs["health_printed"]
    assert "without a notebook" not in runs["health_printed"]


def test_health_notebook_reports_the_last_runs_with_a_chart(runs):
    run = runs["health"]
    assert run.ok, run.error
    full = {r["table"]: r for r in runs["full"]}
    tables = {t["table"]: t for t in run.result["tables"]}
    assert set(tables) == set(TABLES) and run.result["failed_24h"] == 0
    for name, t in tables.items():
        assert t["last_run_id"] == full[name]["run_id"] and t["last_operation"] == "SYNC"
        assert t["inserted"] == full[name]["counts"]["inserted"]
    assert run.result["healthy"] is True, run.result["problems"]
    assert "=== System Health Check ===" in run.result["text"]
    html = Path(run.html).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64") >= 3  # rows changed, lag, rejects by rule


def test_the_health_notebook_agrees_with_its_block(runs):
    """The row-count table shows the block's numbers (labelled, integers), the history counts as
    integers and times to the minute, and `make health` prints the block once."""
    nb = {c.id: c for c in nbformat.read(runs["health"].output, as_version=4).cells}
    block = runs["health"].result["text"]  # the block the runner prints; the notebook shows it as a card
    assert block.count("=== System Health Check ===") == 1
    card = next(o for o in nb["facts"].outputs if "text/html" in o.get("data", {})).data["text/html"]
    assert 'id="health"' in card and "=== System Health Check ===" not in card
    hrefs = re.findall(r'href="([^"]+)"', card)  # the last run's archived notebooks, from the archived page
    assert all((Path(runs["health"].html).parent / h).resolve().is_file() for h in hrefs), hrefs
    assert "Last run" in card and "✓" in card
    counts = next(o for o in nb["counts"].outputs if "text/html" in o.get("data", {}))
    rows = table_rows(counts.data["text/html"])
    header = rows[0]
    assert header[1] == "source rows" and "target rows (active)" in header, header
    col = header.index
    by_table = {r[0]: r for r in rows if r and r[0] in TABLES}
    assert set(by_table) == set(TABLES)
    for name, spec in TABLES.items():
        row = by_table[name]
        src, tgt = row[col("source rows")], row[col("target rows (active)")]
        assert src.isdigit() and tgt.isdigit(), row  # integers, not 156.0
        parts = [int(row[col(c)]) for c in ("source keys", "duplicate rows merged", "rows without key")]
        assert int(src) == sum(parts), row  # the source's columns add up
        assert any(ln.startswith(f"  {spec.source}: {src} ✓") for ln in block.splitlines())  # then what they are
        assert any(ln.startswith(f"  {spec.target}: {tgt} ✓") for ln in block.splitlines())
    assert "what each column counts" in nb["counts-md"].source
    assert "source rows" in nb["counts"].outputs[-1].data["text/markdown"]  # the legend
    history = next(o for o in nb["history"].outputs if "text/html" in o.get("data", {}))
    hist_rows = table_rows(history.data["text/html"])
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r[0]) for r in hist_rows if r)  # to the minute
    assert not re.search(r"\d\.0<|:\d\d\.\d{6}", history.data["text/html"])  # no 156.0, no microseconds
    last = next(o for o in nb["last"].outputs if "text/html" in o.get("data", {}))
    assert "…" not in last.data["text/html"] and str(runs["work"]) not in last.data["text/html"]  # whole, relative
    for cell, t in shown_text(nbformat.read(runs["health"].output, as_version=4)).items():
        assert not REPRS.search(t), (cell, t[:2000])
    printed = runs["health_printed"]
    assert printed.count("=== System Health Check ===") == 1 and runs["health_code"] == 0
    recipe = re.search(r"^health:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M).group(1)
    assert "--health-check" not in recipe  # the runner prints the notebook's block; not a second copy


def test_the_archive_holds_no_secret(runs):
    archive = [p for p in (runs["work"] / "runs").rglob("*") if p.is_file()]
    dry = [p for p in (runs["work"] / "runs-dry").rglob("*") if p.is_file()]  # the dry run's, kept apart
    files = archive + dry
    pages = [p for p in files if p.suffix in (".ipynb", ".html")]
    assert len([p for p in archive if p in pages]) == 2 * (4 + 2)  # .ipynb + .html for every run
    assert len([p for p in dry if p in pages]) == 2 * 4
    assert len([p for p in files if p.suffix == ".css"]) == 2  # the pages of a folder share one stylesheet
    assert all(p.stat().st_size < 200_000 for p in pages if p.suffix == ".html")
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert PASSWORD not in text, p.name
        nb_params = json.dumps(nbformat.reads(text, as_version=4).metadata.papermill.parameters) \
            if p.suffix == ".ipynb" else ""
        assert "postgresql://" not in nb_params


def test_a_failing_sync_notebook_fails_the_command_and_is_logged(db_url, make_config, tmp_path, capsys):
    """No source tables: the extract step fails; exit 1, one line naming the table and the cell."""
    cfg = make_config({"audit_archive": {"path": str(tmp_path / "runs")}}, db_url=db_url)
    code = cli_main(["--config", cfg.source_path, "--table", "remisiones", "--run-id", "20260101T000000-failed"])
    out = capsys.readouterr().out
    assert code == 1
    errors = [ln for ln in out.splitlines() if "error:" in ln]
    assert len(errors) == 1
    assert "table remisiones: sync_remisiones failed at cell In [" in errors[0]
    assert "'extract'" in errors[0] and "source table 'remisiones' does not exist" in errors[0]
    with psycopg.connect(db_url) as c:
        (details,) = c.execute("SELECT details FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()
    archived = Path(details["notebook"])
    assert archived.is_file() and archived.with_suffix(".html").is_file()
    assert "An Exception was encountered" in archived.with_suffix(".html").read_text(encoding="utf-8")


def test_each_sync_notebook_ends_with_the_table_now_as_the_health_block_and_the_data_docs_count_it(runs):
    """The sync notebook's last section, the health block's target line and the Data Docs
    index count the same table: its active rows, those with warnings, the source rows rejected
    now (issue 24: every view agrees). The notebooks ran the full sync; nothing the fixture did
    after it (a dry run, a desk edit, a back-propagation into the source) changes those counts."""
    from trafico_lib.docs.site import build_docs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRAFICO_DATABASE_URL", runs["url"])
        cfg = load_config(runs["work"] / "trafico_config.json", env_file=None)
        facts = health.gather_facts(cfg)
        index = build_docs(cfg, facts=facts)
    block = health.render_block(facts).splitlines()
    page = index.read_text(encoding="utf-8")
    for r in runs["full"]:
        state = next(t for t in facts["tables"] if t["table"] == r["table"])["state"]
        nb = nbformat.read(r["notebook"], as_version=4)
        [cell] = [c for c in nb.cells if c.get("id") == "table-now"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        m = re.search(r"now: ([\d,]+) rows?, ([\d,]+) with warnings, ([\d,]+) source rows? rejected", text)
        assert m, text
        shown = [int(g.replace(",", "")) for g in m.groups()]
        assert shown == [state["rows"], state["warned_rows"], state["rejected_rows"]], (r["table"], text)
        spec = TABLES[r["table"]]
        line = next(x for x in block if x.startswith(f"  {spec.target}: "))
        assert line.startswith(f"  {spec.target}: {state['rows']} "), line
        assert (f"{state['warned_rows']} with warnings" in line) == bool(state["warned_rows"]), line
        assert f">{state['rows']:,}<" in page  # the index's "rows now" cell
