"""Replay the takeover of a live old-tool deployment on real snapshots, with the real old tool
(a developer's tool, issue 22).

The old tool's repository committed the depot's live tables every few minutes under ``data/``
(see ``replay_snapshots.py``). This tool picks ``--old-runs + --runs`` of those commits between
``--since`` and ``--until`` and, on a fresh embedded PostgreSQL set up as a Supabase project
(its API roles, a real PostgREST in front, ``tests/rest_server.py``):

1. creates the source tables (``trafico_lib.sample``: text columns) and the old tool's TráficoV2
   tables from ITS ``create_tables_traficov2.sql`` at the first commit (the ``trafico_otros``
   index lines dropped: that table does not exist, the script fails there), plus the desk's
   columns its app writes by id (``tests/old_deployment.py``) and the source columns the old tool
   copies that its DDL lacks (its own log shows those inserts succeed, so the live tables had them);
2. runs the REAL old tool (``update_traficov2.py`` + ``supabase_connection2.py`` +
   ``trafico_config.json`` of that commit, a ``tokens.py`` written here with the PostgREST URL and
   service key) over the first ``--old-runs`` snapshots, each loaded into the source tables as the
   live pipeline loads them (all rows deleted, the snapshot inserted); then the desk: a lowercase
   ``chofer`` and its ``Observaciones`` (remisiones: ``Observaciones trafico``) typed on a few
   rows by id through PostgREST with the anon key, as its app does;
3. switches to trafico in place as README's "Migrating from the old script" says, with the old
   ``trafico_config.json`` as it is: ``--print-sql`` run as the SQL editor runs it (REST store,
   ``url_supabase``/``key_supabase``), or ``--init-db`` (direct store, ``TRAFICO_DATABASE_URL``);
   then ``--dry-run``, then ``--runs`` syncs over the next snapshots (``--no-notebook``, incremental
   with a full run every ``--full-every``), then one more run on the last snapshot;
4. prints per run and in a summary: old rows adopted / unmatched / duplicates / unkeyed, failed
   runs, active rows sharing a business key, old ids lost, desk values changed, dates the desk's
   app cannot parse (``old_deployment.desk_unparsed``: in active rows; the old tool's own values
   still in adopted rows that have no source row, and inactive rows, apart), rows rejected, and
   what the repeated last run wrote (should be nothing). Exit 1 when any of these went wrong.

``--numeric-pendiente`` gives the source ``pendiente_desconsolidar`` number columns for ``Peso``
and ``Cantidad`` (its exports say ``13.0``: with text the old tool's inserts into its INTEGER
``Cantidad`` all fail, so it leaves that table empty; its own log shows them succeed live).

Not run by the tests or CI (the mirror is not there). Nothing of the replayed data is written
into the repository; the scratch folder is removed unless ``--keep``.

    .venv/bin/python scripts/replay_takeover.py --mirror /path/to/dassa_operativo_stream.git \\
        --since 2026-07-15 --until 2026-07-18 --old-runs 5 --runs 10 --store both
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
for _p in (HERE, HERE / "tests", HERE / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import replay_snapshots as snaps  # noqa: E402  (the snapshot helpers: FILES, git, pick_commits, ...)
import rest_server  # noqa: E402  (Supabase's roles and a real PostgREST)
from old_deployment import OLD_DDL, desk_unparsed  # noqa: E402

from trafico_lib.tables import TABLES  # noqa: E402

OLD_TOOL = ("update_traficov2.py", "supabase_connection2.py")
POOL = "arribos_expo_semana_ctns.csv"  # the old config's csv_sources.files.arribos_expo_ctns
TARGETS = [TABLES[name].target for name in snaps.FILES]
DESK_NOTE = {"traficov2_remisiones": "Observaciones trafico"}  # else "Observaciones"
DESK_ROWS = 3  # rows per table the desk types on
# --numeric-pendiente: the live source's Peso and Cantidad as numbers. Its exports say "13.0";
# the old tool's log shows its inserts into its INTEGER Cantidad succeed, which a text "13.0"
# never does (PostgreSQL renders a float8 13.0 as 13 in JSON).
NUMERIC_PENDIENTE = """ALTER TABLE pendiente_desconsolidar
    ALTER COLUMN "Peso" TYPE double precision USING "Peso"::double precision,
    ALTER COLUMN "Cantidad" TYPE double precision USING "Cantidad"::double precision"""


# ---- setting up the old deployment ------------------------------------------------------------

def old_ddl(mirror: Path, commit: str) -> str:
    """The old tool's DDL at ``commit`` without its ``trafico_otros`` index lines, then the desk's
    columns (the ALTERs of tests/old_deployment.OLD_DDL)."""
    ddl = snaps.git(mirror, "show", f"{commit}:create_tables_traficov2.sql").decode("utf-8-sig")
    kept = "\n".join(line for line in ddl.splitlines() if "trafico_otros" not in line)
    desk = OLD_DDL[OLD_DDL.index("-- the columns the desk's app writes"):]
    return kept + "\n" + desk


def add_copied_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every source column the old tool copies into a target that lacks it, added as text (the
    old tool writes every source column but ``id``; the expo table gets its aggregate only)."""
    added = {}
    for spec in TABLES.values():
        if spec.slots:
            continue
        have = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [spec.target])}
        src = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [spec.source])]
        missing = [c for c in src if c not in have and c != "id"]
        for c in missing:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} text").format(sql.Identifier(spec.target),
                                                                             sql.Identifier(c)))
        if missing:
            added[spec.target] = missing
    return added


