"""File-store specific behaviour: crash tails, corruption, file names, locking, processes.

The promises every store keeps are in the conformance suite; these cases concern files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from a2a_session_manager.exceptions import CorruptSessionError, InvalidSessionIdError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage import create_session_store
from a2a_session_manager.storage.providers.file import FileSessionStore, create_file_session_store

ROOT = Path(__file__).resolve().parents[2]


def ev(text: str, event_id: str | None = None) -> SessionEvent:
    if event_id is None:
        return SessionEvent(message=text, source=EventSource.USER)
    return SessionEvent(id=event_id, message=text, source=EventSource.USER)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(directory: Path) -> Iterator[FileSessionStore]:
    s = FileSessionStore(directory)
    try:
        yield s
    finally:
        s.close()


def events_file(directory: Path, stem: str) -> Path:
    return directory / f"{stem}.events.jsonl"


def messages(store: FileSessionStore, sid: str) -> list[object]:
    return [e.message for e in store.get_events(sid)]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


# ============================================================ crash tail
def test_unterminated_last_line_is_ignored_and_cut_before_next_append(store: FileSessionStore, directory: Path) -> None:
    for text in ["a", "b", "c"]:
        store.append_event("s1", ev(text))
    log = events_file(directory, "s-s1")
    with open(log, "ab") as f:  # a writer killed in the middle of its write
        f.write(b'{"id":"half","type":"message","sou')

    assert messages(store, "s1") == ["a", "b", "c"]
    assert store.count_events("s1") == 3
    assert messages(FileSessionStore(directory), "s1") == ["a", "b", "c"]

    store.append_event("s1", ev("d"))
    assert messages(store, "s1") == ["a", "b", "c", "d"]
    assert [e.seq for e in store.get_events("s1")] == [0, 1, 2, 3]
    assert b"half" not in log.read_bytes()
    assert log.read_bytes().endswith(b"\n")


def test_unterminated_tail_written_after_another_object_cached_the_log(directory: Path) -> None:
    reader, writer = FileSessionStore(directory), FileSessionStore(directory)
    writer.append_event("s1", ev("a"))
    assert messages(reader, "s1") == ["a"]
    with open(events_file(directory, "s-s1"), "ab") as f:
        f.write(b'{"id":"torn"')
    assert messages(reader, "s1") == ["a"]
    writer.append_event("s1", ev("b"))
    assert messages(reader, "s1") == ["a", "b"]


# ============================================================ corruption
def test_corrupt_middle_line_raises_naming_file_and_line(store: FileSessionStore, directory: Path) -> None:
    for text in "abcdefg":
        store.append_event("a1", ev(text))
    log = events_file(directory, "s-a1")
    lines = log.read_bytes().split(b"\n")
    lines[6] = b'{"id": "broken", this is not json'  # line 7: the preamble is line 1
    log.write_bytes(b"\n".join(lines))

    fresh = FileSessionStore(directory)
    for read in (lambda: fresh.get("a1"), lambda: fresh.get_events("a1"), lambda: store.get_events("a1", start=5)):
        with pytest.raises(CorruptSessionError) as info:
            read()
        assert f"{log} line 7" in str(info.value)
        assert info.value.session_id == "a1"
    # The slice before the bad line is still readable; appending reports the bad line too.
    assert [e.message for e in fresh.get_events("a1", end=5)] == list("abcde")
    with pytest.raises(CorruptSessionError, match=f"{log} line 7"):
        FileSessionStore(directory).append_event("a1", ev("h"))


def test_corrupt_header_raises_naming_the_header_file_and_line(store: FileSessionStore, directory: Path) -> None:
    store.save(Session(id="h1"))
    store.save(Session(id="h1", state={"k": 1}))
    header = directory / "s-h1.session.jsonl"
    lines = header.read_bytes().split(b"\n")
    lines[2] = b'{"id": "h1", "metad'  # the last header, complete with its newline
    header.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptSessionError, match=f"{header} line 3"):
        FileSessionStore(directory).get("h1")
    header.write_bytes(b"\n".join([*lines[:2], b'{"v":1,"id":"h1","metadata":{"created_at":"never"}}', b""]))
    with pytest.raises(CorruptSessionError, match=str(header)):
        store.get("h1")


def test_header_written_halfway_leaves_the_previous_header(store: FileSessionStore, directory: Path) -> None:
    store.save(Session(id="h1", state={"n": 1}))
    with open(directory / "s-h1.session.jsonl", "ab") as f:
        f.write(b'{"v":1,"id":"h1","state":{"n":')
    got = FileSessionStore(directory).get("h1")
    assert got is not None and got.state == {"n": 1}
    store.save(Session(id="h1", state={"n": 2}))
    got = FileSessionStore(directory).get("h1")
    assert got is not None and got.state == {"n": 2}


def test_header_log_stays_short_over_many_saves(store: FileSessionStore, directory: Path) -> None:
    session = Session(id="h1")
    for i in range(300):
        session.state["i"] = i
        store.save(session)
    assert len((directory / "s-h1.session.jsonl").read_bytes().splitlines()) <= 70
    got = FileSessionStore(directory).get("h1")
    assert got is not None and got.state == {"i": 299}


def test_corrupt_record_line_raises_naming_file_and_line(store: FileSessionStore, directory: Path) -> None:
    store.put_record("r1", "ckpt", "k1", b"one")
    store.put_record("r1", "ckpt", "k2", b"two")
    records = directory / "s-r1.records.jsonl"
    lines = records.read_bytes().split(b"\n")
    lines[2] = b"garbage"
    records.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptSessionError, match=f"{records} line 3"):
        FileSessionStore(directory).list_records("r1", "ckpt")


def test_record_with_undecodable_value_raises_naming_file_and_line(store: FileSessionStore, directory: Path) -> None:
    store.put_record("r1", "ckpt", "k1", b"one")
    records = directory / "s-r1.records.jsonl"
    lines = records.read_bytes().split(b"\n")
    entry = json.loads(lines[1])
    entry["v"] = "***not base64***"
    lines[1] = json.dumps(entry).encode()
    records.write_bytes(b"\n".join(lines))
    with pytest.raises(CorruptSessionError, match=f"{records} line 2"):
        FileSessionStore(directory).get_record("r1", "ckpt", "k1")


def test_log_without_preamble_raises_instead_of_reading_nothing(store: FileSessionStore, directory: Path) -> None:
    store.append_event("p1", ev("a"))
    log = events_file(directory, "s-p1")
    log.write_bytes(b"not a log\n" + log.read_bytes().split(b"\n", 1)[1])
    with pytest.raises(CorruptSessionError, match=f"{log} line 1"):
        FileSessionStore(directory).get_events("p1")


# ============================================================ ids and file names
REFUSED_IDS = [
    "x\x00y",
    "new\nline",
    "cr\rhere",
    "tab\there",
    "lone\ud800surrogate",
    "",
    "x" * 257,
]
"""Ids the contract refuses; path-like and pattern-like ids are data (tests/storage/test_file_hardening.py)."""


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("bad", REFUSED_IDS)
async def test_invalid_ids_are_refused_by_every_method_and_write_nothing(tmp_path: Path, bad: str) -> None:
    directory = tmp_path / "deep" / "store"
    s = FileSessionStore(directory)
    s.save(Session(id="ok"))
    before = _tree(tmp_path)
    calls = [
        ("get", (bad,)),
        ("save", (Session(id=bad),)),
        ("save", (Session(id="child", parent_id=bad),)),
        ("delete", (bad,)),
        ("exists", (bad,)),
        ("get_child_ids", (bad,)),
        ("append_event", (bad, ev("x"))),
        ("append_events", (bad, [ev("x")])),
        ("get_events", (bad,)),
        ("count_events", (bad,)),
        ("clear_events", (bad,)),
        ("replace_events", (bad, [ev("x")])),
        ("upsert_run", (bad, SessionRun())),
        ("get_runs", (bad,)),
        ("put_record", (bad, "k", "key", b"v")),
        ("put_records", (bad, "k", [("key", b"v")])),
        ("get_record", (bad, "k", "key")),
        ("list_records", (bad, "k")),
        ("delete_records", (bad, "k")),
    ]
    if bad:  # "" is a valid prefix: it lists everything
        calls.append(("list_sessions", (bad,)))
    for name, args in calls:
        with pytest.raises(InvalidSessionIdError):
            getattr(s, name)(*args)
        with pytest.raises(InvalidSessionIdError):
            await getattr(s, "a" + name)(*args)
    assert _tree(tmp_path) == before
    assert s.list_sessions() == ["ok"]


def test_record_kinds_and_keys_with_slashes_stay_data(store: FileSessionStore, tmp_path: Path) -> None:
    store.put_record("s1", "a/../../b", "../../escape", b"v")
    assert store.get_record("s1", "a/../../b", "../../escape") == b"v"
    outside = {p for p in _tree(tmp_path) if not p.is_relative_to(store.directory)}
    assert outside == set()


def test_long_id_and_ids_differing_only_by_case_are_distinct_sessions(store: FileSessionStore, directory: Path) -> None:
    long_a = "A" * 255 + "a"
    long_b = "A" * 255 + "b"
    ids = ["abc", "ABC", "aBc", "a:b", "a_b", "A_b", "a__b", "a_-b", long_a, long_b, "x:" + "Y" * 254]
    for sid in ids:
        store.append_event(sid, ev(sid))
    for sid in ids:
        assert messages(store, sid) == [sid]
        assert store.get(sid) is not None
    assert store.list_sessions() == sorted(ids)
    assert store.list_sessions("A" * 200) == sorted([long_a, long_b])
    assert FileSessionStore(directory).list_sessions("AAA") == sorted([long_a, long_b])
    names = [p.name for p in directory.iterdir()]
    assert len({n.lower() for n in names}) == len(names)  # safe on case-insensitive file systems
    assert all(len(n.encode()) <= 255 and ":" not in n for n in names)
    assert store.delete(long_a)
    assert store.list_sessions("AAA") == [long_b]


def test_old_import_path_and_factory_still_work(tmp_path: Path) -> None:
    s = create_file_session_store(tmp_path / "old")
    assert isinstance(s, FileSessionStore)
    assert isinstance(create_session_store(f"file://{tmp_path / 'url'}?fsync=1"), FileSessionStore)


# ============================================================ durability options
def test_fsync_store_round_trips_every_kind_of_write(tmp_path: Path) -> None:
    s = FileSessionStore(tmp_path / "f", fsync=True)
    assert s.fsync
    session = Session(id="f1")
    session.add_event(ev("a"))
    s.save(session)
    s.append_event("f1", ev("b"))
    s.upsert_run("f1", SessionRun())
    s.put_record("f1", "k", "x", b"1")
    s.replace_events("f1", [ev("c"), ev("d")])
    again = FileSessionStore(tmp_path / "f", fsync=True).get("f1")
    assert again is not None
    assert [e.message for e in again.events] == ["c", "d"]
    assert len(again.runs) == 1
    assert s.get_record("f1", "k", "x") == b"1"


def test_replace_and_clear_are_atomic_for_concurrent_readers(directory: Path) -> None:
    writer = FileSessionStore(directory)
    old = [ev(f"old{i}") for i in range(30)]
    new = [ev(f"new{i}") for i in range(20)]
    writer.replace_events("s1", old)
    expected: tuple[list[object], ...] = ([e.message for e in old], [e.message for e in new], [])
    seen: list[list[object]] = []
    stop = threading.Event()

    def read() -> None:
        reader = FileSessionStore(directory)
        while not stop.is_set():
            seen.append(messages(reader, "s1"))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(30):
            writer.replace_events("s1", new)
            writer.clear_events("s1")
            writer.replace_events("s1", old)
    finally:
        stop.set()
        thread.join()
    assert seen and all(view in expected for view in seen)
    assert not [p for p in directory.iterdir() if ".tmp-" in p.name]


def test_record_log_is_compacted_and_keeps_the_last_values(store: FileSessionStore, directory: Path) -> None:
    for i in range(1000):
        store.put_record("c1", "ck", f"k{i % 5}", str(i).encode())
    store.delete_records("c1", "ck", ["k0"])
    assert store.list_records("c1", "ck") == [(f"k{j}", str(995 + j).encode()) for j in range(1, 5)]
    assert FileSessionStore(directory).list_records("c1", "ck", reverse=True, limit=1) == [("k4", b"999")]
    assert len((directory / "s-c1.records.jsonl").read_bytes().splitlines()) < 150
    assert not [p for p in directory.iterdir() if ".tmp-" in p.name]


def test_delete_removes_every_file_of_the_session(store: FileSessionStore, directory: Path) -> None:
    store.save(Session(id="d1"))
    store.append_event("d1", ev("a"))
    store.put_record("d1", "k", "x", b"1")
    store.append_event("d2", ev("keep"))
    assert store.delete("d1")
    assert sorted(p.name for p in directory.iterdir() if p.is_file()) == ["s-d2.events.jsonl", "s-d2.session.jsonl"]
    assert store.get_record("d1", "k", "x") is None


def test_events_larger_than_the_read_chunk_round_trip(store: FileSessionStore, directory: Path) -> None:
    big = "x" * (3 * 1024 * 1024 + 17)
    store.append_event("big", ev("before"))
    store.append_event("big", ev(big))
    store.append_event("big", ev("after"))
    assert messages(FileSessionStore(directory), "big") == ["before", big, "after"]


# ============================================================ TTL (file mtimes are the clock)
def _age(directory: Path, seconds: float) -> None:
    for p in directory.iterdir():
        if p.is_file():
            st = p.stat()
            os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def test_expired_session_reads_as_missing_and_is_purged(directory: Path) -> None:
    s = FileSessionStore(directory, expiration_seconds=60)
    s.save(Session(id="t1"))
    s.append_event("t1", ev("a"))
    s.put_record("t1", "k", "x", b"1")
    _age(directory, 30)
    s.append_event("t1", ev("b"))  # a write refreshes the whole session
    _age(directory, 40)
    assert messages(s, "t1") == ["a", "b"]
    _age(directory, 30)
    assert s.list_sessions() == []
    assert s.get("t1") is None
    assert s.get_events("t1") == []
    assert s.get_record("t1", "k", "x") is None
    assert not [p for p in directory.iterdir() if p.is_file()]
    s.append_event("t1", ev("fresh"))
    assert messages(s, "t1") == ["fresh"]


# ============================================================ other objects and processes
def test_another_store_object_sees_appends_and_replacements_made_since(directory: Path) -> None:
    a, b = FileSessionStore(directory), FileSessionStore(directory)
    for text in "abc":
        a.append_event("s1", ev(text))
    assert messages(b, "s1") == ["a", "b", "c"]
    a.append_event("s1", ev("d"))
    assert messages(b, "s1") == ["a", "b", "c", "d"]
    a.replace_events("s1", [ev("x"), ev("y"), ev("z"), ev("w"), ev("v")])
    assert messages(b, "s1") == ["x", "y", "z", "w", "v"]
    a.clear_events("s1")
    a.append_event("s1", ev("only"))
    assert messages(b, "s1") == ["only"]
    a.delete("s1")
    assert b.get("s1") is None
    dup = ev("again", event_id="same-id")
    a.append_event("s1", dup)
    b.append_event("s1", dup)  # b's id index must include what a wrote
    assert messages(b, "s1") == ["again"]


_APPEND_CODE = """
import sys
from a2a_session_manager.storage.providers.file import FileSessionStore
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.event_source import EventSource
s = FileSessionStore(sys.argv[1])
for text in sys.argv[3:]:
    s.append_event(sys.argv[2], SessionEvent(message=text, source=EventSource.USER))
