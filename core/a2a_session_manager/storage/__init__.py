"""The stores' public face: the default-store provider, ``resolve``, ``create_session_store(url)``.

Each backend's class and its ``create_<backend>_session_store`` factory live in
``providers/<backend>.py`` and are re-exported here lazily: importing this package loads
no backend but the in-memory one and never imports redis, and the factory of a backend
whose extra is missing raises ``MissingDependencyError`` with the pip line. The store
URLs' parameters and checks are ``_urls.py``'s.
``redact_url`` is the one place a store URL is made safe to print: every message, log
line and repr that shows a URL goes through it.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from a2a_session_manager._redact import PATH_SCHEMES as _PATH_SCHEMES
from a2a_session_manager._redact import SCHEME as _SCHEME
from a2a_session_manager._redact import redact_url
from a2a_session_manager.models.session import set_default_source
from a2a_session_manager.storage._urls import (
    PARAMETERS,
    SCHEMES,
    query_options,
    split_server_url,
    unix_url,
    url_parameters,
)
from a2a_session_manager.storage.base import SessionStore, SessionStoreInterface
from a2a_session_manager.storage.providers.memory import InMemorySessionStore

if TYPE_CHECKING:
    from a2a_session_manager.storage.providers.file import FileSessionStore, create_file_session_store
    from a2a_session_manager.storage.providers.redis import RedisSessionStore, create_redis_session_store
    from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore, create_sqlite_session_store

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
    "redact_url",
    "resolve",
    "url_parameters",
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


# A session with no store of its own reads the provider's default, looked up at each use.
set_default_source(SessionStoreProvider.get_store)


def resolve(store: SessionStore | None) -> SessionStore:
    """The store to use for one call: ``store`` itself, or the provider's default now.

    The one rule for ``store=None`` everywhere (core objects and adapters alike): the
    default is looked up at each call, never bound when an object is built, so a later
    ``SessionStoreProvider.set_store(...)`` applies to objects made before it.

    Args:
        store: A store, or None for the default.

    Returns:
        ``store`` when given, else ``SessionStoreProvider.get_store()``.
    """
    return store if store is not None else SessionStoreProvider.get_store()


def create_session_store(url: str, **options: Any) -> SessionStore:
    """Create a store from a URL.

    ``memory://``, ``file:///abs/dir`` (or ``file://./rel``), ``sqlite:///rel.db`` or
    ``sqlite:////abs/path.db`` (SQLAlchemy's rule; ``:memory:`` is refused: use
    ``memory://``), ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) and
    ``unix:///path/redis.sock``. Query parameters set the factory's options with typed
    values (`url_parameters` lists them per scheme): ``ttl`` (or ``expiration_seconds``)
    everywhere; ``fsync`` and ``create`` for file and SQLite; ``prefix`` (or
    ``key_prefix``), ``socket_timeout``, ``cluster`` and ``allow_eviction`` for Redis;
    ``ssl_ca_certs``, ``ssl_ca_path``, ``ssl_certfile``, ``ssl_keyfile``,
    ``ssl_cert_reqs`` and ``ssl_check_hostname`` for ``rediss://``; ``db``, ``username``
    and ``password`` for ``unix://``. An unknown parameter, one given twice or a bad
    value raises ``ValueError``. Keyword options override the URL's.

    Args:
        url: The store URL. Percent-encode ``/ ? # @ %`` in a password.
        **options: Extra keyword arguments for the store's factory. ``create=False``
            opens only an existing file or SQLite store (and is ignored by memory and
            Redis stores, which have nothing to create).

    Returns:
        The store.

    Raises:
        ValueError: The URL's scheme is unknown, its path is missing, or a query
            parameter is unknown, repeated or has a bad value (the message names it, and
            never shows a password).
        StoreUnavailableError: ``create=False`` and the file or SQLite store is missing.
    """
    if not isinstance(url, str) or not re.match(_SCHEME + "://", url):
        shown = redact_url(url) if isinstance(url, str) else f"a {type(url).__name__}"
        raise ValueError(f"not a store URL: {shown}; use {SCHEMES}")
    shown = redact_url(url)
    scheme = url.partition("://")[0].lower()
    if scheme not in PARAMETERS:
        raise ValueError(f"unknown store URL scheme {url.partition('://')[0]!r} in {shown}; use {SCHEMES}")
    if scheme in _PATH_SCHEMES:
        base, query = url, urlsplit(url).query
    else:
        base, query = split_server_url(scheme, url, shown)
    from_url, kept = query_options(scheme, query, shown)
    options = {**from_url, **options}
    if scheme == "memory":
        options.pop("create", None)
        return InMemorySessionStore(**options)
    if scheme in ("file", "sqlite"):
        parts = urlsplit(url)
        raw = unquote(parts.netloc + parts.path)
        if scheme == "sqlite" and not parts.netloc and raw.startswith("/"):
            # SQLAlchemy's rule: sqlite:///rel.db is relative, sqlite:////abs.db absolute.
            raw = raw[1:]
        if not raw or raw in ("/", ":memory:", "/:memory:"):
            raise ValueError(f"store URL {shown} names no path")
        if scheme == "file":
            from a2a_session_manager.storage.providers.file import create_file_session_store

            return create_file_session_store(raw, **options)
        from a2a_session_manager.storage.providers.sqlite import create_sqlite_session_store

        return create_sqlite_session_store(raw, **options)
    options.pop("create", None)
    if kept:
        base = unix_url(base, kept, shown)
    from a2a_session_manager.storage.providers.redis import create_redis_session_store

    return create_redis_session_store(url=base, **options)


def __getattr__(name: str) -> Any:
    # Backends load on first use: importing this package loads no backend module but memory.
    if name in ("FileSessionStore", "create_file_session_store"):
        from a2a_session_manager.storage.providers import file

        return getattr(file, name)
    if name in ("SQLiteSessionStore", "create_sqlite_session_store"):
        from a2a_session_manager.storage.providers import sqlite

        return getattr(sqlite, name)
    if name in ("RedisSessionStore", "create_redis_session_store"):
        from a2a_session_manager.storage.providers import redis

        return getattr(redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
