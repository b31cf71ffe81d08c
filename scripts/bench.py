"""Benchmark: every speed target of the project (issue 25, docs/architecture.md §9), PASS/FAIL.

    python scripts/bench.py                      # 100k and 1M rows (make bench; SIZES=100000 for less)
    python scripts/bench.py --quick              # 100k rows only, every target that size can judge
    python scripts/bench.py 100000 --batch-sizes 50,1000 --no-notebooks --no-rest

For each size it loads N arribos rows into the source table of a throw-away embedded
PostgreSQL and times two floors:

* ``COPY text``: the physical floor, a COPY FROM STDIN of the same rows as pre-rendered text
  (rendered before the clock starts) into an unindexed table of the target's types;
* ``write_row``: the same COPY fed row by row from Python tuples (what a hand-written loader
  costs; the floor this bench used before);

then, for each batch size, in a fresh process each (so each gets its own peak memory):

* ``full``: a full sync into an empty target;
* ``noop``: a full sync into the full target with no source change (must write nothing);
* ``inc_ts``: an incremental sync after 1 % of the rows changed (timestamp path);
* ``inc_hash``: the same without a change-timestamp column (row-hash path).

Each child imports trafico and Great Expectations, and validates one row (Great Expectations
builds its context once per process), before its clock starts: the times are a run's own work,
as in a process that keeps its imports (``make watch``, the shared kernel of a run's notebooks).
That start-up (``imports s``) is printed beside them, and the ratios a fresh process would see
(``cold``) beside the targets. Before each rerun the tables are vacuumed
and analyzed, untimed (see :func:`prepare`). The syncs run with the CSV roles off (the
cross-check against a CSV export and the daily CSV backup read or write whole files by design).

Targets (PASS/FAIL): full <= 4x the COPY text floor at the largest size; a 1 % incremental
<= 10 % of a full sync on both change paths at every size; a no-op <= 10 % of a full sync,
writing nothing; peak RSS at the largest size <= 1.5x the smallest. The Supabase REST store
(a real PostgREST, ``make postgrest``; ``--no-rest`` skips it) against the direct path at each
size: full <= 2x, no-op <= 3x, peak RSS bounded as the direct path's. The notebook path
(``--no-notebooks`` skips it), in a throw-away folder with the sample data, the real commands:
a no-op ``make sync`` of the four tables <= 3 s wall; the same with ``--no-notebook`` <= 1.5 s;
four tables of 2,000 rows with 5 % changed <= 6 s through the notebooks, each changed table
archived. Wall times are medians of 3. Last, the secret scrubber's time on texts of 100 KB and
1 MB shaped to defeat it (``--scrub-only`` runs just that): linear time is a ratio near 10, the
quadratic scrubber it replaced was near 100 (minutes at 1 MB).

The machine's load (``uptime``) is printed at the start and the end: on a shared machine the
ratios are what to read, not the seconds.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trafico_lib.rules.iso6346 import check_digit  # noqa: E402
from trafico_lib.tables import get_table  # noqa: E402

OWNERS = ["MSCU", "MSKU", "TCNU", "CSQU", "GYOU", "RIPU", "SURU", "TGHU"]
SCENARIOS = ("full", "noop", "inc_ts", "inc_hash")
SETTLED = datetime(2026, 10, 1, tzinfo=UTC)  # row i changed at SETTLED + i seconds


def rows(n: int, seed: int = 7):
    rnd = random.Random(seed)
    for i in range(n):
        owner = OWNERS[i % len(OWNERS)]
        code = owner + f"{(i // len(OWNERS)) % 1_000_000:06d}"  # unique below 8M rows
        cont = f"{code}{check_digit(code)}"
        yield (f"{rnd.randint(1, 28):02d}/11/2026", "Terminal Sur", f"{rnd.randint(6, 20):02d}00 ",
               f"{cont[:4]}-{cont[4:10]}-{cont[10]}" if i % 3 == 0 else cont, f"Cliente {i % 500}",
               f"BK{i:09d}", "NO", "DRY", "40", "IMPO", "", "Asignado",
               f"{rnd.randint(1000, 30000)},5", "NO", "" if i % 4 else f"Chofer {i % 90}")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cols(spec):
    return psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(x) for x in spec.column_names)


def typed_text(n: int) -> bytes:
    """The rows of :func:`rows` as COPY text of the target's types (a date, a time, a number
    where the target has them), rendered once: what the physical floor sends."""
    out = []
    for r in rows(n):
        v = list(r)
        v[0] = f"2026-11-{v[0][:2]}"
        v[2] = f"{v[2].strip()[:2]}:00"
        v[12] = v[12].replace(",", ".")
        out.append("\t".join(x if x != "" else "\\N" for x in v))
    return ("\n".join(out) + "\n").encode()


def load(url: str, n: int) -> dict[str, float]:
    """Fresh schema, N source rows; returns the floors (seconds): ``text``, a raw COPY of the rows
    as pre-rendered text (rendered before the clock starts), and ``write_row``, the rows sent
    one by one from Python (typed columns left empty, as this bench always did)."""
    from trafico_lib.sample import create_source_tables
    from trafico_lib.schema import apply_migrations
    spec = get_table("arribos")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        apply_migrations(c)
        create_source_tables(c)
        # changed over past days: outside the incremental look-back, as a settled table is
        with c.cursor() as cur, cur.copy(psycopg.sql.SQL("COPY arribos ({}, updated_at) FROM STDIN").format(
                _cols(spec))) as cp:
            for i, r in enumerate(rows(n)):
                cp.write_row((*r, SETTLED + timedelta(seconds=i)))
        floors = {}
        text = typed_text(n)
        for kind in ("text", "write_row"):
            c.execute("DROP TABLE IF EXISTS floor_copy")
            c.execute("CREATE TABLE floor_copy AS SELECT * FROM traficov2_arribos WITH NO DATA")
            statement = psycopg.sql.SQL("COPY floor_copy ({}) FROM STDIN").format(_cols(spec))
            t0 = time.perf_counter()
            with c.cursor() as cur, cur.copy(statement) as cp:
                if kind == "text":
                    for at in range(0, len(text), 1 << 20):
                        cp.write(text[at:at + (1 << 20)])
                else:
                    for r in rows(n):
                        cp.write_row(tuple(v if j not in (0, 2, 12) else None for j, v in enumerate(r)))
            floors[kind] = time.perf_counter() - t0
        c.execute("DROP TABLE floor_copy")
        c.execute("VACUUM (ANALYZE) arribos")
    return floors


def prepare(url: str, scenario: str) -> None:
    """The source change a scenario measures (before its run). Before a rerun, the tables are
    vacuumed and analyzed, untimed: in the hours between a load and the next run autovacuum
    does that; run at once, the rerun would share the two cores with autovacuum of the
    million rows just written (and the timings would say more about that than the rerun)."""
    with psycopg.connect(url, autocommit=True) as c:
        if scenario == "full":
            c.execute("TRUNCATE traficov2_arribos, traficov2_sync_changes, traficov2_sync_log, "
                      "traficov2_sync_state, traficov2_sync_rejects")
        elif scenario == "inc_ts":
            c.execute("""UPDATE arribos SET "Cliente" = "Cliente" || ' bis', updated_at = now() WHERE id % 100 = 0""")
        elif scenario == "inc_hash":
            c.execute("""UPDATE arribos SET "Cliente" = "Cliente" || ' ter' WHERE id % 100 = 1""")
            c.execute("ALTER TABLE arribos RENAME COLUMN updated_at TO changed_at")
        if scenario != "full":
            c.execute("VACUUM (ANALYZE) traficov2_arribos, arribos")


def restore(url: str, scenario: str) -> None:
    if scenario == "inc_hash":
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("ALTER TABLE arribos RENAME COLUMN changed_at TO updated_at")


def run_one(url: str, scenario: str, batch_size: int, *, rest: bool = False) -> dict:
    """One sync in this process (the child side of :func:`measure`), its imports done and the
    Great Expectations context built first (``imports``: their seconds); ``rest``: through the Supabase REST store (``BENCH_REST_URL``
    and ``BENCH_REST_KEY`` in the environment)."""
    import os
    from datetime import date
    t0 = time.perf_counter()
    import great_expectations  # noqa: F401 - what a process that keeps its imports has loaded

    from trafico_lib import pipeline
    from trafico_lib.config import Config
    from trafico_lib.engine.extract import frame_from_rows
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.rules.validate import validate
    from trafico_lib.stores import PostgresStore
    from trafico_lib.stores.rest.store import RestStore
    cfg = Config()
    # ...and the Great Expectations context it builds once (one row validated)
    spec = get_table("arribos")
    one = normalize_frame(frame_from_rows([[*next(rows(1)), "0", None]], spec), spec, date.today())
    validate(one.frame, spec, cfg, issues=one.issues)
    imports = time.perf_counter() - t0
    cfg.sync_settings["arribos"] = cfg.table("arribos").model_copy(update={"batch_size": batch_size})
    # the old tool's CSV roles read and write whole CSV files (the export to compare with, the
    # daily backup of the target) by design: measured is the sync itself
    cfg.csv_sources = cfg.csv_sources.model_copy(update={"enabled": False})
    mode = "full" if scenario in ("full", "noop") else "incremental"
    t0 = time.perf_counter()
    store = RestStore(os.environ["BENCH_REST_URL"], os.environ["BENCH_REST_KEY"]) if rest else PostgresStore(url)
    res = pipeline.run_table("arribos", mode=mode, cfg=cfg, store=store)
    return {"seconds": time.perf_counter() - t0, "imports": imports, "status": res.status, "error": res.error,
            "counts": res.counts, "rss_mb": peak_mb()}


def measure(url: str, scenario: str, batch_size: int, *, rest=None) -> dict:
    """``rest``: a running PostgREST (tests/rest_server.py) to sync through instead."""
    import os
    prepare(url, scenario)
    env = dict(os.environ)
    if rest is not None:
        env.update(BENCH_REST_URL=rest.url, BENCH_REST_KEY=rest.service_key)
    try:
        p = subprocess.run([sys.executable, __file__, "--child-rest" if rest else "--child", url, scenario,
                            str(batch_size)], capture_output=True, text=True, check=False, env=env)
    finally:
        restore(url, scenario)
    if p.returncode != 0:
        raise SystemExit(f"{scenario} (batch {batch_size}) failed: {p.stderr.strip().splitlines()[-1:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if out["status"] != "ok":
        raise SystemExit(f"{scenario} (batch {batch_size}): {out['status']}: {out['error']}")
    return out


def median_runs(runs: list[dict]) -> dict:
    """The median run (by seconds) of repeats, with the largest peak RSS of them all."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    out = dict(ordered[len(ordered) // 2])
    out["rss_mb"] = max(r["rss_mb"] for r in runs)
    return out


