"""``SessionMemory``: a LlamaIndex ``BaseMemory`` over a session, budgeted by our prompt strategies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.messages import event_role
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.prompts import PromptStrategy, select_events
from a2a_session_manager.storage import SessionStore, ops, resolve
from a2a_session_manager.storage.ops import Op, call
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory.types import BaseMemory
from pydantic import ConfigDict, Field

from a2a_session_integrations.llamaindex import _convert
from a2a_session_integrations.llamaindex._writes import awrite_messages, prepare_events, write_messages

__all__ = ["SessionMemory"]

_HEAD_EVENTS = 32
"""Events read from the start of a session to find its opening system messages and first user message."""
_MIN_TAIL = 32
_MAX_FIRST_TAIL = 1024


def _first_tail(token_limit: int) -> int:
    return max(_MIN_TAIL, min(_MAX_FIRST_TAIL, token_limit // 16))


def _select(
    events: Sequence[SessionEvent],
    strategy: PromptStrategy,
    budget: int,
    model: str,
    query: str | None,
) -> list[SessionEvent]:
    try:
        return select_events(events, strategy, max_tokens=budget, model=model, current_query=query)
    except PromptBudgetError:
        # Degrade instead of failing: drop the session's opening messages and first user
        # message from the essentials, keep the current turn (its user message must fit).
        last_user = max((i for i, e in enumerate(events) if event_role(e) == "user"), default=0)
        return select_events(events[last_user:], strategy, max_tokens=budget, model=model, current_query=query)


def _selection_op(
    session_id: str, strategy: PromptStrategy, budget: int, model: str, query: str | None
) -> Op[list[SessionEvent]]:
    """Choose the events of the history, reading only the tail the budget needs.

    Reads the last ``k`` events (and the head, for the essential opening messages),
    selects, and reads a 4x longer tail while the selection reaches the start of the
    tail; TASK_FOCUSED and TOOL_FOCUSED, which look at every earlier turn, read all.
    """
    if strategy in (PromptStrategy.TASK_FOCUSED, PromptStrategy.TOOL_FOCUSED):
        everything = yield from call(SessionStore.get_events, session_id)
        return _select(everything, strategy, budget, model, query)
    k = _first_tail(budget)
    head: list[SessionEvent] | None = None
    while True:
        tail = yield from call(SessionStore.get_events, session_id, last_n=k)
        if len(tail) < k:
            return _select(tail, strategy, budget, model, query)
        if head is None:
            head = yield from call(SessionStore.get_events, session_id, 0, _HEAD_EVENTS)
            first_user = next((i for i, e in enumerate(head) if event_role(e) == "user"), None)
            head = head[: first_user + 1] if first_user is not None else head
        last_head_seq = head[-1].seq if head and head[-1].seq is not None else -1
        rest = [e for e in tail if e.seq is None or e.seq > last_head_seq]
        if len(rest) < len(tail):  # the tail reaches the head: the whole session is read
            return _select(head + rest, strategy, budget, model, query)
        chosen = _select(head + rest, strategy, budget, model, query)
        picked = {id(e) for e in chosen}
        # The tail may start inside a tool group: results whose call is before the tail.
        edge = 1
        while edge < len(rest) and rest[edge - 1].type == EventType.TOOL_CALL:
            edge += 1
        if not any(id(e) in picked for e in rest[:edge]):
            return chosen
        k *= 4


class SessionMemory(BaseMemory):
    """Agent and chat-engine memory whose history is a session in our store.

    ``put``/``aput`` append one event, ``put_messages``/``aput_messages`` append a
    batch in one store call; nothing rewrites the session except ``set``/``aset``
    (``replace_events``, atomic). ``get(input=None)`` returns the history within
    ``token_limit`` tokens (our tokenizer for ``model``, OpenAI's per-message overhead
    included) chosen by ``strategy`` with the core's ``select_events``: tool-call
    groups are kept or dropped whole, the session's opening system messages and first
    user message are kept (if even they do not fit, the current turn alone is kept),
    and ``input`` is the query that ``TASK_FOCUSED`` ranks earlier turns against. For
    the recency strategies ``get`` reads only the tail of the session the budget needs
    (growing it 4x at a time), so its cost follows the budget, not the session's
    length. Every async twin uses the store's ``a*`` methods and never blocks the loop.

    Works as ``await agent.run(msg, memory=memory)`` for ``FunctionAgent`` and
    ``ReActAgent`` and in chat engines (``SimpleChatEngine.from_defaults(llm=...,
    memory=memory)``, ``CondensePlusContextChatEngine``). Messages come back equal to
    what was put (role, blocks, ``additional_kwargs``); the session is readable by
    LangChain and the core as well.

    Use ``SessionMemory.from_defaults(session_id=..., store=..., token_limit=...)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session_id: str
    store: Any = Field(default=None, exclude=True)
    token_limit: int | None = None
    strategy: PromptStrategy = PromptStrategy.CONVERSATION
    model: str = "gpt-4o"

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing the component."""
        return "SessionMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        session_id: str,
        store: SessionStore | None = None,
        token_limit: int | None = None,
        strategy: PromptStrategy | str = PromptStrategy.CONVERSATION,
        model: str = "gpt-4o",
        **kwargs: Any,
    ) -> SessionMemory:
        """Create a memory on a session.

        Args:
            session_id: The session (created on first write).
            store: Any SessionStore; None uses the configured default (``SessionStoreProvider``)
                at each call.
            token_limit: Budget of ``get()`` in tokens; None returns the whole history.
            strategy: A ``PromptStrategy`` (or its value) choosing what ``get()`` keeps.
            model: Model whose tokenizer counts the budget.
            **kwargs: Ignored LlamaIndex options (``llm``, ``chat_history`` is refused).

        Returns:
            The memory.

        Raises:
            InvalidSessionIdError: ``session_id`` is not a valid session id.
            ValueError: ``token_limit`` is not a positive int, or the strategy is unknown.
        """
        if token_limit is not None and (
            isinstance(token_limit, bool) or not isinstance(token_limit, int) or token_limit <= 0
        ):
            raise ValueError(f"token_limit must be a positive int or None, got {token_limit!r}")
        if kwargs.get("chat_history"):
            raise ValueError("SessionMemory.from_defaults does not take chat_history; call memory.set(messages)")
        try:
            strat = PromptStrategy(strategy)
        except ValueError:
            valid = ", ".join(repr(s.value) for s in PromptStrategy)
            raise ValueError(f"unknown prompt strategy {strategy!r}; use one of {valid}") from None
        return cls(
            session_id=check_session_id(session_id),
            store=store,
            token_limit=token_limit,
            strategy=strat,
            model=model,
        )

    @property
    def _store(self) -> SessionStore:
        return resolve(self.store)

    # ------------------------------------------------------------------- reading
    def _budget(self, kwargs: dict[str, Any]) -> int | None:
        if self.token_limit is None:
            return None
        initial = kwargs.get("initial_token_count") or 0
        budget = self.token_limit - int(initial)
        if budget <= 0:
            raise ValueError(
                f"session {self.session_id!r}: initial_token_count {initial} leaves no room in token_limit "
                f"{self.token_limit}"
            )
        return budget

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The history within ``token_limit`` (all of it when ``token_limit`` is None).

        Args:
            input: The current query (``TASK_FOCUSED`` ranks earlier turns against it).
            **kwargs: ``initial_token_count`` (tokens the caller adds, e.g. a system
                prompt) is taken off the budget; others are ignored.

        Returns:
            The messages, oldest first.

        Raises:
            PromptBudgetError: Even the latest user message alone exceeds the budget.
            StorageError: The backend failed.
        """
        budget = self._budget(kwargs)
        if budget is None:
            return self.get_all()
        events = ops.run(self._store, _selection_op(self.session_id, self.strategy, budget, self.model, input))
        return _convert.events_to_messages(events)

    async def aget(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Async twin of `get`."""
        budget = self._budget(kwargs)
        if budget is None:
            return await self.aget_all()
        op = _selection_op(self.session_id, self.strategy, budget, self.model, input)
        events = await ops.arun(self._store, op)
        return _convert.events_to_messages(events)

    def get_all(self) -> list[ChatMessage]:
        """Every message of the session, oldest first."""
        return _convert.read_messages(self._store, self.session_id)

    async def aget_all(self) -> list[ChatMessage]:
        """Async twin of `get_all`."""
        return await _convert.aread_messages(self._store, self.session_id)

    # ------------------------------------------------------------------- writing
    def put(self, message: ChatMessage) -> None:
        """Append one message (one event).

        Args:
            message: The message.
        """
        write_messages(self._store, self.session_id, [message])

    async def aput(self, message: ChatMessage) -> None:
        """Async twin of `put`."""
        await awrite_messages(self._store, self.session_id, [message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Append messages in one store call (all or nothing).

        Args:
            messages: The messages, in order.
        """
        write_messages(self._store, self.session_id, messages)

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async twin of `put_messages`."""
        await awrite_messages(self._store, self.session_id, messages)

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the session's events with these messages (atomic).

        Args:
            messages: The messages, in order.
        """
        self._store.replace_events(self.session_id, prepare_events(self._store, self.session_id, messages, None))

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async twin of `set`."""
        events = prepare_events(self._store, self.session_id, messages, None)
        await self._store.areplace_events(self.session_id, events)

    def reset(self) -> None:
        """Remove every event of the session (its runs and records stay)."""
        self._store.clear_events(self.session_id)

    async def areset(self) -> None:
        """Async twin of `reset`."""
        await self._store.aclear_events(self.session_id)

    def __repr__(self) -> str:
        return (
            f"SessionMemory(session_id={self.session_id!r}, store={type(self.store).__name__}, "
            f"token_limit={self.token_limit}, strategy={self.strategy.value})"
        )
