"""How token counts and costs read, everywhere: one call's usage, a summary, or plain figures.

The pure formatters behind ``usage.format_cost``, ``usage.format_tokens``,
``usage.format_usd`` and ``usage.cost_usd`` (which add ``UsageReport`` to the types
they take). They live with the models so the HTML views (``models._html``) can use them
without importing ``usage``, which reads stores.
"""

from __future__ import annotations

import math

from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage

__all__ = ["cost_usd", "format_cost", "format_tokens", "format_usd"]


def cost_usd(value: TokenUsage | TokenSummary) -> float | None:
    """The cost of what had a price, or None when tokens were recorded and none had one.

    Args:
        value: A usage or a summary.

    Returns:
        USD, or None when nothing in it had a price.
    """
    if isinstance(value, TokenUsage):
        return value.estimated_cost_usd
    if value.total_tokens and value.unpriced_tokens >= value.total_tokens:
        return None
    return value.total_estimated_cost_usd


def format_usd(amount: float) -> str:
    """Format a USD amount: cents from $1, else at least four decimals and three significant digits.

    Examples: ``$12.35``, ``$0.5000``, ``$0.0123``, ``$0.000137``, ``$0.00000005``, ``$0.00``.

    Args:
        amount: USD (costs are rounded to 1e-9 USD, so nine decimals at most are shown).

    Returns:
        The text, with a leading ``$``.
    """
    if not math.isfinite(amount):
        return f"${amount}"
    if amount == 0:
        return "$0.00"
    size = abs(amount)
    if size >= 1:
        return f"{'-' if amount < 0 else ''}${size:,.2f}"
    # Three significant digits (trailing zeros dropped), never fewer than four decimals nor
    # more than nine: sub-cent calls are the common case and must not read as $0.0000.
    decimals = min(max(4, 2 - math.floor(math.log10(size))), 9)
    text = f"{size:.{decimals}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(4, "0")
    return f"{'-' if amount < 0 else ''}${whole}.{fraction}"


def format_cost(value: TokenUsage | TokenSummary | float | None, *, unpriced_tokens: int = 0) -> str:
    """Format a cost, saying what had no price (see ``usage.format_cost``).

    Args:
        value: A usage or a summary; or a plain cost in USD (None when unknown), with
            ``unpriced_tokens`` given apart.
        unpriced_tokens: Tokens without a price, for a plain cost (ignored otherwise).

    Returns:
        The text.
    """
    if isinstance(value, TokenUsage):
        cost, unpriced = value.estimated_cost_usd, 0
    elif isinstance(value, TokenSummary):
        cost, unpriced = cost_usd(value), value.unpriced_tokens
    else:
        cost, unpriced = value, unpriced_tokens
    if cost is None:
        return f"{unpriced:,} unpriced tokens" if unpriced else "unpriced"
    text = format_usd(cost)
    return f"{text} + {unpriced:,} unpriced tokens" if unpriced else text


def format_tokens(value: TokenUsage | TokenSummary | int, *, estimated_tokens: int = 0) -> str:
    """Format a token count, marking estimated figures with ``~`` (see ``usage.format_tokens``).

    Args:
        value: A usage or a summary; or a plain count, with ``estimated_tokens`` given apart.
        estimated_tokens: How many of a plain count are estimates (ignored otherwise).

    Returns:
        The text.
    """
    if isinstance(value, TokenUsage):
        total = value.total_tokens
        estimated = total if value.origin == "estimated" else 0
    elif isinstance(value, TokenSummary):
        total, estimated = value.total_tokens, value.tokens_by_origin.get("estimated", 0)
    else:
        total, estimated = value, estimated_tokens
    if not estimated or not total:
        return f"{total:,} tokens"
    if estimated >= total:
        return f"~{total:,} tokens (estimated)"
    return f"~{total:,} tokens ({estimated:,} estimated)"
