"""Data Docs: each run's validation results stored, and a static site built from them (DESIGN §4 step 3).

    save_validation(cfg, "arribos", run_id, val)   # the pipeline, after validate()
    build_docs(cfg)                                # make docs -> reports/data_docs/index.html

Storage. One JSON file per table per run, ``<reports_dir>/validations/<table>/<run_id>.json``::

    {"table": "arribos", "run_id": "...", "saved_at": "2026-11-29T15:48:25+00:00",
     "summary": <ValidationResult.to_json()>,        # counts, rules, failing keys
     "gx_result": <ExpectationSuiteValidationResult.to_json_dict()> | null}

Only the newest ``runner.data_docs_keep_runs`` (default 20) files of a table are kept, so
the site stays small and fast whatever the age of the installation.

The site (``<reports_dir>/data_docs/``), plain files that open in a browser with no server:

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

Index and history pages are our own HTML in GX's look (Bootstrap, the same badges), with
inline styles so they stay readable offline. Rendered run pages are cached (re-rendered
only when their JSON is newer); pages of pruned runs are removed. GX is imported only to
render run pages (it costs about 2 s).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .tables import TABLES, get_table

DEFAULT_KEEP_RUNS = 20
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class DocsError(Exception):
    """A validation result could not be stored or read; one readable line."""


# ---- where things live ---------------------------------------------------------------------------

def reports_dir(cfg) -> Path:
    return cfg.resolve(cfg.runner.reports_dir)


def validations_dir(cfg) -> Path:
    """``<reports_dir>/validations``: the stored results, one folder per table."""
    return reports_dir(cfg) / "validations"


def site_dir(cfg) -> Path:
    """``<reports_dir>/data_docs``: the built site."""
    return reports_dir(cfg) / "data_docs"


def keep_runs(cfg) -> int:
    return int(getattr(cfg.runner, "data_docs_keep_runs", DEFAULT_KEEP_RUNS) or DEFAULT_KEEP_RUNS)


def safe_name(text: str) -> str:
    """A run id as a file name: anything but letters, digits, ``.``, ``_``, ``-`` becomes ``_``."""
    name = _SAFE.sub("_", str(text)).strip("._")
    if not name:
        raise DocsError(f"run id {text!r} cannot name a file")
    return name


# ---- storing ------------------------------------------------------------------------------------

def _as_dict(value: Any, what: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            out = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DocsError(f"{what} is not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(out, dict):
            raise DocsError(f"{what} is not a JSON object")
        return out
    for method in ("to_json_dict", "to_json"):
        if hasattr(value, method):
            return _as_dict(getattr(value, method)(), what)
    raise DocsError(f"{what}: expected a dict, JSON text or an object with to_json(), got {type(value).__name__}")


def _jsonable(value: Any) -> Any:
    """A JSON round trip with a tolerant default (numpy scalars, dates, sets)."""
    def default(v: Any) -> Any:
        if hasattr(v, "item"):
            return v.item()
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if isinstance(v, (set, frozenset, tuple)):
            return list(v)
        return str(v)
    return json.loads(json.dumps(value, ensure_ascii=False, default=default))


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so readers never see half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # plain open(): the umask decides the mode
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_validation(cfg, table: str, run_id: str, result_json: Any, *, gx_result: Any = None,
                    saved_at: datetime | None = None) -> Path:
    """Store one run's validation result for ``table``; returns the JSON file's path.

    ``result_json`` is ``ValidationResult.to_json()`` (a dict or JSON text), or the
    ``ValidationResult`` itself, whose ``gx_result`` is then stored too. ``gx_result`` is a
    GX ``ExpectationSuiteValidationResult`` (or its ``to_json_dict()``), rendered as the
    run's GX page. Older results beyond the table's kept history are deleted.
    """
    try:
        spec = get_table(table)
    except KeyError as exc:
        raise DocsError(exc.args[0]) from None
    if gx_result is None and hasattr(result_json, "gx_result") and hasattr(result_json, "to_json"):
        gx_result = result_json.gx_result
    summary = _as_dict(result_json, f"validation result of {spec.name}")
    gx = _as_dict(gx_result, f"GX result of {spec.name}")
    saved_at = saved_at or datetime.now(timezone.utc)
    record = {"table": spec.name, "run_id": str(run_id), "saved_at": saved_at.isoformat(),
              "summary": _jsonable(summary), "gx_result": _jsonable(gx) if gx is not None else None}
    path = validations_dir(cfg) / spec.name / f"{safe_name(run_id)}.json"
    _write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1))
    prune_validations(cfg, spec.name)
    return path


def _read(path: Path) -> dict | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # a half-written or foreign file is skipped, never fatal
    if not isinstance(rec, dict):
        return None
    rec["_path"] = str(path)
    rec.setdefault("run_id", path.stem)
    rec.setdefault("saved_at", datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat())
    rec["summary"] = rec.get("summary") or summary_from_gx(rec.get("gx_result"))
    return rec


def stored_validations(cfg, table: str) -> list[dict]:
    """The stored results of a table, newest first (each with ``_path``)."""
    folder = validations_dir(cfg) / get_table(table).name
    if not folder.is_dir():
        return []
    recs = [r for p in folder.glob("*.json") if (r := _read(p)) is not None]
    recs.sort(key=lambda r: (str(r["saved_at"]), r["run_id"]), reverse=True)
    return recs


def prune_validations(cfg, table: str, keep: int | None = None) -> list[Path]:
    """Delete a table's stored results beyond the newest ``keep``; returns what went."""
    keep = keep or keep_runs(cfg)
    gone = [Path(r["_path"]) for r in stored_validations(cfg, table)[keep:]]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


