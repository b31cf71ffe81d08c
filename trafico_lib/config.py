"""Configuration: the old ``trafico_config.json`` shape plus the new keys (docs/architecture.md §7).

``load_config(path)`` reads the file (or returns built-in defaults when it is missing),
interpolates ``${ENV}`` references, applies environment overrides for secrets, and
validates everything with pydantic. Any problem is one :class:`ConfigError` whose message
names the file, the key path inside it and what was expected. Secrets are ``SecretStr``:
they never appear in a repr, a log line or an error.
"""
from __future__ import annotations

import difflib
import os
import re
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .clock import set_zone, zone_named
from .errors import ConfigError, connection_secrets
from .jsonfile import read_json
from .tables import AVAILABILITY_CSV, AVAILABILITY_CSV_KEY, SALIDAS_CSV, SALIDAS_CSV_KEY, TABLES

DEFAULT_CONFIG_FILE = "trafico_config.json"
PROJECT_DIR = Path(__file__).resolve().parent.parent  # the checkout: trafico_lib/ is one below
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _default_files() -> dict[str, str]:
    files = {spec.csv_file_key: spec.default_csv for spec in TABLES.values()}
    files[AVAILABILITY_CSV_KEY] = AVAILABILITY_CSV
    files[SALIDAS_CSV_KEY] = SALIDAS_CSV
    return files


class CsvSources(_Model):
    enabled: bool = True
    data_path: str = "./data/"
    backup_path: str | None = None  # dated target snapshots; default <data_path>/backup
    files: dict[str, str] = Field(default_factory=_default_files)

    @field_validator("files")
    @classmethod
    def _fill_defaults(cls, v: dict[str, str]) -> dict[str, str]:
        return {**_default_files(), **v}


class SqlServer(_Model):
    enabled: bool = False
    server: str = ""
    database: str = "DEPOFIS"
    schema_: str = Field("DASSA", alias="schema")
    table: str = "Salidas"
    username: str | None = None
    password: SecretStr | None = None
    driver: str | None = None  # None: the best SQL Server driver installed (sources.sqlserver.pick_driver)
    connection_string: SecretStr | None = None  # full override, e.g. for another ODBC driver
    lookback_days: int = Field(30, gt=0)
    timeout_seconds: int = Field(5, gt=0)
    timezone: str = "America/Argentina/Buenos_Aires"
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, v: str) -> str:
        zone_named(v)  # one line naming what was expected
        return v


def status_template_fields(template: str) -> set[str]:
    """The fields a status template names (``fecha_egr``, ``validada`` and validation-info columns); a
    template that cannot be parsed, or names a field by position, raises ValueError with one line."""
    import string
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"status template {template!r}: {exc}") from None
    out = set()
    for _, name, _, _ in parsed:
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if base == "" or base.isdigit():
            raise ValueError(f"status template {template!r}: use named fields like {{validada}}")
        out.add(base)
    return out


class _AnyValue:
    """Stands for a validation-info value when a template is checked before any is known."""

    def __format__(self, spec: str) -> str:
        return ""

    def __getattr__(self, name: str) -> _AnyValue:
        return self

    def __getitem__(self, key) -> _AnyValue:
        return self


def status_template_problem(template: str) -> str | None:
    """What is wrong with a status template, known before any exit record is read (it does
    not parse, names a field by position, or asks the exit time ``fecha_egr`` for what a time has
    not), or None. ``validada`` is checked as a time too (a format such as ``{validada:%H:%M}``
    needs one; whether the records hold one is known only when they are read), and so are the
    validation-info columns, which are known only from the records."""
    import pandas as pd
    moment = pd.Timestamp("2026-11-28 14:32", tz="America/Argentina/Buenos_Aires")
    try:
        fields = status_template_fields(template)
        template.format(**{f: _AnyValue() for f in fields if f not in ("fecha_egr", "validada")},
                        fecha_egr=moment, validada=moment)
    except ValueError as exc:
        return str(exc).removeprefix(f"status template {template!r}: ")
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class StatusSettings(_Model):
    enabled: bool = True
    template: str | None = None  # default depends on the table (see enrich.status)

    @field_validator("template")
    @classmethod
    def _template_renders(cls, v: str | None) -> str | None:
        problem = status_template_problem(v) if v is not None else None
        if problem:
            raise ValueError(f"a status template with named fields like 'Realizado {{fecha_egr:%d/%m/%Y %H:%M}}' "
                             f"({problem}), got {v!r}")
        return v


