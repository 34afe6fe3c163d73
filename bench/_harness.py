"""Workload drivers shared by ``bench/stores.py`` and ``bench/orig/run_orig.py`` (stdlib only).

A system under test is reached through a *handle*: an object with ``append(i)`` (build
message ``i`` of the corpus in the system's own form and append it), ``count()`` (read
the whole session back as the system's native objects and return how many there are)
and ``close()``; optionally ``append_many(indices)`` when the system is async and the
loop should run inside one coroutine. An *opener* is a zero-argument callable that
returns a new handle (a fresh store object where the system has one).

This module must import nothing outside the standard library: the original
a2a-session-manager 0.1.3 runs it inside its own venv.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

START_TIMEOUT_SECONDS = 120.0
"""How long writers wait for each other at the start line before giving up."""


class Handle(Protocol):
    """What a workload needs from a system under test."""

    def append(self, i: int) -> None:
        """Append message ``i`` of the corpus."""

    def count(self) -> int:
        """Read every message back as native objects; return how many."""

    def close(self) -> None:
        """Release connections and files."""


Opener = Callable[[], Handle]


def _append_all(handle: Handle, indices: Iterable[int]) -> None:
    many = getattr(handle, "append_many", None)
    if many is not None:
        many(indices)
        return
    append = handle.append
    for i in indices:
        append(i)


def time_appends(opener: Opener, n: int) -> float:
    """Open a handle (untimed), append messages 0..n-1 one at a time; return the seconds."""
    handle = opener()
    try:
        t0 = time.perf_counter()
        _append_all(handle, range(n))
        return time.perf_counter() - t0
    finally:
        handle.close()


def time_load(opener: Opener) -> tuple[float, int]:
    """Open a fresh handle and read the whole session; return (seconds, messages read)."""
    t0 = time.perf_counter()
    handle = opener()
    try:
        n = handle.count()
        return time.perf_counter() - t0, n
    finally:
        handle.close()


def final_count(opener: Opener) -> tuple[int, str | None]:
    """Count the messages a fresh handle finds; (0, error) when the read fails."""
    try:
        handle = opener()
    except Exception as exc:
        return 0, _describe(exc)
    try:
        return handle.count(), None
    except Exception as exc:
        return 0, _describe(exc)
    finally:
        handle.close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def run_threads(opener: Opener, *, writers: int, per_writer: int, shared: bool) -> dict[str, Any]:
    """``writers`` threads append ``per_writer`` messages each to one session.

    With ``shared`` the threads use one handle (an in-process object, or a store used
    through one process-wide instance); otherwise each thread opens its own before the
    start signal.

    Returns:
        ``errors`` (exceptions the callers saw), ``first_error`` and ``elapsed`` seconds.
    """
    handles = [opener()] if shared else [opener() for _ in range(writers)]
    start = threading.Barrier(writers + 1, timeout=START_TIMEOUT_SECONDS)
    errors: list[str] = []
    lock = threading.Lock()

    def work(w: int) -> None:
        handle = handles[0 if shared else w]
        start.wait()
        for j in range(per_writer):
            try:
                handle.append(w * per_writer + j)
            except Exception as exc:
                with lock:
                    errors.append(_describe(exc))

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for h in handles:
        h.close()
    return {"errors": len(errors), "first_error": errors[0] if errors else None, "elapsed": elapsed}


def _process_writer(opener: Opener, w: int, per_writer: int, start: Any, results: Any) -> None:
    errors: list[str] = []
    try:
        handle = opener()
    except Exception as exc:
        results.put((w, per_writer, _describe(exc)))
        start.abort()
        return
    try:
        try:
            start.wait()
        except threading.BrokenBarrierError:
            results.put((w, 0, None))  # another writer failed to open and says why
            return
        for j in range(per_writer):
            try:
                handle.append(w * per_writer + j)
            except Exception as exc:
                errors.append(_describe(exc))
    finally:
        handle.close()
    results.put((w, len(errors), errors[0] if errors else None))


def _drain(results: Any, n: int) -> list[tuple[int, int, str | None]]:
    """Up to ``n`` writer reports already on their way (each writer sends one)."""
    reports = []
    for _ in range(n):
        try:
            reports.append(results.get(timeout=5))
        except Exception:
            break
    return reports


def run_processes(opener: Opener, *, writers: int, per_writer: int) -> dict[str, Any]:
    """``writers`` forked processes append ``per_writer`` messages each to one session.

    Each process opens its own handle before the common start signal.

    Returns:
        ``errors`` (exceptions the callers saw), ``first_error`` and ``elapsed`` seconds.
    """
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(writers + 1, timeout=START_TIMEOUT_SECONDS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_process_writer, args=(opener, w, per_writer, start, results), daemon=True)
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        # A writer could not open its handle (it reported why) or the start timed out.
        reports = _drain(results, len(procs))
        for p in procs:
            p.join(timeout=60)
        first = next((r[2] for r in reports if r[2]), None) or "writers never reached the start line"
        return {"errors": sum(r[1] for r in reports) or writers * per_writer, "first_error": first, "elapsed": 0.0}
    t0 = time.perf_counter()
    reports = [results.get(timeout=3600) for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)
    errors = sum(r[1] for r in reports)
    first = next((r[2] for r in reports if r[2]), None)
    bad_exit = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if bad_exit:
        first = first or f"writer processes exited with {bad_exit}"
    return {"errors": errors, "first_error": first, "elapsed": elapsed}
