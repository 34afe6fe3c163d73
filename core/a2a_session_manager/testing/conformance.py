"""The store conformance suite: every store promise of API.md, stated once, for any backend.

Subclass :class:`StoreConformance` in a test module and give it an ``open_store`` fixture;
pytest then runs every case against your store, through its sync and its async methods::

    import pytest
    from a2a_session_manager.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            return lambda **options: MyStore(tmp_path / "data", **options)

``open_store(**options)`` opens a store on the test's data; each call gives another store
object on the same data (options such as ``expiration_seconds=1`` go to the store). Cases
that need more than one store say so, and are skipped with the reason when the class does
not offer it:

- ``SHARED_DATA``: two objects from ``open_store()`` see the same data. Set
  ``objects_share_data = False`` for a store private to its object (an in-memory store).
- ``PROCESSES``: another process opens the same store (appending writers, ``kill -9``).
  Override the ``store_spec`` fixture: a store URL ``create_session_store`` opens, or
  ``("package.module:factory", {keyword arguments as JSON})``; the worker is
  ``python -m a2a_session_manager.testing._worker``.
- ``EXPIRATION``: ``open_store(expiration_seconds=1)`` forgets idle sessions. Set
  ``supports_expiration = False`` otherwise.

``store_paths`` names the paths under ``tmp_path`` the store writes (``("data/",)``), so the
id cases can check that no id escapes them. Cases run their coroutines with ``asyncio.run``:
no pytest-asyncio mode is needed. A class that runs several backends (parametrized
fixtures) can restrict the multi-store cases with ``case_needs(metafunc.function)`` in its
own ``pytest_generate_tests``, as this project's ``tests/storage/test_conformance.py`` does.

This module imports pytest; ``import a2a_session_manager`` never imports it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from a2a_session_manager.exceptions import InvalidSessionIdError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import RunStatus, SessionRun
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.storage.base import SessionStore
from a2a_session_manager.storage.providers.memory import InMemorySessionStore
from a2a_session_manager.testing._twin import Twin

__all__ = [
    "EXPIRATION",
    "PROCESSES",
    "SHARED_DATA",
    "StoreConformance",
    "StoreSpec",
    "Twin",
    "case_needs",
    "run_worker",
    "worker_command",
]

SHARED_DATA = "shared_data"
"""The case opens a second store object on the same data."""
PROCESSES = "processes"
"""The case runs other processes on the same store (implies ``SHARED_DATA``)."""
EXPIRATION = "expiration"
"""The case opens the store with ``expiration_seconds=1``."""

StoreSpec = str | tuple[str, dict[str, Any]]
"""How another process opens the store: a store URL, or ``("module:factory", kwargs)``."""

_F = TypeVar("_F", bound=Callable[..., Any])


def case_needs(case: Callable[..., Any]) -> frozenset[str]:
    """What a case needs beyond one store: a subset of ``SHARED_DATA``, ``PROCESSES``, ``EXPIRATION``.

    Args:
        case: A test function of ``StoreConformance`` (``metafunc.function``).

    Returns:
        The capabilities it needs (empty for single-store cases).
    """
    needs: frozenset[str] = getattr(case, "conformance_needs", frozenset())
    return needs


def _needs(*capabilities: str) -> Callable[[_F], _F]:
    def mark(case: _F) -> _F:
        wanted = set(capabilities)
        if PROCESSES in wanted:
            wanted.add(SHARED_DATA)
        case.conformance_needs = frozenset(wanted)  # type: ignore[attr-defined]
        return case

    return mark


def _async_case(case: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    # Each coroutine case runs in its own event loop: the kit needs no pytest-asyncio mode,
    # and pytest still sees the case's parameters (``functools.wraps`` keeps the signature).
    @functools.wraps(case)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(case(*args, **kwargs))

    return run


# ------------------------------------------------------------------- helpers
def ev(text: Any, event_id: str | None = None, **fields: Any) -> SessionEvent:
    """A user event with ``text`` as its message (and ``event_id`` as its id when given)."""
    fields.setdefault("source", EventSource.USER)
    if event_id is not None:
        fields["id"] = event_id
    return SessionEvent(message=text, **fields)


def messages(events: list[SessionEvent]) -> list[Any]:
    """The events' messages, in order."""
    return [e.message for e in events]


def worker_command() -> list[str]:
    """The command line that starts the kit's worker process (this interpreter).

    Returns:
        ``[sys.executable, "-m", "a2a_session_manager.testing._worker"]``.
    """
    return [sys.executable, "-m", "a2a_session_manager.testing._worker"]


def _spec_arg(spec: StoreSpec) -> str:
    if isinstance(spec, str):
        return json.dumps({"url": spec})
    factory, kwargs = spec
    return json.dumps({"factory": factory, "kwargs": kwargs})


