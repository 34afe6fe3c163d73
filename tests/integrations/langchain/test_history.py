"""SessionChatMessageHistory on every store: RunnableWithMessageHistory, round trips, neutral events."""

from __future__ import annotations

import asyncio
import sys

import pytest
from a2a_session_manager import CorruptSessionError, MissingDependencyError, SessionEvent
from a2a_session_manager.exceptions import InvalidSessionIdError, InvalidSessionOperation
from a2a_session_manager.messages import events_to_openai, make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.storage import SessionStore
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from a2a_session_integrations.langchain import SessionChatMessageHistory, _convert, history_factory

from .fakes import MODEL, USAGE, StreamingUsageFakeChatModel, ToolFakeChatModel, reply


def _chain(model: object, store: SessionStore) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are terse."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    return RunnableWithMessageHistory(
        prompt | model,  # type: ignore[operator]
        history_factory(store),
        input_messages_key="question",
        history_messages_key="history",
    )


def _texts(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(m.type, str(m.content)) for m in messages]


EXPECTED = [
    ("human", "q1"),
    ("ai", "a1"),
    ("human", "q2"),
    ("ai", "a2"),
    ("human", "q3"),
    ("ai", "a3"),
]


def test_runnable_with_message_history_keeps_three_turns_in_order(store: SessionStore) -> None:
    chain = _chain(ToolFakeChatModel(messages=iter([reply("a1"), reply("a2"), reply("a3")])), store)
    for i in (1, 2, 3):
        chain.invoke({"question": f"q{i}"}, config={"configurable": {"session_id": "chat-1"}})
    assert _texts(SessionChatMessageHistory("chat-1", store).messages) == EXPECTED


async def test_runnable_with_message_history_async_three_turns(store: SessionStore) -> None:
    chain = _chain(ToolFakeChatModel(messages=iter([reply("a1"), reply("a2"), reply("a3")])), store)
    for i in (1, 2, 3):
        await chain.ainvoke({"question": f"q{i}"}, config={"configurable": {"session_id": "chat-a"}})
    history = SessionChatMessageHistory("chat-a", store)
    assert _texts(await history.aget_messages()) == EXPECTED


def test_streaming_stores_the_whole_reply_as_an_ai_message_with_usage(store: SessionStore) -> None:
    chain = _chain(StreamingUsageFakeChatModel(messages=iter([reply("hello there"), reply("a2"), reply("a3")])), store)
    for i in (1, 2, 3):
        pieces = list(chain.stream({"question": f"q{i}"}, config={"configurable": {"session_id": "chat-s"}}))
        assert len(pieces) > 1
    messages = SessionChatMessageHistory("chat-s", store).messages
    assert [m.type for m in messages] == ["human", "ai"] * 3
    first = messages[1]
    assert type(first) is AIMessage  # a chunk is stored as its non-chunk type
    assert first.content.strip() == "hello there"  # type: ignore[union-attr]
    assert first.usage_metadata is not None and first.usage_metadata["input_tokens"] == 12
    events = store.get_events("chat-s")
    assert events[1].token_usage is not None and events[1].token_usage.model == MODEL


def test_two_session_ids_are_kept_apart(store: SessionStore) -> None:
    chain = _chain(ToolFakeChatModel(messages=iter([reply("for A"), reply("for B")])), store)
    chain.invoke({"question": "from A"}, config={"configurable": {"session_id": "user-a"}})
    chain.invoke({"question": "from B"}, config={"configurable": {"session_id": "user-b"}})
    assert _texts(SessionChatMessageHistory("user-a", store).messages) == [("human", "from A"), ("ai", "for A")]
    assert _texts(SessionChatMessageHistory("user-b", store).messages) == [("human", "from B"), ("ai", "for B")]


