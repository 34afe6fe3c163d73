"""The handler/memory registry is keyed by the store object, never by a reusable ``id()``."""

from __future__ import annotations

import platform

import pytest
from a2a_session_manager.messages import make_tool_call_event
from a2a_session_manager.storage import InMemorySessionStore
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from a2a_session_integrations.llamaindex import _registry
from a2a_session_integrations.llamaindex._convert import message_to_event


def _store_at_freed_address() -> tuple[InMemorySessionStore, str]:
    """A store created where a store with an open run and a pending tool call was freed."""
    for _ in range(1000):
        first = InMemorySessionStore()
        freed = id(first)
        _registry.register_run(first, "s1", "run-of-the-first-store")
        recorded = make_tool_call_event("lookup", {"q": 1}, "call-1", result="from the first store", task_id="run-1")
        _registry.register_tool(first, "s1", "call-1", recorded)
        del first  # freed by its reference count: CPython hands the same address to the next store
        second = InMemorySessionStore()
        if id(second) == freed:
            return second, "run-of-the-first-store"
    pytest.skip(f"{platform.python_implementation()} never reused a freed store's address in 1000 tries")


def test_a_store_reusing_a_collected_stores_id_does_not_inherit_its_runs_or_tool_calls() -> None:
    second, first_run = _store_at_freed_address()

    assert _registry.current_task_id("s1", second) is None
    message = ChatMessage(role=MessageRole.TOOL, content="mine", additional_kwargs={"tool_call_id": "call-1"})
    event = message_to_event(message)
    adopted = _registry.reuse_recorded(second, "s1", message, event)
    assert adopted is event
    assert adopted.task_id != first_run
    assert adopted.message["result"] == "mine"
    assert _registry.end_run(second, "s1", first_run, ["call-1"]) == []


def test_entries_of_a_live_store_are_shared_by_every_user_of_that_store_object() -> None:
    store = InMemorySessionStore()
    other = InMemorySessionStore()
    _registry.register_run(store, "s1", "run-1")
    recorded = make_tool_call_event("lookup", {}, "call-9", result="seen", duration_ms=5.0, task_id="run-1")
    _registry.register_tool(store, "s1", "call-9", recorded)

    assert _registry.current_task_id("s1", store) == "run-1"
    assert _registry.current_task_id("s1", other) is None
    assert _registry.current_task_id("s2", store) is None
    message = ChatMessage(role=MessageRole.TOOL, content="seen", additional_kwargs={"tool_call_id": "call-9"})
    adopted = _registry.reuse_recorded(store, "s1", message, message_to_event(message))
    assert adopted.task_id == "run-1"
    assert adopted.message["duration_ms"] == 5.0
    assert _registry.end_run(store, "s1", "run-1", ["call-9"]) == []  # claimed by the memory
    assert _registry.current_task_id("s1", store) is None
