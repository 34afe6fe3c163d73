"""One session, two frameworks: a LangChain chain and a LlamaIndex agent take turns.

A LangChain ``RunnableWithMessageHistory`` chain (``SessionChatMessageHistory``) and a
LlamaIndex ``FunctionAgent`` (``SessionMemory`` + ``SessionEventHandler``) write the same
session of an SQLite store; each sees the other's turns with roles and tool calls, and
the core's ``store.get`` shows them all. Offline: both models are the frameworks' own
fakes. Run: ``python examples/cross_framework.py``.
"""

from __future__ import annotations

import asyncio
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2a_session_manager import create_sqlite_session_store
from a2a_session_manager.messages import event_role
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from a2a_session_integrations.langchain import SessionChatMessageHistory
from a2a_session_integrations.llamaindex import SessionEventHandler, SessionMemory

# Framework-internal deprecation warnings, not ours (see pyproject's filterwarnings); set after
# the imports because langchain-core installs its own filter when it is imported.
warnings.filterwarnings("ignore", message=".*RunnableWithMessageHistory.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="pydantic.*")

SESSION = "trip-planning"


def convert_eur_to_nok(amount: float) -> float:
    """Convert euros to Norwegian kroner at a fixed demo rate."""
    return round(amount * 11.5, 2)


def scripted(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """The LlamaIndex agent's model: call the tool once, then answer with its result."""
    if messages[-1].role == MessageRole.TOOL:
        return ChatMessage(role="assistant", content=f"That is {messages[-1].content} NOK.")
    call = ToolCallBlock(tool_call_id="call-eur-nok", tool_name="convert_eur_to_nok", tool_kwargs={"amount": 200})
    return ChatMessage(role="assistant", blocks=[call])


def langchain_chain(store: Any, replies: list[str]) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You plan trips."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter(AIMessage(content=r) for r in replies))
    return RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: SessionChatMessageHistory(session_id, store=store),
        input_messages_key="question",
        history_messages_key="history",
    )


async def main(directory: Path) -> list[tuple[str, str]]:
    store = create_sqlite_session_store(path=str(directory / "sessions.db"))
    config = {"configurable": {"session_id": SESSION}}
    chain = langchain_chain(store, ["Bergen is lovely in June.", "Yes: the agent converted it above."])

    # 1. LangChain: a plain chat turn.
    await chain.ainvoke({"question": "Where should I go in Norway?"}, config=config)

    # 2. LlamaIndex: an agent turn with a tool call, on the same session.
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(convert_eur_to_nok)], llm=MockFunctionCallingLLM(response_generator=scripted)
    )
    memory = SessionMemory.from_defaults(session_id=SESSION, store=store, token_limit=4000)
    async with SessionEventHandler(session_id=SESSION, store=store).recording():
        answer = await agent.run("How much is 200 EUR in NOK?", memory=memory)
    print("LlamaIndex agent:", answer)

    # 3. LangChain again: its history holds the agent's tool call and result.
    history = SessionChatMessageHistory(SESSION, store=store)
    await chain.ainvoke({"question": "Did you convert the money?"}, config=config)
    lc_types = [m.type for m in history.messages]
    print("LangChain sees:", lc_types)
    assert lc_types == ["human", "ai", "human", "ai", "tool", "ai", "human", "ai"]
    assert history.messages[3].tool_calls[0]["args"] == {"amount": 200}  # type: ignore[attr-defined]

    # 4. LlamaIndex sees LangChain's turns as user/assistant messages.
    li_roles = [m.role.value for m in await memory.aget_all()]
    print("LlamaIndex sees:", li_roles)
    assert li_roles == ["user", "assistant", "user", "assistant", "tool", "assistant", "user", "assistant"]

    # 5. The core sees everything, in order, with usage recorded by the handler.
    session = await store.aget(SESSION)
    assert session is not None
    rows = [(str(event_role(e)), e.type.value) for e in session.events]
    for role, kind in rows:
        print(f"  {kind:<10} {role}")
    print("runs:", [r.status.value for r in session.runs], "tokens:", session.total_tokens)
    store.close()
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
