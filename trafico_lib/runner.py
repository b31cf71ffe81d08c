"""The runner: executes the notebooks with papermill and archives every run (DESIGN §2, §8).

    results = run_sync_notebooks(cfg, ["arribos"], mode="full")   # one dict per table
    run = execute(cfg, "health_check", {"config_path": ...})      # any notebook, archived

Each invocation has one run id. Every executed notebook, failed ones included, is archived as
``<archive>/<yyyy>/<mm>/<dd>/<run_id>_<notebook>.ipynb`` (the date is the run id's, UTC) with
an HTML rendering beside it; both are scrubbed of the configuration's secret values. The
kernel is named explicitly, runs in the configuration's folder, and every cell has a timeout.

Results travel back in the executed notebook, never by re-querying the database: the last
cell of a notebook calls :func:`record_result`, which displays the result under the MIME
type :data:`RESULT_MIME`; :func:`read_result` finds it in the executed copy. A failed cell is
found by :func:`find_failure` and reported as one line naming the table, the cell and the error.

Parameters are never secrets: credentials reach the kernel only through the environment (or
the configuration file the kernel reads itself); :func:`check_parameters` refuses a parameter
holding a secret value. ``python -m trafico_lib.runner`` is the command line the Makefile uses
(``sync``, ``back-propagate``, ``health``), with parameter files from ``params/``.
"""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

log = logging.getLogger("trafico")

RESULT_MIME = "application/vnd.trafico.result+json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEALTH_NOTEBOOK = "health_check"
BACKPROP_NOTEBOOK = "back_propagate"
#: Parameters a params file may set; ``run_id`` and ``archive_path`` belong to the runner.
FILE_PARAMETERS = ("table", "mode", "dry_run", "config_path")
START_TIMEOUT_SECONDS = 60
#: The kernel's own log, quiet: ipykernel warns on every start that local TCP is unencrypted, and
#: logs the interrupt jupyter_client sends before every shutdown. Cell errors are in the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
_RUN_ID_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T")


class RunnerError(Exception):
    """The runner could not start a notebook (bad parameters, missing folder); one line."""


# ---- what the notebooks call -----------------------------------------------------------------

def record_result(result: dict[str, Any]) -> None:
    """Show a notebook's result and leave it in the output for the runner (last cell of a notebook).

    The result is displayed under :data:`RESULT_MIME` (read back by :func:`read_result`) with
    a readable JSON text beside it. Values that are not JSON (dates, numbers from numpy) are
    written as text.
    """
    from IPython.display import display
    data = json.loads(json.dumps(result, default=str, ensure_ascii=False))
    display({RESULT_MIME: data, "text/plain": json.dumps(data, indent=2, ensure_ascii=False)}, raw=True)


def use_project_folder(archive_path: str | None = None) -> Path:
    """Outside the runner (a notebook opened in Jupyter), work from the project folder.

    Jupyter starts a kernel in the notebook's folder, ``notebooks/``; ``make`` and the runner
    work from the project folder, where ``trafico_config.json``, ``data/`` and ``.trafico/``
    are. A notebook calls this first so its relative paths mean the same thing either way.
    Under the runner (``archive_path`` set) the folder is left as the runner chose it.
    """
    here = Path.cwd().resolve()
    if archive_path is None and here == (PROJECT_ROOT / "notebooks").resolve():
        os.chdir(PROJECT_ROOT)
    return Path.cwd()


# ---- reading an executed notebook --------------------------------------------------------------

def read_result(nb) -> dict[str, Any] | None:
    """The result the notebook recorded with :func:`record_result` (the last one), or None."""
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data") or {}
            if RESULT_MIME in data:
                value = data[RESULT_MIME]
                found = json.loads(value) if isinstance(value, str) else dict(value)
    return found


