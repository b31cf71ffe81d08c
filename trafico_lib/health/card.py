"""The health facts as an HTML card: the Data Docs index and the health notebook show this one card.

    card_html(facts, links_from=site_dir, base=cfg.base_dir)   # the Data Docs index
    here = notebook_page_folder(cfg, archive_path)             # the health notebook
    display(HTML(card_html(facts, links_from=here, base=cfg.base_dir)))

The card says what the block says (``render_block``, the terminal's ``--health-check``), laid
out for reading: the verdict; each check with ✓ / ✗ (⚠ for a warning); the row counts and the
lag, one line per table; and the last run's archived notebooks as links to their HTML pages.

Links are relative from ``links_from`` (the folder of the page that shows the card) to the
archived file, so they open from the file system with no server; a notebook is linked only when
its HTML rendering exists (a run archived without one, or one pruned since, is named, not
linked). ``base`` is the folder the logged notebook paths are relative to (the configuration's:
``Config.base_dir``). Pure but for those existence checks; times through :func:`when_text`.
Styles are inline in the card (a class prefix, no ``http(s)`` asset, no script), so it looks
the same on the site and in a notebook's output.
"""
from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..config import PROJECT_DIR
from ..counts import plural as counts_plural
from ..interactive import NOT_ARCHIVED, PREFIX, is_interactive
from .render import BAD, OK, WARN, short_name, source_bits, target_bits, when_text

STYLE = """<style>
.trafico-health{border:1px solid rgba(0,0,0,.125);border-radius:.25rem;margin:0 0 1.5rem;max-width:100%;
 font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#212529;line-height:1.4}
.trafico-health .th-head{padding:.6rem 1rem;background:rgba(0,0,0,.03);border-bottom:1px solid rgba(0,0,0,.125)}
.trafico-health .th-body{padding:.8rem 1rem}
.trafico-health .th-badge{display:inline-block;padding:.25em .5em;border-radius:.25rem;font-size:80%;font-weight:700;
 color:#fff;white-space:nowrap}
.trafico-health .th-ok{background:#28a745}.trafico-health .th-bad{background:#dc3545}
.trafico-health .th-warn{background:#ffc107;color:#212529}
.trafico-health .th-muted{color:#6c757d}
.trafico-health ul.th-checks{list-style:none;margin:0 0 .8rem;padding:0;columns:2 22rem;column-gap:2rem}
.trafico-health ul.th-checks li{margin:.1rem 0;break-inside:avoid}
.trafico-health .th-mark{display:inline-block;width:1.3em;font-weight:700}
.trafico-health .th-mark.ok{color:#28a745}.trafico-health .th-mark.bad{color:#dc3545}
.trafico-health .th-mark.warn{color:#b8860b}
.trafico-health .th-scroll{overflow-x:auto;max-width:100%}
.trafico-health table.th-counts{border-collapse:collapse;width:auto;margin:0 0 .8rem}
.trafico-health table.th-counts th,.trafico-health table.th-counts td{border:none;border-top:1px solid #dee2e6;
 padding:.3rem .6rem;text-align:left;vertical-align:top;font-size:.9rem;line-height:1.4}
.trafico-health table.th-counts th{background:#f8f9fa}
.trafico-health table.th-counts tbody tr{background:transparent}
.trafico-health table.th-counts td.num,.trafico-health table.th-counts th.num{text-align:right}
.trafico-health table.th-counts td.num,.trafico-health table.th-counts td.when{white-space:nowrap}
.trafico-health .th-detail{white-space:normal;text-align:left;font-size:.8rem;color:#6c757d;max-width:16rem}
.trafico-health ul.th-links{margin:.2rem 0 0;padding-left:1.2rem}
.trafico-health code{font-size:.85rem}
</style>"""

_MARK = {OK: "ok", BAD: "bad", WARN: "warn"}
_VERDICT = {0: ("healthy", "th-ok"), 2: ("bad configuration", "th-warn")}


# ---- small pure pieces ---------------------------------------------------------------------------

