"""Model prices per million tokens, dated, extendable at run time.

An unknown model has no price: its cost is None, never a neighbour's price.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["ModelPrice", "estimate_cost_usd", "get_model_price", "register_model_pricing"]


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for one model."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None


_PRICES: dict[str, ModelPrice] = {
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
    "gpt-4": ModelPrice(30.0, 60.0),
    "gpt-4-turbo": ModelPrice(10.0, 30.0),
    "gpt-4o": ModelPrice(2.50, 10.0, 1.25),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, 0.075),
}
_LOCK = threading.Lock()


def register_model_pricing(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached_input_per_mtok: float | None = None,
    reasoning_per_mtok: float | None = None,
) -> None:
    """Add or replace a model's price.

    Args:
        model: Model name as it appears in usage records.
        input_per_mtok: USD per million input tokens.
        output_per_mtok: USD per million output tokens.
        cached_input_per_mtok: USD per million cached input tokens, if the vendor has a rate.
        reasoning_per_mtok: USD per million reasoning tokens, if billed apart from output.
    """
    with _LOCK:
        _PRICES[model.lower()] = ModelPrice(
            input_per_mtok, output_per_mtok, cached_input_per_mtok, reasoning_per_mtok
        )


def get_model_price(model: str | None) -> ModelPrice | None:
    """Return the price of ``model``, or None when it is unknown.

    Args:
        model: Model name.

    Returns:
        The price, or None.
    """
    if not model:
        return None
    return _PRICES.get(model.lower())


def estimate_cost_usd(
    model: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_prompt_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> float | None:
    """Estimate the cost in USD of one call, or None when the model has no price.

    Args:
        model: Model name.
        prompt_tokens: Input tokens, cached ones included.
        completion_tokens: Output tokens, reasoning ones included.
        cached_prompt_tokens: Part of the input served from the vendor's cache.
        reasoning_tokens: Part of the output spent on reasoning.

    Returns:
        The cost, rounded to 1e-9 USD, or None.
    """
    price = get_model_price(model)
    if price is None:
        return None
    cached = min(max(cached_prompt_tokens, 0), prompt_tokens)
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    reasoning = min(max(reasoning_tokens, 0), completion_tokens)
    reasoning_rate = price.reasoning_per_mtok if price.reasoning_per_mtok is not None else price.output_per_mtok
    cost = (
        (prompt_tokens - cached) * price.input_per_mtok
        + cached * cached_rate
        + (completion_tokens - reasoning) * price.output_per_mtok
        + reasoning * reasoning_rate
    ) / 1_000_000
    return round(cost, 9)
