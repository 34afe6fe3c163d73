"""File names of the file store: a session id escaped into a safe, canonical stem.

``s-`` then the id with ``_`` as ``__``, an upper-case ASCII letter as ``_`` plus its
lower case, ``:`` as ``_-`` and every character outside ``a-z 0-9 - . @`` as
``_.<hex code point>.``; an id whose escaped form is too long becomes
``h-<escaped head>~<sha256>`` (``file.py``'s docstring says why). No I/O here.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from a2a_session_manager._ids import MAX_SESSION_ID_LENGTH

MAX_ESCAPED = 200
"""Longest escaped id used verbatim in a file name (255-byte limits, with suffixes)."""
HEAD_CHARS = 100
"""How much of a long id's escaped form its hashed file name keeps."""

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.@")
"""Characters a stem keeps as they are: no case, no separator, valid on every OS."""


def escape(sid: str) -> str:
    """``sid`` in the stems' closed alphabet (reversible by `unescape`)."""
    out = []
    for ch in sid:
        if ch in _PLAIN:
            out.append(ch)
        elif "A" <= ch <= "Z":
            out.append("_" + ch.lower())
        elif ch == "_":
            out.append("__")
        elif ch == ":":
            out.append("_-")
        else:
            # Any other character (``/``, space, ``*``, non-ASCII...) as its code point in
            # lower-case hex between ``_.`` and ``.``: file names stay ASCII in a closed
            # alphabet, so no file system folds two ids onto one name (case, Unicode
            # normalisation) and byte length is the character count.
            out.append(f"_.{ord(ch):x}.")
    return "".join(out)


def unescape(text: str) -> str | None:
    """The id an escaped text encodes, or None when it is not one `escape` makes."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "_":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "_":
            out.append("_")
        elif nxt == "-":
            out.append(":")
        elif "a" <= nxt <= "z":
            out.append(nxt.upper())
        elif nxt == ".":
            stop = text.find(".", i + 2)
            digits = text[i + 2 : stop]
            if stop < 0 or not 0 < len(digits) <= 6 or digits.strip("0123456789abcdef"):
                return None
            code = int(digits, 16)
            if code > 0x10FFFF:
                return None
            out.append(chr(code))
            i = stop + 1
            continue
        else:
            return None
        i += 2
    return "".join(out)


@lru_cache(maxsize=4096)
def stem(sid: str) -> str:
    """The file name of a session without its suffix: ``s-<escaped>`` or, when too long, ``h-<head>~<hash>``."""
    escaped = escape(sid)
    if len(escaped) <= MAX_ESCAPED:
        return "s-" + escaped
    head: list[str] = []
    used = 0
    for ch in sid:
        piece = escape(ch)
        if used + len(piece) > HEAD_CHARS:
            break
        head.append(piece)
        used += len(piece)
    return "h-" + "".join(head) + "~" + hashlib.sha256(sid.encode()).hexdigest()[:32]


def stem_prefix(stem: str) -> str | None:
    """The id (``s-`` stems) or the known head of the id (``h-`` stems) a stem encodes."""
    if stem.startswith("s-"):
        return unescape(stem[2:])
    if stem.startswith("h-") and "~" in stem:
        return unescape(stem[2 : stem.index("~")])
    return None


def is_id(text: str) -> bool:
    """Whether ``text`` is a session id the store could have written (names of other files are skipped)."""
    return 0 < len(text) <= MAX_SESSION_ID_LENGTH and text.isprintable()
