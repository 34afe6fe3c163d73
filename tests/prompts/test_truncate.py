"""truncate_prompt_to_token_limit: a real budget, whole tool groups, typed warning and errors."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.prompts import TRUNCATION_MARKER, PromptTruncationWarning, truncate_prompt_to_token_limit
from a2a_session_manager.tokens import count_messages_tokens

from .helpers import assert_valid_messages, words


def prompt_with_tools() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first task " + words(30)},
        {"role": "assistant", "content": "old reply " + words(40, 1)},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": words(60, 2)},
        {"role": "assistant", "content": "newer reply " + words(20, 3)},
        {"role": "user", "content": "latest question"},
    ]


def test_a_prompt_within_budget_comes_back_equal_and_the_input_is_untouched() -> None:
    prompt = prompt_with_tools()
    snapshot = [dict(m) for m in prompt]
    assert truncate_prompt_to_token_limit(prompt, 10_000, "gpt-4-turbo") == prompt
    assert prompt == snapshot


@pytest.mark.parametrize("budget", range(60, 400, 9))
def test_oldest_non_essential_messages_go_first_and_tool_groups_stay_whole(budget: int) -> None:
    prompt = prompt_with_tools()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncationWarning)
        out = truncate_prompt_to_token_limit(prompt, budget, "gpt-4-turbo")
    assert count_messages_tokens(out, "gpt-4-turbo") <= budget
    assert_valid_messages(out)
    roles = [m["role"] for m in out]
    assert roles[0] == "system" and roles.count("user") == 2
    kept = [m for m in prompt if m in out]
    if len(kept) == len(out):  # nothing shortened: what was dropped is a prefix of the optional messages
        optional = [2, 3, 5]
        dropped = [k for k in optional if prompt[k] not in out]
        assert dropped == optional[: len(dropped)]


def test_one_huge_user_message_is_cut_to_the_budget_with_a_marker_and_a_warning() -> None:
    huge = [{"role": "user", "content": words(5000)}]
    with pytest.warns(PromptTruncationWarning, match=r"user message 0 from \d+ to \d+ tokens"):
        out = truncate_prompt_to_token_limit(huge, 100, "gpt-4-turbo")
    assert count_messages_tokens(out, "gpt-4-turbo") <= 100
    assert count_messages_tokens(out, "gpt-4-turbo") >= 95  # the cut keeps as much as fits
    assert out[0]["content"].endswith(TRUNCATION_MARKER)
    assert out[0]["content"].startswith(huge[0]["content"][:100])
    assert set(out[0]) == {"role", "content"}


def test_cuts_the_longest_essential_first() -> None:
    prompt = [{"role": "system", "content": words(400)}, {"role": "user", "content": words(50, 1)}]
    with pytest.warns(PromptTruncationWarning):
        out = truncate_prompt_to_token_limit(prompt, 200, "gpt-4o")
    assert out[1] == prompt[1]
    assert out[0]["content"].endswith(TRUNCATION_MARKER)
    assert count_messages_tokens(out, "gpt-4o") <= 200


def test_text_parts_of_multimodal_content_are_cut_and_images_kept() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png", "detail": "low"}}
    prompt = [{"role": "user", "content": [{"type": "text", "text": words(3000)}, image]}]
    with pytest.warns(PromptTruncationWarning):
        out = truncate_prompt_to_token_limit(prompt, 300, "gpt-4o")
    assert out[0]["content"][1] == image
    assert out[0]["content"][0]["text"].endswith(TRUNCATION_MARKER)
    assert count_messages_tokens(out, "gpt-4o") <= 300


def test_prompt_budget_error_when_even_the_fixed_costs_do_not_fit() -> None:
    prompt = [{"role": "system", "content": f"rule {i}", "name": "policy"} for i in range(30)]
    with pytest.raises(PromptBudgetError, match="max_tokens is 40"), warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncationWarning)
        truncate_prompt_to_token_limit(prompt, 40, "gpt-4o")


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, None, "4000"])
def test_non_positive_or_non_int_budget_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        truncate_prompt_to_token_limit([{"role": "user", "content": "x"}], bad)


def test_non_list_prompt_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="prompt must be a list of message dicts"):
        truncate_prompt_to_token_limit("hello", 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"prompt\[1\] must be a message dict"):
        truncate_prompt_to_token_limit([{"role": "user", "content": "x"}, "oops"], 100)  # type: ignore[list-item]


def test_readme_usage_from_0_1_3() -> None:
    prompt = prompt_with_tools() * 40
    out = truncate_prompt_to_token_limit(prompt, max_tokens=4000, model="gpt-4-turbo")
    assert count_messages_tokens(out, "gpt-4-turbo") <= 4000
