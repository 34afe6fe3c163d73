"""The neutral event format: what a stored event means, in one place.

Every adapter reads and writes this form; ``messages`` renders it for OpenAI-style
models, ``prompts`` and ``tokens`` budget it, the HTML views and the CLI show it.
Nothing here does I/O or knows a framework.

MESSAGE events carry a str (0.1.3's form, role from the source) or a dict
``{"role", "content", "name"?, "tool_calls"?: [{"id", "name", "arguments": dict}]}``.
TOOL_CALL events (source TOOL) carry ``{"name", "arguments", "result" | "error",
"tool_call_id", "duration_ms"?}`` and ``metadata["parent_event_id"]``; their id is
``tool:<tool_call_id>`` so every writer of the same call converges on one event.

Content is a str or a list of content parts:

- ``{"type": "text", "text": str}`` (and ``{"type": "refusal", "refusal": str}`` from
  an assistant);
- ``{"type": "image_url", "image_url": {"url", "detail"?}}``: an image by URL or data URL;
- ``{"type": "input_audio", "input_audio": {"data": base64, "format"}}``;
- ``{"type": "file", "file": {"file_data" (a data URL) | "file_id" | "url", "filename"?,
  "kind"?}}``: a document, or audio/video by reference (``kind`` says which);
- ``{"type": "unknown", "block_type": str | None, "block": <the block as given>}``: a
  block a framework accepted that none of the parts above can hold faithfully, e.g. a
  LangChain image given as base64 without its ``mime_type``, a ``{"type": "text"}``
  without ``text``, a ``reasoning`` or ``non_standard`` block, or a type nobody knows.
  Writers never fail on such a block: the adapter keeps its exact message (under
  ``metadata["langchain"]`` / ``["llamaindex"]``) and the neutral form keeps the block
  untouched inside this part. Readers never send it to a model as it is:
  ``messages.event_to_openai`` renders it as a text part holding its placeholder
  (``part_placeholder``: ``[image]``, ``[file]``, ``[audio]``, ``[video]``, else
  ``[<block_type>]``; nothing for a text block without text), which is also what
  ``content_text`` shows and what prompt budgets count.

Images and files refer to their data by URL or data URL; token rules for them are
documented in ``tokens`` (per part, never per byte).

Readers: ``view`` (an event parsed once into a typed ``Turn``, cached on the event)
and the thin reads of it, ``event_role``, ``event_text``, ``event_tool_calls``; for
content, ``content_text`` and ``part_placeholder``. Names: ``ROLE_BY_SOURCE``,
``SOURCE_BY_ROLE``, ``ROLE_ALIASES``, ``tool_event_id``, ``UNKNOWN_PART``,
``unknown_part``, ``compact_json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from a2a_session_manager._parts import PLACEHOLDERS, UNKNOWN_PART, compact_json, part_placeholder, unknown_part
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent

__all__ = [
    "ROLE_ALIASES",
    "ROLE_BY_SOURCE",
    "SOURCE_BY_ROLE",
    "UNKNOWN_PART",
    "ToolCall",
    "Turn",
    "compact_json",
    "content_text",
    "event_role",
    "event_text",
    "event_tool_calls",
    "part_placeholder",
    "tool_event_id",
    "unknown_part",
    "view",
]

ROLE_BY_SOURCE: dict[EventSource, str] = {
    EventSource.USER: "user",
    EventSource.LLM: "assistant",
    EventSource.SYSTEM: "system",
    EventSource.TOOL: "tool",
}
ROLE_ALIASES: dict[str, str] = {"human": "user", "ai": "assistant", "developer": "system"}
"""Other frameworks' names of a role, and the neutral name each one is stored as."""
SOURCE_BY_ROLE: dict[str, EventSource] = {
    "user": EventSource.USER,
    "human": EventSource.USER,
    "assistant": EventSource.LLM,
    "ai": EventSource.LLM,
    "system": EventSource.SYSTEM,
    "developer": EventSource.SYSTEM,
    "tool": EventSource.TOOL,
    "function": EventSource.TOOL,
}


def tool_event_id(tool_call_id: str) -> str:
    """Id of the TOOL_CALL event for a tool call id, shared by every writer.

    Args:
        tool_call_id: The provider's or framework's tool call id.

    Returns:
        ``"tool:" + tool_call_id``.
    """
    return f"tool:{tool_call_id}"


