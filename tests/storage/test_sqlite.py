"""SQLite-specific behaviour of SQLiteSessionStore (the shared promises live in test_conformance.py)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from a2a_session_manager import EventSource, Session, SessionEvent
from a2a_session_manager.exceptions import CorruptSessionError, StorageError
from a2a_session_manager.storage import create_session_store
from a2a_session_manager.storage.providers import sqlite as sqlite_module
from a2a_session_manager.storage.providers.sqlite import SCHEMA_VERSION, SQLiteSessionStore


def _event(text: str, event_id: str | None = None) -> SessionEvent:
    if event_id is None:
        return SessionEvent(message=text, source=EventSource.USER)
    return SessionEvent(id=event_id, message=text, source=EventSource.USER)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteSessionStore]:
    s = SQLiteSessionStore(db)
    try:
        yield s
    finally:
        s.close()


def _raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def _run_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


# ================================================================= schema and file
def test_schema_is_created_once_and_reopened_by_a_new_store_and_a_new_process(db: Path) -> None:
    first = SQLiteSessionStore(db)
    first.save(Session(id="s1"))
    first.append_event("s1", _event("hello"))
    first.close()

    con = _raw(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "events", "records"} <= tables
    con.close()

    second = SQLiteSessionStore(db)
    session = second.get("s1")
    assert session is not None
    assert [e.message for e in session.events] == ["hello"]
    second.append_event("s1", _event("again"))
    second.close()

    out = _run_python(
        "import sys\n"
        "from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore\n"
        "s = SQLiteSessionStore(sys.argv[1])\n"
        "print(','.join(e.message for e in s.get_events('s1')))\n"
        "s.close()\n",
        str(db),
    )
    assert out.strip() == "hello,again"


def test_the_url_factory_makes_a_sqlite_store_with_its_options(tmp_path: Path) -> None:
    store = create_session_store(f"sqlite:///{tmp_path / 'u.db'}?fsync=1&ttl=60")
    assert isinstance(store, SQLiteSessionStore)
    assert store.path == tmp_path / "u.db"
    assert store.fsync is True
    assert store.expiration_seconds == 60
    store.close()


def test_missing_folders_are_created(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "a" / "b" / "s.db")
    store.append_event("s1", _event("x"))
    assert store.count_events("s1") == 1
    store.close()


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_an_in_memory_path_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="InMemorySessionStore"):
        SQLiteSessionStore(path)


def test_a_file_that_is_not_a_database_raises_corrupt_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(CorruptSessionError, match=r"notes\.db") as info:
        SQLiteSessionStore(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes().startswith(b"these are my notes")


def test_a_database_from_a_newer_schema_is_refused(db: Path) -> None:
    con = _raw(db)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StorageError, match="newer"):
        SQLiteSessionStore(db)


def test_a_corrupt_event_body_names_the_database_table_and_row(store: SQLiteSessionStore, db: Path) -> None:
    store.append_events("s1", [_event("a"), _event("b"), _event("c")])
    con = _raw(db)
    con.execute("UPDATE events SET body = '{not json' WHERE session_id = 's1' AND seq = 1")
    con.close()

    with pytest.raises(CorruptSessionError) as info:
        store.get("s1")
    message = str(info.value)
    assert str(db) in message
    assert "events" in message
    assert "seq=1" in message
    assert info.value.session_id == "s1"
    with pytest.raises(CorruptSessionError, match="seq=1"):
        store.get_events("s1")
    # The rows around it are still readable: nothing was dropped.
    assert [e.message for e in store.get_events("s1", start=2)] == ["c"]


def test_a_corrupt_header_names_the_database_and_session(store: SQLiteSessionStore, db: Path) -> None:
    store.save(Session(id="s1"))
    con = _raw(db)
    con.execute("UPDATE sessions SET header = '[1, 2]' WHERE id = 's1'")
    con.close()
    with pytest.raises(CorruptSessionError) as info:
        store.get("s1")
    assert str(db) in str(info.value)
    assert "'s1'" in str(info.value)


# ================================================================= pragmas
def _pragma(store: SQLiteSessionStore, name: str) -> object:
    with store._use() as con:
        return con.execute(f"PRAGMA {name}").fetchone()[0]


def test_the_database_runs_in_wal_mode(store: SQLiteSessionStore, db: Path) -> None:
    store.append_event("s1", _event("x"))
    con = _raw(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    assert _pragma(store, "journal_mode") == "wal"


def test_synchronous_is_normal_by_default_and_full_with_fsync(store: SQLiteSessionStore, tmp_path: Path) -> None:
    assert _pragma(store, "synchronous") == 1  # NORMAL
    durable = SQLiteSessionStore(tmp_path / "durable.db", fsync=True)
    assert _pragma(durable, "synchronous") == 2  # FULL
    durable.close()


# ================================================================= costs flat in length
def _vm_steps(store: SQLiteSessionStore, action: Callable[[], object]) -> int:
    """SQLite virtual-machine steps an action costs (a count, not a timing)."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    with store._use() as con:
        con.set_progress_handler(tick, 1)
    try:
        action()
    finally:
        with store._use() as con:
            con.set_progress_handler(None, 1)
    return steps[0]


