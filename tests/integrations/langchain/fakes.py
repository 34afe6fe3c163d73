"""LangChain's own fake chat model, extended only where the tests need it (tools, streamed usage)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

USAGE = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
MODEL = "gpt-4o-mini"


def reply(text: str, **kwargs: Any) -> AIMessage:
    """An AI reply as a provider would return it: usage and model name reported."""
    return AIMessage(
        content=text,
        usage_metadata=dict(USAGE),  # type: ignore[arg-type]
        response_metadata={"model_name": MODEL},
        **kwargs,
    )


class ToolFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel whose ``bind_tools`` returns itself, so ``create_agent`` accepts it."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolFakeChatModel:  # type: ignore[override]
        return self


class StreamingUsageFakeChatModel(GenericFakeChatModel):
    """Streams the reply word by word and reports usage on the final chunk, as OpenAI does."""

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = next(self.messages)
        assert isinstance(message, AIMessage)
        for word in str(message.content).split(" "):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=dict(USAGE),  # type: ignore[arg-type]
                response_metadata={"model_name": MODEL},
                chunk_position="last",
            )
        )


class RecordingFakeChatModel(ToolFakeChatModel):
    """Also keeps the messages of every call, to check what the model was sent."""

    calls: list[list[BaseMessage]] = []  # noqa: RUF012 (pydantic copies the default per instance)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(list(messages))
        return super()._generate(messages, *args, **kwargs)
