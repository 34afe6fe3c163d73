"""A session's link to its store: the read-only ``Session.store`` and the package-private ``_bind``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from a2a_session_manager import EventSource, Session, SessionEvent, SessionStoreProvider
from a2a_session_manager.models.session import SessionSource
from a2a_session_manager.storage import InMemorySessionStore, SessionStore


@pytest.fixture(autouse=True)
def _fresh_default() -> Iterator[None]:
    SessionStoreProvider.reset()
    yield
    SessionStoreProvider.reset()


def _event(text: str) -> SessionEvent:
    return SessionEvent(message=text, source=EventSource.USER)


def test_session_moved_to_another_store_by_add_event_and_save_is_saved_there_whole() -> None:
    first, second = InMemorySessionStore(), InMemorySessionStore()
    session = Session(id="s")
    for text in "ab":
        session.add_event(_event(text))
    first.save(session)
    loaded = first.get("s")
    assert loaded is not None
    loaded.add_event_and_save(_event("c"), store=second)
    second.save(loaded)
    # The second store held none of the first store's events: saving there writes them all
    # (after "c", which reached it first: a store keeps its events in the order written).
    stored = second.get("s")
    assert stored is not None
    assert sorted(e.message for e in stored.events) == ["a", "b", "c"]
    assert loaded.store is second


async def test_async_move_to_another_store_is_saved_there_whole() -> None:
    first, second = InMemorySessionStore(), InMemorySessionStore()
    session = Session(id="s")
    session.add_event(_event("a"))
    await first.asave(session)
    loaded = await first.aget("s")
    assert loaded is not None
    await loaded.aadd_event_and_save(_event("b"), store=second)
    await second.asave(loaded)
    stored = await second.aget("s")
    assert stored is not None
    assert sorted(e.message for e in stored.events) == ["a", "b"]


def test_saving_again_to_the_same_store_writes_only_new_events() -> None:
    store = InMemorySessionStore()
    session = Session(id="s")
    session.add_event(_event("a"))
    store.save(session)
    session.add_event_and_save(_event("b"))
    session.add_event(_event("c"))
    store.save(session)
    assert [e.message for e in store.get_events("s")] == ["a", "b", "c"]


def test_store_is_the_default_until_bound_and_follows_a_later_default() -> None:
    session = Session(id="s")
    default = SessionStoreProvider.get_store()
    assert session.store is default
    replacement = InMemorySessionStore()
    SessionStoreProvider.set_store(replacement)
    assert session.store is replacement  # looked up at each access, never frozen
    own = InMemorySessionStore()
    own.save(session)
    assert session.store is own
    loaded = own.get("s")
    assert loaded is not None and loaded.store is own


def test_store_is_read_only() -> None:
    session = Session(id="s")
    with pytest.raises((AttributeError, ValueError)):
        session.store = InMemorySessionStore()  # type: ignore[misc]


def test_every_store_is_a_session_source() -> None:
    source: SessionSource = InMemorySessionStore()  # mypy checks the protocol here
    assert isinstance(source, SessionStore)
    session = Session(id="child", parent_id="root")
    assert session.ancestors(source) == []
