"""Exact offline token counts: equal to tiktoken's, with nothing to set and no network."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest
from a2a_session_manager import tokens
from a2a_session_manager.models.token_usage import TokenUsage
from a2a_session_manager.tokens import choose_encoding, count_text_tokens
from hypothesis import given, settings
from hypothesis import strategies as st

TEXTS = [
    "hello world",
    "What is the weather?",
    "  leading and trailing spaces  \n\n\tand tabs",
    "Ünïcödé, 中文字符, русский текст, العربية, emoji 🙂🚀👩‍👩‍👧",
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n",
    "numbers 1234567890 3.14159 -42 1e10",
    "special-looking <|endoftext|> and <|im_start|> are plain text here",
    "word " * 2000,
    "",
]


@pytest.mark.parametrize("model,encoding", [("gpt-4", "cl100k_base"), ("gpt-4o", "o200k_base")])
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_counts_equal_tiktoken_built_from_the_same_files(
    text: str, model: str, encoding: str, reference_encodings: dict[str, Any]
) -> None:
    expected = len(reference_encodings[encoding].encode_ordinary(text))
    assert count_text_tokens(text, model) == (expected, "counted")


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_counts_as_tiktoken_does(text: str, reference_encodings: dict[str, Any]) -> None:
    assert count_text_tokens(text, "gpt-4o-mini").tokens == len(reference_encodings["o200k_base"].encode_ordinary(text))
    assert count_text_tokens(text, "gpt-3.5-turbo").tokens == len(
        reference_encodings["cl100k_base"].encode_ordinary(text)
    )


@pytest.mark.parametrize(
    "text,model,expected",
    [
        ("hello world", "gpt-4", 2),
        ("hello world", "gpt-4o", 2),
        ("tiktoken is great!", "gpt-3.5-turbo", 6),
        ("What is the weather?", "gpt-4-turbo", 5),
        (None, "gpt-4o", 0),
    ],
)
def test_known_counts(text: str | None, model: str, expected: int) -> None:
    assert count_text_tokens(text, model).tokens == expected


def test_counting_loads_offline_and_sets_no_environment_variable(fresh_encodings: None) -> None:
    before = dict(os.environ)
    assert "TIKTOKEN_CACHE_DIR" not in before  # the user never has to set it
    # A cold load: pytest-socket refuses any connection but localhost, so a download would fail here.
    assert count_text_tokens("hello world", "gpt-4") == (2, "counted")
    assert count_text_tokens("hello world", "gpt-4o") == (2, "counted")
    assert dict(os.environ) == before


def test_an_encoding_is_built_once_and_shared() -> None:
    assert tokens.get_encoding("o200k_base") is tokens.get_encoding("o200k_base")
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        tokens.get_encoding("p50k_base")


@pytest.mark.parametrize(
    "model,encoding,exact",
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4o-2024-08-06", "o200k_base", True),
        ("openai/gpt-4o", "o200k_base", True),
        ("GPT-4O-MINI", "o200k_base", True),
        ("chatgpt-4o-latest", "o200k_base", True),
        ("gpt-4.1-nano", "o200k_base", True),
        ("gpt-4.5-preview", "o200k_base", True),
        ("gpt-5", "o200k_base", True),
        ("gpt-5-mini-2025-08-07", "o200k_base", True),
        ("gpt-5.1", "o200k_base", True),
        ("o1", "o200k_base", True),
        ("o1-mini", "o200k_base", True),
        ("o3-2025-04-16", "o200k_base", True),
        ("o4-mini", "o200k_base", True),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-0613", "cl100k_base", True),
        ("gpt-4-turbo", "cl100k_base", True),
        ("gpt-4-turbo-2024-04-09", "cl100k_base", True),
        ("gpt-3.5-turbo", "cl100k_base", True),
        ("azure/gpt-35-turbo", "cl100k_base", True),
        ("text-embedding-3-small", "cl100k_base", True),
        ("text-embedding-3-large", "cl100k_base", True),
        ("text-embedding-ada-002", "cl100k_base", True),
        ("claude-sonnet-4-5", "o200k_base", False),
        ("anthropic/claude-3-5-sonnet-20241022", "o200k_base", False),
        ("gemini-2.5-pro", "o200k_base", False),
        ("mistral-large-latest", "o200k_base", False),
        ("llama-3.1-70b-instruct", "o200k_base", False),
        ("some-local-llama", "o200k_base", False),
        ("o1x", "o200k_base", False),
        (None, "o200k_base", False),
    ],
)
def test_model_to_encoding_map(model: str | None, encoding: str, exact: bool) -> None:
    assert choose_encoding(model) == (encoding, exact)


def test_other_vendors_are_counted_with_o200k_but_flagged_estimated(reference_encodings: dict[str, Any]) -> None:
    text = "Claude and Gemini have their own tokenizers."
    expected = len(reference_encodings["o200k_base"].encode_ordinary(text))
    for model in ("claude-sonnet-4-5", "gemini-2.5-flash", "mistral-small-2503", "some-local-llama"):
        assert count_text_tokens(text, model) == (expected, "estimated")
    usage = TokenUsage.from_text(text, "ok", model="claude-3-5-haiku")
    assert usage.origin == "estimated"


def test_without_tiktoken_counts_are_flagged_estimates(monkeypatch: pytest.MonkeyPatch, fresh_encodings: None) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    text = "x" * 10
    assert count_text_tokens(text, "gpt-4o") == (3, "estimated")  # ceil(10 / 4)
    usage = TokenUsage.from_text("What is the weather?", "Sunny.", model="gpt-4o")
    assert usage.origin == "estimated"
    assert (usage.prompt_tokens, usage.completion_tokens) == (5, 2)
    assert tokens.get_encoding("o200k_base") is None
    assert tokens.count_messages_tokens([{"role": "user", "content": "x" * 8}], "gpt-4o") == 3 + 1 + 2 + 3


def test_missing_tiktoken_is_warned_about_once_per_process(
    monkeypatch: pytest.MonkeyPatch, fresh_encodings: None, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    monkeypatch.setattr(tokens, "_WARNED", False, raising=False)  # as in a fresh process
    with caplog.at_level("DEBUG", logger="a2a_session_manager.tokens"):
        # Both encodings (cl100k for gpt-4, o200k for gpt-4o and the rest) fail to load.
        TokenUsage.from_text("What is the weather?", "Sunny.", model="gpt-4")
        TokenUsage.from_text("What is the weather?", "Sunny.", model="gpt-4o")
        count_text_tokens("hi", "claude-sonnet-4-5")
        tokens.clear_encoding_cache()  # a retry after clearing the cache does not repeat it either
        count_text_tokens("hi", "gpt-4o")
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "pip install 'a2a-session-manager[tiktoken]'" in warnings[0].getMessage()


def test_tiktoken_comes_back_after_the_cache_is_cleared(monkeypatch: pytest.MonkeyPatch, fresh_encodings: None) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    assert count_text_tokens("hello world", "gpt-4").origin == "estimated"
    monkeypatch.undo()
    tokens.clear_encoding_cache()
    assert count_text_tokens("hello world", "gpt-4") == (2, "counted")


def test_readme_token_block_gives_exact_counts_and_a_cost() -> None:
    from a2a_session_manager.models.session_event import SessionEvent

    event = SessionEvent.create_with_tokens(
        message="This is the assistant's response",
        prompt="What is the weather?",
        completion="This is the assistant's response",
        model="gpt-4-turbo",
    )
    usage = event.token_usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 6, 11)
    assert usage.origin == "counted"
    assert usage.estimated_cost_usd == pytest.approx((5 * 10.0 + 6 * 30.0) / 1_000_000)


def test_an_unknown_content_part_counts_as_its_placeholder_not_its_raw_block() -> None:
    # A LangChain image block without mime_type is kept as an "unknown" part holding the
    # whole block; its base64 must not be budgeted as text.
    block = {"type": "image", "base64": "QUJD" * 5000}
    part = {"type": "unknown", "block_type": "image", "block": block}
    assert tokens.content_tokens([part], "gpt-4o") == count_text_tokens("[image]", "gpt-4o").tokens
