"""A session: an ordered log of events, its runs, state and place in a hierarchy.

Models do no I/O of their own and never import ``storage``: a session reaches a store
through ``SessionSource``, the few store methods it needs, which every ``SessionStore``
has. ``storage`` registers the process-wide default (``SessionStoreProvider.get_store``)
with ``set_default_source`` when it is imported, which importing ``a2a_session_manager``
always does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from a2a_session_manager.exceptions import InvalidDataError, SessionManagerError
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_metadata import SessionMetadata
from a2a_session_manager.models.session_run import RunStatus, SessionRun
from a2a_session_manager.models.token_usage import TokenSummary

__all__ = ["Session", "SessionSource", "set_default_source"]


class SessionSource(Protocol):
    """The store methods a ``Session`` uses: reading its relatives and appending its events.

    Every ``SessionStore`` is one; the protocol exists so that models need not import
    ``storage``.
    """

    def get(self, session_id: str) -> Session | None:
        """Load a session, or None when it does not exist."""
        ...

    async def aget(self, session_id: str) -> Session | None:
        """Async twin of `get`."""
        ...

    def get_child_ids(self, session_id: str) -> list[str]:
        """Ids of a session's stored children."""
        ...

    async def aget_child_ids(self, session_id: str) -> list[str]:
        """Async twin of `get_child_ids`."""
        ...

    def append_event(self, session_id: str, event: SessionEvent) -> None:
        """Append one event to a stored session."""
        ...

    async def aappend_event(self, session_id: str, event: SessionEvent) -> None:
        """Async twin of `append_event`."""
        ...


_default_source: Callable[[], SessionSource] | None = None


def set_default_source(source: Callable[[], SessionSource]) -> None:
    """Set how a session that has no store of its own finds one (``storage`` calls this).

    Args:
        source: Called at each use, so a later change of the default applies to sessions
            made before it (``storage`` passes ``SessionStoreProvider.get_store``).
    """
    global _default_source
    _default_source = source


