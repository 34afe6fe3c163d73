"""SQLite store under hostile conditions (issue 11): ids that look like patterns, a database
deleted or replaced from outside, private files, and databases the process may only read."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from a2a_session_manager import EventSource, Session, SessionEvent
from a2a_session_manager.exceptions import StorageError
from a2a_session_manager.storage.providers import sqlite as sqlite_module
from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore, _upper_bound


def _event(text: str) -> SessionEvent:
    return SessionEvent(message=text, source=EventSource.USER)


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


# ====================================================== ids are data, never patterns (item 13)
TRICKY_IDS = [
    "a",
    "a b",
    "a_b",
    "axb",
    "a%b",
    "a%",
    "50%",
    "5%0",
    "%",
    "_",
    "*",
    "a*",
    "[ab]?",
    "a?",
    "\\",
    "a\\_",
    "tenant/42",
    "user+1@example.com",
    "'; DROP TABLE sessions; --",
    "ключ",
    "日本語",
    "emoji 🙂",
    "\ud7fb",  # the last printable character before the surrogate range
    "\U000e01ef",  # the highest printable code point
    "x" * 256,
]


def test_tricky_ids_round_trip_and_list_in_python_order(store: SQLiteSessionStore) -> None:
    ids = TRICKY_IDS
    for sid in ids:
        store.save(Session(id=sid))
        store.append_event(sid, _event(f"in {sid}"))
    for sid in ids:
        session = store.get(sid)
        assert session is not None and session.id == sid
        assert [e.message for e in store.get_events(sid)] == [f"in {sid}"]
    assert store.list_sessions() == sorted(ids)


def test_a_prefix_is_literal_text_whatever_characters_it_holds(store: SQLiteSessionStore) -> None:
    ids = TRICKY_IDS
    for sid in ids:
        store.save(Session(id=sid))
    prefixes = {sid[:n] for sid in ids for n in range(1, min(len(sid), 4) + 1)}
    prefixes |= {"a_", "a%", "%", "_", "*", "[", "[ab]", "?", "\\", "a\\", "🙂", "emoji 🙂", "\ud7fb", "\U000e01ef"}
    for prefix in sorted(prefixes):
        expected = sorted(i for i in ids if i.startswith(prefix))
        assert store.list_sessions(prefix) == expected, prefix


def test_the_upper_bound_of_a_prefix_skips_surrogates_and_ends_at_the_last_code_point() -> None:
    assert _upper_bound("ab") == "ac"
    assert _upper_bound("a\ud7ff") == "a\ue000"  # never a lone surrogate, which UTF-8 cannot hold
    assert _upper_bound("a\U0010ffff") == "b"
    assert _upper_bound("\U0010ffff\U0010ffff") is None  # no string follows: the range is open


# ============================================== a database deleted or replaced (item 5)
def _files(db: Path) -> list[Path]:
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


@pytest.mark.parametrize("removed", ["database file", "database, -wal and -shm files"])
def test_a_write_after_the_database_was_deleted_raises_instead_of_being_lost(
    store: SQLiteSessionStore, db: Path, removed: str
) -> None:
    store.append_event("s1", _event("kept"))
    for path in _files(db)[: 1 if removed == "database file" else 3]:
        path.unlink()

    with pytest.raises(StorageError, match="was deleted") as info:
        store.append_event("s1", _event("would be lost"))
    assert str(db) in str(info.value)
    assert info.value.session_id == "s1"

    # The store then opens the file at the path (a new, empty database) and writes land there.
    assert store.get_events("s1") == []
    store.append_event("s1", _event("after"))
    other = SQLiteSessionStore(db)
    assert [e.message for e in other.get_events("s1")] == ["after"]
    other.close()


def test_every_kind_of_write_checks_the_file(store: SQLiteSessionStore, db: Path) -> None:
    writes: list[Callable[[], object]] = [
        lambda: store.save(Session(id="s1")),
        lambda: store.append_events("s1", [_event("x")]),
        lambda: store.put_record("s1", "kv", "k", b"v"),
        lambda: store.delete_records("s1", "kv"),
        lambda: store.replace_events("s1", [_event("y")]),
        lambda: store.delete("s1"),
    ]
    for write in writes:
        store.append_event("s1", _event("a"))
        db.unlink()
        with pytest.raises(StorageError, match="was deleted"):
            write()


def test_a_write_after_the_database_was_replaced_raises_and_the_replacement_is_read(
    store: SQLiteSessionStore, db: Path, tmp_path: Path
) -> None:
    store.append_event("s1", _event("old"))
    backup = SQLiteSessionStore(tmp_path / "backup.db")
    backup.append_event("restored", _event("from the backup"))
    backup.close()
    os.replace(tmp_path / "backup.db", db)

    with pytest.raises(StorageError, match="replaced") as info:
        store.append_event("s1", _event("would go to the old file"))
    assert str(db) in str(info.value)

    # The replacement is read as it is, not through the old file's WAL.
    assert store.list_sessions() == ["restored"]
    assert [e.message for e in store.get_events("restored")] == ["from the backup"]
    assert store.get_events("s1") == []


def test_a_database_moved_away_is_noticed_by_the_path_check(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Still linked under another name, so only the check of the path sees it (every
    # PATH_CHECK_SECONDS; zero here so the very next write runs it).
    monkeypatch.setattr(sqlite_module, "PATH_CHECK_SECONDS", 0.0, raising=False)
    store = SQLiteSessionStore(db)
    store.append_event("s1", _event("a"))
    db.rename(tmp_path / "moved.db")
    with pytest.raises(StorageError, match="moved away") as info:
        store.append_event("s1", _event("b"))
    assert str(db) in str(info.value)
    store.close()
    # What was committed before the move is in the moved file (checkpointed out of the
    # -wal file left at the old path), and the refused write is nowhere.
    moved = SQLiteSessionStore(tmp_path / "moved.db")
    assert [e.message for e in moved.get_events("s1")] == ["a"]
    moved.close()


def test_an_error_after_the_database_was_deleted_says_so(store: SQLiteSessionStore, db: Path) -> None:
    # Any driver error is translated in one place, which checks the file first: an I/O
    # error from a vanished database names the cause, not just the symptom.
    store.append_event("s1", _event("a"))
    db.unlink()
    error = store._wrap_error(sqlite3.OperationalError("disk I/O error"), "s1")
    assert isinstance(error, StorageError)
    assert "was deleted" in str(error) and str(db) in str(error)
    assert store._con is None  # dropped: the next call opens the file now at the path


# ============================================================ private files (item 8)
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077], ids=oct)
def test_the_database_its_wal_and_shm_and_new_folders_are_private(tmp_path: Path, mask: int) -> None:
    os.umask(mask)
    db = tmp_path / "a" / "b" / "sessions.db"
    store = SQLiteSessionStore(db)
    store.append_event("s1", _event("secret"))
    assert {p.name: _mode(p) for p in _files(db)} == {p.name: 0o600 for p in _files(db)}
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    store.close()


@pytest.mark.usefixtures("umask")
@pytest.mark.skipif(os.geteuid() != 0, reason="only root can use a folder 0500 and a file 0400 it made")
def test_a_stricter_umask_is_respected(tmp_path: Path) -> None:
    os.umask(0o277)
    db = tmp_path / "a" / "sessions.db"
    store = SQLiteSessionStore(db)
    store.append_event("s1", _event("x"))
    assert _mode(db) == 0o400
    assert _mode(Path(f"{db}-wal")) == 0o400
    assert _mode(tmp_path / "a") == 0o500
    store.close()


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(db: Path) -> None:
    db.touch(mode=0o640)
    db.chmod(0o640)
    store = SQLiteSessionStore(db)
    store.append_event("s1", _event("x"))
    assert _mode(db) == 0o640
    store.close()


# ================================================ databases the process may only read (item 9)
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3
_PR_CAPBSET_DROP = 24


def _drop_root_powers() -> None:
    """In the child before exec: without these capabilities root obeys file modes like any user."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


