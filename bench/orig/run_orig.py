"""Drive the original a2a-session-manager 0.1.3 for ``bench/stores.py``, inside its own venv.

The original and this project share the import name ``a2a_session_manager``, so the
original is installed only in ``bench/.orig-venv`` and this script runs there as a
subprocess. It reads one cell's spec (JSON) from ``argv[1]``, runs it and prints one JSON
line with the result. Appends use the original's pattern
``s = store.get(id); s.add_event(evt); store.save(s)``.

Spec keys: ``op`` (append | load | threads | procs), ``store`` (memory | file | redis),
``sid``, ``dir`` (file store), ``redis_url`` and ``prefix`` (Redis store), ``n``
(append, load), ``writers`` and ``per_writer`` (threads, procs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _corpus  # noqa: E402
import _harness  # noqa: E402
import a2a_session_manager  # noqa: E402
from a2a_session_manager.models.event_source import EventSource  # noqa: E402
from a2a_session_manager.models.session import Session  # noqa: E402
from a2a_session_manager.models.session_event import SessionEvent  # noqa: E402
from a2a_session_manager.storage.providers.memory import InMemorySessionStore  # noqa: E402

ORIG_VERSION = "0.1.3"


def _event(i: int) -> Any:
    source = EventSource.USER if i % 2 == 0 else EventSource.LLM
    return SessionEvent(message=_corpus.text(i), source=source)


class OrigHandle:
    """One store object of the original, used with its own get/add_event/save pattern."""

    def __init__(self, store: Any, sid: str, *, own: bool) -> None:
        self.store, self.sid, self.own = store, sid, own

    def append(self, i: int) -> None:
        session = self.store.get(self.sid)
        session.add_event(_event(i))
        self.store.save(session)

    def count(self) -> int:
        session = self.store.get(self.sid)
        if session is None:
            raise LookupError(f"store.get({self.sid!r}) returned None")
        return len(session.events)

    def close(self) -> None:
        if self.own and hasattr(self.store, "redis"):
            self.store.redis.close()


def _new_store(spec: dict[str, Any]) -> Any:
    kind = spec["store"]
    if kind == "file":
        from a2a_session_manager.storage.providers.file import FileSessionStore

        return FileSessionStore(spec["dir"])
    if kind == "redis":
        import redis
        from a2a_session_manager.storage.providers.redis import RedisSessionStore

        return RedisSessionStore(redis.Redis.from_url(spec["redis_url"]), key_prefix=spec["prefix"])
    raise ValueError(f"unknown store {kind!r}")


def _opener(spec: dict[str, Any], memory: Any | None) -> _harness.Opener:
    """A fresh store object per handle (memory: the one in-process store)."""
    sid = spec["sid"]
    if memory is not None:
        return lambda: OrigHandle(memory, sid, own=False)
    return lambda: OrigHandle(_new_store(spec), sid, own=True)


def _create(spec: dict[str, Any], memory: Any | None, events: int = 0) -> None:
    """Create the session (with ``events`` events) through a separate store object."""
    store = memory if memory is not None else _new_store(spec)
    session = Session(id=spec["sid"])
    for i in range(events):
        session.add_event(_event(i))
    store.save(session)
    if memory is None and hasattr(store, "redis"):
        store.redis.close()


def _cleanup(spec: dict[str, Any]) -> None:
    if spec["store"] == "file":
        Path(spec["dir"], f"{spec['sid']}.json").unlink(missing_ok=True)
    elif spec["store"] == "redis":
        import redis

        client = redis.Redis.from_url(spec["redis_url"])
        client.delete(spec["prefix"] + spec["sid"])
        client.close()


def _warm_up(spec: dict[str, Any]) -> None:
    """Exercise the code paths once outside the timing (pydantic builds validators lazily)."""
    warm = dict(spec, sid="warmup-" + spec["sid"])
    memory = InMemorySessionStore() if spec["store"] == "memory" else None
    _create(warm, memory)
    _harness.time_appends(_opener(warm, memory), 5)
    _harness.final_count(_opener(warm, memory))
    _cleanup(warm)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one cell; return its measurements."""
    _warm_up(spec)
    memory = InMemorySessionStore() if spec["store"] == "memory" else None
    opener = _opener(spec, memory)
    op = spec["op"]
    try:
        if op == "append":
            _create(spec, memory)
            seconds = _harness.time_appends(opener, spec["n"])
            found, _ = _harness.final_count(opener)
            return {"seconds": seconds, "found": found}
        if op == "load":
            _create(spec, memory, events=spec["n"])
            seconds, found = _harness.time_load(opener)
            return {"seconds": seconds, "found": found}
        if op in ("threads", "procs"):
            _create(spec, memory)
            if op == "threads":
                out = _harness.run_threads(opener, writers=spec["writers"], per_writer=spec["per_writer"], shared=True)
            else:
                out = _harness.run_processes(opener, writers=spec["writers"], per_writer=spec["per_writer"])
            found, read_error = _harness.final_count(opener)
            out.update(found=found, read_error=read_error)
            return out
        raise ValueError(f"unknown op {op!r}")
    finally:
        _cleanup(spec)


def main() -> None:
    """Entry point: ``python run_orig.py '<json spec>'`` or ``python run_orig.py --version``."""
    module = Path(a2a_session_manager.__file__).resolve()
    if "site-packages" not in module.parts:
        raise SystemExit(f"refusing to run: a2a_session_manager comes from {module}, not the original's venv")
    if sys.argv[1:] == ["--version"]:
        from importlib.metadata import version

        print(json.dumps({"version": version("a2a-session-manager"), "pydantic": version("pydantic")}))
        return
    print(json.dumps(run(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
