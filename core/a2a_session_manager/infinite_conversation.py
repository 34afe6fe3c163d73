"""Conversations of any length: token-bounded segments linked by cumulative summaries.

A conversation is a chain of *segments*, each a session. ``process_message`` appends to
the current segment until the next message would push it past ``token_threshold``
(real token counts, ``messages.event_token_count``) or ``max_turns_per_segment``. Then:

1. the summarizer (``llm_callback``) is asked for a **cumulative** summary: the summary
   that closes segment *k* is written from the previous summary (segments 1..k-1) plus
   segment *k*'s messages, so it covers segments 1..k and early context survives any
   number of segments;
2. a SUMMARY event (id ``segment-summary:<segment id>``) closes the old segment and
   names the next one; appending it is the **claim**: event ids are idempotency keys and
   appends are atomic in every store, so when two writers (tasks or processes) race,
   exactly one summary is stored and both read back which one won;
3. the winner opens the new segment, a child session (``parent_id`` = the old segment)
   whose first event is a CONTEXT_BRIDGE carrying the same summary, and links it with
   the record ``("segment", "next")`` on the old segment; the loser waits for that link
   (and completes the opening itself, idempotently, if the winner died midway);
4. the message goes into the new segment.

Nothing is ever deleted. The state changes only after the summarizer answered: when it
fails, the message is stored in the current segment, no segment is opened, and
``SummarizationError`` is raised (the next message tries again).

``build_context_for_llm`` returns the latest cumulative summary (once) plus the recent
turns of the current segment, tool groups kept whole; ``get_full_conversation_history``
returns every message of every segment in order. Any segment's id may be passed to
every method: the manager follows the links to the current segment.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from uuid import uuid4

from a2a_session_manager._ids import check_session_id
from a2a_session_manager._optional import require
from a2a_session_manager.exceptions import (
    PromptBudgetError,
    SessionManagerError,
    SessionNotFoundError,
    SummarizationError,
)
from a2a_session_manager.messages import (
    content_text,
    event_role,
    event_text,
    event_to_openai,
    event_token_count,
    event_tool_calls,
)
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.prompts import (
    PromptStrategy,
    render_events,
    select_events,
    truncate_prompt_to_token_limit,
)
from a2a_session_manager.storage import ops, resolve
from a2a_session_manager.storage.base import SessionStore
from a2a_session_manager.storage.ops import Op, call
from a2a_session_manager.tokens import count_message_tokens, count_messages_tokens, count_text_tokens

__all__ = [
    "CONTEXT_SUMMARY_PREFIX",
    "SEGMENT_META_KEY",
    "SEGMENT_RECORD_KIND",
    "SUMMARY_PROMPTS",
    "InfiniteConversationManager",
    "LLMCallback",
    "SummarizationStrategy",
    "bridge_event_id",
    "call_llm",
    "summary_event_id",
]

LLMCallback = Any
"""An async or sync function ``(messages, model) -> str`` (or ``(messages) -> str``), a
LangChain chat model (has ``ainvoke``) or a LlamaIndex LLM (has ``achat``)."""

SEGMENT_RECORD_KIND = "segment"
"""Record kind on a segment whose key ``"next"`` holds the id of the segment after it."""
_NEXT_KEY = "next"
SEGMENT_META_KEY = "a2a_segment"
"""Metadata key of the SUMMARY and CONTEXT_BRIDGE events the manager writes."""
CONTEXT_SUMMARY_PREFIX = "Summary of the conversation so far:\n"
"""Opens the system message that carries the cumulative summary in a built context."""
_STATE_CACHE_SIZE = 1024


def summary_event_id(segment_id: str) -> str:
    """Id of the SUMMARY event that closes ``segment_id`` (the claim on opening the next one).

    Args:
        segment_id: The segment being closed.

    Returns:
        ``"segment-summary:" + segment_id``.
    """
    return f"segment-summary:{segment_id}"


def bridge_event_id(segment_id: str) -> str:
    """Id of the CONTEXT_BRIDGE event that opens ``segment_id``.

    Args:
        segment_id: The new segment.

    Returns:
        ``"segment-bridge:" + segment_id``.
    """
    return f"segment-bridge:{segment_id}"


class SummarizationStrategy(str, Enum):
    """How the cumulative summary is written; values are stored strings.

    Attributes:
        BASIC: Concise prose covering subject, facts, decisions and open items.
        KEY_POINTS: A bulleted list of every fact, decision, preference and open question.
        QUERY_FOCUSED: Centred on the user: each request, its answer, what is still wanted.
        TOPIC_BASED: Grouped under one heading per topic discussed.
    """

    BASIC = "basic"
    KEY_POINTS = "key_points"
    QUERY_FOCUSED = "query_focused"
    TOPIC_BASED = "topic_based"


_CUMULATIVE_RULE = (
    " You receive the earlier summary (when there is one) and the newest part of the "
    "conversation; your summary replaces the earlier one, so carry over everything in it that "
    "still matters. Keep names, numbers, dates and commitments exact. Write only the summary."
)

SUMMARY_PROMPTS: dict[SummarizationStrategy, str] = {
    SummarizationStrategy.BASIC: (
        "You keep the running summary of a long conversation between a user and an assistant. "
        "Write a concise summary in plain prose: what the conversation is about, the facts "
        "established, the decisions taken and anything left open." + _CUMULATIVE_RULE
    ),
    SummarizationStrategy.KEY_POINTS: (
        "You keep the running notes of a long conversation between a user and an assistant. "
        "Write them as a bulleted list of key points, one short line each: every fact stated, "
        "decision taken, preference expressed and question still open; merge duplicates and "
        "drop points that were later corrected." + _CUMULATIVE_RULE
    ),
    SummarizationStrategy.QUERY_FOCUSED: (
        "You keep track of what a user has asked an assistant in a long conversation. For each "
        "question or request the user made, note it and the answer or outcome it got; end with "
        "what the user still wants or has not received. Leave out small talk." + _CUMULATIVE_RULE
    ),
    SummarizationStrategy.TOPIC_BASED: (
        "You keep a topic map of a long conversation between a user and an assistant. Group the "
        "content under one short heading per topic discussed, with the key points of each topic "
        "below its heading, and fold new material into existing topics where it belongs." + _CUMULATIVE_RULE
    ),
}
"""The system prompt the summarizer gets for each strategy."""


# ------------------------------------------------------------------------ llm calls
def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = None if inspect.isfunction(fn) else inspect.getattr_static(type(fn), "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def _text_of(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, Mapping) and "content" in result:
        return content_text(result["content"])
    message = getattr(result, "message", None)  # LlamaIndex ChatResponse
    if message is not None and hasattr(message, "content"):
        return content_text(message.content)
    if hasattr(result, "content"):  # LangChain AIMessage
        return content_text(result.content)
    raise TypeError(f"the summarizer returned {type(result).__name__}, expected text")


def _takes_model(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind([], "model")
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): assume the documented form
        return True
    return True


async def call_llm(llm_callback: LLMCallback, messages: list[dict[str, Any]], model: str) -> str:
    """Ask any supported model for text: a function, a LangChain chat model or a LlamaIndex LLM.

    Args:
        llm_callback: An async or sync function ``(messages, model)`` or ``(messages)``
            returning text (or a message with ``content``); a LangChain chat model
            (``ainvoke``; messages converted with ``convert_to_messages``); or a LlamaIndex
            LLM (``achat``; messages converted to ``ChatMessage``). Sync functions run in
            a worker thread, so they never block the event loop.
        messages: OpenAI-style ``{"role", "content"}`` dicts.
        model: Model name passed to two-argument functions.

    Returns:
        The text of the reply.

    Raises:
        TypeError: ``llm_callback`` is none of the above, or returned no text.
        MissingDependencyError: A framework object was passed but the framework is missing.
    """
    if hasattr(llm_callback, "ainvoke") and not inspect.isroutine(llm_callback):
        lc_messages = require("langchain_core.messages", extra="langchain", feature="A LangChain llm_callback")
        return _text_of(await llm_callback.ainvoke(lc_messages.convert_to_messages(messages)))
    if hasattr(llm_callback, "achat") and not inspect.isroutine(llm_callback):
        li_llms = require("llama_index.core.llms", extra="llamaindex", feature="A LlamaIndex llm_callback")
        chat = [li_llms.ChatMessage(role=m["role"], content=m.get("content") or "") for m in messages]
        return _text_of(await llm_callback.achat(chat))
    if not callable(llm_callback):
        raise TypeError(
            f"llm_callback must be a function (messages, model) -> str, a LangChain chat model or a "
            f"LlamaIndex LLM, not {type(llm_callback).__name__}"
        )
    args: tuple[Any, ...] = (messages, model) if _takes_model(llm_callback) else (messages,)
    if _is_async_callable(llm_callback):
        result = await llm_callback(*args)
    else:
        result = await asyncio.to_thread(llm_callback, *args)
        if inspect.isawaitable(result):
            result = await result
    return _text_of(result)


# ------------------------------------------------------------------------ segment state
@dataclass
class _SegState:
    """What this process knows about one segment, kept current by reading its tail."""

    model: str
    counted: int = 0  # events read so far (positions 0..counted-1)
    tokens: int = 0  # MESSAGE and TOOL_CALL tokens among them
    turns: int = 0  # MESSAGE events among them
    root_id: str = ""
    index: int = 1  # 1-based position of the segment in its conversation
    previous_id: str | None = None
    prev_summary: str | None = None  # the cumulative summary of segments 1..index-1
    closing: SessionEvent | None = None  # the SUMMARY event that closed it
    ahead: set[str] = field(default_factory=set)  # ids appended and counted before being read

    @property
    def closed_to(self) -> str | None:
        if self.closing is None:
            return None
        return str(self.closing.metadata[SEGMENT_META_KEY]["next_segment_id"])

    def observe(self, event: SessionEvent) -> None:
        self.counted += 1
        if event.id in self.ahead:
            self.ahead.discard(event.id)
            return
        self.count(event)

    def count(self, event: SessionEvent) -> None:
        meta = event.metadata.get(SEGMENT_META_KEY) if isinstance(event.metadata, dict) else None
        if event.type == EventType.CONTEXT_BRIDGE and isinstance(meta, dict):
            self.prev_summary = event_text(event)
            self.previous_id = meta.get("previous_segment_id")
            self.root_id = str(meta.get("root_segment_id") or self.root_id)
            self.index = int(meta.get("segment_index") or self.index)
        elif event.type == EventType.SUMMARY and isinstance(meta, dict) and meta.get("next_segment_id"):
            if self.closing is None:
                self.closing = event
        elif event.type in (EventType.MESSAGE, EventType.TOOL_CALL):
            self.tokens += event_token_count(event, self.model)
            if event.type == EventType.MESSAGE:
                self.turns += 1


@dataclass
class _Resolved:
    current: str
    unlinked: tuple[str, str] | None = None  # (closed segment, its next) found without a link record


class InfiniteConversationManager:
    """Keep a conversation going past any context window with segments and cumulative summaries.

    Args:
        token_threshold: Tokens of messages (and tool calls) a segment may hold, counted
            with the model's tokenizer as prompt messages (``messages.event_token_count``).
        summary_model: Model name given to the summarizer (and used to count tokens when
            ``process_message`` gets no ``model``).
        summarization_strategy: Which ``SUMMARY_PROMPTS`` entry instructs the summarizer.
        store: Store of the segments (default: ``SessionStoreProvider.get_store()`` at call time).
        max_turns_per_segment: Also open a new segment after this many messages (None: no limit).
        context_recent_tokens: Budget of the recent turns in ``build_context_for_llm`` when
            no ``max_tokens`` is given (None: the whole current segment, which
            ``token_threshold`` already bounds).
        open_wait_seconds: How long a writer that lost the race to open a segment waits
            for the winner to link it before completing the opening itself.

    Raises:
        ValueError: A limit is not a positive int.

    Example:
        >>> manager = InfiniteConversationManager(token_threshold=2000)
        >>> # segment_id = await manager.process_message(sid, "Hi!", EventSource.USER, my_llm)
    """

    def __init__(
        self,
        token_threshold: int = 4000,
        summary_model: str = "gpt-3.5-turbo",
        summarization_strategy: SummarizationStrategy = SummarizationStrategy.BASIC,
        store: SessionStore | None = None,
        max_turns_per_segment: int | None = None,
        context_recent_tokens: int | None = None,
        open_wait_seconds: float = 10.0,
    ) -> None:
        for name, value, optional in (
            ("token_threshold", token_threshold, False),
            ("max_turns_per_segment", max_turns_per_segment, True),
            ("context_recent_tokens", context_recent_tokens, True),
        ):
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int{' or None' if optional else ''}, not {value!r}")
        self.token_threshold = token_threshold
        self.summary_model = summary_model
        self.summarization_strategy = SummarizationStrategy(summarization_strategy)
        self.max_turns_per_segment = max_turns_per_segment
        self.context_recent_tokens = context_recent_tokens
        self.open_wait_seconds = float(open_wait_seconds)
        self._store = store
        self._states: OrderedDict[str, _SegState] = OrderedDict()
        self._next: dict[str, str] = {}
        self._state_lock = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ plumbing
    @property
    def store(self) -> SessionStore:
        """The store of the segments (the configured default when none was given, looked up now)."""
        return resolve(self._store)

    def _lock(self, segment_id: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        locks = self._locks.get(loop)
        if locks is None:
            locks = self._locks[loop] = {}
        lock = locks.get(segment_id)
        if lock is None:
            lock = locks[segment_id] = asyncio.Lock()
        return lock

    def _state(self, segment_id: str, model: str) -> _SegState:
        with self._state_lock:
            state = self._states.get(segment_id)
            if state is None or state.model != model:
                state = _SegState(model=model, root_id=segment_id)
                self._states[segment_id] = state
            self._states.move_to_end(segment_id)
            while len(self._states) > _STATE_CACHE_SIZE:
                self._states.popitem(last=False)
            return state

    def _count_model(self, model: str | None) -> str:
        return model or self.summary_model

    # ------------------------------------------------------------------ operations
    def _op_refresh(self, sid: str, model: str, seen: list[SessionEvent] | None = None) -> Op[_SegState]:
        state = self._state(sid, model)
        start = state.counted
        events = yield from call(SessionStore.get_events, sid, start)
        with self._state_lock:
            if state.counted == start:  # another thread may have read this tail already
                for event in events:
                    state.observe(event)
        if seen is not None:
            seen.extend(events)
        return state

    def _op_resolve(self, sid: str, model: str) -> Op[_Resolved]:
        seen: set[str] = set()
        unlinked: tuple[str, str] | None = None
        while True:
            if sid in seen:
                raise SessionManagerError(f"session {sid!r}: its segment links form a cycle", session_id=sid)
            seen.add(sid)
            nxt = self._next.get(sid)
            if nxt is None:
                raw = yield from call(SessionStore.get_record, sid, SEGMENT_RECORD_KIND, _NEXT_KEY)
                if raw:
                    nxt = check_session_id(bytes(raw).decode("utf-8"))
                    self._next[sid] = nxt
            if nxt is None:
                state = yield from self._op_refresh(sid, model)
                nxt = state.closed_to
                if nxt is not None and unlinked is None:
                    unlinked = (sid, nxt)
            if nxt is None:
                return _Resolved(sid, unlinked)
            sid = nxt

    def _op_open(self, old: str, closing: SessionEvent) -> Op[str]:
        """Create the segment ``closing`` names and link it (idempotent: any writer may finish it)."""
        meta = closing.metadata[SEGMENT_META_KEY]
        new = check_session_id(str(meta["next_segment_id"]))
        bridge = SessionEvent(
            id=bridge_event_id(new),
            message=closing.message,
            source=EventSource.SYSTEM,
            type=EventType.CONTEXT_BRIDGE,
            metadata={
                SEGMENT_META_KEY: {
                    "previous_segment_id": old,
                    "root_segment_id": meta["root_segment_id"],
                    "segment_index": int(meta["segment_index"]) + 1,
                    "summary_event_id": closing.id,
                }
            },
        )
        exists = yield from call(SessionStore.exists, new)
        if not exists:
            child = Session(id=new, parent_id=old)
            child.metadata.set_property("segment_of", meta["root_segment_id"])
            child.metadata.set_property("segment_index", int(meta["segment_index"]) + 1)
            child.add_event(bridge)
            yield from call(SessionStore.save, child)
        else:  # created by a writer that died before its bridge landed
            yield from call(SessionStore.append_event, new, bridge)
        yield from call(SessionStore.put_record, old, SEGMENT_RECORD_KIND, _NEXT_KEY, new.encode("utf-8"))
        self._next[old] = new
        return new

    def _op_require(self, sid: str) -> Op[None]:
        exists = yield from call(SessionStore.exists, sid)
        if not exists:
            raise SessionNotFoundError(f"session {sid!r} does not exist in {type(self.store).__name__}", session_id=sid)

    def _op_context(self, sid: str, max_tokens: int | None, model: str) -> Op[list[dict[str, Any]]]:
        yield from self._op_require(sid)
        resolved = yield from self._op_resolve(sid, model)
        state = self._state(resolved.current, model)
        events = yield from call(SessionStore.get_events, resolved.current, 0)
        head: list[dict[str, Any]] = []
        if state.prev_summary:
            head.append({"role": "system", "content": CONTEXT_SUMMARY_PREFIX + state.prev_summary})
        turns = [e for e in events if e.type in (EventType.MESSAGE, EventType.TOOL_CALL)]
        budget = max_tokens if max_tokens is not None else self.context_recent_tokens
        if budget is None:
            return head + render_events(turns)
        if max_tokens is None:  # context_recent_tokens bounds the turns only
            return head + render_events(
                select_events(turns, PromptStrategy.CONVERSATION, max_tokens=budget, model=model)
            )
        head_cost = sum(count_message_tokens(m, model) for m in head)
        try:
            if budget - head_cost <= 0:
                raise PromptBudgetError("the summary alone fills the budget")
            chosen = select_events(turns, PromptStrategy.CONVERSATION, max_tokens=budget - head_cost, model=model)
            return head + render_events(chosen)
        except PromptBudgetError:
            # Even the essential turns do not fit next to the summary: shorten content instead.
            return truncate_prompt_to_token_limit(head + render_events(turns), budget, model)

    def _op_history(self, sid: str, model: str, include_summaries: bool) -> Op[list[dict[str, Any]]]:
        yield from self._op_require(sid)
        resolved = yield from self._op_resolve(sid, model)
        chain: list[tuple[str, list[SessionEvent]]] = []
        seen: set[str] = set()
        current: str | None = resolved.current
        while current is not None and current not in seen:
            seen.add(current)
            events = yield from call(SessionStore.get_events, current, 0)
            chain.append((current, events))
            current = None
            for event in events[:1]:
                meta = event.metadata.get(SEGMENT_META_KEY)
                if event.type == EventType.CONTEXT_BRIDGE and isinstance(meta, dict):
                    current = meta.get("previous_segment_id")
        history: list[dict[str, Any]] = []
        for segment_id, events in reversed(chain):
            for event in events:
                if event.type == EventType.SUMMARY and include_summaries:
                    entry: dict[str, Any] | None = {"role": "system", "content": event_text(event), "summary": True}
                elif event.type in (EventType.MESSAGE, EventType.TOOL_CALL):
                    entry = event_to_openai(event)
                else:
                    entry = None
                if entry is None:
                    continue
                entry.update(
                    segment_id=segment_id,
                    event_id=event.id,
                    source=event.source.value,
                    timestamp=event.timestamp.isoformat(),
                )
                history.append(entry)
        # An event moved on after a concurrent closing (see ``_check_not_late``) is listed
        # once, at its last place.
        last = {entry["event_id"]: k for k, entry in enumerate(history)}
        return [entry for k, entry in enumerate(history) if last[entry["event_id"]] == k]

    # ------------------------------------------------------------------ public API
    async def process_message(
        self,
        session_id: str,
        message: Any,
        source: EventSource | str,
        llm_callback: LLMCallback,
        model: str | None = None,
    ) -> str:
        """Add a message to the conversation, opening a new segment when the current one is full.

        Args:
            session_id: Any segment of the conversation (the first one starts it; an id
                the store does not hold starts a new conversation).
            message: The text (stored as 0.1.3 did), or a neutral message dict
                ``{"role", "content", ...}``.
            source: Who wrote it (``EventSource`` or its value, e.g. ``"user"``).
            llm_callback: The summarizer: an async or sync function ``(messages, model)``
                or ``(messages)`` returning text, a LangChain chat model or a LlamaIndex LLM.
            model: Model whose tokenizer measures the segment (default: ``summary_model``).

        Returns:
            The id of the segment the message went into (the one now current).

        Raises:
            SummarizationError: The summarizer failed or returned no text; the message was
                stored in the current segment and no segment was opened.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
            StorageError: The store failed.
        """
        sid = check_session_id(session_id)
        count_model = self._count_model(model)
        event = self._message_event(message, source)
        message_tokens = event_token_count(event, count_model)
        store = self.store
        while True:
            async with self._lock(sid):
                resolved = await ops.arun(store, self._op_resolve(sid, count_model))
                if resolved.unlinked is not None:
                    await self._await_link(store, *resolved.unlinked, model=count_model)
                if resolved.current != sid:
                    sid = resolved.current
                    continue
                state = self._state(sid, count_model)
                if not self._is_full(state, message_tokens):
                    await self._append(store, sid, state, event)
                    return await self._check_not_late(store, sid, event, count_model)
                try:
                    summary, usage, covered = await self._summarize(store, sid, state, llm_callback)
                except Exception as exc:
                    await self._append(store, sid, state, event)
                    raise SummarizationError(
                        f"session {sid!r}: the summarizer failed ({type(exc).__name__}: {exc}); the message was "
                        "stored in the current segment and no new segment was opened (the next message retries)",
                        session_id=sid,
                    ) from exc
                closing = self._closing_event(sid, state, summary, usage, covered)
                await store.aappend_events(sid, [closing])
                state = await ops.arun(store, self._op_refresh(sid, count_model))
                winner = state.closing
                if winner is None:  # cannot happen with a conforming store: appends are durable
                    raise SessionManagerError(f"session {sid!r}: the closing summary was not stored", session_id=sid)
                if winner.id == closing.id and winner.metadata == closing.metadata:
                    new = await ops.arun(store, self._op_open(sid, winner))
                    # A fresh segment holds only its bridge: the message goes in before anyone else's.
                    await self._append(store, new, self._state(new, count_model), event)
                    return new
                else:
                    sid = await self._await_link(store, sid, state.closed_to or "", model=count_model)

    async def _check_not_late(self, store: SessionStore, sid: str, event: SessionEvent, model: str) -> str:
        """Move ``event`` on if another writer closed ``sid`` just before it landed there.

        Between our read of the segment and our append, a writer in another process may
        have stored the closing summary; our message then sits after it, outside every
        summary and context. It is appended again, with the same event id, to the next
        segment (history lists each event id once, at its last place).
        """
        tail: list[SessionEvent] = []
        await ops.arun(store, self._op_refresh(sid, model, tail))
        ids = [e.id for e in tail]
        closing_at = next((k for k, e in enumerate(tail) if e.id == summary_event_id(sid)), None)
        if closing_at is None or event.id not in ids or ids.index(event.id) < closing_at:
            return sid
        nxt = self._state(sid, model).closed_to
        if nxt is None:
            return sid
        new = await self._await_link(store, sid, nxt, model=model)
        await self._append(store, new, self._state(new, model), event)
        return new

    async def _await_link(self, store: SessionStore, old: str, new: str, *, model: str) -> str:
        """Wait for the writer that won ``old``'s closing to link ``new``; finish it ourselves if it died."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.open_wait_seconds
        delay = 0.005
        while True:
            raw = await store.aget_record(old, SEGMENT_RECORD_KIND, _NEXT_KEY)
            if raw:
                linked = check_session_id(bytes(raw).decode("utf-8"))
                self._next[old] = linked
                return linked
            if loop.time() >= deadline:
                state = await ops.arun(store, self._op_refresh(old, model))
                if state.closing is None:
                    return old
                return await ops.arun(store, self._op_open(old, state.closing))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _is_full(self, state: _SegState, message_tokens: int) -> bool:
        if self.max_turns_per_segment is not None and state.turns >= self.max_turns_per_segment:
            return True
        # An empty segment takes any message, so one oversized message never loops.
        return state.tokens > 0 and state.tokens + message_tokens > self.token_threshold

    async def _append(self, store: SessionStore, sid: str, state: _SegState, event: SessionEvent) -> None:
        await store.aappend_event(sid, event)
        with self._state_lock:
            state.ahead.add(event.id)
            state.count(event)

    @staticmethod
    def _message_event(message: Any, source: EventSource | str) -> SessionEvent:
        try:
            src = EventSource(source)
        except ValueError:
            raise ValueError(f"unknown source {source!r}; use one of {[s.value for s in EventSource]}") from None
        if isinstance(message, Mapping):
            return SessionEvent(message=dict(message), source=src, type=EventType.MESSAGE)
        if not isinstance(message, str):
            raise TypeError(f"message must be a str or a message dict, not {type(message).__name__}")
        return SessionEvent(message=message, source=src, type=EventType.MESSAGE)

    async def _summarize(
        self, store: SessionStore, sid: str, state: _SegState, llm_callback: LLMCallback
    ) -> tuple[str, TokenUsage, tuple[int | None, int | None]]:
        events = await store.aget_events(sid)
        turns = [e for e in events if e.type in (EventType.MESSAGE, EventType.TOOL_CALL)]
        messages = self.summary_messages(turns, state.prev_summary, state.index)
        text = (await call_llm(llm_callback, messages, self.summary_model)).strip()
        if not text:
            raise ValueError("the summarizer returned an empty summary")
        prompt_tokens = count_messages_tokens(messages, self.summary_model)
        completion = count_text_tokens(text, self.summary_model)
        usage = TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion.tokens,
            model=self.summary_model,
            origin=completion.origin,
        )
        seqs = [e.seq for e in turns if e.seq is not None]
        return text, usage, ((min(seqs), max(seqs)) if seqs else (None, None))

    def summary_messages(
        self, events: Sequence[SessionEvent], previous_summary: str | None, segment_index: int = 1
    ) -> list[dict[str, Any]]:
        """The messages the summarizer gets for closing a segment.

        Args:
            events: The segment's MESSAGE and TOOL_CALL events.
            previous_summary: The cumulative summary of the segments before it, if any.
            segment_index: The segment's 1-based position in the conversation.

        Returns:
            A system message with the strategy's prompt, then one user message holding the
            earlier summary and the segment as a transcript.
        """
        lines: list[str] = []
        for event in events:
            role = event_role(event)
            text = event_text(event)
            if event.type == EventType.TOOL_CALL and isinstance(event.message, dict):
                lines.append(f"Tool {event.message.get('name', '?')} returned: {text}")
                continue
            for tool_call in event_tool_calls(event):
                lines.append(f"Assistant called tool {tool_call['name']} with {tool_call['arguments']}")
            if text:
                lines.append(f"{(role or 'assistant').capitalize()}: {text}")
        parts = []
        if previous_summary:
            covered = "segment 1" if segment_index == 2 else f"segments 1-{segment_index - 1}"
            parts.append(f"Earlier summary (covers {covered}):\n{previous_summary}")
        parts.append(f"Newest part of the conversation (segment {segment_index}):\n" + "\n".join(lines))
        parts.append("Write the updated summary of the whole conversation so far.")
        return [
            {"role": "system", "content": SUMMARY_PROMPTS[self.summarization_strategy]},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def _closing_event(
        self,
        sid: str,
        state: _SegState,
        summary: str,
        usage: TokenUsage,
        covered: tuple[int | None, int | None],
    ) -> SessionEvent:
        return SessionEvent(
            id=summary_event_id(sid),
            message=summary,
            source=EventSource.SYSTEM,
            type=EventType.SUMMARY,
            token_usage=usage,
            metadata={
                SEGMENT_META_KEY: {
                    "next_segment_id": str(uuid4()),
                    "root_segment_id": state.root_id or sid,
                    "segment_index": state.index,
                    "covers_segments": [1, state.index],
                    "from_seq": covered[0],
                    "to_seq": covered[1],
                    "strategy": self.summarization_strategy.value,
                    "cumulative": True,
                }
            },
        )

    def current_segment_id(self, session_id: str, model: str | None = None) -> str:
        """Return the id of the conversation's current (newest) segment.

        Args:
            session_id: Any segment of the conversation.
            model: Tokenizer model for the running counts (default: ``summary_model``).

        Returns:
            The current segment's id (``session_id`` itself when it was never closed).
        """
        sid = check_session_id(session_id)
        return ops.run(self.store, self._op_resolve(sid, self._count_model(model))).current

    async def acurrent_segment_id(self, session_id: str, model: str | None = None) -> str:
        """Async twin of `current_segment_id`."""
        sid = check_session_id(session_id)
        return (await ops.arun(self.store, self._op_resolve(sid, self._count_model(model)))).current

    def build_context_for_llm(
        self, session_id: str, max_tokens: int | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Build the messages to send the model: the cumulative summary once, then recent turns.

        Args:
            session_id: Any segment of the conversation.
            max_tokens: Budget of the whole result (``count_messages_tokens``); None: the
                summary plus the current segment (bounded by ``context_recent_tokens``
                when set).
            model: Model whose tokenizer measures the budget (default: ``summary_model``).

        Returns:
            OpenAI-style messages: a system message ``CONTEXT_SUMMARY_PREFIX + summary`` when
            the conversation has been summarized, then the newest turns of the current
            segment in order, tool calls paired with their results.

        Raises:
            SessionNotFoundError: The store does not hold ``session_id``.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        sid = check_session_id(session_id)
        return ops.run(self.store, self._op_context(sid, max_tokens, self._count_model(model)))

    async def abuild_context_for_llm(
        self, session_id: str, max_tokens: int | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Async twin of `build_context_for_llm`."""
        sid = check_session_id(session_id)
        return await ops.arun(self.store, self._op_context(sid, max_tokens, self._count_model(model)))

    def get_full_conversation_history(self, session_id: str, include_summaries: bool = False) -> list[dict[str, Any]]:
        """Return every message of every segment, oldest first.

        Args:
            session_id: Any segment of the conversation.
            include_summaries: Also return each closing summary where it was written, as
                ``{"role": "system", "content", "summary": True, ...}``. Context bridges
                (copies of the summaries) are never returned.

        Returns:
            One dict per message: ``role`` and ``content`` (plus ``tool_calls`` /
            ``tool_call_id`` / ``name`` as in the OpenAI format), and ``segment_id``,
            ``event_id``, ``source`` and ``timestamp`` (ISO 8601).

        Raises:
            SessionNotFoundError: The store does not hold ``session_id``.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        sid = check_session_id(session_id)
        return ops.run(self.store, self._op_history(sid, self.summary_model, include_summaries))

    async def aget_full_conversation_history(
        self, session_id: str, include_summaries: bool = False
    ) -> list[dict[str, Any]]:
        """Async twin of `get_full_conversation_history`."""
        sid = check_session_id(session_id)
        return await ops.arun(self.store, self._op_history(sid, self.summary_model, include_summaries))
