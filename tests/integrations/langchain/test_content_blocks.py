"""Issue 11 item 1: any content block LangChain accepts goes through every LangChain-facing writer.

A property test draws messages with LangChain's own constructors (human, AI, system and
tool messages; content a str or a list of blocks drawn over the v1 standard block types,
OpenAI's and LangChain's v0 shapes and unknown types, each with or without its optional
keys; AI messages with tool calls) and checks that:

- ``SessionChatMessageHistory`` stores them and reads them back equal;
- ``SessionCallbackHandler`` records a real ``GenericFakeChatModel`` call that returns one,
  and the call still succeeds;
- ``SessionCheckpointer`` under a ``StateGraph`` with ``add_messages`` checkpoints a turn
  holding one and the thread keeps working on the next turn;
- the prompt builders and token counting take the resulting session, and what they
  send a model holds no ``unknown`` part.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from a2a_session_manager.messages import UNKNOWN_PART, content_text, event_to_openai, events_to_openai
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session
from a2a_session_manager.storage import SessionStore
from a2a_session_manager.tokens import count_messages_tokens
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph

from a2a_session_integrations.langchain import SessionCallbackHandler, SessionChatMessageHistory, _convert
from a2a_session_integrations.langgraph import SessionCheckpointer

BLOCK_TYPES = [
    "text",
    "text-plain",
    "image",
    "image_url",
    "input_image",
    "file",
    "audio",
    "input_audio",
    "video",
    "reasoning",
    "non_standard",
    "refusal",
    "citation",
    "tool_call",
    "server_tool_call",
    "thinking",
    "document",
    "something_new",
]
short_text = st.text(max_size=12)
mime_types = st.sampled_from(["image/png", "audio/wav", "audio/mpeg", "application/pdf", "text/plain", "video/mp4", ""])
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), short_text)
OPTIONAL_KEYS: dict[str, Any] = {
    "text": st.one_of(short_text, st.none()),
    "base64": st.sampled_from(["AAAA", "iVBORw0KGgo=", ""]),
    "data": st.sampled_from(["AAAA", ""]),
    "mime_type": mime_types,
    "url": st.sampled_from(["https://example.com/a.png", "", "file:///tmp/x.pdf"]),
    "file_id": st.sampled_from(["file-1", ""]),
    "id": st.sampled_from(["blk-1", "file-2"]),
    "source_type": st.sampled_from(["base64", "url", "id", "text", "bogus"]),
    "image_url": st.one_of(
        st.fixed_dictionaries({"url": st.sampled_from(["https://e.com/i.png", ""])}, optional={"detail": mime_types}),
        st.sampled_from(["https://e.com/j.png", ""]),
        st.just({}),
    ),
    "input_audio": st.one_of(
        st.fixed_dictionaries({}, optional={"data": st.just("AAAA"), "format": st.sampled_from(["wav", "mp3"])}),
        short_text,
    ),
    "file": st.one_of(
        st.fixed_dictionaries(
            {}, optional={"file_data": st.just("data:application/pdf;base64,AA"), "file_id": st.just("f-9")}
        ),
        short_text,
    ),
    "source": st.fixed_dictionaries(
        {"type": st.sampled_from(["base64", "url", "file"])},
        optional={"media_type": mime_types, "data": st.just("AAAA"), "url": st.just("https://e.com/s.png")},
    ),
    "reasoning": short_text,
    "refusal": st.one_of(short_text, st.integers(-1000, 1000)),
    "value": st.dictionaries(st.text(max_size=4), json_scalars, max_size=2),
    "extras": st.fixed_dictionaries({}, optional={"filename": short_text}),
    "annotations": st.lists(st.fixed_dictionaries({"type": st.just("citation")}), max_size=1),
    "name": short_text,
    "args": st.just({"x": 1}),
    "detail": st.sampled_from(["low", "high", "auto"]),
}
blocks = st.one_of(
    short_text,
    st.fixed_dictionaries({"type": st.sampled_from(BLOCK_TYPES)}, optional=OPTIONAL_KEYS),
    st.fixed_dictionaries({}, optional={"text": short_text, "foo": json_scalars}),
)
contents = st.one_of(short_text, st.lists(blocks, max_size=4))
tool_calls = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["add", "search"]),
            "args": st.dictionaries(st.sampled_from("abc"), json_scalars),
            "id": st.sampled_from(["call-1", "call-2", None]),
        }
    ),
    max_size=2,
)
ids = st.one_of(st.none(), st.builds(lambda: f"m-{uuid.uuid4().hex[:8]}"))


@st.composite
def ai_messages(draw: st.DrawFn) -> AIMessage:
    kwargs: dict[str, Any] = {"content": draw(contents), "id": draw(ids), "tool_calls": draw(tool_calls)}
    if draw(st.booleans()):
        kwargs["usage_metadata"] = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
        kwargs["response_metadata"] = {"model_name": "gpt-4o-mini"}
    return AIMessage(**kwargs)


@st.composite
def messages(draw: st.DrawFn) -> BaseMessage:
    kind = draw(st.sampled_from(["human", "ai", "system", "tool"]))
    if kind == "ai":
        return draw(ai_messages())
    kwargs: dict[str, Any] = {"content": draw(contents), "id": draw(ids)}
    if draw(st.booleans()):
        kwargs["name"] = draw(st.sampled_from(["ada", "bob"]))
    if kind == "tool":
        kwargs["tool_call_id"] = draw(st.sampled_from(["call-1", "call-9", ""]))
        kwargs["status"] = draw(st.sampled_from(["success", "error"]))
        return ToolMessage(**kwargs)
    return HumanMessage(**kwargs) if kind == "human" else SystemMessage(**kwargs)


# A store per test (each example its own session); no example database outside tmp_path.
PROPERTY = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _sid() -> str:
    return f"blocks-{uuid.uuid4().hex[:12]}"


def _assert_prompts_work(store: SessionStore, session_id: str) -> None:
    session = store.get(session_id)
    assert session is not None
    rendered = events_to_openai(session.events)
    for message in rendered:
        parts = message.get("content")
        if isinstance(parts, list):
            assert all(not (isinstance(p, dict) and p.get("type") == UNKNOWN_PART) for p in parts)
    count_messages_tokens(rendered, "gpt-4o")
    for strategy in (PromptStrategy.CONVERSATION, PromptStrategy.MINIMAL):
        build_prompt_from_session(session, strategy, max_tokens=100_000, model="gpt-4o")


@PROPERTY
@given(batch=st.lists(messages(), min_size=1, max_size=3))
def test_history_stores_any_message_langchain_accepts_and_reads_it_back_equal(
    store: SessionStore, batch: list[BaseMessage]
) -> None:
    call_ids = [m.tool_call_id for m in batch if isinstance(m, ToolMessage) and m.tool_call_id]
    assume(len(call_ids) == len(set(call_ids)))  # one result per call: a second one is the same event
    sid = _sid()
    history = SessionChatMessageHistory(sid, store)
    history.add_messages(batch)
    assert history.messages == batch
    _assert_prompts_work(store, sid)


@PROPERTY
@given(message=ai_messages())
def test_callback_handler_records_any_ai_message_a_model_returns(store: SessionStore, message: AIMessage) -> None:
    sid = _sid()
    handler = SessionCallbackHandler(sid, store)
    model = GenericFakeChatModel(messages=iter([message]))
    out = model.invoke("hi", config={"callbacks": [handler]})
    assert out.content == message.content
    [event] = store.get_events(sid)
    assert _convert.event_to_message(event) is not None
    _assert_prompts_work(store, sid)


def _graph(store: SessionStore) -> Any:
    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(content=f"seen {len(state['messages'])}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=SessionCheckpointer(store))


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages())
def test_checkpointer_thread_keeps_working_after_a_turn_with_any_message(
    store: SessionStore, message: BaseMessage
) -> None:
    graph = _graph(store)
    sid = _sid()
    config = {"configurable": {"thread_id": sid}}
    graph.invoke({"messages": [message]}, config)
    result = graph.invoke({"messages": [HumanMessage(content="and now?")]}, config)
    assert [m.content for m in result["messages"][-2:]] == ["and now?", "seen 3"]
    state = graph.get_state(config).values["messages"]
    assert len(state) == 4
    # the transcript holds every message in its normal neutral form, none as a conversion error
    events = store.get_events(sid)
    assert not [e.id for e in events if "mirror_error" in e.metadata.get("langgraph", {})]
    assert SessionChatMessageHistory(sid, store).messages == state
    _assert_prompts_work(store, sid)


@pytest.mark.parametrize(
    "block",
    [
        {"type": "file", "base64": "JVBERi0="},
        {"type": "audio", "base64": "UklGRg=="},
        {"type": "image", "base64": "iVBORw0KGgo="},
        {"type": "text"},
        {"type": "image_url"},
        {"type": "text-plain", "text": "notes", "mime_type": "text/plain"},
        {"type": "video", "url": "https://example.com/v.mp4"},
        {"type": "image", "file_id": "file-1"},
        {"type": "reasoning", "reasoning": "first, think"},
        {"type": "non_standard", "value": {"k": 1}},
        {"type": "from_the_future", "x": 1},
    ],
)
def test_each_block_langchain_accepts_is_stored_and_read_back(store: SessionStore, block: dict[str, Any]) -> None:
    message = HumanMessage(content=["look:", block])
    history = SessionChatMessageHistory("one-block", store)
    history.add_messages([message])
    assert history.messages == [message]
    [event] = store.get_events("one-block")
    rendered = event_to_openai(event)
    assert rendered is not None
    assert all(p.get("type") != UNKNOWN_PART for p in rendered["content"])


def test_an_incomplete_block_becomes_a_documented_unknown_part() -> None:
    block = {"type": "image", "base64": "iVBORw0KGgo="}  # no mime_type: no data URL can be made
    [text, part] = _convert.neutral_content(["see", block])
    assert text == {"type": "text", "text": "see"}
    assert part == {"type": "unknown", "block_type": "image", "block": block}
    assert content_text([text, part]) == "see\n[image]"
    rendered = event_to_openai(_convert.message_to_event(HumanMessage(content=["see", block])))
    assert rendered is not None
    assert rendered["content"] == [text, {"type": "text", "text": "[image]"}]


def test_a_text_block_without_text_stands_for_nothing_in_a_prompt() -> None:
    event = _convert.message_to_event(AIMessage(content=[{"type": "text"}, {"type": "text", "text": "hi"}]))
    rendered = event_to_openai(event)
    assert rendered is not None
    assert rendered["content"] == [{"type": "text", "text": "hi"}]


def test_an_unknown_part_written_by_another_reader_rebuilds_the_original_block() -> None:
    block = {"type": "reasoning", "reasoning": "hmm"}
    event = _convert.message_to_event(AIMessage(content=[block, "answer"]))
    del event.metadata[_convert.LANGCHAIN_KEY]  # as a core or LlamaIndex reader would see it
    rebuilt = _convert.event_to_message(event)
    assert rebuilt is not None
    assert rebuilt.content == [block, {"type": "text", "text": "answer"}]


def test_known_blocks_keep_their_openai_form() -> None:
    content = [
        {"type": "image", "base64": "AA", "mime_type": "image/png"},
        {"type": "image", "url": "https://e.com/a.png"},
        {"type": "file", "base64": "JVBE", "mime_type": "application/pdf", "extras": {"filename": "a.pdf"}},
        {"type": "audio", "base64": "UklG", "mime_type": "audio/wav"},
        {"type": "image_url", "image_url": {"url": "https://e.com/b.png", "detail": "low"}},
    ]
    assert _convert.neutral_content(content) == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
        {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
        {"type": "image_url", "image_url": {"url": "https://e.com/b.png", "detail": "low"}},
    ]
