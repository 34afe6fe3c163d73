"""LangChain callback handlers that record runs, model calls and tool calls in a session.

``SessionCallbackHandler`` (sync; LangChain also runs it in async runs, off the event
loop) and ``AsyncSessionCallbackHandler`` (native async store calls) share one
recorder with no I/O in it: callbacks turn into a list of writes, which each handler
performs with the store's sync or async API.

What is written:

- each top-level invocation (a chain, an agent graph, or a bare model or tool call)
  is a ``SessionRun`` (``id`` = LangChain's root run id), upserted RUNNING when it
  starts and COMPLETED or FAILED when it ends (CANCELLED when a LangGraph interrupt
  pauses it);
- each model call's AI message is one MESSAGE event (id = the AIMessage's id, which
  LangChain always sets), with the provider-reported usage (``usage_metadata``, else
  ``llm_output["token_usage"]``) and its cost from the core's price table; streaming
  calls too (the usage of the aggregated final chunk);
- each tool call (end or error) is one TOOL_CALL event, id ``tool:<tool_call_id>``
  (LangChain passes the id of the model's call to tools run by agents), linked to
  the AI turn that asked for it by ``metadata["parent_event_id"]``;
- every event carries ``task_id`` = the run's id.

Ids are shared with ``SessionChatMessageHistory`` (and the agent middleware), so
used together on one session every message and every usage is stored once. When an
output parser (``StrOutputParser``, ``JsonOutputParser``) hands the history a new
``AIMessage`` without the reply's id, the history finds the reply in this process's
``ReplyLedger`` (each reply without tool calls is noted there) and stores the model's
own message in its place, so the reply is still stored and counted once.
Ordering with ``RunnableWithMessageHistory``: it writes the user's message only
after the model returned, so a model call whose (non-system) input has messages
without an id, a sign that a history will write them later, is written when the
top-level run ends, after the history; the events of agents, whose messages
LangGraph gives ids, are written as they happen. The handler records what models
produced; the user's input is the history's, middleware's or checkpointer's job.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.messages import AskedCall, make_message_event, make_tool_call_event, tool_calls_of
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.storage import SessionStore, ops, resolve
from a2a_session_manager.storage.ops import call
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables.config import var_child_runnable_config

from a2a_session_integrations.langchain import _convert

__all__ = [
    "AsyncSessionCallbackHandler",
    "ReplyLedger",
    "SessionCallbackHandler",
    "current_task_id",
    "next_tick",
    "replies",
]

Write = ops.Call[Any]
"""A write the recorder asks for: a typed store call (``append_events`` or ``upsert_run``),
run by ``ops.run`` in the sync handler and ``ops.arun`` in the async one."""

_INTERRUPTS = frozenset({"GraphInterrupt", "NodeInterrupt"})


# ------------------------------------------------------------------ reply ledger
_TICKS = itertools.count(1)


def next_tick() -> int:
    """A process-wide increasing number that orders what handlers and histories did."""
    return next(_TICKS)


@dataclass
class _Reply:
    event: SessionEvent
    task_id: str | None
    tick: int
    claimed_by: str | None = None


@dataclass
class _SessionReplies:
    store: weakref.ref[SessionStore]
    replies: deque[_Reply]


class ReplyLedger:
    """Model replies the handlers of this process recorded, for a history to adopt (issue 11 item 14).

    An output parser (``StrOutputParser``, ``JsonOutputParser``) hands a history a new
    ``AIMessage`` without the reply's id, so id convergence cannot link it to the event
    the handler recorded. The handler therefore notes each reply without tool calls here
    (per store object and session: the last few, for the most recently active sessions),
    and ``SessionChatMessageHistory`` pairs its id-less AI messages with them
    (``claim``): the reply is then stored once, as the model's own message with its usage.
    Process-local by design: a handler and a history in two processes converge only by ids.
    """

    _MAX_SESSIONS = 1024
    _PER_SESSION = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: OrderedDict[tuple[int, str], _SessionReplies] = OrderedDict()

    def _entry(self, store: SessionStore, session_id: str) -> _SessionReplies | None:
        entry = self._sessions.get((id(store), session_id))
        return entry if entry is not None and entry.store() is store else None

    def record(self, store: SessionStore, session_id: str, event: SessionEvent, task_id: str | None) -> None:
        """Note a reply a handler recorded (or is about to record) in a session."""
        key = (id(store), session_id)
        with self._lock:
            entry = self._entry(store, session_id)
            if entry is None:
                try:
                    ref = weakref.ref(store)
                except TypeError:  # a store that cannot be weakly referenced is not tracked
                    return
                entry = self._sessions[key] = _SessionReplies(ref, deque(maxlen=self._PER_SESSION))
            self._sessions.move_to_end(key)
            entry.replies.append(_Reply(event, task_id, next_tick()))
            while len(self._sessions) > self._MAX_SESSIONS:
                self._sessions.popitem(last=False)

    def has(self, store: SessionStore, session_id: str) -> bool:
        """True when a handler noted replies in this session (a cheap check before ``claim``)."""
        return bool(self._sessions) and self._entry(store, session_id) is not None

    def claim(
        self, store: SessionStore, session_id: str, keys: Sequence[str], *, since: int, task_id: str | None
    ) -> dict[str, SessionEvent]:
        """Pair a history's id-less AI messages with the replies they stand for.

        A reply can be claimed when nobody claimed it yet and it belongs to the run the
        history writes in (``task_id``, ``RunnableWithMessageHistory``) or came after the
        history last read or wrote the session (``since``: the manual
        ``invoke`` then ``add_messages``). Messages and replies pair from the latest
        backwards. A key that claimed a reply before gets the same reply again, so a
        retried ``add_messages`` stores what its first try stored.

        Args:
            store: The history's store object.
            session_id: The session.
            keys: The event ids the history gave its id-less AI messages, in batch order.
            since: The history's last read or write (``next_tick`` values).
            task_id: The run the history writes in, if any.

        Returns:
            key → the reply's event, for the keys that were paired.
        """
        with self._lock:
            entry = self._entry(store, session_id)
            if entry is None or not keys:
                return {}
            wanted = set(keys)
            out = {r.claimed_by: r.event for r in entry.replies if r.claimed_by in wanted}
            free = [k for k in keys if k not in out]
            open_ = [
                r
                for r in entry.replies
                if r.claimed_by is None and (r.tick > since or (task_id is not None and r.task_id == task_id))
            ]
            for key, reply in zip(reversed(free), reversed(open_), strict=False):
                reply.claimed_by = key
                out[key] = reply.event
            return out


replies = ReplyLedger()
"""The process's reply ledger (``SessionChatMessageHistory`` claims from it)."""


