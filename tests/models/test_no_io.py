"""Constructing models does no I/O: a child built in memory never touches the store.

0.1.3's validator fetched and re-saved the parent on every construction, including
deserialisation. Here a Python audit hook records every file, socket, SQLite and process
event while models are built, with a real store of each backend as the default.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from a2a_session_manager import Session, SessionEvent, SessionRun, SessionStoreProvider, TokenUsage
from a2a_session_manager.storage import SessionStore

_IO_EVENTS = ("open", "socket.", "sqlite3.", "os.", "subprocess.", "shutil.", "glob.", "urllib.", "http.")
_recording: dict[int, list[str]] = {}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    log = _recording.get(threading.get_ident())
    if log is not None and event.startswith(_IO_EVENTS):
        log.append(f"{event}{args!r}"[:200])


sys.addaudithook(_audit)  # inert unless a test records on its thread (hooks cannot be removed)


@contextmanager
def io_events() -> Iterator[list[str]]:
    log: list[str] = []
    _recording[threading.get_ident()] = log
    try:
        yield log
    finally:
        del _recording[threading.get_ident()]


@pytest.fixture
def default_store(store: SessionStore) -> Iterator[SessionStore]:
    SessionStoreProvider.set_store(store)
    try:
        yield store
    finally:
        SessionStoreProvider.reset()


def _build(parent: Session) -> list[Any]:
    return [
        Session(),
        Session(parent_id=parent.id),
        Session(id="with-links", parent_id=parent.id, child_ids=["someone"]),
        Session.model_validate(parent.model_dump()),
        Session.model_validate_json(parent.model_dump_json()),
        SessionEvent(message="hi"),
        SessionEvent(message={"role": "assistant", "content": "x"}, token_usage=TokenUsage(prompt_tokens=3)),
        SessionRun(),
    ]


def test_building_sessions_and_children_does_no_io_and_leaves_the_parent_alone(
    default_store: SessionStore,
) -> None:
    parent = Session(id="parent")
    parent.add_event(SessionEvent(message="hello"))
    default_store.save(parent)
    _build(parent)  # first use may import modules lazily; that is not construction I/O

    with io_events() as log:
        children = _build(parent)
    assert log == [], f"constructing models did I/O: {log}"

    assert default_store.get_child_ids("parent") == []
    stored = default_store.get("parent")
    assert stored is not None and stored.child_ids == []
    assert default_store.list_sessions() == ["parent"]

    child = children[1]
    default_store.save(child)
    assert default_store.get_child_ids("parent") == [child.id]
    assert [s.id for s in child.ancestors()] == ["parent"]
