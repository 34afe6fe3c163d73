"""In-memory store: the provider's default; thread-safe, nothing survives the process."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from a2a_session_manager.storage.base import EventRow, SessionStore

__all__ = ["InMemorySessionStore"]


@dataclass
class _Entry:
    header: str | None = None
    lines: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    records: dict[str, dict[str, bytes]] = field(default_factory=dict)
    deadline: float | None = None


class InMemorySessionStore(SessionStore):
    """Sessions kept in this process's memory, as encoded JSON (so no caller can alias them).

    Every operation holds one lock, so threads never see a half-written session.

    Args:
        expiration_seconds: TTL of a whole session, refreshed on every write.
    """

    _async_inline: ClassVar[bool] = True

    def __init__(self, *, expiration_seconds: int | None = None) -> None:
        super().__init__(expiration_seconds=expiration_seconds)
        self._data: dict[str, _Entry] = {}
        self._lock = threading.RLock()

    # The lock is taken per primitive; operations that need several primitives to be
    # atomic (none do: appends and replaces are single primitives) would take it too.
    def _entry(self, sid: str) -> _Entry | None:
        entry = self._data.get(sid)
        if entry is not None and entry.deadline is not None and entry.deadline <= time.monotonic():
            del self._data[sid]
            return None
        return entry

    def _writable(self, sid: str) -> _Entry:
        entry = self._entry(sid)
        if entry is None:
            entry = self._data[sid] = _Entry()
        if self.expiration_seconds is not None:
            entry.deadline = time.monotonic() + self.expiration_seconds
        return entry

    def _read_header(self, sid: str) -> str | None:
        with self._lock:
            entry = self._entry(sid)
            return None if entry is None else entry.header

    def _write_header(self, sid: str, header: str) -> None:
        with self._lock:
            self._writable(sid).header = header

    def _append(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> int:
        with self._lock:
            entry = self._writable(sid)
            if entry.header is None:
                entry.header = header_if_new
            added = 0
            for event_id, line in items:
                if event_id not in entry.ids:
                    entry.ids.add(event_id)
                    entry.lines.append(line)
                    added += 1
            return added

    def _read_events(self, sid: str, start: int, end: int | None) -> list[EventRow]:
        with self._lock:
            entry = self._entry(sid)
            if entry is None:
                return []
            n = len(entry.lines)
            lo = max(n + start, 0) if start < 0 else min(start, n)
            hi = n if end is None else min(end, n)
            return [(i, entry.lines[i]) for i in range(lo, hi)]

    def _count_events(self, sid: str) -> int:
        with self._lock:
            entry = self._entry(sid)
            return 0 if entry is None else len(entry.lines)

    def _replace_events(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> None:
        with self._lock:
            entry = self._writable(sid)
            if entry.header is None:
                entry.header = header_if_new
            entry.lines = [line for _, line in items]
            entry.ids = {event_id for event_id, _ in items}

    def _delete(self, sid: str) -> bool:
        with self._lock:
            entry = self._entry(sid)
            self._data.pop(sid, None)
            return entry is not None and entry.header is not None

    def _scan(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(
                sid for sid in list(self._data) if sid.startswith(prefix) and (e := self._entry(sid)) and e.header
            )

    def _put_records(self, sid: str, kind: str, items: Sequence[tuple[str, bytes]], header_if_new: str | None) -> None:
        with self._lock:
            entry = self._writable(sid)
            if entry.header is None and header_if_new is not None:
                entry.header = header_if_new
            bucket = entry.records.setdefault(kind, {})
            for key, value in items:
                bucket[key] = bytes(value)

    def _get_record(self, sid: str, kind: str, key: str) -> bytes | None:
        with self._lock:
            entry = self._entry(sid)
            return None if entry is None else entry.records.get(kind, {}).get(key)

    def _list_records(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> list[tuple[str, bytes]]:
        with self._lock:
            entry = self._entry(sid)
            if entry is None:
                return []
            bucket = entry.records.get(kind, {})
            keys = sorted(k for k in bucket if k.startswith(prefix))
            if before is not None:
                keys = keys[: bisect.bisect_left(keys, before)]
            if reverse:
                keys.reverse()
            if limit is not None:
                keys = keys[:limit]
            return [(k, bucket[k]) for k in keys]

    def _delete_records(self, sid: str, kind: str, keys: Sequence[str] | None) -> None:
        with self._lock:
            entry = self._entry(sid)
            if entry is None:
                return
            if keys is None:
                entry.records.pop(kind, None)
                return
            bucket = entry.records.get(kind, {})
            for key in keys:
                bucket.pop(key, None)