def write_snapshot(mirror: Path, commit: str, folder: Path) -> None:
    """The commit's exports (and the old config's container pool) into ``folder``; a file the
    commit lacks keeps its last version."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in [n for _, n in snaps.FILES.values()] + [POOL]:
        try:
            (folder / name).write_bytes(snaps.git(mirror, "show", f"{commit}:data/{name}"))
        except subprocess.CalledProcessError:
            pass


def load_sources(url: str, snap_root: Path) -> dict[str, int]:
    """The snapshot in ``snap_root/data`` into the source tables as the live pipeline does it:
    every row deleted, the snapshot inserted (ids go on counting)."""
    from trafico_lib.config import load_config
    from trafico_lib.sample import _copy_rows, _text_rows
    from trafico_lib.sources.csv import read_table_csv
    cfg = load_config(snaps.config(snap_root, url), env_file=None)
    # a column the export lacks (the week's arrivals have no Tiempo, no Chofer) is loaded empty
    frames = {spec.name: read_table_csv(cfg, spec) for spec in TABLES.values()}
    with psycopg.connect(url) as conn:  # a number column (--numeric-pendiente) gets no "-"
        numeric = conn.execute("SELECT table_name, column_name FROM information_schema.columns WHERE "
                               "table_schema = 'public' AND data_type = 'double precision'").fetchall()
    for table, column in numeric:
        frame = frames.get(table)
        if frame is not None and column in frame:
            frame[column] = frame[column].map(_number_or_none)
    counts = {}
    with psycopg.connect(url) as conn:
        for spec in TABLES.values():
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(spec.source)))
            counts[spec.name] = _copy_rows(conn, spec, _text_rows(frames[spec.name], spec.column_names))
        conn.commit()
    return counts


def _number_or_none(value):
    try:
        number = float(str(value).replace(",", "."))
    except ValueError:
        return None
    return str(number) if number == number else None  # NaN: none


def old_tool(mirror: Path, commit: str, folder: Path, server) -> None:
    """The old tool's files at ``commit`` into ``folder``, with a tokens.py for this PostgREST."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in OLD_TOOL:
        (folder / name).write_bytes(snaps.git(mirror, "show", f"{commit}:{name}"))
    (folder / "tokens.py").write_text(f"url_supabase = {server.url!r}\nkey_supabase = {server.service_key!r}\n",
                                      encoding="utf-8")
    (folder / "run_old.py").write_text(SHIM, encoding="utf-8")


