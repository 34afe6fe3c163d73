"""``SessionChatStore``: a LlamaIndex ``BaseChatStore`` whose keys are sessions of our stores.

How messages become events (tool results linked, handler records adopted) lives in
``_writes``; the names ``prepare_events``, ``write_messages`` and ``awrite_messages``
stay importable from here for the adapters that still do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore, resolve
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore
from pydantic import ConfigDict, Field

from a2a_session_integrations.llamaindex import _convert
from a2a_session_integrations.llamaindex._writes import (
    awrite_messages,
    message_positions,
    prepare_events,
    write_messages,
)

# prepare_events, write_messages and awrite_messages stay importable from here (memory.py does).
__all__ = ["SessionChatStore"]


def _without(events: Sequence[SessionEvent], position: int) -> list[SessionEvent]:
    return [e for i, e in enumerate(events) if i != position]


def _pick(positions: list[tuple[int, ChatMessage]], idx: int) -> tuple[int, ChatMessage] | None:
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise TypeError(f"message index must be an int, not {type(idx).__name__}")
    if idx >= len(positions) or idx < -len(positions):
        return None
    return positions[idx]


class SessionChatStore(BaseChatStore):
    """A LlamaIndex chat store on any session store: one key is one session.

    Each message is one event in the neutral format, so LangChain and the core read
    the same sessions, and messages read back equal (role, blocks, ``additional_kwargs``).
    ``add_message`` appends one event (cost independent of the session's length);
    ``set_messages``, ``delete_message`` and ``delete_last_message`` rewrite the
    session's events atomically (``replace_events``, O(n)); ``delete_messages``
    deletes the session (events, runs and records), as LlamaIndex's stores drop the
    key. ``get_keys`` lists every session of the store. The async methods are native
    (the store's ``a*`` methods: Redis is asynchronous, file and SQLite run in a worker
    thread), so none blocks the event loop.

    Args:
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).

    Raises:
        InvalidSessionIdError: From every method, for a key that is not a valid session id.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(
        default=None,
        exclude=True,
        description="The SessionStore (None: the default at each call).",
    )

    def __init__(self, store: SessionStore | None = None, **kwargs: Any) -> None:
        super().__init__(store=store, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing the component."""
        return "SessionChatStore"

    @property
    def _store(self) -> SessionStore:
        """The store to use now (the provider's default when none was given)."""
        given: SessionStore | None = self.store
        return resolve(given)

    # ------------------------------------------------------------------ set / get
    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the session's events with these messages (atomic).

        Args:
            key: The session id.
            messages: The messages, in order.
        """
        sid = check_session_id(key)
        self._store.replace_events(sid, prepare_events(self._store, sid, messages, None))

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async twin of `set_messages`."""
        sid = check_session_id(key)
        await self._store.areplace_events(sid, prepare_events(self._store, sid, messages, None))

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The session's messages, oldest first (empty for an unknown session).

        Args:
            key: The session id.
        """
        return _convert.read_messages(self._store, check_session_id(key))

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async twin of `get_messages`."""
        return await _convert.aread_messages(self._store, check_session_id(key))

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append one message (one event; a tool result is linked to its asking turn).

        Args:
            key: The session id.
            message: The message.
            idx: Must be None (inserting in the middle would rewrite the session).

        Raises:
            NotImplementedError: ``idx`` was given.
        """
        self._check_idx(idx)
        write_messages(self._store, check_session_id(key), [message])

    async def async_add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Async twin of `add_message` (LlamaIndex's name for it)."""
        self._check_idx(idx)
        await awrite_messages(self._store, check_session_id(key), [message])

    async def aadd_message(self, key: str, message: ChatMessage) -> None:
        """Async twin of `add_message` (our naming rule; same as ``async_add_message``)."""
        await awrite_messages(self._store, check_session_id(key), [message])

    def add_messages(self, key: str, messages: Sequence[ChatMessage]) -> None:
        """Append several messages in one store call (all or nothing).

        Args:
            key: The session id.
            messages: The messages, in order.
        """
        write_messages(self._store, check_session_id(key), list(messages))

    async def aadd_messages(self, key: str, messages: Sequence[ChatMessage]) -> None:
        """Async twin of `add_messages`."""
        await awrite_messages(self._store, check_session_id(key), list(messages))

    @staticmethod
    def _check_idx(idx: int | None) -> None:
        if idx is not None:
            raise NotImplementedError(
                "SessionChatStore appends only; to insert at a position, read the messages, "
                "edit the list and call set_messages"
            )

    # -------------------------------------------------------------------- delete
    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete the session (its events, runs and records) and return its messages.

        Args:
            key: The session id.

        Returns:
            The messages it held, or None when the session did not exist.
        """
        sid = check_session_id(key)
        session = self._store.get(sid)
        if session is None:
            return None
        self._store.delete(sid)
        return _convert.events_to_messages(session.events)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async twin of `delete_messages`."""
        sid = check_session_id(key)
        session = await self._store.aget(sid)
        if session is None:
            return None
        await self._store.adelete(sid)
        return _convert.events_to_messages(session.events)

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position ``idx`` (rewrites the events atomically).

        Args:
            key: The session id.
            idx: Position among the session's messages (negative counts from the end).

        Returns:
            The deleted message, or None when there is no such position.
        """
        sid = check_session_id(key)
        events = self._store.get_events(sid)
        picked = _pick(message_positions(events), idx)
        if picked is None:
            return None
        self._store.replace_events(sid, _without(events, picked[0]))
        return picked[1]

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async twin of `delete_message`."""
        sid = check_session_id(key)
        events = await self._store.aget_events(sid)
        picked = _pick(message_positions(events), idx)
        if picked is None:
            return None
        await self._store.areplace_events(sid, _without(events, picked[0]))
        return picked[1]

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete the last message.

        Args:
            key: The session id.

        Returns:
            The deleted message, or None when the session has none.
        """
        return self.delete_message(key, -1)

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async twin of `delete_last_message`."""
        return await self.adelete_message(key, -1)

    # ---------------------------------------------------------------------- keys
    def get_keys(self) -> list[str]:
        """Every session id of the store (a SCAN on Redis, never ``KEYS``)."""
        return self._store.list_sessions()

    async def aget_keys(self) -> list[str]:
        """Async twin of `get_keys`."""
        return await self._store.alist_sessions()

    def __repr__(self) -> str:
        return f"SessionChatStore(store={type(self._store).__name__})"
