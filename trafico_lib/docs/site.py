"""The Data Docs site (docs/architecture.md §4 step 3): plain files under ``<reports_dir>/data_docs/`` that
open in a browser with no server and no network, built from the stored validation results
(:mod:`.results`).

    build_docs(cfg)                                # make docs -> reports/data_docs/index.html
    build_docs(cfg, run_id=..., command="sync")    # the index says which run it was built after

* ``index.html``: when and after which run the site was built; the health card (when the
  health facts are given: :mod:`trafico_lib.health.card`); each table as it is NOW (its rows,
  rows with warnings, rejected source rows, every rule some row breaks with its first failing
  rows: the facts' current state, :mod:`.current`) and, apart, what its last run did (rows
  read, inserted, updated, …) with a link to the validation of the rows it re-read;
* ``tables/<table>.html``: the kept history of one table's runs, newest first (rows checked
  in each run: an incremental run checks only what it re-read);
* ``validations/<table>/<run_id>/<run_time>/<table>.html``: one page per run, one row per
  expectation: PASSED / FAILED in words, rule, severity, column, the expectation in plain
  words (and its GX type), observed counts, and the failing rows. A run that checked no row
  says so, and each rule is "not checked", in the suite's words.

A failing row reads ``row 121 · Booking BKG2611012 · Contenedor = SURU2587546``: its ``_row``
(the number the notebook's tables are indexed by), its key under the key columns' names, and
what it holds in the rule's column (:func:`.results.failing_rows`).

Every page is our own Jinja template (``templates/*.html``) with its styles inline: no
``http(s)://`` asset, no script, and every link points at a page of the site (pages of pruned
runs are removed and not linked) or, from the health card, at an archived notebook's HTML
page that exists. Wide tables scroll sideways inside their box at narrow widths. GX's page renderer is not used: its pages load Bootstrap,
jQuery, Vega and Font Awesome from CDNs (offline they lose their status column), and link to
suite pages and a newsletter that a site built from stored results does not have. Pages are
rendered from the stored GX result (counts, kwargs, notes) and the stored summary (severity,
failing rows), so GX is not imported to build the site. Every page is re-rendered on each
build (a few milliseconds each), so a page never outlives the code or the results it shows.
"""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import clock
from ..health.card import count_text, plural
from ..rules.suites import key_columns
from ..tables import TABLES
from .current import last_run, nothing_checked, run_status, shown_rows, table_now
from .results import (
    failing_rows, failing_rules, keep_runs, passed, prune_validations, reports_dir, safe_name, stored_validations,
    write_atomic,
)
from .runs import logged_counts

SHOWN_ROWS = 5  # failing rows listed per rule on the index (the run page lists every kept one)


def site_dir(cfg) -> Path:
    """``<reports_dir>/data_docs``: the built site."""
    return reports_dir(cfg) / "data_docs"


# ---- the run pages ----------------------------------------------------------------------------

def _run_time(rec: dict) -> str:
    """The run page's folder name: the result's saved time in UTC (``Z``), a file name that does
    not change with the display zone; the pages show the time in the display zone."""
    try:
        return datetime.fromisoformat(str(rec["saved_at"])).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    except ValueError:
        return "__none__"


def run_page_path(rec: dict) -> str:
    """The run page's path inside the site: validations/<table>/<run>/<time>/<table>.html."""
    return f"validations/{rec['table']}/{safe_name(rec['run_id'])}/{_run_time(rec)}/{rec['table']}.html"


