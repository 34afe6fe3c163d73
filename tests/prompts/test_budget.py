"""Budgets: exact by the model's tokenizer, essentials kept, oldest dropped first, groups whole, cost lazy."""

from __future__ import annotations

from typing import Any

import pytest
from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session, render_events, select_events
from a2a_session_manager.tokens import REPLY_PRIMER_TOKENS, count_messages_tokens

from .helpers import assert_valid_messages, event_cost, words

MODELS = ["gpt-3.5-turbo", "gpt-4o"]


def chat(n: int) -> Session:
    session = Session()
    session.add_event(SessionEvent(message="You are terse.", source=EventSource.SYSTEM))
    for i in range(n):
        source = EventSource.USER if i % 2 == 0 else EventSource.LLM
        session.add_event(SessionEvent(message=f"turn {i}: {words(10 + i % 7, i)}", source=source))
    return session


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("budget", [60, 150, 400, 1000])
def test_conversation_keeps_essentials_and_the_longest_recent_suffix_that_fits(model: str, budget: int) -> None:
    session = chat(40)
    events = session.events
    prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION, max_tokens=budget, model=model)
    assert count_messages_tokens(prompt, model) <= budget
    # expected, computed independently: system + first user + last user, then newest-first until full
    essential = [0, 1, 39]
    used = REPLY_PRIMER_TOKENS + sum(event_cost(events[i], model) for i in essential)
    kept = set(essential)
    for i in range(40, 1, -1):
        if i in kept:
            continue
        if used + event_cost(events[i], model) > budget:
            break
        used += event_cost(events[i], model)
        kept.add(i)
    assert prompt == render_events([events[i] for i in sorted(kept)])


@pytest.mark.parametrize("strategy", list(PromptStrategy))
def test_every_strategy_fits_and_keeps_the_essentials(strategy: PromptStrategy) -> None:
    session = chat(40)
    prompt = build_prompt_from_session(session, strategy, max_tokens=120, model="gpt-4o")
    assert count_messages_tokens(prompt, "gpt-4o") <= 120
    contents = [m["content"] for m in prompt]
    assert contents[0] == "You are terse."
    assert contents[1].startswith("turn 0:") and any(c.startswith("turn 38:") for c in contents)


def test_essentials_that_cannot_fit_raise_prompt_budget_error_naming_the_need() -> None:
    session = Session(id="budget-1")
    session.add_event(SessionEvent(message=words(300), source=EventSource.SYSTEM))
    session.add_event(SessionEvent(message="hi", source=EventSource.USER))
    with pytest.raises(PromptBudgetError, match=r"need \d+ tokens .* max_tokens is 50") as info:
        build_prompt_from_session(session, PromptStrategy.MINIMAL, max_tokens=50)
    assert info.value.session_id == "budget-1"
    assert isinstance(info.value, ValueError)


def test_budget_exactly_equal_to_the_essentials_is_accepted() -> None:
    session = chat(6)
    need = count_messages_tokens(render_events([session.events[i] for i in (0, 1, 5)]), "gpt-4o")
    prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION, max_tokens=need, model="gpt-4o")
    assert count_messages_tokens(prompt, "gpt-4o") == need
    with pytest.raises(PromptBudgetError):
        build_prompt_from_session(session, PromptStrategy.CONVERSATION, max_tokens=need - 1, model="gpt-4o")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_bad_max_tokens_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        build_prompt_from_session(chat(2), max_tokens=bad)


def tool_heavy() -> Session:
    session = Session()
    session.add_event(make_message_event("user", "research three cities"))
    for k in range(6):
        calls = [{"id": f"c{k}-{j}", "name": "lookup", "arguments": {"city": f"city{j}"}} for j in range(3)]
        turn = make_message_event("assistant", f"step {k}", tool_calls=calls)
        session.add_event(turn)
        for call in calls:
            session.add_event(
                make_tool_call_event(
                    "lookup", call["arguments"], call["id"], result=words(25, k), parent_event_id=turn.id
                )
            )
    session.add_event(make_message_event("user", "and now?"))
    return session


@pytest.mark.parametrize("strategy", list(PromptStrategy))
@pytest.mark.parametrize("budget", range(40, 900, 37))
def test_tool_groups_are_never_split(strategy: PromptStrategy, budget: int) -> None:
    session = tool_heavy()
    chosen = select_events(session.events, strategy, max_tokens=budget, model="gpt-3.5-turbo")
    ids = {e.id for e in chosen}
    for event in session.events:
        if event.metadata.get("parent_event_id"):
            assert (event.id in ids) == (event.metadata["parent_event_id"] in ids)
    prompt = render_events(chosen)
    assert_valid_messages(prompt)
    assert count_messages_tokens(prompt, "gpt-3.5-turbo") <= budget
    for message in prompt:
        if message.get("tool_calls"):
            assert len(message["tool_calls"]) == 3


class CountingText:
    """Message payload that records each time something renders it as text."""

    renders = 0

    def __str__(self) -> str:
        CountingText.renders += 1
        return "old filler message that should never be looked at"


def test_budgeted_build_never_renders_or_counts_the_old_history() -> None:
    events = [SessionEvent(message="first task", source=EventSource.USER)]
    events += [
        SessionEvent(message=CountingText(), source=EventSource.LLM if i % 2 else EventSource.USER)
        for i in range(20_000)
    ]
    events += [
        SessionEvent(message=f"recent {i} {words(12, i)}", source=EventSource.USER if i % 2 else EventSource.LLM)
        for i in range(200)
    ]
    CountingText.renders = 0
    for strategy in (PromptStrategy.CONVERSATION, PromptStrategy.MINIMAL, PromptStrategy.HIERARCHICAL):
        chosen = select_events(events, strategy, max_tokens=800, model="gpt-4o")
        assert count_messages_tokens(render_events(chosen), "gpt-4o") <= 800
    assert CountingText.renders == 0