class TableSettings(_Model):
    batch_size: int = Field(1000, gt=0)
    validation_enabled: bool = True
    retry_attempts: int = Field(3, ge=1, le=20)
    container_assignment: bool = True
    quantity_expansion: bool = True
    status_validation: bool = True
    # new keys
    enabled: bool = True
    source: Literal["database", "csv"] = "database"
    key: list[str] | None = None
    preserve_fields: list[str] | None = None
    back_propagate: list[str] = Field(default_factory=lambda: ["Chofer"])
    updated_column: str | None = None  # None: detect updated_at / fecha_modificacion
    # a full run whose source lost more than this share of the rows it held at the table's last
    # successful run (an empty or cut-short source) is refused, unless allowed here or by
    # --allow-mass-deactivation (engine/guard.py)
    max_deactivation_share: float = Field(0.5, ge=0, le=1)
    allow_mass_deactivation: bool = False
    # a slot table's quantity (expo ``Cantidad``): a row asking for more slots than this, or a
    # negative number, is a reject with its reason (a row of 10**9 slots would exhaust memory)
    max_quantity: int = Field(500, ge=1, le=100_000)
    status: StatusSettings = Field(default_factory=StatusSettings)


class FieldRule(_Model):
    required_fields: list[str] = Field(default_factory=list)
    container_format_regex: str | None = None
    booking_format_regex: str | None = None

    @field_validator("container_format_regex", "booking_format_regex")
    @classmethod
    def _regex_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"a valid regular expression ({exc})") from None
        return v


class BusinessRules(_Model):
    container_validation: FieldRule | None = None
    booking_validation: FieldRule | None = None
    severity: dict[str, Literal["blocking", "warning"]] = Field(default_factory=dict)


class AuditArchive(_Model):
    """trafico's audit record: every run's executed notebook under ``path``; it, the sync log,
    changes and rejects rows and the CSV snapshots are kept ``days_to_keep`` days (``--prune``)."""
    enabled: bool = True
    path: str = "runs"
    days_to_keep: int = Field(30, gt=0)


class Archival(_Model):
    """The old tool's ``archival`` section, accepted and never used: the old tool never read it
    (it archived no rows). Earlier trafico versions kept the audit archive's keys here: their
    ``archive_path`` is still read as ``audit_archive.path``; see :func:`_archival_notices`."""
    enabled: bool | None = None
    days_to_keep: int | None = None
    archive_tables: bool | None = None
    archive_path: str | None = None


class Database(_Model):
    url: SecretStr | None = None
    embedded_path: str = ".trafico/pgdata"
    lock_timeout_seconds: float = Field(5.0, ge=0)
    lookback_minutes: float = Field(10.0, ge=0)
    connect_timeout_seconds: int = Field(5, gt=0)
    chunk_rows: int = Field(50_000, gt=0)  # source rows read and processed at a time (bounds memory)
    # the URL goes through a transaction pooler (Supabase's on port 6543, pgbouncer): each run's
    # staging is one transaction. None: yes for port 6543 or a *.pooler.supabase.com host
    transaction_pooler: bool | None = None


class Supabase(_Model):
    url: str | None = None
    key: SecretStr | None = None
    page_size: int = Field(1000, gt=0, le=1000)
    # a REST run's lease on its table lapses this long after its last renewal; the run renews it
    # every third of it while it works, so only a dead run's lease ever lapses
    lease_seconds: int = Field(90, ge=3, le=3600)


class Health(_Model):
    max_lag_hours: float = Field(24.0, gt=0)
    max_failed_syncs_24h: int = Field(0, ge=0)
    min_free_disk_mb: int = Field(500, ge=0)


class Runner(_Model):
    kernel_name: str = "python3"
    cell_timeout_seconds: int = Field(1800, gt=0)
    notebooks_dir: str = "notebooks"
    reports_dir: str = "reports"
    data_docs_keep_runs: int = Field(20, gt=0)  # validation results kept per table (Data Docs)


