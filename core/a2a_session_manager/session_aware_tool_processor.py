"""Run the tool calls a model asked for and record them in a session.

``SessionAwareToolProcessor.process_llm_message`` takes a model reply (an OpenAI-style
message dict, an object with ``.tool_calls`` such as LangChain's ``AIMessage``, or text
holding a bare JSON tool call), validates each call against the registered tool's
signature, runs the calls concurrently with a per-call timeout, and records everything
inside one :class:`SessionRun`:

* the reply as a MESSAGE event (role ``assistant``, source LLM, neutral ``tool_calls``);
* each call as a TOOL_CALL event (``make_tool_call_event``: name, arguments, result or
  error, ``tool_call_id``, ``duration_ms``, ``metadata["parent_event_id"]``);
* each re-ask of the model as a REFERENCE event (kept in the log, never rendered into
  prompts).

Every event carries ``task_id == run.id``; writes are single appends and run upserts,
never whole-session rewrites. Tools need no outside package: plain functions (sync or
async), LangChain tools and LlamaIndex tools are recognised by their shape.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.exceptions import SessionNotFoundError, ToolProcessingError
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.storage import resolve
from a2a_session_manager.storage.base import SessionStore

__all__ = ["DEFAULT_RETRY_PROMPT", "LLMCallFn", "SessionAwareToolProcessor", "ToolResult"]

DEFAULT_RETRY_PROMPT = (
    "Your previous reply did not contain a valid tool call. Reply again with a tool call "
    "that names one of the available tools ({tools}) and gives its arguments as a JSON object."
)
"""Prompt sent back to the model when no valid call came; ``{tools}`` lists the tool names."""

LLMCallFn = Callable[..., Any]
"""``llm_call_fn(prompt) -> reply`` (sync or async), used to re-ask the model."""


class ToolResult(BaseModel):
    """The outcome of one tool call.

    Attributes:
        tool: Name of the tool the model asked for.
        arguments: Arguments it was called with.
        result: What the tool returned (JSON-safe), or None on error.
        error: Error text when the call was invalid, raised or timed out.
        tool_call_id: The call's id (the model's, or ``call_<uuid>`` when it gave none).
        duration_ms: Wall time of the call in milliseconds (None when it never ran).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    tool_call_id: str = ""
    duration_ms: float | None = None

    @property
    def ok(self) -> bool:
        """True when the call ran and returned without error."""
        return self.error is None


# ---------------------------------------------------------------------------- tools
@dataclass
class _Tool:
    """One registered tool, whatever its origin, behind one async call."""

    name: str
    target: Any
    kind: str  # "function" | "langchain" | "llamaindex"

    def check(self, arguments: dict[str, Any]) -> str | None:
        """Return why ``arguments`` do not fit the tool, or None when they do."""
        schema = None
        if self.kind == "langchain":
            schema = getattr(self.target, "args_schema", None)
        elif self.kind == "llamaindex":
            schema = getattr(getattr(self.target, "metadata", None), "fn_schema", None)
        if schema is not None and hasattr(schema, "model_validate"):
            try:
                schema.model_validate(arguments)
            except (ValueError, TypeError) as exc:
                return f"invalid arguments for tool {self.name!r}: {_short(exc)}"
            return None
        fn = self._signature_target()
        if fn is None:
            return None
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        try:
            signature.bind(**arguments)
        except TypeError as exc:
            return f"invalid arguments for tool {self.name!r}: {exc}"
        return None

    def _signature_target(self) -> Callable[..., Any] | None:
        if self.kind == "function":
            return self.target  # type: ignore[no-any-return]
        if self.kind == "llamaindex":
            fn = getattr(self.target, "fn", None) or getattr(self.target, "async_fn", None)
            return fn if callable(fn) else None
        fn = getattr(self.target, "coroutine", None) or getattr(self.target, "func", None)
        return fn if callable(fn) else None

    async def call(self, arguments: dict[str, Any]) -> Any:
        """Run the tool with ``arguments`` (sync tools run in a worker thread)."""
        target = self.target
        if self.kind == "langchain":
            if hasattr(target, "ainvoke"):
                return await target.ainvoke(dict(arguments))
            return await asyncio.to_thread(target.invoke, dict(arguments))
        if self.kind == "llamaindex":
            if hasattr(target, "acall"):
                output = await target.acall(**arguments)
            else:
                output = await asyncio.to_thread(target.call, **arguments)
            if getattr(output, "is_error", False):
                raise RuntimeError(str(getattr(output, "content", output)))
            raw = getattr(output, "raw_output", None)
            return raw if raw is not None else getattr(output, "content", output)
        if _is_async_callable(target):
            return await target(**arguments)
        result = await asyncio.to_thread(target, **arguments)
        if inspect.isawaitable(result):
            result = await result
        return result


