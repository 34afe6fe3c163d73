"""Benchmark: our LlamaIndex chat store and memory beside LlamaIndex's own.

Measures, for N = 1,000 and 10,000 messages:

* ``add_message`` (mean per call while a store grows to N, and over the last 100 calls,
  which shows whether the cost grows with the length) and ``get_messages`` (read all N,
  best of 3) for ``SessionChatStore`` on Redis and SQLite, LlamaIndex's
  ``RedisChatStore`` (package ``llama-index-storage-chat-store-redis``) and
  ``SimpleChatStore`` persisted to a file after each put (what a durable
  ``SimpleChatStore`` costs; its ``persist()`` fails with pydantic 2.14, which is reported);
* ``SessionMemory.get`` at a 4,000-token limit on a 10,000-message session, beside
  ``ChatMemoryBuffer.get`` at the same limit (median of 20 for ours, one call for theirs;
  garbage collected before each timed call, for both). ``ChatMemoryBuffer`` re-counts the remaining
  history for every message it drops (quadratic), so it is run at 1,000 and 2,000
  messages and its 10,000 figure is extrapolated quadratically, marked ``~``.

Needs ``pip install 'a2a-session-manager[redis,llamaindex,bench]'`` and a Redis server at
127.0.0.1:6379 (``--redis-url``); keys use a fresh prefix, removed at the end; files go
to a temporary folder. Run: ``python bench/llamaindex_memory.py`` (``--quick``: N = 200).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from a2a_session_manager.storage import create_redis_session_store, create_sqlite_session_store
from llama_index.core.base.llms.types import ChatMessage

from a2a_session_integrations.llamaindex import SessionChatStore, SessionMemory

warnings.simplefilter("ignore", DeprecationWarning)  # ChatMemoryBuffer is deprecated upstream

BUFFER_CAPS = (1_000, 2_000)
TOKEN_LIMIT = 4_000


def _message(i: int) -> ChatMessage:
    text = f"message {i}: " + "the quick brown fox jumps over the lazy dog " * 2
    return ChatMessage(role="user" if i % 2 == 0 else "assistant", content=text)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.3f} ms"


def _fill(add: Any, n: int) -> dict[str, float]:
    times: list[float] = []
    for i in range(n):
        message = _message(i)
        t0 = time.perf_counter()
        add(message)
        times.append(time.perf_counter() - t0)
    return {"put_mean": statistics.mean(times), "put_last100": statistics.mean(times[-100:])}


def _read(get: Any, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        gc.collect()  # earlier garbage is nobody's cost: collect it outside the timing
        t0 = time.perf_counter()
        got = get()
        best = min(best, time.perf_counter() - t0)
        assert len(got) == n, (len(got), n)
    return best


def bench_stores(ns: list[int], redis_url: str, tmp: Path, prefix: str) -> None:
    from llama_index.core.storage.chat_store import SimpleChatStore
    from llama_index.storage.chat_store.redis import RedisChatStore

    print(f"{'store':<38}{'N':>7}{'put mean':>14}{'put last100':>14}{'get all':>14}")
    for n in ns:
        sqlite = create_sqlite_session_store(path=str(tmp / f"li-{n}.db"))
        redis_store = create_redis_session_store(url=redis_url, key_prefix=f"{prefix}s:")
        their_redis = RedisChatStore(redis_url=redis_url)
        cases: list[tuple[str, Any, str]] = [
            ("SessionChatStore (Redis)", SessionChatStore(redis_store), f"ours-{n}"),
            ("SessionChatStore (SQLite)", SessionChatStore(sqlite), f"ours-{n}"),
            ("llama-index RedisChatStore", their_redis, f"{prefix}theirs-{n}"),
        ]
        for name, cs, key in cases:
            stats = _fill(lambda m, cs=cs, key=key: cs.add_message(key, m), n)
            read = _read(lambda cs=cs, key=key: cs.get_messages(key), n)
            print(f"{name:<38}{n:>7}{_ms(stats['put_mean']):>14}{_ms(stats['put_last100']):>14}{_ms(read):>14}")
        their_redis.delete_messages(f"{prefix}theirs-{n}")
        redis_store.delete(f"ours-{n}")
        redis_store.close()
        sqlite.close()

        simple = SimpleChatStore()
        path = tmp / f"simple-{n}.json"
        try:
            stats = _fill(lambda m, s=simple, p=path: (s.add_message("k", m), s.persist(str(p))), min(n, 1_000))
            print(f"{'SimpleChatStore + persist() per put':<38}{n:>7}{_ms(stats['put_mean']):>14}")
        except Exception as exc:  # the anchor's own failure is the result we report
            print(f"{'SimpleChatStore + persist() per put':<38}{n:>7}  FAILS: {type(exc).__name__}: {str(exc)[:70]}")


def bench_memory(n: int, buffer_ns: tuple[int, ...], redis_url: str, tmp: Path, prefix: str) -> None:
    from llama_index.core.memory import ChatMemoryBuffer

    print(f"\nget() at token_limit={TOKEN_LIMIT} on {n} messages")
    sqlite = create_sqlite_session_store(path=str(tmp / "memory.db"))
    redis_store = create_redis_session_store(url=redis_url, key_prefix=f"{prefix}m:")
    for name, store in (("SQLite", sqlite), ("Redis", redis_store)):
        memory = SessionMemory.from_defaults(session_id="long", store=store, token_limit=TOKEN_LIMIT)
        for start in range(0, n, 1_000):
            memory.put_messages([_message(i) for i in range(start, min(n, start + 1_000))])
        runs = []
        for _ in range(20):
            gc.collect()
            t0 = time.perf_counter()
            got = memory.get()
            runs.append(time.perf_counter() - t0)
        print(f"  SessionMemory.get ({name:<6})  median {_ms(statistics.median(runs))}  ({len(got)} messages)")
    redis_store.delete("long")
    redis_store.close()
    sqlite.close()

    measured: list[tuple[int, float]] = []
    for m in buffer_ns:
        buffer = ChatMemoryBuffer.from_defaults(chat_history=[_message(i) for i in range(m)], token_limit=TOKEN_LIMIT)
        gc.collect()
        t0 = time.perf_counter()
        got = buffer.get()
        elapsed = time.perf_counter() - t0
        measured.append((m, elapsed))
        print(f"  ChatMemoryBuffer.get ({m:>6} msgs) {_ms(elapsed)}  ({len(got)} messages)")
    m, elapsed = measured[-1]
    if m < n:
        print(
            f"  ChatMemoryBuffer.get ({n:>6} msgs) ~{elapsed * (n / m) ** 2 * 1000:8.0f} ms  (extrapolated, quadratic)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 200")
    args = parser.parse_args()
    prefix = f"bench-li-{uuid.uuid4().hex[:8]}:"
    ns = [200] if args.quick else [1_000, 10_000]
    with tempfile.TemporaryDirectory() as tmp:
        bench_stores(ns, args.redis_url, Path(tmp), prefix)
        bench_memory(ns[-1], (200,) if args.quick else BUFFER_CAPS, args.redis_url, Path(tmp), prefix)


if __name__ == "__main__":
    main()