# The old tool ran on pandas 2 (2025). pandas 3 infers a string dtype that turns the None of a
# JSON null into NaN, which supabase-py refuses to send ("Out of range float values are not JSON
# compliant"): the only shim, pandas 2's inference, then the script as is. (pandas 3 also gives a
# "06/08" without a year the year 1, where pandas 2 gave the current one: the old tool writes
# "08/06/1" instead of "08/06/2026", neither of which the desk's app parses.)
SHIM = """import runpy, sys, warnings
import pandas as pd
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if int(pd.__version__.split(".")[0]) >= 3:
        pd.set_option("future.infer_string", False)
sys.argv[0] = __file__.replace("run_old.py", "update_traficov2.py")
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def desk_types(server, url: str) -> list[tuple[str, int, str, str]]:
    """The desk's app: a lowercase ``chofer`` and its note on a few rows of each table, by id,
    through PostgREST with the anon key. Returns (table, id, column, value)."""
    import httpx
    headers = {"apikey": server.anon_key, "Authorization": f"Bearer {server.anon_key}"}
    typed = []
    for table in TARGETS:
        with psycopg.connect(url) as c:
            ids = [r[0] for r in c.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(sql.Identifier(table)))]
        picks = sorted({ids[0], ids[len(ids) // 2], ids[-1]}) if ids else []
        for i in picks[:DESK_ROWS]:
            values = {"chofer": f"chofer {i} ({table[10:14]})", DESK_NOTE.get(table, "Observaciones"): f"nota {i}"}
            r = httpx.patch(f"{server.url}/rest/v1/{table}", params={"id": f"eq.{i}"}, json=values,
                            headers=headers, timeout=30)
            r.raise_for_status()
            typed += [(table, i, k, v) for k, v in values.items()]
    return typed


# ---- what to check after each run -------------------------------------------------------------

def rows_of(url: str, table: str) -> list[dict]:
    with psycopg.connect(url) as c:
        cur = c.execute(sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(table)))
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def active_duplicates(rows: list[dict], table: str) -> int:
    """Active rows beyond the first of their business key: the key trafico gave them, or for a
    row still unkeyed the key it would get (``engine.adopt.adoption_keys``)."""
    import pandas as pd

    from trafico_lib.engine.adopt import adoption_keys
    spec = next(s for s in TABLES.values() if s.target == table)
    active = [r for r in rows if r.get("activo", True) is not False]
    if not active:
        return 0
    frame = pd.DataFrame(active)
    own = frame["sync_key"] if "sync_key" in frame else pd.Series([None] * len(frame))
    would = adoption_keys(frame, spec, run_date=date.today())
    keys = [k if isinstance(k, str) else w for k, w in zip(own, would)]
    return sum(n - 1 for k, n in Counter(k for k in keys if isinstance(k, str)).items() if n > 1)


def source_keys_missing(url: str, table: str, rows: list[dict]) -> list[str]:
    """The source's keys (normalized as trafico makes them; a slot table's: its bookings) that
    are neither in an active target row nor in the rejects: rows silently lost."""
    import pandas as pd

    from trafico_lib.engine.adopt import adoption_keys
    spec = next(s for s in TABLES.values() if s.target == table)

    def keys(frame: pd.DataFrame) -> set[str]:
        if frame.empty:
            return set()
        got = adoption_keys(frame, spec, run_date=date.today())
        return {k.rsplit("|", 1)[0] if spec.slots else k for k in got if isinstance(k, str)}
    with psycopg.connect(url) as c:
        cur = c.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(spec.source)))
        source = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description]).drop(columns=["id"])
        rejected = {r[0] for r in c.execute("SELECT sync_key FROM traficov2_sync_rejects WHERE table_name IN (%s, %s)",
                                            [spec.name, table]) if r[0]}
    active = pd.DataFrame([r for r in rows if r.get("activo", True) is not False])
    have = keys(active) | {k.rsplit("|", 1)[0] if spec.slots else k for k in rejected}
    return sorted(keys(source) - have)


def check(url: str, ids_before: dict[str, set], typed: list[tuple], old_bad: frozenset = frozenset(),
          sources: bool = False) -> dict:
    """The takeover's promises, as the database holds them now. A date the desk cannot parse
    that the old tool wrote and nobody rewrote since (``old_bad``: (table, id, column, value)
    before the switch) is counted apart (``unparsed_old``): an adopted row with no source row
    keeps the old tool's values until a full run deactivates it."""
    out = {"lost_ids": 0, "desk_changed": [], "dup_active": 0, "unparsed_active": 0, "unparsed_inactive": 0,
           "unparsed_old": 0, "unparsed_examples": [], "unparsed": set(), "source_missing": 0}
    by_table = {t: rows_of(url, t) for t in TARGETS}
    for t, rows in by_table.items():
        have = {r["id"]: r for r in rows}
        out["lost_ids"] += len(ids_before[t] - set(have))
        out["dup_active"] += active_duplicates(rows, t)
        active = [r for r in rows if r.get("activo", True) is not False]
        gone = [r for r in rows if r.get("activo", True) is False]
        every = [(t, *b) for b in desk_unparsed(active, t)]
        out["unparsed"] |= set(every)
        bad = [b[1:] for b in every if b not in old_bad]
        out["unparsed_old"] += len(every) - len(bad)
        out["unparsed_active"] += len(bad)
        out["unparsed_inactive"] += len(desk_unparsed(gone, t))
        if sources:
            missing = source_keys_missing(url, t, rows)
            out["source_missing"] += len(missing)
            out["unparsed_examples"] += [(t, "source key not in the target", k) for k in missing[:3]]
        out["unparsed_examples"] += [(t, *b) for b in bad[:3]]
    for t, i, col, value in typed:
        now = next((r.get(col) for r in by_table[t] if r["id"] == i), "<row gone>")
        if now != value:
            out["desk_changed"].append((t, i, col, value, now))
    return out


