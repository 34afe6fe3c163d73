"""File store hardening (issue 11): ids as file names, whole batches, private files, read-only folders.

Every case drives a real ``FileSessionStore`` on real files under ``tmp_path``; the kill
and read-only cases run real child processes (a real SIGKILL; a real process that may
not write the folder).
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage.providers import _filenames
from a2a_session_manager.storage.providers.file import FileSessionStore
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join([str(ROOT / "core"), str(ROOT)])
OLD_NAMES_COMMIT = "f79db14"
"""The last commit whose file store predates the printable-id encoding (and batch units)."""


def ev(text: str, event_id: str | None = None) -> SessionEvent:
    if event_id is None:
        return SessionEvent(message=text, source=EventSource.USER)
    return SessionEvent(id=event_id, message=text, source=EventSource.USER)


def messages(store: FileSessionStore, sid: str) -> list[object]:
    return [e.message for e in store.get_events(sid)]


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


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` with its mode and content hash (folders: empty hash)."""
    out: dict[str, tuple[int, str]] = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(root))] = (stat.S_IMODE(st_.st_mode), digest)
    return out


# ================================================================ item 13: ids as file names
NEW_IDS = [
    "user+1@example.com",
    "tenant/42",
    "a b",
    "../x",
    "../../etc/passwd",
    "/abs",
    "*",
    "[ab]?",
    "..",
    ".",
    "CON",
    "nul",
    ".hidden",
    "a\\b",
    "C:evil\\x",
    "%2F",
    "_.2f.",
    "s-x",
    "h-x~0",
    "~",
    "é",
    "É",
    "e\u0301",
    "日本語/スレッド",
    "emoji 🎉",
    "x" * 256,
    "é" * 256,
    "🎉" * 256,
    "/" * 256,
    "A/" + "b" * 254,
]


def _check_names(directory: Path) -> None:
    names = [p.name for p in directory.iterdir() if p.name != ".locks"]
    for name in names:
        assert name.isascii() and len(name.encode()) <= 255, name
        assert "/" not in name and "\\" not in name and ":" not in name and "\0" not in name, name
        assert not name.startswith("."), name
    # distinct ids never share a name on a case-insensitive file system
    assert len({n.lower() for n in names}) == len(names)


def test_printable_ids_round_trip_through_every_operation_and_stay_inside_the_store(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "store"
    s = FileSessionStore(directory)
    for sid in NEW_IDS:
        s.save(Session(id=sid, metadata={"properties": {"sid": sid}}))
        s.append_event(sid, ev(f"one {sid}"))
        assert s.append_events(sid, [ev(f"two {sid}"), ev(f"three {sid}")]) == 2
        s.put_record(sid, "kind", "key", sid.encode())
        s.upsert_run(sid, SessionRun())
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(directory)}
    assert outside == {tmp_path / "deep"}
    _check_names(directory)

    fresh = FileSessionStore(directory)
    assert fresh.list_sessions() == sorted(NEW_IDS)
    for sid in NEW_IDS:
        for reader in (s, fresh):
            got = reader.get(sid)
            assert got is not None and got.id == sid
            assert [e.message for e in got.events] == [f"one {sid}", f"two {sid}", f"three {sid}"]
            assert len(got.runs) == 1
            assert reader.get_record(sid, "kind", "key") == sid.encode()
            assert reader.count_events(sid) == 3
            assert reader.exists(sid)
            assert reader.list_sessions(sid) == sorted(i for i in NEW_IDS if i.startswith(sid))
    for sid in NEW_IDS:
        assert fresh.delete(sid)
        assert s.get(sid) is None
    assert fresh.list_sessions() == []
    assert [p.name for p in directory.iterdir()] == [".locks"]


async def test_printable_ids_round_trip_through_the_async_twins(store: FileSessionStore, directory: Path) -> None:
    for sid in NEW_IDS:
        await store.asave(Session(id=sid))
        await store.aappend_event(sid, ev(sid))
    assert await store.alist_sessions() == sorted(NEW_IDS)
    for sid in NEW_IDS:
        assert [e.message for e in await FileSessionStore(directory).aget_events(sid)] == [sid]
        assert await store.adelete(sid)


