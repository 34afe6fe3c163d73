"""Stores, the default-store provider and the factories.

Backends load lazily: importing this package never imports redis, and the factory of
a backend whose extra is missing raises ``MissingDependencyError`` with the pip line.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from a2a_session_manager.storage.base import SessionStore, SessionStoreInterface
from a2a_session_manager.storage.providers.memory import InMemorySessionStore

if TYPE_CHECKING:
    from a2a_session_manager.storage.providers.file import FileSessionStore
    from a2a_session_manager.storage.providers.redis import RedisSessionStore
    from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

__all__ = [
    "FileSessionStore",
    "InMemorySessionStore",
    "RedisSessionStore",
    "SQLiteSessionStore",
    "SessionStore",
    "SessionStoreInterface",
    "SessionStoreProvider",
    "create_file_session_store",
    "create_redis_session_store",
    "create_session_store",
    "create_sqlite_session_store",
]


class SessionStoreProvider:
    """Holds the process-wide default store (in-memory until ``set_store`` is called)."""

    _store: SessionStore | None = None
    _lock = threading.Lock()

    @classmethod
    def set_store(cls, store: SessionStore) -> None:
        """Make ``store`` the default for sessions that were not loaded from a store.

        Args:
            store: Any SessionStore.
        """
        if not isinstance(store, SessionStore):
            raise TypeError(f"set_store() takes a SessionStore, not {type(store).__name__}")
        with cls._lock:
            cls._store = store

    @classmethod
    def get_store(cls) -> SessionStore:
        """Return the default store, creating an in-memory one on first use."""
        with cls._lock:
            if cls._store is None:
                cls._store = InMemorySessionStore()
            return cls._store

    @classmethod
    def reset(cls) -> None:
        """Forget the default store (the next ``get_store`` creates a fresh in-memory one)."""
        with cls._lock:
            cls._store = None


def create_file_session_store(
    directory: str | Path = "./sessions",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
) -> FileSessionStore:
    """Create a store of append-only JSON-lines files, one per session, in ``directory``.

    Args:
        directory: Folder of the store (created if missing).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: Also fsync every write, so acknowledged data survives power loss.

    Returns:
        The store.
    """
    from a2a_session_manager.storage.providers.file import FileSessionStore

    return FileSessionStore(directory=directory, expiration_seconds=expiration_seconds, fsync=fsync)


def create_sqlite_session_store(
    path: str | Path = "sessions.db",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
) -> SQLiteSessionStore:
    """Create a SQLite store (stdlib sqlite3, WAL, one row per event).

    Args:
        path: Database file (created if missing).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL``.

    Returns:
        The store.
    """
    from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

    return SQLiteSessionStore(path=path, expiration_seconds=expiration_seconds, fsync=fsync)


def create_redis_session_store(
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
) -> RedisSessionStore:
    """Create a Redis store (needs the ``redis`` extra).

    Args:
        host: Server host.
        port: Server port.
        db: Database number.
        key_prefix: Prefix of every key the store writes.
        expiration_seconds: TTL of a whole session, refreshed on every write.
        password: Server password.
        ssl: Use TLS.
        url: ``redis://`` or ``rediss://`` URL, instead of host/port/db/password.
        client: An existing ``redis.Redis`` to use for the sync methods.
        async_client: An existing ``redis.asyncio.Redis`` for the async methods.
        socket_timeout: Seconds before an unreachable server raises ``StoreUnavailableError``.
        cluster: Connect to a Redis Cluster through any one of its nodes (``db`` must be 0).

    Returns:
        The store.

    Raises:
        MissingDependencyError: redis-py is not installed.
    """
    from a2a_session_manager.storage.providers.redis import RedisSessionStore

    return RedisSessionStore(
        host=host,
        port=port,
        db=db,
        key_prefix=key_prefix,
        expiration_seconds=expiration_seconds,
        password=password,
        ssl=ssl,
        url=url,
        client=client,
        async_client=async_client,
        socket_timeout=socket_timeout,
        cluster=cluster,
    )


def create_session_store(url: str, **options: Any) -> SessionStore:
    """Create a store from a URL.

    ``memory://``, ``file:///abs/dir`` (or ``file://./rel``), ``sqlite:///rel.db`` or
    ``sqlite:////abs/path.db`` (SQLAlchemy's rule; ``:memory:`` is refused: use
    ``memory://``), ``redis://host:port/db`` and ``rediss://``. Query parameters
    ``ttl=SECONDS``, ``fsync=1``, ``prefix=`` (Redis) and ``cluster=1`` (Redis Cluster,
    through any one node: ``redis://node:7000?cluster=1``) are understood; keyword
    options override them.

    Args:
        url: The store URL.
        **options: Extra keyword arguments for the store's factory.

    Returns:
        The store.

    Raises:
        ValueError: The URL's scheme is unknown or its path is missing.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"not a store URL: {url!r}; use memory://, file:///dir, sqlite:///path.db or redis://host:port/db"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ttl = query.pop("ttl", None)
    if ttl is not None:
        if not ttl.isdigit() or int(ttl) <= 0:
            raise ValueError(f"ttl in {url!r} must be a positive number of seconds")
        options.setdefault("expiration_seconds", int(ttl))
    fsync = query.pop("fsync", None)
    if fsync is not None and scheme in ("file", "sqlite"):
        options.setdefault("fsync", fsync.lower() in ("1", "true", "yes", "on"))
    if scheme == "memory":
        return InMemorySessionStore(**options)
    if scheme in ("file", "sqlite"):
        raw = unquote(parts.netloc + parts.path)
        if scheme == "sqlite" and not parts.netloc and raw.startswith("/"):
            # SQLAlchemy's rule: sqlite:///rel.db is relative, sqlite:////abs.db absolute.
            raw = raw[1:]
        if not raw or raw in ("/", ":memory:", "/:memory:"):
            raise ValueError(f"store URL {url!r} names no path")
        if scheme == "file":
            return create_file_session_store(raw, **options)
        return create_sqlite_session_store(raw, **options)
    if scheme in ("redis", "rediss", "unix"):
        prefix = query.pop("prefix", None)
        if prefix is not None:
            options.setdefault("key_prefix", prefix)
        cluster = query.pop("cluster", None)
        if cluster is not None:
            if cluster.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(f"cluster in {url!r} must be 1 or 0")
            options.setdefault("cluster", cluster.lower() in ("1", "true", "yes", "on"))
        base_url = url.split("?", 1)[0]
        return create_redis_session_store(url=base_url, **options)
    raise ValueError(
        f"unknown store URL scheme {parts.scheme!r} in {url!r}; use memory://, file://, sqlite:// or redis://"
    )


def __getattr__(name: str) -> Any:
    if name == "FileSessionStore":
        from a2a_session_manager.storage.providers.file import FileSessionStore

        return FileSessionStore
    if name == "SQLiteSessionStore":
        from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

        return SQLiteSessionStore
    if name == "RedisSessionStore":
        from a2a_session_manager.storage.providers.redis import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
