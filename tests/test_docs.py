"""Data Docs: validation results stored per run, the static site built from them (index with
the latest validation per table and failing rows, history pages, run pages), bounded history,
escaping; pages that need no network (no http(s) asset) and links that all resolve; failing
rows labelled by their key column and the rule's column; PASSED / FAILED in words; results
stored by the previous version still read; the site rebuilt by every sync and health run."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, UTC
from html.parser import HTMLParser
from pathlib import Path

import pytest

from trafico_lib.docs import (
    DocsError, build_docs, save_validation, site_dir, stored_validations, validations_dir,
)
from trafico_lib.tables import TABLES


@pytest.fixture
def cfg(make_config, tmp_path):
    return make_config({"runner": {"reports_dir": str(tmp_path / "reports"), "data_docs_keep_runs": 3}})


def _summary(table: str, failed: int, keys: list[str]) -> dict:
    """The shape of ``ValidationResult.to_json()``."""
    return {"table": table, "suite": table, "validation_enabled": True, "success": failed == 0, "gx_success": None,
            "rows": 10, "valid": 10 - failed, "rejected": failed, "with_warnings": 0, "overrides": [],
            "rules": [{"rule": "required_Contenedor", "severity": "blocking", "column": "Contenedor",
                       "expectation_type": "expect_column_values_to_not_be_null", "failed": failed,
                       "failing_keys": keys},
                      {"rule": "container_format", "severity": "warning", "column": "Contenedor",
                       "expectation_type": "expect_column_values_to_match_regex", "failed": 0, "failing_keys": []}]}


def _hrefs(page: Path) -> list[str]:
    return re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8"))


class _Refs(HTMLParser):
    """Every URL a page refers to: (tag, attribute, value), and url(...) in styles."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src", "action", "poster", "data", "srcset", "background"):
                self.refs.append((tag, name, value))
            if name == "style":
                self.refs += [(tag, "style", u) for u in _CSS_URL.findall(value)]

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.refs += [("style", "url", u) for u in _CSS_URL.findall(data)]


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")


def _site_problems(site: Path, also: tuple[Path, ...] = ()) -> list[str]:
    """What keeps a page from working offline from the file system: an asset or link on the
    network (http://, https://, protocol-relative //), or a relative link to no file, or one
    leaving the site for anywhere but the folders ``also`` (the notebook archive)."""
    problems = []
    pages = sorted(site.rglob("*.html"))
    assert pages
    for page in pages:
        parser = _Refs()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, attr, value in parser.refs:
            where = f"{page.relative_to(site)}: <{tag} {attr}={value!r}>"
            if re.match(r"(?i)^\s*(https?:)?//", value):
                problems.append(f"{where} is on the network")
                continue
            if re.match(r"(?i)^[a-z][a-z0-9+.-]*:", value) or value.startswith("#"):
                continue  # mailto:, data:, an anchor on the page
            target = (page.parent / value.split("#")[0].split("?")[0]).resolve()
            if not target.is_file():
                problems.append(f"{where} leads to no file")
            elif not any(root.resolve() in target.parents for root in (site, *also)):
                problems.append(f"{where} leaves the site")
    return problems


