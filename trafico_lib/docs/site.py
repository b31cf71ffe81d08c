"""The Data Docs site (docs/architecture.md §4 step 3): plain files under ``<reports_dir>/data_docs/`` that
open in a browser with no server and no network, built from the stored validation results
(:mod:`.results`).

    build_docs(cfg)                                # make docs -> reports/data_docs/index.html
    build_docs(cfg, run_id=..., command="sync")    # the index says which run it was built after

* ``index.html``: when and after which run the site was built; the latest validation of every
  table (passed or not, rows, rejected, warned) with each failing rule, its severity, how
  many rows broke it and its first failing rows; with the health facts when given;
* ``tables/<table>.html``: the kept history of one table, newest first;
* ``validations/<table>/<run_id>/<run_time>/<table>.html``: one page per run, one row per
  expectation: PASSED / FAILED in words, rule, severity, column, the expectation in plain
  words (and its GX type), observed counts, and the failing rows.

A failing row reads ``row 121 · Booking BKG2611012 · Contenedor = SURU2587546``: its ``_row``
(the number the notebook's tables are indexed by), its key under the key columns' names, and
what it holds in the rule's column (:func:`.results.failing_rows`).

Every page is our own Jinja template (``templates/*.html``) with its styles inline: no
``http(s)://`` asset, no script, and every link points at a page of the site (pages of pruned
runs are removed and not linked). GX's page renderer is not used: its pages load Bootstrap,
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
from ..rules.suites import key_columns
from ..tables import TABLES
from .results import (
    failing_rows, failing_rules, keep_runs, passed, prune_validations, reports_dir, safe_name, stored_validations,
    write_atomic,
)

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


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


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
        return f"{_number(failed)} failed" if failed else "no failure"
    text = f"{_number(bad)} of {_number(total)} rows unexpected" if total is not None else f"{_number(bad)} rows unexpected"
    pct = res.get("unexpected_percent")
    if pct is not None and bad:
        text += f" ({pct:.3g} %)"
    if res.get("missing_count"):
        text += f", {_number(res['missing_count'])} empty (not checked)"
    return text


def expectations(rec: dict, key: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """One dict per expectation of a stored run, in the summary's order (the suite's, then the
    normalization rules), its GX result attached by rule name when there is one:
    rule, severity, column, expectation_type, words, notes, failed, observed, rows."""
    summary = rec.get("summary") or {}
    gx_by_rule: dict[str | None, dict] = {}
    for r in (rec.get("gx_result") or {}).get("results") or []:
        conf = r.get("expectation_config") or {}
        gx_by_rule.setdefault((conf.get("meta") or {}).get("rule") or conf.get("type"), r)
    out = []
    for rule in summary.get("rules") or []:
        gx = gx_by_rule.get(rule.get("rule")) or {}
        conf = gx.get("expectation_config") or {}
        failed = int(rule.get("failed") or 0)
        kwargs = conf.get("kwargs") or ({"column": rule["column"]} if rule.get("column") else {})
        typ = rule.get("expectation_type") or conf.get("type")
        out.append({
            "rule": rule.get("rule"), "severity": rule.get("severity") or "warning", "column": rule.get("column"),
            "expectation_type": typ, "words": in_words(typ, kwargs, str(rule.get("rule") or "")),
            "notes": conf.get("notes") if isinstance(conf.get("notes"), str) else None,
            "failed": failed, "observed": _observed(gx.get("result") or {}, failed),
            "rows": failing_rows(rule, key),
        })
    return out


def _render_run_page(env, rec: dict, target: Path, key, built_line: str) -> None:
    summary = rec.get("summary") or {}
    write_atomic(target, env.get_template("run.html").render(
        title=f"{rec['table']} · {rec['run_id']} · trafico Data Docs", rec=rec, summary=summary,
        expectations=expectations(rec, key), home="../../../../index.html",
        history=f"../../../../tables/{rec['table']}.html", passed=passed(summary), built_line=built_line))


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
    return env


def built_line(built_at: datetime, run_id: str | None = None, command: str | None = None) -> str:
    """``Built 2026-11-30 10:05 -03 from run 20261130T100500-ab12cd (sync)``: the display zone's time."""
    text = f"Built {clock.minute_text(built_at)}"
    if run_id:
        text += f" from run {run_id}"
    if command:
        text += f" ({command})"
    return text


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


def build_docs(cfg, *, facts: dict | None = None, run_id: str | None = None, command: str | None = None) -> Path:
    """Render the Data Docs site from the stored results; returns the index page's path.

    ``facts`` (from :func:`trafico_lib.health.gather_facts`) adds the health block on top of
    the index. ``run_id`` and ``command`` (``sync``, ``health``, ``docs``) name the run the
    site was built after, on every page: "Built <time> from run <run_id> (<command>)".
    """
    site = site_dir(cfg)
    site.mkdir(parents=True, exist_ok=True)
    env = _env()
    keep = keep_runs(cfg)
    line = built_line(datetime.now(UTC), run_id, command)
    tables = []
    for spec in TABLES.values():
        prune_validations(cfg, spec.name, keep)
        recs = stored_validations(cfg, spec.name)
        key = key_columns(spec, cfg)
        runs: list[dict[str, Any]] = []
        for rec in recs:
            page = run_page_path(rec)
            _render_run_page(env, rec, site / page, key, line)
            failing = [{**r, "rows": failing_rows(r, key)} for r in failing_rules(rec["summary"])]
            runs.append({"rec": rec, "page": page, "passed": passed(rec["summary"]), "failing": failing})
        _remove_stale(site, spec.name, {r["page"] for r in runs})
        write_atomic(site / "tables" / f"{spec.name}.html", env.get_template("history.html").render(
            title=f"{spec.name} · trafico Data Docs", home="../index.html", name=spec.name, target=spec.target,
            runs=runs, keep=keep, built_line=line))
        latest = runs[0] if runs else None
        tables.append({"name": spec.name, "target": spec.target, "latest": latest["rec"] if latest else None,
                       "latest_page": latest["page"] if latest else None,
                       "passed": latest["passed"] if latest else None,
                       "failing": latest["failing"] if latest else []})
    health_block = None
    if facts is not None:
        from ..health import render_block
        health_block = render_block(facts)
    index = site / "index.html"
    write_atomic(index, env.get_template("index.html").render(
        title="trafico · Data Docs", home="index.html", tables=tables, keep=keep, health=facts,
        health_block=health_block, built_line=line, shown_rows=SHOWN_ROWS))
    return index
