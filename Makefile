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

.PHONY: install demo test sync dry-run health back-propagate init-db sql docs lab bench prune stop-db clean

# Virtual environment with pinned versions (constraints.txt is the lock).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m ipykernel install --user --name python3 >/dev/null 2>&1
	touch $(STAMP)

install: $(STAMP)

## demo: set up, start the embedded database, load the samples, sync every table twice
demo: install
	$(CLI) --init-db $(ARGS)
	$(CLI) --load-samples $(ARGS)
	@echo; echo "--- first run: full sync of every table ---"
	$(CLI) --mode full $(ARGS)
	@echo; echo "--- second run: nothing changed in the sources, so nothing is written ---"
	$(CLI) --mode incremental $(ARGS)

## test: the whole test suite against a real (embedded) PostgreSQL
test: install
	$(PY) -m pytest -q

sync: install
	$(CLI) --mode $(MODE) $(ARGS)

dry-run: install
	$(CLI) --dry-run --mode $(MODE) $(ARGS)

health: install
	$(CLI) --health-check $(ARGS)

back-propagate: install
	$(CLI) --back-propagate $(ARGS)

init-db: install
	$(CLI) --init-db $(ARGS)

## sql: the schema as plain SQL for the Supabase SQL editor
sql: install
	@$(CLI) --print-sql

stop-db: install
	$(PY) -c "from trafico_lib.config import load_config; from trafico_lib.stores.embedded import stop_embedded; c=load_config($(if $(CONFIG),'$(CONFIG)',None)); print('stopped' if stop_embedded(c.resolve(c.database.embedded_path)) else 'not running')"

clean:
	rm -rf runs reports .trafico

## bench: full sync vs a raw COPY of the same rows, at 100k and 1M rows
bench: install
	$(PY) scripts/bench.py $(or $(SIZES),100000 1000000)
