"""HIERARCHICAL: ancestors' summaries from a real store, up to max_depth, nearest last."""

from __future__ import annotations

import pytest
from a2a_session_manager import InMemorySessionStore
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import (
    ANCESTOR_SUMMARY_PREFIX,
    PromptStrategy,
    abuild_prompt_from_session,
    build_prompt_from_session,
)
from a2a_session_manager.tokens import count_messages_tokens

from .helpers import assert_valid_messages


def chain(store: InMemorySessionStore, segments: int) -> list[Session]:
    """root -> seg1 -> ... each with its own conversation and a summary (old one first, newest last)."""
    sessions: list[Session] = []
    parent: Session | None = None
    for k in range(segments):
        session = Session(id=f"seg{k}", parent_id=parent.id if parent else None)
        session.add_event(SessionEvent(message="System prompt.", source=EventSource.SYSTEM))
        session.add_event(SessionEvent(message=f"question in segment {k}", source=EventSource.USER))
        session.add_event(SessionEvent(message=f"stale summary {k}", source=EventSource.LLM, type=EventType.SUMMARY))
        session.add_event(SessionEvent(message=f"answer in segment {k}", source=EventSource.LLM))
        session.add_event(
            SessionEvent(message=f"summary of segment {k}", source=EventSource.LLM, type=EventType.SUMMARY)
        )
        store.save(session)
        sessions.append(session)
        parent = session
    return sessions


def summaries(prompt: list[dict[str, object]]) -> list[str]:
    return [
        str(m["content"])[len(ANCESTOR_SUMMARY_PREFIX) :]
        for m in prompt
        if isinstance(m["content"], str) and m["content"].startswith(ANCESTOR_SUMMARY_PREFIX)
    ]


def test_latest_summary_of_each_ancestor_up_to_max_depth_nearest_last() -> None:
    store = InMemorySessionStore()
    chain(store, 6)
    leaf = store.get("seg5")
    assert leaf is not None
    prompt = build_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, include_parent_context=True)
    assert_valid_messages(prompt)
    assert summaries(prompt) == ["summary of segment 2", "summary of segment 3", "summary of segment 4"]
    assert prompt[0]["content"] == "System prompt."  # after the session's own opening system messages
    assert [m["role"] for m in prompt[:4]] == ["system"] * 4
    deep = build_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, max_depth=10, store=store)
    assert summaries(deep) == [f"summary of segment {k}" for k in range(5)]


def test_other_strategies_add_ancestors_only_when_asked() -> None:
    store = InMemorySessionStore()
    chain(store, 3)
    leaf = store.get("seg2")
    assert leaf is not None
    assert summaries(build_prompt_from_session(leaf, PromptStrategy.MINIMAL)) == []
    assert summaries(build_prompt_from_session(leaf, PromptStrategy.MINIMAL, include_parent_context=True)) == [
        "summary of segment 0",
        "summary of segment 1",
    ]


def test_a_summary_the_session_already_opens_with_is_not_repeated() -> None:
    store = InMemorySessionStore()
    chain(store, 2)
    child = Session(id="child", parent_id="seg1")
    child.add_event(
        SessionEvent(message="Earlier: summary of segment 1", source=EventSource.SYSTEM, type=EventType.CONTEXT_BRIDGE)
    )
    child.add_event(SessionEvent(message="go on", source=EventSource.USER))
    store.save(child)
    prompt = build_prompt_from_session(child, PromptStrategy.HIERARCHICAL, store=store)
    assert summaries(prompt) == ["summary of segment 0"]
    assert prompt[0]["content"] == "Earlier: summary of segment 1"


def test_under_a_budget_nearest_summaries_are_kept_first() -> None:
    store = InMemorySessionStore()
    chain(store, 4)
    leaf = store.get("seg3")
    assert leaf is not None
    full = build_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, model="gpt-4o")
    essentials_and_summaries = [m for m in full if m["content"] in ("System prompt.", "question in segment 3")]
    essentials_and_summaries += [m for m in full if str(m["content"]).startswith(ANCESTOR_SUMMARY_PREFIX)]
    assert len(essentials_and_summaries) == 5
    budget = count_messages_tokens(essentials_and_summaries, "gpt-4o") - 1  # one summary too many
    prompt = build_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, max_tokens=budget, model="gpt-4o")
    assert count_messages_tokens(prompt, "gpt-4o") <= budget
    assert summaries(prompt) == ["summary of segment 1", "summary of segment 2"]


def test_no_parent_reads_no_store_and_bad_depth_is_refused() -> None:
    lonely = Session(id="lonely")
    lonely.add_event(SessionEvent(message="hi", source=EventSource.USER))
    assert build_prompt_from_session(lonely, PromptStrategy.HIERARCHICAL) == [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="max_depth must be an int >= 0"):
        build_prompt_from_session(lonely, PromptStrategy.HIERARCHICAL, max_depth=-1)


async def test_async_twin_reads_ancestors_with_the_async_api() -> None:
    store = InMemorySessionStore()
    chain(store, 5)
    leaf = await store.aget("seg4")
    assert leaf is not None
    expected = build_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, max_depth=2)
    assert await abuild_prompt_from_session(leaf, PromptStrategy.HIERARCHICAL, max_depth=2) == expected
    assert summaries(expected) == ["summary of segment 2", "summary of segment 3"]
