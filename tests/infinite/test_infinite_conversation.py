"""InfiniteConversationManager: segments by real token counts, cumulative summaries, atomic opening."""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager import (
    EventSource,
    EventType,
    InMemorySessionStore,
    Session,
    SessionEvent,
    SessionNotFoundError,
    SessionStore,
    SummarizationError,
)
from a2a_session_manager.infinite_conversation import (
    CONTEXT_SUMMARY_PREFIX,
    SEGMENT_META_KEY,
    SEGMENT_RECORD_KIND,
    SUMMARY_PROMPTS,
    InfiniteConversationManager,
    SummarizationStrategy,
    summary_event_id,
)
from a2a_session_manager.messages import event_token_count
from a2a_session_manager.storage import create_session_store
from a2a_session_manager.tokens import count_messages_tokens

from tests.conftest import store_url

WORKER = Path(__file__).with_name("_worker.py")
MODEL = "gpt-3.5-turbo"


class FactSummarizer:
    """A scripted summarizer: its summary lists every ``m<N>`` fact in what it was given.

    Because the earlier summary is part of what it is given, its summaries stay complete
    only if the manager really passes that summary along (cumulative summaries).
    """

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    async def __call__(self, messages: list[dict[str, Any]], model: str) -> str:
        self.calls.append(messages)
        facts = sorted({int(n) for m in messages for n in re.findall(r"\bm(\d+)\b", str(m["content"]))})
        return f"summary {len(self.calls)} facts: " + " ".join(f"m{n}" for n in facts)


def text(i: int) -> str:
    return f"m{i} the user keeps talking about gardening, tomatoes and the weather in Lyon"


async def talk(manager: InfiniteConversationManager, sid: str, n: int, summarizer: Any, start: int = 0) -> list[str]:
    segments = []
    for i in range(start, start + n):
        source = EventSource.USER if i % 2 == 0 else EventSource.LLM
        segments.append(await manager.process_message(sid, text(i), source, summarizer))
    return segments


def chain(segments: list[str]) -> list[str]:
    out: list[str] = []
    for s in segments:
        if not out or out[-1] != s:
            out.append(s)
    return out


# ---------------------------------------------------------------------------- segmentation
async def test_segments_open_when_real_token_counts_would_pass_the_threshold(store: SessionStore) -> None:
    threshold = 100
    manager = InfiniteConversationManager(token_threshold=threshold, store=store)
    segments = await talk(manager, "conv", 12, FactSummarizer())

    # The same greedy rule, computed independently from the tokenizer's counts.
    expected, used, k = [], 0, 0
    for i in range(12):
        tokens = event_token_count(SessionEvent(message=text(i), source=EventSource.USER), MODEL)
        if used and used + tokens > threshold:
            k, used = k + 1, 0
        used += tokens
        expected.append(k)
    ids = chain(segments)
    assert [ids.index(s) for s in segments] == expected
    assert len(ids) > 2
    for sid in ids:
        messages = [e for e in await store.aget_events(sid) if e.type == EventType.MESSAGE]
        assert sum(event_token_count(e, MODEL) for e in messages) <= threshold


async def test_segments_are_child_sessions_closed_by_a_summary_and_opened_by_a_bridge(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=100, store=store)
    ids = chain(await talk(manager, "conv", 12, FactSummarizer()))
    for k, (old, new) in enumerate(itertools.pairwise(ids), start=1):
        old_events, new_events = await store.aget_events(old), await store.aget_events(new)
        closing = old_events[-1]
        assert closing.type == EventType.SUMMARY and closing.id == summary_event_id(old)
        assert closing.metadata[SEGMENT_META_KEY]["next_segment_id"] == new
        assert closing.metadata[SEGMENT_META_KEY]["covers_segments"] == [1, k]
        assert new_events[0].type == EventType.CONTEXT_BRIDGE and new_events[0].message == closing.message
        assert await store.aget_child_ids(old) == [new]
        assert await store.aget_record(old, SEGMENT_RECORD_KIND, "next") == new.encode()
    current = await store.aget(ids[-1])
    assert current is not None and current.parent_id == ids[-2]
    assert [s.id for s in await current.aancestors()] == list(reversed(ids[:-1]))


