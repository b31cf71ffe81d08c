"""Data Docs tell the truth about the tables (issue 24, points 1, 2 and 9): the index counts each
table as it is NOW (the health facts' ``state``), never the last run's delta, and says so when
that state is unknown; what the last run did is a line apart; a run that checked no row says so,
with each rule in the suite's words; the health card links the archived notebooks' pages; the
built line names the run; numbers read one way. Every page is parsed (html.parser)."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from html_tables import table_rows
from test_docs import _run_page, _site_problems, _summary, _Text, _text
from trafico_lib import clock
from trafico_lib.docs import build_docs, save_validation, site_dir
from trafico_lib.docs.site import built_line
from trafico_lib.health.card import card_html
from trafico_lib.tables import TABLES

AS_OF = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
REGEX = "^[A-Z]{4}[0-9]{7}$"


@pytest.fixture
def cfg(make_config, tmp_path):
    return make_config({"runner": {"reports_dir": str(tmp_path / "reports")}})


def _rule(rule, severity, column, failed, rows=()):
    return {"rule": rule, "severity": severity, "column": column, "failed": failed,
            "failing_rows": [{"row": None, "key": k, "value": v} for k, v in rows]}


def _arribos_state() -> dict:
    """arribos as the sample leaves it: 156 active rows, 115 kept without a booking, one source
    row rejected for its missing container; every rule of the suite listed."""
    missing = [({"Contenedor": f"MSKU{7867900 + i}"}, None) for i in range(20)]
    return {"rows": 156, "warned_rows": 115, "rejected_rows": 1, "as_of": AS_OF, "rules": [
        _rule("required_Contenedor", "blocking", "Contenedor", 1, [({"Contenedor": None}, None)]),
        _rule("key_parseable", "blocking", "Contenedor", 0),
        _rule("container_format", "warning", "Contenedor", 0),
        _rule("container_check_digit", "warning", "Contenedor", 2, [({"Contenedor": "ANDU3823579"}, "ANDU3823579")]),
        _rule("required_Booking", "warning", "Booking", 115, missing),
        _rule("peso_weight", "warning", "Peso", 2, [({"Contenedor": "ANDU1388619"}, "4916.000"),
                                                    ({"Contenedor": "ANDU1388610"}, 4916.0)])]}


def _facts(states: dict[str, dict | None], **more) -> dict:
    """Health facts as gather_facts gives them, reduced to what the index reads."""
    tables = [{"table": name, **({"state": st} if st is not None else {})} for name, st in states.items()]
    return {"checked_at": AS_OF, "database": {"ok": True, "name": "test", "error": None}, "exit_code": 0,
            "status": "healthy", "healthy": True, "tables": tables, **more}


def _delta_run(cfg, run_id="20261206T100613-051b2c"):
    """The second (incremental) run of arribos: it re-read 3 rows, one rejected, one warned."""
    summary = _summary("arribos", 1, ["row 121"])
    summary.update(rows=3, valid=2, rejected=1, with_warnings=1)
    save_validation(cfg, "arribos", run_id, summary, saved_at=AS_OF)
    return run_id


# ---- point 1: the table now, the last run apart --------------------------------------------------

def test_the_index_counts_the_table_now_not_the_last_run(cfg):
    run_id = _delta_run(cfg)
    logged = {("arribos", run_id): {"read": 3, "inserted": 0, "updated": 2, "unchanged": 0, "rejected": 1,
                                    "deactivated": 0, "operation": "SYNC", "mode": "incremental"}}
    index = build_docs(cfg, facts=_facts({"arribos": _arribos_state()}), run_id=run_id, command="sync", logged=logged)
    page = _text(index)
    assert page.counts["arribos"] == {"rows": "156", "warned_rows": "115", "rejected_rows": "1"}  # not the run's 3
    now = page.now_text("arribos")
    assert "Rows rejected" in now and f"as of {clock.minute_text(AS_OF)}" in now
    # every failing rule of the table now, blocking first, with its first rows and where the rest are
    rules = re.findall(r'data-rule="([^"]+)"', index.read_text(encoding="utf-8"))
    assert rules == ["required_Contenedor", "required_Booking", "container_check_digit", "peso_weight"]
    booking = page.rule_text("required_Booking")
    assert booking.startswith("required_Booking warning 115 rows in column Booking")
    assert "Contenedor MSKU7867900 · Booking = (empty)" in booking
    assert "… 110 more rows (in traficov2_arribos: their validation_warnings name required_Booking)" in booking
    assert "1 row in column Contenedor" in page.rule_text("required_Contenedor")
    assert "in traficov2_sync_rejects" not in page.rule_text("required_Contenedor")  # one row: all shown
    # what the last run did: a line apart, with the link to the validation of the rows it re-read
    last = page.by_table["arribos"]
    assert last.startswith(f"Last run that read rows {run_id} ({clock.minute_text(AS_OF)}, incremental): read 3 source rows: "
                           "0 inserted, 2 updated, 0 unchanged, 1 rejected, 0 deactivated."), last
    assert "Validation of those rows: 3 rows checked Rows rejected required_Contenedor (1)" in last
    href = re.search(r'class="run-link" href="([^"]+)"', index.read_text(encoding="utf-8")).group(1)
    assert (index.parent / href).resolve() == _run_page(cfg, "arribos", run_id).resolve()
    # a table whose every row meets every rule says so, with its rule count
    clean = {**_arribos_state(), "warned_rows": 0, "rejected_rows": 0}
    clean["rules"] = [{**r, "failed": 0, "failing_rows": []} for r in clean["rules"]]
    page = _text(build_docs(cfg, facts=_facts({"arribos": clean}), logged={}))
    assert "Passed" in page.now_text("arribos") and "none: every row meets all 6 rules" in page.now_text("arribos")
    assert "checked 3 rows (its log row was not read)" in page.by_table["arribos"]


def test_without_the_state_the_index_says_it_is_unknown_and_why(cfg):
    _delta_run(cfg)
    cases = [
        (None, "the health facts were not gathered for this build"),
        (_facts({"arribos": None}), "the table's validation state was not gathered"),
        (_facts({}, query_error="canceling statement due to statement timeout"),
         "canceling statement due to statement timeout"),
        ({"database": {"ok": False, "error": "connection refused"}, "exit_code": 1}, "database unreachable: connection refused"),
        (_facts({"arribos": None}, schema_ok=False, schema_missing=["traficov2_sync_state"]), "schema missing (run --init-db)"),
    ]
    for facts, why in cases:
        page = _text(build_docs(cfg, facts=facts, logged={}))
        assert f"current state unknown: {why}" in page.now_text("arribos"), (why, page.now_text("arribos"))
        assert "arribos" not in page.counts  # no row count at all: never the last run's 3 in its place
        assert "Rows rejected" not in page.now_text("arribos")
        assert "3 rows checked" in page.by_table["arribos"]  # the last run is still told, as the last run


def test_the_history_page_is_the_runs_rows_checked_in_each(cfg):
    _delta_run(cfg)
    build_docs(cfg, logged={})
    history = _text(site_dir(cfg) / "tables" / "arribos.html").text
    assert "Rows checked in this run" in history and "history of its runs: the last 1 run of at most" in history


# ---- point 2: a run that checked no rows --------------------------------------------------------------

class _Cells(HTMLParser):
    """The cells' texts of every <tr> with a data-rule (the run page's expectations)."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._rule: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self._rule = a.get("data-rule")
            if self._rule:
                self.rows[self._rule] = []
        elif tag == "td" and self._rule:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._rule:
            self.rows[self._rule].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _assert_no_rows_checked(cfg, table: str, run_id: str) -> None:
    page = _run_page(cfg, table, run_id)
    text = _text(page).text
    assert "No rows checked in this run" in text and "PASSED" not in text and "FAILED" not in text, text
    assert not re.search(r"\d+ evaluated|\d+ passed", text) and "Passed" not in text
    cells = _Cells(page.read_text(encoding="utf-8")).rows
    assert cells and all(c[0] == "not checked" for c in cells.values()), cells
    assert cells["container_format"][4].startswith(f"Contenedor must match {REGEX}"), cells["container_format"]
    assert cells["container_check_digit"][5] == "no row checked"


