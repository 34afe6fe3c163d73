"""LlamaIndex's own fake function-calling LLM, scripted: one tool call, then an answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def scripted_llm(a: int = 2, b: int = 3, call_prefix: str = "call") -> MockFunctionCallingLLM:
    """Asks ``add(a, b)`` after each user message, then answers with the tool's result."""
    counter = {"n": 0}

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        last = messages[-1]
        if last.role == MessageRole.TOOL:
            return ChatMessage(role="assistant", content=f"The sum is {last.content}.")
        counter["n"] += 1
        call = ToolCallBlock(
            tool_call_id=f"{call_prefix}-{counter['n']}", tool_name="add", tool_kwargs={"a": a, "b": b}
        )
        return ChatMessage(role="assistant", blocks=[call])

    return MockFunctionCallingLLM(response_generator=respond)


def make_agent(a: int = 2, b: int = 3, call_prefix: str = "call") -> FunctionAgent:
    """A FunctionAgent with the ``add`` tool and the scripted LLM."""
    return FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=scripted_llm(a, b, call_prefix))


def dumps(messages: Sequence[ChatMessage]) -> list[str]:
    """Messages as comparable JSON strings."""
    return [json.dumps(m.model_dump(mode="json"), sort_keys=True) for m in messages]