async def test_max_turns_per_segment_also_opens_segments() -> None:
    manager = InfiniteConversationManager(token_threshold=10_000, max_turns_per_segment=3, store=InMemorySessionStore())
    segments = await talk(manager, "conv", 7, FactSummarizer())
    ids = chain(segments)
    assert [ids.index(s) for s in segments] == [0, 0, 0, 1, 1, 1, 2]


async def test_an_oversized_message_fills_an_empty_segment_instead_of_looping() -> None:
    summarizer = FactSummarizer()
    manager = InfiniteConversationManager(token_threshold=20, store=InMemorySessionStore())
    first = await manager.process_message("conv", "m1 " + "word " * 100, EventSource.USER, summarizer)
    second = await manager.process_message("conv", "m2 " + "word " * 100, EventSource.LLM, summarizer)
    assert first == "conv" and second != first and len(summarizer.calls) == 1


# ---------------------------------------------------------------------------- summaries
async def test_summaries_are_cumulative_and_early_context_survives(store: SessionStore) -> None:
    summarizer = FactSummarizer()
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    ids = chain(await talk(manager, "conv", 24, summarizer))
    assert len(summarizer.calls) >= 6

    for k, call in enumerate(summarizer.calls[1:], start=2):
        prompt = call[-1]["content"]
        assert f"summary {k - 1} facts:" in prompt  # the previous summary is passed along
        assert "Earlier summary" in prompt
    assert "Earlier summary" not in summarizer.calls[0][-1]["content"]
    closing = [e for sid in ids[:-1] for e in await store.aget_events(sid) if e.type == EventType.SUMMARY]
    # The last summary still knows the first segment's facts.
    assert "m0 m1" in closing[-1].message
    assert closing[-1].metadata[SEGMENT_META_KEY]["covers_segments"] == [1, len(ids) - 1]
    assert closing[-1].token_usage is not None and closing[-1].token_usage.total_tokens > 0


async def test_each_strategy_sends_its_own_prompt() -> None:
    assert len(set(SUMMARY_PROMPTS.values())) == 4
    for strategy in SummarizationStrategy:
        summarizer = FactSummarizer()
        manager = InfiniteConversationManager(
            token_threshold=40, summarization_strategy=strategy, store=InMemorySessionStore()
        )
        await talk(manager, "conv", 4, summarizer)
        assert summarizer.calls[0][0] == {"role": "system", "content": SUMMARY_PROMPTS[strategy]}


