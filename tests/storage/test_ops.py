"""The one sync/async driver (``storage/ops.py``): operations written once, run either way.

Real stores where a store is the target (memory, SQLite, Redis); a small backend of the
test's own where the test must see which method ran on which thread or make a
primitive fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from a2a_session_manager import EventSource, SessionEvent
from a2a_session_manager.exceptions import SessionManagerError, SessionNotFoundError, StorageError
from a2a_session_manager.storage import SessionStore, ops
from a2a_session_manager.storage.ops import Call, Emit, Gather, Op, Stream, call, done, gather

from tests.conftest import make_store


def ev(text: str, event_id: str | None = None) -> SessionEvent:
    if event_id is None:
        return SessionEvent(message=text, source=EventSource.USER)
    return SessionEvent(id=event_id, message=text, source=EventSource.USER)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    """A real store: inline (memory), worker thread (SQLite) and native async (Redis)."""
    s = make_store(str(request.param), tmp_path, request.getfixturevalue)
    try:
        yield s
    finally:
        s.close()


# ------------------------------------------------------------------ operations
def op_append_and_read(sid: str, texts: list[str]) -> Op[list[str]]:
    """An operation calling another one (``yield from``) and public store methods."""
    added = yield from call(SessionStore.append_events, sid, [ev(t) for t in texts])
    assert added == len(texts)
    events = yield from op_read(sid)
    return [str(e.message) for e in events]


def op_read(sid: str) -> Op[list[SessionEvent]]:
    events = yield from call(SessionStore.get_events, sid, 0)
    return events


def test_run_drives_an_operation_that_calls_another_with_the_sync_methods(store: SessionStore) -> None:
    assert ops.run(store, op_append_and_read("s1", ["a", "b"])) == ["a", "b"]
    assert [e.message for e in store.get_events("s1")] == ["a", "b"]


async def test_arun_drives_the_same_operation_with_the_async_twins(store: SessionStore) -> None:
    assert await ops.arun(store, op_append_and_read("s1", ["a", "b"])) == ["a", "b"]
    assert [e.message for e in await store.aget_events("s1")] == ["a", "b"]


def test_a_plan_of_one_call_runs_without_an_operation(store: SessionStore) -> None:
    store.put_record("s1", "k", "key", b"v")
    assert ops.run(store, call(SessionStore.get_record, "s1", "k", "key")) == b"v"


async def test_a_plan_of_one_call_runs_async_too(store: SessionStore) -> None:
    await store.aput_record("s1", "k", "key", b"v")
    assert await ops.arun(store, call(SessionStore.get_record, "s1", "k", "key")) == b"v"


def test_done_is_a_plan_with_nothing_to_call(store: SessionStore) -> None:
    assert ops.run(store, done(7)) == 7


def test_gather_answers_in_order_and_nests_for_answers_of_different_types(store: SessionStore) -> None:
    store.put_records("s1", "k", [("a", b"1"), ("b", b"2")])

    def op() -> Op[tuple[tuple[bytes | None, ...], list[tuple[str, bytes]]]]:
        both = yield from gather(
            gather(*[call(SessionStore.get_record, "s1", "k", key) for key in ("b", "a", "zz")]),
            call(SessionStore.list_records, "s1", "k", prefix="a"),
        )
        return both

    expected = ((b"2", b"1", None), [("a", b"1")])
    assert ops.run(store, op()) == expected
    assert asyncio.run(ops.arun(store, op())) == expected


def test_an_empty_gather_answers_an_empty_tuple(store: SessionStore) -> None:
    def op() -> Op[tuple[bool, ...]]:
        none: tuple[str, ...] = ()
        answers = yield from gather(*[call(SessionStore.exists, sid) for sid in none])
        return answers

    assert ops.run(store, op()) == ()
    assert asyncio.run(ops.arun(store, op())) == ()


def test_a_store_error_is_thrown_into_the_operation_where_it_can_be_caught(store: SessionStore) -> None:
    def op() -> Op[str]:
        try:
            yield from call(SessionStore.append_events, "s1", [ev("late", "e1")])
            yield from call(SessionStore.upsert_run, "s1", "not a run")  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            caught = type(exc).__name__
        count = yield from call(SessionStore.count_events, "s1")
        return f"{caught} after {count}"

    assert ops.run(store, op()).endswith("after 1")
    assert asyncio.run(ops.arun(store, op())).endswith("after 1")


def test_an_error_the_operation_does_not_catch_reaches_the_caller(store: SessionStore) -> None:
    def op() -> Op[None]:
        yield from call(SessionStore.get_events, "s1", 0, None, -1)

    with pytest.raises(ValueError, match="last_n"):
        ops.run(store, op())
    with pytest.raises(ValueError, match="last_n"):
        asyncio.run(ops.arun(store, op()))


# ------------------------------------------------------------------ streams
def stream(sid: str, log: list[str]) -> Stream[str]:
    try:
        for key in ("a", "b", "c"):
            raw = yield from call(SessionStore.get_record, sid, "k", key)
            log.append(key)
            yield Emit(f"{key}={raw!r}")
    finally:
        log.append("closed")


def test_iterate_yields_what_the_operation_emits_and_reads_only_as_far_as_consumed(store: SessionStore) -> None:
    store.put_records("s1", "k", [("a", b"1"), ("b", b"2")])
    log: list[str] = []
    it = ops.iterate(store, stream("s1", log))
    assert next(it) == "a=b'1'"
    assert log == ["a"]
    assert list(it) == ["b=b'2'", "c=None"]
    assert log == ["a", "b", "c", "closed"]


def test_closing_an_iterator_early_closes_its_operation(store: SessionStore) -> None:
    log: list[str] = []
    it = ops.iterate(store, stream("s1", log))
    next(it)
    it.close()
    assert log == ["a", "closed"]


async def test_aiterate_is_the_async_twin_of_iterate(store: SessionStore) -> None:
    await store.aput_records("s1", "k", [("a", b"1")])
    log: list[str] = []
    out = [item async for item in ops.aiterate(store, stream("s1", log))]
    assert out == ["a=b'1'", "b=None", "c=None"]
    assert log == ["a", "b", "c", "closed"]


def test_emitting_outside_iterate_is_a_type_error(store: SessionStore) -> None:
    with pytest.raises(TypeError, match="outside iterate"):
        ops.run(store, stream("s1", []))
    with pytest.raises(TypeError, match="outside iterate"):
        asyncio.run(ops.arun(store, stream("s1", [])))


def test_yielding_something_else_than_a_request_is_a_type_error(store: SessionStore) -> None:
    def op() -> Op[None]:
        yield ("get_events", ("s1",))  # type: ignore[misc]  # the old untyped form

    with pytest.raises(TypeError, match="tuple, not a Call, Gather or Emit"):
        ops.run(store, op())


def test_call_names_the_method_and_async_twins_follow_the_a_prefix_rule() -> None:
    assert call(SessionStore.get_events, "s1", last_n=2).name == "get_events"
    assert repr(call(SessionStore.get_events, "s1", last_n=2)) == "Call(get_events('s1', last_n=2))"
    assert call(SessionStore._read_header, "s1").name == "_read_header"
    assert isinstance(gather(call(SessionStore.exists, "s1")), Gather)
    assert isinstance(call(SessionStore.exists, "s1"), Call)


# ------------------------------------------------------------------ a store's primitives
class Backend:
    """A store of the test's own: records which primitive ran, on which thread; can fail."""

    _async_inline: ClassVar[bool] = False
    _async_native: ClassVar[bool] = False
    _driver_errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        return StorageError(f"session {sid!r}: wrapped {type(exc).__name__}", session_id=sid)

    def _peek(self, key: str) -> str:
        self.calls.append(("_peek", threading.get_ident()))
        if self.fail is not None:
            raise self.fail
        return key.upper()

    async def _apeek(self, key: str) -> str:
        self.calls.append(("_apeek", threading.get_ident()))
        if self.fail is not None:
            raise self.fail
        return key.upper() + "!"


