"""LlamaIndex adapter: memory, chat stores and instrumentation over our session stores.

- ``SessionMemory``: a ``BaseMemory`` for agents (``await agent.run(msg, memory=...)``)
  and chat engines, budgeted by the core's prompt strategies.
- ``SessionChatStore``: a ``BaseChatStore`` (key = session id).
- ``SessionDBChatStore``: an ``AsyncDBChatStore`` for LlamaIndex's ``Memory``
  (memory blocks, archiving).
- ``SessionEventHandler``: instrumentation that records LLM calls (with usage), tool
  calls and agent runs.

All of them write the neutral event format, so LangChain and the core read the same
sessions. Importing this package without the ``llamaindex`` extra raises
``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

from a2a_session_manager._optional import require

require("llama_index.core", extra="llamaindex", feature="a2a_session_integrations.llamaindex")

from a2a_session_integrations.llamaindex.chat_store import SessionChatStore  # noqa: E402
from a2a_session_integrations.llamaindex.db_chat_store import SessionDBChatStore  # noqa: E402
from a2a_session_integrations.llamaindex.events import SessionEventHandler  # noqa: E402
from a2a_session_integrations.llamaindex.memory import SessionMemory  # noqa: E402

__all__ = ["SessionChatStore", "SessionDBChatStore", "SessionEventHandler", "SessionMemory"]
