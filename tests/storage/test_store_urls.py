"""Store URLs: every factory option from the query with typed values, unknown or bad ones
refused by name, nothing created by ``create=False``, and no password in any message or repr."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager.exceptions import StoreUnavailableError
from a2a_session_manager.storage import (
    InMemorySessionStore,
    create_file_session_store,
    create_session_store,
    create_sqlite_session_store,
    redact_url,
    url_parameters,
)

SECRET = "Pw-7f3Zq-never-print"


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local(scheme: str, tmp_path: Path) -> str:
    return {"memory": "memory://", "file": f"file://{tmp_path / 'dir'}", "sqlite": f"sqlite:///{tmp_path / 'x.db'}"}[
        scheme
    ]


# ===================================================================== redaction
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://user:{SECRET}@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"),
        (f"rediss://:{SECRET}@cache.example:6380/1?prefix=a:", "rediss://:***@cache.example:6380/1?prefix=a:"),
        # Unencoded / ? # in a password fool urlsplit; the password is still hidden whole.
        ("redis://:Pw/7f3Zq@127.0.0.1/0", "redis://:***@127.0.0.1/0"),
        ("redis://:Pw?7f3Zq@127.0.0.1", "redis://:***@127.0.0.1"),
        ("redis://:Pw#7f3Zq@127.0.0.1", "redis://:***@127.0.0.1"),
        (f"unix://:{SECRET}@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        (f"unix:///run/redis.sock?password={SECRET}", "unix:///run/redis.sock?password=***"),
        (f"user:{SECRET}@host", "user:***@host"),  # no scheme: still a server address
        (f"host=db password={SECRET}", "host=db password=***"),  # a DSN
        (
            "redis://127.0.0.1:6379/0?ssl_ca_certs=/home/a@b/ca.pem",
            "redis://127.0.0.1:6379/0?ssl_ca_certs=/home/a@b/ca.pem",
        ),
        ("sqlite:///data/a@b.db", "sqlite:///data/a@b.db"),
    ],
)
def test_redact_url_hides_every_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://u:{SECRET}@host/x",  # unknown scheme
        f"redis://u:{SECRET}@127.0.0.1/0?tll=5",  # unknown parameter
        f"redis://u:{SECRET}@127.0.0.1/0?ttl=abc",  # bad value
        f"redis://u:{SECRET}@127.0.0.1:notaport/0",  # bad port
        f"redis://u:{SECRET}@127.0.0.1/x",  # bad database
        f"redis://:{SECRET}/x@127.0.0.1/0",  # unencoded '/' in the password
        f"redis://:{SECRET}?x@127.0.0.1/0",  # unencoded '?': no piece of it is named as a parameter
        f"unix:///run/redis.sock?password={SECRET}&tll=1",
        f"u:{SECRET}@host",  # not a URL at all
        f"host=db password={SECRET}",
    ],
)
def test_create_session_store_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        create_session_store(url)
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value) or "password" not in url


@pytest.mark.parametrize("url", [f"app:{SECRET}@127.0.0.1:6379", f"redis://:{SECRET}/x@127.0.0.1/0"])
def test_the_redis_factory_refuses_a_misread_url_without_showing_the_password(url: str) -> None:
    pytest.importorskip("redis")
    from a2a_session_manager.storage import create_redis_session_store

    with pytest.raises(ValueError) as caught:
        create_redis_session_store(url=url)
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_redis_store_repr_and_unreachable_error_never_show_the_password() -> None:
    pytest.importorskip("redis")
    port = _unused_port()
    store = create_session_store(f"redis://app:{SECRET}@127.0.0.1:{port}/0?socket_timeout=0.5")
    try:
        assert SECRET not in repr(store) and SECRET not in str(store)
        with pytest.raises(StoreUnavailableError) as caught:
            store.list_sessions()
        assert SECRET not in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)
    finally:
        store.close()


# ============================================================ unknown / bad values
@pytest.mark.parametrize("scheme", ["memory", "file", "sqlite"])
def test_an_unknown_parameter_is_refused_naming_it_and_the_accepted_ones(scheme: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'tll'.* accepts ttl, expiration_seconds"):
        create_session_store(f"{_local(scheme, tmp_path)}?tll=5")
    assert not (tmp_path / "dir").exists() and not (tmp_path / "x.db").exists()


def test_redis_urls_refuse_unknown_parameters_with_a_hint() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match=r"unknown parameters 'a', 'tll'; redis:// accepts ttl, .*prefix"):
        create_session_store("redis://127.0.0.1:6379/0?tll=5&a=1")
    with pytest.raises(ValueError, match=r"'db' \(the database number goes in the path"):
        create_session_store("redis://127.0.0.1:6379?db=2")
    with pytest.raises(ValueError, match=r"'ssl_ca_certs' \(TLS options need a rediss:// URL\)"):
        create_session_store("redis://127.0.0.1:6379/0?ssl_ca_certs=/tmp/ca.pem")
    with pytest.raises(ValueError, match="unknown parameter 'cluster'"):
        create_session_store("unix:///run/redis.sock?cluster=1")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ttl=abc", "ttl must be a positive whole number of seconds, not 'abc'"),
        ("ttl=0", "ttl must be a positive whole number of seconds, not '0'"),
        ("ttl=-5", "ttl must be a positive whole number of seconds"),
        ("ttl=1.5", "ttl must be a positive whole number of seconds"),
        ("ttl=", "ttl must be a positive whole number of seconds, not ''"),
        ("expiration_seconds=x", "expiration_seconds must be a positive whole number"),
        ("fsync=maybe", "fsync must be 1 or 0"),
        ("create=2", "create must be 1 or 0"),
        ("ttl=5&ttl=6", "ttl is given twice"),
        ("ttl=5&expiration_seconds=6", "expiration_seconds and ttl name the same option"),
        ("ttl", "the query is not name=value pairs"),
    ],
)
def test_bad_values_of_local_stores_are_refused_by_name(query: str, message: str, tmp_path: Path) -> None:
    for scheme in ("file", "sqlite"):
        with pytest.raises(ValueError, match=message):
            create_session_store(f"{_local(scheme, tmp_path)}?{query}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("socket_timeout=abc", "socket_timeout must be a positive number of seconds, not 'abc'"),
        ("socket_timeout=0", "socket_timeout must be a positive number"),
        ("socket_timeout=inf", "socket_timeout must be a positive number"),
        ("socket_timeout=nan", "socket_timeout must be a positive number"),
        ("cluster=maybe", "cluster must be 1 or 0"),
        ("allow_eviction=please", "allow_eviction must be 1 or 0"),
        ("prefix=a:&key_prefix=b:", "name the same option"),
        ("ssl_cert_reqs=sometimes", "ssl_cert_reqs must be required, optional or none"),
        ("ssl_ca_certs=", "ssl_ca_certs needs a file path"),
        ("ssl_check_hostname=perhaps", "ssl_check_hostname must be 1 or 0"),
    ],
)
def test_bad_values_of_redis_urls_are_refused_by_name(query: str, message: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match=message):
        create_session_store(f"rediss://127.0.0.1:6380/0?{query}")


def test_a_malformed_query_or_fragment_is_refused() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match="fragment"):
        create_session_store("redis://127.0.0.1:6379/0#x")


# ============================================================== options reach the store
@pytest.mark.parametrize("alias", ["ttl", "expiration_seconds"])
def test_every_local_store_option_is_read_from_the_url(alias: str, tmp_path: Path) -> None:
    memory = create_session_store(f"memory://?{alias}=30")
    assert isinstance(memory, InMemorySessionStore) and memory.expiration_seconds == 30
    for scheme in ("file", "sqlite"):
        store: Any = create_session_store(f"{_local(scheme, tmp_path)}?{alias}=60&fsync=yes")
        assert (store.expiration_seconds, store.fsync) == (60, True)
        store.close()
        store = create_session_store(f"{_local(scheme, tmp_path)}?fsync=off&create=0")  # exists now
        assert (store.expiration_seconds, store.fsync) == (None, False)
        store.close()


def test_keyword_options_override_the_url(tmp_path: Path) -> None:
    store: Any = create_session_store(f"sqlite:///{tmp_path / 'k.db'}?ttl=60&fsync=1", expiration_seconds=5)
    assert (store.expiration_seconds, store.fsync) == (5, True)
    store.close()


def test_every_redis_option_is_read_from_the_url() -> None:
    pytest.importorskip("redis")
    store: Any = create_session_store(
        "rediss://127.0.0.1:6380/3?key_prefix=app:&ttl=90&allow_eviction=1&socket_timeout=0.25"
        "&ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=optional&ssl_check_hostname=0"
    )
    assert (store.key_prefix, store.expiration_seconds, store.allow_eviction) == ("app:", 90, True)
    store.close()
    store = create_session_store("redis://127.0.0.1:7000?prefix=p:&cluster=true")
    assert (store.key_prefix, store.cluster) == ("p:", True)
    store.close()


def test_socket_timeout_from_the_url_bounds_an_unreachable_server() -> None:
    pytest.importorskip("redis")
    store = create_session_store(f"redis://127.0.0.1:{_unused_port()}/0?socket_timeout=0.25")
    try:
        with pytest.raises(StoreUnavailableError, match=r"socket_timeout=0\.25s"):
            store.get("s1")
    finally:
        store.close()


def test_unix_socket_credentials_from_the_query_stay_out_of_the_repr() -> None:
    pytest.importorskip("redis")
    # (The tests may not open unix sockets: the password moving out of the query is what counts.)
    store = create_session_store(f"unix:///nonexistent/redis.sock?db=2&username=app&password={SECRET}")
    try:
        assert SECRET not in repr(store) and "/nonexistent/redis.sock" in repr(store)
    finally:
        store.close()


def test_url_parameters_lists_what_each_scheme_accepts() -> None:
    assert list(url_parameters("sqlite")) == ["ttl", "expiration_seconds", "fsync", "create"]
    assert {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"} <= set(url_parameters("rediss"))
    assert "ssl_ca_certs" not in url_parameters("redis")
    with pytest.raises(ValueError, match="unknown store URL scheme"):
        url_parameters("ftp")


# ====================================================================== create=False
def test_create_false_opens_only_existing_local_stores_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match=r"no SQLite database at .*typo\.db"):
        create_session_store(f"sqlite:///{tmp_path / 'typo.db'}", create=False)
    with pytest.raises(StoreUnavailableError, match=r"no file store at .*nonexistent"):
        create_session_store(f"file://{tmp_path / 'nonexistent' / 'dir'}", create=False)
    with pytest.raises(StoreUnavailableError):
        create_session_store(f"sqlite:///{tmp_path / 'typo.db'}?create=0")
    with pytest.raises(StoreUnavailableError):
        create_sqlite_session_store(tmp_path / "typo.db", create=False)
    with pytest.raises(StoreUnavailableError):
        create_file_session_store(tmp_path / "nonexistent", create=False)
    assert list(tmp_path.iterdir()) == []
    # A folder is not a SQLite file, and a file is not a file store.
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StoreUnavailableError):
        create_session_store(f"sqlite:///{tmp_path / 'folder'}", create=False)
    with pytest.raises(StoreUnavailableError):
        create_session_store(f"file://{tmp_path / 'plain'}", create=False)
    # Stores that exist open; memory ignores the option.
    create_session_store(f"sqlite:///{tmp_path / 'real.db'}").close()
    create_session_store(f"sqlite:///{tmp_path / 'real.db'}", create=False).close()
    assert isinstance(create_session_store("memory://", create=False), InMemorySessionStore)
