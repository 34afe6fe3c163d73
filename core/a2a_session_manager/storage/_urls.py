"""Store URLs: the query parameters each scheme accepts, their parsers, and the checks of a URL's shape.

``create_session_store`` (``storage/__init__.py``) turns a URL into a factory call with
these; the Redis factory checks a URL's user info here too. Every message shows a URL
only through ``redact_url``, so no password is ever quoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from a2a_session_manager._redact import userinfo_end

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
PARAMETERS: dict[str, dict[str, tuple[str, _Parser, str]]] = {
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
    table = PARAMETERS.get(scheme.lower())
    if table is None:
        raise ValueError(f"unknown store URL scheme {scheme!r}; use {SCHEMES}")
    return {name: spec[2] for name, spec in table.items()}


SCHEMES = "memory://, file:///dir, sqlite:///path.db, redis://host:port/db, rediss:// or unix:///socket"


def query_options(scheme: str, query: str, shown: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed factory keywords from a URL query, and the raw ``unix://`` parameters kept in the URL."""
    table = PARAMETERS[scheme]
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


def check_userinfo(scheme: str, url: str, shown: str) -> None:
    """Refuse a user name or password that ``urlsplit`` (and so redis-py) would misread."""
    rest = url.partition("://")[2]
    at = userinfo_end(scheme, rest)
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]  # what urlsplit takes
    if at >= 0 and not netloc.startswith(rest[:at] + "@"):
        raise ValueError(
            f"store URL {shown}: the user name or password holds a character that must be "
            "percent-encoded (such as / ? # @ or %)"
        )


def split_server_url(scheme: str, url: str, shown: str) -> tuple[str, str]:
    """Check a server URL's shape; return it without the query (for redis-py) and the query.

    Runs before the query is read, so a password that fools ``urlsplit`` (an unencoded
    ``/ ? #``) is refused as a whole and no piece of it is ever named as a parameter.
    """
    check_userinfo(scheme, url, shown)
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


def unix_url(base: str, kept: dict[str, str], shown: str) -> str:
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
