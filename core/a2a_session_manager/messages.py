"""Neutral events rendered as OpenAI-style chat messages, built from parts, and counted.

The neutral format itself (what a stored event's ``message`` means, including the
``unknown`` content part) is defined and documented in ``models.neutral``; its readers
(``event_role``, ``event_text``, ``event_tool_calls``, ``content_text``,
``part_placeholder``, ...) are re-exported here, where the adapters have always
imported them.

This module adds what sits on top of that format: ``event_to_openai`` /
``events_to_openai`` (an ``unknown`` part becomes a text part with its placeholder,
never the raw block), ``event_token_count`` (an event's prompt tokens, cached per
encoding), the ``make_message_event`` / ``make_tool_call_event`` builders,
``rebuild_from_lines``, and the tool-result linking every adapter shares
(``tool_calls_of``, ``needs_parent_lookup``, ``PARENT_LOOKBACK``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from pydantic_core import from_json

from a2a_session_manager import tokens
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.neutral import (
    ROLE_ALIASES,
    ROLE_BY_SOURCE,
    SOURCE_BY_ROLE,
    UNKNOWN_PART,
    ToolCall,
    Turn,
    cached_count,
    compact_json,
    content_text,
    event_role,
    event_text,
    event_tool_calls,
    part_placeholder,
    tool_event_id,
    unknown_part,
    view,
)
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenUsage

__all__ = [
    "PARENT_LOOKBACK",
    "ROLE_ALIASES",
    "ROLE_BY_SOURCE",
    "SOURCE_BY_ROLE",
    "UNKNOWN_PART",
    "AskedCall",
    "ToolCall",
    "Turn",
    "compact_json",
    "content_text",
    "event_role",
    "event_text",
    "event_to_openai",
    "event_token_count",
    "event_tool_calls",
    "events_to_openai",
    "make_message_event",
    "make_tool_call_event",
    "needs_parent_lookup",
    "part_placeholder",
    "rebuild_from_lines",
    "tool_calls_of",
    "tool_event_id",
    "unknown_part",
    "view",
]

T = TypeVar("T")


def _model_parts(content: list[Any]) -> list[Any]:
    """Content parts a model accepts: each ``unknown`` part becomes a text part with its placeholder."""
    out: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == UNKNOWN_PART:
            text = part_placeholder(part)
            if text:
                out.append({"type": "text", "text": text})
        else:
            out.append(part)
    return out


def event_to_openai(event: SessionEvent) -> dict[str, Any] | None:
    """Render one event as an OpenAI-style chat message, or None when it is not one.

    TOOL_CALL events without a ``tool_call_id`` (0.1.3's form) return None here:
    prompt building pairs them with their parent turn (see ``prompts``).

    Args:
        event: The event.

    Returns:
        ``{"role", "content", ...}``; an assistant turn that called tools carries
        ``tool_calls`` in OpenAI's shape (``content`` may then be None).
    """
    turn = view(event)
    role = turn.role
    if role is None:
        return None
    kind = turn.kind
    if kind == EventType.TOOL_CALL:
        if turn.tool_call_id is None:
            return None
        return {"role": "tool", "tool_call_id": turn.tool_call_id, "content": turn.text}
    if kind != EventType.MESSAGE:  # SUMMARY, CONTEXT_BRIDGE
        return {"role": "system", "content": turn.text}
    out: dict[str, Any] = {"role": role}
    if not turn.is_structured:
        out["content"] = turn.text
        return out
    content = turn.content
    if role == "tool":
        out["tool_call_id"] = turn.tool_call_id or ""
        out["content"] = content_text(content)
        return out
    if isinstance(content, list):
        # Unknown parts are data for readers, not input a model accepts (module docstring).
        has_unknown = any(isinstance(p, dict) and p.get("type") == UNKNOWN_PART for p in content)
        out["content"] = _model_parts(content) if has_unknown else content
    else:
        out["content"] = content
    if turn.name and role in ("user", "assistant", "system"):
        out["name"] = turn.name
    calls = turn.tool_calls if role == "assistant" else ()
    if calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": compact_json(c.arguments)}}
            for c in calls
        ]
        if out["content"] in ("", []):
            out["content"] = None
    elif out["content"] is None:
        out["content"] = ""
    return out


def event_token_count(event: SessionEvent, model: str | None = None) -> int:
    """Tokens an event adds to a prompt when rendered as one chat message.

    Contract (what prompt budgets rely on):

    * The event is rendered with ``event_to_openai`` and counted with
      ``tokens.count_message_tokens`` (per-message overhead included, reply primer not), so
      ``REPLY_PRIMER_TOKENS + sum(event_token_count(e, m) for e in events)`` equals
      ``count_messages_tokens(events_to_openai(events), m)``. An event that renders as
      no message (a REFERENCE, a tool call without ``tool_call_id``) counts 0.
    * The count is cached on the event per encoding (``tokens.encoding_key``: models
      sharing an encoding share the entry), so it is computed once; the cache is private
      and never stored. It is recomputed when ``message``, ``type`` or ``source`` is
      reassigned, but not when the message dict is mutated in place: treat a counted
      event as immutable (or assign a new message).
    * Counts are exact for OpenAI models and estimates otherwise (see
      ``tokens.choose_encoding``); this function returns the number only.

    Args:
        event: The event.
        model: Model name that selects the tokenizer.

    Returns:
        The number of tokens (0 when the event is not a chat message).
    """
    return cached_count(event, tokens.encoding_key(model), _render_tokens, model)


def _render_tokens(event: SessionEvent, model: str | None) -> int:
    rendered = event_to_openai(event)
    return 0 if rendered is None else tokens.count_message_tokens(rendered, model)


def events_to_openai(events: list[SessionEvent]) -> list[dict[str, Any]]:
    """Render events as OpenAI-style messages, skipping those that are not messages.

    Args:
        events: Events in order.

    Returns:
        The messages (no budget, no pairing repair: see ``prompts`` for that).
    """
    out = []
    for event in events:
        rendered = event_to_openai(event)
        if rendered is not None:
            out.append(rendered)
    return out


def make_message_event(
    role: str,
    content: Any,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    name: str | None = None,
    event_id: str | None = None,
    token_usage: TokenUsage | None = None,
    task_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> SessionEvent:
    """Build a MESSAGE event in the neutral dict form.

    Args:
        role: ``user``, ``assistant``, ``system`` (or ``tool`` for a tool result kept as a message).
        content: str or list of OpenAI content parts.
        tool_calls: ``[{"id", "name", "arguments": dict}]`` the assistant asked for.
        name: Optional speaker name.
        event_id: Idempotency key (a framework message's id when it has one).
        token_usage: Usage of the model call that produced it.
        task_id: Run id.
        metadata: Extra metadata (framework payloads under ``"langchain"`` / ``"llamaindex"``).

    Returns:
        The event (source derived from the role).
    """
    norm = ROLE_ALIASES.get(role, role)
    if norm not in SOURCE_BY_ROLE:
        raise ValueError(f"unknown message role {role!r}; use user, assistant, system or tool")
    message: dict[str, Any] = {"role": norm, "content": content}
    if name:
        message["name"] = name
    if tool_calls:
        message["tool_calls"] = [
            {"id": str(c.get("id") or ""), "name": str(c["name"]), "arguments": dict(c.get("arguments") or {})}
            for c in tool_calls
        ]
    kwargs: dict[str, Any] = {
        "message": message,
        "source": SOURCE_BY_ROLE[norm],
        "type": EventType.MESSAGE,
        "token_usage": token_usage,
        "task_id": task_id,
        "metadata": dict(metadata or {}),
    }
    if event_id:
        kwargs["id"] = event_id
    return SessionEvent(**kwargs)


def make_tool_call_event(
    name: str,
    arguments: dict[str, Any] | None,
    tool_call_id: str,
    *,
    result: Any = None,
    error: str | None = None,
    parent_event_id: str | None = None,
    duration_ms: float | None = None,
    task_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> SessionEvent:
    """Build a TOOL_CALL event (id ``tool:<tool_call_id>``).

    Args:
        name: Tool name.
        arguments: Arguments the tool was called with.
        tool_call_id: The call's id.
        result: What the tool returned (ignored when ``error`` is set).
        error: Error text when the tool failed.
        parent_event_id: The assistant turn that asked for the call.
        duration_ms: How long the call took.
        task_id: Run id.
        metadata: Extra metadata.

    Returns:
        The event.
    """
    message: dict[str, Any] = {"name": name, "arguments": dict(arguments or {}), "tool_call_id": tool_call_id}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    if duration_ms is not None:
        message["duration_ms"] = round(float(duration_ms), 3)
    meta = dict(metadata or {})
    if parent_event_id:
        meta["parent_event_id"] = parent_event_id
    return SessionEvent(
        id=tool_event_id(tool_call_id),
        message=message,
        source=EventSource.TOOL,
        type=EventType.TOOL_CALL,
        task_id=task_id,
        metadata=meta,
    )


def rebuild_from_lines(
    rows: Sequence[tuple[int, str]],
    *,
    metadata_key: str,
    from_stored: Callable[[Any], T | None],
    from_event: Callable[[SessionEvent], T | None],
    decode: Callable[[list[tuple[int, str]]], list[SessionEvent]],
) -> list[T]:
    """Rebuild framework messages from stored event lines, skipping event validation where it can.

    An adapter keeps its framework's exact form of a message in
    ``metadata[metadata_key]``. For a line holding one that ``from_stored`` accepts, the
    message comes from it alone: the line is parsed as plain JSON and no
    ``SessionEvent`` is built, which is most of the cost of reading a long history.
    Every other line (written by another framework or the core, or unreadable) goes to
    ``decode`` in one batch and then through ``from_event``, so a corrupt line raises
    the store's ``CorruptSessionError``.

    Args:
        rows: ``(seq, JSON text)`` pairs in order (``SessionStore.get_event_lines``).
        metadata_key: Where the adapter keeps its own form (``"langchain"``, ...).
        from_stored: The message from that form, or None when it cannot be used.
        from_event: The message from a validated event, or None for non-messages.
        decode: Validates rows into events (``SessionStore.decode_event_lines``).

    Returns:
        The messages in session order; events that are not messages are skipped.
    """
    out: list[T | None] = []
    slow: list[tuple[int, tuple[int, str]]] = []
    for row in rows:
        message = None
        try:
            data = from_json(row[1])
        except ValueError:
            data = None
        if isinstance(data, dict):
            meta = data.get("metadata")
            if isinstance(meta, dict) and metadata_key in meta:
                message = from_stored(meta[metadata_key])
        if message is None:
            slow.append((len(out), row))
        out.append(message)
    if slow:
        events = decode([row for _, row in slow])
        for (index, _), event in zip(slow, events, strict=True):
            out[index] = from_event(event)
    return [m for m in out if m is not None]


# ------------------------------------------------------------------ tool-result linking
PARENT_LOOKBACK = 64
"""How many trailing events a writer searches for the turn that asked for a tool result stored alone."""


class AskedCall(NamedTuple):
    """A tool call an assistant turn asked for: what a tool result is linked to."""

    event_id: str
    """Id of the assistant MESSAGE event that asked (the tool result's parent)."""
    name: str
    """The tool's name."""
    arguments: dict[str, Any]
    """The arguments the turn asked the tool to run with."""


def tool_calls_of(events: Iterable[SessionEvent]) -> dict[str, AskedCall]:
    """Tool calls asked for by assistant events, by ``tool_call_id`` (a later ask wins).

    Every adapter links a tool result to the turn that asked for it through this map:
    the turn's event becomes the result's ``metadata["parent_event_id"]``.

    Args:
        events: Events in order, e.g. a batch being written or the tail of a session
            (``get_events(session_id, last_n=PARENT_LOOKBACK)``).

    Returns:
        ``tool_call_id`` → ``AskedCall(event_id, name, arguments)``; calls without an id
        are left out.
    """
    out: dict[str, AskedCall] = {}
    for event in events:
        for call in event_tool_calls(event):
            if call["id"]:
                out[call["id"]] = AskedCall(event.id, call["name"], dict(call["arguments"]))
    return out


def needs_parent_lookup(events: Iterable[SessionEvent]) -> bool:
    """True when a tool result in ``events`` answers a call no earlier event of them asked for.

    A writer then reads the session's last ``PARENT_LOOKBACK`` events and links the
    result through `tool_calls_of` of them; a batch that holds its own asking turns
    needs no read.

    Args:
        events: The events about to be written, in order.

    Returns:
        Whether the asking turn of some TOOL_CALL event must be looked up in the session.
    """
    asked: set[str] = set()
    for event in events:
        if event.type == EventType.TOOL_CALL:
            msg = event.message
            call_id = msg.get("tool_call_id") if isinstance(msg, dict) else None
            if isinstance(call_id, str) and call_id and call_id not in asked:
                return True
        else:
            asked.update(call["id"] for call in event_tool_calls(event) if call["id"])
    return False
