"""Benchmark: our SessionChatMessageHistory beside langchain-community's Redis and file histories.

Measures ``add_message`` (mean time per call while a history grows to N messages, and
over the last 100 calls, which shows whether the cost grows with the length) and
``messages`` (time to read all N messages back, best of 3), for N = 1,000 and 10,000,
on our Redis, file and SQLite stores and on ``RedisChatMessageHistory`` and
``FileChatMessageHistory`` in the same run; Redis both without and with a one-day TTL
(theirs then sends EXPIRE after each LPUSH; ours refreshes it inside its one script).
Ends with ours / theirs ratios.

Needs: ``pip install 'a2a-session-manager[redis,langchain,bench]'`` and a Redis server at
127.0.0.1:6379 (``--redis-url``). Keys use a fresh prefix, removed at the end; files go to
a temporary folder. ``FileChatMessageHistory`` rewrites its whole file on every add, so it
is run only up to 1,000 messages and its 10,000 figures are extrapolated (per-call cost
linear in the length, read time linear in the length), marked ``~``.

Run: ``python bench/langchain_history.py`` (``--quick`` for a smoke run: N = 200).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from a2a_session_manager.storage import (
    create_file_session_store,
    create_redis_session_store,
    create_sqlite_session_store,
)
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from a2a_session_integrations.langchain import SessionChatMessageHistory

FILE_CAP = 1_000
TTL_SECONDS = 86_400
RATIOS = (
    ("ours redis", "langchain RedisChatMessageHistory"),
    ("ours redis, ttl", "langchain RedisChatMessageHistory, ttl"),
    ("ours file", "langchain FileChatMessageHistory"),
)


def _message(i: int) -> BaseMessage:
    text = f"message {i}: " + "the quick brown fox jumps over the lazy dog " * 2
    return HumanMessage(content=text) if i % 2 == 0 else AIMessage(content=text)


def _measure(history: BaseChatMessageHistory, n: int) -> dict[str, float]:
    times: list[float] = []
    for i in range(n):
        message = _message(i)
        t0 = time.perf_counter()
        history.add_message(message)
        times.append(time.perf_counter() - t0)
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        got = history.messages
        reads.append(time.perf_counter() - t0)
        assert len(got) == n, (type(history).__name__, len(got), n)
    return {
        "add_mean_ms": statistics.fmean(times) * 1000,
        "add_last100_ms": statistics.fmean(times[-100:]) * 1000,
        "messages_ms": min(reads) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="N = 200 only (smoke run)")
    args = parser.parse_args(argv)
    sizes = [200] if args.quick else [1_000, 10_000]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community warns on import (it is being sunset)
        from langchain_community.chat_message_histories import FileChatMessageHistory, RedisChatMessageHistory

    prefix = f"bench-{uuid.uuid4().hex[:10]}:"
    rows: list[tuple[str, int, dict[str, float], bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis_store = create_redis_session_store(url=args.redis_url, key_prefix=prefix + "ours:")
        redis_ttl_store = create_redis_session_store(
            url=args.redis_url, key_prefix=prefix + "ours-ttl:", expiration_seconds=TTL_SECONDS
        )
        file_store = create_file_session_store(root / "ours-file")
        sqlite_store = create_sqlite_session_store(root / "ours.db")
        theirs_redis: list[Any] = []
        try:
            for n in sizes:
                sid = f"s{n}"
                for name, target in (
                    ("ours redis", redis_store),
                    ("ours file", file_store),
                    ("ours sqlite", sqlite_store),
                ):
                    rows.append((name, n, _measure(SessionChatMessageHistory(sid, target), n), False))
                lc_redis = RedisChatMessageHistory(sid, url=args.redis_url, key_prefix=prefix + "lc:")
                theirs_redis.append(lc_redis)
                rows.append(("langchain RedisChatMessageHistory", n, _measure(lc_redis, n), False))
                # With a TTL, as sessions in production have: theirs adds EXPIRE after each LPUSH.
                ours_ttl = SessionChatMessageHistory(sid, redis_ttl_store)
                rows.append(("ours redis, ttl", n, _measure(ours_ttl, n), False))
                lc_ttl = RedisChatMessageHistory(
                    sid, url=args.redis_url, key_prefix=prefix + "lc-ttl:", ttl=TTL_SECONDS
                )
                theirs_redis.append(lc_ttl)
                rows.append(("langchain RedisChatMessageHistory, ttl", n, _measure(lc_ttl, n), False))
                capped = min(n, FILE_CAP)
                lc_file = FileChatMessageHistory(str(root / f"lc-{n}.json"))
                figures = _measure(lc_file, capped)
                if capped < n:
                    scale = n / capped
                    figures = {
                        # add cost grows with the length: mean over 0..n is ~scale x mean over 0..cap
                        "add_mean_ms": figures["add_mean_ms"] * scale,
                        "add_last100_ms": figures["add_last100_ms"] * scale,
                        "messages_ms": figures["messages_ms"] * scale,
                    }
                rows.append(("langchain FileChatMessageHistory", n, figures, capped < n))
        finally:
            for history in theirs_redis:
                history.clear()
            for n in sizes:
                redis_store.delete(f"s{n}")
                redis_ttl_store.delete(f"s{n}")
            redis_store.close()
            redis_ttl_store.close()
            file_store.close()
            sqlite_store.close()

    print(f"{'history':40} {'N':>6} {'add mean ms':>12} {'add last100 ms':>15} {'messages ms':>12}")
    for name, n, f, extrapolated in rows:
        mark = "~" if extrapolated else " "
        print(
            f"{name:40} {n:>6} {mark}{f['add_mean_ms']:>11.3f} {mark}{f['add_last100_ms']:>14.3f} "
            f"{mark}{f['messages_ms']:>11.1f}"
        )
    if any(r[3] for r in rows):
        print(f"~ extrapolated from {FILE_CAP:,} messages (FileChatMessageHistory rewrites its file on every add)")
    print()
    print(f"{'ours / theirs (below 1: ours is faster)':60} {'N':>6} {'add mean':>10} {'messages':>10}")
    by = {(name, n): f for name, n, f, _ in rows}
    for ours, theirs in RATIOS:
        for n in sizes:
            a, b = by[(ours, n)], by[(theirs, n)]
            label = f"{ours} / {theirs.replace('langchain ', '')}"
            print(
                f"{label:60} {n:>6} {a['add_mean_ms'] / b['add_mean_ms']:>9.2f}x "
                f"{a['messages_ms'] / b['messages_ms']:>9.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
