"""The one error model and the one scrubber: lines, exit codes, every form of credential."""
from __future__ import annotations

import psycopg
import pytest

from trafico_lib.errors import (ConfigError, SyncFailed, TableLocked, TransientError, UsageError,
                                connection_secrets, describe_conninfo, exit_code, one_line, scrub)
from trafico_lib.stores import PostgresStore, StoreError
from trafico_lib.stores.base import Store
from trafico_lib.stores.postgres import is_transient

SECRET = "S3CRET-pw_42"


def test_exit_codes_follow_the_tree():
    assert exit_code(ConfigError("x")) == exit_code(UsageError("x")) == 2
    assert exit_code(SyncFailed("x")) == exit_code(TransientError("x")) == exit_code(TableLocked("x")) == 1
    assert exit_code(StoreError("x")) == 1 and isinstance(StoreError("x"), TransientError)
    assert exit_code(ValueError("x")) == 1


def test_one_line_keeps_ours_as_they_are_and_names_the_type_of_others():
    assert one_line(SyncFailed("arribos: source table 'arribos' does not exist\nmore")) == \
        "arribos: source table 'arribos' does not exist"
    assert one_line(KeyError("k")) == "KeyError: 'k'"
    assert one_line(RuntimeError()) == "RuntimeError"
    assert one_line(RuntimeError(f"bad password {SECRET}"), [SECRET]) == "RuntimeError: bad password ***"


@pytest.mark.parametrize("text", [
    f"postgresql://trafico:{SECRET}@db.example.internal:5432/depo",
    f"host=db.example.internal user=trafico password={SECRET} dbname=depo",
    f"host=db user=trafico password='{SECRET} with spaces' dbname=depo",
    f"DRIVER={{ODBC Driver 18}};SERVER=x;UID=depo;PWD={{{SECRET}}};",
    f"Server=x;Pwd={SECRET};Database=y",
])
def test_every_form_of_credential_is_masked_even_when_not_configured(text):
    out = scrub(f"error: cannot connect: {text}")
    assert SECRET not in out and "***" in out


def test_configured_secrets_are_masked_plain_html_and_json_escaped():
    secret = 'p<a"ss>&w'
    text = f'plain {secret} json {secret.replace(chr(34), chr(92) + chr(34))} html p&lt;a&quot;ss&gt;&amp;w'
    assert scrub(text, [secret]) == "plain *** json *** html ***"


def test_connection_secrets_and_names_of_every_conninfo_form():
    url = f"postgresql://trafico:{SECRET}@db.example.internal/depo"
    kv = f"host=db.example.internal user=trafico password={SECRET} dbname=depo"
    assert SECRET in connection_secrets(url) and SECRET in connection_secrets(kv)
    assert describe_conninfo(url) == describe_conninfo(kv) == "db.example.internal/depo"
    assert SECRET not in describe_conninfo(f"postgresql//trafico:{SECRET}@host/db")
    assert SECRET in connection_secrets(f"postgres://u:{SECRET}@h/d?sslmode=require")


def test_a_connection_error_never_shows_the_password_of_a_key_value_conninfo():
    store = PostgresStore(f"host=127.0.0.1 port=1 user=trafico password={SECRET} dbname=depo connect_timeout=2")
    with pytest.raises(StoreError) as err:
        store.connect()
    assert str(err.value).startswith("cannot connect to PostgreSQL at 127.0.0.1/depo") and SECRET not in str(err.value)
    assert store.name == "PostgreSQL at 127.0.0.1/depo"


def test_transient_means_connection_faults_not_resource_exhaustion():
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    assert is_transient(lost)
    assert is_transient(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_transient(psycopg.errors.SerializationFailure("could not serialize"))
    assert not is_transient(psycopg.errors.OutOfMemory("out of shared memory"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))


def test_the_direct_store_implements_the_store_protocol(db_url):
    store = PostgresStore(db_url)
    assert isinstance(store, Store)
    assert store.kind == "postgres" and "@" not in store.name