class Watch(_Model):
    """``trafico watch`` (``make watch``, trafico_lib/watch/): how often it probes each source,
    whether it installs a NOTIFY trigger on the source tables and listens, how long a failing
    table waits at most before its next try."""
    # a polled source's change probe, this often: 3 s + a warm run (~1 s) keeps a direct path within 5 s
    # without NOTIFY (a probe of a 2,000-row source costs ~4 ms)
    poll_seconds: float = Field(3.0, ge=0.01, le=3600)
    # opt-in: the source tables are not trafico's. true: on start the watch creates a statement-level
    # trigger on each watched source table (its owner's right) and LISTENs (direct connection only)
    notify: bool = False
    notify_poll_seconds: float = Field(60.0, ge=0.01, le=86400)  # a notified source's safety-net probe
    max_backoff_seconds: float = Field(300.0, ge=1, le=86400)  # a failing table's longest wait


class Config(_Model):
    csv_sources: CsvSources = Field(default_factory=CsvSources)
    sql_server: SqlServer = Field(default_factory=SqlServer)
    sync_settings: dict[str, TableSettings] = Field(default_factory=dict)
    business_rules: BusinessRules = Field(default_factory=BusinessRules)
    audit_archive: AuditArchive = Field(default_factory=AuditArchive)
    archival: Archival = Field(default_factory=Archival)  # the old tool's; ignored (notices)
    database: Database = Field(default_factory=Database)
    supabase: Supabase = Field(default_factory=Supabase)
    health: Health = Field(default_factory=Health)
    runner: Runner = Field(default_factory=Runner)
    watch: Watch = Field(default_factory=Watch)
    # the zone every time people read is shown in (IANA name); None: the machine's (clock.py)
    time_zone: str | None = None

    # where the file was read from (None: built-in defaults); not a config key
    source_path: str | None = Field(None, exclude=True)
    # one line per key accepted but ignored or read under its new name, for the command line to
    # print once per run (load_config never prints: every notebook kernel loads the file again)
    notices: list[str] = Field(default_factory=list, exclude=True)

    @field_validator("sync_settings")
    @classmethod
    def _known_tables(cls, v: dict[str, TableSettings]) -> dict[str, TableSettings]:
        unknown = sorted(set(v) - set(TABLES))
        if unknown:
            raise ValueError(f"one of {', '.join(TABLES)} (got {', '.join(unknown)})"
                             f"{did_you_mean(unknown[0], list(TABLES))}")
        return v

    @field_validator("time_zone")
    @classmethod
    def _known_display_zone(cls, v: str | None) -> str | None:
        if v is not None:
            zone_named(v)
        return v

    # ---- conveniences used everywhere -------------------------------------------------
    def table(self, name: str) -> TableSettings:
        return self.sync_settings.get(name) or TableSettings()

    def preserve_fields(self, name: str) -> list[str]:
        """A table's preserved fields as the merge knows them (the registry's spelling of its
        configured ``preserve_fields``, e.g. ``Chofer`` for the desk's ``chofer``), else the registry's."""
        configured = self.table(name).preserve_fields
        if configured is None:
            return list(TABLES[name].preserve_fields)
        spec = TABLES[name]
        return list(dict.fromkeys(spec.column_named(f) or f for f in configured))

    def watched_fields(self, name: str) -> list[str]:
        """The columns the manual-edit trigger watches: :meth:`preserve_fields` plus each
        configured name as written (the desk's own ``chofer`` column of an adopted table); a
        name the table lacks is never edited, so it records nothing."""
        configured = self.table(name).preserve_fields or []
        return list(dict.fromkeys([*configured, *self.preserve_fields(name)]))

    @property
    def base_dir(self) -> Path:
        return Path(self.source_path).resolve().parent if self.source_path else Path.cwd()

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder (or the cwd)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def relative(self, path: str | Path | None) -> str | None:
        """A path relative to the config file's folder (or the cwd) when under it, else absolute:
        what a kernel started in that folder reads back as the same file (notebook parameters)."""
        if path is None:
            return None
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.base_dir.resolve())) if p.is_absolute() else str(p)
        except ValueError:
            return str(p)

    def shown(self, path: str | Path | None) -> str | None:
        """A path as people see it: relative to the config file's folder (or the cwd) when
        under it, else to the project's folder (the checkout: ``data/…``), else as it is; a
        relative path is taken as relative to the config's folder already."""
        if path is None:
            return None
        p = Path(path)
        if not p.is_absolute():
            return str(p)
        for base in (self.base_dir, PROJECT_DIR):
            try:
                return str(p.resolve().relative_to(base.resolve()))
            except ValueError:
                continue
        return str(p)

    def csv_path(self, file_key: str) -> Path:
        return self.resolve(self.csv_sources.data_path) / self.csv_sources.files.get(file_key, file_key)

    @property
    def database_url(self) -> str | None:
        return self.database.url.get_secret_value() if self.database.url else None

    @property
    def secrets(self) -> list[str]:
        """Every secret value in force, for scrubbing archives and tests."""
        out = connection_secrets(self.database_url)  # the URL, its password and its pieces
        for s in (self.supabase.key, self.sql_server.password, self.sql_server.connection_string):
            if s is not None and s.get_secret_value():
                out.append(s.get_secret_value())
        return out


