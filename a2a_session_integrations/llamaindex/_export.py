"""``export_events``: a session's messages as LlamaIndex ``ChatMessage`` dicts (the CLI's ``--format llamaindex``)."""

from __future__ import annotations

from typing import Any

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.storage import SessionStore

from a2a_session_integrations.llamaindex._convert import read_messages

__all__ = ["export_events"]


def export_events(store: SessionStore, session_id: str) -> list[dict[str, Any]]:
    """A session's chat messages as ``ChatMessage.model_dump(mode="json")`` dicts, oldest first.

    ``ChatMessage.model_validate`` of each dict gives back the message
    ``SessionChatStore(store).get_messages(session_id)`` reads (events that are not
    chat messages are left out). One store read.

    Args:
        store: The store holding the session.
        session_id: The session.

    Returns:
        One dict per message (empty for an unknown session).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
        CorruptSessionError: Stored data is unreadable.
        StorageError: The backend failed.
    """
    return [m.model_dump(mode="json") for m in read_messages(store, check_session_id(session_id))]
