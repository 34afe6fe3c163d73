"""The systems under test of ``bench/stores.py``: our stores, raw floors and library anchors.

Each system is a *target* class: built on one cell's location (a private folder, a
session id and a Redis key prefix), it hands out fresh handles (``handle()``), fills a
session in bulk for the load workload (``prefill``) and, for our stores, decodes the
same stored records raw (``raw_decode``: the floor the load target is measured
against). Handles build each message in the system's own form (``SessionEvent``,
``HumanMessage``/``AIMessage``, ``ChatMessage``, a dict) inside the timed append.

Our stores are reached only through the public API (``create_session_store``,
``append_event``/``append_events``, ``get_events``, ``delete``, ``close``). The
original 0.1.3 is not here: it runs in its own venv (``bench/orig/run_orig.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _corpus
from _harness import Handle


@dataclass
class Location:
    """Where one cell keeps its data (nothing else touches it)."""

    directory: Path
    sid: str
    redis_url: str | None
    prefix: str
    """Redis key prefix owned by this cell (under the run's prefix)."""


# ===================================================================== our stores
class _OursHandle:
    def __init__(self, store: Any, sid: str, *, own: bool) -> None:
        from a2a_session_manager import EventSource, SessionEvent

        self.store, self.sid, self.own = store, sid, own
        self._event, self._user, self._llm = SessionEvent, EventSource.USER, EventSource.LLM

    def append(self, i: int) -> None:
        source = self._user if i % 2 == 0 else self._llm
        self.store.append_event(self.sid, self._event(message=_corpus.text(i), source=source))

    def count(self) -> int:
        return len(self.store.get_events(self.sid))

    def close(self) -> None:
        if self.own:
            self.store.close()


class OursTarget:
    """Our store of one backend, opened from its URL with ``create_session_store``."""

    backend = "memory"

    def __init__(self, loc: Location) -> None:
        from a2a_session_manager.storage import create_session_store

        self.loc = loc
        self._create = create_session_store
        self._shared = create_session_store("memory://") if self.backend == "memory" else None

    def url(self) -> str:
        if self.backend == "file":
            return f"file://{self.loc.directory / 'store'}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.loc.directory / 'store.db'}"
        if self.backend == "redis":
            assert self.loc.redis_url
            return f"{self.loc.redis_url}?prefix={self.loc.prefix}"
        return "memory://"

    def handle(self) -> Handle:
        if self._shared is not None:
            return _OursHandle(self._shared, self.loc.sid, own=False)
        return _OursHandle(self._create(self.url()), self.loc.sid, own=True)

    def prefill(self, n: int) -> None:
        from a2a_session_manager import EventSource, SessionEvent

        h = self.handle()
        try:
            for lo in range(0, n, 1000):
                events = [
                    SessionEvent(message=_corpus.text(i), source=EventSource.USER if i % 2 == 0 else EventSource.LLM)
                    for i in range(lo, min(n, lo + 1000))
                ]
                h.store.append_events(self.loc.sid, events)  # type: ignore[attr-defined]
        finally:
            h.close()

    def raw_decode(self) -> int:
        """Read the records this store wrote, straight from the backend, and ``json.loads`` each."""
        if self.backend == "file":
            # The file store's documented layout: s-<escaped id>.events.jsonl, a preamble line first.
            path = self.loc.directory / "store" / f"s-{self.loc.sid}.events.jsonl"
            with open(path, "rb") as f:
                lines = f.read().splitlines()[1:]
            return len([json.loads(line) for line in lines])
        if self.backend == "sqlite":
            con = sqlite3.connect(self.loc.directory / "store.db")
            try:
                rows = con.execute(
                    "SELECT body FROM events WHERE session_id = ? ORDER BY seq", (self.loc.sid,)
                ).fetchall()
            finally:
                con.close()
            return len([json.loads(body) for (body,) in rows])
        if self.backend == "redis":
            import redis

            client = redis.Redis.from_url(self.loc.redis_url or "")
            try:
                lines = client.lrange(f"{self.loc.prefix}{{{self.loc.sid}}}:e", 0, -1)
            finally:
                client.close()
            return len([json.loads(line) for line in lines])
        raise ValueError(self.backend)


class OursFile(OursTarget):
    backend = "file"


class OursSQLite(OursTarget):
    backend = "sqlite"


class OursRedis(OursTarget):
    backend = "redis"


# ===================================================================== raw floors
def _minimal_event(i: int) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "ts": time.time(), "role": _corpus.role(i), "content": _corpus.text(i)}


