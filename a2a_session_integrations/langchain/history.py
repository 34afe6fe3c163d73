"""``SessionChatMessageHistory``: a LangChain chat history over any session store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

from a2a_session_manager._ids import check_session_id, new_id
from a2a_session_manager.messages import PARENT_LOOKBACK, AskedCall, needs_parent_lookup, tool_calls_of
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore, resolve
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from a2a_session_integrations.langchain import _convert
from a2a_session_integrations.langchain.callbacks import current_task_id, next_tick, replies

__all__ = ["SessionChatMessageHistory", "history_factory"]


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        # surrogatepass: an id is still derived from text the store will refuse with a typed error
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def _turn_id(anchor: str, index: int, message: BaseMessage) -> str:
    """Event id of a message without an id: what this history wrote before, its place, its content."""
    content = message.content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
    calls = ""
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = json.dumps(message.tool_calls, ensure_ascii=False, default=str)
    return _digest(anchor, str(index), message.type, text, calls)


class SessionChatMessageHistory(BaseChatMessageHistory):
    """A LangChain chat history whose messages are events of a session in our store.

    Each message is one event in the neutral format (see ``_convert``), so the core,
    the LlamaIndex adapter and LangChain read the same session. Messages read back
    equal to what was added: type, content (blocks too), id, name, tool calls,
    ``tool_call_id``, ``additional_kwargs``, ``response_metadata`` and
    ``usage_metadata``; chunks come back as their non-chunk type.

    A message with an ``id`` is stored once however often it is added (the id is the
    event's idempotency key). A message without an id is not modified (it reads back
    without an id, equal to what went in) and its event gets a deterministic id: a hash
    of what this history object has written before (a chain that starts from a value
    unique to the object), the message's index in the batch, its type, content and tool
    calls. So a retried ``add_messages`` on the same object, e.g. after a timeout whose
    write was in fact applied, stores nothing twice, while the same text added again in
    a later turn, or by another history object, is a new message. A retry through a new
    history object is a new write: keep the object (or give messages ids) to retry.

    Used with a ``SessionCallbackHandler`` on the same session and store, every model
    reply is stored once, also when an output parser (``StrOutputParser``,
    ``JsonOutputParser``) hands the history a new ``AIMessage`` without the reply's id:
    an id-less AI message without tool calls takes the place of the reply the handler
    recorded in the run the history writes in (``RunnableWithMessageHistory``) or since
    this object last read or wrote the session (``chain.invoke`` then ``add_messages``),
    latest with latest. What is stored is then the model's own message, with its id and
    usage (counted once), and the handler's run id as ``task_id``; the history's writes
    inside a handler's run carry that run's id too. The pairing lives in this process
    (see ``callbacks.ReplyLedger``). Add the user's message before calling the model
    (``add_user_message``, then ``invoke``, then ``add_messages([reply])``), or use
    ``RunnableWithMessageHistory``, to keep the question before the answer: the handler
    writes a reply when its run ends, so a question added after the run follows it.

    An AI message's ``usage_metadata`` becomes the event's token usage (priced from the
    core's table).

    Example:
        ``RunnableWithMessageHistory(chain, history_factory(store), ...)`` or
        ``SessionChatMessageHistory("chat-1", store=store).add_user_message("hi")``.

    Args:
        session_id: The session's id (created on first write).
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    def __init__(self, session_id: str, store: SessionStore | None = None) -> None:
        self.session_id = check_session_id(session_id)
        self._given = store
        # What this object wrote so far, as a hash chain: ids of id-less messages derive from it.
        self._anchor = new_id()
        # When this object last read or wrote: handler replies after it may be paired with its AI messages.
        self._since = next_tick()

    @property
    def store(self) -> SessionStore:
        """The store this history reads and writes (the provider's default now, if none was given)."""
        return resolve(self._given)

    # ------------------------------------------------------------------ reading
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first (one store read; see ``_convert.lines_to_messages``).

        Raises:
            CorruptSessionError: Stored data is unreadable.
            StorageError: The backend failed.
        """
        store = self.store
        rows = store.get_event_lines(self.session_id)
        self._saw()
        return _convert.lines_to_messages(rows, lambda bad: store.decode_event_lines(self.session_id, bad))

    async def aget_messages(self) -> list[BaseMessage]:
        """Async twin of `messages` (native: the store's ``aget_event_lines``).

        Returns:
            The session's messages, oldest first.
        """
        store = self.store
        rows = await store.aget_event_lines(self.session_id)
        self._saw()
        return _convert.lines_to_messages(rows, lambda bad: store.decode_event_lines(self.session_id, bad))

    # ------------------------------------------------------------------ writing
    def _saw(self) -> None:
        self._since = next_tick()

    def _wrote(self, events: list[SessionEvent]) -> None:
        self._anchor = _digest(self._anchor, events[-1].id)
        self._saw()

    def _ids(self, messages: Sequence[BaseMessage]) -> list[str | None]:
        return [
            None if m.id or (isinstance(m, ToolMessage) and m.tool_call_id) else _turn_id(self._anchor, i, m)
            for i, m in enumerate(messages)
        ]

    def _claim(
        self,
        store: SessionStore,
        messages: Sequence[BaseMessage],
        ids: list[str | None],
        events: list[SessionEvent],
        task_id: str | None,
    ) -> list[SessionEvent]:
        """Put the replies a handler recorded in place of id-less AI messages an output parser made."""
        if not replies.has(store, self.session_id):
            return events
        loose = [
            (i, key)
            for i, (key, m) in enumerate(zip(ids, messages, strict=True))
            if key is not None and isinstance(m, AIMessage) and not m.tool_calls
        ]
        keys = [key for _, key in loose]
        claimed = replies.claim(store, self.session_id, keys, since=self._since, task_id=task_id)
        for i, key in loose:
            if key in claimed:
                events[i] = claimed[key]
        return events

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Add messages in one store call (``append_events``: one round trip, all or nothing).

        A ToolMessage whose AI turn is not in the batch is linked to it through the
        session's last ``PARENT_LOOKBACK`` events (one more read, only then).

        Args:
            messages: The messages, in order.

        Raises:
            InvalidSessionOperation: A message cannot be stored (e.g. ``RemoveMessage``).
            StorageError: The backend failed.
        """
        if not messages:
            return
        store = self.store
        task_id = current_task_id(self.session_id, store)
        ids = self._ids(messages)
        events = self._convert(messages, task_id, ids, None)
        if needs_parent_lookup(events):
            tail = store.get_events(self.session_id, last_n=PARENT_LOOKBACK)
            events = self._convert(messages, task_id, ids, tool_calls_of(tail))
        events = self._claim(store, messages, ids, events, task_id)
        store.append_events(self.session_id, events)
        self._wrote(events)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async twin of `add_messages` (native: the store's ``aappend_events``).

        Args:
            messages: The messages, in order.
        """
        if not messages:
            return
        store = self.store
        task_id = current_task_id(self.session_id, store)
        ids = self._ids(messages)
        events = self._convert(messages, task_id, ids, None)
        if needs_parent_lookup(events):
            tail = await store.aget_events(self.session_id, last_n=PARENT_LOOKBACK)
            events = self._convert(messages, task_id, ids, tool_calls_of(tail))
        events = self._claim(store, messages, ids, events, task_id)
        await store.aappend_events(self.session_id, events)
        self._wrote(events)

    @staticmethod
    def _convert(
        messages: Sequence[BaseMessage],
        task_id: str | None,
        ids: list[str | None],
        known: dict[str, AskedCall] | None,
    ) -> list[SessionEvent]:
        return _convert.messages_to_events(messages, task_id=task_id, known_calls=known, event_ids=ids)

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
