"""Bad input gets a typed error before any write, on every store, sync and async.

Each refused call must raise ``InvalidDataError`` (a ``SessionManagerError`` that is also a
``ValueError``, and a ``TypeError`` for wrong types) naming the field, and leave the
store exactly as it was: same sessions, headers, events, runs, records and files. What
can be stored must come back exactly: NaN and infinities stay NaN and infinities (never
null), deep but allowed nesting, any valid Unicode.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager import EventSource, Session, SessionEvent, SessionRun
from a2a_session_manager.exceptions import InvalidDataError, SessionManagerError
from a2a_session_manager.storage import SessionStore
from a2a_session_manager.storage.codec import MAX_NESTING

from tests.storage._twin import Twin


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, store: SessionStore) -> Twin:
    """Every backend (conftest's ``store``) through its sync or its async methods."""
    return Twin(store, use_async=request.param == "async")


# ------------------------------------------------------------------- helpers
def ev(message: Any, **fields: Any) -> SessionEvent:
    fields.setdefault("source", EventSource.USER)
    return SessionEvent(message=message, **fields)


def nested(depth: int, leaf: Any = "leaf") -> Any:
    """``depth`` containers, dicts and lists in turn, around ``leaf``."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def snapshot(api: Twin, tmp_path: Path) -> dict[str, Any]:
    """Everything the store holds, as stored text, plus the files under ``tmp_path``."""
    sessions: dict[str, Any] = {}
    for sid in await api.list_sessions():
        session = await api.get(sid)
        assert session is not None
        sessions[sid] = {
            "session": session.model_dump_json(),
            "lines": await api.get_event_lines(sid),
            "runs": [r.model_dump_json() for r in await api.get_runs(sid)],
            "records": await api.list_records(sid, "notes"),
            "children": await api.get_child_ids(sid),
        }
    return {"sessions": sessions, "files": files(tmp_path)}


async def seed(api: Twin) -> None:
    parent = Session(id="parent", state={"role": "parent"})
    await api.save(parent)
    target = Session(id="target", parent_id="parent", state={"plan": ["a"]})
    target.metadata.set_property("owner", "ada")
    target.add_event(ev("first", id="e1"))
    target.runs.append(SessionRun(id="r1"))
    await api.save(target)
    await api.append_event("target", ev({"role": "assistant", "content": "second"}, id="e2"))
    await api.put_record("target", "notes", "n1", b"kept")


async def loaded_target(api: Twin) -> Session:
    session = await api.get("target")
    assert isinstance(session, Session)
    return session


# --------------------------------------------------------------- bad input
Call = Callable[[Twin], Awaitable[Any]]


async def _save_target_changed(api: Twin, change: Callable[[Session], None]) -> None:
    """Load 'target', change its state (a valid change), then the bad change, and save."""
    session = await loaded_target(api)
    session.set_state("changed", True)
    change(session)
    await api.save(session)


def _bad_state(value: Any) -> Call:
    return lambda api: _save_target_changed(api, lambda s: s.set_state("bad", value))


def _assign(field: str, value: Any) -> Callable[[Session], None]:
    return lambda s: setattr(s, field, value)


def _add_to(field: str, value: Any) -> Callable[[Session], None]:
    return lambda s: getattr(s, field).append(value)


def _set_created_at(session: Session) -> None:
    session.metadata.created_at = "yesterday"  # type: ignore[assignment]


def _bad_run() -> SessionRun:
    run = SessionRun()
    run.status = "sideways"  # type: ignore[assignment]
    return run


CASES: dict[str, tuple[Call, tuple[str, ...], bool]] = {
    # name: (the call, words the message must hold, is it a wrong-type case)
    "surrogate-in-message": (lambda api: api.append_event("target", ev("a\ud800b")), ("message", "surrogate"), False),
    "surrogate-in-message-key": (
        lambda api: api.append_event("target", ev({"content": [{"\udc00": 1}]})),
        ("message", "surrogate"),
        False,
    ),
    "surrogate-in-metadata-key": (
        lambda api: api.append_event("target", ev("x", metadata={"\ud800": 1})),
        ("metadata", "key", "surrogate"),
        False,
    ),
    "surrogate-in-metadata-key-beside-real-ufffd": (
        lambda api: api.append_event("target", ev("\ufffd", metadata={"ok": "\ufffd", "\ud800": 1})),
        ("metadata", "surrogate"),
        False,
    ),
    "surrogate-in-metadata-value": (
        lambda api: api.append_event("target", ev("x", metadata={"k": ["\udfff"]})),
        ("metadata", "surrogate"),
        False,
    ),
    "surrogate-in-task-id": (lambda api: api.append_event("target", ev("x", task_id="\ud800")), ("task_id",), False),
    "surrogate-in-event-id": (lambda api: api.append_event("target", ev("x", id="e\ud800")), ("id",), False),
    "nesting-10000-in-message": (
        lambda api: api.append_event("target", ev(nested(10_000))),
        ("message", "nested"),
        False,
    ),
    "nesting-10000-in-metadata": (
        lambda api: api.append_event("target", ev("x", metadata={"deep": nested(10_000)})),
        ("metadata", "nested"),
        False,
    ),
    "object-in-message": (lambda api: api.append_event("target", ev({"x": object()})), ("message", "object"), False),
    "dict-as-event": (lambda api: api.append_event("target", {"message": "x"}), ("dict", "SessionEvent"), True),
    "str-as-event": (lambda api: api.append_event("target", "hello"), ("str", "SessionEvent"), True),
    "none-as-event": (lambda api: api.append_event("target", None), ("NoneType", "SessionEvent"), True),
    "batch-with-one-bad-event": (
        lambda api: api.append_events("target", [ev("good", id="g1"), ev("a\ud800"), ev("good", id="g2")]),
        ("message", "surrogate"),
        False,
    ),
    "batch-with-a-non-event": (
        lambda api: api.append_events("target", [ev("good", id="g1"), {"message": "x"}]),
        ("dict", "SessionEvent"),
        True,
    ),
    "lone-event-as-batch": (lambda api: api.append_events("target", ev("x")), ("sequence",), True),
    "none-as-batch": (lambda api: api.append_events("target", None), ("sequence",), True),
    "append-to-new-session": (lambda api: api.append_event("brand-new", ev("\ud800")), ("surrogate",), False),
    "replace-with-a-bad-event": (
        lambda api: api.replace_events("target", [ev("good", id="g1"), ev(nested(10_000))]),
        ("nested",),
        False,
    ),
    "replace-with-a-non-event": (lambda api: api.replace_events("target", [ev("ok"), 42]), ("int",), True),
    "non-run-to-upsert-run": (lambda api: api.upsert_run("target", {"id": "r2"}), ("dict", "SessionRun"), True),
    "surrogate-in-run-metadata": (
        lambda api: api.upsert_run("target", SessionRun(metadata={"why": "\ud800"})),
        ("metadata", "surrogate"),
        False,
    ),
    "wrong-type-assigned-to-run": (lambda api: api.upsert_run("target", _bad_run()), ("status",), False),
    "dict-to-save": (lambda api: api.save({"id": "target"}), ("dict", "Session"), True),
    "none-to-save": (lambda api: api.save(None), ("NoneType", "Session"), True),
    "surrogate-in-state": (_bad_state("\ud800"), ("state", "surrogate"), False),
    "surrogate-key-in-state": (_bad_state({"\ud800": 1}), ("state", "surrogate"), False),
    "nesting-10000-in-state": (_bad_state(nested(10_000)), ("state", "nested"), False),
    "nesting-past-the-limit-in-state": (_bad_state(nested(MAX_NESTING + 5)), ("state", "nested"), False),
    "object-in-state": (_bad_state(object()), ("state", "JSON"), False),
    "surrogate-in-properties": (
        lambda api: _save_target_changed(api, lambda s: s.metadata.set_property("p", "\ud800")),
        ("metadata", "surrogate"),
        False,
    ),
    "wrong-type-assigned-to-metadata": (
        lambda api: _save_target_changed(api, _set_created_at),
        ("metadata",),
        False,
    ),
    "non-dict-assigned-to-state": (
        lambda api: _save_target_changed(api, _assign("state", ["not", "a", "dict"])),
        ("state",),
        False,
    ),
    "bad-event-in-saved-session": (
        lambda api: _save_target_changed(api, lambda s: s.add_event(ev("a\ud800"))),
        ("message", "surrogate"),
        False,
    ),
    "non-event-in-saved-session": (
        lambda api: _save_target_changed(api, _add_to("events", "not an event")),
        ("str", "SessionEvent"),
        True,
    ),
    "non-run-in-saved-session": (
        lambda api: _save_target_changed(api, _add_to("runs", {"id": "r9"})),
        ("dict", "SessionRun"),
        True,
    ),
    "bad-run-in-saved-session": (
        lambda api: _save_target_changed(api, _add_to("runs", SessionRun(metadata={"x": object()}))),
        ("metadata", "object"),
        False,
    ),
    "bad-new-session": (
        lambda api: api.save(Session(id="brand-new", state={"x": "\ud800"}, events=[ev("fine")])),
        ("state",),
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_raises_invalid_data_error_and_changes_nothing(api: Twin, tmp_path: Path, case: str) -> None:
    call, words, wrong_type = CASES[case]
    await seed(api)
    before = await snapshot(api, tmp_path)

    with pytest.raises(InvalidDataError) as caught:
        await call(api)

    error = caught.value
    assert isinstance(error, SessionManagerError)
    assert isinstance(error, ValueError)
    if wrong_type:
        assert isinstance(error, TypeError)
    for word in words:
        assert word in str(error), f"{word!r} not in {str(error)!r}"
    assert await snapshot(api, tmp_path) == before
    assert await api.exists("brand-new") is False
    # The store still works after the refusal.
    await api.append_event("target", ev("after", id="e3"))
    assert [e.id for e in await api.get_events("target")] == ["e1", "e2", "e3"]


# --------------------------------------------------------- exact round trips
NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "list": [math.nan, 1.5, -math.inf]}


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON text: NaN equals NaN, which ``==`` never says."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


async def test_nan_and_infinities_round_trip_everywhere_never_as_null(api: Twin, store: SessionStore) -> None:
    session = Session(id="s", state={"floats": NON_FINITE})
    session.metadata.set_property("score", math.nan)
    session.add_event(ev({"content": "x", "values": NON_FINITE}, id="e1", metadata={"m": NON_FINITE}))
    session.runs.append(SessionRun(id="r1", metadata={"loss": math.inf}))
    await api.save(session)
    await api.append_event("s", ev(NON_FINITE, id="e2"))
    await api.upsert_run("s", SessionRun(id="r2", metadata={"loss": -math.inf}))

    loaded = await api.get("s")
    assert loaded is not None
    assert same_json(loaded.state, {"floats": NON_FINITE})
    assert math.isnan(loaded.metadata.properties["score"])
    assert same_json(loaded.events[0].message["values"], NON_FINITE)
    assert same_json(loaded.events[0].metadata, {"m": NON_FINITE})
    assert same_json(loaded.events[1].message, NON_FINITE)
    assert same_json({r.id: r.metadata for r in loaded.runs}, {"r1": {"loss": math.inf}, "r2": {"loss": -math.inf}})
    events = await api.get_events("s")
    assert same_json([e.message for e in events], [e.message for e in loaded.events])
    rows = await api.get_event_lines("s")
    assert '"nan":NaN,"inf":Infinity,"-inf":-Infinity' in rows[1][1]
    assert same_json([e.message for e in store.decode_event_lines("s", rows)], [e.message for e in events])


@pytest.mark.parametrize("depth", [150, 199, 230, MAX_NESTING])
async def test_deep_nesting_up_to_the_limit_round_trips(api: Twin, store: SessionStore, depth: int) -> None:
    value = nested(depth)
    session = Session(id="s", state={"deep": nested(depth - 1)})
    session.add_event(ev(value, id="e1"))
    await api.save(session)
    await api.append_event("s", ev("plain", id="e2", metadata={"deep": nested(depth - 1)}))
    await api.append_event("s", ev(value, id="e3"))

    loaded = await api.get("s")
    assert loaded is not None
    assert loaded.state == {"deep": nested(depth - 1)}
    assert [e.message for e in loaded.events] == [value, "plain", value]
    assert loaded.events[1].metadata == {"deep": nested(depth - 1)}
    assert [e.message for e in await api.get_events("s", start=1)] == ["plain", value]
    rows = await api.get_event_lines("s")
    assert [e.message for e in store.decode_event_lines("s", rows)] == [value, "plain", value]


TEXTS = [
    "\ufffd replacement character, stored as given",
    "nul \x00 bell \x07 escape \x1b and line breaks \n\r\u2028\u2029",
    "emoji \U0001f600 and combining e\u0301",
    "日本語 العربية עברית",
    '"quotes" \\backslashes\\ </script>',
]


async def test_any_valid_unicode_round_trips_in_messages_keys_metadata_and_state(api: Twin) -> None:
    session = Session(id="s", state={t: t for t in TEXTS})
    session.metadata.set_property("texts", TEXTS)
    for n, text in enumerate(TEXTS):
        session.add_event(ev({text: text}, id=f"e{n}", metadata={text: [text]}, task_id=text))
    await api.save(session)
    await api.append_events("s", [ev(text, id=f"a{n}") for n, text in enumerate(TEXTS)])

    loaded = await api.get("s")
    assert loaded is not None
    assert loaded.state == {t: t for t in TEXTS}
    assert loaded.metadata.properties == {"texts": TEXTS}
    assert [e.message for e in loaded.events] == [{t: t} for t in TEXTS] + TEXTS
    assert [e.metadata for e in loaded.events[: len(TEXTS)]] == [{t: [t]} for t in TEXTS]
    assert [e.task_id for e in loaded.events[: len(TEXTS)]] == TEXTS
