"""SQLite store: stdlib ``sqlite3``, WAL journal, one row per event.

Tables (schema version in ``PRAGMA user_version``)::

    sessions(id PRIMARY KEY, header, expires_at)          header NULL: only records so far
    events(session_id, seq, event_id, body)               PRIMARY KEY(session_id, seq),
                                                          UNIQUE(session_id, event_id)
    records(session_id, kind, key, value BLOB)            PRIMARY KEY(session_id, kind, key)

``seq`` is the event's 0-based position and stays dense (events are only appended, or
replaced all at once), so slices, ``last_n`` and counts are primary-key range reads whose
cost does not depend on the session's length. Child links are records of kind ``_child``
on the parent's id; the parent may have no header yet.

Session ids are stored as they are, in TEXT columns compared byte by byte (SQLite's
BINARY collation over the UTF-8 the database is created in, which orders like Python's
``str``): they are bound as parameters and matched with ``=`` or a range, never with
``LIKE`` or ``GLOB``, so no id or prefix acts as a pattern.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from a2a_session_manager.exceptions import (
    CorruptSessionError,
    SessionManagerError,
    StorageError,
    StoreUnavailableError,
)
from a2a_session_manager.storage.base import EventRow, SessionStore
from a2a_session_manager.storage.codec import CHILD_KIND, RUN_KIND

__all__ = ["SCHEMA_VERSION", "SQLiteSessionStore", "create_sqlite_session_store"]

SCHEMA_VERSION = 1
"""Value of ``PRAGMA user_version`` for the tables below."""

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for another connection's write lock before failing."""

PURGE_INTERVAL_SECONDS = 60.0
"""At most one sweep of expired sessions per store object in this interval."""

PATH_CHECK_SECONDS = 1.0
"""How often a write also checks that ``path`` still names the file the store has open.

Every write checks that the open file was not deleted or replaced (its link count, from
a descriptor the store holds: one ``fstat``); a file moved away while still linked
elsewhere is seen by this slower check of the path, and on every error."""

GONE_CHECKPOINT_WAIT_SECONDS = 2.0
"""How long closing a deleted or replaced database waits for its readers to move on."""

# O_PATH descriptors (Linux) can be fstat'ed and, unlike any other descriptor, closing
# one does not release this process's POSIX locks on the file (SQLite's locks).
_O_PATH: int | None = getattr(os, "O_PATH", None)
# Whether os.access can ask for the effective user (the one that opens files).
_EFFECTIVE_IDS = os.access in os.supports_effective_ids

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY NOT NULL,
        header TEXT,
        expires_at REAL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_id ON events (session_id, event_id)",
    """CREATE TABLE IF NOT EXISTS records (
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (session_id, kind, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL",
)

# A session is alive when its row exists and has not expired. Used as a constant
# sub-expression (SQLite evaluates an uncorrelated EXISTS once per statement).
_ALIVE = "EXISTS (SELECT 1 FROM sessions WHERE id = :sid AND (expires_at IS NULL OR expires_at > :now))"
_EXPIRED_IDS = "SELECT id FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= :now"
# Always one row: (row exists, header, expires_at, next event seq) for the id bound to ?1.
_SESSION_AND_NEXT_SEQ = (
    "SELECT sessions.id IS NOT NULL, sessions.header, sessions.expires_at, "
    "(SELECT coalesce(max(seq) + 1, 0) FROM events WHERE session_id = ?1) "
    "FROM (SELECT 1) LEFT JOIN sessions ON sessions.id = ?1"
)

# Stores living in this process, so a forked child drops the connections it inherited.
_STORES: weakref.WeakSet[SQLiteSessionStore] = weakref.WeakSet()
# Held while a store creates or opens its database file. Closing the descriptor that
# created the file would drop every POSIX lock this process holds on it (SQLite's locks
# included), so no connection of this process may open the file in between.
_OPEN_LOCK = threading.Lock()
# Connections inherited over fork(): SQLite forbids using (closing included) them in the
# child, so they are kept referenced here and never touched again.
_INHERITED: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()  # another thread may have held it at the fork
    for store in list(_STORES):
        store._forget_connections()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def _immediate(con: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _upper_bound(prefix: str) -> str | None:
    """Smallest string greater than every string that starts with ``prefix``.

    In code point order, which is SQLite's BINARY order of UTF-8 text. The result is
    always encodable (it skips the surrogate range) and is None when no such string
    exists (``prefix`` is only U+10FFFF characters): then the range has no upper end.
    """
    while prefix:
        following = ord(prefix[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:
            following = 0xE000  # surrogates cannot be stored as UTF-8; E000 follows them
        if following <= 0x10FFFF:
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def _is_read_only_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


def _make_private_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0700 (less if the umask says so)."""
    try:
        os.mkdir(folder, 0o700)
    except FileNotFoundError:
        _make_private_folders(folder.parent)
        with suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, 0o700)
    except OSError:
        # Exists already (or cannot be made: a read-only mount where it exists is fine).
        if not folder.is_dir():
            raise