def test_real_validation_result_builds_the_site(cfg):
    """The rules engine's ValidationResult (with its GX result) stored and rendered."""
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.rules.validate import validate
    from trafico_lib.sources.csv import read_table_csv
    spec = TABLES["arribos"]
    norm = normalize_frame(read_table_csv(cfg, spec), spec, date(2026, 11, 29))
    val = validate(norm.frame, spec, cfg, issues=norm.issues)
    path = save_validation(cfg, "arribos", "20261129T101500-abc123", val)
    assert path == validations_dir(cfg) / "arribos" / "20261129T101500-abc123.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["summary"] == json.loads(json.dumps(val.to_json())) and stored["gx_result"]["results"]

    index = build_docs(cfg)
    assert index == site_dir(cfg) / "index.html"
    html = index.read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="table-row" data-table="([^"]+)"', html)
    assert rows == list(TABLES)  # every table listed, in registry order
    assert html.count("none stored yet") == 3  # the other tables' last run
    failing = [r for r in val.to_json()["rules"] if r["failed"]]
    assert failing, "the sample data is expected to break some rule"
    last = _text(index).by_table["arribos"]
    for r in failing:
        assert f'{r["rule"]} ({r["failed"]:,})' in last  # the last run's failing rules, apart from the table now
    # the run page is our own, one row per expectation, and its Home link leads back to the index
    run_href = re.search(r'<a class="run-link" href="(validations/arribos/[^"]+)">', html).group(1)
    page = index.parent / run_href
    text = page.read_text(encoding="utf-8")
    for r in failing:
        assert r["failing_keys"][0] in text  # the failing rows' keys are on the run page
    assert "arribos · run 20261129T101500-abc123" in text
    assert len(re.findall(r'<tr class="expectation', text)) == len(val.to_json()["rules"])
    home = next(h for h in _hrefs(page) if h.endswith("index.html"))
    assert (page.parent / home).resolve() == index.resolve()
    assert _site_problems(site_dir(cfg)) == []
    history = (index.parent / "tables" / "arribos.html").read_text(encoding="utf-8")
    assert history.count('class="run-row"') == 1 and "20261129T101500-abc123" in history


def test_history_is_bounded_and_stale_pages_go(cfg):
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    for i in range(5):
        save_validation(cfg, "remisiones", f"run-{i}", _summary("remisiones", i, [f"K{i}"]),
                        saved_at=t0 + timedelta(minutes=i))
        if i == 1:
            build_docs(cfg)  # pages of run-0 and run-1 exist now
    assert sorted(p.stem for p in (validations_dir(cfg) / "remisiones").glob("*.json")) == ["run-2", "run-3", "run-4"]
    assert [r["run_id"] for r in stored_validations(cfg, "remisiones")] == ["run-4", "run-3", "run-2"]
    index = build_docs(cfg)
    pages = sorted(p.relative_to(site_dir(cfg)).parts[2] for p in (site_dir(cfg) / "validations" / "remisiones")
                   .rglob("*.html"))
    assert pages == ["run-2", "run-3", "run-4"]  # run-0 and run-1 pages removed with their results
    history = (index.parent / "tables" / "remisiones.html").read_text(encoding="utf-8")
    assert re.findall(r">(run-\d)</a>", history) == ["run-4", "run-3", "run-2"]
    latest = _text(index).by_table["remisiones"]  # the last run's line: no facts, so the table now is unknown
    assert "Last run that read rows run-4" in latest and "Rows rejected" in latest and "required_Contenedor (4)" in latest
    assert "current state unknown" in _text(index).now_text("remisiones")
    # a run without a GX result gets a plain page from its summary
    plain = next((site_dir(cfg) / "validations" / "remisiones" / "run-4").rglob("*.html")).read_text(encoding="utf-8")
    assert "required_Contenedor" in plain and "K4" in plain


def test_save_validation_inputs(cfg):
    s = _summary("arribos", 0, [])
    p1 = save_validation(cfg, "traficov2_arribos", "a/b c", json.dumps(s))  # target name and odd run id
    assert p1.name == "a_b_c.json" and p1.parent.name == "arribos"
    assert json.loads(p1.read_text(encoding="utf-8"))["summary"]["success"] is True
    with pytest.raises(DocsError, match="unknown table 'nope'"):
        save_validation(cfg, "nope", "r", s)
    with pytest.raises(DocsError, match="not JSON"):
        save_validation(cfg, "arribos", "r", "{broken")
    with pytest.raises(DocsError, match="expected a dict"):
        save_validation(cfg, "arribos", "r", 42)
    with pytest.raises(DocsError, match="cannot name a file"):
        save_validation(cfg, "arribos", "//", s)
    (validations_dir(cfg) / "arribos" / "junk.json").write_text("{half", encoding="utf-8")
    assert [r["run_id"] for r in stored_validations(cfg, "arribos")] == ["a/b c"]  # junk skipped, not fatal


