"""A store client the conformance kit runs in another process (imports no pytest).

Usage: ``python -m a2a_session_manager.testing._worker <command> <store spec> <session id> [args...]``

The store spec is JSON: ``{"url": "sqlite:///x.db"}`` opens ``create_session_store(url)``;
``{"factory": "package.module:callable", "kwargs": {...}}`` imports the callable and calls it
with the keyword arguments (how a third-party store the URL schemes do not know is opened).

Commands:
    append SID WRITER N BARRIER_DIR  create BARRIER_DIR/ready-WRITER, wait for BARRIER_DIR/go,
                                     then append N events ``WRITER-i`` one by one
    stream SID                       append events ``k-0``, ``k-1``, ... until killed, printing each
                                     id once ``append_event`` has returned (acknowledged)
    append-one SID TEXT              append one event whose message is TEXT
    save-child SID PARENT            save ``Session(id=SID, parent_id=PARENT)``
    write SID                        save a session with events, a run, state and metadata
    read SID                         print the session as JSON (``null`` when missing)
    delete SID                       delete the session
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage import SessionStore, create_session_store

BARRIER_TIMEOUT_S = 30.0


def open_spec(spec: str) -> SessionStore:
    """Open the store a JSON store spec names.

    Args:
        spec: ``{"url": ...}`` or ``{"factory": "module:callable", "kwargs": {...}}`` as JSON.

    Returns:
        The store.

    Raises:
        ValueError: The spec is not one of the two forms.
        TypeError: The factory did not return a ``SessionStore``.
    """
    data: Any = json.loads(spec)
    if isinstance(data, dict) and isinstance(data.get("url"), str):
        return create_session_store(data["url"])
    if not (isinstance(data, dict) and isinstance(data.get("factory"), str) and ":" in data["factory"]):
        raise ValueError('store spec must be {"url": ...} or {"factory": "module:callable", "kwargs": {...}}')
    module, _, attribute = data["factory"].partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    store = factory(**data.get("kwargs", {}))
    if not isinstance(store, SessionStore):
        raise TypeError(f"{data['factory']} returned {type(store).__name__}, not a SessionStore")
    return store


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"barrier {path} never opened")
        time.sleep(0.005)


def cmd_append(store: SessionStore, sid: str, writer: str, n: str, barrier: str) -> None:
    bdir = Path(barrier)
    (bdir / f"ready-{writer}").touch()
    _wait_for(bdir / "go")
    for i in range(int(n)):
        store.append_event(
            sid,
            SessionEvent(id=f"{writer}-{i}", message=f"{writer}:{i}", metadata={"writer": writer, "i": i}),
        )


def cmd_stream(store: SessionStore, sid: str) -> None:
    for i in range(1_000_000):
        event_id = f"k-{i}"
        store.append_event(sid, SessionEvent(id=event_id, message=i, source=EventSource.USER))
        sys.stdout.write(event_id + "\n")
        sys.stdout.flush()


def cmd_append_one(store: SessionStore, sid: str, text: str) -> None:
    store.append_event(sid, SessionEvent(message=text, source=EventSource.USER))


def cmd_save_child(store: SessionStore, sid: str, parent: str) -> None:
    store.save(Session(id=sid, parent_id=parent))


def cmd_write(store: SessionStore, sid: str) -> None:
    session = Session(id=sid, state={"from": "child process"})
    session.metadata.set_property("writer", "proc")
    run = SessionRun()
    run.mark_running()
    session.runs.append(run)
    for text in ("one", "two", "three"):
        session.add_event(SessionEvent(message=text, source=EventSource.USER, task_id=run.id))
    store.save(session)


def cmd_delete(store: SessionStore, sid: str) -> None:
    store.delete(sid)


def cmd_read(store: SessionStore, sid: str) -> None:
    session = store.get(sid)
    if session is None:
        print("null")
        return
    print(
        json.dumps(
            {
                "id": session.id,
                "parent_id": session.parent_id,
                "child_ids": session.child_ids,
                "state": session.state,
                "properties": session.metadata.properties,
                "messages": [e.message for e in session.events],
                "seqs": [e.seq for e in session.events],
                "runs": [r.status.value for r in session.runs],
            }
        )
    )


COMMANDS: dict[str, Callable[..., None]] = {
    "append": cmd_append,
    "stream": cmd_stream,
    "append-one": cmd_append_one,
    "save-child": cmd_save_child,
    "write": cmd_write,
    "read": cmd_read,
    "delete": cmd_delete,
}


def main(argv: list[str]) -> None:
    """Run one worker command.

    Args:
        argv: ``<command> <store spec> <session id> [args...]``.
    """
    command, spec, sid, *rest = argv
    store = open_spec(spec)
    try:
        COMMANDS[command](store, sid, *rest)
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