def test_pattern_characters_in_a_prefix_match_only_themselves(store: FileSessionStore) -> None:
    ids = ["a1", "ab", "b", "[ab]?x", "*star", "?q", "a*", "[!a]", "{a,b}"]
    for sid in ids:
        store.save(Session(id=sid))
    assert store.list_sessions("*") == ["*star"]
    assert store.list_sessions("[ab]?") == ["[ab]?x"]
    assert store.list_sessions("?") == ["?q"]
    assert store.list_sessions("a*") == ["a*"]
    assert store.list_sessions("[!") == ["[!a]"]
    assert store.list_sessions("{") == ["{a,b}"]
    assert store.list_sessions("a") == ["a*", "a1", "ab"]
    assert store.list_sessions("c") == []


def test_long_non_ascii_ids_sharing_a_hashed_head_list_by_their_real_ids(
    store: FileSessionStore, directory: Path
) -> None:
    head = "日本" * 60
    ids = [head + "語" * 130 + "a", head + "語" * 130 + "b", head + "x", "/" * 200 + "tail"]
    for sid in ids:
        store.append_event(sid, ev("m"))
    assert all(p.name.startswith(("h-", ".locks")) for p in directory.iterdir())
    fresh = FileSessionStore(directory)
    assert fresh.list_sessions() == sorted(ids)
    assert fresh.list_sessions(head) == sorted(ids[:3])
    assert fresh.list_sessions(head + "語" * 130) == sorted(ids[:2])
    assert fresh.list_sessions(ids[0]) == [ids[0]]
    assert fresh.list_sessions("/" * 150) == [ids[3]]
    assert fresh.list_sessions("日本語") == []


def test_foreign_files_in_the_store_folder_are_not_listed(store: FileSessionStore, directory: Path) -> None:
    store.save(Session(id="real"))
    for name in ["s-_.a.x.session.jsonl", "s-_.zz.session.jsonl", "s-_.41..session.jsonl", "notes.session.jsonl"]:
        (directory / name).write_bytes(b"")  # a newline escape, bad hex, a non-canonical "A", no stem
    assert store.list_sessions() == ["real"]


printable_ids = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn", "Zs"))
    | st.sampled_from(" /.:_-*?[]%~"),
    min_size=1,
    max_size=256,
).filter(str.isprintable)


@settings(max_examples=400, deadline=None)
@given(sid=printable_ids)
def test_every_printable_id_gets_a_safe_ascii_name_that_decodes_back(sid: str) -> None:
    stem = _filenames.stem(sid)
    assert stem.isascii() and len(stem) <= 2 + _filenames.MAX_ESCAPED
    assert not set(stem) - set("abcdefghijklmnopqrstuvwxyz0123456789-.@_~")
    known = _filenames.stem_prefix(stem)
    assert known is not None
    if stem.startswith("s-"):
        assert known == sid
    else:
        assert sid.startswith(known)


# Names the file store gave before printable ids (computed with commit f79db14's code):
# they must still name the same files, so stores written then keep working.
OLD_STEMS = {
    "s1": "s-s1",
    "Session_1:A": "s-_session__1_-_a",
    "user@example.com": "s-user@example.com",
    "a-b.c": "s-a-b.c",
    "...": "s-...",
    "Tenant_42:Thread-7.x@y": "s-_tenant__42_-_thread-7.x@y",
    "x" * 200: "s-" + "x" * 200,
    "A" * 101: "h-" + "_a" * 50 + "~aac76dab773c00c8ad4bb128147945c7",
    "AbC" * 80: "h-" + "_ab_c" * 20 + "~16785c192af4ba314a081ec060a0aa83",
}


def test_ids_the_earlier_rules_allowed_keep_their_file_names(store: FileSessionStore, directory: Path) -> None:
    for sid, stem in OLD_STEMS.items():
        assert _filenames.stem(sid) == stem
        store.append_event(sid, ev(sid))
        assert (directory / f"{stem}.events.jsonl").exists()
        assert (directory / f"{stem}.session.jsonl").exists()


