"""The neutral message form every adapter reads and writes, and its OpenAI rendering.

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
  ``event_to_openai`` renders it as a text part holding its placeholder
  (``part_placeholder``: ``[image]``, ``[file]``, ``[audio]``, ``[video]``, else
  ``[<block_type>]``; nothing for a text block without text), which is also what
  ``content_text`` shows and what prompt budgets count.

Images and files refer to their data by URL or data URL; token rules for them are
documented in ``tokens`` (per part, never per byte).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic_core import from_json

from a2a_session_manager import tokens
from a2a_session_manager._parts import PLACEHOLDERS, UNKNOWN_PART, compact_json, part_placeholder, unknown_part
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenUsage

__all__ = [
    "ROLE_BY_SOURCE",
    "SOURCE_BY_ROLE",
    "UNKNOWN_PART",
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
    "part_placeholder",
    "rebuild_from_lines",
    "tool_event_id",
    "unknown_part",
]

T = TypeVar("T")

ROLE_BY_SOURCE: dict[EventSource, str] = {
    EventSource.USER: "user",
    EventSource.LLM: "assistant",
    EventSource.SYSTEM: "system",
    EventSource.TOOL: "tool",
}
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


def event_role(event: SessionEvent) -> str | None:
    """Chat role of an event, or None when it is not part of a conversation.

    MESSAGE: the dict's ``role`` or the source's role; TOOL_CALL: ``tool``; SUMMARY and
    CONTEXT_BRIDGE: ``system``; REFERENCE: None.

    Args:
        event: The event.
    """
    if event.type == EventType.MESSAGE:
        if isinstance(event.message, dict) and isinstance(event.message.get("role"), str):
            role = event.message["role"]
            return {"human": "user", "ai": "assistant", "developer": "system"}.get(role, role)
        return ROLE_BY_SOURCE.get(event.source, "assistant")
    if event.type == EventType.TOOL_CALL:
        return "tool"
    if event.type in (EventType.SUMMARY, EventType.CONTEXT_BRIDGE):
        return "system"
    return None


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


def event_text(event: SessionEvent) -> str:
    """Plain text of an event's message (content of a dict message, result of a tool call).

    Args:
        event: The event.
    """
    msg = event.message
    if event.type == EventType.TOOL_CALL and isinstance(msg, dict):
        if "error" in msg and msg.get("error") is not None:
            return f"Error: {msg['error']}"
        result = msg.get("result")
        return result if isinstance(result, str) else compact_json(result)
    if isinstance(msg, dict) and "content" in msg:
        return content_text(msg.get("content"))
    return content_text(msg)


def event_tool_calls(event: SessionEvent) -> list[dict[str, Any]]:
    """Tool calls an assistant MESSAGE event asked for, in the neutral form.

    Args:
        event: The event.

    Returns:
        ``[{"id", "name", "arguments": dict}]`` (empty when none).
    """
    msg = event.message
    if event.type != EventType.MESSAGE or not isinstance(msg, dict):
        return []
    calls = msg.get("tool_calls") or []
    out: list[dict[str, Any]] = []
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
            out.append({"id": str(call.get("id") or ""), "name": str(fn.get("name") or ""), "arguments": args or {}})
        else:
            out.append(
                {
                    "id": str(call.get("id") or ""),
                    "name": str(call.get("name") or ""),
                    "arguments": call.get("arguments") if isinstance(call.get("arguments"), dict) else {},
                }
            )
    return out


def _tool_call_content(msg: dict[str, Any]) -> str:
    if msg.get("error") is not None:
        return f"Error: {msg['error']}"
    result = msg.get("result")
    return result if isinstance(result, str) else compact_json(result)


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
    role = event_role(event)
    if role is None:
        return None
    msg = event.message
    if event.type == EventType.TOOL_CALL:
        if not isinstance(msg, dict) or not msg.get("tool_call_id"):
            return None
        return {"role": "tool", "tool_call_id": str(msg["tool_call_id"]), "content": _tool_call_content(msg)}
    if event.type in (EventType.SUMMARY, EventType.CONTEXT_BRIDGE):
        return {"role": "system", "content": event_text(event)}
    out: dict[str, Any] = {"role": role}
    if isinstance(msg, dict):
        content = msg.get("content")
        if role == "tool":
            out["tool_call_id"] = str(msg.get("tool_call_id") or "")
            out["content"] = content_text(content)
            return out
        if isinstance(content, list):
            # Unknown parts are data for readers, not input a model accepts (module docstring).
            has_unknown = any(isinstance(p, dict) and p.get("type") == UNKNOWN_PART for p in content)
            out["content"] = _model_parts(content) if has_unknown else content
        elif isinstance(content, str) or content is None:
            out["content"] = content
        else:
            out["content"] = content_text(content)
        if msg.get("name") and role in ("user", "assistant", "system"):
            out["name"] = str(msg["name"])
        calls = event_tool_calls(event) if role == "assistant" else []
        if calls:
            out["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": compact_json(c["arguments"])},
                }
                for c in calls
            ]
            if out["content"] in ("", []):
                out["content"] = None
        elif out["content"] is None:
            out["content"] = ""
        return out
    out["content"] = content_text(msg)
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
    key = tokens.encoding_key(model)
    # The cache is declared on the model for this function's use (SessionEvent._token_counts).
    cache: dict[str, tuple[Any, Any, Any, int]] | None = event._token_counts
    if cache is None:
        cache = {}
        event._token_counts = cache
    hit = cache.get(key)
    message, kind, source = event.message, event.type, event.source
    if hit is not None and hit[0] is message and hit[1] is kind and hit[2] is source:
        return hit[3]
    rendered = event_to_openai(event)
    count = 0 if rendered is None else tokens.count_message_tokens(rendered, model)
    cache[key] = (message, kind, source, count)
    return count


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
    norm = {"human": "user", "ai": "assistant", "developer": "system"}.get(role, role)
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
