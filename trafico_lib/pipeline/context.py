"""A run's context: everything one table's run resolves once (the configuration, the table
and its settings, the store, the run id, the stored state) and what its chunks add up to."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from typing import Any

import pandas as pd

from .. import clock
from ..config import Config, TableSettings, load_config
from ..engine.extract import Extract
from ..errors import ConfigError, UsageError
from ..interactive import interactive_notebook
from ..rules.totals import ValidationTotals
from ..stores import open_store
from ..stores.base import Store
from ..tables import TableSpec, get_table

MODES = ("incremental", "full")


def new_run_id(now: datetime | None = None) -> str:
    """``20261206T233000-ab12cd``: the time in the display zone (:mod:`trafico_lib.clock`), so
    the run's ``runs/<yyyy>/<mm>/<dd>/`` folder is the local date, and six random hex digits."""
    local = clock.local(now or datetime.now(UTC))
    return f"{local:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunTotals:
    """What the chunks of one run add up to (nothing here grows with the rows kept)."""
    validation: ValidationTotals = field(default_factory=ValidationTotals)
    rejects: list[dict] = field(default_factory=list)      # rows validation blocked
    duplicates: list[pd.DataFrame] = field(default_factory=list)  # superseded inside a chunk
    source_keys: set[str] | None = None                    # for the cross-check, when it applies
    chunks: int = 0
    held: int = 0                                          # target keys left as they are (slots of a group with a rejected row)


@dataclass
class RunContext:
    cfg: Config
    spec: TableSpec
    settings: TableSettings
    store: Store
    mode: str
    dry_run: bool
    run_id: str
    run_started: datetime
    notebook: str | None = None
    state: dict = field(default_factory=dict)
    extract: Extract | None = None    # this run's source read
    staging: Any = None               # the store's staging (stores.base.Staging), opened by stage()
    totals: RunTotals = field(default_factory=RunTotals)
    exits: Any = None                 # exit records, loaded once per run
    layout: Any = None                # the target as it is (engine.conform.TargetLayout), read once per run
    allow_mass_deactivation: bool = False  # --allow-mass-deactivation: no max_deactivation_share
    adoption: Any = None              # the old tool's unkeyed rows and their keys (engine.adopt.Adoption)
    started_monotonic: float = field(default_factory=time.monotonic)  # when the run started (monotonic): its run_seconds count from here
    probe: Any = None                 # the source's probe (engine.probe.SourceProbe) taken before this read
    probe_context: str | None = None  # the run's context as the skip rule compares it (pipeline.probe)
    probe_ready: bool = False         # ``probe`` was just taken (by the skip rule) for the next read

    @property
    def legacy_layout(self) -> bool:
        """The target is the old tool's, adopted in place (``schema/adopt.py``): its status text by default."""
        return bool(self.layout is not None and self.layout.adopted)

    @property
    def run_date(self) -> date:
        return clock.local(self.run_started).date()

    @property
    def preserve(self) -> list[str]:
        return self.cfg.preserve_fields(self.spec.name)

    def close(self) -> None:
        """Release the source cursor and the staging (their connections)."""
        if self.extract is not None:
            self.extract.close()
        if self.staging is not None:
            self.staging.close()
            self.staging = None


def start(table: str, *, mode: str = "incremental", dry_run: bool = False, config_path: str | None = None,
          run_id: str | None = None, cfg: Config | None = None, store: Store | None = None,
          notebook: str | None = None, run_started: datetime | None = None,
          allow_mass_deactivation: bool = False) -> RunContext:
    """Everything a run needs, resolved once: config, table, store, run id, stored state.
    ``allow_mass_deactivation``: a full run may deactivate more than the table's
    ``max_deactivation_share`` (the rows really left the source). ``notebook``: the archived
    copy the runner executes; in a notebook run by hand in JupyterLab, which is not archived,
    the run is logged as ``interactive: <notebook> by <user>@<host>`` (:mod:`trafico_lib.interactive`)."""
    started_monotonic = time.monotonic()  # the run starts here (the sync notebook's first step)
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    cfg = cfg or load_config(config_path)
    try:
        spec = get_table(table)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    store = store or open_store(cfg)
    ctx = RunContext(cfg=cfg, spec=spec, settings=cfg.table(spec.name), store=store, mode=mode,
                     dry_run=dry_run, run_id=run_id or new_run_id(), notebook=notebook or interactive_notebook(),
                     run_started=run_started or datetime.now(UTC),
                     allow_mass_deactivation=allow_mass_deactivation, started_monotonic=started_monotonic)
    ctx.state = store.read_state(spec)
    ctx.layout = store.target_layout(spec)
    return ctx


def check_settings(cfg: Config, store: Store, tables: list[str]) -> None:
    """What the configuration names in the databases, checked before anything runs: a
    configured ``updated_column`` must be a column of its source table (ConfigError, exit 2).
    A source table that is not there is left for its run to report."""
    for name in tables:
        s, spec = cfg.table(name), get_table(name)
        if not s.enabled or s.source != "database" or not s.updated_column:
            continue
        cols = store.columns(spec.source)
        if cols and s.updated_column not in cols:
            raise ConfigError(f"sync_settings.{name}.updated_column: {s.updated_column!r} is not a column of "
                              f"{spec.source} (its columns: {', '.join(cols)})")
