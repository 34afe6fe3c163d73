"""SessionStore: the whole public sync+async store API, written once.

Every public method is written once as an *operation* (``storage/ops.py``): a
generator that yields typed calls of the backend primitives it needs
(``yield from call(SessionStore._read_header, sid)``) and receives their results, or a
single such call. ``_run`` drives an operation with the sync primitives, ``_arun`` with
the async ones, so the twins share their logic and differ only in I/O. Backends write
the primitives (read/write header, append, slice, count, replace, delete, scan,
records); file and SQLite run a whole operation in a worker thread for the async
twins, memory runs it inline, Redis overrides the ``_a*`` primitives natively.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, TypeVar

from a2a_session_manager._ids import check_name, check_session_id
from a2a_session_manager.exceptions import (
    CorruptSessionError,
    InvalidDataError,
    SessionManagerError,
    SessionNotFoundError,
    StorageError,
)
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage import codec, ops
from a2a_session_manager.storage.ops import Op, Plan, call, done

__all__ = ["Op", "SessionStore", "SessionStoreInterface"]

T = TypeVar("T")

EventRow = tuple[int, str]
"""A stored event: its sequence number and its JSON line."""


class SessionStore(ABC):
    """Base of every store: public API, id checks, codec, error wrapping.

    Args:
        expiration_seconds: Time to live of a whole session (header, events, runs,
            records), refreshed on every write. None keeps sessions forever.
    """

    _async_inline: ClassVar[bool] = False
    """Run operations inline in the async twins (only for stores that never block)."""
    _async_native: ClassVar[bool] = False
    """The backend implements ``_a<primitive>`` coroutines (Redis)."""
    _driver_errors: tuple[type[BaseException], ...] = (OSError,)
    """Exceptions of the backend's driver that ``_translate_errors`` wraps."""

    def __init__(self, *, expiration_seconds: int | None = None) -> None:
        if expiration_seconds is not None and (
            not isinstance(expiration_seconds, int) or isinstance(expiration_seconds, bool) or expiration_seconds <= 0
        ):
            raise ValueError(f"expiration_seconds must be a positive int or None, not {expiration_seconds!r}")
        self.expiration_seconds = expiration_seconds

    # ================================================================ primitives
    @abstractmethod
    def _read_header(self, sid: str) -> str | None:
        """Return the stored header JSON, or None when the session does not exist (or expired)."""

    @abstractmethod
    def _write_header(self, sid: str, header: str) -> None:
        """Create or replace the header; refresh the session's TTL."""

    @abstractmethod
    def _append(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> int:
        """Append ``(event_id, line)`` items in order, skipping ids the session already holds.

        Writes ``header_if_new`` when the session has no header. All or nothing; durable
        when it returns; refreshes the TTL. Returns how many events were stored.
        """

    @abstractmethod
    def _read_events(self, sid: str, start: int, end: int | None) -> list[EventRow]:
        """Return ``(seq, line)`` rows of positions ``[start, end)``.

        ``start`` may be negative (counted from the end, as in a slice); ``end`` is None
        or >= 0.
        """

    @abstractmethod
    def _count_events(self, sid: str) -> int:
        """Return how many events the session holds (0 when it does not exist)."""

    @abstractmethod
    def _replace_events(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> None:
        """Atomically replace all events (an empty list clears them); refresh the TTL."""

    @abstractmethod
    def _delete(self, sid: str) -> bool:
        """Remove the header, events and records; return whether a header existed."""

    @abstractmethod
    def _scan(self, prefix: str) -> list[str]:
        """Return the ids of existing sessions starting with ``prefix``, sorted."""

    @abstractmethod
    def _put_records(self, sid: str, kind: str, items: Sequence[tuple[str, bytes]], header_if_new: str | None) -> None:
        """Create or replace records ``(key, value)`` of ``kind``; write ``header_if_new``
        when given and the session has no header; refresh the TTL."""

    @abstractmethod
    def _get_record(self, sid: str, kind: str, key: str) -> bytes | None:
        """Return one record's value, or None."""

    @abstractmethod
    def _list_records(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> list[tuple[str, bytes]]:
        """Return ``(key, value)`` records of ``kind`` whose key starts with ``prefix`` and is
        ``< before`` (when given), in key order (descending when ``reverse``), at most ``limit``."""

    @abstractmethod
    def _delete_records(self, sid: str, kind: str, keys: Sequence[str] | None) -> None:
        """Delete the given keys of ``kind``, or every record of ``kind`` when ``keys`` is None."""

    def _read_session(self, sid: str) -> tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]:
        """Read header, events, runs and child ids (backends may do it in one round trip)."""
        header = self._read_header(sid)
        if header is None:
            return None, [], [], []
        events = self._read_events(sid, 0, None)
        runs = self._list_records(sid, codec.RUN_KIND, "", None, None, False)
        children = [k for k, _ in self._list_records(sid, codec.CHILD_KIND, "", None, None, False)]
        return header, events, runs, children

    def _where(self, sid: str, seq: int | None = None) -> str:
        """Describe where a session (or one of its events) is stored, for error messages."""
        return f"{type(self).__name__} session {sid!r}" + ("" if seq is None else f" event {seq}")

    # ================================================================== drivers
    def _run(self, sid: str | None, plan: Plan[T]) -> T:
        """Run an operation (or one primitive call) with the sync primitives (``ops.run_primitives``)."""
        return ops.run_primitives(self, sid, plan)

    async def _arun(self, sid: str | None, plan: Plan[T]) -> T:
        """Async twin of `_run`: native ``_a*`` primitives, inline, or in a worker thread."""
        return await ops.arun_primitives(self, sid, plan)

    @contextmanager
    def _translate_errors(self, sid: str | None) -> Iterator[None]:
        try:
            yield
        except SessionManagerError:
            raise
        except self._driver_errors as exc:
            raise self._wrap_error(exc, sid) from exc

    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        """Turn a driver error into a typed error (backends refine, e.g. unreachable server)."""
        where = f"session {sid!r}: " if sid else ""
        return StorageError(f"{where}{type(self).__name__} failed: {type(exc).__name__}: {exc}", session_id=sid)

    # ============================================================== operations
    def _text_rows(self, sid: str, rows: list[EventRow]) -> list[EventRow]:
        if all(isinstance(line, str) for _, line in rows):
            return rows
        out: list[EventRow] = []
        for seq, line in rows:
            if not isinstance(line, str):
                try:
                    line = bytes(line).decode()
                except UnicodeDecodeError as exc:
                    raise CorruptSessionError(
                        f"session {sid!r}: {self._where(sid, seq)} is not UTF-8 text; repair or delete it",
                        session_id=sid,
                    ) from exc
            out.append((seq, line))
        return out

    def _decode_events(self, sid: str, rows: list[EventRow]) -> list[SessionEvent]:
        rows = self._text_rows(sid, rows)
        return codec.load_events(rows, session_id=sid, where=lambda seq: self._where(sid, seq))

    def _op_get(self, sid: str) -> Op[Session | None]:
        header, rows, runs, children = yield from call(SessionStore._read_session, sid)
        if header is None:
            return None
        data = codec.load_header(header, session_id=sid, where=self._where(sid))
        events = self._decode_events(sid, rows)
        run_models = [
            codec.load_run(value, session_id=sid, where=f"{self._where(sid)} run {key!r}") for key, value in runs
        ]
        session = codec.build_session(data, events, run_models, children)
        session._bind(self, [e.id for e in events])
        return session

    def _op_save(self, session: Session) -> Op[None]:
        sid = session.id
        # Everything is encoded (and so validated) before the first write: bad input
        # leaves the store as it was.
        header = codec.dump_header(session)
        runs = codec.dump_runs(session.runs, session_id=sid)
        # One read of the live set: pydantic private access is slow per event. The ids are those
        # this store (the one the session came from or was saved to) holds; another store holds none.
        synced = session._synced_with(self)
        # Anything but a plain event goes to the encoder, which refuses a non-event.
        new = [e for e in session.events if type(e) is not SessionEvent or e.id not in synced]
        items = codec.dump_events(new, session_id=sid)
        links = [(c, b"") for c in session.child_ids]
        yield from call(SessionStore._write_header, sid, header)
        if runs:
            yield from call(SessionStore._put_records, sid, codec.RUN_KIND, runs, None)
        if items:
            yield from call(SessionStore._append, sid, items, header)
        if links:
            yield from call(SessionStore._put_records, sid, codec.CHILD_KIND, links, None)
        if session.parent_id is not None:
            # After the child's own data: a crash before this line leaves no dangling link.
            yield from call(SessionStore._put_records, session.parent_id, codec.CHILD_KIND, [(sid, b"")], None)
        session._bind(self, [e.id for e in new])

    def _op_delete(self, sid: str) -> Op[bool]:
        header = yield from call(SessionStore._read_header, sid)
        parent_id = None
        if header is not None:
            parent_id = codec.load_header(header, session_id=sid, where=self._where(sid)).get("parent_id")
        existed = yield from call(SessionStore._delete, sid)
        if parent_id:
            yield from call(SessionStore._delete_records, parent_id, codec.CHILD_KIND, [sid])
        return bool(existed)

    def _op_append(self, sid: str, events: Sequence[SessionEvent]) -> Plan[int]:
        # A plan of one call, not a generator: the append is the hot path, and one call
        # needs no operation to drive. Encoding here (on the caller's thread) holds the
        # GIL as it did in the worker thread.
        items = codec.dump_events(events, session_id=sid)
        if not items:
            return done(0)
        return call(SessionStore._append, sid, items, codec.default_header(sid))

    def _op_get_events(self, sid: str, start: int, end: int | None, last_n: int | None) -> Op[list[SessionEvent]]:
        rows = yield from self._op_get_event_lines(sid, start, end, last_n)
        return self._decode_events(sid, rows)

    def _op_get_event_lines(self, sid: str, start: int, end: int | None, last_n: int | None) -> Op[list[EventRow]]:
        if last_n is not None:
            if last_n == 0:
                return []
            rows = yield from call(SessionStore._read_events, sid, -last_n, None)
            return self._text_rows(sid, rows)
        if start < 0 and end is not None and end >= 0:
            count = yield from call(SessionStore._count_events, sid)
            start = max(count + start, 0)
        if end is not None and end < 0:
            count = yield from call(SessionStore._count_events, sid)
            end = max(count + end, 0)
            if start < 0:
                start = max(count + start, 0)
        rows = yield from call(SessionStore._read_events, sid, start, end)
        return self._text_rows(sid, rows)

    def _op_count(self, sid: str) -> Op[int]:
        n = yield from call(SessionStore._count_events, sid)
        return int(n)

    def _op_upsert_run(self, sid: str, run: SessionRun) -> Op[None]:
        items = codec.dump_runs([run], session_id=sid)
        yield from call(SessionStore._put_records, sid, codec.RUN_KIND, items, codec.default_header(sid))

    def _op_get_runs(self, sid: str) -> Op[list[SessionRun]]:
        rows = yield from call(SessionStore._list_records, sid, codec.RUN_KIND, "", None, None, False)
        runs = [codec.load_run(v, session_id=sid, where=f"{self._where(sid)} run {k!r}") for k, v in rows]
        runs.sort(key=lambda r: r.started_at)
        return runs

    def _op_replace(self, sid: str, events: Sequence[SessionEvent]) -> Op[None]:
        seen: set[str] = set()
        items = []
        for event_id, line in codec.dump_events(events, session_id=sid):
            if event_id not in seen:
                seen.add(event_id)
                items.append((event_id, line))
        yield from call(SessionStore._replace_events, sid, items, codec.default_header(sid))

    def _op_children(self, sid: str) -> Op[list[str]]:
        rows = yield from call(SessionStore._list_records, sid, codec.CHILD_KIND, "", None, None, False)
        return [k for k, _ in rows]

    def _op_exists(self, sid: str) -> Op[bool]:
        header = yield from call(SessionStore._read_header, sid)
        return header is not None

    def _op_require(self, sid: str) -> Op[None]:
        header = yield from call(SessionStore._read_header, sid)
        if header is None:
            raise SessionNotFoundError(f"session {sid!r} does not exist in {type(self).__name__}", session_id=sid)

    # ============================================================ public: sessions
    def get(self, session_id: str) -> Session | None:
        """Return the session with its events, runs and child ids, or None.

        Args:
            session_id: The session's id.

        Returns:
            The session, attached to this store (for ``ancestors()`` and friends), or None.

        Raises:
            InvalidSessionIdError: The id is not a valid session id.
            CorruptSessionError: Stored data is unreadable (the message names where).
            StorageError: The backend failed.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_get(sid))

    async def aget(self, session_id: str) -> Session | None:
        """Async twin of `get`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_get(sid))

    def save(self, session: Session) -> None:
        """Write a session: upsert its header and runs, append the events the store lacks.

        Events another writer appended meanwhile are never dropped: ``save`` only adds
        events (by id), it never rewrites or removes them (use ``replace_events`` for that).
        The parent's child index gains this session when ``parent_id`` is set.

        Everything is encoded before the first write, so a session that cannot be
        stored changes nothing.

        Args:
            session: The session.

        Raises:
            InvalidSessionIdError: The session's, its parent's or a child's id is invalid.
            InvalidDataError: ``session`` is not a Session, or one of its events, runs or
                header fields cannot be stored exactly (the message names it).
            StorageError: The backend failed.
        """
        sid = self._check_session(session)
        self._run(sid, self._op_save(session))

    async def asave(self, session: Session) -> None:
        """Async twin of `save`."""
        sid = self._check_session(session)
        await self._arun(sid, self._op_save(session))

    def delete(self, session_id: str) -> bool:
        """Delete a session, its events and records, and its link from its parent.

        Args:
            session_id: The session's id.

        Returns:
            True when the session existed.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_delete(sid))

    async def adelete(self, session_id: str) -> bool:
        """Async twin of `delete`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_delete(sid))

    def exists(self, session_id: str) -> bool:
        """Return True when the store holds the session.

        Args:
            session_id: The session's id.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_exists(sid))

    async def aexists(self, session_id: str) -> bool:
        """Async twin of `exists`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_exists(sid))

    def list_sessions(self, prefix: str = "") -> list[str]:
        """Return the ids of stored sessions that start with ``prefix``, sorted.

        Never a blocking full scan of a shared server (Redis walks ``SCAN``).

        Args:
            prefix: Id prefix; empty lists every session.
        """
        pfx = self._check_prefix(prefix)
        return self._run(None, call(SessionStore._scan, pfx))

    async def alist_sessions(self, prefix: str = "") -> list[str]:
        """Async twin of `list_sessions`."""
        pfx = self._check_prefix(prefix)
        return await self._arun(None, call(SessionStore._scan, pfx))

    def get_child_ids(self, session_id: str) -> list[str]:
        """Return the ids of the session's children, sorted by id.

        Args:
            session_id: The parent's id.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_children(sid))

    async def aget_child_ids(self, session_id: str) -> list[str]:
        """Async twin of `get_child_ids`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_children(sid))

    # ============================================================== public: events
    def append_event(self, session_id: str, event: SessionEvent) -> None:
        """Append one event; its cost does not depend on the session's length.

        Creates the session when the store does not hold it. Appending an event whose id
        the session already holds stores nothing new. Durable when it returns.

        Args:
            session_id: The session's id.
            event: The event.

        Raises:
            InvalidSessionIdError: The id is not a valid session id.
            InvalidDataError: ``event`` is not a SessionEvent or cannot be stored exactly
                (a lone surrogate, a value with no JSON form, nesting too deep).
            StorageError: The backend failed.
        """
        sid = check_session_id(session_id)
        self._run(sid, self._op_append(sid, [event]))

    async def aappend_event(self, session_id: str, event: SessionEvent) -> None:
        """Async twin of `append_event`."""
        sid = check_session_id(session_id)
        await self._arun(sid, self._op_append(sid, [event]))

    def append_events(self, session_id: str, events: Sequence[SessionEvent]) -> int:
        """Append several events in one store call (all or nothing), skipping known ids.

        Args:
            session_id: The session's id.
            events: The events, in order.

        Returns:
            How many events were new.

        Raises:
            InvalidSessionIdError: The id is not a valid session id.
            InvalidDataError: An item is not a SessionEvent or cannot be stored exactly;
                no event of the batch is written.
            StorageError: The backend failed.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_append(sid, self._event_list(events, sid)))

    async def aappend_events(self, session_id: str, events: Sequence[SessionEvent]) -> int:
        """Async twin of `append_events`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_append(sid, self._event_list(events, sid)))

    def get_events(
        self, session_id: str, start: int = 0, end: int | None = None, last_n: int | None = None
    ) -> list[SessionEvent]:
        """Return a slice of the session's events in order, without loading the session.

        Args:
            session_id: The session's id.
            start: First position (0-based; negative counts from the end).
            end: Position after the last one (None: to the end; negative counts from the end).
            last_n: When given, the last ``n`` events instead of a slice.

        Returns:
            The events, each with its ``seq``; empty for an unknown session.
        """
        sid = check_session_id(session_id)
        self._check_slice(start, end, last_n, sid)
        return self._run(sid, self._op_get_events(sid, start, end, last_n))

    async def aget_events(
        self, session_id: str, start: int = 0, end: int | None = None, last_n: int | None = None
    ) -> list[SessionEvent]:
        """Async twin of `get_events`."""
        sid = check_session_id(session_id)
        self._check_slice(start, end, last_n, sid)
        return await self._arun(sid, self._op_get_events(sid, start, end, last_n))

    def get_event_lines(
        self, session_id: str, start: int = 0, end: int | None = None, last_n: int | None = None
    ) -> list[tuple[int, str]]:
        """Return a slice of the session's events as stored: ``(seq, JSON text)`` pairs, undecoded.

        For readers that need a few fields of many events and can skip building a
        ``SessionEvent`` for each (the framework adapters read long histories this way).
        Each text is one event in the format ``SessionEvent.model_dump_json`` writes; it
        may carry fields a newer version added. Slicing is that of `get_events`; pass
        rows the reader cannot use to `decode_event_lines`, which validates them and names
        a corrupt one.

        Args:
            session_id: The session's id.
            start: First position (0-based; negative counts from the end).
            end: Position after the last one (None: to the end; negative counts from the end).
            last_n: When given, the last ``n`` events instead of a slice.

        Returns:
            ``(seq, text)`` pairs in order; empty for an unknown session.

        Raises:
            CorruptSessionError: A stored event is not UTF-8 text.
        """
        sid = check_session_id(session_id)
        self._check_slice(start, end, last_n, sid)
        return self._run(sid, self._op_get_event_lines(sid, start, end, last_n))

    async def aget_event_lines(
        self, session_id: str, start: int = 0, end: int | None = None, last_n: int | None = None
    ) -> list[tuple[int, str]]:
        """Async twin of `get_event_lines`."""
        sid = check_session_id(session_id)
        self._check_slice(start, end, last_n, sid)
        return await self._arun(sid, self._op_get_event_lines(sid, start, end, last_n))

    def decode_event_lines(self, session_id: str, rows: Sequence[tuple[int, str]]) -> list[SessionEvent]:
        """Validate rows from `get_event_lines` into events (no I/O), as `get_events` does.

        Args:
            session_id: The session the rows were read from (named in errors).
            rows: ``(seq, text)`` pairs.

        Returns:
            One event per row, each with its ``seq``.

        Raises:
            CorruptSessionError: A row is not a valid event; the first bad one is named
                with where this store keeps it.
        """
        sid = check_session_id(session_id)
        return self._decode_events(sid, list(rows))

    def count_events(self, session_id: str) -> int:
        """Return how many events the session holds (0 for an unknown session).

        Args:
            session_id: The session's id.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_count(sid))

    async def acount_events(self, session_id: str) -> int:
        """Async twin of `count_events`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_count(sid))

    def clear_events(self, session_id: str) -> None:
        """Remove every event of the session and keep the session (header, runs, records).

        Args:
            session_id: The session's id.
        """
        sid = check_session_id(session_id)
        self._run(sid, self._op_replace(sid, []))

    async def aclear_events(self, session_id: str) -> None:
        """Async twin of `clear_events`."""
        sid = check_session_id(session_id)
        await self._arun(sid, self._op_replace(sid, []))

    def replace_events(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        """Atomically replace all events of the session (rare; may cost O(n)).

        Args:
            session_id: The session's id.
            events: The new events, in order (duplicate ids are kept once).

        Raises:
            InvalidDataError: An item is not a SessionEvent or cannot be stored exactly;
                the stored events are left as they were.
        """
        sid = check_session_id(session_id)
        self._run(sid, self._op_replace(sid, self._event_list(events, sid)))

    async def areplace_events(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        """Async twin of `replace_events`."""
        sid = check_session_id(session_id)
        await self._arun(sid, self._op_replace(sid, self._event_list(events, sid)))

    # ================================================================ public: runs
    def upsert_run(self, session_id: str, run: SessionRun) -> None:
        """Write one run (by run id) without rewriting the session; creates the session if new.

        Args:
            session_id: The session's id.
            run: The run.

        Raises:
            InvalidDataError: ``run`` is not a SessionRun or cannot be stored exactly.
        """
        sid = check_session_id(session_id)
        self._run(sid, self._op_upsert_run(sid, run))

    async def aupsert_run(self, session_id: str, run: SessionRun) -> None:
        """Async twin of `upsert_run`."""
        sid = check_session_id(session_id)
        await self._arun(sid, self._op_upsert_run(sid, run))

    def get_runs(self, session_id: str) -> list[SessionRun]:
        """Return the session's runs, oldest first.

        Args:
            session_id: The session's id.
        """
        sid = check_session_id(session_id)
        return self._run(sid, self._op_get_runs(sid))

    async def aget_runs(self, session_id: str) -> list[SessionRun]:
        """Async twin of `get_runs`."""
        sid = check_session_id(session_id)
        return await self._arun(sid, self._op_get_runs(sid))

    # ============================================================= public: records
    def put_record(self, session_id: str, kind: str, key: str, value: bytes) -> None:
        """Create or replace one small record of the session (creates the session if new).

        Records expire and are deleted with their session.

        Args:
            session_id: The session's id.
            kind: Namespace (letters, digits, ``- _ . : @ /``; not starting with ``_``).
            key: Record key (same characters).
            value: The bytes to keep.
        """
        self.put_records(session_id, kind, [(key, value)])

    async def aput_record(self, session_id: str, kind: str, key: str, value: bytes) -> None:
        """Async twin of `put_record`."""
        await self.aput_records(session_id, kind, [(key, value)])

    def put_records(self, session_id: str, kind: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Create or replace several records of one kind in one store call.

        Args:
            session_id: The session's id.
            kind: Namespace.
            items: ``(key, value)`` pairs.
        """
        sid, knd, checked = self._check_records(session_id, kind, items)
        self._run(sid, call(SessionStore._put_records, sid, knd, checked, codec.default_header(sid)))

    async def aput_records(self, session_id: str, kind: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Async twin of `put_records`."""
        sid, knd, checked = self._check_records(session_id, kind, items)
        await self._arun(sid, call(SessionStore._put_records, sid, knd, checked, codec.default_header(sid)))

    def get_record(self, session_id: str, kind: str, key: str) -> bytes | None:
        """Return one record's value, or None.

        Args:
            session_id: The session's id.
            kind: Namespace.
            key: Record key.
        """
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        k = check_name(key, what="record key", session_id=sid)
        return self._run(sid, call(SessionStore._get_record, sid, knd, k))

    async def aget_record(self, session_id: str, kind: str, key: str) -> bytes | None:
        """Async twin of `get_record`."""
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        k = check_name(key, what="record key", session_id=sid)
        return await self._arun(sid, call(SessionStore._get_record, sid, knd, k))

    def list_records(
        self,
        session_id: str,
        kind: str,
        prefix: str = "",
        before: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        """Return records of one kind in key order.

        Args:
            session_id: The session's id.
            kind: Namespace.
            prefix: Only keys starting with it.
            before: Only keys strictly smaller than it.
            limit: At most this many.
            reverse: Descending key order (newest first for time-ordered keys).

        Returns:
            ``(key, value)`` pairs.
        """
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        pfx, bfr, lim = self._check_list_args(sid, prefix, before, limit)
        return self._run(sid, call(SessionStore._list_records, sid, knd, pfx, bfr, lim, bool(reverse)))

    async def alist_records(
        self,
        session_id: str,
        kind: str,
        prefix: str = "",
        before: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        """Async twin of `list_records`."""
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        pfx, bfr, lim = self._check_list_args(sid, prefix, before, limit)
        return await self._arun(sid, call(SessionStore._list_records, sid, knd, pfx, bfr, lim, bool(reverse)))

    def delete_records(self, session_id: str, kind: str, keys: Sequence[str] | None = None) -> None:
        """Delete records of one kind: the given keys, or all of them.

        Args:
            session_id: The session's id.
            kind: Namespace.
            keys: Keys to delete; None deletes every record of ``kind``.
        """
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        ks = None if keys is None else [check_name(k, what="record key", session_id=sid) for k in keys]
        self._run(sid, call(SessionStore._delete_records, sid, knd, ks))

    async def adelete_records(self, session_id: str, kind: str, keys: Sequence[str] | None = None) -> None:
        """Async twin of `delete_records`."""
        sid, knd = check_session_id(session_id), self._check_kind(kind, session_id)
        ks = None if keys is None else [check_name(k, what="record key", session_id=sid) for k in keys]
        await self._arun(sid, call(SessionStore._delete_records, sid, knd, ks))

    # ============================================================== life cycle
    def close(self) -> None:
        """Release connections and file handles (the store can be used again after)."""

    async def aclose(self) -> None:
        """Async twin of `close`."""
        self.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ================================================================ checks
    @staticmethod
    def _check_session(session: Session) -> str:
        if not isinstance(session, Session):
            raise InvalidDataError(f"save() takes a Session, not {type(session).__name__}")
        sid = check_session_id(session.id)
        if session.parent_id is not None:
            check_session_id(session.parent_id)
            if session.parent_id == sid:
                raise SessionManagerError(f"session {sid!r} cannot be its own parent", session_id=sid)
        for child in session.child_ids:
            check_session_id(child)
        return sid

    @staticmethod
    def _event_list(events: Sequence[SessionEvent], sid: str) -> list[SessionEvent]:
        # A lone event is iterable (a pydantic model yields its fields): name the mistake.
        if isinstance(events, (SessionEvent, str, bytes)) or not hasattr(events, "__iter__"):
            raise InvalidDataError(
                f"session {sid!r}: events must be a sequence of SessionEvent, not {type(events).__name__}",
                session_id=sid,
            )
        return list(events)

    @staticmethod
    def _check_prefix(prefix: str) -> str:
        if prefix == "":
            return prefix
        return check_session_id(prefix)

    @staticmethod
    def _check_kind(kind: str, session_id: str | None) -> str:
        knd = check_name(kind, what="record kind", session_id=session_id)
        if knd.startswith("_"):
            raise ValueError(f"record kind {kind!r} is reserved (kinds starting with '_' are the store's own)")
        return knd

    def _check_records(
        self, session_id: str, kind: str, items: Sequence[tuple[str, bytes]]
    ) -> tuple[str, str, list[tuple[str, bytes]]]:
        sid = check_session_id(session_id)
        knd = self._check_kind(kind, sid)
        checked: list[tuple[str, bytes]] = []
        for key, value in items:
            check_name(key, what="record key", session_id=sid)
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"record {key!r} value must be bytes, not {type(value).__name__}")
            checked.append((key, bytes(value)))
        return sid, knd, checked

    @staticmethod
    def _check_list_args(
        sid: str, prefix: str, before: str | None, limit: int | None
    ) -> tuple[str, str | None, int | None]:
        if prefix:
            check_name(prefix, what="record key prefix", session_id=sid)
        if before is not None:
            check_name(before, what="record key", session_id=sid)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be a non-negative int or None, not {limit!r}")
        return prefix, before, limit

    @staticmethod
    def _check_slice(start: int, end: int | None, last_n: int | None, sid: str) -> None:
        for name, value in (("start", start), ("end", end), ("last_n", last_n)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if last_n is not None and last_n < 0:
            raise ValueError(f"last_n must be >= 0, not {last_n}")


SessionStoreInterface = SessionStore
"""Name kept from 0.1.3."""