# ---------------------------------------------------------------------------- context and history
async def test_context_holds_the_latest_summary_once_then_the_current_segment(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    ids = chain(await talk(manager, "conv", 20, FactSummarizer()))

    context = await manager.abuild_context_for_llm("conv")
    systems = [m for m in context if m["role"] == "system"]
    assert len(systems) == 1
    latest = next(e for e in await store.aget_events(ids[-2]) if e.type == EventType.SUMMARY)
    assert context[0] == {"role": "system", "content": CONTEXT_SUMMARY_PREFIX + latest.message}
    current_texts = [e.message for e in await store.aget_events(ids[-1]) if e.type == EventType.MESSAGE]
    assert [m["content"] for m in context[1:]] == current_texts
    assert manager.build_context_for_llm(ids[0]) == context  # sync twin, from any segment


async def test_context_fits_max_tokens(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=200, store=store)
    await talk(manager, "conv", 14, FactSummarizer())
    context = manager.build_context_for_llm("conv", max_tokens=120)
    assert count_messages_tokens(context, MODEL) <= 120
    assert context[0]["content"].startswith(CONTEXT_SUMMARY_PREFIX)
    assert context[-1]["content"] == text(13)


async def test_full_history_has_every_message_in_order_and_nothing_is_deleted(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    ids = chain(await talk(manager, "conv", 16, FactSummarizer()))

    history = manager.get_full_conversation_history(ids[2])
    assert [h["content"] for h in history] == [text(i) for i in range(16)]
    assert [h["role"] for h in history[:2]] == ["user", "assistant"]
    assert {h["segment_id"] for h in history} == set(ids)
    assert await manager.aget_full_conversation_history("conv") == history
    with_summaries = manager.get_full_conversation_history("conv", include_summaries=True)
    assert sum(1 for h in with_summaries if h.get("summary")) == len(ids) - 1
    stored = [e.message for sid in ids for e in await store.aget_events(sid) if e.type == EventType.MESSAGE]
    assert stored == [text(i) for i in range(16)]


async def test_any_segment_id_routes_to_the_current_segment(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    ids = chain(await talk(manager, "conv", 12, FactSummarizer()))
    fresh = InfiniteConversationManager(token_threshold=10_000, store=store)  # knows nothing yet
    assert fresh.current_segment_id(ids[0]) == ids[-1]
    landed = await fresh.process_message(ids[1], "m99 short", EventSource.USER, FactSummarizer())
    assert landed == ids[-1]
    assert (await store.aget_events(ids[-1]))[-1].message == "m99 short"


async def test_unknown_sessions_are_reported_by_readers(store: SessionStore) -> None:
    manager = InfiniteConversationManager(store=store)
    with pytest.raises(SessionNotFoundError):
        manager.build_context_for_llm("missing")
    with pytest.raises(SessionNotFoundError):
        await manager.aget_full_conversation_history("missing")


# ---------------------------------------------------------------------------- failures
async def test_a_failing_summarizer_keeps_the_message_and_opens_no_segment(store: SessionStore) -> None:
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    await talk(manager, "conv", 3, FactSummarizer())

    async def broken(messages: list[dict[str, Any]], model: str) -> str:
        raise ConnectionError("summarizer offline")

    with pytest.raises(SummarizationError) as info:
        await manager.process_message("conv", text(3), EventSource.LLM, broken)
    assert info.value.session_id == "conv" and isinstance(info.value.__cause__, ConnectionError)
    events = await store.aget_events("conv")
    assert [e.message for e in events] == [text(i) for i in range(4)]
    assert await store.aget_child_ids("conv") == []
    assert await store.aget_record("conv", SEGMENT_RECORD_KIND, "next") is None

    summarizer = FactSummarizer()
    landed = await manager.process_message("conv", text(4), EventSource.USER, summarizer)
    assert landed != "conv"
    assert "m3" in summarizer.calls[0][-1]["content"]  # the kept message is summarized on retry


async def test_an_empty_summary_is_a_summarization_error() -> None:
    store = InMemorySessionStore()
    manager = InfiniteConversationManager(token_threshold=40, store=store)
    with pytest.raises(SummarizationError, match="empty summary"):
        await talk(manager, "conv", 4, lambda messages, model: "   ")
    assert await store.aget_child_ids("conv") == []


# ---------------------------------------------------------------------------- any llm
async def test_sync_one_argument_callbacks_of_0_1_3_work() -> None:
    seen: list[int] = []

    def summarize(messages: list[dict[str, Any]]) -> str:
        seen.append(len(messages))
        return "a sync summary"

    manager = InfiniteConversationManager(token_threshold=40, store=InMemorySessionStore())
    ids = chain(await talk(manager, "conv", 4, summarize))
    assert len(ids) > 1 and seen
    assert manager.build_context_for_llm("conv")[0]["content"].endswith("a sync summary")


async def test_a_langchain_chat_model_summarizes() -> None:
    from langchain_core.language_models import GenericFakeChatModel

    model = GenericFakeChatModel(messages=iter(["LangChain summary one", "LangChain summary two"]))
    manager = InfiniteConversationManager(token_threshold=60, store=InMemorySessionStore())
    await talk(manager, "conv", 8, model)
    context = manager.build_context_for_llm("conv")
    assert context[0]["content"] == CONTEXT_SUMMARY_PREFIX + "LangChain summary two"


async def test_a_llamaindex_llm_summarizes() -> None:
    from llama_index.core.llms import MockLLM

    manager = InfiniteConversationManager(token_threshold=60, store=InMemorySessionStore())
    await talk(manager, "conv", 4, MockLLM())
    summary = manager.build_context_for_llm("conv")[0]["content"]
    # MockLLM echoes its prompt: the summarizer really received the strategy prompt and the transcript.
    assert SUMMARY_PROMPTS[SummarizationStrategy.BASIC] in summary and "m0" in summary


# ---------------------------------------------------------------------------- concurrency
async def test_concurrent_messages_in_one_manager_open_one_segment(store: SessionStore) -> None:
    summarizer = FactSummarizer()
    manager = InfiniteConversationManager(token_threshold=60, store=store)
    await talk(manager, "conv", 3, summarizer)
    landed = await asyncio.gather(
        *(manager.process_message("conv", f"m{10 + i} hi", EventSource.USER, summarizer) for i in range(2))
    )
    assert landed[0] == landed[1] != "conv"
    assert await store.aget_child_ids("conv") == [landed[0]]
    assert len(summarizer.calls) == 1
    messages = [e.message for e in await store.aget_events(landed[0]) if e.type == EventType.MESSAGE]
    assert sorted(messages) == ["m10 hi", "m11 hi"]


async def test_two_managers_racing_to_open_a_segment_open_exactly_one(store: SessionStore) -> None:
    both_there = asyncio.Event()
    arrived: list[str] = []

    def summarizer(name: str) -> Any:
        async def summarize(messages: list[dict[str, Any]], model: str) -> str:
            arrived.append(name)
            if len(arrived) == 2:
                both_there.set()
            await both_there.wait()  # both decided to open a segment before either claims
            return f"summary by {name}"

        return summarize

    await talk(InfiniteConversationManager(token_threshold=60, store=store), "conv", 3, FactSummarizer())
    a, b = (InfiniteConversationManager(token_threshold=60, store=store) for _ in range(2))
    landed = await asyncio.gather(
        a.process_message("conv", "m10 from a", EventSource.USER, summarizer("a")),
        b.process_message("conv", "m11 from b", EventSource.USER, summarizer("b")),
    )
    assert sorted(arrived) == ["a", "b"]
    (child,) = await store.aget_child_ids("conv")
    assert landed == [child, child]
    summaries = [e for e in await store.aget_events("conv") if e.type == EventType.SUMMARY]
    assert len(summaries) == 1
    new_events = await store.aget_events(child)
    assert new_events[0].message == summaries[0].message  # the bridge carries the winning summary
    assert sorted(e.message for e in new_events if e.type == EventType.MESSAGE) == ["m10 from a", "m11 from b"]


@pytest.mark.parametrize("kind", ["sqlite", "file", "redis"])
async def test_two_processes_racing_to_open_a_segment_open_exactly_one(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, tmp_path, request.getfixturevalue("redis_url") if kind == "redis" else None)
    store = create_session_store(url)
    try:
        await talk(InfiniteConversationManager(token_threshold=60, store=store), "conv", 3, FactSummarizer())
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), url, "conv", f"m{10 + i} from p{i}", "60", str(barrier), f"p{i}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        (child,) = await store.aget_child_ids("conv")
        assert [out.strip() for out, _ in outputs] == [child, child]
        assert len([e for e in await store.aget_events("conv") if e.type == EventType.SUMMARY]) == 1
        messages = [e.message for e in await store.aget_events(child) if e.type == EventType.MESSAGE]
        assert sorted(messages) == ["m10 from p0", "m11 from p1"]
    finally:
        store.close()


async def test_a_claim_whose_opener_died_is_completed_by_the_next_writer() -> None:
    store = InMemorySessionStore()
    manager = InfiniteConversationManager(token_threshold=60, store=store, open_wait_seconds=0.05)
    await talk(manager, "conv", 3, FactSummarizer())
    # A writer appended its closing summary and died before opening the next segment.
    await store.aappend_event(
        "conv",
        SessionEvent(
            id=summary_event_id("conv"),
            message="summary of a writer that crashed",
            source=EventSource.SYSTEM,
            type=EventType.SUMMARY,
            metadata={
                SEGMENT_META_KEY: {"next_segment_id": "orphan-next", "root_segment_id": "conv", "segment_index": 1}
            },
        ),
    )
    other = InfiniteConversationManager(token_threshold=60, store=store, open_wait_seconds=0.05)
    landed = await other.process_message("conv", "m50 after the crash", EventSource.USER, FactSummarizer())
    assert landed == "orphan-next"
    assert await store.aget_child_ids("conv") == ["orphan-next"]
    events = await store.aget_events("orphan-next")
    assert events[0].type == EventType.CONTEXT_BRIDGE and events[0].message == "summary of a writer that crashed"
    assert events[-1].message == "m50 after the crash"


async def test_async_methods_use_the_async_store_api(tmp_path: Path) -> None:
    from a2a_session_manager.storage.providers.sqlite import SQLiteSessionStore

    sync_names = ["get", "save", "exists", "append_event", "append_events", "get_events", "get_record", "put_record"]

    def tripwire(name: str) -> Any:
        def blocked(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"sync {name}() called from async code: it would block the event loop")

        return blocked

    guarded = type("GuardedStore", (SQLiteSessionStore,), {n: tripwire(n) for n in sync_names})
    store = guarded(path=tmp_path / "guarded.db")
    try:
        manager = InfiniteConversationManager(token_threshold=60, store=store)
        ids = chain(await talk(manager, "conv", 8, FactSummarizer()))
        assert len(ids) > 1
        assert (await manager.abuild_context_for_llm("conv"))[0]["role"] == "system"
        assert len(await manager.aget_full_conversation_history("conv")) == 8
        assert await manager.acurrent_segment_id("conv") == ids[-1]
    finally:
        store.close()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="token_threshold"):
        InfiniteConversationManager(token_threshold=0)
    with pytest.raises(ValueError, match="max_turns_per_segment"):
        InfiniteConversationManager(max_turns_per_segment=-1)


async def test_messages_may_be_neutral_dicts_and_sources_strings() -> None:
    store = InMemorySessionStore()
    await store.asave(Session(id="conv"))
    manager = InfiniteConversationManager(store=store)
    await manager.process_message("conv", {"role": "user", "content": "hello"}, "user", FactSummarizer())
    (event,) = await store.aget_events("conv")
    assert event.message == {"role": "user", "content": "hello"} and event.source == EventSource.USER
    with pytest.raises(ValueError, match="unknown source"):
        await manager.process_message("conv", "x", "robot", FactSummarizer())


class InterleavingStore(InMemorySessionStore):
    """A real in-memory store that runs one injected coroutine right before one append,
    reproducing the window in which another writer closes the segment under us."""

    def __init__(self) -> None:
        super().__init__()
        self.before_next_append: Any = None

    async def aappend_event(self, session_id: str, event: SessionEvent) -> None:
        hook, self.before_next_append = self.before_next_append, None
        if hook is not None:
            await hook()
        await super().aappend_event(session_id, event)


async def test_a_message_that_lands_after_a_concurrent_closing_moves_to_the_new_segment() -> None:
    store = InterleavingStore()
    slow = InfiniteConversationManager(token_threshold=100, store=store)
    other = InfiniteConversationManager(token_threshold=100, store=store)
    await talk(slow, "conv", 2, FactSummarizer())

    async def other_writer_closes_the_segment() -> None:
        await other.process_message("conv", "m90 " + "long " * 80, EventSource.USER, FactSummarizer())

    store.before_next_append = other_writer_closes_the_segment
    landed = await slow.process_message("conv", "m91 late but short", EventSource.LLM, FactSummarizer())

    (child,) = await store.aget_child_ids("conv")
    assert landed == child
    child_messages = [e.message for e in await store.aget_events(child) if e.type == EventType.MESSAGE]
    assert child_messages[-1] == "m91 late but short"
    history = [h["content"] for h in slow.get_full_conversation_history("conv")]
    assert history[-2:] == ["m90 " + "long " * 80, "m91 late but short"]
    assert history.count("m91 late but short") == 1
    assert slow.build_context_for_llm("conv")[-1]["content"] == "m91 late but short"