# ---- reading summaries ----------------------------------------------------------------------------

def summary_from_gx(gx: dict | None) -> dict:
    """A summary in ``ValidationResult.to_json()``'s shape, from a GX result alone."""
    if not gx:
        return {"success": None, "rules": []}
    rules = []
    for r in gx.get("results", []):
        conf = r.get("expectation_config") or {}
        meta = conf.get("meta") or {}
        res = r.get("result") or {}
        failed = res.get("unexpected_count")
        if failed is None:
            failed = 0 if r.get("success") else 1
        keys = res.get("partial_unexpected_list") or []
        rules.append({"rule": meta.get("rule") or conf.get("type"), "severity": meta.get("severity", "warning"),
                      "column": (conf.get("kwargs") or {}).get("column"), "expectation_type": conf.get("type"),
                      "failed": int(failed), "failing_keys": [str(k) for k in keys[:20]]})
    return {"success": gx.get("success"), "rules": rules,
            "rows": next((r.get("result", {}).get("element_count") for r in gx.get("results", [])
                          if r.get("result", {}).get("element_count") is not None), None)}


def failing_rules(summary: dict) -> list[dict]:
    """The rules some row broke, blocking first, then by rows broken."""
    rules = [r for r in summary.get("rules") or [] if (r.get("failed") or 0) > 0]
    return sorted(rules, key=lambda r: (r.get("severity") != "blocking", -(r.get("failed") or 0), str(r.get("rule"))))


def passed(summary: dict) -> bool | str | None:
    """True: every rule held; "warnings": only warning rules broke (rows kept);
    False: a blocking rule broke (rows rejected); None: unknown."""
    failing = failing_rules(summary)
    if summary.get("rules") is not None:
        if not failing:
            return True
        return False if any(r.get("severity") == "blocking" for r in failing) else "warnings"
    s = summary.get("success")
    return None if s is None else bool(s)


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
        from .rules.validate import register_gx_expectations
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
        html = _env().get_template("run").render(rec=rec, summary=rec["summary"], note=how,
                                                 rules=rec["summary"].get("rules") or [], home="../../../../index.html",
                                                 passed=passed(rec["summary"]))
    _write_atomic(target, html)
    return how


# ---- our pages (index, history) -------------------------------------------------------------------

_BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{{ title }}</title>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<style>
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#212529}
.ge-nav{border-bottom:1px solid #dee2e6;padding:14px 40px;font-size:1.3rem;font-weight:600}
.ge-nav a{color:#212529;text-decoration:none}
main{padding:20px 40px}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-top:1px solid #dee2e6;padding:.45rem .6rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f8f9fa}
.badge{display:inline-block;padding:.25em .5em;border-radius:.25rem;font-size:80%;font-weight:700;color:#fff}
.badge-success{background:#28a745}.badge-danger{background:#dc3545}.badge-warning{background:#ffc107;color:#212529}
.badge-secondary{background:#6c757d}
.keys{font-family:SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-all}
.card{border:1px solid rgba(0,0,0,.125);border-radius:.25rem;margin-bottom:1.5rem}
.card-header{padding:.6rem 1rem;background:rgba(0,0,0,.03);border-bottom:1px solid rgba(0,0,0,.125)}
.card-body{padding:1rem}
.muted{color:#6c757d}
pre{background:#f8f9fa;padding:.8rem;font-size:.85rem;white-space:pre-wrap}
</style></head>
<body><nav class="ge-nav"><a href="{{ home }}">trafico · Data Docs</a>
<span class="muted" style="font-size:.9rem;font-weight:400"> · validation results (Great Expectations)</span></nav>
<main>{% block body %}{% endblock %}</main>
<footer class="muted" style="padding:10px 40px;font-size:.8rem">Built {{ built_at }} · static files, no server needed.</footer>
</body></html>"""

_BADGE = """{% macro badge(ok) -%}
{%- if ok is none %}<span class="badge badge-secondary">unknown</span>
{%- elif ok == "warnings" %}<span class="badge badge-warning">Warnings</span>
{%- elif ok %}<span class="badge badge-success">Passed</span>
{%- else %}<span class="badge badge-danger">Rows rejected</span>{% endif -%}
{%- endmacro %}"""

_INDEX = _BADGE + """{% extends "base" %}{% block body %}
<h2>Validation results</h2>
<p class="muted">Latest validation of each table; history keeps the last {{ keep }} runs per table.</p>
{% if health %}
<div class="card" id="health"><div class="card-header"><strong>Health</strong>
 {% if health.exit_code == 0 %}<span class="badge badge-success">healthy</span>
 {% elif health.exit_code == 2 %}<span class="badge badge-warning">bad configuration</span>
 {% else %}<span class="badge badge-danger">unhealthy</span>{% endif %}
 <span class="muted"> checked {{ health.checked_at }}</span></div>
 <div class="card-body"><pre>{{ health_block }}</pre></div></div>
{% endif %}
<table id="latest">
<thead><tr><th>Table</th><th>Latest run</th><th>Status</th><th>Rows</th><th>Valid</th><th>Rejected</th>
<th>With warnings</th><th>Failing rules (rows) and failing rows' keys</th></tr></thead>
<tbody>
{% for t in tables %}
<tr class="table-row" data-table="{{ t.name }}">
 <td><a href="tables/{{ t.name }}.html">{{ t.name }}</a><br><span class="muted">{{ t.target }}</span></td>
 {% if t.latest %}
 <td><a href="{{ t.latest_page }}">{{ t.latest.run_id }}</a><br><span class="muted">{{ t.latest.saved_at }}</span></td>
 <td>{{ badge(t.passed) }}</td>
 <td>{{ t.latest.summary.rows if t.latest.summary.rows is not none else "" }}</td>
 <td>{{ t.latest.summary.valid if t.latest.summary.valid is not none else "" }}</td>
 <td>{{ t.latest.summary.rejected if t.latest.summary.rejected is not none else "" }}</td>
 <td>{{ t.latest.summary.with_warnings if t.latest.summary.with_warnings is not none else "" }}</td>
 <td>{% if t.failing %}<ul style="margin:0;padding-left:1.1rem">
  {% for r in t.failing %}<li class="failing-rule" data-rule="{{ r.rule }}"><strong>{{ r.rule }}</strong>
   <span class="badge {{ 'badge-danger' if r.severity == 'blocking' else 'badge-warning' }}">{{ r.severity }}</span>
   {{ r.failed }} row{{ '' if r.failed == 1 else 's' }}{% if r.column %} · <span class="muted">{{ r.column }}</span>{% endif %}
   {% if r.failing_keys %}<div class="keys">{{ r.failing_keys | join(", ") }}{% if r.failed > r.failing_keys|length %} …{% endif %}</div>{% endif %}
  </li>{% endfor %}</ul>{% else %}<span class="muted">none</span>{% endif %}</td>
 {% else %}
 <td colspan="7" class="muted">no validation stored yet</td>
 {% endif %}
</tr>
{% endfor %}
</tbody></table>
{% endblock %}"""

_HISTORY = _BADGE + """{% extends "base" %}{% block body %}
<h2>{{ name }} <span class="muted" style="font-size:1rem">{{ target }}</span></h2>
<p><a href="../index.html">← all tables</a> · last {{ runs|length }} of at most {{ keep }} runs, newest first</p>
<table><thead><tr><th>Run</th><th>Saved</th><th>Status</th><th>Rows</th><th>Valid</th><th>Rejected</th>
<th>With warnings</th><th>Failing rules (rows)</th></tr></thead><tbody>
{% for r in runs %}<tr class="run-row">
 <td><a href="../{{ r.page }}">{{ r.rec.run_id }}</a></td><td>{{ r.rec.saved_at }}</td><td>{{ badge(r.passed) }}</td>
 <td>{{ r.rec.summary.rows if r.rec.summary.rows is not none else "" }}</td>
 <td>{{ r.rec.summary.valid if r.rec.summary.valid is not none else "" }}</td>
 <td>{{ r.rec.summary.rejected if r.rec.summary.rejected is not none else "" }}</td>
 <td>{{ r.rec.summary.with_warnings if r.rec.summary.with_warnings is not none else "" }}</td>
 <td>{% for f in r.failing %}{{ f.rule }} ({{ f.failed }}){{ ", " if not loop.last }}{% else %}<span class="muted">none</span>{% endfor %}</td>
</tr>{% else %}<tr><td colspan="8" class="muted">no validation stored yet</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

_RUN = _BADGE + """{% extends "base" %}{% block body %}
<h2>{{ rec.table }} · {{ rec.run_id }} {{ badge(passed) }}</h2>
<p><a href="{{ home }}">← all tables</a> · saved {{ rec.saved_at }}{% if note != "plain" %} · <span class="muted">{{ note }}</span>{% endif %}</p>
<p>Rows {{ summary.rows }} · valid {{ summary.valid }} · rejected {{ summary.rejected }} · with warnings {{ summary.with_warnings }}</p>
<table><thead><tr><th>Rule</th><th>Severity</th><th>Column</th><th>Expectation</th><th>Rows failed</th><th>Failing rows' keys</th></tr></thead><tbody>
{% for r in rules %}<tr><td>{{ r.rule }}</td><td>{{ r.severity }}</td><td>{{ r.column or "" }}</td><td>{{ r.expectation_type or "" }}</td>
<td>{{ r.failed }}</td><td class="keys">{{ (r.failing_keys or []) | join(", ") }}</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""


def _env():
    from jinja2 import DictLoader, Environment, select_autoescape
    env = Environment(loader=DictLoader({"base": _BASE, "index": _INDEX, "history": _HISTORY, "run": _RUN}),
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
        _write_atomic(site / "tables" / f"{spec.name}.html", env.get_template("history").render(
            title=f"{spec.name} · trafico Data Docs", home="../index.html", name=spec.name, target=spec.target,
            runs=runs, keep=keep))
        latest = runs[0] if runs else None
        tables.append({"name": spec.name, "target": spec.target, "latest": latest["rec"] if latest else None,
                       "latest_page": latest["page"] if latest else None,
                       "passed": latest["passed"] if latest else None,
                       "failing": latest["failing"] if latest else []})
    health_block = None
    if facts is not None:
        from .health import render_block
        health_block = render_block(facts)
    index = site / "index.html"
    _write_atomic(index, env.get_template("index").render(
        title="trafico · Data Docs", home="index.html", tables=tables, keep=keep, health=facts,
        health_block=health_block))
    return index


# ---- make docs ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m trafico_lib.docs [--config F] [--no-health]`` (``make docs``)."""
    from .config import ConfigError, load_config
    p = argparse.ArgumentParser(prog="python -m trafico_lib.docs",
                                description="Build the Data Docs site under <reports_dir>/data_docs.")
    p.add_argument("--config", help="configuration file")
    p.add_argument("--no-health", action="store_true", help="do not connect to the database for the health block")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    facts = None
    if not args.no_health:
        from .health import gather_facts
        facts = gather_facts(cfg)
    index = build_docs(cfg, facts=facts)
    print(f"Data Docs: {index}")
    return 0


if __name__ == "__main__":  # pragma: no cover - the make target
    sys.exit(main())