def _every_kind() -> list[BaseMessage]:
    return [
        SystemMessage(content="be brief", id="sys-1", additional_kwargs={"x": 1}),
        HumanMessage(
            content=[
                {"type": "text", "text": "what is in this picture? 한국어"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
            id="h-1",
            name="alice",
        ),
        AIMessage(
            content="",
            id="ai-1",
            name="bot",
            tool_calls=[{"id": "call-1", "name": "lookup", "args": {"q": "cat"}, "type": "tool_call"}],
            invalid_tool_calls=[
                {"id": "call-2", "name": "bad", "args": "{oops", "error": "not json", "type": "invalid_tool_call"}
            ],
            additional_kwargs={"refusal": None},
            response_metadata={"model_name": MODEL, "finish_reason": "tool_calls"},
            usage_metadata={
                "input_tokens": 100,
                "output_tokens": 20,
                "total_tokens": 120,
                "input_token_details": {"cache_read": 40},
                "output_token_details": {"reasoning": 5},
            },
        ),
        ToolMessage(content="a cat", tool_call_id="call-1", name="lookup", id="t-1", artifact={"raw": [1, 2]}),
        ToolMessage(content="boom", tool_call_id="call-9", status="error", id="t-2"),
        AIMessage(content="It is a cat.", id="ai-2"),
        HumanMessage(content="no id here"),
    ]


def test_every_message_kind_and_field_round_trips_equal(store: SessionStore) -> None:
    history = SessionChatMessageHistory("rt", store)
    sent = _every_kind()
    history.add_messages(sent)
    assert history.messages == sent


async def test_every_message_kind_round_trips_equal_async(store: SessionStore) -> None:
    history = SessionChatMessageHistory("rt-async", store)
    sent = _every_kind()
    await history.aadd_messages(sent)
    assert await history.aget_messages() == sent


def test_chunks_come_back_as_their_message_type(store: SessionStore) -> None:
    history = SessionChatMessageHistory("chunks", store)
    history.add_message(AIMessageChunk(content="partial", id="c-1", usage_metadata=dict(USAGE)))  # type: ignore[arg-type]
    [message] = history.messages
    assert type(message) is AIMessage
    assert message == AIMessage(content="partial", id="c-1", usage_metadata=dict(USAGE))  # type: ignore[arg-type]


def test_a_batch_is_one_store_write_and_a_message_with_an_id_is_stored_once(store: SessionStore) -> None:
    history = SessionChatMessageHistory("idem", store)
    message = AIMessage(content="once", id="m-1")
    history.add_messages([HumanMessage(content="hi", id="h-1"), message])
    history.add_message(message)
    assert store.count_events("idem") == 2


def test_events_are_in_the_neutral_format(store: SessionStore) -> None:
    history = SessionChatMessageHistory("neutral", store)
    history.add_messages(_every_kind())
    events = store.get_events("neutral")
    system, human, ai, tool, failed, _, _ = events
    assert system.message == {"role": "system", "content": "be brief"}
    assert human.source == EventSource.USER and human.message["name"] == "alice"
    assert human.message["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert ai.id == "ai-1"
    assert ai.message["tool_calls"] == [{"id": "call-1", "name": "lookup", "arguments": {"q": "cat"}}]
    assert ai.token_usage is not None
    assert (ai.token_usage.prompt_tokens, ai.token_usage.completion_tokens) == (100, 20)
    assert (ai.token_usage.cached_prompt_tokens, ai.token_usage.reasoning_tokens) == (40, 5)
    assert ai.token_usage.origin == "reported" and ai.token_usage.model == MODEL
    assert ai.token_usage.estimated_cost_usd is not None  # priced from our table
    assert tool.type == EventType.TOOL_CALL and tool.id == "tool:call-1"
    assert tool.message["result"] == "a cat" and tool.message["arguments"] == {"q": "cat"}
    assert tool.metadata["parent_event_id"] == "ai-1"
    assert failed.message["error"] == "boom" and "result" not in failed.message
    rendered = events_to_openai(events)
    assert rendered[3] == {"role": "tool", "tool_call_id": "call-1", "content": "a cat"}


def test_session_written_by_another_framework_reads_as_langchain_messages(store: SessionStore) -> None:
    ask = make_message_event(
        "assistant", "", tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}], event_id="e-ai"
    )
    store.append_events(
        "foreign",
        [
            make_message_event("user", "add 1 and 2"),
            ask,
            make_tool_call_event("add", {"a": 1, "b": 2}, "c1", result=3, parent_event_id="e-ai"),
            make_message_event("assistant", "3"),
        ],
    )
    human, ai, tool, final = SessionChatMessageHistory("foreign", store).messages
    assert isinstance(human, HumanMessage) and human.content == "add 1 and 2"
    assert isinstance(ai, AIMessage)
    assert ai.tool_calls == [{"id": "c1", "name": "add", "args": {"a": 1, "b": 2}, "type": "tool_call"}]
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c1" and tool.content == "3"
    assert isinstance(final, AIMessage) and final.content == "3"


def test_langchain_and_foreign_events_interleaved_keep_their_order_sync_and_async(store: SessionStore) -> None:
    # LangChain's own events are rebuilt from their stored form, the others from the
    # neutral fields; the two paths must still give one list in session order.
    history = SessionChatMessageHistory("mixed", store)
    history.add_message(HumanMessage(content="lc-1", id="h1"))
    store.append_event("mixed", make_message_event("assistant", "core-2"))
    history.add_message(AIMessage(content="lc-3", id="a3"))
    store.append_event("mixed", make_message_event("user", "core-4"))
    store.append_event("mixed", SessionEvent(type=EventType.REFERENCE, message={"doc": "not a message"}))
    expected = [("human", "lc-1"), ("ai", "core-2"), ("ai", "lc-3"), ("human", "core-4")]
    assert _texts(history.messages) == expected
    assert _texts(asyncio.run(history.aget_messages())) == expected


def test_a_corrupt_stored_event_is_a_typed_error_not_a_missing_message(store: SessionStore) -> None:
    history = SessionChatMessageHistory("bad-row", store)
    history.add_messages([HumanMessage(content="q"), AIMessage(content="a")])
    rows = store.get_event_lines("bad-row")
    # A row whose JSON parses but is not an event: the adapter must not skip it silently.
    decoded = store.decode_event_lines
    with pytest.raises(CorruptSessionError, match="bad-row"):
        _convert.lines_to_messages([*rows, (2, '{"id": 5}')], lambda bad: decoded("bad-row", bad))


def test_a_tool_message_added_alone_links_to_the_ai_turn_already_stored(store: SessionStore) -> None:
    history = SessionChatMessageHistory("later", store)
    history.add_message(AIMessage(content="", id="ai-x", tool_calls=[{"id": "k1", "name": "f", "args": {"n": 1}}]))
    history.add_message(ToolMessage(content="ok", tool_call_id="k1"))
    tool = store.get_events("later")[-1]
    assert tool.metadata["parent_event_id"] == "ai-x" and tool.message["arguments"] == {"n": 1}


def test_clear_removes_the_messages(store: SessionStore) -> None:
    history = SessionChatMessageHistory("c", store)
    history.add_user_message("hi")
    history.clear()
    assert history.messages == []


async def test_aclear_removes_the_messages(store: SessionStore) -> None:
    history = SessionChatMessageHistory("c", store)
    await history.aadd_messages([HumanMessage(content="hi")])
    await history.aclear()
    assert await history.aget_messages() == []


def test_the_core_reads_the_same_session(store: SessionStore) -> None:
    SessionChatMessageHistory("core", store).add_messages([HumanMessage(content="hi"), reply("hello", id="r1")])
    session = store.get("core")
    assert session is not None
    assert [e.message["content"] for e in session.events] == ["hi", "hello"]
    assert session.token_summary.total_tokens == USAGE["total_tokens"]


def test_bad_input_gives_typed_errors(store: SessionStore) -> None:
    for bad in ("", "line\nbreak", "x" * 257):  # any printable id of 1-256 characters is valid (issue 11 item 13)
        with pytest.raises(InvalidSessionIdError):
            SessionChatMessageHistory(bad, store)
    history = SessionChatMessageHistory("ok", store)
    with pytest.raises(InvalidSessionOperation, match="RemoveMessage"):
        history.add_messages([HumanMessage(content="kept?"), RemoveMessage(id="x")])
    assert history.messages == []  # nothing of the refused batch was stored


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("a2a_session_integrations.langchain"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'a2a-session-manager\[langchain\]'"):
        import a2a_session_integrations.langchain  # noqa: F401
