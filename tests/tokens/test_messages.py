"""OpenAI's chat rule for message lists, and per-event counts cached on the event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from a2a_session_manager import messages, tokens
from a2a_session_manager.messages import event_token_count, events_to_openai, make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.tokens import count_message_tokens, count_messages_tokens

# OpenAI cookbook ("How to count tokens with tiktoken"): the API reported 129 prompt
# tokens for these messages on gpt-3.5-turbo / gpt-4, and 124 on gpt-4o / gpt-4o-mini.
COOKBOOK = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(
    "model,expected", [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)]
)
def test_message_list_matches_the_counts_openai_reported(model: str, expected: int) -> None:
    assert count_messages_tokens(COOKBOOK, model) == expected


def _text(text: str, model: str = "gpt-4o") -> int:
    return tokens.count_text_tokens(text, model).tokens


def test_each_message_costs_three_plus_its_values_and_one_per_name() -> None:
    plain = {"role": "user", "content": "Hello there"}
    named = {"role": "user", "name": "alice", "content": "Hello there"}
    assert count_message_tokens(plain, "gpt-4o") == 3 + _text("user") + _text("Hello there")
    assert count_message_tokens(named, "gpt-4o") == count_message_tokens(plain, "gpt-4o") + _text("alice") + 1
    assert count_messages_tokens([plain, named], "gpt-4o") == (
        count_message_tokens(plain, "gpt-4o") + count_message_tokens(named, "gpt-4o") + 3
    )
    assert count_messages_tokens([], "gpt-4o") == 3


def test_tool_calls_count_as_compact_json_and_none_content_as_nothing() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assistant = {"role": "assistant", "content": None, "tool_calls": calls}
    expected = 3 + _text("assistant") + _text(json.dumps(calls, separators=(",", ":")))
    assert count_message_tokens(assistant, "gpt-4o") == expected
    tool = {"role": "tool", "tool_call_id": "call_1", "content": "18°C"}
    assert count_message_tokens(tool, "gpt-4o") == 3 + _text("tool") + _text("call_1") + _text("18°C")


def test_images_count_a_fixed_amount_whatever_their_size() -> None:
    small = "data:image/png;base64," + "A" * 100
    big = "data:image/png;base64," + "A" * 200_000

    def message(url: str, detail: str | None = None) -> dict[str, Any]:
        image: dict[str, Any] = {"url": url}
        if detail:
            image["detail"] = detail
        return {
            "role": "user",
            "content": [{"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": image}],
        }

    base = 3 + _text("user") + _text("What is in this image?")
    assert count_message_tokens(message(small), "gpt-4o") == base + tokens.IMAGE_TOKENS
    assert count_message_tokens(message(big), "gpt-4o") == base + tokens.IMAGE_TOKENS
    assert count_message_tokens(message(big, "low"), "gpt-4o") == base + tokens.IMAGE_TOKENS_LOW
    audio = {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "A" * 50_000}}]}
    assert count_message_tokens(audio, "gpt-4o") == 3 + _text("user") + tokens.MEDIA_PART_TOKENS


def _conversation() -> list[SessionEvent]:
    assistant = make_message_event(
        "assistant", "", tool_calls=[{"id": "call_9", "name": "lookup", "arguments": {"q": "tiktoken"}}]
    )
    return [
        SessionEvent(message="You are terse.", source=EventSource.SYSTEM),
        SessionEvent(message="What is tiktoken?", source=EventSource.USER),
        assistant,
        make_tool_call_event(
            "lookup", {"q": "tiktoken"}, "call_9", result={"answer": "a BPE tokenizer"}, parent_event_id=assistant.id
        ),
        make_message_event("assistant", "A fast BPE tokenizer.", name="bot"),
        SessionEvent(message={"doc": "x"}, type=EventType.REFERENCE, source=EventSource.SYSTEM),
    ]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-3.5-turbo", "claude-sonnet-4-5"])
def test_event_counts_add_up_to_the_rendered_prompt(model: str) -> None:
    events = _conversation()
    rendered = events_to_openai(events)
    assert len(rendered) == 5  # the REFERENCE event is no chat message
    assert event_token_count(events[-1], model) == 0
    assert tokens.REPLY_PRIMER_TOKENS + sum(event_token_count(e, model) for e in events) == count_messages_tokens(
        rendered, model
    )


def test_event_count_is_computed_once_per_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    renders: list[str] = []
    real = messages.event_to_openai

    def spy(event: SessionEvent) -> dict[str, Any] | None:
        renders.append(event.id)
        return real(event)

    monkeypatch.setattr(messages, "event_to_openai", spy)
    event = SessionEvent(message="How many tokens am I?", source=EventSource.USER)
    first = event_token_count(event, "gpt-4o")
    assert [event_token_count(event, "gpt-4o") for _ in range(5)] == [first] * 5
    assert event_token_count(event, "gpt-4.1-mini") == first  # same encoding, same entry
    assert len(renders) == 1
    event_token_count(event, "gpt-4")  # cl100k: its own entry
    assert len(renders) == 2
    event.message = "A different message, so a different count entirely."
    assert event_token_count(event, "gpt-4o") > first
    assert len(renders) == 3


def test_the_event_count_cache_is_never_serialized() -> None:
    event = SessionEvent(message="cache me", source=EventSource.USER)
    count = event_token_count(event, "gpt-4o")
    dumped = event.model_dump_json()
    assert "cache me" in dumped and "token_counts" not in dumped
    assert event.model_dump() == SessionEvent.model_validate_json(dumped).model_dump()
    assert event_token_count(SessionEvent.model_validate_json(dumped), "gpt-4o") == count
