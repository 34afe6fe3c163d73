"""``SessionCheckpointer``: a LangGraph checkpoint saver over our session stores.

Thread id = session id. Everything the saver keeps lives in the session's records,
so it expires with the session (``expiration_seconds``) and is deleted with it:

==============  ===============================================================
record kind     keys (ns, ids, channels and versions are hex-encoded)
==============  ===============================================================
``lg.ckpt``     ``c<ns>/<checkpoint id>``: the checkpoint without its channel
                values, its metadata and its parent id; ``r<run id>/c<ns>/<id>``:
                an empty index entry per checkpoint of a run (``delete_for_runs``)
``lg.blob``     ``v<ns>/<channel>/<version>``: a channel's value, once per version;
                ``k<ns>/<channel>/<index>.<hash>``: one item of a long list value
                (see below), once per content and position
``lg.writes``   ``c<ns>/<checkpoint id>/<task id>/<idx>``: pending writes
==============  ===============================================================

Channel values are stored once per (namespace, channel, version), like LangGraph's
Postgres saver, so a checkpoint costs what changed. A list value (the ``messages``
channel) of ``CHUNK`` items or more is also stored item by item in a hash chain
(``k<ns>/<channel>/<index>.<hash>``, each item's hash covering every item before it),
and the version's record keeps only the length and the last hash: a conversation
that grows by two messages per turn stores each message once, not once per turn,
and reading it back is still one listing.

With ``mirror_messages`` (the default) the messages that enter the root graph's
``messages`` channel are also appended to the session as ordinary MESSAGE / TOOL_CALL
events (LangChain's mapping in ``a2a_session_integrations.langchain._convert``), so
``store.get(thread_id)``, ``SessionChatMessageHistory`` and the LlamaIndex adapter
read the agent's conversation. Event ids are message ids (``tool:<call id>`` for tool
results): appending is idempotent, and only the new tail is sent each step. The mirror
runs after the checkpoint is stored and never fails a step: a message the conversion or
the store refuses becomes an event that records the error (its exact LangChain form kept
when the store accepts it), and after a store failure the next checkpoint appends the
missing tail, so no message poisons the thread's later turns.

Stored data is data. Values are written in LangGraph's own format (what
``JsonPlusSerializer`` writes) and read back by a strict serializer that constructs only
an allow-list of types: LangChain messages and documents, LangGraph's own values, the
standard library's datetime / uuid / decimal / set ... types, and the types the user
allows (``allowed_types``, e.g. the graph's state schema with the pydantic models,
dataclasses and enums its fields declare). A record naming any other type, a ``json``
record (LangChain ``{"lc": ...}`` constructor or secret dicts) or a ``pickle`` record
raises ``CorruptSessionError`` naming the session and the type, before anything is
imported or constructed. ``serde=`` replaces the serializer entirely (the caller's
choice); one that may fall back to pickle is refused.

Every public method has an async twin. The logic is written once as generator
operations that yield typed store calls (``a2a_session_manager.storage.ops``); the
sync driver runs them with the store's sync methods and the async driver with its
``a``-methods (``redis.asyncio`` on Redis, a worker thread for file and SQLite), so
the event loop never blocks.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, cast

from a2a_session_manager._ids import check_session_id
from a2a_session_manager._optional import require
from a2a_session_manager.exceptions import CorruptSessionError, StorageError
from a2a_session_manager.messages import make_message_event
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.storage import SessionStore, ops, resolve
from a2a_session_manager.storage.ops import Emit, Op, Stream, call, gather

require("langgraph.checkpoint.base", extra="langgraph", feature="SessionCheckpointer")

from langchain_core.messages import AIMessage, BaseMessage, RemoveMessage, ToolMessage, message_to_dict  # noqa: E402
from langchain_core.runnables import RunnableConfig  # noqa: E402
from langgraph.checkpoint.base import (  # noqa: E402
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol  # noqa: E402

from a2a_session_integrations.langchain._convert import event_id_for, message_to_event  # noqa: E402
from a2a_session_integrations.langgraph._serde import AllowedType, RefusedTypeError, StrictSerializer  # noqa: E402

__all__ = ["BLOB_KIND", "CHUNK", "CKPT_KIND", "WRITES_KIND", "SessionCheckpointer"]

logger = logging.getLogger(__name__)

CKPT_KIND: Final = "lg.ckpt"
"""Record kind of checkpoints (and the run index)."""
BLOB_KIND: Final = "lg.blob"
"""Record kind of channel values (per version) and list chunks (per content)."""
WRITES_KIND: Final = "lg.writes"
"""Record kind of pending writes."""
CHUNK: Final = 8
"""Lists of at least this many items are stored item by item (see ``_value_items``)."""

_KINDS: Final = (CKPT_KIND, BLOB_KIND, WRITES_KIND)
_EMPTY: Final = b"lg.empty\n"
_CHUNKED: Final = b"lg.list\n"
_HASH_CHARS: Final = 24
_PAGE: Final = 64
_MIRROR_TAIL: Final = 64
_CACHE_THREADS: Final = 1024
_MAX_ID_BYTES: Final = 100


# ------------------------------------------------------------------- record keys
def _enc(text: str) -> str:
    """A record-key-safe, order-preserving token for any text (hashed when long)."""
    raw = text.encode()
    if len(raw) <= 64:
        return "x" + raw.hex()
    return "h" + hashlib.sha256(raw).hexdigest()[:40]


def _cid(checkpoint_id: str) -> str:
    if not isinstance(checkpoint_id, str):
        raise TypeError(f"checkpoint_id must be a str, not {type(checkpoint_id).__name__}")
    raw = checkpoint_id.encode()
    if not raw or len(raw) > _MAX_ID_BYTES:
        raise ValueError(f"checkpoint_id must be 1 to {_MAX_ID_BYTES} bytes, not {checkpoint_id!r}")
    return raw.hex()


def _ns_prefix(ns: str) -> str:
    return f"c{_enc(ns)}/"


def _ckpt_key(ns: str, checkpoint_id: str) -> str:
    return f"c{_enc(ns)}/{_cid(checkpoint_id)}"


def _run_key(run_id: str, ckpt_key: str) -> str:
    return f"r{_enc(run_id)}/{ckpt_key}"


def _blob_key(ns: str, channel: str, version: Any) -> str:
    return f"v{_enc(ns)}/{_enc(channel)}/{_enc(repr(version))}"


def _chunk_prefix(ns: str, channel: str) -> str:
    return f"k{_enc(ns)}/{_enc(channel)}/"


def _write_key(ckpt_key: str, task_id: str, idx: int) -> str:
    return f"{ckpt_key}/{_enc(task_id)}/{'m' if idx < 0 else 'p'}{abs(idx)}"


def _thread_id(value: Any) -> str:
    """LangGraph's savers accept any thread id that prints as text; ours must be a valid session id."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return check_session_id(value)


