"""Redis store hardening (issue 11): ids under an encoding, server refusals, eviction, TLS.

Tests that change a server's configuration start their own throwaway ``redis-server``
(free loopback port, ``--save "" --appendonly no``, files under ``tmp_path``) and stop it
at the end; the shared test server's configuration is never changed. Everything else
runs on the ``redis_url`` server under a fresh key prefix whose keys are deleted after.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("redis")

import redis
from a2a_session_manager.exceptions import CorruptSessionError, StorageError, StoreUnavailableError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage import SessionStore, create_session_store
from a2a_session_manager.storage.providers.redis import RedisSessionStore
from redis.crc import key_slot

from tests.conftest import _free_port, _ping

ODD_IDS = [
    "user+1@example.com",
    "tenant/42",
    "a b",
    "*",
    "[ab]?",
    "a}b{c",
    "{}",
    "..",
    "../x",
    "a%20b",
    "100%",
    "héllo wörld ☃ 日本語 🙂",
    "x" * 256,
]


def _event(text: str, event_id: str | None = None) -> SessionEvent:
    if event_id is None:
        return SessionEvent(message=text, source=EventSource.USER)
    return SessionEvent(id=event_id, message=text, source=EventSource.USER)


def _poll(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# ===================================================================== fixtures


@dataclass
class Server:
    """A throwaway redis-server this test started; ``admin`` is a plain client on it."""

    port: int
    url: str
    proc: subprocess.Popen[bytes]
    admin: Any


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start throwaway redis-server processes (each stopped at teardown).

    ``spawn(*args, password=None, admin_url=None, plain=True)``: extra server arguments;
    the server is ready once ``admin_url`` (default: its plain URL, with ``password``)
    answers PING. ``plain=False`` opens no plain TCP port (a TLS-only server).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server on PATH: these tests start throwaway servers")
    started: list[Server] = []

    def start(*args: str, password: str | None = None, admin_url: str | None = None, plain: bool = True) -> Server:
        port = _free_port()
        workdir = tmp_path / f"redis-{port}"
        workdir.mkdir()
        listen = ["--port", str(port)] if plain else ["--port", "0"]
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", *listen, "--save", "", "--appendonly", "no", "--dir", str(workdir), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        auth = f":{password}@" if password else ""
        url = f"redis://{auth}127.0.0.1:{port}/0"
        probe = admin_url or url
        deadline = time.monotonic() + 10
        while not _ping(probe):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"could not start a throwaway redis-server with {args}")
            time.sleep(0.02)
        server = Server(port, f"redis://127.0.0.1:{port}/0", proc, redis.Redis.from_url(probe))
        started.append(server)
        return server

    yield start
    for server in started:
        server.admin.close()
        server.proc.terminate()
    for server in started:
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.proc.kill()


def _fill(store: SessionStore, sid: str) -> None:
    store.save(Session(id=sid))
    store.append_events(sid, [_event(f"{sid}-1"), _event(f"{sid}-2")])
    store.upsert_run(sid, SessionRun())
    store.put_record(sid, "checkpoint", "c1", sid.encode())


def _intact(store: SessionStore, sid: str) -> bool:
    session = store.get(sid)
    return (
        session is not None
        and [e.message for e in session.events] == [f"{sid}-1", f"{sid}-2"]
        and len(session.runs) == 1
        and store.get_record(sid, "checkpoint", "c1") == sid.encode()
    )


# ========================================================== item 13: any id, encoded
@pytest.mark.parametrize("sid", ODD_IDS, ids=lambda s: ascii(s)[:20])
def test_an_id_with_pattern_brace_slash_space_percent_or_unicode_round_trips_in_one_slot(
    make: Callable[..., RedisSessionStore], raw: Any, prefix: str, sid: str
) -> None:
    store = make()
    child = sid[:200] + "/child"
    _fill(store, sid)
    store.save(Session(id=child, parent_id=sid))

    assert _intact(store, sid)
    assert store.get_child_ids(sid) == [child]
    assert store.list_sessions() == sorted([sid, child])
    assert store.list_sessions(sid) == sorted(x for x in (sid, child) if x.startswith(sid))

    keys = sorted(k for k in raw.scan_iter(match=prefix + "*", count=1000))
    by_tag: dict[bytes, set[int]] = {}
    for key in keys:
        rest = key[len(prefix) :]
        # The hash tag is the text between the first "{" and the next "}": it must be
        # the whole encoded id, with no brace, glob character or space in it.
        assert rest.startswith(b"{") and rest.count(b"{") == 1 and rest.count(b"}") == 1, key
        tag = rest[1 : rest.index(b"}")]
        assert not set(tag.decode()) & set("*?[]\\{} /"), key
        by_tag.setdefault(tag, set()).add(key_slot(key))
    assert len(by_tag) == 2 and all(len(slots) == 1 for slots in by_tag.values())

    async def through_async() -> tuple[list[str], list[str]]:
        await store.aappend_event(sid, _event("async"))
        events = await store.aget_events(sid)
        return [e.message for e in events], await store.alist_sessions(sid)

    messages, listed = asyncio.run(through_async())
    assert messages == [f"{sid}-1", f"{sid}-2", "async"]
    assert listed == sorted(x for x in (sid, child) if x.startswith(sid))
    assert store.delete(child) and store.delete(sid)
    assert store.list_sessions() == []


def test_a_prefix_listing_matches_literally_never_as_a_pattern(make: Callable[..., RedisSessionStore]) -> None:
    store = make()
    ids = ["*", "*a", "a*", "a", "ab", "b", "[ab]?", "[ab]", "?x", "x?", "\\", "a b", "a%b", "a}", "{a", "a{}"]
    for sid in ids:
        store.append_event(sid, _event("x"))

    assert store.list_sessions() == sorted(ids)
    assert store.list_sessions("*") == ["*", "*a"]
    assert store.list_sessions("[ab]") == ["[ab]", "[ab]?"]
    assert store.list_sessions("?") == ["?x"]
    assert store.list_sessions("a") == sorted(["a", "a b", "a%b", "a*", "a{}", "a}", "ab"])
    assert store.list_sessions("a{") == ["a{}"]
    assert store.list_sessions("{") == ["{a"]
    assert store.list_sessions("a%") == ["a%b"]
    assert store.list_sessions("\\") == ["\\"]
    assert asyncio.run(store.alist_sessions("*")) == ["*", "*a"]


def test_deleting_or_rewriting_one_id_never_touches_another(make: Callable[..., RedisSessionStore]) -> None:
    store = make()
    # Pairs that share text once braces, glob characters or escapes are taken raw.
    ids = ["a", "a}b", "a}", "{a}", "*", "a b", "a%20b", "a%2520b", "tenant/42", "tenant%2F42"]
    for sid in ids:
        _fill(store, sid)
    assert store.list_sessions() == sorted(ids)

    for gone in ids:
        assert store.delete(gone)
        assert store.get(gone) is None
        left = ids[ids.index(gone) + 1 :]
        assert store.list_sessions() == sorted(left)
        assert all(_intact(store, sid) for sid in left), gone


def test_keys_of_ids_the_old_rules_accepted_are_unchanged(
    make: Callable[..., RedisSessionStore], raw: Any, prefix: str
) -> None:
    # Data written before the encoding: the key of a plain id is the id itself.
    header = '{"id": "conv_1.a:b@c-9", "metadata": {}}'
    raw.set(f"{prefix}{{conv_1.a:b@c-9}}:h", header)
    store = make()
    assert store.list_sessions() == ["conv_1.a:b@c-9"]
    store.append_event("conv_1.a:b@c-9", _event("later"))
    assert raw.llen(f"{prefix}{{conv_1.a:b@c-9}}:e") == 1


def test_keys_under_the_prefix_that_are_no_encoding_of_an_id_are_not_listed(
    make: Callable[..., RedisSessionStore], raw: Any, prefix: str
) -> None:
    store = make()
    store.append_event("real one", _event("x"))
    for foreign in ["{a b}:h", "{%zz}:h", "{%0A}:h", "{a}b}:h", "{%41}:h", "{}:h"]:
        raw.set(prefix + foreign, "not ours")
    assert store.list_sessions() == ["real one"]


def test_odd_ids_on_a_real_cluster_keep_each_session_in_one_slot(redis_cluster_url: str) -> None:
    from redis.cluster import RedisCluster

    prefix = f"t-hard-cluster-{uuid.uuid4().hex[:8]}:"
    store = create_session_store(f"{redis_cluster_url}&prefix={prefix}")
    ids = ["a}b{c", "*", "tenant/42", "héllo ☃", "x" * 256, "[ab]?"]
    direct = RedisCluster.from_url(redis_cluster_url.split("?")[0])
    try:
        for sid in ids:
            _fill(store, sid)
        assert sorted(store.list_sessions()) == sorted(ids)
        assert store.list_sessions("*") == ["*"]
        assert all(_intact(store, sid) for sid in ids)
        slots: dict[bytes, set[int]] = {}
        for key in direct.scan_iter(match=prefix + "*"):
            slots.setdefault(key[len(prefix) : key.index(b"}")], set()).add(key_slot(key))
        assert len(slots) == len(ids) and all(len(s) == 1 for s in slots.values())
        assert store.delete("*")
        assert sorted(store.list_sessions()) == sorted(set(ids) - {"*"})
        assert asyncio.run(store.alist_sessions("a}")) == ["a}b{c"]
    finally:
        for key in direct.scan_iter(match=prefix + "*"):
            direct.delete(key)
        direct.close()
        store.close()


# ====================================================== item 3: refusals are not corruption
def _writes(store: RedisSessionStore, sid: str) -> dict[str, Callable[[], object]]:
    """Every write path of the store, as a caller reaches it."""
    return {
        "append_event": lambda: store.append_event(sid, _event("refused")),
        "append_event to a new session": lambda: store.append_event(sid + "-new", _event("refused")),
        "append_events": lambda: store.append_events(sid, [_event("r1"), _event("r2")]),
        "aappend_event": lambda: asyncio.run(store.aappend_event(sid, _event("refused"))),
        "save": lambda: store.save(Session(id=sid)),
        "upsert_run": lambda: store.upsert_run(sid, SessionRun()),
        "put_record": lambda: store.put_record(sid, "checkpoint", "c2", b"v" * 1000),
        "aput_record": lambda: asyncio.run(store.aput_record(sid, "checkpoint", "c3", b"v")),
    }


def test_out_of_memory_under_noeviction_is_a_storage_error_quoting_the_server_and_loses_nothing(
    spawn: Callable[..., Server],
) -> None:
    server = spawn("--maxmemory-policy", "noeviction")
    store = RedisSessionStore(url=server.url, key_prefix="p:")
    _fill(store, "s1")
    server.admin.set("ballast", "x" * 3_000_000)
    server.admin.config_set("maxmemory", "1mb")

    for name, write in _writes(store, "s1").items():
        with pytest.raises(StorageError) as info:
            write()
        assert not isinstance(info.value, CorruptSessionError), (name, info.value)
        message = str(info.value)
        assert "OOM command not allowed" in message and "maxmemory" in message, (name, message)
        assert "Nothing was written" in message and server.url.split("/0")[0].split("//")[1] in message, name
    assert _intact(store, "s1")  # reads still work, nothing was lost

    server.admin.config_set("maxmemory", "0")
    store.append_event("s1", _event("after"))
    assert store.count_events("s1") == 3
    store.close()


def test_a_read_only_replica_refuses_writes_with_a_typed_error_and_serves_reads(spawn: Callable[..., Server]) -> None:
    primary = spawn()
    replica = spawn("--replicaof", "127.0.0.1", str(primary.port))
    writer = RedisSessionStore(url=primary.url, key_prefix="p:")
    _fill(writer, "s1")
    _poll(lambda: replica.admin.info("replication").get("master_link_status") == "up", "the replica to sync")
    _poll(lambda: replica.admin.exists("p:{s1}:h") == 1, "the session to reach the replica")
    on_replica = RedisSessionStore(url=replica.url, key_prefix="p:")

    _poll(lambda: _intact(on_replica, "s1"), "the replica to hold the whole session")
    for name, write in _writes(on_replica, "s1").items():
        with pytest.raises(StorageError, match="read-only replica") as info:
            write()
        assert not isinstance(info.value, (CorruptSessionError, StoreUnavailableError)), name
        assert "point the store at the primary" in str(info.value)
    assert _intact(writer, "s1")
    writer.close()
    on_replica.close()


def test_a_server_that_cannot_persist_refuses_with_misconf_quoted(spawn: Callable[..., Server], tmp_path: Path) -> None:
    # A snapshot into a folder that is gone fails; with save points set, the server then
    # stops writes (stop-writes-on-bgsave-error) and answers MISCONF.
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    server = spawn("--dir", str(doomed))
    store = RedisSessionStore(url=server.url, key_prefix="p:")
    _fill(store, "s1")
    server.admin.config_set("save", "3600 1")
    doomed.rmdir()
    server.admin.bgsave()

    def failed() -> bool:
        info = server.admin.info("persistence")
        return bool(info["rdb_bgsave_in_progress"] == 0 and info["rdb_last_bgsave_status"] == "err")

    try:
        _poll(failed, "the snapshot to fail")
        with pytest.raises(StorageError, match="MISCONF") as info:
            store.append_event("s1", _event("refused"))
        assert not isinstance(info.value, CorruptSessionError)
        assert "cannot persist to disk" in str(info.value)
        with pytest.raises(StorageError, match="MISCONF"):
            store.put_record("s1", "checkpoint", "c2", b"v")
        assert _intact(store, "s1")
    finally:
        # Without save points the server neither refuses writes nor tries a last save
        # into the missing folder when it is stopped.
        server.admin.config_set("save", "")
    store.append_event("s1", _event("accepted again"))
    store.close()


def test_a_real_foreign_key_is_still_reported_as_corruption(
    make: Callable[..., RedisSessionStore], raw: Any, prefix: str
) -> None:
    store = make()
    store.append_event("a b", _event("kept"))
    raw.delete(prefix + "{a%20b}:i")
    raw.set(prefix + "{a%20b}:i", "someone else's string")
    with pytest.raises(CorruptSessionError, match="holds a string, not the hash"):
        store.append_event("a b", _event("refused"))


def test_a_wrong_or_missing_password_says_authentication_failed_and_never_shows_it(
    spawn: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = spawn("--requirepass", "right-pw-7f3a", password="right-pw-7f3a")
    caplog.set_level(logging.DEBUG)
    wrong = RedisSessionStore(url=f"redis://:wrong-pw-91bc@127.0.0.1:{server.port}/0")
    missing = RedisSessionStore(url=server.url)
    by_arg = RedisSessionStore(host="127.0.0.1", port=server.port, password="wrong-pw-91bc")

    attempts: list[tuple[RedisSessionStore, Callable[[RedisSessionStore], object]]] = [
        (wrong, lambda s: s.get("s1")),
        (wrong, lambda s: asyncio.run(s.aappend_event("s1", _event("x")))),
        (wrong, lambda s: s.list_sessions()),
        (missing, lambda s: s.append_event("s1", _event("x"))),
        (missing, lambda s: asyncio.run(s.aget("s1"))),
        (by_arg, lambda s: s.get("s1")),
    ]
    for store, call in attempts:
        with pytest.raises(StorageError, match=r"authentication to the Redis server at .* failed") as info:
            call(store)
        assert not isinstance(info.value, StoreUnavailableError)
        text = "".join(str(e) for e in (info.value, info.value.__cause__))
        assert "check that it runs" not in text
        assert "wrong-pw-91bc" not in text and "right-pw-7f3a" not in text
        assert repr(store).count("pw") == 0
    assert "wrong-pw-91bc" not in caplog.text and "right-pw-7f3a" not in caplog.text
    right = RedisSessionStore(url=f"redis://:right-pw-7f3a@127.0.0.1:{server.port}/0")
    right.append_event("s1", _event("x"))
    assert right.count_events("s1") == 1
    for store in (wrong, missing, by_arg, right):
        store.close()


def test_a_write_that_timed_out_says_it_may_have_been_applied_and_a_retry_stores_it_once(
    spawn: Callable[..., Server],
) -> None:
    server = spawn()
    store = RedisSessionStore(url=server.url, key_prefix="p:", socket_timeout=0.5)
    store.save(Session(id="s1"))
    event = _event("once", event_id="evt-1")
    # Paused writes: the server holds the append (a script that writes) past the timeout.
    server.admin.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
    try:
        with pytest.raises(StoreUnavailableError) as info:
            store.append_event("s1", event)
        with pytest.raises(StoreUnavailableError) as ainfo:
            asyncio.run(store.aappend_event("s1", event))
        with pytest.raises(StoreUnavailableError) as record_info:
            store.put_record("s1", "checkpoint", "c1", b"v")
    finally:
        server.admin.execute_command("CLIENT", "UNPAUSE")
    for raised in (info.value, ainfo.value):
        message = str(raised)
        assert "did not answer within socket_timeout=0.5s" in message
        assert "The write may have been applied; retrying with the same event is safe" in message
        assert "the event id is an idempotency key" in message
    assert "The write may have been applied; retrying the same call is safe" in str(record_info.value)

    store.append_event("s1", event)
    store.append_event("s1", event)
    assert [e.id for e in store.get_events("s1")] == ["evt-1"]
    store.close()


def test_an_unreachable_server_is_not_said_to_have_maybe_applied_a_write() -> None:
    port = _free_port()
    store = RedisSessionStore(host="127.0.0.1", port=port, socket_timeout=1)
    with pytest.raises(StoreUnavailableError, match="check that it runs") as info:
        store.append_event("s1", _event("x"))
    assert "may have been applied" not in str(info.value)
    store.close()


# ==================================================== item 4: an evicting server is refused
@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_an_allkeys_eviction_policy_is_refused_on_first_use_saying_how_to_fix_it(
    spawn: Callable[..., Server], policy: str
) -> None:
    server = spawn("--maxmemory-policy", policy)
    store = RedisSessionStore(url=server.url, key_prefix="p:")
    for call in (
        lambda: store.append_event("s1", _event("x")),
        lambda: store.get("s1"),
        lambda: store.list_sessions(),
        lambda: asyncio.run(store.aappend_event("s1", _event("x"))),
    ):
        with pytest.raises(StorageError) as info:
            call()
        message = str(info.value)
        assert f"maxmemory-policy {policy}" in message
        assert "maxmemory-policy noeviction" in message and "allow_eviction=True" in message
        assert not isinstance(info.value, (StoreUnavailableError, CorruptSessionError))
    assert server.admin.dbsize() == 0  # refused before anything was written

    allowed = RedisSessionStore(url=server.url, key_prefix="p:", allow_eviction=True)
    allowed.append_event("s1", _event("x"))
    assert asyncio.run(allowed.acount_events("s1")) == 1
    by_url = create_session_store(f"{server.url}?prefix=p:&allow_eviction=1")
    assert by_url.count_events("s1") == 1

    # Fixed on the server: the same store object works from then on.
    server.admin.config_set("maxmemory-policy", "noeviction")
    store.append_event("s1", _event("y"))
    assert store.count_events("s1") == 2
    for s in (store, allowed, by_url):
        s.close()


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_a_volatile_policy_is_refused_only_when_the_store_sets_a_ttl(spawn: Callable[..., Server], policy: str) -> None:
    server = spawn("--maxmemory-policy", policy)
    with_ttl = RedisSessionStore(url=server.url, key_prefix="p:", expiration_seconds=600)
    with pytest.raises(StorageError, match=f"maxmemory-policy {policy}.*expiration_seconds=600"):
        with_ttl.append_event("s1", _event("x"))
    with pytest.raises(StorageError, match=f"maxmemory-policy {policy}"):
        asyncio.run(with_ttl.aget("s1"))
    without = RedisSessionStore(url=server.url, key_prefix="p:")
    without.append_event("s1", _event("x"))
    assert asyncio.run(without.acount_events("s1")) == 1
    with_ttl.close()
    without.close()


def test_a_given_client_on_an_evicting_server_is_refused_too(spawn: Callable[..., Server]) -> None:
    server = spawn("--maxmemory-policy", "allkeys-lru")
    client = redis.Redis.from_url(server.url, decode_responses=True)
    store = RedisSessionStore(client=client, key_prefix="p:")
    with pytest.raises(StorageError, match="allkeys-lru"):
        store.append_event("s1", _event("x"))

    async def with_async_client() -> None:
        aclient = redis.asyncio.Redis.from_url(server.url)
        try:
            with pytest.raises(StorageError, match="allkeys-lru"):
                await RedisSessionStore(async_client=aclient, key_prefix="p:").aappend_event("s1", _event("x"))
        finally:
            await aclient.aclose()

    asyncio.run(with_async_client())
    assert server.admin.dbsize() == 0
    assert client.ping()  # a given client stays open
    client.close()


def test_the_policy_is_read_once_per_store_never_on_the_append_path(spawn: Callable[..., Server]) -> None:
    server = spawn()

    def config_gets() -> int:
        stats = server.admin.info("commandstats")
        return int(stats.get("cmdstat_config|get", {}).get("calls", 0))

    store = RedisSessionStore(url=server.url, key_prefix="p:")
    before = config_gets()
    for n in range(50):
        store.append_event("s1", _event(str(n)))
    store.close()
    store.append_event("s1", _event("after a close"))  # a new connection, the same server

    async def many() -> None:
        for n in range(20):
            await store.aappend_event("s1", _event(str(n)))

    asyncio.run(many())
    assert config_gets() - before == 1
    store.close()


def test_with_config_renamed_the_policy_is_read_from_info(spawn: Callable[..., Server]) -> None:
    server = spawn("--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "")
    store = RedisSessionStore(url=server.url, key_prefix="p:")
    with pytest.raises(StorageError, match="allkeys-lru"):
        store.get("s1")
    with pytest.raises(StorageError, match="allkeys-lru"):
        asyncio.run(store.aget("s1"))
    store.close()


def test_with_config_and_info_hidden_the_store_proceeds_and_logs_no_secret(
    spawn: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = spawn(
        "--requirepass", "hidden-pw-5d1e", "--rename-command", "CONFIG", "", "--rename-command", "INFO", "",
        password="hidden-pw-5d1e",
    )  # fmt: skip
    caplog.set_level(logging.WARNING, logger="a2a_session_manager.storage.providers.redis")
    store = RedisSessionStore(url=f"redis://:hidden-pw-5d1e@127.0.0.1:{server.port}/0", key_prefix="p:")
    store.append_event("s1", _event("x"))
    assert asyncio.run(store.acount_events("s1")) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("a2a_session_manager")]
    assert warnings and all("could not read maxmemory-policy" in w for w in warnings)
    assert "hidden-pw-5d1e" not in caplog.text
    store.close()


def test_a_cluster_node_with_an_evicting_policy_is_refused_naming_it(redis_cluster_url: str) -> None:
    from redis.cluster import RedisCluster

    seed = RedisCluster.from_url(redis_cluster_url.split("?")[0])
    seed_port = int(redis_cluster_url.split("?")[0].rsplit(":", 1)[1].split("/")[0])
    other = next(n for n in seed.get_nodes() if n.port != seed_port)  # type: ignore[no-untyped-call]
    seed.close()
    node = redis.Redis(host=other.host, port=other.port)
    old = str(node.config_get("maxmemory-policy")["maxmemory-policy"])
    node.config_set("maxmemory-policy", "allkeys-lru")
    try:
        store = create_session_store(f"{redis_cluster_url}&prefix=t-hard-evict:")
        with pytest.raises(StorageError, match=f"{other.host}:{other.port} uses maxmemory-policy allkeys-lru"):
            store.get("s1")
        with pytest.raises(StorageError, match=f"{other.host}:{other.port} uses maxmemory-policy allkeys-lru"):
            asyncio.run(store.aget("s1"))
        store.close()

        async def given_async_cluster_client() -> None:
            aclient = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster_url.split("?")[0])
            try:
                given = RedisSessionStore(async_client=aclient, key_prefix="t-hard-evict:")
                with pytest.raises(StorageError, match=f"{other.host}:{other.port} uses maxmemory-policy"):
                    await given.aget("s1")
            finally:
                await aclient.aclose()

        asyncio.run(given_async_cluster_client())
        allowed = create_session_store(f"{redis_cluster_url}&prefix=t-hard-evict:&allow_eviction=1")
        assert allowed.get("s1") is None
        assert asyncio.run(allowed.aget("s1")) is None
        allowed.close()
    finally:
        node.config_set("maxmemory-policy", old)
        node.close()


# =============================================== item 11: cluster mode mismatches, TLS
def test_cluster_1_on_a_plain_server_says_it_is_not_a_cluster(spawn: Callable[..., Server]) -> None:
    server = spawn()
    store = create_session_store(f"{server.url}?cluster=1")
    expected = rf"127.0.0.1:{server.port}\S* is not a cluster \(cluster_enabled:0\); drop cluster=1"
    with pytest.raises(StorageError, match=expected) as info:
        store.get("s1")
    assert not isinstance(info.value, StoreUnavailableError)
    with pytest.raises(StorageError, match=expected):
        asyncio.run(store.aappend_event("s1", _event("x")))
    store.close()


def test_a_plain_store_on_a_cluster_node_says_it_is_a_cluster(redis_cluster_url: str) -> None:
    plain = create_session_store(redis_cluster_url.split("?")[0] + "?prefix=t-hard-plain:")
    with pytest.raises(StorageError, match=r"is a Redis Cluster node \(cluster_enabled:1\).*cluster=True"):
        plain.append_event("s1", _event("x"))
    with pytest.raises(StorageError, match="cluster_enabled:1"):
        asyncio.run(plain.alist_sessions())
    plain.close()


def test_a_moved_reply_is_reported_as_a_cluster_node(spawn: Callable[..., Server]) -> None:
    # A 2-node cluster whose INFO is hidden (as on some managed services): the node check
    # cannot tell it is a cluster, so the first MOVED reply must say so.
    buses = [_free_port(), _free_port()]
    a, b = (
        spawn("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(bus),
              "--rename-command", "INFO", "")
        for bus in buses
    )  # fmt: skip
    a.admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 8191)
    b.admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 8192, 16383)
    a.admin.execute_command("CLUSTER", "MEET", "127.0.0.1", b.port, buses[1])
    _poll(lambda: all(n.admin.cluster("info")["cluster_state"] == "ok" for n in (a, b)), "the cluster to form")

    store = RedisSessionStore(url=a.url, key_prefix="p:")
    with pytest.raises(StorageError, match=r"is a Redis Cluster node \(it answered MOVED .*cluster=True") as info:
        for n in range(64):  # about half of these ids hash to a slot of the other node
            store.append_event(f"s{n}", _event("x"))
    assert not isinstance(info.value, CorruptSessionError)
    with pytest.raises(StorageError, match="it answered MOVED"):
        asyncio.run(store.aget(f"s{n}"))
    store.close()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def private_ca(tmp_path: Path) -> dict[str, Path]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate, made here."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make a private CA")
    d = tmp_path / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-days", "2",
             "-subj", "/CN=a2a test CA")  # fmt: skip
    for name, extra in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(extra + "\n")
        signed = ["-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2"]
        csr, crt, ext = (str(d / f"{name}.{suffix}") for suffix in ("csr", "crt", "ext"))
        _openssl("x509", "-req", "-in", csr, *signed, "-out", crt, "-extfile", ext)
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


def test_tls_with_a_private_ca_and_a_client_certificate_from_the_url(
    spawn: Callable[..., Server], private_ca: dict[str, Path]
) -> None:
    ca, cert, key = private_ca["ca_crt"], private_ca["client_crt"], private_ca["client_key"]
    tls_port = _free_port()
    admin = (
        f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}&ssl_certfile={cert}&ssl_keyfile={key}"
        "&ssl_cert_reqs=required"
    )
    spawn(
        "--tls-port", str(tls_port), "--tls-cert-file", str(private_ca["server_crt"]),
        "--tls-key-file", str(private_ca["server_key"]), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "yes",
        plain=False, admin_url=admin,
    )  # fmt: skip
    tls = f"ssl_ca_certs={quote(str(ca))}&ssl_certfile={quote(str(cert))}&ssl_keyfile={quote(str(key))}"
    url = f"rediss://127.0.0.1:{tls_port}/0?prefix=p:&{tls}"
    store = create_session_store(url)
    store.append_event("s1", _event("over TLS"))
    assert [e.message for e in asyncio.run(store.aget_events("s1"))] == ["over TLS"]
    assert store.list_sessions() == ["s1"]
    store.close()
    direct = RedisSessionStore(
        url=f"rediss://127.0.0.1:{tls_port}/0",
        key_prefix="p:",
        ssl_ca_certs=str(ca),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
    )
    assert direct.count_events("s1") == 1
    direct.close()

    # Without the private CA the server's certificate cannot be verified.
    unverified = RedisSessionStore(url=f"rediss://127.0.0.1:{tls_port}/0", key_prefix="p:", ssl_certfile=str(cert),
                                   ssl_keyfile=str(key), socket_timeout=3)  # fmt: skip
    with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
        unverified.get("s1")
    unverified.close()


def test_tls_options_are_checked_and_need_tls(redis_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ssl_ca_certs need TLS: use a rediss:// URL or ssl=True"):
        RedisSessionStore(url=redis_url, ssl_ca_certs=str(tmp_path / "ca.crt"))
    with pytest.raises(ValueError, match="ssl_cert_reqs must be one of none, optional, required"):
        RedisSessionStore(url="rediss://127.0.0.1:6380/0", ssl_cert_reqs="sometimes")
    with pytest.raises(ValueError, match="ssl_keyfile must be a file or directory path"):
        RedisSessionStore(host="127.0.0.1", ssl=True, ssl_keyfile="")
    with pytest.raises(TypeError, match="ssl_check_hostname must be a bool"):
        RedisSessionStore(ssl=True, ssl_check_hostname="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allow_eviction must be a bool"):
        RedisSessionStore(allow_eviction="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give them to the client you pass"):
        RedisSessionStore(ssl=True, ssl_ca_certs="/x", client=redis.Redis())


def test_a_wrong_password_for_a_cluster_says_authentication_failed(spawn: Callable[..., Server]) -> None:
    # redis-py reports a cluster it could not discover as unreachable, whatever the cause.
    node = spawn(
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(_free_port()),
        "--requirepass", "right-pw-c1", password="right-pw-c1",
    )  # fmt: skip
    store = create_session_store(f"redis://:wrong-pw-c2@127.0.0.1:{node.port}?cluster=1", socket_timeout=2)
    with pytest.raises(StorageError, match=r"authentication to the Redis server at .* failed") as info:
        store.get("s1")
    with pytest.raises(StorageError, match=r"authentication to the Redis server at .* failed") as ainfo:
        asyncio.run(store.aget("s1"))
    for raised in (info.value, ainfo.value):
        assert not isinstance(raised, StoreUnavailableError)
        assert "wrong-pw-c2" not in str(raised) and "right-pw-c1" not in str(raised)
    store.close()