_READER = r"""
import json, sys
from a2a_session_manager import EventSource, Session, SessionEvent
from a2a_session_manager.exceptions import StorageError
from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

path = sys.argv[1]
try:
    open(path, "ab").close()
    sys.exit("this reader can write " + path + ": the test does not test a read-only database")
except OSError:
    pass
store = SQLiteSessionStore(path)
session = store.get("s1")
out = {
    "get": [e.message for e in session.events],
    "get_events": [e.message for e in store.get_events("s1", start=1)],
    "last_n": [e.message for e in store.get_events("s1", last_n=1)],
    "count": store.count_events("s1"),
    "list": store.list_sessions(),
    "record": store.get_record("s1", "kv", "k").decode(),
    "records": [k for k, _ in store.list_records("s1", "kv")],
    "exists": store.exists("s1"),
    "writes": {},
}
ev = SessionEvent(message="new", source=EventSource.USER)
writes = {
    "append_event": lambda: store.append_event("s1", ev),
    "append_to_new": lambda: store.append_event("s2", ev),
    "save": lambda: store.save(Session(id="s3")),
    "put_record": lambda: store.put_record("s1", "kv", "k", b"changed"),
    "delete_records": lambda: store.delete_records("s1", "kv"),
    "replace_events": lambda: store.replace_events("s1", [ev]),
    "clear_events": lambda: store.clear_events("s1"),
    "delete": lambda: store.delete("s1"),
}
for name, write in writes.items():
    try:
        write()
        out["writes"][name] = "stored"
    except StorageError as exc:
        out["writes"][name] = str(exc)
out["count_after"] = store.count_events("s1")
store.close()
print(json.dumps(out))
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _fill(db: Path) -> SQLiteSessionStore:
    store = SQLiteSessionStore(db)
    store.append_events("s1", [_event("a"), _event("b"), _event("c")])
    store.put_record("s1", "kv", "k", b"v")
    return store


def _check_reader_output(stdout: str, db: Path) -> None:
    out = json.loads(stdout)
    assert out["get"] == ["a", "b", "c"]
    assert out["get_events"] == ["b", "c"]
    assert out["last_n"] == ["c"]
    assert out["count"] == 3 and out["count_after"] == 3
    assert out["list"] == ["s1"]
    assert out["record"] == "v" and out["records"] == ["k"]
    assert out["exists"] is True
    for name, result in out["writes"].items():
        assert "read-only" in result and str(db) in result, (name, result)


def _run_reader(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, preexec_fn=_drop_root_powers)


@pytest.mark.parametrize("folder_writable", [True, False], ids=["read-only file", "read-only file and folder"])
def test_a_database_the_process_may_only_read_serves_reads_and_refuses_writes(
    tmp_path: Path, folder_writable: bool
) -> None:
    folder = tmp_path / "ro"
    db = folder / "sessions.db"
    _fill(db).close()  # closed cleanly: no -wal or -shm file is left
    db.chmod(0o444)
    if not folder_writable:
        folder.chmod(0o555)
    before = _digests(folder)
    try:
        done = _run_reader([sys.executable, "-c", _READER, str(db)])
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert done.returncode == 0, done.stderr
    _check_reader_output(done.stdout, db)
    assert _digests(folder) == before  # not even a -shm file appeared (it would be the reader's)
    after = SQLiteSessionStore(db)
    assert [e.message for e in after.get_events("s1")] == ["a", "b", "c"]
    after.close()


def test_a_read_only_folder_with_a_live_writers_wal_reads_the_commits_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = folder / "sessions.db"
    writer = _fill(db)  # stays open: the events are in the -wal file, not yet in the database
    assert Path(f"{db}-wal").stat().st_size > 0
    for path in _files(db):
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        done = _run_reader([sys.executable, "-c", _READER, str(db)])
    finally:
        folder.chmod(0o755)
        for path in _files(db):
            path.chmod(0o644)
    assert done.returncode == 0, done.stderr
    _check_reader_output(done.stdout, db)
    writer.append_event("s1", _event("d"))
    assert writer.count_events("s1") == 4
    writer.close()


_WATCHER = r"""
import sys
from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

