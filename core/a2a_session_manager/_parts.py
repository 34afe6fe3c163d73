"""Content parts of the neutral format that need no model: the ``unknown`` part and compact JSON.

The neutral format itself is documented in ``models.neutral``, which re-exports these
names. They live on the ground floor because ``tokens`` (which knows no event) counts an
``unknown`` part as its placeholder, exactly as prompts show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLACEHOLDERS", "UNKNOWN_PART", "compact_json", "part_placeholder", "unknown_part"]

UNKNOWN_PART = "unknown"
"""``type`` of the neutral part that wraps a block no other part type can hold."""

PLACEHOLDERS = {
    "image": "[image]",
    "image_url": "[image]",
    "input_image": "[image]",
    "file": "[file]",
    "input_file": "[file]",
    "document": "[file]",
    "text-plain": "[file]",
    "audio": "[audio]",
    "input_audio": "[audio]",
    "video": "[video]",
    "text": "",
}
"""Placeholder of each part type that is not text (a text block without text stands for nothing)."""
# A block's own ``type`` becomes part of a prompt only when it looks like a type name.
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,39}")


def compact_json(value: Any) -> str:
    """Encode ``value`` as compact JSON (non-JSON values fall back to ``str``).

    Args:
        value: Any value.

    Returns:
        JSON text without spaces after separators.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def unknown_part(block: Any) -> dict[str, Any]:
    """Wrap a content block that no neutral part type can hold (see ``models.neutral``).

    Args:
        block: The block as the framework gave it (kept untouched in ``"block"``).

    Returns:
        ``{"type": "unknown", "block_type": <the block's "type" when it is a str>, "block": block}``.
    """
    kind = block.get("type") if isinstance(block, Mapping) else None
    return {"type": UNKNOWN_PART, "block_type": kind if isinstance(kind, str) else None, "block": block}


def part_placeholder(part: Mapping[str, Any]) -> str:
    """The short text that stands for a part that is not text (``[image]``, ``[reasoning]``...).

    For an ``unknown`` part the placeholder follows its ``block_type``; a text block that
    had no text stands for nothing (``""``).

    Args:
        part: A content part.

    Returns:
        The placeholder.
    """
    kind = part.get("block_type") if part.get("type") == UNKNOWN_PART else part.get("type")
    if not isinstance(kind, str):
        return "[unknown]"
    known = PLACEHOLDERS.get(kind)
    if known is not None:
        return known
    return f"[{kind}]" if _TYPE_NAME.fullmatch(kind) else "[unknown]"