def test_keys_are_escaped(cfg):
    save_validation(cfg, "arribos", "r1", _summary("arribos", 1, ["<script>alert(1)</script>"]))
    bad = {"row": None, "key": {"Contenedor": "<script>alert(1)</script>"}, "value": None}
    state = {"rows": 1, "warned_rows": 0, "rejected_rows": 1, "as_of": datetime(2026, 11, 29, tzinfo=UTC),
             "rules": [{"rule": "required_Booking", "severity": "blocking", "column": "Booking", "failed": 1,
                        "failing_rows": [bad]}]}
    facts = {"database": {"ok": True, "name": "test"}, "exit_code": 0, "tables": [{"table": "arribos", "state": state}]}
    index = build_docs(cfg, facts=facts, logged={})
    for page in (index, _run_page(cfg, "arribos", "r1")):
        html = page.read_text(encoding="utf-8")
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, page


def test_health_block_on_the_index_and_make_docs_entry_point(cfg, make_config, tmp_path, capsys):
    from trafico_lib.health import gather_facts
    (tmp_path / "nosock").mkdir()
    down = make_config({"runner": {"reports_dir": str(tmp_path / "reports")}},
                       db_url=f"postgresql://postgres@/postgres?host={tmp_path / 'nosock'}")
    index = build_docs(down, facts=gather_facts(down))
    card = _text(index)
    assert card.checks["database"][0] == "✗" and "Database connection" in card.checks["database"]
    assert card.health_status == "unhealthy" and "=== System Health Check ===" not in card.text
    for name in TABLES:  # the database is down: the table now is unknown, and why
        assert f"{name} {TABLES[name].target} current state unknown: database unreachable: " in card.now_text(name)
    from trafico_lib.cli import docs_main as main  # python -m trafico_lib.docs
    assert main(["--no-health", "--config", cfg.source_path]) == 0
    assert capsys.readouterr().out.strip() == f"Data Docs: {site_dir(cfg) / 'index.html'}"
    assert 'id="health"' not in (site_dir(cfg) / "index.html").read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert main(["--config", str(bad)]) == 2


def test_status_tells_rejected_rows_from_warnings_only():
    from trafico_lib.docs import passed
    clean = _summary("arribos", 0, [])
    blocked = _summary("arribos", 2, ["K1", "K2"])
    warned = _summary("arribos", 0, [])
    warned["rules"][1]["failed"] = 3
    assert passed(clean) is True and passed(blocked) is False and passed(warned) == "warnings"


# ---- pages that work offline, statuses in words, rows labelled right ---------------------------

class _Text(HTMLParser):
    """A page's visible text per element carrying ``data-rule`` (the run page's rows, the
    index's failing rules now), per table on the index (``now``: its row of the table now;
    ``by_table``: its last run's line), per ``data-count`` cell, per health check
    (``data-check``), and the whole page's text."""

    def __init__(self):
        super().__init__()
        self.by_rule: dict[str, list[str]] = {}
        self._last: dict[str, str] = {}
        self.now: dict[str, list[str]] = {}
        self.counts: dict[str, dict[str, str]] = {}
        self._checks: dict[str, str] = {}
        self.health_status: str | None = None
        self.parts: list[str] = []
        self._stack: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append((tag, a))
        if a.get("id") == "health":
            self.health_status = a.get("data-status")

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.parts.append(data)
        table = None
        for tag, a in self._stack:
            if a.get("data-rule"):
                self.by_rule.setdefault(a["data-rule"], []).append(data)
            if tag == "tr" and a.get("data-table"):
                table = a["data-table"]
                if a.get("class") == "last-run":
                    self._last[table] = self._last.get(table, "") + data
                elif a.get("class") == "table-row":
                    self.now.setdefault(table, []).append(data)
            if a.get("data-count") and table:
                self.counts.setdefault(table, {})[a["data-count"]] = data.strip()
            if a.get("data-check"):
                self._checks[a["data-check"]] = self._checks.get(a["data-check"], "") + data

    @property
    def by_table(self) -> dict[str, str]:
        return {k: " ".join(v.split()) for k, v in self._last.items()}

    @property
    def checks(self) -> dict[str, str]:
        return {k: " ".join(v.split()) for k, v in self._checks.items()}

    def rule_text(self, rule: str) -> str:
        return " ".join(" ".join(self.by_rule.get(rule, [])).split())

    def now_text(self, table: str) -> str:
        return " ".join(" ".join(self.now.get(table, [])).split())

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def _text(page: Path) -> _Text:
    t = _Text()
    t.feed(page.read_text(encoding="utf-8"))
    return t