# ---- one replay -------------------------------------------------------------------------------

def trafico_env(store: str, url: str, server) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase", "SUPABASE_URL", "SUPABASE_KEY")}
    env["PYTHONPATH"] = str(HERE)
    if store == "direct":
        env["TRAFICO_DATABASE_URL"] = url
    else:
        env.update(url_supabase=server.url, key_supabase=server.service_key)
    return env


def run_line(i: int, when: str, mode: str, proc, tables: dict, chk: dict) -> str:
    counts = " ".join(
        f"{t[:4]}:{c.get('inserted', '-')}/{c.get('updated', '-')}/{c.get('deactivated', '-')}/{c.get('rejected', '-')}"
        + (f"[adopt {c['adopted']}/{c['adopted_unmatched']}/{c['old_duplicates']}/{c['unkeyed']}]"
           if "adopted" in c else "")
        for t, r in tables.items() for c in [r.get("counts") or {}])
    errors = [f"{t}: {r.get('error')}" for t, r in tables.items() if r.get("error")]
    if not tables and proc.returncode:
        errors = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
    return (f"{i:3} {when} {mode:11} rc={proc.returncode} {counts} | lost ids {chk['lost_ids']}, desk changed "
            f"{len(chk['desk_changed'])}, active dup keys {chk['dup_active']}, source keys missing "
            f"{chk['source_missing']}, unparsed dates {chk['unparsed_active']} active (+{chk['unparsed_old']} old, "
            f"untouched)/{chk['unparsed_inactive']} inactive {' | '.join(errors)[:400]}")


