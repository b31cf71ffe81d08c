"""Benchmark: a full sync of N arribos rows against a raw COPY of the same rows (the floor).

    python scripts/bench.py 100000 1000000

For each size it prints seconds for: the raw COPY of the typed rows into an unindexed table
(floor), the first full sync (all inserts), a rerun with no change (must write nothing), and a
rerun after 10 % of the rows changed; the ratio of each to the floor; and the process's peak
memory. Runs on a throw-away embedded PostgreSQL under a temp folder.
"""
from __future__ import annotations

import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trafico_lib import pipeline  # noqa: E402
from trafico_lib.config import Config  # noqa: E402
from trafico_lib.rules.iso6346 import check_digit  # noqa: E402
from trafico_lib.sample import create_source_tables  # noqa: E402
from trafico_lib.schema import apply_migrations  # noqa: E402
from trafico_lib.stores import PostgresStore  # noqa: E402
from trafico_lib.stores.embedded import embedded_url, stop_embedded  # noqa: E402
from trafico_lib.tables import TABLES  # noqa: E402

OWNERS = ["MSCU", "MSKU", "TCNU", "CSQU", "GYOU", "RIPU", "SURU", "TGHU"]


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


def bench(n: int, url: str) -> dict:
    spec = TABLES["arribos"]
    if n > 1_000_000 * len(OWNERS):
        raise SystemExit("too many rows for unique keys")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        apply_migrations(c)
        create_source_tables(c)
        cols = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(x) for x in spec.column_names)
        with c.cursor() as cur, cur.copy(psycopg.sql.SQL("COPY arribos ({}) FROM STDIN").format(cols)) as cp:
            for r in rows(n):
                cp.write_row(r)
        # the floor: a raw COPY of the same rows into an unindexed table of the target's types
        c.execute("CREATE TABLE floor_copy AS SELECT * FROM traficov2_arribos WITH NO DATA")
        t0 = time.perf_counter()
        with c.cursor() as cur, cur.copy(psycopg.sql.SQL("COPY floor_copy ({}) FROM STDIN").format(cols)) as cp:
            for r in rows(n):
                cp.write_row(tuple(v if j not in (0, 2, 12) else None for j, v in enumerate(r)))
        floor = time.perf_counter() - t0
    cfg = Config()
    cfg.sync_settings["arribos"] = cfg.table("arribos").model_copy(update={"batch_size": 50_000})
    store = PostgresStore(url)
    out = {"rows": n, "floor_s": floor}
    for label, mode, change in (("first_full_s", "full", False), ("rerun_nochange_s", "incremental", False),
                                ("rerun_10pct_s", "incremental", True)):
        if change:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("""UPDATE arribos SET "Cliente" = "Cliente" || ' bis', updated_at = now() WHERE id % 10 = 0""")
        t0 = time.perf_counter()
        res = pipeline.run_table("arribos", mode=mode, cfg=cfg, store=store)
        out[label] = time.perf_counter() - t0
        assert res.status == "ok", res.error
        out[label.replace("_s", "_counts")] = res.counts
    out["peak_rss_mb"] = peak_mb()
    return out


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [100_000, 1_000_000]
    base = Path(tempfile.mkdtemp(prefix="trafico-bench-"))
    try:
        url = embedded_url(base / "pgdata")
        print(f"{'rows':>9} {'floor s':>8} {'full s':>8} {'x floor':>8} {'noop s':>8} {'10% s':>8} "
              f"{'x floor':>8} {'peak MB':>8}")
        for n in sizes:
            r = bench(n, url)
            print(f"{n:>9} {r['floor_s']:>8.2f} {r['first_full_s']:>8.2f} {r['first_full_s'] / r['floor_s']:>8.1f} "
                  f"{r['rerun_nochange_s']:>8.2f} {r['rerun_10pct_s']:>8.2f} "
                  f"{r['rerun_10pct_s'] / r['floor_s']:>8.1f} {r['peak_rss_mb']:>8.0f}", flush=True)
            assert r["rerun_nochange_counts"]["inserted"] == 0 and r["rerun_nochange_counts"]["updated"] == 0
            assert r["rerun_10pct_counts"]["updated"] == n // 10, r["rerun_10pct_counts"]
    finally:
        stop_embedded(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
