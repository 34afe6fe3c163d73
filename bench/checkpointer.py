"""Benchmark: SessionCheckpointer beside langgraph-checkpoint-sqlite's SqliteSaver.

A LangGraph graph over ``MessagesState`` plays a growing conversation: each turn adds a
human message (the input) and an AI message (the node's reply), so the ``messages``
channel changes twice per turn. After 100 and 1,000 turns the script reports, for each
checkpointer in the same run:

- storage: bytes on disk (SQLite file plus WAL, after a WAL checkpoint) or, for Redis,
  the sum of ``MEMORY USAGE`` over the run's keys;
- ``put``: mean time of the checkpointer's ``put`` over the 10 turns before the mark;
- turn: mean time of a whole ``invoke`` (load, run, puts, writes) over those turns.

Ours runs with ``mirror_messages=True`` (the default: the conversation is also kept as
session events, which the figures include) on SQLite and Redis; SqliteSaver stores the
whole checkpoint, channel values included, in every row.

Needs: ``pip install 'a2a-session-manager[redis,langgraph,bench]'`` and, for the Redis
row, a Redis server at 127.0.0.1:6379 (``--redis-url``; ``--no-redis`` to skip). Keys use
a fresh prefix, deleted at the end; files go to a temporary folder.

Run: ``python bench/checkpointer.py`` (``--quick`` for a smoke run: 10 and 30 turns).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a2a_session_manager.storage import create_redis_session_store, create_sqlite_session_store
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, MessagesState, StateGraph

from a2a_session_integrations.langgraph import SessionCheckpointer

WINDOW = 10
TEXT = "the quick brown fox jumps over the lazy dog " * 2


def _timed(cls: type[BaseCheckpointSaver[Any]]) -> type[BaseCheckpointSaver[Any]]:
    """A subclass of ``cls`` that records how long each ``put`` takes."""

    class Timed(cls):  # type: ignore[valid-type,misc]
        put_seconds: list[float]

        def put(self, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return super().put(*args, **kwargs)
            finally:
                self.put_seconds.append(time.perf_counter() - t0)

    Timed.__name__ = f"Timed{cls.__name__}"
    return Timed


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("reply", lambda state: {"messages": [AIMessage(content=f"reply {len(state['messages'])}: {TEXT}")]})
    graph.add_edge(START, "reply")
    return graph.compile(checkpointer=saver)


def _sqlite_bytes(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _redis_bytes(client: Any, prefix: str) -> int:
    total = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        total += int(client.memory_usage(key, samples=0) or 0)
    return total


def _run(name: str, saver: Any, marks: list[int], size: Callable[[], int], rows: list[dict[str, Any]]) -> None:
    saver.put_seconds = []
    app = _graph(saver)
    config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:8]}"}}
    turn_seconds: list[float] = []
    for turn in range(1, max(marks) + 1):
        before = len(saver.put_seconds)
        t0 = time.perf_counter()
        app.invoke({"messages": [HumanMessage(content=f"turn {turn}: {TEXT}")]}, config)
        turn_seconds.append(time.perf_counter() - t0)
        puts = saver.put_seconds[before:]
        saver.put_seconds[before:] = [statistics.fmean(puts)] if puts else []
        if turn in marks:
            last = saver.put_seconds[-WINDOW:]
            rows.append(
                {
                    "checkpointer": name,
                    "turns": turn,
                    "bytes": size(),
                    "put_ms": 1000 * statistics.fmean(last),
                    "turn_ms": 1000 * statistics.fmean(turn_seconds[-WINDOW:]),
                }
            )
            print(f"  {name}: {turn} turns done", flush=True)
    state = app.get_state(config).values["messages"]
    assert len(state) == 2 * max(marks), (name, len(state))


def _table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| checkpointer | turns | storage | put (mean, ms) | turn (mean, ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=lambda r: (r["turns"], r["checkpointer"])):
        out.append(
            f"| {r['checkpointer']} | {r['turns']:,} | {r['bytes'] / 1e6:,.2f} MB | {r['put_ms']:.2f} | "
            f"{r['turn_ms']:.2f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 and 30 turns")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis row")
    args = parser.parse_args(argv)
    marks = [10, 30] if args.quick else [100, 1_000]
    rows: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory() as tmp:
        ours_path = Path(tmp) / "sessions.db"
        store = create_sqlite_session_store(ours_path)
        try:
            print("SessionCheckpointer (SQLite store)", flush=True)
            _run(
                "SessionCheckpointer, SQLite",
                _timed(SessionCheckpointer)(store),
                marks,
                lambda: _sqlite_bytes(ours_path),
                rows,
            )
        finally:
            store.close()

        from langgraph.checkpoint.sqlite import SqliteSaver

        theirs_path = Path(tmp) / "langgraph.db"
        con = sqlite3.connect(theirs_path, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            print("SqliteSaver (langgraph-checkpoint-sqlite)", flush=True)
            _run("SqliteSaver", _timed(SqliteSaver)(con), marks, lambda: _sqlite_bytes(theirs_path), rows)
        finally:
            con.close()

    if not args.no_redis:
        import redis

        prefix = f"bench-lg-{uuid.uuid4().hex[:12]}:"
        client = redis.Redis.from_url(args.redis_url)
        rstore = create_redis_session_store(url=args.redis_url, key_prefix=prefix)
        try:
            print("SessionCheckpointer (Redis store)", flush=True)
            _run(
                "SessionCheckpointer, Redis",
                _timed(SessionCheckpointer)(rstore),
                marks,
                lambda: _redis_bytes(client, prefix),
                rows,
            )
        finally:
            rstore.close()
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()

    print()
    print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
