"""Redis store: the ``SessionStore`` primitives on redis-py, sync and ``redis.asyncio``.

Key layout (``P`` is ``key_prefix``, ``S`` the session id encoded by ``quote_id``: every
character outside ``A-Z a-z 0-9 - _ . : @`` becomes ``%XX``, so an id can never hold a
glob character, a brace or ``%`` of its own, and ids of 0.2 encode to themselves)::

    P{S}:h          string  header JSON (its existence is the session's existence)
    P{S}:e          list    event lines, in order (position = seq)
    P{S}:i          hash    event id -> seq (the idempotency index)
    P{S}:k          set     record kinds the session holds
    P{S}:r:<kind>   hash    record key -> value
    P{S}:z:<kind>   zset    record keys, score 0 (lexicographic listing)

Every key of a session carries the hash tag ``{S}`` (never broken: ``S`` holds no brace),
so a Redis Cluster keeps them in one slot and each write is one Lua script over one slot. No command ever touches two
sessions: a parent's child links are records on the parent's own keys, written by a
separate, idempotent command. Every read goes to the server (there is no cache), and
every command asks redis-py not to decode the reply, so clients made with
``decode_responses=True`` work too.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
from urllib.parse import urlsplit

from a2a_session_manager._ids import check_session_id, quote_id, unquote_id
from a2a_session_manager._optional import require
from a2a_session_manager._redact import SCHEME, redact_url
from a2a_session_manager.exceptions import (
    CorruptSessionError,
    InvalidSessionIdError,
    SessionManagerError,
    StorageError,
    StoreUnavailableError,
)
from a2a_session_manager.storage._urls import check_userinfo
from a2a_session_manager.storage.base import EventRow, SessionStore
from a2a_session_manager.storage.codec import CHILD_KIND, RUN_KIND

__all__ = ["RedisSessionStore", "create_redis_session_store"]

T = TypeVar("T")
P = ParamSpec("P")

_log = logging.getLogger(__name__)

_NEVER_DECODE = "NEVER_DECODE"
"""redis-py's per-command option to return raw bytes whatever the client's decode setting."""
_FORBIDDEN_PREFIX_CHARS = frozenset("*?[]{}\\^")
_GLOB_CHARS = "\\*?[]"
_HIGH = b"\xff"
"""Sorts after every byte of a record key (keys are ASCII), to bound a prefix range."""
_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]+")
_CERT_REQS = ("none", "optional", "required")
_TLS_PATHS = ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile")
_NOT_SENT = ("connecting to", "timeout connecting")
"""How redis-py's messages start when the command never left (connect failed)."""

# What the operator should do when the server refuses a command, by the reply's code.
# Scripts are atomic and these refusals hit a script's first write (the server state they
# depend on cannot change while a script runs), so nothing of the refused call was written.
_REFUSALS = {
    "OOM": "it is out of memory (maxmemory reached under noeviction). Nothing was written and nothing "
    "stored was lost; raise maxmemory or free memory on the server, then retry",
    "READONLY": "it is a read-only replica. Nothing was written; point the store at the primary",
    "MISCONF": "it cannot persist to disk and stops writes until it can (see the server's log). Nothing "
    "was written; fix the server's disk or persistence settings, then retry",
    "NOPERM": "the Redis user lacks a permission this store needs; grant it in the server's ACL "
    "(commands EVALSHA, EVAL, GET, LRANGE, LLEN, HGET, SCAN on the store's key_prefix)",
    "NOREPLICAS": "too few replicas acknowledged it (min-replicas-to-write). Nothing was written; retry "
    "when the replicas are back",
}
_RETRY_APPEND = "retrying with the same event is safe: the event id is an idempotency key"
_RETRY_WRITE = "retrying the same call is safe: every write of this store is idempotent"


# ============================================================================ scripts
# The Lua scripts are package data (redis_scripts/*.lua), read once when this module loads.
_SCRIPTS = files("a2a_session_manager.storage.providers") / "redis_scripts"
_PRELUDE = (_SCRIPTS / "prelude.lua").read_text(encoding="utf-8")
"""The shared Lua functions every script starts with."""


