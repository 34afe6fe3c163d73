"""The usage ledger: provider-reported usage kept as reported, and roll-ups over a session tree."""

from __future__ import annotations

from typing import Any

import pytest
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage
from a2a_session_manager.storage import InMemorySessionStore
from a2a_session_manager.usage import (
    UsageReport,
    asummarize_tree,
    cost_usd,
    format_cost,
    format_tokens,
    format_usd,
    summarize_session,
    summarize_tree,
    usage_from_langchain,
    usage_from_llamaindex,
    usage_from_openai,
)
from langchain_core.messages import AIMessage
from llama_index.core.llms import ChatMessage, ChatResponse

OPENAI_CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
}


def test_openai_chat_usage_is_kept_as_reported() -> None:
    usage = usage_from_openai(OPENAI_CHAT_USAGE, "o4-mini")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1200, 300, 1500)
    assert (usage.cached_prompt_tokens, usage.reasoning_tokens) == (1024, 256)
    assert usage.origin == "reported"
    assert usage.estimated_cost_usd == pytest.approx((176 * 1.10 + 1024 * 0.275 + 300 * 4.40) / 1e6)


def test_openai_whole_response_gives_its_model() -> None:
    response = {"id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18", "usage": OPENAI_CHAT_USAGE}
    usage = usage_from_openai(response)
    assert usage.model == "gpt-4o-mini-2024-07-18"
    assert usage.estimated_cost_usd is not None


def test_openai_responses_api_usage() -> None:
    usage = usage_from_openai(
        {
            "input_tokens": 500,
            "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": 80,
            "output_tokens_details": {"reasoning_tokens": 50},
            "total_tokens": 580,
        },
        "gpt-5",
    )
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (500, 80, 580)
    assert (usage.cached_prompt_tokens, usage.reasoning_tokens, usage.origin) == (200, 50, "reported")


def test_a_reported_total_is_not_recomputed() -> None:
    # Some providers count extra tokens (e.g. tool-use prompts) in the total only.
    usage = usage_from_openai({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 17}, "gpt-4o")
    assert usage.total_tokens == 17


@pytest.mark.parametrize(
    "bad,error",
    [
        ({"prompt_tokens": -1, "completion_tokens": 2}, ValueError),
        ({"prompt_tokens": "12", "completion_tokens": 2}, ValueError),
        ({"prompt_tokens": 1.5, "completion_tokens": 2}, ValueError),
        ({"tokens": 3}, ValueError),
        ("12 tokens", TypeError),
    ],
)
def test_bad_openai_usage_is_refused_clearly(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="OpenAI usage"):
        usage_from_openai(bad, "gpt-4o")


def test_langchain_usage_metadata_with_cache_and_reasoning() -> None:
    metadata = {
        "input_tokens": 2000,
        "output_tokens": 400,
        "total_tokens": 2400,
        "input_token_details": {"cache_read": 1500, "cache_creation": 300},
        "output_token_details": {"reasoning": 100},
    }
    usage = usage_from_langchain(metadata, "claude-sonnet-4-5-20250929")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2000, 400, 2400)
    assert (usage.cached_prompt_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (1500, 300, 100)
    assert usage.origin == "reported"
    assert usage.estimated_cost_usd == pytest.approx((200 * 3 + 1500 * 0.30 + 300 * 3.75 + 400 * 15) / 1e6)


def test_langchain_ai_message_gives_usage_and_model() -> None:
    message = AIMessage(
        content="Hi!",
        usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        response_metadata={"model_name": "gpt-4o-mini"},
    )
    usage = usage_from_langchain(message)
    assert (usage.model, usage.prompt_tokens, usage.completion_tokens, usage.origin) == (
        "gpt-4o-mini",
        12,
        3,
        "reported",
    )
    with pytest.raises(ValueError, match="no usage_metadata"):
        usage_from_langchain(AIMessage(content="no usage"))


def test_langchain_usage_without_a_model_is_kept_but_unpriced() -> None:
    usage = usage_from_langchain({"input_tokens": 5, "output_tokens": 1, "total_tokens": 6})
    assert (usage.total_tokens, usage.model, usage.estimated_cost_usd) == (6, "", None)


def test_llamaindex_chat_response_raw_usage() -> None:
    response = ChatResponse(
        message=ChatMessage(role="assistant", content="Paris."),
        raw={"model": "gpt-4.1-mini", "usage": dict(OPENAI_CHAT_USAGE)},
    )
    usage = usage_from_llamaindex(response)
    assert usage is not None
    assert (usage.model, usage.prompt_tokens, usage.cached_prompt_tokens, usage.origin) == (
        "gpt-4.1-mini",
        1200,
        1024,
        "reported",
    )


def test_llamaindex_additional_kwargs_and_missing_usage() -> None:
    kwargs = {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}
    usage = usage_from_llamaindex(kwargs, "gpt-4o")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (30, 7)
    response = ChatResponse(message=ChatMessage(role="assistant", content="x", additional_kwargs=kwargs), raw=None)
    from_message = usage_from_llamaindex(response, "gpt-4o")
    assert from_message is not None and from_message.total_tokens == 37
    assert usage_from_llamaindex(ChatResponse(message=ChatMessage(role="assistant", content="x"))) is None
    assert usage_from_llamaindex({"id": "chunk", "choices": []}) is None
    assert usage_from_llamaindex(None) is None


def test_llamaindex_anthropic_raw_adds_cache_tokens_to_the_prompt() -> None:
    raw = {
        "model": "claude-3-5-haiku-20241022",
        "usage": {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 20,
        },
    }
    usage = usage_from_llamaindex(raw)
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.cache_write_tokens) == (1250, 1000, 200)
    assert usage.total_tokens == 1270
    assert usage.estimated_cost_usd == pytest.approx((50 * 0.80 + 1000 * 0.08 + 200 * 1.0 + 20 * 4.0) / 1e6)


