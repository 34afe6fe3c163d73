"""ChatMessage round-trips, SessionChatStore, SessionDBChatStore and SessionMemory on every store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from a2a_session_manager import EventType, MissingDependencyError, SessionStore
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.prompts import PromptStrategy
from a2a_session_manager.tokens import count_messages_tokens
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.storage.chat_store.base_db import MessageStatus

from a2a_session_integrations.llamaindex import SessionChatStore, SessionDBChatStore, SessionMemory
from a2a_session_integrations.llamaindex._convert import event_to_message, export_events, message_to_event
from tests.integrations.llamaindex.fakes import dumps


def conversation(tmp_path: Path) -> list[ChatMessage]:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    return [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(
            role="user",
            blocks=[
                TextBlock(text="What is this?"),
                ImageBlock(url="https://example.com/cat.png"),
                ImageBlock(path=image),
            ],
            additional_kwargs={"name": "ann"},
        ),
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="look it up", additional_information={"signature": "s1"}),
                ToolCallBlock(tool_call_id="c1", tool_name="lookup", tool_kwargs={"q": "cat"}),
            ],
            additional_kwargs={"nested": {"x": [1, 2]}},
        ),
        ChatMessage(role="tool", content="a cat", additional_kwargs={"tool_call_id": "c1"}),
        ChatMessage(role="assistant", content="A cat."),
    ]


async def test_messages_round_trip_equal_on_every_store(store: SessionStore, tmp_path: Path) -> None:
    messages = conversation(tmp_path)
    chat_store = SessionChatStore(store)
    chat_store.set_messages("rt", messages)
    assert dumps(chat_store.get_messages("rt")) == dumps(messages)
    await chat_store.aset_messages("rt-async", messages)
    assert dumps(await chat_store.aget_messages("rt-async")) == dumps(messages)
    # The neutral fields are what other frameworks read.
    events = store.get_events("rt")
    assert events[1].message["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert events[1].message["content"][2]["image_url"]["url"].startswith("file://")
    assert events[2].message["tool_calls"] == [{"id": "c1", "name": "lookup", "arguments": {"q": "cat"}}]
    tool = events[3]
    assert tool.type == EventType.TOOL_CALL and tool.id == "tool:c1"
    assert tool.message["name"] == "lookup" and tool.metadata["parent_event_id"] == events[2].id


def test_events_written_by_others_read_back_as_proper_chat_messages() -> None:
    asked = make_message_event(
        "assistant", "", tool_calls=[{"id": "t1", "name": "weather", "arguments": {"city": "Oslo"}}]
    )
    events = [
        make_message_event("system", "sys"),
        make_message_event(
            "user", [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
        ),
        asked,
        make_tool_call_event("weather", {"city": "Oslo"}, "t1", result="rain", parent_event_id=asked.id),
        make_tool_call_event("weather", {"city": "Rome"}, "t2", error="timeout"),
    ]
    messages = [event_to_message(e) for e in events]
    assert [m.role for m in messages if m] == [
        MessageRole.SYSTEM,
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.TOOL,
        MessageRole.TOOL,
    ]
    user = messages[1]
    assert user is not None and isinstance(user.blocks[1], ImageBlock) and str(user.blocks[1].url) == "https://x/y.png"
    assistant = messages[2]
    assert assistant is not None and assistant.blocks == [
        ToolCallBlock(tool_call_id="t1", tool_name="weather", tool_kwargs={"city": "Oslo"})
    ]
    assert (
        messages[3] is not None
        and messages[3].content == "rain"
        and messages[3].additional_kwargs == {"tool_call_id": "t1"}
    )
    assert messages[4] is not None and messages[4].content == "Error: timeout"
    exported = export_events(events)
    assert [ChatMessage.model_validate(d) for d in exported] == messages


def test_openai_style_tool_calls_in_additional_kwargs_become_neutral_tool_calls() -> None:
    message = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={
            "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
        },
    )
    event = message_to_event(message)
    assert event.message["tool_calls"] == [{"id": "x", "name": "f", "arguments": {"a": 1}}]
    assert dumps([event_to_message(event)]) == dumps([message])  # type: ignore[list-item]


async def test_chat_store_methods_sync_and_async(store: SessionStore) -> None:
    cs = SessionChatStore(store)
    for text in "abc":
        cs.add_message("k1", ChatMessage(role="user", content=text))
    await cs.async_add_message("k1", ChatMessage(role="assistant", content="d"))
    assert [m.content for m in cs.get_messages("k1")] == ["a", "b", "c", "d"]
    assert cs.delete_message("k1", 1) is not None
    assert [m.content for m in await cs.aget_messages("k1")] == ["a", "c", "d"]
    assert (await cs.adelete_message("k1", 0)).content == "a"  # type: ignore[union-attr]
    assert cs.delete_message("k1", 9) is None
    assert cs.delete_last_message("k1").content == "d"  # type: ignore[union-attr]
    assert (await cs.adelete_last_message("k1")).content == "c"  # type: ignore[union-attr]
    assert await cs.adelete_last_message("k1") is None
    cs.set_messages("k2", [ChatMessage(role="user", content="x")])
    assert cs.get_keys() == ["k1", "k2"] and await cs.aget_keys() == ["k1", "k2"]
    assert [m.content for m in cs.delete_messages("k2") or []] == ["x"]
    assert await cs.adelete_messages("k1") == []
    assert cs.get_keys() == [] and cs.delete_messages("nope") is None
    with pytest.raises(NotImplementedError):
        cs.add_message("k1", ChatMessage(content="x"), idx=0)


async def test_llamaindex_and_foreign_events_interleaved_read_in_session_order(store: SessionStore) -> None:
    # Our own events are rebuilt from their stored LlamaIndex form, the others from the
    # neutral fields; one list in session order must come out of both, sync and async.
    cs = SessionChatStore(store)
    cs.add_message("mix", ChatMessage(role="user", content="li-1"))
    store.append_event("mix", make_message_event("assistant", "core-2"))
    cs.add_message("mix", ChatMessage(role="assistant", content="li-3"))
    store.append_event("mix", make_message_event("user", "core-4"))
    expected = [("user", "li-1"), ("assistant", "core-2"), ("assistant", "li-3"), ("user", "core-4")]
    assert [(m.role.value, m.content) for m in cs.get_messages("mix")] == expected
    assert [(m.role.value, m.content) for m in await cs.aget_messages("mix")] == expected
    memory = SessionMemory.from_defaults(session_id="mix", store=store)
    assert [(m.role.value, m.content) for m in await memory.aget_all()] == expected


async def test_db_chat_store_archives_without_losing_messages(store: SessionStore) -> None:
    db = SessionDBChatStore(store)
    await db.add_messages("s", [ChatMessage(role="user", content=str(i)) for i in range(6)])
    archived = await db.archive_oldest_messages("s", 4)
    assert [m.content for m in archived] == ["0", "1", "2", "3"]
    assert [m.content for m in await db.get_messages("s")] == ["4", "5"]
    assert await db.count_messages("s", MessageStatus.ARCHIVED) == 4
    assert [m.content for m in await db.get_messages("s", status=None, offset=1, limit=2)] == ["1", "2"]
    assert store.count_events("s") == 6  # archiving rewrote nothing
    await db.add_message("s", ChatMessage(role="user", content="old"), status=MessageStatus.ARCHIVED)
    assert await db.count_messages("s", MessageStatus.ARCHIVED) == 5 and await db.count_messages("s") == 2
    assert [m.content for m in await db.delete_oldest_messages("s", 1)] == ["4"]
    assert (await db.delete_message("s", 0)).content == "0"  # type: ignore[union-attr]
    await db.delete_messages("s", status=MessageStatus.ARCHIVED)
    assert [m.content for m in await db.get_messages("s", status=None)] == ["5"]
    await db.set_messages("s", [ChatMessage(role="user", content="new")])
    assert await db.get_keys() == ["s"] and [m.content for m in await db.get_messages("s")] == ["new"]
    await db.delete_messages("s")
    assert await db.count_messages("s", status=None) == 0


def _long_history(n_turns: int) -> list[ChatMessage]:
    out = [ChatMessage(role="system", content="You are terse.")]
    for i in range(n_turns):
        out.append(ChatMessage(role="user", content=f"question {i} " + "word " * 20))
        if i % 3 == 0:
            out.append(
                ChatMessage(
                    role="assistant", blocks=[ToolCallBlock(tool_call_id=f"c{i}", tool_name="f", tool_kwargs={"i": i})]
                )
            )
            out.append(ChatMessage(role="tool", content="r" * 30, additional_kwargs={"tool_call_id": f"c{i}"}))
        out.append(ChatMessage(role="assistant", content=f"answer {i} " + "word " * 10))
    return out


@pytest.mark.parametrize(
    "strategy", [PromptStrategy.CONVERSATION, PromptStrategy.TOOL_FOCUSED, PromptStrategy.TASK_FOCUSED]
)
async def test_memory_get_fits_the_budget_and_keeps_tool_groups_whole(
    store: SessionStore, strategy: PromptStrategy
) -> None:
    memory = SessionMemory.from_defaults(session_id="long", store=store, token_limit=600, strategy=strategy)
    memory.put_messages(_long_history(80))
    for got in (memory.get(input="question 5"), await memory.aget(input="question 5")):
        assert got[0].content == "You are terse." and got[1].content.startswith("question 0 ")  # type: ignore[union-attr]
        assert got[-1].content.startswith("answer 79 ")  # type: ignore[union-attr]
        rendered = [{"role": m.role.value, "content": m.content or ""} for m in got]
        assert count_messages_tokens(rendered, "gpt-4o") <= 600
        asked = {b.tool_call_id for m in got for b in m.blocks if isinstance(b, ToolCallBlock)}
        answered = {m.additional_kwargs["tool_call_id"] for m in got if m.role == MessageRole.TOOL}
        assert asked == answered
        assert len(got) < 40


async def test_memory_with_no_limit_returns_everything_and_reset_clears(store: SessionStore) -> None:
    memory = SessionMemory.from_defaults(session_id="m", store=store)
    await memory.aput(ChatMessage(role="user", content="hi"))
    await memory.aput_messages([ChatMessage(role="assistant", content="yo")])
    assert [m.content for m in await memory.aget()] == ["hi", "yo"]
    memory.set([ChatMessage(role="user", content="only")])
    assert [m.content for m in memory.get()] == ["only"]
    await memory.areset()
    assert memory.get_all() == []


def test_simple_chat_engine_keeps_its_history_in_the_session(store: SessionStore) -> None:
    memory = SessionMemory.from_defaults(session_id="engine", store=store, token_limit=2000)
    engine = SimpleChatEngine.from_defaults(llm=MockLLM(), memory=memory)
    engine.chat("hello there")
    engine.chat("second")
    again = SessionMemory.from_defaults(session_id="engine", store=store)
    assert [m.role.value for m in again.get_all()] == ["user", "assistant", "user", "assistant"]
    assert again.get_all()[2].content == "second"


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("a2a_session_integrations.llamaindex")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'a2a-session-manager\[llamaindex\]'"):
        import a2a_session_integrations.llamaindex  # noqa: F401