@dataclass
class CellFailure:
    """The cell a notebook stopped at: where it is and what it raised."""
    execution_count: int | None
    step: str            # the cell's id in the source notebook (the step's name), or its position
    first_line: str      # the cell's first line of code
    ename: str
    evalue: str

    def describe(self) -> str:
        where = f"cell In [{self.execution_count}]" if self.execution_count else "a cell"
        evalue = " ".join(self.evalue.split())
        return f"{where} '{self.step}' ({self.first_line}): {self.ename}: {evalue}" if evalue else \
            f"{where} '{self.step}' ({self.first_line}): {self.ename}"


def find_failure(nb) -> CellFailure | None:
    """The first code cell of an executed notebook that ended in an error, or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        err = errors[0]
        lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        first = lines[0] if lines else ""
        if len(first) > 70:
            first = first[:67] + "..."
        step = cell.get("id") or f"cell {i + 1}"
        return CellFailure(cell.get("execution_count"), step, first, err.get("ename", "Error"),
                           _strip_ansi(err.get("evalue", "")))
    return None


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# ---- parameters ------------------------------------------------------------------------------

def project_dir(cfg, name: str) -> Path:
    """A project folder (``notebooks``, ``params``): beside the config if it has one, else the repo's."""
    here = cfg.resolve(name)
    return here if here.is_dir() else PROJECT_ROOT / name


def notebooks_dir(cfg) -> Path:
    d = cfg.resolve(cfg.runner.notebooks_dir)
    if d.is_dir():
        return d
    if (PROJECT_ROOT / "notebooks").is_dir():
        return PROJECT_ROOT / "notebooks"
    raise RunnerError(f"notebooks folder not found: {d} (set runner.notebooks_dir in the config)")


