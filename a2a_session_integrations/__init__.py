"""Framework adapters over a2a_session_manager's stores; each loads its framework lazily.

- ``a2a_session_integrations.langchain``: ``SessionChatMessageHistory``,
  ``SessionCallbackHandler`` / ``AsyncSessionCallbackHandler``, ``SessionMiddleware``
  (extra ``langchain``).
- ``a2a_session_integrations.langgraph``: ``SessionCheckpointer`` (extra ``langgraph``).
- ``a2a_session_integrations.llamaindex``: chat store, memory and instrumentation
  handlers (extra ``llamaindex``).

Every adapter writes the neutral event format of ``a2a_session_manager.messages``, so a
session written through one framework reads back through the others and the core.
Importing an adapter whose extra is missing raises ``MissingDependencyError`` with the
exact ``pip install`` line.
"""