def content_text(content: Any) -> str:
    """Plain text of a content value (a str, or a list of content parts).

    Non-text parts become a short placeholder such as ``[image]`` (``part_placeholder``).

    Args:
        content: str, list of parts, or any JSON value.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text" or (kind is None and "text" in part):
                    pieces.append(str(part.get("text", "")))
                elif kind == UNKNOWN_PART or kind in PLACEHOLDERS:
                    pieces.append(part_placeholder(part))
                else:
                    pieces.append(compact_json(part))
        return "\n".join(p for p in pieces if p)
    return compact_json(content)


class ToolCall(NamedTuple):
    """One tool call an assistant turn asked for, in the neutral form."""

    id: str
    """The call's id (``""`` when the writer gave none)."""
    name: str
    """The tool's name (``""`` when missing)."""
    arguments: Any
    """The arguments: a dict for every well-formed call (OpenAI's JSON string is parsed;
    unparsable text is kept as ``{"__raw__": text}``)."""


class Turn(NamedTuple):
    """What one event means in the neutral format, parsed once (see ``view``).

    Every field is derived from the event's ``type``, ``source`` and ``message``; a
    reader picks the fields it needs instead of re-dispatching on ``message``. It is
    an immutable named tuple rather than a frozen dataclass because a frozen
    dataclass takes three times as long to build, and every event read builds one.
    """

    kind: EventType
    """The event's type."""
    role: str | None
    """Chat role: MESSAGE: the dict's ``role`` (aliases mapped) or the source's role;
    TOOL_CALL: ``tool``; SUMMARY and CONTEXT_BRIDGE: ``system``; REFERENCE: None."""
    text: str
    """Plain text: a dict message's ``content`` (non-text parts as placeholders), a tool
    call's result (``Error: ...`` for an error), else the message as text or JSON."""
    content: str | list[Any] | None
    """MESSAGE: the content as given when it is a str, a list of parts or None (a bare
    message counts as its own content), else its text; other kinds: ``text``."""
    is_structured: bool = False
    """The message is a dict (the neutral form), not 0.1.3's bare value."""
    tool_calls: tuple[ToolCall, ...] = ()
    """MESSAGE: the tool calls the turn asked for (OpenAI's own shape accepted too)."""
    tool_call_id: str | None = None
    """The tool call a TOOL_CALL event (or a ``tool`` MESSAGE) answers, None when absent."""
    name: str | None = None
    """MESSAGE: the speaker's name; TOOL_CALL: the tool's name (``name``, else 0.1.3's
    ``tool_name`` / ``tool``); None when absent."""
    is_error: bool = False
    """TOOL_CALL: the tool failed (the message has an ``error``)."""
    result: Any = None
    """TOOL_CALL: what the tool returned, as stored (None for an error)."""
    arguments: Any = None
    """TOOL_CALL: the arguments the tool ran with, as stored (``{}`` when missing)."""
    duration_ms: float | None = None
    """TOOL_CALL: how long the call took, when recorded."""


class _Cached:
    """What is cached on an event: its ``Turn`` and its token counts, with the identities
    (message, type, source) they were computed from.

    One object per event (its token counts inline for the first encoding): every cached
    object is one more for the garbage collector to walk on each pass over a long session.
    It compares equal to any other cache and to no cache at all, so that reading an
    event never changes whether it equals another (pydantic compares private attributes);
    defining ``__eq__`` leaves it unhashable.
    """

    __slots__ = ("count", "count_key", "message", "more_counts", "source", "turn", "type")

    def __init__(self, message: Any, type: EventType, source: EventSource, turn: Turn) -> None:
        self.message = message
        self.type = type
        self.source = source
        self.turn = turn
        self.count_key: str | None = None
        self.count = 0
        self.more_counts: dict[str, int] | None = None

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, _Cached)


def _entry(event: SessionEvent) -> _Cached:
    """The event's cache entry, rebuilt when its message, type or source was reassigned."""
    # The private dict directly: pydantic's attribute hooks for private names cost more
    # than the whole parse of a short message (SessionEvent._view is declared for this).
    private = event.__pydantic_private__
    cached: _Cached | None = private.get("_view") if private is not None else None
    message, kind, source = event.message, event.type, event.source
    if cached is not None and cached.message is message and cached.type is kind and cached.source is source:
        return cached
    cached = _Cached(message, kind, source, _parse(message, kind, source))
    if private is not None:
        private["_view"] = cached
    return cached


def view(event: SessionEvent) -> Turn:
    """The event parsed into a ``Turn``, computed once and cached on the event.

    The cache is private and never stored. It is recomputed when ``message``, ``type``
    or ``source`` is reassigned, but not when the message dict is mutated in place:
    treat a read event as immutable (or assign a new message), as for
    ``messages.event_token_count``.

    Args:
        event: The event.

    Returns:
        The event's ``Turn``.
    """
    return _entry(event).turn


