"""File store: per session an append-only JSON-lines event log, a header and a record log.

Layout of ``directory`` (``<stem>`` is the session id escaped into a safe file name)::

    <stem>.session.jsonl   the header log: a preamble line, then headers (the last wins)
    <stem>.events.jsonl    the event log: a preamble line, then one event per record
    <stem>.records.jsonl   the record log: a preamble line, then put/delete records
    .locks/NN.lock         lock files, one per stripe of sessions (never deleted)

Every log is append-only: a write is one ``write`` of one *unit* on an ``O_APPEND``
descriptor (plus an fsync when the store was opened with ``fsync=True``). A unit is one
record (an event, a header, a record line) ended by LF, or the records of one batch
(``append_events``, ``put_records``) separated by CR and ended by one LF: the LF
commits the unit. A unit without its LF is a write that never finished (a process
killed inside it): it was not acknowledged, reads ignore all of it and the next write
cuts it off under the lock, so a batch is stored whole or not at all. CR is JSON
whitespace and never occurs raw inside our JSON, so logs written before units existed
(LF only) read the same. Line numbers in error messages count records (CR or LF ends
one), as Python's text mode and ``bytes.splitlines`` do.

A log is created whole, and rewritten (``replace_events``, compaction of the header and
record logs) only as temp file + fsync + rename, so a reader sees the old file or the
new one. Each store object keeps, per session, an index of record offsets (and event
ids once it appends), validated on every call against the file (inode, device and the
random generation in the preamble line) and extended by reading only the bytes written
since, by any process.

Stems: ``s-`` then the id with ``_`` as ``__``, an upper-case ASCII letter as ``_`` plus
its lower case, ``:`` as ``_-`` and every character outside ``a-z 0-9 - . @`` as
``_.<hex code point>.`` (``/`` is ``_.2f.``, ``é`` is ``_.e9.``). Stems are ASCII in
that closed alphabet, so a name never holds a separator, never is ``.`` or ``..`` or a
Windows device name (it starts with ``s-``), its byte length is its character count, and
distinct ids give names distinct on case-insensitive and normalising file systems. Ids
the earlier rules allowed (``A-Z a-z 0-9 - _ . : @``) keep the names they had. An id
whose escaped form is too long becomes ``h-<escaped head>~<sha256>`` (its full id is read
from its header when listing: every preamble carries the id).

Permissions: files the store creates are ``0600`` and the folders it creates (the store
folder, ``.locks``) ``0700``, narrowed further by the umask; existing ones keep their modes.
A folder this process may only read (permissions, a read-only mount) serves every read:
lock files are opened read-only (``flock`` needs no write access), or skipped when
missing; every write raises ``StorageError`` naming the folder and changes nothing.

Locking: ``flock`` on one of ``_STRIPES`` lock files (exclusive to write, shared to
read), plus a thread lock per stripe, because ``flock`` does not exclude threads that
share one open file. A primitive holds one session's lock at a time, never two.
Each stripe also keeps open the event log of the session it last appended to (at most
``_STRIPES`` such descriptors per store object; ``close`` and deleting the session close it).

This module holds the locking, the TTL and the store primitives; the file names are
``_filenames.py``'s and the log format (preamble, units, index, appends, rewrites)
``_jsonl_log.py``'s.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import json
import os
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2a_session_manager.exceptions import (
    SessionManagerError,
    StorageError,
    StoreUnavailableError,
)
from a2a_session_manager.storage.base import EventRow, SessionStore
from a2a_session_manager.storage.codec import CHILD_KIND, RUN_KIND
from a2a_session_manager.storage.providers._filenames import is_id, stem, stem_prefix
from a2a_session_manager.storage.providers._jsonl_log import (
    EVENTS,
    FILE_MODE,
    HEADER,
    RECORDS,
    LogIndex,
    corrupt,
    ensure_ids,
    fresh_lines,
    index_lines,
    new_preamble,
    refresh,
    unit,
    write_at_end,
    write_atomic,
)

__all__ = ["FileSessionStore", "create_file_session_store"]

_STRIPES = 16
"""Lock files per store directory: sessions hash onto them (never two held at once)."""
_CACHE_SESSIONS = 1024
"""Sessions whose log indexes a store object keeps in memory (least recently used go)."""
_COMPACT_HEADERS = 64
"""Header lines after which the header log is rewritten to its last header."""
_COMPACT_RECORDS = 64
"""Record lines up to which the record log is never rewritten (keeps compaction rare, amortised)."""
_COMPACT_DEAD_RATIO = 2
"""Rewrite the record log to its live lines once it holds more than this many lines per live record."""

_INDEX_ATTR = {HEADER: "header", EVENTS: "events", RECORDS: "records"}
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_MODE = 0o700
"""Mode of the folders the store creates (the store folder and ``.locks``)."""
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""Errors of a folder this process may only read (permissions, or a read-only mount)."""


