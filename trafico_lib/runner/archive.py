"""The audit archive: ``<archive>/<yyyy>/<mm>/<dd>/<run_id>_<notebook>.ipynb`` plus its HTML,
scrubbed of every secret value."""
from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable


_RUN_ID_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T")


def archive_dir(cfg, run_id: str, now: datetime | None = None) -> Path:
    """``<archive>/<yyyy>/<mm>/<dd>`` for a run: the run id's date (UTC), else today's (UTC)."""
    m = _RUN_ID_DATE.match(run_id)
    if m:
        y, mo, d = m.groups()
    else:
        now = now or datetime.now(timezone.utc)
        y, mo, d = f"{now:%Y}", f"{now:%m}", f"{now:%d}"
    return cfg.resolve(cfg.archival.archive_path) / y / mo / d


def archive_path(cfg, run_id: str, notebook: str) -> Path:
    """Where the executed copy of ``notebook`` (name without ``.ipynb``) is archived for ``run_id``."""
    return archive_dir(cfg, run_id) / f"{_safe(run_id)}_{Path(notebook).stem}.ipynb"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written plainly, HTML-escaped (each way nbconvert may) and JSON-escaped; longest first."""
    htmls = (lambda t: t, lambda t: html.escape(t, quote=True), lambda t: html.escape(t, quote=False),
             lambda t: html.escape(t, quote=False).replace('"', "&#34;").replace("'", "&#39;"))
    forms = set()
    for s in secrets:
        if not s:
            continue
        for h in htmls:
            forms.update({h(s), json.dumps(h(s))[1:-1]})
    return sorted(forms, key=len, reverse=True)


def scrub_file(path: str | os.PathLike, secrets: Iterable[str]) -> int:
    """Replace every secret value in a text file with ``***``; returns how many were replaced."""
    p = Path(path)
    if not p.is_file():
        return 0
    text = p.read_text(encoding="utf-8")
    hits = 0
    for form in _secret_forms(secrets):
        n = text.count(form)
        if n:
            hits += n
            text = text.replace(form, "***")
    if hits:
        p.write_text(text, encoding="utf-8")
    return hits


_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
SHARED_CSS_MIN = 10_000  # style blocks at least this long go to the shared stylesheet


def render_html(ipynb: str | os.PathLike) -> Path:
    """Render an executed notebook as HTML beside it (same name, ``.html``).

    nbconvert inlines about 300 KB of JupyterLab CSS into every page; with a run every few
    minutes that is most of the archive. The large style blocks go to one stylesheet per
    archive folder (named by its content's hash) that each page links to.
    """
    import hashlib

    import nbformat
    from nbconvert import HTMLExporter
    src = Path(ipynb)
    nb = nbformat.read(src, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    big = [m for m in _STYLE.finditer(body) if len(m.group(1)) >= SHARED_CSS_MIN]
    if big:
        css = "\n".join(m.group(1) for m in big)
        name = f"notebook-{hashlib.sha1(css.encode('utf-8')).hexdigest()[:12]}.css"
        shared = src.parent / name
        if not shared.exists():
            tmp = shared.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(css, encoding="utf-8")
            os.replace(tmp, shared)
        link = f'<link rel="stylesheet" href="{name}">'
        for i, m in enumerate(reversed(big)):
            body = body[:m.start()] + (link if i == len(big) - 1 else "") + body[m.end():]
    out = src.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    for form in _secret_forms(secrets):
        text = text.replace(form, "***")
    return text
