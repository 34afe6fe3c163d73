"""The one sync/async driver: operations written once, run with sync or async I/O.

An *operation* is a generator that yields requests and receives their answers, so
its logic is written once and only the I/O differs between the sync and async twins
(httpx's ``auth_flow`` idea, with typed requests)::

    def _op_exists(self, sid: str) -> Op[bool]:
        header = yield from call(SessionStore._read_header, sid)   # header: str | None
        return header is not None

Requests:

- `Call`: one method of the target, by name. ``call(Class.method, *args, **kwargs)``
  builds it; mypy checks the arguments against the method and ``yield from`` gives
  back the method's return type (go-to-definition lands on the method).
- `Gather`: several requests; the answer is the tuple of their answers. The async
  drivers run them concurrently (``asyncio.gather``), the sync ones in order.
- `Emit`: a value handed to the consumer of `iterate` / `aiterate`
  (``yield Emit(item)``); the answer is None.

A *plan* is an operation or a single `Call` (no generator: the cheapest form, used by
the store's append).

Drivers, sync and async twins:

- `run` / `arun` call the target's methods: ``name`` sync, its async twin
  ``"a" + name`` async (``"_a" + name[1:]`` for a private ``_name``).
- `iterate` / `aiterate` drive an operation that emits values, as an iterator.
- `run_primitives` / `arun_primitives` run a store's operations on its primitives
  (``_read_header`` ... ``_aread_header``), translate its driver's errors into typed
  ones, and pick the async form the store declares: native ``_a*`` coroutines
  (Redis), inline (memory, which never blocks), or the whole operation in a worker
  thread (file, SQLite).

An exception a call raises is thrown into the operation at its ``yield``, so an
operation may catch it (``try: x = yield from call(...)``); uncaught, it propagates
to the caller (after the store's translation, for `run_primitives`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from a2a_session_manager.exceptions import SessionManagerError

__all__ = [
    "Backend",
    "Call",
    "Emit",
    "Gather",
    "Op",
    "Plan",
    "Request",
    "Stream",
    "aiterate",
    "arun",
    "arun_primitives",
    "call",
    "done",
    "gather",
    "iterate",
    "run",
    "run_primitives",
]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")
Y = TypeVar("Y")


class Call(Generic[R_co]):
    """One method call by name, answered with the method's result (an ``R_co``).

    Build it with `call`, which types it; ``yield from`` it inside an operation.

    Args:
        name: The method's name on the target (its sync name).
        args: Positional arguments.
        kwargs: Keyword arguments.
    """

    __slots__ = ("args", "kwargs", "name")

    def __init__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Generator[Call[R_co], Any, R_co]:
        # The driver sends the method's result: its type is the method's (call() saw to it).
        answer: R_co = yield self
        return answer

    def __repr__(self) -> str:
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Call({self.name}({', '.join(args)}))"


class Gather(Generic[R_co]):
    """Several requests answered together: concurrently by the async drivers, in order by the sync ones.

    Build it with `gather`.

    Args:
        requests: The requests (calls or gathers).
    """

    __slots__ = ("requests",)

    def __init__(self, requests: tuple[Call[Any] | Gather[Any], ...]) -> None:
        self.requests = requests

    def __iter__(self) -> Generator[Gather[R_co], Any, R_co]:
        answer: R_co = yield self
        return answer

    def __repr__(self) -> str:
        return f"Gather({', '.join(map(repr, self.requests))})"


class Emit(Generic[R_co]):
    """A value an operation hands to the consumer of `iterate` / `aiterate` (``yield Emit(value)``).

    Args:
        value: The value.
    """

    __slots__ = ("value",)

    def __init__(self, value: R_co) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Emit({self.value!r})"


Request = Call[Any] | Gather[Any] | Emit[Any]
"""What an operation yields."""
Op = Generator[Request, Any, T]
"""An operation: yields requests, receives their answers, returns a ``T``."""
Stream = Generator[Call[Any] | Gather[Any] | Emit[Y], Any, None]
"""An operation that emits ``Y`` values (driven by `iterate` / `aiterate`)."""
Plan = Call[T] | Op[T]
"""What the drivers run: an operation, or one call."""


def call(method: Callable[Concatenate[Any, P], R], /, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
    """A typed request to call ``method`` on the driver's target.

    Args:
        method: The method as looked up on its class (``SessionStore.get_events``, not a
            bound method): the driver calls the target's method of that name, and
            its async twin in the async drivers.
        *args: Its positional arguments (after ``self``).
        **kwargs: Its keyword arguments.

    Returns:
        The request; ``yield from`` it to get the method's result.
    """
    return Call(method.__name__, args, kwargs)


@overload
def gather(first: Call[A] | Gather[A], second: Call[B] | Gather[B], /) -> Gather[tuple[A, B]]: ...
@overload
def gather(*requests: Call[R] | Gather[R]) -> Gather[tuple[R, ...]]: ...
def gather(*requests: Call[Any] | Gather[Any]) -> Gather[tuple[Any, ...]]:
    """Several requests answered together, as a tuple in the same order.

    Args:
        *requests: Calls (or gathers, for answers of different types: ``gather(gather(*reads), call(...))``).

    Returns:
        The request; ``yield from`` it to get the answers.
    """
    return Gather(requests)


def done(value: T) -> Op[T]:
    """An operation that needs no I/O and returns ``value`` (for a plan with nothing to do).

    Args:
        value: The result.

    Returns:
        The operation.
    """
    return value
    yield  # a generator with no request


def _async_name(name: str) -> str:
    return "_a" + name[1:] if name[:1] == "_" else "a" + name


def _refuse(request: object) -> TypeError:
    if isinstance(request, Emit):
        return TypeError("an operation emitted a value outside iterate()/aiterate()")
    return TypeError(f"an operation yielded {type(request).__name__}, not a Call, Gather or Emit")


def _do(target: object, request: object) -> Any:
    if type(request) is Call:
        return getattr(target, request.name)(*request.args, **request.kwargs)
    if type(request) is Gather:
        return tuple([_do(target, r) for r in request.requests])
    raise _refuse(request)


async def _ado(target: object, request: object) -> Any:
    if type(request) is Call:
        return await getattr(target, _async_name(request.name))(*request.args, **request.kwargs)
    if type(request) is Gather:
        return tuple(await asyncio.gather(*[_ado(target, r) for r in request.requests]))
    raise _refuse(request)


# ==================================================================== drivers
def run(target: object, plan: Plan[T]) -> T:
    """Run a plan with the target's sync methods.

    Args:
        target: The object whose methods the calls name.
        plan: An operation or one call.

    Returns:
        The operation's result.

    Raises:
        TypeError: The operation emitted a value or yielded something else than a request.
        Exception: Whatever a call raised and the operation did not catch.
    """
    # The hot path (a store's append): keep this loop free of allocations of its own.
    if isinstance(plan, Call):
        answer: T = getattr(target, plan.name)(*plan.args, **plan.kwargs)
        return answer
    op = plan
    try:
        request = next(op)
        while True:
            try:
                if type(request) is Call:
                    result = getattr(target, request.name)(*request.args, **request.kwargs)
                else:
                    result = _do(target, request)
            except Exception as exc:
                request = op.throw(exc)
            else:
                request = op.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def arun(target: object, plan: Plan[T]) -> T:
    """Async twin of `run`: each call awaits the target's async twin (``a<name>``, ``_a<name>``).

    Args:
        target: The object whose methods the calls name.
        plan: An operation or one call.

    Returns:
        The operation's result.

    Raises:
        TypeError: The operation emitted a value or yielded something else than a request.
        Exception: Whatever a call raised and the operation did not catch.
    """
    if isinstance(plan, Call):
        answer: T = await _ado(target, plan)
        return answer
    op = plan
    try:
        request = next(op)
        while True:
            try:
                result = await _ado(target, request)
            except Exception as exc:
                request = op.throw(exc)
            else:
                request = op.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def iterate(target: object, stream: Stream[Y]) -> Generator[Y, None, None]:
    """Drive an emitting operation with the target's sync methods, yielding what it emits.

    The operation advances only as far as the consumer reads; closing the iterator
    closes the operation.

    Args:
        target: The object whose methods the calls name.
        stream: The operation.

    Yields:
        The emitted values, in order.
    """
    try:
        request = next(stream)
        while True:
            if type(request) is Emit:
                yield request.value
                request = stream.send(None)
                continue
            try:
                result = _do(target, request)
            except Exception as exc:
                request = stream.throw(exc)
            else:
                request = stream.send(result)
    except StopIteration:
        return
    finally:
        stream.close()


async def aiterate(target: object, stream: Stream[Y]) -> AsyncGenerator[Y, None]:
    """Async twin of `iterate`.

    Args:
        target: The object whose methods the calls name.
        stream: The operation.

    Yields:
        The emitted values, in order.
    """
    try:
        request = next(stream)
        while True:
            if type(request) is Emit:
                yield request.value
                request = stream.send(None)
                continue
            try:
                result = await _ado(target, request)
            except Exception as exc:
                request = stream.throw(exc)
            else:
                request = stream.send(result)
    except StopIteration:
        return
    finally:
        stream.close()


# ============================================================ a store's primitives
class Backend(Protocol):
    """What `run_primitives` needs of a store (``SessionStore`` has it)."""

    _async_inline: ClassVar[bool]
    """Run operations inline in the async twins (only for stores that never block)."""
    _async_native: ClassVar[bool]
    """The store implements ``_a<primitive>`` coroutines."""
    _driver_errors: tuple[type[BaseException], ...]
    """The driver's exceptions that become typed errors."""

    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        """Turn a driver error into a typed error."""
        ...