def replay_store(store: str, args: argparse.Namespace, picked: list[tuple[str, str]], work: Path) -> dict:
    mirror = Path(args.mirror).expanduser()
    work.mkdir(parents=True)
    depot, snap, old = work / "depot", work / "snapshot", work / "old-tool"
    (depot / "data").mkdir(parents=True)
    pgdata = work / "pgdata"
    url = snaps.start_database(HERE, sys.executable, pgdata)
    first_commit = picked[0][0]
    result = {"store": store, "failed": 0, "rejected": 0, "adoption": Counter(), "problems": []}
    try:
        rest_server.setup_supabase_roles(url)
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(old_ddl(mirror, first_commit))
            from trafico_lib.sample import create_source_tables
            create_source_tables(c)
            if args.numeric_pendiente:
                c.execute(NUMERIC_PENDIENTE)
            added = add_copied_columns(c)
            c.execute(rest_server.GRANTS)
        print(f"[{store}] old DDL of {first_commit[:10]} applied; columns the old tool copies, added: {added}")
        (depot / "trafico_config.json").write_bytes(snaps.git(mirror, "show", f"{first_commit}:trafico_config.json"))
        with rest_server.running(url, work / "pgrst") as server:
            old_tool(mirror, first_commit, old, server)
            olds, news = picked[:args.old_runs], picked[args.old_runs:]
            # -- the old tool, as cron ran it
            for i, (commit, when) in enumerate(olds, 1):
                write_snapshot(mirror, commit, snap / "data")
                write_snapshot(mirror, commit, depot / "data")
                load_sources(url, snap)
                p = subprocess.run([sys.executable, str(old / "run_old.py"), "--mode", "incremental"],
                                   cwd=depot, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
                tail = [ln for ln in p.stdout.splitlines() if ln.strip()][-4:]
                errs = sum("ERROR" in ln for ln in (p.stdout + p.stderr).splitlines())
                print(f"[{store}] old {i} {when} rc={p.returncode} error lines={errs} :: {' / '.join(tail)[:300]}")
                if p.returncode:
                    print(p.stderr[-2000:])
            old_counts = {t: len(rows_of(url, t)) for t in TARGETS}
            print(f"[{store}] the old tool left: {old_counts}")
            typed = desk_types(server, url)
            print(f"[{store}] the desk typed {len(typed)} values on {len({(t, i) for t, i, *_ in typed})} rows")
            with psycopg.connect(url) as c:
                ids_before = {t: {r[0] for r in c.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(t)))}
                              for t in TARGETS}
            before = check(url, ids_before, typed)
            print(f"[{store}] before the switch: unparsed dates {before['unparsed_active']} (the old tool's), "
                  f"rows sharing a key {before['dup_active']}")
            result["before"] = before
            old_bad = frozenset(before["unparsed"])
            # -- the switch, as README says
            env = trafico_env(store, url, server)
            cli = [sys.executable, str(HERE / "update_traficov2.py")]
            if store == "rest":
                p = subprocess.run([*cli, "--print-sql"], cwd=depot, capture_output=True, text=True, env=env)
                if p.returncode:
                    raise SystemExit(f"--print-sql failed: {p.stderr.strip()[-500:]}")
                with psycopg.connect(url, autocommit=True) as c:
                    c.execute(p.stdout)  # pasted into the SQL editor
                server.reload_schema()
                print(f"[{store}] make sql pasted ({len(p.stdout)} chars); stderr: {p.stderr.strip()[:300]}")
            else:
                p = subprocess.run([*cli, "--init-db"], cwd=depot, capture_output=True, text=True, env=env)
                print(f"[{store}] --init-db rc={p.returncode}: {p.stdout.strip()[-400:]}")
                if p.returncode:
                    raise SystemExit(f"--init-db failed: {p.stderr.strip()[-500:]}")
            # the dry run on the first new snapshot, then the syncs
            commit, when = news[0]
            write_snapshot(mirror, commit, snap / "data")
            write_snapshot(mirror, commit, depot / "data")
            load_sources(url, snap)
            snapshot_before = {t: rows_of(url, t) for t in TARGETS}
            p = subprocess.run([*cli, "--dry-run", "--no-notebook"], cwd=depot, capture_output=True, text=True,
                               env=env)
            print(f"[{store}] --dry-run rc={p.returncode}")
            if p.returncode:
                result["problems"].append(f"the dry run exited {p.returncode}: {p.stderr.strip()[-300:]}")
            print("\n".join(ln for ln in p.stdout.splitlines() if "Would" in ln or "adopt" in ln))
            if {t: rows_of(url, t) for t in TARGETS} != snapshot_before:
                result["problems"].append("the dry run wrote to a target table")
            (work / f"dry-run-{store}.txt").write_text(p.stdout + p.stderr, encoding="utf-8")
            last = None
            for i, (commit, when) in enumerate(news, 1):
                if i > 1:
                    write_snapshot(mirror, commit, snap / "data")
                    write_snapshot(mirror, commit, depot / "data")
                    load_sources(url, snap)
                mode = "full" if i % args.full_every == 0 else "incremental"
                last = run_sync(cli, depot, env, mode, url, ids_before, typed, old_bad, result, i, when)
            # the last snapshot once more: nothing to write
            again = run_sync(cli, depot, env, "incremental", url, ids_before, typed, old_bad, result, len(news) + 1,
                             "(same snapshot)")
            result["second_run_writes"] = sum(int(c.get(k) or 0) for r in again.values()
                                              for c in [r.get("counts") or {}]
                                              for k in ("inserted", "updated", "deactivated"))
            result["last"] = last
        return result
    finally:
        snaps.stop_database(HERE, sys.executable, pgdata)


