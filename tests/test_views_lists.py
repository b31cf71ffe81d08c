"""What the notebooks' lists show, on frames (no database): one number and one time format per
column, plural words right, every list that is cut saying how many it left out and where, a
dry run listing every planned change, back-propagation by the source's key in words."""
from __future__ import annotations

import datetime as dt
import html.parser
import re
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd

from trafico_lib import views
from trafico_lib.cli.output import format_back_propagation, planned_lines
from trafico_lib.engine.backprop import BackpropResult, source_edits
from trafico_lib.engine.plan import PLAN_ROWS, Plan
from trafico_lib.tables import get_table
from output_lines import unstamped

ARRIBOS = get_table("arribos")


class Table(html.parser.HTMLParser):
    """The header cells and the body rows (cell texts) of the HTML tables in a fragment."""

    def __init__(self, text: str):
        super().__init__()
        self.head: list[list[str]] = []
        self.body: list[list[str]] = []
        self._part: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "thead":
            self._part = self.head
        elif tag == "tbody":
            self._part = self.body
        elif tag == "tr" and self._part is not None:
            self._part.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._part is not None:
            self._part[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("thead", "tbody"):
            self._part = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def paragraphs(text: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in re.findall(r"<p>(.*?)</p>", text, re.S)]


def ctx(dry_run: bool, run_id: str = "20261206T100000-abcdef"):
    return SimpleNamespace(dry_run=dry_run, run_id=run_id, spec=ARRIBOS)


def plan(updates: int = 0, inserts: int = 0, deactivations: int = 0) -> Plan:
    keys = [f"MSCU{i:07d}" for i in range(max(updates, inserts, deactivations))]
    up = pd.DataFrame([(k, f, old, new) for k in keys[:(updates + 1) // 2]
                       for f, old, new in (("Peso", 15210.0, 4916.0), ("Terminal", "Muelle 5", "Muelle 9"))][:updates],
                      columns=["sync_key", "field", "old", "new"])
    ins = pd.DataFrame({"sync_key": keys[:inserts], "Fecha": [dt.date(2026, 11, 23)] * inserts,
                        "Contenedor": keys[:inserts], "Peso": [Decimal("4916.000")] * inserts,
                        "validation_warnings": [["required_Booking"]] * inserts, "activo": [True] * inserts})
    deact = pd.DataFrame({"sync_key": keys[:deactivations]})
    counts = {"inserted": inserts, "updated": (updates + 1) // 2, "unchanged": 3, "deactivated": deactivations}
    return Plan("arribos", ins.head(PLAN_ROWS), up.head(PLAN_ROWS), deact.head(PLAN_ROWS), 3, counts)


# ---- one format per column ------------------------------------------------------------------------

def test_a_number_column_has_one_format_whole_numbers_without_decimals():
    frame = pd.DataFrame({"Peso": [Decimal("4916.000"), 4916.0, 6572.5, None],
                          "Dimension": [20, 40.0, Decimal("20.000"), float("nan")],
                          "Turno": [dt.time(11, 0), dt.time(11, 0, 30), None, dt.time(7, 0)],
                          "Hora": [dt.time(11, 0), dt.time(7, 15), dt.time(9, 0), None]})
    shown = views.shown_frame(frame, index="Hora")
    assert shown["Peso"].tolist() == ["4916.0", "4916.0", "6572.5", "—"]
    assert shown["Dimension"].tolist() == ["20", "40", "20", "—"]
    assert shown["Turno"].tolist() == ["11:00:00", "11:00:30", "—", "07:00:00"]  # one has seconds: all do
    assert list(shown.index) == ["11:00", "07:15", "09:00", "—"]
    fmt = views.column_format([Decimal("1.250"), 2, 0.5])
    assert [fmt(v) for v in (Decimal("1.250"), 2, 0.5)] == ["1.25", "2.00", "0.50"]


def test_a_plans_old_and_new_share_one_format_per_field():
    p = plan(updates=6)
    p.updates.loc[0, "old"] = 6572.5
    listed = views.planned_updates(ctx(True), p)
    rows = Table(listed._repr_html_()).body
    peso = [r for r in rows if r[1] == "Peso"]
    assert {r[3] for r in peso} == {"4916.0"} and peso[0][2] == "6572.5" and peso[1][2] == "15210.0"
    assert [r[2:] for r in rows if r[1] == "Terminal"][0] == ["Muelle 5", "Muelle 9"]


# ---- plurals ----------------------------------------------------------------------------------------

def test_plural_words_follow_the_number():
    assert [views.counted(n, "row") for n in (0, 1, 2, 1500)] == ["0 rows", "1 row", "2 rows", "1,500 rows"]
    one = SimpleNamespace(rows=1, chunks=1, skipped_unchanged=0, duplicates=pd.DataFrame({"sync_key": ["A"]}))
    two = SimpleNamespace(rows=2, chunks=1, skipped_unchanged=5, duplicates=pd.DataFrame({"sync_key": []}))
    assert views.staging_line(one).startswith("1 row staged to merge; 0 identical")
    assert "1 duplicate row replaced" in views.staging_line(one)
    assert views.staging_line(two).startswith("2 rows staged to merge") and "0 duplicate rows" in views.staging_line(two)
    changed = pd.DataFrame({"column": ["Fecha"], "rows": [1]})
    assert views.normalize_line(changed, SimpleNamespace(issues=[1])) == \
        "1 cell changed in 1 column; 1 cell could not be read"
    assert views.plan_line(ctx(True), plan(updates=1)) == \
        "arribos: 0 rows to insert, 1 row to update (1 field change), 3 unchanged, 0 rows to deactivate"
    assert views.back_propagation_plan_line({"arribos": ["Chofer"], "remisiones": ["Chofer"]},
                                            pd.DataFrame({"table": ["arribos"]})) == \
        "arribos: 1 field change, remisiones: 0 field changes"


# ---- every planned change in a dry run; a cut list says how many and where ------------------------

def test_a_dry_run_lists_every_planned_field_change_and_says_how_many_per_field():
    listed = views.planned_updates(ctx(True), plan(updates=42))
    table = Table(listed._repr_html_())
    assert len(table.body) == 42 and listed.note is None
    assert "… " not in str(listed)
    assert listed.head == "42 field changes in 21 rows to update; by field: Peso 21, Terminal 21"
    assert len(str(listed).splitlines()) == 1 + 2 + 42  # the line, the header (two lines), every row


def test_a_run_that_writes_shows_a_preview_and_says_how_many_more_and_where():
    listed = views.planned_updates(ctx(False), plan(updates=42))
    assert len(Table(listed._repr_html_()).body) == 30
    assert listed.note == ("… 12 more field changes; all in traficov2_sync_changes (run_id '20261206T100000-abcdef') "
                           "once applied (a dry run lists up to 1,000 here)")
    assert paragraphs(listed._repr_html_())[-1] == listed.note
    inserts = views.planned_inserts(ctx(False), plan(inserts=12))
    assert len(inserts) == 10 and inserts.note.startswith("… 2 more new rows; all in traficov2_arribos once applied")
    one = views.planned_inserts(ctx(False), plan(inserts=11))
    assert one.note.startswith("… 1 more new row; ")
    deact = views.planned_deactivations(ctx(False), plan(deactivations=25))
    assert deact.endswith("… 5 more keys; all in traficov2_sync_changes (run_id '20261206T100000-abcdef', "
                          "field 'activo') once applied") and deact.startswith("25 rows to deactivate: MSCU0000000, ")


def test_a_list_cut_at_the_plans_cap_says_how_many_it_left_out_and_that_they_are_not_listed():
    p = plan(inserts=1500)
    p.counts["inserted"] = 1500
    listed = views.planned_inserts(ctx(True), p)
    assert len(Table(listed._repr_html_()).body) == PLAN_ROWS
    assert listed.note == ("… 500 more new rows; a plan lists the first 1,000 (in key order); a run that writes adds "
                           "them all to traficov2_arribos")
    many = views.planned_updates(ctx(True), plan(updates=1200))
    assert many.head.startswith("at least 1,000 field changes") and "there may be more" in many.note
    deact = views.planned_deactivations(ctx(True), plan(deactivations=1001))
    assert "… 1 more key; a plan lists the first 1,000" in deact and deact.count(", ") == 999
    # the terminal: what it shows plus its "more" adds up, and it says which part its notebook lists
    r = {"table": "arribos", "counts": {"inserted": 1500, "updated": 1},
         "plan": {"field_changes": 2, "sample_changes": [], "sample_inserts": [f"K{i}" for i in range(20)]}}
    lines = planned_lines(r, "runs-dry/x.html")
    more = int(re.search(r"… ([\d,]+) more", lines[-1]).group(1).replace(",", ""))
    assert more + (len(lines) - 2) == 1502
    assert lines[-1] == ("    … 1,497 more; 997 of them in runs-dry/x.html (up to 1,000 of each kind); 500 not listed "
                         "anywhere before a run that writes (then in traficov2_sync_changes and the target)")


def test_the_planned_inserts_table_fits_key_first_no_index_no_internal_columns():
    listed = views.planned_inserts(ctx(True), plan(inserts=3))
    table = Table(listed._repr_html_())
    assert len(table.head) == 1  # no index-name row
    header = table.head[0]
    assert header[0] == "Contenedor" and header[-1] == "validation_warnings"
    assert "sync_key" not in header and "activo" not in header and "" not in header  # no index column
    assert table.body[0][header.index("Peso")] == "4916" and table.body[0][header.index("Fecha")] == "2026-11-23"
    assert 'overflow: auto' in listed._repr_html_()  # a wide table scrolls in its box, never clipped


def test_rejected_and_warned_rows_are_all_listed_in_a_dry_run_and_previewed_with_where_otherwise():
    rows = pd.DataFrame({"_row": range(1, 46), "Contenedor": [f"C{i}" for i in range(45)],
                         "validation_warnings": [["required_Booking"]] * 45, "reasons": [["required_Contenedor"]] * 45})
    val = SimpleNamespace(valid=rows, rejected=rows)
    assert len(views.warned_rows(ctx(True), val)) == 45 and views.warned_rows(ctx(True), val).note is None
    assert len(views.rejected_rows(ctx(True), val)) == 45
    warned, rejected = views.warned_rows(ctx(False), val), views.rejected_rows(ctx(False), val)
    assert len(warned) == len(rejected) == 20
    assert warned.note == "… 25 more rows; all in traficov2_arribos (column validation_warnings) once applied"
    assert rejected.note == ("… 25 more rejected rows; all in traficov2_sync_rejects "
                             "(run_id '20261206T100000-abcdef') once applied")
    text = str(rejected).splitlines()
    assert text[1].startswith("row") and text[-1] == rejected.note  # by source row, then the line


# ---- back-propagation -------------------------------------------------------------------------------

def back_propagation_edits() -> pd.DataFrame:
    source = pd.DataFrame({"source_row": ["(0,1)", "(0,2)"], "source_id": ["1", "2"],
                           "Contenedor": ["MSCU-123456-6", "TCNU 720079 4"], "Chofer": [None, "ANA"]}, dtype=object)
    target = pd.DataFrame({"sync_key": ["MSCU1234566", "TCNU7200794"], "source_id": ["1", "2"],
                           "Chofer": ["PEREZ", "ANA"]}, dtype=object)
    return source_edits(ARRIBOS, ["Chofer"], source, target)


def test_back_propagation_shows_the_source_rows_key_in_words_never_its_address():
    edits = back_propagation_edits()
    assert edits[["source_key", "key_columns", "field", "new"]].values.tolist() == \
        [["MSCU-123456-6", "Contenedor", "Chofer", "PEREZ"]]
    shown = views.back_propagation_changes(edits.assign(table="arribos"), dry_run=True)
    page = shown._repr_html_()
    table = Table(page)
    assert table.head == [["Contenedor", "field", "in the source now", "the desk's value"]]
    assert table.body == [["MSCU-123456-6", "Chofer", "—", "PEREZ"]]
    assert "(0,1)" not in page and "(0,1)" not in str(shown) and "source_row" not in page
    assert paragraphs(page)[0] == "arribos: 1 field change in 1 source row; the source would take the desk's value"
    res = BackpropResult("arribos", "r1", True, changes=edits)
    results = views.back_propagation_results([res.to_dict()], dry_run=True)
    assert list(results.columns) == ["status", "source rows it would update", "field changes it would make", "error"]
    assert not any("_" in c for c in results.columns) and results.index.name == "table"
    written = views.back_propagation_results([res.to_dict()], dry_run=False)
    assert list(written.columns)[1:3] == ["source rows updated", "field changes made"]


def test_back_propagations_dry_run_lines_list_key_field_old_and_new_and_where_the_rest_are():
    edits = pd.concat([back_propagation_edits()] * 7, ignore_index=True)
    edits["source_row"] = [f"(0,{i})" for i in range(7)]
    r = BackpropResult("arribos", "20261130T120000-abcdef", True, changes=edits).to_dict()
    text = unstamped(format_back_propagation([r], dry_run=True, where="runs-dry/x_back_propagate.html"))
    assert text[:3] == ["=== Back-propagation (dry-run, nothing written) ===",
                        "arribos: would update 7 source rows (7 field changes)",
                        "    MSCU-123456-6: Chofer (empty) → 'PEREZ'"]
    assert text[-1] == "    … 2 more; all in runs-dry/x_back_propagate.html" and len(text) == 2 + 5 + 1
    one = BackpropResult("arribos", "20261130T120000-abcdef", False, changes=back_propagation_edits()).to_dict()
    assert unstamped(format_back_propagation([one], dry_run=False))[1:] == \
        ["arribos: 1 source row updated (1 field change)", "    MSCU-123456-6: Chofer (empty) → 'PEREZ'"]
    bare = unstamped(format_back_propagation([r], dry_run=True, no_notebook=True))
    assert bare[-1] == "    … 2 more; the back-propagation notebook lists them all (run it without --no-notebook)"
