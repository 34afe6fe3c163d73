"""SessionMiddleware in real LangChain v1 agents (create_agent): recording and prompt budgets."""

from __future__ import annotations

from typing import Any

import pytest
from a2a_session_manager.exceptions import InvalidSessionIdError
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_run import RunStatus
from a2a_session_manager.storage import SessionStore
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from a2a_session_integrations.langchain import SessionChatMessageHistory, SessionMiddleware

from .fakes import MODEL, USAGE, RecordingFakeChatModel, reply


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _tool_turn(call_id: str) -> AIMessage:
    return reply("", tool_calls=[{"id": call_id, "name": "add", "args": {"a": 1, "b": 2}}])


def _agent(middleware: SessionMiddleware, *replies: AIMessage) -> tuple[Any, RecordingFakeChatModel]:
    model = RecordingFakeChatModel(messages=iter(replies), calls=[])
    return create_agent(model, tools=[add], middleware=[middleware]), model


def _check_whole_session(store: SessionStore, sid: str) -> None:
    session = store.get(sid)
    assert session is not None
    human, asked, result, answer = session.events
    assert human.message == {"role": "user", "content": "1 + 2?"}
    assert asked.message["tool_calls"] == [{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]
    assert result.type == EventType.TOOL_CALL and result.id == "tool:c1"
    assert result.message["result"] == "3" and result.metadata["parent_event_id"] == asked.id
    assert "duration_ms" in result.message
    assert answer.message["content"] == "3"
    [run] = session.runs
    assert run.status == RunStatus.COMPLETED
    assert {e.task_id for e in session.events} == {run.id}
    assert session.token_summary.total_tokens == 2 * USAGE["total_tokens"]
    assert session.token_summary.usage_by_model[MODEL].estimated_cost_usd is not None


def test_agent_is_recorded_in_the_session_named_by_thread_id(store: SessionStore) -> None:
    agent, _ = _agent(SessionMiddleware(store=store), _tool_turn("c1"), reply("3"))
    agent.invoke({"messages": [HumanMessage(content="1 + 2?")]}, config={"configurable": {"thread_id": "t-1"}})
    _check_whole_session(store, "t-1")


async def test_async_agent_is_recorded_in_the_given_session(store: SessionStore) -> None:
    agent, _ = _agent(SessionMiddleware("given", store=store), _tool_turn("c1"), reply("3"))
    await agent.ainvoke({"messages": [HumanMessage(content="1 + 2?")]})
    _check_whole_session(store, "given")


def test_recorded_agent_reads_back_through_the_history(store: SessionStore) -> None:
    agent, _ = _agent(SessionMiddleware("h", store=store), _tool_turn("c1"), reply("3"))
    result = agent.invoke({"messages": [HumanMessage(content="1 + 2?")]})
    assert SessionChatMessageHistory("h", store).messages == result["messages"]


def test_without_a_session_id_or_thread_id_the_error_says_what_to_pass(store: SessionStore) -> None:
    agent, _ = _agent(SessionMiddleware(store=store), reply("hi"))
    with pytest.raises(InvalidSessionIdError, match="thread_id"):
        agent.invoke({"messages": [HumanMessage(content="hello")]})


def _long_history() -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for i in range(12):
        messages.append(HumanMessage(content=f"question {i}: " + "lorem ipsum dolor sit amet " * 8))
        if i == 9:
            messages.append(
                AIMessage(content="", tool_calls=[{"id": f"k{i}", "name": "add", "args": {"a": i, "b": 1}}])
            )
            messages.append(ToolMessage(content=str(i + 1) + " " + "x" * 80, tool_call_id=f"k{i}", name="add"))
        messages.append(AIMessage(content=f"answer {i}: " + "consectetur adipiscing elit " * 8))
    messages.append(HumanMessage(content="and finally?"))
    return messages


def _paired(messages: list[BaseMessage]) -> bool:
    asked = {c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return asked == answered


def test_budget_trims_what_the_model_sees_and_never_splits_a_tool_call(store: SessionStore) -> None:
    middleware = SessionMiddleware("budget", store=store, max_tokens=400, model="gpt-4o-mini")
    agent, model = _agent(middleware, reply("done"))
    history = _long_history()
    result = agent.invoke({"messages": history})
    [sent] = model.calls
    assert 1 < len(sent) < len(history)
    assert sent[-1].content == "and finally?"
    assert _paired(sent)
    assert len(result["messages"]) == len(history) + 1  # the agent's state keeps everything
    assert store.count_events("budget") == len(history) + 1  # and so does the session


def test_budget_that_cuts_inside_a_tool_group_drops_the_group_whole(store: SessionStore) -> None:
    history = _long_history()
    for budget in (150, 250, 350, 500):
        middleware = SessionMiddleware(f"b{budget}", store=store, max_tokens=budget, model="gpt-4o-mini")
        agent, model = _agent(middleware, reply("ok"))
        agent.invoke({"messages": history})
        assert _paired(model.calls[0]), budget