def _validated(cfg, table: str, run_id: str):
    """The sample CSV of ``table`` normalized, validated and stored as run ``run_id``."""
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.rules.validate import validate
    from trafico_lib.sources.csv import read_table_csv
    spec = TABLES[table]
    norm = normalize_frame(read_table_csv(cfg, spec), spec, date(2026, 11, 29))
    val = validate(norm.frame, spec, cfg, issues=norm.issues)
    save_validation(cfg, table, run_id, val)
    return norm, val


def _run_page(cfg, table: str, run_id: str) -> Path:
    [page] = (site_dir(cfg) / "validations" / table / run_id).rglob("*.html")
    return page


def test_every_page_works_offline_and_every_link_resolves(cfg):
    """No page loads anything from the network (GX's pages load Bootstrap, jQuery, Vega and
    Font Awesome from CDNs, and link to suite pages that do not exist): checked on a site with
    every kind of page: real results with a GX result, summaries without one, pruned runs,
    results in the previous version's shape, and an empty table."""
    for table in ("arribos", "arribos_expo_ctns"):
        _validated(cfg, table, "20261129T101500-abc123")
    t0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    for i in range(5):  # keep 3: two runs pruned, which must not be linked anywhere
        save_validation(cfg, "remisiones", f"run-{i}", _summary("remisiones", i, [f"K{i}"]),
                        saved_at=t0 + timedelta(minutes=i))
        build_docs(cfg)
    index = build_docs(cfg, facts=None, run_id="20261129T101500-abc123", command="sync")
    assert _site_problems(site_dir(cfg)) == []
    pages = {p.relative_to(site_dir(cfg)).as_posix() for p in site_dir(cfg).rglob("*.html")}
    assert len([p for p in pages if p.startswith("validations/")]) == 5 and len(pages) == 5 + 4 + 1
    assert not any("run-0" in p or "run-1" in p for p in pages)
    for page in site_dir(cfg).rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html and "http://" not in html and "https://" not in html, page
    assert "Built " in _text(index).text and "after sync run 20261129T101500-abc123" in _text(index).text


def test_site_problems_sees_network_assets_and_dead_links(tmp_path):
    """The checker itself: a CDN stylesheet, a protocol-relative script, a CSS url() on the
    network and a link to a missing page are each reported."""
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "ok.html").write_text('<a href="a/b.html#x">b</a>', encoding="utf-8")
    (site / "a" / "b.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example/x.css"><script src="//cdn.example/j.js"></script>'
        '<style>body{background:url("http://x/y.png")}</style><a href="../gone.html">gone</a>'
        '<a href="../ok.html">ok</a>', encoding="utf-8")
    problems = _site_problems(site)
    assert len(problems) == 4 and sum("on the network" in p for p in problems) == 3
    assert any("gone.html" in p and "leads to no file" in p for p in problems)


