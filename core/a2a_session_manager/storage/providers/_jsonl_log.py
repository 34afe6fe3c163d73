"""The file store's JSON-lines logs: preamble, units, the offset index, appends and rewrites.

A log is a preamble line (magic, version, a random generation, the session id), then
records. A write appends one *unit*: one record ended by LF, or a batch's records joined
by CR and ended by one LF, which commits it (``file.py``'s docstring has the whole
story). ``LogIndex`` is what a store object knows of one log; ``refresh`` extends it by
reading only the bytes written since, and throws it away when the file was rewritten
(inode, device or preamble changed). ``write_at_end`` appends after the last complete
line (cutting off a crashed writer's tail), ``write_atomic`` rewrites a whole log by
temp file + fsync + rename. Locking, paths and the TTL are ``file.py``'s.
"""

from __future__ import annotations

import json
import os
import secrets
from array import array
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from a2a_session_manager.exceptions import CorruptSessionError

HEADER = ".session.jsonl"
"""Suffix of the header log (the last header wins)."""
EVENTS = ".events.jsonl"
"""Suffix of the event log (one event per record)."""
RECORDS = ".records.jsonl"
"""Suffix of the record log (put/delete/clear records; the last write of a key wins)."""
LOG_MAGIC = "a2a-session-manager"
CHUNK = 1 << 20
"""Bytes read at once when indexing a log."""
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
FILE_MODE = 0o600
"""Mode of every file the store creates (transcripts are private; the umask can only narrow it)."""
datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def corrupt(sid: str, path: str, line: int | None, what: str) -> CorruptSessionError:
    """The error for an unreadable log: names the file (and line) and what to do."""
    where = path if line is None else f"{path} line {line}"
    return CorruptSessionError(f"session {sid!r}: {where} {what}; repair or delete the file", session_id=sid)


@dataclass
class LogIndex:
    """What a store object knows of one log file (valid while ino/dev/preamble match)."""

    ino: int
    dev: int
    preamble: bytes
    end: int
    """Offset just after the last complete line read so far."""
    size: int = 0
    """The file's size when last refreshed (beyond ``end``: an unterminated tail)."""
    offsets: array[int] = field(default_factory=lambda: array("q"))
    """Start offset of each data line (the preamble is not one)."""
    ids: set[str] | None = None
    """Event ids of every line, once an append needed them."""
    records: dict[str, dict[str, tuple[int, int]]] | None = None
    """Record logs: kind -> key -> (offset, length) of its live put line."""

    def line_span(self, i: int) -> tuple[int, int]:
        """Offset and length (without its line break) of data line ``i``."""
        start = self.offsets[i]
        stop = self.offsets[i + 1] if i + 1 < len(self.offsets) else self.end
        return start, stop - start - 1


def new_preamble(sid: str) -> bytes:
    """A fresh preamble line for a log of session ``sid``."""
    # The random generation tells a rewritten file from the one an index was built on.
    meta = {"log": LOG_MAGIC, "v": 1, "gen": secrets.token_hex(16), "id": sid}
    return json.dumps(meta, separators=(",", ":")).encode() + b"\n"


def write_atomic(path: str, chunks: Sequence[bytes]) -> None:
    """Write a whole file as temp file + fsync + rename (readers see old or new).

    The caller fsyncs the folder after, when its store was opened with ``fsync=True``.
    """
    tmp = f"{path}.tmp-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, FILE_MODE)
    try:
        try:
            for chunk in chunks:
                write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def refresh(sid: str, path: str, fd: int, index: LogIndex | None, suffix: str) -> LogIndex:
    """Bring ``index`` up to date with the file open as ``fd`` (reading only new bytes)."""
    st = os.fstat(fd)
    # A preamble is at most about 3.2 kB: its id JSON-escaped (a 256-character id of
    # characters outside the BMP takes 12 bytes each) and about 100 bytes more.
    head = os.pread(fd, 4096, 0)
    nl = head.find(b"\n")
    if nl < 0:
        raise corrupt(sid, path, 1, "has no complete preamble line")
    preamble = head[: nl + 1]
    if (
        index is None
        or index.ino != st.st_ino
        or index.dev != st.st_dev
        or index.preamble != preamble
        or st.st_size < index.end
    ):
        try:
            meta = json.loads(preamble)
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get("log") != LOG_MAGIC:
            raise corrupt(sid, path, 1, "is not a session log preamble")
        index = LogIndex(ino=st.st_ino, dev=st.st_dev, preamble=preamble, end=len(preamble))
        if suffix == RECORDS:
            index.records = {}
    pos = index.end
    read_at = pos
    size = st.st_size
    carry = b""
    while read_at < size:
        data = os.pread(fd, min(CHUNK, size - read_at), read_at)
        if not data:
            break
        read_at += len(data)
        buf = carry + data if carry else data
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            carry = buf  # a long line, or an unterminated tail (a write that never finished)
            continue
        index_lines(sid, path, index, buf[: last_nl + 1], pos)
        pos += last_nl + 1
        carry = buf[last_nl + 1 :]
    index.size = size
    return index


