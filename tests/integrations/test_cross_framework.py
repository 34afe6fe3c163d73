"""One session, both frameworks: LangChain and LlamaIndex take turns and each sees the other's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from a2a_session_manager import EventType, SessionStore
from a2a_session_manager.messages import event_role
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from llama_index.core.base.llms.types import ToolCallBlock

from a2a_session_integrations.langchain import SessionChatMessageHistory
from a2a_session_integrations.llamaindex import SessionEventHandler, SessionMemory
from tests.integrations.llamaindex.fakes import make_agent

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cross_framework.py"


def _chain(store: SessionStore, reply: str) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    return RunnableWithMessageHistory(
        prompt | model,  # type: ignore[operator]
        lambda session_id: SessionChatMessageHistory(session_id, store=store),
        input_messages_key="question",
        history_messages_key="history",
    )


async def test_llamaindex_agent_then_langchain_chain_share_one_session(store: SessionStore) -> None:
    memory = SessionMemory.from_defaults(session_id="shared", store=store, token_limit=4000)
    async with SessionEventHandler(session_id="shared", store=store).recording():
        await make_agent().run("add 2 and 3", memory=memory)

    await _chain(store, "Five, as the agent said.").ainvoke(
        {"question": "what did you get?"}, config={"configurable": {"session_id": "shared"}}
    )
    lc = SessionChatMessageHistory("shared", store=store).messages
    assert [type(m) for m in lc] == [HumanMessage, AIMessage, ToolMessage, AIMessage, HumanMessage, AIMessage]
    assert lc[1].tool_calls == [{"id": "call-1", "name": "add", "args": {"a": 2, "b": 3}, "type": "tool_call"}]  # type: ignore[attr-defined]
    assert isinstance(lc[2], ToolMessage) and lc[2].tool_call_id == "call-1" and lc[2].content == "5"

    li = await memory.aget()
    assert [m.role.value for m in li] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert li[-1].content == "Five, as the agent said." and li[-2].content == "what did you get?"
    assert isinstance(li[1].blocks[0], ToolCallBlock)

    session = store.get("shared")
    assert session is not None
    conversation = [event_role(e) for e in session.events if e.type != EventType.REFERENCE]
    assert conversation == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    assert session.total_tokens > 0  # the handler's LLM calls


async def test_cross_framework_example_runs(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("cross_framework_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = await module.main(tmp_path)
    assert [r for r in rows if r[1] != "reference"] == [
        ("user", "message"),
        ("assistant", "message"),
        ("user", "message"),
        ("assistant", "message"),
        ("tool", "tool_call"),
        ("assistant", "message"),
        ("user", "message"),
        ("assistant", "message"),
    ]


def test_a_langchain_block_the_neutral_form_cannot_hold_reads_in_llamaindex_as_its_placeholder(
    store: SessionStore,
) -> None:
    blob = "QUJD" * 2000
    SessionChatMessageHistory("odd-block", store=store).add_messages(
        [HumanMessage(content=[{"type": "text", "text": "see"}, {"type": "image", "base64": blob}])]
    )
    [message] = SessionMemory.from_defaults(session_id="odd-block", store=store).get_all()
    texts = [getattr(block, "text", None) for block in message.blocks]
    assert texts == ["see", "[image]"]
    assert blob not in message.model_dump_json()
