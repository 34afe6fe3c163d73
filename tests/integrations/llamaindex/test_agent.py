"""FunctionAgent runs with SessionMemory, SessionEventHandler and SessionDBChatStore (real framework)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from a2a_session_manager import EventType, RunStatus, SessionStore
from a2a_session_manager.storage import create_session_store
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.memory import Memory

from a2a_session_integrations.llamaindex import SessionDBChatStore, SessionEventHandler, SessionMemory
from tests.conftest import store_url
from tests.integrations.llamaindex.fakes import make_agent

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "redis"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = str(request.param)
    return store_url(kind, tmp_path, request.getfixturevalue("redis_url") if kind == "redis" else None)


def _tool_events(store: SessionStore, sid: str) -> list[object]:
    return [e for e in store.get_events(sid) if e.type == EventType.TOOL_CALL]


async def test_agent_conversation_persists_and_another_process_continues_it(durable_url: str) -> None:
    store = create_session_store(durable_url)
    try:
        memory = SessionMemory.from_defaults(session_id="agent-1", store=store)
        handler = SessionEventHandler(session_id="agent-1", store=store)
        async with handler.recording():
            result = await make_agent().run("add 2 and 3", memory=memory)
        assert str(result) == "The sum is 5."

        messages = await memory.aget_all()
        assert [m.role.value for m in messages] == ["user", "assistant", "tool", "assistant"]
        call = messages[1].blocks[0]
        assert isinstance(call, ToolCallBlock) and call.tool_kwargs == {"a": 2, "b": 3}
        assert messages[2].additional_kwargs == {"tool_call_id": "call-1"}

        # One TOOL_CALL event for the call (memory and handler converge), with the handler's timing.
        tools = [e for e in store.get_events("agent-1") if e.type == EventType.TOOL_CALL]
        assert len(tools) == 1
        tool = tools[0]
        assert tool.id == "tool:call-1"
        assert tool.message["name"] == "add" and tool.message["arguments"] == {"a": 2, "b": 3}
        assert tool.message["result"] == "5" and "duration_ms" in tool.message
        parent = next(e for e in store.get_events("agent-1") if e.id == tool.metadata["parent_event_id"])
        assert parent.type == EventType.MESSAGE and parent.message["tool_calls"][0]["id"] == "call-1"

        # One run, completed; every event written inside it carries its id.
        runs = store.get_runs("agent-1")
        assert [r.status for r in runs] == [RunStatus.COMPLETED]
        assert {e.task_id for e in store.get_events("agent-1")} == {runs[0].id}
        llm_calls = [e for e in store.get_events("agent-1") if e.type == EventType.REFERENCE]
        assert len(llm_calls) == 2 and all(e.token_usage and e.token_usage.total_tokens > 0 for e in llm_calls)
    finally:
        store.close()

    script = textwrap.dedent(
        f"""
        import asyncio, warnings
        warnings.simplefilter("ignore")
        from a2a_session_manager.storage import create_session_store
        from a2a_session_integrations.llamaindex import SessionMemory
        from tests.integrations.llamaindex.fakes import make_agent

        async def main():
            store = create_session_store({durable_url!r})
            memory = SessionMemory.from_defaults(session_id="agent-1", store=store)
            seen = len(await memory.aget())
            result = await make_agent(10, 20, "second").run("now add 10 and 20", memory=memory)
            print(seen, result)
            store.close()

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4", "The", "sum", "is", "30."]

    store = create_session_store(durable_url)
    try:
        roles = [m.role.value for m in SessionMemory.from_defaults(session_id="agent-1", store=store).get_all()]
        assert roles == ["user", "assistant", "tool", "assistant"] * 2
        assert [e.id for e in _tool_events(store, "agent-1")] == ["tool:call-1", "tool:second-1"]
    finally:
        store.close()


async def test_two_agents_on_two_sessions_run_concurrently_and_never_mix(store: SessionStore) -> None:
    async def one(sid: str, a: int, prefix: str) -> str:
        handler = SessionEventHandler(session_id=sid, store=store)
        memory = SessionMemory.from_defaults(session_id=sid, store=store)
        async with handler.recording():
            return str(await make_agent(a, 1, prefix).run(f"add {a} and 1", memory=memory))

    results = await asyncio.gather(one("left", 1, "L"), one("right", 100, "R"))
    assert results == ["The sum is 2.", "The sum is 101."]
    for sid, prefix in (("left", "L"), ("right", "R")):
        events = store.get_events(sid)
        ids = {e.id for e in events if e.type == EventType.TOOL_CALL}
        assert ids == {f"tool:{prefix}-1"}
        runs = store.get_runs(sid)
        assert len(runs) == 1 and runs[0].status == RunStatus.COMPLETED
        assert {e.task_id for e in events} == {runs[0].id}
        assert len([e for e in events if e.type == EventType.REFERENCE]) == 2


async def test_handler_alone_records_llm_calls_and_tool_calls(store: SessionStore) -> None:
    handler = SessionEventHandler(session_id="trace", store=store)
    async with handler.recording():
        await make_agent().run("add 2 and 3")  # LlamaIndex's default memory: nothing of ours
    events = store.get_events("trace")
    assert [e.type for e in events] == [EventType.REFERENCE, EventType.REFERENCE, EventType.TOOL_CALL]
    first, _, tool = events
    assert first.message["tool_calls"] == [{"id": "call-1", "name": "add", "arguments": {"a": 2, "b": 3}}]
    assert first.token_usage is not None and first.token_usage.origin in ("counted", "estimated")
    assert tool.metadata["parent_event_id"] == first.id and tool.message["result"] == "5"
    assert store.get_runs("trace")[0].status == RunStatus.COMPLETED


async def test_memory_class_on_session_db_chat_store_runs_a_function_agent(store: SessionStore) -> None:
    memory = Memory.from_defaults(session_id="mem-1", chat_store=SessionDBChatStore(store), token_limit=40_000)
    result = await make_agent().run("add 2 and 3", memory=memory)
    assert str(result) == "The sum is 5."
    roles = [m.role.value for m in await memory.aget_all()]
    assert roles == ["user", "assistant", "tool", "assistant"]
    session = store.get("mem-1")
    assert session is not None and [e.type for e in session.events].count(EventType.TOOL_CALL) == 1
