"""Stores, the default-store provider, the factories and store URLs.

Backends load lazily: importing this package never imports redis, and the factory of
a backend whose extra is missing raises ``MissingDependencyError`` with the pip line.
``redact_url`` is the one place a store URL is made safe to print: every message, log
line and repr that shows a URL goes through it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from a2a_session_manager._redact import PATH_SCHEMES as _PATH_SCHEMES
from a2a_session_manager._redact import SCHEME as _SCHEME
from a2a_session_manager._redact import redact_url, userinfo_end
from a2a_session_manager.exceptions import StoreUnavailableError
from a2a_session_manager.models.session import set_default_source
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


# ------------------------------------------------------------------ factories
def create_file_session_store(
    directory: str | Path = "./sessions",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
    create: bool = True,
) -> FileSessionStore:
    """Create a store of append-only JSON-lines files, one per session, in ``directory``.

    Args:
        directory: Folder of the store (created if missing, unless ``create`` is False).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: Also fsync every write, so acknowledged data survives power loss.
        create: False opens only an existing store and creates nothing when it is missing
            (what read-only tools such as the CLI's ``list`` want).

    Returns:
        The store.

    Raises:
        StoreUnavailableError: ``create`` is False and ``directory`` is not an existing folder.
    """
    from a2a_session_manager.storage.providers.file import FileSessionStore

    if not create and not Path(directory).expanduser().is_dir():
        raise StoreUnavailableError(
            f"no file store at {Path(directory).expanduser().absolute()}: the folder does not exist "
            "(nothing was created; check the path)"
        )
    return FileSessionStore(directory=directory, expiration_seconds=expiration_seconds, fsync=fsync)


def create_sqlite_session_store(
    path: str | Path = "sessions.db",
    *,
    expiration_seconds: int | None = None,
    fsync: bool = False,
    create: bool = True,
) -> SQLiteSessionStore:
    """Create a SQLite store (stdlib sqlite3, WAL, one row per event).

    Args:
        path: Database file (created if missing, unless ``create`` is False).
        expiration_seconds: TTL of a whole session, refreshed on every write.
        fsync: ``synchronous=FULL`` (survives power loss) instead of ``NORMAL``.
        create: False opens only an existing database and creates nothing when it is
            missing (what read-only tools such as the CLI's ``list`` want).

    Returns:
        The store.

    Raises:
        StoreUnavailableError: ``create`` is False and ``path`` is not an existing file.
    """
    from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

    if not create and isinstance(path, (str, Path)) and not Path(path).expanduser().is_file():
        raise StoreUnavailableError(
            f"no SQLite database at {Path(path).expanduser().absolute()}: the file does not exist "
            "(nothing was created; check the path)"
        )
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
    allow_eviction: bool = False,
    ssl_ca_certs: str | None = None,
    ssl_ca_path: str | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_cert_reqs: str | None = None,
    ssl_check_hostname: bool | None = None,
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
        allow_eviction: Accept a server whose ``maxmemory-policy`` may evict the store's keys.
        ssl_ca_certs: TLS: file of the CA certificates that sign the server's certificate
            (a private CA).
        ssl_ca_path: TLS: folder of CA certificates (OpenSSL's hashed layout).
        ssl_certfile: TLS: the client's certificate file (servers that verify clients).
        ssl_keyfile: TLS: the client's private key file.
        ssl_cert_reqs: TLS: ``"required"`` (default), ``"optional"`` or ``"none"`` (no
            verification of the server's certificate).
        ssl_check_hostname: TLS: check that the certificate names the host (redis-py's
            default when None).

    Returns:
        The store.

    Raises:
        MissingDependencyError: redis-py is not installed.
        ValueError: ``url`` is not a URL, or its password holds an unencoded ``/ ? # @``
            (the message never shows the password).
    """
    from a2a_session_manager.storage.providers.redis import RedisSessionStore

    if url is not None:
        # Checked here so that no message can quote a password: not a URL at all, or one
        # whose password urlsplit would misread (redis-py would connect with a piece of it).
        if not isinstance(url, str) or not re.match(_SCHEME + "://", url):
            shown = redact_url(url) if isinstance(url, str) else f"a {type(url).__name__}"
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, not {shown}")
        _check_userinfo(url.partition("://")[0].lower(), url, redact_url(url))
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
        allow_eviction=allow_eviction,
        ssl_ca_certs=ssl_ca_certs,
        ssl_ca_path=ssl_ca_path,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_cert_reqs=ssl_cert_reqs,
        ssl_check_hostname=ssl_check_hostname,
    )


# ------------------------------------------------------------------ store URLs
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}")