def write_at_end(fd: int, index: LogIndex, data: bytes, fsync: bool) -> None:
    """Append ``data`` after the last complete line (held under the exclusive lock).

    A crashed writer's unterminated tail is cut off first; a write that fails is cut
    back, so the log never keeps a partial line of ours. With ``fsync``, synced.
    """
    if index.size > index.end:
        os.ftruncate(fd, index.end)
        index.size = index.end
    try:
        write_all(fd, data)
        if fsync:
            datasync(fd)
    except BaseException:
        os.ftruncate(fd, index.end)
        raise


def index_lines(sid: str, path: str, index: LogIndex, data: bytes, base: int) -> None:
    """Index the lines of ``data``: complete units, read from offset ``base`` of the file."""
    start = 0
    ids = index.ids
    records = index.records
    size = len(data)
    has_cr = b"\r" in data  # else LF-terminated lines only: no CR search per line
    lf = -1
    while start < size:
        if lf < start:
            lf = data.index(b"\n", start)
        stop = lf
        if has_cr:
            cr = data.find(b"\r", start, lf)
            if cr >= 0 and cr + 1 < lf:  # a CR just before the LF ends a CRLF line instead
                stop = cr
        lineno = len(index.offsets) + 2
        index.offsets.append(base + start)
        if ids is not None:
            ids.add(line_event_id(sid, path, lineno, data[start:stop]))
        elif records is not None:
            index_record(sid, path, lineno, records, data[start:stop], base + start, stop - start)
        start = stop + 1
    index.end = base + size


def line_event_id(sid: str, path: str, lineno: int, line: bytes) -> str:
    """The id of the event stored as ``line`` (line ``lineno`` of ``path``)."""
    # Fast path for the form our codec writes (id first, a plain string, line closed
    # as an object); anything else is parsed in full. Reads still decode every line.
    if line.startswith(b'{"id":"') and line.endswith(b"}"):
        stop = line.find(b'"', 7)
        if stop > 7 and b"\\" not in line[7:stop]:
            try:
                return line[7:stop].decode("ascii")
            except UnicodeDecodeError:
                pass
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise corrupt(sid, path, lineno, "is not a valid event (no JSON object with an id)")
    return str(value["id"])


def index_record(
    sid: str,
    path: str,
    lineno: int,
    records: dict[str, dict[str, tuple[int, int]]],
    line: bytes,
    offset: int,
    length: int,
) -> None:
    """Apply one record-log line (put, del or clear) to ``records``, the live puts' spans."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if isinstance(value, dict):
        op, kind, key = value.get("op"), value.get("kind"), value.get("key")
        if op == "put" and isinstance(kind, str) and isinstance(key, str) and isinstance(value.get("v"), str):
            records.setdefault(kind, {})[key] = (offset, length)
            return
        if op == "del" and isinstance(kind, str) and isinstance(key, str):
            records.get(kind, {}).pop(key, None)
            return
        if op == "clear" and isinstance(kind, str):
            records.pop(kind, None)
            return
    raise corrupt(sid, path, lineno, "is not a valid record line")


def ensure_ids(sid: str, path: str, fd: int, index: LogIndex) -> set[str]:
    if index.ids is not None:
        return index.ids
    ids: set[str] = set()
    n = len(index.offsets)
    i = 0
    while i < n:
        # Read a run of lines at once (at most about CHUNK bytes, at least one line).
        j = i + 1
        while j < n and index.offsets[j] - index.offsets[i] < CHUNK:
            j += 1
        lo = index.offsets[i]
        hi = index.offsets[j] if j < n else index.end
        data = os.pread(fd, hi - lo, lo)
        for k in range(i, j):
            start = index.offsets[k] - lo
            stop = (index.offsets[k + 1] - lo if k + 1 < n else hi - lo) - 1
            ids.add(line_event_id(sid, path, k + 2, data[start:stop]))
        i = j
    index.ids = ids
    return ids


def fresh_lines(items: Sequence[tuple[str, str]], known: set[str]) -> dict[str, bytes]:
    """The encoded lines (unterminated) of the events whose ids are not ``known`` (first of each id, in order)."""
    fresh: dict[str, bytes] = {}
    for event_id, line in items:
        if event_id not in known and event_id not in fresh:
            fresh[event_id] = line.encode("utf-8")
    return fresh


def unit(lines: Sequence[bytes]) -> bytes:
    """Records (no line breaks in them) as one unit: CR between them, one LF at the end.

    The LF commits the whole unit: a write cut short (a kill -9 inside a batch) leaves
    no LF, so readers ignore all of it and the next writer cuts it off, as for a single
    torn line. CR is JSON whitespace and never occurs raw inside a JSON text.
    """
    return b"\r".join(lines) + b"\n"


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
