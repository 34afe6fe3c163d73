"""LlamaIndex adapter: memory, chat stores and instrumentation over our session stores.

- ``SessionMemory``: a ``BaseMemory`` for agents (``await agent.run(msg, memory=...)``)
  and chat engines, budgeted by the core's prompt strategies.
- ``SessionChatStore``: a ``BaseChatStore`` (key = session id).
- ``SessionDBChatStore``: an ``AsyncDBChatStore`` for LlamaIndex's ``Memory``
  (memory blocks, archiving).
- ``SessionEventHandler``: instrumentation that records LLM calls (with usage), tool
  calls and agent runs.
- ``export_events(store, session_id)``: a session's messages as ``ChatMessage`` dicts.

Layout: one module per class above (``chat_store.py``, ``db_chat_store.py``,
``memory.py``, ``events.py``) plus ``_export.py``; what they share is private:
``_convert.py`` (``ChatMessage`` ⇄ neutral event), ``_writes.py`` (messages to events
to append: tool results linked through the core's ``messages.tool_calls_of``, handler
records adopted) and ``_registry.py`` (what a handler recorded that a memory may adopt,
per store object and session).

All of them write the neutral event format, so LangChain and the core read the same
sessions. Importing this package without the ``llamaindex`` extra raises
``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

from a2a_session_manager._optional import require

require("llama_index.core", extra="llamaindex", feature="a2a_session_integrations.llamaindex")

from a2a_session_integrations.llamaindex._export import export_events  # noqa: E402
from a2a_session_integrations.llamaindex.chat_store import SessionChatStore  # noqa: E402
from a2a_session_integrations.llamaindex.db_chat_store import SessionDBChatStore  # noqa: E402
from a2a_session_integrations.llamaindex.events import SessionEventHandler  # noqa: E402
from a2a_session_integrations.llamaindex.memory import SessionMemory  # noqa: E402

__all__ = ["SessionChatStore", "SessionDBChatStore", "SessionEventHandler", "SessionMemory", "export_events"]
