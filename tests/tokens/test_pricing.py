"""The dated price table: dated names resolve, unknown names get no price, users override."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator

import pytest
from a2a_session_manager import pricing
from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage
from a2a_session_manager.pricing import (
    PRICES_AS_OF,
    estimate_cost_usd,
    get_model_price,
    register_model_pricing,
    resolve_price_model,
    unregister_model_pricing,
)


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names a test registers; removed afterwards so no price leaks into other tests."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_model_pricing(name)


def test_the_table_is_dated() -> None:
    assert datetime.date.fromisoformat(PRICES_AS_OF) <= datetime.date.today()


@pytest.mark.parametrize(
    "model,entry",
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("GPT-4o-Mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # that snapshot had its own price
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-0613", "gpt-4-0613"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-chat-latest", "gpt-5-chat"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("mistral-large-2411", "mistral-large-2411"),
    ],
)
def test_dated_and_prefixed_names_resolve_to_their_model(model: str, entry: str) -> None:
    assert resolve_price_model(model) == entry
    assert get_model_price(model) == get_model_price(entry)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-foo",
        "some-local-llama",
        "llama3:8b",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",  # fine-tunes cost more than their base
        "gpt-4o-v2",
        "gpt-4.7",
        "claude-3-5-sonnet-foo",
        "mistral-large-latest",  # the alias moves between differently priced releases
        "",
        None,
    ],
)
def test_unknown_names_never_borrow_a_neighbours_price(model: str | None) -> None:
    assert get_model_price(model) is None
    assert estimate_cost_usd(model, 1000, 1000) is None
    if model:
        usage = TokenUsage(prompt_tokens=1000, completion_tokens=1000, model=model)
        assert usage.estimated_cost_usd is None


def test_family_prefixes_do_not_capture_each_other() -> None:
    prices = {
        name: get_model_price(name) for name in ("gpt-4", "gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "o1", "o1-mini")
    }
    assert prices["gpt-4"] == pricing.ModelPrice(30.0, 60.0)
    assert prices["gpt-4o"] == pricing.ModelPrice(2.5, 10.0, 1.25)
    assert prices["gpt-4o-mini"] == pricing.ModelPrice(0.15, 0.60, 0.075)
    assert prices["gpt-4-turbo"] == pricing.ModelPrice(10.0, 30.0)
    assert prices["o1"] != prices["o1-mini"]


def test_cost_of_a_plain_call() -> None:
    assert estimate_cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.50)
    assert estimate_cost_usd("gpt-4-turbo", 5, 6) == pytest.approx(0.00023)


def test_cost_with_cached_and_reasoning_tokens() -> None:
    # o4-mini: input 1.10, cached input 0.275, output 4.40 (reasoning billed as output)
    cost = estimate_cost_usd("o4-mini", 10_000, 2_000, cached_prompt_tokens=8_000, reasoning_tokens=1_500)
    assert cost == pytest.approx((2_000 * 1.10 + 8_000 * 0.275 + 2_000 * 4.40) / 1e6)
    usage = TokenUsage(
        prompt_tokens=10_000,
        completion_tokens=2_000,
        cached_prompt_tokens=8_000,
        reasoning_tokens=1_500,
        model="o4-mini",
    )
    assert usage.estimated_cost_usd == pytest.approx(cost)


def test_cost_with_anthropic_cache_reads_and_writes() -> None:
    # claude-sonnet-4-5: input 3, cache read 0.30, cache write 3.75, output 15
    cost = estimate_cost_usd("claude-sonnet-4-5", 10_000, 100, cached_prompt_tokens=6_000, cache_write_tokens=3_000)
    assert cost == pytest.approx((1_000 * 3.0 + 6_000 * 0.30 + 3_000 * 3.75 + 100 * 15.0) / 1e6)


def test_parts_larger_than_their_whole_are_capped() -> None:
    assert estimate_cost_usd("gpt-4o", 100, 10, cached_prompt_tokens=500) == estimate_cost_usd(
        "gpt-4o", 100, 10, cached_prompt_tokens=100
    )


def test_a_registered_price_wins_over_the_table_and_applies_to_dated_names(registered: list[str]) -> None:
    registered.append("gpt-4o")
    register_model_pricing("GPT-4o", 1.0, 2.0, cached_input_per_mtok=0.5)
    assert resolve_price_model("gpt-4o-2024-11-20") == "gpt-4o"
    assert estimate_cost_usd("openai/gpt-4o-2024-11-20", 1_000_000, 1_000_000) == pytest.approx(3.0)
    unregister_model_pricing("gpt-4o")
    assert estimate_cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


def test_registering_a_local_model_gives_it_a_price(registered: list[str]) -> None:
    registered.append("some-local-llama")
    assert TokenUsage(prompt_tokens=10, model="some-local-llama").estimated_cost_usd is None
    register_model_pricing("some-local-llama", 0.0, 0.0)
    assert TokenUsage(prompt_tokens=10, model="some-local-llama").estimated_cost_usd == 0.0
    assert "some-local-llama" in pricing.list_model_prices()


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1.0", True])
def test_bad_rates_are_refused_with_the_field_named(bad: object) -> None:
    with pytest.raises(ValueError, match="input_per_mtok"):
        register_model_pricing("x-model", bad, 1.0)  # type: ignore[arg-type]
    assert get_model_price("x-model") is None


def test_concurrent_registrations_all_land(registered: list[str]) -> None:
    names = [f"local-model-{i}" for i in range(64)]
    registered.extend(names)
    barrier = threading.Barrier(8)

    def worker(chunk: list[str]) -> None:
        barrier.wait()
        for i, name in enumerate(chunk):
            register_model_pricing(name, float(i), float(i))

    threads = [threading.Thread(target=worker, args=(names[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(get_model_price(name) is not None for name in names)


def test_a_summary_counts_unpriced_tokens_apart_from_the_cost() -> None:
    summary = TokenSummary()
    summary.add_usage(TokenUsage(prompt_tokens=1_000_000, completion_tokens=0, model="gpt-4o-mini"))
    summary.add_usage(TokenUsage(prompt_tokens=700, completion_tokens=300, model="some-local-llama"))
    assert summary.total_estimated_cost_usd == pytest.approx(0.15)
    assert summary.unpriced_tokens == 1_000


def test_adding_usages_keeps_the_price_only_when_every_part_has_one() -> None:
    priced = TokenUsage(prompt_tokens=1000, completion_tokens=500, model="gpt-4o-mini")
    assert (TokenUsage() + priced).estimated_cost_usd == priced.estimated_cost_usd
    assert (priced + TokenUsage(prompt_tokens=5, model="some-local-llama")).estimated_cost_usd is None
    both = priced + TokenUsage(prompt_tokens=1000, completion_tokens=0, model="gpt-4o")
    assert both.estimated_cost_usd == pytest.approx(priced.estimated_cost_usd + 0.0025)  # type: ignore[operator]
