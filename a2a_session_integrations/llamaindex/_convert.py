"""LlamaIndex ``ChatMessage`` to and from neutral session events (pure functions, no I/O).

The mapping every LlamaIndex-facing adapter shares (``SessionChatStore``,
``SessionMemory``, ``SessionDBChatStore``, ``SessionEventHandler``):

======================================  ==============================================
LlamaIndex ``ChatMessage``              neutral event (API.md "The neutral event format")
======================================  ==============================================
role ``user``                           MESSAGE, role ``user``
role ``assistant`` (``chatbot``,        MESSAGE, role ``assistant``; ``ToolCallBlock``\\ s
``model``)                              and ``additional_kwargs["tool_calls"]`` become
                                        ``tool_calls`` ``[{"id", "name", "arguments"}]``
role ``system`` (``developer``)         MESSAGE, role ``system``
role ``tool`` with                      TOOL_CALL, id ``tool:<tool_call_id>``, ``result`` =
``additional_kwargs["tool_call_id"]``   the text, name and arguments from the assistant turn
                                        that asked (its event is the parent)
role ``tool`` without a call id,        MESSAGE, role ``tool``
``function``
======================================  ==============================================

Content: a single text block is a str; anything else is a list of OpenAI content
parts: text parts, images *by reference* (``{"type": "image_url", "image_url":
{"url"}}`` with the block's URL, a ``file://`` URL for a path, or a data URL for
inline bytes), audio, video and documents as ``file`` parts. Thinking blocks are not
part of the neutral content (other frameworks would send them back to a model).

The exact message (``model_dump(mode="json")``) is kept in ``metadata["llamaindex"]``
so LlamaIndex gets back an equal ``ChatMessage`` (role, blocks, ``additional_kwargs``).
The neutral fields stay authoritative for everyone else, and events written without
``metadata["llamaindex"]`` (by LangChain, the core, ...) are rebuilt from them:
tool calls become assistant ``ToolCallBlock``\\ s and tool results tool messages with
``additional_kwargs["tool_call_id"]``.

``ChatMessage`` has no id, so each message becomes an event with a fresh id, except
tool results (``tool:<tool_call_id>``, shared with every other writer of the call).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from a2a_session_manager._ids import new_id
from a2a_session_manager.messages import (
    UNKNOWN_PART,
    AskedCall,
    make_message_event,
    make_tool_call_event,
    part_placeholder,
    rebuild_from_lines,
    tool_calls_of,
    view,
)
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from pydantic import ValidationError

__all__ = [
    "LLAMAINDEX_KEY",
    "aread_messages",
    "event_to_message",
    "events_to_messages",
    "export_events",
    "message_to_event",
    "message_tool_calls",
    "messages_to_events",
    "neutral_content",
    "read_messages",
]

LLAMAINDEX_KEY = "llamaindex"
"""Key of ``SessionEvent.metadata`` holding the exact ``ChatMessage.model_dump(mode="json")``."""

_ROLE = {
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


# ----------------------------------------------------------------------- to events
def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"__raw__": raw}
        return dict(parsed) if isinstance(parsed, dict) else {"__raw__": raw}
    return {}


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def message_tool_calls(message: ChatMessage) -> list[dict[str, Any]]:
    """Tool calls an assistant message asks for, in the neutral form.

    Reads ``ToolCallBlock``\\ s and OpenAI-style ``additional_kwargs["tool_calls"]``
    (dicts or SDK objects with ``id`` and ``function.name`` / ``function.arguments``);
    a call present in both is listed once.

    Args:
        message: The message.

    Returns:
        ``[{"id", "name", "arguments": dict}]`` (empty when none).
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            cid = block.tool_call_id or ""
            out.append({"id": cid, "name": block.tool_name, "arguments": _arguments(block.tool_kwargs)})
            if cid:
                seen.add(cid)
    extra = message.additional_kwargs.get("tool_calls")
    if isinstance(extra, list):
        for call in extra:
            fn = _get(call, "function")
            cid = str(_get(call, "id") or _get(call, "tool_id") or "")
            if cid and cid in seen:
                continue
            if fn is not None:
                name, args = _get(fn, "name"), _get(fn, "arguments")
            else:  # llama-index's ToolSelection shape
                name, args = _get(call, "tool_name") or _get(call, "name"), _get(call, "tool_kwargs")
            if not name:
                continue
            out.append({"id": cid, "name": str(name), "arguments": _arguments(args)})
            if cid:
                seen.add(cid)
    return out


