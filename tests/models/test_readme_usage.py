"""The models behave as the original README uses them (sessions, events, runs, tokens)."""

from __future__ import annotations

from datetime import UTC

import pytest
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import RunStatus, SessionRun
from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage


def test_a_new_session_is_empty_with_a_unique_id_and_utc_timestamps() -> None:
    first, second = Session(), Session()
    assert first.id != second.id
    assert first.events == [] and first.runs == [] and first.child_ids == []
    assert first.parent_id is None
    assert first.state == {}
    assert first.metadata.created_at.tzinfo is not None
    assert first.metadata.created_at.utcoffset() == UTC.utcoffset(None)
    assert first.total_tokens == 0
    assert first.total_cost == 0
    assert first.active_run is None


def test_add_event_keeps_order_and_counts_tokens() -> None:
    session = Session()
    session.add_event(SessionEvent(message="Hello", source=EventSource.USER))
    reply = SessionEvent.create_with_tokens(
        message="Hi there", prompt="Hello", completion="Hi there", model="gpt-3.5-turbo", source=EventSource.LLM
    )
    session.add_event(reply)
    assert [e.message for e in session.events] == ["Hello", "Hi there"]
    assert [e.seq for e in session.events] == [0, 1]
    assert reply.token_usage is not None
    assert session.total_tokens == reply.token_usage.total_tokens > 0
    assert session.token_summary.call_count == 1


def test_create_with_tokens_counts_prompt_and_completion_with_the_models_tokenizer() -> None:
    event = SessionEvent.create_with_tokens(
        message="The capital of France is Paris.",
        prompt="What is the capital of France?",
        completion="The capital of France is Paris.",
        model="gpt-3.5-turbo",
        source=EventSource.LLM,
    )
    usage = event.token_usage
    assert usage is not None
    assert usage.model == "gpt-3.5-turbo"
    assert usage.origin == "counted"
    assert usage.prompt_tokens == TokenUsage.count_tokens("What is the capital of France?", "gpt-3.5-turbo") == 7
    assert usage.completion_tokens == TokenUsage.count_tokens("The capital of France is Paris.", "gpt-3.5-turbo")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.estimated_cost_usd is not None and usage.estimated_cost_usd > 0
    assert event.source is EventSource.LLM
    assert event.type is EventType.MESSAGE


def test_an_unknown_models_cost_is_none_not_a_guess() -> None:
    usage = TokenUsage(prompt_tokens=100, completion_tokens=50, model="some-local-llama")
    assert usage.total_tokens == 150
    assert usage.estimated_cost_usd is None
    assert usage.calculate_cost() is None


def status(run: SessionRun) -> RunStatus:
    return run.status


def test_run_lifecycle_marks_status_and_times() -> None:
    run = SessionRun()
    assert (status(run), run.ended_at) == (RunStatus.PENDING, None)
    run.mark_running()
    assert status(run) is RunStatus.RUNNING
    assert run.started_at.tzinfo is not None
    assert run.ended_at is None
    run.mark_completed()
    assert status(run) is RunStatus.COMPLETED
    assert run.ended_at is not None and run.ended_at >= run.started_at

    failed = SessionRun()
    failed.mark_running()
    failed.mark_failed()
    assert status(failed) is RunStatus.FAILED and failed.ended_at is not None

    cancelled = SessionRun()
    cancelled.mark_cancelled()
    assert status(cancelled) is RunStatus.CANCELLED and cancelled.ended_at is not None
    assert [s.value for s in RunStatus] == ["pending", "running", "completed", "failed", "cancelled"]


def test_active_run_is_the_latest_run_still_going() -> None:
    session = Session()
    done, current = SessionRun(), SessionRun()
    done.mark_completed()
    current.mark_running()
    session.runs.extend([done, current])
    assert session.active_run is current
    current.mark_completed()
    assert session.active_run is None


def test_token_usage_by_source_and_by_run() -> None:
    session = Session()
    run = SessionRun()
    run.mark_running()
    session.runs.append(run)
    in_run = SessionEvent.create_with_tokens("a", "question one", "answer one", "gpt-4o-mini", task_id=run.id)
    outside = SessionEvent.create_with_tokens("b", "question two", "answer two", "gpt-4o-mini")
    from_user = SessionEvent.create_with_tokens("c", "a user's text", None, "gpt-4o-mini", source=EventSource.USER)
    plain = SessionEvent(message="no usage", source=EventSource.SYSTEM)
    for e in (in_run, outside, from_user, plain):
        session.add_event(e)

    by_source = session.get_token_usage_by_source()
    assert set(by_source) == {"llm", "user"}
    assert isinstance(by_source["llm"], TokenSummary)
    assert by_source["llm"].total_tokens == in_run.token_usage.total_tokens + outside.token_usage.total_tokens  # type: ignore[union-attr]
    assert by_source["user"].total_tokens == from_user.token_usage.total_tokens  # type: ignore[union-attr]

    by_run = session.get_token_usage_by_run()
    assert set(by_run) == {run.id, "no_run"}
    assert by_run[run.id].total_tokens == in_run.token_usage.total_tokens  # type: ignore[union-attr]
    assert by_run["no_run"].call_count == 2

    costs = [e.token_usage.estimated_cost_usd for e in (in_run, outside, from_user)]  # type: ignore[union-attr]
    assert session.total_cost == pytest.approx(sum(c for c in costs if c is not None))
    assert session.total_tokens == sum(s.total_tokens for s in by_source.values())


def test_token_usage_adds_updates_and_recalculates_cost() -> None:
    a = TokenUsage(prompt_tokens=1000, completion_tokens=500, model="gpt-4o-mini")
    b = TokenUsage(prompt_tokens=200, completion_tokens=100, model="gpt-4o-mini")
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (1200, 600, 1800)
    assert total.model == "gpt-4o-mini"
    assert total.estimated_cost_usd == pytest.approx(a.estimated_cost_usd + b.estimated_cost_usd)  # type: ignore[operator]

    before = a.estimated_cost_usd
    a.update(prompt_tokens=1000, completion_tokens=500)
    assert (a.prompt_tokens, a.completion_tokens, a.total_tokens) == (2000, 1000, 3000)
    assert a.estimated_cost_usd == pytest.approx(2 * before)  # type: ignore[operator]
    assert a.calculate_cost() == pytest.approx(a.estimated_cost_usd)


def test_adding_an_unpriced_usage_never_prices_it_at_another_models_rate() -> None:
    priced = TokenUsage(prompt_tokens=1000, completion_tokens=500, model="gpt-4o-mini")
    unpriced = TokenUsage(prompt_tokens=5, model="some-local-llama")
    assert unpriced.estimated_cost_usd is None
    assert (priced + unpriced).estimated_cost_usd is None
    assert (unpriced + priced).estimated_cost_usd is None


def test_event_sources_and_types_are_stable_strings() -> None:
    assert EventSource.TOOL.value == "tool"
    assert {s.value for s in EventSource} >= {"user", "llm", "system", "tool"}
    assert {t.name for t in EventType} >= {"MESSAGE", "SUMMARY", "TOOL_CALL", "REFERENCE", "CONTEXT_BRIDGE"}
    event = SessionEvent(message={"name": "add", "arguments": {}}, source=EventSource.TOOL, type=EventType.TOOL_CALL)
    again = SessionEvent.model_validate_json(event.model_dump_json())
    assert again == event


def test_session_state_helpers() -> None:
    session = Session()
    session.set_state("step", 2)
    assert session.get_state("step") == 2
    assert session.has_state("step")
    assert session.get_state("missing", "default") == "default"
    session.remove_state("step")
    assert not session.has_state("step")