# ---- loading ---------------------------------------------------------------------------

def _interpolate(value: Any, path: str, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else k, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", where) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        def repl(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: {path}: environment variable {name} is not set")
        return _ENV_REF.sub(repl, value)
    return value


def _env_overrides(data: dict[str, Any]) -> dict[str, Any]:
    env = os.environ
    db = data.setdefault("database", {})
    if env.get("TRAFICO_DATABASE_URL"):
        db["url"] = env["TRAFICO_DATABASE_URL"]
    sb = data.setdefault("supabase", {})
    url = env.get("SUPABASE_URL") or env.get("url_supabase")
    key = env.get("SUPABASE_KEY") or env.get("key_supabase")
    if url:
        sb["url"] = url
    if key:
        sb["key"] = key
    ss = data.get("sql_server")
    if isinstance(ss, dict) or env.get("TRAFICO_SQLSERVER_PASSWORD"):
        ss = data.setdefault("sql_server", {})
        if env.get("TRAFICO_SQLSERVER_USER"):
            ss["username"] = env["TRAFICO_SQLSERVER_USER"]
        if env.get("TRAFICO_SQLSERVER_PASSWORD"):
            ss["password"] = env["TRAFICO_SQLSERVER_PASSWORD"]
        if env.get("TRAFICO_SQLSERVER_CONNECTION_STRING"):
            ss["connection_string"] = env["TRAFICO_SQLSERVER_CONNECTION_STRING"]
    return data


def did_you_mean(name: str, known: list[str]) -> str:
    """`` (did you mean X?)`` for the known name nearest ``name`` (ignoring case), or ``""``
    when none is close."""
    by_lower = {k.lower(): k for k in known}
    near = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[near[0]]}?)" if near else ""