def run_sync(cli, depot, env, mode, url, ids_before, typed, old_bad, result, i, when) -> dict:
    p = subprocess.run([*cli, "--no-notebook", "--json", "--mode", mode], cwd=depot, capture_output=True,
                       text=True, env=env)
    tables = snaps.summary_of(p.stdout)
    chk = check(url, ids_before, typed, old_bad, sources=p.returncode == 0)
    result["failed"] += p.returncode != 0
    for r in tables.values():
        c = r.get("counts") or {}
        result["rejected"] += int(c.get("rejected") or 0)
        for k in ("adopted", "adopted_unmatched", "old_duplicates", "unkeyed"):
            result["adoption"][k] += int(c.get(k) or 0)
    result["check"] = chk
    for k in ("lost_ids", "dup_active", "unparsed_active", "unparsed_old", "source_missing"):
        result[f"max_{k}"] = max(result.get(f"max_{k}", 0), chk[k])
    result["max_desk_changed"] = max(result.get("max_desk_changed", 0), len(chk["desk_changed"]))
    print(f"[{result['store']}] " + run_line(i, when, mode, p, tables, chk), flush=True)
    if p.returncode and not tables:
        print(p.stderr[-1500:])
    for ex in chk["unparsed_examples"][:3] + chk["desk_changed"][:3]:
        print(f"      {ex}")
    return tables


def summary(r: dict) -> str:
    a = r["adoption"]
    return (f"[{r['store']}] {r['failed']} failed run(s); old rows adopted {a['adopted']}, unmatched "
            f"{a['adopted_unmatched']}, older duplicates deactivated {a['old_duplicates']}, unkeyed {a['unkeyed']}; "
            f"rows rejected {r['rejected']}; worst after any run: active rows sharing a key {r.get('max_dup_active')}, "
            f"old ids lost {r.get('max_lost_ids')}, source keys neither active nor rejected "
            f"{r.get('max_source_missing')}, desk values changed {r.get('max_desk_changed')}, "
            f"active dates the desk cannot parse {r.get('max_unparsed_active')} (before the switch "
            f"{r['before']['unparsed_active']}; the old tool's kept in adopted rows without a source row, at most "
            f"{r.get('max_unparsed_old')}; inactive now {r['check']['unparsed_inactive']}); "
            f"the repeated last run wrote {r.get('second_run_writes')} row(s)"
            + (f"; PROBLEMS: {r['problems']}" if r["problems"] else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--mirror", default=os.environ.get("TRAFICO_REPLAY_MIRROR"),
                   help="the old tool's repository (bare or not); or TRAFICO_REPLAY_MIRROR")
    p.add_argument("--since", default="2026-07-15")
    p.add_argument("--until", default="2026-07-18")
    p.add_argument("--old-runs", type=int, default=5, help="snapshots the old tool syncs first")
    p.add_argument("--runs", type=int, default=10, help="snapshots trafico syncs after the switch")
    p.add_argument("--full-every", type=int, default=5, help="every Nth trafico run is a full run")
    p.add_argument("--store", choices=["rest", "direct", "both"], default="both")
    p.add_argument("--numeric-pendiente", action="store_true",
                   help="pendiente_desconsolidar's Peso and Cantidad as numbers (else text, as all sources)")
    p.add_argument("--work", help="scratch folder (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (database, logs, dry run)")
    args = p.parse_args(argv)
    if not args.mirror:
        p.error("--mirror (or TRAFICO_REPLAY_MIRROR) is required")
    if rest_server.missing_reason():
        p.error(rest_server.missing_reason())
    mirror = Path(args.mirror).expanduser()
    picked = snaps.pick_commits(mirror, args.since, args.until, args.old_runs + args.runs)
    if len(picked) < args.old_runs + 1:
        print(f"too few commits touch the exports between {args.since} and {args.until}", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="trafico-takeover-")).resolve()
    shutil.rmtree(work, ignore_errors=True)
    results = []
    try:
        for store in (["rest", "direct"] if args.store == "both" else [args.store]):
            results.append(replay_store(store, args, picked, work / store))
        print("\n".join(summary(r) for r in results))
        bad = any(r["failed"] or r["problems"] or r.get("max_lost_ids") or r.get("max_desk_changed")
                  or r.get("max_dup_active") or r.get("max_unparsed_active") or r.get("max_source_missing")
                  or r.get("second_run_writes")
                  for r in results)
        return 1 if bad else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main())
