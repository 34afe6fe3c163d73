"""Each strategy on 0.1.3-style and neutral-format sessions: content, roles, valid output."""

from __future__ import annotations

import pytest
from a2a_session_manager import InMemorySessionStore
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import (
    PromptStrategy,
    abuild_prompt_from_session,
    build_prompt_from_session,
    render_events,
    select_events,
)
from a2a_session_manager.tokens import count_messages_tokens

from .helpers import assert_valid_messages, legacy_session, neutral_session

ALL = list(PromptStrategy)


def test_strategy_values_are_the_stored_strings_of_0_1_3() -> None:
    assert {s.name: s.value for s in PromptStrategy} == {
        "MINIMAL": "minimal",
        "TASK_FOCUSED": "task",
        "TOOL_FOCUSED": "tool",
        "CONVERSATION": "conversation",
        "HIERARCHICAL": "hierarchical",
    }


@pytest.mark.parametrize("strategy", ALL)
def test_legacy_tool_event_renders_as_a_valid_call_and_result(strategy: PromptStrategy) -> None:
    session, _ = legacy_session()
    prompt = build_prompt_from_session(session, strategy)
    assert_valid_messages(prompt)
    turn = next(m for m in prompt if m.get("tool_calls"))
    assert turn["role"] == "assistant" and turn["content"] == "I'll check"
    (call,) = turn["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    result = prompt[prompt.index(turn) + 1]
    assert result == {"role": "tool", "tool_call_id": call["id"], "content": '{"city":"Paris","temp_c":18}'}
    assert prompt[0] == {"role": "system", "content": "You are a travel assistant."}
    assert prompt[-1] == {"role": "assistant", "content": "Expect about 18°C in Paris."}


def test_legacy_synthesized_call_id_is_stable_across_builds_and_store_round_trips() -> None:
    session, _ = legacy_session()
    store = InMemorySessionStore()
    store.save(session)
    first = build_prompt_from_session(session, PromptStrategy.CONVERSATION)
    again = build_prompt_from_session(store.get(session.id), PromptStrategy.CONVERSATION)  # type: ignore[arg-type]
    assert first == again


def test_minimal_keeps_task_latest_user_turn_and_what_followed_it() -> None:
    session, _ = legacy_session()
    prompt = build_prompt_from_session(session, PromptStrategy.MINIMAL)
    assert [m["role"] for m in prompt] == ["system", "user", "user", "assistant", "tool", "assistant"]
    assert prompt[1]["content"] == "Plan my trip to Paris next week."
    assert "Sure, for how many days?" not in [m.get("content") for m in prompt]


def test_conversation_without_budget_is_the_whole_history() -> None:
    session, _ = legacy_session()
    prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION)
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize("strategy", ALL)
def test_neutral_session_with_tool_calls_renders_validly(strategy: PromptStrategy) -> None:
    session, _ = neutral_session()
    prompt = build_prompt_from_session(session, strategy, model="gpt-4o")
    assert_valid_messages(prompt)
    assert prompt[0]["role"] == "system" and prompt[-1] == {"role": "user", "content": "Try shipping again please."}


def test_neutral_tool_group_keeps_ids_results_and_errors() -> None:
    session, _ = neutral_session()
    prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION)
    turn = prompt[2]
    assert turn["content"] is None
    assert [c["id"] for c in turn["tool_calls"]] == ["call_a", "call_b"]
    assert turn["tool_calls"][0]["function"] == {"name": "search", "arguments": '{"q":"cheap laptop"}'}
    assert prompt[3] == {"role": "tool", "tool_call_id": "call_a", "content": '["L1","L2"]'}
    assert prompt[4] == {"role": "tool", "tool_call_id": "call_b", "content": "Error: timeout"}


def test_summary_and_bridge_events_are_system_messages_and_system_source_is_system() -> None:
    session, _ = neutral_session()
    session.add_event(SessionEvent(message="Bridge text", source=EventSource.LLM, type=EventType.CONTEXT_BRIDGE))
    session.add_event(SessionEvent(message="mid-chat note", source=EventSource.SYSTEM))
    prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION)
    by_content = {m["content"]: m["role"] for m in prompt if isinstance(m.get("content"), str)}
    assert by_content["User wants a cheap laptop."] == "system"
    assert by_content["Bridge text"] == "system"
    assert by_content["mid-chat note"] == "system"


def test_reference_events_are_not_rendered() -> None:
    session = Session()
    session.add_event(SessionEvent(message="hi", source=EventSource.USER))
    session.add_event(SessionEvent(message={"url": "x"}, source=EventSource.SYSTEM, type=EventType.REFERENCE))
    assert build_prompt_from_session(session) == [{"role": "user", "content": "hi"}]