class InlineBackend(Backend):
    _async_inline = True


class NativeBackend(Backend):
    _async_native = True


def op_peek_twice(key: str) -> Op[str]:
    first = yield from call(Backend._peek, key)
    second = yield from call(Backend._peek, first.lower())
    return first + second


def test_run_primitives_calls_the_sync_primitives() -> None:
    backend = Backend()
    assert ops.run_primitives(backend, "s1", op_peek_twice("x")) == "XX"
    assert [name for name, _ in backend.calls] == ["_peek", "_peek"]


async def test_arun_primitives_runs_a_blocking_store_in_a_worker_thread() -> None:
    backend = Backend()
    assert await ops.arun_primitives(backend, "s1", op_peek_twice("x")) == "XX"
    assert [name for name, _ in backend.calls] == ["_peek", "_peek"]
    assert {thread for _, thread in backend.calls} != {threading.get_ident()}


async def test_arun_primitives_runs_an_inline_store_on_the_loop() -> None:
    backend = InlineBackend()
    assert await ops.arun_primitives(backend, "s1", op_peek_twice("x")) == "XX"
    assert backend.calls == [("_peek", threading.get_ident())] * 2


async def test_arun_primitives_awaits_a_native_stores_async_primitives() -> None:
    backend = NativeBackend()
    assert await ops.arun_primitives(backend, "s1", op_peek_twice("x")) == "X!X!!"
    assert backend.calls == [("_apeek", threading.get_ident())] * 2


