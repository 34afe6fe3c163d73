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

Readers: ``event_role``, ``event_text``, ``event_tool_calls``, ``content_text``,
``part_placeholder``; names: ``ROLE_BY_SOURCE``, ``SOURCE_BY_ROLE``, ``ROLE_ALIASES``,
``tool_event_id``, ``UNKNOWN_PART``, ``unknown_part``, ``compact_json``.
"""

from __future__ import annotations

import json
from typing import Any

from a2a_session_manager._parts import PLACEHOLDERS, UNKNOWN_PART, compact_json, part_placeholder, unknown_part
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent

__all__ = [
    "ROLE_ALIASES",
    "ROLE_BY_SOURCE",
    "SOURCE_BY_ROLE",
    "UNKNOWN_PART",
    "compact_json",
    "content_text",
    "event_role",
    "event_text",
    "event_tool_calls",
    "part_placeholder",
    "tool_event_id",
    "unknown_part",
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
            return ROLE_ALIASES.get(role, role)
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