def test_llamaindex_gemini_raw_counts_thoughts_as_reasoning_output() -> None:
    raw = {
        "model_version": "gemini-2.5-flash",
        "usage_metadata": {
            "prompt_token_count": 100,
            "candidates_token_count": 40,
            "thoughts_token_count": 60,
            "cached_content_token_count": 0,
            "total_token_count": 200,
        },
    }
    usage = usage_from_llamaindex(raw)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens, usage.total_tokens) == (
        100,
        100,
        60,
        200,
    )
    assert usage.model == "gemini-2.5-flash"


# ------------------------------------------------------------------------ roll-ups
def _event(source: EventSource, usage: TokenUsage | None, run: str | None = None) -> SessionEvent:
    return SessionEvent(message="m", source=source, token_usage=usage, task_id=run)


def _tree(store: InMemorySessionStore) -> tuple[Session, list[TokenUsage]]:
    reported = usage_from_openai(OPENAI_CHAT_USAGE, "gpt-4o")
    counted = TokenUsage.from_text("What is the weather?", "Sunny and warm.", model="gpt-4-turbo")
    local = TokenUsage(prompt_tokens=700, completion_tokens=300, model="some-local-llama", origin="estimated")
    mini = usage_from_langchain({"input_tokens": 40, "output_tokens": 10, "total_tokens": 50}, "gpt-4o-mini")

    parent = Session()
    parent.add_event(_event(EventSource.USER, None))
    parent.add_event(_event(EventSource.LLM, reported, run="run-1"))
    store.save(parent)
    child = Session(parent_id=parent.id)
    child.add_event(_event(EventSource.LLM, counted, run="run-2"))
    store.save(child)
    grandchild = Session(parent_id=child.id)
    grandchild.add_event(_event(EventSource.LLM, local))
    store.save(grandchild)
    other_child = Session(parent_id=parent.id)
    other_child.add_event(_event(EventSource.TOOL, mini, run="run-2"))
    store.save(other_child)
    return store.get(parent.id) or parent, [reported, counted, local, mini]


def _check_tree_report(report: UsageReport, usages: list[TokenUsage]) -> None:
    reported, counted, local, mini = usages
    assert len(report.session_ids) == 4
    assert report.total_tokens == sum(u.total_tokens for u in usages)
    priced = [reported, counted, mini]
    assert report.total_cost_usd == pytest.approx(sum(u.estimated_cost_usd or 0 for u in priced))
    assert report.unpriced_tokens == local.total_tokens == 1000
    assert not report.is_cost_complete
    assert report.total.total_cached_prompt_tokens == 1024
    assert report.total.total_reasoning_tokens == 256
    assert set(report.by_model) == {"gpt-4o", "gpt-4-turbo", "some-local-llama", "gpt-4o-mini"}
    assert report.by_model["some-local-llama"].unpriced_tokens == 1000
    assert report.by_origin["reported"].total_tokens == reported.total_tokens + mini.total_tokens
    assert report.by_origin["counted"].total_tokens == counted.total_tokens
    assert report.by_origin["estimated"].total_tokens == 1000
    assert report.by_run["run-2"].total_tokens == counted.total_tokens + mini.total_tokens
    assert report.by_run["no_run"].total_tokens == 1000
    assert report.by_source["tool"].total_tokens == mini.total_tokens
    assert sum(s.total_tokens for s in report.by_session.values()) == report.total_tokens


def test_summarize_tree_rolls_up_parent_and_every_descendant() -> None:
    store = InMemorySessionStore()
    parent, usages = _tree(store)
    _check_tree_report(summarize_tree(parent, store), usages)
    only_parent = summarize_session(parent)
    assert only_parent.total_tokens == usages[0].total_tokens
    assert only_parent.session_ids == [parent.id]


