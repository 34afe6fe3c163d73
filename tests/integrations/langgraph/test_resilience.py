"""Threads stay usable: checkpoints LangGraph writes stay readable, and no message poisons later turns.

* A checkpoint may list a channel version that no ``put`` stored a value for (LangGraph
  does this when it resumes a thread saved in an older channel layout): it reads as a
  checkpoint without that channel, as with LangGraph's own savers.
* The transcript mirror runs after the checkpoint is stored: a message that the
  conversion or the store refuses is recorded as an event carrying the error, and every
  later turn of the thread works.
"""

from __future__ import annotations

import copy
from typing import Any, TypedDict

import pytest
from a2a_session_manager.exceptions import CorruptSessionError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from a2a_session_integrations.langchain import SessionChatMessageHistory
from a2a_session_integrations.langgraph import SessionCheckpointer
from a2a_session_integrations.langgraph.checkpointer import BLOB_KIND
from tests.integrations.langgraph.conftest import NewStore


def _cfg(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


# ====================================================================== item 12
@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_channel_version_without_a_stored_value_reads_as_an_absent_channel(
    kind: str, use_async: bool, new_store: NewStore
) -> None:
    store, _ = new_store(kind)
    cp = SessionCheckpointer(store)
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"a": "kept"}
    checkpoint["channel_versions"] = {"a": cp.get_next_version(None, None), "ghost": cp.get_next_version(None, None)}
    new_versions = {"a": checkpoint["channel_versions"]["a"]}  # "ghost" was never written
    metadata: Any = {"source": "loop", "step": 1, "parents": {}}
    if use_async:
        config = await cp.aput(_cfg("t"), checkpoint, metadata, new_versions)
        tup = await cp.aget_tuple(config)
        listed = [t async for t in cp.alist(_cfg("t"))]
    else:
        config = cp.put(_cfg("t"), checkpoint, metadata, new_versions)
        tup = cp.get_tuple(config)
        listed = list(cp.list(_cfg("t")))
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"a": "kept"}
    assert tup.checkpoint["channel_versions"] == checkpoint["channel_versions"]
    assert [t.checkpoint["channel_values"] for t in listed] == [{"a": "kept"}]


def test_a_stored_value_that_does_not_decode_still_raises(new_store: NewStore) -> None:
    store, _ = new_store("sqlite")
    cp = SessionCheckpointer(store)
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"a": "kept"}
    checkpoint["channel_versions"] = {"a": cp.get_next_version(None, None)}
    config = cp.put(_cfg("t"), checkpoint, {"source": "loop", "step": 1, "parents": {}}, checkpoint["channel_versions"])  # type: ignore[arg-type]
    key = store.list_records("t", BLOB_KIND)[0][0]
    store.put_record("t", BLOB_KIND, key, b"msgpack\n\xc1")  # 0xc1: never valid msgpack
    with pytest.raises(CorruptSessionError, match="cannot be decoded"):
        cp.get_tuple(config)


class Counter(TypedDict):
    value: int


def _counter_graph(checkpointer: Any) -> Any:
    graph = StateGraph(Counter)
    graph.add_node("a", lambda state: {"value": state["value"] + 1})
    graph.add_node("b", lambda state: {"value": state["value"] * 10})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    return graph.compile(checkpointer=checkpointer, interrupt_before=["b"])


