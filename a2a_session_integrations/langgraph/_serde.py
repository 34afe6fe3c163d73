"""The checkpointer's default serializer: LangGraph's format, read back through an allow-list.

Whoever can write the store (a shared Redis, a folder) can plant a record. LangGraph's
``JsonPlusSerializer`` writes values as msgpack whose extension types name a module, a
class and its arguments; by default it imports and calls whatever a record names, revives
LangChain ``{"lc": ...}`` constructor dicts from ``json`` records, and may unpickle. This
serializer writes exactly what ``JsonPlusSerializer`` writes (so data moves freely between
the two) but reads only:

* ``null``, ``bytes``, ``bytearray`` and ``msgpack`` records (``json``, ``pickle`` and
  anything else are refused: this checkpointer never writes them);
* inside msgpack, extension types whose (module, class) is on the allow-list: LangChain
  messages and documents, LangGraph's own values (``Send``, ``Interrupt``, ``Command``,
  ...), datetime / date / time / timedelta / timezone, UUID, Decimal, set / frozenset /
  deque, ZoneInfo, ip addresses, paths, compiled patterns, numpy arrays, and the types
  the user allows (``allowed_types``: a graph's state schema brings its pydantic models,
  dataclasses, enums and named tuples with it), or that LangGraph passes through
  ``with_allowlist`` when ``LANGGRAPH_STRICT_MSGPACK`` is set.

A record naming anything else raises ``RefusedTypeError`` and no constructor of an
unlisted type ever runs: a name is first matched against the allow-list, which maps it
to a class object this process already holds, and no module named by a record is ever
imported. Plain maps (including a LangChain ``{"lc": 1, "type": "constructor" |
"secret", ...}`` dict inside a message) come back as the plain dicts that were stored.
"""

from __future__ import annotations

import dataclasses
import decimal
import importlib
import ipaddress
import logging
import pathlib
import re
import sys
import types
import typing
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

import ormsgpack
from langchain_core import messages as lc_messages
from langchain_core.documents import Document
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.store.base import GetOp, Item
from pydantic import BaseModel
from typing_extensions import is_typeddict

__all__ = ["AllowedType", "RefusedTypeError", "StrictSerializer", "collect_types"]

logger = logging.getLogger(__name__)

AllowedType = type | tuple[str, str]
"""A class, or its ``(module, name)`` as LangGraph's allow-lists spell it."""

# msgpack extension codes of LangGraph's JsonPlusSerializer (langgraph-checkpoint 4.x).
_SINGLE_ARG: Final = 0
_POS_ARGS: Final = 1
_KW_ARGS: Final = 2
_METHOD_SINGLE_ARG: Final = 3
_PYDANTIC_V1: Final = 4
_PYDANTIC_V2: Final = 5
_NUMPY_ARRAY: Final = 6
_DELTA_SNAPSHOT: Final = 7

_READABLE: Final = frozenset({"null", "bytes", "bytearray", "msgpack"})
_NAME_CHARS: Final = 120


