"""Replay real operational snapshots through trafico, run after run (a developer's tool).

The old tool's repository kept its CSV exports under ``data/`` and committed them every few
minutes: its git history is a record of the depot's live tables. This tool picks ``--runs``
commits between ``--since`` and ``--until``, writes each commit's exports into a scratch
folder and runs ``update_traficov2.py --no-notebook`` on them (every table read from its CSV,
``sync_settings.<table>.source = "csv"``), incremental with a full run every ``--full-every``
runs, against a fresh embedded PostgreSQL. It prints one line per run and a summary: how many
runs failed, how many full runs were refused, how many rows were rejected.

Not run by the tests or CI (the mirror is not there); the tests hold small synthetic fixtures
of each pattern found this way. Nothing of the replayed data is written into the repository.

    .venv/bin/python scripts/replay_snapshots.py --mirror /path/to/dassa_operativo_stream.git \\
        --since 2026-07-01 --until 2026-09-01 --runs 40

``--mirror`` (or ``TRAFICO_REPLAY_MIRROR``) is the old repository, a bare clone or a work tree.
``--project`` replays another checkout of trafico (e.g. an older one, to compare), with this
Python.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# table -> (csv_sources.files key, file name in the old repository's data/)
FILES = {
    "arribos": ("arribos_semana", "arribos_semana.csv"),
    "pendiente_desconsolidar": ("pendiente_desconsolidar", "pendiente_desconsolidar.csv"),
    "remisiones": ("remisiones_semana", "remisiones_semana.csv"),
    "arribos_expo_ctns": ("arribos_expo", "arribos_expo_ctns.csv"),
}


def git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(mirror), *args], capture_output=True, check=True).stdout


def _at_midnight(day: str) -> str:
    """A bare date as midnight UTC: git reads ``2026-07-01`` as that day at the current time of
    day, so the window (and the commits picked) would shift with the hour the replay runs."""
    return f"{day}T00:00:00+00:00" if len(day) == 10 else day


def pick_commits(mirror: Path, since: str, until: str, runs: int) -> list[tuple[str, str]]:
    """``runs`` commits touching the exports, evenly spread over the window, oldest first (a
    bare date is its midnight UTC)."""
    log = git(mirror, "log", "--format=%H %cI", f"--since={_at_midnight(since)}", f"--until={_at_midnight(until)}", "--",
              *[f"data/{name}" for _, name in FILES.values()]).decode()
    commits = [tuple(line.split()) for line in log.splitlines() if line][::-1]
    step = max(1, len(commits) // max(runs, 1))
    return commits[::step][:runs]


def config(work: Path, db_url: str) -> Path:
    cfg = {
        "database": {"url": db_url},
        "csv_sources": {"enabled": True, "data_path": str(work / "data"), "backup_path": str(work / "backup"),
                        "files": {key: name for key, name in FILES.values()}},
        "sync_settings": {table: {"source": "csv"} for table in FILES},
        "audit_archive": {"path": str(work / "runs")},
        "runner": {"reports_dir": str(work / "reports")},
    }
    path = work / "trafico_config.json"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return path


def start_database(project: Path, python: str, pgdata: Path) -> str:
    """A fresh embedded PostgreSQL kept running for the whole replay (its URL)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from trafico_lib.stores.embedded import embedded_url; "
            "print(embedded_url(sys.argv[2], keep_running=True))")
    out = subprocess.run([python, "-c", code, str(project), str(pgdata)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def stop_database(project: Path, python: str, pgdata: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from trafico_lib.stores.embedded import stop_embedded; "
            "stop_embedded(sys.argv[2])")
    subprocess.run([python, "-c", code, str(project), str(pgdata)], capture_output=True, check=False)


def summary_of(stdout: str) -> dict:
    """The ``--json`` output's per-table results (empty when the output is not JSON)."""
    try:
        got = json.loads(stdout)
    except ValueError:
        return {}
    results = got.get("results", got) if isinstance(got, dict) else got
    return {r.get("table"): r for r in results if isinstance(r, dict)} if isinstance(results, list) else {}


def replay(args: argparse.Namespace) -> int:
    mirror = Path(args.mirror).expanduser()
    project = Path(args.project).resolve()
    work = Path(args.work or tempfile.mkdtemp(prefix="trafico-replay-")).resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    picked = pick_commits(mirror, args.since, args.until, args.runs)
    if not picked:
        print(f"no commit touches the exports between {args.since} and {args.until}", file=sys.stderr)
        return 2
    pgdata = work / "pgdata"
    env = {**os.environ, "PYTHONPATH": str(project)}
    env.pop("TRAFICO_DATABASE_URL", None)
    url = start_database(project, args.python, pgdata)
    cli = [args.python, str(project / "update_traficov2.py")]
    try:
        cfg = config(work, url)
        subprocess.run([*cli, "--init-db", "--config", str(cfg)], check=True, capture_output=True, env=env)
        failed = refused = fulls = rejected = 0
        for i, (commit, when) in enumerate(picked):
            for _, name in FILES.values():
                try:
                    (work / "data" / name).write_bytes(git(mirror, "show", f"{commit}:data/{name}"))
                except subprocess.CalledProcessError:
                    pass  # not in this commit: the last one written stays
            mode = "full" if (i + 1) % args.full_every == 0 else "incremental"
            fulls += mode == "full"
            r = subprocess.run([*cli, "--no-notebook", "--json", "--mode", mode, "--config", str(cfg)],
                               capture_output=True, text=True, env=env)
            tables = summary_of(r.stdout)
            errors = [f"{t}: {res.get('error')}" for t, res in tables.items() if res.get("error")]
            if not tables and r.returncode:
                errors = [line for line in r.stderr.splitlines() if line.strip()][-1:]
            rejected += sum(int((res.get("counts") or {}).get("rejected") or 0) for res in tables.values())
            failed += r.returncode != 0
            refused += mode == "full" and any("refused" in e for e in errors)
            counts = " ".join(f"{t[:4]}:{(res.get('counts') or {}).get('inserted', '-')}/"
                              f"{(res.get('counts') or {}).get('updated', '-')}/"
                              f"{(res.get('counts') or {}).get('deactivated', '-')}/"
                              f"{(res.get('counts') or {}).get('rejected', '-')}" for t, res in tables.items())
            print(f"{i + 1:3} {when} {mode:11} rc={r.returncode} {counts} {' | '.join(errors)[:500]}", flush=True)
        print(f"{failed} of {len(picked)} runs failed; {refused} of {fulls} full runs refused; "
              f"{rejected} rows rejected (ins/upd/deact/rej per table above)")
        return 1 if failed else 0
    finally:
        stop_database(project, args.python, pgdata)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--mirror", default=os.environ.get("TRAFICO_REPLAY_MIRROR"),
                   help="the old tool's repository (bare or not); or TRAFICO_REPLAY_MIRROR")
    p.add_argument("--since", default="2026-07-01")
    p.add_argument("--until", default="2026-09-01")
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--full-every", type=int, default=5, help="every Nth run is a full run")
    p.add_argument("--project", default=str(HERE), help="the trafico checkout to replay (default: this one)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--work", help="scratch folder (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (database, archive)")
    args = p.parse_args(argv)
    if not args.mirror:
        p.error("--mirror (or TRAFICO_REPLAY_MIRROR) is required")
    return replay(args)


if __name__ == "__main__":
    sys.exit(main())