def run_primitives(store: Backend, sid: str | None, plan: Plan[T]) -> T:
    """Run a store operation with the store's sync primitives; driver errors become typed.

    Args:
        store: The store.
        sid: The session the operation is about (named in errors), or None.
        plan: An operation or one call of a primitive.

    Returns:
        The operation's result.

    Raises:
        SessionManagerError: Raised by the operation, or a driver error the store wrapped
            (``StorageError`` and its subclasses).
    """
    # The same as ``with store._translate_errors(sid):``, without a context manager's
    # cost on every call (this runs once per store call, appends included).
    try:
        if isinstance(plan, Call):
            answer: T = getattr(store, plan.name)(*plan.args, **plan.kwargs)
            return answer
        return run(store, plan)
    except SessionManagerError:
        raise
    except store._driver_errors as exc:
        raise store._wrap_error(exc, sid) from exc


async def arun_primitives(store: Backend, sid: str | None, plan: Plan[T]) -> T:
    """Async twin of `run_primitives`, in the async form the store declares.

    Native stores await their ``_a<primitive>`` coroutines; inline stores run the
    operation on the loop (it never blocks); the others run the whole operation in a
    worker thread, so the loop never blocks on file or database I/O.

    Args:
        store: The store.
        sid: The session the operation is about (named in errors), or None.
        plan: An operation or one call of a primitive.

    Returns:
        The operation's result.

    Raises:
        SessionManagerError: Raised by the operation, or a driver error the store wrapped.
    """
    if not store._async_native:
        if store._async_inline:
            return run_primitives(store, sid, plan)
        return await asyncio.to_thread(run_primitives, store, sid, plan)
    try:
        return await arun(store, plan)
    except SessionManagerError:
        raise
    except store._driver_errors as exc:
        raise store._wrap_error(exc, sid) from exc
