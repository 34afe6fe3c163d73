"""TASK_FOCUSED: earlier turns ranked by lexical relevance to the query, output kept chronological."""

from __future__ import annotations

from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session
from a2a_session_manager.tokens import count_messages_tokens

from .helpers import assert_valid_messages

TOPICS = [
    "The invoice for order 1182 was charged twice; the refund takes five days.",
    "Your garden tomatoes need more sunlight and less water.",
    "Train tickets to Lyon are cheapest on Tuesday mornings.",
    "A refund for the duplicate invoice charge was requested from billing.",
    "The football match was postponed because of heavy snow.",
    "Recipe: whisk eggs, add flour, bake twenty minutes.",
]


def session_with_topics() -> Session:
    session = Session()
    session.add_event(SessionEvent(message="You are a support agent.", source=EventSource.SYSTEM))
    session.add_event(SessionEvent(message="Hi, I have several questions.", source=EventSource.USER))
    for k, text in enumerate(TOPICS * 3):
        session.add_event(SessionEvent(message=f"({k}) {text}", source=EventSource.LLM))
    session.add_event(SessionEvent(message="Thanks. One more thing.", source=EventSource.USER))
    return session


def test_query_pulls_in_the_relevant_earlier_turns_in_chronological_order() -> None:
    session = session_with_topics()
    budget = 150
    prompt = build_prompt_from_session(
        session, PromptStrategy.TASK_FOCUSED, max_tokens=budget, model="gpt-4o", current_query="invoice refund?"
    )
    assert_valid_messages(prompt)
    assert count_messages_tokens(prompt, "gpt-4o") <= budget
    middle = [m["content"] for m in prompt[2:-1]]
    assert middle, "some relevant turns fit the budget"
    assert all("invoice" in c or "refund" in c for c in middle)
    numbers = [int(c[1 : c.index(")")]) for c in middle]
    assert numbers == sorted(numbers)
    assert prompt[0]["content"] == "You are a support agent." and prompt[-1]["content"] == "Thanks. One more thing."


def test_without_budget_only_turns_sharing_a_word_with_the_query_are_added() -> None:
    session = session_with_topics()
    prompt = build_prompt_from_session(session, PromptStrategy.TASK_FOCUSED, current_query="snow football")
    middle = [m["content"] for m in prompt[2:-1]]
    assert len(middle) == 3 and all("football" in c for c in middle)


def test_the_latest_user_message_is_the_default_query() -> None:
    session = session_with_topics()
    session.add_event(SessionEvent(message="How do I bake it with eggs?", source=EventSource.USER))
    prompt = build_prompt_from_session(session, PromptStrategy.TASK_FOCUSED)
    middle = [m["content"] for m in prompt[2:-1]]
    assert middle and all("eggs" in c for c in middle)


def test_a_better_match_wins_when_only_one_fits() -> None:
    session = Session()
    session.add_event(SessionEvent(message="start", source=EventSource.USER))
    session.add_event(
        SessionEvent(message="refund policy details for invoices and refund timing", source=EventSource.LLM)
    )
    session.add_event(SessionEvent(message="an invoice was printed", source=EventSource.LLM))
    session.add_event(SessionEvent(message="next", source=EventSource.USER))
    base = count_messages_tokens([{"role": "user", "content": "start"}, {"role": "user", "content": "next"}], "gpt-4o")
    budget = base + count_messages_tokens([{"role": "assistant", "content": session.events[1].message}], "gpt-4o") - 3
    prompt = build_prompt_from_session(
        session, PromptStrategy.TASK_FOCUSED, max_tokens=budget, model="gpt-4o", current_query="refund for my invoice"
    )
    assert [m["content"] for m in prompt] == ["start", session.events[1].message, "next"]
