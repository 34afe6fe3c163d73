"""LangGraph adapter: ``SessionCheckpointer``, a checkpoint saver over our session stores.

``create_agent(model, tools, checkpointer=SessionCheckpointer(store))`` keeps each thread
as the session of the same id (memory, file, SQLite or Redis store): its checkpoints
expire and are deleted with the session, and its conversation is readable as ordinary
session events. Importing this package without the ``langgraph`` extra raises
``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

from a2a_session_manager._optional import require

require("langgraph.checkpoint.base", extra="langgraph", feature="SessionCheckpointer")

from a2a_session_integrations.langgraph.checkpointer import SessionCheckpointer  # noqa: E402

__all__ = ["SessionCheckpointer"]