def _old_module(tmp_path: Path) -> ModuleType:
    """The file store module of commit f79db14, loaded under another name."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of the checkout (git show of the old file store)")
    done = subprocess.run(
        [git, "-C", str(ROOT), "show", f"{OLD_NAMES_COMMIT}:core/a2a_session_manager/storage/providers/file.py"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"commit {OLD_NAMES_COMMIT} is not in this checkout's history")
    source = tmp_path / "old_file_store.py"
    source.write_bytes(done.stdout)
    spec = importlib.util.spec_from_file_location("_old_file_store_f79db14", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_a_store_written_by_the_previous_version_reads_back(tmp_path: Path, directory: Path) -> None:
    old = _old_module(tmp_path).FileSessionStore(directory)
    ids = list(OLD_STEMS)
    for sid in ids:
        old.save(Session(id=sid, state={"sid": sid}))
        old.append_event(sid, ev("a"))
        old.append_events(sid, [ev("b"), ev("c"), ev("d")])  # a batch as LF lines
        old.put_records(sid, "kind", [("k1", b"1"), ("k2", b"2")])
    old.close()

    new = FileSessionStore(directory)
    assert new.list_sessions() == sorted(ids)
    assert new.list_sessions("A") == sorted(i for i in ids if i.startswith("A"))
    for sid in ids:
        got = new.get(sid)
        assert got is not None and got.state == {"sid": sid}
        assert [e.message for e in got.events] == ["a", "b", "c", "d"]
        assert new.list_records(sid, "kind") == [("k1", b"1"), ("k2", b"2")]
        new.append_events(sid, [ev("e"), ev("f")])
        assert messages(FileSessionStore(directory), sid) == ["a", "b", "c", "d", "e", "f"]


# ================================================================ item 6: a batch is one unit
def _cut_after(log: Path, marker: bytes) -> None:
    """Truncate ``log`` just after the record holding ``marker`` (after its CR or LF)."""
    data = log.read_bytes()
    at = data.index(marker)
    ends = [i for i in (data.find(b"\r", at), data.find(b"\n", at)) if i >= 0]
    with open(log, "r+b") as f:
        f.truncate(min(ends) + 1)


def test_a_batch_cut_short_at_an_event_boundary_is_dropped_whole(store: FileSessionStore, directory: Path) -> None:
    store.append_event("s1", ev("a"))
    store.append_events("s1", [ev("b", "id-b"), ev("c", "id-c"), ev("d", "id-d")])
    log = directory / "s-s1.events.jsonl"
    _cut_after(log, b'"id-c"')  # a writer killed after two of its three events reached the file

    for reader in (FileSessionStore(directory), store):
        assert messages(reader, "s1") == ["a"]
        assert reader.count_events("s1") == 1
    store.append_events("s1", [ev("e"), ev("f")])
    assert messages(FileSessionStore(directory), "s1") == ["a", "e", "f"]
    assert b"id-b" not in log.read_bytes()
    # the dropped events were never acknowledged: appending them again stores them
    assert FileSessionStore(directory).append_events("s1", [ev("b", "id-b"), ev("c", "id-c")]) == 2
    assert messages(store, "s1") == ["a", "e", "f", "b", "c"]


def test_a_batch_cut_inside_an_event_is_dropped_whole(store: FileSessionStore, directory: Path) -> None:
    store.append_events("s1", [ev("a"), ev("b")])
    store.append_events("s1", [ev("c"), ev("d", "id-d"), ev("e")])
    log = directory / "s-s1.events.jsonl"
    data = log.read_bytes()
    log.write_bytes(data[: data.index(b'"id-d"') + 3])
    assert messages(FileSessionStore(directory), "s1") == ["a", "b"]
    store.append_event("s1", ev("g"))
    assert messages(FileSessionStore(directory), "s1") == ["a", "b", "g"]


def test_a_record_batch_cut_short_is_dropped_whole(store: FileSessionStore, directory: Path) -> None:
    store.put_record("r1", "ck", "k0", b"0")
    store.put_records("r1", "ck", [("k1", b"1"), ("k2", b"2"), ("k3", b"3")])
    _cut_after(directory / "s-r1.records.jsonl", b'"key":"k2"')
    assert FileSessionStore(directory).list_records("r1", "ck") == [("k0", b"0")]
    store.put_records("r1", "ck", [("k4", b"4"), ("k5", b"5")])
    assert FileSessionStore(directory).list_records("r1", "ck") == [("k0", b"0"), ("k4", b"4"), ("k5", b"5")]


def test_record_log_compaction_keeps_values_written_in_batches(store: FileSessionStore, directory: Path) -> None:
    for i in range(200):
        store.put_records("c1", "ck", [(f"k{j}", f"{i}-{j}".encode()) for j in range(3)])
    expected = [(f"k{j}", f"199-{j}".encode()) for j in range(3)]
    assert store.list_records("c1", "ck") == expected
    assert FileSessionStore(directory).list_records("c1", "ck") == expected


def test_event_logs_with_lf_lines_and_crlf_lines_still_read(store: FileSessionStore, directory: Path) -> None:
    store.append_events("s1", [ev("a"), ev("b")])
    store.append_events("s1", [ev("c"), ev("d")])
    log = directory / "s-s1.events.jsonl"
    records = log.read_bytes().splitlines()
    log.write_bytes(b"\n".join(records) + b"\n")  # the layout before batch units
    assert messages(FileSessionStore(directory), "s1") == ["a", "b", "c", "d"]
    log.write_bytes(b"\r\n".join(records) + b"\r\n")  # an editor saved it with CRLF endings
    fresh = FileSessionStore(directory)
    assert messages(fresh, "s1") == ["a", "b", "c", "d"]
    fresh.append_events("s1", [ev("e"), ev("f")])
    assert messages(FileSessionStore(directory), "s1") == ["a", "b", "c", "d", "e", "f"]


def test_a_batch_larger_than_the_read_chunk_round_trips(store: FileSessionStore, directory: Path) -> None:
    events = [ev("x" * 2000 + str(i)) for i in range(3000)]  # about 6 MB, one unit, spans read chunks
    assert store.append_events("big", events) == 3000
    assert store.append_events("big", [*events[:5], ev("tail")]) == 1
    fresh = FileSessionStore(directory)
    assert fresh.count_events("big") == 3001
    tail = [e.message for e in fresh.get_events("big", start=2998)]
    assert tail == [events[2998].message, events[2999].message, "tail"]
    assert fresh.append_events("big", events[-3:]) == 0


_KILL_SUPERVISOR = r"""
import json, os, signal, sys, time
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage.providers.file import FileSessionStore
directory, rounds, per, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
body = "x" * size
FileSessionStore(directory).append_events("k", [SessionEvent(id=f"init-e{j}", message=body) for j in range(per)])
log = next(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".events.jsonl"))
acked = []
for r in range(rounds):
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer: batches until killed, acknowledging each once append_events returned
        try:
            os.close(rd)
            store = FileSessionStore(directory)
            b = 0
            while True:
                store.append_events("k", [SessionEvent(id=f"r{r}b{b}e{j}", message=body) for j in range(per)])
                os.write(wr, f"r{r}b{b}\n".encode())
                b += 1
        finally:
            os._exit(3)
    os.close(wr)
    # Kill -9 as soon as the log grows: most kills land inside a batch's write.
    start = os.stat(log).st_size
    deadline = time.monotonic() + 60
    while os.stat(log).st_size <= start:
        if os.waitpid(pid, os.WNOHANG)[0] or time.monotonic() > deadline:
            sys.exit(f"round {r}: the writer stopped or never wrote before it was killed")
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    with os.fdopen(rd, "rb") as f:
        acked += f.read().decode().split()
