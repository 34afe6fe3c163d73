"""How the LlamaIndex adapters write ``ChatMessage``\\ s as events, and find them again.

``SessionChatStore``, ``SessionDBChatStore`` and ``SessionMemory`` share these steps:
map the messages (``_convert``), link each tool result to the turn that asked for it
(the core's ``messages.tool_calls_of``, reading the session's last ``PARENT_LOOKBACK``
events only when the batch lacks the turn), then adopt what a ``SessionEventHandler``
recorded for the same messages (``_registry.reuse_recorded``).
"""

from __future__ import annotations

from collections.abc import Sequence

from a2a_session_manager.messages import PARENT_LOOKBACK, needs_parent_lookup, tool_calls_of
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore
from llama_index.core.base.llms.types import ChatMessage

from a2a_session_integrations.llamaindex import _convert
from a2a_session_integrations.llamaindex._registry import reuse_recorded

__all__ = [
    "PARENT_LOOKBACK",
    "aevents_to_append",
    "awrite_messages",
    "events_to_append",
    "message_positions",
    "prepare_events",
    "write_messages",
]


def prepare_events(
    store: SessionStore, session_id: str, messages: Sequence[ChatMessage], tail: list[SessionEvent] | None
) -> list[SessionEvent]:
    """Events for ``messages`` (tool results linked to their turn; handler records reused).

    Args:
        store: The store (identifies the handler records that may be reused).
        session_id: The session.
        messages: The messages, in order.
        tail: The session's last events when a tool result's turn is not in the batch.

    Returns:
        One event per message.
    """
    events = _convert.messages_to_events(messages, known_calls=tool_calls_of(tail) if tail else None)
    return _adopt(store, session_id, messages, events)


def _adopt(
    store: SessionStore, session_id: str, messages: Sequence[ChatMessage], events: list[SessionEvent]
) -> list[SessionEvent]:
    # After linking: a handler's record only fills what the memory's own event lacks.
    return [reuse_recorded(store, session_id, m, e) for m, e in zip(messages, events, strict=True)]


def events_to_append(store: SessionStore, session_id: str, messages: Sequence[ChatMessage]) -> list[SessionEvent]:
    """Events to append for ``messages``, linked to the session's earlier turns when needed.

    A tool result whose asking turn is not in the batch costs one read (the session's
    last ``PARENT_LOOKBACK`` events); any other batch none.

    Args:
        store: The store.
        session_id: The session.
        messages: The messages, in order.

    Returns:
        One event per message.
    """
    events = _convert.messages_to_events(messages)
    if needs_parent_lookup(events):
        tail = store.get_events(session_id, last_n=PARENT_LOOKBACK)
        events = _convert.messages_to_events(messages, known_calls=tool_calls_of(tail))
    return _adopt(store, session_id, messages, events)


async def aevents_to_append(
    store: SessionStore, session_id: str, messages: Sequence[ChatMessage]
) -> list[SessionEvent]:
    """Async twin of `events_to_append`."""
    events = _convert.messages_to_events(messages)
    if needs_parent_lookup(events):
        tail = await store.aget_events(session_id, last_n=PARENT_LOOKBACK)
        events = _convert.messages_to_events(messages, known_calls=tool_calls_of(tail))
    return _adopt(store, session_id, messages, events)


def write_messages(store: SessionStore, session_id: str, messages: Sequence[ChatMessage]) -> None:
    """Append messages as events in one store call (``append_events``).

    Args:
        store: The store.
        session_id: The session (created on first write).
        messages: The messages, in order.
    """
    if messages:
        store.append_events(session_id, events_to_append(store, session_id, messages))


async def awrite_messages(store: SessionStore, session_id: str, messages: Sequence[ChatMessage]) -> None:
    """Async twin of `write_messages` (native: the store's ``a*`` methods)."""
    if messages:
        await store.aappend_events(session_id, await aevents_to_append(store, session_id, messages))


def message_positions(events: Sequence[SessionEvent]) -> list[tuple[int, ChatMessage]]:
    """``(event position, message)`` for each event that is a chat message, in order.

    Args:
        events: A session's events.

    Returns:
        The pairs, in session order.
    """
    out: list[tuple[int, ChatMessage]] = []
    for i, event in enumerate(events):
        message = _convert.event_to_message(event)
        if message is not None:
            out.append((i, message))
    return out
