"""One time zone for everything a person reads (issue 24 point 8, trafico_lib/clock.py).

The depot is in Buenos Aires (-03, no summer time). Here the configuration names that zone while
the machine (the process's ``TZ``, and the notebook kernels it starts) is in Tokyo (+09): every
shown time must follow the configuration, never the machine, and with no zone configured the
machine's. What is stored stays an instant (``timestamptz``)."""
from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from cli_inprocess import ROOT, run
from trafico_lib import clock, views
from trafico_lib.cli.log import stamped
from trafico_lib.config import load_config
from trafico_lib.docs.site import built_line
from trafico_lib.engine.extract import Extract
from trafico_lib.errors import ConfigError
from trafico_lib.health import when_text
from trafico_lib.pipeline import new_run_id
from trafico_lib.runner.archive import archive_dir, archive_path

BA = "America/Argentina/Buenos_Aires"
# 23:30 in Buenos Aires on 6 December is 02:30 UTC and 11:30 in Tokyo on the 7th
LATE = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
SCRIPT = str(ROOT / "update_traficov2.py")


@pytest.fixture
def machine_in_tokyo(monkeypatch):
    """The machine's zone (TZ, what the C library and the kernels see) is Asia/Tokyo."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def depot(make_config, machine_in_tokyo):
    """A configuration in Buenos Aires, loaded (which sets the process's display zone)."""
    return make_config({"time_zone": BA})


def test_a_run_at_2330_local_gets_the_local_dates_run_id_and_folder(depot):
    assert clock.local(LATE) == datetime(2026, 12, 6, 23, 30, tzinfo=ZoneInfo(BA))
    run_id = new_run_id(LATE)
    assert re.fullmatch(r"20261206T233000-[0-9a-f]{6}", run_id), run_id
    runs = depot.resolve(depot.audit_archive.path)
    assert archive_path(depot, run_id, "sync_arribos").parent == runs / "2026" / "12" / "06"
    assert archive_dir(depot, "adhoc", LATE) == runs / "2026" / "12" / "06"  # an id without a date: now's
    assert archive_dir(depot, run_id, dry_run=True).parts[-3:] == ("2026", "12", "06")
    clock.set_zone(None)  # the same instant, no zone configured: the machine's (Tokyo) date
    assert new_run_id(LATE).startswith("20261207T113000-")


def test_log_stamps_and_shown_times_follow_the_configured_zone(depot):
    assert stamped("arribos: ok", "r1", LATE) == "2026-12-06T23:30:00-03:00 r1 arribos: ok"
    assert clock.stamp(LATE) == "2026-12-06T23:30:00-03:00"
    assert when_text(LATE) == "2026-12-06 23:30 -03"  # the health block
    assert when_text(LATE.replace(tzinfo=None)) == "2026-12-06 23:30 -03"  # a naive time is UTC
    assert built_line(LATE, "r1", "sync") == "Built 2026-12-06 23:30 -03 after sync run r1"
    # exit records read in sql_server.timezone and any aware time in a notebook's frame: one zone
    assert views._cell(pd.Timestamp("2026-11-28 14:32", tz=BA)) == "2026-11-28 14:32 -03"
    assert views._cell(pd.Timestamp("2026-11-28 17:32", tz="UTC")) == "2026-11-28 14:32 -03"
    assert views._cell(datetime(2026, 11, 28, 14, 32)) == "2026-11-28 14:32"  # a naive value: as the source wrote it
    ex = Extract(frame=pd.DataFrame({"a": [1]}), origin="database", strategy="timestamp", since=LATE,
                 watermark=LATE, updated_column="updated_at")
    assert "since 2026-12-06 23:30:00 -03" in ex.describe() and "+0000" not in ex.describe()


def test_the_health_notebooks_history_names_the_zone_once(depot):
    from trafico_lib.health import history_table
    from trafico_lib.health.render import HISTORY_COLUMNS
    row = {c: 0 for c in HISTORY_COLUMNS} | {"table": "arribos", "operation": "SYNC", "run_id": "r1", "mode": "full",
                                            "lag_hours": 1.0, "error": None}
    history = pd.DataFrame([row | {"sync_timestamp": LATE}, row | {"sync_timestamp": LATE - pd.Timedelta(hours=3)}])
    history["sync_timestamp"] = pd.to_datetime(history["sync_timestamp"], utc=True)
    shown = history_table(history)
    assert shown.index.name == "when (-03)" and list(shown.index) == ["2026-12-06 23:30", "2026-12-06 20:30"]
    clock.set_zone("Europe/Paris")  # a summer-time change inside the window: each row says its zone
    history["sync_timestamp"] = pd.to_datetime(["2026-10-25 00:30", "2026-10-25 01:30"], utc=True)
    shown = history_table(history)
    assert shown.index.name == "when" and list(shown.index) == ["2026-10-25 02:30 CET", "2026-10-25 02:30 CEST"]


def test_other_zones_show_their_abbreviation_or_offset(make_config):
    assert clock.minute_text(LATE, make_config({"time_zone": "Asia/Kolkata"})) == "2026-12-07 08:00 IST"
    assert clock.minute_text(LATE, make_config({"time_zone": "UTC"})) == "2026-12-07 02:30 UTC"
    assert clock.minute_text(LATE, make_config({"time_zone": "Asia/Kathmandu"})) == "2026-12-07 08:15 +05:45"
    assert clock.stamp(datetime(2026, 7, 1, 12, tzinfo=UTC), make_config({"time_zone": "Europe/Paris"})) == \
        "2026-07-01T14:00:00+02:00"  # summer time, from the zone's rules


def test_no_zone_configured_is_the_machines(make_config, machine_in_tokyo):
    cfg = make_config({})
    assert cfg.time_zone is None
    assert getattr(clock.display_zone(), "key", None) == "Asia/Tokyo" == clock.zone_name()
    assert clock.stamp(LATE) == "2026-12-07T11:30:00+09:00"
    assert when_text(LATE) == "2026-12-07 11:30 JST"
    assert clock.now().utcoffset().total_seconds() == 9 * 3600


def test_the_old_tools_file_has_no_zone_and_the_example_names_the_depots(tmp_path, machine_in_tokyo):
    from test_config import OLD_LIVE_FILE, write
    old = load_config(write(tmp_path, OLD_LIVE_FILE), env_file=None)
    assert old.time_zone is None and clock.stamp(LATE).endswith("+09:00")  # the machine's, as the old tool's
    example = load_config(ROOT / "trafico_config.example.json", env_file=None)
    assert example.time_zone == BA and clock.stamp(LATE).endswith("-03:00")


def test_an_unknown_zone_is_one_configuration_line_and_exit_2(tmp_path):
    bad = tmp_path / "trafico_config.json"
    bad.write_text(json.dumps({"time_zone": "America/Buenos_Ayres_Typo"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"time_zone: expected an IANA time zone name"):
        load_config(bad, env_file=None)
    for argv in (["--health-check"], ["--table", "arribos", "--dry-run", "--no-notebook"]):
        res = run([SCRIPT, "--config", str(bad), *argv], cwd=tmp_path)
        assert res.returncode == 2, res
        assert res.stderr.splitlines() == [
            f"error: {bad}: time_zone: expected an IANA time zone name such as America/Argentina/Buenos_Aires, "
            "got 'America/Buenos_Ayres_Typo'"], res.stderr
        assert res.stdout == ""


class _Text(HTMLParser):
    """The text of the element with ``id="built"`` and of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.built, self.cells, self._in = "", [], None

    def handle_starttag(self, tag, attrs):
        if dict(attrs).get("id") == "built":
            self._in = "built"
        elif tag == "td":
            self._in = "td"
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("p", "td"):
            self._in = None

    def handle_data(self, data):
        if self._in == "built":
            self.built += data
        elif self._in == "td":
            self.cells[-1] += data


def _page(path: Path) -> _Text:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _local_now_minutes() -> set[str]:
    """This minute and the next in Buenos Aires, as shown (a minute may turn during the call)."""
    now = datetime.now(ZoneInfo(BA))
    return {f"{now:%Y-%m-%d %H:%M}", f"{pd.Timestamp(now) + pd.Timedelta(minutes=1):%Y-%m-%d %H:%M}"}


def test_the_command_line_the_notebook_health_and_data_docs_show_the_depots_time(db_url, make_config,
                                                                                 machine_in_tokyo, tmp_path):
    """A real sync (the sync notebook in a kernel whose machine zone is Tokyo), the health check
    and the Data Docs it rebuilds: every time a person reads is Buenos Aires time."""
    import psycopg
    from trafico_lib.sample import load_samples
    cfg = make_config({"time_zone": BA}, db_url=db_url)
    with psycopg.connect(db_url) as c:
        load_samples(c, cfg)
    args = [SCRIPT, "--config", str(cfg.source_path), "--table", "arribos"]
    before = _local_now_minutes()
    first = run([*args, "--mode", "full", "--no-notebook"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-03:00 ", x) for x in lines), lines
    run_id = lines[0].split()[1]
    assert run_id[:8] in {m.replace("-", "")[:8] for m in before | _local_now_minutes()}, (run_id, before)
    # the second run in a notebook (kernel in Tokyo): its lines say the depot's time. A source row
    # changes first: an unchanged table is its log row only, no notebook (pipeline/probe.py)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("""UPDATE arribos SET "Cliente" = 'Otro cliente', updated_at = now()
                     WHERE id = (SELECT min(id) FROM arribos)""")
    second = run([*args], cwd=tmp_path)
    assert second.returncode == 0, second.stderr + second.stdout
    executed = sorted(cfg.resolve(cfg.audit_archive.path).rglob("*_sync_arribos.ipynb"))
    assert len(executed) == 1
    rid2 = executed[0].name.removesuffix("_sync_arribos.ipynb")
    assert executed[0].parent.relative_to(cfg.resolve(cfg.audit_archive.path)).parts == \
        (rid2[:4], rid2[4:6], rid2[6:8])  # the folder is the run id's (local) date
    import nbformat
    nb = nbformat.read(executed[0], as_version=4)
    out = "\n".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                    for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    since = re.search(r"since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [^);\s]+)", out)
    assert since and since.group(1).endswith(" -03") and "+0000" not in out, out
    state = re.search(r"last successful sync of traficov2_arribos: (\d{4}-\d\d-\d\d \d\d:\d\d \S+)", out)
    assert state and state.group(1)[:16] in before | _local_now_minutes() and state.group(1).endswith(" -03"), out
    # the health check: its block, and the Data Docs index it rebuilds
    health = run([SCRIPT, "--config", str(cfg.source_path), "--health-check"], cwd=tmp_path)
    last = [x for x in health.stdout.splitlines() if x.startswith("Last Run: ")]
    assert len(last) == 1 and re.fullmatch(rf"Last Run: {rid2} at \d{{4}}-\d\d-\d\d \d\d:\d\d -03", last[0]), \
        health.stdout
    index = _page(cfg.resolve(cfg.runner.reports_dir) / "data_docs" / "index.html")
    built = re.match(r"Built (\d{4}-\d\d-\d\d \d\d:\d\d) -03 ", index.built.strip())
    assert built and built.group(1) in before | _local_now_minutes(), index.built
    shown = [c for c in index.cells if re.search(r"\d\d:\d\d", c)]
    assert shown and all(" -03" in c and "UTC" not in c for c in shown), shown
