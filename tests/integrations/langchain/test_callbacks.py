"""SessionCallbackHandler with real LangChain runs: chains, RWMH, agents with tools, streaming, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_run import RunStatus
from a2a_session_manager.storage import SessionStore
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool

from a2a_session_integrations.langchain import (
    AsyncSessionCallbackHandler,
    SessionCallbackHandler,
    SessionChatMessageHistory,
    history_factory,
)

from .fakes import MODEL, USAGE, StreamingUsageFakeChatModel, ToolFakeChatModel, reply


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"tool failed: {reason}")


def _tool_turn(call_id: str, name: str = "add", args: dict[str, Any] | None = None) -> AIMessage:
    return reply("", tool_calls=[{"id": call_id, "name": name, "args": args or {"a": 1, "b": 2}}])


def _agent(*replies: AIMessage, tools: list[Any] | None = None) -> Any:
    return create_agent(ToolFakeChatModel(messages=iter(replies)), tools=tools or [add])


def test_agent_model_calls_and_tool_calls_are_recorded_in_one_run(store: SessionStore) -> None:
    handler = SessionCallbackHandler("agent-1", store)
    result = _agent(_tool_turn("call-1"), reply("It is 3.")).invoke(
        {"messages": [HumanMessage(content="1 + 2?")]}, config={"callbacks": [handler]}
    )
    assert result["messages"][-1].content == "It is 3."
    session = store.get("agent-1")
    assert session is not None
    [run] = session.runs
    assert run.status == RunStatus.COMPLETED
    asked, tool_event, answer = session.events
    assert asked.message["tool_calls"] == [{"id": "call-1", "name": "add", "arguments": {"a": 1, "b": 2}}]
    assert tool_event.type == EventType.TOOL_CALL and tool_event.id == "tool:call-1"
    assert tool_event.message["result"] == "3" and tool_event.message["arguments"] == {"a": 1, "b": 2}
    assert tool_event.metadata["parent_event_id"] == asked.id
    assert answer.message["content"] == "It is 3."
    assert {e.task_id for e in session.events} == {run.id}
    assert session.token_summary.total_tokens == 2 * USAGE["total_tokens"]
    assert session.token_summary.usage_by_model[MODEL].estimated_cost_usd is not None


def test_handler_and_history_store_each_message_once_and_count_usage_once(store: SessionStore) -> None:
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{q}")])
    chain = RunnableWithMessageHistory(
        prompt | ToolFakeChatModel(messages=iter([reply("a1"), reply("a2"), reply("a3")])),
        history_factory(store),
        input_messages_key="q",
        history_messages_key="history",
    )
    handler = SessionCallbackHandler("both", store)
    for i in (1, 2, 3):
        chain.invoke({"q": f"q{i}"}, config={"configurable": {"session_id": "both"}, "callbacks": [handler]})
    messages = SessionChatMessageHistory("both", store).messages
    assert [(m.type, m.content) for m in messages] == [
        ("human", "q1"),
        ("ai", "a1"),
        ("human", "q2"),
        ("ai", "a2"),
        ("human", "q3"),
        ("ai", "a3"),
    ]
    session = store.get("both")
    assert session is not None
    assert session.token_summary.total_tokens == 3 * USAGE["total_tokens"]
    assert len(session.runs) == 3 and all(r.status == RunStatus.COMPLETED for r in session.runs)
    run_ids = {r.id for r in session.runs}
    assert {e.task_id for e in session.events} == run_ids  # the history's writes carry the run too


def test_agent_with_handler_and_history_written_afterwards_converges(store: SessionStore) -> None:
    handler = SessionCallbackHandler("agent-h", store)
    result = _agent(_tool_turn("call-7"), reply("3")).invoke(
        {"messages": [HumanMessage(content="sum?", id="u-1")]}, config={"callbacks": [handler]}
    )
    SessionChatMessageHistory("agent-h", store).add_messages(result["messages"])
    session = store.get("agent-h")
    assert session is not None
    assert len(session.events) == 4  # the user's message is new; the AI turns and the tool call converged
    assert session.token_summary.total_tokens == 2 * USAGE["total_tokens"]
    stored = SessionChatMessageHistory("agent-h", store).messages
    # the AI turns read back equal (the handler stored them losslessly); the ToolMessage the
    # handler saw had no id yet (LangGraph's reducer adds one afterwards)
    assert [stored[0], stored[2]] == [result["messages"][1], result["messages"][3]]
    assert (stored[1].tool_call_id, stored[1].content) == ("call-7", "3")  # type: ignore[attr-defined]


def test_a_chain_that_raises_leaves_a_failed_run(store: SessionStore) -> None:
    def fail(_: Any) -> str:
        raise ValueError("bad input")

    handler = SessionCallbackHandler("fails", store)
    chain = ToolFakeChatModel(messages=iter([reply("fine")])) | RunnableLambda(fail)
    with pytest.raises(ValueError, match="bad input"):
        chain.invoke("hi", config={"callbacks": [handler]})
    [run] = store.get_runs("fails")
    assert run.status == RunStatus.FAILED and "bad input" in run.metadata["error"]


def test_a_failing_tool_is_recorded_with_its_error(store: SessionStore) -> None:
    handler = SessionCallbackHandler("tool-err", store)
    agent = _agent(_tool_turn("call-x", "explode", {"reason": "no"}), reply("sorry"), tools=[explode])
    with pytest.raises(RuntimeError, match="tool failed"):
        agent.invoke({"messages": [HumanMessage(content="go")]}, config={"callbacks": [handler]})
    events = store.get_events("tool-err")
    tool_event = next(e for e in events if e.type == EventType.TOOL_CALL)
    assert tool_event.id == "tool:call-x" and "tool failed: no" in tool_event.message["error"]
    assert tool_event.metadata["parent_event_id"] == events[0].id
    assert store.get_runs("tool-err")[0].status == RunStatus.FAILED


def test_streaming_records_the_usage_of_the_final_chunk(store: SessionStore) -> None:
    handler = SessionCallbackHandler("stream", store)
    model = StreamingUsageFakeChatModel(messages=iter([reply("one two three")]))
    chunks = list(model.stream("count", config={"callbacks": [handler]}))
    assert len(chunks) > 2
    [event] = store.get_events("stream")
    assert event.token_usage is not None and event.token_usage.total_tokens == USAGE["total_tokens"]
    assert event.message["content"].strip() == "one two three"
    assert store.get_runs("stream")[0].status == RunStatus.COMPLETED


async def test_async_handler_records_an_async_agent(store: SessionStore) -> None:
    handler = AsyncSessionCallbackHandler("async-agent", store)
    await _agent(_tool_turn("call-a"), reply("3")).ainvoke(
        {"messages": [HumanMessage(content="1+2")]}, config={"callbacks": [handler]}
    )
    session = await store.aget("async-agent")
    assert session is not None
    assert [e.id for e in session.events][1] == "tool:call-a"
    assert session.runs[0].status == RunStatus.COMPLETED
    assert session.token_summary.total_tokens == 2 * USAGE["total_tokens"]


async def test_one_handler_serves_concurrent_invocations(store: SessionStore) -> None:
    handler = SessionCallbackHandler("concurrent", store)
    agents = [_agent(_tool_turn(f"call-{i}"), reply(f"done {i}")) for i in range(4)]
    await asyncio.gather(
        *(
            a.ainvoke({"messages": [HumanMessage(content=str(i))]}, config={"callbacks": [handler]})
            for i, a in enumerate(agents)
        )
    )
    session = store.get("concurrent")
    assert session is not None
    assert len(session.runs) == 4 and all(r.status == RunStatus.COMPLETED for r in session.runs)
    assert len(session.events) == 12
    for i in range(4):
        tool_event = next(e for e in session.events if e.id == f"tool:call-{i}")
        parent = next(e for e in session.events if e.id == tool_event.metadata["parent_event_id"])
        assert parent.task_id == tool_event.task_id  # each call stays in its own run