@pytest.mark.parametrize("kind", [Backend, InlineBackend, NativeBackend])
async def test_a_driver_error_becomes_the_stores_typed_error_sync_and_async(kind: type[Backend]) -> None:
    cause = OSError("disk on fire")
    for attempt in range(2):
        backend = kind(fail=cause)
        with pytest.raises(StorageError, match="session 's1': wrapped OSError") as info:
            if attempt == 0:
                ops.run_primitives(backend, "s1", op_peek_twice("x"))
            else:
                await ops.arun_primitives(backend, "s1", op_peek_twice("x"))
        assert info.value.__cause__ is cause
        assert info.value.session_id == "s1"


@pytest.mark.parametrize("kind", [Backend, NativeBackend])
async def test_typed_errors_and_non_driver_errors_pass_through_untranslated(kind: type[Backend]) -> None:
    for error in (SessionNotFoundError("gone", session_id="s1"), KeyError("k")):
        backend = kind(fail=error)
        with pytest.raises(type(error)) as info:
            ops.run_primitives(backend, "s1", call(Backend._peek, "x"))
        assert info.value is error
        with pytest.raises(type(error)) as ainfo:
            await ops.arun_primitives(backend, "s1", call(Backend._peek, "x"))
        assert ainfo.value is error


async def test_async_gather_runs_its_calls_concurrently() -> None:
    class Meeting:
        """Two calls that finish only when both have started: sequential calls would wait forever."""

        def __init__(self) -> None:
            self.arrived = 0
            self.both = asyncio.Event()

        def meet(self, name: str) -> str:
            raise AssertionError("the async driver must call ameet")

        async def ameet(self, name: str) -> str:
            self.arrived += 1
            if self.arrived == 2:
                self.both.set()
            await self.both.wait()
            return name

    def op() -> Op[tuple[str, ...]]:
        names = yield from gather(call(Meeting.meet, "a"), call(Meeting.meet, "b"))
        return names

    assert await asyncio.wait_for(ops.arun(Meeting(), op()), timeout=30) == ("a", "b")


def test_sessionstore_runs_its_operations_on_the_primitive_driver(tmp_path: Path) -> None:
    store: Any = make_store("sqlite", tmp_path, lambda name: None)
    try:
        assert store._run("s1", call(SessionStore._count_events, "s1")) == 0
        store.append_event("s1", ev("hi", "e1"))
        assert store._run("s1", store._op_exists("s1")) is True
        assert asyncio.run(store._arun("s1", call(SessionStore._count_events, "s1"))) == 1
    finally:
        store.close()