print(len(s.get_events(sys.argv[2])))
"""


def test_another_process_sees_appends_and_its_appends_are_seen(directory: Path) -> None:
    s = FileSessionStore(directory)
    s.append_event("p1", ev("here"))
    assert messages(s, "p1") == ["here"]  # the index is now cached
    result = run_python(_APPEND_CODE, str(directory), "p1", "there1", "there2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"  # the child read what this process wrote
    assert messages(s, "p1") == ["here", "there1", "there2"]
    s.append_event("p1", ev("back"))
    assert messages(s, "p1") == ["here", "there1", "there2", "back"]


_WRITER_CODE = """
import sys, time
from pathlib import Path
from a2a_session_manager.storage.providers.file import FileSessionStore
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.event_source import EventSource
directory, sid, writer, n, go = sys.argv[1:]
s = FileSessionStore(directory)
deadline = time.monotonic() + 60
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.002)
for i in range(int(n)):
    s.append_event(sid, SessionEvent(message=f"{writer}-{i}", source=EventSource.USER))
"""


def test_processes_and_threads_appending_to_one_session_lose_nothing(directory: Path, tmp_path: Path) -> None:
    n = 200
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER_CODE, str(directory), "shared", f"p{k}", str(n), str(go)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)])},
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    s = FileSessionStore(directory)

    def thread_writer(k: int) -> None:
        for i in range(n):
            s.append_event("shared", ev(f"t{k}-{i}"))

    threads = [threading.Thread(target=thread_writer, args=(k,)) for k in range(8)]
    go.touch()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    got = [str(m) for m in messages(FileSessionStore(directory), "shared")]
    assert len(got) == 12 * n
    writers = [f"p{k}" for k in range(4)] + [f"t{k}" for k in range(8)]
    for w in writers:
        mine = [m for m in got if m.split("-")[0] == w]
        assert mine == [f"{w}-{i}" for i in range(n)]
    assert [e.seq for e in s.get_events("shared")] == list(range(12 * n))


def test_duplicate_ids_from_a_cold_store_object_are_skipped(directory: Path) -> None:
    a = FileSessionStore(directory)
    events = [ev(f"m{i}") for i in range(500)]
    assert a.append_events("s1", events) == 500
    cold = FileSessionStore(directory)
    assert cold.append_events("s1", [events[3], events[499], ev("new")]) == 1
    assert cold.count_events("s1") == 501


async def test_the_async_twins_share_the_files(store: FileSessionStore, directory: Path) -> None:
    await store.aappend_event("as", ev("a"))
    await store.asave(Session(id="as2", parent_id="as"))
    assert [e.message for e in await FileSessionStore(directory).aget_events("as")] == ["a"]
    assert await store.aget_child_ids("as") == ["as2"]


def test_a_line_corrupted_after_caching_is_reported_every_time(store: FileSessionStore, directory: Path) -> None:
    first = ev("a")
    store.append_event("s1", first)
    store.append_event("s1", ev("b"))  # the id index is now cached
    with open(events_file(directory, "s-s1"), "ab") as f:
        f.write(b"not json\n")
    for _ in range(2):
        with pytest.raises(CorruptSessionError, match="line 4"):
            store.append_event("s1", ev("c"))
    with pytest.raises(CorruptSessionError, match="line 4"):
        store.get_events("s1")
    assert [e.message for e in store.get_events("s1", end=2)] == ["a", "b"]
    assert store.count_events("s1") == 3