def run_worker(command: str, spec: StoreSpec, *args: str, timeout: float = 60) -> str:
    """Run one worker command on the store ``spec`` names, in another process.

    Args:
        command: ``append``, ``stream``, ``append-one``, ``save-child``, ``write``, ``read``
            or ``delete`` (see ``a2a_session_manager.testing._worker``).
        spec: How the worker opens the store.
        *args: The command's arguments, the session id first.
        timeout: Seconds before the worker is stopped.

    Returns:
        What the worker printed.
    """
    proc = subprocess.run(
        [*worker_command(), command, _spec_arg(spec), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"worker {command} failed:\n{proc.stderr}"
    return proc.stdout


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check_writers(events: list[SessionEvent], writers: list[str], per_writer: int) -> None:
    """Nothing lost, no duplicates, seq 0..n-1, and each writer's events in its own order."""
    total = len(writers) * per_writer
    assert len(events) == total, f"{total - len(events)} of {total} events lost"
    assert [e.seq for e in events] == list(range(total))
    assert len({e.id for e in events}) == total
    by_writer: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_writer[e.metadata["writer"]].append(e.metadata["i"])
    for w in writers:
        assert by_writer[w] == list(range(per_writer)), f"writer {w}'s events out of order"


# ========================================================= concurrency
WRITERS = 8


PER_WRITER = 200


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# ============================================================ bad ids
# Refused: not text, empty, too long, or holding a character that is not printable
# (control characters, line breaks, DEL, a lone surrogate).
BAD_IDS: list[Any] = ["", "a\nb", "x\n", "\x00", "a\tb", "\x7f", "\ud800", "a" * 257, 5, None, b"bytes"]


BAD_ID_NAMES = ["empty", "newline", "end-newline", "nul", "tab", "del", "surrogate", "257chars", "int", "none", "bytes"]


# Accepted since ids became data (API.md): each must round-trip exactly, stay inside the
# store and never act as a path or a pattern.
NEW_IDS: list[str] = [
    "user+1@example.com",
    "tenant/42",
    "a b",
    "../x",
    "..",
    ".",
    "*",
    "[ab]?",
    "CON",
    ".hidden",
    "%41",
    "A",  # what %41 would decode to: must stay a different session
    "a}b{c",
    "back\\slash",
    'say "hi"',
    "日本語",
    "é",
    "x" * 256,
    "日" * 256,
]


def _calls_with(bad: Any) -> dict[str, tuple[Any, ...]]:
    event = ev("x")
    return {
        "get": (bad,),
        "delete": (bad,),
        "exists": (bad,),
        "get_child_ids": (bad,),
        "append_event": (bad, event),
        "append_events": (bad, [event]),
        "get_events": (bad,),
        "get_event_lines": (bad,),
        "count_events": (bad,),
        "clear_events": (bad,),
        "replace_events": (bad, [event]),
        "upsert_run": (bad, SessionRun()),
        "get_runs": (bad,),
        "put_record": (bad, "k", "key", b"v"),
        "put_records": (bad, "k", [("key", b"v")]),
        "get_record": (bad, "k", "key"),
        "list_records": (bad, "k"),
        "delete_records": (bad, "k"),
    }


# ==================================================================== the suite
class StoreConformance:
    """Every store promise of API.md as test cases; subclass it and define ``open_store``.

    Each case that takes ``api`` runs twice: through the store's sync methods and through
    its ``a``-twins. See the module docstring for the capabilities a case may need.
    """

    objects_share_data: ClassVar[bool] = True
    """Two objects from ``open_store()`` see the same data (False: a store private to its object)."""
    supports_expiration: ClassVar[bool] = True
    """``open_store(expiration_seconds=1)`` forgets sessions idle for a second."""
    store_paths: ClassVar[tuple[str, ...] | None] = None
    """Path prefixes under ``tmp_path`` the store writes; None: anywhere under ``tmp_path``."""

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture
    def open_store(self) -> Callable[..., SessionStore]:
        """Open a store on the test's data: define this fixture in your subclass.

        Returns:
            A callable taking the store's keyword options (``expiration_seconds``) and
            returning a store; every call opens another object on the same data.
        """
        pytest.fail(f"{type(self).__name__} needs an open_store fixture: see a2a_session_manager.testing")

    @pytest.fixture
    def store_spec(self) -> StoreSpec | None:
        """How another process opens the test's store; None skips the multi-process cases.

        Returns:
            A store URL (``create_session_store``), ``("module:factory", kwargs)``, or None.
        """
        return None

    @pytest.fixture(autouse=True)
    def _capabilities(self, request: pytest.FixtureRequest) -> None:
        # Skip, with the reason, a case that needs what this class does not offer.
        needs = case_needs(request.function)
        if SHARED_DATA in needs and not self.objects_share_data:
            pytest.skip(f"{type(self).__name__}: objects from open_store() share no data (objects_share_data)")
        if PROCESSES in needs and request.getfixturevalue("store_spec") is None:
            pytest.skip(f"{type(self).__name__}: no store_spec fixture, so no other process can open the store")
        if EXPIRATION in needs and not self.supports_expiration:
            pytest.skip(f"{type(self).__name__}: the store has no expiration (supports_expiration)")

    @pytest.fixture
    def store(self, open_store: Callable[..., SessionStore]) -> SessionStore:
        """A fresh, empty store, reopenable through ``open_store``."""
        return open_store()

    @pytest.fixture(params=["sync", "async"])
    def use_async(self, request: pytest.FixtureRequest) -> bool:
        """Whether the case goes through the ``a``-twins."""
        return bool(request.param == "async")

    @pytest.fixture
    def api(self, store: SessionStore, use_async: bool) -> Twin:
        """The store through its sync or its async methods."""
        return Twin(store, use_async=use_async)

    @pytest.fixture
    def other(self, store: SessionStore, open_store: Callable[..., SessionStore]) -> SessionStore:
        """A second handle on the same data: another store object, or the same one if objects share nothing."""
        return open_store() if self.objects_share_data else store

    def _outside_the_store(self, root: Path) -> list[str]:
        """Files under ``root`` that are not the store's own (``store_paths``)."""
        if self.store_paths is None:
            return []
        return [f for f in tree(root) if not f.startswith(self.store_paths)]

    # ================================================================= cases
    # ============================================================ sessions
    @_async_case
    async def test_fresh_store_is_empty(self, api: Twin) -> None:
        assert await api.list_sessions() == []
        assert await api.get("nobody") is None
        assert await api.exists("nobody") is False
        assert await api.get_events("nobody") == []
        assert await api.count_events("nobody") == 0
        assert await api.get_runs("nobody") == []
        assert await api.get_record("nobody", "k", "x") is None
        assert await api.list_records("nobody", "k") == []
        assert await api.get_child_ids("nobody") == []

    @_async_case
    async def test_save_then_get_round_trips_the_whole_session(self, api: Twin) -> None:
        parent = Session(id="parent")
        await api.save(parent)
        run = SessionRun()
        run.mark_running()
        done = SessionRun()
        done.mark_completed()
        session = Session(id="s1", parent_id="parent", state={"plan": ["a", "b"], "n": 3, "ünï": "cödé ✓"})
        session.metadata.set_property("user", "ada")
        session.add_child("kid")
        events = [
            ev("hello", "e1"),
            ev({"role": "assistant", "content": "hi", "tool_calls": []}, "e2", source=EventSource.LLM, task_id=run.id),
            ev(
                {"name": "add", "arguments": {"a": 1}, "result": 2, "tool_call_id": "c1"},
                "e3",
                source=EventSource.TOOL,
                type=EventType.TOOL_CALL,
                metadata={"parent_event_id": "e2"},
            ),
            SessionEvent(
                id="e4",
                message="priced",
                token_usage=TokenUsage(prompt_tokens=10, completion_tokens=5, model="gpt-4o-mini", origin="reported"),
            ),
        ]
        for e in events:
            session.add_event(e)
        session.runs.extend([run, done])
        await api.save(session)

        loaded = await api.get("s1")
        assert loaded is not None
        assert loaded.id == "s1"
        assert loaded.parent_id == "parent"
        assert loaded.child_ids == ["kid"]
        assert loaded.state == session.state
        assert loaded.metadata.properties == {"user": "ada"}
        assert loaded.metadata.created_at == session.metadata.created_at
        assert [e.model_dump(exclude={"seq"}) for e in loaded.events] == [e.model_dump(exclude={"seq"}) for e in events]
        assert [e.seq for e in loaded.events] == [0, 1, 2, 3]
        assert sorted(r.model_dump_json() for r in loaded.runs) == sorted(r.model_dump_json() for r in (run, done))
        assert loaded.total_tokens == 15
        assert (await api.get("parent")).child_ids == ["s1"]

    @_async_case
    async def test_saving_the_same_session_twice_stores_its_events_once(self, api: Twin) -> None:
        session = Session(id="s1")
        session.add_event(ev("a", "e1"))
        await api.save(session)
        await api.save(session)
        loaded = await api.get("s1")
        assert loaded is not None
        await api.save(loaded)
        assert await api.count_events("s1") == 1

    @_async_case
    async def test_get_of_unknown_id_is_none(self, api: Twin) -> None:
        await api.save(Session(id="known"))
        assert await api.get("unknown") is None

    @_async_case
    async def test_delete_removes_session_events_records_runs_and_parent_link(self, api: Twin) -> None:
        await api.save(Session(id="p"))
        child = Session(id="c", parent_id="p")
        child.add_event(ev("x", "e1"))
        child.runs.append(SessionRun())
        await api.save(child)
        await api.put_record("c", "notes", "k", b"v")
        sibling = Session(id="c2", parent_id="p")
        await api.save(sibling)

        assert await api.delete("c") is True
        assert await api.get("c") is None
        assert await api.exists("c") is False
        assert await api.get_events("c") == []
        assert await api.count_events("c") == 0
        assert await api.get_runs("c") == []
        assert await api.get_record("c", "notes", "k") is None
        assert await api.list_records("c", "notes") == []
        assert await api.list_sessions() == ["c2", "p"]
        assert await api.get_child_ids("p") == ["c2"]
        assert (await api.get("p")).child_ids == ["c2"]
        assert await api.delete("c") is False

    @_async_case
    async def test_exists_tells_stored_sessions_apart(self, api: Twin) -> None:
        await api.save(Session(id="here"))
        await api.append_event("appended", ev("x"))
        assert await api.exists("here") is True
        assert await api.exists("appended") is True
        assert await api.exists("elsewhere") is False

    @_async_case
    async def test_list_sessions_is_sorted_and_filters_by_prefix(self, api: Twin) -> None:
        for sid in ["b-2", "a-1", "b-10", "c", "ab"]:
            await api.save(Session(id=sid))
        await api.append_event("b-3", ev("made by append"))
        assert await api.list_sessions() == ["a-1", "ab", "b-10", "b-2", "b-3", "c"]
        assert await api.list_sessions("b-") == ["b-10", "b-2", "b-3"]
        assert await api.list_sessions(prefix="a") == ["a-1", "ab"]
        assert await api.list_sessions("zzz") == []

    @_async_case
    async def test_256_character_ids_and_every_allowed_character_work(self, api: Twin) -> None:
        long_id = "L" * 256
        odd_id = "Az09-_.:@x"
        for sid in (long_id, odd_id):
            await api.save(Session(id=sid, state={"who": sid}))
            await api.append_event(sid, ev("hi", "e1"))
            await api.put_record(sid, "k", "key", b"v")
        for sid in (long_id, odd_id):
            loaded = await api.get(sid)
            assert loaded is not None
            assert loaded.state == {"who": sid}
            assert messages(loaded.events) == ["hi"]
            assert await api.get_record(sid, "k", "key") == b"v"
        assert await api.list_sessions() == sorted([long_id, odd_id])

    @_async_case
    async def test_ids_differing_only_in_case_are_different_sessions(self, api: Twin) -> None:
        await api.append_event("Ab", ev("upper", "e1"))
        await api.append_event("aB", ev("lower", "e1"))
        assert messages(await api.get_events("Ab")) == ["upper"]
        assert messages(await api.get_events("aB")) == ["lower"]
        assert await api.list_sessions() == ["Ab", "aB"]

    # ============================================================== events
    @_async_case
    async def test_append_event_to_unknown_id_creates_the_session(self, api: Twin) -> None:
        await api.append_event("new", ev("first", "e1"))
        session = await api.get("new")
        assert session is not None
        assert messages(session.events) == ["first"]
        assert await api.list_sessions() == ["new"]

    @_async_case
    async def test_event_id_is_an_idempotency_key(self, api: Twin) -> None:
        await api.append_event("s", ev("original", "same"))
        await api.append_event("s", ev("original", "same"))
        await api.append_event("s", ev("a different body", "same"))
        assert messages(await api.get_events("s")) == ["original"]
        assert await api.count_events("s") == 1

    @_async_case
    async def test_append_events_adds_a_batch_in_order_and_skips_known_ids(self, api: Twin) -> None:
        await api.append_event("s", ev("a", "e1"))
        added = await api.append_events("s", [ev("b", "e2"), ev("a again", "e1"), ev("c", "e3"), ev("b again", "e2")])
        assert added == 2
        assert await api.append_events("s", []) == 0
        events = await api.get_events("s")
        assert messages(events) == ["a", "b", "c"]
        assert [e.id for e in events] == ["e1", "e2", "e3"]

    @_async_case
    async def test_events_carry_their_position_as_seq(self, api: Twin) -> None:
        await api.append_events("s", [ev(i) for i in range(5)])
        await api.append_event("s", ev(5))
        events = await api.get_events("s")
        assert [e.seq for e in events] == list(range(6))
        assert [e.seq for e in await api.get_events("s", start=2, end=4)] == [2, 3]
        assert [e.seq for e in await api.get_events("s", last_n=2)] == [4, 5]
        assert [e.seq for e in (await api.get("s")).events] == list(range(6))

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({}, list(range(10))),
            ({"start": 3}, list(range(3, 10))),
            ({"start": 2, "end": 5}, [2, 3, 4]),
            ({"start": -3}, [7, 8, 9]),
            ({"start": -3, "end": 9}, [7, 8]),
            ({"end": -2}, list(range(8))),
            ({"start": 1, "end": -7}, [1, 2]),
            ({"start": 12}, []),
            ({"start": -50, "end": 2}, [0, 1]),
            ({"start": 4, "end": 4}, []),
            ({"last_n": 3}, [7, 8, 9]),
            ({"last_n": 0}, []),
            ({"last_n": 50}, list(range(10))),
        ],
        ids=lambda v: repr(v) if isinstance(v, dict) else "",
    )
    @_async_case
    async def test_get_events_slices_like_a_list(self, api: Twin, kwargs: dict[str, int], expected: list[int]) -> None:
        await api.append_events("s", [ev(i, f"e{i}") for i in range(10)])
        events = await api.get_events("s", **kwargs)
        assert messages(events) == expected
        assert [e.seq for e in events] == expected

    @pytest.mark.parametrize(
        "kwargs",
        [{}, {"start": 3}, {"start": -3, "end": 9}, {"end": -2}, {"last_n": 3}, {"last_n": 0}, {"start": 12}],
        ids=repr,
    )
    @_async_case
    async def test_event_lines_are_the_stored_events_undecoded_with_the_same_slicing(
        self, api: Twin, store: SessionStore, kwargs: dict[str, int]
    ) -> None:
        await api.append_events("s", [ev(i, f"e{i}") for i in range(10)])
        rows = await api.get_event_lines("s", **kwargs)
        events = await api.get_events("s", **kwargs)
        assert [seq for seq, _ in rows] == [e.seq for e in events]
        assert all(isinstance(text, str) for _, text in rows)
        assert [json.loads(text)["id"] for _, text in rows] == [e.id for e in events]
        assert store.decode_event_lines("s", rows) == events
        assert await api.get_event_lines("unknown") == []

    @_async_case
    async def test_count_events_counts_and_is_zero_for_unknown_sessions(self, api: Twin) -> None:
        assert await api.count_events("s") == 0
        await api.append_events("s", [ev(i) for i in range(7)])
        assert await api.count_events("s") == 7
        await api.save(Session(id="empty"))
        assert await api.count_events("empty") == 0

    # ======================================================== save semantics
    @_async_case
    async def test_save_never_drops_events_another_writer_appended(self, api: Twin, other: SessionStore) -> None:
        session = Session(id="s")
        session.add_event(ev("first", "e1"))
        await api.save(session)
        loaded = await api.get("s")
        assert loaded is not None
        other.append_event("s", ev("from the other writer", "e2"))
        loaded.add_event(ev("mine", "e3"))
        loaded.set_state("k", "v")
        await api.save(loaded)
        events = await api.get_events("s")
        assert sorted(messages(events)) == ["first", "from the other writer", "mine"]
        assert [e.seq for e in events] == [0, 1, 2]
        assert (await api.get("s")).state == {"k": "v"}

    @_async_case
    async def test_saving_a_stale_parent_never_drops_a_child_link(self, api: Twin, other: SessionStore) -> None:
        await api.save(Session(id="p"))
        stale = await api.get("p")
        assert stale is not None
        other.save(Session(id="c1", parent_id="p"))
        await api.save(Session(id="c2", parent_id="p"))
        stale.set_state("renamed", True)
        await api.save(stale)
        fresh = await api.get("p")
        assert fresh is not None
        assert fresh.state == {"renamed": True}
        assert sorted(fresh.child_ids) == ["c1", "c2"]

    @_async_case
    async def test_hierarchy_descendants_depth_first_and_ancestors_nearest_first(self, api: Twin) -> None:
        root = Session(id="r")
        await api.save(root)
        a = Session(id="r-a", parent_id=root.id)
        await api.save(a)
        a1 = Session(id="r-a-1", parent_id=a.id)
        await api.save(a1)
        b = Session(id="r-b", parent_id=root.id)
        await api.save(b)
        a2 = Session(id="r-a-2", parent_id=a.id)
        await api.save(a2)

        assert [s.id for s in await api.descendants(root)] == ["r-a", "r-a-1", "r-a-2", "r-b"]
        assert [s.id for s in await api.descendants(a)] == ["r-a-1", "r-a-2"]
        assert [s.id for s in await api.ancestors(a2)] == ["r-a", "r"]
        loaded = await api.get("r-a-1")
        assert loaded is not None
        assert [s.id for s in await api.ancestors(loaded)] == ["r-a", "r"]
        assert await api.ancestors(root) == []
        assert await api.descendants(b) == []

    @_needs(PROCESSES)
    @_async_case
    async def test_hierarchy_is_right_when_processes_saved_parent_and_children(
        self, api: Twin, store_spec: StoreSpec
    ) -> None:
        root = Session(id="p")
        await api.save(root)
        assert await api.descendants(root) == []
        run_worker("save-child", store_spec, "p-1", "p")
        await api.save(Session(id="p-2", parent_id="p"))
        run_worker("save-child", store_spec, "p-1-x", "p-1")

        assert [s.id for s in await api.descendants(root)] == ["p-1", "p-1-x", "p-2"]
        grandchild = await api.get("p-1-x")
        assert grandchild is not None
        assert [s.id for s in await api.ancestors(grandchild)] == ["p-1", "p"]
        seen_elsewhere = run_worker("read", store_spec, "p")
        assert '"child_ids": ["p-1", "p-2"]' in seen_elsewhere

    # ================================================================= runs
    @_async_case
    async def test_upsert_run_writes_one_run_by_id_without_rewriting_the_session(self, api: Twin) -> None:
        session = Session(id="s", state={"kept": 1})
        session.add_event(ev("x", "e1"))
        await api.save(session)
        run = SessionRun()
        await api.upsert_run("s", run)
        run.mark_running()
        await api.upsert_run("s", run)
        run.mark_completed()
        await api.upsert_run("s", run)
        other_run = SessionRun()
        other_run.mark_failed("boom")
        await api.upsert_run("s", other_run)

        runs = await api.get_runs("s")
        assert [r.id for r in runs] == [run.id, other_run.id]
        assert runs[0].status is RunStatus.COMPLETED
        assert runs[0].ended_at == run.ended_at
        assert runs[1].status is RunStatus.FAILED
        assert runs[1].metadata == {"error": "boom"}
        loaded = await api.get("s")
        assert loaded is not None
        assert {r.id: r.status for r in loaded.runs} == {run.id: RunStatus.COMPLETED, other_run.id: RunStatus.FAILED}
        assert loaded.state == {"kept": 1}
        assert messages(loaded.events) == ["x"]

    @_async_case
    async def test_clear_events_keeps_header_runs_and_records(self, api: Twin) -> None:
        session = Session(id="s", state={"k": "v"})
        session.metadata.set_property("p", 1)
        session.add_event(ev("a", "e1"))
        session.add_event(ev("b", "e2"))
        run = SessionRun()
        session.runs.append(run)
        await api.save(session)
        await api.put_record("s", "notes", "n1", b"kept")

        await api.clear_events("s")
        assert await api.get_events("s") == []
        assert await api.count_events("s") == 0
        assert await api.exists("s") is True
        loaded = await api.get("s")
        assert loaded is not None
        assert loaded.state == {"k": "v"}
        assert loaded.metadata.properties == {"p": 1}
        assert [r.id for r in loaded.runs] == [run.id]
        assert await api.get_record("s", "notes", "n1") == b"kept"

        await api.append_event("s", ev("a again", "e1"))
        events = await api.get_events("s")
        assert messages(events) == ["a again"]
        assert [e.seq for e in events] == [0]

    @_async_case
    async def test_replace_events_replaces_all_and_keeps_duplicate_ids_once(self, api: Twin) -> None:
        await api.append_events("s", [ev(i, f"old{i}") for i in range(5)])
        await api.replace_events("s", [ev("x", "x"), ev("y", "y"), ev("x twice", "x"), ev("z", "z")])
        events = await api.get_events("s")
        assert messages(events) == ["x", "y", "z"]
        assert [e.seq for e in events] == [0, 1, 2]
        assert await api.count_events("s") == 3
        await api.append_event("s", ev("old0 is gone, so this is new", "old0"))
        await api.append_event("s", ev("y is kept, so this is not", "y"))
        assert await api.count_events("s") == 4
        await api.replace_events("s", [])
        assert await api.get_events("s") == []
        assert await api.exists("s") is True

    @_async_case
    async def test_readers_never_see_a_half_done_replace(self, api: Twin, store: SessionStore) -> None:
        first = [ev(f"A{i}", f"a{i}") for i in range(3)]
        second = [ev(f"B{i}", f"b{i}") for i in range(5)]
        await api.replace_events("s", first)
        done = threading.Event()

        def flip() -> None:
            try:
                for n in range(60):
                    store.replace_events("s", second if n % 2 == 0 else first)
            finally:
                done.set()

        writer = threading.Thread(target=flip)
        writer.start()
        try:
            while not done.is_set():
                got = messages(await api.get_events("s"))
                assert got in (messages(first), messages(second)), f"half-replaced events: {got}"
        finally:
            writer.join()
        assert messages(await api.get_events("s")) == messages(first)

    # ============================================================== records
    @_async_case
    async def test_records_are_listed_in_key_order_with_prefix_before_limit_reverse(self, api: Twin) -> None:
        keys = ["a/2", "b/1", "a/1", "a/10", "c"]
        await api.put_records("s", "ckpt", [(k, k.encode()) for k in keys])
        await api.put_record("s", "other", "a/1", b"other kind")

        def ks(rows: list[tuple[str, bytes]]) -> list[str]:
            return [k for k, _ in rows]

        rows = await api.list_records("s", "ckpt")
        assert ks(rows) == ["a/1", "a/10", "a/2", "b/1", "c"]
        assert all(v == k.encode() for k, v in rows)
        assert ks(await api.list_records("s", "ckpt", prefix="a/")) == ["a/1", "a/10", "a/2"]
        assert ks(await api.list_records("s", "ckpt", before="a/2")) == ["a/1", "a/10"]
        assert ks(await api.list_records("s", "ckpt", limit=2)) == ["a/1", "a/10"]
        assert ks(await api.list_records("s", "ckpt", reverse=True)) == ["c", "b/1", "a/2", "a/10", "a/1"]
        assert ks(await api.list_records("s", "ckpt", before="b/1", reverse=True, limit=1)) == ["a/2"]
        assert ks(await api.list_records("s", "ckpt", prefix="a/", before="a/2", reverse=True)) == ["a/10", "a/1"]
        assert await api.list_records("s", "ckpt", limit=0) == []
        assert await api.get_record("s", "ckpt", "a/10") == b"a/10"
        assert await api.get_record("s", "ckpt", "nope") is None
        assert await api.get_record("s", "other", "a/1") == b"other kind"

        await api.put_record("s", "ckpt", "a/1", b"replaced")
        assert await api.get_record("s", "ckpt", "a/1") == b"replaced"
        assert len(await api.list_records("s", "ckpt")) == 5

    @_async_case
    async def test_record_values_round_trip_any_bytes(self, api: Twin) -> None:
        values = {"all": bytes(range(256)), "bad-utf8": b"\xff\xfe\x80\xc3(", "empty": b"", "nul": b"\x00\n\r\x00"}
        for key, value in values.items():
            await api.put_record("s", "blob", key, value)
        for key, value in values.items():
            got = await api.get_record("s", "blob", key)
            assert got == value
            assert isinstance(got, bytes)
        assert dict(await api.list_records("s", "blob")) == values

    @_async_case
    async def test_delete_records_by_keys_and_all_of_a_kind(self, api: Twin) -> None:
        await api.put_records("s", "k", [("a", b"1"), ("b", b"2"), ("c", b"3")])
        await api.put_record("s", "keep", "a", b"kept")
        await api.delete_records("s", "k", ["a", "c", "missing"])
        assert await api.list_records("s", "k") == [("b", b"2")]
        await api.delete_records("s", "k")
        assert await api.list_records("s", "k") == []
        assert await api.get_record("s", "keep", "a") == b"kept"

    @pytest.mark.parametrize("kind", ["_run", "_child", "_anything"])
    @_async_case
    async def test_reserved_record_kinds_are_refused(self, api: Twin, kind: str) -> None:
        await api.save(Session(id="p"))
        await api.save(Session(id="c", parent_id="p"))
        with pytest.raises(ValueError, match="reserved"):
            await api.put_record("p", kind, "c", b"x")
        with pytest.raises(ValueError, match="reserved"):
            await api.get_record("p", kind, "c")
        with pytest.raises(ValueError, match="reserved"):
            await api.list_records("p", kind)
        with pytest.raises(ValueError, match="reserved"):
            await api.delete_records("p", kind)
        assert await api.get_child_ids("p") == ["c"]

    @_async_case
    async def test_record_keys_are_data_not_paths(self, api: Twin, tmp_path: Path) -> None:
        keys = ["../../escape", "a/../../b", "..", "./x", "//", "@:-_."]
        await api.put_records("s", "k", [(k, k.encode()) for k in keys])
        assert dict(await api.list_records("s", "k")) == {k: k.encode() for k in keys}
        assert self._outside_the_store(tmp_path) == []

    # ========================================================= persistence
    @_needs(SHARED_DATA)
    @_async_case
    async def test_data_survives_a_new_store_object(
        self, api: Twin, store: SessionStore, open_store: Callable[..., SessionStore]
    ) -> None:
        session = Session(id="s", state={"x": 1})
        session.add_event(ev("a", "e1"))
        session.runs.append(SessionRun())
        await api.save(session)
        await api.append_event("s", ev("b", "e2"))
        await api.put_record("s", "k", "key", b"\xffv")
        store.close()

        again = Twin(open_store(), use_async=api.use_async)
        loaded = await again.get("s")
        assert loaded is not None
        assert loaded.state == {"x": 1}
        assert messages(loaded.events) == ["a", "b"]
        assert [r.id for r in loaded.runs] == [session.runs[0].id]
        assert await again.get_record("s", "k", "key") == b"\xffv"
        assert await again.list_sessions() == ["s"]

    @_needs(PROCESSES)
    @_async_case
    async def test_data_survives_across_processes_both_ways(self, api: Twin, store_spec: StoreSpec) -> None:
        run_worker("write", store_spec, "from-child")
        loaded = await api.get("from-child")
        assert loaded is not None
        assert messages(loaded.events) == ["one", "two", "three"]
        assert loaded.state == {"from": "child process"}
        assert loaded.metadata.properties == {"writer": "proc"}
        assert [r.status for r in loaded.runs] == [RunStatus.RUNNING]

        mine = Session(id="from-parent", state={"from": "parent"})
        mine.add_event(ev("hello", "e1"))
        await api.save(mine)
        out = run_worker("read", store_spec, "from-parent")
        assert '"messages": ["hello"]' in out
        assert '"state": {"from": "parent"}' in out

    @_needs(PROCESSES)
    @_async_case
    async def test_a_store_sees_what_another_process_wrote_since_it_last_read(
        self, api: Twin, store_spec: StoreSpec
    ) -> None:
        await api.append_event("s", ev("mine", "e1"))
        assert messages((await api.get("s")).events) == ["mine"]
        assert await api.count_events("s") == 1
        run_worker("append-one", store_spec, "s", "theirs")
        assert messages((await api.get("s")).events) == ["mine", "theirs"]
        assert messages(await api.get_events("s", last_n=1)) == ["theirs"]
        assert await api.count_events("s") == 2
        run_worker("delete", store_spec, "s")
        assert await api.get("s") is None
        assert await api.exists("s") is False
        assert await api.get_events("s") == []

    def test_threads_appending_to_one_session_lose_nothing(self, store: SessionStore) -> None:
        writers = [f"t{n}" for n in range(WRITERS)]
        barrier = threading.Barrier(WRITERS)

        def write(w: str) -> None:
            barrier.wait(timeout=30)
            for i in range(PER_WRITER):
                store.append_event("s", ev(f"{w}:{i}", f"{w}-{i}", metadata={"writer": w, "i": i}))

        with ThreadPoolExecutor(WRITERS) as pool:
            for f in [pool.submit(write, w) for w in writers]:
                f.result()
        check_writers(store.get_events("s"), writers, PER_WRITER)
        assert store.count_events("s") == WRITERS * PER_WRITER

    @_async_case
    async def test_tasks_appending_to_one_session_lose_nothing(self, store: SessionStore) -> None:
        writers = [f"a{n}" for n in range(WRITERS)]
        start = asyncio.Event()

        async def write(w: str) -> None:
            await start.wait()
            for i in range(PER_WRITER):
                await store.aappend_event("s", ev(f"{w}:{i}", f"{w}-{i}", metadata={"writer": w, "i": i}))

        tasks = [asyncio.create_task(write(w)) for w in writers]
        start.set()
        await asyncio.gather(*tasks)
        check_writers(await store.aget_events("s"), writers, PER_WRITER)

    @_needs(PROCESSES)
    def test_processes_appending_to_one_session_lose_nothing(
        self, store: SessionStore, store_spec: StoreSpec, tmp_path: Path
    ) -> None:
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        writers = [f"p{n}" for n in range(4)]
        procs = [
            subprocess.Popen(
                [*worker_command(), "append", _spec_arg(store_spec), "s", w, str(PER_WRITER), str(barrier)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in writers
        ]
        try:
            _wait_until(
                lambda: all((barrier / f"ready-{w}").exists() for w in writers) or any(p.poll() for p in procs),
                "the writer processes to start",
            )
            (barrier / "go").touch()
            for p in procs:
                _, err = p.communicate(timeout=60)
                assert p.returncode == 0, f"writer process failed:\n{err}"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        check_writers(store.get_events("s"), writers, PER_WRITER)

    @_needs(PROCESSES)
    def test_killing_a_writer_keeps_every_acknowledged_event_and_the_store_writable(
        self, store: SessionStore, store_spec: StoreSpec, open_store: Callable[..., SessionStore]
    ) -> None:
        proc = subprocess.Popen(
            [*worker_command(), "stream", _spec_arg(store_spec), "s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        acknowledged: list[str] = []
        try:
            assert proc.stdout is not None
            while len(acknowledged) < 40:
                line = proc.stdout.readline()
                if not line:
                    proc.wait()
                    pytest.fail(f"writer exited early:\n{proc.stderr.read() if proc.stderr else ''}")
                acknowledged.append(line.strip())
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()

        after = open_store()
        events = after.get_events("s")
        ids = [e.id for e in events]
        assert ids[: len(acknowledged)] == acknowledged
        assert ids == [f"k-{i}" for i in range(len(ids))]
        assert [e.seq for e in events] == list(range(len(ids)))
        after.append_event("s", ev("after the crash", "next"))
        assert after.count_events("s") == len(ids) + 1
        assert store.get_events("s", last_n=1)[0].id == "next"
        session = after.get("s")
        assert session is not None
        assert len(session.events) == len(ids) + 1

    def test_the_bad_id_cases_cover_every_public_method_taking_a_session_id(self) -> None:
        taking_an_id = {
            name
            for name, fn in inspect.getmembers(SessionStore, inspect.isfunction)
            if not name.startswith("_")
            and hasattr(SessionStore, "a" + name)
            and "session_id" in inspect.signature(fn).parameters
        }
        assert taking_an_id <= set(_calls_with("x")), taking_an_id - set(_calls_with("x"))

    @pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
    @_async_case
    async def test_bad_session_ids_are_refused_by_every_method_and_write_nothing(
        self, api: Twin, bad: Any, tmp_path: Path
    ) -> None:
        await api.save(Session(id="keep"))
        await api.get("keep")
        before_sessions = await api.list_sessions()
        before_files = tree(tmp_path)

        for name, args in _calls_with(bad).items():
            with pytest.raises(InvalidSessionIdError):
                await getattr(api, name)(*args)
                pytest.fail(f"{name}({bad!r}) was accepted")
        if bad != "":
            with pytest.raises(InvalidSessionIdError):
                await api.list_sessions(bad)
        if isinstance(bad, str):
            for session in (Session(id=bad), Session(id="ok", parent_id=bad), Session(id="ok2", child_ids=[bad])):
                with pytest.raises(InvalidSessionIdError):
                    await api.save(session)

        assert await api.list_sessions() == before_sessions
        assert tree(tmp_path) == before_files

    @_async_case
    async def test_ids_users_already_have_round_trip_exactly_and_stay_inside_the_store(
        self, api: Twin, tmp_path: Path
    ) -> None:
        siblings_before = sorted(p.name for p in tmp_path.parent.iterdir())
        runs: dict[str, SessionRun] = {}
        for sid in NEW_IDS:
            session = Session(id=sid, state={"who": sid})
            session.add_event(ev(f"saved {sid}", "e0"))
            await api.save(session)
            await api.append_event(sid, ev(f"appended {sid}", "e1"))
            assert await api.append_events(sid, [ev(f"batch {sid}", "e2"), ev("known id", "e1")]) == 1
            await api.put_record(sid, "k", "key", sid.encode())
            runs[sid] = SessionRun()
            await api.upsert_run(sid, runs[sid])

        assert await api.list_sessions() == sorted(NEW_IDS)
        for sid in NEW_IDS:
            loaded = await api.get(sid)
            assert loaded is not None, sid
            assert loaded.id == sid
            assert loaded.state == {"who": sid}
            assert messages(loaded.events) == [f"saved {sid}", f"appended {sid}", f"batch {sid}"]
            assert messages(await api.get_events(sid, last_n=1)) == [f"batch {sid}"]
            assert [seq for seq, _ in await api.get_event_lines(sid)] == [0, 1, 2]
            assert await api.count_events(sid) == 3
            assert await api.exists(sid) is True
            assert await api.get_record(sid, "k", "key") == sid.encode()
            assert await api.list_records(sid, "k") == [("key", sid.encode())]
            assert [r.id for r in await api.get_runs(sid)] == [runs[sid].id]
        assert self._outside_the_store(tmp_path) == []
        assert sorted(p.name for p in tmp_path.parent.iterdir()) == siblings_before

        for n, sid in enumerate(NEW_IDS):
            assert await api.delete(sid) is True, sid
            assert await api.get(sid) is None
            assert await api.get_events(sid) == []
            assert await api.get_record(sid, "k", "key") is None
            assert await api.list_sessions() == sorted(NEW_IDS[n + 1 :])
        assert self._outside_the_store(tmp_path) == []

    @pytest.mark.parametrize("create", ["append_event", "append_events", "upsert_run", "put_record"])
    @_async_case
    async def test_a_session_an_append_creates_keeps_its_exact_id(self, api: Twin, create: str) -> None:
        # The implicit header is built by hand on the append path: quotes and backslashes
        # must still make valid JSON.
        for sid in NEW_IDS:
            if create == "append_event":
                await api.append_event(sid, ev("x", "e1"))
            elif create == "append_events":
                await api.append_events(sid, [ev("x", "e1")])
            elif create == "upsert_run":
                await api.upsert_run(sid, SessionRun())
            else:
                await api.put_record(sid, "k", "key", b"v")
        assert await api.list_sessions() == sorted(NEW_IDS)
        for sid in NEW_IDS:
            loaded = await api.get(sid)
            assert loaded is not None, sid
            assert loaded.id == sid
            assert loaded.state == {}

    @_async_case
    async def test_new_ids_link_parents_and_children(self, api: Twin) -> None:
        await api.save(Session(id="tenant/42"))
        await api.save(Session(id="../x", parent_id="tenant/42"))
        await api.save(Session(id="日本語", parent_id="../x"))
        root = await api.get("tenant/42")
        assert root is not None
        assert root.child_ids == ["../x"]
        assert [s.id for s in await api.descendants(root)] == ["../x", "日本語"]
        leaf = await api.get("日本語")
        assert leaf is not None
        assert [s.id for s in await api.ancestors(leaf)] == ["../x", "tenant/42"]

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("*", ["*", "*x"]),
            ("[", ["[ab]?", "[ab]?z"]),
            ("[ab]?", ["[ab]?", "[ab]?z"]),
            ("a?", ["a?"]),
            ("a", ["a", "a b", "a%20b", "a?", "ab"]),
            ("a ", ["a b"]),
            ("%", ["%41"]),
            ("A", ["A"]),
            ("tenant/", ["tenant/42", "tenant/420"]),
            ("tenant%", ["tenant%2F42"]),
            ("..", ["..", "../x"]),
            ("日", ["日本語"]),
            ("{", ["{x}"]),
            ("\\", ["\\x"]),
        ],
        ids=lambda v: repr(v) if isinstance(v, str) else "",
    )
    @_async_case
    async def test_list_sessions_prefix_is_literal_text_never_a_pattern(
        self, api: Twin, prefix: str, expected: list[str]
    ) -> None:
        ids = [
            "*",
            "*x",
            "[ab]?",
            "[ab]?z",
            "a",
            "b",
            "ab",
            "a?",
            "a b",
            "a%20b",
            "%41",
            "A",
            "tenant/42",
            "tenant/420",
        ]
        ids += ["tenant%2F42", "..", "../x", "日本語", "é", "{x}", "\\x", "x"]
        for sid in ids:
            await api.save(Session(id=sid))
        assert await api.list_sessions(prefix) == sorted(expected)
        assert await api.list_sessions() == sorted(ids)

    # ================================================================= TTL
    @_needs(EXPIRATION)
    @_async_case
    async def test_ttl_forgets_the_whole_session_and_every_write_refreshes_it(
        self, open_store: Callable[..., SessionStore], use_async: bool
    ) -> None:
        api = Twin(open_store(expiration_seconds=1), use_async=use_async)
        keep = Session(id="keep")
        keep.add_event(ev("k0", "k0"))
        keep.runs.append(SessionRun())
        await api.save(keep)
        await api.put_record("keep", "k", "r", b"kept")
        gone = Session(id="gone", state={"x": 1})
        gone.add_event(ev("g0", "g0"))
        gone.runs.append(SessionRun())
        await api.save(gone)
        await api.put_record("gone", "k", "r", b"v")

        refreshes = 0
        last_write = time.monotonic()
        deadline = last_write + 6
        while await api.exists("gone"):
            assert time.monotonic() < deadline, "a session with expiration_seconds=1 was still there after 6 s"
            if time.monotonic() - last_write >= 0.2:
                refreshes += 1
                await api.append_event("keep", ev(f"k{refreshes}", f"k{refreshes}"))
                last_write = time.monotonic()
            await asyncio.sleep(0.02)

        # 'keep' was written before 'gone': without the refreshes it would be gone too.
        assert refreshes >= 2
        assert await api.count_events("keep") == 1 + refreshes
        assert await api.get_record("keep", "k", "r") == b"kept"
        assert [r.id for r in await api.get_runs("keep")] == [keep.runs[0].id]

        assert await api.get("gone") is None
        assert await api.get_events("gone") == []
        assert await api.count_events("gone") == 0
        assert await api.get_runs("gone") == []
        assert await api.get_record("gone", "k", "r") is None
        assert await api.list_records("gone", "k") == []
        assert await api.list_sessions() == ["keep"]

        await api.append_event("gone", ev("reborn", "g1"))
        reborn = await api.get("gone")
        assert reborn is not None
        assert messages(reborn.events) == ["reborn"]
        assert reborn.state == {}
        assert reborn.runs == []
        assert await api.get_record("gone", "k", "r") is None

    @_async_case
    async def test_saving_a_loaded_session_into_another_store_writes_every_event(
        self, api: Twin, tmp_path: Path
    ) -> None:
        source = InMemorySessionStore()
        original = Session(id="copied")
        for text in ("a", "b", "c"):
            original.add_event(SessionEvent(message=text, source=EventSource.USER))
        source.save(original)
        loaded = source.get("copied")
        assert loaded is not None
        await api.save(loaded)
        copy = await api.get("copied")
        assert copy is not None
        assert [e.id for e in copy.events] == [e.id for e in original.events]