def test_run_page_says_failed_and_passed_in_words(cfg):
    """Each expectation's status is text on the page (GX's page showed it as an icon font
    loaded from a CDN: offline the column was empty)."""
    _, val = _validated(cfg, "arribos_expo_ctns", "r-expo")
    build_docs(cfg)
    page = _text(_run_page(cfg, "arribos_expo_ctns", "r-expo"))
    rules = {r["rule"]: r for r in val.to_json()["rules"]}
    assert rules["container_check_digit"]["failed"] == 1 and rules["required_Booking"]["failed"] == 0
    for name, r in rules.items():
        text = page.rule_text(name)
        assert text.startswith(("✗ FAILED" if r["failed"] else "✓ PASSED") + f" {name} {r['severity']}"), text
        assert ("PASSED" in text) != bool(r["failed"]) and ("FAILED" in text) == bool(r["failed"])
    digit = page.rule_text("container_check_digit")
    assert "Contenedor must be an ISO 6346 container number (category U/J/Z, correct check digit)" in digit
    assert "expect_column_values_to_be_valid_iso6346" in digit
    assert "1 of 42 rows unexpected" in digit
    assert "expectations: 7 evaluated, 5 passed, 2 failed" in page.text


def test_failing_rows_show_their_key_under_the_key_column_and_the_value_under_the_rule_column(cfg):
    """A bad check digit on an expo row (key: Booking) reads "row 38 · Booking BKG2611012 ·
    Contenedor = SURU2587546", not "Contenedor BKG2611012"; an arribos row (key: Contenedor)
    without a booking reads "... Contenedor MSKU7867982 · Booking = (empty)". The row number
    is the row's _row, by which the notebook's tables index it."""
    norm, _ = _validated(cfg, "arribos_expo_ctns", "r-expo")
    arr, _ = _validated(cfg, "arribos", "r-arr")
    index = build_docs(cfg)
    frame = norm.frame.set_index("_row")  # the notebook's index
    assert (frame.loc[38, "Booking"], frame.loc[38, "Contenedor"]) == ("BKG2611012", "SURU2587546")
    assert arr.frame.set_index("_row").loc[2, ["Contenedor", "Booking"]].tolist() == ["MSKU7867982", None]
    assert "Contenedor BKG2611012" not in _text(index).text
    expo_page = _text(_run_page(cfg, "arribos_expo_ctns", "r-expo"))
    text = expo_page.rule_text("container_check_digit")
    assert "row 38 · Booking BKG2611012 · Contenedor = SURU2587546" in text, text
    assert "Contenedor BKG2611012" not in text
    arr_page = _text(_run_page(cfg, "arribos", "r-arr"))
    assert "row 2 · Contenedor MSKU7867982 · Booking = (empty)" in arr_page.rule_text("required_Booking")
    # where the rule's column is the key, the value is not repeated
    assert "row 19 · Contenedor ANDU3823579" in arr_page.rule_text("container_check_digit")
    assert "Contenedor = ANDU3823579" not in arr_page.rule_text("container_check_digit")


def test_a_value_normalization_could_not_read_is_shown_as_read(cfg):
    """For a parseable_<column> rule the offending value is the text as read (the normalized
    frame holds nothing there), under the rule's column, beside the row's key."""
    import pandas as pd
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.rules.validate import validate
    spec = TABLES["arribos"]
    rows = [dict.fromkeys(spec.column_names) for _ in range(2)]
    rows[0].update(Contenedor="MSCU1234566", Fecha="32/13/2026", Booking="BK1", Cliente="C")
    rows[1].update(Contenedor="MSCU1234566", Fecha="01/11/2026", Peso="abc", Booking="BK2", Cliente="C")
    frame = pd.DataFrame(rows).assign(_row=[121, 122])
    norm = normalize_frame(frame, spec, date(2026, 11, 29))
    save_validation(cfg, "arribos", "r-parse", validate(norm.frame, spec, cfg, issues=norm.issues))
    build_docs(cfg)
    page = _text(_run_page(cfg, "arribos", "r-parse"))
    assert "row 121 · Contenedor MSCU1234566 · Fecha = 32/13/2026" in page.rule_text("parseable_Fecha")
    assert "row 122 · Contenedor MSCU1234566 · Peso = abc" in page.rule_text("parseable_Peso")