class _ListHandle:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def append(self, i: int) -> None:
        self.items.append(_minimal_event(i))

    def count(self) -> int:
        return len(list(self.items))

    def close(self) -> None:
        pass


class RawList:
    """``list.append`` of a minimal event dict (the in-memory floor)."""

    def __init__(self, loc: Location) -> None:
        self.items: list[dict[str, Any]] = []

    def handle(self) -> Handle:
        return _ListHandle(self.items)

    def prefill(self, n: int) -> None:
        self.items.extend(_minimal_event(i) for i in range(n))


class _FileHandle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, i: int) -> None:
        os.write(self.fd, (json.dumps(_minimal_event(i)) + "\n").encode())

    def count(self) -> int:
        with open(self.path, "rb") as f:
            return len([json.loads(line) for line in f.read().splitlines()])

    def close(self) -> None:
        os.close(self.fd)


class RawFile:
    """One ``write`` of a JSON line on an ``O_APPEND`` descriptor (unbuffered: no flush needed)."""

    def __init__(self, loc: Location) -> None:
        self.path = loc.directory / "raw.jsonl"

    def handle(self) -> Handle:
        return _FileHandle(self.path)

    def prefill(self, n: int) -> None:
        with open(self.path, "ab") as f:
            f.write("".join(json.dumps(_minimal_event(i)) + "\n" for i in range(n)).encode())


class _SQLiteHandle:
    def __init__(self, path: Path, sid: str) -> None:
        self.sid = sid
        self.con = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, body TEXT NOT NULL)"
        )
        self.con.execute("CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id, id)")
        self.con.commit()

    def append(self, i: int) -> None:
        self.con.execute(
            "INSERT INTO events (session_id, body) VALUES (?, ?)", (self.sid, json.dumps(_minimal_event(i)))
        )
        self.con.commit()

    def count(self) -> int:
        rows = self.con.execute("SELECT body FROM events WHERE session_id = ? ORDER BY id", (self.sid,)).fetchall()
        return len([json.loads(body) for (body,) in rows])

    def close(self) -> None:
        self.con.close()


class RawSQLite:
    """sqlite3 ``INSERT`` + ``commit`` per event, WAL with ``synchronous=NORMAL``."""

    def __init__(self, loc: Location) -> None:
        self.path, self.sid = loc.directory / "raw.db", loc.sid

    def handle(self) -> Handle:
        return _SQLiteHandle(self.path, self.sid)

    def prefill(self, n: int) -> None:
        h = _SQLiteHandle(self.path, self.sid)
        h.con.executemany(
            "INSERT INTO events (session_id, body) VALUES (?, ?)",
            [(self.sid, json.dumps(_minimal_event(i))) for i in range(n)],
        )
        h.con.commit()
        h.close()


class _RedisHandle:
    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = key

    def append(self, i: int) -> None:
        self.client.rpush(self.key, json.dumps(_minimal_event(i)))

    def count(self) -> int:
        return len([json.loads(line) for line in self.client.lrange(self.key, 0, -1)])

    def close(self) -> None:
        self.client.close()


class RawRedis:
    """redis-py ``RPUSH`` of a JSON line per event (``LRANGE`` to read)."""

    def __init__(self, loc: Location) -> None:
        self.url, self.key = loc.redis_url or "", f"{loc.prefix}raw"

    def handle(self) -> Handle:
        return _RedisHandle(self.url, self.key)

    def prefill(self, n: int) -> None:
        h = _RedisHandle(self.url, self.key)
        lines = [json.dumps(_minimal_event(i)) for i in range(n)]
        for lo in range(0, n, 1000):
            h.client.rpush(self.key, *lines[lo : lo + 1000])
        h.close()


