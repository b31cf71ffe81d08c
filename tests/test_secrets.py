"""A database password never leaves the process: planted in every form a user may write the
connection (a URL, libpq's key=value, and malformed ones), it appears in nothing any command
prints, nothing any run writes to disk (archived notebooks, reports, backups) and no log row."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

import cli_inprocess as inprocess
from trafico_lib.sample import create_source_tables, load_samples

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Pl4nted-S3cret_x9"


def _forms(db_url: str) -> dict[str, str]:
    """The test database's connection written with the planted password (the embedded server
    trusts local connections, so any password connects)."""
    u = urlparse(db_url)
    q = parse_qs(u.query)
    host, port, db = q["host"][0], q.get("port", ["5432"])[0], u.path.lstrip("/")
    return {"url": f"postgresql://{u.username}:{SECRET}@/{db}?host={host}&port={port}",
            "keyvalue": f"host={host} port={port} user={u.username} password={SECRET} dbname={db}",
            "keyvalue-quoted": f"host={host} port={port} user={u.username} password='{SECRET} x' dbname={db}"}


# a password holding an unencoded @ (or @ and a blank): libpq splits it at the first @ and quotes
# the rest as the host; each piece must stay hidden
PIECES = ("Pl4nted", "S3cret_x9")
BROKEN = {
    "no-scheme-colon": f"postgresql//app:{SECRET}@127.0.0.1/depo",
    "one-slash": f"postgresql:/app:{SECRET}@127.0.0.1/depo",
    "postgres-one-slash": f"postgres:/app:{SECRET}@127.0.0.1/depo",
    "at-in-password": f"postgresql://app:{PIECES[0]}@{PIECES[1]}@127.0.0.1/depo",
    "at-and-blank-in-password": f"postgresql://app:{PIECES[0]}@x {PIECES[1]}@127.0.0.1/depo",
    "slash-in-password": f"postgresql://app:{PIECES[0]}/{PIECES[1]}@127.0.0.1/depo",
    "leading-blank": f" postgresql://app:{SECRET}@127.0.0.1/depo",
    "no-scheme": f"app:{SECRET}@127.0.0.1:5432/depo",
    "space-in-password": f"postgresql://app:{SECRET} x@127.0.0.1/depo",
    "bare-value": SECRET,
    "unreachable": f"postgresql://app:{SECRET}@127.0.0.1:1/depo?connect_timeout=2",
}


def _run(args: list[str], url: str, cwd: Path, timeout: int = 300, *, process: bool = False
         ) -> subprocess.CompletedProcess:
    """The command with ``url`` as TRAFICO_DATABASE_URL: called in this process (its output
    captured at the file descriptors, kernels and other children included: tests/cli_inprocess.py),
    or as a real process with ``process`` (where the secret crosses a process boundary)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRAFICO_DATABASE_URL", "SUPABASE_URL", "SUPABASE_KEY")}
    env["TRAFICO_DATABASE_URL"] = url
    if not process:
        return inprocess.run(args, env=env, cwd=cwd)
    cmd = [sys.executable, *(str(ROOT / a) if a.endswith(".py") else a for a in args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


@pytest.fixture
def project(db_url, tmp_path):
    (tmp_path / "trafico_config.json").write_text(json.dumps({
        "csv_sources": {"data_path": str(ROOT / "data"), "backup_path": "backup"},
        "audit_archive": {"path": "runs"}, "runner": {"reports_dir": "reports"}}), encoding="utf-8")
    from trafico_lib.config import load_config
    with psycopg.connect(db_url, autocommit=True) as c:
        create_source_tables(c)
        load_samples(c, load_config(tmp_path / "trafico_config.json", env_file=None))
    return tmp_path


COMMANDS = [
    ["update_traficov2.py", "--init-db"],
    ["update_traficov2.py", "--init-db", "--json"],
    ["update_traficov2.py", "--no-notebook", "--table", "arribos", "--mode", "full"],
    ["update_traficov2.py", "--no-notebook", "--json", "--table", "remisiones"],
    ["update_traficov2.py", "--no-notebook", "--dry-run", "--table", "arribos"],
    ["update_traficov2.py", "--back-propagate", "--dry-run", "--table", "arribos"],
    ["update_traficov2.py", "--health-check"],
    ["update_traficov2.py", "--health-check", "--json"],
    ["update_traficov2.py", "--prune", "--dry-run"],
]


def _written(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and f.name != "trafico_config.json"]


def test_a_planted_password_appears_in_no_output_file_or_log_row(project, db_url):
    said = []
    for form, url in _forms(db_url).items():
        # every command with libpq's key=value form (the one that leaked); the others with the
        # commands that name the database
        for args in (COMMANDS if form == "keyvalue" else [COMMANDS[1], COMMANDS[3], COMMANDS[7]]):
            p = _run(args, url, project)
            assert p.returncode in (0, 1), (form, args, p.stderr)
            said.append((form, args, p.stdout + p.stderr))
    # the notebooks: papermill writes every parameter into the executed notebook (the runner as a
    # real process, the password reaching it through the environment only)
    nb = _run(["-m", "trafico_lib.runner", "sync", "--params", str(ROOT / "params" / "incremental.yaml"),
               "--table", "pendiente_desconsolidar"], _forms(db_url)["keyvalue"], project, process=True)
    assert nb.returncode == 0, nb.stdout + nb.stderr
    said.append(("keyvalue", ["runner sync"], nb.stdout + nb.stderr))
    health = _run(["-m", "trafico_lib.runner", "health"], _forms(db_url)["url"], project)
    said.append(("url", ["runner health"], health.stdout + health.stderr))
    leaks = [(form, args) for form, args, out in said if SECRET in out]
    assert not leaks, leaks
    files = _written(project)
    assert any(f.suffix == ".ipynb" for f in files) and any(f.suffix == ".html" for f in files)
    assert [f for f in files if SECRET.encode() in f.read_bytes()] == []
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT count(*), coalesce(string_agg(details::text, ' '), '') FROM traficov2_sync_log").fetchone()
    assert rows[0] >= 3 and SECRET not in rows[1]


def _leaked(text: str) -> list[str]:
    return [s for s in (SECRET, *PIECES) if s in text]


@pytest.mark.parametrize("form", sorted(BROKEN))
def test_a_malformed_or_unreachable_address_is_one_line_without_the_password(form, tmp_path):
    for args in (["update_traficov2.py", "--no-notebook", "--table", "arribos"],
                 ["update_traficov2.py", "--no-notebook", "--json", "--table", "arribos"],
                 ["update_traficov2.py", "--health-check"],
                 ["update_traficov2.py", "--health-check", "--json"],
                 ["update_traficov2.py", "--init-db"]):
        p = _run(args, BROKEN[form], tmp_path, timeout=120)
        out = p.stdout + p.stderr
        assert p.returncode in (1, 2), (args, out)
        assert not _leaked(out), (args, out)
        assert "Traceback" not in out, (args, out)
        if "--json" not in args and "--health-check" not in args:
            assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1, (args, p.stderr)
    assert [f for f in _written(tmp_path) if _leaked(f.read_text(errors="replace"))] == []


@pytest.mark.parametrize("form", ["no-scheme-colon", "at-and-blank-in-password", "slash-in-password"])
def test_a_mistyped_url_leaves_its_password_out_of_the_health_notebook_and_data_docs(form, tmp_path):
    """The issue's forms (and a password libpq splits at an unencoded @, / or blank) through the
    health notebook, its archive (.ipynb, .html), the Data Docs index and --verbose."""
    (tmp_path / "trafico_config.json").write_text(json.dumps({
        "audit_archive": {"path": "runs"}, "runner": {"reports_dir": "reports"}}), encoding="utf-8")
    health = _run(["-m", "trafico_lib.runner", "health"], BROKEN[form], tmp_path, timeout=180)
    # the Data Docs command line as a real process once (its one test as an entry point)
    docs = _run(["-m", "trafico_lib.docs"], BROKEN[form], tmp_path, timeout=120, process=form == "no-scheme-colon")
    verbose = _run(["update_traficov2.py", "--no-notebook", "--verbose", "--table", "arribos"], BROKEN[form],
                   tmp_path, timeout=120)
    for p in (health, docs, verbose):
        assert not _leaked(p.stdout + p.stderr), p.stdout + p.stderr
    assert health.returncode == 1 and "unreadable database address" in health.stdout + health.stderr
    files = _written(tmp_path)
    assert {f.suffix for f in files} >= {".ipynb", ".html"}, files
    assert (tmp_path / "reports" / "data_docs" / "index.html").is_file()
    assert [f for f in files if _leaked(f.read_text(errors="replace"))] == []


def test_verbose_with_a_service_key_carrying_a_stray_cr_never_writes_the_jwt(empty_db_url, tmp_path):
    """A key pasted with a Windows line end (``\\r``): httpcore refuses the header and, under
    --verbose, logs it at DEBUG with the whole JWT; every log record (third-party ones included)
    is scrubbed, and so is the traceback --verbose prints. Against a real PostgREST."""
    import rest_server as harness
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst") as server:
        env = {k: v for k, v in os.environ.items()
               if k not in ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase")}
        env.update(SUPABASE_URL=server.url, SUPABASE_KEY=server.service_key + "\r")
        p = inprocess.run(["update_traficov2.py", "--no-notebook", "--verbose", "--table", "arribos"], env=env,
                          cwd=tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "DEBUG httpcore" in out and "Traceback" in out  # the third-party lines were there, scrubbed
    for part in server.service_key.split("."):
        assert part not in out, out