def test_results_stored_by_the_previous_version_still_build(cfg):
    """Stored JSON from before failing_rows: keys read back under the table's key columns
    (a booking under Booking, never under the rule's column); a result with only GX's part
    shows GX's row numbers and values."""
    old = _summary("arribos_expo_ctns", 0, [])
    old["rules"] = [{"rule": "container_check_digit", "severity": "warning", "column": "Contenedor",
                     "expectation_type": "expect_column_values_to_be_valid_iso6346", "failed": 2,
                     "failing_keys": ["BKG2611012", "row 7"]}]
    save_validation(cfg, "arribos_expo_ctns", "old-run", old)
    folder = validations_dir(cfg) / "arribos"
    folder.mkdir(parents=True)
    gx_only = {"table": "arribos", "run_id": "gx-only", "saved_at": "2026-11-28T10:00:00+00:00", "summary": None,
               "gx_result": {"success": False, "results": [{
                   "success": False, "expectation_config": {
                       "type": "expect_column_values_to_match_regex", "meta": {"rule": "container_format",
                                                                              "severity": "warning"},
                       "kwargs": {"column": "Contenedor", "regex": "^[A-Z]{4}[0-9]{7}$", "batch_id": "x"}},
                   "result": {"element_count": 10, "unexpected_count": 1, "unexpected_percent": 10.0,
                              "partial_unexpected_list": ["ABC12"], "partial_unexpected_index_list": [4]}}]}}
    (folder / "gx-only.json").write_text(json.dumps(gx_only), encoding="utf-8")
    index = build_docs(cfg)
    assert _site_problems(site_dir(cfg)) == []
    expo = _text(_run_page(cfg, "arribos_expo_ctns", "old-run")).rule_text("container_check_digit")
    assert "FAILED" in expo and "Booking BKG2611012" in expo and "row 7" in expo
    assert "Contenedor BKG2611012" not in _text(index).text
    arr = _text(_run_page(cfg, "arribos", "gx-only")).rule_text("container_format")
    assert "FAILED" in arr and "row 4 · Contenedor = ABC12" in arr and "1 of 10 rows unexpected (10 %)" in arr
    assert "Contenedor must match ^[A-Z]{4}[0-9]{7}$" in arr


# ---- rebuilt by every run ---------------------------------------------------------------------

def _built(cfg) -> str:
    return _text(site_dir(cfg) / "index.html").text


def _facts_tables(cfg) -> dict[str, dict]:
    from trafico_lib.health import gather_facts
    return {t["table"]: t for t in gather_facts(cfg).get("tables") or []}