def _data_url(data: bytes, mimetype: str | None, fallback: str) -> str:
    # llama-index keeps inline media base64-encoded after validation.
    try:
        base64.b64decode(data, validate=True)
        encoded = data.decode("ascii")
    except (ValueError, UnicodeDecodeError):
        encoded = base64.b64encode(data).decode("ascii")
    return f"data:{mimetype or fallback};base64,{encoded}"


def _media_ref(block: Any, data: Any, mimetype: str | None, fallback: str) -> str | None:
    if getattr(block, "url", None):
        return str(block.url)
    if getattr(block, "path", None):
        return str(block.path.resolve().as_uri())
    if isinstance(data, bytes) and data:
        return _data_url(data, mimetype, fallback)
    return None


def _part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        url = _media_ref(block, block.image, block.image_mimetype, "image/png")
        if url is None:
            return None
        image: dict[str, Any] = {"url": url}
        if block.detail:
            image["detail"] = block.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(block, AudioBlock):
        ref = _media_ref(block, block.audio, None, f"audio/{block.format or 'wav'}")
        return None if ref is None else {"type": "file", "file": {"url": ref, "kind": "audio"}}
    if isinstance(block, VideoBlock):
        ref = _media_ref(block, block.video, block.video_mimetype, "video/mp4")
        return None if ref is None else {"type": "file", "file": {"url": ref, "kind": "video"}}
    if isinstance(block, DocumentBlock):
        ref = _media_ref(block, block.data, block.document_mimetype, "application/octet-stream")
        if ref is None:
            return None
        file: dict[str, Any] = {"url": ref, "kind": "document"}
        if block.title:
            file["filename"] = block.title
        return {"type": "file", "file": file}
    if isinstance(block, (ThinkingBlock, ToolCallBlock)):
        return None
    text = getattr(block, "text", None)
    return {"type": "text", "text": text} if isinstance(text, str) else None