def in_words(expectation_type: str | None, kwargs: dict | None, rule: str = "") -> str:
    """An expectation in plain words: ``Contenedor must match ^[A-Z]{4}[0-9]{7}$``."""
    kw = {k: v for k, v in (kwargs or {}).items() if k not in ("batch_id", "result_format")}
    col = kw.pop("column", None) or "the value"
    mostly = kw.pop("mostly", None)
    t = expectation_type or ""
    if t == "expect_column_values_to_not_be_null":
        text = f"{col} must be present"
    elif t == "expect_column_values_to_match_regex":
        text = f"{col} must match {kw.pop('regex', '')}"
    elif t == "expect_column_values_to_not_match_regex":
        text = f"{col} must not match {kw.pop('regex', '')}"
    elif t == "expect_column_values_to_be_valid_iso6346":
        cats = "/".join(str(kw.pop("categories", None) or "UJZ"))
        text = f"{col} must be an ISO 6346 container number (category {cats}, correct check digit)"
    elif t == "expect_column_values_to_be_between":
        lo, hi = kw.pop("min_value", None), kw.pop("max_value", None)
        smin, smax = kw.pop("strict_min", False), kw.pop("strict_max", False)
        parts = []
        if lo is not None:
            parts.append(f"{'greater than' if smin else 'at least'} {lo}")
        if hi is not None:
            parts.append(f"{'less than' if smax else 'at most'} {hi}")
        text = f"{col} must be {' and '.join(parts) or 'any value'}"
    elif t in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = ", ".join(str(v) for v in kw.pop("value_set", None) or [])
        text = f"{col} must {'not ' if 'not_be' in t else ''}be one of {values}"
    elif t == "expect_column_values_to_be_unique":
        text = f"{col} must be unique"
    elif t == "normalize":
        text = (f"{col} must hold text (no bytes that are not characters)" if rule.startswith("readable_")
                else f"{col} must be readable as its type")
    else:
        text = f"{t or 'expectation'}({', '.join(f'{k}={v!r}' for k, v in [('column', col), *kw.items()])})"
        kw = {}
    rest = {k: v for k, v in kw.items() if k not in ("strict_min", "strict_max")}
    if rest:
        text += " (" + ", ".join(f"{k} {v}" for k, v in rest.items()) + ")"
    if mostly is not None:
        text += f", in at least {float(mostly) * 100:g} % of the rows"
    return text


def _observed(res: dict, failed: int) -> str:
    """``2 of 150 rows (1.3 %), 3 missing`` from a GX result's counts (or just the failed count)."""
    total = res.get("element_count")
    bad = res.get("unexpected_count")
    if bad is None:
        if "observed_value" in res:
            return f"observed {res['observed_value']}"
        return f"{count_text(failed)} failed" if failed else "no failure"
    text = f"{count_text(bad)} of {count_text(total)} rows unexpected" if total is not None else f"{count_text(bad)} rows unexpected"
    pct = res.get("unexpected_percent")
    if pct is not None and bad:
        text += f" ({pct:.3g} %)"
    if res.get("missing_count"):
        text += f", {count_text(res['missing_count'])} empty (not checked)"
    return text


def suite_expectations(table: str, cfg=None) -> dict[str, dict]:
    """The table's suite as {rule: {"type", "kwargs", "notes"}} (the config's overrides applied);
    {} when it cannot be read (the pages then show what the stored result holds)."""
    from ..rules.suites import load_suite
    try:
        suite = load_suite(table, cfg)
    except Exception:  # noqa: BLE001 - a broken suite is reported by the run, not by its report
        return {}
    return {e["meta"]["rule"]: {"type": e.get("type"), "kwargs": e.get("kwargs") or {},
                                "notes": e.get("notes") if isinstance(e.get("notes"), str) else None}
            for e in suite.get("expectations") or []}


