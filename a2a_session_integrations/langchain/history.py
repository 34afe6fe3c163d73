"""``SessionChatMessageHistory``: a LangChain chat history over any session store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore, SessionStoreProvider
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from a2a_session_integrations.langchain import _convert

__all__ = ["SessionChatMessageHistory", "history_factory"]

_PARENT_LOOKBACK = 64
"""How many trailing events to search for the AI turn of a ToolMessage added alone."""


class SessionChatMessageHistory(BaseChatMessageHistory):
    """A LangChain chat history whose messages are events of a session in our store.

    Each message is one event in the neutral format (see ``_convert``), so the core,
    the LlamaIndex adapter and LangChain read the same session. Messages read back
    equal to what was added: type, content (blocks too), id, name, tool calls,
    ``tool_call_id``, ``additional_kwargs``, ``response_metadata`` and
    ``usage_metadata``; chunks come back as their non-chunk type.

    A message with an ``id`` is stored once however often it is added (the id is the
    event's idempotency key). A message without an id gets a fresh event id and is
    not modified, so it reads back without an id, equal to what went in. An AI
    message's ``usage_metadata`` becomes the event's token usage (priced from the
    core's table). When a ``SessionCallbackHandler`` for the same session and store is
    active in the current LangChain run, the events carry its run's id as ``task_id``.

    Example:
        ``RunnableWithMessageHistory(chain, history_factory(store), ...)`` or
        ``SessionChatMessageHistory("chat-1", store=store).add_user_message("hi")``.

    Args:
        session_id: The session's id (created on first write).
        store: Any SessionStore; None uses ``SessionStoreProvider.get_store()``.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    def __init__(self, session_id: str, store: SessionStore | None = None) -> None:
        self.session_id = check_session_id(session_id)
        self.store = store if store is not None else SessionStoreProvider.get_store()

    # ------------------------------------------------------------------ reading
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first (one store read; see ``_convert.lines_to_messages``).

        Raises:
            CorruptSessionError: Stored data is unreadable.
            StorageError: The backend failed.
        """
        rows = self.store.get_event_lines(self.session_id)
        return _convert.lines_to_messages(rows, lambda bad: self.store.decode_event_lines(self.session_id, bad))

    async def aget_messages(self) -> list[BaseMessage]:
        """Async twin of `messages` (native: the store's ``aget_events``).

        Returns:
            The session's messages, oldest first.
        """
        rows = await self.store.aget_event_lines(self.session_id)
        return _convert.lines_to_messages(rows, lambda bad: self.store.decode_event_lines(self.session_id, bad))

    # ------------------------------------------------------------------ writing
    def _events(self, messages: Sequence[BaseMessage], tail: list[SessionEvent] | None) -> list[SessionEvent]:
        from a2a_session_integrations.langchain.callbacks import current_task_id

        known = _convert.tool_calls_of(tail) if tail else None
        return _convert.messages_to_events(
            messages, task_id=current_task_id(self.session_id, self.store), known_calls=known
        )

    def _needs_tail(self, messages: Sequence[BaseMessage]) -> bool:
        """True when a ToolMessage's AI turn is not in the batch (its parent must be looked up)."""
        asked: set[str] = set()
        for message in messages:
            # isinstance first: getattr on a pydantic message without the field raises inside.
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    if call.get("id"):
                        asked.add(str(call["id"]))
            elif isinstance(message, ToolMessage) and message.tool_call_id and message.tool_call_id not in asked:
                return True
        return False

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Add messages in one store call (``append_events``: one round trip, all or nothing).

        Args:
            messages: The messages, in order.

        Raises:
            InvalidSessionOperation: A message cannot be stored (e.g. ``RemoveMessage``).
            StorageError: The backend failed.
        """
        if not messages:
            return
        tail = self.store.get_events(self.session_id, last_n=_PARENT_LOOKBACK) if self._needs_tail(messages) else None
        self.store.append_events(self.session_id, self._events(messages, tail))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async twin of `add_messages` (native: the store's ``aappend_events``).

        Args:
            messages: The messages, in order.
        """
        if not messages:
            return
        tail = None
        if self._needs_tail(messages):
            tail = await self.store.aget_events(self.session_id, last_n=_PARENT_LOOKBACK)
        await self.store.aappend_events(self.session_id, self._events(messages, tail))

    def add_message(self, message: BaseMessage) -> None:
        """Add one message.

        Args:
            message: The message.
        """
        self.add_messages([message])

    def clear(self) -> None:
        """Remove every event of the session (the session itself, its runs and records stay)."""
        self.store.clear_events(self.session_id)

    async def aclear(self) -> None:
        """Async twin of `clear`."""
        await self.store.aclear_events(self.session_id)

    def __repr__(self) -> str:
        return f"SessionChatMessageHistory(session_id={self.session_id!r}, store={type(self.store).__name__})"


def history_factory(store: SessionStore | None = None) -> Callable[[str], SessionChatMessageHistory]:
    """Return a ``get_session_history`` callable for ``RunnableWithMessageHistory``.

    Args:
        store: The store every history uses (None: the provider's default at call time).

    Returns:
        ``f(session_id) -> SessionChatMessageHistory``.
    """

    def get_session_history(session_id: str) -> SessionChatMessageHistory:
        return SessionChatMessageHistory(session_id, store=store)

    return get_session_history
