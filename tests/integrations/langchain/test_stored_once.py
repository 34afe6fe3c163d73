"""Issue 11 items 14 and 3: a reply is stored and counted once, and a retried add stores nothing twice.

Item 14: ``SessionChatMessageHistory`` and ``SessionCallbackHandler`` on one session, for
every common chain shape (``prompt | model``, ``| StrOutputParser()``,
``| JsonOutputParser()``, streaming, a tools agent), with ``RunnableWithMessageHistory``
and with the history written by hand after each call: one AI event per model reply, its
usage counted once, and the model never sees a reply twice.

Item 3 (history part): messages without an id get an id a retry reproduces, so the same
``add_messages`` applied twice stores once, while the same text in two turns is kept twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from a2a_session_manager.exceptions import StoreUnavailableError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool

from a2a_session_integrations.langchain import (
    AsyncSessionCallbackHandler,
    SessionCallbackHandler,
    SessionChatMessageHistory,
    history_factory,
)

from .fakes import USAGE, RecordingFakeChatModel, StreamingUsageFakeChatModel, reply

TURNS = 3


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class StreamingRecordingModel(StreamingUsageFakeChatModel):
    """Streams like a provider and keeps what every call was sent."""

    calls: list[list[BaseMessage]] = []  # noqa: RUF012 (pydantic copies the default per instance)

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.calls.append(list(messages))
        yield from super()._stream(messages, *args, **kwargs)


class Shape:
    """One chain shape: how it is built, how many model replies a turn makes, how it is run."""

    def __init__(
        self,
        name: str,
        build: Callable[[Any], Runnable[Any, Any]],
        replies: Callable[[int], list[AIMessage]],
        *,
        streaming: bool = False,
        tools: bool = False,
    ) -> None:
        self.name = name
        self.build = build
        self.replies = replies
        self.streaming = streaming
        self.tools = tools

    def model(self) -> Any:
        script = iter([m for turn in range(1, TURNS + 1) for m in self.replies(turn)])
        model = StreamingRecordingModel(messages=script) if self.streaming else RecordingFakeChatModel(messages=script)
        model.calls = []
        return model

    def run(self, chain: Runnable[Any, Any], inputs: dict[str, Any], config: dict[str, Any]) -> Any:
        if not self.streaming:
            return chain.invoke(inputs, config=config)
        pieces = list(chain.stream(inputs, config=config))
        if all(isinstance(p, str) for p in pieces):
            return "".join(pieces)
        out = pieces[0]
        for piece in pieces[1:]:
            out = out + piece
        return out


PROMPT = ChatPromptTemplate.from_messages([("system", "Be terse."), MessagesPlaceholder("history"), ("human", "{q}")])


def _agent_chain(model: Any) -> Runnable[Any, Any]:
    agent = create_agent(model, tools=[add])
    to_state = RunnableLambda(lambda x: {"messages": [*x["history"], HumanMessage(content=x["q"])]})
    return to_state | agent | RunnableLambda(lambda state: state["messages"][-1].content)


def _tool_turn(turn: int) -> list[AIMessage]:
    return [
        reply("", tool_calls=[{"id": f"call-{turn}", "name": "add", "args": {"a": turn, "b": 1}}]),
        reply(f"It is {turn + 1}."),
    ]


SHAPES = [
    Shape("prompt|model", lambda m: PROMPT | m, lambda t: [reply(f"a{t}")]),
    Shape("str-parser", lambda m: PROMPT | m | StrOutputParser(), lambda t: [reply(f"a{t}")]),
    Shape("json-parser", lambda m: PROMPT | m | JsonOutputParser(), lambda t: [reply(f'{{"output": "a{t}"}}')]),
    Shape("streaming", lambda m: PROMPT | m | StrOutputParser(), lambda t: [reply(f"a {t}")], streaming=True),
    Shape("tools-agent", _agent_chain, _tool_turn, tools=True),
]


def _as_message(output: Any) -> BaseMessage:
    if isinstance(output, BaseMessage):
        return output
    return AIMessage(content=output if isinstance(output, str) else json.dumps(output))


def _check(store: SessionStore, session_id: str, shape: Shape, model: Any) -> None:
    events = store.get_events(session_id)
    ai = [e for e in events if e.type == EventType.MESSAGE and e.source == EventSource.LLM]
    per_turn = len(shape.replies(1))
    assert len(ai) == TURNS * per_turn, [e.message for e in ai]  # one event per model reply
    assert len({e.id for e in ai}) == len(ai)
    user = [e for e in events if e.type == EventType.MESSAGE and e.source == EventSource.USER]
    assert [e.message["content"] for e in user] == [f"q{t}" for t in range(1, TURNS + 1)]
    session = store.get(session_id)
    assert session is not None
    assert session.token_summary.total_tokens == TURNS * per_turn * USAGE["total_tokens"]  # usage counted once
    assert len(model.calls) == TURNS * per_turn
    for sent in model.calls:  # the model never sees a reply (or anything else) twice
        texts = [str(m.content) for m in sent if str(m.content)]
        assert len(texts) == len(set(texts)), texts


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_runnable_with_message_history_and_handler_store_each_reply_once(store: SessionStore, shape: Shape) -> None:
    model = shape.model()
    chain = RunnableWithMessageHistory(
        shape.build(model),  # type: ignore[arg-type]
        history_factory(store),
        input_messages_key="q",
        history_messages_key="history",
    )
    handler = SessionCallbackHandler("rwmh", store)
    for turn in range(1, TURNS + 1):
        shape.run(chain, {"q": f"q{turn}"}, {"configurable": {"session_id": "rwmh"}, "callbacks": [handler]})
    _check(store, "rwmh", shape, model)
    if not shape.tools:  # a chain: question, answer, in order, each written once
        history = SessionChatMessageHistory("rwmh", store).messages
        assert [m.type for m in history] == ["human", "ai"] * TURNS


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_history_added_by_hand_after_each_call_stores_each_reply_once(store: SessionStore, shape: Shape) -> None:
    model = shape.model()
    chain = shape.build(model)
    handler = SessionCallbackHandler("manual", store)
    history = SessionChatMessageHistory("manual", store)
    for turn in range(1, TURNS + 1):
        output = shape.run(chain, {"q": f"q{turn}", "history": history.messages}, {"callbacks": [handler]})
        history.add_messages([HumanMessage(content=f"q{turn}"), _as_message(output)])
    _check(store, "manual", shape, model)


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: s.name)
def test_question_added_before_the_call_keeps_question_and_answer_in_order(store: SessionStore, shape: Shape) -> None:
    model = shape.model()
    chain = shape.build(model)
    handler = SessionCallbackHandler("before", store)
    history = SessionChatMessageHistory("before", store)
    for turn in range(1, TURNS + 1):
        past = history.messages
        history.add_user_message(f"q{turn}")
        output = shape.run(chain, {"q": f"q{turn}", "history": past}, {"callbacks": [handler]})
        history.add_messages([_as_message(output)])
    _check(store, "before", shape, model)
    assert [m.type for m in history.messages] == ["human", "ai"] * TURNS


async def test_async_history_and_async_handler_store_a_parsed_reply_once(store: SessionStore) -> None:
    model = SHAPES[1].model()
    chain = RunnableWithMessageHistory(
        PROMPT | model | StrOutputParser(),  # type: ignore[arg-type]
        history_factory(store),
        input_messages_key="q",
        history_messages_key="history",
    )
    handler = AsyncSessionCallbackHandler("async", store)
    for turn in range(1, TURNS + 1):
        await chain.ainvoke({"q": f"q{turn}"}, config={"configurable": {"session_id": "async"}, "callbacks": [handler]})
    _check(store, "async", SHAPES[1], model)


def test_an_ai_message_added_without_a_handler_run_is_stored_as_given(store: SessionStore) -> None:
    handler = SessionCallbackHandler("unrelated", store)
    RecordingFakeChatModel(messages=iter([reply("from the model")])).invoke("hi", config={"callbacks": [handler]})
    history = SessionChatMessageHistory("unrelated", store)
    history.messages  # noqa: B018 (the reader has seen the model's reply)
    history.add_ai_message("written by hand")
    assert [m.content for m in history.messages] == ["from the model", "written by hand"]


# ------------------------------------------------------------------------ item 3: retries
class AppliedThenTimedOut:
    """A real store whose next ``append_events`` is applied and then reported as a timeout.

    This is what a Redis client sees when the server applied the write but the reply
    was lost (issue 11 item 3); every other call goes to the real store unchanged.
    """

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self.fail_next = True

    def append_events(self, session_id: str, events: Sequence[SessionEvent]) -> int:
        count = self._store.append_events(session_id, events)
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailableError(
                "timed out after the write was sent; it may have been applied", session_id=session_id
            )
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_retried_add_messages_stores_the_batch_once(store: SessionStore) -> None:
    flaky = AppliedThenTimedOut(store)
    history = SessionChatMessageHistory("retry", flaky)  # type: ignore[arg-type]
    batch = [HumanMessage(content="ok"), AIMessage(content="fine")]
    with pytest.raises(StoreUnavailableError):
        history.add_messages(batch)
    history.add_messages(batch)  # the caller retries: the first try was in fact applied
    assert [m.content for m in SessionChatMessageHistory("retry", store).messages] == ["ok", "fine"]


async def test_a_retried_aadd_messages_stores_the_batch_once(store: SessionStore) -> None:
    flaky = AppliedThenTimedOut(store)
    history = SessionChatMessageHistory("aretry", flaky)  # type: ignore[arg-type]

    async def append_then_fail(session_id: str, events: Sequence[SessionEvent]) -> int:
        return flaky.append_events(session_id, events)

    flaky.aappend_events = append_then_fail  # type: ignore[attr-defined]
    with pytest.raises(StoreUnavailableError):
        await history.aadd_messages([HumanMessage(content="ok")])
    await history.aadd_messages([HumanMessage(content="ok")])
    assert [m.content for m in await SessionChatMessageHistory("aretry", store).aget_messages()] == ["ok"]


def test_the_same_text_in_two_turns_is_kept_twice(store: SessionStore) -> None:
    history = SessionChatMessageHistory("twice", store)
    history.add_user_message("ok")
    history.add_user_message("ok")
    SessionChatMessageHistory("twice", store).add_user_message("ok")  # another object, same text
    assert [m.content for m in history.messages] == ["ok", "ok", "ok"]


def test_identical_messages_in_one_batch_are_all_kept(store: SessionStore) -> None:
    history = SessionChatMessageHistory("batch", store)
    history.add_messages([HumanMessage(content="ok"), HumanMessage(content="ok")])
    assert [m.content for m in history.messages] == ["ok", "ok"]


def test_a_retry_of_a_parsed_reply_stores_the_reply_once(store: SessionStore) -> None:
    flaky = AppliedThenTimedOut(store)
    flaky.fail_next = False
    handler = SessionCallbackHandler("retry-reply", flaky)  # type: ignore[arg-type]
    history = SessionChatMessageHistory("retry-reply", flaky)  # type: ignore[arg-type]
    history.add_user_message("q1")
    text = (RecordingFakeChatModel(messages=iter([reply("a1")])) | StrOutputParser()).invoke(
        "q1", config={"callbacks": [handler]}
    )
    flaky.fail_next = True
    with pytest.raises(StoreUnavailableError):
        history.add_ai_message(text)
    history.add_ai_message(text)
    events = store.get_events("retry-reply")
    assert [e.message["content"] for e in events] == ["q1", "a1"]
    session = store.get("retry-reply")
    assert session is not None and session.token_summary.total_tokens == USAGE["total_tokens"]