def expectations(rec: dict, key: list[str] | tuple[str, ...] = (), suite: dict[str, dict] | None = None,
                 spec=None) -> list[dict]:
    """One dict per expectation of a stored run, in the summary's order (the suite's, then the
    normalization rules), its GX result attached by rule name when there is one:
    rule, severity, column, expectation_type, words, notes, failed, checked, observed, rows.

    The expectation's parameters (a regex, a value set) come from the GX result, else from
    ``suite`` (:func:`suite_expectations`): a run that checked no row has no GX result, and
    its page still says what each rule asks. ``checked`` is False for such a run."""
    summary = rec.get("summary") or {}
    checked = not nothing_checked(summary)
    suite = suite or {}
    gx_by_rule: dict[str | None, dict] = {}
    for r in (rec.get("gx_result") or {}).get("results") or []:
        conf = r.get("expectation_config") or {}
        gx_by_rule.setdefault((conf.get("meta") or {}).get("rule") or conf.get("type"), r)
    out = []
    for rule in summary.get("rules") or []:
        gx = gx_by_rule.get(rule.get("rule")) or {}
        conf = gx.get("expectation_config") or {}
        written = suite.get(str(rule.get("rule"))) or {}
        failed = int(rule.get("failed") or 0)
        kwargs = conf.get("kwargs") or ({"column": rule.get("column"), **written["kwargs"]} if written.get("kwargs")
                                        else {"column": rule["column"]} if rule.get("column") else {})
        typ = rule.get("expectation_type") or conf.get("type") or written.get("type")
        notes = conf.get("notes") if isinstance(conf.get("notes"), str) else written.get("notes")
        out.append({
            "rule": rule.get("rule"), "severity": rule.get("severity") or "warning", "column": rule.get("column"),
            "expectation_type": typ, "words": in_words(typ, kwargs, str(rule.get("rule") or "")),
            "notes": notes, "failed": failed, "checked": checked,
            "observed": _observed(gx.get("result") or {}, failed) if checked else "no row checked",
            "rows": shown_rows(failing_rows(rule, key), rule.get("column"), spec),
        })
    return out


def _render_run_page(env, rec: dict, target: Path, key, built_line: str, suite=None, spec=None) -> None:
    summary = rec.get("summary") or {}
    write_atomic(target, env.get_template("run.html").render(
        title=f"{rec['table']} · {rec['run_id']} · trafico Data Docs", rec=rec, summary=summary,
        expectations=expectations(rec, key, suite, spec), home="../../../../index.html",
        history=f"../../../../tables/{rec['table']}.html", passed=run_status(summary, passed(summary)),
        checked=not nothing_checked(summary), built_line=built_line))


# ---- the pages' templates: templates/*.html --------------------------------------------------

def _when(value) -> str:
    """A stored ISO time as people read it, in the display zone: ``2026-11-30 10:05 -03``
    (:func:`trafico_lib.clock.minute_text`)."""
    try:
        return clock.minute_text(datetime.fromisoformat(str(value)))
    except (TypeError, ValueError):
        return str(value or "")