print(json.dumps(acked))
"""


def test_kill_9_inside_append_events_leaves_each_batch_whole_or_absent(directory: Path) -> None:
    per = 16
    done = subprocess.run(
        [sys.executable, "-c", _KILL_SUPERVISOR, str(directory), "20", str(per), "64000"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    acked = json.loads(done.stdout)

    store = FileSessionStore(directory)
    batches = Counter(e.id.rsplit("e", 1)[0] for e in store.get_events("k"))
    assert {b: n for b, n in batches.items() if n != per} == {}  # no batch partly stored
    assert set(acked) <= set(batches)  # every acknowledged batch is there
    # the store stays writable and consistent after the kills
    assert store.append_events("k", [ev("after-1"), ev("after-2")]) == 2
    assert messages(FileSessionStore(directory), "k")[-2:] == ["after-1", "after-2"]
    assert store.count_events("k") == per * len(batches) + 2


# ================================================================ item 8: private files
@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test (restored after it)."""
    previous = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    try:
        yield set_umask
    finally:
        os.umask(previous)


def _write_everything(directory: Path) -> FileSessionStore:
    s = FileSessionStore(directory)
    session = Session(id="m1")
    session.add_event(ev("a"))
    s.save(session)
    s.append_events("m1", [ev("b"), ev("c")])
    s.append_event("m2", ev("x"))
    s.upsert_run("m1", SessionRun())
    s.put_records("m1", "k", [("a", b"1"), ("b", b"2")])
    s.replace_events("m1", [ev("d")])  # a rewrite: temp file + rename
    for i in range(70):
        s.save(Session(id="m1", state={"i": i}))  # the header log is compacted (rewritten) too
    s.get("m1")
    s.list_sessions()
    return s


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_files_are_created_0600_and_folders_0700_under_any_umask(
    tmp_path: Path, umask: Callable[[int], None], mask: int
) -> None:
    umask(mask)
    directory = tmp_path / "parent" / "store"
    _write_everything(directory).close()
    paths = [directory, *directory.rglob("*")]
    files = [p for p in paths if p.is_file()]
    folders = [p for p in paths if p.is_dir()]
    assert {p.name for p in folders} == {"store", ".locks"}
    assert len([p for p in files if p.parent.name == ".locks"]) >= 1
    assert len(files) >= 6
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600 & ~mask, p
    for p in folders:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700 & ~mask, p