class _Recent:
    """The last few event ids mirrored into one session (a bounded set)."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict.fromkeys(ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self._ids[event_id] = None
            self._ids.move_to_end(event_id)
        while len(self._ids) > 4 * _MIRROR_TAIL:
            self._ids.popitem(last=False)


class SessionCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer that keeps threads as sessions of any of our stores.

    ``create_agent(model, tools, checkpointer=SessionCheckpointer(store))``: each thread
    is the session of the same id, its checkpoints expire with the session's TTL, and
    (with ``mirror_messages``) its conversation is readable as ordinary session events.

    Reading constructs only an allow-list of types (see the module docstring); a stored
    value of any other type raises ``CorruptSessionError``. Allow your graph's own
    types with ``allowed_types=[State]``: a pydantic model, dataclass, TypedDict or
    named tuple brings the pydantic models, dataclasses, enums and named tuples its
    fields declare. LangGraph also passes a compiled graph's schema types itself
    (``with_allowlist``) when ``LANGGRAPH_STRICT_MSGPACK=true`` is set.

    Args:
        store: The session store (memory, file, SQLite, Redis); None uses the configured
            default (``SessionStoreProvider``) at each call, as every adapter does.
        serde: A LangGraph serializer to use instead of the strict default (e.g.
            ``JsonPlusSerializer()``, which constructs whatever a record names: only
            for stores nobody else can write). One that may fall back to pickle is
            refused.
        allowed_types: Classes (or ``(module, name)`` pairs of classes already
            imported) that reading may construct besides the built-in allow-list.
        mirror_messages: Also append the messages of the root graph's ``messages_key``
            channel to the session as MESSAGE / TOOL_CALL events.
        messages_key: The channel holding the conversation.

    Raises:
        ValueError: ``serde`` may fall back to pickle, or ``serde`` and
            ``allowed_types`` are both given.
        TypeError: An ``allowed_types`` item is neither a class nor a (module, name) pair.
    """

    def __init__(
        self,
        store: SessionStore | None = None,
        *,
        serde: SerializerProtocol | None = None,
        allowed_types: Iterable[AllowedType] = (),
        mirror_messages: bool = True,
        messages_key: str = "messages",
    ) -> None:
        allowed = list(allowed_types)
        if serde is not None and allowed:
            raise ValueError(
                "allowed_types widens the default serializer; with serde= configure your serializer instead"
            )
        super().__init__(serde=serde if serde is not None else StrictSerializer(allowed))
        _refuse_pickle(self.serde)
        self._given_store = store
        self.mirror_messages = bool(mirror_messages)
        self.messages_key = messages_key
        self._lock = threading.Lock()
        # Per-thread caches (bounded): event ids recently mirrored, and list chunks known
        # to be stored (reset from what get_tuple reads, so a deleted thread starts clean).
        self._mirrored: OrderedDict[str, _Recent] = OrderedDict()
        self._chunks: OrderedDict[str, set[str]] = OrderedDict()

    @property
    def store(self) -> SessionStore:
        """The store checkpoints go to: the one given, else the configured default at this call."""
        return resolve(self._given_store)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> SessionCheckpointer:
        """A copy of this checkpointer whose reader also constructs ``extra_allowlist``.

        LangGraph calls this when it compiles a graph under ``LANGGRAPH_STRICT_MSGPACK``,
        with the (module, name) of every type the graph's schemas declare. The copy
        shares the store and caches.

        Args:
            extra_allowlist: ``(module, name)`` pairs.

        Returns:
            The copy (or this checkpointer when nothing is new).
        """
        if not isinstance(self.serde, StrictSerializer):
            return cast(SessionCheckpointer, super().with_allowlist(extra_allowlist))
        pairs = [(str(k[0]), str(k[1])) for k in extra_allowlist if len(k) == 2]
        if set(pairs) <= self.serde.allowed:
            return self
        clone = copy.copy(self)
        clone.serde = self.serde.with_types(pairs)
        return clone

    # ============================================================== caches
    def _cache_get(self, cache: OrderedDict[str, Any], tid: str) -> Any:
        with self._lock:
            value = cache.get(tid)
            if value is not None:
                cache.move_to_end(tid)
            return value

    def _cache_put(self, cache: OrderedDict[str, Any], tid: str, value: Any) -> None:
        with self._lock:
            cache[tid] = value
            cache.move_to_end(tid)
            while len(cache) > _CACHE_THREADS:
                cache.popitem(last=False)

    def _forget(self, tid: str) -> None:
        with self._lock:
            self._mirrored.pop(tid, None)
            self._chunks.pop(tid, None)

    def _known_chunks(self, tid: str) -> set[str]:
        with self._lock:
            known = self._chunks.get(tid)
            if known is None:
                known = set()
                self._chunks[tid] = known
                while len(self._chunks) > _CACHE_THREADS:
                    self._chunks.popitem(last=False)
            return known

    # ============================================================== encoding
    def _pack(self, value: Any) -> bytes:
        type_, data = self.serde.dumps_typed(value)
        return type_.encode() + b"\n" + bytes(data)

    def _unpack(self, raw: bytes, tid: str, where: str) -> Any:
        type_, sep, data = bytes(raw).partition(b"\n")
        if not sep:
            raise CorruptSessionError(
                f"session {tid!r}: checkpoint record {where} has no type header; delete the thread",
                session_id=tid,
            )
        name = type_.decode("ascii", "replace")
        if name == "pickle":
            raise CorruptSessionError(
                f"session {tid!r}: checkpoint record {where} holds pickle data, which is never loaded",
                session_id=tid,
            )
        try:
            return self.serde.loads_typed((name, data))
        except RefusedTypeError as exc:
            raise CorruptSessionError(
                f"session {tid!r}: checkpoint record {where} holds {exc.what}, which SessionCheckpointer "
                "does not construct (stored data is data). If it is a type of your graph, allow it: "
                "SessionCheckpointer(store, allowed_types=[...]); otherwise the record was not written "
                "by this library: delete the thread",
                session_id=tid,
            ) from None
        except Exception as exc:
            raise CorruptSessionError(
                f"session {tid!r}: checkpoint record {where} cannot be decoded "
                f"({type(exc).__name__}: {exc}); delete the thread",
                session_id=tid,
            ) from exc

    def _value_items(
        self, tid: str, ns: str, channel: str, value: Any, key: str, new_keys: list[str]
    ) -> list[tuple[str, bytes]]:
        """Records for one channel version: the value, or a list manifest plus the items not yet stored.

        A list of ``CHUNK`` items or more is stored item by item: item ``i`` is the record
        ``k<ns>/<channel>/<i>.<h_i>`` where ``h_i`` hashes ``h_(i-1)`` and the item (a hash
        chain, so equal prefixes share records); its value starts with ``h_(i-1)``. The
        version's record keeps only the length and the last hash.
        """
        if type(value) is not list or len(value) < CHUNK:
            return [(key, self._pack(value))]
        prefix = _chunk_prefix(ns, channel)
        known = self._known_chunks(tid)
        items: list[tuple[str, bytes]] = []
        previous = ""
        for i, item in enumerate(value):
            packed = self._pack(item)
            digest = hashlib.sha256(previous.encode() + b"\n" + packed).hexdigest()[:_HASH_CHARS]
            item_key = f"{prefix}{i:06d}.{digest}"
            if item_key not in known:
                items.append((item_key, previous.encode() + b"\n" + packed))
                new_keys.append(item_key)
            previous = digest
        items.append((key, _CHUNKED + f"{len(value)} {previous}".encode()))
        return items

    def _manifest(self, raw: bytes, tid: str, where: str) -> tuple[int, str]:
        try:
            count, last = raw[len(_CHUNKED) :].decode("ascii").split(" ")
            return int(count), last
        except ValueError as exc:
            raise CorruptSessionError(
                f"session {tid!r}: list record {where} is malformed; delete the thread", session_id=tid
            ) from exc

    def _chain(
        self, tid: str, prefix: str, count: int, last: str, records: Mapping[str, bytes], where: str
    ) -> Iterator[tuple[str, bytes]]:
        """Walk a stored list's hash chain from its last item back: ``(record key, packed item)``."""
        digest = last
        for i in range(count - 1, -1, -1):
            item_key = f"{prefix}{i:06d}.{digest}"
            raw = records.get(item_key)
            if raw is None:
                raise CorruptSessionError(
                    f"session {tid!r}: list {where} needs record {BLOB_KIND}/{item_key}, which is missing; "
                    "delete the thread or restore the record",
                    session_id=tid,
                )
            prev, _, packed = raw.partition(b"\n")
            yield item_key, packed
            digest = prev.decode("ascii", "replace")

    def _decode_ckpt(self, tid: str, key: str, raw: bytes) -> dict[str, Any]:
        rec = self._unpack(raw, tid, f"{CKPT_KIND}/{key}")
        if not isinstance(rec, dict) or not isinstance(rec.get("checkpoint"), dict) or "id" not in rec:
            raise CorruptSessionError(
                f"session {tid!r}: checkpoint record {CKPT_KIND}/{key} is not a checkpoint; delete the thread",
                session_id=tid,
            )
        return rec

    # ============================================================== operations
    def _op_load(self, tid: str, key: str, rec: dict[str, Any]) -> Op[CheckpointTuple]:
        """Rebuild a checkpoint tuple: its channel values (one read each) and its writes."""
        ns: str = rec.get("ns", "")
        checkpoint: dict[str, Any] = dict(rec["checkpoint"])
        versions: Mapping[str, Any] = checkpoint.get("channel_versions") or {}
        blob_keys = [(ch, _blob_key(ns, ch, v)) for ch, v in versions.items()]
        raws, write_rows = yield from gather(
            gather(*[call(SessionStore.get_record, tid, BLOB_KIND, k) for _, k in blob_keys]),
            call(SessionStore.list_records, tid, WRITES_KIND, prefix=key + "/"),
        )
        values: dict[str, Any] = {}
        manifests: list[tuple[str, str, tuple[int, str]]] = []
        for (channel, bkey), raw in zip(blob_keys, raws, strict=True):
            if raw is None:
                # A version no put stored a value for: LangGraph lists these when it migrates a
                # checkpoint of an older layout (renamed channels keep their versions). Like its
                # own savers, read the channel as empty; a record that exists is still decoded.
                continue
            if raw == _EMPTY:
                continue
            if raw.startswith(_CHUNKED):
                manifests.append((channel, bkey, self._manifest(raw, tid, f"{BLOB_KIND}/{bkey}")))
                continue
            values[channel] = self._unpack(raw, tid, f"{BLOB_KIND}/{bkey}")
        if manifests:
            chunk_reqs = [
                call(
                    SessionStore.list_records,
                    tid,
                    BLOB_KIND,
                    prefix=_chunk_prefix(ns, ch),
                    before=f"{_chunk_prefix(ns, ch)}{count:06d}",
                )
                for ch, _, (count, _) in manifests
            ]
            listed = yield from gather(*chunk_reqs)
            loaded: list[str] = []
            for (channel, bkey, (count, last)), rows in zip(manifests, listed, strict=True):
                chain = list(self._chain(tid, _chunk_prefix(ns, channel), count, last, dict(rows), bkey))
                chain.reverse()
                values[channel] = [self._unpack(p, tid, f"{BLOB_KIND}/{k}") for k, p in chain]
                loaded.extend(k for k, _ in chain)
            known = self._known_chunks(tid)
            with self._lock:
                known.update(loaded)
        writes: list[tuple[tuple[str, str, int], PendingWrite]] = []
        for wkey, raw in write_rows:
            w = self._unpack(raw, tid, f"{WRITES_KIND}/{wkey}")
            writes.append(
                (writes_sort_key(w["path"], w["task_id"], w["idx"]), (w["task_id"], w["channel"], w["value"]))
            )
        writes.sort(key=lambda pair: pair[0])
        checkpoint["channel_values"] = values
        parent = rec.get("parent")
        return CheckpointTuple(
            config={"configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": rec["id"]}},
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=cast(CheckpointMetadata, rec.get("metadata") or {}),
            parent_config=(
                {"configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": parent}} if parent else None
            ),
            pending_writes=[w for _, w in writes],
        )

    def _op_get_tuple(self, tid: str, ns: str, checkpoint_id: str | None) -> Op[CheckpointTuple | None]:
        if checkpoint_id:
            key = _ckpt_key(ns, checkpoint_id)
            raw = yield from call(SessionStore.get_record, tid, CKPT_KIND, key)
            if raw is None:
                return None
        else:
            rows = yield from call(
                SessionStore.list_records, tid, CKPT_KIND, prefix=_ns_prefix(ns), reverse=True, limit=1
            )
            if not rows:
                self._forget(tid)
                return None
            key, raw = rows[0]
        return (yield from self._op_load(tid, key, self._decode_ckpt(tid, key, raw)))

    def _op_put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Op[RunnableConfig]:
        conf = config["configurable"]
        tid = _thread_id(conf["thread_id"])
        ns: str = conf.get("checkpoint_ns", "") or ""
        parent = conf.get("checkpoint_id")
        stored = dict(checkpoint)
        values: dict[str, Any] = cast("dict[str, Any]", stored.pop("channel_values", None) or {})
        key = _ckpt_key(ns, checkpoint["id"])
        blobs: list[tuple[str, bytes]] = []
        new_chunks: list[str] = []
        for channel, version in new_versions.items():
            bkey = _blob_key(ns, channel, version)
            if channel in values:
                blobs.extend(self._value_items(tid, ns, channel, values[channel], bkey, new_chunks))
            else:
                blobs.append((bkey, _EMPTY))
        meta = get_serializable_checkpoint_metadata(config, metadata)
        rec = {"checkpoint": stored, "metadata": meta, "parent": parent, "ns": ns, "id": checkpoint["id"]}
        items = [(key, self._pack(rec))]
        run_id = meta.get("run_id")
        if isinstance(run_id, str) and run_id:
            items.append((_run_key(run_id, key), b""))
        # Values first: a crash between the two calls leaves only records no checkpoint names.
        if blobs:
            yield from call(SessionStore.put_records, tid, BLOB_KIND, blobs)
            if new_chunks:
                known = self._known_chunks(tid)
                with self._lock:
                    known.update(new_chunks)
        yield from call(SessionStore.put_records, tid, CKPT_KIND, items)
        if self.mirror_messages and ns == "" and self.messages_key in new_versions:
            messages = values.get(self.messages_key)
            if isinstance(messages, list) and messages:
                yield from self._op_mirror(tid, checkpoint["id"], messages)
        return {"configurable": {"thread_id": tid, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def _op_put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> Op[None]:
        conf = config["configurable"]
        tid = _thread_id(conf["thread_id"])
        ns: str = conf.get("checkpoint_ns", "") or ""
        key = _ckpt_key(ns, conf["checkpoint_id"])
        items = []
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            rec = {"task_id": task_id, "channel": channel, "idx": idx, "path": task_path, "value": value}
            items.append((_write_key(key, task_id, idx), self._pack(rec)))
        if items:
            yield from call(SessionStore.put_records, tid, WRITES_KIND, items)

    def _op_list(
        self,
        config: RunnableConfig | None,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Stream[CheckpointTuple]:
        conf = (config or {}).get("configurable") or {}
        if conf.get("thread_id") is not None:
            tids = [_thread_id(conf["thread_id"])]
        else:
            tids = yield from call(SessionStore.list_sessions)
        ns: str | None = conf.get("checkpoint_ns")
        only_id = conf.get("checkpoint_id")
        before_id = get_checkpoint_id(before) if before else None
        if limit is not None and limit <= 0:
            return
        left = limit
        for tid in tids:
            for key, raw in (yield from self._op_candidates(tid, ns, only_id, before_id, filter, left)):
                rec = self._decode_ckpt(tid, key, raw)
                if only_id and rec["id"] != only_id:
                    continue
                if before_id and not rec["id"] < before_id:
                    continue
                meta = rec.get("metadata") or {}
                if filter and not all(meta.get(k) == v for k, v in filter.items()):
                    continue
                tup = yield from self._op_load(tid, key, rec)
                yield Emit(tup)
                if left is not None:
                    left -= 1
                    if left <= 0:
                        return

    def _op_candidates(
        self,
        tid: str,
        ns: str | None,
        only_id: str | None,
        before_id: str | None,
        filter: Mapping[str, Any] | None,
        left: int | None,
    ) -> Op[list[tuple[str, bytes]]]:
        """Checkpoint records of one thread, newest first within a namespace."""
        if ns is None:
            rows = yield from call(SessionStore.list_records, tid, CKPT_KIND, prefix="c", reverse=True)
            return list(rows)
        if only_id:
            key = _ckpt_key(ns, only_id)
            raw = yield from call(SessionStore.get_record, tid, CKPT_KIND, key)
            return [] if raw is None else [(key, raw)]
        prefix = _ns_prefix(ns)
        bound = _ckpt_key(ns, before_id) if before_id else None
        page = left if (left is not None and not filter) else _PAGE
        out: list[tuple[str, bytes]] = []
        while True:
            rows = yield from call(
                SessionStore.list_records, tid, CKPT_KIND, prefix=prefix, before=bound, limit=page, reverse=True
            )
            out.extend(rows)
            if len(rows) < page or (not filter and left is not None and len(out) >= left):
                return out
            bound = rows[-1][0]

    def _op_mirror(self, tid: str, checkpoint_id: str, messages: list[Any]) -> Op[None]:
        """Append the messages not yet mirrored (the tail after the last known id).

        Runs after the checkpoint is stored and never raises: the graph's state is safe,
        and a failure here must not fail this step nor any later one. A message that
        cannot be converted, or whose event the store refuses, is stored as a placeholder
        event recording the error (so it is never retried and never blocks the messages
        after it); when the store itself fails, the tail is left for the next checkpoint
        to append (appends are idempotent by event id).
        """
        recent = self._cache_get(self._mirrored, tid)
        if recent is None:
            try:
                tail = yield from call(SessionStore.get_events, tid, last_n=_MIRROR_TAIL)
            except StorageError as exc:
                _log_mirror_failure(tid, exc, "the next checkpoint retries")
                return
            recent = _Recent(e.id for e in tail)
        new: list[tuple[int, str]] = []
        for idx in range(len(messages) - 1, -1, -1):
            message = messages[idx]
            if not isinstance(message, BaseMessage) or isinstance(message, RemoveMessage):
                continue
            event_id = _event_id(message, idx)
            if event_id in recent:
                break
            new.append((idx, event_id))
        if not new:
            self._cache_put(self._mirrored, tid, recent)
            return
        new.reverse()
        events = _mirror_events(messages, new, checkpoint_id)
        try:
            yield from call(SessionStore.append_events, tid, events)
            stored = len(events)
        except StorageError as exc:
            _log_mirror_failure(tid, exc, "the next checkpoint retries")
            return
        except Exception:
            # The store refused some event's data (a typed ValueError/TypeError, not an outage):
            # find which one by appending one at a time, keeping everything it accepts.
            stored = yield from self._op_append_each(tid, events, checkpoint_id)
        recent.add(e.id for e in events[:stored])
        self._cache_put(self._mirrored, tid, recent)

    def _op_append_each(self, tid: str, events: list[SessionEvent], checkpoint_id: str) -> Op[int]:
        """Append events one by one, a refused one replaced by a placeholder; how many are stored."""
        for done, event in enumerate(events):
            try:
                yield from call(SessionStore.append_events, tid, [event])
                continue
            except StorageError as exc:
                _log_mirror_failure(tid, exc, "the next checkpoint retries")
                return done
            except Exception as exc:
                refused = exc
            try:
                yield from call(SessionStore.append_events, tid, [_placeholder_for(event, checkpoint_id, refused)])
            except Exception as exc:
                _log_mirror_failure(tid, exc, "the next checkpoint retries")
                return done
            logger.warning(
                "SessionCheckpointer: session %r: the store refused event %r of the transcript (%s); "
                "stored a placeholder without its content (the checkpoint keeps the message)",
                tid,
                event.id,
                type(refused).__name__,
            )
        return len(events)

    def _op_delete_thread(self, tid: str) -> Op[None]:
        self._forget(tid)
        yield from gather(*[call(SessionStore.delete_records, tid, kind) for kind in _KINDS])
        self._forget(tid)

    def _op_copy_thread(self, src: str, dst: str) -> Op[None]:
        listed = yield from gather(*[call(SessionStore.list_records, src, kind) for kind in _KINDS])
        # Values and writes before checkpoints: a reader of dst never sees a checkpoint without its data.
        for kind, rows in sorted(zip(_KINDS, listed, strict=True), key=lambda kr: kr[0] == CKPT_KIND):
            if rows:
                yield from call(SessionStore.put_records, dst, kind, rows)
        if self.mirror_messages and listed[0]:
            events = yield from call(SessionStore.get_events, src)
            if events:
                yield from call(SessionStore.append_events, dst, events)
        self._forget(dst)

    def _op_prune_thread(self, tid: str, strategy: str) -> Op[None]:
        if strategy == "delete":
            yield from self._op_delete_thread(tid)
            return
        rows = yield from call(SessionStore.list_records, tid, CKPT_KIND, prefix="c")
        latest: dict[str, tuple[str, str]] = {}
        recs: dict[str, dict[str, Any]] = {}
        for key, raw in rows:
            rec = self._decode_ckpt(tid, key, raw)
            recs[key] = rec
            ns = rec.get("ns", "")
            if ns not in latest or rec["id"] > latest[ns][0]:
                latest[ns] = (rec["id"], key)
        keep = {key for _, key in latest.values()}
        yield from self._op_drop(tid, [k for k in recs if k not in keep], recs)

    def _op_delete_runs(self, run_ids: Sequence[str]) -> Op[None]:
        runs = [r for r in dict.fromkeys(run_ids) if isinstance(r, str) and r]
        if not runs:
            return
        tids = yield from call(SessionStore.list_sessions)
        for tid in tids:
            found = yield from gather(
                *[call(SessionStore.list_records, tid, CKPT_KIND, prefix=f"r{_enc(run)}/") for run in runs]
            )
            doomed = [key.split("/", 1)[1] for rows in found for key, _ in rows]
            if not doomed:
                continue
            rows = yield from call(SessionStore.list_records, tid, CKPT_KIND, prefix="c")
            recs = {key: self._decode_ckpt(tid, key, raw) for key, raw in rows}
            yield from self._op_drop(tid, doomed, recs)

    def _op_drop(self, tid: str, doomed: Sequence[str], recs: dict[str, dict[str, Any]]) -> Op[None]:
        """Delete checkpoints, their writes and run entries, then every value no survivor uses."""
        doomed_set = set(doomed)
        if not doomed_set:
            return
        ckpt_keys = list(doomed_set)
        for key in doomed_set:
            run_id = (recs.get(key, {}).get("metadata") or {}).get("run_id")
            if isinstance(run_id, str) and run_id:
                ckpt_keys.append(_run_key(run_id, key))
        yield from call(SessionStore.delete_records, tid, CKPT_KIND, ckpt_keys)
        writes = yield from call(SessionStore.list_records, tid, WRITES_KIND, prefix="c")
        dead_writes = [k for k, _ in writes if k.rsplit("/", 2)[0] in doomed_set]
        if dead_writes:
            yield from call(SessionStore.delete_records, tid, WRITES_KIND, dead_writes)
        # Mark and sweep the values: those the surviving checkpoints name, and their chunks.
        live: set[str] = set()
        for key, rec in recs.items():
            if key in doomed_set:
                continue
            ns = rec.get("ns", "")
            for channel, version in (rec["checkpoint"].get("channel_versions") or {}).items():
                live.add(_blob_key(ns, channel, version))
        blobs = yield from call(SessionStore.list_records, tid, BLOB_KIND)
        live_chunks: set[str] = set()
        records = dict(blobs)
        for key, raw in blobs:
            if key in live and raw.startswith(_CHUNKED):
                count, last = self._manifest(raw, tid, f"{BLOB_KIND}/{key}")
                prefix = "k" + key[1:].rsplit("/", 1)[0] + "/"
                for item_key, _ in self._chain(tid, prefix, count, last, records, key):
                    if item_key in live_chunks:
                        break  # the rest of this chain is shared with one already marked
                    live_chunks.add(item_key)
        dead = [k for k, _ in blobs if k not in live and k not in live_chunks]
        if dead:
            yield from call(SessionStore.delete_records, tid, BLOB_KIND, dead)
        self._forget(tid)

    # ============================================================== public: sync
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Fetch a checkpoint tuple: the given ``checkpoint_id``, or the thread's latest.

        Args:
            config: ``{"configurable": {"thread_id", "checkpoint_ns"?, "checkpoint_id"?}}``.

        Returns:
            The tuple (pending writes in ``writes_sort_key`` order), or None.

        Raises:
            InvalidSessionIdError: The thread id is not a valid session id.
            CorruptSessionError: A stored record cannot be read back.
            StorageError: The store failed.
        """
        conf = config["configurable"]
        op = self._op_get_tuple(
            _thread_id(conf["thread_id"]), conf.get("checkpoint_ns", "") or "", get_checkpoint_id(config)
        )
        return ops.run(self.store, op)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """List checkpoints, newest first within each namespace.

        Without a thread id in ``config`` every session of the store is listed
        (``store.list_sessions()``); without ``checkpoint_ns`` every namespace.

        Args:
            config: Thread (and optionally namespace and checkpoint id) to list, or None.
            filter: Metadata items every returned checkpoint has (equality).
            before: Only checkpoints older than this config's ``checkpoint_id``.
            limit: At most this many.

        Yields:
            Checkpoint tuples.

        Raises:
            InvalidSessionIdError: The thread id is not a valid session id.
        """
        return ops.iterate(self.store, self._op_list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint: the values of ``new_versions`` once each, then the checkpoint.

        With ``mirror_messages``, new messages of the root ``messages`` channel are then
        appended to the session as events. The checkpoint is the commit point: a failure
        of that mirror is logged and never fails this call or a later one (a message that
        cannot be converted or stored becomes an event recording the error; when the store
        fails, the next checkpoint appends what is missing).

        Args:
            config: The thread (its ``checkpoint_id`` is the parent).
            checkpoint: The checkpoint.
            metadata: Its metadata.
            new_versions: Channels (and versions) that changed since the parent.

        Returns:
            The config of the stored checkpoint.

        Raises:
            InvalidSessionIdError: The thread id is not a valid session id.
            StorageError: The store failed.
        """
        return ops.run(self.store, self._op_put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes for a checkpoint (a write's key is (task id, index)).

        Args:
            config: The checkpoint's config.
            writes: ``(channel, value)`` pairs.
            task_id: The task that wrote them.
            task_path: The task's path (orders writes on load).
        """
        ops.run(self.store, self._op_put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints, values and writes.

        The session itself and its events (the mirrored transcript) stay: they are the
        session's record, which ``store.delete(thread_id)`` removes.

        Args:
            thread_id: The thread (session) id.
        """
        ops.run(self.store, self._op_delete_thread(_thread_id(thread_id)))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) that the given runs created, in every thread.

        Values that no remaining checkpoint uses are removed too. This visits every
        session of the store (``list_sessions``), one small read per session and run.
        Graphs using LangGraph's beta ``DeltaChannel`` may lose history they need.

        Args:
            run_ids: LangGraph run ids (``metadata["run_id"]``).
        """
        ops.run(self.store, self._op_delete_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, value and write of a thread (and its transcript) to another.

        Args:
            source_thread_id: The thread to copy.
            target_thread_id: The thread to create or extend.
        """
        ops.run(self.store, self._op_copy_thread(_thread_id(source_thread_id), _thread_id(target_thread_id)))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune threads: keep each namespace's latest checkpoint, or delete them all.

        ``keep_latest`` also removes the pruned checkpoints' writes and every value or
        chunk that the kept checkpoints do not use (mark and sweep over the thread's
        values, which also collects values a crashed ``put`` left behind). Do not prune
        a thread while a graph runs on it, nor threads of graphs using the beta
        ``DeltaChannel``.

        Args:
            thread_ids: The threads.
            strategy: ``"keep_latest"`` or ``"delete"``.

        Raises:
            ValueError: Unknown strategy.
        """
        checked = self._check_prune(thread_ids, strategy)
        for tid in checked:
            ops.run(self.store, self._op_prune_thread(tid, strategy))

    # ============================================================== public: async
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async twin of `get_tuple`."""
        conf = config["configurable"]
        op = self._op_get_tuple(
            _thread_id(conf["thread_id"]), conf.get("checkpoint_ns", "") or "", get_checkpoint_id(config)
        )
        return await ops.arun(self.store, op)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async twin of `list`."""
        async for tup in ops.aiterate(self.store, self._op_list(config, filter, before, limit)):
            yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async twin of `put`."""
        return await ops.arun(self.store, self._op_put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async twin of `put_writes`."""
        await ops.arun(self.store, self._op_put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async twin of `delete_thread`."""
        await ops.arun(self.store, self._op_delete_thread(_thread_id(thread_id)))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async twin of `delete_for_runs`."""
        await ops.arun(self.store, self._op_delete_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async twin of `copy_thread`."""
        await ops.arun(self.store, self._op_copy_thread(_thread_id(source_thread_id), _thread_id(target_thread_id)))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async twin of `prune`."""
        checked = self._check_prune(thread_ids, strategy)
        for tid in checked:
            await ops.arun(self.store, self._op_prune_thread(tid, strategy))

    # ============================================================== helpers
    @staticmethod
    def _check_prune(thread_ids: Sequence[str], strategy: str) -> builtins.list[str]:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread ids, not one str")
        return [_thread_id(t) for t in thread_ids]

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Next channel version: a zero-padded counter plus a random fraction.

        The random part keeps versions written by two forks of one parent apart, so
        their values (stored per version) never overwrite each other.

        Args:
            current: The current version (None for a new channel).
            channel: Unused (LangGraph's deprecated argument).

        Returns:
            A version string that sorts after ``current``.
        """
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(str(current).split(".")[0])
        return f"{current_v + 1:016}.{random.getrandbits(32):08x}"


# ------------------------------------------------------------------ helpers
def _refuse_pickle(serde: Any) -> None:
    for candidate in (serde, getattr(serde, "serde", None)):
        if candidate is not None and getattr(candidate, "pickle_fallback", False):
            raise ValueError(
                f"SessionCheckpointer never stores pickle: {type(candidate).__name__} has pickle_fallback=True; "
                "pass a serializer without it (e.g. JsonPlusSerializer())"
            )


_ROLES: Final = {"ai": "assistant", "human": "user", "system": "system", "tool": "tool", "function": "tool"}
_ERROR_CHARS: Final = 300


def _error_text(exc: BaseException) -> str:
    """An exception as text any store accepts (ASCII, bounded)."""
    text = f"{type(exc).__name__}: {exc}".encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + "..."


def _log_mirror_failure(tid: str, exc: BaseException, then: str) -> None:
    logger.warning(
        "SessionCheckpointer: session %r: the transcript mirror failed (%s); the checkpoint is stored, %s",
        tid,
        type(exc).__name__,
        then,
    )


def _plain_text(content: Any) -> str:
    """The text of a message's content, without interpreting any block (used when conversion failed)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _mirror_events(messages: list[Any], new: list[tuple[int, str]], checkpoint_id: str) -> list[SessionEvent]:
    """The events of the new messages; a message that cannot be converted becomes a fallback event."""
    wanted = {messages[i].tool_call_id for i, _ in new if isinstance(messages[i], ToolMessage)}
    calls = _calls_before(messages, new[0][0], wanted)
    events: list[SessionEvent] = []
    for idx, event_id in new:
        message = messages[idx]
        if isinstance(message, AIMessage):  # before converting: its results need it even if it fails
            for call in message.tool_calls:
                if call.get("id"):
                    calls[str(call["id"])] = (event_id, call.get("args") or {})
        try:
            if isinstance(message, ToolMessage) and message.tool_call_id:
                parent, args = calls.get(message.tool_call_id, (None, {}))
                event = message_to_event(message, parent_event_id=parent, arguments=args, event_id=event_id)
            else:
                event = message_to_event(message, event_id=event_id)
            event.metadata["langgraph"] = {"checkpoint_id": checkpoint_id}
        # The conversion runs LangChain's own code on content LangChain accepted; whatever it
        # raises, the message is still recorded (below) and the checkpoint is already stored.
        except Exception as exc:
            logger.warning(
                "SessionCheckpointer: message %r could not be converted to the neutral form (%s); "
                "storing its text and exact LangChain form instead",
                event_id,
                type(exc).__name__,
            )
            try:
                event = _fallback_event(message, event_id, checkpoint_id, exc)
            except Exception as fallback_exc:  # even its text is refused (e.g. not valid Unicode)
                try:
                    event = _placeholder_event(
                        _ROLES.get(message.type, "user"), event_id, _tool_call_id(message), checkpoint_id, fallback_exc
                    )
                except Exception:  # not even an event with this id: the checkpoint alone keeps it
                    logger.warning("SessionCheckpointer: message %r is left out of the transcript", event_id)
                    continue
        events.append(event)
    return events


def _fallback_event(message: BaseMessage, event_id: str, checkpoint_id: str, exc: BaseException) -> SessionEvent:
    """A MESSAGE event for a message the conversion refused: its text, its exact form, the error."""
    metadata: dict[str, Any] = {"langgraph": {"checkpoint_id": checkpoint_id, "mirror_error": _error_text(exc)}}
    try:
        metadata["langchain"] = message_to_dict(message)
    except Exception as dict_exc:  # LangChain's own dump failed too: keep the text only
        metadata["langgraph"]["mirror_error"] += "; " + _error_text(dict_exc)
    event = make_message_event(
        _ROLES.get(message.type, "user"), _plain_text(message.content), event_id=event_id, metadata=metadata
    )
    if isinstance(message, ToolMessage) and message.tool_call_id:
        event.message["tool_call_id"] = message.tool_call_id
    return event


def _tool_call_id(message: BaseMessage) -> str | None:
    return message.tool_call_id if isinstance(message, ToolMessage) and message.tool_call_id else None


def _placeholder_event(
    role: str, event_id: str, tool_call_id: str | None, checkpoint_id: str, exc: BaseException
) -> SessionEvent:
    """A message event without content: its id, role, tool call id and the error that kept the content out."""
    event = make_message_event(
        role,
        "",
        event_id=event_id,
        metadata={"langgraph": {"checkpoint_id": checkpoint_id, "mirror_error": _error_text(exc)}},
    )
    if tool_call_id:
        event.message["tool_call_id"] = tool_call_id
    return event


def _placeholder_for(event: SessionEvent, checkpoint_id: str, exc: BaseException) -> SessionEvent:
    """The placeholder of an event the store refused."""
    message = event.message if isinstance(event.message, dict) else {}
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES.values():
        role = "tool" if event.type == EventType.TOOL_CALL else "user"
    call_id = message.get("tool_call_id")
    return _placeholder_event(role, event.id, call_id if isinstance(call_id, str) else None, checkpoint_id, exc)


def _event_id(message: BaseMessage, index: int) -> str:
    """The event id of a channel message: its id (``tool:<call id>`` for results), else one from its content."""
    if (isinstance(message, ToolMessage) and message.tool_call_id) or message.id:
        return event_id_for(message)
    digest = hashlib.sha256(repr(message_to_dict(message)).encode()).hexdigest()[:24]
    return f"lg-{index}-{digest}"


def _calls_before(messages: list[Any], end: int, wanted: set[str]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Find the AI turns (before ``end``) that asked for the ``wanted`` tool calls."""
    found: dict[str, tuple[str, Mapping[str, Any]]] = {}
    if not wanted:
        return found
    for idx in range(end - 1, -1, -1):
        message = messages[idx]
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                cid = call.get("id")
                if cid and cid in wanted and cid not in found:
                    found[cid] = (_event_id(message, idx), call.get("args") or {})
            if len(found) == len(wanted):
                break
    return found
