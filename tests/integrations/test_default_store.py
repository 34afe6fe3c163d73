"""store=None means the provider's default *at each call* in every adapter (``storage.resolve``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from a2a_session_manager.storage import SessionStore, SessionStoreProvider, create_sqlite_session_store, resolve
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, messages_from_dict
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from a2a_session_integrations.langchain import SessionCallbackHandler, SessionChatMessageHistory, export_events
from a2a_session_integrations.langchain import SessionMiddleware as LangChainMiddleware
from a2a_session_integrations.llamaindex import SessionChatStore, SessionDBChatStore, SessionEventHandler
from a2a_session_integrations.llamaindex import export_events as llamaindex_export_events


@pytest.fixture
def later_default(tmp_path: Path) -> Iterator[SessionStore]:
    """A store made the provider's default only after the adapters were built (restored after)."""
    before = SessionStoreProvider._store
    SessionStoreProvider.reset()
    store = create_sqlite_session_store(tmp_path / "later.db")
    try:
        yield store
    finally:
        SessionStoreProvider._store = before
        store.close()


def test_resolve_gives_the_store_itself_or_the_providers_default_now(later_default: SessionStore) -> None:
    first = resolve(None)
    assert resolve(later_default) is later_default
    SessionStoreProvider.set_store(later_default)
    assert resolve(None) is later_default is not first


def test_langchain_history_and_handler_built_before_set_store_write_to_the_new_default(
    later_default: SessionStore,
) -> None:
    history = SessionChatMessageHistory("s1")
    handler = SessionCallbackHandler("s2")
    SessionStoreProvider.set_store(later_default)

    history.add_messages([HumanMessage("hi", id="h1")])
    GenericFakeChatModel(messages=iter([AIMessage("hello")])).invoke("hi", config={"callbacks": [handler]})

    assert history.store is later_default and handler.store is later_default
    assert [e.id for e in later_default.get_events("s1")] == ["h1"]
    assert [e.source.value for e in later_default.get_events("s2")] == ["llm"]
    assert len(later_default.get_runs("s2")) == 1


def test_langchain_middleware_built_before_set_store_uses_the_new_default(later_default: SessionStore) -> None:
    middleware = LangChainMiddleware(session_id="s1")
    SessionStoreProvider.set_store(later_default)
    assert middleware.store is later_default


async def test_llamaindex_stores_and_handler_built_before_set_store_write_to_the_new_default(
    later_default: SessionStore,
) -> None:
    chat_store = SessionChatStore()
    db_store = SessionDBChatStore()
    handler = SessionEventHandler(session_id="s3")
    SessionStoreProvider.set_store(later_default)

    chat_store.add_message("s1", ChatMessage(role=MessageRole.USER, content="hi"))
    await db_store.add_message("s2", ChatMessage(role=MessageRole.USER, content="hey"))

    assert [m.content for m in chat_store.get_messages("s1")] == ["hi"]
    assert len(later_default.get_events("s1")) == 1
    assert len(later_default.get_events("s2")) == 1
    assert handler._store is later_default


def test_checkpointer_memory_and_tool_processor_built_before_set_store_use_the_new_default(
    later_default: SessionStore,
) -> None:
    from a2a_session_manager.session_aware_tool_processor import SessionAwareToolProcessor
    from langgraph.checkpoint.base import empty_checkpoint

    from a2a_session_integrations.langgraph import SessionCheckpointer
    from a2a_session_integrations.llamaindex import SessionMemory

    checkpointer = SessionCheckpointer()
    memory = SessionMemory.from_defaults(session_id="m1")
    processor = SessionAwareToolProcessor(session_id="p1", tools={"noop": lambda: None})
    SessionStoreProvider.set_store(later_default)

    config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
    checkpointer.put(config, empty_checkpoint(), {}, {})  # type: ignore[arg-type]
    memory.put(ChatMessage(role=MessageRole.USER, content="hi"))

    assert checkpointer.store is later_default and processor.store is later_default
    assert checkpointer.get_tuple(config) is not None  # type: ignore[arg-type]
    assert later_default.list_records("t1", "lg.ckpt") != []
    assert [e.message["content"] for e in later_default.get_events("m1")] == ["hi"]


def test_langchain_export_events_reads_back_as_the_historys_messages(tmp_path: Path) -> None:
    store = create_sqlite_session_store(tmp_path / "x.db")
    history = SessionChatMessageHistory("s1", store=store)
    history.add_messages(
        [
            HumanMessage("add 2 and 3", id="q"),
            AIMessage("", id="a", tool_calls=[{"id": "c1", "name": "add", "args": {"a": 2, "b": 3}}]),
        ]
    )
    history.add_messages([AIMessage("5", id="r")])

    exported = export_events(store, "s1")

    assert messages_from_dict(exported) == history.messages
    assert [d["type"] for d in exported] == ["human", "ai", "ai"]
    assert export_events(store, "unknown") == []
    store.close()


def test_llamaindex_export_events_reads_back_as_the_chat_stores_messages(tmp_path: Path) -> None:
    store = create_sqlite_session_store(tmp_path / "x.db")
    chat_store = SessionChatStore(store)
    chat_store.add_messages(
        "s1", [ChatMessage(role=MessageRole.USER, content="hi"), ChatMessage(role=MessageRole.ASSISTANT, content="yo")]
    )

    exported = llamaindex_export_events(store, "s1")

    assert [ChatMessage.model_validate(d) for d in exported] == chat_store.get_messages("s1")
    store.close()