def test_a_run_that_checked_no_rows_says_so_in_the_suites_words(cfg):
    """The shape a real no-op incremental run stores: rows 0, every rule failed 0, gx_result null."""
    empty = _summary("pendiente_desconsolidar", 0, [])
    empty.update(rows=0, valid=0, rejected=0, with_warnings=0)
    empty["rules"] = [{"rule": r, "severity": sev, "column": "Contenedor", "expectation_type": t, "failed": 0,
                       "failing_keys": [], "failing_rows": []}
                      for r, sev, t in (("required_Contenedor", "blocking", "expect_column_values_to_not_be_null"),
                                        ("container_format", "warning", "expect_column_values_to_match_regex"),
                                        ("container_check_digit", "warning", "expect_column_values_to_be_valid_iso6346"))]
    save_validation(cfg, "pendiente_desconsolidar", "r-noop", empty)
    index = build_docs(cfg, logged={})
    _assert_no_rows_checked(cfg, "pendiente_desconsolidar", "r-noop")
    last = _text(index).by_table["pendiente_desconsolidar"]
    assert "no rows checked in this run" in last and "Passed" not in last
    history = _text(site_dir(cfg) / "tables" / "pendiente_desconsolidar.html").text
    assert "No rows checked" in history and "Passed" not in history


