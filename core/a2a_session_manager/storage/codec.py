"""The one JSON form of sessions, events and runs in every store.

A stored session is three things: a header (id, parent, metadata, state), an ordered
list of event lines, and namespaced records (runs, child links, user records).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from a2a_session_manager.exceptions import CorruptSessionError
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_metadata import SessionMetadata, utc_now
from a2a_session_manager.models.session_run import SessionRun

__all__ = [
    "CHILD_KIND",
    "RUN_KIND",
    "build_session",
    "default_header",
    "dump_event",
    "dump_header",
    "dump_run",
    "load_event",
    "load_events",
    "load_header",
    "load_run",
]

RUN_KIND = "_run"
"""Record kind holding a session's runs (key = run id)."""
CHILD_KIND = "_child"
"""Record kind holding a parent's links to its children (key = child id)."""
HEADER_VERSION = 1


def dump_event(event: SessionEvent) -> str:
    """Encode an event as one compact JSON line (its ``seq`` is the store's to assign).

    Args:
        event: The event.

    Returns:
        JSON text without newlines.
    """
    return event.model_dump_json(exclude={"seq"})


_EVENT_LIST: TypeAdapter[list[SessionEvent]] = TypeAdapter(list[SessionEvent])


def load_events(rows: list[tuple[int, str]], *, session_id: str, where: Callable[[int], str]) -> list[SessionEvent]:
    """Decode many event lines at once (one validation pass), each with its ``seq``.

    Args:
        rows: ``(seq, line)`` pairs.
        session_id: The session, for the error.
        where: Describes where the event with a given seq was read, for the error.

    Returns:
        The events, in order.

    Raises:
        CorruptSessionError: A line is not a valid event (the first bad one is named).
    """
    if not rows:
        return []
    try:
        events = _EVENT_LIST.validate_json("[" + ",".join(line for _, line in rows) + "]")
    except (ValidationError, ValueError):
        # Find and name the first bad line.
        return [load_event(line, seq, session_id=session_id, where=where(seq)) for seq, line in rows]
    for event, (seq, _) in zip(events, rows, strict=True):
        event.seq = seq
    return events


def load_event(text: str | bytes, seq: int, *, session_id: str, where: str) -> SessionEvent:
    """Decode an event line.

    Args:
        text: The stored JSON.
        seq: Its position in the session.
        session_id: The session, for the error.
        where: Where it was read (file and line, key and index, row), for the error.

    Returns:
        The event with ``seq`` set.

    Raises:
        CorruptSessionError: The line is not a valid event.
    """
    try:
        event = SessionEvent.model_validate_json(text)
    except (ValidationError, ValueError) as exc:
        raise CorruptSessionError(
            f"session {session_id!r}: {where} is not a valid event ({_first_error(exc)}); repair or delete it",
            session_id=session_id,
        ) from exc
    event.seq = seq
    return event


def dump_header(session: Session) -> str:
    """Encode a session's header (everything but events, runs and children).

    Args:
        session: The session.

    Returns:
        JSON text.
    """
    return json.dumps(
        {
            "v": HEADER_VERSION,
            "id": session.id,
            "parent_id": session.parent_id,
            "metadata": session.metadata.model_dump(mode="json"),
            "state": session.state,
            "task_ids": session.task_ids,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def default_header(session_id: str) -> str:
    """Header of a session created implicitly by an append.

    Args:
        session_id: Its id.

    Returns:
        JSON text.
    """
    # Built by hand: this runs on every append, and a checked id needs no JSON escaping.
    now = utc_now().isoformat()
    return (
        f'{{"v":{HEADER_VERSION},"id":"{session_id}","parent_id":null,"metadata":{{"created_at":"{now}",'
        f'"updated_at":"{now}","properties":{{}}}},"state":{{}},"task_ids":[]}}'
    )


def load_header(text: str | bytes, *, session_id: str, where: str) -> dict[str, Any]:
    """Decode a header.

    Args:
        text: Stored JSON.
        session_id: The session, for the error.
        where: Where it was read, for the error.

    Returns:
        The header fields.

    Raises:
        CorruptSessionError: The header is unreadable.
    """
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or "id" not in data:
            raise ValueError("not a session header")
        SessionMetadata.model_validate(data.get("metadata") or {})
    except (ValueError, ValidationError) as exc:
        raise CorruptSessionError(
            f"session {session_id!r}: {where} is not a valid session header ({_first_error(exc)}); repair or delete it",
            session_id=session_id,
        ) from exc
    return data


def dump_run(run: SessionRun) -> bytes:
    """Encode a run as a record value.

    Args:
        run: The run.

    Returns:
        UTF-8 JSON.
    """
    return run.model_dump_json().encode()


def load_run(data: bytes, *, session_id: str, where: str) -> SessionRun:
    """Decode a run record.

    Args:
        data: Stored bytes.
        session_id: The session, for the error.
        where: Where it was read, for the error.

    Returns:
        The run.

    Raises:
        CorruptSessionError: The record is not a valid run.
    """
    try:
        return SessionRun.model_validate_json(data)
    except (ValidationError, ValueError) as exc:
        raise CorruptSessionError(
            f"session {session_id!r}: {where} is not a valid run ({_first_error(exc)})",
            session_id=session_id,
        ) from exc


def build_session(
    header: dict[str, Any],
    events: list[SessionEvent],
    runs: list[SessionRun],
    child_ids: list[str],
) -> Session:
    """Assemble a Session from its stored parts.

    Args:
        header: Decoded header.
        events: Decoded events, in order.
        runs: Decoded runs.
        child_ids: Ids of linked children.

    Returns:
        The session (its token summary computed from the events).
    """
    runs.sort(key=lambda r: r.started_at)
    session = Session(
        id=header["id"],
        parent_id=header.get("parent_id"),
        metadata=SessionMetadata.model_validate(header.get("metadata") or {}),
        state=header.get("state") or {},
        task_ids=header.get("task_ids") or [],
        runs=runs,
        events=events,
        child_ids=child_ids,
    )
    session._synced_ids.update(e.id for e in events)
    return session


def _first_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