@dataclass
class _Root:
    run: SessionRun
    children: set[UUID] = field(default_factory=set)
    deferred: list[SessionEvent] = field(default_factory=list)
    calls: dict[str, AskedCall] = field(default_factory=dict)


@dataclass
class _ModelCall:
    model: str
    started: float
    defer: bool


@dataclass
class _ToolCall:
    name: str
    arguments: dict[str, Any]
    tool_call_id: str | None
    started: float


def _model_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    params = kwargs.get("invocation_params") or {}
    for key in ("model_name", "model", "model_id"):
        value = params.get(key) if isinstance(params, Mapping) else None
        if isinstance(value, str) and value:
            return value
    meta = kwargs.get("metadata") or {}
    value = meta.get("ls_model_name") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) else ""


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Recorder:
    """The handlers' logic: LangChain callbacks in, store writes out (no I/O here)."""

    def __init__(self, session_id: str, store: SessionStore | None) -> None:
        self.session_id = check_session_id(session_id)
        self._given = store
        self._lock = threading.Lock()
        self._roots: dict[UUID, _Root] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._models: dict[UUID, _ModelCall] = {}
        self._tools: dict[UUID, _ToolCall] = {}

    @property
    def store(self) -> SessionStore:
        """The store to write to now (``resolve``: the provider's default when none was given)."""
        return resolve(self._given)

    # ------------------------------------------------------------------ runs
    def task_id_for(self, run_id: UUID | None) -> str | None:
        """The SessionRun id of the top-level run that ``run_id`` belongs to (None if unknown)."""
        if run_id is None:
            return None
        with self._lock:
            root = self._root_of.get(run_id)
            return self._roots[root].run.id if root is not None and root in self._roots else None

    def _enter(self, run_id: UUID, parent_run_id: UUID | None, name: str, kind: str) -> list[Write]:
        with self._lock:
            root_id = self._root_of.get(parent_run_id) if parent_run_id is not None else None
            if root_id is not None and root_id in self._roots:
                self._root_of[run_id] = root_id
                self._roots[root_id].children.add(run_id)
                return []
            run = SessionRun(id=str(run_id), metadata={"name": name, "kind": kind, "framework": "langchain"})
            run.mark_running()
            self._roots[run_id] = _Root(run=run)
            self._root_of[run_id] = run_id
            return [call(SessionStore.upsert_run, self.session_id, run.model_copy(deep=True))]

    def _exit(self, run_id: UUID, error: BaseException | None = None) -> list[Write]:
        with self._lock:
            root_id = self._root_of.get(run_id)
            if root_id is None:
                return []
            if root_id != run_id:
                self._root_of.pop(run_id, None)
                root = self._roots.get(root_id)
                if root is not None:
                    root.children.discard(run_id)
                return []
            root = self._roots.pop(run_id)
            self._root_of.pop(run_id, None)
            for child in root.children:
                self._root_of.pop(child, None)
                self._models.pop(child, None)
                self._tools.pop(child, None)
        writes: list[Write] = []
        if root.deferred:
            writes.append(call(SessionStore.append_events, self.session_id, root.deferred))
        if error is None:
            root.run.mark_completed()
        elif type(error).__name__ in _INTERRUPTS:
            root.run.metadata["interrupted"] = True
            root.run.mark_cancelled()
        else:
            root.run.mark_failed(_error_text(error))
        writes.append(call(SessionStore.upsert_run, self.session_id, root.run))
        return writes

    def _emit(self, root_id: UUID | None, event: SessionEvent, *, defer: bool) -> list[Write]:
        with self._lock:
            root = self._roots.get(root_id) if root_id is not None else None
            if root is not None and (defer or root.deferred):
                root.deferred.append(event)
                return []
        return [call(SessionStore.append_events, self.session_id, [event])]

    # ------------------------------------------------------------------ chains
    def chain_start(
        self, serialized: Mapping[str, Any] | None, run_id: UUID, parent_run_id: UUID | None, kwargs: Mapping[str, Any]
    ) -> list[Write]:
        name = kwargs.get("name") or (serialized or {}).get("name") or "chain"
        return self._enter(run_id, parent_run_id, str(name), "chain")

    def chain_end(self, run_id: UUID) -> list[Write]:
        return self._exit(run_id)

    def chain_error(self, error: BaseException, run_id: UUID) -> list[Write]:
        return self._exit(run_id, error)

    # ------------------------------------------------------------------ models
    def model_start(
        self,
        serialized: Mapping[str, Any] | None,
        messages: Sequence[Sequence[BaseMessage]] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: Mapping[str, Any],
    ) -> list[Write]:
        model = _model_name(serialized, kwargs)
        writes = self._enter(run_id, parent_run_id, model or "model", "model")
        first = messages[0] if messages else []
        # No id on a user-side message: a history (RunnableWithMessageHistory) writes it after
        # the model returns; waiting for the end of the run keeps the question before the answer.
        defer = messages is None or any(m.id is None for m in first if not isinstance(m, SystemMessage))
        with self._lock:
            self._models[run_id] = _ModelCall(model=model, started=time.perf_counter(), defer=defer)
        return writes

    def model_end(self, response: LLMResult, run_id: UUID) -> list[Write]:
        with self._lock:
            call = self._models.pop(run_id, None)
            root_id = self._root_of.get(run_id)
            task_id = self._roots[root_id].run.id if root_id in self._roots else None
        writes: list[Write] = []
        event = self._model_event(response, run_id, call, task_id)
        if event is not None:
            with self._lock:
                root = self._roots.get(root_id) if root_id is not None else None
                if root is not None:
                    root.calls.update(tool_calls_of([event]))
            if not event.message.get("tool_calls"):
                # An output parser may hand a history this reply without its id: let it find it.
                replies.record(self.store, self.session_id, event, task_id)
            writes += self._emit(root_id, event, defer=call.defer if call else True)
        return writes + self._exit(run_id)

    def _model_event(
        self, response: LLMResult, run_id: UUID, call: _ModelCall | None, task_id: str | None
    ) -> SessionEvent | None:
        generations = response.generations[0] if response.generations else []
        if not generations:
            return None
        generation = generations[0]
        model = call.model if call else ""
        duration = round((time.perf_counter() - call.started) * 1000, 3) if call else None
        if isinstance(generation, ChatGeneration):
            event = _convert.message_to_event(generation.message, task_id=task_id)
        else:  # a text LLM: its output has no message id, LangChain's run id stands in
            event = make_message_event("assistant", generation.text, event_id=f"lc_run-{run_id}", task_id=task_id)
        if event.token_usage is None:
            event.token_usage = _convert.usage_from_llm_output(response.llm_output, model)
        elif not event.token_usage.model and model:
            event.token_usage = event.token_usage.model_copy(update={"model": model, "estimated_cost_usd": None})
            event.token_usage.calculate_cost()
        if duration is not None:
            event.metadata["duration_ms"] = duration
        if model:
            event.metadata.setdefault("model", model)
        return event

    def model_error(self, error: BaseException, run_id: UUID) -> list[Write]:
        with self._lock:
            self._models.pop(run_id, None)
        return self._exit(run_id, error)

    # ------------------------------------------------------------------ tools
    def tool_start(
        self,
        serialized: Mapping[str, Any] | None,
        input_str: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: Mapping[str, Any],
    ) -> list[Write]:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        writes = self._enter(run_id, parent_run_id, name, "tool")
        inputs = kwargs.get("inputs")
        if isinstance(inputs, Mapping):
            arguments = dict(inputs)
        else:
            try:
                parsed = json.loads(input_str)
            except (TypeError, ValueError):
                parsed = None
            arguments = parsed if isinstance(parsed, dict) else {"input": input_str}
        call_id = kwargs.get("tool_call_id")
        with self._lock:
            self._tools[run_id] = _ToolCall(
                name=name,
                arguments=arguments,
                tool_call_id=str(call_id) if call_id else None,
                started=time.perf_counter(),
            )
        return writes

    def _tool_context(self, run_id: UUID) -> tuple[_ToolCall | None, UUID | None, str | None, dict[str, AskedCall]]:
        with self._lock:
            call = self._tools.pop(run_id, None)
            root_id = self._root_of.get(run_id)
            root = self._roots.get(root_id) if root_id is not None else None
            return call, root_id, root.run.id if root else None, dict(root.calls) if root else {}

    def tool_end(self, output: Any, run_id: UUID) -> list[Write]:
        call, root_id, task_id, calls = self._tool_context(run_id)
        duration = round((time.perf_counter() - call.started) * 1000, 3) if call else None
        name = call.name if call else "tool"
        args = call.arguments if call else {}
        if isinstance(output, ToolMessage) and output.tool_call_id:
            asked = calls.get(output.tool_call_id)
            event = _convert.message_to_event(
                output,
                parent_event_id=asked.event_id if asked else None,
                arguments=(asked.arguments if asked else None) or args,
                task_id=task_id,
                duration_ms=duration,
            )
            if not event.message.get("name"):
                event.message["name"] = name
        else:
            call_id = (call.tool_call_id if call else None) or str(run_id)
            asked = calls.get(call_id)
            result = output.content if isinstance(output, BaseMessage) else output
            if not isinstance(result, (str, int, float, bool, list, dict, type(None))):
                result = str(result)
            event = make_tool_call_event(
                name,
                args,
                call_id,
                result=result,
                parent_event_id=asked.event_id if asked else None,
                duration_ms=duration,
                task_id=task_id,
            )
        return self._emit(root_id, event, defer=False) + self._exit(run_id)

    def tool_error(self, error: BaseException, run_id: UUID, kwargs: Mapping[str, Any]) -> list[Write]:
        call, root_id, task_id, calls = self._tool_context(run_id)
        duration = round((time.perf_counter() - call.started) * 1000, 3) if call else None
        call_id = str(kwargs.get("tool_call_id") or (call.tool_call_id if call else None) or run_id)
        asked = calls.get(call_id)
        parent = asked.event_id if asked else None
        event = make_tool_call_event(
            call.name if call else "tool",
            call.arguments if call else {},
            call_id,
            error=_error_text(error),
            parent_event_id=parent,
            duration_ms=duration,
            task_id=task_id,
        )
        return self._emit(root_id, event, defer=False) + self._exit(run_id, error)