def test_last_n_reads_only_the_tail_of_a_big_session(store: SQLiteSessionStore) -> None:
    store.append_events("small", [_event(f"m{i}") for i in range(20)])
    store.append_events("big", [_event(f"m{i}") for i in range(5000)])

    small = _vm_steps(store, lambda: store.get_events("small", last_n=5))
    big = _vm_steps(store, lambda: store.get_events("big", last_n=5))
    assert [e.message for e in store.get_events("big", last_n=3)] == ["m4997", "m4998", "m4999"]
    assert big < 2 * small + 50, (small, big)

    with store._use() as con:
        plan = " ".join(
            row[3]
            for row in con.execute(
                "EXPLAIN QUERY PLAN SELECT seq, body FROM events WHERE session_id = ? AND seq >= ? ORDER BY seq",
                ("big", 4995),
            )
        )
    assert "USING PRIMARY KEY" in plan and "seq>?" in plan


def test_append_cost_does_not_grow_with_the_session(store: SQLiteSessionStore) -> None:
    store.append_events("small", [_event("m") for _ in range(20)])
    store.append_events("big", [_event("m") for _ in range(5000)])
    small = _vm_steps(store, lambda: store.append_event("small", _event("new")))
    big = _vm_steps(store, lambda: store.append_event("big", _event("new")))
    assert big < 2 * small + 50, (small, big)
    assert store.count_events("big") == 5001


def test_list_sessions_prefix_is_a_range_not_a_like_pattern(store: SQLiteSessionStore) -> None:
    for sid in ["a_1", "ab1", "a.x", "b"]:
        store.save(Session(id=sid))
    assert store.list_sessions("a_") == ["a_1"]
    assert store.list_sessions("a") == ["a.x", "a_1", "ab1"]


def test_a_parent_without_a_header_keeps_its_child_links_but_is_not_listed(store: SQLiteSessionStore) -> None:
    store.save(Session(id="child", parent_id="parent"))
    assert store.get_child_ids("parent") == ["child"]
    assert store.list_sessions() == ["child"]
    assert store.get("parent") is None
    store.save(Session(id="parent"))
    parent = store.get("parent")
    assert parent is not None and parent.child_ids == ["child"]


# ================================================================= concurrency
def test_threads_share_the_store_without_losing_events(store: SQLiteSessionStore) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(50):
                store.append_event("shared", _event(f"{k}-{i}"))
                store.get_events("shared", last_n=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = store.get_events("shared")
    assert len(events) == 400
    assert [e.seq for e in events] == list(range(400))
    for k in range(8):
        mine = [e.message for e in events if str(e.message).startswith(f"{k}-")]
        assert mine == [f"{k}-{i}" for i in range(50)]


_WORKER = """
import sys
from a2a_session_manager import EventSource, SessionEvent
from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore
path, writer, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteSessionStore(path)
for i in range(n):
    store.append_event("shared", SessionEvent(id=f"{writer}-{i}", message=f"{writer}-{i}", source=EventSource.USER))
store.close()
"""


def test_four_processes_appending_to_one_session_lose_nothing(store: SQLiteSessionStore, db: Path) -> None:
    store.save(Session(id="shared"))
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(db), f"w{k}", "200"], stderr=subprocess.PIPE, text=True)
        for k in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    events = store.get_events("shared")
    assert len(events) == 800
    assert len({e.id for e in events}) == 800
    assert [e.seq for e in events] == list(range(800))
    for k in range(4):
        assert [e.id for e in events if e.id.startswith(f"w{k}-")] == [f"w{k}-{i}" for i in range(200)]


