"""Configuration: the old file accepted as is, new keys, ${ENV}, defaults, one-line errors, no leaks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trafico_lib.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent

OLD_CONFIG = {  # the old tool's documented file, verbatim shape (seed.md)
    "csv_sources": {"enabled": True, "data_path": "./data/",
                    "files": {"arribos_semana": "arribos_semana.csv",
                              "pendiente_desconsolidar": "pendiente_desconsolidar.csv",
                              "remisiones_semana": "remisiones_semana.csv",
                              "arribos_expo_ctns": "arribos_expo_semana_ctns.csv"}},
    "sql_server": {"enabled": True, "server": "sqlserver.example.internal\\SQLEXPRESS,1433",
                   "database": "DEPOFIS", "schema": "DASSA", "table": "Salidas",
                   "username": "your_username", "password": "your_password"},
    "sync_settings": {"arribos": {"batch_size": 1000, "validation_enabled": True, "retry_attempts": 3},
                      "arribos_expo_ctns": {"batch_size": 500, "container_assignment": True,
                                            "quantity_expansion": True, "retry_attempts": 3}},
    "business_rules": {"container_validation": {"required_fields": ["Contenedor", "Booking"],
                                                "container_format_regex": "^[A-Z]{4}[0-9]{7}$"},
                       "booking_validation": {"required_fields": ["Booking", "Cliente"],
                                              "booking_format_regex": "^[A-Z0-9]{8,12}$"}},
}


def write(tmp_path, data, name="trafico_config.json") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return p


def test_old_config_is_accepted_unchanged(tmp_path):
    cfg = load_config(write(tmp_path, OLD_CONFIG), env_file=None)
    assert cfg.table("arribos_expo_ctns").batch_size == 500
    assert cfg.table("remisiones").batch_size == 1000  # default for a table not listed
    assert cfg.sql_server.schema_ == "DASSA" and cfg.sql_server.enabled
    assert cfg.business_rules.container_validation.container_format_regex == "^[A-Z]{4}[0-9]{7}$"
    assert cfg.csv_path("arribos_semana") == tmp_path / "data" / "arribos_semana.csv"


def test_shipped_example_config_loads(monkeypatch):
    monkeypatch.delenv("TRAFICO_DATABASE_URL", raising=False)
    cfg = load_config(ROOT / "trafico_config.example.json", env_file=None)
    assert cfg.database_url is None  # empty ${TRAFICO_DATABASE_URL:-} means the embedded database
    assert "example" in cfg.sql_server.server


def test_missing_default_file_gives_builtin_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAFICO_DATABASE_URL", raising=False)
    cfg = load_config(None, env_file=None)
    assert cfg.source_path is None
    assert cfg.database_url is None and cfg.database.embedded_path == ".trafico/pgdata"
    assert cfg.csv_sources.data_path == "./data/"
    assert cfg.table("arribos").preserve_fields is None and cfg.table("arribos").back_propagate == ["Chofer"]


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: config file not found"):
        load_config(tmp_path / "nope.json", env_file=None)


def test_env_interpolation_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPOT_DATA", "/srv/depot")
    p = write(tmp_path, {"csv_sources": {"data_path": "${DEPOT_DATA}/csv"},
                         "sql_server": {"server": "${SQLHOST:-fallback-host}"}})
    cfg = load_config(p, env_file=None)
    assert cfg.csv_sources.data_path == "/srv/depot/csv"
    assert cfg.sql_server.server == "fallback-host"


def test_unset_env_reference_names_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    p = write(tmp_path, {"database": {"url": "${NOT_SET_ANYWHERE}"}})
    with pytest.raises(ConfigError) as e:
        load_config(p, env_file=None)
    assert str(e.value) == f"{p}: database.url: environment variable NOT_SET_ANYWHERE is not set"


def test_dotenv_file_supplies_secrets(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAFICO_SQLSERVER_PASSWORD", raising=False)
    env = tmp_path / ".env"
    env.write_text("TRAFICO_SQLSERVER_PASSWORD=s3cr3t-from-dotenv\n")
    try:
        cfg = load_config(write(tmp_path, {"sql_server": {"enabled": False}}), env_file=str(env))
    finally:
        import os
        os.environ.pop("TRAFICO_SQLSERVER_PASSWORD", None)  # load_dotenv set it process-wide
    assert cfg.sql_server.password.get_secret_value() == "s3cr3t-from-dotenv"


@pytest.mark.parametrize("data, expected", [
    ('{"csv_sources": {"enabled": true,}', "broken JSON at line 1 column"),
    ({"csv_source": {}}, "csv_source: unknown key"),
    ({"sync_settings": {"arribos": {"batch_size": "mil"}}}, "sync_settings.arribos.batch_size: expected a valid integer"),
    ({"sync_settings": {"arribos": {"batch_size": 0}}}, "sync_settings.arribos.batch_size: expected greater than 0"),
    ({"sync_settings": {"camiones": {}}}, "sync_settings: expected one of arribos"),
    ({"business_rules": {"container_validation": {"container_format_regex": "^[A-Z{4}$"}}},
     "business_rules.container_validation.container_format_regex: expected a valid regular expression"),
    ({"sync_settings": {"arribos": {"preserve_fields": ["Conductor"]}}},
     "sync_settings.arribos.preserve_fields: expected column names of arribos"),
    ({"sync_settings": {"arribos": {"preserve_fields": ["Peso"]}}},
     "sync_settings.arribos.preserve_fields: expected text columns"),
    ("[1, 2]", "expected a JSON object at the top level"),
])
def test_bad_config_is_one_line_naming_file_and_path(tmp_path, data, expected):
    p = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_config(p, env_file=None)
    msg = str(e.value)
    assert msg.startswith(str(p) + ": ") and expected in msg and "\n" not in msg


def test_wrong_encoding_is_a_clear_error(tmp_path):
    p = tmp_path / "cfg.json"
    p.write_bytes('{"csv_sources": {"data_path": "Logística"}}'.encode("cp1252"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p, env_file=None)


def test_secrets_never_in_repr_or_errors(tmp_path, monkeypatch):
    secret = "Sup3r-Secret-PW"
    monkeypatch.setenv("TRAFICO_DATABASE_URL", f"postgresql://app:{secret}@db.example.internal/depot")
    p = write(tmp_path, {"sql_server": {"password": secret}})
    with pytest.warns(UserWarning, match="password is written in the file"):
        cfg = load_config(p, env_file=None)
    assert secret not in repr(cfg) and secret not in str(cfg.model_dump())
    assert secret in cfg.secrets
    bad = write(tmp_path, {"sql_server": {"password": [secret]}}, "bad.json")
    with pytest.raises(ConfigError) as e:
        load_config(bad, env_file=None)
    assert "sql_server.password" in str(e.value) and secret not in str(e.value)


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    p = write(tmp_path, '{"sync_settings": {"arribos": {"retry_attempts": "x"}}}')
    proc = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--config", str(p), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [s for s in proc.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and "sync_settings.arribos.retry_attempts" in lines[0]
    assert "Traceback" not in proc.stderr


# ---- business_rules names what exists (checked on load, before anything runs) --------------

UNKNOWN_SEVERITY = {"business_rules": {"severity": {"container_chek_digit": "blocking"}}}


def test_unknown_severity_rule_is_one_config_line_without_importing_gx(tmp_path):
    p = write(tmp_path, UNKNOWN_SEVERITY)
    code = ("import sys\nfrom trafico_lib.config import ConfigError, load_config\n"
            "try:\n    load_config(sys.argv[1], env_file=None)\n"
            "except ConfigError as exc:\n    print(exc)\n"
            "print('gx imported' if 'great_expectations' in sys.modules else 'gx not imported')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120)
    msg, gx = proc.stdout.splitlines()
    assert msg.startswith(f"{p}: business_rules.severity: unknown rule 'container_chek_digit' (known rules: ")
    assert "container_check_digit" in msg and "required_<column>" in msg
    assert gx == "gx not imported"


@pytest.mark.parametrize("data, expected", [
    (UNKNOWN_SEVERITY, "business_rules.severity: unknown rule 'container_chek_digit'"),
    ({"business_rules": {"booking_validation": {"required_fields": ["Booking", "Clientes"]}}},
     "business_rules.booking_validation.required_fields: expected column names of the tables ("),
])
def test_business_rules_must_name_known_rules_and_columns(tmp_path, data, expected):
    p = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_config(p, env_file=None)
    msg = str(e.value)
    assert msg.startswith(f"{p}: {expected}") and "\n" not in msg


def test_business_rules_names_that_exist_load(tmp_path):
    cfg = load_config(write(tmp_path, {"business_rules": {
        "severity": {"container_check_digit": "blocking", "required_Chofer": "warning",
                     "parseable_Peso": "blocking"},
        "container_validation": {"required_fields": ["Contenedor", "Operacion"]}}}), env_file=None)
    assert cfg.business_rules.severity["container_check_digit"] == "blocking"


def test_cli_unknown_severity_rule_exits_2_before_anything_runs(tmp_path):
    p = write(tmp_path, UNKNOWN_SEVERITY, "bad.json")
    proc = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--config", str(p),
                           "--no-notebook", "--table", "arribos"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [s for s in proc.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and "business_rules.severity: unknown rule 'container_chek_digit'" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_transaction_pooler_is_recognized_by_its_address_or_said_in_the_config():
    from trafico_lib.stores.postgres import PostgresStore, behind_transaction_pooler
    assert behind_transaction_pooler("postgresql://postgres.ref:pw@aws-0-sa-east-1.pooler.supabase.com:6543/postgres")
    assert behind_transaction_pooler("host=10.0.0.5 port=6543 dbname=postgres user=u")
    assert not behind_transaction_pooler("postgresql://postgres:pw@db.ref.supabase.co:5432/postgres")
    assert not behind_transaction_pooler("postgresql//broken")
    assert PostgresStore("postgresql://u@h:6543/d").transaction_pooler
    assert not PostgresStore("postgresql://u@h:6543/d", transaction_pooler=False).transaction_pooler
    assert PostgresStore("postgresql://u@h:5432/d", transaction_pooler=True).transaction_pooler


MID_RUN_CONFIG_ERRORS = {  # name: (config file content or None for a folder, what the one line must say)
    "timezone": ({"sql_server": {"timezone": "Mars/Olympus"}},
                 "sql_server.timezone: expected an IANA time zone name"),
    "template-unparsable": ({"sync_settings": {"arribos": {"status": {"template": "Realizado {validada:%H:%M"}}}},
                            "sync_settings.arribos.status.template: expected a status template"),
    "template-attribute": ({"sync_settings": {"remisiones": {"status": {"template": "{validada.hora} Realizado"}}}},
                           "sync_settings.remisiones.status.template: expected a status template"),
    "template-positional": ({"sync_settings": {"arribos": {"status": {"template": "Realizado {0}"}}}},
                            "sync_settings.arribos.status.template: expected a status template"),
    "folder": (None, "expected a JSON file, got a folder"),
    "nested-past-the-parser": ('{"runner": ' + "[" * 100_000 + "]" * 100_000 + "}",
                               "expected JSON nested at most"),
    "nested": ({"runner": {"a": json.loads("[" * 40 + "]" * 40)}}, "runner.a[0][0]"),
}


def test_config_errors_once_found_mid_run_exit_2_on_load_and_write_nothing(db_url, tmp_path):
    """A bogus sql_server.timezone, a status template that cannot render, a folder given as the
    config, JSON nested past the parser (or deeper than any config): each is one line naming
    the file, the path inside it and what was expected, exit 2, before anything runs: no row in
    traficov2_sync_log (they used to cost an ERROR row and exit 1, table by table)."""
    import os

    import psycopg

    from trafico_lib.sample import create_source_tables, load_samples
    with psycopg.connect(db_url, autocommit=True) as c:
        create_source_tables(c)
        load_samples(c, load_config(write(tmp_path, {"csv_sources": {"data_path": str(ROOT / "data")}}, "base.json"),
                                    env_file=None))
    env = {**os.environ, "TRAFICO_DATABASE_URL": db_url}
    for name, (content, said) in MID_RUN_CONFIG_ERRORS.items():
        if content is None:
            path = tmp_path / name
            path.mkdir()
        else:
            path = write(tmp_path, content if isinstance(content, str) else
                         {**content, "csv_sources": {"data_path": str(ROOT / "data")}}, f"{name}.json")
        for cmd in (["update_traficov2.py", "--no-notebook", "--mode", "full"], ["-m", "trafico_lib.runner", "sync"]):
            args = [sys.executable, *(str(ROOT / a) if a.endswith(".py") else a for a in cmd), "--config", str(path)]
            p = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
            lines = [s for s in p.stderr.splitlines() if s.strip()]
            assert p.returncode == 2, (name, cmd, p.stdout, p.stderr)
            assert len(lines) == 1 and lines[0].startswith(f"error: {path}") and said in lines[0], (name, lines)
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0


# ---- the old tool's live file, as it is (issue 22, point 1) ---------------------------------

# the old tool's trafico_config.json as its repository ships it today (docs/old-tool-facts.md §1),
# byte for byte
OLD_LIVE_FILE = r'''{
    "csv_sources": {
        "enabled": true,
        "data_path": "./data/",
        "files": {
            "arribos_semana": "arribos_semana.csv",
            "pendiente_desconsolidar": "pendiente_desconsolidar.csv",
            "remisiones_semana": "remisiones_semana.csv",
            "arribos_expo_ctns": "arribos_expo_semana_ctns.csv"
        }
    },
    "sql_server": {
        "enabled": false,
        "server": "SQL01\\SQLEXPRESS_X86,1437",
        "database": "DEPOFIS",
        "schema": "DASSA",
        "table": "Salidas",
        "username": "",
        "password": ""
    },
    "sync_settings": {
        "arribos": {
            "batch_size": 1000,
            "validation_enabled": true,
            "retry_attempts": 3
        },
        "pendiente_desconsolidar": {
            "batch_size": 500,
            "status_validation": true,
            "retry_attempts": 3
        },
        "remisiones": {
            "batch_size": 1000,
            "retry_attempts": 3
        },
        "arribos_expo_ctns": {
            "batch_size": 500,
            "container_assignment": true,
            "quantity_expansion": true,
            "retry_attempts": 3
        }
    },
    "business_rules": {
        "container_validation": {
            "required_fields": ["Contenedor", "Booking"],
            "container_format_regex": "^[A-Z]{4}[0-9]{7}$"
        },
        "booking_validation": {
            "required_fields": ["Booking", "Cliente"],
            "booking_format_regex": "^[A-Z0-9]{8,12}$"
        }
    },
    "archival": {
        "enabled": false,
        "days_to_keep": 365,
        "archive_tables": true
    }
}'''

OLD_ARCHIVAL_NOTES = ("archival.enabled is ignored", "archival.days_to_keep is ignored",
                      "archival.archive_tables is ignored")


def test_the_old_live_file_loads_with_its_meanings_and_one_notice_per_ignored_key(tmp_path):
    """Every key it has is accepted; the ones trafico does not use are notices on the config
    (load_config itself prints nothing: every notebook kernel loads the file again); its
    ``archival.enabled: false`` leaves the audit archive on, its 365 days shorten nothing."""
    cfg = load_config(write(tmp_path, OLD_LIVE_FILE), env_file=None)
    assert cfg.sql_server.server == "SQL01\\SQLEXPRESS_X86,1437" and not cfg.sql_server.enabled
    assert cfg.sql_server.username == "" and cfg.sql_server.password.get_secret_value() == ""
    assert cfg.secrets == []  # an empty password is no secret to scrub
    assert cfg.table("pendiente_desconsolidar").batch_size == 500 and cfg.table("pendiente_desconsolidar").status_validation
    assert cfg.audit_archive.enabled and cfg.audit_archive.days_to_keep == 30 and cfg.audit_archive.path == "runs"
    assert len(cfg.notices) == 3
    for note, said in zip(cfg.notices, OLD_ARCHIVAL_NOTES):
        assert note.startswith(f"{tmp_path / 'trafico_config.json'}: {said}: ") and "\n" not in note
    assert "notices" not in cfg.model_dump() and "audit_archive.enabled (true)" in cfg.notices[0]


def test_earlier_trafico_archival_keys_keep_working_through_the_new_key(tmp_path):
    """Configurations written for earlier trafico versions: ``archival.archive_path`` is still
    where the archive goes (with a note to move it); ``enabled``/``days_to_keep`` there are
    notes; ``audit_archive`` wins over them and is never switched off by them."""
    cfg = load_config(write(tmp_path, {"archival": {"archive_path": "old-runs", "enabled": False,
                                                    "days_to_keep": 7}}), env_file=None)
    assert cfg.audit_archive.path == "old-runs" and cfg.audit_archive.enabled and cfg.audit_archive.days_to_keep == 30
    assert any("archival.archive_path is read as audit_archive.path (old-runs)" in n for n in cfg.notices)
    both = load_config(write(tmp_path, {"archival": {"archive_path": "old-runs"},
                                        "audit_archive": {"path": "new-runs", "enabled": False,
                                                          "days_to_keep": 90}}, "both.json"), env_file=None)
    assert both.audit_archive.path == "new-runs" and not both.audit_archive.enabled
    assert both.audit_archive.days_to_keep == 90
    assert [n.split(": ", 1)[1] for n in both.notices] == [
        "archival.archive_path is ignored: audit_archive.path (new-runs) is given"]
    assert load_config(write(tmp_path, {}, "none.json"), env_file=None).notices == []


@pytest.mark.parametrize("data, expected", [
    ({"sync_settings": {"arribos": {"batchsize": 1000}}},
     "sync_settings.arribos.batchsize: unknown key (did you mean batch_size?)"),
    ({"archival": {"archive_table": True}}, "archival.archive_table: unknown key (did you mean archive_tables?)"),
    ({"sql_server": {"shema": "DASSA"}}, "sql_server.shema: unknown key (did you mean schema?)"),
    ({"audit_archive": {"days_to_kep": 30}}, "audit_archive.days_to_kep: unknown key (did you mean days_to_keep?)"),
    ({"sync_settings": {"arribos_expo": {}}}, "(did you mean arribos_expo_ctns?)"),
    ({"camiones": {}}, "camiones: unknown key"),
])
def test_a_key_nobody_ever_had_names_the_nearest_known_key(tmp_path, data, expected):
    p = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_config(p, env_file=None)
    assert str(e.value).startswith(f"{p}: ") and str(e.value).endswith(expected)
    if expected == "camiones: unknown key":
        assert "did you mean" not in str(e.value)  # nothing close: no guess


def test_the_old_live_file_as_it_is_runs_a_four_table_dry_run_with_each_note_once(db_url, tmp_path):
    """The old tool's migration step 3, as a depot would take it: ``trafico_config.json`` as it
    ships, in the working folder, ``python update_traficov2.py --dry-run`` (the notebooks, one
    kernel per table, each loading the file again): exit 0, each ignored key one note, once for
    the whole run; the audit archive stays on (the dry run's executed notebooks are kept, in
    runs-dry/). A key nobody had in that same file is exit 2 naming the nearest one."""
    import os

    import psycopg

    from trafico_lib.sample import load_samples
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, load_config(write(tmp_path, {"csv_sources": {"data_path": str(ROOT / "data")}},
                                          "samples.json"), env_file=None))
    write(tmp_path, OLD_LIVE_FILE)
    env = {**os.environ, "TRAFICO_DATABASE_URL": db_url}
    p = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--dry-run"], capture_output=True,
                       text=True, timeout=600, env=env, cwd=tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    everything = p.stdout + p.stderr
    for said in OLD_ARCHIVAL_NOTES:
        assert everything.count(said) == 1, (said, everything)
        line = next(s for s in p.stdout.splitlines() if said in s)
        assert f"note: trafico_config.json: {said}: " in line
    assert "Dry-run" in p.stdout and "Traceback" not in everything
    archived = sorted(x.name for x in (tmp_path / "runs-dry").rglob("*_sync_*.ipynb"))
    assert len(archived) == 4, archived  # one executed notebook per table: the archive is on
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0] == 0
    write(tmp_path, OLD_LIVE_FILE.replace('"batch_size": 500,\n            "status_validation"',
                                          '"batchsize": 500,\n            "status_validation"'))
    bad = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--dry-run"], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("error: trafico_config.json: sync_settings.pendiente_desconsolidar.batchsize: "
                                  "unknown key (did you mean batch_size?)")


# ---- the desk's own column names (issue 22, point 6) -----------------------------------------

def test_the_desks_lowercase_chofer_is_accepted_in_preserve_fields_and_back_propagate(tmp_path):
    """The desk's app writes ``chofer``: a name equal to a registry column ignoring case is
    accepted (resolved against the tables' real columns when they run, tests/test_desk_columns.py);
    the merge decides the registry's ``Chofer``, the trigger watches both spellings."""
    cfg = load_config(write(tmp_path, {"sync_settings": {"remisiones": {
        "preserve_fields": ["chofer", "ESTADO"], "back_propagate": ["chofer"]}}}), env_file=None)
    assert cfg.table("remisiones").back_propagate == ["chofer"]
    assert cfg.preserve_fields("remisiones") == ["Chofer", "Estado"]
    assert cfg.watched_fields("remisiones") == ["chofer", "ESTADO", "Chofer", "Estado"]
    assert cfg.watched_fields("arribos") == ["Chofer", "Estado"]  # not configured: the registry's


@pytest.mark.parametrize("field, value, expected", [
    ("back_propagate", "chofr", "got 'chofr' (did you mean Chofer?)"),
    ("preserve_fields", "Camion", "got 'Camion'"),
    ("preserve_fields", "peso", "expected text columns, got 'peso' (numeric)"),
    ("key", "contenedor", "got 'contenedor' (did you mean Contenedor?)"),  # the key: the registry's names only
])
def test_any_other_column_name_is_still_refused_with_the_nearest_one(tmp_path, field, value, expected):
    p = write(tmp_path, {"sync_settings": {"arribos": {field: [value]}}})
    with pytest.raises(ConfigError) as e:
        load_config(p, env_file=None)
    assert str(e.value).startswith(f"{p}: sync_settings.arribos.{field}: ") and str(e.value).endswith(expected)
    if value == "Camion":
        assert "did you mean" not in str(e.value)