def neutral_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A message's blocks as neutral content: a str, or a list of OpenAI content parts.

    Args:
        message: The message.

    Returns:
        The text when the content is text only (blocks joined by newlines, as
        ``ChatMessage.content`` does), else the content parts.
    """
    parts = [p for p in (_part(b) for b in message.blocks) if p is not None]
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _dump(message: ChatMessage) -> dict[str, Any]:
    return message.model_dump(mode="json")


def message_to_event(
    message: ChatMessage,
    *,
    known_calls: Mapping[str, AskedCall] | None = None,
    task_id: str | None = None,
    event_id: str | None = None,
) -> SessionEvent:
    """Map one ``ChatMessage`` to a neutral session event.

    Args:
        message: The message.
        known_calls: Tool calls asked for earlier (``a2a_session_manager.messages.tool_calls_of``):
            a tool result takes its name, arguments and parent from there.
        task_id: Run id to stamp on the event.
        event_id: Id of the event (default: a fresh one; tool results always take
            ``tool:<tool_call_id>``).

    Returns:
        The event, with the exact message in ``metadata["llamaindex"]``.

    Raises:
        TypeError: ``message`` is not a ``ChatMessage``.
    """
    if not isinstance(message, ChatMessage):
        raise TypeError(f"expected a llama_index ChatMessage, got {type(message).__name__}")
    meta = {LLAMAINDEX_KEY: _dump(message)}
    role = _ROLE.get(message.role, "user")
    call_id = message.additional_kwargs.get("tool_call_id")
    if role == "tool" and isinstance(call_id, str) and call_id:
        asked = (known_calls or {}).get(call_id)
        parent, name, args = asked if asked is not None else ("", "", {})
        name = name or str(message.additional_kwargs.get("name") or "")
        content = neutral_content(message)
        is_error = bool(message.additional_kwargs.get("is_error"))
        return make_tool_call_event(
            name,
            args,
            call_id,
            result=None if is_error else content,
            error=(content if isinstance(content, str) else json.dumps(content)) if is_error else None,
            parent_event_id=parent or None,
            task_id=task_id,
            metadata=meta,
        )
    calls = message_tool_calls(message) if role == "assistant" else []
    speaker = message.additional_kwargs.get("name")
    event = make_message_event(
        role,
        neutral_content(message),
        tool_calls=calls or None,
        name=speaker if isinstance(speaker, str) else None,
        event_id=event_id or new_id(),
        task_id=task_id,
        metadata=meta,
    )
    if role == "tool" and isinstance(call_id, str):
        event.message["tool_call_id"] = call_id
    return event


def messages_to_events(
    messages: Iterable[ChatMessage],
    *,
    known_calls: Mapping[str, AskedCall] | None = None,
    task_id: str | None = None,
) -> list[SessionEvent]:
    """Map messages to events, linking each tool result to the turn that asked for it.

    Args:
        messages: Messages in conversation order.
        known_calls: Tool calls asked for before this batch
            (``a2a_session_manager.messages.tool_calls_of`` of the session's tail);
            calls found in the batch are added.
        task_id: Run id to stamp on every event.

    Returns:
        One event per message, in order.
    """
    calls: dict[str, AskedCall] = dict(known_calls or {})
    out: list[SessionEvent] = []
    for message in messages:
        event = message_to_event(message, known_calls=calls, task_id=task_id)
        calls.update(tool_calls_of([event]))
        out.append(event)
    return out


# ---------------------------------------------------------------------- from events
def _stored(data: Any) -> ChatMessage | None:
    if not isinstance(data, dict):
        return None
    try:
        return ChatMessage.model_validate(data)
    except (ValidationError, ValueError, TypeError):
        return None  # e.g. an image path that no longer exists: rebuild from the neutral form


def _block(part: Any) -> Any:
    if isinstance(part, str):
        return TextBlock(text=part)
    if not isinstance(part, Mapping):
        return TextBlock(text=json.dumps(part, ensure_ascii=False, default=str))
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text") or (kind is None and "text" in part):
        return TextBlock(text=str(part.get("text") or ""))
    if kind == UNKNOWN_PART:  # a block the writer's framework held that the neutral form can't: its placeholder
        return TextBlock(text=part_placeholder(part))
    if kind in ("image_url", "input_image", "image"):
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        url = url or part.get("url")
        detail = ref.get("detail") if isinstance(ref, Mapping) else part.get("detail")
        if isinstance(url, str) and url:
            try:
                return ImageBlock(url=url, detail=detail if isinstance(detail, str) else None)
            except (ValidationError, ValueError):
                pass
    return TextBlock(text=json.dumps(dict(part), ensure_ascii=False, default=str))


def _blocks(content: Any) -> list[Any]:  # list of ContentBlock
    if content is None or content == "":
        return [] if content is None else [TextBlock(text="")]
    if isinstance(content, str):
        return [TextBlock(text=content)]
    if isinstance(content, list):
        return [_block(p) for p in content]
    return [TextBlock(text=json.dumps(content, ensure_ascii=False, default=str))]


def event_to_message(event: SessionEvent) -> ChatMessage | None:
    """Rebuild a ``ChatMessage`` from an event, or None when it is not a chat message.

    Uses ``metadata["llamaindex"]`` when present (exact); otherwise the neutral fields:
    user/assistant/system MESSAGE events (tool calls become ``ToolCallBlock``\\ s after
    the content), TOOL_CALL events (a ``tool`` message with
    ``additional_kwargs["tool_call_id"]``; an error reads ``Error: ...``) and SUMMARY /
    CONTEXT_BRIDGE events (a ``system`` message).

    Args:
        event: The event.

    Returns:
        The message, or None (REFERENCE events, TOOL_CALL events without a call id).
    """
    stored = _stored(event.metadata.get(LLAMAINDEX_KEY))
    if stored is not None:
        return stored
    turn = view(event)
    role = turn.role
    if role is None:
        return None
    if turn.kind == EventType.TOOL_CALL:
        if turn.tool_call_id is None:
            return None
        kwargs: dict[str, Any] = {"tool_call_id": turn.tool_call_id}
        result = turn.result
        if not turn.is_error and isinstance(result, (str, list)):
            blocks = _blocks(result)
        else:
            blocks = [TextBlock(text=turn.text)]
        return ChatMessage(role=MessageRole.TOOL, blocks=blocks, additional_kwargs=kwargs)
    if turn.kind != EventType.MESSAGE:
        return ChatMessage(role=MessageRole.SYSTEM, blocks=[TextBlock(text=turn.text)])
    blocks = _blocks(turn.content)
    extra: dict[str, Any] = {}
    if turn.name:
        extra["name"] = turn.name
    if role == "assistant":
        blocks = [b for b in blocks if not (isinstance(b, TextBlock) and b.text == "")] or blocks
        if turn.tool_calls:
            blocks = [b for b in blocks if not (isinstance(b, TextBlock) and b.text == "")]
            blocks += list[Any](
                ToolCallBlock(tool_call_id=c.id or None, tool_name=c.name, tool_kwargs=c.arguments)
                for c in turn.tool_calls
            )
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=extra)
    if role == "tool":
        if turn.tool_call_id:
            extra["tool_call_id"] = turn.tool_call_id
        return ChatMessage(role=MessageRole.TOOL, blocks=blocks, additional_kwargs=extra)
    return ChatMessage(role=MessageRole(role), blocks=blocks, additional_kwargs=extra)


def read_messages(store: SessionStore, session_id: str) -> list[ChatMessage]:
    """Every ``ChatMessage`` of a session, oldest first, in one store read.

    A line this adapter wrote is rebuilt from its ``metadata["llamaindex"]`` without
    validating a ``SessionEvent``; other lines are validated and go through
    `event_to_message` (``a2a_session_manager.messages.rebuild_from_lines``).

    Args:
        store: The store.
        session_id: A checked session id.
    """
    return _from_lines(store, session_id, store.get_event_lines(session_id))


async def aread_messages(store: SessionStore, session_id: str) -> list[ChatMessage]:
    """Async twin of `read_messages`."""
    return _from_lines(store, session_id, await store.aget_event_lines(session_id))


def _from_lines(store: SessionStore, session_id: str, rows: list[tuple[int, str]]) -> list[ChatMessage]:
    return rebuild_from_lines(
        rows,
        metadata_key=LLAMAINDEX_KEY,
        from_stored=_stored,
        from_event=event_to_message,
        decode=lambda bad: store.decode_event_lines(session_id, bad),
    )


def events_to_messages(events: Iterable[SessionEvent]) -> list[ChatMessage]:
    """Rebuild the ``ChatMessage``\\ s of events (non-messages are skipped).

    Args:
        events: Events in order.

    Returns:
        The messages, in order.
    """
    out: list[ChatMessage] = []
    for event in events:
        message = event_to_message(event)
        if message is not None:
            out.append(message)
    return out


def export_events(events: Iterable[SessionEvent]) -> list[dict[str, Any]]:
    """A session's events as LlamaIndex ``ChatMessage`` dicts (``model_dump(mode="json")``).

    Used by the CLI's ``export --format llamaindex``; ``ChatMessage.model_validate``
    of each dict gives the message back.

    Args:
        events: Events in order.

    Returns:
        One dict per chat message, in order.
    """
    return [_dump(m) for m in events_to_messages(events)]
