"""One event of a session: a message, a tool call, a summary, a reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from a2a_session_manager._ids import new_id
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_metadata import utc_now
from a2a_session_manager.models.token_usage import TokenUsage

__all__ = ["SessionEvent"]


class SessionEvent(BaseModel):
    """An event in a session's log.

    ``message`` is any JSON value: a str (0.1.3's form), or a dict in the neutral
    format (``{"role", "content", "tool_calls"?}`` for messages, ``{"name", "arguments",
    "result" | "error", "tool_call_id"}`` for tool calls). ``id`` is an idempotency key:
    a store keeps one event per id. ``seq`` is the event's position in its session,
    set by the store (or by ``Session.add_event``).
    """

    # Python's json writes NaN/Infinity and every reader here accepts them; pydantic's
    # default would store null, silently changing the value.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str = Field(default_factory=new_id)
    timestamp: datetime = Field(default_factory=utc_now)
    message: Any = None
    task_id: str | None = None
    type: EventType = EventType.MESSAGE
    source: EventSource = EventSource.LLM
    metadata: dict[str, Any] = Field(default_factory=dict)
    token_usage: TokenUsage | None = None
    seq: int | None = None

    # The neutral form parsed once (``models.neutral.view``) and the prompt-token counts
    # per encoding (``messages.event_token_count``), in one entry; never serialized.
    _view: Any = PrivateAttr(default=None)

    @classmethod
    def create_with_tokens(
        cls,
        message: Any,
        prompt: str,
        completion: str | None = None,
        model: str = "gpt-3.5-turbo",
        source: EventSource = EventSource.LLM,
        type: EventType = EventType.MESSAGE,
        **kwargs: Any,
    ) -> SessionEvent:
        """Create an event whose usage is counted from the prompt and completion texts.

        Args:
            message: The event's message.
            prompt: Input text sent to the model.
            completion: Text the model produced.
            model: Model name (tokenizer and price).
            source: Producer of the event.
            type: Kind of the event.
            **kwargs: Other SessionEvent fields (``task_id``, ``metadata``, ``id``).

        Returns:
            The event with ``token_usage`` set.

        Raises:
            InvalidDataError: ``model`` is not a str, or ``prompt``/``completion`` is not text.
        """
        usage = TokenUsage.from_text(prompt, completion, model)
        return cls(message=message, source=source, type=type, token_usage=usage, **kwargs)

    def update_token_usage(
        self,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        model: str | None = None,
    ) -> None:
        """Set or replace the provider-reported token usage of this event.

        Args:
            prompt_tokens: Input tokens.
            completion_tokens: Output tokens.
            model: Model name (keeps the current one when None).
        """
        current = self.token_usage or TokenUsage()
        self.token_usage = TokenUsage(
            prompt_tokens=current.prompt_tokens if prompt_tokens is None else prompt_tokens,
            completion_tokens=current.completion_tokens if completion_tokens is None else completion_tokens,
            model=current.model if model is None else model,
            origin="reported",
        )

    def set_metadata(self, key: str, value: Any) -> None:
        """Set one metadata entry.

        Args:
            key: Entry name.
            value: Any JSON value.
        """
        self.metadata[key] = value

    def get_metadata(self, key: str, default: Any = None) -> Any:
        """Return one metadata entry.

        Args:
            key: Entry name.
            default: Returned when missing.

        Returns:
            The value.
        """
        return self.metadata.get(key, default)

    def __repr__(self) -> str:
        text = repr(self.message)
        if len(text) > 60:
            text = text[:57] + "..."
        return f"SessionEvent(id={self.id!r}, type={self.type.value}, source={self.source.value}, message={text})"
