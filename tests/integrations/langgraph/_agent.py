"""A ``create_agent`` agent with a scripted tool-calling fake model, importable and runnable.

Run as ``python -m tests.integrations.langgraph._agent <store url> <thread id> <turn>`` it
plays one turn against the store and prints what the agent's state held, as JSON: that
is how the tests check that a new process resumes a thread.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from a2a_session_manager.storage import create_session_store
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool

from a2a_session_integrations.langgraph import SessionCheckpointer

MODEL = "gpt-4o-mini"
USAGE = {"input_tokens": 20, "output_tokens": 7, "total_tokens": 27}


class ToolCallingFakeModel(GenericFakeChatModel):
    """LangChain's fake chat model; ``bind_tools`` returns itself so ``create_agent`` accepts it."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFakeModel:  # type: ignore[override]
        return self


@tool
def get_weather(city: str) -> str:
    """Return the weather in a city."""
    return f"Sunny in {city}"


def script(turn: int) -> list[AIMessage]:
    """The model's two replies in a turn: a tool call, then the answer (usage reported)."""
    meta = {"model_name": MODEL}
    return [
        AIMessage(
            content="",
            tool_calls=[{"name": "get_weather", "args": {"city": f"City{turn}"}, "id": f"call-{turn}"}],
            usage_metadata=dict(USAGE),  # type: ignore[arg-type]
            response_metadata=meta,
        ),
        AIMessage(
            content=f"It is sunny in City{turn}.",
            usage_metadata=dict(USAGE),  # type: ignore[arg-type]
            response_metadata=meta,
        ),
    ]


def question(turn: int) -> HumanMessage:
    return HumanMessage(content=f"Weather in City{turn}?")


def build_agent(checkpointer: SessionCheckpointer, turns: list[int]) -> Any:
    """An agent whose model plays the given turns in order."""
    replies = [m for t in turns for m in script(t)]
    return create_agent(ToolCallingFakeModel(messages=iter(replies)), [get_weather], checkpointer=checkpointer)


def describe(messages: list[BaseMessage]) -> list[list[str]]:
    return [[m.type, str(m.content)] for m in messages]


def main(url: str, thread_id: str, turn: int) -> None:
    store = create_session_store(url)
    try:
        agent = build_agent(SessionCheckpointer(store), [turn])
        config = {"configurable": {"thread_id": thread_id}}
        before = agent.get_state(config).values.get("messages", [])
        result = agent.invoke({"messages": [question(turn)]}, config)
        print(json.dumps({"before": describe(before), "after": describe(result["messages"])}))
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
