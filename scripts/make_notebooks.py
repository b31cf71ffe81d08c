#!/usr/bin/env python3
"""Generate the notebooks of ``notebooks/`` from the Python source below (outputs stripped).

    .venv/bin/python scripts/make_notebooks.py           # write notebooks/*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if a notebook differs from its source

The notebooks are reviewed here, as text, and regenerated: edit this file, not the .ipynb.
Every cell has a fixed id (the step's name), so regeneration is byte-for-byte stable and the
runner can say which step failed. Each notebook tells its run as a story of library calls
(DESIGN §4): a markdown cell, then the step's code, for every step.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "notebooks"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def md(cell_id: str, text: str):
    return new_markdown_cell(dedent(text).strip(), id=cell_id)


def code(cell_id: str, text: str, *tags: str):
    meta = {"tags": list(tags)} if tags else {}
    return new_code_cell(dedent(text).strip(), id=cell_id, metadata=meta)


def notebook(cells: list) -> nbformat.NotebookNode:
    return new_notebook(cells=cells, metadata={
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    })


# ---- the sync notebooks ------------------------------------------------------------------------

TABLE_STORIES = {
    "arribos": dict(
        title="Import arrivals",
        about="One row per import container arriving at the depot; the business key is `Contenedor`. "
              "The source table has an `updated_at` column, so incremental runs read only the rows "
              "changed since the stored watermark (minus a look-back window for late commits).",
    ),
    "pendiente_desconsolidar": dict(
        title="Containers waiting to be unstuffed",
        about="One row per container waiting to be unstuffed; the business key is `Contenedor`. "
              "The source table has no change timestamp, so every run reads the whole table and "
              "row hashes decide what changed.",
    ),
    "remisiones": dict(
        title="Dispatch appointments",
        about="One row per dispatch appointment; the business key is `Operacion` "
              "(`orden_ing-suborden-renglon`), joined with `Contenedor` when there is one. The "
              "source table has a `fecha_modificacion` column, so incremental runs read only what changed.",
    ),
    "arribos_expo_ctns": dict(
        title="Empty export containers per booking",
        about="A booking row with `Cantidad` N and no container stands for N pending containers; the "
              "target holds **one row per container slot** (`Booking` + `Secuencia`). The source "
              "table has no change timestamp, so row hashes decide what changed.",
    ),
}


def _enrich_cells(table: str) -> list:
    if table == "arribos_expo_ctns":
        return [
            md("enrich-md", """
                ## 4. Enrich: container slots and status

                **Quantity expansion**: each booking gets `Secuencia` 1..demand, `Cantidad` 1 per slot.
                **Container assignment**: containers known for a booking (its source rows and, when enabled,
                the availability CSV `arribos_expo_semana_ctns.csv`) fill the empty slots, lowest `Secuencia`
                first, earliest bookings first. A placed container never moves, and a slot keeps what the
                traffic desk typed when its container arrives, so a rerun changes nothing.

                Then **status**: exit records (SQL Server, or the `salidas` CSV) mark containers `Realizado`.
            """),
            code("enrich", """
                enr = pipeline.enrich(ctx, val)
                print(f"{len(enr.frame)} slots for {enr.frame['Booking'].nunique() if len(enr.frame) else 0} bookings")
                enr.slots  # per booking: demand, active slots, filled, empty, inactive
            """),
            code("enrich-slots", """
                # the slots themselves, as they will be written
                enr.frame[["sync_key", "Booking", "Secuencia", "Contenedor", "Cantidad", "Estado", "activo"]].head(20)
            """),
            code("enrich-status", """
                if enr.status_note:
                    print(enr.status_note)
                print(f"{len(enr.status_matches)} slots marked from the exit records")
                enr.status_matches.head(20)
            """),
        ]
    return [
        md("enrich-md", """
            ## 4. Enrich: status

            Exit records (SQL Server `DEPOFIS.DASSA.Salidas`, or the CSV named by `csv_sources.files.salidas`)
            mark rows done: `Estado` becomes the configured template over the exit's time and validation
            info (for example `09:50 Realizado`). No exit records: the run goes on without status, and says so.
        """),
        code("enrich", """
            enr = pipeline.enrich(ctx, val)
            if enr.status_note:
                print(enr.status_note)
            print(f"{len(enr.status_matches)} of {len(enr.frame)} rows marked from the exit records")
            enr.status_matches.head(20)  # key, Estado before and after, exit time
        """),
    ]


def sync_notebook(table: str) -> nbformat.NotebookNode:
    story = TABLE_STORIES[table]
    cells = [
        md("title", f"""
            # Sync `{table}`: {story['title']}

            {story['about']}

            This notebook is one table's run, step by step (DESIGN §4): **extract** the source delta,
            **normalize** the live formats, **validate** with the table's Great Expectations suite,
            **enrich**, **plan** the merge against the TráficoV2 table, **apply** it, and record the run.
            Each step is one call of `trafico_lib.pipeline`; the cells below only show what it did.

            Open it in Jupyter (`make lab`) and run all cells: with the defaults it runs an incremental
            sync against the configured database (the embedded one when none is configured). Scheduled
            runs go through papermill (`make sync TABLE={table}`), and every executed copy is archived
            under `runs/` with an HTML rendering.
        """),
        md("parameters-md", """
            ## Parameters

            papermill replaces the values of the next cell (see `params/*.yaml`). Never put a secret
            here: database credentials come from the environment (`TRAFICO_DATABASE_URL`, `.env`) or
            the configuration file, never from a parameter.
        """),
        code("parameters", f"""
            table = "{table}"          # the table this notebook syncs
            mode = "incremental"     # "incremental": changed rows; "full": everything, and deactivate rows gone from the source
            dry_run = False          # True: compute and show the plan, write nothing anywhere
            config_path = None       # configuration file; None: ./trafico_config.json if present, else built-in defaults
            run_id = None            # None: a new one; the runner passes one id for all the tables of a run
            archive_path = None      # set by the runner: where this executed copy is archived (kept in the sync log)
        """, "parameters"),
        md("start-md", """
            ## Start

            `pipeline.start` resolves everything once: the configuration, the table's settings, the store,
            the run id and the table's stored state (watermark, last run).
        """),
        code("start", """
            import warnings

            import pandas as pd
            from IPython.display import display

            from trafico_lib import pipeline
            from trafico_lib.normalize import value_changes
            from trafico_lib.runner.notebook import record_result, use_project_folder

            use_project_folder(archive_path)  # opened in Jupyter: relative paths from the project folder, as for make
            warnings.filterwarnings("ignore", message="IProgress not found")  # text progress bar without ipywidgets
            pd.set_option("display.max_columns", 40)
            pd.set_option("display.width", 200)

            ctx = pipeline.start(table, mode=mode, dry_run=dry_run, config_path=config_path, run_id=run_id,
                                 notebook=archive_path)
            print(f"run {ctx.run_id}: {ctx.spec.source} -> {ctx.spec.target}, {ctx.mode}"
                  f"{' (dry-run: nothing is written)' if ctx.dry_run else ''}, on {ctx.store.name}")
            ctx.state  # watermark, last success, last run id
        """),
        md("extract-md", """
            ## 1. Extract

            The source delta, as text exactly as it is in the source: from the database (rows changed since
            the watermark when the table has a change timestamp, else every row), or from the table's CSV
            export when the configuration says `source: csv`. Meta columns start with `_`.
        """),
        code("extract", """
            ex = pipeline.extract(ctx)
            print(ex.describe())
            ex.frame.head(10)
        """),
        md("normalize-md", """
            ## 2. Normalize

            Trim; placeholders (`-`, `nan`, `  : 0   `) to *no value*; containers upper-case without blanks or
            dashes (`MSCU-123456-6` → `MSCU1234566`); bookings upper-case; dates day-first (a `dd/mm` gets the
            year nearest the run date); decimal commas; numbers and times typed. Below: each distinct value
            that changed (before → after, how many rows), then the cells that could not be read.
        """),
        code("normalize", """
            norm = pipeline.normalize(ctx, ex)
            changed = value_changes(ex.frame, norm.frame, ctx.spec.column_names)
            print(f"{int(changed['rows'].sum())} cells changed in {changed['column'].nunique()} columns; "
                  f"{len(norm.issues)} cells could not be read")
            changed.groupby("column", sort=False).head(5)  # the five most frequent changes per column
        """),
        code("normalize-issues", """
            norm.issues.head(20)  # row, column, value, problem: validation turns these into rules
        """),
        md("crosscheck-md", """
            ### External validation against the CSV export

            When CSV sources are enabled and this run read the whole source table, its keys are compared with
            the table's CSV export (`csv_sources.files`): rows present in one and missing in the other. This
            never blocks the sync; the counts and a sample go into the run's log row.
        """),
        code("crosscheck", """
            chk = pipeline.cross_check(ctx, ex, norm)
            if chk is None:
                print("not compared (CSV sources off, source is the CSV itself, or only a delta was read)")
            else:
                print(chk.note or f"{chk.only_in_source} keys only in the source, {chk.only_in_csv} only in {chk.csv}")
                display(chk.differences.head(20))
        """),
        md("validate-md", """
            ## 3. Validate

            The table's Great Expectations suite (`expectations/{table}.json`, with the configuration's
            `business_rules` applied). A row that breaks a *blocking* rule (a missing or unreadable key) is
            rejected: it goes to `traficov2_sync_rejects` with its reasons, never silently dropped. *Warning*
            rules (formats, the ISO 6346 check digit) keep the row and list the rule in `validation_warnings`.
        """.replace("{table}", table)),
        code("validate", """
            val = pipeline.validate(ctx, norm)
            pipeline.save_validation(ctx, val)  # kept for the Data Docs health report (not on a dry run)
            warned = val.valid[val.valid["validation_warnings"].map(bool)]
            print(f"{len(val.valid)} rows kept, {len(warned)} of them with warnings; {len(val.rejected)} rejected")
            val.rule_counts[val.rule_counts["failed"] > 0]  # the rules some row broke
        """),
        code("validate-rejects", """
            # rejected rows and why (they are written to traficov2_sync_rejects by apply)
            val.rejected[["reasons", *ctx.spec.column_names]].head(20)
        """),
        code("validate-warnings", """
            # kept rows that broke a warning rule
            warned[["validation_warnings", *ctx.spec.column_names]].head(20)
        """),
        *_enrich_cells(table),
        md("plan-md", """
            ## 5. Plan

            Stage one row per `sync_key` (latest wins; rows identical to the target are set aside), then plan
            the merge inside the database: inserts, updates with field-level diffs, unchanged rows and, in a
            full run, deactivations (`activo = false` for keys gone from the source). Source columns win,
            except the preserved fields the traffic desk edited. Planning writes nothing.
        """),
        code("plan", """
            stg = pipeline.stage(ctx, enr, val)
            pl = pipeline.plan(ctx, stg)
            print(pl.summary())
            print(f"{stg.skipped_unchanged} rows identical to the target set aside; "
                  f"{len(stg.staged.duplicates)} duplicate keys resolved (latest wins)")
        """),
        code("plan-inserts", """
            pl.inserts.head(10)  # rows to insert
        """),
        code("plan-updates", """
            pl.updates.head(30)  # field-level diffs: sync_key, field, old, new
        """),
        code("plan-deactivations", """
            pl.deactivations.head(20)  # keys gone from the source (full runs only)
        """),
        md("apply-md", """
            ## 6. Apply

            In batches of the table's `batch_size`, in one transaction with the log row, the changes, the
            rejects and the new watermark; retried on transient errors only; a batch that fails on data is
            split until the bad row is found and rejected. A second run of the same table waits briefly for
            the lock, then stops with a clear message. In a dry run nothing is written: apply returns the plan.
            After a successful run that changed something, today's CSV snapshot of the target is written
            (when CSV sources are enabled; see `archival.days_to_keep`).
        """),
        code("apply", """
            res = pipeline.apply(ctx, stg, val, ex=ex, check=chk, progress=True)
            if res.backup:
                print(f"CSV backup of {ctx.spec.target}: {res.backup}")
            print(f"{res.status} in {res.duration_seconds} s: {res.counts}")
        """),
        md("summary-md", """
            ## 7. Summary

            The run's numbers. The last cell records the result for the runner (it reads it back from this
            executed notebook), and fails the notebook when the run did not succeed, so the archive shows it.
        """),
        code("summary", """
            display(pd.DataFrame([{"table": ctx.spec.name, "status": res.status, **res.counts}]).set_index("table"))
            record_result(res.to_dict())
            if not res.ok:
                raise pipeline.SyncError(f"{ctx.spec.name}: {res.status}: {res.error}")
        """),
    ]
    return notebook(cells)


# ---- back-propagation ----------------------------------------------------------------------------

def back_propagate_notebook() -> nbformat.NotebookNode:
    return notebook([
        md("title", """
            # Back-propagation: the traffic desk's fields back to the source tables

            The traffic desk types `Chofer` (and any field listed in a table's `back_propagate` setting) into
            the TráficoV2 tables. This notebook copies those values to the operational (source) tables,
            matched on the normalized business key, only where they differ (DESIGN §5). The next sync then
            finds the source agreeing with the target and writes nothing: no ping-pong.

            Scheduled runs: `make back-propagate` (papermill; archived under `runs/`).
        """),
        md("parameters-md", """
            ## Parameters

            papermill replaces these values. Never a secret: credentials come from the environment or the
            configuration file.
        """),
        code("parameters", """
            table = None          # one table, or None for every table with back_propagate fields
            dry_run = False       # True: show what would change, write nothing
            config_path = None    # configuration file; None: ./trafico_config.json if present, else defaults
            run_id = None         # None: a new one
            archive_path = None   # set by the runner: where this executed copy is archived
        """, "parameters"),
        md("start-md", """
            ## Start

            The configuration, the store, and the tables to treat with their fields.
        """),
        code("start", """
            import pandas as pd
            from IPython.display import display

            from trafico_lib.config import load_config
            from trafico_lib.engine.backprop import back_propagate, plan_back_propagation
            from trafico_lib.pipeline import new_run_id
            from trafico_lib.runner.notebook import record_result, use_project_folder
            from trafico_lib.stores import open_store
            from trafico_lib.tables import TABLES, get_table

            use_project_folder(archive_path)  # opened in Jupyter: relative paths from the project folder, as for make
            cfg = load_config(config_path)
            store = open_store(cfg)
            run_id = run_id or new_run_id()
            names = [get_table(table).name] if table else list(TABLES)
            todo = {n: list(cfg.table(n).back_propagate) for n in names if cfg.table(n).back_propagate}
            print(f"run {run_id} on {store.name}{' (dry-run: nothing is written)' if dry_run else ''}")
            pd.DataFrame({"fields": todo}).rename_axis("table")
        """),
        md("plan-md", """
            ## Plan

            Per table, the source edits back-propagation would make: the source row, its key, the field, the
            value in the source (`old`) and the traffic desk's value (`new`). Nothing is written here.
        """),
        code("plan", """
            plans = {}
            with store.connect() as conn:
                for name, fields in todo.items():
                    s = cfg.table(name)
                    plans[name] = plan_back_propagation(conn, get_table(name), fields, s.key)
            print(", ".join(f"{n}: {len(p)} field changes" for n, p in plans.items()) or "no table to treat")
            pd.concat([p.assign(table=n) for n, p in plans.items()], ignore_index=True).head(30) if plans else None
        """),
        md("apply-md", """
            ## Apply

            One transaction per table, under the table's sync lock (a sync running at the same time makes it
            wait, then stop with a clear message). The source row's change timestamp is bumped like any edit.
            A dry run only plans.
        """),
        code("apply", """
            from trafico_lib.engine.lock import TableLocked

            results = []
            for name, fields in todo.items():
                s = cfg.table(name)
                with store.connect() as conn:
                    try:
                        res = back_propagate(conn, get_table(name), fields, run_id=run_id, key=s.key, dry_run=dry_run,
                                             lock_timeout=cfg.database.lock_timeout_seconds,
                                             updated_column=s.updated_column)
                        results.append(res.to_dict())
                    except TableLocked as exc:
                        results.append({"table": name, "run_id": run_id, "dry_run": dry_run, "status": "locked",
                                        "error": str(exc), "rows_updated": 0, "field_changes": 0})
            pd.DataFrame(results)
        """),
        md("summary-md", """
            ## Summary

            The last cell records the result for the runner, and fails the notebook if a table could not be
            treated, so the archive shows it.
        """),
        code("summary", """
            record_result({"run_id": run_id, "dry_run": dry_run, "results": results,
                           "status": "ok" if all(r["status"] == "ok" for r in results) else "error"})
            failed = [r for r in results if r["status"] != "ok"]
            if failed:
                raise RuntimeError("; ".join(f"{r['table']}: {r['error']}" for r in failed))
        """),
    ])


# ---- health check ------------------------------------------------------------------------------

def health_check_notebook() -> nbformat.NotebookNode:
    return notebook([
        md("title", """
            # Health check: is the sync healthy?

            The same facts as `python update_traficov2.py --health-check` (database connection, failed syncs
            and rejects of the last 24 hours, row counts of each source against its target, sync lag, the
            last run and its archive, disk space), as tables, then the plots people would rather look at
            than read: sync lag and rows changed per run over the last days, and rejects by rule.

            Scheduled runs: `make health` (papermill; archived under `runs/` with an HTML rendering).
        """),
        md("parameters-md", """
            ## Parameters

            papermill replaces these values. Never a secret.
        """),
        code("parameters", """
            config_path = None    # configuration file; None: ./trafico_config.json if present, else defaults
            run_id = None         # the runner's run id (shown in the archive name)
            archive_path = None   # set by the runner: where this executed copy is archived
            days = 7              # how many days of runs the plots show
        """, "parameters"),
        md("start-md", """
            ## Start

            The configuration and the store.
        """),
        code("start", """
            import matplotlib.pyplot as plt
            import pandas as pd
            from IPython.display import display

            from trafico_lib import health
            from trafico_lib.config import load_config
            from trafico_lib.runner.notebook import record_result, use_project_folder
            from trafico_lib.stores import open_store
            from trafico_lib.tables import TABLES

            use_project_folder(archive_path)  # opened in Jupyter: relative paths from the project folder, as for make
            cfg = load_config(config_path)
            store = open_store(cfg)
            SHORT = {spec.target: name for name, spec in TABLES.items()}
            print(f"database: {store.name}")
        """),
        md("facts-md", """
            ## The health block

            `health.gather_facts` collects every fact once; the block below is what the command line prints,
            and its verdict is the command's exit code (0 healthy, 1 unhealthy).
        """),
        code("facts", """
            facts = health.gather_facts(cfg)
            print(health.render_block(facts))
        """),
        md("counts-md", """
            ## Row counts: does each target account for every source row?

            Distinct normalized keys of the source against the target: synced, rejected (in
            `traficov2_sync_rejects`) or pending (changed after the stored watermark). Anything else is missing.
        """),
        code("counts", """
            COLS = ["source_keys", "synced_keys", "rejected_keys", "pending_keys", "missing_keys", "extra_keys",
                    "unkeyed_rows", "counts_ok", "lag_hours", "lag_ok", "last_run_id"]
            counts = pd.DataFrame([{"table": t["table"], **{c: t.get(c) for c in COLS}} for t in facts["tables"]])
            counts.set_index("table")
        """),
        md("last-md", """
            ## Last run and failures of the last 24 hours

            The last run's notebooks in the archive, and the `ERROR` rows of the log with their error line.
        """),
        code("last", """
            last = facts.get("last_run") or {}
            display(pd.DataFrame(last.get("tables", [])))
            failures = pd.DataFrame(facts.get("failed_syncs", []))
            print(f"Failed Syncs (24h): {facts.get('failed_syncs_24h')}")
            failures
        """),
        md("history-md", """
            ## Runs of the last days

            One row per table per run (`traficov2_sync_log`): its counts, the rows it changed and the lag since
            the same table's previous successful sync.
        """),
        code("history", """
            with store.connect() as conn:
                history = health.lag_history(conn, days=int(days))
                rejects = health.rejects_by_rule(conn, days=int(days))
            history = history.assign(table=history["table"].map(SHORT).fillna(history["table"]))
            history.tail(20)
        """),
        md("plot-changed-md", """
            ### Rows changed per run

            Inserted + updated + deactivated rows of each run, per table. A run that found nothing to do is an
            empty point at zero: that is what a healthy incremental schedule looks like.
        """),
        code("plot-changed", """
            fig, ax = plt.subplots(figsize=(9, 3.5))
            ok = history[history["operation"] == "SYNC"]
            for name, part in ok.groupby("table"):
                ax.plot(part["sync_timestamp"], part["rows_changed"], marker="o", label=name)
            if ok.empty:
                ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.legend(fontsize="small")
            ax.set_ylabel("rows changed")
            ax.set_title(f"Rows changed per run, last {days} days")
            fig.autofmt_xdate()
            fig.tight_layout()
            plt.show()
        """),
        md("plot-lag-md", """
            ### Sync lag

            Hours between a table's successive successful syncs, and the configured maximum
            (`health.max_lag_hours`): points above the line are what makes the check unhealthy.
        """),
        code("plot-lag", """
            fig, ax = plt.subplots(figsize=(9, 3.5))
            lagged = ok.dropna(subset=["lag_hours"])
            for name, part in lagged.groupby("table"):
                ax.plot(part["sync_timestamp"], part["lag_hours"], marker="o", label=name)
            ax.axhline(cfg.health.max_lag_hours, color="red", linestyle="--", linewidth=1, label="maximum")
            ax.legend(fontsize="small")
            ax.set_ylabel("hours since previous sync")
            ax.set_title(f"Sync lag per table, last {days} days")
            fig.autofmt_xdate()
            fig.tight_layout()
            plt.show()
        """),
        md("plot-rejects-md", """
            ### Rejects by rule

            Rows sent to `traficov2_sync_rejects`, by table and rule (blocking rules and database refusals).
        """),
        code("plot-rejects", """
            fig, ax = plt.subplots(figsize=(9, 3))
            if rejects.empty:
                ax.text(0.5, 0.5, "no rejects", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
            else:
                by = rejects.assign(label=rejects["table"].map(SHORT).fillna(rejects["table"]) + ": " + rejects["rule"])
                by.set_index("label")["rows"].sort_values().plot(kind="barh", ax=ax)
                ax.set_xlabel("rejected rows")
            ax.set_title(f"Rejects by rule, last {days} days")
            fig.tight_layout()
            plt.show()
            rejects
        """),
        md("summary-md", """
            ## Summary

            The last cell records the result for the runner: the verdict and the block as text.
        """),
        code("summary", """
            healthy = bool(facts.get("healthy"))
            latest = history.sort_values("sync_timestamp").groupby("table").tail(1).set_index("table")

            def number(v):
                return None if pd.isna(v) else int(v)

            tables = [{"table": t["table"], "counts_ok": t.get("counts_ok"), "lag_hours": t.get("lag_hours"),
                       "last_run_id": latest["run_id"].get(t["table"]),
                       "last_operation": latest["operation"].get(t["table"]),
                       **{c: number(latest[c].get(t["table"], float("nan")))
                          for c in ("inserted", "updated", "rejected", "deactivated")}}
                      for t in facts["tables"]]
            record_result({"status": "ok", "healthy": healthy, "problems": facts.get("problems", []),
                           "failed_24h": facts.get("failed_syncs_24h"), "runs": int(len(history)),
                           "tables": tables, "text": health.render_block(facts)})
            print("HEALTHY" if healthy else "UNHEALTHY: " + "; ".join(facts.get("problems", [])))
        """),
    ])


# ---- writing -----------------------------------------------------------------------------------

def build() -> dict[str, nbformat.NotebookNode]:
    """Every notebook, by file name."""
    out = {f"sync_{t}.ipynb": sync_notebook(t) for t in TABLE_STORIES}
    out["back_propagate.ipynb"] = back_propagate_notebook()
    out["health_check.ipynb"] = health_check_notebook()
    return out


def render(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from this source")
    p.add_argument("--out", default=str(OUT), help="folder to write (default: notebooks/)")
    args = p.parse_args(argv)
    out = Path(args.out)
    stale = []
    for name, nb in build().items():
        text = render(nb)
        path = out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if stale:
        print(f"stale notebooks (run scripts/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