class Session(BaseModel):
    """A conversation session.

    Constructing a session does no I/O. Hierarchy is stored: ``parent_id`` is written by
    ``store.save(child)``, and the store keeps each parent's list of children, so
    ``ancestors()`` and ``descendants()`` are right whichever process saved what.
    They read the store this session was loaded from or saved to, else the
    configured default (``SessionStoreProvider``): see ``store``.
    """

    # Python's json writes NaN/Infinity and every reader here accepts them; pydantic's
    # default would store null, silently changing the value.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str = Field(default_factory=lambda: str(uuid4()))
    metadata: SessionMetadata = Field(default_factory=SessionMetadata)
    parent_id: str | None = None
    child_ids: list[str] = Field(default_factory=list)
    task_ids: list[str] = Field(default_factory=list)
    runs: list[SessionRun] = Field(default_factory=list)
    events: list[SessionEvent] = Field(default_factory=list)
    state: dict[str, Any] = Field(default_factory=dict)
    token_summary: TokenSummary = Field(default_factory=TokenSummary)

    # Set only through ``_bind``: the store this session was loaded from or saved to, and
    # the ids of the events that store holds (so ``save`` writes only the others).
    _store: SessionSource | None = PrivateAttr(default=None)
    _synced_ids: set[str] = PrivateAttr(default_factory=set)

    @model_validator(mode="after")
    def _summarize_given_events(self) -> Session:
        if self.token_summary.call_count == 0 and self.token_summary.total_tokens == 0:
            for event in self.events:
                if event.token_usage is not None:
                    self.token_summary.add_usage(event.token_usage)
        return self

    # ------------------------------------------------------------------ events
    def add_event(self, event: SessionEvent) -> None:
        """Append an event in memory (``store.save`` or ``append_event`` persists it).

        Args:
            event: The event; its token usage is added to ``token_summary``.

        Raises:
            InvalidDataError: ``event`` is not a ``SessionEvent`` (nothing is changed).
        """
        if not isinstance(event, SessionEvent):
            raise InvalidDataError(
                f"session {self.id!r}: add_event() takes a SessionEvent, not {type(event).__name__}",
                session_id=self.id,
            )
        if event.seq is None:
            last = self.events[-1].seq if self.events else None
            event.seq = (last + 1) if last is not None else len(self.events)
        self.events.append(event)
        if event.token_usage is not None:
            self.token_summary.add_usage(event.token_usage)
        self.metadata.touch()

    def add_event_and_save(self, event: SessionEvent, store: SessionSource | None = None) -> None:
        """Append an event and persist it with one ``append_event`` (never a full rewrite).

        Args:
            event: The event.
            store: Store to write to; defaults to this session's store.
        """
        target = store or self.store
        self.add_event(event)
        target.append_event(self.id, event)
        self._bind(target, (event.id,))

    async def aadd_event_and_save(self, event: SessionEvent, store: SessionSource | None = None) -> None:
        """Async twin of `add_event_and_save`."""
        target = store or self.store
        self.add_event(event)
        await target.aappend_event(self.id, event)
        self._bind(target, (event.id,))

    # --------------------------------------------------------------- hierarchy
    def add_child(self, child_id: str) -> None:
        """Record a child id in memory (saving the child records the link in the store).

        Args:
            child_id: The child's id.
        """
        if child_id not in self.child_ids:
            self.child_ids.append(child_id)

    def remove_child(self, child_id: str) -> None:
        """Forget a child id in memory.

        Args:
            child_id: The child's id.
        """
        if child_id in self.child_ids:
            self.child_ids.remove(child_id)

    def ancestors(self, store: SessionSource | None = None, max_depth: int | None = None) -> list[Session]:
        """Return the stored ancestors, nearest first.

        Args:
            store: Store to read; defaults to this session's store.
            max_depth: Read at most this many levels up (None: up to the root).

        Returns:
            Parent, grandparent, ... (a missing or cyclic link ends the walk).
        """
        source = store or self.store
        result: list[Session] = []
        seen = {self.id}
        parent_id = self.parent_id
        while parent_id and parent_id not in seen and (max_depth is None or len(result) < max_depth):
            seen.add(parent_id)
            parent = source.get(parent_id)
            if parent is None:
                break
            result.append(parent)
            parent_id = parent.parent_id
        return result

    async def aancestors(self, store: SessionSource | None = None, max_depth: int | None = None) -> list[Session]:
        """Async twin of `ancestors`."""
        source = store or self.store
        result: list[Session] = []
        seen = {self.id}
        parent_id = self.parent_id
        while parent_id and parent_id not in seen and (max_depth is None or len(result) < max_depth):
            seen.add(parent_id)
            parent = await source.aget(parent_id)
            if parent is None:
                break
            result.append(parent)
            parent_id = parent.parent_id
        return result

    def descendants(self, store: SessionSource | None = None) -> list[Session]:
        """Return the stored descendants, depth-first (siblings sorted by id).

        Args:
            store: Store to read; defaults to this session's store.

        Returns:
            Every session below this one.
        """
        store = store or self.store
        result: list[Session] = []
        seen = {self.id}
        stack = list(reversed(store.get_child_ids(self.id)))
        while stack:
            child_id = stack.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = store.get(child_id)
            if child is None:
                continue
            result.append(child)
            stack.extend(reversed(child.child_ids))
        return result

    async def adescendants(self, store: SessionSource | None = None) -> list[Session]:
        """Async twin of `descendants`."""
        store = store or self.store
        result: list[Session] = []
        seen = {self.id}
        stack = list(reversed(await store.aget_child_ids(self.id)))
        while stack:
            child_id = stack.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = await store.aget(child_id)
            if child is None:
                continue
            result.append(child)
            stack.extend(reversed(child.child_ids))
        return result

    # ------------------------------------------------------------------- state
    def set_state(self, key: str, value: Any) -> None:
        """Set a state entry (persisted by ``save``).

        Args:
            key: Entry name.
            value: Any JSON value.
        """
        self.state[key] = value
        self.metadata.touch()

    def get_state(self, key: str, default: Any = None) -> Any:
        """Return a state entry.

        Args:
            key: Entry name.
            default: Returned when missing.

        Returns:
            The value.
        """
        return self.state.get(key, default)

    def has_state(self, key: str) -> bool:
        """Return True when ``key`` is set in the state."""
        return key in self.state

    def remove_state(self, key: str) -> None:
        """Remove a state entry if present.

        Args:
            key: Entry name.
        """
        self.state.pop(key, None)

    # ------------------------------------------------------------------- usage
    @property
    def last_update_time(self) -> datetime:
        """Time of the newest event, or of the last metadata update."""
        if self.events:
            return max(self.events[-1].timestamp, self.metadata.updated_at)
        return self.metadata.updated_at

    @property
    def active_run(self) -> SessionRun | None:
        """The most recent run that is still pending or running, or None."""
        for run in reversed(self.runs):
            if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
                return run
        return None

    @property
    def total_tokens(self) -> int:
        """All tokens recorded on this session's events."""
        return self.token_summary.total_tokens

    @property
    def total_cost(self) -> float:
        """Estimated USD cost of the priced events (see ``token_summary.unpriced_tokens``)."""
        return self.token_summary.total_estimated_cost_usd

    def get_token_usage_by_source(self) -> dict[str, TokenSummary]:
        """Token totals per event source (``"user"``, ``"llm"``, ``"system"``, ``"tool"``).

        Returns:
            A summary per source that has usage.
        """
        out: dict[str, TokenSummary] = {}
        for event in self.events:
            if event.token_usage is not None:
                out.setdefault(event.source.value, TokenSummary()).add_usage(event.token_usage)
        return out

    def get_token_usage_by_run(self) -> dict[str, TokenSummary]:
        """Token totals per run id; events outside any run are under ``"no_run"``.

        Returns:
            A summary per run that has usage.
        """
        out: dict[str, TokenSummary] = {}
        for event in self.events:
            if event.token_usage is not None:
                out.setdefault(event.task_id or "no_run", TokenSummary()).add_usage(event.token_usage)
        return out

    # --------------------------------------------------------------- plumbing
    @property
    def store(self) -> SessionSource:
        """The store this session was loaded from or saved to, else the configured default.

        The default is looked up at each access (``SessionStoreProvider.get_store``), so
        ``SessionStoreProvider.set_store`` applies to sessions made before it.

        Raises:
            SessionManagerError: The session has no store and none is configured
                (``a2a_session_manager.storage`` was never imported).
        """
        if self._store is not None:
            return self._store
        if _default_source is None:
            raise SessionManagerError(
                f"session {self.id!r} has no store and no default is configured; "
                "import a2a_session_manager.storage or pass store=",
                session_id=self.id,
            )
        return _default_source()

    def _bind(self, store: SessionSource, ids: Iterable[str]) -> None:
        """Record that ``store`` holds this session and the events with ``ids`` (package-private).

        The one way the store link is set (by ``SessionStore`` after a load or a save, and
        by ``add_event_and_save``). Binding again to the same store adds ``ids``; binding to
        another store replaces them, since that store holds none of the events known to the
        previous one.
        """
        if store is self._store:
            self._synced_ids.update(ids)
        else:
            self._store = store
            self._synced_ids = set(ids)

    def _synced_with(self, store: SessionSource) -> set[str]:
        """Ids of the events ``store`` holds: the live set when bound to it, else empty (package-private)."""
        return self._synced_ids if store is self._store else set()

    def _repr_html_(self) -> str:
        from a2a_session_manager.models._html import session_html

        return session_html(self)

    def __repr__(self) -> str:
        return (
            f"Session(id={self.id!r}, parent_id={self.parent_id!r}, events={len(self.events)}, "
            f"runs={len(self.runs)}, children={len(self.child_ids)}, total_tokens={self.total_tokens})"
        )

    __str__ = __repr__