def test_an_existing_folder_keeps_its_mode(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o022)
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o750)
    directory.chmod(0o750)
    FileSessionStore(directory).save(Session(id="e1"))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    assert stat.S_IMODE((directory / ".locks").stat().st_mode) == 0o700


# ================================================================ item 9: read-only folders
_READER = r"""
import json, os, sys
from a2a_session_manager.exceptions import StorageError
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage.providers.file import FileSessionStore

directory = sys.argv[1]
out = {}
try:  # the premise: this process really may not write the folder
    os.close(os.open(os.path.join(directory, "probe"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    out["can_write"] = True
    os.unlink(os.path.join(directory, "probe"))
except OSError as exc:
    out["can_write"] = False
    out["probe_errno"] = exc.errno
s = FileSessionStore(directory)
got = s.get("parent")
out["get"] = None if got is None else [got.id, [e.message for e in got.events], len(got.runs), got.child_ids]
out["events"] = [e.message for e in s.get_events("parent", start=1)]
out["last"] = [e.message for e in s.get_events("parent", last_n=1)]
out["count"] = s.count_events("parent")
out["list"] = s.list_sessions()
out["prefix"] = s.list_sessions("pa")
out["record"] = s.get_record("parent", "ck", "k1").decode()
out["records"] = [[k, v.decode()] for k, v in s.list_records("parent", "ck")]
out["exists"] = [s.exists("parent"), s.exists("nope")]
out["children"] = s.get_child_ids("parent")
out["child"] = [e.message for e in s.get_events("tenant/7 é")]
out["missing"] = [s.get("nope"), s.get_events("nope"), s.get_record("nope", "ck", "k1")]
ttl = FileSessionStore(directory, expiration_seconds=3600)
out["expired"] = [ttl.get("old"), ttl.get_events("old"), "old" in ttl.list_sessions()]
writes = {
    "save": lambda: s.save(Session(id="parent")),
    "save_new": lambda: s.save(Session(id="brand-new")),
    "append_event": lambda: s.append_event("parent", SessionEvent(message="x", source=EventSource.USER)),
    "append_new": lambda: s.append_event("brand-new", SessionEvent(message="x", source=EventSource.USER)),
    "append_events": lambda: s.append_events("parent", [SessionEvent(message="y", source=EventSource.USER)] * 2),
    "replace_events": lambda: s.replace_events("parent", []),
    "clear_events": lambda: s.clear_events("parent"),
    "upsert_run": lambda: s.upsert_run("parent", SessionRun()),
    "put_record": lambda: s.put_record("parent", "ck", "k9", b"9"),
    "delete_records": lambda: s.delete_records("parent", "ck"),
    "delete": lambda: s.delete("parent"),
    "delete_expired": lambda: ttl.delete("old"),
}
for name, write in writes.items():
    try:
        write()
        out[name] = "no error"
    except StorageError as exc:
        out[name] = ["StorageError", str(exc)]
    except Exception as exc:
        out[name] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""

_DROP_WRITE_ACCESS = r"""
import ctypes, os, sys
# A root process bypasses permission bits through these capabilities; drop them from the
# bounding set, then exec: the new image (still uid 0) has them neither permitted nor effective.
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        print(os.strerror(ctypes.get_errno()), file=sys.stderr)
        sys.exit(77)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def _make_read_only(root: Path) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        p.chmod(0o555 if p.is_dir() else 0o444)
    root.chmod(0o555)


