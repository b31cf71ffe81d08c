"""The Data Docs site (DESIGN §4 step 3): plain files under ``<reports_dir>/data_docs/`` that
open in a browser with no server, built from the stored validation results (:mod:`.results`).

    build_docs(cfg)                                # make docs -> reports/data_docs/index.html

* ``index.html``: the latest validation of every table (passed or not, rows, rejected,
  warned) with each failing rule, its severity, how many rows broke it and the failing
  rows' keys; with the health facts when given (``make docs`` gathers them);
* ``tables/<table>.html``: the kept history of one table, newest first;
* ``validations/<table>/<run_id>/<run_time>/<table>.html``: one page per run rendered by
  **GX's own renderer** (``ValidationResultsPageRenderer`` + ``DefaultJinjaPageView``) from the
  stored GX result, in GX's Data Docs folder layout, so its "Home" link leads back to the
  index. GX's ``build_data_docs`` is not used: it renders only results held by a context's
  stores, and its index cannot show failing keys; rendering the stored results directly
  with GX's page renderer gives GX's pages without a persistent context. A run stored
  without a GX result (validation disabled) gets a plain page from the summary.

Index, history and plain run pages are our own Jinja templates (``templates/*.html``) in
GX's look (Bootstrap, the same badges), with inline styles so they stay readable offline.
Rendered run pages are cached (re-rendered only when their JSON is newer); pages of pruned
runs are removed. GX is imported only to render run pages (it costs about 2 s).
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..tables import TABLES
from .results import (
    failing_rules, keep_runs, passed, prune_validations, reports_dir, safe_name, stored_validations, write_atomic,
)


def site_dir(cfg) -> Path:
    """``<reports_dir>/data_docs``: the built site."""
    return reports_dir(cfg) / "data_docs"


# ---- rendering the GX run pages -------------------------------------------------------------------

def _run_time(rec: dict) -> str:
    try:
        return datetime.fromisoformat(str(rec["saved_at"])).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    except ValueError:
        return "__none__"


def run_page_path(rec: dict) -> str:
    """The run page's path inside the site, GX's layout: validations/<suite>/<run>/<time>/<batch>.html."""
    return f"validations/{rec['table']}/{safe_name(rec['run_id'])}/{_run_time(rec)}/{rec['table']}.html"


def _gx_html(rec: dict) -> str:
    """The run's page by GX's own renderer, from the stored GX result."""
    try:  # trafico's custom expectation must be known before GX reloads the result
        from ..rules.validate import register_gx_expectations
        register_gx_expectations()
    except Exception:  # noqa: BLE001 - rendering still works for the built-in types
        pass
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult, ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView
    data = dict(rec["gx_result"])
    # the page's "Home" link climbs one folder per dot of the suite name: keep it dot-free
    data["suite_name"] = str(data.get("suite_name") or rec["table"]).replace(".", "_")
    meta = dict(data.get("meta") or {})
    meta["run_id"] = {"run_name": rec["run_id"], "run_time": str(rec["saved_at"])}
    data["meta"] = meta
    result = ExpectationSuiteValidationResultSchema().load(data)
    if isinstance(result, dict):
        result = ExpectationSuiteValidationResult(**result)
    document = ValidationResultsPageRenderer().render(result)
    return DefaultJinjaPageView().render(document)


def _render_run_page(rec: dict, target: Path) -> str:
    """Write one run's page; returns how ("gx", "plain" or "plain (GX failed: ...)")."""
    how = "plain"
    html = None
    if rec.get("gx_result"):
        try:
            html = _gx_html(rec)
            how = "gx"
        except Exception as exc:  # noqa: BLE001 - one bad stored result must not break the site
            how = f"plain (GX could not render it: {' '.join(str(exc).split())[:200]})"
    if html is None:
        html = _env().get_template("run.html").render(
            rec=rec, summary=rec["summary"], note=how, rules=rec["summary"].get("rules") or [],
            home="../../../../index.html", passed=passed(rec["summary"]))
    write_atomic(target, html)
    return how


# ---- our pages (index, history): templates/*.html ---------------------------------------------

def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape
    env = Environment(loader=PackageLoader("trafico_lib.docs", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals["built_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return env


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


def build_docs(cfg, *, facts: dict | None = None) -> Path:
    """Render the Data Docs site from the stored results; returns the index page's path.

    ``facts`` (from :func:`trafico_lib.health.gather_facts`) adds the health block on top of
    the index. Rebuilding is cheap: run pages already rendered are kept.
    """
    site = site_dir(cfg)
    site.mkdir(parents=True, exist_ok=True)
    env = _env()
    keep = keep_runs(cfg)
    tables = []
    for spec in TABLES.values():
        prune_validations(cfg, spec.name, keep)
        recs = stored_validations(cfg, spec.name)
        runs = []
        for rec in recs:
            page = run_page_path(rec)
            target = site / page
            if not target.exists() or target.stat().st_mtime < Path(rec["_path"]).stat().st_mtime:
                _render_run_page(rec, target)
            runs.append({"rec": rec, "page": page, "passed": passed(rec["summary"]),
                         "failing": failing_rules(rec["summary"])})
        _remove_stale(site, spec.name, {r["page"] for r in runs})
        write_atomic(site / "tables" / f"{spec.name}.html", env.get_template("history.html").render(
            title=f"{spec.name} · trafico Data Docs", home="../index.html", name=spec.name, target=spec.target,
            runs=runs, keep=keep))
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
        health_block=health_block))
    return index
