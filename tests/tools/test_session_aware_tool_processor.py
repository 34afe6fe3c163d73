"""SessionAwareToolProcessor: runs a model's tool calls and records the turn in a run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from a2a_session_manager import (
    EventSource,
    EventType,
    RunStatus,
    Session,
    SessionEvent,
    SessionNotFoundError,
    SessionStore,
    SessionStoreProvider,
    ToolProcessingError,
)
from a2a_session_manager.messages import events_to_openai
from a2a_session_manager.session_aware_tool_processor import SessionAwareToolProcessor, ToolResult


def openai_call(name: str, call_id: str | None = None, **arguments: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    if call_id:
        call["id"] = call_id
    return call


def reply(*calls: dict[str, Any], content: str = "") -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


async def recorded(store: SessionStore, sid: str) -> tuple[list[SessionEvent], list[SessionEvent]]:
    events = await store.aget_events(sid)
    parents = [e for e in events if e.type == EventType.MESSAGE]
    tools = [e for e in events if e.type == EventType.TOOL_CALL]
    return parents, tools


# ---------------------------------------------------------------------------- happy paths
async def test_mapping_of_sync_and_async_tools_runs_calls_and_records_the_turn_in_a_run(
    store: SessionStore,
) -> None:
    async def weather(location: str) -> dict[str, Any]:
        return {"location": location, "temperature": 72}

    def add(a: int, b: int) -> int:
        return a + b

    processor = SessionAwareToolProcessor("s1", tools={"get_weather": weather, "add": add}, store=store)
    results = await processor.process_llm_message(
        reply(openai_call("get_weather", "c1", location="Paris"), openai_call("add", "c2", a=2, b=3)), None
    )

    assert [(r.tool, r.result, r.error, r.tool_call_id) for r in results] == [
        ("get_weather", {"location": "Paris", "temperature": 72}, None, "c1"),
        ("add", 5, None, "c2"),
    ]
    (run,) = await store.aget_runs("s1")
    assert run.status == RunStatus.COMPLETED
    (parent,), tools = await recorded(store, "s1")
    assert parent.source == EventSource.LLM and parent.message["role"] == "assistant"
    assert parent.message["tool_calls"] == [
        {"id": "c1", "name": "get_weather", "arguments": {"location": "Paris"}},
        {"id": "c2", "name": "add", "arguments": {"a": 2, "b": 3}},
    ]
    assert {e.id for e in tools} == {"tool:c1", "tool:c2"}
    for event in [parent, *tools]:
        assert event.task_id == run.id
    for event in tools:
        assert event.source == EventSource.TOOL
        assert event.metadata["parent_event_id"] == parent.id
        assert event.message["duration_ms"] >= 0
    by_id = {e.message["tool_call_id"]: e.message for e in tools}
    assert by_id["c2"]["result"] == 5 and by_id["c2"]["arguments"] == {"a": 2, "b": 3}


async def test_recorded_turn_renders_as_a_valid_openai_tool_exchange(store: SessionStore) -> None:
    def length(text: str) -> int:
        return len(text)

    processor = SessionAwareToolProcessor("s1", tools=[length], store=store)
    await processor.process_llm_message(reply({"name": "length", "arguments": {"text": "abc"}}), None)

    rendered = events_to_openai(await store.aget_events("s1"))
    assert rendered[0]["role"] == "assistant"
    (call,) = rendered[0]["tool_calls"]
    assert call["id"].startswith("call_")  # synthesized: the model gave no id
    assert rendered[1] == {"role": "tool", "tool_call_id": call["id"], "content": "3"}


async def test_list_of_callables_with_neutral_calls_and_missing_ids(store: SessionStore) -> None:
    def shout(text: str) -> str:
        return text.upper()

    async def count(text: str) -> int:
        return len(text)

    processor = SessionAwareToolProcessor("s1", tools=[shout, count], store=store)
    results = await processor.process_llm_message(
        {
            "tool_calls": [
                {"name": "shout", "arguments": {"text": "hi"}},
                {"name": "count", "arguments": {"text": "hey"}},
            ]
        },
        None,
    )
    assert [r.result for r in results] == ["HI", 3]
    ids = [r.tool_call_id for r in results]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2
    (parent,), tools = await recorded(store, "s1")
    assert [c["id"] for c in parent.message["tool_calls"]] == ids
    assert sorted(e.message["tool_call_id"] for e in tools) == sorted(ids)


async def test_langchain_tool_and_ai_message_reply(store: SessionStore) -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    processor = SessionAwareToolProcessor("s1", tools=[multiply], store=store)
    message = AIMessage(
        content="", id="lc-msg-1", tool_calls=[{"name": "multiply", "args": {"a": 6, "b": 7}, "id": "lc-1"}]
    )
    (result,) = await processor.process_llm_message(message, None)
    assert (result.tool, result.result, result.tool_call_id) == ("multiply", 42, "lc-1")
    (parent,), (tool_event,) = await recorded(store, "s1")
    assert parent.id == "lc-msg-1"  # the framework message's id is the idempotency key
    assert tool_event.id == "tool:lc-1" and tool_event.metadata["parent_event_id"] == "lc-msg-1"


async def test_langchain_tool_with_bad_arguments_is_a_recorded_error_and_is_not_run(store: SessionStore) -> None:
    from langchain_core.tools import tool

    calls: list[int] = []

    @tool
    def square(x: int) -> int:
        """Square a number."""
        calls.append(x)
        return x * x

    processor = SessionAwareToolProcessor("s1", tools=[square], store=store)
    results = await processor.process_llm_message(
        reply(openai_call("square", "ok", x=3), openai_call("square", "bad", x="three")), None
    )
    assert [r.result for r in results] == [9, None]
    assert "invalid arguments for tool 'square'" in (results[1].error or "")
    assert calls == [3]
    _, tools = await recorded(store, "s1")
    assert {e.message["tool_call_id"]: ("error" in e.message) for e in tools} == {"ok": False, "bad": True}


async def test_llamaindex_function_tool(store: SessionStore) -> None:
    from llama_index.core.tools import FunctionTool

    async def lookup(city: str) -> str:
        return f"{city}: sunny"

    def subtract(a: int, b: int) -> int:
        return a - b

    tools = [FunctionTool.from_defaults(async_fn=lookup), FunctionTool.from_defaults(fn=subtract)]
    processor = SessionAwareToolProcessor("s1", tools=tools, store=store)
    results = await processor.process_llm_message(
        reply(openai_call("lookup", "a", city="Oslo"), openai_call("subtract", "b", a=5, b=2)), None
    )
    assert [(r.result, r.error) for r in results] == [("Oslo: sunny", None), (3, None)]
    bad = await processor.process_llm_message(
        reply(openai_call("subtract", "c", a=5), openai_call("lookup", "d", city="Rome")), None
    )
    assert "invalid arguments for tool 'subtract'" in (bad[0].error or "")
    assert bad[1].result == "Rome: sunny"


# ---------------------------------------------------------------------------- failures
async def test_bad_arguments_are_recorded_as_errors_without_running_the_tool(store: SessionStore) -> None:
    ran: list[dict[str, Any]] = []

    def book(city: str, nights: int = 1) -> str:
        ran.append({"city": city, "nights": nights})
        return "booked"

    processor = SessionAwareToolProcessor("s1", tools={"book": book}, store=store)
    results = await processor.process_llm_message(
        reply(
            openai_call("book", "ok", city="Rome"),
            openai_call("book", "extra", city="Rome", stars=5),
            {"id": "json", "function": {"name": "book", "arguments": "{not json"}},
            openai_call("fly", "unknown", to="Rome"),
        ),
        None,
    )
    assert ran == [{"city": "Rome", "nights": 1}]
    errors = {r.tool_call_id: r.error for r in results}
    assert errors["ok"] is None
    assert "unexpected keyword argument 'stars'" in (errors["extra"] or "")
    assert "not valid JSON" in (errors["json"] or "")
    assert "unknown tool 'fly'" in (errors["unknown"] or "")
    _, tools = await recorded(store, "s1")
    assert sorted(e.message["tool_call_id"] for e in tools if "error" in e.message) == ["extra", "json", "unknown"]
    (run,) = await store.aget_runs("s1")
    assert run.status == RunStatus.COMPLETED


async def test_a_tool_that_times_out_is_recorded_as_an_error(store: SessionStore) -> None:
    never = asyncio.Event()

    async def slow() -> str:
        await never.wait()
        return "too late"

    async def fast() -> str:
        return "done"

    processor = SessionAwareToolProcessor("s1", tools=[slow, fast], store=store, timeout=0.05)
    results = await processor.process_llm_message(reply(openai_call("slow", "s"), openai_call("fast", "f")), None)
    assert results[0].error == "tool 'slow' timed out after 0.05 s" and results[0].result is None
    assert results[1].result == "done"
    _, tools = await recorded(store, "s1")
    assert {e.message["tool_call_id"]: e.message.get("error") for e in tools} == {
        "s": "tool 'slow' timed out after 0.05 s",
        "f": None,
    }


async def test_one_raising_tool_does_not_stop_the_others_and_the_run_completes(store: SessionStore) -> None:
    def explode() -> None:
        raise RuntimeError("disk on fire")

    async def ok(n: int) -> int:
        return n + 1

    processor = SessionAwareToolProcessor("s1", tools=[explode, ok], store=store)
    results = await processor.process_llm_message(
        reply(openai_call("ok", "a", n=1), openai_call("explode", "b"), openai_call("ok", "c", n=2)), None
    )
    assert [(r.result, r.error) for r in results] == [(2, None), (None, "RuntimeError: disk on fire"), (3, None)]
    assert not results[1].ok and results[0].ok
    (run,) = await store.aget_runs("s1")
    assert run.status == RunStatus.COMPLETED
    _, tools = await recorded(store, "s1")
    assert len(tools) == 3


async def test_no_valid_call_retries_the_llm_then_raises_and_the_run_fails(store: SessionStore) -> None:
    prompts: list[str] = []

    async def llm(prompt: str) -> dict[str, Any]:
        prompts.append(prompt)
        return {"role": "assistant", "content": "I would rather chat."}

    processor = SessionAwareToolProcessor(
        "s1", tools={"noop": lambda: None}, max_llm_retries=2, llm_retry_prompt="Use a tool!", store=store
    )
    with pytest.raises(ToolProcessingError) as info:
        await processor.process_llm_message({"role": "assistant", "content": "Hello!"}, llm)
    assert info.value.session_id == "s1" and "'s1'" in str(info.value)
    assert prompts == ["Use a tool!", "Use a tool!"]
    (run,) = await store.aget_runs("s1")
    assert run.status == RunStatus.FAILED and run.ended_at is not None
    events = await store.aget_events("s1")
    assert all(e.task_id == run.id for e in events)
    assert [e.message["content"] for e in events if e.type == EventType.MESSAGE] == [
        "Hello!",
        "I would rather chat.",
        "I would rather chat.",
    ]
    assert [e.message["attempt"] for e in events if e.type == EventType.REFERENCE] == [1, 2]


async def test_a_retry_that_brings_a_valid_call_completes_the_run(store: SessionStore) -> None:
    answers = iter([reply(openai_call("nope", "x1")), reply(openai_call("echo", "x1", text="hi"))])

    def llm(prompt: str) -> dict[str, Any]:  # sync callbacks work too
        return next(answers)

    processor = SessionAwareToolProcessor("s1", tools={"echo": lambda text: text}, store=store)
    first_error = "unknown tool 'nope'"
    results = await processor.process_llm_message(reply(openai_call("missing", "x1")), llm)
    assert [r.result for r in results] == ["hi"]
    (run,) = await store.aget_runs("s1")
    assert run.status == RunStatus.COMPLETED
    _, tools = await recorded(store, "s1")
    # The model reused id "x1" on every attempt: no attempt's record is lost.
    assert len(tools) == 3 and len({e.id for e in tools}) == 3
    assert any(first_error in (e.message.get("error") or "") for e in tools)


async def test_bare_json_tool_call_in_the_content_is_parsed(store: SessionStore) -> None:
    processor = SessionAwareToolProcessor("s1", tools={"add": lambda a, b: a + b}, store=store)
    text = 'Let me add.\n```json\n{"name": "add", "arguments": {"a": 20, "b": 22}}\n```'
    (from_dict,) = await processor.process_llm_message({"role": "assistant", "content": text}, None)
    (from_text,) = await processor.process_llm_message('{"name": "add", "arguments": {"a": 1, "b": 1}}', None)
    assert (from_dict.result, from_text.result) == (42, 2)
    assert len(await store.aget_runs("s1")) == 2


async def test_chat_completion_response_usage_is_kept_as_reported(store: SessionStore) -> None:
    response = {
        "model": "gpt-4o",
        "choices": [{"message": reply(openai_call("add", "u1", a=1, b=2))}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12},
    }
    processor = SessionAwareToolProcessor("s1", tools={"add": lambda a, b: a + b}, store=store)
    (result,) = await processor.process_llm_message(response, None)
    assert result.result == 3
    (parent,), _ = await recorded(store, "s1")
    assert parent.token_usage is not None
    assert (parent.token_usage.prompt_tokens, parent.token_usage.completion_tokens) == (50, 12)
    assert parent.token_usage.origin == "reported"


# ---------------------------------------------------------------------------- compatibility
async def test_0_1_3_readme_process_text_monkeypatch_flow(store: SessionStore) -> None:
    class LegacyResult:
        def __init__(self, tool: str, arguments: dict[str, Any], result: Any) -> None:
            self.tool, self.arguments, self.result = tool, arguments, result

        def model_dump(self) -> dict[str, Any]:
            return {"tool": self.tool, "arguments": self.arguments, "result": self.result}

    SessionStoreProvider.set_store(store)
    try:
        session = Session()
        session.add_event(SessionEvent(message="What's the weather in New York?", source=EventSource.USER))
        await store.asave(session)
        processor = SessionAwareToolProcessor(session_id=session.id)

        async def process_text(text: str) -> list[LegacyResult]:
            data = json.loads(text)
            results = []
            for call in data.get("tool_calls", []):
                fn = call.get("function", {})
                if fn.get("name") == "get_weather":
                    args = json.loads(fn.get("arguments", "{}"))
                    results.append(LegacyResult("get_weather", args, {"temperature": 72, "location": args["location"]}))
            return results

        processor.process_text = process_text  # type: ignore[attr-defined]
        assistant_msg = {
            "role": "assistant",
            "content": "I'll check the weather for you",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps({"location": "New York"})},
                }
            ],
        }

        async def llm_callback(prompt: str) -> dict[str, Any]:
            return assistant_msg

        results = await processor.process_llm_message(assistant_msg, llm_callback)
        assert len(results) == 1 and results[0].result == {"temperature": 72, "location": "New York"}
        updated = await store.aget(session.id)
        assert updated is not None and len(updated.events) == 3
        tool_events = [e for e in updated.events if e.type == EventType.TOOL_CALL]
        assert tool_events[0].message["result"] == {"temperature": 72, "location": "New York"}
        assert tool_events[0].metadata["parent_event_id"] == updated.events[1].id
        assert updated.runs[0].status == RunStatus.COMPLETED
    finally:
        SessionStoreProvider.reset()


async def test_create_needs_an_existing_session(store: SessionStore) -> None:
    with pytest.raises(SessionNotFoundError):
        await SessionAwareToolProcessor.create(session_id="missing", store=store)
    await store.asave(Session(id="there"))
    processor = await SessionAwareToolProcessor.create(session_id="there", tools=[len], store=store)
    assert processor.tool_names == ["len"]


def test_tool_result_dumps_every_field() -> None:
    result = ToolResult(tool="t", arguments={"a": 1}, result=[1], tool_call_id="c", duration_ms=1.5)
    assert result.model_dump() == {
        "tool": "t",
        "arguments": {"a": 1},
        "result": [1],
        "error": None,
        "tool_call_id": "c",
        "duration_ms": 1.5,
    }


def test_unusable_tools_are_refused_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="not callable"):
        SessionAwareToolProcessor("s1", tools=[42])
    with pytest.raises(ValueError, match="register it in a mapping"):
        SessionAwareToolProcessor("s1", tools=[lambda: 1])
    with pytest.raises(ValueError, match="two tools are named 'len'"):
        SessionAwareToolProcessor("s1", tools=[len, len])
