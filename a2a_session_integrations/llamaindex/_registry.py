"""What ``SessionEventHandler`` recorded that the LlamaIndex memories and chat stores may adopt.

A handler and a memory (or chat store) on the same store *object* and session cooperate
through this process-wide registry, without knowing each other:

- the handler registers each agent run it opens (`register_run`) and each tool call it
  saw (`register_tool`), and forgets them when the run ends (`end_run`, which hands back
  the tool calls nobody stored, for the handler to write);
- a memory writing the agent's messages stamps the open run's id on them
  (`current_task_id`) and stores a tool result *as the handler's event*
  (`reuse_recorded`), so the call is stored once.

Entries are keyed by the store object through a ``weakref.WeakKeyDictionary``: an entry
lives no longer than its store, and a new store never sees another's entries (an
``id()`` key would be reused by a store allocated where a collected one was). A store
that cannot be weakly referenced is held strongly until its entries are gone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore
from llama_index.core.base.llms.types import ChatMessage

__all__ = ["current_task_id", "end_run", "register_run", "register_tool", "reuse_recorded"]

MAX_PENDING_CALLS = 4096
"""Unclaimed tool calls kept per store and session (the oldest is dropped beyond it)."""


@dataclass
class _Pending:
    """What handlers on one (store object, session) recorded that a memory may store."""

    run_ids: list[str] = field(default_factory=list)
    tools: dict[str, SessionEvent] = field(default_factory=dict)


_WEAK: weakref.WeakKeyDictionary[SessionStore, dict[str, _Pending]] = weakref.WeakKeyDictionary()
_STRONG: dict[SessionStore, dict[str, _Pending]] = {}  # stores without weak references
_LOCK = threading.Lock()


def _sessions(store: SessionStore) -> dict[str, _Pending] | None:
    """The store's entries by session id, if it has any (call with ``_LOCK`` held)."""
    try:
        return _WEAK.get(store)
    except TypeError:  # the store cannot be weakly referenced
        return _STRONG.get(store)


def _pending(store: SessionStore, session_id: str) -> _Pending | None:
    table = _sessions(store)
    return table.get(session_id) if table is not None else None


def _entry(store: SessionStore, session_id: str) -> _Pending:
    """The entry of a store and session, created when missing (call with ``_LOCK`` held)."""
    table = _sessions(store)
    if table is None:
        table = {}
        try:
            _WEAK[store] = table
        except TypeError:
            _STRONG[store] = table
    return table.setdefault(session_id, _Pending())


def _forget(store: SessionStore, session_id: str) -> None:
    """Drop an emptied entry, and the store's table when it is empty (call with ``_LOCK`` held)."""
    table = _sessions(store)
    if table is None:
        return
    table.pop(session_id, None)
    if not table:
        try:
            _WEAK.pop(store, None)
        except TypeError:
            _STRONG.pop(store, None)


def current_task_id(session_id: str, store: SessionStore) -> str | None:
    """Id of the run a ``SessionEventHandler`` has open on this store object and session.

    Args:
        session_id: The session.
        store: The store object.

    Returns:
        The newest open run's id, or None.
    """
    with _LOCK:
        pending = _pending(store, session_id)
        return pending.run_ids[-1] if pending and pending.run_ids else None


def reuse_recorded(store: SessionStore, session_id: str, message: ChatMessage, event: SessionEvent) -> SessionEvent:
    """The event to store for ``message``, merged with what a handler recorded for it.

    A tool result a ``SessionEventHandler`` recorded (same store object and session)
    takes the handler's ``duration_ms``, error and ``task_id``, keeps the memory's
    parent and exact message, and is removed from the handler's unwritten calls; any
    other event gets the open run's id as ``task_id``.

    Args:
        store: The store object.
        session_id: The session.
        message: The message being stored.
        event: Its event as converted.

    Returns:
        The event to store.
    """
    with _LOCK:
        pending = _pending(store, session_id)
        if pending is None:
            return event
        recorded = None
        if event.type == EventType.TOOL_CALL and isinstance(event.message, dict):
            recorded = pending.tools.pop(str(event.message.get("tool_call_id")), None)
        run_id = pending.run_ids[-1] if pending.run_ids else None
    if recorded is None:
        if event.task_id is None and run_id is not None:
            event.task_id = run_id
        return event
    body = dict(event.message)
    seen = recorded.message
    if not body.get("name"):
        body["name"] = seen.get("name", "")
    if not body.get("arguments"):
        body["arguments"] = seen.get("arguments", {})
    if "duration_ms" in seen:
        body["duration_ms"] = seen["duration_ms"]
    if seen.get("error") is not None:
        body.pop("result", None)
        body["error"] = seen["error"]
    metadata = dict(event.metadata)
    if "parent_event_id" not in metadata and "parent_event_id" in recorded.metadata:
        metadata["parent_event_id"] = recorded.metadata["parent_event_id"]
    return event.model_copy(update={"message": body, "metadata": metadata, "task_id": recorded.task_id})


def register_run(store: SessionStore, session_id: str, run_id: str) -> None:
    """Note a run a handler opened (its id becomes the ``task_id`` of what memories store).

    Args:
        store: The handler's store object.
        session_id: The handler's session.
        run_id: The ``SessionRun`` id.
    """
    with _LOCK:
        _entry(store, session_id).run_ids.append(run_id)


def register_tool(store: SessionStore, session_id: str, call_id: str, event: SessionEvent) -> None:
    """Note a tool call a handler saw, for a memory to store as this event.

    Args:
        store: The handler's store object.
        session_id: The handler's session.
        call_id: The tool call's id.
        event: The TOOL_CALL event the handler built.
    """
    with _LOCK:
        pending = _entry(store, session_id)
        if len(pending.tools) >= MAX_PENDING_CALLS:
            pending.tools.pop(next(iter(pending.tools)))
        pending.tools[call_id] = event


def end_run(store: SessionStore, session_id: str, run_id: str, call_ids: list[str]) -> list[SessionEvent]:
    """Forget a run; return its tool events no memory claimed (for the handler to write now).

    Args:
        store: The handler's store object.
        session_id: The handler's session.
        run_id: The run that ended.
        call_ids: The tool calls seen in the run.

    Returns:
        The unclaimed tool events, in ``call_ids`` order.
    """
    with _LOCK:
        pending = _pending(store, session_id)
        if pending is None:
            return []
        left = [e for e in (pending.tools.pop(c, None) for c in call_ids) if e is not None]
        if run_id in pending.run_ids:
            pending.run_ids.remove(run_id)
        if not pending.run_ids and not pending.tools:
            _forget(store, session_id)
    return left