def _seconds(name: str, raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number of seconds, not {raw!r}")
    return int(raw)


def _timeout(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _database(name: str, raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{name} must be a database number (0, 1, ...), not {raw!r}")
    return int(raw)


def _path(name: str, raw: str) -> str:
    if not raw:
        raise ValueError(f"{name} needs a file path")
    return raw


def _text(name: str, raw: str) -> str:
    return raw


def _secret(name: str, raw: str) -> str:
    if not raw:
        raise ValueError(f"{name} is empty")  # the value itself is never shown
    return raw


def _cert_reqs(name: str, raw: str) -> str:
    if raw.lower() not in ("none", "optional", "required"):
        raise ValueError(f"{name} must be required, optional or none, not {raw!r}")
    return raw.lower()


_Parser = Callable[[str, str], Any]
# URL parameter -> (factory keyword, parser, what it does), per scheme.
_TTL: dict[str, tuple[str, _Parser, str]] = {
    "ttl": ("expiration_seconds", _seconds, "seconds a session lives after its last write"),
    "expiration_seconds": ("expiration_seconds", _seconds, "same as ttl"),
}
_LOCAL: dict[str, tuple[str, _Parser, str]] = {
    **_TTL,
    "fsync": ("fsync", _flag, "1: fsync every write (survives power loss)"),
    "create": ("create", _flag, "0: open only an existing store, create nothing"),
}
_REDIS: dict[str, tuple[str, _Parser, str]] = {
    **_TTL,
    "prefix": ("key_prefix", _text, "prefix of every key (default session:)"),
    "key_prefix": ("key_prefix", _text, "same as prefix"),
    "socket_timeout": ("socket_timeout", _timeout, "seconds to connect or wait for a reply (default 5)"),
    "cluster": ("cluster", _flag, "1: Redis Cluster, through any one node"),
    "allow_eviction": ("allow_eviction", _flag, "1: accept a maxmemory-policy that may evict keys"),
}
_TLS: dict[str, tuple[str, _Parser, str]] = {
    "ssl_ca_certs": ("ssl_ca_certs", _path, "CA certificates file (a private CA)"),
    "ssl_ca_path": ("ssl_ca_path", _path, "folder of CA certificates"),
    "ssl_certfile": ("ssl_certfile", _path, "client certificate file"),
    "ssl_keyfile": ("ssl_keyfile", _path, "client private key file"),
    "ssl_cert_reqs": ("ssl_cert_reqs", _cert_reqs, "required (default), optional or none"),
    "ssl_check_hostname": ("ssl_check_hostname", _flag, "0: accept a certificate for another host name"),
}
# unix:// keeps these in the URL it gives redis-py (the socket path leaves no room for them).
_UNIX: dict[str, tuple[str, _Parser, str]] = {
    "db": ("db", _database, "database number"),
    "username": ("username", _text, "ACL user name"),
    "password": ("password", _secret, "server password"),
}
_PARAMETERS: dict[str, dict[str, tuple[str, _Parser, str]]] = {
    "memory": dict(_TTL),
    "file": dict(_LOCAL),
    "sqlite": dict(_LOCAL),
    "redis": dict(_REDIS),
    "rediss": {**_REDIS, **_TLS},
    "unix": {k: v for k, v in {**_REDIS, **_UNIX}.items() if k != "cluster"},
}


def url_parameters(scheme: str) -> dict[str, str]:
    """The query parameters a store URL of ``scheme`` accepts, each with what it does.

    Args:
        scheme: ``memory``, ``file``, ``sqlite``, ``redis``, ``rediss`` or ``unix``.

    Returns:
        Parameter name -> one-line description, in documentation order.

    Raises:
        ValueError: The scheme is not a store scheme.
    """
    table = _PARAMETERS.get(scheme.lower())
    if table is None:
        raise ValueError(f"unknown store URL scheme {scheme!r}; use {_SCHEMES}")
    return {name: spec[2] for name, spec in table.items()}


_SCHEMES = "memory://, file:///dir, sqlite:///path.db, redis://host:port/db, rediss:// or unix:///socket"


def _query_options(scheme: str, query: str, shown: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed factory keywords from a URL query, and the raw ``unix://`` parameters kept in the URL."""
    table = _PARAMETERS[scheme]
    options: dict[str, Any] = {}
    given: dict[str, str] = {}
    kept: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"store URL {shown}: the query is not name=value pairs joined by &") from None
    unknown = sorted({name for name, _ in pairs if name not in table})
    if unknown:
        hint = ""
        if scheme in ("redis", "rediss") and "db" in unknown:
            hint = " (the database number goes in the path: redis://host:port/N)"
        elif scheme == "redis" and any(n.startswith("ssl_") for n in unknown):
            hint = " (TLS options need a rediss:// URL)"
        raise ValueError(
            f"store URL {shown}: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}{hint}; {scheme}:// accepts {', '.join(table)}"
        )
    for name, raw in pairs:
        keyword, parse, _ = table[name]
        if keyword in given:
            first = given[keyword]
            twice = "is given twice" if first == name else f"and {first} name the same option"
            raise ValueError(f"store URL {shown}: {name} {twice}; give it once")
        given[keyword] = name
        try:
            value = parse(name, raw)
        except ValueError as exc:
            raise ValueError(f"store URL {shown}: {exc}") from None
        if scheme == "unix" and name in _UNIX:
            kept[name] = raw
        else:
            options[keyword] = value
    return options, kept


def _check_userinfo(scheme: str, url: str, shown: str) -> None:
    """Refuse a user name or password that ``urlsplit`` (and so redis-py) would misread."""
    rest = url.partition("://")[2]
    at = userinfo_end(scheme, rest)
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]  # what urlsplit takes
    if at >= 0 and not netloc.startswith(rest[:at] + "@"):
        raise ValueError(
            f"store URL {shown}: the user name or password holds a character that must be "
            "percent-encoded (such as / ? # @ or %)"
        )


def _split_server_url(scheme: str, url: str, shown: str) -> tuple[str, str]:
    """Check a server URL's shape; return it without the query (for redis-py) and the query.

    Runs before the query is read, so a password that fools ``urlsplit`` (an unencoded
    ``/ ? #``) is refused as a whole and no piece of it is ever named as a parameter.
    """
    _check_userinfo(scheme, url, shown)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading the port raises ValueError on a bad one
    except ValueError:
        raise ValueError(f"store URL {shown}: the host or port is malformed") from None
    if parts.fragment or "#" in url:
        raise ValueError(f"store URL {shown}: '#' starts a fragment, which means nothing here; percent-encode it")
    if scheme != "unix" and parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]+", parts.path):
        raise ValueError(f"store URL {shown}: the path of a Redis URL is the database number (/0, /1, ...)")
    return f"{scheme}://{parts.netloc}{parts.path}", parts.query


def _unix_url(base: str, kept: dict[str, str], shown: str) -> str:
    """A ``unix://`` URL for redis-py: credentials move into the user info, which every
    message redacts (a password left in the query would be echoed), and ``db`` stays in the query.
    """
    parts = urlsplit(base)
    user, password = kept.get("username"), kept.get("password")
    if (user is not None or password is not None) and "@" in parts.netloc:
        raise ValueError(f"store URL {shown}: give the user name and password once, in the URL or in the query")
    userinfo = quote(user or "", safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    netloc = f"{userinfo}@{parts.netloc}" if userinfo else parts.netloc
    query = f"?db={kept['db']}" if "db" in kept else ""
    return f"unix://{netloc}{parts.path}{query}"


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
        raise ValueError(f"not a store URL: {shown}; use {_SCHEMES}")
    shown = redact_url(url)
    scheme = url.partition("://")[0].lower()
    if scheme not in _PARAMETERS:
        raise ValueError(f"unknown store URL scheme {url.partition('://')[0]!r} in {shown}; use {_SCHEMES}")
    if scheme in _PATH_SCHEMES:
        base, query = url, urlsplit(url).query
    else:
        base, query = _split_server_url(scheme, url, shown)
    from_url, kept = _query_options(scheme, query, shown)
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
            return create_file_session_store(raw, **options)
        return create_sqlite_session_store(raw, **options)
    options.pop("create", None)
    if kept:
        base = _unix_url(base, kept, shown)
    return create_redis_session_store(url=base, **options)


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
