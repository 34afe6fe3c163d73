"""Stored data is data: a record planted in the store never constructs arbitrary objects or runs code.

Each planted payload would, if loaded, create a marker file (``os.system("touch ...")``,
``subprocess.Popen``, a class whose constructor writes the file). The checkpointer must
refuse the record with ``CorruptSessionError`` naming the session and the type, and the
marker must not exist. The graph's own types (allowed explicitly, or by LangGraph's schema
walk through ``with_allowlist``) and the standard ones still round-trip.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shlex
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypedDict
from uuid import UUID, uuid4

import ormsgpack
import pytest
from a2a_session_manager.exceptions import CorruptSessionError
from a2a_session_manager.storage import create_session_store
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import BaseModel

from a2a_session_integrations.langchain import SessionChatMessageHistory
from a2a_session_integrations.langgraph import SessionCheckpointer
from a2a_session_integrations.langgraph.checkpointer import BLOB_KIND, CHUNK, CKPT_KIND, WRITES_KIND
from tests.integrations.langgraph.conftest import NewStore

THREAD = "t-planted"


class Bomb:
    """An arbitrary class: constructing it has a side effect (it writes the marker file)."""

    def __init__(self, path: str = "", *args: Any, **kwargs: Any) -> None:
        Path(path).write_text("constructed")


class _PickleBomb:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def _ext(code: int, *fields: Any) -> ormsgpack.Ext:
    return ormsgpack.Ext(code, ormsgpack.packb(fields))


def _msgpack(value: Any) -> bytes:
    return b"msgpack\n" + ormsgpack.packb(value)


def _json(value: Any) -> bytes:
    return b"json\n" + json.dumps(value).encode()


# Each planted record, given the marker path: (stored bytes, text the error must name).
PLANTS: dict[str, Callable[[str], tuple[bytes, str]]] = {
    "os.system as a constructor (msgpack)": lambda m: (
        _msgpack(_ext(0, "os", "system", f"touch {shlex.quote(m)}")),
        "os.system",
    ),
    "subprocess.Popen with positional args (msgpack)": lambda m: (
        _msgpack(_ext(1, "subprocess", "Popen", [["touch", m]])),
        "subprocess.Popen",
    ),
    "subprocess.Popen as a pydantic model (msgpack)": lambda m: (
        _msgpack(_ext(5, "subprocess", "Popen", {"args": ["touch", m]}, "model_validate_json")),
        "subprocess.Popen",
    ),
    "an arbitrary class with keyword args (msgpack)": lambda m: (
        _msgpack(_ext(2, __name__, "Bomb", {"path": m})),
        f"{__name__}.Bomb",
    ),
    "an arbitrary class as a pydantic v1 model (msgpack)": lambda m: (
        _msgpack(_ext(4, __name__, "Bomb", {"path": m})),
        f"{__name__}.Bomb",
    ),
    "os.system through a method call (msgpack)": lambda m: (
        _msgpack(_ext(3, "os", "system", f"touch {shlex.quote(m)}", "__call__")),
        "os.system",
    ),
    "os.system inside an allowed message (msgpack)": lambda m: (
        _msgpack(
            _ext(
                5,
                "langchain_core.messages.ai",
                "AIMessage",
                {"content": "hi", "additional_kwargs": {"x": _ext(0, "os", "system", f"touch {shlex.quote(m)}")}},
                "model_validate_json",
            )
        ),
        "os.system",
    ),
    "an arbitrary class inside an allowed set (msgpack)": lambda m: (
        _msgpack(_ext(0, "builtins", "set", [_ext(2, __name__, "Bomb", {"path": m})])),
        f"{__name__}.Bomb",
    ),
    "an unknown msgpack extension": lambda m: (_msgpack(ormsgpack.Ext(42, m.encode())), "extension type 42"),
    "a LangChain lc:2 constructor of os.system (json)": lambda m: (
        _json({"lc": 2, "type": "constructor", "id": ["os", "system"], "args": [f"touch {shlex.quote(m)}"]}),
        "json",
    ),
    "a LangChain lc:1 constructor (json)": lambda m: (
        _json({"lc": 1, "type": "constructor", "id": [__name__, "Bomb"], "kwargs": {"path": m}}),
        "json",
    ),
    "a pickle of os.system": lambda m: (b"pickle\n" + pickle.dumps(_PickleBomb(m)), "pickle"),
}


def _cfg(thread_id: str = THREAD) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def _put(cp: SessionCheckpointer, values: dict[str, Any], thread_id: str = THREAD) -> dict[str, Any]:
    checkpoint = empty_checkpoint()
    versions = {k: cp.get_next_version(None, None) for k in values}
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = versions
    return cp.put(_cfg(thread_id), checkpoint, {"source": "input", "step": -1, "parents": {}}, versions)  # type: ignore[arg-type]


def _plant(cp: SessionCheckpointer, where: str, raw: bytes) -> dict[str, Any]:
    """Store a real checkpoint (a value, a long list, a pending write), then overwrite one of its records."""
    config = _put(cp, {"a": "value", "long": [f"item {i}" for i in range(CHUNK)]})
    cp.put_writes(config, [("a", "pending")], "task-1")
    store = cp.store
    kind, key = {
        "checkpoint": lambda: (CKPT_KIND, store.list_records(THREAD, CKPT_KIND, prefix="c")[0][0]),
        "channel value": lambda: (BLOB_KIND, store.list_records(THREAD, BLOB_KIND, prefix="v")[0][0]),
        "list item": lambda: (BLOB_KIND, store.list_records(THREAD, BLOB_KIND, prefix="k")[0][0]),
        "pending write": lambda: (WRITES_KIND, store.list_records(THREAD, WRITES_KIND)[0][0]),
    }[where]()
    if kind == BLOB_KIND and where == "list item":
        raw = b"\n" + raw  # a list item's record starts with the previous item's hash (none for the first)
    store.put_record(THREAD, kind, key, raw)
    return config


@pytest.mark.parametrize("where", ["checkpoint", "channel value", "list item", "pending write"])
@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_planted_record_is_refused_with_a_typed_error_and_nothing_runs(
    plant: str, where: str, use_async: bool, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    raw, named = PLANTS[plant](str(marker))
    cp = SessionCheckpointer(create_session_store("memory://"))
    config = _plant(cp, where, raw)

    for call in ("get_tuple", "list"):
        with pytest.raises(CorruptSessionError) as caught:
            if call == "get_tuple":
                await cp.aget_tuple(config) if use_async else cp.get_tuple(config)
            elif use_async:
                [t async for t in cp.alist(_cfg())]
            else:
                list(cp.list(_cfg()))
        assert caught.value.session_id == THREAD
        assert THREAD in str(caught.value) and named in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["file", "sqlite", "redis"])
def test_a_record_planted_in_a_shared_store_is_refused_on_every_durable_store(
    kind: str, new_store: NewStore, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    store, url = new_store(kind)
    config = _put(SessionCheckpointer(store), {"a": "value"})
    # Another process with write access to the store (a shared Redis, the same folder) plants it.
    raw, _ = PLANTS["os.system as a constructor (msgpack)"](str(marker))
    other = create_session_store(url)
    try:
        key = other.list_records(THREAD, BLOB_KIND)[0][0]
        other.put_record(THREAD, BLOB_KIND, key, raw)
    finally:
        other.close()
    with pytest.raises(CorruptSessionError, match=r"os\.system"):
        SessionCheckpointer(store).get_tuple(config)
    assert not marker.exists()


def test_the_planted_payloads_are_live_under_langgraphs_permissive_serializer(tmp_path: Path) -> None:
    """Control: the same bytes do construct the class / run the command when read permissively."""
    permissive = JsonPlusSerializer(allowed_msgpack_modules=True)
    for n, plant in enumerate(
        ("an arbitrary class with keyword args (msgpack)", "os.system as a constructor (msgpack)")
    ):
        marker = tmp_path / f"ran-{n}"
        raw, _ = PLANTS[plant](str(marker))
        kind, _, data = raw.partition(b"\n")
        permissive.loads_typed((kind.decode(), data))
        assert marker.exists(), plant


def test_langchain_serialized_dicts_in_messages_and_values_come_back_as_the_stored_dicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("A2A_LC_TEST_SECRET", "the-secret-value")
    constructor = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain_core", "messages", "human", "HumanMessage"],
        "kwargs": {"content": "not a message"},
    }
    secret = {"lc": 1, "type": "secret", "id": ["A2A_LC_TEST_SECRET"]}

    class State(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]
        data: dict[str, Any]

    def build(cp: SessionCheckpointer) -> Any:
        graph = StateGraph(State)
        graph.add_node(
            "reply",
            lambda state: {
                "messages": [
                    AIMessage(
                        content=[{"type": "text", "text": "ok"}, dict(constructor)],
                        additional_kwargs={"secret": dict(secret)},
                        id="ai-1",
                    )
                ],
                "data": {"constructor": dict(constructor), "secret": dict(secret)},
            },
        )
        graph.add_edge(START, "reply")
        return graph.compile(checkpointer=cp)

    store = create_session_store("memory://")
    question = HumanMessage(content=[dict(constructor)], additional_kwargs={"secret": dict(secret)}, id="h-1")
    build(SessionCheckpointer(store)).invoke({"messages": [question], "data": {}}, _cfg("lc"))

    values = build(SessionCheckpointer(store)).get_state(_cfg("lc")).values  # a fresh reader
    human, ai = values["messages"]
    assert human.content == [constructor] and human.additional_kwargs == {"secret": secret}
    assert ai.content == [{"type": "text", "text": "ok"}, constructor] and ai.additional_kwargs == {"secret": secret}
    assert values["data"] == {"constructor": constructor, "secret": secret}
    # The mirrored transcript, read through LangChain and the core, keeps them as dicts too.
    history = SessionChatMessageHistory("lc", store=store).messages
    assert [m.additional_kwargs for m in history] == [{"secret": secret}, {"secret": secret}]
    assert history[0].content == [constructor]
    everything = repr(values) + repr(history) + repr(store.get("lc"))
    assert "the-secret-value" not in everything


# ================================================================= allowed types round-trip
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Profile(BaseModel):
    name: str
    born: date
    color: Color
    home: Point | None = None


class RichState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    profile: Profile
    point: Point
    when: datetime
    at: time
    span: timedelta
    uid: UUID
    amount: Decimal
    tags: set[str]
    frozen: frozenset[int]
    doc: Document


def _rich_values() -> dict[str, Any]:
    return {
        "profile": Profile(name="Ada", born=date(1815, 12, 10), color=Color.BLUE, home=Point(1, 2)),
        "point": Point(3, 4),
        "when": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "at": time(12, 30, 15),
        "span": timedelta(days=2, seconds=3),
        "uid": uuid4(),
        "amount": Decimal("12.3400"),
        "tags": {"a", "b"},
        "frozen": frozenset({1, 2}),
        "doc": Document(page_content="text", metadata={"k": 1}),
    }


def _rich_graph(cp: SessionCheckpointer, values: dict[str, Any]) -> Any:
    graph = StateGraph(RichState)
    graph.add_node("fill", lambda state: {**values, "messages": [AIMessage(content="filled", id="ai-1")]})
    graph.add_edge(START, "fill")
    return graph.compile(checkpointer=cp)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_graph_whose_state_holds_allowed_types_round_trips(
    kind: str, use_async: bool, new_store: NewStore
) -> None:
    store, _ = new_store(kind)
    values = _rich_values()
    question = {"messages": [HumanMessage(content="fill it", id="h-1")]}
    writer = _rich_graph(SessionCheckpointer(store, allowed_types=[RichState]), values)
    reader = _rich_graph(SessionCheckpointer(store, allowed_types=[RichState]), values)  # nothing cached
    if use_async:
        await writer.ainvoke(question, _cfg("rich"))
        state = (await reader.aget_state(_cfg("rich"))).values
    else:
        writer.invoke(question, _cfg("rich"))
        state = reader.get_state(_cfg("rich")).values
    assert {k: state[k] for k in values} == values
    assert {k: type(state[k]) for k in values} == {k: type(v) for k, v in values.items()}
    assert state["profile"].home == Point(1, 2) and state["profile"].color is Color.BLUE
    assert [m.content for m in state["messages"]] == ["fill it", "filled"]


def test_the_graphs_types_are_refused_until_allowed_and_the_error_says_how(new_store: NewStore) -> None:
    store, _ = new_store("sqlite")
    values = _rich_values()
    _rich_graph(SessionCheckpointer(store, allowed_types=[RichState]), values).invoke(
        {"messages": [HumanMessage(content="fill it")]}, _cfg("rich")
    )
    with pytest.raises(CorruptSessionError, match=r"allowed_types") as caught:
        _rich_graph(SessionCheckpointer(store), values).get_state(_cfg("rich"))
    assert caught.value.session_id == "rich"
    assert f"{__name__}." in str(caught.value)  # names the refused type (Profile or Point)

    # LangGraph's own allow-list protocol (what it passes under LANGGRAPH_STRICT_MSGPACK).
    keys = {(c.__module__, c.__name__) for c in (Profile, Point, Color)}
    widened = SessionCheckpointer(store).with_allowlist(keys)
    assert _rich_graph(widened, values).get_state(_cfg("rich")).values["profile"] == values["profile"]


def test_allowed_types_rejects_what_is_not_a_type_and_does_not_combine_with_serde() -> None:
    with pytest.raises(TypeError, match="allowed_types"):
        SessionCheckpointer(allowed_types=["os.system"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="allowed_types"):
        SessionCheckpointer(serde=JsonPlusSerializer(), allowed_types=[Point])
    # A serializer of the caller's choice replaces the strict default entirely.
    permissive = SessionCheckpointer(create_session_store("memory://"), serde=JsonPlusSerializer())
    config = _put(permissive, {"point": Point(5, 6)})
    assert permissive.get_tuple(config).checkpoint["channel_values"] == {"point": Point(5, 6)}  # type: ignore[union-attr]
