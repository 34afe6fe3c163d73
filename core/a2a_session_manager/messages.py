"""The neutral message form every adapter reads and writes, and its OpenAI rendering.

MESSAGE events carry a str (0.1.3's form, role from the source) or a dict
``{"role", "content", "name"?, "tool_calls"?: [{"id", "name", "arguments": dict}]}``.
TOOL_CALL events (source TOOL) carry ``{"name", "arguments", "result" | "error",
"tool_call_id", "duration_ms"?}`` and ``metadata["parent_event_id"]``; their id is
``tool:<tool_call_id>`` so every writer of the same call converges on one event.
Content is a str or a list of OpenAI content parts (``{"type": "text", "text"}``,
``{"type": "image_url", "image_url": {"url"}}``, ...): images and files refer to
their data by URL or data URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic_core import from_json

from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenUsage

__all__ = [
    "ROLE_BY_SOURCE",
    "SOURCE_BY_ROLE",
    "compact_json",
    "content_text",
    "event_role",
    "event_text",
    "event_to_openai",
    "event_tool_calls",
    "events_to_openai",
    "make_message_event",
    "make_tool_call_event",
    "rebuild_from_lines",
    "tool_event_id",
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


def compact_json(value: Any) -> str:
    """Encode ``value`` as compact JSON (non-JSON values fall back to ``str``).

    Args:
        value: Any value.

    Returns:
        JSON text without spaces after separators.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


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

    Non-text parts become a short placeholder such as ``[image]``.

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
                elif kind in ("image_url", "image", "input_image"):
                    pieces.append("[image]")
                elif kind in ("file", "input_file", "document"):
                    pieces.append("[file]")
                elif kind in ("input_audio", "audio"):
                    pieces.append("[audio]")
                else:
                    pieces.append(compact_json(part))
        return "\n".join(p for p in pieces if p)
    return compact_json(content)


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
        if isinstance(content, (str, list)) or content is None:
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