def test_real_runs_the_second_checking_no_rows(db_url, make_config, tmp_path):
    """Through the real pipeline, the real stored validations and the real health facts: a full
    run, then an incremental one. pendiente_desconsolidar's second run checks no row (rows 0,
    gx_result null); arribos' re-reads 3 rows (every table is synced). The index still counts each table as it is, the
    numbers the health block prints."""
    import json
    import psycopg
    from trafico_lib.cli import main as cli_main
    from trafico_lib.health import gather_facts, render_block
    from trafico_lib.sample import load_samples
    cfg = make_config({"runner": {"reports_dir": str(tmp_path / "reports")}}, db_url=db_url)
    with psycopg.connect(db_url) as c:
        load_samples(c, cfg)
    args = ["--config", str(cfg.source_path), "--no-notebook"]  # every table
    assert cli_main([*args, "--mode", "full", "--run-id", "20261206T090000-aaaaaa"]) == 0
    with psycopg.connect(db_url, autocommit=True) as c:  # a column trafico does not read: every probe
        for spec in TABLES.values():                     # changes (the run reads), no row's values do
            c.execute(f'ALTER TABLE "{spec.source}" ADD COLUMN nota text DEFAULT \'x\'')
    assert cli_main([*args, "--run-id", "20261206T091500-bbbbbb"]) == 0
    stored = json.loads((tmp_path / "reports" / "validations" / "pendiente_desconsolidar" /
                         "20261206T091500-bbbbbb.json").read_text(encoding="utf-8"))
    assert stored["summary"]["rows"] == 0 and stored["gx_result"] is None  # what the issue saw
    _assert_no_rows_checked(cfg, "pendiente_desconsolidar", "20261206T091500-bbbbbb")
    facts = gather_facts(cfg)
    page = _text(build_docs(cfg, facts=facts))
    last = page.by_table["pendiente_desconsolidar"]
    assert last.startswith("Last run that read rows 20261206T091500-bbbbbb") and "no rows checked in this run" in last
    assert re.search(r": read 36 source rows: 0 inserted, 0 updated, 36 unchanged, 0 rejected, 0 deactivated\.",
                     last), last  # from the run's log row
    block = render_block(facts).splitlines()
    for t in facts["tables"]:
        name, state = t["table"], t["state"]
        # the table now: the state's numbers, the block's target line, never the last run's delta
        assert page.counts[name] == {"rows": f"{state['rows']:,}", "warned_rows": f"{state['warned_rows']:,}",
                                     "rejected_rows": f"{state['rejected_rows']:,}"}, name
        assert state["rows"] == t["target"]["active_rows"]
        assert any(ln.startswith(f"  {TABLES[name].target}: {state['rows']} ✓") for ln in block), block
    arr = facts["tables"][0]
    assert arr["table"] == "arribos" and arr["state"]["rows"] == 156 and page.counts["arribos"]["rows"] == "156"
    assert "3 rows checked" in page.by_table["arribos"]  # what the second run re-read: apart, as the last run
    failing = [r for r in arr["state"]["rules"] if r["failed"]]
    html = (site_dir(cfg) / "index.html").read_text(encoding="utf-8")
    row = html.split('<tr class="table-row" data-table="arribos"')[1].split('<tr class="last-run"')[0]
    assert re.findall(r'data-rule="([^"]+)"', row) == \
        [r["rule"] for r in sorted(failing, key=lambda r: (r["severity"] != "blocking", -r["failed"], r["rule"]))]
    for r in failing:
        assert page.rule_text(r["rule"]).startswith(f"{r['rule']} {r['severity']} {r['failed']:,} row"), r


