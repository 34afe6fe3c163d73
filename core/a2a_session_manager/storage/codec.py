"""The one JSON form of sessions, events and runs in every store.

A stored session is three things: a header (id, parent, metadata, state), an ordered
list of event lines, and namespaced records (runs, child links, user records).

Encoding is where bad input is caught, once, for every store: anything the readers
below could not give back exactly (not a model, no JSON form, a lone surrogate, nesting
deeper than the encoder allows) raises ``InvalidDataError`` before a store writes a
byte. NaN and infinities are written as JSON ``NaN``/``Infinity`` (as Python's ``json``
does) and read back as such, never turned into null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from a2a_session_manager.exceptions import CorruptSessionError, InvalidDataError
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_metadata import SessionMetadata, utc_now
from a2a_session_manager.models.session_run import SessionRun

__all__ = [
    "CHILD_KIND",
    "MAX_NESTING",
    "RUN_KIND",
    "build_session",
    "default_header",
    "dump_event",
    "dump_events",
    "dump_header",
    "dump_run",
    "dump_runs",
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
MAX_NESTING = 254
"""Deepest nesting of a JSON value (in a message, metadata, state) that can be stored.

It is pydantic's JSON encoder's own limit, which events and runs meet while they are
encoded; headers are held to the same limit so every stored value reads back."""

_NOT_STORED = {"seq"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNKNOWN_TYPE = re.compile(r"unknown type: <class '([^']+)'>")


def dump_event(event: SessionEvent) -> str:
    """Encode an event as one compact JSON line (its ``seq`` is the store's to assign).

    Args:
        event: The event.

    Returns:
        JSON text without newlines.

    Raises:
        InvalidDataError: ``event`` is not a SessionEvent, or holds a value that cannot
            be stored exactly (the message names the field).
    """
    return _dump_event(event, None)


def dump_events(events: Iterable[SessionEvent], *, session_id: str) -> list[tuple[str, str]]:
    """Encode events as ``(event id, line)`` items, refusing the batch on the first bad one.

    Args:
        events: The events.
        session_id: The session they are written to, for the error.

    Returns:
        One item per event, in order.

    Raises:
        InvalidDataError: An item is not a SessionEvent or cannot be stored exactly.
    """
    items: list[tuple[str, str]] = []
    for event in events:
        # Encode first: the encoder checks the type before ``.id`` is read.
        line = _dump_event(event, session_id)
        items.append((event.id, line))
    return items


def _dump_event(event: SessionEvent, session_id: str | None) -> str:
    if not isinstance(event, SessionEvent):
        raise _refused(session_id, f"a {type(event).__name__} as an event: expected a SessionEvent")
    try:
        line = event.model_dump_json(exclude=_NOT_STORED)
    except PydanticSerializationError as exc:
        raise _refused(session_id, f"event {event.id!r}: {_why(event, exc)}") from exc
    # pydantic writes a dict key holding a lone surrogate as U+FFFD (it loses the key
    # silently); an exact-kind search for U+FFFD costs nothing on Latin-1 text.
    if "\ufffd" in line:
        _refuse_surrogate_keys(event, session_id, f"event {event.id!r}")
    return line


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
        event = _validate_json(SessionEvent, text)
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

    Raises:
        InvalidDataError: The metadata, state or task ids cannot be stored exactly
            (wrong type, no JSON form, a lone surrogate, nested too deeply).
    """
    sid = session.id
    if not isinstance(session.metadata, SessionMetadata):
        raise _refused(sid, f"the session: metadata must be a SessionMetadata, not {type(session.metadata).__name__}")
    if not isinstance(session.state, dict):
        raise _refused(sid, f"the session: state must be a dict, not {type(session.state).__name__}")
    if not isinstance(session.task_ids, list) or not all(isinstance(t, str) for t in session.task_ids):
        raise _refused(sid, "the session: task_ids must be a list of str")
    try:
        # warnings="error": a field assigned a wrong type after construction would
        # otherwise be written as is and refused by every later read.
        metadata = session.metadata.model_dump(mode="json", warnings="error")
    except PydanticSerializationError as exc:
        raise _refused(sid, f"the session: its metadata {_reason(exc)}") from exc
    parts: dict[str, Any] = {"metadata": metadata, "state": session.state, "task_ids": session.task_ids}
    try:
        text = json.dumps(
            {"v": HEADER_VERSION, "id": sid, "parent_id": session.parent_id, **parts},
            separators=(",", ":"),
            ensure_ascii=False,
        )
    except (TypeError, ValueError, RecursionError) as exc:
        _refuse_header_part(sid, parts)  # names the part that fails on its own
        raise _refused(sid, f"the session: its header has no JSON form ({type(exc).__name__})") from exc
    if not text.isascii() and _SURROGATE.search(text):
        field = next(name for name, value in parts.items() if _SURROGATE.search(json.dumps(value, ensure_ascii=False)))
        raise _refused(sid, f"the session: its {field} holds text with a lone surrogate (not valid Unicode)")
    # Only text with that many brackets can nest that deep: most headers skip the walk.
    if text.count("[") + text.count("{") > MAX_NESTING:
        for name, value in parts.items():
            if _nesting_exceeds(value, MAX_NESTING):
                raise _refused(sid, f"the session: its {name} {_TOO_DEEP}")
    return text


def _refuse_header_part(sid: str, parts: dict[str, Any]) -> None:
    for name, value in parts.items():
        try:
            json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except RecursionError as exc:
            raise _refused(sid, f"the session: its {name} {_TOO_DEEP}") from exc
        except (TypeError, ValueError) as exc:
            raise _refused(sid, f"the session: its {name} has no JSON form ({exc})") from exc


def default_header(session_id: str) -> str:
    """Header of a session created implicitly by an append.

    Args:
        session_id: Its id.

    Returns:
        JSON text.
    """
    # Built by hand: this runs on every append. A checked id holds no control character,
    # so only a quote or a backslash needs JSON escaping (both are printable).
    if '"' in session_id or "\\" in session_id:
        quoted = json.dumps(session_id, ensure_ascii=False)
    else:
        quoted = '"' + session_id + '"'
    now = utc_now().isoformat()
    return (
        f'{{"v":{HEADER_VERSION},"id":{quoted},"parent_id":null,"metadata":{{"created_at":"{now}",'
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
    except (ValueError, ValidationError, RecursionError) as exc:
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

    Raises:
        InvalidDataError: ``run`` is not a SessionRun or cannot be stored exactly.
    """
    return _dump_run(run, None)


def dump_runs(runs: Iterable[SessionRun], *, session_id: str) -> list[tuple[str, bytes]]:
    """Encode runs as ``(run id, value)`` records, refusing all on the first bad one.

    Args:
        runs: The runs.
        session_id: The session they belong to, for the error.

    Returns:
        One item per run, in order.

    Raises:
        InvalidDataError: An item is not a SessionRun or cannot be stored exactly.
    """
    items: list[tuple[str, bytes]] = []
    for run in runs:
        value = _dump_run(run, session_id)
        items.append((run.id, value))
    return items


def _dump_run(run: SessionRun, session_id: str | None) -> bytes:
    if not isinstance(run, SessionRun):
        raise _refused(session_id, f"a {type(run).__name__} as a run: expected a SessionRun")
    try:
        # Runs are written a few times per run, not per event: the strict check is cheap here.
        text = run.model_dump_json(warnings="error")
    except PydanticSerializationError as exc:
        raise _refused(session_id, f"run {run.id!r}: {_why(run, exc)}") from exc
    if "\ufffd" in text:
        _refuse_surrogate_keys(run, session_id, f"run {run.id!r}")
    return text.encode()


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
        return _validate_json(SessionRun, data)
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
        The session (its token summary computed from the events), bound to no store:
        the store that read it binds it (``Session._bind``).
    """
    runs.sort(key=lambda r: r.started_at)
    try:
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
    except ValidationError as exc:
        sid = str(header.get("id"))
        raise CorruptSessionError(
            f"session {sid!r}: its stored header is not a valid session ({_first_error(exc)}); repair or delete it",
            session_id=sid,
        ) from exc
    return session


_M = TypeVar("_M", bound=BaseModel)
_TOO_DEEP = f"is nested more than {MAX_NESTING} levels deep"


def _validate_json(model: type[_M], text: str | bytes) -> _M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        # pydantic's JSON parser stops at 200 levels, its encoder at MAX_NESTING: a value
        # between the two was stored whole, so read it with the stdlib parser.
        if "recursion limit exceeded" not in str(exc):
            raise
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ValueError(f"nested more than {MAX_NESTING} levels deep") from exc
    return model.model_validate(data)


def _refused(session_id: str | None, why: str) -> InvalidDataError:
    where = f"session {session_id!r}: " if session_id is not None else ""
    return InvalidDataError(f"{where}cannot store {why}; nothing was written", session_id=session_id)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "surrogates not allowed" in text or "UnicodeEncodeError" in text:
        return "holds text with a lone surrogate (not valid Unicode)"
    if "depth exceeded" in text or "recursion" in text.lower():
        return _TOO_DEEP
    match = _UNKNOWN_TYPE.search(text)
    if match:
        return f"holds a value of type {match.group(1)}, which has no JSON form"
    if "PydanticSerializationUnexpectedValue" in text:
        return "holds a value of the wrong type (assigned after the model was built)"
    return f"cannot be encoded ({_first_error(exc)})"


def _why(model: BaseModel, exc: Exception) -> str:
    """Name the field whose value failed to encode (runs only when encoding failed)."""
    for name in type(model).model_fields:
        if name in _NOT_STORED:
            continue
        try:
            model.model_dump_json(include={name}, warnings="error")
        except PydanticSerializationError as field_exc:
            return f"its {name} {_reason(field_exc)}"
    return f"it {_reason(exc)}"


def _refuse_surrogate_keys(model: BaseModel, session_id: str | None, what: str) -> None:
    for name in type(model).model_fields:
        if _has_surrogate_key(getattr(model, name)):
            raise _refused(session_id, f"{what}: its {name} holds a key with a lone surrogate (not valid Unicode)")


def _has_surrogate_key(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    return True
                stack.append(child)
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return False


def _nesting_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, (list, tuple)):
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


def _first_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
