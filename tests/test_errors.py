"""The one error model and the one scrubber: lines, exit codes, every form of credential."""
from __future__ import annotations

import psycopg
import pytest

from trafico_lib.errors import (ConfigError, StoreUnavailable, SyncFailed, TableLocked, TransientError, UsageError,
                                connection_secrets, describe_conninfo, exit_code, one_line, scrub)
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.base import Store
from trafico_lib.stores.rest.client import Unavailable
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.stores.postgres import is_transient

SECRET = "S3CRET-pw_42"


def test_exit_codes_follow_the_tree():
    assert exit_code(ConfigError("x")) == exit_code(UsageError("x")) == 2
    assert exit_code(SyncFailed("x")) == exit_code(TransientError("x")) == exit_code(TableLocked("x")) == 1
    assert exit_code(StoreUnavailable("x")) == 1 and isinstance(StoreUnavailable("x"), TransientError)
    assert issubclass(Unavailable, StoreUnavailable)  # the REST store's unreachable project is the same error
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
    with pytest.raises(StoreUnavailable) as err:
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


def test_the_rest_store_implements_the_store_protocol_with_nothing_stubbed():
    """Both stores answer every member of the contract (mypy checks the signatures: ``make
    lint``); what only a database connection does (a transaction, creating the schema) is
    the direct store's own, not stubbed to raise on the REST store."""
    import base64
    import json
    claims = base64.urlsafe_b64encode(json.dumps({"role": "service_role"}).encode()).decode().rstrip("=")
    store = RestStore("http://127.0.0.1:1", f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2lnbmF0dXJlc2ln")
    assert isinstance(store, Store)
    assert store.kind == "supabase-rest" and store.name == "Supabase REST API (127.0.0.1:1)"
    assert not hasattr(store, "transaction") and not hasattr(store, "init_schema")


SCRUB_A_MEGABYTE = r'''
import sys
from trafico_lib.errors import scrub
secret = "Pl4nted-S3cret"
size = 1_000_000
for unit in ("a", "a://a:", "pwd={ ", "eyJ", "u:p@h ", "Realizado 28/11 x:y@z eyJabcdefghij.abcdefghij "):
    text = (unit * (size // len(unit) + 1))[:size]
    planted = text[:size // 2] + f" {secret} postgresql//app:{secret}@db/depo " + text[size // 2:]
    out = scrub(planted, [secret])
    assert secret not in out, unit
    if "@" not in unit and "pwd" not in unit and "eyJ" not in unit:
        assert out == text[:size // 2] + " *** postgresql//app:***@db/depo " + text[size // 2:], unit
print("ok")
'''


def test_scrubbing_a_megabyte_is_linear_and_still_masks_the_secret():
    """Texts of 1 MB shaped to make a scan restart at every character (the old scrubber took
    minutes on one): each is scrubbed well within the bound (about a second in all, on a slow
    machine, where the quadratic one needed over ten minutes), the planted password masked and
    nothing else changed. The bound is 60 s so a loaded machine never flakes it; the ratio of
    1 MB to 100 KB is what ``scripts/bench.py --scrub-only`` prints."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-c", SCRUB_A_MEGABYTE], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


@pytest.mark.parametrize("text, hidden", [
    ("cannot connect: failed to resolve host 'S3cret_x9@127.0.0.1'", ["S3cret_x9"]),
    ('unexpected spaces found in "x S3cret_x9@127.0.0.1"', ["S3cret_x9"]),
    ("PostgreSQL at app/S3cret_x9@127.0.0.1/depo", ["S3cret_x9"]),
])
def test_the_pieces_of_a_password_libpq_misread_are_masked_where_its_messages_put_them(text, hidden):
    for url in ("postgresql://app:Pl4nted@S3cret_x9@127.0.0.1/depo", "postgresql://app:Pl4nted@x S3cret_x9@127.0.0.1/depo",
                "postgresql://app:Pl4nted/S3cret_x9@127.0.0.1/depo"):
        secrets = connection_secrets(url)
        assert "S3cret_x9" not in secrets  # a piece is masked, yet no secret of its own (a parameter may hold it)
        out = scrub(text, secrets)
        assert not [h for h in hidden if h in out], out
        assert "Pl4nted" not in describe_conninfo(url) and "S3cret_x9" not in describe_conninfo(url)
        assert "@ as %40" in describe_conninfo(url)


@pytest.mark.parametrize("text", [
    f"cannot connect postgresql//app:{SECRET}@127.0.0.1/depo",
    f"cannot connect postgresql:/app:{SECRET}@127.0.0.1/depo",
    f"cannot connect postgres:/app:{SECRET}@127.0.0.1/depo",
    f"cannot connect //app:{SECRET}@127.0.0.1/depo",
    f"cannot connect 'app:{SECRET}@127.0.0.1/depo'",
    f"url=postgresql://app:{SECRET}@127.0.0.1/depo",
    f"Illegal header value b'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.{SECRET}-x\\r'",
])
def test_mistyped_urls_and_escaped_jwts_are_masked_even_when_not_configured(text):
    assert SECRET not in scrub(text) and "***" in scrub(text)


def test_a_key_with_a_stray_line_end_is_masked_as_written_stripped_and_escaped():
    key = f"sb_secret_{SECRET}\r"
    for shown in (key, key.strip(), repr(key)[1:-1], f"b'{key.strip()}\\r'"):
        assert SECRET not in scrub(f"header {shown} refused", [key]), shown


def test_both_stores_answer_every_call_of_the_contract_by_the_same_parameters():
    """The protocol (stores/base.py) as both stores take it: each member present, each call's
    parameters the same names, kinds and defaults (mypy checks the types: ``make lint``)."""
    import inspect
    members = [n for n, v in vars(Store).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))]
    assert {"require_schema", "read_source", "health_reader", "staging"} <= set(members)

    def params(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]
    for cls in (PostgresStore, RestStore):
        for name in members:
            assert hasattr(cls, name), (cls.__name__, name)
            if not isinstance(vars(Store)[name], property):
                assert params(getattr(cls, name)) == params(getattr(Store, name)), (cls.__name__, name)