class _HandlerBase:
    _recorder: _Recorder

    @property
    def session_id(self) -> str:
        """The session this handler records into."""
        return self._recorder.session_id

    @property
    def store(self) -> SessionStore:
        """The store this handler writes to (the provider's default now, if none was given)."""
        return self._recorder.store

    def task_id_for(self, run_id: UUID | None) -> str | None:
        """Return the SessionRun id of the top-level run that ``run_id`` belongs to.

        Args:
            run_id: A LangChain run id seen by this handler.

        Returns:
            The run's id, or None when the run is unknown or already ended.
        """
        return self._recorder.task_id_for(run_id)


class SessionCallbackHandler(_HandlerBase, BaseCallbackHandler):
    """Record runs, model calls (usage, cost) and tool calls of LangChain runs in a session.

    Pass it in a run's config (``chain.invoke(x, config={"callbacks": [handler]})``)
    or to ``create_agent(...).invoke(..., config=...)``. Works in sync and async runs
    (LangChain runs sync handlers of async runs in a worker thread, so store I/O never
    blocks the loop); one handler may serve concurrent invocations. Errors of the
    store are raised, not hidden (``raise_error = True``). See the module docstring
    for what is written.

    Args:
        session_id: The session to record into (created on first write).
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    raise_error = True

    def __init__(self, session_id: str, store: SessionStore | None = None) -> None:
        super().__init__()
        self._recorder = _Recorder(session_id, store)

    def _apply(self, writes: list[Write]) -> None:
        store = self.store  # resolved once per callback: its writes go to one store
        for write in writes:
            ops.run(store, write)

    def on_chain_start(
        self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Start a SessionRun when this is a top-level chain."""
        self._apply(self._recorder.chain_start(serialized, run_id, parent_run_id, kwargs))

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the SessionRun (COMPLETED) when this is a top-level chain."""
        self._apply(self._recorder.chain_end(run_id))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the SessionRun (FAILED) when this is a top-level chain."""
        self._apply(self._recorder.chain_error(error, run_id))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the model call (model name, start time)."""
        self._apply(self._recorder.model_start(serialized, messages, run_id, parent_run_id, kwargs))

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note a text-LLM call."""
        self._apply(self._recorder.model_start(serialized, None, run_id, parent_run_id, kwargs))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the model's message with its usage and cost."""
        self._apply(self._recorder.model_end(response, run_id))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the failed model call (its run fails with the chain that raised)."""
        self._apply(self._recorder.model_error(error, run_id))

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the tool call (name, arguments, ``tool_call_id``)."""
        self._apply(self._recorder.tool_start(serialized, input_str, run_id, parent_run_id, kwargs))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the tool call and its result."""
        self._apply(self._recorder.tool_end(output, run_id))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the tool call and its error."""
        self._apply(self._recorder.tool_error(error, run_id, kwargs))


