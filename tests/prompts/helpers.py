"""Shared builders and checks for the prompt tests (independent of prompts' internals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_session_manager.messages import event_to_openai, make_message_event, make_tool_call_event
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.tokens import count_message_tokens

ALLOWED_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id"}
ROLES = {"system", "user", "assistant", "tool"}


def assert_valid_messages(messages: Sequence[dict[str, Any]]) -> None:
    """Fail unless ``messages`` is a list the OpenAI chat API accepts (roles, tool pairing, content)."""
    pending: list[str] = []
    for k, message in enumerate(messages):
        assert set(message) <= ALLOWED_KEYS, f"message {k} has unknown keys {set(message) - ALLOWED_KEYS}"
        role = message["role"]
        assert role in ROLES, f"message {k} has role {role!r}"
        if role == "tool":
            call_id = message["tool_call_id"]
            assert call_id in pending, f"tool message {k} answers {call_id!r}, not a pending call {pending}"
            pending.remove(call_id)
            assert isinstance(message["content"], str)
            continue
        assert not pending, f"message {k} ({role}) comes before calls {pending} were answered"
        calls = message.get("tool_calls")
        if calls:
            assert role == "assistant", f"message {k}: only assistant turns carry tool_calls"
            ids = [c["id"] for c in calls]
            assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
            for call in calls:
                assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
            pending = ids
        else:
            assert "tool_calls" not in message, f"message {k} has an empty tool_calls list"
            assert message.get("content") is not None, f"message {k} has content None and no tool_calls"
    assert not pending, f"calls {pending} were never answered"


def event_cost(event: SessionEvent, model: str) -> int:
    rendered = event_to_openai(event)
    return 0 if rendered is None else count_message_tokens(rendered, model)


def role_of(event: SessionEvent) -> str | None:
    rendered = event_to_openai(event)
    if event.type == EventType.TOOL_CALL:
        return "tool"
    return None if rendered is None else str(rendered["role"])


def essential_events(events: Sequence[SessionEvent]) -> list[SessionEvent]:
    """The documented essentials: opening system messages, first and latest user message."""
    out: list[SessionEvent] = []
    i = 0
    while i < len(events) and role_of(events[i]) in ("system", None):
        if role_of(events[i]) == "system":
            out.append(events[i])
        i += 1
    users = [e for e in events[i:] if role_of(e) == "user"]
    if users:
        out.append(users[0])
        if users[-1] is not users[0]:
            out.append(users[-1])
    return out


VOCAB = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "while",
    "weather",
    "report",
    "mentions",
    "rain",
    "in",
    "paris",
    "and",
    "sunshine",
    "near",
    "lisbon",
    "so",
    "travellers",
    "pack",
    "umbrellas",
    "jackets",
    "maps",
    "tickets",
    "snacks",
    "cameras",
]


def words(n: int, seed: int = 0) -> str:
    vocab = VOCAB
    return " ".join(vocab[(seed * 7 + i * 3) % len(vocab)] for i in range(n))


def legacy_session() -> tuple[Session, dict[str, SessionEvent]]:
    """A 0.1.3-style session: str messages, a tool event with parent_event_id and no tool_call_id."""
    session = Session()
    ev: dict[str, SessionEvent] = {}
    ev["system"] = SessionEvent(message="You are a travel assistant.", source=EventSource.SYSTEM)
    ev["task"] = SessionEvent(message="Plan my trip to Paris next week.", source=EventSource.USER)
    ev["reply1"] = SessionEvent(message="Sure, for how many days?", source=EventSource.LLM)
    ev["user2"] = SessionEvent(message="Three days. What's the weather there?", source=EventSource.USER)
    ev["assistant"] = SessionEvent(message="I'll check", source=EventSource.LLM)
    ev["tool"] = SessionEvent(
        message={"tool_name": "get_weather", "result": {"city": "Paris", "temp_c": 18}},
        source=EventSource.SYSTEM,
        type=EventType.TOOL_CALL,
        metadata={"parent_event_id": ev["assistant"].id},
    )
    ev["final"] = SessionEvent(message="Expect about 18°C in Paris.", source=EventSource.LLM)
    for event in ev.values():
        session.add_event(event)
    return session, ev


def neutral_session() -> tuple[Session, dict[str, SessionEvent]]:
    """A session in the neutral format: dict messages, tool calls with ids, a summary."""
    session = Session()
    ev: dict[str, SessionEvent] = {}
    ev["system"] = make_message_event("system", "You are a shopping assistant.")
    ev["task"] = make_message_event("user", "Find me a cheap laptop and compare shipping.")
    ev["call"] = make_message_event(
        "assistant",
        "",
        tool_calls=[
            {"id": "call_a", "name": "search", "arguments": {"q": "cheap laptop"}},
            {"id": "call_b", "name": "shipping", "arguments": {"to": "FR"}},
        ],
    )
    ev["res_a"] = make_tool_call_event(
        "search", {"q": "cheap laptop"}, "call_a", result=["L1", "L2"], parent_event_id=ev["call"].id
    )
    ev["res_b"] = make_tool_call_event(
        "shipping", {"to": "FR"}, "call_b", error="timeout", parent_event_id=ev["call"].id
    )
    ev["answer"] = make_message_event("assistant", "L1 is cheapest; shipping lookup failed.")
    ev["summary"] = SessionEvent(
        message="User wants a cheap laptop.", source=EventSource.SYSTEM, type=EventType.SUMMARY
    )
    ev["user2"] = make_message_event("user", "Try shipping again please.")
    for event in ev.values():
        session.add_event(event)
    return session, ev
