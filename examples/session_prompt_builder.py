"""The five prompt strategies, each fitted to a token budget.

Run: python examples/session_prompt_builder.py
"""

from __future__ import annotations

import json

from a2a_session_manager import EventSource, EventType, InMemorySessionStore, Session, SessionEvent
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session, truncate_prompt_to_token_limit
from a2a_session_manager.tokens import count_messages_tokens

MODEL = "gpt-4o"
BUDGET = 220


def build_sessions(store: InMemorySessionStore) -> Session:
    parent = Session()
    parent.add_event(SessionEvent(message="Trip planning for Ada, who is vegetarian.", source=EventSource.USER))
    parent.add_event(
        SessionEvent(
            message="Ada is planning a May trip to Japan, vegetarian, budget 3000 USD.",
            source=EventSource.SYSTEM,
            type=EventType.SUMMARY,
        )
    )
    store.save(parent)

    session = Session(parent_id=parent.id)
    session.add_event(make_message_event("system", "You are a concise travel assistant."))
    session.add_event(make_message_event("user", "Help me plan five days in Kyoto."))
    session.add_event(make_message_event("assistant", "Day 1 Fushimi Inari, day 2 Arashiyama, day 3 temples..."))
    session.add_event(make_message_event("user", "What will the weather be like?"))
    turn = make_message_event(
        "assistant", "", tool_calls=[{"id": "call_w1", "name": "get_weather", "arguments": {"city": "Kyoto"}}]
    )
    session.add_event(turn)
    session.add_event(
        make_tool_call_event(
            "get_weather", {"city": "Kyoto"}, "call_w1", result={"forecast": "mild, 22C"}, parent_event_id=turn.id
        )
    )
    session.add_event(make_message_event("assistant", "Mild, around 22C: pack a light jacket."))
    for day in range(2, 6):
        question = f"Any vegetarian restaurant for day {day}? " + "Details please. " * 5
        session.add_event(make_message_event("user", question))
        session.add_event(make_message_event("assistant", f"For day {day}, try Shigetsu near Tenryu-ji. " * 3))
    session.add_event(make_message_event("user", "Summarize the weather advice again."))
    store.save(session)
    return session


def main() -> None:
    store = InMemorySessionStore()
    session = build_sessions(store)
    full = build_prompt_from_session(session, PromptStrategy.CONVERSATION, model=MODEL)
    print(f"whole history: {len(full)} messages, {count_messages_tokens(full, MODEL)} tokens; budget {BUDGET}\n")

    for strategy in PromptStrategy:
        prompt = build_prompt_from_session(session, strategy, max_tokens=BUDGET, model=MODEL, store=store)
        tokens = count_messages_tokens(prompt, MODEL)
        assert tokens <= BUDGET
        roles = " ".join(m["role"][0] for m in prompt)
        print(f"{strategy.name:<13} {len(prompt):>2} messages {tokens:>4} tokens  roles: {roles}")

    print("\nTOOL_FOCUSED keeps the tool call and its result together:")
    for message in build_prompt_from_session(session, PromptStrategy.TOOL_FOCUSED, max_tokens=BUDGET, model=MODEL):
        if message.get("tool_calls") or message["role"] == "tool":
            print(" ", json.dumps(message))

    print("\nHIERARCHICAL adds the parent's summary:")
    prompt = build_prompt_from_session(
        session, PromptStrategy.HIERARCHICAL, max_tokens=BUDGET, model=MODEL, store=store
    )
    print(" ", next(m["content"] for m in prompt if "Japan" in str(m["content"])).replace("\n", " "))

    shortened = truncate_prompt_to_token_limit(full, max_tokens=120, model=MODEL)
    print(
        f"\ntruncate_prompt_to_token_limit(120): {count_messages_tokens(shortened, MODEL)} tokens, "
        f"{len(shortened)} messages"
    )


if __name__ == "__main__":
    main()
