"""Token counting.

This first version only estimates (about four characters per token, flagged
``origin="estimated"``); exact offline tiktoken counts replace it (issue 3).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["TokenCount", "TokenOrigin", "count_text_tokens"]

TokenOrigin = Literal["reported", "counted", "estimated"]


class TokenCount(NamedTuple):
    """A token count and how it was obtained."""

    tokens: int
    origin: TokenOrigin


def count_text_tokens(text: str | None, model: str | None = None) -> TokenCount:
    """Count the tokens of ``text`` as ``model``'s tokenizer would.

    Args:
        text: The text; None counts as zero.
        model: Model name that selects the tokenizer.

    Returns:
        The count and its origin.
    """
    if not text:
        return TokenCount(0, "estimated")
    return TokenCount(max(1, (len(text) + 3) // 4), "estimated")
