"""The offline tour behind `make demo`: two frameworks, one session, on the embedded SQLite store.

1. A LangChain chain (``RunnableWithMessageHistory`` + ``SessionCallbackHandler``) and a
   LlamaIndex agent (``FunctionAgent`` + a tool + ``SessionMemory`` + ``SessionEventHandler``)
   take turns on one session; each sees the other's turns and tool calls.
2. A long exchange, started as a child of that session, is split into segments with
   cumulative summaries by ``InfiniteConversationManager``.
3. A usage report rolls tokens and costs up over the whole tree.
4. The ``a2a-sessions`` CLI shows what was written: list, show, tree, usage, export.

Every model is a framework's own fake, so it runs offline with no keys. It writes
./demo_sessions.db (or $A2A_DEMO_DIR/demo_sessions.db), deleting the previous one first.
Run: ``python examples/demo.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2a_session_manager import EventSource, Session, SessionStoreProvider, create_sqlite_session_store
from a2a_session_manager.display import llm_call_summary
from a2a_session_manager.infinite_conversation import InfiniteConversationManager, SummarizationStrategy
from a2a_session_manager.messages import event_role, event_text, event_tool_calls
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.storage import SessionStore
from a2a_session_manager.usage import format_cost, format_tokens, summarize_tree
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from a2a_session_integrations.langchain import SessionCallbackHandler, SessionChatMessageHistory
from a2a_session_integrations.llamaindex import SessionEventHandler, SessionMemory

# Framework-internal deprecation warnings, not ours (the same ones pyproject's filterwarnings
# names); set after the imports because langchain-core installs its own filter on import.
warnings.filterwarnings("ignore", message=".*RunnableWithMessageHistory.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="pydantic.*")

SESSION = "trip-to-norway"
MODEL = "gpt-4o-mini"
STARTED = time.perf_counter()


def step(text: str) -> None:
    print(f"\n[{time.perf_counter() - STARTED:5.1f}s] == {text}", flush=True)


def show_events(store: SessionStore, session_id: str, width: int = 120) -> None:
    session = store.get(session_id)
    assert session is not None
    for event in session.events:
        role = event_role(event) or event.source.value
        text = " ".join((llm_call_summary(event) or event_text(event)).split())
        calls = event_tool_calls(event)
        if calls:
            text = (text + " " if text else "") + ", ".join(f"-> {c['name']}({c['arguments']})" for c in calls)
        if event.type == EventType.TOOL_CALL and isinstance(event.message, dict):
            text = f"{event.message.get('name')} returned {text}"
        print(f"  #{event.seq:<3} {event.type.value:<9} {role:<9} {text[:width]}")


# ------------------------------------------------------------------------ the fake models
def langchain_reply(text: str, prompt_tokens: int) -> AIMessage:
    """A reply as a provider returns it: with the usage it reports and its model name."""
    completion = max(1, len(text) // 4)
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": prompt_tokens,
            "output_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
        response_metadata={"model_name": MODEL},
    )


def convert_eur_to_nok(amount: float) -> float:
    """Convert euros to Norwegian kroner at a fixed demo rate."""
    return round(amount * 11.5, 2)


def scripted_agent_model(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """The LlamaIndex agent's model: call the tool once, then answer with its result."""
    if messages[-1].role == MessageRole.TOOL:
        return ChatMessage(role="assistant", content=f"200 EUR is {messages[-1].content} NOK.")
    call = ToolCallBlock(tool_call_id="call-eur-nok", tool_name="convert_eur_to_nok", tool_kwargs={"amount": 200})
    return ChatMessage(role="assistant", blocks=[call])


async def fake_summarizer(messages: list[dict[str, Any]], model: str) -> str:
    """Stands in for a summarizing LLM: keeps every city named so far, cumulatively."""
    text = " ".join(str(m.get("content", "")) for m in messages)
    cities = [c for c in ("Oslo", "Bergen", "Flåm", "Ålesund", "Geiranger", "Trondheim", "Tromsø") if c in text]
    return "The user is planning a Norway trip; stops discussed so far: " + ", ".join(cities) + "."