# ---- point 9: the health card, the built line, numbers ------------------------------------------------

def _archive(tmp_path: Path) -> tuple[Path, dict]:
    """An archive of one run: arribos and remisiones with an HTML page, pendiente with only its
    .ipynb, expo run without a notebook; the facts' last_run as the log gives it (paths relative
    to the configuration's folder)."""
    day = tmp_path / "runs" / "2026" / "12" / "06"
    day.mkdir(parents=True)
    run = "20261206T100613-051b2c"
    for name in ("arribos", "remisiones", "pendiente_desconsolidar"):
        (day / f"{run}_sync_{name}.ipynb").write_text("{}", encoding="utf-8")
    for name in ("arribos", "remisiones"):
        (day / f"{run}_sync_{name}.html").write_text("<html></html>", encoding="utf-8")
    tables = [{"table": TABLES[n].target, "operation": "SYNC", "error": None,
               "notebook": f"runs/2026/12/06/{run}_sync_{n}.ipynb" if n != "arribos_expo_ctns" else None}
              for n in TABLES]
    return day, {"run_id": run, "sync_timestamp": AS_OF, "tables": tables, "archive_paths": []}


def _card_facts(last_run: dict) -> dict:
    def table(name, src, tgt, **kw):
        return {"table": name, "enabled": True, "source": {"name": name, "exists": True, "rows": src},
                "target": {"name": TABLES[name].target, "exists": True, "active_rows": tgt}, "counts_ok": True,
                "lag_hours": 0.03, "lag_ok": True, "last_success_at": AS_OF, **kw}
    return {"checked_at": AS_OF, "exit_code": 0, "status": "healthy", "healthy": True,
            "database": {"ok": True, "name": "embedded PostgreSQL", "error": None}, "schema_ok": True,
            "failed_syncs_24h": 0, "rejects_24h": 1, "thresholds": {"max_failed_syncs_24h": 0, "max_lag_hours": 24.0},
            "tables": [table("arribos", 1159, 1156, source_keys=1156, compared_on="distinct Contenedor", duplicate_rows=2,
                             unkeyed_rows=1, state={"rows": 1156, "warned_rows": 114, "rejected_rows": 1,
                                                    "as_of": AS_OF, "rules": []}),
                       table("remisiones", 65, 60, counts_ok=False, missing_keys=5, source_keys=65, lag_ok=False,
                             lag_hours=30.25)],
            "disk": [{"what": "archive", "path": "runs", "free_mb": 70973, "ok": True}],
            "last_run": last_run, "problems": [], "warnings": []}


