"""Corrupt stored data is an error that names the session, never None or a silent skip.

Each backend's stored form of one session is damaged the way that backend keeps it (a
non-JSON line in the middle of a file's log, an event row's body in SQLite, an element of
the Redis event list, an encoded event line of the memory store); reading it must raise
``CorruptSessionError`` for that session while other sessions stay readable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from a2a_session_manager import CorruptSessionError, EventSource, SessionEvent
from a2a_session_manager.storage import SessionStore

from tests.storage._twin import Twin

MARKER = "MIDDLE-MARKER-7f3a"
GARBAGE = "this is not JSON {"


@pytest.fixture
def store(open_store: Callable[..., SessionStore]) -> SessionStore:
    return open_store()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, store: SessionStore) -> Twin:
    return Twin(store, use_async=request.param == "async")


def corrupt_memory(store: SessionStore) -> str:
    entry = store._data["victim"]  # type: ignore[attr-defined]
    index = next(i for i, line in enumerate(entry.lines) if MARKER in line)
    entry.lines[index] = GARBAGE
    return "victim"


def corrupt_file(tmp_path: Path) -> str:
    root = tmp_path / "file-store"
    holding = [p for p in root.rglob("*") if p.is_file() and MARKER.encode() in p.read_bytes()]
    assert len(holding) == 1, f"expected one file holding the event, found {holding}"
    path = holding[0]
    lines = path.read_bytes().split(b"\n")
    index = next(i for i, line in enumerate(lines) if MARKER.encode() in line)
    assert 0 < index < len(lines) - 1, "the marked event should be in the middle of the log"
    lines.insert(index, GARBAGE.encode())
    path.write_bytes(b"\n".join(lines))
    return path.name


def corrupt_sqlite(tmp_path: Path) -> str:
    conn = sqlite3.connect(tmp_path / "store.db")
    try:
        hits: list[tuple[str, str, str]] = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                where = f'CAST("{column}" AS TEXT) LIKE ?'
                (n,) = conn.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', (f"%{MARKER}%",)).fetchone()
                hits.extend([(table, column, where)] * n)
        assert len(hits) == 1, f"expected one cell holding the event, found {hits}"
        table, column, where = hits[0]
        with conn:
            conn.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE {where}', (GARBAGE, f"%{MARKER}%"))
        return table
    finally:
        conn.close()


def corrupt_redis(url: str) -> str:
    import redis

    prefix = parse_qs(urlsplit(url).query)["prefix"][0]
    client = redis.Redis.from_url(url.split("?", 1)[0])
    try:
        hits: list[tuple[bytes, str, Any]] = []
        for key in client.scan_iter(match=prefix + "*", count=100):
            raw_type = client.type(key)
            kind = raw_type.decode() if isinstance(raw_type, bytes) else str(raw_type)
            if kind == "list":
                for i, item in enumerate(client.lrange(key, 0, -1)):
                    if MARKER.encode() in item:
                        hits.append((key, "list", i))
            elif kind == "hash":
                for field, value in client.hgetall(key).items():
                    if MARKER.encode() in value:
                        hits.append((key, "hash", field))
            elif kind == "string":
                assert MARKER.encode() not in (client.get(key) or b""), f"event stored in string key {key!r}"
        assert len(hits) == 1, f"expected one list element or hash field holding the event, found {hits}"
        key, kind, where = hits[0]
        if kind == "list":
            client.lset(key, where, GARBAGE)
        else:
            client.hset(key, where, GARBAGE)
        return key.decode()
    finally:
        client.close()


async def test_corrupt_event_raises_an_error_naming_the_session_and_others_stay_readable(
    api: Twin, store: SessionStore, store_kind: str, tmp_path: Path, fresh_store_url: str
) -> None:
    for sid in ("victim", "bystander"):
        for text in ("first", MARKER if sid == "victim" else "second", "third"):
            await api.append_event(sid, SessionEvent(message=text, source=EventSource.USER))

    if store_kind == "memory":
        where = corrupt_memory(store)
    elif store_kind == "file":
        where = corrupt_file(tmp_path)
    elif store_kind == "sqlite":
        where = corrupt_sqlite(tmp_path)
    else:
        where = corrupt_redis(fresh_store_url)

    for method in ("get", "get_events"):
        with pytest.raises(CorruptSessionError) as info:
            await getattr(api, method)("victim")
        assert info.value.session_id == "victim"
        assert "victim" in str(info.value)
        if store_kind in ("file", "redis"):
            assert where in str(info.value), f"the error should name {where!r}: {info.value}"

    # The undecoded read still returns every row; validating them names the bad one.
    rows = await api.get_event_lines("victim")
    assert len(rows) >= 3  # the file case inserts a garbage line rather than replacing one
    assert [seq for seq, _ in rows] == list(range(len(rows)))
    with pytest.raises(CorruptSessionError) as info:
        store.decode_event_lines("victim", rows)
    assert info.value.session_id == "victim"
    if store_kind in ("file", "redis"):
        assert where in str(info.value)

    bystander = await api.get("bystander")
    assert bystander is not None
    assert [e.message for e in bystander.events] == ["first", "second", "third"]
    assert "victim" in await api.list_sessions()
