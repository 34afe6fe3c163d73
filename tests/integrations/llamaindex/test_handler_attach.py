"""A ``SessionEventHandler`` added only as an event handler says, once, that it needs ``attach()``."""

from __future__ import annotations

import pytest
from a2a_session_manager import EventType, InMemorySessionStore
from llama_index_instrumentation import get_dispatcher

from a2a_session_integrations.llamaindex import SessionEventHandler
from tests.integrations.llamaindex.fakes import make_agent

LOGGER = "a2a_session_integrations.llamaindex.events"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


async def test_event_handler_only_warns_once_naming_attach(caplog: pytest.LogCaptureFixture) -> None:
    store = InMemorySessionStore()
    handler = SessionEventHandler(session_id="events-only", store=store)
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        with caplog.at_level("WARNING", logger=LOGGER):
            for _ in range(2):
                await make_agent().run("add 2 and 3")
                await handler.aflush()
    finally:
        handler.detach(dispatcher)
    found = _warnings(caplog)
    assert len(found) == 1, found
    assert "add_event_handler() only" in found[0] and "handler.attach()" in found[0] and "'events-only'" in found[0]
    # What it warns about: LLM calls were recorded, tool calls were not.
    events = store.get_events("events-only")
    assert [e.type for e in events] == [EventType.REFERENCE] * 4


async def test_an_attached_handler_records_tool_calls_and_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    store = InMemorySessionStore()
    handler = SessionEventHandler(session_id="attached", store=store)
    handler.attach()
    try:
        with caplog.at_level("WARNING", logger=LOGGER):
            await make_agent().run("add 2 and 3")
            await handler.aflush()
    finally:
        handler.detach()
    assert _warnings(caplog) == []
    assert EventType.TOOL_CALL in {e.type for e in store.get_events("attached")}