def test_cli_sync_and_health_check_rebuild_the_site(db_url, make_config, tmp_path, capsys, caplog):
    """``update_traficov2.py`` (sync, --health-check) leaves a site built after it, naming
    the run; a dry run leaves it alone; a site that cannot be built is one warning line and
    the run's exit code is the run's."""
    from trafico_lib.cli import main as cli_main
    from trafico_lib.sample import load_samples
    import psycopg
    cfg = make_config({"runner": {"reports_dir": str(tmp_path / "reports")}}, db_url=db_url)
    with psycopg.connect(db_url) as c:
        load_samples(c, cfg)
    args = ["--config", str(cfg.source_path), "--table", "arribos", "--no-notebook"]
    assert cli_main([*args, "--mode", "full", "--run-id", "20261130T090000-aaaaaa"]) == 0
    text = _built(cfg)
    index = _text(site_dir(cfg) / "index.html")
    assert "after sync run 20261130T090000-aaaaaa" in text and index.checks["database"].startswith("✓")
    assert "Last run that read rows 20261130T090000-aaaaaa" in index.by_table["arribos"]
    state = _facts_tables(cfg)["arribos"]["state"]  # the table now, from the store
    booking = next(r for r in state["rules"] if r["rule"] == "required_Booking")
    first = booking["failing_rows"][0]["key"]["Contenedor"]
    assert index.rule_text("required_Booking").startswith(f"required_Booking warning {booking['failed']} rows")
    assert f"Contenedor {first} · Booking = (empty)" in index.rule_text("required_Booking")
    assert index.counts["arribos"] == {"rows": f"{state['rows']:,}", "warned_rows": f"{state['warned_rows']:,}",
                                       "rejected_rows": f"{state['rejected_rows']:,}"}
    index = site_dir(cfg) / "index.html"
    before = index.stat().st_mtime_ns
    assert cli_main([*args, "--dry-run", "--run-id", "20261130T091500-bbbbbb"]) == 0
    assert index.stat().st_mtime_ns == before and "bbbbbb" not in _built(cfg)  # a dry run writes nothing
    capsys.readouterr()
    assert cli_main(["--config", str(cfg.source_path), "--health-check"]) == 1  # three tables never synced
    text = _built(cfg)
    assert "after a health check (--health-check); latest run 20261130T090000-aaaaaa" in text
    assert _text(site_dir(cfg) / "index.html").health_status == "unhealthy"
    # a site that cannot be written: one warning, the sync still exits 0
    blocked = make_config({"runner": {"reports_dir": str(tmp_path / "blocked")}}, db_url=db_url)
    (tmp_path / "blocked").write_text("a file where the reports folder should be", encoding="utf-8")
    caplog.clear()
    with psycopg.connect(db_url, autocommit=True) as c:  # a change: the run reads (an unchanged one leaves the site)
        c.execute("UPDATE arribos SET updated_at = now() WHERE id = (SELECT min(id) FROM arribos)")
    assert cli_main(["--config", str(blocked.source_path), "--table", "arribos", "--no-notebook"]) == 0
    warned = [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("Data Docs")]
    assert len(warned) == 1 and warned[0][0] == "WARNING" and warned[0][1].startswith("Data Docs not rebuilt: ")


def test_runner_sync_and_health_rebuild_the_site(db_url, make_config, tmp_path):
    """``make sync`` / ``make health`` (``python -m trafico_lib.runner sync|health``) rebuild
    the site at the end, naming their run; here with small notebooks of their own."""
    from nbformat.v4 import new_code_cell, new_notebook
    import nbformat
    from trafico_lib.cli import runner_main
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    params = ('table = "arribos"\nmode = "incremental"\ndry_run = False\nconfig_path = None\n'
              'run_id = None\narchive_path = None')
    sync = ("from trafico_lib.config import load_config\nfrom trafico_lib.docs import save_validation\n"
            "from trafico_lib.runner.notebook import record_result\n"
            "save_validation(load_config(config_path), table, run_id, " + repr(_summary("arribos", 1, ["row 9"])) + ")\n"
            "record_result({'table': table, 'run_id': run_id, 'mode': mode, 'dry_run': dry_run, 'status': 'ok',"
            " 'counts': {'read': 10}})")
    health = "from trafico_lib.runner.notebook import record_result\nrecord_result({'status': 'ok', 'healthy': True, 'exit_code': 0, 'text': 'fine'})"
    for name, src in (("sync", sync), ("health_check", health)):
        nbformat.write(new_notebook(cells=[new_code_cell(params, metadata={"tags": ["parameters"]}),
                                           new_code_cell(src)],
                                    metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}}), nbs / f"{name}.ipynb")
    cfg = make_config({"runner": {"notebooks_dir": str(nbs), "reports_dir": str(tmp_path / "reports")}},
                      db_url=db_url)
    assert runner_main(["sync", "--config", str(cfg.source_path), "--table", "arribos",
                        "--run-id", "20261130T100000-cccccc"]) == 0
    assert "after sync run 20261130T100000-cccccc" in _built(cfg)
    last = _text(site_dir(cfg) / "index.html").by_table["arribos"]
    assert "Last run that read rows 20261130T100000-cccccc" in last and "required_Contenedor (1)" in last
    assert runner_main(["health", "--config", str(cfg.source_path), "--run-id", "20261130T101000-dddddd"]) == 0
    assert "after health check run 20261130T101000-dddddd" in _built(cfg)
