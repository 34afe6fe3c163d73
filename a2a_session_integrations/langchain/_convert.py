"""LangChain messages to and from neutral session events (pure functions, no I/O).

The mapping every LangChain-facing adapter shares (the chat history, the callback
handler, the agent middleware, and the LangGraph checkpointer built on them):

==================  ============================================================
LangChain           neutral event (API.md "The neutral event format")
==================  ============================================================
``HumanMessage``    MESSAGE, role ``user``
``AIMessage``       MESSAGE, role ``assistant``; ``tool_calls`` become
                    ``[{"id", "name", "arguments"}]``; ``usage_metadata``
                    becomes the event's ``TokenUsage`` (origin ``"reported"``)
``SystemMessage``   MESSAGE, role ``system``
``ChatMessage``     MESSAGE with its role when it is a known one, else ``user``
``ToolMessage``     TOOL_CALL, id ``tool:<tool_call_id>``, ``result`` = content
                    (``error`` when ``status == "error"``), parent = the event of
                    the AIMessage that asked for the call when it is known
``FunctionMessage`` MESSAGE, role ``tool`` (legacy OpenAI functions)
==================  ============================================================

Chunks (``AIMessageChunk`` ...) are stored as their non-chunk type. The exact
``message_to_dict`` form is kept in ``metadata["langchain"]`` so LangChain gets back
an equal message; the neutral fields stay authoritative for every other reader, and
events written without ``metadata["langchain"]`` (by the core, LlamaIndex, ...) are
rebuilt from the neutral fields (``event_to_message``).

Event ids: a message's ``id`` when it has one (so writing the same message twice
stores it once), else a fresh uuid; the message itself is never modified, and a
message stored without an id reads back without one, equal to what went in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from a2a_session_manager._ids import new_id
from a2a_session_manager.exceptions import InvalidSessionOperation
from a2a_session_manager.messages import (
    SOURCE_BY_ROLE,
    UNKNOWN_PART,
    AskedCall,
    make_message_event,
    make_tool_call_event,
    rebuild_from_lines,
    tool_calls_of,
    tool_event_id,
    unknown_part,
    view,
)
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.usage import usage_from_langchain, usage_from_openai
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)

__all__ = [
    "LANGCHAIN_KEY",
    "event_id_for",
    "event_to_message",
    "events_to_messages",
    "message_to_event",
    "messages_to_events",
    "model_name_of",
    "neutral_content",
    "to_plain_message",
    "usage_from_llm_output",
    "usage_from_message",
]

LANGCHAIN_KEY = "langchain"
"""Key of ``SessionEvent.metadata`` holding the exact ``message_to_dict`` form."""

_ROLE_BY_TYPE = {"human": "user", "ai": "assistant", "system": "system"}


# ---------------------------------------------------------------------------- helpers
def to_plain_message(message: BaseMessage) -> BaseMessage:
    """Return the non-chunk form of a message (``AIMessageChunk`` → ``AIMessage``).

    Args:
        message: Any LangChain message.

    Returns:
        The message itself, or its non-chunk equivalent.
    """
    if isinstance(message, BaseMessageChunk):
        return message_chunk_to_message(message)
    return message


def event_id_for(message: BaseMessage) -> str:
    """Id of the event a message maps to (idempotency key shared by every writer).

    A ToolMessage with a ``tool_call_id`` maps to ``tool:<tool_call_id>``; any other
    message to its ``id``, or a fresh uuid when it has none.

    Args:
        message: The message.

    Returns:
        The event id.
    """
    if isinstance(message, ToolMessage) and message.tool_call_id:
        return tool_event_id(message.tool_call_id)
    return message.id or new_id()


def model_name_of(response_metadata: Mapping[str, Any] | None) -> str:
    """Model name a provider reported in a message's ``response_metadata`` ("" when none).

    Args:
        response_metadata: ``AIMessage.response_metadata``.
    """
    if not response_metadata:
        return ""
    for key in ("model_name", "model", "model_id"):
        value = response_metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def usage_from_message(message: BaseMessage) -> TokenUsage | None:
    """Provider-reported usage of an AI message as a ``TokenUsage`` (origin ``"reported"``).

    Reads ``usage_metadata`` (``input_tokens``, ``output_tokens``, cache reads and
    reasoning tokens) with the core's ``usage_from_langchain`` and the model name from
    ``response_metadata``; the cost comes from the core's price table (None for a
    model without a price). Malformed counts give None: the message is still stored,
    and its raw ``usage_metadata`` stays in ``metadata["langchain"]``.

    Args:
        message: Any message; only AI messages carry usage.

    Returns:
        The usage, or None when the message reports none (or reports nonsense).
    """
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    model = model_name_of(getattr(message, "response_metadata", None))
    try:
        return usage_from_langchain(usage, model=model or None)
    except (TypeError, ValueError):
        return None


def usage_from_llm_output(llm_output: Mapping[str, Any] | None, model: str = "") -> TokenUsage | None:
    """Usage from an ``LLMResult.llm_output`` (``token_usage`` in OpenAI's keys).

    Args:
        llm_output: The result's ``llm_output`` dict.
        model: Model name to use when ``llm_output`` names none.

    Returns:
        The usage, or None when none is reported.
    """
    if not llm_output:
        return None
    raw = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(raw, Mapping) or not raw:
        return None
    name = llm_output.get("model_name") or llm_output.get("model") or model
    try:
        return usage_from_openai(dict(raw), model=name if isinstance(name, str) and name else None)
    except (TypeError, ValueError):
        return None


def neutral_content(content: Any) -> Any:
    """LangChain content as neutral content: a str, or a list of neutral content parts.

    Never raises for content a LangChain message accepts. Each block maps on its own
    (one odd block never affects the others):

    - a str, or ``{"type": "text", "text": str}``: a text part (annotations dropped);
      ``{"type": "text-plain", "text": str}`` too (a plain-text document, read as text);
    - ``image`` (``url``, or ``base64`` with ``mime_type``; v0 ``source_type`` blocks and
      ``{"source": {...}}`` too) and OpenAI's ``image_url`` / ``input_image``: an
      ``image_url`` part (inline data as a data URL);
    - ``file`` (``base64`` with ``mime_type``, ``url`` or ``file_id``; OpenAI's
      ``{"file": {...}}``): a ``file`` part; ``video`` likewise with ``"kind": "video"``;
    - ``audio`` (``base64`` with ``mime_type``): an ``input_audio`` part, by ``url`` or
      ``file_id``: a ``file`` part with ``"kind": "audio"``; OpenAI's ``input_audio`` as is;
    - ``{"type": "refusal", "refusal": str}`` as is;
    - anything else, or a block above without what it needs (``base64`` without
      ``mime_type``, ``text`` without ``text``, an image ``file_id``...): an ``unknown``
      part holding the block (``a2a_session_manager.messages.unknown_part``). The
      message itself is kept exactly in ``metadata["langchain"]`` either way.

    Args:
        content: ``BaseMessage.content``.

    Returns:
        The neutral content.
    """
    if isinstance(content, str) or content is None:
        return content or ""
    if not isinstance(content, list):
        return str(content)
    return [_neutral_part(block) for block in content]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _media_ref(block: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    """Where a LangChain media block's data is: ``(kind, value, mime_type)``.

    ``kind`` is ``"url"``, ``"base64"`` (only with a mime type: a data URL needs one) or
    ``"file_id"``; covers v1 blocks, v0 ``source_type`` blocks and ``{"source": {...}}``.
    """
    mime = _str(block.get("mime_type"))
    source = block.get("source")
    if isinstance(source, Mapping):  # {"source": {"type": "base64", "media_type", "data"} | {"type": "url", "url"}}
        mime = mime or _str(source.get("media_type"))
        if source.get("type") == "url" and _str(source.get("url")):
            return "url", source["url"], mime
        if source.get("type") == "base64" and _str(source.get("data")) and mime:
            return "base64", source["data"], mime
        return None
    source_type = block.get("source_type")
    if source_type is not None:  # LangChain's v0 blocks
        if source_type == "url" and _str(block.get("url")):
            return "url", block["url"], mime
        if source_type == "base64" and _str(block.get("data")) and mime:
            return "base64", block["data"], mime
        if source_type == "id" and _str(block.get("id")):
            return "file_id", block["id"], mime
        return None
    if _str(block.get("url")):
        return "url", block["url"], mime
    if _str(block.get("base64")) and mime:
        return "base64", block["base64"], mime
    if _str(block.get("file_id")):
        return "file_id", block["file_id"], mime
    return None


def _filename(block: Mapping[str, Any]) -> str | None:
    for holder in (block, block.get("extras"), block.get("metadata")):
        if isinstance(holder, Mapping):
            for key in ("filename", "title"):
                name = _str(holder.get(key))
                if name is not None:
                    return name
    return None


def _file_part(block: Mapping[str, Any], kind: str | None = None) -> dict[str, Any] | None:
    ref = _media_ref(block)
    if ref is None:
        return None
    where, value, mime = ref
    file: dict[str, Any] = {}
    if where == "base64":
        file["file_data"] = f"data:{mime};base64,{value}"
    else:
        file[where] = value
    name = _filename(block)
    if name is not None:
        file["filename"] = name
    if kind is not None:
        file["kind"] = kind
    return {"type": "file", "file": file}


def _image_part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind in ("image_url", "input_image"):
        ref = block.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        detail = ref.get("detail") if isinstance(ref, Mapping) else block.get("detail")
    else:
        found = _media_ref(block)
        if found is None or found[0] == "file_id":  # no chat API takes an image by file id
            return None
        url = found[1] if found[0] == "url" else f"data:{found[2]};base64,{found[1]}"
        detail = block.get("detail")
    if not _str(url):
        return None
    image: dict[str, Any] = {"url": url}
    if isinstance(detail, str):
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}


def _audio_part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    if block.get("type") == "input_audio":
        audio = block.get("input_audio")
        if isinstance(audio, Mapping) and _str(audio.get("data")) and _str(audio.get("format")):
            return {"type": "input_audio", "input_audio": {"data": audio["data"], "format": audio["format"]}}
        return None
    ref = _media_ref(block)
    if ref is not None and ref[0] == "base64" and ref[2] is not None:
        subtype = ref[2].partition("/")[2].partition(";")[0]
        return {"type": "input_audio", "input_audio": {"data": ref[1], "format": _AUDIO_FORMATS.get(subtype, subtype)}}
    return _file_part(block, "audio")


_AUDIO_FORMATS = {"mpeg": "mp3", "x-wav": "wav", "wave": "wav"}


def _neutral_part(block: Any) -> Any:
    """One LangChain content block as a neutral part (an ``unknown`` part when nothing else fits)."""
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, Mapping):
        return unknown_part(block)
    kind = block.get("type")
    part: dict[str, Any] | None = None
    if kind == "text" or (kind is None and "text" in block):
        if isinstance(block.get("text"), str):
            part = {"type": "text", "text": block["text"]}
    elif kind in ("image", "image_url", "input_image"):
        part = _image_part(block)
    elif kind in ("audio", "input_audio"):
        part = _audio_part(block)
    elif kind == "video":
        part = _file_part(block, "video")
    elif kind == "file":
        inner = block.get("file")
        if isinstance(inner, Mapping):  # OpenAI's own file part
            if _str(inner.get("file_data")) or _str(inner.get("file_id")) or _str(inner.get("url")):
                part = {"type": "file", "file": dict(inner)}
        elif block.get("source_type") == "text" and isinstance(block.get("text"), str):
            part = {"type": "text", "text": block["text"]}
        else:
            part = _file_part(block)
    elif kind == "text-plain":
        if isinstance(block.get("text"), str):
            part = {"type": "text", "text": block["text"]}
        else:
            part = _file_part({**block, "mime_type": block.get("mime_type") or "text/plain"})
    elif kind == "refusal" and isinstance(block.get("refusal"), str):
        part = {"type": "refusal", "refusal": block["refusal"]}
    return part if part is not None else unknown_part(dict(block))


def _tool_result_text(content: Any) -> Any:
    if isinstance(content, list):
        return neutral_content(content)
    return content


def _error_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)


def _lc_dict(message: BaseMessage) -> dict[str, Any]:
    return message_to_dict(message)


# ------------------------------------------------------------------------ to events
def message_to_event(
    message: BaseMessage,
    *,
    parent_event_id: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    task_id: str | None = None,
    event_id: str | None = None,
    duration_ms: float | None = None,
) -> SessionEvent:
    """Map one LangChain message to a neutral session event.

    Args:
        message: The message (chunks are stored as their non-chunk type).
        parent_event_id: For a ToolMessage: the event of the AI turn that asked for it.
        arguments: For a ToolMessage: the arguments of the call (from the AI turn).
        task_id: Run id to stamp on the event.
        event_id: Use this id instead of ``event_id_for(message)``.
        duration_ms: For a ToolMessage: how long the tool ran.

    Returns:
        The event, with the exact LangChain form in ``metadata["langchain"]``.

    Raises:
        InvalidSessionOperation: The message is a ``RemoveMessage`` (an instruction to
            a LangGraph reducer, not a message to store) or of an unknown kind.
    """
    if isinstance(message, RemoveMessage):
        raise InvalidSessionOperation(
            f"RemoveMessage(id={message.id!r}) is an instruction for LangGraph's add_messages reducer, "
            "not a message; use clear() or the store's replace_events to remove events"
        )
    if not isinstance(message, BaseMessage):
        raise InvalidSessionOperation(f"expected a LangChain BaseMessage, got {type(message).__name__}")
    plain = to_plain_message(message)
    meta = {LANGCHAIN_KEY: _lc_dict(plain)}
    eid = event_id or event_id_for(plain)

    if isinstance(plain, ToolMessage) and plain.tool_call_id:
        is_error = plain.status == "error"
        result = _tool_result_text(plain.content)
        return make_tool_call_event(
            plain.name or "",
            dict(arguments or {}),
            plain.tool_call_id,
            result=None if is_error else result,
            error=_error_text(result) if is_error else None,
            parent_event_id=parent_event_id,
            duration_ms=duration_ms,
            task_id=task_id,
            metadata=meta,
        )
    content = neutral_content(plain.content)
    if isinstance(plain, AIMessage):
        calls = [
            {"id": c.get("id") or "", "name": c["name"], "arguments": c.get("args") or {}} for c in plain.tool_calls
        ]
        return make_message_event(
            "assistant",
            content,
            tool_calls=calls or None,
            name=plain.name,
            event_id=eid,
            token_usage=usage_from_message(plain),
            task_id=task_id,
            metadata=meta,
        )
    if isinstance(plain, (HumanMessage, SystemMessage)):
        role = _ROLE_BY_TYPE[plain.type]
    elif isinstance(plain, ChatMessage):
        role = plain.role if plain.role in SOURCE_BY_ROLE and plain.role not in ("tool", "function") else "user"
    elif isinstance(plain, (ToolMessage, FunctionMessage)):
        role = "tool"
    else:
        raise InvalidSessionOperation(f"cannot store a LangChain message of type {type(plain).__name__}")
    event = make_message_event(role, content, name=plain.name, event_id=eid, task_id=task_id, metadata=meta)
    if role == "tool" and isinstance(plain, ToolMessage):
        event.message["tool_call_id"] = plain.tool_call_id
    return event


def messages_to_events(
    messages: Iterable[BaseMessage],
    *,
    task_id: str | None = None,
    known_calls: Mapping[str, AskedCall] | None = None,
    event_ids: Sequence[str | None] | None = None,
) -> list[SessionEvent]:
    """Map a sequence of messages to events, linking each ToolMessage to its AI turn.

    Args:
        messages: Messages in conversation order.
        task_id: Run id to stamp on every event.
        known_calls: Tool calls asked for before this batch
            (``a2a_session_manager.messages.tool_calls_of`` of the session's tail);
            calls found in the batch are added.
        event_ids: Per message, the event id to use instead of ``event_id_for`` (None
            keeps it); a ToolMessage with a ``tool_call_id`` always keeps ``tool:<id>``.

    Returns:
        One event per message, in the same order.
    """
    calls: dict[str, AskedCall] = dict(known_calls or {})
    events: list[SessionEvent] = []
    for index, message in enumerate(messages):
        plain = to_plain_message(message)
        if isinstance(plain, ToolMessage) and plain.tool_call_id:
            asked = calls.get(plain.tool_call_id)
            event = message_to_event(
                plain,
                parent_event_id=asked.event_id if asked else None,
                arguments=asked.arguments if asked else None,
                task_id=task_id,
            )
        else:
            event = message_to_event(plain, task_id=task_id, event_id=event_ids[index] if event_ids else None)
            if isinstance(plain, AIMessage):
                calls.update(tool_calls_of([event]))
        events.append(event)
    return events


# ---------------------------------------------------------------------- from events
_CLASS_BY_TYPE: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
    "chat": ChatMessage,
    "function": FunctionMessage,
}


def _from_stored(data: Any) -> BaseMessage | None:
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        return None
    fields = data["data"]
    cls = _CLASS_BY_TYPE.get(str(data.get("type")))
    if cls is not None and isinstance(fields.get("content"), (str, list)):
        # Written by message_to_event from a validated message: rebuilding without
        # re-validation halves the cost of reading a long history, and is exact.
        return cls.model_construct(**fields)
    try:
        return messages_from_dict([data])[0]
    except (ValueError, TypeError, KeyError):
        return None


def event_to_message(event: SessionEvent) -> BaseMessage | None:
    """Rebuild a LangChain message from an event, or None when it is not a chat message.

    Uses ``metadata["langchain"]`` when present (exact); otherwise the neutral fields:
    user/assistant/system MESSAGE events (tool calls become ``AIMessage.tool_calls``),
    TOOL_CALL events (a ``ToolMessage``, ``status="error"`` for an error), and
    SUMMARY / CONTEXT_BRIDGE events (a ``SystemMessage``). Events written by other
    frameworks keep their event id as the message id.

    Args:
        event: The event.

    Returns:
        The message, or None (REFERENCE events, TOOL_CALL events without a call id).
    """
    stored = _from_stored(event.metadata.get(LANGCHAIN_KEY))
    if stored is not None:
        return stored
    turn = view(event)
    role = turn.role
    if role is None:
        return None
    if turn.kind == EventType.TOOL_CALL:
        if turn.tool_call_id is None:
            return None
        return ToolMessage(
            content=turn.text if turn.is_error else _tool_content(turn.result),
            tool_call_id=turn.tool_call_id,
            name=turn.name,
            status="error" if turn.is_error else "success",
            id=event.id,
        )
    if turn.kind != EventType.MESSAGE:
        return SystemMessage(content=turn.text, id=event.id)
    content: Any = turn.content
    if content is None:
        content = ""
    elif isinstance(content, list):
        # An unknown part holds the block as a framework gave it: hand that block back.
        content = [
            p["block"] if isinstance(p, dict) and p.get("type") == UNKNOWN_PART and "block" in p else p for p in content
        ]
    name = turn.name
    usage = _lc_usage(event.token_usage)
    if role == "assistant":
        return AIMessage(
            content=content,
            tool_calls=[
                {"id": c.id or None, "name": c.name, "args": c.arguments, "type": "tool_call"} for c in turn.tool_calls
            ],
            name=name,
            id=event.id,
            usage_metadata=usage,
            response_metadata={"model_name": event.token_usage.model} if event.token_usage else {},
        )
    if role == "system":
        return SystemMessage(content=content, name=name, id=event.id)
    if role == "tool" and turn.is_structured:
        return ToolMessage(content=content, tool_call_id=turn.tool_call_id or "", id=event.id)
    return HumanMessage(content=content, name=name, id=event.id)


def _tool_content(result: Any) -> str | list[Any]:
    if isinstance(result, (str, list)):
        return result
    if result is None:
        return ""
    return json.dumps(result, ensure_ascii=False, default=str)


def _lc_usage(usage: TokenUsage | None) -> Any:
    if usage is None:
        return None
    out: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_prompt_tokens:
        out["input_token_details"] = {"cache_read": usage.cached_prompt_tokens}
    if usage.reasoning_tokens:
        out["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    return out


def lines_to_messages(
    rows: Sequence[tuple[int, str]], decode: Callable[[list[tuple[int, str]]], list[SessionEvent]]
) -> list[BaseMessage]:
    """Rebuild the LangChain messages of stored event lines (`SessionStore.get_event_lines`).

    A line this adapter wrote is rebuilt from its ``metadata["langchain"]`` alone, without
    validating a ``SessionEvent``; other lines go through ``decode`` and
    `event_to_message` (``a2a_session_manager.messages.rebuild_from_lines``).

    Args:
        rows: ``(seq, JSON text)`` pairs in order.
        decode: Validates rows into events (the store's ``decode_event_lines``).

    Returns:
        The messages, in order (non-messages skipped).
    """
    return rebuild_from_lines(
        rows, metadata_key=LANGCHAIN_KEY, from_stored=_from_stored, from_event=event_to_message, decode=decode
    )


def events_to_messages(events: Sequence[SessionEvent]) -> list[BaseMessage]:
    """Rebuild the LangChain messages of a sequence of events (non-messages are skipped).

    Args:
        events: Events in order.

    Returns:
        The messages, in order.
    """
    out: list[BaseMessage] = []
    for event in events:
        message = event_to_message(event)
        if message is not None:
            out.append(message)
    return out
