"""Model prices per million tokens: a dated table that users extend at run time.

``PRICES_AS_OF`` dates the table: vendors' published list prices (standard tier, no
batch discount) for text tokens. Where a vendor charges more above a long-context
threshold (Gemini 2.5 Pro and 3 Pro above 200k prompt tokens, Claude Sonnet 4.5's
1M-context beta), the table holds the standard rate and the surcharge is not modelled.
Reasoning ("thinking") tokens are billed at the output rate by every vendor listed, so
``reasoning_per_mtok`` is left None (= output rate) unless a user sets it.

Name resolution (``resolve_price_model``), case-insensitive, first hit wins; at each
step a price registered with ``register_model_pricing`` wins over the table:

1. the name as given (so ``gpt-4o-2024-05-13``, which had its own price, keeps it);
2. without a routing prefix (``openai/``, ``anthropic/``, ``models/``, anything up to
   the last ``/``); for cloud ids, a Bedrock vendor prefix (``anthropic.``,
   ``us.anthropic.``) or Vertex ``@version`` together with a ``-v2:0``/``-v2`` suffix;
3. without one trailing ``-latest``, date (``-2024-08-06``, ``-20241022``) or
   three-digit version (``-001``).

Nothing else is stripped: an unknown name never borrows a neighbour's price
(``gpt-4o-foo``, ``ft:gpt-4o-mini:org::x``, ``some-local-llama`` → None), and a name
that only starts like a known one (``gpt-4`` vs ``gpt-4o-mini``) is not matched by
prefix. Mistral's ``-latest`` aliases move between releases priced differently, so the
table prices Mistral models by dated id only (``mistral-large-2411``); register an alias
yourself if you know which release it points to.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

__all__ = [
    "PRICES_AS_OF",
    "ModelPrice",
    "estimate_cost_usd",
    "get_model_price",
    "list_model_prices",
    "register_model_pricing",
    "resolve_price_model",
    "unregister_model_pricing",
]

PRICES_AS_OF = "2026-11-25"
"""Date the table's list prices were checked (ISO 8601)."""


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for one model.

    Attributes:
        input_per_mtok: Input (prompt) tokens.
        output_per_mtok: Output (completion) tokens.
        cached_input_per_mtok: Input tokens read from the vendor's prompt cache; None
            bills them at the input rate.
        reasoning_per_mtok: Reasoning tokens; None bills them at the output rate.
        cache_write_per_mtok: Input tokens written to the vendor's prompt cache
            (Anthropic's 5-minute cache write); None bills them at the input rate.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


def _p(inp: float, out: float, cached: float | None = None, write: float | None = None) -> ModelPrice:
    return ModelPrice(inp, out, cached_input_per_mtok=cached, cache_write_per_mtok=write)


_TABLE: dict[str, ModelPrice] = {
    # OpenAI: GPT-5 family
    "gpt-5": _p(1.25, 10.0, 0.125),
    "gpt-5-mini": _p(0.25, 2.0, 0.025),
    "gpt-5-nano": _p(0.05, 0.40, 0.005),
    "gpt-5-chat": _p(1.25, 10.0, 0.125),
    "gpt-5-pro": _p(15.0, 120.0),
    "gpt-5.1": _p(1.25, 10.0, 0.125),
    "gpt-5.2": _p(1.75, 14.0, 0.175),
    "gpt-5.2-pro": _p(21.0, 168.0),
    # OpenAI: GPT-4.1, GPT-4.5, GPT-4o
    "gpt-4.1": _p(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "gpt-4.5-preview": _p(75.0, 150.0, 37.5),
    "gpt-4o": _p(2.50, 10.0, 1.25),
    "gpt-4o-2024-05-13": _p(5.0, 15.0),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "chatgpt-4o-latest": _p(5.0, 15.0),
    # OpenAI: reasoning models
    "o1": _p(15.0, 60.0, 7.50),
    "o1-preview": _p(15.0, 60.0, 7.50),
    "o1-mini": _p(1.10, 4.40, 0.55),
    "o1-pro": _p(150.0, 600.0),
    "o3": _p(2.0, 8.0, 0.50),
    "o3-mini": _p(1.10, 4.40, 0.55),
    "o3-pro": _p(20.0, 80.0),
    "o4-mini": _p(1.10, 4.40, 0.275),
    # OpenAI: GPT-4 and GPT-3.5 (older snapshots that had their own price are listed)
    "gpt-4": _p(30.0, 60.0),
    "gpt-4-0314": _p(30.0, 60.0),
    "gpt-4-0613": _p(30.0, 60.0),
    "gpt-4-32k": _p(60.0, 120.0),
    "gpt-4-32k-0613": _p(60.0, 120.0),
    "gpt-4-turbo": _p(10.0, 30.0),
    "gpt-4-turbo-preview": _p(10.0, 30.0),
    "gpt-4-1106-preview": _p(10.0, 30.0),
    "gpt-4-0125-preview": _p(10.0, 30.0),
    "gpt-4-vision-preview": _p(10.0, 30.0),
    "gpt-3.5-turbo": _p(0.50, 1.50),
    "gpt-3.5-turbo-0125": _p(0.50, 1.50),
    "gpt-3.5-turbo-1106": _p(1.0, 2.0),
    "gpt-3.5-turbo-0613": _p(1.50, 2.0),
    "gpt-3.5-turbo-0301": _p(1.50, 2.0),
    "gpt-3.5-turbo-16k": _p(3.0, 4.0),
    "gpt-3.5-turbo-16k-0613": _p(3.0, 4.0),
    "gpt-3.5-turbo-instruct": _p(1.50, 2.0),
    # OpenAI: embeddings (input only)
    "text-embedding-3-small": _p(0.02, 0.0),
    "text-embedding-3-large": _p(0.13, 0.0),
    "text-embedding-ada-002": _p(0.10, 0.0),
    # Anthropic: cache read 0.1x input, 5-minute cache write 1.25x input
    "claude-opus-4-8": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-7": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-6": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-5": _p(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": _p(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": _p(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4-0": _p(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4-6": _p(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4-5": _p(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4": _p(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4-0": _p(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": _p(1.0, 5.0, 0.10, 1.25),
    "claude-3-7-sonnet": _p(3.0, 15.0, 0.30, 3.75),
    "claude-3-5-sonnet": _p(3.0, 15.0, 0.30, 3.75),
    "claude-3-5-haiku": _p(0.80, 4.0, 0.08, 1.0),
    "claude-3-opus": _p(15.0, 75.0, 1.50, 18.75),
    "claude-3-sonnet": _p(3.0, 15.0, 0.30, 3.75),
    "claude-3-haiku": _p(0.25, 1.25, 0.03, 0.30),
    # Google Gemini (standard tier: prompts up to 200k tokens)
    "gemini-3-pro-preview": _p(2.0, 12.0, 0.20),
    "gemini-3-flash-preview": _p(0.50, 3.0, 0.05),
    "gemini-2.5-pro": _p(1.25, 10.0, 0.125),
    "gemini-2.5-flash": _p(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.01),
    "gemini-2.0-flash": _p(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": _p(0.075, 0.30),
    # Mistral (dated ids: the -latest aliases move between differently priced releases)
    "mistral-large-2512": _p(0.50, 1.50, 0.05),
    "mistral-large-2411": _p(2.0, 6.0),
    "mistral-large-2407": _p(2.0, 6.0),
    "mistral-medium-2508": _p(0.40, 2.0),
    "mistral-medium-2505": _p(0.40, 2.0),
    "mistral-small-2603": _p(0.15, 0.60, 0.015),
    "mistral-small-2506": _p(0.10, 0.30),
    "mistral-small-2503": _p(0.10, 0.30),
    "mistral-small-2501": _p(0.10, 0.30),
    "codestral-2508": _p(0.30, 0.90, 0.03),
    "codestral-2501": _p(0.30, 0.90),
    "ministral-8b-2410": _p(0.10, 0.10),
    "ministral-3b-2410": _p(0.04, 0.04),
}
_REGISTERED: dict[str, ModelPrice] = {}
_LOCK = threading.Lock()

_ROUTING_PREFIX = re.compile(r"^.*/")
_BEDROCK_VENDOR = re.compile(r"^(?:[a-z]{2,6}\.)?(?:anthropic|mistral|openai|google|meta)\.")
_VERTEX_VERSION = re.compile(r"@[\w.-]+$")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_RELEASE_SUFFIX = re.compile(r"-(?:latest|\d{4}-\d{2}-\d{2}|\d{8}|\d{3})$")


def register_model_pricing(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached_input_per_mtok: float | None = None,
    reasoning_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
) -> None:
    """Add or replace a model's price (thread-safe; wins over the built-in table).

    Args:
        model: Model name as it appears in usage records (case-insensitive). Dated
            variants of it resolve to it as for table entries.
        input_per_mtok: USD per million input tokens.
        output_per_mtok: USD per million output tokens.
        cached_input_per_mtok: USD per million cached input tokens, if the vendor has a rate.
        reasoning_per_mtok: USD per million reasoning tokens, if billed apart from output.
        cache_write_per_mtok: USD per million input tokens written to the vendor's cache.

    Raises:
        ValueError: The name is empty or a rate is negative.
    """
    key = model.strip().lower() if isinstance(model, str) else ""
    if not key:
        raise ValueError(f"register_model_pricing needs a model name, not {model!r}")
    rates = {
        "input_per_mtok": input_per_mtok,
        "output_per_mtok": output_per_mtok,
        "cached_input_per_mtok": cached_input_per_mtok,
        "reasoning_per_mtok": reasoning_per_mtok,
        "cache_write_per_mtok": cache_write_per_mtok,
    }
    for field, rate in rates.items():
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0
        ):
            raise ValueError(f"{field} for {model!r} must be a finite non-negative number, not {rate!r}")
    price = ModelPrice(
        float(input_per_mtok),
        float(output_per_mtok),
        cached_input_per_mtok=None if cached_input_per_mtok is None else float(cached_input_per_mtok),
        reasoning_per_mtok=None if reasoning_per_mtok is None else float(reasoning_per_mtok),
        cache_write_per_mtok=None if cache_write_per_mtok is None else float(cache_write_per_mtok),
    )
    with _LOCK:
        _REGISTERED[key] = price


def unregister_model_pricing(model: str) -> bool:
    """Remove a price added with ``register_model_pricing`` (the table's own stays).

    Args:
        model: The name it was registered under (case-insensitive).

    Returns:
        True when a registered price was removed.
    """
    with _LOCK:
        return _REGISTERED.pop(model.strip().lower(), None) is not None


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    out = [name]
    base = _ROUTING_PREFIX.sub("", name)
    cloud = _BEDROCK_VENDOR.sub("", base)
    cloud = _VERTEX_VERSION.sub("", cloud)
    if cloud != base:  # a Bedrock or Vertex id: its "-v2" / ":0" is the cloud's versioning
        base = _BEDROCK_VERSION.sub("", cloud)
    if base and base != name:
        out.append(base)
    stripped = _RELEASE_SUFFIX.sub("", base)
    if stripped and stripped != base:
        out.append(stripped)
    return out


def resolve_price_model(model: str | None) -> str | None:
    """Return the price entry a model name resolves to, or None when it has none.

    Args:
        model: Model name, e.g. ``"openai/gpt-4o-2024-08-06"``.

    Returns:
        The registered or table name whose price applies (e.g. ``"gpt-4o"``), or None.
    """
    if not model or not isinstance(model, str):
        return None
    for candidate in _candidates(model):
        if candidate in _REGISTERED or candidate in _TABLE:
            return candidate
    return None


def get_model_price(model: str | None) -> ModelPrice | None:
    """Return the price of ``model``, or None when it is unknown.

    Args:
        model: Model name (see the module docstring for how names resolve).

    Returns:
        The price, or None.
    """
    if not model or not isinstance(model, str):
        return None
    for candidate in _candidates(model):
        price = _REGISTERED.get(candidate) or _TABLE.get(candidate)
        if price is not None:
            return price
    return None


def list_model_prices() -> dict[str, ModelPrice]:
    """Return every known price: the table overlaid with registered prices.

    Returns:
        A new dict, name → price, sorted by name.
    """
    with _LOCK:
        merged = {**_TABLE, **_REGISTERED}
    return dict(sorted(merged.items()))


def estimate_cost_usd(
    model: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_prompt_tokens: int = 0,
    reasoning_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """Estimate the cost in USD of one call, or None when the model has no price.

    Cached and cache-write tokens are parts of ``prompt_tokens``; reasoning tokens are
    part of ``completion_tokens`` (as OpenAI and LangChain report them). Parts larger than
    their whole are capped.

    Args:
        model: Model name.
        prompt_tokens: Input tokens, cached ones included.
        completion_tokens: Output tokens, reasoning ones included.
        cached_prompt_tokens: Part of the input served from the vendor's cache.
        reasoning_tokens: Part of the output spent on reasoning.
        cache_write_tokens: Part of the input written to the vendor's cache.

    Returns:
        The cost, rounded to 1e-9 USD, or None.
    """
    price = get_model_price(model)
    if price is None:
        return None
    prompt = max(prompt_tokens, 0)
    completion = max(completion_tokens, 0)
    cached = min(max(cached_prompt_tokens, 0), prompt)
    written = min(max(cache_write_tokens, 0), prompt - cached)
    reasoning = min(max(reasoning_tokens, 0), completion)
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    write_rate = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    reasoning_rate = price.output_per_mtok if price.reasoning_per_mtok is None else price.reasoning_per_mtok
    cost = (
        (prompt - cached - written) * price.input_per_mtok
        + cached * cached_rate
        + written * write_rate
        + (completion - reasoning) * price.output_per_mtok
        + reasoning * reasoning_rate
    ) / 1_000_000
    return round(cost, 9)
