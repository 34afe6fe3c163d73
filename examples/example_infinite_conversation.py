"""A long conversation split into token-bounded segments with cumulative summaries.

The summarizer here is a fake async LLM (offline): it lists the facts it was given, so
you can see that each summary carries the earlier ones forward.

Run: python examples/example_infinite_conversation.py
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

from a2a_session_manager import EventSource, Session, create_sqlite_session_store
from a2a_session_manager.infinite_conversation import InfiniteConversationManager, SummarizationStrategy
from a2a_session_manager.tokens import count_messages_tokens

FACTS = [
    "my name is Ada",
    "I live in Porto",
    "I am allergic to peanuts",
    "my budget is 2000 EUR",
    "I travel in October",
    "I prefer trains to planes",
    "my sister Eva joins me",
    "we want one museum a day",
]


async def fake_summarizer(messages: list[dict[str, Any]], model: str) -> str:
    """Keep every 'fact:' line seen in the earlier summary or the new transcript."""
    text = "\n".join(str(m["content"]) for m in messages)
    facts = list(dict.fromkeys(re.findall(r"fact: ([^.;\n]+)", text)))
    return "Known so far: " + "; ".join(f"fact: {f}" for f in facts) + "."


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = create_sqlite_session_store(path=Path(tmp) / "conversation.db")
        conversation = Session()
        await store.asave(conversation)
        manager = InfiniteConversationManager(
            token_threshold=100,
            summary_model="gpt-4o-mini",
            summarization_strategy=SummarizationStrategy.KEY_POINTS,
            store=store,
        )

        segment = conversation.id
        segments = [segment]
        for i, fact in enumerate(FACTS):
            user = f"Note this fact: {fact}. What should I keep in mind?"
            assistant = f"Noted ({i + 1} facts so far). I will plan around it and keep the trip relaxed."
            for message, source in ((user, EventSource.USER), (assistant, EventSource.LLM)):
                segment = await manager.process_message(segment, message, source, fake_summarizer)
                if segment != segments[-1]:
                    segments.append(segment)
                    print(f"after message {2 * i + (source == EventSource.LLM) + 1:>2}: new segment {segment[:8]}")
        print(f"\n{len(FACTS) * 2} messages in {len(segments)} segments (threshold 100 tokens each)")

        # The context for the next model call: the latest cumulative summary once, then recent turns.
        context = manager.build_context_for_llm(conversation.id, max_tokens=300, model="gpt-4o-mini")
        print(f"\ncontext: {len(context)} messages, {count_messages_tokens(context, 'gpt-4o-mini')} tokens (<= 300)")
        print("  summary:", context[0]["content"].replace("\n", " ")[:150], "...")
        print("  first fact still known:", "Ada" in context[0]["content"])
        for message in context[1:]:
            print(f"  {message['role']:<9} {message['content'][:70]}")

        # Nothing was deleted: the full history spans every segment.
        history = await manager.aget_full_conversation_history(conversation.id)
        print(f"\nfull history: {len(history)} messages across {len({h['segment_id'] for h in history})} segments")
        print("  first:", history[0]["content"])
        print("  last: ", history[-1]["content"])
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
