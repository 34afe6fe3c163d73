"""``SessionEventHandler``: LlamaIndex instrumentation that records agent runs in a session.

One object is both an instrumentation *event handler* (LLM calls: ``LLMChatStartEvent``
/ ``LLMChatEndEvent``) and a *span handler* (agent runs and tool calls: llama-index-core
0.14 never dispatches ``AgentToolCallEvent``; a tool call and its result are visible
only as the ``BaseWorkflowAgent.call_tool`` span). What it writes:

- each top-level workflow run (``FunctionAgent.run``, ``ReActAgent.run``,
  ``AgentWorkflow.run``, ...) is a ``SessionRun``, upserted RUNNING when it starts and
  COMPLETED or FAILED when it ends; every event written inside carries ``task_id ==
  run.id`` (a nested agent run belongs to the outer one);
- each LLM chat call is one REFERENCE event (source LLM) with message
  ``{"kind": "llm_call", "model", "messages", "response", "tool_calls"}`` and its token
  usage: the provider's (``usage_from_llamaindex`` of ``response.raw`` or
  ``additional_kwargs``, origin ``"reported"``), else counted with our tokenizer
  (origin ``"counted"`` for OpenAI models, ``"estimated"`` otherwise). REFERENCE
  events are not part of the conversation, so a session that ``SessionMemory`` also
  writes never shows a reply twice and usage is counted once;
- each tool call is one TOOL_CALL event, id ``tool:<tool_id>`` (name, arguments,
  result or error, ``duration_ms``). ``SessionMemory``, ``SessionChatStore`` and
  ``SessionDBChatStore`` on the same store object and session store the agent's tool
  message *as this event* (with the parent set to the assistant turn they store), so
  the call is stored once; calls no memory stored are written when the run ends,
  with the LLM call that asked for them as parent.

Scoping: added plainly (``dispatcher.add_event_handler(h)`` and
``dispatcher.add_span_handler(h)``, or ``h.attach()``) it records everything the
dispatcher sends it. Added only as an event handler it sees LLM calls but no spans, so
no tool call and no run: the first LLM call it sees then logs one warning naming
``attach()``. ``with h.recording():`` / ``async with h.recording():`` attaches
it to the root dispatcher if needed (and detaches it at the end when it attached it),
and while any ``recording()`` block of the handler is open it records only what runs
inside one (a contextvar, inherited by the tasks an agent starts), so two agents on two
sessions in one process never mix.

Writes never block the event loop: called from a running loop they go, in order, to
a worker thread that uses the store's sync API; called from sync code with nothing
queued they are written at once. ``flush()`` / ``await aflush()`` wait for queued
writes and raise the first write error (the dispatcher swallows handler exceptions,
so errors are kept and raised there); leaving ``recording()`` flushes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from uuid import uuid4

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.messages import compact_json, event_to_openai, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.storage import SessionStore, resolve
from a2a_session_manager.tokens import choose_encoding, count_messages_tokens, count_text_tokens
from a2a_session_manager.usage import usage_from_llamaindex
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import Dispatcher
from pydantic import ConfigDict, PrivateAttr

from a2a_session_integrations.llamaindex import _convert
from a2a_session_integrations.llamaindex._registry import (
    MAX_PENDING_CALLS,
    current_task_id,
    end_run,
    register_run,
    register_tool,
    reuse_recorded,
)

__all__ = ["SessionEventHandler", "current_task_id", "reuse_recorded"]

logger = logging.getLogger(__name__)

_ACTIVE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "a2a_session_llamaindex_recording", default=frozenset()
)


# -------------------------------------------------------------------------- writer
class _Writer:
    """Performs store writes in order: inline from sync code, else in a worker thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def _do(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as exc:  # kept and raised by flush(): the dispatcher would swallow it
            logger.error("SessionEventHandler: a write failed: %s", exc)
            self.errors.append(exc)

    def submit(self, job: Callable[[], None]) -> None:
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        with self._lock:
            if not in_loop and self._queue.unfinished_tasks == 0:
                self._do(job)
                return
            self._queue.put(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="a2a-llamaindex-writer", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=1.0)
            except queue.Empty:
                with self._lock:
                    if self._queue.unfinished_tasks == 0:
                        self._thread = None
                        return
                continue
            with self._lock:
                self._do(job)
            self._queue.task_done()

    def flush(self) -> None:
        self._queue.join()
        if self.errors:
            error = self.errors[0]
            self.errors.clear()
            raise error


# ------------------------------------------------------------------------- handler
@dataclass
class _Run:
    run: SessionRun
    spans: set[str] = field(default_factory=set)
    call_ids: list[str] = field(default_factory=list)


@dataclass
class _ToolStart:
    started: float
    name: str
    arguments: dict[str, Any]
    call_id: str


def _is_run_span(id_: str, instance: Any) -> bool:
    if instance is None or not id_.startswith(f"{type(instance).__name__}.run-"):
        return False
    from llama_index.core.workflow import Workflow

    return isinstance(instance, Workflow)


def _model_name(model_dict: Mapping[str, Any]) -> str:
    for key in ("model", "model_name", "engine", "deployment_name"):
        value = model_dict.get(key)
        if isinstance(value, str) and value:
            return value
    name = model_dict.get("class_name")
    return str(name) if name else ""


def _counted_usage(messages: list[ChatMessage], response: ChatResponse, model: str) -> TokenUsage:
    prompt = count_messages_tokens(
        [m for m in (event_to_openai(e) for e in _convert.messages_to_events(messages)) if m is not None], model
    )
    reply = response.message
    text = reply.content or ""
    calls = _convert.message_tool_calls(reply)
    completion = count_text_tokens(text, model).tokens + (
        count_text_tokens(compact_json(calls), model).tokens if calls else 0
    )
    origin = "counted" if choose_encoding(model).exact else "estimated"
    return TokenUsage(prompt_tokens=prompt, completion_tokens=completion, model=model, origin=origin)


class SessionEventHandler(BaseEventHandler, BaseSpanHandler[SimpleSpan]):
    """Records LLM calls (with usage), tool calls and agent runs of LlamaIndex in a session.

    See the module docstring for what is written and how it is scoped.

    Example:
        ``async with SessionEventHandler(session_id="s1", store=store).recording(): await agent.run("hi")``

    Args:
        session_id: The session to record into (created on first write).
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session_id: str
    store: Any = None

    _writer: _Writer = PrivateAttr(default_factory=_Writer)
    _state_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _span_root: dict[str, str] = PrivateAttr(default_factory=dict)
    _runs: dict[str, _Run] = PrivateAttr(default_factory=dict)
    _llm_starts: dict[str, tuple[float, str, list[ChatMessage]]] = PrivateAttr(default_factory=dict)
    _tools: dict[str, _ToolStart] = PrivateAttr(default_factory=dict)
    _asked_by: dict[str, str] = PrivateAttr(default_factory=dict)
    _scopes: int = PrivateAttr(default=0)
    _attached_to: list[Dispatcher] = PrivateAttr(default_factory=list)
    _saw_span: bool = PrivateAttr(default=False)
    _warned_no_spans: bool = PrivateAttr(default=False)

    def __init__(self, session_id: str, store: SessionStore | None = None) -> None:
        BaseEventHandler.__init__(
            self,
            session_id=check_session_id(session_id),
            store=store,
        )
        self._lock = None

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses for this handler."""
        return "SessionEventHandler"

    @property
    def _store(self) -> SessionStore:
        """The store to write to now (the provider's default when none was given)."""
        given: SessionStore | None = self.store
        return resolve(given)

    # ----------------------------------------------------------- attach / scope
    def attach(self, dispatcher: Dispatcher | None = None) -> None:
        """Add this handler to a dispatcher (default: the root) as event and span handler.

        Args:
            dispatcher: The dispatcher; None is ``get_dispatcher()`` (the root).
        """
        d = dispatcher or get_dispatcher()
        if self not in d.event_handlers:
            d.add_event_handler(self)
        if self not in d.span_handlers:
            d.add_span_handler(self)
        if d not in self._attached_to:
            self._attached_to.append(d)

    def detach(self, dispatcher: Dispatcher | None = None) -> None:
        """Remove this handler from a dispatcher (default: the root).

        Args:
            dispatcher: The dispatcher; None is ``get_dispatcher()`` (the root).
        """
        d = dispatcher or get_dispatcher()
        d.event_handlers = [h for h in d.event_handlers if h is not self]
        d.span_handlers = [h for h in d.span_handlers if h is not self]
        if d in self._attached_to:
            self._attached_to.remove(d)

    def recording(self) -> _Recording:
        """Record only what runs inside this block (``with`` or ``async with``).

        Attaches the handler to the root dispatcher when it is not attached, and
        detaches it at the end if it did; leaving the block flushes the writes.

        Returns:
            A context manager usable with ``with`` and ``async with``.
        """
        return _Recording(self)

    def flush(self) -> None:
        """Wait until every queued write is stored.

        Raises:
            SessionManagerError: A write failed (the first error since the last flush).
        """
        self._writer.flush()

    async def aflush(self) -> None:
        """Async twin of `flush` (waits in a worker thread, never blocking the loop)."""
        await asyncio.to_thread(self._writer.flush)

    def _wants(self, span_id: str | None) -> bool:
        if span_id is not None and span_id in self._span_root:
            return True
        if self._scopes == 0:
            return True
        return id(self) in _ACTIVE.get()

    def _write_events(self, events: list[SessionEvent]) -> None:
        store, sid = self._store, self.session_id

        def job() -> None:
            store.append_events(sid, events)

        self._writer.submit(job)

    def _write_run(self, run: SessionRun) -> None:
        store, sid, snapshot = self._store, self.session_id, run.model_copy(deep=True)
        self._writer.submit(lambda: store.upsert_run(sid, snapshot))

    def _task_for(self, span_id: str | None) -> str | None:
        root = self._span_root.get(span_id or "")
        run = self._runs.get(root or "")
        return run.run.id if run else None

    # -------------------------------------------------------------------- spans
    def new_span(
        self,
        id_: str,
        bound_args: Any,
        instance: Any | None = None,
        parent_span_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SimpleSpan | None:
        """Track runs and tool calls (called by the dispatcher when a span starts)."""
        self._saw_span = True
        with self._state_lock:
            root = self._span_root.get(parent_span_id or "")
            if root is None:
                if not _is_run_span(id_, instance) or not self._wants(None):
                    return None
                run = SessionRun(metadata={"framework": "llamaindex", "name": id_.rsplit("-", 5)[0]})
                run.mark_running()
                self._runs[id_] = _Run(run)
                root = id_
                register_run(self._store, self.session_id, run.id)
                self._write_run(run)
            self._span_root[id_] = root
            self._runs[root].spans.add(id_)
            if ".call_tool-" in id_:
                ev = bound_args.arguments.get("ev") if hasattr(bound_args, "arguments") else None
                if ev is not None:
                    call_id = str(getattr(ev, "tool_id", "") or f"li-{uuid4().hex}")
                    kwargs_ = getattr(ev, "tool_kwargs", None)
                    self._tools[id_] = _ToolStart(
                        time.perf_counter(),
                        str(getattr(ev, "tool_name", "") or ""),
                        dict(kwargs_) if isinstance(kwargs_, Mapping) else {},
                        call_id,
                    )
        return None

    def prepare_to_exit_span(
        self, id_: str, bound_args: Any, instance: Any | None = None, result: Any | None = None, **kwargs: Any
    ) -> SimpleSpan | None:
        """Record a tool call's result, or end a run (called when a span exits)."""
        self._span_done(id_, result=result, error=None)
        return None

    def prepare_to_drop_span(
        self, id_: str, bound_args: Any, instance: Any | None = None, err: BaseException | None = None, **kwargs: Any
    ) -> SimpleSpan | None:
        """Record a tool call's error, or fail a run (called when a span is dropped)."""
        self._span_done(id_, result=None, error=err)
        return None

    def _span_done(self, id_: str, result: Any, error: BaseException | None) -> None:
        with self._state_lock:
            root = self._span_root.get(id_)
            if root is None:
                return
            tool = self._tools.pop(id_, None)
            if tool is not None:
                self._record_tool(root, tool, result, error)
            if id_ != root:
                return
            state = self._runs.pop(root)
            for span in state.spans:
                self._span_root.pop(span, None)
                self._llm_starts.pop(span, None)
        left = end_run(self._store, self.session_id, state.run.id, state.call_ids)
        if left:
            self._write_events(left)
        if error is None:
            state.run.mark_completed()
        elif isinstance(error, asyncio.CancelledError):
            state.run.mark_cancelled()
        else:
            state.run.mark_failed(f"{type(error).__name__}: {error}")
        self._write_run(state.run)

    def _record_tool(self, root: str, tool: _ToolStart, result: Any, error: BaseException | None) -> None:
        duration = (time.perf_counter() - tool.started) * 1000.0
        output = getattr(result, "tool_output", None)
        failed: str | None = None
        value: Any = None
        if error is not None:
            failed = f"{type(error).__name__}: {error}"
        elif output is not None:
            text = getattr(output, "content", None)
            value = text if isinstance(text, str) else str(output)
            if getattr(output, "is_error", False):
                failed, value = value, None
        name = str(getattr(result, "tool_name", "") or tool.name)
        state = self._runs[root]
        event = make_tool_call_event(
            name,
            tool.arguments,
            tool.call_id,
            result=value,
            error=failed,
            parent_event_id=self._asked_by.pop(tool.call_id, None),
            duration_ms=duration,
            task_id=state.run.id,
        )
        state.call_ids.append(tool.call_id)
        register_tool(self._store, self.session_id, tool.call_id, event)

    # ------------------------------------------------------------------- events
    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Record LLM chat calls (called by the dispatcher for every event)."""
        if isinstance(event, LLMChatStartEvent):
            # The LLM call's own span opened before this event: a span handler has seen it.
            if event.span_id and not self._saw_span and not self._warned_no_spans:
                self._warn_no_spans()
            if self._wants(event.span_id):
                with self._state_lock:
                    self._llm_starts[event.span_id or ""] = (
                        time.perf_counter(),
                        _model_name(event.model_dict),
                        list(event.messages),
                    )
        elif isinstance(event, LLMChatEndEvent) and event.response is not None and self._wants(event.span_id):
            self._record_llm(event)

    def _warn_no_spans(self) -> None:
        self._warned_no_spans = True
        # Logged, not warnings.warn: the dispatcher swallows whatever a handler raises, and
        # a warnings filter set to "error" would then silently drop this LLM call too.
        logger.warning(
            "SessionEventHandler(session_id=%r) receives LlamaIndex events but no spans: it was added "
            "with add_event_handler() only, so tool calls and agent runs (which LlamaIndex reports "
            "only as spans) are not recorded. Use handler.attach() (or `with handler.recording():`), "
            "which adds it as both event and span handler.",
            self.session_id,
        )

    def _record_llm(self, event: LLMChatEndEvent) -> None:
        response = event.response
        assert response is not None
        with self._state_lock:
            started, model, messages = self._llm_starts.pop(event.span_id or "", (None, "", list(event.messages)))
            task_id = self._task_for(event.span_id)
        try:
            usage = usage_from_llamaindex(response, model or None)
        except (TypeError, ValueError):
            usage = None
        if usage is None:
            usage = _counted_usage(messages, response, model)
        reply = response.message
        calls = _convert.message_tool_calls(reply)
        body: dict[str, Any] = {
            "kind": "llm_call",
            "model": model,
            "messages": len(messages),
            "response": reply.content or "",
        }
        if calls:
            body["tool_calls"] = calls
        record = SessionEvent(
            message=body,
            source=EventSource.LLM,
            type=EventType.REFERENCE,
            task_id=task_id,
            token_usage=usage,
            metadata={} if started is None else {"duration_ms": round((time.perf_counter() - started) * 1000.0, 3)},
        )
        with self._state_lock:
            for call in calls:
                if call["id"]:
                    if len(self._asked_by) >= MAX_PENDING_CALLS:
                        self._asked_by.pop(next(iter(self._asked_by)))
                    self._asked_by[call["id"]] = record.id
        self._write_events([record])

    def __repr__(self) -> str:
        return f"SessionEventHandler(session_id={self.session_id!r}, store={type(self._store).__name__})"


class _Recording:
    """``with`` / ``async with`` scope of a ``SessionEventHandler`` (see ``recording``)."""

    def __init__(self, handler: SessionEventHandler) -> None:
        self._handler = handler
        self._token: contextvars.Token[frozenset[int]] | None = None
        self._attached = False

    def _enter(self) -> SessionEventHandler:
        h = self._handler
        root = get_dispatcher()
        if h not in root.event_handlers or h not in root.span_handlers:
            h.attach(root)
            self._attached = True
        h._scopes += 1
        self._token = _ACTIVE.set(_ACTIVE.get() | {id(h)})
        return h

    def _exit(self) -> None:
        h = self._handler
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        h._scopes -= 1
        if self._attached and h._scopes == 0:
            h.detach(get_dispatcher())

    def __enter__(self) -> SessionEventHandler:
        return self._enter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()
        self._handler.flush()

    async def __aenter__(self) -> SessionEventHandler:
        return self._enter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit()
        await self._handler.aflush()
