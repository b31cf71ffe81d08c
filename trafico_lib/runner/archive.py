"""The audit archive: ``<archive>/<yyyy>/<mm>/<dd>/<run_id>_<notebook>.ipynb`` plus its HTML,
scrubbed of every secret value. A dry run's notebooks go to the same layout under a separate
folder, ``<archive>-dry`` (``runs-dry/``): never into the audit archive, still pruned."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from .. import clock
from ..errors import MASK, scrub, secret_forms


_RUN_ID_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T")


def archive_dir(cfg, run_id: str, now: datetime | None = None, *, dry_run: bool = False) -> Path:
    """``<archive>/<yyyy>/<mm>/<dd>`` for a run: the run id's date (the display zone's, as run ids
    are: :func:`trafico_lib.pipeline.new_run_id`), else today's there (:mod:`trafico_lib.clock`);
    a dry run's under ``<archive>-dry`` (:func:`trafico_lib.retention.archive_root`)."""
    from ..retention import archive_root
    m = _RUN_ID_DATE.match(run_id)
    if m:
        y, mo, d = m.groups()
    else:
        day = clock.local(now).date() if now else clock.today()
        y, mo, d = f"{day:%Y}", f"{day:%m}", f"{day:%d}"
    return archive_root(cfg, dry_run=dry_run) / y / mo / d


def archive_path(cfg, run_id: str, notebook: str, *, dry_run: bool = False) -> Path:
    """Where the executed copy of ``notebook`` (name without ``.ipynb``) is archived for ``run_id``."""
    return archive_dir(cfg, run_id, dry_run=dry_run) / f"{safe_name(run_id)}_{Path(notebook).stem}.ipynb"


def safe_name(text: str) -> str:
    """A run id as part of a file name: anything but letters, digits, ``.``, ``_``, ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def scrub_file(path: str | os.PathLike, secrets: Iterable[str]) -> int:
    """Mask every credential in a text file (``errors.scrub``); returns how many configured
    secret values were found in it."""
    p = Path(path)
    if not p.is_file():
        return 0
    text = p.read_text(encoding="utf-8")
    hits, clean = 0, text
    for form in secret_forms(secrets):  # longest first, each occurrence counted once
        hits += clean.count(form)
        clean = clean.replace(form, MASK)
    clean = scrub(clean)  # and what looks like a credential though none was configured
    if clean != text:
        p.write_text(clean, encoding="utf-8")
    return hits


_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
# A wide frame (the health history, the counts table) scrolls sideways in its own output, one
# line per row, instead of being squeezed into wrapped cells or cut off at the page's edge
# (a 1024 px screen): JupyterLab does the same for outputs; nbconvert's page does not.
WIDE_OUTPUTS = ("<style>.jp-OutputArea-child { display: flex; }"
                " .jp-OutputArea-output { display: block; flex: 1 1 auto; min-width: 0; overflow-x: auto; }"
                " .jp-OutputArea-output table.dataframe :is(th, td) { white-space: nowrap; }</style>")
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
            try:
                tmp.write_text(css, encoding="utf-8")
                os.replace(tmp, shared)
            finally:  # a disk that filled up keeps no half-written stylesheet
                tmp.unlink(missing_ok=True)
        link = f'<link rel="stylesheet" href="{name}">'
        for i, m in enumerate(reversed(big)):
            body = body[:m.start()] + (link if i == len(big) - 1 else "") + body[m.end():]
    body = body.replace("</head>", WIDE_OUTPUTS + "</head>", 1)
    out = src.with_suffix(".html")
    try:
        out.write_text(body, encoding="utf-8")
    except OSError:  # no half-written page beside the notebook
        out.unlink(missing_ok=True)
        raise
    return out
