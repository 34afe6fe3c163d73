"""LangChain adapter: a chat history, callback handlers and an agent middleware over our stores.

- ``SessionChatMessageHistory`` / ``history_factory``: a ``BaseChatMessageHistory`` for
  ``RunnableWithMessageHistory`` (or direct use) on any session store.
- ``SessionCallbackHandler`` / ``AsyncSessionCallbackHandler``: record runs, model calls
  (provider usage and cost) and tool calls of any LangChain run.
- ``SessionMiddleware``: a LangChain v1 agent middleware (``create_agent(..., middleware=[...])``)
  that records the agent and fits the model's input to a token budget (needs ``langchain``).
- ``export_events(store, session_id)``: a session's messages in ``messages_to_dict`` form.

Layout: ``history.py``, ``callbacks.py``, ``middleware.py`` and ``_export.py`` hold the
pieces above; ``_convert.py`` is the LangChain message ⇄ neutral event mapping they
share, and LangGraph's ``SessionCheckpointer`` uses it too (LangGraph's messages are
LangChain's): ``message_to_event`` / ``messages_to_events``, ``event_to_message`` /
``events_to_messages`` / ``lines_to_messages``, ``event_id_for``, ``neutral_content``,
``usage_from_message`` and ``LANGCHAIN_KEY``. Linking a tool result to the turn that
asked for it is the core's (``a2a_session_manager.messages.tool_calls_of``).

All of them write the neutral event format, so the core and the LlamaIndex adapter read
the same sessions. Importing this package without the ``langchain`` extra raises
``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a2a_session_manager._optional import require

require("langchain_core", extra="langchain", feature="a2a_session_integrations.langchain")

from a2a_session_integrations.langchain._export import export_events  # noqa: E402
from a2a_session_integrations.langchain.callbacks import (  # noqa: E402
    AsyncSessionCallbackHandler,
    SessionCallbackHandler,
)
from a2a_session_integrations.langchain.history import SessionChatMessageHistory, history_factory  # noqa: E402

if TYPE_CHECKING:
    from a2a_session_integrations.langchain.middleware import SessionMiddleware

__all__ = [
    "AsyncSessionCallbackHandler",
    "SessionCallbackHandler",
    "SessionChatMessageHistory",
    "SessionMiddleware",
    "export_events",
    "history_factory",
]


def __getattr__(name: str) -> Any:
    # The middleware needs the ``langchain`` package (agents), the rest only langchain-core.
    if name == "SessionMiddleware":
        from a2a_session_integrations.langchain.middleware import SessionMiddleware

        return SessionMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