class _Links(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._href = dict(attrs).get("href") if tag == "a" else None

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((self._href, data))
            self._href = None


def test_the_health_card_links_the_archived_pages_that_exist(tmp_path):
    day, last_run = _archive(tmp_path)
    for links_from in (tmp_path / "reports" / "data_docs", day, tmp_path / "notebooks"):
        links_from.mkdir(parents=True, exist_ok=True)
        html = card_html(_card_facts(last_run), links_from=links_from, base=tmp_path)
        links = _Links(html).links
        assert [text for _, text in links] == ["arribos", "remisiones"]  # only pages that exist
        for href, name in links:
            assert not re.match(r"(?i)^[a-z]+:|/", href), href  # relative: opens from the file system
            target = (links_from / href).resolve()
            assert target.is_file() and target.name == f"{last_run['run_id']}_sync_{name}.html", (links_from, href)
        text = " ".join(_text_of(html).split())
        assert "pendiente_desconsolidar runs/2026/12/06/20261206T100613-051b2c_sync_pendiente_desconsolidar.ipynb " \
               "(no HTML page to open)" in text
        assert "arribos_expo_ctns no notebook in the log" in text
    assert "<script" not in html and "http" not in html
    # each check with its mark, the counts with thousands separators, the lag to one decimal
    card = _text_from(html)
    assert card.checks["database"] == "✓ Database connection embedded PostgreSQL"
    assert card.checks["failed_syncs"] == "✓ Failed syncs (24 h): 0 max 0"
    assert card.checks["counts"] == "✗ Row counts: 1 table not accounting for every source row"
    assert card.checks["lag"] == "✗ Sync lag: 1 table over the maximum or never synced max 24.0 h"
    assert card.checks["disk_archive"] == "✓ Free disk, archive 70,973 MB free (runs)"
    rows = {r[0]: r for r in _rows_of(html)}
    assert rows["arribos"][1:5] == [  # the block's facts, adding up: 1,156 + 2 + 1 = 1,159
        "1,159 1,156 distinct Contenedor · 2 duplicate rows merged · 1 row without key",
        "1,156 114 with warnings · 1 source row rejected", "✓", "0.0"]
    assert rows["remisiones"][3:5] == ["✗ missing 5 of 65 keys", "30.2 ✗"]
    assert card.health_status == "healthy"


def test_the_site_shows_the_card_and_its_links_resolve_offline(make_config, tmp_path):
    day, last_run = _archive(tmp_path)
    cfg = make_config({"runner": {"reports_dir": str(tmp_path / "reports")},
                       "audit_archive": {"path": str(tmp_path / "runs")}})
    assert cfg.base_dir == tmp_path
    _delta_run(cfg)
    index = build_docs(cfg, facts={**_card_facts(last_run), "tables": _card_facts(last_run)["tables"]}, logged={})
    html = index.read_text(encoding="utf-8")
    assert html.count('id="health"') == 1 and "=== System Health Check ===" not in html
    links = [h for h, _ in _Links(html).links if h.endswith("_sync_arribos.html") or h.endswith("_sync_remisiones.html")]
    assert len(links) == 2 and all(h.startswith("../../runs/2026/12/06/") for h in links), links
    assert _site_problems(site_dir(cfg), also=(tmp_path / "runs",)) == []
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_the_built_line_names_the_run():
    at = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    latest = {"run_id": "20261206T095500-ab12cd", "saved_at": "2026-12-06T09:55:40+00:00"}
    built, saved = clock.minute_text(at), clock.minute_text(datetime(2026, 12, 6, 9, 55, 40, tzinfo=UTC))
    assert built_line(at, "20261206T100000-ffffff", "sync", latest) == \
        f"Built {built} after sync run 20261206T100000-ffffff"
    assert built_line(at, "20261206T100000-eeeeee", "health", latest) == \
        f"Built {built} after health check run 20261206T100000-eeeeee"
    assert built_line(at, None, "docs", latest) == \
        f"Built {built} by make docs; latest run 20261206T095500-ab12cd ({saved})"
    assert built_line(at, None, "health check", None) == \
        f"Built {built} after a health check (--health-check); no run stored yet"
    for line in (built_line(at, None, c, latest) for c in ("docs", "health check", "sync", None)):
        assert "(docs)" not in line and "latest run 20261206T095500-ab12cd" in line


def test_numbers_read_one_way_on_every_page(cfg):
    """4916.000 and 4916.0 are the same weight: one text; counts with thousands separators;
    no cell like ``4916.000`` or ``156.0``; plural words right."""
    _delta_run(cfg)
    big = _summary("remisiones", 1, ["K1"])
    big.update(rows=12345, valid=12344, rejected=1)
    save_validation(cfg, "remisiones", "r-big", big)
    index = build_docs(cfg, facts=_facts({"arribos": _arribos_state()}), logged={})
    page = _text(index)
    assert "Contenedor ANDU1388619 · Peso = 4916" in page.rule_text("peso_weight")
    assert "Contenedor ANDU1388610 · Peso = 4916" in page.rule_text("peso_weight")
    assert "12,345 rows checked" in page.by_table["remisiones"]
    history = _text(site_dir(cfg) / "tables" / "remisiones.html").text
    assert "12,345" in history and "12345" not in history
    for p in site_dir(cfg).rglob("*.html"):
        cells = [c for row in _rows_of(p.read_text(encoding="utf-8")) for c in row]
        assert not [c for c in cells if re.search(r"\d\.0+\b(?! %)", c) and not re.search(r"\d\.0 h", c)], p
        text = _text(p).text
        assert not re.search(r"\b1 (rows|rules|runs)\b|\b([02-9]|\d\d+) (row|rule|run)\b(?![-_])", text), \
            (p, re.findall(r".{30}\b1 (?:rows|rules|runs)\b.{10}", text))


# ---- small parsers ------------------------------------------------------------------------------------

def _text_of(html: str) -> str:
    return _text_from(html).text


def _text_from(html: str) -> _Text:
    t = _Text()
    t.feed(html)
    return t


def _rows_of(html: str) -> list[list[str]]:
    return [row for row in table_rows(html) if row]