def count_text(value: Any) -> str:
    """A count as every view shows it: ``1,234``; a missing one as ``?``."""
    if value is None or isinstance(value, bool):
        return "?" if value is None else str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def hours_text(value: Any) -> str:
    """Hours to one decimal: ``0.0``, ``25.3``; unknown as ``?``."""
    return "?" if value is None else f"{float(value):,.1f}"


def plural(n: Any, word: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,234 rows`` (:func:`trafico_lib.counts.plural`, counts as pages write them)."""
    return counts_plural(n, word, many, number=count_text)


def link_to(target: Path, links_from: Path) -> str:
    """``target`` as a relative URL from the folder ``links_from`` (posix, quoted)."""
    return quote(Path(os.path.relpath(target.resolve(), links_from.resolve())).as_posix())


def notebook_page_folder(cfg, archive_path: str | None) -> Path:
    """The folder a notebook's output links from: its archived HTML page's, next to
    ``archive_path`` (the runner's parameter), or, opened in Jupyter, the notebook's own
    folder (``notebooks/``), from where Jupyter resolves a relative link."""
    return cfg.resolve(archive_path).parent if archive_path else PROJECT_DIR / "notebooks"


def archived_page(notebook: str | None, base: Path) -> Path | None:
    """The HTML rendering of a logged notebook path (relative to ``base``) when it exists."""
    if not notebook:
        return None
    path = Path(notebook)
    html = (path if path.is_absolute() else base / path).with_suffix(".html")
    return html if html.is_file() else None


def _check(mark: str | None, text: str, detail: str = "", *, name: str = "") -> str:
    sign = f'<span class="th-mark {_MARK[mark]}">{mark}</span>' if mark else '<span class="th-mark"></span>'
    more = f' <span class="th-muted">{detail}</span>' if detail else ""
    return f'<li class="th-check" data-check="{escape(name)}" data-mark="{_MARK.get(mark or "", "")}">{sign} {text}{more}</li>'


# ---- the checks -------------------------------------------------------------------------------------

def checks(facts: dict) -> list[str]:
    """One ``<li>`` per check, in the block's order."""
    out: list[str] = []
    db = facts.get("database") or {}
    if db.get("ok"):
        out.append(_check(OK, "Database connection", escape(db.get("name") or ""), name="database"))
    else:
        out.append(_check(BAD, "Database connection", escape(str(db.get("error") or "unreachable")), name="database"))
    if facts.get("schema_error"):
        out.append(_check(BAD, "Schema", escape(facts["schema_error"]), name="schema"))
    elif facts.get("schema_ok") is False:
        missing = ", ".join(facts.get("schema_missing") or [])
        out.append(_check(BAD, "Schema missing", escape(f"{missing} (run --init-db)"), name="schema"))
    if facts.get("query_error"):
        out.append(_check(BAD, "Health query failed", escape(facts["query_error"]), name="query"))
    thr = facts.get("thresholds") or {}
    if "failed_syncs_24h" in facts:
        n, most = facts["failed_syncs_24h"], thr.get("max_failed_syncs_24h", 0)
        out.append(_check(BAD if n > most else OK, f"Failed syncs (24 h): {count_text(n)}",
                          f"max {count_text(most)}", name="failed_syncs"))
        out.append(_check(None, f"Rejected rows (24 h): {count_text(facts.get('rejects_24h'))}", name="rejects"))
    tables = facts.get("tables")
    if tables is not None:
        enabled = [t for t in tables if t.get("enabled", True)]
        bad = [t for t in enabled if not t.get("counts_ok")]
        out.append(_check(BAD if bad else OK, "Row counts: " + (
            "every source row accounted for" if not bad else
            f"{plural(len(bad), 'table')} not accounting for every source row"), name="counts"))
        late = [t for t in enabled if not t.get("lag_ok")]
        most = thr.get("max_lag_hours")
        out.append(_check(BAD if late else OK, "Sync lag: " + (
            "every table synced within the maximum" if not late else
            f"{plural(len(late), 'table')} over the maximum or never synced"),
            f"max {hours_text(most)} h" if most is not None else "", name="lag"))
    ss = facts.get("sql_server") or {}
    if ss.get("enabled"):
        out.append(_check(OK if ss.get("ok") else BAD, "SQL Server", escape(str(ss.get("error") or "")),
                          name="sql_server"))
    for d in facts.get("disk") or []:
        free = f"{count_text(d['free_mb'])} MB free" if d.get("free_mb") is not None else str(d.get("error", "?"))
        out.append(_check(OK if d.get("ok") else WARN, f"Free disk, {escape(str(d['what']))}",
                          escape(f"{free} ({d['path']})"), name=f"disk_{d['what']}"))
    for x in facts.get("leases") or []:
        ago = x.get("renewed_seconds_ago")
        renewed = "never renewed" if ago is None else f"renewed {count_text(ago)} s ago"
        text = escape(f"Lease on {x['target']}: run {x['run_id']} ({x['holder']}) since {when_text(x['since'])}, {renewed}")
        out.append(_check(WARN if x.get("stale") else OK, text,
                          "stale: its run died; the next run takes the table over" if x.get("stale") else "",
                          name="lease"))
    out += [_check(BAD, "Configuration", escape(str(c)), name="config") for c in facts.get("config_errors") or []]
    out += [_check(WARN, "Warning", escape(str(w)), name="warning") for w in facts.get("warnings") or []]
    return out


# ---- the tables' counts and lag ------------------------------------------------------------------

def _detail(bits: list[str]) -> str:
    return f'<div class="th-detail">{escape(" · ".join(bits))}</div>' if bits else ""


def _accounted(t: dict) -> str:
    src, tgt = t.get("source") or {}, t.get("target") or {}
    if t.get("error"):
        return f"{BAD} {escape(str(t['error']))}"
    if not src.get("exists"):
        return f"{BAD} source missing"
    if not tgt.get("exists"):
        return f"{BAD} target missing"
    bits = [plural(t["pending_keys"], "source key") + " pending" if t.get("pending_keys") else "",
            f"{count_text(t['extra_keys'])} not in the source" if t.get("extra_keys") else ""]
    extra = _detail([b for b in bits if b])
    if t.get("counts_ok"):
        return f"{OK}{extra}"
    return f"{BAD} missing {count_text(t.get('missing_keys'))} of {count_text(t.get('source_keys'))} keys{extra}"


def _lag(t: dict) -> str:
    if t.get("last_success_at") is None:
        return "never synced" + (f" {BAD}" if t.get("enabled", True) else "")
    if t.get("watermark_ahead"):
        return f"unknown {BAD} (watermark in the future)"
    over = "" if t.get("lag_ok") or not t.get("enabled", True) else f" {BAD}"
    return f"{hours_text(t.get('lag_hours'))}{over}"


def counts_table(facts: dict) -> str:
    """One row per table: source rows, active target rows, whether every source key is
    accounted for, the lag and the last successful sync."""
    tables = facts.get("tables")
    if not tables:
        return ""
    rows = []
    for t in tables:
        src, tgt = t.get("source") or {}, t.get("target") or {}
        name = escape(str(t.get("table") or short_name(tgt.get("name", ""))))
        off = ' <span class="th-muted">(disabled)</span>' if not t.get("enabled", True) else ""
        rows.append(
            f'<tr class="th-table" data-table="{name}"><td>{name}{off}</td>'
            f'<td class="num">{count_text(src.get("rows")) if src.get("exists") else "missing"}'
            f"{_detail(source_bits(t, count_text))}</td>"
            f'<td class="num">{count_text(tgt.get("active_rows")) if tgt.get("exists") else "missing"}'
            f"{_detail(target_bits(t, count_text))}</td>"
            f"<td>{_accounted(t)}</td><td class=\"num\">{_lag(t)}</td>"
            f"<td class=\"when\">{escape(when_text(t['last_success_at'])) if t.get('last_success_at') else ''}</td></tr>")
    return ('<div class="th-scroll"><table class="th-counts"><thead><tr><th>Table</th>'
            '<th class="num">Source rows</th><th class="num">Target rows (active)</th>'
            '<th>Every source key accounted for</th><th class="num">Lag (h)</th><th>Last success</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# ---- the last run -------------------------------------------------------------------------------------

def last_run_html(facts: dict, links_from: Path | None, base: Path) -> str:
    """The last run and each table's archived notebook, linked when its HTML page exists."""
    if "last_run" not in facts:
        return ""
    lr = facts["last_run"]
    if lr is None:
        return '<p class="th-last-run">Last run: none yet.</p>'
    items = []
    for t in lr.get("tables") or []:
        name = escape(short_name(str(t.get("table"))))
        page = archived_page(t.get("notebook"), base)
        error = f' <span class="th-mark bad">{BAD}</span> {escape(str(t["error"]))}' if t.get("error") else ""
        if is_interactive(t.get("notebook")):  # run by hand in JupyterLab: said so, and by whom
            who = str(t["notebook"]).removeprefix(PREFIX)
            items.append(f'<li>{name} <span class="th-muted">{escape(NOT_ARCHIVED)}: {escape(who)}</span>{error}</li>')
        elif page is not None and links_from is not None:
            items.append(f'<li><a class="th-notebook" href="{link_to(page, links_from)}">{name}</a>'
                         f' <span class="th-muted">{escape(page.name)}</span>{error}</li>')
        elif t.get("notebook"):
            items.append(f'<li>{name} <span class="th-muted">{escape(str(t.get("rendering") or t["notebook"]))}'
                         f" (no HTML page to open)</span>{error}</li>")
        elif t.get("unchanged_since"):  # skipped: nothing changed since that run (pipeline.probe)
            items.append(f'<li>{name} <span class="th-muted">unchanged since '
                         f'{escape(str(t["unchanged_since"]))}: log row only, no notebook</span>{error}</li>')
        else:
            items.append(f'<li>{name} <span class="th-muted">no notebook in the log</span>{error}</li>')
    return (f'<p class="th-last-run">Last run <code>{escape(str(lr["run_id"]))}</code> at '
            f'{escape(when_text(lr["sync_timestamp"]))}; its notebooks:</p><ul class="th-links">{"".join(items)}</ul>'
            f"{last_archived_html(facts, links_from, base)}")


def last_archived_html(facts: dict, links_from: Path | None, base: Path) -> str:
    """``Last change archived: <when>, run <id>, <its pages>``: the newest run the archive keeps a
    notebook of (a run that changed nothing is its log row); a page is linked when it exists."""
    if "last_archived" not in facts:
        return ""
    la = facts["last_archived"]
    if la is None:
        return '<p class="th-last-change">Last change archived: none yet.</p>'
    pages = []
    for t in la.get("tables") or []:
        page = archived_page(t.get("notebook"), base)
        if page is not None and links_from is not None:
            pages.append(f'<a class="th-notebook" href="{link_to(page, links_from)}">{escape(page.name)}</a>')
        elif t.get("rendering"):
            pages.append(f'<span class="th-muted">{escape(str(t["rendering"]))} (no HTML page to open)</span>')
    shown = ", ".join(pages) or '<span class="th-muted">its notebooks are no longer in the archive</span>'
    return (f'<p class="th-last-change">Last change archived: {escape(when_text(la["sync_timestamp"]))}, run '
            f'<code>{escape(str(la["run_id"]))}</code>, {shown}</p>')


# ---- the card ---------------------------------------------------------------------------------------------

def card_html(facts: dict, *, links_from: Path | None, base: Path) -> str:
    """The health card (see the module docstring): one HTML fragment with its styles."""
    label, css = _VERDICT.get(facts.get("exit_code"), ("unhealthy", "th-bad"))  # type: ignore[arg-type]
    checked = f' <span class="th-muted">checked {escape(when_text(facts["checked_at"]))}</span>' \
        if facts.get("checked_at") else ""
    problems = "".join(f"<li>{escape(str(p))}</li>" for p in facts.get("problems") or [])
    problems = f'<p>Problems:</p><ul class="th-problems">{problems}</ul>' if problems else ""
    return (f'{STYLE}<div class="trafico-health" id="health" data-status="{escape(label)}">'
            f'<div class="th-head"><strong>Health</strong> <span class="th-badge {css}">{escape(label)}</span>{checked}</div>'
            f'<div class="th-body"><ul class="th-checks">{"".join(checks(facts))}</ul>{problems}'
            f"{counts_table(facts)}{last_run_html(facts, links_from, base)}</div></div>")
