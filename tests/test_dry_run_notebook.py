"""A dry run with 42 planned field changes, as an operator makes it (`make dry-run`: the runner,
real kernels, the embedded PostgreSQL): its archived notebook lists all 42, and what the
terminal shows plus its "N more" is 42, pointing at that notebook; back-propagation's dry run
lists key, field, old and new, and its notebook shows no row address and no snake_case header."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import psycopg

import cli_inprocess as inprocess
from output_lines import stamped_lines, summary, unstamped
from test_views_lists import Table
from trafico_lib.sample import load_samples

ROOT = Path(__file__).resolve().parent.parent


def _runner(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    return inprocess.run(["-m", "trafico_lib.runner", *args], env=env, cwd=cwd)


def _cell_page(page: str, cell: str) -> str:
    """The part of an archived notebook page that shows one cell (by its id) and its outputs."""
    start = page.index(f'id="cell-id={cell}"')
    end = page.find('id="cell-id=', start + 1)
    return page[start:end if end > 0 else len(page)]


def test_a_dry_run_with_42_planned_field_changes_lists_all_42_in_its_notebook(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    name = Path(cfg.source_path).name
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    first = _runner("sync", "--mode", "full", "--table", "arribos", "--config", name, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    with psycopg.connect(db_url, autocommit=True) as c:  # 21 rows change terminal and weight: 42 field changes
        c.execute("""UPDATE arribos SET "Terminal" = 'Muelle 9', "Peso" = '4916', updated_at = now()
                     WHERE id BETWEEN 20 AND 40""")
    dry = _runner("sync", "--params", str(ROOT / "params" / "incremental.yaml"), "--params",
                  str(ROOT / "params" / "dry_run.yaml"), "--table", "arribos", "--config", name, cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    texts = summary(dry.stdout)
    i = next(i for i, t in enumerate(texts) if t.startswith("  planned: "))
    assert texts[i].startswith("  planned: 42 field changes (21 rows), 0 new rows, 0 to deactivate"), texts[i]
    shown = [t for t in texts[i + 1:] if re.fullmatch(r"    \S+: (Peso|Terminal) .* → .*", t)]
    more = re.fullmatch(r"    … (\d+) more; all in (runs-dry/\S+\.html)", texts[i + 1 + len(shown)])
    assert more and len(shown) + int(more.group(1)) == 42, texts[i:]
    page = (tmp_path / more.group(2)).read_text(encoding="utf-8")  # where it points is true

    updates = Table(_cell_page(page, "plan-updates"))
    assert len(updates.body) == 42, len(updates.body)
    assert {r[1] for r in updates.body} == {"Peso", "Terminal"}
    assert "42 field changes in 21 rows to update; by field: Peso 21, Terminal 21" in _cell_page(page, "plan-updates")
    assert "more" not in re.sub(r"<[^>]+>", "", _cell_page(page, "plan-updates")).split("Muelle 9")[-1]
    peso = [r for r in updates.body if r[1] == "Peso"]  # one number format in the column: 4916.0 beside 6572.5
    assert {r[3] for r in peso} == {"4916.0"} and all(re.fullmatch(r"\d+\.\d|—", r[2]) for r in peso), peso
    # the warned rows it would record: every one, as many as the validation line counts
    [run_id] = {r for _, r, _ in stamped_lines(dry.stdout)}
    nb = nbformat.read(tmp_path / more.group(2).replace(".html", ".ipynb"), as_version=4)
    cells = {c.id: c for c in nb.cells}
    line = "".join(o.get("text", "") for o in cells["validate"].outputs)
    warned = int(re.search(r"kept, (\d+) of them with warnings", line).group(1))
    html = next(o.data["text/html"] for o in cells["validate-warnings"].outputs if "text/html" in o.get("data", {}))
    assert warned > 0 and len(Table(html).body) == warned
    assert run_id in more.group(2)


def test_back_propagations_dry_run_lists_key_and_field_and_its_notebook_reads_in_words(db_url, make_config,
                                                                                        tmp_path):
    cfg = make_config(db_url=db_url)
    name = Path(cfg.source_path).name
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    assert _runner("sync", "--mode", "full", "--table", "arribos", "--config", name, cwd=tmp_path).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as c:
        key, container = c.execute("""SELECT t.sync_key, s."Contenedor" FROM traficov2_arribos t
                                      JOIN arribos s ON s.id::text = t.source_id
                                      WHERE t.activo ORDER BY t.sync_key LIMIT 1""").fetchone()
        c.execute("""UPDATE traficov2_arribos SET "Chofer" = 'Chofer Manual' WHERE sync_key = %s""", (key,))
    dry = _runner("back-propagate", "--dry-run", "--table", "arribos", "--config", name, cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = unstamped(dry.stdout)
    i = lines.index("arribos: would update 1 source row (1 field change)")
    assert re.fullmatch(rf"    {re.escape(container)}: Chofer ('[^']*'|\(empty\)) → 'Chofer Manual'", lines[i + 1]), \
        lines[i:]
    page_path = next(p for p in (tmp_path / "runs-dry").rglob("*_back_propagate.html"))
    page = page_path.read_text(encoding="utf-8")
    plan = Table(_cell_page(page, "plan"))
    assert plan.head == [["Contenedor", "field", "in the source now", "the desk's value"]]
    assert plan.body[0][0] == container and plan.body[0][3] == "Chofer Manual"
    assert not re.search(r"\(\d+,\d+\)", re.sub(r"<[^>]+>", " ", _cell_page(page, "plan")))  # no ctid
    results = Table(_cell_page(page, "apply"))
    headers = [h for row in results.head for h in row if h]
    assert "source rows it would update" in headers and "field changes it would make" in headers
    assert not any(re.search(r"[a-z]_[a-z]", h) for h in headers), headers  # no snake_case
    assert "dry run: nothing written" in page and "rows_updated" not in page