def _make_writable(root: Path) -> None:
    root.chmod(0o700)
    for p in root.rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)


def _fill(directory: Path) -> None:
    s = FileSessionStore(directory)
    parent = Session(id="parent")
    parent.add_event(ev("p0"))
    s.save(parent)
    s.append_events("parent", [ev("p1"), ev("p2")])
    s.upsert_run("parent", SessionRun())
    s.put_records("parent", "ck", [("k1", b"v1"), ("k2", b"v2")])
    s.save(Session(id="tenant/7 é", parent_id="parent"))
    s.append_event("tenant/7 é", ev("c0"))
    s.append_event("old", ev("stale"))
    for p in directory.glob("s-old.*"):
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    s.close()


def _run_reader(directory: Path, *, read_only_mount: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    argv = [sys.executable, "-c", _READER, str(directory)]
    if read_only_mount:
        mount = f"mount --bind '{directory}' '{directory}' && mount -o remount,bind,ro '{directory}'"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mount} && exec "$@"', "sh", *argv]
    elif os.geteuid() == 0:
        argv = [sys.executable, "-c", _DROP_WRITE_ACCESS, "-c", _READER, str(directory)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode == 77:
        pytest.skip(f"this root process may not drop CAP_DAC_OVERRIDE (prctl: {done.stderr.strip()})")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _check_reads_and_refused_writes(out: dict[str, Any], directory: Path, denied: int) -> None:
    assert out["can_write"] is False and out["probe_errno"] == denied
    assert out["get"] == ["parent", ["p0", "p1", "p2"], 1, ["tenant/7 é"]]
    assert out["events"] == ["p1", "p2"]
    assert out["last"] == ["p2"]
    assert out["count"] == 3
    assert out["list"] == ["old", "parent", "tenant/7 é"]
    assert out["prefix"] == ["parent"]
    assert out["record"] == "v1"
    assert out["records"] == [["k1", "v1"], ["k2", "v2"]]
    assert out["exists"] == [True, False]
    assert out["children"] == ["tenant/7 é"]
    assert out["child"] == ["c0"]
    assert out["missing"] == [None, [], None]
    assert out["expired"] == [None, [], False]
    writes = [
        "save",
        "save_new",
        "append_event",
        "append_new",
        "append_events",
        "replace_events",
        "clear_events",
        "upsert_run",
        "put_record",
        "delete_records",
        "delete",
        "delete_expired",
    ]
    for name in writes:
        kind, message = out[name]
        assert kind == "StorageError", (name, out[name])
        assert f"file store folder {directory}" in message, (name, message)


@pytest.mark.parametrize("locks", ["kept", "never-created"])
def test_a_folder_this_process_may_only_read_serves_reads_and_refuses_writes(directory: Path, locks: str) -> None:
    _fill(directory)
    if locks == "never-created":
        shutil.rmtree(directory / ".locks")  # e.g. a store folder copied without its lock files
    _make_read_only(directory)
    try:
        before = snapshot(directory)
        out = _run_reader(directory)
        after = snapshot(directory)
    finally:
        _make_writable(directory)
    _check_reads_and_refused_writes(out, directory, errno.EACCES)
    assert after == before  # nothing changed: no byte, no mode, no new file, nothing purged


def test_a_read_only_mount_serves_reads_and_refuses_writes(directory: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a private read-only bind mount needs root and unshare(1)")
    _fill(directory)
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"mount namespaces are not available here: {probe.stderr.strip()}")
    before = snapshot(directory)
    out = _run_reader(directory, read_only_mount=True)
    assert snapshot(directory) == before
    _check_reads_and_refused_writes(out, directory, errno.EROFS)
    assert "read-only file system" in out["append_event"][1]
