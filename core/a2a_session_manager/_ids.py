"""Session id rules: an id is data, never a path or a key pattern."""

from __future__ import annotations

import os
import re

from a2a_session_manager.exceptions import InvalidSessionIdError

__all__ = ["MAX_SESSION_ID_LENGTH", "check_name", "check_session_id", "new_id", "quote_id", "unquote_id"]

MAX_SESSION_ID_LENGTH = 256
_SAFE_RE = re.compile(r"[A-Za-z0-9_\-.:@]+")
_PCT_RE = re.compile(r"%[0-9A-F]{2}")
_NAME_RE = re.compile(r"[A-Za-z0-9_\-.:@/]{1,512}")


def new_id() -> str:
    """A random version-4 UUID as 32 hex digits (``uuid4().hex``, without building a ``UUID``).

    Every event gets one, so it sits on the append path: ``uuid.UUID`` construction is
    most of ``uuid4().hex``'s cost (measured 2.6 µs against 0.8 µs here).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def check_session_id(session_id: object) -> str:
    """Validate a session id and return it.

    An id is any printable text of 1 to 256 characters (``user+1@example.com``,
    ``tenant/42``, ``a b``, ``../x``, ``*``, any script). It is data: stores map it to file
    names and keys through an encoding (:func:`quote_id`, the file store's own), never
    through the raw text, so no id can escape a store or act as a pattern.

    Args:
        session_id: The candidate id.

    Returns:
        The id, unchanged.

    Raises:
        InvalidSessionIdError: The id is not a string, is empty, is longer than 256
            characters or holds a character that is not printable (control characters,
            lone surrogates, line breaks).
    """
    if type(session_id) is str and 0 < len(session_id) <= MAX_SESSION_ID_LENGTH and session_id.isprintable():
        return session_id
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(f"session id must be a str, not {type(session_id).__name__}", session_id=None)
    if type(session_id) is not str:  # a str subclass (e.g. an enum member): check its plain text
        return check_session_id(str.__str__(session_id))
    shown = ascii(session_id if len(session_id) <= 80 else session_id[:77] + "...")
    if not session_id:
        why = "it is empty"
    elif len(session_id) > MAX_SESSION_ID_LENGTH:
        why = f"it has {len(session_id)} characters"
    else:
        bad = next(ch for ch in session_id if not ch.isprintable())
        why = f"it holds the non-printable character {bad!a}"
    raise InvalidSessionIdError(
        f"invalid session id {shown}: {why}; use 1 to {MAX_SESSION_ID_LENGTH} printable characters",
        session_id=None,
    )


def quote_id(session_id: str) -> str:
    """Encode a checked id for a key or name: ``%XX`` (UTF-8) for every character outside
    ``A-Z a-z 0-9 - _ . : @``.

    Ids made only of those characters (every id the 0.2 rules accepted) encode to
    themselves, so data stored under them stays where it was. The result holds no glob
    character, brace, slash, space or ``%`` other than the escape's own, and encoding
    keeps prefixes: ``quote_id(a + b)`` starts with ``quote_id(a)``.

    Args:
        session_id: An id that passed :func:`check_session_id`.

    Returns:
        The encoded id.
    """
    if _SAFE_RE.fullmatch(session_id):
        return session_id
    return "".join(ch if _SAFE_RE.fullmatch(ch) else _pct(ch) for ch in session_id)


def unquote_id(text: str) -> str | None:
    """Invert :func:`quote_id`; None when ``text`` is not an encoding it produces."""
    if "%" not in text:
        return text if _SAFE_RE.fullmatch(text) else None
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            if not _PCT_RE.match(text, i):
                return None
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        elif _SAFE_RE.fullmatch(ch):
            raw += ch.encode()
            i += 1
        else:
            return None
    try:
        result = raw.decode()
    except UnicodeDecodeError:
        return None
    return result if quote_id(result) == text else None


def _pct(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode())


def check_name(value: object, *, what: str, session_id: str | None = None) -> str:
    """Validate a record kind or key (letters, digits and ``- _ . : @ /``, at most 512 chars).

    Args:
        value: The candidate name.
        what: What it names, for the message ("record kind", "record key").
        session_id: The session concerned.

    Returns:
        The name, unchanged.

    Raises:
        InvalidSessionIdError: The name is not a string or breaks the rules.
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidSessionIdError(
            f"invalid {what} {value!r}: use 1 to 512 characters from A-Z a-z 0-9 - _ . : @ /",
            session_id=session_id,
        )
    return value
