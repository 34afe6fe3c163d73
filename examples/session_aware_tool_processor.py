"""Tool calls from a (fake) model, run and recorded in a session run.

Run: python examples/session_aware_tool_processor.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from a2a_session_manager import EventType, Session, ToolProcessingError, create_sqlite_session_store
from a2a_session_manager.messages import events_to_openai, make_message_event
from a2a_session_manager.session_aware_tool_processor import SessionAwareToolProcessor


# Tools are plain functions (sync or async); LangChain and LlamaIndex tools work too.
async def get_weather(city: str) -> dict[str, Any]:
    """Pretend weather service."""
    return {"city": city, "forecast": "sunny", "temperature_c": 24}


def convert_currency(amount: float, to: str) -> float:
    """Pretend exchange rates."""
    rates = {"EUR": 0.92, "JPY": 151.3}
    return round(amount * rates[to], 2)


def book_table(restaurant: str, people: int) -> str:
    raise RuntimeError(f"{restaurant} is fully booked")


class FakeLLM:
    """Scripted replies, as an OpenAI chat model would send them."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    async def __call__(self, prompt: str) -> Any:
        self.prompts.append(prompt)
        return self.replies.pop(0)


def call(name: str, call_id: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = create_sqlite_session_store(path=Path(tmp) / "tools.db")
        session = Session()
        session.add_event(make_message_event("user", "Weather in Lisbon, 100 USD in EUR, and book Ramiro for 2?"))
        await store.asave(session)

        processor = SessionAwareToolProcessor(
            session.id, tools=[get_weather, convert_currency, book_table], store=store, timeout=5.0
        )

        print("1) three calls in one reply, run concurrently; one tool raises, the others still run")
        reply = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                call("get_weather", "call_1", city="Lisbon"),
                call("convert_currency", "call_2", amount=100, to="EUR"),
                call("book_table", "call_3", restaurant="Ramiro", people=2),
            ],
        }
        for result in await processor.process_llm_message(reply, FakeLLM([])):
            outcome = f"error: {result.error}" if result.error else f"result: {result.result}"
            print(f"   {result.tool}({result.arguments}) -> {outcome}")

        print("\n2) a reply with no valid call: the model is asked again, then answers with a JSON block")
        llm = FakeLLM(['Sure!\n```json\n{"name": "convert_currency", "arguments": {"amount": 50, "to": "JPY"}}\n```'])
        results = await processor.process_llm_message({"role": "assistant", "content": "Let me think..."}, llm)
        print(f"   re-asked with: {llm.prompts[0][:70]}...")
        print(f"   {results[0].tool} -> {results[0].result}")

        print("\n3) still no valid call after the retries: ToolProcessingError, run FAILED")
        stubborn = FakeLLM([{"content": "no"}, {"content": "still no"}])
        try:
            await processor.process_llm_message({"content": "I'd rather chat"}, stubborn)
        except ToolProcessingError as exc:
            print(f"   {type(exc).__name__}: {exc}")

        print("\nruns:", [run.status.value for run in await store.aget_runs(session.id)])
        events = await store.aget_events(session.id)
        tool_events = [e for e in events if e.type == EventType.TOOL_CALL]
        print(f"{len(events)} events, {len(tool_events)} TOOL_CALL events, each linked to its model turn:")
        for event in tool_events[:3]:
            msg = event.message
            print(
                f"   {event.id:<12} parent={event.metadata['parent_event_id'][:8]} run={event.task_id[:8]} "
                f"{msg['name']} {'error' if 'error' in msg else 'ok'} {msg['duration_ms']:.1f} ms"
            )

        print("\nthe first turn as OpenAI messages (valid for the chat API):")
        for message in events_to_openai(events)[:5]:
            print("  ", json.dumps(message)[:110])
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