def measure_all(url: str, batch_size: int, repeat: int, *, rest=None) -> dict[str, dict]:
    """Every scenario, ``repeat`` times interleaved (full, noop, inc_ts, inc_hash, full, ...): the median of each."""
    runs: dict[str, list[dict]] = {s: [] for s in SCENARIOS}
    for _ in range(repeat):
        for s in SCENARIOS:
            runs[s].append(measure(url, s, batch_size, rest=rest))
    return {s: median_runs(r) for s, r in runs.items()}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "(uptime not available)"


# ---- the notebook path (the real commands, in a throw-away folder) ---------------------------

NB_TABLES = ("arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns")


def _container(i: int) -> str:
    code = f"TRBU{i:06d}"
    return f"{code}{check_digit(code)}"


def grow_sources(url: str, n: int) -> None:
    """Each sample source table grown to ``n`` rows: its rows again, each copy with a key of its
    own (a valid container number; a remisión's Operacion; an expo row's booking)."""
    from psycopg import sql
    with psycopg.connect(url, autocommit=True) as c:
        for t, table in enumerate(NB_TABLES):
            spec = get_table(table)
            cols = list(spec.column_names)
            have = c.execute(sql.SQL("SELECT {} FROM {} ORDER BY id").format(_cols(spec), sql.Identifier(spec.source))
                             ).fetchall()
            new = []
            for i in range(max(0, n - len(have))):
                row = dict(zip(cols, have[i % len(have)]))
                serial = t * 100_000 + i
                row["Contenedor"] = _container(serial)
                if table == "remisiones":
                    row["Operacion"] = f"{60000 + i}-1-1"
                if table == "arribos_expo_ctns":
                    row["Booking"], row["Cantidad"] = f"BKG{28000000 + i}", "1"
                new.append([row[k] for k in cols])
            with c.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(spec.source), _cols(spec))) as cp:
                for r in new:
                    cp.write_row(r)
            c.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(spec.source)))