def _create_private_file(path: Path) -> None:
    """Create an empty database file with mode 0600 unless one exists.

    SQLite would create it 0644 and give the -wal and -shm files the same mode; made
    here first, all three are private. A file that cannot be created is left to SQLite,
    whose error names it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    os.close(fd)


class SQLiteSessionStore(SessionStore):
    """Sessions in one SQLite database file, shared safely by threads and processes.

    The database runs in WAL mode: readers never block the writer and a commit is one
    append to the WAL. With ``synchronous=NORMAL`` (the default) a committed write survives
    the process being killed; ``fsync=True`` selects ``synchronous=FULL`` so it also
    survives power loss, at the cost of an fsync per commit. Every write is one
    ``BEGIN IMMEDIATE`` transaction; writers in other processes wait up to
    ``BUSY_TIMEOUT_SECONDS`` for the lock. Threads share one connection and each
    primitive holds it under a lock (measured as fast as a connection per thread here:
    reads spend their time decoding under the GIL); a forked child opens its own.

    Files the store creates are private: the database (and so its -wal and -shm files,
    which SQLite gives the database's mode) 0600, missing folders 0700, less when the
    umask removes more. A database the process may only read (a read-only file, folder
    or mount) serves every read; writes raise ``StorageError`` and change nothing.
    Every write checks, before it commits, that the file at ``path`` is still the one
    the store opened: a database deleted or replaced from outside would swallow the
    write, so it raises ``StorageError`` instead, and the store's next call opens the
    file then at ``path`` (a new, empty database if there is none).

    Args:
        path: Database file (created if missing, with its folder).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL``.

    Raises:
        ValueError: ``path`` is empty or ``:memory:`` (use ``InMemorySessionStore``).
        CorruptSessionError: The file exists but is not a SQLite database.
        StorageError: The file cannot be opened or was written by a newer schema.
    """

    _driver_errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(
        self,
        path: str | Path = "sessions.db",
        *,
        expiration_seconds: int | None = None,
        fsync: bool = False,
    ) -> None:
        super().__init__(expiration_seconds=expiration_seconds)
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or Path, not {type(path).__name__}")
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(
                f"SQLiteSessionStore needs a database file path, not {str(path)!r}; "
                "use InMemorySessionStore for a store that lives in memory"
            )
        self.path = Path(path).expanduser().absolute()
        self.fsync = bool(fsync)
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        # (st_dev, st_ino) of the file the connection has open, to notice a deleted or
        # replaced database (SQLite in WAL mode keeps writing to the unlinked file).
        self._identity: tuple[int, int] | None = None
        self._path_fd: int | None = None  # O_PATH descriptor of that file (Linux)
        self._next_path_check = 0.0
        # Set when the connection is immutable (a read-only folder or mount without a
        # -wal file): what it saw of the folder, so a writer appearing later is noticed.
        self._frozen_stamp: tuple[object, ...] | None = None
        self._next_purge = 0.0
        _STORES.add(self)
        with self._translate_errors(None):
            _make_private_folders(self.path.parent)
            with self._use():
                pass

    def __repr__(self) -> str:
        return f"SQLiteSessionStore({str(self.path)!r})"

    # ================================================================ connections
    def _open(self) -> sqlite3.Connection:
        """Open the database (creating it, private, if missing); sets the file's identity."""
        with _OPEN_LOCK:
            _create_private_file(self.path)
            # A file we may not write: read it without creating -shm and -wal files, which
            # would belong to us, with the file's mode, and could lock its writer out.
            frozen = not os.access(self.path, os.W_OK, effective_ids=_EFFECTIVE_IDS) and self._may_open_frozen()
            con = self._open_frozen() if frozen else self._connect(str(self.path), uri=False)
            try:
                if not frozen:
                    self._enter_wal(con)
                    con.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
                    con.execute("PRAGMA foreign_keys=OFF")
                    self._ensure_schema(con)
            except sqlite3.Error as exc:
                con.close()
                # A read-only folder or mount: SQLite cannot make the -shm file it needs.
                if not (_is_read_only_error(exc) and self._may_open_frozen()):
                    raise
                con = self._open_frozen()
                frozen = True
            except BaseException:
                con.close()
                raise
            try:
                st = os.stat(self.path)
                path_fd = None if _O_PATH is None else os.open(self.path, _O_PATH | os.O_CLOEXEC)
            except BaseException:
                con.close()
                raise
        self._identity = (st.st_dev, st.st_ino)
        self._path_fd = path_fd
        self._next_path_check = time.monotonic() + PATH_CHECK_SECONDS
        self._frozen_stamp = self._folder_stamp() if frozen else None
        return con

    @staticmethod
    def _connect(target: str, *, uri: bool) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (IMMEDIATE for writes).
        # check_same_thread=False: threads share the connection, serialized by self._lock.
        return sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False, uri=uri
        )

    def _may_open_frozen(self) -> bool:
        # SQLite reads a WAL database it may not write only through its -shm file, which
        # it cannot create in a read-only folder or mount. ``immutable`` reads the main
        # file alone, so it is right only when no -wal file holds commits beyond it.
        return self.path.is_file() and not os.path.exists(f"{self.path}-wal")

    def _open_frozen(self) -> sqlite3.Connection:
        """A read-only connection that reads the main file only (no -shm, no locks)."""
        con = self._connect(f"file:{urllib.parse.quote(str(self.path))}?mode=ro&immutable=1", uri=True)
        try:
            version = int(con.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:
                raise StorageError(
                    f"SQLite database {self.path} is read-only and holds no session tables yet; "
                    "open it once with write access to its file and folder to create them"
                )
            self._ensure_schema(con)  # a newer schema is refused, naming the versions
        except BaseException:
            con.close()
            raise
        return con

    def _folder_stamp(self) -> tuple[object, ...]:
        # A writer that appears creates the -wal file, and a checkpoint changes the file.
        st = os.stat(self.path)
        return (os.path.exists(f"{self.path}-wal"), st.st_ino, st.st_size, st.st_mtime_ns)

    def _enter_wal(self, con: sqlite3.Connection) -> None:
        # Switching a database to WAL takes an exclusive lock and SQLite answers SQLITE_BUSY
        # at once, without the busy handler, when another connection is doing the same
        # (measured: 8 processes opening one fresh file failed about one time in seven).
        # So wait here, like a writer waits for the write lock.
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        pause = 0.001
        while True:
            try:
                con.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _ensure_schema(self, con: sqlite3.Connection) -> None:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"SQLite database {self.path} has schema version {version}, newer than this "
                f"a2a-session-manager understands ({SCHEMA_VERSION}); upgrade the package"
            )
        with _immediate(con):
            # Re-read under the write lock: another process may have created it meanwhile.
            if int(con.execute("PRAGMA user_version").fetchone()[0]) == 0:
                for statement in _SCHEMA:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        """The open connection (opened on first use); call with ``self._lock`` held."""
        con = self._con
        if con is not None and self._frozen_stamp is None:
            return con
        if con is not None and self._frozen_stamp == self._folder_stamp():
            return con
        # No connection yet, or an immutable one whose file a writer has since changed.
        if con is not None:
            self._drop_connection()
        self._con = con = self._open()
        return con

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """The store's connection, held by this thread for the duration (opened on first use)."""
        with self._lock:
            yield self._connection()

    def _forget_connections(self) -> None:
        """In a forked child: leave the parent's connection alone and start afresh."""
        if self._con is not None:
            _INHERITED.append(self._con)
        self._con = None
        self._close_path_fd()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the store's connection (it is reopened when the store is used again)."""
        with self._lock:
            con, self._con = self._con, None
            self._close_path_fd()
        if con is not None:
            con.close()

    def _close_path_fd(self) -> None:
        fd, self._path_fd = self._path_fd, None
        self._identity = None
        if fd is not None:
            os.close(fd)

    @contextmanager
    def _write(self, sid: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on error.

        Written as one context manager (not ``_use`` around ``_immediate``): appends pay
        for one generator, which leaves room for the file check before the commit.
        """
        with self._lock:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                if now >= self._next_purge:
                    self._purge_expired(con, now)
                    self._next_purge = now + PURGE_INTERVAL_SECONDS
                yield con
                # One fstat (about 1 µs, 2% of an append): without it a commit to a
                # deleted database "succeeds" and is lost.
                change = self._file_change()
                if change is None:
                    con.execute("COMMIT")
                    return
                con.execute("ROLLBACK")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            note = self._drop_connection(file_changed=True)
        raise self._file_changed_error(change, sid, note)

    def _file_change(self, *, full: bool = False) -> str | None:
        """How the file at ``path`` stopped being the one the connection has open, if it did."""
        fd = self._path_fd
        linked = None if fd is None else os.fstat(fd).st_nlink > 0
        if linked and not full and time.monotonic() < self._next_path_check:
            return None  # still linked, and the path was checked less than PATH_CHECK_SECONDS ago
        self._next_path_check = time.monotonic() + PATH_CHECK_SECONDS
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {True: "was moved away", False: "was deleted", None: "was deleted or moved away"}[linked]
        if (st.st_dev, st.st_ino) != self._identity:
            return "was replaced by another file"
        return None

    def _drop_connection(self, *, file_changed: bool = False) -> str:
        """Close the connection (call with the lock held).

        After the file was deleted, replaced or moved, SQLite's close leaves the -wal file
        at ``path`` alone, and the old database's commits in it would be read as part of
        whatever database is at ``path`` next. So first checkpoint them into the old file
        (which keeps them if it was moved away) and truncate the -wal file, through the
        descriptors this connection holds; files at ``path`` are never deleted by name.

        Returns:
            What went wrong emptying the old -wal file ("" when nothing did), for the error.
        """
        con, self._con = self._con, None
        self._close_path_fd()
        if con is None or not file_changed:
            if con is not None:
                con.close()
            return ""
        problem = ""
        try:
            con.execute(f"PRAGMA busy_timeout = {int(GONE_CHECKPOINT_WAIT_SECONDS * 1000)}")
            if con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                problem = "other connections were still reading it"
        except sqlite3.Error as exc:
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            con.close()
        if not problem:
            return ""
        return (
            f". Its -wal file could not be emptied ({problem}): if {self.path}-wal is still there, "
            "move it aside before the database now at that path is opened"
        )

    def _file_changed_error(self, change: str, sid: str | None, note: str = "") -> StorageError:
        where = f"session {sid!r}: " if sid else ""
        return StorageError(
            f"{where}SQLite database {self.path} {change} while the store had it open; the write "
            "was not stored (it would have gone to the old file). The store opens the file now "
            f"at that path on its next call: restore the database there, or start afresh{note}",
            session_id=sid,
        )

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every SELECT inside sees the same committed state."""
        with self._use() as con:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                if con.in_transaction:
                    con.execute("COMMIT")

    # ===================================================================== helpers
    @staticmethod
    def _purge_expired(con: sqlite3.Connection, now: float) -> None:
        args = {"now": now}
        con.execute(f"DELETE FROM events WHERE session_id IN ({_EXPIRED_IDS})", args)
        con.execute(f"DELETE FROM records WHERE session_id IN ({_EXPIRED_IDS})", args)
        con.execute("DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= :now", args)

    @staticmethod
    def _drop_session_rows(con: sqlite3.Connection, sid: str) -> None:
        con.execute("DELETE FROM events WHERE session_id = ?", (sid,))
        con.execute("DELETE FROM records WHERE session_id = ?", (sid,))
        con.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    def _touch(self, con: sqlite3.Connection, sid: str, header: str | None, *, replace: bool) -> int:
        """Inside a write: make the session row exist, set its header, refresh its TTL.

        ``header`` replaces the stored one when ``replace``, else fills only a missing one.
        An expired session is removed first, so the write starts a fresh session.

        Returns:
            The ``seq`` the session's next event takes.
        """
        now = time.time()
        expires = None if self.expiration_seconds is None else now + self.expiration_seconds
        # One statement reads the session row and the next seq (max(seq) is one descent of
        # the primary-key b-tree, flat in the session's length): appends run one statement
        # fewer, which pays for the file check before their commit.
        exists, old_header, expires_at, next_seq = con.execute(_SESSION_AND_NEXT_SEQ, (sid,)).fetchone()
        if exists and expires_at is not None and expires_at <= now:
            self._drop_session_rows(con, sid)
            exists, next_seq = False, 0
        if not exists:
            con.execute("INSERT INTO sessions (id, header, expires_at) VALUES (?, ?, ?)", (sid, header, expires))
            return int(next_seq)
        new_header = header if replace or old_header is None else old_header
        if (new_header is not None and new_header != old_header) or expires is not None:
            con.execute(
                "UPDATE sessions SET header = ?, expires_at = coalesce(?, expires_at) WHERE id = ?",
                (new_header, expires, sid),
            )
        return int(next_seq)

    @staticmethod
    def _insert_events(con: sqlite3.Connection, sid: str, items: Sequence[tuple[str, str]], first_seq: int) -> int:
        seq = first_seq
        for event_id, line in items:
            cur = con.execute(
                "INSERT INTO events (session_id, seq, event_id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id, event_id) DO NOTHING",
                (sid, seq, event_id, line),
            )
            if cur.rowcount == 1:
                seq += 1
        return seq - first_seq

    @staticmethod
    def _fetch_events(con: sqlite3.Connection, sid: str, start: int, end: int | None) -> list[EventRow]:
        args: dict[str, object] = {"sid": sid, "now": time.time(), "start": start, "end": end}
        if start < 0:
            lower = "(SELECT coalesce(max(seq) + 1, 0) FROM events WHERE session_id = :sid) + :start"
        else:
            lower = ":start"
        upper = "" if end is None else " AND seq < :end"
        rows = con.execute(
            f"SELECT seq, body FROM events WHERE session_id = :sid AND seq >= {lower}{upper} AND {_ALIVE} ORDER BY seq",
            args,
        ).fetchall()
        return [(int(seq), body) for seq, body in rows]

    @staticmethod
    def _fetch_records(
        con: sqlite3.Connection,
        sid: str,
        kind: str,
        prefix: str = "",
        before: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        where = ["session_id = :sid", "kind = :kind", _ALIVE]
        args: dict[str, object] = {"sid": sid, "kind": kind, "now": time.time()}
        if prefix:
            # A key range, not LIKE: keys may hold '_' and LIKE would treat it as a wildcard.
            where.append("key >= :lo")
            args["lo"] = prefix
            hi = _upper_bound(prefix)
            if hi is not None:
                where.append("key < :hi")
                args["hi"] = hi
        if before is not None:
            where.append("key < :before")
            args["before"] = before
        args["limit"] = -1 if limit is None else limit
        order = "DESC" if reverse else "ASC"
        rows = con.execute(
            f"SELECT key, value FROM records WHERE {' AND '.join(where)} ORDER BY key {order} LIMIT :limit",
            args,
        ).fetchall()
        return [(str(key), bytes(value)) for key, value in rows]

    # ================================================================== primitives
    def _read_header(self, sid: str) -> str | None:
        with self._use() as con:
            row = con.execute(
                "SELECT header FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (sid, time.time()),
            ).fetchone()
        return None if row is None else row[0]

    def _write_header(self, sid: str, header: str) -> None:
        with self._write(sid) as con:
            self._touch(con, sid, header, replace=True)

    def _append(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> int:
        with self._write(sid) as con:
            next_seq = self._touch(con, sid, header_if_new, replace=False)
            return self._insert_events(con, sid, items, next_seq)

    def _read_events(self, sid: str, start: int, end: int | None) -> list[EventRow]:
        with self._use() as con:
            return self._fetch_events(con, sid, start, end)

    def _count_events(self, sid: str) -> int:
        with self._use() as con:
            row = con.execute(
                f"SELECT coalesce(max(seq) + 1, 0) FROM events WHERE session_id = :sid AND {_ALIVE}",
                {"sid": sid, "now": time.time()},
            ).fetchone()
        return int(row[0])

    def _replace_events(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> None:
        with self._write(sid) as con:
            self._touch(con, sid, header_if_new, replace=False)
            con.execute("DELETE FROM events WHERE session_id = ?", (sid,))
            self._insert_events(con, sid, items, 0)

    def _delete(self, sid: str) -> bool:
        with self._write(sid) as con:
            row = con.execute(
                "SELECT header FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (sid, time.time()),
            ).fetchone()
            self._drop_session_rows(con, sid)
            return row is not None and row[0] is not None

    def _scan(self, prefix: str) -> list[str]:
        sql = "SELECT id FROM sessions WHERE header IS NOT NULL AND (expires_at IS NULL OR expires_at > :now)"
        args: dict[str, object] = {"now": time.time()}
        if prefix:
            # A range on the primary key, never LIKE/GLOB: '%', '_', '*' and '[' in an id
            # or prefix are plain characters.
            sql += " AND id >= :lo"
            args["lo"] = prefix
            hi = _upper_bound(prefix)
            if hi is not None:
                sql += " AND id < :hi"
                args["hi"] = hi
        with self._use() as con:
            rows = con.execute(sql + " ORDER BY id", args).fetchall()
        return [str(r[0]) for r in rows]

    def _put_records(self, sid: str, kind: str, items: Sequence[tuple[str, bytes]], header_if_new: str | None) -> None:
        with self._write(sid) as con:
            self._touch(con, sid, header_if_new, replace=False)
            con.executemany(
                "INSERT INTO records (session_id, kind, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (session_id, kind, key) DO UPDATE SET value = excluded.value",
                [(sid, kind, key, value) for key, value in items],
            )

    def _get_record(self, sid: str, kind: str, key: str) -> bytes | None:
        with self._use() as con:
            row = con.execute(
                f"SELECT value FROM records WHERE session_id = :sid AND kind = :kind AND key = :key AND {_ALIVE}",
                {"sid": sid, "kind": kind, "key": key, "now": time.time()},
            ).fetchone()
        return None if row is None else bytes(row[0])

    def _list_records(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> list[tuple[str, bytes]]:
        with self._use() as con:
            return self._fetch_records(con, sid, kind, prefix, before, limit, reverse)

    def _delete_records(self, sid: str, kind: str, keys: Sequence[str] | None) -> None:
        with self._write(sid) as con:
            if keys is None:
                con.execute("DELETE FROM records WHERE session_id = ? AND kind = ?", (sid, kind))
            else:
                con.executemany(
                    "DELETE FROM records WHERE session_id = ? AND kind = ? AND key = ?",
                    [(sid, kind, key) for key in keys],
                )

    def _read_session(self, sid: str) -> tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]:
        with self._snapshot() as con:
            row = con.execute(
                "SELECT header FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (sid, time.time()),
            ).fetchone()
            if row is None or row[0] is None:
                return None, [], [], []
            events = self._fetch_events(con, sid, 0, None)
            runs = self._fetch_records(con, sid, RUN_KIND)
            children = [key for key, _ in self._fetch_records(con, sid, CHILD_KIND)]
            return str(row[0]), events, runs, children

    # ====================================================================== errors
    def _error_if_file_changed(self, sid: str | None) -> StorageError | None:
        """On an error path: the error to raise if the database file went away under the connection."""
        if self._identity is None:
            return None
        try:
            change = self._file_change(full=True)
        except OSError:
            return None
        if change is None:
            return None
        note = ""
        # Drop the connection when no other thread is using it (an error may be wrapped
        # while this thread holds the lock); else the next write's check drops it.
        if self._lock.acquire(blocking=False):
            try:
                note = self._drop_connection(file_changed=True)
            finally:
                self._lock.release()
        return self._file_changed_error(change, sid, note)

    def _where(self, sid: str, seq: int | None = None) -> str:
        if seq is None:
            # Also prefixes run records (" run 'id'"), so it names no table.
            return f"SQLite database {self.path}, session {sid!r}"
        return f"SQLite database {self.path}, table events, row (session_id={sid!r}, seq={seq})"

    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        where = f"session {sid!r}: " if sid else ""
        changed = self._error_if_file_changed(sid)
        if changed is not None:
            return changed
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return CorruptSessionError(
                f"{where}{self.path} is not a valid SQLite database ({exc}); "
                "restore it from a backup or point the store at another file",
                session_id=sid,
            )
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StorageError(
                f"{where}SQLite database {self.path} is locked: another connection held its write lock "
                f"for more than {BUSY_TIMEOUT_SECONDS:g} s; retry, or find the process holding a long transaction",
                session_id=sid,
            )
        if primary == sqlite3.SQLITE_CANTOPEN:
            return StorageError(
                f"{where}cannot open SQLite database {self.path} ({exc}); check that its folder exists and is writable",
                session_id=sid,
            )
        if primary == sqlite3.SQLITE_READONLY:
            return StorageError(
                f"{where}SQLite database {self.path} is read-only ({exc}); nothing was written. Reads "
                "work; writes need write access to the file and its folder (for the -wal and -shm files)",
                session_id=sid,
            )
        return StorageError(f"{where}SQLite database {self.path} failed: {type(exc).__name__}: {exc}", session_id=sid)


def create_sqlite_session_store(
    path: str | Path = "sessions.db",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
    create: bool = True,
) -> SQLiteSessionStore:
    """Create a SQLite store (stdlib sqlite3, WAL, one row per event).

    Args:
        path: Database file (created if missing, unless ``create`` is False).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL``.
        create: False opens only an existing database and creates nothing when it is
            missing (what read-only tools such as the CLI's ``list`` want).

    Returns:
        The store.

    Raises:
        StoreUnavailableError: ``create`` is False and ``path`` is not an existing file.
    """
    if not create and isinstance(path, (str, Path)) and not Path(path).expanduser().is_file():
        raise StoreUnavailableError(
            f"no SQLite database at {Path(path).expanduser().absolute()}: the file does not exist "
            "(nothing was created; check the path)"
        )
    return SQLiteSessionStore(path=path, expiration_seconds=expiration_seconds, fsync=fsync)