class AsyncSessionCallbackHandler(_HandlerBase, AsyncCallbackHandler):
    """Async twin of `SessionCallbackHandler`: the same records, written with the store's async API.

    Use it in async applications (``await chain.ainvoke(...)``); in sync runs LangChain
    drives it through its own event loop helper, so prefer ``SessionCallbackHandler`` there.

    Args:
        session_id: The session to record into (created on first write).
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    raise_error = True

    def __init__(self, session_id: str, store: SessionStore | None = None) -> None:
        super().__init__()
        self._recorder = _Recorder(session_id, store)

    async def _apply(self, writes: list[Write]) -> None:
        store = self.store  # resolved once per callback: its writes go to one store
        for write in writes:
            await ops.arun(store, write)

    async def on_chain_start(
        self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Start a SessionRun when this is a top-level chain."""
        await self._apply(self._recorder.chain_start(serialized, run_id, parent_run_id, kwargs))

    async def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the SessionRun (COMPLETED) when this is a top-level chain."""
        await self._apply(self._recorder.chain_end(run_id))

    async def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the SessionRun (FAILED) when this is a top-level chain."""
        await self._apply(self._recorder.chain_error(error, run_id))

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the model call (model name, start time)."""
        await self._apply(self._recorder.model_start(serialized, messages, run_id, parent_run_id, kwargs))

    async def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note a text-LLM call."""
        await self._apply(self._recorder.model_start(serialized, None, run_id, parent_run_id, kwargs))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the model's message with its usage and cost."""
        await self._apply(self._recorder.model_end(response, run_id))

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the failed model call (its run fails with the chain that raised)."""
        await self._apply(self._recorder.model_error(error, run_id))

    async def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the tool call (name, arguments, ``tool_call_id``)."""
        await self._apply(self._recorder.tool_start(serialized, input_str, run_id, parent_run_id, kwargs))

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the tool call and its result."""
        await self._apply(self._recorder.tool_end(output, run_id))

    async def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the tool call and its error."""
        await self._apply(self._recorder.tool_error(error, run_id, kwargs))


def current_task_id(session_id: str, store: SessionStore) -> str | None:
    """The run id a session handler has open for the LangChain run executing now, if any.

    Looks at the callbacks of the current LangChain context (a contextvar LangChain
    sets while a runnable runs) for a handler recording ``session_id`` into ``store``.
    ``SessionChatMessageHistory`` uses it to stamp ``task_id`` on what it writes.

    Args:
        session_id: The session.
        store: The store (the same object the handler writes to).

    Returns:
        The SessionRun id, or None.
    """
    config = var_child_runnable_config.get()
    if not config:
        return None
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        handlers: list[Any] = list(callbacks.handlers) + list(callbacks.inheritable_handlers)
        parent = callbacks.parent_run_id
    else:
        return None
    for handler in handlers:
        if isinstance(handler, _HandlerBase) and handler.session_id == session_id and handler.store is store:
            task_id = handler.task_id_for(parent)
            if task_id is not None:
                return task_id
    return None
