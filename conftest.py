"""nbval runs the notebooks, top to bottom with their default parameters, in ``make test``.

This is the project folder's conftest (pytest's configuration of the notebooks' collection): it
is kept out of ``notebooks/``, which holds only the notebooks the analysts open.
``pyproject.toml`` adds ``--nbval-lax`` and ``notebooks/`` to pytest's defaults, so the one
``pytest -q`` run also executes the notebooks there that no test runs with their defaults
(``collect_ignore`` below; outputs are not compared; a cell that raises fails its test). nbval
starts one kernel per notebook, in its folder, and the kernel inherits pytest's environment. So
before the first notebook's kernel starts, this file:

- starts an embedded PostgreSQL of its own (under a temp folder, stopped at the end),
  creates a database with the schema and the sample data of ``data/``, and sets
  ``TRAFICO_DATABASE_URL`` to it while the kernel starts (the only way a notebook learns where
  the database is; the tests run after it in the same process do not see it);
- sets ``JPY_SESSION_NAME`` as the Jupyter server does for a kernel it starts for a notebook
  (``notebooks/sync.ipynb``): the run is the analyst's "Run all" in JupyterLab;
- makes the kernel the notebook names exist and run this interpreter
  (:func:`trafico_lib.runner.ensure_kernel`, as the runner does).

The notebooks then run as an analyst's "Run all" would: ``sync.ipynb`` is a dry run of an
incremental sync of ``arribos`` (its defaults: by hand, a notebook writes nothing), from the
project folder, with the built-in default configuration. A ``trafico_config.json`` in the
project folder would be read by those defaults (its SQL Server, CSV folders, ...), so then the
notebooks are skipped, not run against it. (tests/test_notebook_defaults.py runs the same
defaults through papermill and proves they write nothing, and that ``dry_run = False`` writes
and logs the run as interactive.)
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = "notebooks"
DATABASE = "nbval"

# Notebooks tests/test_notebooks.py already runs (papermill, the runner): back_propagate and
# health_check (7 days). nbval does not run them a second time; it runs sync.ipynb, whose
# defaults (arribos, incremental, a dry run, no config file, no run id) the papermill runs do not
# use. Named on the command line (``pytest notebooks/health_check.ipynb``), a notebook still runs.
collect_ignore = [f"{NOTEBOOKS}/back_propagate.ipynb", f"{NOTEBOOKS}/health_check.ipynb"]


class NotebookDatabase:
    """The embedded server and seeded database the notebooks' kernels connect to."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.url: str | None = None

    def start(self) -> str:
        import psycopg

        from trafico_lib.config import Config
        from trafico_lib.sample import create_source_tables, load_samples
        from trafico_lib.schema import apply_migrations
        from trafico_lib.stores.embedded import embedded_url

        self.base = Path(tempfile.mkdtemp(prefix="trafico-nbval-pg-"))
        server = embedded_url(self.base / "pgdata")
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{DATABASE}"')
        head, _, query = server.partition("?")
        self.url = head.rsplit("/", 1)[0] + f"/{DATABASE}" + (f"?{query}" if query else "")
        cfg = Config.model_validate({"csv_sources": {"data_path": str(ROOT / "data")}})
        with psycopg.connect(self.url, autocommit=True) as conn:
            apply_migrations(conn)
            create_source_tables(conn)
            load_samples(conn, cfg)
        return self.url

    def stop(self) -> None:
        if self.base is None:
            return
        from trafico_lib.stores.embedded import stop_embedded
        stop_embedded(self.base / "pgdata")
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None


_database = NotebookDatabase()


def _notebook_of(item: pytest.Item):
    """The nbval notebook an item is a cell of, or None for any other test."""
    from nbval.plugin import IPyNbFile
    return item.parent if isinstance(item.parent, IPyNbFile) else None


NBVAL_GROUP = "nbval"


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` with every notebook cell in the one group ``nbval``, read from the
    node id. (xdist 3.8 marks a group by rewriting ``item._nodeid``, which pytest 9.2 no longer
    reads, so the ``xdist_group`` mark alone would let a notebook's cells split across workers.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class NotebookGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::", 1)[0].endswith(".ipynb"):
                return NBVAL_GROUP
            return super()._split_scope(nodeid)

    return NotebookGroups(config, log)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook reads the group into the node ids
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2 --dist loadgroup`` (``make test``) every notebook cell goes to one
    worker, in order: a notebook's cells share its kernel, and the notebooks share this file's
    database and the project folder's ``reports/`` as they do in a serial run. They are moved to
    the front so that worker starts them first, while the other takes the rest of the suite."""
    cells = [item for item in items if _notebook_of(item) is not None]
    if config.pluginmanager.hasplugin("xdist"):
        for item in cells:
            item.add_marker(pytest.mark.xdist_group(NBVAL_GROUP))
    if cells:
        items[:] = cells + [item for item in items if _notebook_of(item) is None]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    """Before nbval starts a notebook's kernel (its first cell's setup): database and kernel;
    ``TRAFICO_DATABASE_URL`` set for the kernel to inherit, and restored once it has started."""
    notebook = _notebook_of(item)
    if notebook is None or notebook.kernel is not None:
        yield
        return
    from trafico_lib.config import DEFAULT_CONFIG_FILE
    if (ROOT / DEFAULT_CONFIG_FILE).exists():
        pytest.skip(f"{DEFAULT_CONFIG_FILE} in the project folder: the notebooks' defaults would read it")
    if _database.url is None:
        _database.start()
    from trafico_lib.runner import ensure_kernel
    ensure_kernel(notebook.nb.metadata.get("kernelspec", {}).get("name", "python3"))
    from trafico_lib.interactive import SESSION_ENV
    # inherited by the kernel nbval starts now: where the database is, and the notebook's path
    # as the Jupyter server names it to a kernel it starts for a notebook
    given = {"TRAFICO_DATABASE_URL": _database.url,
             SESSION_ENV: Path(notebook.path).resolve().relative_to(ROOT).as_posix()}
    saved = {name: os.environ.get(name) for name in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_sessionfinish(session: pytest.Session) -> None:
    _database.stop()
