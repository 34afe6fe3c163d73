"""``export_events``: a session's messages in LangChain's own dict form (the CLI's ``--format langchain``)."""

from __future__ import annotations

from typing import Any

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.storage import SessionStore
from langchain_core.messages import messages_to_dict

from a2a_session_integrations.langchain._convert import lines_to_messages

__all__ = ["export_events"]


def export_events(store: SessionStore, session_id: str) -> list[dict[str, Any]]:
    """A session's chat messages as LangChain ``messages_to_dict`` dicts, oldest first.

    ``langchain_core.messages.messages_from_dict`` of the result gives back the
    messages ``SessionChatMessageHistory(session_id, store).messages`` reads (events
    that are not chat messages are left out). One store read.

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
    sid = check_session_id(session_id)
    rows = store.get_event_lines(sid)
    messages = lines_to_messages(rows, lambda bad: store.decode_event_lines(sid, bad))
    exported: list[dict[str, Any]] = messages_to_dict(messages)
    return exported