class RefusedTypeError(Exception):
    """A stored value names a type (or a record kind) that is not on the allow-list.

    Args:
        what: What was refused, e.g. ``type os.system`` or ``data typed 'json'``.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _printable(text: Any) -> str:
    """Stored text shown in an error: printable, bounded (it may be planted)."""
    shown = repr(str(text))[1:-1]
    return shown if len(shown) <= _NAME_CHARS else shown[:_NAME_CHARS] + "..."


def _key(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__name__)


def _builtin_constructors() -> dict[tuple[str, str], Callable[..., Any]]:
    """The types every graph may hold, by the (module, name) the writer records."""
    classes: list[type] = [
        datetime,
        date,
        time,
        timedelta,
        timezone,
        UUID,
        decimal.Decimal,
        set,
        frozenset,
        deque,
        ZoneInfo,
        ipaddress.IPv4Address,
        ipaddress.IPv4Interface,
        ipaddress.IPv4Network,
        ipaddress.IPv6Address,
        ipaddress.IPv6Interface,
        ipaddress.IPv6Network,
        Document,
        Item,
        GetOp,
    ]
    for name in lc_messages.__all__:  # the package imports its members lazily: ask for each
        member = getattr(lc_messages, name, None)
        if isinstance(member, type) and issubclass(member, lc_messages.BaseMessage):
            classes.append(member)
    from langgraph import types as lg_types

    for name in ("Send", "Interrupt", "Command", "Overwrite", "TimeoutPolicy", "StateSnapshot", "PregelTask"):
        if isinstance(cls := getattr(lg_types, name, None), type):
            classes.append(cls)
    table: dict[tuple[str, str], Callable[..., Any]] = {_key(c): c for c in classes}
    # Paths are written under the concrete class's module, which differs across Python versions.
    for module in ("pathlib", "pathlib._local"):
        for name in ("Path", "PosixPath", "WindowsPath"):
            table[(module, name)] = pathlib.Path
    table[("re", "compile")] = re.compile
    return table


_BUILTINS: Final = _builtin_constructors()
_BUILTIN_KEYS: Final = frozenset(_BUILTINS)


def collect_types(types_: Iterable[AllowedType]) -> tuple[dict[tuple[str, str], type], set[tuple[str, str]]]:
    """The classes a list of allowed types brings, walking each one's declared fields.

    A pydantic model, dataclass, enum or named tuple is allowed with the types its fields
    declare (recursively, through ``list[...]``, ``X | None``, ``Annotated``, TypedDicts
    ...), so passing a graph's state schema allows what the graph declares.

    Args:
        types_: Classes, or ``(module, name)`` pairs.

    Returns:
        ``(classes by (module, name), names given as pairs)``.

    Raises:
        TypeError: An item is neither a class nor a ``(module, name)`` pair of str.
    """
    found: dict[tuple[str, str], type] = {}
    names: set[tuple[str, str]] = set()
    seen: set[int] = set()
    for item in types_:
        if isinstance(item, tuple):
            if len(item) != 2 or not all(isinstance(part, str) and part for part in item):
                raise TypeError(f"allowed_types: expected a class or a (module, name) pair, got {item!r}")
            names.add((item[0], item[1]))
        elif isinstance(item, type):
            _walk(item, found, seen, explicit=True)
        else:
            raise TypeError(f"allowed_types: expected a class or a (module, name) pair, got {type(item).__name__}")
    return found, names


def _walk(typ: Any, found: dict[tuple[str, str], type], seen: set[int], *, explicit: bool = False) -> None:
    if id(typ) in seen or typ is Any or typ is None or typ is type(None):
        return
    seen.add(id(typ))
    origin = typing.get_origin(typ)
    if origin is typing.Literal:
        return
    if origin is typing.Annotated:
        _walk(typing.get_args(typ)[0], found, seen)
        return
    if origin is not None or isinstance(typ, types.UnionType):
        # list[X], dict[K, V], X | Y, Optional[X], Required[X] ...: what they contain.
        for arg in typing.get_args(typ):
            _walk(arg, found, seen)
        if isinstance(origin, type) and origin.__module__ != "builtins":
            _walk(origin, found, seen)
        return
    if hasattr(typ, "__supertype__"):  # typing.NewType
        _walk(typ.__supertype__, found, seen)
        return
    if not isinstance(typ, type):
        return
    if is_typeddict(typ):
        for hint in _hints(typ).values():
            _walk(hint, found, seen)
        return
    structured = (
        (issubclass(typ, BaseModel) and typ is not BaseModel)
        or dataclasses.is_dataclass(typ)
        or (issubclass(typ, tuple) and hasattr(typ, "_fields"))
    )
    if structured:
        found[_key(typ)] = typ
        for hint in _hints(typ).values():
            _walk(hint, found, seen)
    elif issubclass(typ, Enum) or explicit:
        found[_key(typ)] = typ


def _hints(typ: type) -> Mapping[str, Any]:
    try:
        return typing.get_type_hints(typ, include_extras=True)
    except Exception:  # an unresolvable forward reference: fall back to what is declared as objects
        if issubclass(typ, BaseModel):
            return {name: f.annotation for name, f in typ.model_fields.items()}
        if dataclasses.is_dataclass(typ):
            return {f.name: f.type for f in dataclasses.fields(typ)}
        return {k: v for k, v in getattr(typ, "__annotations__", {}).items() if not isinstance(v, str)}


class StrictSerializer:
    """LangGraph's msgpack format, read back only for allowed types.

    Args:
        allowed_types: Extra classes (and what their fields declare), or ``(module, name)``
            pairs resolved among modules already imported (never importing one).
    """

    def __init__(self, allowed_types: Iterable[AllowedType] = ()) -> None:
        self._writer = JsonPlusSerializer(pickle_fallback=False)
        classes, names = collect_types(allowed_types)
        self._classes: dict[tuple[str, str], type] = classes
        self._names: frozenset[tuple[str, str]] = frozenset(names)

    def with_types(self, allowed_types: Iterable[AllowedType]) -> StrictSerializer:
        """A copy of this serializer that also allows ``allowed_types``.

        Args:
            allowed_types: Classes or ``(module, name)`` pairs to add.

        Returns:
            The new serializer (this one is unchanged).
        """
        clone = StrictSerializer()
        classes, names = collect_types(allowed_types)
        clone._classes = {**self._classes, **classes}
        clone._names = self._names | names
        return clone

    @property
    def allowed(self) -> frozenset[tuple[str, str]]:
        """Every ``(module, name)`` this serializer constructs on read."""
        return _BUILTIN_KEYS | frozenset(self._classes) | self._names

    # ------------------------------------------------------------- SerializerProtocol
    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize a value as LangGraph's ``JsonPlusSerializer`` does (never pickle).

        Args:
            obj: The value.

        Returns:
            ``(type, bytes)``.

        Raises:
            TypeError: The value holds an object msgpack cannot encode.
        """
        return self._writer.dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Read a value back, constructing only allowed types.

        Args:
            data: ``(type, bytes)`` as stored.

        Returns:
            The value.

        Raises:
            RefusedTypeError: The record's kind or a type it names is not allowed.
            ValueError: The bytes are not valid msgpack.
        """
        kind, raw = data
        if kind not in _READABLE:
            raise RefusedTypeError(f"data typed '{_printable(kind)}'")
        if kind == "null":
            return None
        if kind == "bytes":
            return bytes(raw)
        if kind == "bytearray":
            return bytearray(raw)
        refused: list[str] = []
        try:
            return ormsgpack.unpackb(raw, ext_hook=self._hook(refused), option=ormsgpack.OPT_NON_STR_KEYS)
        except Exception:
            # ormsgpack replaces an ext hook's exception with its own ValueError.
            if refused:
                raise RefusedTypeError(refused[0]) from None
            raise

    # ------------------------------------------------------------- reading
    def _resolve(self, module: Any, name: Any) -> Callable[..., Any] | None:
        if not isinstance(module, str) or not isinstance(name, str):
            return None
        key = (module, name)
        if (found := _BUILTINS.get(key) or self._classes.get(key)) is not None:
            return found
        if key in self._names:
            # Named by the user or by LangGraph's schema walk: the graph defined it, so its
            # module is loaded. Never import one here (importing runs a module's code).
            candidate = getattr(sys.modules.get(module), name, None)
            if isinstance(candidate, type) and _key(candidate) == key:
                return candidate
        return None

    def _hook(self, refused: list[str]) -> Callable[[int, bytes], Any]:
        def unpack(data: bytes) -> Any:
            return ormsgpack.unpackb(data, ext_hook=hook, option=ormsgpack.OPT_NON_STR_KEYS)

        def refuse(what: str) -> RefusedTypeError:
            refused.append(what)
            return RefusedTypeError(what)

        def hook(code: int, data: bytes) -> Any:
            if code == _DELTA_SNAPSHOT:
                return _DeltaSnapshot(unpack(data))
            if code == _NUMPY_ARRAY:
                return _numpy_array(unpack(data), refuse)
            if code not in (_SINGLE_ARG, _POS_ARGS, _KW_ARGS, _METHOD_SINGLE_ARG, _PYDANTIC_V1, _PYDANTIC_V2):
                raise refuse(f"msgpack extension type {code}")
            # Nested values go through this same hook, so decoding the arguments before
            # checking the name constructs nothing that is not allowed either.
            tup = unpack(data)
            if not isinstance(tup, (list, tuple)) or len(tup) < (4 if code == _METHOD_SINGLE_ARG else 3):
                raise refuse("a malformed extension value")
            if code == _METHOD_SINGLE_ARG:
                # LangGraph writes one method call: datetime.fromisoformat (for datetimes).
                if (tup[0], tup[1], tup[3]) != ("datetime", "datetime", "fromisoformat"):
                    raise refuse(f"the method call {_printable(tup[0])}.{_printable(tup[1])}.{_printable(tup[3])}")
                return datetime.fromisoformat(tup[2])
            cls = self._resolve(tup[0], tup[1])
            if cls is None:
                raise refuse(f"type {_printable(tup[0])}.{_printable(tup[1])}")
            return _construct(cls, code, tup)

        return hook


def _construct(cls: Callable[..., Any], code: int, tup: Any) -> Any:
    """Build an allowed type as LangGraph's reader does, keeping the stored data when that fails."""
    args = tup[2]
    try:
        if code == _SINGLE_ARG:
            return cls(args)
        if code == _POS_ARGS:
            if getattr(cls, "__name__", "") == "Send" and isinstance(args, (list, tuple)) and len(args) == 3:
                return cls(args[0], args[1], timeout=args[2])
            return cls(*args)
        if code in (_PYDANTIC_V1, _PYDANTIC_V2):
            try:
                return cls(**args)
            except Exception:
                # LangGraph's reader does the same: a model whose validation now fails
                # (its schema changed) is rebuilt from the stored fields as they are.
                builder = getattr(cls, "model_construct" if code == _PYDANTIC_V2 else "construct", None)
                if builder is None:
                    raise
                return builder(**args)
        return cls(**args)
    except Exception as exc:
        logger.warning(
            "could not rebuild %s.%s from a checkpoint (%s); returning its stored data instead",
            tup[0],
            tup[1],
            type(exc).__name__,
        )
        return args


def _numpy_array(meta: Any, refuse: Callable[[str], RefusedTypeError]) -> Any:
    # numpy is a known package, imported by its own name (never a name read from the record).
    numpy = sys.modules.get("numpy") or importlib.import_module("numpy")
    dtype_str, shape, order, buf = meta
    dtype = numpy.dtype(dtype_str)
    if dtype.hasobject:
        raise refuse("a numpy array of Python objects")
    return numpy.frombuffer(buf, dtype=dtype).reshape(shape, order=order)