def cached_count(
    event: SessionEvent, key: str, compute: Callable[[SessionEvent, str | None], int], model: str | None
) -> int:
    """A number derived from the event, computed once per ``key`` and cached with its view.

    ``messages.event_token_count`` keeps its per-encoding token counts here, so they are
    dropped together with the view when the message, type or source is reassigned.

    Args:
        event: The event.
        key: What the number is (e.g. an encoding's name).
        compute: Computes the number when it is not cached, from the event and ``model``.
        model: Passed to ``compute`` (a model name).

    Returns:
        The cached or computed number.
    """
    entry = _entry(event)
    if entry.count_key == key:
        return entry.count
    more = entry.more_counts
    if more is not None and key in more:
        return more[key]
    count = compute(event, model)
    if entry.count_key is None:
        entry.count_key, entry.count = key, count
    else:
        if more is None:
            more = entry.more_counts = {}
        more[key] = count
    return count


def _text(message: Any) -> str:
    """``Turn.text`` of any message but a TOOL_CALL event's dict."""
    if isinstance(message, dict) and "content" in message:
        return content_text(message["content"])
    return content_text(message)


# Turns are built positionally: this runs once per event read, and keywords cost more.
def _parse(message: Any, kind: EventType, source: EventSource) -> Turn:
    is_dict = isinstance(message, dict)
    if kind == EventType.MESSAGE:
        if not is_dict:
            text = content_text(message)
            bare = message if message is None or isinstance(message, (str, list)) else text
            return Turn(kind, ROLE_BY_SOURCE.get(source, "assistant"), text, bare)
        get = message.get
        role = get("role")
        content = get("content")
        if isinstance(content, str):
            text = content
        else:
            text = _text(message)
            if content is not None and not isinstance(content, list):
                content = text  # any other JSON value: its text (``content_text``)
        calls = get("tool_calls")
        call_id = get("tool_call_id")
        name = get("name")
        return Turn(
            kind,
            ROLE_ALIASES.get(role, role) if isinstance(role, str) else ROLE_BY_SOURCE.get(source, "assistant"),
            text,
            content,
            True,
            _tool_calls(calls) if calls else (),
            str(call_id) if call_id else None,
            str(name) if name else None,
        )
    if kind == EventType.TOOL_CALL:
        if not is_dict:
            text = content_text(message)
            return Turn(kind, "tool", text, text)
        get = message.get
        error = get("error")
        result = get("result")
        if error is not None:
            text = f"Error: {error}"
        elif isinstance(result, str):
            text = result
        else:
            text = compact_json(result)
        call_id = get("tool_call_id")
        name = get("name") or get("tool_name") or get("tool")
        took = get("duration_ms")
        return Turn(
            kind,
            "tool",
            text,
            text,
            True,
            (),
            str(call_id) if call_id else None,
            str(name) if name else None,
            error is not None,
            result,
            get("arguments", {}),
            float(took) if isinstance(took, (int, float)) else None,
        )
    text = _text(message)
    role = "system" if kind in (EventType.SUMMARY, EventType.CONTEXT_BRIDGE) else None
    return Turn(kind, role, text, text, is_dict)


def _tool_calls(calls: Any) -> tuple[ToolCall, ...]:
    if not calls:
        return ()
    out: list[ToolCall] = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        if "function" in call and isinstance(call["function"], dict):  # OpenAI's own shape
            fn = call["function"]
            args: Any = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except ValueError:
                    args = {"__raw__": args}
            out.append(ToolCall(str(call.get("id") or ""), str(fn.get("name") or ""), args or {}))
        else:
            args = call.get("arguments")
            out.append(
                ToolCall(str(call.get("id") or ""), str(call.get("name") or ""), args if isinstance(args, dict) else {})
            )
    return tuple(out)


def event_role(event: SessionEvent) -> str | None:
    """Chat role of an event, or None when it is not part of a conversation.

    MESSAGE: the dict's ``role`` or the source's role; TOOL_CALL: ``tool``; SUMMARY and
    CONTEXT_BRIDGE: ``system``; REFERENCE: None (``view(event).role``).

    Args:
        event: The event.

    Returns:
        The role, or None.
    """
    return view(event).role


def event_text(event: SessionEvent) -> str:
    """Plain text of an event's message (content of a dict message, result of a tool call).

    Args:
        event: The event.

    Returns:
        ``view(event).text``.
    """
    return view(event).text


def event_tool_calls(event: SessionEvent) -> list[dict[str, Any]]:
    """Tool calls an assistant MESSAGE event asked for, in the neutral form.

    Args:
        event: The event.

    Returns:
        ``[{"id", "name", "arguments": dict}]`` (empty when none); new dicts on every call.
    """
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in view(event).tool_calls]