# ======================================================================= anchors
def _lc_message(i: int) -> Any:
    from langchain_core.messages import AIMessage, HumanMessage

    return HumanMessage(content=_corpus.text(i)) if i % 2 == 0 else AIMessage(content=_corpus.text(i))


class _LCHandle:
    def __init__(self, history: Any, close: Callable[[], None] = lambda: None) -> None:
        self.history, self._close = history, close

    def append(self, i: int) -> None:
        self.history.add_message(_lc_message(i))

    def count(self) -> int:
        return len(self.history.messages)

    def close(self) -> None:
        self._close()


class LCFile:
    """LangChain community ``FileChatMessageHistory``."""

    def __init__(self, loc: Location) -> None:
        self.path = loc.directory / "lc.json"

    def handle(self) -> Handle:
        from langchain_community.chat_message_histories import FileChatMessageHistory

        return _LCHandle(FileChatMessageHistory(str(self.path)))

    def prefill(self, n: int) -> None:
        # Written in one go, exactly as its add_message would have left it (it re-writes
        # the whole file per add: 10,000 adds would take over an hour).
        from langchain_core.messages import messages_to_dict

        self.path.write_text(json.dumps(messages_to_dict([_lc_message(i) for i in range(n)])))


class LCSQL:
    """LangChain community ``SQLChatMessageHistory`` on a SQLite file (its defaults)."""

    def __init__(self, loc: Location) -> None:
        self.url, self.sid = f"sqlite:///{loc.directory / 'lc.db'}", loc.sid

    def handle(self) -> Handle:
        from langchain_community.chat_message_histories import SQLChatMessageHistory

        history = SQLChatMessageHistory(session_id=self.sid, connection=self.url)
        return _LCHandle(history, history.engine.dispose)

    def prefill(self, n: int) -> None:
        h = self.handle()
        h.history.add_messages([_lc_message(i) for i in range(n)])  # type: ignore[attr-defined]
        h.close()


class LCRedis:
    """LangChain community ``RedisChatMessageHistory``."""

    def __init__(self, loc: Location) -> None:
        self.url, self.sid, self.prefix = loc.redis_url or "", loc.sid, loc.prefix

    def handle(self) -> Handle:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        history = RedisChatMessageHistory(self.sid, url=self.url, key_prefix=self.prefix)
        return _LCHandle(history, history.redis_client.close)

    def prefill(self, n: int) -> None:
        h = self.handle()
        h.history.add_messages([_lc_message(i) for i in range(n)])  # type: ignore[attr-defined]
        h.close()


class _LIHandle:
    def __init__(self, url: str, key: str) -> None:
        from llama_index.core.base.llms.types import ChatMessage
        from llama_index.storage.chat_store.redis import RedisChatStore

        self.store = RedisChatStore(redis_url=url)
        self.key, self._message = key, ChatMessage

    def message(self, i: int) -> Any:
        return self._message(role=_corpus.role(i), content=_corpus.text(i))

    def append(self, i: int) -> None:
        self.store.add_message(self.key, self.message(i))

    def count(self) -> int:
        return len(self.store.get_messages(self.key))

    def close(self) -> None:
        self.store._redis_client.close()


class LIRedis:
    """LlamaIndex ``RedisChatStore`` (``llama-index-storage-chat-store-redis``)."""

    def __init__(self, loc: Location) -> None:
        self.url, self.key = loc.redis_url or "", f"{loc.prefix}{loc.sid}"

    def handle(self) -> Handle:
        return _LIHandle(self.url, self.key)

    def prefill(self, n: int) -> None:
        h = _LIHandle(self.url, self.key)
        h.store.set_messages(self.key, [h.message(i) for i in range(n)])
        h.close()