@dataclass(frozen=True)
class _Script:
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> _Script:
        """The script ``redis_scripts/<name>.lua``, after the shared prelude."""
        source = _PRELUDE + (_SCRIPTS / f"{name}.lua").read_text(encoding="utf-8")
        # SHA1 is what EVALSHA names a script by; this is not a security use.
        return cls(source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


_S_APPEND = _Script.load("append")
_S_WRITE_HEADER = _Script.load("write_header")
_S_REPLACE = _Script.load("replace")
_S_DELETE = _Script.load("delete")
_S_PUT_RECORDS = _Script.load("put_records")
_S_DELETE_RECORDS = _Script.load("delete_records")
_S_LIST_RECORDS = _Script.load("list_records")
_S_READ_TAIL = _Script.load("read_tail")
_S_READ_SESSION = _Script.load("read_session")

_WRITE_SCRIPTS = {
    _S_APPEND.sha: _RETRY_APPEND,
    **{s.sha: _RETRY_WRITE for s in (_S_WRITE_HEADER, _S_REPLACE, _S_DELETE, _S_PUT_RECORDS, _S_DELETE_RECORDS)},
}
"""Scripts that write, and what to tell a caller whose write may have been applied."""


@dataclass(frozen=True)
class _AsyncEntry:
    """One event loop's async client."""

    loop: asyncio.AbstractEventLoop
    client: Any
    guard: AsyncGenerator[None, None]
    """Closes the client when its loop shuts down its async generators."""
    ready: asyncio.Task[Any] | None
    """Cluster discovery and the server check, while other tasks of the loop wait for them."""


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One round trip: a script (EVALSHA) or one command, and how to read its reply.

    A call with neither (`_Call.answer`) makes no round trip: ``parse(None)`` is its
    result (a plan that knows its answer without asking, such as an empty range).
    """

    sid: str
    keys: tuple[str, ...]
    args: tuple[str | bytes | int, ...]
    parse: Callable[[Any], T]
    script: _Script | None = None
    command: str = ""

    @classmethod
    def answer(cls, sid: str, value: T) -> _Call[T]:
        """A call whose result is ``value``, with no round trip."""
        return cls(sid, (), (), lambda _: value)


def _sync_primitive(
    plan: Callable[Concatenate[RedisSessionStore, P], _Call[T]],
) -> Callable[Concatenate[RedisSessionStore, P], T]:
    """The sync primitive that runs ``plan``'s call (``_plan_x`` -> ``_x``)."""

    def primitive(self: RedisSessionStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._do(plan(self, *args, **kwargs))

    primitive.__name__ = primitive.__qualname__ = plan.__name__.replace("_plan_", "_", 1)
    return primitive


def _async_primitive(
    plan: Callable[Concatenate[RedisSessionStore, P], _Call[T]],
) -> Callable[Concatenate[RedisSessionStore, P], Coroutine[Any, Any, T]]:
    """The async primitive that runs ``plan``'s call (``_plan_x`` -> ``_ax``)."""

    async def primitive(self: RedisSessionStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._ado(plan(self, *args, **kwargs))

    primitive.__name__ = primitive.__qualname__ = plan.__name__.replace("_plan_", "_a", 1)
    return primitive


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_CHARS else c for c in text)


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8")


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8")


def _client_address(client: Any) -> str:
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return f"the given {type(client).__name__}"
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _config_policy(reply: Any) -> str | None:
    """The policy from a ``CONFIG GET maxmemory-policy`` reply (a dict, keys str or bytes)."""
    if not isinstance(reply, dict):
        return None
    for name, value in reply.items():
        if _text(name) == "maxmemory-policy" and value:
            return _text(value)
    return None


def _info_policy(reply: Any) -> str | None:
    """The policy from an ``INFO memory`` reply (redis-py's parsed dict)."""
    if not isinstance(reply, dict):
        return None
    value = reply.get("maxmemory_policy")
    return _text(value) if isinstance(value, (str, bytes)) and value else None


def _reply_code(redis: Any, exc: Exception) -> str:
    """The code of an error reply (``OOM``, ``READONLY``, ``MISCONF``, ``WRONGTYPE``...).

    redis-py strips the code from the replies it maps to classes, so those are named by
    class; any other reply keeps its code as the first word.
    """
    errors = redis.exceptions
    for cls, code in (
        (errors.OutOfMemoryError, "OOM"),
        (errors.ReadOnlyError, "READONLY"),
        (errors.NoPermissionError, "NOPERM"),
        (errors.MovedError, "MOVED"),
        (errors.AskError, "ASK"),
        (errors.TryAgainError, "TRYAGAIN"),
        (errors.MasterDownError, "MASTERDOWN"),
        (errors.ClusterDownError, "CLUSTERDOWN"),
        (errors.ClusterCrossSlotError, "CROSSSLOT"),
        (errors.ExecAbortError, "EXECABORT"),
    ):
        if isinstance(exc, cls):
            return code
    first = str(exc).split(" ", 1)[0]
    return first if _CODE_RE.fullmatch(first) else "ERR"


def check_key_prefix(key_prefix: object) -> str:
    """Validate a Redis key prefix.

    Args:
        key_prefix: The candidate prefix.

    Returns:
        The prefix, unchanged.

    Raises:
        ValueError: It is not a string of at most 200 printable characters without
            glob (``* ? [ ] \\ ^``) or hash-tag (``{ }``) characters or whitespace.
    """
    if not isinstance(key_prefix, str):
        raise ValueError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
    bad = sorted({c for c in key_prefix if c in _FORBIDDEN_PREFIX_CHARS or not c.isprintable() or c.isspace()})
    if bad or len(key_prefix) > 200:
        why = f"characters {''.join(bad)!r} are not allowed" if bad else "it is longer than 200 characters"
        raise ValueError(
            f"invalid key_prefix {key_prefix!r}: {why}; use letters, digits and separators such as ':' "
            "(no glob characters * ? [ ] \\ ^, no hash-tag braces { }, no whitespace)"
        )
    return key_prefix


def _check_tls(options: dict[str, Any], *, uses_tls: bool) -> dict[str, Any]:
    """The TLS options that were given, checked; redis-py takes them as they are."""
    given = {name: value for name, value in options.items() if value is not None}
    for name in _TLS_PATHS:
        if name in given and (not isinstance(given[name], str) or not given[name]):
            raise ValueError(f"{name} must be a file or directory path (a non-empty str), not {given[name]!r}")
    reqs = given.get("ssl_cert_reqs")
    if reqs is not None and reqs not in _CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}, not {reqs!r}")
    check = given.get("ssl_check_hostname")
    if check is not None and not isinstance(check, bool):
        raise TypeError(f"ssl_check_hostname must be a bool, not {type(check).__name__}")
    if given and not uses_tls:
        raise ValueError(f"{', '.join(given)} need TLS: use a rediss:// URL or ssl=True")
    return given


class RedisSessionStore(SessionStore):
    """Sessions in Redis: one list per session for events, one Lua script per write.

    Each write (append, save, run upsert, record write, replace, delete) is one round trip
    and atomic on the server, so concurrent writers lose nothing. Acknowledged writes are
    on the server; whether they survive a server crash is the server's ``appendonly`` /
    ``appendfsync`` setting. Nothing is cached in the process: every read asks the server.

    On first use the store reads the server's ``maxmemory-policy`` once (``CONFIG GET``,
    else ``INFO memory``; on a cluster, every node known then) and refuses a policy that
    lets the server evict keys: ``allkeys-*`` always, ``volatile-*`` when the store sets a
    TTL. Evicting one key of a session silently breaks it (a session that reads as
    missing while its events remain, an idempotency index gone so retries duplicate).
    It also refuses a cluster node reached without ``cluster=True``.

    Errors: a key of another type under the store's keys is ``CorruptSessionError`` (it
    names the key). A command the server refuses (``OOM`` under ``noeviction``, a
    read-only replica, ``MISCONF``, ACL ``NOPERM``) is ``StorageError`` quoting the
    server, with nothing written; a failed authentication is ``StorageError`` saying so
    (never showing the password). An unreachable server or a timeout is
    ``StoreUnavailableError``; when a write timed out after it was sent, the message says
    it may have been applied: retrying it is safe, since an event id is an idempotency key
    and every other write sets values (idempotent).

    Args:
        host: Server host (ignored when ``url`` or ``client`` is given).
        port: Server port.
        db: Database number.
        key_prefix: Prefix of every key (no glob or ``{}`` characters).
        expiration_seconds: TTL of a whole session (every key), refreshed on every write.
        password: Server password.
        ssl: Connect with TLS.
        url: ``redis://[[user]:password@]host:port/db``, ``rediss://`` or ``unix://`` URL,
            instead of host/port/db/password/ssl.
        client: An existing ``redis.Redis`` (or ``RedisCluster``) for the sync methods; it
            may use ``decode_responses=True``. The store never closes it. Without
            ``async_client``, the async methods run this client in a worker thread.
        async_client: An existing ``redis.asyncio.Redis`` (or ``RedisCluster``) for the
            async methods (never closed by the store). Without ``client``, the sync methods
            connect with the host/port/url settings.
        socket_timeout: Seconds to connect or wait for a reply before raising
            ``StoreUnavailableError``.
        cluster: Connect to a Redis Cluster (``RedisCluster`` clients, sync and async):
            ``host``/``port`` or ``url`` name any one node, the others are discovered.
            Each session's keys share one hash slot, so every write stays one script on
            one node. ``db`` must be 0 (a cluster has only database 0).
        allow_eviction: Use a server whose ``maxmemory-policy`` may evict this store's
            keys (a cache you accept to lose parts of). Off by default: such a server is
            refused with ``StorageError`` on first use.
        ssl_ca_certs: TLS: file of the CA certificates that verify the server (a private
            CA). Needs ``rediss://`` or ``ssl=True``, as every ``ssl_*`` option does.
        ssl_ca_path: TLS: directory of CA certificates (OpenSSL's hashed layout).
        ssl_certfile: TLS: the client's certificate file (servers that ask for one).
        ssl_keyfile: TLS: the client certificate's private key file.
        ssl_cert_reqs: TLS: verify the server's certificate: ``"required"`` (redis-py's
            default), ``"optional"`` or ``"none"``.
        ssl_check_hostname: TLS: check that the certificate names the host.

    Raises:
        MissingDependencyError: redis-py is not installed.
        ValueError: An argument is invalid (the message names it).
        TypeError: ``cluster``, ``allow_eviction`` or ``ssl_check_hostname`` is not a bool.
    """

    _async_native = True

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        key_prefix: str = "session:",
        expiration_seconds: int | None = None,
        *,
        password: str | None = None,
        ssl: bool = False,
        url: str | None = None,
        client: Any = None,
        async_client: Any = None,
        socket_timeout: float = 5.0,
        cluster: bool = False,
        allow_eviction: bool = False,
        ssl_ca_certs: str | None = None,
        ssl_ca_path: str | None = None,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_cert_reqs: str | None = None,
        ssl_check_hostname: bool | None = None,
    ) -> None:
        redis = require("redis", extra="redis", feature="RedisSessionStore")
        # RedisClusterException (e.g. no node reachable) does not derive from RedisError.
        errors = redis.exceptions
        self._driver_errors = (errors.RedisError, errors.RedisClusterException, OSError)
        super().__init__(expiration_seconds=expiration_seconds)
        self.key_prefix = check_key_prefix(key_prefix)
        if not isinstance(socket_timeout, (int, float)) or isinstance(socket_timeout, bool) or socket_timeout <= 0:
            raise ValueError(f"socket_timeout must be a positive number of seconds, not {socket_timeout!r}")
        if url is not None and (not isinstance(url, str) or "://" not in url):
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, not {redact_url(url)!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an int from 1 to 65535, not {port!r}")
        if not isinstance(db, int) or isinstance(db, bool) or db < 0:
            raise ValueError(f"db must be a non-negative int, not {db!r}")
        if not isinstance(cluster, bool):
            raise TypeError(f"cluster must be a bool, not {type(cluster).__name__}")
        if cluster and (db != 0 or (url is not None and urlsplit(url).path.strip("/") not in ("", "0"))):
            raise ValueError("a Redis Cluster has only database 0: drop db (or the /N of the URL)")
        if not isinstance(allow_eviction, bool):
            raise TypeError(f"allow_eviction must be a bool, not {type(allow_eviction).__name__}")
        tls: dict[str, Any] = {"ssl_ca_certs": ssl_ca_certs, "ssl_ca_path": ssl_ca_path, "ssl_certfile": ssl_certfile}
        tls |= {"ssl_keyfile": ssl_keyfile, "ssl_cert_reqs": ssl_cert_reqs, "ssl_check_hostname": ssl_check_hostname}
        self._tls: dict[str, Any] = _check_tls(tls, uses_tls=ssl or (url or "").lower().startswith("rediss:"))
        if self._tls and (client is not None or async_client is not None):
            raise ValueError(
                f"{', '.join(self._tls)}: TLS options apply to connections the store opens; "
                "give them to the client you pass instead"
            )
        self.cluster = cluster
        self.allow_eviction = allow_eviction
        # Set once the server's eviction policy (and cluster mode) passed the check.
        self._server_ok = False
        self._redis = redis
        self._host, self._port, self._db = host, port, db
        self._password, self._ssl, self._url = password, ssl, url
        self._socket_timeout = float(socket_timeout)
        self._given_client = client
        self._given_async = async_client
        # Set by _sync() once the server passed the check (a given client too).
        self._client: Any = None
        self._client_lock = threading.Lock()
        # Async clients are bound to the event loop they were created in: one per loop.
        self._aclients: dict[int, _AsyncEntry] = {}
        if client is not None:
            self._address = _client_address(client)
        elif url is not None:
            self._address = redact_url(url)
        else:
            self._address = f"{host}:{port}"

    def __repr__(self) -> str:
        cluster = ", cluster=True" if self.cluster else ""
        return f"RedisSessionStore({self._address!r}, key_prefix={self.key_prefix!r}{cluster})"

    # ============================================================== keys
    def _base(self, sid: str) -> str:
        # The encoded id: no glob character, brace or space of its own, so it can never
        # match other sessions' keys in SCAN, break the hash tag or collide (a prefix code).
        return f"{self.key_prefix}{{{quote_id(sid)}}}:"

    def _session_keys(self, sid: str) -> tuple[str, str, str, str]:
        base = self._base(sid)
        return base + "h", base + "e", base + "i", base + "k"

    def _ttl(self) -> int:
        return self.expiration_seconds or 0

    def _where(self, sid: str, seq: int | None = None) -> str:
        if seq is None:
            return f"Redis keys {self._base(sid) + '*'!r}"
        return f"Redis key {self._base(sid) + 'e'!r} item {seq}"

    # ============================================================= clients
    def _retry(self, retry_class: Any) -> Any:
        # One quick retry on a dropped connection (a restarted server, a stale pooled
        # socket); none on timeouts, so an unreachable server fails within socket_timeout.
        # Retrying is safe: every write is idempotent (event ids, record keys, SET, DEL).
        backoff = self._redis.backoff.ExponentialBackoff(cap=0.1, base=0.01)
        return retry_class(backoff, 1, supported_errors=(self._redis.exceptions.ConnectionError,))

    def _connect_kwargs(self, retry_class: Any) -> dict[str, Any]:
        return {
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": self._socket_timeout,
            "retry": self._retry(retry_class),
            **self._tls,
        }

    def _sync(self) -> Any:
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    made = self._given_client if self._given_client is not None else self._make_sync()
                    try:
                        if not self._server_ok:
                            self._check_server(made)
                    except BaseException:
                        if made is not self._given_client:
                            made.close()
                        raise
                    self._client = made
                client = self._client
        return client

    def _make_sync(self) -> Any:
        kwargs = self._connect_kwargs(self._redis.retry.Retry)
        if not self.cluster:
            return self._new_client(self._redis.Redis, kwargs, with_db=True)
        try:
            # The sync RedisCluster discovers the cluster here, in its constructor.
            return self._new_client(self._redis.cluster.RedisCluster, kwargs, with_db=False)
        except self._redis.exceptions.RedisClusterException as exc:
            probe = self._new_client(self._redis.Redis, kwargs, with_db=True)
            try:
                info = probe.info("cluster")
            except self._redis.exceptions.AuthenticationError:
                raise  # redis-py's cluster error hides it: say authentication failed
            except self._driver_errors:
                raise exc from None  # the node cannot tell: keep redis-py's own error
            finally:
                probe.close()
            raise self._not_a_cluster(info) or exc from exc

    def _new_client(self, cls: Any, kwargs: dict[str, Any], *, with_db: bool) -> Any:
        if self._url is not None:
            return cls.from_url(self._url, **kwargs)
        if with_db:
            kwargs = {**kwargs, "db": self._db}
        return cls(host=self._host, port=self._port, password=self._password, ssl=self._ssl, **kwargs)

    async def _async(self) -> Any | None:
        """The async client for the running loop, or None to run the sync client in a thread."""
        if self._given_async is not None:
            if not self._server_ok:
                await self._acheck_server(self._given_async)
            return self._given_async
        if self._given_client is not None:
            return None
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(id(loop))
        if entry is not None and entry.loop is loop:
            if entry.ready is not None and not entry.ready.done():
                await asyncio.shield(entry.ready)  # another task is still preparing the client
            return entry.client
        aredis = require("redis.asyncio", extra="redis", feature="RedisSessionStore")
        kwargs = self._connect_kwargs(require("redis.asyncio.retry", extra="redis", feature="RedisSessionStore").Retry)
        if self.cluster:
            client = self._new_client(aredis.cluster.RedisCluster, kwargs, with_db=False)
        else:
            client = self._new_client(aredis.Redis, kwargs, with_db=True)
        # asyncio.run() (and asyncio.Runner) close every started async generator of the loop
        # before closing it; this one closes the client then, so no socket outlives its loop.
        guard = self._close_with_loop(client)
        await guard.__anext__()
        # redis-py's async RedisCluster discovers the cluster on first use; tasks that use a
        # new client at once race in that discovery (measured: 1 run in 4 with 8 tasks
        # failed with "Connection closed by server"). So discover (and check the server)
        # once, here, and make the other tasks of this loop wait for it.
        ready = loop.create_task(self._aprepare(client, kwargs)) if self.cluster or not self._server_ok else None
        with self._client_lock:
            for key, other in list(self._aclients.items()):
                if other.loop.is_closed():
                    del self._aclients[key]
            self._aclients[id(loop)] = _AsyncEntry(loop, client, guard, ready)
        if ready is not None:
            try:
                await asyncio.shield(ready)
            except BaseException:
                # Forget the client so the next call starts afresh (the server may be back).
                with self._client_lock:
                    mine = self._aclients.get(id(loop))
                    if mine is not None and mine.loop is loop and mine.client is client:
                        del self._aclients[id(loop)]
                await guard.aclose()
                raise
        return client

    async def _aprepare(self, client: Any, kwargs: dict[str, Any]) -> None:
        if self.cluster:
            try:
                await client.initialize()
            except self._redis.exceptions.RedisClusterException as exc:
                aredis = require("redis.asyncio", extra="redis", feature="RedisSessionStore")
                probe = self._new_client(aredis.Redis, kwargs, with_db=True)
                try:
                    info = await probe.info("cluster")
                except self._redis.exceptions.AuthenticationError:
                    raise  # redis-py's cluster error hides it: say authentication failed
                except self._driver_errors:
                    raise exc from None  # the node cannot tell: keep redis-py's own error
                finally:
                    await probe.aclose()
                raise self._not_a_cluster(info) or exc from exc
        if not self._server_ok:
            await self._acheck_server(client)

    @staticmethod
    async def _close_with_loop(client: Any) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await client.aclose()

    def close(self) -> None:
        """Close the connections this store opened (clients passed in stay open).

        Async clients of a running event loop are closed by ``aclose`` or when their loop
        ends. The store can be used again after.
        """
        with self._client_lock:
            client, self._client = self._client, None
            for key, entry in list(self._aclients.items()):
                if entry.loop.is_closed():
                    del self._aclients[key]
        if client is not None and client is not self._given_client:
            client.close()

    async def aclose(self) -> None:
        """Async twin of `close`: also closes this event loop's async client."""
        entry = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            loop = None
        with self._client_lock:
            if loop is not None and (found := self._aclients.get(id(loop))) is not None and found.loop is loop:
                entry = self._aclients.pop(id(loop))
        if entry is not None:
            await entry.guard.aclose()
        self.close()

    # ======================================================= server check
    # Once per store, on first use, off the per-call path: the server's eviction policy
    # (and, for a plain client, whether the node is a cluster node). A node's answer is
    # read by _node_facts (sync) / _anode_facts (async); _judge decides.
    def _is_cluster_client(self, client: Any) -> bool:
        acluster = require("redis.asyncio.cluster", extra="redis", feature="RedisSessionStore")
        return isinstance(client, (self._redis.cluster.RedisCluster, acluster.RedisCluster))

    def _check_server(self, client: Any) -> None:
        if self._is_cluster_client(client):
            for node in client.get_nodes():
                self._judge(self._node_facts(client, {"target_nodes": node})[0], None, node.name)
        else:
            self._judge(*self._node_facts(client, None), self._address)
        self._server_ok = True

    async def _acheck_server(self, client: Any) -> None:
        if self._is_cluster_client(client):
            # A given async RedisCluster may not have discovered its nodes yet (it does so
            # on first use); initialize() returns at once when it has.
            await client.initialize()
            for node in client.get_nodes():
                self._judge((await self._anode_facts(client, {"target_nodes": node}))[0], None, node.name)
        else:
            self._judge(*(await self._anode_facts(client, None)), self._address)
        self._server_ok = True

    def _node_facts(self, client: Any, node: dict[str, Any] | None) -> tuple[str | None, Any]:
        """(maxmemory-policy or None, INFO cluster or None) of the client's server or of ``node``."""
        if node is None:
            # One round trip for both questions; refusals come back as values.
            pipe = client.pipeline(transaction=False)
            pipe.config_get("maxmemory-policy")
            pipe.info("cluster")
            config, cluster = (self._answer(v) for v in pipe.execute(raise_on_error=False))
        else:
            config, cluster = self._answer(self._ask(client.config_get, "maxmemory-policy", **node)), None
        policy = _config_policy(config)
        if policy is None:
            # CONFIG is disabled or renamed on managed Redis; INFO usually is not.
            policy = _info_policy(self._answer(self._ask(client.info, "memory", **(node or {}))))
        return policy, cluster

    async def _anode_facts(self, client: Any, node: dict[str, Any] | None) -> tuple[str | None, Any]:
        if node is None:
            pipe = client.pipeline(transaction=False)
            pipe.config_get("maxmemory-policy")
            pipe.info("cluster")
            config, cluster = (self._answer(v) for v in await pipe.execute(raise_on_error=False))
        else:
            config, cluster = self._answer(await self._aask(client.config_get, "maxmemory-policy", **node)), None
        policy = _config_policy(config)
        if policy is None:
            policy = _info_policy(self._answer(await self._aask(client.info, "memory", **(node or {}))))
        return policy, cluster

    def _ask(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except self._redis.exceptions.ResponseError as exc:
            return exc

    async def _aask(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await command(*args, **kwargs)
        except self._redis.exceptions.ResponseError as exc:
            return exc

    def _answer(self, value: Any) -> Any:
        """A reply, None for a refused command (disabled, renamed, no permission); raises other errors."""
        if isinstance(value, self._redis.exceptions.ResponseError):
            return None
        if isinstance(value, BaseException):
            raise value
        return value

    def _judge(self, policy: str | None, cluster: Any, where: str) -> None:
        if isinstance(cluster, dict) and str(cluster.get("cluster_enabled", "0")) == "1":
            raise StorageError(
                f"Redis server at {where} is a Redis Cluster node (cluster_enabled:1): a plain client would "
                "see only its keys and be answered MOVED for the others; connect with cluster=True "
                "(?cluster=1 in the URL)"
            )
        if policy is None:
            _log.warning(
                "could not read maxmemory-policy of Redis server at %s (CONFIG GET and INFO memory were "
                "refused); make sure it is noeviction, or the server may evict parts of sessions",
                where,
            )
            return
        evicts = policy.startswith("allkeys-") or (policy.startswith("volatile-") and self.expiration_seconds)
        if not evicts or self.allow_eviction:
            return
        if policy.startswith("allkeys-"):
            which = "lets the server delete any key when memory reaches maxmemory"
        else:
            which = (
                "lets the server delete keys that have a TTL when memory reaches maxmemory, and this store "
                f"gives every key a TTL (expiration_seconds={self.expiration_seconds})"
            )
        raise StorageError(
            f"Redis server at {where} uses maxmemory-policy {policy}, which {which}. Evicting one key of a "
            "session silently breaks it: a session that reads as missing while its events remain, events "
            "stored twice after a retry once its idempotency index is gone. Set maxmemory-policy noeviction "
            "on the server (CONFIG SET maxmemory-policy noeviction, and in redis.conf or your provider's "
            "parameter group), or pass allow_eviction=True (?allow_eviction=1) if losing parts of sessions "
            "is acceptable"
        )

    def _not_a_cluster(self, info: Any) -> StorageError | None:
        if isinstance(info, dict) and str(info.get("cluster_enabled", "")) == "0":
            return StorageError(
                f"Redis server at {self._address} is not a cluster (cluster_enabled:0); drop cluster=1 "
                "(cluster=True) to use it as a single server"
            )
        return None

    # ============================================================== errors
    def _wrap_error(self, exc: BaseException, sid: str | None) -> SessionManagerError:
        return self._typed(exc, sid, None)

    def _typed(self, exc: BaseException, sid: str | None, call: _Call[Any] | None) -> SessionManagerError:
        """The typed error for a driver error (``call``: the round trip it happened in)."""
        errors = self._redis.exceptions
        where = f"session {sid!r}: " if sid else ""
        if isinstance(exc, errors.AuthenticationError):
            return StorageError(
                f"{where}authentication to the Redis server at {self._address} failed (server said: {exc}); "
                "check the user name and password (in the URL or password=)",
                session_id=sid,
            )
        if isinstance(exc, errors.ResponseError):
            return self._refused(exc, sid, call)
        if isinstance(exc, errors.TimeoutError):
            message = (
                f"{where}Redis server at {self._address} did not answer within "
                f"socket_timeout={self._socket_timeout:g}s (TimeoutError: {exc})"
            )
        elif isinstance(exc, (errors.ConnectionError, errors.RedisClusterException, OSError)):
            message = (
                f"{where}Redis server at {self._address} is unavailable ({type(exc).__name__}: {exc}); "
                f"check that it runs and is reachable (socket_timeout={self._socket_timeout:g}s)"
            )
        else:
            return super()._wrap_error(exc, sid)
        retry = _WRITE_SCRIPTS.get(call.script.sha) if call is not None and call.script is not None else None
        if retry is not None and not any(m in str(exc).lower() for m in _NOT_SENT):
            message += f". The write may have been applied; {retry}"
        return StoreUnavailableError(message, session_id=sid)

    def _refused(self, exc: Exception, sid: str | None, call: _Call[Any] | None) -> StorageError:
        """A typed error for a reply the server gave instead of a result."""
        text = str(exc)
        code = _reply_code(self._redis, exc)
        if code == "A2A_WRONGTYPE" or (code == "WRONGTYPE" and call is not None and call.keys):
            if code == "A2A_WRONGTYPE":
                _, key, found, want = [*text.split(), "?", "?", "?"][:4]
            else:
                assert call is not None
                key, found, want = call.keys[0], "value of another type", "value this store writes"
            return CorruptSessionError(
                f"session {sid!r}: Redis key {key!r} holds a {found}, not the {want} this store keeps "
                "there (another program uses this key?); nothing was changed. Delete or rename that key, "
                "or use another key_prefix",
                session_id=sid,
            )
        where = f"session {sid!r}: " if sid else ""
        said = text if text.startswith(code) else f"{code} {text}"
        if code in ("MOVED", "ASK"):
            return StorageError(
                f"{where}Redis server at {self._address} is a Redis Cluster node (it answered {said}); "
                "connect with cluster=True (?cluster=1 in the URL)",
                session_id=sid,
            )
        hint = _REFUSALS.get(code)
        why = f": {hint}" if hint else ""
        return StorageError(
            f"{where}Redis server at {self._address} refused the command{why} (server said: {said})",
            session_id=sid,
        )

    # ============================================================ execution
    def _do(self, call: _Call[T]) -> T:
        if call.script is None and not call.command:
            return call.parse(None)  # planned without a round trip (`_Call.answer`)
        never: dict[str, Any] = {_NEVER_DECODE: []}
        try:
            client = self._sync()
            if call.script is None:
                raw = client.execute_command(call.command, *call.keys, *call.args, **never)
            else:
                n, s = len(call.keys), call.script
                try:
                    raw = client.execute_command("EVALSHA", s.sha, n, *call.keys, *call.args, **never)
                except self._redis.exceptions.NoScriptError:
                    # The server's script cache is empty (new or restarted): EVAL also fills it.
                    raw = client.execute_command("EVAL", s.source, n, *call.keys, *call.args, **{_NEVER_DECODE: []})
        except self._driver_errors as exc:
            raise self._typed(exc, call.sid, call) from exc
        return call.parse(raw)

    async def _ado(self, call: _Call[T]) -> T:
        if call.script is None and not call.command:
            return call.parse(None)  # planned without a round trip (`_Call.answer`)
        never: dict[str, Any] = {_NEVER_DECODE: []}
        try:
            client = await self._async()
            if client is None:
                return await asyncio.to_thread(self._do, call)
            if call.script is None:
                raw = await client.execute_command(call.command, *call.keys, *call.args, **never)
            else:
                n, s = len(call.keys), call.script
                try:
                    raw = await client.execute_command("EVALSHA", s.sha, n, *call.keys, *call.args, **never)
                except self._redis.exceptions.NoScriptError:
                    raw = await client.execute_command(
                        "EVAL", s.source, n, *call.keys, *call.args, **{_NEVER_DECODE: []}
                    )
        except self._driver_errors as exc:
            raise self._typed(exc, call.sid, call) from exc
        return call.parse(raw)

    # ============================================================== decoding
    def _line(self, sid: str, seq: int, raw: bytes | str) -> str:
        try:
            return _text(raw)
        except UnicodeDecodeError as exc:
            raise CorruptSessionError(
                f"session {sid!r}: {self._where(sid, seq)} is not UTF-8 text; repair or delete it",
                session_id=sid,
            ) from exc

    def _header(self, sid: str, raw: bytes | str | None) -> str | None:
        if raw is None:
            return None
        try:
            return _text(raw)
        except UnicodeDecodeError as exc:
            raise CorruptSessionError(
                f"session {sid!r}: Redis key {self._base(sid) + 'h'!r} is not UTF-8 text; repair or delete it",
                session_id=sid,
            ) from exc

    def _rows(self, sid: str, first: int, raw: Sequence[bytes | str]) -> list[EventRow]:
        return [(first + n, self._line(sid, first + n, line)) for n, line in enumerate(raw)]

    @staticmethod
    def _pairs(raw: Sequence[bytes | str]) -> list[tuple[str, bytes]]:
        return [(_text(raw[n]), _bytes(raw[n + 1])) for n in range(0, len(raw), 2)]

    # ================================================================ plans
    def _plan_read_header(self, sid: str) -> _Call[str | None]:
        return _Call(sid, (self._base(sid) + "h",), (), lambda raw: self._header(sid, raw), command="GET")

    def _plan_write_header(self, sid: str, header: str) -> _Call[None]:
        args = (self._base(sid), self._ttl(), header)
        return _Call(sid, self._session_keys(sid), args, lambda raw: None, _S_WRITE_HEADER)

    def _plan_append(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> _Call[int]:
        args: list[str | int] = [self._ttl(), header_if_new]
        for event_id, line in items:
            args += (event_id, line)
        return _Call(sid, (self._base(sid) + "h",), tuple(args), int, _S_APPEND)

    def _plan_read_events(self, sid: str, start: int, end: int | None) -> _Call[list[EventRow]]:
        if end is not None and end <= max(start, 0):
            return _Call.answer(sid, [])
        key = self._base(sid) + "e"
        if start >= 0:
            stop = -1 if end is None else end - 1
            return _Call(sid, (key,), (start, stop), lambda raw: self._rows(sid, start, raw), command="LRANGE")

        def parse(raw: list[Any]) -> list[EventRow]:
            length, lines = int(raw[0]), raw[1]
            first = max(length + start, 0)
            rows = self._rows(sid, first, lines)
            return rows if end is None else [r for r in rows if r[0] < end]

        return _Call(sid, (key,), (start,), parse, _S_READ_TAIL)

    def _plan_count_events(self, sid: str) -> _Call[int]:
        return _Call(sid, (self._base(sid) + "e",), (), int, command="LLEN")

    def _plan_replace_events(self, sid: str, items: Sequence[tuple[str, str]], header_if_new: str) -> _Call[None]:
        args: list[str | int] = [self._base(sid), self._ttl(), header_if_new]
        for event_id, line in items:
            args += (event_id, line)
        return _Call(sid, self._session_keys(sid), tuple(args), lambda raw: None, _S_REPLACE)

    def _plan_delete(self, sid: str) -> _Call[bool]:
        return _Call(sid, self._session_keys(sid), (self._base(sid),), lambda raw: bool(int(raw)), _S_DELETE)

    def _plan_put_records(
        self, sid: str, kind: str, items: Sequence[tuple[str, bytes]], header_if_new: str | None
    ) -> _Call[None]:
        base = self._base(sid)
        keys = (*self._session_keys(sid), f"{base}r:{kind}", f"{base}z:{kind}")
        args: list[str | bytes | int] = [base, self._ttl(), header_if_new or "", kind]
        for key, value in items:
            args += (key, value)
        return _Call(sid, keys, tuple(args), lambda raw: None, _S_PUT_RECORDS)

    def _plan_get_record(self, sid: str, kind: str, key: str) -> _Call[bytes | None]:
        def parse(raw: bytes | str | None) -> bytes | None:
            return raw.encode() if isinstance(raw, str) else raw

        return _Call(sid, (f"{self._base(sid)}r:{kind}",), (key,), parse, command="HGET")

    def _plan_list_records(
        self, sid: str, kind: str, prefix: str, before: str | None, limit: int | None, reverse: bool
    ) -> _Call[list[tuple[str, bytes]]]:
        if limit == 0:
            return _Call.answer(sid, [])
        base = self._base(sid)
        low = b"[" + prefix.encode() if prefix else b"-"
        # Exclusive upper bound: the smaller of "past every key with this prefix" and `before`.
        bounds = [prefix.encode() + _HIGH] if prefix else []
        if before is not None:
            bounds.append(before.encode())
        high = b"(" + min(bounds) if bounds else b"+"
        args = (low, high, "1" if reverse else "0", -1 if limit is None else limit)
        return _Call(sid, (f"{base}r:{kind}", f"{base}z:{kind}"), args, self._pairs, _S_LIST_RECORDS)

    def _plan_delete_records(self, sid: str, kind: str, keys: Sequence[str] | None) -> _Call[None]:
        if keys is not None and not keys:
            return _Call.answer(sid, None)
        base = self._base(sid)
        call_keys = (base + "k", f"{base}r:{kind}", f"{base}z:{kind}")
        args = (kind, "all") if keys is None else (kind, "keys", *keys)
        return _Call(sid, call_keys, args, lambda raw: None, _S_DELETE_RECORDS)

    def _plan_read_session(
        self, sid: str
    ) -> _Call[tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]]:
        base = self._base(sid)
        keys = (
            base + "h",
            base + "e",
            f"{base}r:{RUN_KIND}",
            f"{base}z:{RUN_KIND}",
            f"{base}z:{CHILD_KIND}",
        )

        def parse(raw: list[Any]) -> tuple[str | None, list[EventRow], list[tuple[str, bytes]], list[str]]:
            if not raw:
                return None, [], [], []
            header, lines, runs, children = raw
            return self._header(sid, header), self._rows(sid, 0, lines), self._pairs(runs), [_text(c) for c in children]

        return _Call(sid, keys, (), parse, _S_READ_SESSION)

    # ============================================================= primitives
    # Each primitive runs its plan's one call: `_do` for the sync form, `_ado` for the async one.
    _read_header = _sync_primitive(_plan_read_header)
    _write_header = _sync_primitive(_plan_write_header)
    _append = _sync_primitive(_plan_append)
    _read_events = _sync_primitive(_plan_read_events)
    _count_events = _sync_primitive(_plan_count_events)
    _replace_events = _sync_primitive(_plan_replace_events)
    _delete = _sync_primitive(_plan_delete)
    _put_records = _sync_primitive(_plan_put_records)
    _get_record = _sync_primitive(_plan_get_record)
    _list_records = _sync_primitive(_plan_list_records)
    _delete_records = _sync_primitive(_plan_delete_records)
    _read_session = _sync_primitive(_plan_read_session)
    _aread_header = _async_primitive(_plan_read_header)
    _awrite_header = _async_primitive(_plan_write_header)
    _aappend = _async_primitive(_plan_append)
    _aread_events = _async_primitive(_plan_read_events)
    _acount_events = _async_primitive(_plan_count_events)
    _areplace_events = _async_primitive(_plan_replace_events)
    _adelete = _async_primitive(_plan_delete)
    _aput_records = _async_primitive(_plan_put_records)
    _aget_record = _async_primitive(_plan_get_record)
    _alist_records = _async_primitive(_plan_list_records)
    _adelete_records = _async_primitive(_plan_delete_records)
    _aread_session = _async_primitive(_plan_read_session)

    def _scan_pattern(self, prefix: str) -> str:
        # quote_id keeps prefixes and yields no glob character: an id prefix such as "*"
        # or "[ab]?" matches only ids that start with it, literally.
        return f"{_glob_escape(self.key_prefix)}{{{quote_id(prefix)}*}}:h"

    def _scan_ids(self, keys: set[str]) -> list[str]:
        head, tail = len(self.key_prefix) + 1, len("}:h")
        found = set()
        for key in keys:
            # A key this store did not write (e.g. "P{a}b}:h", "P{%zz}:h") decodes to None.
            sid = unquote_id(key[head:-tail])
            if sid is None:
                continue
            try:
                found.add(check_session_id(sid))
            except InvalidSessionIdError:
                continue  # e.g. "P{%0A}:h": an encoding quote_id makes, of an id no one can store
        return sorted(found)

    def _scan(self, prefix: str) -> list[str]:
        # SCAN walks the keyspace in small steps and never blocks the server as KEYS does.
        client = self._sync()
        keys = {_text(k) for k in client.scan_iter(match=self._scan_pattern(prefix), count=1000)}
        return self._scan_ids(keys)

    async def _ascan(self, prefix: str) -> list[str]:
        client = await self._async()
        if client is None:
            return await asyncio.to_thread(self._scan, prefix)
        keys = {_text(k) async for k in client.scan_iter(match=self._scan_pattern(prefix), count=1000)}
        return self._scan_ids(keys)


def _signature_of(
    cls: Callable[P, RedisSessionStore],
) -> Callable[[Callable[..., RedisSessionStore]], Callable[P, RedisSessionStore]]:
    """Give a factory ``cls``'s parameters, for mypy and ``inspect.signature`` (written once, in the class)."""

    def apply(factory: Callable[..., RedisSessionStore]) -> Callable[P, RedisSessionStore]:
        factory.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
        return factory

    return apply


@_signature_of(RedisSessionStore)
def create_redis_session_store(*args: Any, **kwargs: Any) -> RedisSessionStore:
    """Create a Redis store (needs the ``redis`` extra).

    Takes exactly `RedisSessionStore`'s arguments (``host``, ``port``, ``db``,
    ``key_prefix``, ``expiration_seconds``, then keyword-only ``password``, ``ssl``,
    ``url``, ``client``, ``async_client``, ``socket_timeout``, ``cluster``,
    ``allow_eviction`` and the ``ssl_*`` TLS options), documented there. It also checks
    ``url`` before anything reads it.

    Args:
        *args: ``RedisSessionStore``'s positional arguments.
        **kwargs: ``RedisSessionStore``'s keyword arguments.

    Returns:
        The store.

    Raises:
        MissingDependencyError: redis-py is not installed.
        ValueError: ``url`` is not a URL, or its password holds an unencoded ``/ ? # @``
            (the message never shows the password); or another argument is invalid.
    """
    url = kwargs.get("url")
    if url is not None:
        # Checked here so that no message can quote a password: not a URL at all, or one
        # whose password urlsplit would misread (redis-py would connect with a piece of it).
        if not isinstance(url, str) or not re.match(SCHEME + "://", url):
            shown = redact_url(url) if isinstance(url, str) else f"a {type(url).__name__}"
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, not {shown}")
        check_userinfo(url.partition("://")[0].lower(), url, redact_url(url))
    return RedisSessionStore(*args, **kwargs)
