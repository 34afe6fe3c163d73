"""One writer of a conversation, run in its own process by the infinite-conversation tests.

Usage: ``python _worker.py STORE_URL SESSION_ID TEXT THRESHOLD BARRIER_DIR NAME``

Sends TEXT with ``process_message``. Its summarizer creates ``BARRIER_DIR/ready-NAME`` and
waits until two ``ready-*`` files exist, so both writers have decided to open a segment
before either claims it. Prints the id of the segment the message went into.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from a2a_session_manager import EventSource
from a2a_session_manager.infinite_conversation import InfiniteConversationManager
from a2a_session_manager.storage import create_session_store

BARRIER_TIMEOUT_S = 30.0


async def main(url: str, sid: str, text: str, threshold: str, barrier: str, name: str) -> None:
    bdir = Path(barrier)

    async def summarize(messages: list[dict[str, Any]], model: str) -> str:
        (bdir / f"ready-{name}").touch()
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        while len(list(bdir.glob("ready-*"))) < 2:
            if time.monotonic() > deadline:
                raise SystemExit("the other writer never reached its summarizer")
            await asyncio.sleep(0.005)
        return f"summary written by {name}"

    store = create_session_store(url)
    try:
        manager = InfiniteConversationManager(token_threshold=int(threshold), store=store)
        segment = await manager.process_message(sid, text, EventSource.USER, summarize)
        print(segment)
    finally:
        store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
