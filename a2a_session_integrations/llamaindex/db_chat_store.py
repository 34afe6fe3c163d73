"""``SessionDBChatStore``: LlamaIndex's ``AsyncDBChatStore`` (the backend of ``Memory``) on our stores.

Message status without rewriting the session: archiving is a boundary, one small
record per session (kind ``llamaindex``, key ``archived``) holding the position of the
first event that is still active, so ``archive_oldest_messages`` reads only the
events it archives and writes one record. A message added with
``status=ARCHIVED`` after active ones is flagged in its event's
``metadata["llamaindex_status"]``. ``delete_message``, ``delete_oldest_messages``
and ``delete_messages(status=...)`` remove events, which rewrites the session's
events atomically (``replace_events``, O(n)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.exceptions import CorruptSessionError
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore, resolve
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from pydantic import ConfigDict, Field

from a2a_session_integrations.llamaindex import _convert
from a2a_session_integrations.llamaindex._writes import aevents_to_append

__all__ = ["SessionDBChatStore"]

RECORD_KIND = "llamaindex"
BOUNDARY_KEY = "archived"
STATUS_KEY = "llamaindex_status"


def _is_archived(position: int, boundary: int, event: SessionEvent) -> bool:
    return position < boundary or event.metadata.get(STATUS_KEY) == MessageStatus.ARCHIVED.value


class SessionDBChatStore(AsyncDBChatStore):
    """An ``AsyncDBChatStore`` whose keys are sessions of any of our stores.

    ``Memory.from_defaults(session_id=..., chat_store=SessionDBChatStore(store))``
    runs LlamaIndex's recommended memory (memory blocks, archiving) on the file,
    SQLite, Redis or in-memory store. Every method is native async (the store's
    ``a*`` methods). Messages are events in the neutral format, readable by LangChain
    and the core; archived messages stay in the session.

    Args:
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(default=None, exclude=True)

    def __init__(self, store: SessionStore | None = None, **kwargs: Any) -> None:
        super().__init__(store=store, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing the component."""
        return "SessionDBChatStore"

    @property
    def _store(self) -> SessionStore:
        """The store to use now (the provider's default when none was given)."""
        given: SessionStore | None = self.store
        return resolve(given)

    # -------------------------------------------------------------------- helpers
    async def _boundary(self, sid: str) -> int:
        raw = await self._store.aget_record(sid, RECORD_KIND, BOUNDARY_KEY)
        if raw is None:
            return 0
        try:
            return max(int(raw.decode("ascii")), 0)
        except ValueError:
            raise CorruptSessionError(
                f"session {sid!r}: record {RECORD_KIND}/{BOUNDARY_KEY} is not an int ({raw[:40]!r}); "
                "delete the record to make every message active",
                session_id=sid,
            ) from None

    async def _set_boundary(self, sid: str, boundary: int) -> None:
        if boundary <= 0:
            await self._store.adelete_records(sid, RECORD_KIND, [BOUNDARY_KEY])
        else:
            await self._store.aput_record(sid, RECORD_KIND, BOUNDARY_KEY, str(boundary).encode("ascii"))

    async def _rows(
        self, sid: str, status: MessageStatus | None
    ) -> tuple[list[SessionEvent], int, list[tuple[int, ChatMessage]]]:
        """All events, the boundary, and ``(position, message)`` of the messages with ``status``."""
        boundary = await self._boundary(sid)
        start = boundary if status == MessageStatus.ACTIVE else 0
        events = await self._store.aget_events(sid, start=start)
        out: list[tuple[int, ChatMessage]] = []
        for offset, event in enumerate(events):
            position = start + offset
            message = _convert.event_to_message(event)
            if message is None:
                continue
            archived = _is_archived(position, boundary, event)
            if status is None or (status == MessageStatus.ARCHIVED) == archived:
                out.append((position, message))
        return events, boundary, out

    async def _events_for(self, sid: str, messages: Sequence[ChatMessage], status: MessageStatus) -> list[SessionEvent]:
        events = await aevents_to_append(self._store, sid, messages)
        if status == MessageStatus.ARCHIVED:
            for event in events:
                event.metadata[STATUS_KEY] = MessageStatus.ARCHIVED.value
        return events

    # ------------------------------------------------------------------- reading
    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        """Messages of a session with ``status`` (None: all), oldest first.

        Active messages are read from the archive boundary on, so their cost does not
        grow with the archived history.

        Args:
            key: The session id.
            status: ``ACTIVE``, ``ARCHIVED`` or None for both.
            limit: At most this many.
            offset: Skip this many first.
        """
        sid = check_session_id(key)
        _, _, rows = await self._rows(sid, status)
        messages = [m for _, m in rows]
        start = offset or 0
        return messages[start : None if limit is None else start + limit]

    async def count_messages(self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE) -> int:
        """How many messages of a session have ``status`` (None: all).

        Args:
            key: The session id.
            status: ``ACTIVE``, ``ARCHIVED`` or None.
        """
        sid = check_session_id(key)
        _, _, rows = await self._rows(sid, status)
        return len(rows)

    async def get_keys(self) -> list[str]:
        """Every session id of the store."""
        return await self._store.alist_sessions()

    # ------------------------------------------------------------------- writing
    async def add_message(self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE) -> None:
        """Append one message (one event).

        Args:
            key: The session id.
            message: The message.
            status: Its status.
        """
        await self.add_messages(key, [message], status)

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append messages in one store call (an empty list is a no-op).

        Args:
            key: The session id.
            messages: The messages, in order.
            status: Their status.
        """
        sid = check_session_id(key)
        if not messages:
            return
        await self._store.aappend_events(sid, await self._events_for(sid, messages, MessageStatus(status)))

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Replace every message of the session with these (atomic).

        Args:
            key: The session id.
            messages: The messages, in order.
            status: Their status.
        """
        sid = check_session_id(key)
        events = await self._events_for(sid, messages, MessageStatus(status))
        await self._store.areplace_events(sid, events)
        await self._set_boundary(sid, 0)

    # ------------------------------------------------------------------ deleting
    async def _remove(self, sid: str, events: list[SessionEvent], boundary: int, drop: set[int]) -> None:
        kept = [e for i, e in enumerate(events) if i not in drop]
        new_boundary = boundary - sum(1 for i in drop if i < boundary)
        await self._store.areplace_events(sid, kept)
        await self._set_boundary(sid, new_boundary)

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at position ``idx`` among all the session's messages.

        Args:
            key: The session id.
            idx: Position (0-based, archived messages included; negative from the end).

        Returns:
            The deleted message, or None.
        """
        sid = check_session_id(key)
        events, boundary, rows = await self._rows(sid, None)
        if not isinstance(idx, int) or isinstance(idx, bool) or not -len(rows) <= idx < len(rows):
            return None
        position, message = rows[idx]
        await self._remove(sid, events, boundary, {position})
        return message

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Delete the session's messages with ``status`` (None: all events of the session).

        Args:
            key: The session id.
            status: ``ACTIVE``, ``ARCHIVED`` or None.
        """
        sid = check_session_id(key)
        if status is None:
            await self._store.aclear_events(sid)
            await self._set_boundary(sid, 0)
            return
        events, boundary, rows = await self._rows(sid, None)
        archived = {p for p, _ in rows if _is_archived(p, boundary, events[p])}
        drop = archived if status == MessageStatus.ARCHIVED else {p for p, _ in rows} - archived
        if drop:
            await self._remove(sid, events, boundary, drop)

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Delete the ``n`` oldest active messages and return them.

        Args:
            key: The session id.
            n: How many.
        """
        sid = check_session_id(key)
        events, boundary, rows = await self._rows(sid, None)
        active = [(p, m) for p, m in rows if not _is_archived(p, boundary, events[p])][: max(n, 0)]
        if active:
            await self._remove(sid, events, boundary, {p for p, _ in active})
        return [m for _, m in active]

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Archive the ``n`` oldest active messages and return them (no event is rewritten).

        Moves the archive boundary past them: one record write.

        Args:
            key: The session id.
            n: How many.
        """
        sid = check_session_id(key)
        if n <= 0:
            return []
        boundary = await self._boundary(sid)
        taken: list[ChatMessage] = []
        new_boundary = boundary
        chunk = max(2 * n, 16)
        start = boundary
        while len(taken) < n:
            events = await self._store.aget_events(sid, start=start, end=start + chunk)
            if not events:
                break
            for offset, event in enumerate(events):
                message = _convert.event_to_message(event)
                new_boundary = start + offset + 1
                if message is not None and event.metadata.get(STATUS_KEY) != MessageStatus.ARCHIVED.value:
                    taken.append(message)
                    if len(taken) == n:
                        break
            start += len(events)
        if new_boundary != boundary:
            await self._set_boundary(sid, new_boundary)
        return taken
