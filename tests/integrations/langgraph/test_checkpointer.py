"""SessionCheckpointer: the sync twins, a real agent across processes, the transcript, TTL, storage growth."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager.exceptions import CorruptSessionError, InvalidSessionIdError, MissingDependencyError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.storage import SessionStore
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, MessagesState, StateGraph

from a2a_session_integrations.langchain import SessionChatMessageHistory
from a2a_session_integrations.langgraph import SessionCheckpointer
from a2a_session_integrations.langgraph.checkpointer import BLOB_KIND, CHUNK, CKPT_KIND, WRITES_KIND
from tests.docs.readme import python_blocks, readme_section
from tests.integrations.langgraph._agent import MODEL, USAGE, build_agent, question
from tests.integrations.langgraph.conftest import NewStore

REPO = Path(__file__).resolve().parents[3]


def cfg(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def put(
    cp: SessionCheckpointer,
    thread_id: str,
    values: dict[str, Any],
    *,
    parent: dict[str, Any] | None = None,
    ns: str = "",
    run_id: str | None = None,
    step: int = 0,
) -> dict[str, Any]:
    """Sync put of a checkpoint whose every value is new (versions from the checkpointer)."""
    checkpoint = empty_checkpoint()
    previous = {} if parent is None else cp.get_tuple(parent).checkpoint["channel_versions"]  # type: ignore[union-attr]
    versions = {k: cp.get_next_version(previous.get(k), None) for k in values}
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = {**previous, **versions}
    config = cfg(thread_id, ns, None if parent is None else parent["configurable"]["checkpoint_id"])
    metadata: dict[str, Any] = {"source": "loop", "step": step, "parents": {}}
    if run_id:
        metadata["run_id"] = run_id
    return cp.put(config, checkpoint, metadata, versions)  # type: ignore[arg-type]


def ids(cp: SessionCheckpointer, config: dict[str, Any] | None, **kwargs: Any) -> list[str]:
    return [t.checkpoint["id"] for t in cp.list(config, **kwargs)]  # type: ignore[arg-type]


# ====================================================================== sync twins
@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_sync_methods_store_list_copy_prune_and_delete(kind: str, new_store: NewStore) -> None:
    store, _ = new_store(kind)
    cp = SessionCheckpointer(store)

    first = put(cp, "t1", {"a": "v1", "b": [1, 2]}, step=0, run_id="run-1")
    second = put(cp, "t1", {"a": "v2"}, parent=first, step=1, run_id="run-2")
    cp.put_writes(second, [("a", "pending"), ("b", {"x": 1})], "task-1", "p")
    put(cp, "t1", {"c": 1}, ns="child:1", step=0, run_id="run-2")
    put(cp, "t2", {"a": "other"}, step=0, run_id="run-1")

    latest = cp.get_tuple(cfg("t1"))
    assert latest is not None
    assert latest.checkpoint["id"] == second["configurable"]["checkpoint_id"]
    assert latest.checkpoint["channel_values"] == {"a": "v2", "b": [1, 2]}
    assert latest.parent_config == first
    assert latest.pending_writes == [("task-1", "a", "pending"), ("task-1", "b", {"x": 1})]
    assert cp.get_tuple(first).checkpoint["channel_values"] == {"a": "v1", "b": [1, 2]}  # type: ignore[union-attr]

    assert ids(cp, cfg("t1")) == [second["configurable"]["checkpoint_id"], first["configurable"]["checkpoint_id"]]
    assert ids(cp, cfg("t1"), filter={"step": 0}) == [first["configurable"]["checkpoint_id"]]
    assert ids(cp, cfg("t1"), before=second) == [first["configurable"]["checkpoint_id"]]
    assert len(ids(cp, cfg("t1"), limit=1)) == 1
    assert len(ids(cp, {"configurable": {"thread_id": "t1"}})) == 3  # every namespace
    assert sorted(t.config["configurable"]["thread_id"] for t in cp.list(None, filter={"run_id": "run-1"})) == [
        "t1",
        "t2",
    ]

    cp.copy_thread("t1", "t3")
    assert ids(cp, cfg("t3")) == ids(cp, cfg("t1"))
    assert cp.get_tuple(cfg("t3")).pending_writes == latest.pending_writes  # type: ignore[union-attr]

    cp.delete_for_runs(["run-1"])
    assert ids(cp, cfg("t1")) == [second["configurable"]["checkpoint_id"]]
    assert ids(cp, cfg("t2")) == []
    assert cp.get_tuple(cfg("t1")).checkpoint["channel_values"] == {"a": "v2", "b": [1, 2]}  # type: ignore[union-attr]

    cp.prune(["t3"], strategy="keep_latest")
    assert ids(cp, cfg("t3")) == [second["configurable"]["checkpoint_id"]]
    assert ids(cp, cfg("t3", "child:1")) != []
    assert cp.get_tuple(cfg("t3")).checkpoint["channel_values"] == {"a": "v2", "b": [1, 2]}  # type: ignore[union-attr]
    # The pruned checkpoint's value 'v1' is gone; the kept ones stay.
    assert len(store.list_records("t3", BLOB_KIND)) == 3

    cp.prune(["t3"], strategy="delete")
    assert ids(cp, cfg("t3")) == []
    cp.delete_thread("t1")
    assert cp.get_tuple(cfg("t1")) is None
    assert all(store.list_records("t1", kind) == [] for kind in (CKPT_KIND, BLOB_KIND, WRITES_KIND))


@pytest.mark.parametrize("use_async", [False, True])
async def test_an_invalid_thread_id_raises_invalid_session_id_error(use_async: bool) -> None:
    cp = SessionCheckpointer()
    for bad in ("", "a\nb", "tab\there", "x" * 300):  # empty, control characters, over 256
        with pytest.raises(InvalidSessionIdError):
            if use_async:
                await cp.aget_tuple(cfg(bad))
            else:
                cp.get_tuple(cfg(bad))
        with pytest.raises(InvalidSessionIdError):
            if use_async:
                await cp.adelete_thread(bad)
            else:
                cp.delete_thread(bad)


def test_a_pickling_serializer_is_refused_and_pickle_records_are_never_loaded() -> None:
    with pytest.raises(ValueError, match="pickle"):
        SessionCheckpointer(serde=JsonPlusSerializer(pickle_fallback=True))
    cp = SessionCheckpointer()
    stored = put(cp, "t1", {"a": 1})
    key = cp.store.list_records("t1", CKPT_KIND)[0][0]
    cp.store.put_record("t1", CKPT_KIND, key, b"pickle\n\x80\x04K\x01.")
    with pytest.raises(CorruptSessionError, match="pickle"):
        cp.get_tuple(stored)


def test_without_langgraph_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        m for m in sys.modules if m == "langgraph" or m.startswith(("langgraph.", "a2a_session_integrations.langgraph"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langgraph", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'a2a-session-manager\[langgraph\]'"):
        importlib.import_module("a2a_session_integrations.langgraph")


# ====================================================================== long lists
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_long_lists_round_trip_in_chunks_and_prune_keeps_what_the_latest_uses(kind: str, new_store: NewStore) -> None:
    store, _ = new_store(kind)
    cp = SessionCheckpointer(store)
    items = [{"n": i} for i in range(5 * CHUNK + 3)]
    first = put(cp, "t", {"messages": items[: 3 * CHUNK]})
    second = put(cp, "t", {"messages": items}, parent=first)
    assert cp.get_tuple(first).checkpoint["channel_values"]["messages"] == items[: 3 * CHUNK]  # type: ignore[union-attr]
    assert cp.get_tuple(second).checkpoint["channel_values"]["messages"] == items  # type: ignore[union-attr]
    # Each item once (the first version's items are the second's prefix), plus the two versions' records.
    assert len(store.list_records("t", BLOB_KIND)) == len(items) + 2

    cp.prune(["t"])
    assert cp.get_tuple(cfg("t")).checkpoint["channel_values"]["messages"] == items  # type: ignore[union-attr]
    assert len(store.list_records("t", BLOB_KIND)) == len(items) + 1
    # A new checkpointer (nothing cached) still writes what the next version needs.
    third = put(SessionCheckpointer(store), "t", {"messages": [*items, *items]}, parent=second)
    assert cp.get_tuple(third).checkpoint["channel_values"]["messages"] == [*items, *items]  # type: ignore[union-attr]


def test_conversation_storage_grows_with_what_changed(new_store: NewStore) -> None:
    """Each turn adds two messages; stored message bytes stay a small multiple of the conversation."""
    store, _ = new_store("sqlite")
    graph = StateGraph(MessagesState)
    graph.add_node("echo", lambda state: {"messages": [AIMessage(content=f"echo {len(state['messages'])}")]})
    graph.add_edge(START, "echo")
    app = graph.compile(checkpointer=SessionCheckpointer(store, mirror_messages=False))
    config = cfg("grow")
    sizes = {}
    for turn in range(1, 201):
        app.invoke({"messages": [HumanMessage(content=f"message number {turn} " + "x" * 40)]}, config)
        if turn in (50, 100, 200):
            sizes[turn] = sum(len(v) for _, v in store.list_records("grow", BLOB_KIND))
    final = app.get_state(config).values["messages"]
    assert len(final) == 400
    one_copy = len(JsonPlusSerializer().dumps_typed(final)[1])
    # Copying the list into every checkpoint would store ~200 copies (400 versions); we store about one.
    assert sizes[200] < 2 * one_copy
    # Doubling the turns roughly doubles the bytes (a full copy per turn would quadruple them).
    assert sizes[200] < 2.6 * sizes[100]
    assert sizes[100] < 2.6 * sizes[50]


# ====================================================================== agents
def _run_turn_in_new_process(url: str, thread_id: str, turn: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.integrations.langgraph._agent", url, thread_id, str(turn)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _check_transcript(store: SessionStore, thread_id: str, turns: int) -> None:
    session = store.get(thread_id)
    assert session is not None
    events = session.events
    assert len(events) == 4 * turns  # each message once, though every step re-checkpoints the list
    for turn in range(turns):
        user, asked, tool, answer = events[4 * turn : 4 * turn + 4]
        assert (user.type, user.source, user.message["content"]) == (
            EventType.MESSAGE,
            EventSource.USER,
            f"Weather in City{turn}?",
        )
        assert asked.source == EventSource.LLM
        assert asked.message["tool_calls"] == [
            {"id": f"call-{turn}", "name": "get_weather", "arguments": {"city": f"City{turn}"}}
        ]
        assert asked.token_usage is not None and asked.token_usage.origin == "reported"
        assert (asked.token_usage.prompt_tokens, asked.token_usage.model) == (USAGE["input_tokens"], MODEL)
        assert tool.type == EventType.TOOL_CALL and tool.id == f"tool:call-{turn}"
        assert tool.message["result"] == f"Sunny in City{turn}"
        assert tool.message["arguments"] == {"city": f"City{turn}"}
        assert tool.metadata["parent_event_id"] == asked.id
        assert answer.message == {"role": "assistant", "content": f"It is sunny in City{turn}."}
    # The LangChain history over the same session shows the agent's conversation.
    history = SessionChatMessageHistory(thread_id, store=store).messages
    assert [type(m) for m in history[:4]] == [HumanMessage, AIMessage, ToolMessage, AIMessage]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_an_agent_resumes_in_a_new_process_and_its_conversation_is_session_events(
    kind: str, new_store: NewStore
) -> None:
    store, url = new_store(kind)
    agent = build_agent(SessionCheckpointer(store), [0, 1])
    config = cfg("user-42")
    for turn in (0, 1):
        agent.invoke({"messages": [question(turn)]}, config)

    seen = _run_turn_in_new_process(url, "user-42", 2)
    assert seen["before"][0] == ["human", "Weather in City0?"]
    assert len(seen["before"]) == 8
    assert seen["after"][-1] == ["ai", "It is sunny in City2."]
    assert len(seen["after"]) == 12

    # This process sees what the other one added, and every message is a session event once.
    assert len(agent.get_state(config).values["messages"]) == 12
    _check_transcript(store, "user-42", 3)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_an_async_agent_records_the_same_transcript(kind: str, new_store: NewStore) -> None:
    store, _ = new_store(kind)
    agent = build_agent(SessionCheckpointer(store), [0, 1])
    for turn in (0, 1):
        await agent.ainvoke({"messages": [question(turn)]}, cfg("async-thread"))
    state = await agent.aget_state(cfg("async-thread"))
    assert len(state.values["messages"]) == 8
    _check_transcript(store, "async-thread", 2)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_checkpoints_expire_with_the_session(kind: str, new_store: NewStore) -> None:
    store, _ = new_store(kind, expiration_seconds=1)
    cp = SessionCheckpointer(store)
    agent = build_agent(cp, [0])
    await agent.ainvoke({"messages": [question(0)]}, cfg("short-lived"))
    assert await cp.aget_tuple(cfg("short-lived")) is not None
    assert (await store.aget("short-lived")) is not None

    deadline = time.monotonic() + 10
    while await cp.aget_tuple(cfg("short-lived")) is not None:
        assert time.monotonic() < deadline, "checkpoints of a session with expiration_seconds=1 outlived 10 s"
        await asyncio.sleep(0.05)
    assert await store.aget("short-lived") is None
    assert [t async for t in cp.alist(cfg("short-lived"))] == []


# ====================================================================== docs
def test_the_docs_section_runs_offline(tmp_path: Path) -> None:
    blocks = python_blocks(readme_section("## LangGraph"))
    assert blocks
    script = tmp_path / "snippet.py"
    script.write_text("\n\n".join(blocks))
    out = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "tool_call tool" in out.stdout