def change_share(url: str, share: int, offset: int) -> None:
    """One row in ``share`` of each source table changed (its Cliente; its change time where it has one)."""
    from psycopg import sql

    from trafico_lib.sample import SOURCE_UPDATED_COLUMN
    with psycopg.connect(url, autocommit=True) as c:
        for table in NB_TABLES:
            spec = get_table(table)
            stamp = SOURCE_UPDATED_COLUMN.get(table)
            c.execute(sql.SQL("UPDATE {} SET \"Cliente\" = coalesce(\"Cliente\", '') || ' *'{} WHERE id % {} = {}").format(
                sql.Identifier(spec.source),
                sql.SQL(", {} = now()").format(sql.Identifier(stamp)) if stamp else sql.SQL(""),
                sql.Literal(share), sql.Literal(offset % share)))


def notebook_targets(repeat: int = 3) -> list[tuple[str, float, float, str]]:
    """(what, median seconds, target seconds, note) of the notebook path's targets, each
    measured with the real commands in a throw-away folder (config, embedded database, archive)."""
    work = Path(tempfile.mkdtemp(prefix="trafico-bench-nb-"))
    (work / "trafico_config.json").write_text(json.dumps({
        "csv_sources": {"data_path": str(ROOT / "data")}, "audit_archive": {"path": "runs"},
        "runner": {"reports_dir": "reports"}}), encoding="utf-8")
    cli = [sys.executable, str(ROOT / "update_traficov2.py")]
    runner = [sys.executable, "-m", "trafico_lib.runner", "sync"]
    incremental = ["--params", str(ROOT / "params" / "incremental.yaml")]

    def timed(args: list[str]) -> float:
        t0 = time.perf_counter()
        p = subprocess.run(args, cwd=work, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        if p.returncode != 0:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-3:]
            raise SystemExit(f"{' '.join(args[1:4])} failed (exit {p.returncode}): {tail}")
        return seconds

    def archived() -> set[Path]:
        return set((work / "runs").rglob("*.ipynb")) if (work / "runs").exists() else set()

    out = []
    try:
        for args in (["--init-db"], ["--load-samples"], ["--mode", "full", "--no-notebook"]):
            subprocess.run(cli + args, cwd=work, check=True, capture_output=True)
        from trafico_lib.stores.embedded import embedded_url
        url = embedded_url(work / ".trafico" / "pgdata")
        timed(runner + incremental)  # settles (the first incremental after a full run)
        rows = sum(psycopg.connect(url).execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(
            psycopg.sql.Identifier(get_table(t).source))).fetchone()[0] for t in NB_TABLES)
        noop = sorted(timed(runner + incremental) for _ in range(repeat))[repeat // 2]
        out.append((f"no-op `make sync`, the four demo tables ({rows} rows), wall", noop, 3.0, ""))
        lib = sorted(timed(cli + ["--no-notebook"]) for _ in range(repeat))[repeat // 2]
        out.append(("the same with `--no-notebook`, wall", lib, 1.5, ""))
        grow_sources(url, 2000)
        subprocess.run(cli + ["--mode", "full", "--no-notebook"], cwd=work, check=True, capture_output=True)
        timed(runner + incremental)
        times, notes = [], []
        for k in range(repeat):
            change_share(url, 20, k + 1)
            before = archived()
            times.append(timed(runner + incremental))
            notes.append(len(archived() - before))
        ok = all(n >= len(NB_TABLES) for n in notes)
        out.append(("four tables of 2,000 rows, 5 % changed, through the notebooks, wall",
                    sorted(times)[repeat // 2], 6.0 if ok else -1.0,
                    f"notebooks archived per run: {notes} (each changed table: {verdict(ok)})"))
    finally:
        from trafico_lib.stores.embedded import stop_embedded
        stop_embedded(work / ".trafico" / "pgdata")
        shutil.rmtree(work, ignore_errors=True)
    return out


def notebook_overhead() -> list[tuple[str, float, float]]:
    """(table, seconds through the notebook, seconds through the library) on the sample data."""
    work = Path(tempfile.mkdtemp(prefix="trafico-bench-nb-"))
    (work / "trafico_config.json").write_text(json.dumps({
        "csv_sources": {"data_path": str(ROOT / "data")}, "audit_archive": {"path": "runs"},
        "runner": {"reports_dir": "reports"}}), encoding="utf-8")
    cli = [sys.executable, str(ROOT / "update_traficov2.py")]
    out = []
    try:
        for args in (["--init-db"], ["--load-samples"]):
            subprocess.run(cli + args, cwd=work, check=True, capture_output=True)
        from trafico_lib.stores.embedded import embedded_url
        url = embedded_url(work / ".trafico" / "pgdata")
        for table in NB_TABLES:
            times = []
            for extra in ([], ["--no-notebook"]):
                with psycopg.connect(url, autocommit=True) as c:  # the same work both ways: into an empty target
                    c.execute(psycopg.sql.SQL("TRUNCATE {}, traficov2_sync_state").format(
                        psycopg.sql.Identifier(get_table(table).target)))
                t0 = time.perf_counter()
                subprocess.run(cli + ["--table", table, "--mode", "full", *extra], cwd=work, check=True,
                               capture_output=True)
                times.append(time.perf_counter() - t0)
            out.append((table, *times))
    finally:
        from trafico_lib.stores.embedded import stop_embedded
        stop_embedded(work / ".trafico" / "pgdata")
        shutil.rmtree(work, ignore_errors=True)
    return out


def rest_costs(url: str, sizes: list[int], direct: dict, repeat: int) -> dict[int, dict] | None:
    """The REST store (through a real PostgREST, tests/rest_server.py) at each size, batch 1000:
    full sync and no-op (median of ``repeat``), against the direct path's ``direct[size]``."""
    sys.path.insert(0, str(ROOT / "tests"))
    import rest_server as harness
    reason = harness.missing_reason()
    if reason:
        print(f"\nREST store: skipped ({reason})")
        return None
    out = {}
    print("\nSupabase REST store (PostgREST, batch 1000) against the direct path:", flush=True)
    for n in sizes:
        load(url, n)
        harness.setup_supabase_roles(url)
        work = Path(tempfile.mkdtemp(prefix="trafico-bench-rest-"))
        try:
            with harness.running(url, work) as server:
                runs: dict[str, list[dict]] = {"full": [], "noop": []}
                for _ in range(repeat):
                    for s in ("full", "noop"):
                        runs[s].append(measure(url, s, 1000, rest=server))
                r = {s: median_runs(x) for s, x in runs.items()}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out[n] = r
        for s in ("full", "noop"):
            print(f"  {n:>9} {s:<5} REST {r[s]['seconds']:7.2f} s  direct {direct[n][s]['seconds']:7.2f} s  "
                  f"REST/direct {r[s]['seconds'] / direct[n][s]['seconds']:5.1f}x  peak {r[s]['rss_mb']:.0f} MB",
                  flush=True)
    return out


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def target(text: str, ok: bool, detail: str) -> None:
    print(f"  {verdict(ok)}  {text} ({detail})", flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] in (["--child"], ["--child-rest"]):
        url, scenario, batch_size = argv[1], argv[2], int(argv[3])
        print(json.dumps(run_one(url, scenario, batch_size, rest=argv[0] == "--child-rest"), default=str))
        return 0
    ap = argparse.ArgumentParser(prog="scripts/bench.py", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--quick", action="store_true", help="100k rows only, each scenario 3 times (median)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per scenario, interleaved, median taken (default 3 below 1M rows, else 1)")
    ap.add_argument("--batch-sizes", default="1000", help="comma-separated (default the default 1000)")
    ap.add_argument("--no-notebooks", action="store_true", help="skip the notebook path's targets")
    ap.add_argument("--notebooks-only", action="store_true", help="only the notebook path's targets")
    ap.add_argument("--notebook-overhead", action="store_true", help="also the notebook path's overhead per table")
    ap.add_argument("--no-rest", action="store_true", help="skip the Supabase REST store (PostgREST) rows")
    ap.add_argument("--scrub-only", action="store_true", help="only the secret scrubber's cost on long texts")
    args = ap.parse_args(argv)
    print(f"load at start: {uptime()}", flush=True)
    if args.scrub_only:
        print_scrub_cost()
        return 0
    if args.notebooks_only:
        print_notebook_targets()
        return 0
    sizes = [100_000] if args.quick else sorted(set(args.sizes))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    from trafico_lib.stores.embedded import embedded_url, stop_embedded
    base = Path(tempfile.mkdtemp(prefix="trafico-bench-"))
    results: dict[tuple[int, int], dict] = {}
    floors: dict[int, dict[str, float]] = {}
    rest = None
    try:
        url = embedded_url(base / "pgdata")
        print(f"{'rows':>9} {'batch':>6} {'COPY text':>9} {'write_row':>9} " + " ".join(f"{s + ' s':>10}" for s in SCENARIOS)
              + f" {'imports s':>9} {'full/text':>9} {'noop/full':>9} {'ts/full':>7} {'hash/full':>9} {'peak MB':>8}",
              flush=True)
        for n in sizes:
            repeat = args.repeat or (3 if n < 1_000_000 else 1)
            floors[n] = load(url, n)
            for b in batch_sizes:
                r = measure_all(url, b, repeat)
                results[(n, b)] = r
                full = r["full"]["seconds"]
                print(f"{n:>9} {b:>6} {floors[n]['text']:>9.2f} {floors[n]['write_row']:>9.2f} "
                      + " ".join(f"{r[s]['seconds']:>10.2f}" for s in SCENARIOS)
                      + f" {r['full']['imports']:>9.2f} {full / floors[n]['text']:>9.1f}"
                      f" {r['noop']['seconds'] / full:>9.2f} {r['inc_ts']['seconds'] / full:>7.2f}"
                      f" {r['inc_hash']['seconds'] / full:>9.2f} {max(x['rss_mb'] for x in r.values()):>8.0f}",
                      flush=True)
        if not args.no_rest:
            rest = rest_costs(url, sizes, {n: results[(n, 1000)] if (n, 1000) in results else results[(n, batch_sizes[0])]
                                           for n in sizes}, args.repeat or (3 if max(sizes) < 1_000_000 else 1))
    finally:
        stop_embedded(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)
    nb = None if args.no_notebooks else notebook_targets()
    big, small = max(sizes), min(sizes)
    print("\ntargets (issue 25, docs/architecture.md §9); times are a run's own, its imports done "
          "(the cold ratios below add them):")
    for b in batch_sizes:
        r = results[(big, b)]
        full_big = r["full"]["seconds"]
        target(f"batch {b}: full sync <= 4x a raw COPY of the same rows (pre-rendered text) at {big:,} rows",
               full_big <= 4 * floors[big]["text"],
               f"{full_big / floors[big]['text']:.1f}x; {full_big / floors[big]['write_row']:.1f}x the write_row floor")
        for n in sizes:
            rn = results[(n, b)]
            full = rn["full"]["seconds"]
            noop_written = rn["noop"]["counts"]["inserted"] + rn["noop"]["counts"]["updated"]
            target(f"batch {b}: no-op <= 10% of a full sync and writes nothing at {n:,} rows",
                   rn["noop"]["seconds"] <= 0.1 * full and noop_written == 0,
                   f"{rn['noop']['seconds'] / full:.0%}, {noop_written} rows written")
            for s, path in (("inc_ts", "timestamp"), ("inc_hash", "row hash")):
                imports = rn[s]["imports"]
                target(f"batch {b}: 1% incremental <= 10% of a full sync at {n:,} rows, by {path}",
                       rn[s]["seconds"] <= 0.1 * full,
                       f"{rn[s]['seconds'] / full:.0%}; cold, imports included: "
                       f"{(rn[s]['seconds'] + imports) / (full + imports):.0%}")
        if big != small:
            peak = {n: max(x["rss_mb"] for x in results[(n, b)].values()) for n in (small, big)}
            target(f"batch {b}: peak RSS at {big:,} <= 1.5x at {small:,}", peak[big] <= 1.5 * peak[small],
                   f"{peak[big]:.0f} MB vs {peak[small]:.0f} MB")
    if rest:
        for n, r in rest.items():
            d = results[(n, 1000)] if (n, 1000) in results else results[(n, batch_sizes[0])]
            ratio = {s: r[s]["seconds"] / d[s]["seconds"] for s in ("full", "noop")}
            target(f"REST full sync <= 2x direct at {n:,} rows", ratio["full"] <= 2,
                   f"{ratio['full']:.1f}x: {r['full']['seconds']:.2f} s vs {d['full']['seconds']:.2f} s")
            target(f"REST no-op <= 3x direct at {n:,} rows", ratio["noop"] <= 3,
                   f"{ratio['noop']:.1f}x: {r['noop']['seconds']:.2f} s vs {d['noop']['seconds']:.2f} s")
        if len(rest) > 1:
            peak = {n: max(x["rss_mb"] for x in rest[n].values()) for n in (small, big)}
            target(f"REST peak RSS at {big:,} <= 1.5x at {small:,}", peak[big] <= 1.5 * peak[small],
                   f"{peak[big]:.0f} MB vs {peak[small]:.0f} MB")
    if nb is not None:
        print_notebook_rows(nb)
    if args.notebook_overhead:
        print_notebook_overhead()
    print_scrub_cost()
    print(f"load at end: {uptime()}")
    return 0


def print_notebook_rows(rows: list[tuple[str, float, float, str]]) -> None:
    for what, seconds, limit, note in rows:
        ok = limit >= 0 and seconds <= limit
        shown = f" <= {limit:g} s" if limit >= 0 else ""
        target(f"{what}{shown}", ok, f"{seconds:.2f} s median of 3{'; ' + note if note else ''}")


def print_notebook_targets() -> None:
    print("\nthe notebook path (the real commands, a throw-away folder):")
    print_notebook_rows(notebook_targets())


def scrub_texts(size: int) -> dict[str, str]:
    """Texts of ``size`` characters in the shapes that made the old scrubber rescan: one long
    word, runs of URL, key=value and JWT heads that never complete, words with an @."""
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]
    return {"one word": fill("a"), "URL heads": fill("a://a:"), "key=value heads": fill("pwd={ "),
            "JWT heads": fill("eyJ"), "words with @": fill("u:p@h "),
            "mixed": fill("Realizado 28/11 x:y@z eyJabcdefghij.abcdefghij password='p' ")}


def print_scrub_cost(sizes: tuple[int, int] = (100_000, 1_000_000)) -> None:
    from trafico_lib.errors import scrub
    small, big = sizes
    seconds = {}
    for n in sizes:
        for shape, text in scrub_texts(n).items():
            t0 = time.perf_counter()
            scrub(text, ["Pl4nted-S3cret"])
            seconds[(shape, n)] = time.perf_counter() - t0
    worst = max(scrub_texts(small), key=lambda s: seconds[(s, big)] / max(seconds[(s, small)], 1e-6))
    ratio = seconds[(worst, big)] / max(seconds[(worst, small)], 1e-6)
    total = sum(seconds[(s, big)] for s in scrub_texts(small))
    print(f"\nsecret scrubber, {big // 1000} KB vs {small // 1000} KB of text: {ratio:.0f}x the time at worst "
          f"({worst}; linear ~{big // small}x, quadratic ~{(big // small) ** 2}x), "
          f"{total:.2f} s for every shape at {big // 1000} KB: {verdict(ratio <= 3 * big / small)}")


def print_notebook_overhead() -> None:
    print("\nnotebook path vs --no-notebook, full sync of the sample data into an empty target, per table (s):")
    for table, nb, lib in notebook_overhead():
        print(f"  {table:<25} notebook {nb:6.1f}  library {lib:6.1f}  overhead {nb - lib:6.1f}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