async def test_asummarize_tree_gives_the_same_report() -> None:
    store = InMemorySessionStore()
    parent, usages = _tree(store)
    report = await asummarize_tree(parent, store)
    _check_tree_report(report, usages)
    assert report == summarize_tree(parent, store)


def test_summarize_tree_uses_the_store_the_session_came_from() -> None:
    store = InMemorySessionStore()
    parent, usages = _tree(store)
    assert summarize_tree(parent).total_tokens == sum(u.total_tokens for u in usages)


def test_session_breakdowns_still_work() -> None:
    store = InMemorySessionStore()
    parent, usages = _tree(store)
    by_source = parent.get_token_usage_by_source()
    assert by_source["llm"].total_tokens == usages[0].total_tokens
    assert parent.get_token_usage_by_run()["run-1"].total_tokens == usages[0].total_tokens
    assert summarize_session(parent).by_source["llm"] == by_source["llm"]


def test_a_report_is_plain_json() -> None:
    store = InMemorySessionStore()
    parent, _ = _tree(store)
    report = summarize_tree(parent, store)
    assert UsageReport.model_validate_json(report.model_dump_json()) == report


# ---------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0.0, "$0.00"),
        (1234.5, "$1,234.50"),
        (12.3456, "$12.35"),
        (0.5, "$0.5000"),
        (0.0123, "$0.0123"),
        (0.000137, "$0.000137"),
        (0.0000108, "$0.0000108"),
        (0.00000005, "$0.00000005"),
        (0.000000001, "$0.000000001"),
    ],
)
def test_usd_amounts_keep_three_significant_digits_below_a_dollar(amount: float, text: str) -> None:
    assert format_usd(amount) == text


def test_a_cost_without_a_price_reads_unpriced_and_a_summary_says_how_many_tokens() -> None:
    priced = TokenUsage(prompt_tokens=1000, completion_tokens=200, model="gpt-4o")
    local = TokenUsage(prompt_tokens=1000, completion_tokens=200, model="my-local-llm")
    assert local.estimated_cost_usd is None and priced.estimated_cost_usd is not None
    assert format_cost(local) == "unpriced"
    assert format_cost(priced) == format_usd(priced.estimated_cost_usd)
    only_local = TokenSummary()
    only_local.add_usage(local)
    assert only_local.total_estimated_cost_usd == 0.0  # the sum of what had a price...
    assert cost_usd(only_local) is None  # ...which is not "free"
    assert format_cost(only_local) == "1,200 unpriced tokens"
    mixed = TokenSummary()
    mixed.add_usage(priced)
    mixed.add_usage(local)
    assert cost_usd(mixed) == priced.estimated_cost_usd
    assert format_cost(mixed) == f"{format_usd(priced.estimated_cost_usd)} + 1,200 unpriced tokens"
    assert format_cost(TokenSummary()) == "$0.00"
    assert format_cost(None) == "unpriced" and format_cost(None, unpriced_tokens=5) == "5 unpriced tokens"
    assert format_cost(0.0123, unpriced_tokens=1200) == "$0.0123 + 1,200 unpriced tokens"
    assert "$0.000000" not in " ".join(format_cost(x) for x in (local, only_local, mixed))


def test_estimated_counts_are_marked_and_exact_ones_are_not() -> None:
    exact = TokenUsage(prompt_tokens=1000, completion_tokens=234, model="gpt-4o")
    guess = TokenUsage(prompt_tokens=150, completion_tokens=25, origin="estimated")
    assert format_tokens(exact) == "1,234 tokens"
    assert format_tokens(guess) == "~175 tokens (estimated)"
    summary = TokenSummary()
    summary.add_usage(exact)
    summary.add_usage(guess)
    assert format_tokens(summary) == "~1,409 tokens (175 estimated)"
    assert format_tokens(1234, estimated_tokens=1234) == "~1,234 tokens (estimated)"
    assert format_tokens(0) == "0 tokens"


def test_a_report_says_null_for_its_cost_when_nothing_had_a_price() -> None:
    session = Session()
    session.add_event(_event(EventSource.LLM, TokenUsage(prompt_tokens=900, completion_tokens=300, model="x-llm")))
    report = summarize_session(session)
    assert report.cost_usd is None and report.unpriced_tokens == 1200
    dumped = report.model_dump(mode="json")
    assert dumped["cost_usd"] is None and dumped["unpriced_tokens"] == 1200
    assert format_cost(report) == "1,200 unpriced tokens"
    assert UsageReport.model_validate_json(report.model_dump_json()) == report
    session.add_event(_event(EventSource.LLM, TokenUsage(prompt_tokens=10, completion_tokens=5, model="gpt-4o")))
    partly = summarize_session(session)
    assert partly.cost_usd == partly.total_cost_usd > 0