def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = None if inspect.isfunction(fn) else inspect.getattr_static(type(fn), "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def _tool_from(obj: Any, name: str | None = None) -> _Tool:
    metadata = getattr(obj, "metadata", None)
    if (
        metadata is not None
        and isinstance(getattr(metadata, "name", None), str)
        and (hasattr(obj, "acall") or hasattr(obj, "call"))
    ):
        return _Tool(name or str(metadata.name), obj, "llamaindex")
    if isinstance(getattr(obj, "name", None), str) and (hasattr(obj, "ainvoke") or hasattr(obj, "invoke")):
        return _Tool(name or str(obj.name), obj, "langchain")
    if callable(obj):
        tool_name = name or getattr(obj, "__name__", None)
        if not isinstance(tool_name, str) or not tool_name or tool_name == "<lambda>":
            raise ValueError(f"cannot name tool {obj!r}: register it in a mapping {{name: callable}}")
        return _Tool(tool_name, obj, "function")
    raise TypeError(
        f"tool {obj!r} is not callable, a LangChain tool (.name, ainvoke) or a LlamaIndex tool (.metadata.name, acall)"
    )


def _registry(tools: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, _Tool]:
    if tools is None:
        return {}
    out: dict[str, _Tool] = {}
    if isinstance(tools, Mapping):
        for name, obj in tools.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"tool names must be non-empty strings, not {name!r}")
            out[name] = _tool_from(obj, name)
        return out
    if isinstance(tools, (str, bytes)):
        raise TypeError("tools must be a mapping name -> callable or a list of tools, not a string")
    for obj in tools:
        tool = _tool_from(obj)
        if tool.name in out:
            raise ValueError(f"two tools are named {tool.name!r}; register them in a mapping with distinct names")
        out[tool.name] = tool
    return out


# ---------------------------------------------------------------------------- parsing
@dataclass
class _Call:
    name: str
    arguments: dict[str, Any]
    tool_call_id: str
    problem: str | None = None  # why the call cannot run, found while parsing


@dataclass
class _Reply:
    content: Any
    calls: list[_Call]
    message_id: str | None
    usage: TokenUsage | None