def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape
    env = Environment(loader=PackageLoader("trafico_lib.docs", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["when"] = _when
    env.filters["num"] = count_text
    env.globals["plural"] = plural
    return env


_AFTER = {"sync": "sync run", "health": "health check run", "health check": "health check run"}


def built_line(built_at: datetime, run_id: str | None = None, command: str | None = None,
               latest: dict | None = None) -> str:
    """Which run the site was built after, never a bare command, in the display zone
    (:func:`trafico_lib.clock.minute_text`): ``Built 2026-11-30 10:05 -03 after sync run
    20261130T100500-ab12cd``, or, when no run built it (``make docs``, a health check without a
    run id), ``Built 2026-11-30 10:05 -03 by make docs; latest run 20261130T100500-ab12cd
    (2026-11-30 10:05 -03)``. ``latest``: the newest stored validation ({"run_id", "saved_at"}), or None."""
    text = f"Built {clock.minute_text(built_at)}"
    if run_id:
        return f"{text} after {_AFTER.get(command or '', 'run')} {run_id}"
    by = {"docs": "by make docs", "health check": "after a health check (--health-check)",
          "health": "after a health check", "sync": "after a sync"}.get(command or "", "")
    text += f" {by}" if by else ""
    if latest:
        return f"{text}; latest run {latest['run_id']} ({_when(latest.get('saved_at'))})"
    return f"{text}; no run stored yet"


# ---- the build ------------------------------------------------------------------------------------

def _remove_stale(site: Path, table: str, keep_pages: set[str]) -> None:
    folder = site / "validations" / table
    if not folder.is_dir():
        return
    for run_dir in folder.iterdir():
        for page in run_dir.rglob("*.html") if run_dir.is_dir() else []:
            if page.relative_to(site).as_posix() not in keep_pages:
                page.unlink()
        if run_dir.is_dir() and not any(p.is_file() for p in run_dir.rglob("*")):
            shutil.rmtree(run_dir)


def _stored(cfg, keep: int) -> dict[str, list[dict]]:
    out = {}
    for spec in TABLES.values():
        prune_validations(cfg, spec.name, keep)
        out[spec.name] = stored_validations(cfg, spec.name)
    return out


def _health_card(cfg, facts: dict | None, site: Path) -> str | None:
    if facts is None:
        return None
    from ..health.card import card_html
    return card_html(facts, links_from=site, base=cfg.base_dir)


def build_docs(cfg, *, facts: dict | None = None, run_id: str | None = None, command: str | None = None,
               logged: dict[tuple[str, str], dict] | None = None) -> Path:
    """Render the Data Docs site from the stored results; returns the index page's path.

    ``facts`` (from :func:`trafico_lib.health.gather_facts`) give the index each table's
    current state (``tables[i]["state"]``, see :mod:`.current`) and the health card on top;
    without them the index says the current state is unknown. The last run of each table is
    its newest stored validation, with what it did from its log row (:mod:`.runs`, read only
    when the facts say the database is reachable; ``logged`` gives them instead, as
    :func:`.runs.logged_counts` returns them). ``run_id`` and ``command`` (``sync``,
    ``health``, ``health check``, ``docs``) name what the site was built after, on every page
    (:func:`built_line`).
    """
    site = site_dir(cfg)
    site.mkdir(parents=True, exist_ok=True)
    env = _env()
    keep = keep_runs(cfg)
    stored = _stored(cfg, keep)
    newest = max((recs[0] for recs in stored.values() if recs), key=lambda r: (str(r["saved_at"]), r["run_id"]),
                 default=None)
    line = built_line(datetime.now(UTC), run_id, command, newest)
    reachable = bool(facts and (facts.get("database") or {}).get("ok"))
    if logged is None:
        logged = logged_counts(cfg, [(t, recs[0]["run_id"], str(recs[0]["saved_at"]))
                                     for t, recs in stored.items() if recs]) if reachable else {}
    tables = []
    for spec in TABLES.values():
        recs = stored[spec.name]
        key = key_columns(spec, cfg)
        suite = suite_expectations(spec.name, cfg)
        runs: list[dict[str, Any]] = []
        for rec in recs:
            page = run_page_path(rec)
            _render_run_page(env, rec, site / page, key, line, suite, spec)
            failing = [{**r, "rows": shown_rows(failing_rows(r, key), r.get("column"), spec)}
                       for r in failing_rules(rec["summary"])]
            runs.append({"rec": rec, "page": page, "failing": failing,
                         "passed": run_status(rec["summary"], passed(rec["summary"])),
                         "checked": not nothing_checked(rec["summary"])})
        _remove_stale(site, spec.name, {r["page"] for r in runs})
        write_atomic(site / "tables" / f"{spec.name}.html", env.get_template("history.html").render(
            title=f"{spec.name} · trafico Data Docs", home="../index.html", name=spec.name, target=spec.target,
            runs=runs, keep=keep, built_line=line))
        latest = runs[0] if runs else None
        tables.append({"name": spec.name, "target": spec.target, "now": table_now(facts, spec.name, spec),
                       "last": last_run(latest["rec"], logged.get((spec.name, latest["rec"]["run_id"])),
                                        latest["page"], passed(latest["rec"]["summary"]), latest["failing"])
                       if latest else None})
    index = site / "index.html"
    write_atomic(index, env.get_template("index.html").render(
        title="trafico · Data Docs", home="index.html", tables=tables, keep=keep, health=facts,
        health_card=_health_card(cfg, facts, site), built_line=line, shown_rows=SHOWN_ROWS))
    return index
