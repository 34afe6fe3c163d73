"""The offline tour behind `make demo`: the core on the embedded SQLite store.

Writes ./demo_sessions.db (or $A2A_DEMO_DIR/demo_sessions.db) and prints what it does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from a2a_session_manager import (
    EventSource,
    EventType,
    Session,
    SessionEvent,
    SessionRun,
    SessionStoreProvider,
    create_sqlite_session_store,
)
from a2a_session_manager.messages import make_message_event, make_tool_call_event


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> None:
    started = time.perf_counter()
    directory = Path(os.environ.get("A2A_DEMO_DIR", "."))
    db_path = directory / "demo_sessions.db"
    store = create_sqlite_session_store(path=db_path)
    SessionStoreProvider.set_store(store)

    step(f"SQLite store at {db_path}")
    session = Session()
    session.metadata.set_property("demo", True)
    store.save(session)
    print(f"session {session.id}")

    step("A run with a user turn, a tool call and an answer, appended one event at a time")
    run = SessionRun()
    run.mark_running()
    store.upsert_run(session.id, run)
    user = make_message_event("user", "What's the weather in Paris?", task_id=run.id)
    store.append_event(session.id, user)
    ask = make_message_event(
        "assistant",
        "",
        tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        task_id=run.id,
    )
    store.append_event(session.id, ask)
    store.append_event(
        session.id,
        make_tool_call_event(
            "get_weather",
            {"city": "Paris"},
            "call_1",
            result={"temp_c": 18, "sky": "clear"},
            parent_event_id=ask.id,
            duration_ms=12.5,
            task_id=run.id,
        ),
    )
    answer = SessionEvent.create_with_tokens(
        message="It is 18 °C and clear in Paris.",
        prompt="What's the weather in Paris?",
        completion="It is 18 °C and clear in Paris.",
        model="gpt-4o-mini",
        source=EventSource.LLM,
        task_id=run.id,
    )
    store.append_event(session.id, answer)
    run.mark_completed()
    store.upsert_run(session.id, run)
    loaded = store.get(session.id)
    assert loaded is not None
    for event in loaded.events:
        kind = "tool_call" if event.type == EventType.TOOL_CALL else event.source.value
        print(f"  #{event.seq} {kind:<9} {str(event.message)[:70]}")
    print(f"  run {run.id[:8]}… {loaded.runs[0].status.value}")

    step("The same append again is stored once (event ids are idempotency keys)")
    store.append_event(session.id, answer)
    print(f"  events: {store.count_events(session.id)}")

    step("A hierarchy: two children and a grandchild")
    child1, child2 = Session(parent_id=session.id), Session(parent_id=session.id)
    store.save(child1)
    store.save(child2)
    grandchild = Session(parent_id=child1.id)
    store.save(grandchild)
    print(f"  grandchild ancestors: {[a.id[:8] for a in grandchild.ancestors()]}")
    print(f"  root descendants:     {[d.id[:8] for d in loaded.descendants()]}")

    step("Usage report")
    summary = loaded.token_summary
    print(f"  total tokens {summary.total_tokens}, estimated cost ${summary.total_estimated_cost_usd:.6f}")
    for model, usage in summary.usage_by_model.items():
        print(f"  {model}: {usage.prompt_tokens} in / {usage.completion_tokens} out ({usage.origin})")
    print(f"  by run: { {k[:8]: v.total_tokens for k, v in loaded.get_token_usage_by_run().items()} }")

    step(f"Sessions in the store: {len(store.list_sessions())}")
    store.close()
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