class _OAIHandle:
    def __init__(self, path: Path, sid: str) -> None:
        from agents import SQLiteSession

        self.session = SQLiteSession(sid, path)
        self.loop = asyncio.new_event_loop()

    def append(self, i: int) -> None:
        self.loop.run_until_complete(self.session.add_items([{"role": _corpus.role(i), "content": _corpus.text(i)}]))

    def append_many(self, indices: Iterable[int]) -> None:
        async def run() -> None:
            for i in indices:
                await self.session.add_items([{"role": _corpus.role(i), "content": _corpus.text(i)}])

        self.loop.run_until_complete(run())

    def count(self) -> int:
        return len(self.loop.run_until_complete(self.session.get_items()))

    def close(self) -> None:
        self.session.close()
        self.loop.close()


class OAISQLite:
    """OpenAI Agents SDK ``SQLiteSession`` on a file (async ``add_items``, one item per call)."""

    def __init__(self, loc: Location) -> None:
        self.path, self.sid = loc.directory / "oai.db", loc.sid

    def handle(self) -> Handle:
        return _OAIHandle(self.path, self.sid)

    def prefill(self, n: int) -> None:
        h = _OAIHandle(self.path, self.sid)
        items: list[Any] = [{"role": _corpus.role(i), "content": _corpus.text(i)} for i in range(n)]
        h.loop.run_until_complete(h.session.add_items(items))
        h.close()


# ======================================================================= registry
@dataclass(frozen=True)
class System:
    """One row of the tables."""

    name: str
    label: str
    backend: str
    group: str
    """``ours``, ``raw``, ``orig`` (original 0.1.3, own venv) or ``anchor``."""
    target: type | None = None
    orig_store: str | None = None
    in_process: bool = False
    """An in-process object: threads share it, other processes cannot, a load reads it in place."""
    shared_threads: bool = False
    needs: str | None = None
    """Module that must import for the system to run (anchors)."""


SYSTEMS: tuple[System, ...] = (
    System("ours.memory", "ours: InMemorySessionStore", "memory", "ours", OursTarget, in_process=True,
           shared_threads=True),
    System("ours.file", "ours: file store", "file", "ours", OursFile, shared_threads=True),
    System("ours.sqlite", "ours: SQLite store", "sqlite", "ours", OursSQLite, shared_threads=True),
    System("ours.redis", "ours: Redis store", "redis", "ours", OursRedis, shared_threads=True),
    System("raw.list", "raw: list.append(dict)", "memory", "raw", RawList, in_process=True, shared_threads=True),
    System("raw.file", "raw: O_APPEND write of a JSON line", "file", "raw", RawFile),
    System("raw.sqlite", "raw: INSERT+commit (WAL, synchronous=NORMAL)", "sqlite", "raw", RawSQLite),
    System("raw.redis", "raw: RPUSH of a JSON line", "redis", "raw", RawRedis),
    System("orig.memory", "original 0.1.3 InMemorySessionStore", "memory", "orig", orig_store="memory",
           in_process=True, shared_threads=True),
    System("orig.file", "original 0.1.3 FileSessionStore", "file", "orig", orig_store="file", shared_threads=True),
    System("orig.redis", "original 0.1.3 RedisSessionStore", "redis", "orig", orig_store="redis",
           shared_threads=True),
    System("lc.file", "LangChain FileChatMessageHistory", "file", "anchor", LCFile,
           needs="langchain_community.chat_message_histories"),
    System("lc.sql", "LangChain SQLChatMessageHistory (SQLite file)", "sqlite", "anchor", LCSQL,
           needs="sqlalchemy"),
    System("lc.redis", "LangChain (community) RedisChatMessageHistory", "redis", "anchor", LCRedis,
           needs="langchain_community.chat_message_histories"),
    System("li.redis", "LlamaIndex RedisChatStore", "redis", "anchor", LIRedis,
           needs="llama_index.storage.chat_store.redis"),
    System("oai.sqlite", "OpenAI Agents SQLiteSession (file)", "sqlite", "anchor", OAISQLite, needs="agents"),
)  # fmt: skip

FLOOR = {"memory": "raw.list", "file": "raw.file", "sqlite": "raw.sqlite", "redis": "raw.redis"}
"""The raw operation each backend stands on."""