# ------------------------------------------------------------------------------- the tour
async def frameworks(store: SessionStore) -> None:
    step(f"LangChain: RunnableWithMessageHistory + SessionCallbackHandler on session {SESSION!r}")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You plan trips."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    replies = iter(
        [
            langchain_reply("Bergen is lovely in June; take the train from Oslo.", 24),
            langchain_reply("Yes: the agent converted it with its tool, 2300 NOK.", 96),
        ]
    )
    chain = RunnableWithMessageHistory(
        prompt | GenericFakeChatModel(messages=replies),
        lambda session_id: SessionChatMessageHistory(session_id, store=store),
        input_messages_key="question",
        history_messages_key="history",
    )
    handler = SessionCallbackHandler(SESSION, store=store)
    config: Any = {"configurable": {"session_id": SESSION}, "callbacks": [handler]}
    answer = await chain.ainvoke({"question": "Where should I go in Norway?"}, config=config)
    print(f"  LangChain answered: {answer.content}")

    step("LlamaIndex: FunctionAgent + FunctionTool + SessionMemory + SessionEventHandler, same session")
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(convert_eur_to_nok)],
        llm=MockFunctionCallingLLM(response_generator=scripted_agent_model),
    )
    memory = SessionMemory.from_defaults(session_id=SESSION, store=store, token_limit=4000)
    async with SessionEventHandler(session_id=SESSION, store=store).recording():
        result = await agent.run("How much is 200 EUR in NOK?", memory=memory)
    print(f"  LlamaIndex agent answered: {result}")
    print(f"  the agent's memory holds LangChain's turns: {[m.role.value for m in memory.get_all()][:2]} ...")

    step("LangChain again: its history now holds the agent's tool call and result")
    answer = await chain.ainvoke({"question": "Did you convert the money?"}, config=config)
    history = SessionChatMessageHistory(SESSION, store=store)
    print(f"  LangChain answered: {answer.content}")
    print(f"  LangChain sees: {[m.type for m in history.messages]}")

    step("The core sees one transcript: messages, the tool call and its result, in order")
    show_events(store, SESSION)
    session = store.get(SESSION)
    assert session is not None
    print(f"  runs: {[r.status.value for r in session.runs]}  {format_tokens(session.token_summary)}")


async def long_exchange(store: SessionStore) -> str:
    step("A long exchange, a child of the trip session, segmented by InfiniteConversationManager")
    chat = Session(parent_id=SESSION)
    chat.metadata.set_property("title", "itinerary details")
    await store.asave(chat)
    manager = InfiniteConversationManager(
        token_threshold=120,
        summary_model=MODEL,
        summarization_strategy=SummarizationStrategy.KEY_POINTS,
        store=store,
    )
    stops = ["Oslo", "Bergen", "Flåm", "Ålesund", "Geiranger", "Trondheim", "Tromsø"]
    segment = chat.id
    segments = [segment]
    for day, city in enumerate(stops, start=1):
        turns = [
            (f"Day {day}: what should we do in {city}? We like hiking and good coffee.", EventSource.USER),
            (f"In {city}, start with a walk through the old town, then a ridge hike before dinner.", EventSource.LLM),
        ]
        for text, source in turns:
            segment = await manager.process_message(segment, text, source, fake_summarizer)
            if segment != segments[-1]:
                segments.append(segment)
                print(f"  day {day}: segment full, summarized; new segment {segment}", flush=True)
    context = manager.build_context_for_llm(chat.id, max_tokens=300, model=MODEL)
    history = manager.get_full_conversation_history(chat.id)
    print(f"  {len(history)} messages in {len(segments)} segments; nothing deleted")
    print(f"  context for the next call: {len(context)} messages, opening with the cumulative summary:")
    print(f"    {' '.join(context[0]['content'].split())[:110]}")
    return chat.id


def usage_report(store: SessionStore) -> None:
    step("Usage report over the whole tree (a2a_session_manager.usage.summarize_tree)")
    root = store.get(SESSION)
    assert root is not None
    report = summarize_tree(root, store)
    print(
        f"  {len(report.session_ids)} sessions, {format_tokens(report)}, {format_cost(report)}"
        f" (prices as of {report.prices_as_of})"
    )
    print("  (the LlamaIndex mock LLM names no real model: its tokens are estimated and left unpriced, never guessed)")
    for title, table in (("model", report.by_model), ("origin", report.by_origin), ("source", report.by_source)):
        for key, summary in sorted(table.items()):
            print(f"  by {title:<6} {key:<12} {format_tokens(summary):>28}  {format_cost(summary)}")


def cli_tour(db_path: Path) -> None:
    step("The a2a-sessions CLI on what the tour wrote")
    exe = Path(sys.executable).with_name("a2a-sessions")
    command: list[str] = [str(exe)] if exe.exists() else [sys.executable, "-m", "a2a_session_manager.cli"]
    store_url = f"sqlite:///{db_path.resolve()}"
    for args in (
        ["list"],
        ["show", SESSION, "--width", "60"],
        ["tree", SESSION],
        ["usage", SESSION],
        ["export", SESSION, "--format", "openai"],
    ):
        print(f"\n$ a2a-sessions --store {store_url} {' '.join(args)}", flush=True)
        proc = subprocess.run(
            [*command, "--store", store_url, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(f"a2a-sessions {args[0]} failed ({proc.returncode}):\n{proc.stderr}")
        lines = proc.stdout.rstrip("\n").splitlines()
        limit = 24
        for line in lines[:limit]:
            print(f"  {line}")
        if len(lines) > limit:
            print(f"  ... ({len(lines) - limit} more lines)")


async def main() -> None:
    directory = Path(os.environ.get("A2A_DEMO_DIR", "."))
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "demo_sessions.db"
    for leftover in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)

    step(f"SQLite store at {db_path} (a fresh one)")
    store = create_sqlite_session_store(path=db_path)
    SessionStoreProvider.set_store(store)
    await frameworks(store)
    await long_exchange(store)
    usage_report(store)
    store.close()
    cli_tour(db_path)
    step(f"done; look again with: a2a-sessions --store sqlite:///{db_path.resolve()} show {SESSION}")


if __name__ == "__main__":
    asyncio.run(main())