def _unwrap(tp: Any) -> Any:
    """``X`` of ``X | None``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1 else tp


def _keys_at(loc: tuple) -> list[str]:
    """The keys the file may hold at ``loc`` (a path of keys from the top), [] when unknown."""
    tp: Any = Config
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items() if not f.exclude]
    return []


def _describe(err: ErrorDetails) -> str:
    msg = err["msg"]
    typ = err["type"]
    got = err.get("input")
    if typ == "extra_forbidden":
        return "unknown key" + did_you_mean(str(err["loc"][-1]), _keys_at(tuple(err["loc"][:-1])))
    if typ == "value_error":
        msg = "expected " + msg.removeprefix("Value error, ")
    elif typ == "missing":
        return "required key is missing"
    else:
        msg = "expected " + msg[0].lower() + msg[1:]
        msg = msg.replace("expected input should be ", "expected ")
    if got is not None and not isinstance(got, (dict, list)) and typ != "value_error":
        shown = "***" if isinstance(got, str) and len(got) > 60 else repr(got)
        msg += f", got {shown}"
    return msg


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: str | os.PathLike | None = None, *, env_file: str | None = ".env") -> Config:
    """Load, interpolate and validate the configuration.

    ``path`` None means ``trafico_config.json`` in the current folder if present,
    else built-in defaults. An explicit path that does not exist is an error.
    """
    if env_file:
        try:
            from dotenv import load_dotenv
            load_dotenv(env_file, override=False)
        except ImportError:  # pragma: no cover - python-dotenv is a dependency
            pass
    explicit = path is not None
    p = Path(path) if path is not None else Path(DEFAULT_CONFIG_FILE)
    where = str(p)
    data: dict[str, Any] = {}
    as_written: dict[str, Any] = {}
    if p.exists():
        data = read_json(p, where, ConfigError)
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object at the top level")
        as_written = data
        data = _interpolate(data, "", where)
    elif explicit:
        raise ConfigError(f"{where}: config file not found")
    data = _env_overrides(data)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{where}: {_format_loc(first['loc'])}: {_describe(first)}{suffix}") from None
    cfg.source_path = str(p.resolve()) if p.exists() else None
    cfg.notices = _archival_notices(where, cfg)
    if _has_plain_password(as_written):
        warnings.warn(f"{where}: a password is written in the file; prefer the environment or .env",
                      stacklevel=2)
    for name, ts in cfg.sync_settings.items():
        _check_table_settings(where, name, ts)
    _check_business_rules(where, cfg.business_rules)
    set_zone(cfg.time_zone)  # every time shown from here on, in this process (clock.py)
    return cfg


def _archival_notices(where: str, cfg: Config) -> list[str]:
    """The old ``archival`` section (docs/old-tool-facts.md §1): the old tool never read it,
    so none of it switches trafico's audit archive off or shortens what is kept. One line per
    key the file gives. ``archive_path`` (earlier trafico versions' key) is still read as
    ``audit_archive.path`` unless that is given."""
    old, new = cfg.archival, cfg.audit_archive
    given, new_given = old.model_fields_set, new.model_fields_set
    out = []
    if "enabled" in given:
        out.append(f"archival.enabled is ignored: the old tool never read it (it archived no table rows); "
                   f"the audit archive of executed notebooks is audit_archive.enabled ({str(new.enabled).lower()})")
    if "days_to_keep" in given:
        out.append(f"archival.days_to_keep is ignored: the old tool never read it; the audit archive, sync log "
                   f"and CSV snapshots are kept audit_archive.days_to_keep days ({new.days_to_keep})")
    if "archive_tables" in given:
        out.append("archival.archive_tables is ignored: the old tool never read it; trafico archives no table "
                   "rows (a row that left the source is deactivated, never deleted)")
    if "archive_path" in given and old.archive_path is not None:
        if "path" in new_given:
            out.append(f"archival.archive_path is ignored: audit_archive.path ({new.path}) is given")
        else:
            new.path = old.archive_path
            out.append(f"archival.archive_path is read as audit_archive.path ({new.path}), its new name: "
                       f"move it there")
    return [f"{where}: {line}" for line in out]


def _has_plain_password(data: dict[str, Any]) -> bool:
    ss = data.get("sql_server") or {}
    sb = data.get("supabase") or {}
    db = data.get("database") or {}
    def literal(v: Any) -> bool:
        return isinstance(v, str) and v != "" and "${" not in v and v != "your_password"
    return (literal(ss.get("password")) or literal(sb.get("key"))
            or (literal(db.get("url")) and re.search(r"://[^:/@]+:[^@]+@", db.get("url", "")) is not None))


def _check_business_rules(where: str, rules: BusinessRules) -> None:
    """Names in ``business_rules`` must exist: required fields are columns of some table,
    severities name known rules (the suites are read as JSON; GX is never imported here)."""
    columns = sorted({c for spec in TABLES.values() for c in spec.column_names})
    for group, rule in rules:
        for f in rule.required_fields if isinstance(rule, FieldRule) else ():
            if f not in columns:
                raise ConfigError(f"{where}: business_rules.{group}.required_fields: expected column "
                                  f"names of the tables ({', '.join(columns)}), got {f!r}")
    if rules.severity:
        from .rules.suites import unknown_severity_rule
        problem = unknown_severity_rule(rules.severity)
        if problem:
            raise ConfigError(f"{where}: {problem}")


def _check_table_settings(where: str, name: str, ts: TableSettings) -> None:
    """Column names must exist: ``key`` as the registry spells them; ``preserve_fields`` and
    ``back_propagate`` ignoring case too (the desk's app writes a lowercase ``chofer``), resolved
    against the tables' real columns when they run."""
    spec = TABLES[name]
    cols = spec.target_column_names
    for field_name in ("key", "preserve_fields", "back_propagate"):
        values = getattr(ts, field_name) or []
        for v in values:
            if v not in cols and (field_name == "key" or spec.column_named(v) is None):
                raise ConfigError(
                    f"{where}: sync_settings.{name}.{field_name}: expected column names of "
                    f"{spec.source} ({', '.join(cols)}), got {v!r}{did_you_mean(v, cols)}")
    for v in ts.preserve_fields or []:
        column = spec.column_named(v)
        if column is None:  # refused just above
            continue
        kind = spec.type_of(column)
        if kind != "text":
            raise ConfigError(f"{where}: sync_settings.{name}.preserve_fields: expected text columns, "
                              f"got {v!r} ({kind})")