def test_tool_focused_keeps_earlier_tool_groups_but_not_earlier_chatter() -> None:
    session = Session()
    session.add_event(make_message_event("user", "task: book a flight"))
    session.add_event(make_message_event("assistant", "chit chat"))
    call = make_message_event("assistant", "", tool_calls=[{"id": "c1", "name": "flights", "arguments": {}}])
    session.add_event(call)
    session.add_event(make_tool_call_event("flights", {}, "c1", result="AF123", parent_event_id=call.id))
    session.add_event(make_message_event("assistant", "more chatter"))
    session.add_event(make_message_event("user", "book AF123"))
    session.add_event(make_message_event("assistant", "booked"))
    prompt = build_prompt_from_session(session, PromptStrategy.TOOL_FOCUSED)
    assert_valid_messages(prompt)
    contents = [m.get("content") for m in prompt]
    assert contents == ["task: book a flight", None, "AF123", "book AF123", "booked"]


def test_unanswered_calls_are_dropped_from_the_turn_and_orphan_results_get_a_turn() -> None:
    session = Session()
    session.add_event(make_message_event("user", "go"))
    session.add_event(
        make_message_event(
            "assistant",
            "calling",
            tool_calls=[{"id": "ok", "name": "f", "arguments": {}}, {"id": "lost", "name": "g", "arguments": {}}],
        )
    )
    session.add_event(make_tool_call_event("f", {}, "ok", result="done"))
    session.add_event(make_message_event("assistant", "", tool_calls=[{"id": "never", "name": "h", "arguments": {}}]))
    session.add_event(make_tool_call_event("k", {"x": 1}, "stray", result="orphan result"))
    prompt = render_events(session.events)
    assert_valid_messages(prompt)
    assert prompt[1]["tool_calls"][0]["id"] == "ok" and len(prompt[1]["tool_calls"]) == 1
    assert prompt[3]["tool_calls"][0]["function"] == {"name": "k", "arguments": '{"x":1}'}
    assert prompt[4] == {"role": "tool", "tool_call_id": "stray", "content": "orphan result"}
    assert len(prompt) == 5  # the turn whose only call was never answered had nothing to say


def test_legacy_tool_processor_parent_recorded_as_system_gets_a_synthesized_assistant_turn() -> None:
    session = Session()
    session.add_event(SessionEvent(message="weather?", source=EventSource.USER))
    parent = SessionEvent(message="tool calls requested", source=EventSource.SYSTEM)
    session.add_event(parent)
    for city in ("Paris", "Rome"):
        session.add_event(
            SessionEvent(
                message={"tool_name": "weather", "result": city},
                source=EventSource.SYSTEM,
                type=EventType.TOOL_CALL,
                metadata={"parent_event_id": parent.id},
            )
        )
    prompt = render_events(session.events)
    assert_valid_messages(prompt)
    assert [m["role"] for m in prompt] == ["user", "system", "assistant", "tool", "tool"]
    assert [m["content"] for m in prompt[3:]] == ["Paris", "Rome"]


def test_select_events_returns_the_same_objects_in_order() -> None:
    session, ev = neutral_session()
    chosen = select_events(session.events, PromptStrategy.MINIMAL, max_tokens=None, model="gpt-4o")
    assert all(any(c is e for e in session.events) for c in chosen)
    positions = [next(i for i, e in enumerate(session.events) if e is c) for c in chosen]
    assert positions == sorted(positions)
    assert ev["task"] in chosen and ev["user2"] in chosen


def test_strategy_may_be_given_as_its_value_and_unknown_ones_are_refused() -> None:
    session, _ = legacy_session()
    assert build_prompt_from_session(session, "minimal") == build_prompt_from_session(session, PromptStrategy.MINIMAL)
    with pytest.raises(ValueError, match="unknown prompt strategy 'smart'"):
        build_prompt_from_session(session, "smart")


async def test_async_twin_gives_the_same_prompt() -> None:
    session, _ = neutral_session()
    for strategy in ALL:
        expected = build_prompt_from_session(session, strategy, max_tokens=120, model="gpt-4o")
        assert await abuild_prompt_from_session(session, strategy, max_tokens=120, model="gpt-4o") == expected
        assert count_messages_tokens(expected, "gpt-4o") <= 120


def test_old_module_name_still_imports() -> None:
    from a2a_session_manager import prompts, session_prompt_builder

    assert session_prompt_builder.build_prompt_from_session is prompts.build_prompt_from_session
    assert session_prompt_builder.PromptStrategy is prompts.PromptStrategy