def _open_and_append_at_once(path: Path, start: threading.Barrier, writer: int, errors: multiprocessing.Queue) -> None:
    start.wait()
    try:
        store = SQLiteSessionStore(path)
        store.append_event("fresh", _event(f"w{writer}", f"w{writer}"))
        store.close()
    except Exception as exc:
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_database_at_the_same_instant_all_get_in(tmp_path: Path) -> None:
    # Workers of one app often start together on a file nobody created yet. Turning the
    # file into a WAL database is answered "locked" at once (no busy wait) to all but one
    # of them unless the store waits: it did, about one round in seven, before.
    ctx = multiprocessing.get_context("fork")
    for round_ in range(20):
        path = tmp_path / f"r{round_}.db"
        start = ctx.Barrier(6)
        errors = ctx.Queue()
        procs = [ctx.Process(target=_open_and_append_at_once, args=(path, start, w, errors)) for w in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        failures = []
        while not errors.empty():
            failures.append(errors.get(timeout=5))
        assert failures == [], (round_, failures)
        assert all(p.exitcode == 0 for p in procs)
        store = SQLiteSessionStore(path)
        assert sorted(e.id for e in store.get_events("fresh")) == [f"w{w}" for w in range(6)]
        store.close()


def _append_in_child(store: SQLiteSessionStore) -> None:
    store.append_event("forked", _event("from child", "child-1"))
    store.close()


def test_a_forked_child_opens_its_own_connection(store: SQLiteSessionStore) -> None:
    store.append_event("forked", _event("before fork", "parent-0"))
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_append_in_child, args=(store,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    store.append_event("forked", _event("after fork", "parent-1"))
    assert [e.id for e in store.get_events("forked")] == ["parent-0", "child-1", "parent-1"]


def test_a_write_lock_held_past_the_busy_timeout_raises_storage_error(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_SECONDS", 0.05)
    store = SQLiteSessionStore(db)
    store.append_event("s1", _event("kept"))
    blocker = _raw(db)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="locked") as info:
            store.append_event("s1", _event("refused"))
        assert str(db) in str(info.value)
        assert info.value.session_id == "s1"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.append_event("s1", _event("after"))
    assert [e.message for e in store.get_events("s1")] == ["kept", "after"]
    store.close()


def test_close_releases_the_connection_and_the_store_reopens(store: SQLiteSessionStore) -> None:
    store.append_event("s1", _event("a"))
    store.close()
    assert store._con is None
    store.append_event("s1", _event("b"))
    assert store.count_events("s1") == 2


# ================================================================= TTL
class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    # Only the wall clock (TTL) is faked; waits for locks keep the real monotonic clock.
    fake = SimpleNamespace(time=c.time, monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(sqlite_module, "time", fake)
    return c


def _rows(db: Path, sid: str) -> tuple[int, int, int]:
    con = _raw(db)
    try:
        return (
            con.execute("SELECT count(*) FROM sessions WHERE id = ?", (sid,)).fetchone()[0],
            con.execute("SELECT count(*) FROM events WHERE session_id = ?", (sid,)).fetchone()[0],
            con.execute("SELECT count(*) FROM records WHERE session_id = ?", (sid,)).fetchone()[0],
        )
    finally:
        con.close()


def test_an_expired_session_reads_as_missing(db: Path, clock: _Clock) -> None:
    store = SQLiteSessionStore(db, expiration_seconds=100)
    store.append_event("s1", _event("a"))
    store.put_record("s1", "kv", "k", b"v")
    clock.now += 101
    assert store.get("s1") is None
    assert store.get_events("s1") == []
    assert store.count_events("s1") == 0
    assert store.get_record("s1", "kv", "k") is None
    assert store.list_sessions() == []
    # Another store object without a TTL honours the stored expiry too.
    other = SQLiteSessionStore(db)
    assert other.get("s1") is None
    other.close()
    store.close()


def test_every_write_refreshes_the_ttl(db: Path, clock: _Clock) -> None:
    store = SQLiteSessionStore(db, expiration_seconds=100)
    store.append_event("s1", _event("a"))
    for _ in range(3):
        clock.now += 60
        store.put_record("s1", "kv", "k", b"v")
    clock.now += 60
    store.append_event("s1", _event("b"))
    clock.now += 99
    assert [e.message for e in store.get_events("s1")] == ["a", "b"]
    store.close()


def test_writing_to_an_expired_session_starts_a_fresh_one(db: Path, clock: _Clock) -> None:
    store = SQLiteSessionStore(db, expiration_seconds=100)
    store.append_event("s1", _event("old"))
    store.put_record("s1", "kv", "k", b"old")
    clock.now += 101
    store.append_event("s1", _event("new"))
    assert [e.message for e in store.get_events("s1")] == ["new"]
    assert [e.seq for e in store.get_events("s1")] == [0]
    assert store.get_record("s1", "kv", "k") is None
    store.close()


def test_expired_sessions_are_purged_lazily_on_a_later_write(db: Path, clock: _Clock) -> None:
    store = SQLiteSessionStore(db, expiration_seconds=100)
    store.append_event("gone", _event("a"))
    store.put_record("gone", "kv", "k", b"v")
    clock.now += sqlite_module.PURGE_INTERVAL_SECONDS + 101
    store.append_event("other", _event("b"))
    assert _rows(db, "gone") == (0, 0, 0)
    assert _rows(db, "other")[1] == 1
    store.close()