_JSON_BLOCK = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    head = text[0] if text else type(exc).__name__
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors()
            parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in items]
            return "; ".join(parts) or head
        except (TypeError, ValueError, AttributeError):
            return head
    return head


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _parse_arguments(raw: Any, name: str) -> tuple[dict[str, Any], str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return {"__raw__": raw}, f"arguments of tool {name!r} are not valid JSON: {exc}"
        if isinstance(value, dict):
            return value, None
        return {"__raw__": raw}, f"arguments of tool {name!r} must be a JSON object, not {type(value).__name__}"
    return {"__raw__": str(raw)}, f"arguments of tool {name!r} must be a JSON object"


def _call_from(item: Any) -> _Call | None:
    call_id = _get(item, "id")
    fn = _get(item, "function")
    if fn is not None:
        name, raw_args = _get(fn, "name"), _get(fn, "arguments")
    else:
        name = _get(item, "name")
        raw_args = _get(item, "arguments")
        if raw_args is None:
            raw_args = _get(item, "args")  # LangChain's ToolCall
        if raw_args is None:
            raw_args = _get(item, "parameters")
    if not isinstance(name, str) or not name:
        return None
    arguments, problem = _parse_arguments(raw_args, name)
    return _Call(name, arguments, str(call_id) if call_id else "", problem)


def _calls_from_list(items: Any) -> list[_Call]:
    calls = []
    if isinstance(items, (list, tuple)):
        for item in items:
            call = _call_from(item)
            if call is not None:
                calls.append(call)
    return calls


def _calls_from_text(text: str) -> list[_Call]:
    candidates = [m.group(1) for m in _JSON_BLOCK.finditer(text)]
    stripped = text.strip()
    if not candidates and stripped[:1] in "{[":
        candidates = [stripped]
    calls: list[_Call] = []
    for block in candidates:
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if isinstance(value, dict) and "tool_calls" in value:
            calls.extend(_calls_from_list(value["tool_calls"]))
        elif isinstance(value, dict):
            call = _call_from(value)
            if call is not None:
                calls.append(call)
        elif isinstance(value, list):
            calls.extend(_calls_from_list(value))
    return calls


def _usage_from(obj: Any) -> TokenUsage | None:
    meta = _get(obj, "usage_metadata")
    if isinstance(meta, Mapping) and ("input_tokens" in meta or "output_tokens" in meta):
        return TokenUsage(
            prompt_tokens=int(meta.get("input_tokens") or 0),
            completion_tokens=int(meta.get("output_tokens") or 0),
            origin="reported",
        )
    usage = _get(obj, "usage")
    if usage is not None:
        prompt, completion = _get(usage, "prompt_tokens"), _get(usage, "completion_tokens")
        if isinstance(prompt, int) or isinstance(completion, int):
            return TokenUsage(
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                model=str(_get(obj, "model") or ""),
                origin="reported",
            )
    return None


def _parse_reply(reply: Any) -> _Reply:
    usage = _usage_from(reply)
    choices = _get(reply, "choices")
    if isinstance(choices, (list, tuple)) and choices:  # a whole chat-completion response
        message = _get(choices[0], "message")
        if message is not None:
            parsed = _parse_reply(message)
            parsed.usage = parsed.usage or usage
            return parsed
    if isinstance(reply, str):
        return _Reply(reply, _calls_from_text(reply), None, usage)
    content = _get(reply, "content")
    calls = _calls_from_list(_get(reply, "tool_calls"))
    if not calls:
        additional = _get(reply, "additional_kwargs")  # LlamaIndex / older LangChain messages
        if isinstance(additional, Mapping):
            calls = _calls_from_list(additional.get("tool_calls"))
    if not calls and isinstance(reply, Mapping) and "name" in reply and ("arguments" in reply or "args" in reply):
        single = _call_from(reply)
        calls = [single] if single is not None else []
        content = None
    if not calls and isinstance(content, str):
        calls = _calls_from_text(content)
    message_id = None if isinstance(reply, Mapping) else _get(reply, "id")
    return _Reply(content, calls, message_id if isinstance(message_id, str) and message_id else None, usage)


def _json_safe(value: Any) -> Any:
    if hasattr(value, "model_dump") and callable(value.model_dump):
        try:
            value = value.model_dump(mode="json")
        except (TypeError, ValueError):
            return str(value)
    content = getattr(value, "content", None)
    if type(value).__name__ == "ToolMessage" and content is not None:
        value = content
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _content_for_event(content: Any) -> Any:
    if content is None or isinstance(content, (str, list)):
        return content if content is not None else ""
    return str(content)


# ---------------------------------------------------------------------------- processor
class SessionAwareToolProcessor:
    """Run a model's tool calls and record the turn, each call and the run in a session.

    Args:
        session_id: Session to record in (created by the first write when the store
            does not hold it).
        tools: A mapping name -> callable, or a list of callables (named by
            ``__name__``), LangChain tools (``.name``, ``ainvoke``) or LlamaIndex tools
            (``.metadata.name``, ``acall``); sync or async.
        max_llm_retries: How many times to re-ask the model when a reply holds no
            valid call.
        llm_retry_prompt: What to send when re-asking (default: ``DEFAULT_RETRY_PROMPT``
            with the tool names).
        store: Store to write to (default: ``SessionStoreProvider.get_store()`` at call time).
        timeout: Seconds each tool call may take before it is recorded as timed out.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
        TypeError: A tool is neither callable nor a recognised tool object.
        ValueError: Two tools share a name, or a tool cannot be named.

    Example:
        >>> processor = SessionAwareToolProcessor("s1", tools={"add": lambda a, b: a + b})
    """

    def __init__(
        self,
        session_id: str,
        tools: Mapping[str, Any] | Iterable[Any] | None = None,
        max_llm_retries: int = 2,
        llm_retry_prompt: str | None = None,
        store: SessionStore | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.session_id = check_session_id(session_id)
        if not isinstance(max_llm_retries, int) or isinstance(max_llm_retries, bool) or max_llm_retries < 0:
            raise ValueError(f"max_llm_retries must be an int >= 0, not {max_llm_retries!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
        self._tools = _registry(tools)
        self.max_llm_retries = max_llm_retries
        self.llm_retry_prompt = llm_retry_prompt
        self.timeout = float(timeout)
        self._store = store

    @classmethod
    async def create(
        cls,
        session_id: str,
        tools: Mapping[str, Any] | Iterable[Any] | None = None,
        max_llm_retries: int = 2,
        llm_retry_prompt: str | None = None,
        store: SessionStore | None = None,
        timeout: float = 30.0,
    ) -> SessionAwareToolProcessor:
        """Create a processor for a session that must already exist (0.1.x's factory).

        Args:
            session_id: The session.
            tools: See the class.
            max_llm_retries: See the class.
            llm_retry_prompt: See the class.
            store: See the class.
            timeout: See the class.

        Returns:
            The processor.

        Raises:
            SessionNotFoundError: The store does not hold the session.
        """
        processor = cls(session_id, tools, max_llm_retries, llm_retry_prompt, store, timeout)
        if await processor.store.aget(processor.session_id) is None:
            raise SessionNotFoundError(
                f"session {session_id!r} does not exist; save it before creating a tool processor",
                session_id=session_id,
            )
        return processor

    @property
    def store(self) -> SessionStore:
        """The store written to (the configured default when none was given)."""
        return resolve(self._store)

    @property
    def tool_names(self) -> list[str]:
        """Names of the registered tools."""
        return list(self._tools)

    def register_tool(self, tool: Any, name: str | None = None) -> None:
        """Add (or replace) one tool.

        Args:
            tool: A callable, LangChain tool or LlamaIndex tool.
            name: Name to register it under (default: the tool's own name).
        """
        entry = _tool_from(tool, name)
        self._tools[entry.name] = entry

    # ------------------------------------------------------------------ main entry
    async def process_llm_message(self, llm_response: Any, llm_call_fn: LLMCallFn | None = None) -> list[ToolResult]:
        """Run the tool calls of a model reply and record the turn inside a SessionRun.

        Calls that name no registered tool or whose arguments do not fit the tool's
        signature are recorded as errors without running. When a reply holds no valid
        call, the model is re-asked with ``llm_call_fn(llm_retry_prompt)`` up to
        ``max_llm_retries`` times.

        Args:
            llm_response: An OpenAI-style message dict (``tool_calls`` with
                ``function: {name, arguments: JSON str}`` or ``{name, arguments: dict}``),
                a chat-completion response, an object with ``.tool_calls`` (LangChain's
                ``AIMessage``), or text holding a JSON tool call (```` ```json {"name",
                "arguments"}``` ````).
            llm_call_fn: ``fn(prompt) -> reply``, sync or async, used to re-ask the model.

        Returns:
            One result per call of the reply that was executed (output or error).

        Raises:
            ToolProcessingError: No valid call came after the retries (the run is FAILED).
            StorageError: The store failed.
        """
        store = self.store
        sid = self.session_id
        run = SessionRun(metadata={"kind": "tool_processing", "tools": self.tool_names})
        run.mark_running()
        await store.aupsert_run(sid, run)
        used_ids: set[str] = set()
        reply: Any = llm_response
        attempt = 0
        try:
            while True:
                results = await self._handle_reply(store, reply, run, used_ids, attempt)
                if results is not None:
                    run.mark_completed()
                    await store.aupsert_run(sid, run)
                    return results
                if attempt >= self.max_llm_retries or llm_call_fn is None:
                    why = (
                        f"session {sid!r}: no valid tool call after {attempt + 1} "
                        f"model repl{'y' if attempt == 0 else 'ies'}"
                        + ("" if llm_call_fn is not None else " (no llm_call_fn to re-ask the model)")
                        + f"; registered tools: {', '.join(self.tool_names) or 'none'}"
                    )
                    raise ToolProcessingError(why, session_id=sid)
                attempt += 1
                prompt = self._retry_prompt()
                await store.aappend_event(
                    sid,
                    SessionEvent(
                        message={"retry_prompt": prompt, "attempt": attempt},
                        source=EventSource.SYSTEM,
                        type=EventType.REFERENCE,
                        task_id=run.id,
                        metadata={"retry": attempt},
                    ),
                )
                reply = await _call_maybe_async(llm_call_fn, prompt)
        except BaseException as exc:
            if run.is_active:
                if isinstance(exc, asyncio.CancelledError):
                    run.mark_cancelled()
                else:
                    run.mark_failed(f"{type(exc).__name__}: {exc}")
                await asyncio.shield(store.aupsert_run(sid, run))
            raise

    def _retry_prompt(self) -> str:
        if self.llm_retry_prompt is not None:
            return self.llm_retry_prompt
        return DEFAULT_RETRY_PROMPT.format(tools=", ".join(self.tool_names) or "none registered")

    async def _handle_reply(
        self, store: SessionStore, reply: Any, run: SessionRun, used_ids: set[str], attempt: int
    ) -> list[ToolResult] | None:
        """Record one reply and run its calls; None when it held no valid call."""
        if "process_text" in self.__dict__:
            return await self._handle_with_process_text(store, reply, run, used_ids, attempt)
        parsed = _parse_reply(reply)
        for call in parsed.calls:
            call.tool_call_id = self._fresh_id(call.tool_call_id, used_ids)
            if call.problem is None:
                tool = self._tools.get(call.name)
                if tool is None:
                    known = ", ".join(self.tool_names) or "none"
                    call.problem = f"unknown tool {call.name!r} (registered: {known})"
                else:
                    call.problem = tool.check(call.arguments)
        parent = await self._record_reply(store, parsed, run, attempt)
        valid = [c for c in parsed.calls if c.problem is None]
        invalid = [c for c in parsed.calls if c.problem is not None]
        invalid_results = [
            ToolResult(tool=c.name, arguments=c.arguments, error=c.problem, tool_call_id=c.tool_call_id)
            for c in invalid
        ]
        if invalid_results:
            await store.aappend_events(
                self.session_id, [self._tool_event(r, parent.id, run, attempt) for r in invalid_results]
            )
        if not valid:
            return None
        executed = await asyncio.gather(*(self._execute(store, c, parent.id, run, attempt) for c in valid))
        by_id = {r.tool_call_id: r for r in [*executed, *invalid_results]}
        return [by_id[c.tool_call_id] for c in parsed.calls]

    async def _handle_with_process_text(
        self, store: SessionStore, reply: Any, run: SessionRun, used_ids: set[str], attempt: int
    ) -> list[ToolResult] | None:
        """0.1.3 compatibility: ``processor.process_text = fn(text)`` executes the calls."""
        process_text = self.__dict__["process_text"]
        text = reply if isinstance(reply, str) else json.dumps(_json_safe(reply))
        parsed = _parse_reply(reply)
        started = time.perf_counter()
        raw_results = await _call_maybe_async(process_text, text)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        results: list[ToolResult] = []
        for index, raw in enumerate(list(raw_results or [])):
            data = raw.model_dump() if hasattr(raw, "model_dump") else raw
            name = _get(data, "tool") or _get(data, "name") or _get(raw, "tool")
            arguments = _get(data, "arguments") or _get(data, "args") or {}
            matching = parsed.calls[index] if index < len(parsed.calls) else None
            call_id = str(_get(data, "tool_call_id") or _get(data, "call_id") or "")
            if not call_id and matching is not None and matching.name == name:
                call_id = matching.tool_call_id
            error = _get(data, "error")
            results.append(
                ToolResult(
                    tool=str(name or "tool"),
                    arguments=dict(arguments) if isinstance(arguments, Mapping) else {"__raw__": str(arguments)},
                    result=None if error else _json_safe(_get(data, "result")),
                    error=str(error) if error else None,
                    tool_call_id=self._fresh_id(call_id, used_ids),
                    duration_ms=elapsed_ms,
                )
            )
        parsed.calls = [_Call(r.tool, r.arguments, r.tool_call_id) for r in results]
        parent = await self._record_reply(store, parsed, run, attempt)
        if not results:
            return None
        await store.aappend_events(self.session_id, [self._tool_event(r, parent.id, run, attempt) for r in results])
        return results

    @staticmethod
    def _fresh_id(call_id: str, used_ids: set[str]) -> str:
        # A tool call id names its TOOL_CALL event (``tool:<id>``); a model that repeats an
        # id within one run (common with fakes and retries) must not make us drop a call.
        if not call_id or call_id in used_ids:
            call_id = f"call_{uuid4().hex}"
        used_ids.add(call_id)
        return call_id

    async def _record_reply(self, store: SessionStore, parsed: _Reply, run: SessionRun, attempt: int) -> SessionEvent:
        event = make_message_event(
            "assistant",
            _content_for_event(parsed.content),
            tool_calls=[{"id": c.tool_call_id, "name": c.name, "arguments": c.arguments} for c in parsed.calls],
            event_id=parsed.message_id if attempt == 0 else None,
            token_usage=parsed.usage,
            task_id=run.id,
            metadata={"contains_tool_calls": bool(parsed.calls), "attempt": attempt},
        )
        await store.aappend_event(self.session_id, event)
        return event

    def _tool_event(self, result: ToolResult, parent_id: str, run: SessionRun, attempt: int) -> SessionEvent:
        return make_tool_call_event(
            result.tool,
            result.arguments,
            result.tool_call_id,
            result=result.result,
            error=result.error,
            parent_event_id=parent_id,
            duration_ms=result.duration_ms,
            task_id=run.id,
            metadata={"attempt": attempt},
        )

    async def _execute(
        self, store: SessionStore, call: _Call, parent_id: str, run: SessionRun, attempt: int
    ) -> ToolResult:
        tool = self._tools[call.name]
        started = time.perf_counter()
        result: Any = None
        error: str | None = None
        try:
            result = _json_safe(await asyncio.wait_for(tool.call(call.arguments), timeout=self.timeout))
        except TimeoutError:
            error = f"tool {call.name!r} timed out after {self.timeout:g} s"
        except Exception as exc:  # a failing tool is data: recorded and returned, the others still run
            error = f"{type(exc).__name__}: {_short(exc)}"
        outcome = ToolResult(
            tool=call.name,
            arguments=call.arguments,
            result=result,
            error=error,
            tool_call_id=call.tool_call_id,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )
        # Appended as soon as the call ends, so finished calls survive a crash of the others.
        await store.aappend_event(self.session_id, self._tool_event(outcome, parent_id, run, attempt))
        return outcome


async def _call_maybe_async(fn: Callable[..., Any], *args: Any) -> Any:
    if _is_async_callable(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        result = await result
    return result
