"""Benchmark: the sync against a raw COPY of the same rows (the floor), at the users' batch sizes.

    python scripts/bench.py                      # 100k and 1M rows, batch sizes 50 and 1000
    python scripts/bench.py 100000 --batch-sizes 50,1000 --notebooks

For each size it loads N arribos rows into the source table of a throw-away embedded
PostgreSQL and times, for each batch size, in a fresh process each (so each gets its own
peak memory):

* ``floor``: a raw COPY of the same typed rows into an unindexed table;
* ``full``: a full sync into an empty target;
* ``noop``: a full sync into the full target with no source change (must write nothing);
* ``inc_ts``: an incremental sync after 1 % of the rows changed (timestamp path);
* ``inc_hash``: the same without a change-timestamp column (row-hash path).

Before each rerun the tables are vacuumed and analyzed, untimed (see :func:`prepare`). The syncs run with the CSV roles off (the cross-check against a CSV export and the daily CSV
backup read or write whole files by design). It prints seconds, the ratio to the floor, the
peak RSS, and PASS/FAIL for the targets of
docs/architecture.md §9: full <= 3x the floor at the largest size; a no-op <= 10 % of a full sync and
writing nothing; a 1 % incremental (timestamp path) <= 10 % of a full sync; peak RSS at the
largest size <= 1.5x the peak at the smallest. ``--notebooks`` adds the notebook path's
overhead per table against ``--no-notebook`` on the sample data. At the smallest size, the
Supabase REST store (through a real PostgREST, ``make postgrest``) is timed against the direct
path for a full sync and a no-op (``--no-rest`` skips it). Last, the secret scrubber's time on
texts of 100 KB and 1 MB shaped to defeat it (``--scrub-only`` runs just that): linear time is a
ratio near 10, the quadratic scrubber it replaced was near 100 (minutes at 1 MB).
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trafico_lib.rules.iso6346 import check_digit  # noqa: E402
from trafico_lib.tables import get_table  # noqa: E402

OWNERS = ["MSCU", "MSKU", "TCNU", "CSQU", "GYOU", "RIPU", "SURU", "TGHU"]
SCENARIOS = ("full", "noop", "inc_ts", "inc_hash")
SETTLED = datetime(2026, 10, 1, tzinfo=timezone.utc)  # row i changed at SETTLED + i seconds


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


def load(url: str, n: int) -> float:
    """Fresh schema, N source rows; returns the floor (seconds of a raw COPY of the typed rows)."""
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
        c.execute("CREATE TABLE floor_copy AS SELECT * FROM traficov2_arribos WITH NO DATA")
        t0 = time.perf_counter()
        with c.cursor() as cur, cur.copy(psycopg.sql.SQL("COPY floor_copy ({}) FROM STDIN").format(_cols(spec))) as cp:
            for r in rows(n):
                cp.write_row(tuple(v if j not in (0, 2, 12) else None for j, v in enumerate(r)))
        floor = time.perf_counter() - t0
        c.execute("DROP TABLE floor_copy")
    return floor


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
    """One sync in this process (the child side of :func:`measure`); ``rest``: through the
    Supabase REST store (``BENCH_REST_URL`` and ``BENCH_REST_KEY`` in the environment)."""
    import os

    from trafico_lib import pipeline
    from trafico_lib.config import Config
    from trafico_lib.stores import PostgresStore
    from trafico_lib.stores.rest.store import RestStore
    cfg = Config()
    cfg.sync_settings["arribos"] = cfg.table("arribos").model_copy(update={"batch_size": batch_size})
    # the old tool's CSV roles read and write whole CSV files (the export to compare with, the
    # daily backup of the target) by design: measured is the sync itself
    cfg.csv_sources = cfg.csv_sources.model_copy(update={"enabled": False})
    mode = "full" if scenario in ("full", "noop") else "incremental"
    t0 = time.perf_counter()
    store = RestStore(os.environ["BENCH_REST_URL"], os.environ["BENCH_REST_KEY"]) if rest else PostgresStore(url)
    res = pipeline.run_table("arribos", mode=mode, cfg=cfg, store=store)
    return {"seconds": time.perf_counter() - t0, "status": res.status, "error": res.error,
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
        for table in ("arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns"):
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


def rest_costs(url: str, n: int, results: dict) -> None:
    """The REST store (through a real PostgREST, tests/rest_server.py) against the direct path,
    at ``n`` rows and the default batch size: full sync and no-op, printed as a ratio."""
    sys.path.insert(0, str(ROOT / "tests"))
    import rest_server as harness
    reason = harness.missing_reason()
    if reason:
        print(f"\nREST store: skipped ({reason})")
        return
    load(url, n)  # the rows of the size measured (the floors printed above stay as measured)
    harness.setup_supabase_roles(url)
    work = Path(tempfile.mkdtemp(prefix="trafico-bench-rest-"))
    try:
        with harness.running(url, work) as server:
            r = {s: measure(url, s, 1000, rest=server) for s in ("full", "noop")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    direct = results.get((n, 1000)) or results[next(k for k in results if k[0] == n)]
    print(f"\nSupabase REST store (PostgREST, batch 1000) at {n} rows:")
    for s in ("full", "noop"):
        print(f"  {s:<5} REST {r[s]['seconds']:7.2f} s  direct {direct[s]['seconds']:7.2f} s  "
              f"REST/direct {r[s]['seconds'] / direct[s]['seconds']:5.1f}x  peak {r[s]['rss_mb']:.0f} MB")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str]) -> int:
    if argv[:1] in (["--child"], ["--child-rest"]):
        url, scenario, batch_size = argv[1], argv[2], int(argv[3])
        print(json.dumps(run_one(url, scenario, batch_size, rest=argv[0] == "--child-rest"), default=str))
        return 0
    ap = argparse.ArgumentParser(prog="scripts/bench.py", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    ap.add_argument("--batch-sizes", default="50,1000", help="comma-separated (default 50 and the default 1000)")
    ap.add_argument("--notebooks", action="store_true", help="also the notebook path's overhead per table")
    ap.add_argument("--notebooks-only", action="store_true", help="only the notebook path's overhead")
    ap.add_argument("--no-rest", action="store_true", help="skip the Supabase REST store (PostgREST) rows")
    ap.add_argument("--scrub-only", action="store_true", help="only the secret scrubber's cost on long texts")
    args = ap.parse_args(argv)
    if args.notebooks_only:
        print_notebook_overhead()
        return 0
    if args.scrub_only:
        print_scrub_cost()
        return 0
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    from trafico_lib.stores.embedded import embedded_url, stop_embedded
    base = Path(tempfile.mkdtemp(prefix="trafico-bench-"))
    results: dict[tuple[int, int], dict] = {}
    floors: dict[int, float] = {}
    try:
        url = embedded_url(base / "pgdata")
        print(f"{'rows':>9} {'batch':>6} {'floor s':>8} " + " ".join(f"{s + ' s':>10}" for s in SCENARIOS)
              + f" {'full/floor':>10} {'noop/full':>9} {'inc/full':>8} {'peak MB':>8}", flush=True)
        for n in args.sizes:
            floors[n] = load(url, n)
            for b in batch_sizes:
                r = {s: measure(url, s, b) for s in SCENARIOS}
                results[(n, b)] = r
                print(f"{n:>9} {b:>6} {floors[n]:>8.2f} "
                      + " ".join(f"{r[s]['seconds']:>10.2f}" for s in SCENARIOS)
                      + f" {r['full']['seconds'] / floors[n]:>10.1f} {r['noop']['seconds'] / r['full']['seconds']:>9.2f}"
                      f" {r['inc_ts']['seconds'] / r['full']['seconds']:>8.2f}"
                      f" {max(x['rss_mb'] for x in r.values()):>8.0f}", flush=True)
        if not args.no_rest:
            rest_costs(url, min(args.sizes), results)
    finally:
        stop_embedded(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)
    big, small = max(args.sizes), min(args.sizes)
    print("\ntargets (docs/architecture.md §9):")
    for b in batch_sizes:
        r = results[(big, b)]
        noop_written = r["noop"]["counts"]["inserted"] + r["noop"]["counts"]["updated"]
        print(f"  batch {b:>5}: full <= 3x floor at {big}: {verdict(r['full']['seconds'] <= 3 * floors[big])}"
              f" ({r['full']['seconds'] / floors[big]:.1f}x)"
              f"; no-op <= 10% of full and writes nothing: "
              f"{verdict(r['noop']['seconds'] <= 0.1 * r['full']['seconds'] and noop_written == 0)}"
              f" ({r['noop']['seconds'] / r['full']['seconds']:.0%}, {noop_written} rows written)"
              f"; 1% incremental <= 10% of full: {verdict(r['inc_ts']['seconds'] <= 0.1 * r['full']['seconds'])}"
              f" ({r['inc_ts']['seconds'] / r['full']['seconds']:.0%})")
        if big != small:
            peak = {n: max(x["rss_mb"] for x in results[(n, b)].values()) for n in (small, big)}
            print(f"               peak RSS at {big} <= 1.5x at {small}: {verdict(peak[big] <= 1.5 * peak[small])}"
                  f" ({peak[big]:.0f} MB vs {peak[small]:.0f} MB)")
    if args.notebooks:
        print_notebook_overhead()
    print_scrub_cost()
    return 0


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
