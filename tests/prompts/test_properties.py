"""Property: for generated sessions, every strategy and budget gives a valid prompt within budget.

Sessions mix user/assistant/system turns, summaries, context bridges, references, neutral tool
groups (some calls left unanswered, results sometimes recorded out of order), 0.1.3 tool
events (no call id, parent by ``parent_event_id``, parent sometimes a SYSTEM event) and
stray results. ``PromptBudgetError`` is raised exactly when the essential messages (opening
system messages, first and latest user message) plus the reply primer exceed the budget.
"""

from __future__ import annotations

from typing import Any

from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session, render_events, select_events
from a2a_session_manager.tokens import REPLY_PRIMER_TOKENS, count_messages_tokens
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import assert_valid_messages, essential_events, event_cost, words

texts = st.builds(words, st.integers(0, 60), st.integers(0, 50))
call_ids = st.sampled_from(["c0", "c1", "c2", "c3", "call_x"])  # reused across turns on purpose


@st.composite
def blocks(draw: st.DrawFn) -> list[SessionEvent]:
    kind = draw(
        st.sampled_from(["user", "assistant", "system", "summary", "bridge", "reference", "neutral", "legacy", "stray"])
    )
    if kind == "user":
        return [SessionEvent(message=draw(texts), source=EventSource.USER)]
    if kind == "assistant":
        return [make_message_event("assistant", draw(texts))]
    if kind == "system":
        return [SessionEvent(message=draw(texts), source=EventSource.SYSTEM)]
    if kind in ("summary", "bridge"):
        kind_type = EventType.SUMMARY if kind == "summary" else EventType.CONTEXT_BRIDGE
        return [SessionEvent(message=draw(texts), source=EventSource.LLM, type=kind_type)]
    if kind == "reference":
        return [SessionEvent(message={"ref": "doc"}, source=EventSource.SYSTEM, type=EventType.REFERENCE)]
    if kind == "neutral":
        ids = draw(st.lists(call_ids, min_size=1, max_size=3, unique=True))
        calls = [{"id": i, "name": "tool", "arguments": {"q": draw(texts)}} for i in ids]
        turn = make_message_event("assistant", draw(st.sampled_from(["", "calling"])), tool_calls=calls)
        results = [
            make_tool_call_event("tool", {}, i, result=draw(texts), parent_event_id=turn.id)
            for i in ids
            if draw(st.booleans()) or draw(st.booleans())
        ]
        for r in results:
            r.id = f"{r.id}:{turn.id}"  # call ids repeat across turns; event ids must not
        if draw(st.booleans()):
            results.reverse()
        return [turn, *results]
    if kind == "legacy":
        parent_source = draw(st.sampled_from([EventSource.LLM, EventSource.LLM, EventSource.SYSTEM]))
        parent = SessionEvent(message=draw(texts), source=parent_source)
        results = [
            SessionEvent(
                message={"tool_name": "t", "result": {"v": draw(texts)}},
                source=EventSource.SYSTEM,
                type=EventType.TOOL_CALL,
                metadata={"parent_event_id": parent.id},
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
        return [parent, *results]
    return [make_tool_call_event("tool", {}, draw(call_ids), result=draw(texts))]


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    session = Session()
    for block in draw(st.lists(blocks(), max_size=25)):
        for event in block:
            session.add_event(event)
    return session


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    session=sessions(),
    budget=st.one_of(st.none(), st.integers(1, 1500)),
    model=st.sampled_from(["gpt-3.5-turbo", "gpt-4o"]),
    query=st.one_of(st.none(), texts),
)
def test_every_strategy_gives_a_valid_prompt_within_budget(
    session: Session, budget: int | None, model: str, query: str | None
) -> None:
    events = session.events
    essentials = essential_events(events)
    need = REPLY_PRIMER_TOKENS + sum(event_cost(e, model) for e in essentials)
    assert_valid_messages(render_events(events))
    for strategy in PromptStrategy:
        try:
            chosen = select_events(events, strategy, max_tokens=budget, model=model, current_query=query)
        except PromptBudgetError:
            assert budget is not None and need > budget
            continue
        assert budget is None or need <= budget
        prompt = render_events(chosen)
        assert_valid_messages(prompt)
        if budget is not None:
            assert count_messages_tokens(prompt, model) <= budget
        positions = [next(i for i, e in enumerate(events) if e is c) for c in chosen]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        for event in essentials:
            assert any(event is c for c in chosen)
        assert build_prompt_from_session(session, strategy, budget, model, current_query=query) == prompt
        if strategy is PromptStrategy.CONVERSATION and budget is None:
            assert prompt == render_events(events)


def _group_of(events: list[SessionEvent]) -> dict[str, Any]:
    return {e.id: e.metadata.get("parent_event_id") for e in events}


@settings(max_examples=80, deadline=None)
@given(session=sessions(), budget=st.integers(30, 800))
def test_a_fully_answered_neutral_group_is_kept_or_dropped_whole(session: Session, budget: int) -> None:
    events = session.events
    try:
        chosen = select_events(events, PromptStrategy.CONVERSATION, max_tokens=budget, model="gpt-4o")
    except PromptBudgetError:
        return
    chosen_ids = {e.id for e in chosen}
    for turn in events:
        calls = turn.message.get("tool_calls") if isinstance(turn.message, dict) else None
        if not calls:
            continue
        results = [e for e in events if e.metadata.get("parent_event_id") == turn.id]
        answered = {r.message["tool_call_id"] for r in results}
        if answered != {c["id"] for c in calls} or len(results) != len(calls):
            continue
        kept = [r.id in chosen_ids for r in results]
        assert all(k == (turn.id in chosen_ids) for k in kept)
