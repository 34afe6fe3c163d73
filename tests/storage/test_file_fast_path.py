"""The file store's append fast path (kept-open logs, skipped re-reads) never serves or writes stale state.

Two store objects on one directory stand for two processes: each must see what the other did.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from a2a_session_manager import EventSource, SessionEvent
from a2a_session_manager.storage.providers.file import FileSessionStore


def ev(i: int) -> SessionEvent:
    return SessionEvent(message=f"m{i}", source=EventSource.USER)


def texts(store: FileSessionStore, sid: str) -> list[str]:
    return [e.message for e in store.get_events(sid)]


def test_appends_follow_replacements_and_recreations_by_another_store(tmp_path: Path) -> None:
    a, b = FileSessionStore(tmp_path), FileSessionStore(tmp_path)
    for i in range(5):
        a.append_event("s1", ev(i))
    b.append_event("s1", ev(100))
    a.append_event("s1", ev(5))
    assert a.count_events("s1") == b.count_events("s1") == 7
    kept = b.get_events("s1")[:3]
    b.replace_events("s1", kept)
    a.append_event("s1", ev(6))
    assert texts(b, "s1") == ["m0", "m1", "m2", "m6"]
    assert a.append_events("s1", [kept[0]]) == 0
    for k in range(20):  # inode numbers get reused
        b.delete("s1")
        b.append_event("s1", ev(200 + k))
        a.append_event("s1", ev(300 + k))
        assert texts(b, "s1") == [f"m{200 + k}", f"m{300 + k}"]


def test_a_crash_tail_rewritten_to_the_same_length_is_not_cut_as_a_tail(tmp_path: Path) -> None:
    a, b = FileSessionStore(tmp_path), FileSessionStore(tmp_path)
    a.append_event("s1", ev(1))
    log = next(tmp_path.glob("*.events.jsonl"))
    with open(log, "ab") as fh:
        fh.write(b'{"id":"half')
    assert a.count_events("s1") == 1
    a.append_event("s1", ev(2))
    with open(log, "ab") as fh:
        fh.write(b'{"id":"x')
    a.count_events("s1")  # a has now seen the unfinished line
    b.append_event("s1", ev(3))  # b cuts it and writes a whole event
    a.append_event("s1", ev(4))
    assert texts(b, "s1") == ["m1", "m2", "m3", "m4"]


def test_duplicate_ids_in_one_batch_are_stored_once_and_open_files_stay_bounded(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path)
    event = ev(1)
    assert store.append_events("s1", [event, event, ev(2)]) == 2
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting open files needs /proc (Linux)")
    before = len(os.listdir("/proc/self/fd"))
    for i in range(300):
        store.append_event(f"x{i}", ev(i))
    assert len(os.listdir("/proc/self/fd")) - before <= 16
    store.close()
    assert len(os.listdir("/proc/self/fd")) <= before