def _as_saved_by_an_older_langgraph(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The same checkpoint in LangGraph's channel layout before v3: ``start:a`` and the node channel ``a``."""
    old = copy.deepcopy(checkpoint)
    for versions in (old["channel_versions"], *old["versions_seen"].values()):
        for new_name, old_name in (("branch:to:a", "start:a"), ("branch:to:b", "a")):
            if new_name in versions:
                versions[old_name] = versions.pop(new_name)
    values = old["channel_values"]
    values.pop("branch:to:a", None)
    values["a"] = values.pop("branch:to:b", None)
    old["v"] = 2
    return old


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_thread_saved_by_an_older_langgraph_resumes_and_stays_readable(
    kind: str, use_async: bool, new_store: NewStore
) -> None:
    # A thread paused before node "b", as an older LangGraph saved it (the way LangGraph's
    # test_saved_checkpoint_state_graph loads saved checkpoints into a saver).
    reference = InMemorySaver()
    _counter_graph(reference).invoke({"value": 1}, _cfg("ref"))
    saved = next(iter(reference.list(_cfg("ref"))))
    old = _as_saved_by_an_older_langgraph(dict(saved.checkpoint))

    store, _ = new_store(kind)
    cp = SessionCheckpointer(store)
    cp.put(_cfg("old"), old, saved.metadata, dict(old["channel_versions"]))  # type: ignore[arg-type]
    app = _counter_graph(cp)
    # LangGraph migrates the layout on load (``start:a`` becomes ``branch:to:a``, keeping its
    # version), so the checkpoints it writes next list versions no put stored a value for.
    if use_async:
        assert (await app.aget_state(_cfg("old"))).next == ("b",)
        assert await app.ainvoke(None, _cfg("old")) == {"value": 20}
        state = await app.aget_state(_cfg("old"))
        history = [s async for s in app.aget_state_history(_cfg("old"))]
    else:
        assert app.get_state(_cfg("old")).next == ("b",)
        assert app.invoke(None, _cfg("old")) == {"value": 20}
        state = app.get_state(_cfg("old"))
        history = list(app.get_state_history(_cfg("old")))
    assert state.values == {"value": 20} and state.next == ()
    assert [s.values for s in history] == [{"value": 20}, {"value": 2}]


# ====================================================================== item 1 (checkpointer part)
class CustomMessage(BaseMessage):
    """A message kind of the application's own: LangGraph keeps it, the neutral mapping has no role for it."""

    type: str = "custom"


def _echo_graph(checkpointer: SessionCheckpointer) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("echo", lambda state: {"messages": [AIMessage(content=f"echo {len(state['messages'])}")]})
    graph.add_edge(START, "echo")
    return graph.compile(checkpointer=checkpointer)


async def _turn(app: Any, message: BaseMessage, thread_id: str, use_async: bool) -> list[BaseMessage]:
    if use_async:
        result = await app.ainvoke({"messages": [message]}, _cfg(thread_id))
    else:
        result = app.invoke({"messages": [message]}, _cfg(thread_id))
    return list(result["messages"])


BAD_MESSAGES: dict[str, BaseMessage] = {
    # The conversion to the neutral form raises (LangChain's own converter, or no neutral role).
    "an image block without mime_type": HumanMessage(content=[{"type": "image", "base64": "AAAA"}], id="bad"),
    "a message kind the mapping does not know": CustomMessage(content="custom text", id="bad"),
    # The store refuses the event (text that is not valid Unicode cannot be stored as JSON).
    "text with a lone surrogate": HumanMessage(content="half \ud800 a pair", id="bad"),
}


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
@pytest.mark.parametrize("bad", sorted(BAD_MESSAGES))
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_message_the_mirror_cannot_store_never_fails_this_or_a_later_turn(
    kind: str, bad: str, use_async: bool, new_store: NewStore
) -> None:
    store, _ = new_store(kind)
    app = _echo_graph(SessionCheckpointer(store, allowed_types=[CustomMessage]))
    await _turn(app, HumanMessage(content="first", id="h-0"), "t", use_async)
    await _turn(app, BAD_MESSAGES[bad], "t", use_async)
    for turn in (1, 2):
        messages = await _turn(app, HumanMessage(content=f"later {turn}", id=f"h-{turn}"), "t", use_async)
    assert [m.content for m in messages if isinstance(m, AIMessage)] == ["echo 1", "echo 3", "echo 5", "echo 7"]

    # The transcript holds every message once, in order: the refused one as an event that
    # records why (with its exact LangChain form when the store accepts it).
    events = store.get("t").events  # type: ignore[union-attr]
    assert [e.id for e in events][:3] == ["h-0", events[1].id, "bad"]
    assert len(events) == 8
    refused = events[2]
    if bad == "text with a lone surrogate":
        assert refused.metadata["langgraph"]["mirror_error"]  # the store's error, as text
        assert refused.message["content"] == ""  # the store refused the text: the checkpoint keeps it
    elif "mirror_error" in refused.metadata["langgraph"]:  # the neutral mapping refused it (today's LangChain)
        assert refused.metadata["langchain"]["data"]["content"] == BAD_MESSAGES[bad].content
    assert [e.message["content"] for e in events[3:]] == ["echo 3", "later 1", "echo 5", "later 2", "echo 7"]
    history = SessionChatMessageHistory("t", store=store).messages
    assert len(history) == 8 and history[2].id == "bad"
    if bad != "text with a lone surrogate":  # that one is kept by the checkpoint alone
        assert history[2].content == BAD_MESSAGES[bad].content


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_fresh_checkpointer_on_a_thread_with_a_refused_message_keeps_working(
    use_async: bool, new_store: NewStore
) -> None:
    store, _ = new_store("sqlite")
    await _turn(_echo_graph(SessionCheckpointer(store)), BAD_MESSAGES["text with a lone surrogate"], "t", use_async)
    # Another process (nothing cached) continues the thread.
    again = _echo_graph(SessionCheckpointer(store))
    messages = await _turn(again, HumanMessage(content="next", id="h-next"), "t", use_async)
    assert [m.content for m in messages][-2:] == ["next", "echo 3"]
    assert [e.id for e in store.get("t").events][-2:] == ["h-next", messages[-1].id]  # type: ignore[union-attr]
