"""``SessionMiddleware``: record a LangChain v1 agent in a session and fit its prompt to a budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from a2a_session_manager._optional import require

require("langchain.agents.middleware", extra="langchain", feature="SessionMiddleware")

from a2a_session_manager._ids import check_session_id  # noqa: E402
from a2a_session_manager.exceptions import InvalidSessionIdError  # noqa: E402
from a2a_session_manager.messages import AskedCall, make_tool_call_event, tool_calls_of  # noqa: E402
from a2a_session_manager.models.session_event import SessionEvent  # noqa: E402
from a2a_session_manager.models.session_run import SessionRun  # noqa: E402
from a2a_session_manager.storage import SessionStore, resolve  # noqa: E402
from langchain.agents.middleware import AgentMiddleware, AgentState  # noqa: E402
from langchain.agents.middleware.types import ExtendedModelResponse, ModelRequest, ModelResponse  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langgraph.prebuilt.tool_node import ToolCallRequest  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402
from langgraph.types import Command  # noqa: E402

from a2a_session_integrations.langchain import _convert  # noqa: E402

__all__ = ["SessionMiddleware"]

_FALLBACK_MODEL = "gpt-4o"
"""Tokenizer used for budgets when neither ``model=`` nor the agent's model names one."""


def _default_strategy() -> Any:
    prompts = require("a2a_session_manager.prompts", extra="langchain", feature="SessionMiddleware")
    return prompts.PromptStrategy.CONVERSATION


@dataclass
class _SessionState:
    seen: set[str] = field(default_factory=set)
    calls: dict[str, AskedCall] = field(default_factory=dict)
    run: SessionRun | None = None


def _response_messages(response: Any) -> list[BaseMessage]:
    if isinstance(response, AIMessage):
        return [response]
    if isinstance(response, ModelResponse):
        return list(response.result)
    inner = getattr(response, "model_response", None)
    if isinstance(inner, ModelResponse):
        return list(inner.result)
    return []


def _tool_message(result: Any) -> ToolMessage | None:
    if isinstance(result, ToolMessage):
        return result
    update = getattr(result, "update", None)  # a langgraph Command
    if isinstance(update, Mapping):
        for message in update.get("messages") or []:
            if isinstance(message, ToolMessage):
                return message
    return None


def _model_name_of(model: Any) -> str | None:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


_ModelResult = ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]
"""What a model call returns through the middleware chain."""
_ToolResult = ToolMessage | Command[Any]
"""What a tool call returns through the middleware chain."""


class SessionMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Agent middleware that records an agent in a session and fits the model's input to a budget.

    For ``langchain.agents.create_agent(model, tools, middleware=[SessionMiddleware(...)])``.
    Each agent invocation is a ``SessionRun`` (COMPLETED at the end, FAILED when a model
    call raises); each model call records the conversation's new messages and the AI
    reply (usage and cost from the provider's ``usage_metadata``); each tool call is a
    TOOL_CALL event (``tool:<tool_call_id>``, parent = the AI turn, duration, result or
    error). Every event carries ``task_id`` = the run's id, and ids converge with
    ``SessionChatMessageHistory`` and ``SessionCallbackHandler``, so nothing is stored twice.

    With ``max_tokens``, the messages sent to the model are chosen by the core's prompt
    strategy (``a2a_session_manager.prompts.select_events``) to fit the budget as the
    model's tokenizer counts it; a tool call is never separated from its result. The
    agent's state keeps every message; only the model's view is trimmed.

    Args:
        session_id: The session to record into; None takes the run's
            ``config["configurable"]["thread_id"]`` (what a checkpointer uses).
        store: Any SessionStore; None uses the provider's default at each call
            (``a2a_session_manager.storage.resolve``).
        strategy: A ``PromptStrategy`` (default CONVERSATION).
        max_tokens: Token budget of the model's input; None sends every message.
        model: Model name for token counting; None uses the agent model's name (``gpt-4o``'s
            tokenizer when it has none).

    Raises:
        InvalidSessionIdError: ``session_id`` is invalid, or None and the run has no thread id.
    """

    def __init__(
        self,
        session_id: str | None = None,
        store: SessionStore | None = None,
        strategy: Any = None,
        max_tokens: int | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__()
        self.session_id = check_session_id(session_id) if session_id is not None else None
        self._given = store
        self.strategy = strategy if strategy is not None else (_default_strategy() if max_tokens else None)
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
            raise ValueError(f"max_tokens must be a positive int or None, not {max_tokens!r}")
        self.max_tokens = max_tokens
        self.model = model
        self._lock = threading.Lock()
        self._sessions: dict[str, _SessionState] = {}

    @property
    def store(self) -> SessionStore:
        """The store this middleware writes to (the provider's default now, if none was given)."""
        return resolve(self._given)

    # ------------------------------------------------------------------ session
    def _sid(self) -> str:
        if self.session_id is not None:
            return self.session_id
        from langgraph.config import get_config

        try:
            thread_id = (get_config().get("configurable") or {}).get("thread_id")
        except RuntimeError:
            thread_id = None
        if thread_id is None:
            raise InvalidSessionIdError(
                "SessionMiddleware has no session id: pass session_id=... or run the agent with "
                "config={'configurable': {'thread_id': ...}}",
                session_id=None,
            )
        return check_session_id(str(thread_id))

    def _state(self, sid: str) -> _SessionState:
        with self._lock:
            return self._sessions.setdefault(sid, _SessionState())

    def _start_run(self, sid: str) -> SessionRun:
        run = SessionRun(metadata={"name": "agent", "kind": "agent", "framework": "langchain"})
        run.mark_running()
        self._state(sid).run = run
        return run

    def _end_run(self, sid: str, error: BaseException | None = None) -> SessionRun | None:
        state = self._state(sid)
        run = state.run
        if run is None:
            return None
        if error is None:
            run.mark_completed()
            state.run = None
        else:
            run.mark_failed(f"{type(error).__name__}: {error}")
        return run

    def _task_id(self, sid: str) -> str | None:
        run = self._state(sid).run
        return run.id if run is not None else None

    # ------------------------------------------------------------------ events
    def _new_events(self, sid: str, messages: Sequence[BaseMessage]) -> list[SessionEvent]:
        """Events of the messages not yet recorded (messages without an id are not recorded)."""
        state = self._state(sid)
        with self._lock:
            fresh = [m for m in messages if m.id is not None and _convert.event_id_for(m) not in state.seen]
            known = dict(state.calls)
        events = _convert.messages_to_events(fresh, task_id=self._task_id(sid), known_calls=known)
        with self._lock:
            state.seen.update(e.id for e in events)
            state.calls.update(tool_calls_of(events))
        return events

    def _tool_event(
        self, sid: str, request: Any, result: Any, error: BaseException | None, duration_ms: float
    ) -> SessionEvent | None:
        call = request.tool_call
        call_id = call.get("id")
        if not call_id:
            return None
        state = self._state(sid)
        with self._lock:
            asked = state.calls.get(call_id)
        parent = asked.event_id if asked else None
        if error is not None:
            event = make_tool_call_event(
                call.get("name") or "",
                call.get("args") or {},
                call_id,
                error=f"{type(error).__name__}: {error}",
                parent_event_id=parent,
                duration_ms=duration_ms,
                task_id=self._task_id(sid),
            )
        else:
            message = _tool_message(result)
            if message is None:
                return None
            if message.id is None:
                # The id LangGraph's add_messages reducer would give it a moment later: set
                # now, the state and the session hold the same message.
                message.id = str(uuid4())
            event = _convert.message_to_event(
                message,
                parent_event_id=parent,
                arguments=call.get("args") or {},
                task_id=self._task_id(sid),
                duration_ms=duration_ms,
            )
        with self._lock:
            state.seen.add(event.id)
        return event

    # ------------------------------------------------------------------ budget
    def _fit(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        if self.max_tokens is None:
            return request
        prompts = require("a2a_session_manager.prompts", extra="langchain", feature="SessionMiddleware")
        messages = list(request.messages)
        events = _convert.messages_to_events(messages)  # links tool results to their calls
        head: list[SessionEvent] = []
        if request.system_message is not None:
            head = [_convert.message_to_event(request.system_message, event_id="system:prompt")]
        model = self.model or _model_name_of(request.model) or _FALLBACK_MODEL
        chosen = prompts.select_events(head + events, self.strategy, max_tokens=self.max_tokens, model=model)
        keep = {e.id for e in chosen}
        fitted = [m for m, e in zip(messages, events, strict=True) if e.id in keep]
        return request.override(messages=fitted)

    # ------------------------------------------------------------------ hooks (sync)
    def before_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Open a SessionRun for this invocation."""
        sid = self._sid()
        self.store.upsert_run(sid, self._start_run(sid))
        return None

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Record what is left of the conversation and close the run (COMPLETED)."""
        sid = self._sid()
        events = self._new_events(sid, state.get("messages") or [])
        if events:
            self.store.append_events(sid, events)
        run = self._end_run(sid)
        if run is not None:
            self.store.upsert_run(sid, run)
        return None

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> _ModelResult:
        """Record the new messages, call the model on the fitted input, record its reply."""
        sid = self._sid()
        events = self._new_events(sid, request.messages)
        if events:
            self.store.append_events(sid, events)
        try:
            response = handler(self._fit(request))
        except Exception as exc:
            run = self._end_run(sid, exc)
            if run is not None:
                self.store.upsert_run(sid, run)
            raise
        events = self._new_events(sid, _response_messages(response))
        if events:
            self.store.append_events(sid, events)
        return response

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], _ToolResult]
    ) -> _ToolResult:
        """Run the tool and record the call with its result or error."""
        sid = self._sid()
        started = time.perf_counter()
        try:
            result = handler(request)
        except Exception as exc:
            event = self._tool_event(sid, request, None, exc, (time.perf_counter() - started) * 1000)
            if event is not None:
                self.store.append_event(sid, event)
            raise
        event = self._tool_event(sid, request, result, None, (time.perf_counter() - started) * 1000)
        if event is not None:
            self.store.append_event(sid, event)
        return result

    # ------------------------------------------------------------------ hooks (async)
    async def abefore_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async twin of `before_agent`."""
        sid = self._sid()
        await self.store.aupsert_run(sid, self._start_run(sid))
        return None

    async def aafter_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async twin of `after_agent`."""
        sid = self._sid()
        events = self._new_events(sid, state.get("messages") or [])
        if events:
            await self.store.aappend_events(sid, events)
        run = self._end_run(sid)
        if run is not None:
            await self.store.aupsert_run(sid, run)
        return None

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> _ModelResult:
        """Async twin of `wrap_model_call`."""
        sid = self._sid()
        events = self._new_events(sid, request.messages)
        if events:
            await self.store.aappend_events(sid, events)
        try:
            response = await handler(self._fit(request))
        except Exception as exc:
            run = self._end_run(sid, exc)
            if run is not None:
                await self.store.aupsert_run(sid, run)
            raise
        events = self._new_events(sid, _response_messages(response))
        if events:
            await self.store.aappend_events(sid, events)
        return response

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[_ToolResult]]
    ) -> _ToolResult:
        """Async twin of `wrap_tool_call`."""
        sid = self._sid()
        started = time.perf_counter()
        try:
            result = await handler(request)
        except Exception as exc:
            event = self._tool_event(sid, request, None, exc, (time.perf_counter() - started) * 1000)
            if event is not None:
                await self.store.aappend_event(sid, event)
            raise
        event = self._tool_event(sid, request, result, None, (time.perf_counter() - started) * 1000)
        if event is not None:
            await self.store.aappend_event(sid, event)
        return result
