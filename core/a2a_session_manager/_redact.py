"""Store URLs without their secrets: the one function every message, repr and CLI line uses."""

from __future__ import annotations

import re

__all__ = ["PATH_SCHEMES", "SCHEME", "redact_url", "userinfo_end"]

_REDACTED = "***"
# Query (or DSN) values whose name says they are secret.
_SECRET_VALUE = re.compile(r"(?i)\b([a-z_]*(?:password|passwd|pwd|secret|token)[a-z_]*)=([^&\s]*)")
PATH_SCHEMES = ("file", "sqlite", "memory")
SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*"


def userinfo_end(scheme: str, rest: str) -> int:
    """Where the ``user:password`` part of ``rest`` (the URL after ``://``) ends: its ``@``, or -1.

    Server URLs have no ``@`` in their path (the database number), so the last ``@`` before
    the query ends the user info even when an unencoded ``/`` or ``#`` in the password
    fools ``urlsplit``; an ``@`` only after ``?`` counts when no query value (``=``) precedes it.
    """
    if scheme in PATH_SCHEMES:
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        return rest.rfind("@", 0, end)
    head = rest.split("?", 1)[0]
    at = head.rfind("@")
    if at < 0:
        last = rest.rfind("@")
        if last >= 0 and ":" in rest[:last] and "=" not in rest[:last]:
            at = last
    return at


def redact_url(url: str) -> str:
    """The store URL (or DSN) with every password replaced by ``***``, safe to print.

    ``redis://user:secret@host:6379/0`` becomes ``redis://user:***@host:6379/0``; query or
    DSN values named like a secret (``password=``, ``ssl_password=``, ``token=``) become
    ``***`` too. Every error message, log line, repr and CLI output that shows a store URL
    goes through this function.

    Args:
        url: A store URL, or any text that may hold one.

    Returns:
        The text without its secrets.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(SCHEME, scheme):  # a mistyped URL: read it as a server address
        scheme, sep, rest = "", "", text
    at = userinfo_end(scheme.lower(), rest)
    if at >= 0 and ":" in rest[:at]:
        user = rest[:at].split(":", 1)[0]
        text = f"{scheme}{sep}{user}:{_REDACTED}{rest[at:]}"
    return _SECRET_VALUE.sub(lambda m: f"{m.group(1)}={_REDACTED}", text)
