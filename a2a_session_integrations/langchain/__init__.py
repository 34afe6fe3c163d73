"""LangChain adapter: a chat history, callback handlers and an agent middleware over our stores.

- ``SessionChatMessageHistory`` / ``history_factory``: a ``BaseChatMessageHistory`` for
  ``RunnableWithMessageHistory`` (or direct use) on any session store.
- ``SessionCallbackHandler`` / ``AsyncSessionCallbackHandler``: record runs, model calls
  (provider usage and cost) and tool calls of any LangChain run.
- ``SessionMiddleware``: a LangChain v1 agent middleware (``create_agent(..., middleware=[...])``)
  that records the agent and fits the model's input to a token budget (needs ``langchain``).

All of them write the neutral event format, so the core and the LlamaIndex adapter read
the same sessions. Importing this package without the ``langchain`` extra raises
``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a2a_session_manager._optional import require

require("langchain_core", extra="langchain", feature="a2a_session_integrations.langchain")

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
    "history_factory",
]


def __getattr__(name: str) -> Any:
    # The middleware needs the ``langchain`` package (agents), the rest only langchain-core.
    if name == "SessionMiddleware":
        from a2a_session_integrations.langchain.middleware import SessionMiddleware

        return SessionMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