def load_params(*paths: str | os.PathLike) -> dict[str, Any]:
    """Merge YAML parameter files, later files winning; only :data:`FILE_PARAMETERS` keys allowed."""
    import yaml
    out: dict[str, Any] = {}
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise RunnerError(f"{p}: parameter file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark else ""
            raise RunnerError(f"{p}: broken YAML{at}: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise RunnerError(f"{p}: expected a mapping of parameter names to values")
        unknown = sorted(set(data) - set(FILE_PARAMETERS))
        if unknown:
            raise RunnerError(f"{p}: unknown parameter(s) {', '.join(unknown)}; "
                              f"expected some of {', '.join(FILE_PARAMETERS)}")
        out.update(data)
    return out


def table_params(cfg, table: str) -> dict[str, Any]:
    """``params/<table>.yaml`` when it exists (the table's own defaults), else ``{"table": table}``."""
    p = project_dir(cfg, "params") / f"{table}.yaml"
    return {"table": table, **(load_params(p) if p.is_file() else {})}


def check_parameters(params: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """Refuse bad parameter values and any parameter that carries a secret (one line)."""
    from .pipeline import MODES
    if "mode" in params and params["mode"] not in MODES:
        raise RunnerError(f"parameter mode: expected one of {', '.join(MODES)}, got {params['mode']!r}")
    if "dry_run" in params and not isinstance(params["dry_run"], bool):
        raise RunnerError(f"parameter dry_run: expected true or false, got {params['dry_run']!r}")
    for name, value in params.items():
        text = json.dumps(value, default=str)
        if any(s and s in text for s in secrets):
            raise RunnerError(f"parameter {name} holds a secret value; secrets reach the notebook only "
                              "through the environment or the config file")
    return params


# ---- kernel ------------------------------------------------------------------------------------

def ensure_kernel(name: str = "python3", *, prefix: str | os.PathLike | None = None) -> bool:
    """Make the kernel spec ``name`` run this very interpreter, whatever else is installed.

    A user-level spec of the same name (``~/.local/share/jupyter/kernels``) may point at
    another environment, even one deleted since. So the runner keeps its own spec inside this
    environment (``<prefix>/share/trafico/kernels/<name>``, default prefix ``sys.prefix``)
    and puts that folder first on ``JUPYTER_PATH``, which Jupyter searches before the user's
    folders. Returns True if it wrote the spec now.
    """
    import json as _json
    root = Path(prefix or sys.prefix) / "share" / "trafico"
    spec_file = root / "kernels" / name / "kernel.json"
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    wrote = False
    try:
        current = _json.loads(spec_file.read_text(encoding="utf-8")).get("argv")
    except (OSError, ValueError):
        current = None
    if current != argv:
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(_json.dumps({"argv": argv, "display_name": f"Python 3 (trafico: {name})",
                                          "language": "python", "metadata": {"debugger": True}}, indent=1),
                             encoding="utf-8")
        wrote = True
        log.info("kernel spec %s now runs %s", name, sys.executable)
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(root) not in paths[:1]:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *[p for p in paths if p != str(root)]])
    return wrote


# ---- archive -----------------------------------------------------------------------------------

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


def render_html(ipynb: str | os.PathLike) -> Path:
    """Render an executed notebook as HTML beside it (same name, ``.html``)."""
    import nbformat
    from nbconvert import HTMLExporter
    src = Path(ipynb)
    nb = nbformat.read(src, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    out = src.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


# ---- execution ---------------------------------------------------------------------------------

@dataclass
class NotebookRun:
    """One executed notebook: where it is archived, what it recorded, where it failed."""
    notebook: str                   # name without .ipynb
    output: Path | None             # archived .ipynb (None when archiving is off)
    html: Path | None
    result: dict[str, Any] | None   # what the notebook recorded (None if it stopped before)
    failure: CellFailure | None
    error: str | None               # one line when the run failed, else None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def execute(cfg, notebook: str, parameters: dict[str, Any], *, run_id: str,
            kernel_name: str | None = None, timeout: int | None = None) -> NotebookRun:
    """Execute ``notebooks/<notebook>.ipynb`` with papermill, archive it (+HTML), read it back.

    ``parameters`` gets ``run_id`` and ``archive_path`` added. Never raises for a failing
    notebook: the failure is in the returned run (``error``, ``failure``), and the archived
    copy shows the failing cell. Raises :class:`RunnerError` when the notebook cannot start.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    source = notebooks_dir(cfg) / f"{Path(notebook).stem}.ipynb"
    if not source.is_file():
        raise RunnerError(f"notebook not found: {source}")
    secrets = cfg.secrets
    kernel = kernel_name or cfg.runner.kernel_name
    ensure_kernel(kernel)
    archive = cfg.archival.enabled
    tmpdir = None
    if archive:
        out = archive_path(cfg, run_id, notebook)
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        tmpdir = Path(tempfile.mkdtemp(prefix="trafico-run-"))
        out = tmpdir / f"{_safe(run_id)}_{source.stem}.ipynb"
    params = check_parameters({**parameters, "run_id": run_id,
                               "archive_path": str(out) if archive else None}, secrets)
    cell_timeout = timeout or cfg.runner.cell_timeout_seconds
    t0 = time.monotonic()
    crash: str | None = None
    try:
        pm.execute_notebook(str(source), str(out), parameters=params, kernel_name=kernel,
                            cwd=str(cfg.base_dir), progress_bar=False, log_output=False,
                            start_timeout=START_TIMEOUT_SECONDS, execution_timeout=cell_timeout,
                            interrupt_on_timeout=True, extra_arguments=KERNEL_ARGUMENTS)
    except PapermillExecutionError:
        pass  # the executed copy shows the failing cell; find_failure reads it below
    except Exception as exc:  # kernel died, could not start, ...: one line
        crash = _one_line(exc)
    duration = round(time.monotonic() - t0, 3)
    nb = None
    if out.is_file():
        scrub_file(out, secrets)
        nb = nbformat.read(out, as_version=4)
    result = read_result(nb) if nb is not None else None
    failure = find_failure(nb) if nb is not None else None
    html_path = None
    if archive and nb is not None:
        try:
            html_path = render_html(out)
            scrub_file(html_path, secrets)
        except Exception as exc:  # the archive copy is still there; say why there is no HTML
            log.warning("could not render %s as HTML: %s", out.name, _one_line(exc))
    error = None
    if failure is not None:
        if failure.ename == "KeyboardInterrupt":
            failure.ename, failure.evalue = "Timeout", f"the cell ran longer than {cell_timeout} s and was interrupted"
        error = f"{source.stem} failed at {failure.describe()}"
    elif crash is not None:
        error = f"{source.stem} failed: {crash}"
    elif nb is None:
        error = f"{source.stem} failed: no executed notebook was written"
    if error:
        error = _scrub_text(error, secrets)
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return NotebookRun(source.stem, out if archive and out.is_file() else None, html_path, result,
                       failure, error, duration)


def _scrub_text(text: str, secrets: Iterable[str]) -> str:
    for form in _secret_forms(secrets):
        text = text.replace(form, "***")
    return text


def _one_line(exc: BaseException) -> str:
    text = _strip_ansi(str(exc)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _rel(path: Path | None) -> str | None:
    """A path as shown to people: relative to the current folder when under it."""
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _progress(enabled: bool, text: str) -> None:
    if enabled:
        print(text, file=sys.stderr, flush=True)


def _config_param(cfg, config_path: str | None) -> str | None:
    """The config file the kernel should read: absolute, so the kernel's folder does not matter."""
    if cfg.source_path:
        return str(cfg.source_path)
    return str(Path(config_path).resolve()) if config_path else None


def _hold_store(cfg, *, required: bool = False) -> None:
    """Check the database once before starting kernels.

    With no database configured, start (or attach to) the embedded server for the whole
    invocation, so the kernels attach to a running server instead of each starting its own.
    ``required``: a database that cannot be reached stops the command here, with one line
    (a StoreError), instead of failing every notebook the same way.
    """
    from .stores import StoreError, open_store
    try:
        store = open_store(cfg)
        if required:
            store.connect().close()
    except StoreError:
        if required:
            raise
    except Exception as exc:  # the notebook will fail at its first database call and say why
        if required:
            raise StoreError(_scrub_text(_one_line(exc), cfg.secrets)) from None
        log.warning("%s", _one_line(exc))


def _record_failure(cfg, table: str, run_id: str, mode: str, error: str, notebook: str | None) -> None:
    """An ``ERROR`` row in ``traficov2_sync_log`` for a notebook that stopped before recording one."""
    try:
        from .engine import record
        from .stores import open_store
        from .tables import get_table
        with open_store(cfg).connect() as conn, conn.transaction():
            record.write_log(conn, get_table(table), "ERROR", {"run_id": run_id, "mode": mode, "error": error,
                                                               "notebook": notebook})
    except Exception as exc:  # the database may be what failed
        log.warning("could not record the error in traficov2_sync_log: %s", _scrub_text(_one_line(exc), cfg.secrets))


def sync_result(table: str, run: NotebookRun, params: dict[str, Any]) -> dict[str, Any]:
    """A table's result shaped like ``RunResult.to_dict()``, from what its notebook recorded."""
    from .tables import get_table
    spec = get_table(table)
    res = dict(run.result) if run.result else {
        "table": spec.name, "target": spec.target, "run_id": params["run_id"], "mode": params.get("mode"),
        "dry_run": params.get("dry_run", False), "status": "error", "counts": {}, "duration_seconds": None,
        "error": None, "attempts": 0}
    if run.error:
        if res.get("status") in ("ok", "dry-run"):
            res["status"] = "error"
        res["error"] = f"table {spec.name}: {run.error}"
    res["notebook"] = str(run.output) if run.output else None
    res["html"] = str(run.html) if run.html else None
    res["notebook_seconds"] = run.duration_seconds
    return res


def run_sync_notebooks(cfg, tables: Sequence[str], *, mode: str = "incremental", dry_run: bool = False,
                       config_path: str | None = None, run_id: str | None = None,
                       progress: bool | None = None) -> list[dict[str, Any]]:
    """Run each enabled table's ``sync_<table>`` notebook under one run id; a dict per table.

    Each dict is shaped like ``RunResult.to_dict()`` (read back from the executed notebook)
    with ``notebook`` (the archived .ipynb) and ``html``. A notebook that failed gives status
    ``error`` and an ``error`` line naming the table, the cell and the exception.
    """
    from .pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    _hold_store(cfg, required=True)
    results = []
    for table in tables:
        if not cfg.table(table).enabled:
            continue
        params = {**table_params(cfg, table), "table": table, "mode": mode, "dry_run": dry_run,
                  "config_path": _config_param(cfg, config_path)}
        _progress(progress, f"running sync_{table} ({mode}{', dry-run' if dry_run else ''}) ...")
        run = execute(cfg, f"sync_{table}", params, run_id=run_id)
        res = sync_result(table, run, {**params, "run_id": run_id})
        if run.error and run.result is None and not dry_run:
            _record_failure(cfg, table, run_id, mode, res["error"], res["notebook"])
        _progress(progress, f"  {table}: {res['status']} in {run.duration_seconds:.1f} s"
                  + (f" -> {_rel(run.output)}" if run.output else ""))
        results.append(res)
    return results


def run_back_propagate_notebook(cfg, table: str | None = None, *, dry_run: bool = False,
                                config_path: str | None = None, run_id: str | None = None,
                                progress: bool | None = None) -> tuple[list[dict[str, Any]], NotebookRun]:
    """Run ``back_propagate`` (one table, or every table when None); per-table results + the run."""
    from .pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    params = {"table": table, "dry_run": dry_run, "config_path": _config_param(cfg, config_path)}
    _hold_store(cfg, required=True)
    _progress(progress, f"running {BACKPROP_NOTEBOOK}{' (dry-run)' if dry_run else ''} ...")
    run = execute(cfg, BACKPROP_NOTEBOOK, params, run_id=run_id)
    _progress(progress, f"  {'ok' if run.ok else 'failed'} in {run.duration_seconds:.1f} s"
              + (f" -> {_rel(run.output)}" if run.output else ""))
    results = list((run.result or {}).get("results", []))
    if run.error:
        results.append({"table": table or "all", "run_id": run_id, "dry_run": dry_run, "status": "error",
                        "error": run.error, "rows_updated": 0})
    return results, run


def run_health_notebook(cfg, *, config_path: str | None = None, run_id: str | None = None,
                        progress: bool | None = None) -> NotebookRun:
    """Run ``health_check`` and archive it; its recorded result is ``run.result``."""
    from .pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    _hold_store(cfg)
    _progress(progress, f"running {HEALTH_NOTEBOOK} ...")
    run = execute(cfg, HEALTH_NOTEBOOK, {"config_path": _config_param(cfg, config_path)}, run_id=run_id)
    _progress(progress, f"  {'ok' if run.ok else 'failed'} in {run.duration_seconds:.1f} s"
              + (f" -> {_rel(run.output)}" if run.output else ""))
    return run


# ---- command line (the Makefile's) -------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    from .cli import _Parser
    p = _Parser(prog="python -m trafico_lib.runner",
                description="Run the trafico notebooks with papermill and archive them.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("sync", "run the sync notebook of every table (or --table)"),
                           ("back-propagate", "run the back-propagation notebook"),
                           ("health", "run the health-check notebook")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--config", help="configuration file")
        s.add_argument("--params", action="append", default=[], metavar="FILE",
                       help="YAML parameter file (params/); repeat to layer, later files win")
        s.add_argument("--run-id", help="run id (default: a new one)")
        s.add_argument("--json", action="store_true", help="machine-readable output")
        s.add_argument("--verbose", "-v", action="store_true")
        if name != "health":
            s.add_argument("--table", help="one table only")
            s.add_argument("--dry-run", action="store_true", default=None, help="write nothing anywhere")
        if name == "sync":
            s.add_argument("--mode", choices=["incremental", "full"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trafico_lib.runner sync|back-propagate|health``; exit 0 ok, 1 failed, 2 usage."""
    from .stores import StoreError
    from .cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, _setup_logging, _tables, format_summary
    from .config import ConfigError, load_config
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
        params = load_params(*args.params)
        table = getattr(args, "table", None) or params.get("table")
        dry_run = args.dry_run if getattr(args, "dry_run", None) is not None else bool(params.get("dry_run", False))
        config_path = args.config or params.get("config_path")
        if args.command == "sync":
            mode = args.mode or params.get("mode", "incremental")
            check_parameters({"mode": mode, "dry_run": dry_run}, cfg.secrets)
            tables = _tables(argparse.Namespace(table=table))
            results = run_sync_notebooks(cfg, tables, mode=mode, dry_run=dry_run, config_path=config_path,
                                         run_id=args.run_id)
            failed = [r for r in results if r.get("status") not in ("ok", "dry-run")]
            if args.json:
                print(json.dumps({"results": results}, ensure_ascii=False, indent=2, default=str))
            else:
                print(format_summary(results, dry_run=dry_run))
            for r in failed:
                print(f"error: {r['error'] or r['table'] + ': ' + r['status']}", file=sys.stderr)
            _print_archive(cfg, [Path(r["notebook"]) for r in results if r.get("notebook")], args.json)
            return EXIT_FAILED if failed else EXIT_OK
        if args.command == "back-propagate":
            if table:
                table = _tables(argparse.Namespace(table=table))[0]
            results, run = run_back_propagate_notebook(cfg, table, dry_run=dry_run, config_path=config_path,
                                                       run_id=args.run_id)
            if args.json:
                print(json.dumps({"results": results, "notebook": str(run.output) if run.output else None},
                                 ensure_ascii=False, indent=2, default=str))
            else:
                print("=== Back-propagation" + (" (dry-run, nothing written)" if dry_run else "") + " ===")
                for r in results:
                    if r.get("status") in ("ok", None):
                        print(f"{r['table']}: {r.get('rows_updated', 0)} source rows updated")
            if run.error:
                print(f"error: {run.error}", file=sys.stderr)
            _print_archive(cfg, [run.output] if run.output else [], args.json)
            return EXIT_OK if run.ok and all(r.get("status") == "ok" for r in results) else EXIT_FAILED
        run = run_health_notebook(cfg, config_path=config_path, run_id=args.run_id)
        if args.json:
            print(json.dumps({"result": run.result, "notebook": str(run.output) if run.output else None,
                              "error": run.error}, ensure_ascii=False, indent=2, default=str))
        elif run.result:
            print(run.result.get("text") or json.dumps(run.result, ensure_ascii=False, indent=2, default=str))
        if run.error:
            print(f"error: {run.error}", file=sys.stderr)
        _print_archive(cfg, [run.output] if run.output else [], args.json)
        return EXIT_OK if run.ok else EXIT_FAILED
    except (ConfigError, UsageError, RunnerError) as exc:
        print(f"error: {_scrub_text(str(exc), _secrets_or_empty())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except StoreError as exc:  # the database cannot be reached: one line, no kernel started
        print(f"error: {_scrub_text(str(exc), _secrets_or_empty())}", file=sys.stderr)
        return EXIT_FAILED


def _secrets_or_empty() -> list[str]:
    return [v for k, v in os.environ.items() if k in ("TRAFICO_DATABASE_URL", "SUPABASE_KEY", "key_supabase",
                                                      "TRAFICO_SQLSERVER_PASSWORD") and v]


def _print_archive(cfg, outputs: list[Path], as_json: bool) -> None:
    if as_json or not outputs:
        return
    where = sorted({_rel(p.parent) for p in outputs})
    print(f"Archive: {', '.join(where)} ({len(outputs)} executed notebook(s), each with an .html beside it)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