store = SQLiteSessionStore(sys.argv[1])
print(store.count_events("s1"), flush=True)
sys.stdin.readline()  # the test writes meanwhile
print(store.count_events("s1"), [e.message for e in store.get_events("s1", last_n=1)], flush=True)
store.close()
"""


def test_a_reader_of_a_read_only_folder_sees_what_a_writer_commits_later(tmp_path: Path) -> None:
    # The reader can create no -shm file, so it reads the main file alone; once a writer
    # (here: root, whom the modes do not stop) makes a -wal file, the reader must follow it.
    folder = tmp_path / "ro"
    db = folder / "sessions.db"
    _fill(db).close()
    db.chmod(0o444)
    folder.chmod(0o555)
    writer = None
    with subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_drop_root_powers,
    ) as reader:
        assert reader.stdin is not None and reader.stdout is not None
        try:
            assert reader.stdout.readline().strip() == "3"
            if os.geteuid() != 0:
                folder.chmod(0o755)
                db.chmod(0o644)
            writer = SQLiteSessionStore(db)
            writer.append_event("s1", _event("d"))
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert reader.stdout.readline().strip() == "4 ['d']"
            assert reader.wait(timeout=60) == 0
        finally:
            if reader.poll() is None:
                reader.kill()
            if writer is not None:
                writer.close()
            folder.chmod(0o755)
            db.chmod(0o644)


def test_an_empty_read_only_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "empty.db"
    db.touch()
    db.chmod(0o444)
    folder.chmod(0o555)
    code = (
        "import sys\n"
        "from a2a_session_manager.exceptions import StorageError\n"
        "from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore\n"
        "try:\n"
        "    SQLiteSessionStore(sys.argv[1])\n"
        "except StorageError as exc:\n"
        "    print(exc)\n"
    )
    try:
        done = _run_reader([sys.executable, "-c", code, str(db)])
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "read-only and holds no session tables" in done.stdout and str(db) in done.stdout
    assert db.stat().st_size == 0


def test_a_database_on_a_read_only_mount_serves_reads_and_refuses_writes(tmp_path: Path) -> None:
    folder = tmp_path / "mnt"
    db = folder / "sessions.db"
    _fill(db).close()
    before = _digests(folder)
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        pytest.skip("needs util-linux unshare and mount to make a read-only mount")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace here: {probe.stderr.decode().strip()}")
    # A private mount namespace: the read-only bind mount exists only for the reader.
    script = (
        'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && touch "$1/probe" 2>/dev/null && exit 99; '
        'shift; exec "$@"'
    )
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", script, "sh", str(folder), sys.executable, "-c", _READER, str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 99, "the mount was writable"
    assert done.returncode == 0, done.stderr
    _check_reader_output(done.stdout, db)
    assert _digests(folder) == before