# ========================================================= per-session state
@dataclass
class _Entry:
    header: LogIndex | None = None
    events: LogIndex | None = None
    records: LogIndex | None = None
    paths: tuple[str, str] | None = None
    """The session's header and event log paths, once computed."""


@dataclass
class _Stripe:
    lock: threading.Lock = field(default_factory=threading.Lock)
    fd: int | None = None
    held_sid: str | None = None
    """The session whose event log ``held_fd`` keeps open for appends (under ``lock`` only)."""
    held_fd: int | None = None
    held_ino: int = 0
    held_dev: int = 0

    def drop_held(self) -> None:
        fd, self.held_fd, self.held_sid = self.held_fd, None, None
        if fd is not None:
            with suppress(OSError):
                os.close(fd)


def _close_fds(stripes: list[_Stripe]) -> None:
    for stripe in stripes:
        if stripe.fd is not None:
            with suppress(OSError):
                os.close(stripe.fd)
            stripe.fd = None
        stripe.drop_held()


class FileSessionStore(SessionStore):
    """Sessions as append-only JSON-lines files in one directory.

    Safe for many threads and processes on one machine (``flock``); appends cost the
    same whatever the session's length. Once ``append_event`` or ``save`` returns, the
    data survives the process being killed; with ``fsync=True`` it also survives power
    loss (one fsync per write). Needs a POSIX system (``fcntl``) and a local file
    system whose ``flock`` works across processes (not every network file system).

    Files it creates are private (``0600``, folders ``0700``, narrowed by the umask). A
    folder this process may only read (permissions, a read-only mount) serves every read;
    writes then raise ``StorageError`` naming the folder and change nothing.

    Args:
        directory: Folder of the store (created ``0700`` if missing).
        expiration_seconds: TTL of a whole session, refreshed on every write; files'
            modification times are the clock, expired sessions are removed when next
            touched.
        fsync: fsync every write (and the directory after creating or renaming files).

    Raises:
        ValueError: ``expiration_seconds`` is not a positive int or None.
        StorageError: The directory cannot be created.
    """

    _driver_errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(
        self,
        directory: str | Path = "./sessions",
        *,
        expiration_seconds: int | None = None,
        fsync: bool = False,
    ) -> None:
        super().__init__(expiration_seconds=expiration_seconds)
        self.directory = Path(directory).expanduser().resolve()
        self.fsync = bool(fsync)
        try:
            # Only the store folder itself is made private; parents it creates keep the default mode.
            self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the file store directory {self.directory}: {exc}") from exc
        try:
            (self.directory / ".locks").mkdir(mode=_DIR_MODE, exist_ok=True)
        except OSError as exc:
            # A folder this process may only read still serves reads (see ``_lock_fd``);
            # its writes fail, each with a StorageError naming the folder.
            if exc.errno not in _DENIED:
                raise StorageError(f"cannot create {self.directory / '.locks'}: {exc}") from exc
        self._dir = str(self.directory)
        self._pid = os.getpid()
        self._stripes = [_Stripe() for _ in range(_STRIPES)]
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_fds, self._stripes)

    def __repr__(self) -> str:
        return f"FileSessionStore({self._dir!r})"

    def close(self) -> None:
        """Close the lock files and drop the in-memory indexes (the store stays usable)."""
        for stripe in self._stripes:
            with stripe.lock:
                _close_fds([stripe])
        with self._cache_lock:
            self._cache.clear()

    # ============================================================ paths and errors
    def _path(self, sid: str, suffix: str) -> str:
        name = stem(sid) + suffix
        # Defence in depth: the base validated the id, and stems use a closed alphabet.
        if os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
            raise StorageError(f"session {sid!r} maps to an unsafe file name", session_id=sid)
        return os.path.join(self._dir, name)

    def _where(self, sid: str, seq: int | None = None) -> str:
        if seq is None:
            return self._path(sid, HEADER)
        return f"{self._path(sid, EVENTS)} line {seq + 2}"

    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        """A denied write names the folder and what it needs (reads of such a folder work)."""
        if isinstance(exc, OSError) and exc.errno in _DENIED:
            where = f"session {sid!r}: " if sid else ""
            why = "is on a read-only file system" if exc.errno == errno.EROFS else "denies this process access"
            return StorageError(
                f"{where}the file store folder {self._dir} {why} ({exc.strerror}: {exc.filename}); "
                "reading it needs read access, writing needs write access to the folder, its files and .locks",
                session_id=sid,
            )
        return super()._wrap_error(exc, sid)

    # ================================================================== locking
    def _lock_fd(self, sid: str, stripe: _Stripe) -> int:
        """The stripe's lock file, opened on first use (the stripe's thread lock held).

        Raises:
            PermissionError: The lock file is missing and this process may not create it
                (``_read_lock_fd`` lets readers go on without it).
        """
        if stripe.fd is None:
            number = zlib.crc32(sid.encode()) % _STRIPES
            path = os.path.join(self._dir, ".locks", f"{number:02d}.lock")
            fd = self._open_lock(path)
            if fd is None:
                raise PermissionError(errno.EACCES, "cannot create the lock file", path)
            stripe.fd = fd
        return stripe.fd

    @staticmethod
    def _open_lock(path: str) -> int | None:
        """Open (or create) a lock file; read-only when it may not be written; None when absent and uncreatable."""
        for attempt in range(2):
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, FILE_MODE)
            except FileNotFoundError:
                if attempt:
                    raise
                # ``.locks`` is gone (a store folder copied without it): make it again if allowed.
                try:
                    os.mkdir(os.path.dirname(path), _DIR_MODE)
                except FileExistsError:
                    continue  # another process made it first
                except OSError as exc:
                    if exc.errno not in _DENIED:
                        raise
                    break
            except OSError as exc:
                if exc.errno not in _DENIED:
                    raise
                break
        # A folder this process may only read: ``flock`` needs no write access.
        try:
            return os.open(path, os.O_RDONLY | _O_CLOEXEC)
        except FileNotFoundError:
            return None

    def _read_lock_fd(self, sid: str, stripe: _Stripe) -> int | None:
        """The lock file for a reader; None when it is missing and cannot be created.

        Only a folder this process may not write lacks a lock file: no writer of this
        store's kind can change it then without creating the lock first, and readers
        already ignore an unterminated tail and see rewrites whole (renames), so
        reading unlocked returns what the files hold.
        """
        try:
            return self._lock_fd(sid, stripe)
        except PermissionError:
            return None

    def _stripe(self, sid: str) -> _Stripe:
        if os.getpid() != self._pid:
            self._after_fork()
        return self._stripes[zlib.crc32(sid.encode()) % _STRIPES]

    @contextmanager
    def _locked(self, sid: str, *, exclusive: bool) -> Iterator[None]:
        stripe = self._stripe(sid)
        with stripe.lock:
            fd = self._lock_fd(sid, stripe) if exclusive else self._read_lock_fd(sid, stripe)
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _after_fork(self) -> None:
        # A forked child shares the parent's open lock files (flock would not exclude
        # the two) and may inherit thread locks held by threads it does not have.
        self._pid = os.getpid()
        old = self._stripes
        self._stripes = [_Stripe() for _ in range(_STRIPES)]
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _close_fds, self._stripes)
        self._cache_lock = threading.Lock()
        self._cache = OrderedDict()
        for stripe in old:
            if stripe.fd is not None:
                with suppress(OSError):
                    os.close(stripe.fd)
            if stripe.held_fd is not None:
                with suppress(OSError):
                    os.close(stripe.held_fd)

    # ================================================================== caching
    def _entry(self, sid: str) -> _Entry:
        with self._cache_lock:
            entry = self._cache.get(sid)
            if entry is None:
                entry = self._cache[sid] = _Entry()
                while len(self._cache) > _CACHE_SESSIONS:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(sid)
            return entry

    def _forget(self, sid: str) -> None:
        with self._cache_lock:
            self._cache.pop(sid, None)

    # ============================================================ low-level files
    def _fsync_dir(self) -> None:
        if not self.fsync:
            return
        fd = os.open(self._dir, os.O_RDONLY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_atomic(self, path: str, chunks: Sequence[bytes]) -> None:
        """Rewrite a whole log (temp file + fsync + rename), then sync the folder if asked."""
        write_atomic(path, chunks)
        self._fsync_dir()

    @staticmethod
    def _open(path: str, *, write: bool) -> int | None:
        flags = (os.O_RDWR | os.O_APPEND) if write else os.O_RDONLY
        try:
            return os.open(path, flags | _O_CLOEXEC)
        except FileNotFoundError:
            return None

    def _append_log_locked(
        self, sid: str, suffix: str, data: bytes | Callable[[LogIndex | None], bytes]
    ) -> LogIndex | None:
        """Append complete lines to one of the session's logs (its lock held).

        ``data`` may be a function of the up-to-date index (None for a new log) that
        returns the lines to write (the event log filters known ids that way).

        A missing log is created whole (preamble and ``data``) by rename, so no reader
        sees a torn preamble. Otherwise an unterminated tail left by a crashed writer is
        cut off first (it was never acknowledged), then ``data`` goes in one ``write``;
        if that fails, whatever part of it reached the file is cut off again.

        Returns:
            The log's index, brought up to date; None when the log was just created.
        """
        path = self._path(sid, suffix)
        fd = self._open(path, write=True)
        if fd is None:
            payload = data if isinstance(data, bytes) else data(None)
            if payload:
                self._write_atomic(path, [new_preamble(sid), payload])
                self._set_index(sid, suffix, None)
            return None
        try:
            index = self._index(sid, suffix, fd)
            if suffix == EVENTS:
                ensure_ids(sid, path, fd, index)
            if not isinstance(data, bytes):
                data = data(index)
            if not data:
                return index
            write_at_end(fd, index, data, self.fsync)
            index_lines(sid, path, index, data, index.end)
            index.size = index.end
            return index
        finally:
            os.close(fd)

    def _index(self, sid: str, suffix: str, fd: int) -> LogIndex:
        """The up-to-date index of one of the session's logs, open as ``fd``."""
        entry = self._entry(sid)
        attr = _INDEX_ATTR[suffix]
        try:
            index = refresh(sid, self._path(sid, suffix), fd, getattr(entry, attr), suffix)
        except BaseException:
            setattr(entry, attr, None)  # a half-extended index must not be reused
            raise
        setattr(entry, attr, index)
        return index

    def _set_index(self, sid: str, suffix: str, index: LogIndex | None) -> None:
        setattr(self._entry(sid), _INDEX_ATTR[suffix], index)

    # ==================================================================== TTL
    def _expired(self, sid: str) -> bool:
        """True when the session has files and the newest was written over a TTL ago."""
        if self.expiration_seconds is None:
            return False
        newest: float | None = None
        for suffix in (HEADER, EVENTS, RECORDS):
            try:
                mtime = os.stat(self._path(sid, suffix)).st_mtime
            except FileNotFoundError:
                continue
            newest = mtime if newest is None else max(newest, mtime)
        return newest is not None and time.time() - newest >= self.expiration_seconds

    def _purge_locked(self, sid: str) -> bool:
        """Remove every file of the session (lock held); return whether a header existed."""
        stripe = self._stripe(sid)
        if stripe.held_sid == sid:
            stripe.drop_held()
        existed = False
        for suffix in (HEADER, EVENTS, RECORDS):
            try:
                os.unlink(self._path(sid, suffix))
            except FileNotFoundError:
                continue
            existed = existed or suffix == HEADER
        self._forget(sid)
        self._fsync_dir()
        return existed

    def _purge_if_expired(self, sid: str) -> None:
        if self.expiration_seconds is None:
            return
        try:
            with self._locked(sid, exclusive=True):
                if self._expired(sid):
                    self._purge_locked(sid)
        except OSError as exc:
            # A reader of a folder it may not write leaves the expired files in place;
            # they read as missing all the same.
            if exc.errno not in _DENIED:
                raise

    @contextmanager
    def _writing(self, sid: str) -> Iterator[None]:
        """Exclusive lock; an expired session is purged first, so the write starts afresh."""
        with self._locked(sid, exclusive=True):
            if self._expired(sid):
                self._purge_locked(sid)
            yield

    def _touch(self, path: str) -> None:
        """Refresh the TTL clock after a write that changed no byte."""
        if self.expiration_seconds is not None:
            with suppress(FileNotFoundError):
                os.utime(path)

    def _read(self, sid: str, fn: Callable[[], Any], default: Any) -> Any:
        """Run ``fn`` under the shared lock unless the session expired (then purge it)."""
        with self._locked(sid, exclusive=False):
            if not self._expired(sid):
                return fn()
        self._purge_if_expired(sid)
        return default

    # ================================================================= headers
    def _header_locked(self, sid: str) -> str | None:
        path = self._path(sid, HEADER)
        fd = self._open(path, write=False)
        if fd is None:
            return None
        try:
            index = self._index(sid, HEADER, fd)
            if not index.offsets:
                raise corrupt(sid, path, None, "holds no complete header line")
            offset, length = index.line_span(len(index.offsets) - 1)
            raw = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        lineno = len(index.offsets) + 1
        try:
            text = raw.decode("utf-8")
            json.loads(text)
        except ValueError as exc:
            raise corrupt(sid, path, lineno, "is not a valid session header (not JSON)") from exc
        return text

    def _write_header_locked(self, sid: str, header: str) -> None:
        if "\n" in header or "\r" in header:
            raise StorageError(f"session {sid!r}: a header may not contain a line break", session_id=sid)
        line = header.encode("utf-8") + b"\n"
        index = self._append_log_locked(sid, HEADER, line)
        if index is not None and len(index.offsets) > _COMPACT_HEADERS:
            # Keep the header log short: rewrite it to its last line (rare, amortised).
            self._write_atomic(self._path(sid, HEADER), [new_preamble(sid), line])
            self._set_index(sid, HEADER, None)

    def _ensure_header_locked(self, sid: str, header_if_new: str | None) -> None:
        if header_if_new is not None and not os.path.exists(self._path(sid, HEADER)):
            self._write_header_locked(sid, header_if_new)

    def _read_header(self, sid: str) -> str | None:
        result: str | None = self._read(sid, lambda: self._header_locked(sid), None)
        return result

    def _write_header(self, sid: str, header: str) -> None:
        with self._writing(sid):
            self._write_header_locked(sid, header)

    # ================================================================== events
    def _append(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> int:
        for _, line in items:
            if "\n" in line or "\r" in line:
                raise StorageError(f"session {sid!r}: an event line may not contain a line break", session_id=sid)
        # The hot path: ``_writing`` and ``_locked`` written out (one lock, no generators).
        stripe = self._stripe(sid)
        with stripe.lock:
            lock_fd = self._lock_fd(sid, stripe)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                if self._expired(sid):
                    self._purge_locked(sid)
                entry = self._entry(sid)
                paths = entry.paths
                if paths is None:
                    paths = entry.paths = (self._path(sid, HEADER), self._path(sid, EVENTS))
                if not os.path.exists(paths[0]):
                    self._write_header_locked(sid, header_if_new)
                    entry = self._entry(sid)
                return self._append_events_locked(sid, stripe, entry, paths[1], items)
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _append_events_locked(
        self, sid: str, stripe: _Stripe, entry: _Entry, path: str, items: Sequence[tuple[str, str]]
    ) -> int:
        """Append the events whose ids the log lacks (lock held); return how many.

        The stripe keeps the event log of the session it last appended to open: while
        that descriptor is open its inode cannot be reused, so a ``stat`` of the path
        showing the same inode and device proves the path still names that file (a
        rewrite renames a new file in, with a new inode), and an index of that file
        whose size matches needs no re-read of its preamble.
        """
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        fd: int | None = None
        if st is not None and stripe.held_sid == sid and stripe.held_ino == st.st_ino and stripe.held_dev == st.st_dev:
            fd = stripe.held_fd
        else:
            stripe.drop_held()
            if st is not None:
                fd = self._open(path, write=True)
        if fd is None:
            added = 0

            def new_log(index: LogIndex | None) -> bytes:
                nonlocal added
                fresh = fresh_lines(items, index.ids if index is not None and index.ids is not None else set())
                added = len(fresh)
                return unit(list(fresh.values()))

            # Missing (created whole by rename), or vanished since the stat: the general path.
            self._append_log_locked(sid, EVENTS, new_log)
            if not added:
                self._touch(path)
            return added
        index = entry.events
        if (
            fd != stripe.held_fd
            or st is None
            or index is None
            or index.ids is None
            or index.ino != st.st_ino
            or index.dev != st.st_dev
            or index.size != st.st_size
            or index.size != index.end
        ):
            try:
                index = self._index(sid, EVENTS, fd)
                ensure_ids(sid, path, fd, index)
            except BaseException:
                if fd == stripe.held_fd:
                    stripe.drop_held()
                else:
                    os.close(fd)
                raise
            if fd != stripe.held_fd:
                stripe.held_sid, stripe.held_fd, stripe.held_ino, stripe.held_dev = sid, fd, index.ino, index.dev
        known = index.ids
        assert known is not None
        fresh = fresh_lines(items, known)
        if not fresh:
            self._touch(path)
            return 0
        lines = list(fresh.values())
        write_at_end(fd, index, lines[0] + b"\n" if len(lines) == 1 else unit(lines), self.fsync)
        pos = index.end
        offsets = index.offsets
        for line_bytes in lines:
            offsets.append(pos)
            pos += len(line_bytes) + 1
        known.update(fresh)
        index.end = index.size = pos
        return len(lines)

    def _rows_locked(self, sid: str, start: int, end: int | None) -> list[EventRow]:
        path = self._path(sid, EVENTS)
        fd = self._open(path, write=False)
        if fd is None:
            return []
        try:
            index = self._index(sid, EVENTS, fd)
            n = len(index.offsets)
            lo = max(n + start, 0) if start < 0 else min(start, n)
            hi = n if end is None else min(end, n)
            if lo >= hi:
                return []
            first = index.offsets[lo]
            last = index.offsets[hi] if hi < n else index.end
            data = os.pread(fd, last - first, first)
        finally:
            os.close(fd)
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        rows: list[EventRow] = []
        for i, raw in zip(range(lo, hi), lines, strict=False):
            try:
                rows.append((i, raw.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise corrupt(sid, path, i + 2, "is not UTF-8 text") from exc
        return rows

    def _read_events(self, sid: str, start: int, end: int | None) -> list[EventRow]:
        rows: list[EventRow] = self._read(sid, lambda: self._rows_locked(sid, start, end), [])
        return rows

    def _count_locked(self, sid: str) -> int:
        fd = self._open(self._path(sid, EVENTS), write=False)
        if fd is None:
            return 0
        try:
            return len(self._index(sid, EVENTS, fd).offsets)
        finally:
            os.close(fd)

    def _count_events(self, sid: str) -> int:
        count: int = self._read(sid, lambda: self._count_locked(sid), 0)
        return count

    def _replace_events(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> None:
        chunks = [new_preamble(sid)]
        for _, line in items:
            if "\n" in line or "\r" in line:
                raise StorageError(f"session {sid!r}: an event line may not contain a line break", session_id=sid)
            chunks.append(line.encode("utf-8") + b"\n")
        with self._writing(sid):
            self._ensure_header_locked(sid, header_if_new)
            stripe = self._stripe(sid)
            if stripe.held_sid == sid:
                stripe.drop_held()
            self._write_atomic(self._path(sid, EVENTS), chunks)
            self._set_index(sid, EVENTS, None)

    # ================================================================= sessions
    def _delete(self, sid: str) -> bool:
        with self._locked(sid, exclusive=True):
            expired = self._expired(sid)
            existed = self._purge_locked(sid)
            return existed and not expired

    def _scan(self, prefix: str) -> list[str]:
        found: list[str] = []
        with os.scandir(self._dir) as it:
            names = [e.name for e in it if e.name.endswith(HEADER)]
        for name in names:
            name_stem = name[: -len(HEADER)]
            known = stem_prefix(name_stem)
            if known is None:
                continue
            if name_stem.startswith("s-"):
                # Only the canonical name of a valid id is a session (not another file).
                if not known.startswith(prefix) or not is_id(known) or stem(known) != name_stem:
                    continue
                sid = known
            else:
                if not (known.startswith(prefix) or prefix.startswith(known)):
                    continue
                real = self._id_from_header(os.path.join(self._dir, name), known)
                if real is None or not real.startswith(prefix):
                    continue
                sid = real
            if self.expiration_seconds is not None and self._expired(sid):
                self._purge_if_expired(sid)
                continue
            found.append(sid)
        found.sort()
        return found

    def _id_from_header(self, path: str, known: str) -> str | None:
        """The full id of a hashed file name, from its header log's preamble."""
        try:
            with open(path, "rb") as f:
                first = f.readline()
        except FileNotFoundError:
            return None
        try:
            meta = json.loads(first)
        except ValueError:
            meta = None
        sid = meta.get("id") if isinstance(meta, dict) else None
        if not isinstance(sid, str) or not is_id(sid) or stem(sid) != os.path.basename(path)[: -len(HEADER)]:
            raise corrupt(known + "...", path, 1, "does not hold the id its file name encodes")
        return sid

    def _read_session(self, sid: str) -> tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]:
        def read() -> tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]:
            header = self._header_locked(sid)
            if header is None:
                return None, [], [], []
            rows = self._rows_locked(sid, 0, None)
            runs = self._records_locked(sid, RUN_KIND, "", None, None, False)
            children = [k for k, _ in self._records_locked(sid, CHILD_KIND, "", None, None, False)]
            return header, rows, runs, children

        result: tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]
        result = self._read(sid, read, (None, [], [], []))
        return result

    # ================================================================= records
    def _append_records_locked(self, sid: str, lines: list[bytes]) -> None:
        index = self._append_log_locked(sid, RECORDS, unit(lines))
        if index is None or index.records is None:
            return
        live = sum(len(keys) for keys in index.records.values())
        if len(index.offsets) > _COMPACT_RECORDS and len(index.offsets) > _COMPACT_DEAD_RATIO * live:
            # Last write wins, so the log only grows: rewrite it to its live lines.
            path = self._path(sid, RECORDS)
            spans = sorted(span for keys in index.records.values() for span in keys.values())
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
            try:
                chunks = [new_preamble(sid)]
                # Each live line with its own LF (in the log it may end a unit's record with CR).
                chunks.extend(os.pread(fd, length, offset) + b"\n" for offset, length in spans)
            finally:
                os.close(fd)
            self._write_atomic(path, chunks)
            self._set_index(sid, RECORDS, None)

    def _put_records(self, sid: str, kind: str, items: Sequence[tuple[str, bytes]], header_if_new: str | None) -> None:
        lines = [
            json.dumps(
                {"op": "put", "kind": kind, "key": key, "v": base64.b64encode(value).decode("ascii")},
                separators=(",", ":"),
            ).encode()
            for key, value in items
        ]
        with self._writing(sid):
            self._ensure_header_locked(sid, header_if_new)
            if lines:
                self._append_records_locked(sid, lines)
            else:
                self._touch(self._path(sid, RECORDS))

    def _value_locked(self, sid: str, fd: int, span: tuple[int, int], index: LogIndex) -> bytes:
        offset, length = span
        path = self._path(sid, RECORDS)
        line = os.pread(fd, length, offset)
        try:
            return base64.b64decode(json.loads(line)["v"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            lineno = index.offsets.index(offset) + 2
            raise corrupt(sid, path, lineno, "holds an unreadable record value") from exc

    def _records_locked(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> list[tuple[str, bytes]]:
        fd = self._open(self._path(sid, RECORDS), write=False)
        if fd is None:
            return []
        try:
            index = self._index(sid, RECORDS, fd)
            assert index.records is not None
            bucket = index.records.get(kind, {})
            keys = sorted(k for k in bucket if k.startswith(prefix) and (before is None or k < before))
            if reverse:
                keys.reverse()
            if limit is not None:
                keys = keys[:limit]
            return [(k, self._value_locked(sid, fd, bucket[k], index)) for k in keys]
        finally:
            os.close(fd)

    def _get_record_locked(self, sid: str, kind: str, key: str) -> bytes | None:
        fd = self._open(self._path(sid, RECORDS), write=False)
        if fd is None:
            return None
        try:
            index = self._index(sid, RECORDS, fd)
            assert index.records is not None
            span = index.records.get(kind, {}).get(key)
            return None if span is None else self._value_locked(sid, fd, span, index)
        finally:
            os.close(fd)

    def _get_record(self, sid: str, kind: str, key: str) -> bytes | None:
        value: bytes | None = self._read(sid, lambda: self._get_record_locked(sid, kind, key), None)
        return value

    def _list_records(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> list[tuple[str, bytes]]:
        rows: list[tuple[str, bytes]] = self._read(
            sid, lambda: self._records_locked(sid, kind, prefix, before, limit, reverse), []
        )
        return rows

    def _delete_records(self, sid: str, kind: str, keys: Sequence[str] | None) -> None:
        with self._writing(sid):
            path = self._path(sid, RECORDS)
            fd = self._open(path, write=False)
            if fd is None:
                return
            try:
                index = self._index(sid, RECORDS, fd)
                assert index.records is not None
                bucket = index.records.get(kind, {})
            finally:
                os.close(fd)
            if keys is None:
                if not bucket:
                    return
                lines = [json.dumps({"op": "clear", "kind": kind}, separators=(",", ":")).encode()]
            else:
                lines = [
                    json.dumps({"op": "del", "kind": kind, "key": k}, separators=(",", ":")).encode()
                    for k in dict.fromkeys(keys)
                    if k in bucket
                ]
                if not lines:
                    return
            self._append_records_locked(sid, lines)


def create_file_session_store(
    directory: str | Path = "./sessions",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
    create: bool = True,
) -> FileSessionStore:
    """Create a store of append-only JSON-lines files, one per session, in ``directory``.

    Args:
        directory: Folder of the store (created if missing, unless ``create`` is False).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: Also fsync every write, so acknowledged data survives power loss.
        create: False opens only an existing store and creates nothing when it is missing
            (what read-only tools such as the CLI's ``list`` want).

    Returns:
        The store.

    Raises:
        StoreUnavailableError: ``create`` is False and ``directory`` is not an existing folder.
    """
    if not create and not Path(directory).expanduser().is_dir():
        raise StoreUnavailableError(
            f"no file store at {Path(directory).expanduser().absolute()}: the folder does not exist "
            "(nothing was created; check the path)"
        )
    return FileSessionStore(directory=directory, expiration_seconds=expiration_seconds, fsync=fsync)
