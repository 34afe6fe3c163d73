"""A session's prompt: select and render its events, plus its ancestors' summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.neutral import view
from a2a_session_manager.prompts._select import PromptStrategy, _check_max_tokens, _coerce_strategy, _plan
from a2a_session_manager.prompts._units import Message, render_events

if TYPE_CHECKING:
    from a2a_session_manager.models.session import Session, SessionSource
    from a2a_session_manager.storage.base import SessionStore

ANCESTOR_SUMMARY_PREFIX = "Summary of an earlier part of this conversation:\n"
"""Opens each ancestor summary that ``HIERARCHICAL`` adds as a system message."""


def _check_depth(max_depth: object) -> int:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValueError(f"max_depth must be an int >= 0, got {max_depth!r}")
    return max_depth


def _latest_summary(session: Session) -> str | None:
    for event in reversed(session.events):
        if event.type == EventType.SUMMARY:
            text = view(event).text.strip()
            if text:
                return text
    return None


def _ancestor_messages(session: Session, ancestors: Sequence[Session]) -> list[Message]:
    """System messages with the ancestors' latest summaries, farthest first, nearest last.

    A summary the session already opens with (as a context bridge or summary event) is
    not repeated.
    """
    opening: list[str] = []
    for event in session.events:
        turn = view(event)
        if turn.role not in ("system", None):
            break
        if turn.role == "system":
            opening.append(turn.text)
    seen: set[str] = set()
    out: list[Message] = []
    for ancestor in ancestors:
        text = _latest_summary(ancestor)
        if text is None or text in seen or any(text in existing for existing in opening):
            continue
        seen.add(text)
        out.append({"role": "system", "content": ANCESTOR_SUMMARY_PREFIX + text})
    out.reverse()
    return out


def _assemble(
    session: Session,
    strategy: PromptStrategy,
    max_tokens: int | None,
    model: str,
    current_query: str | None,
    extra: list[Message],
) -> list[Message]:
    events = session.events
    plan = _plan(events, strategy, max_tokens, model, current_query, extra, session_id=session.id)
    messages = render_events([events[i] for i in plan.indices])
    if plan.extra:
        at = 0
        while at < len(messages) and messages[at].get("role") == "system":
            at += 1
        messages[at:at] = plan.extra
    return messages


def _store_for(session: Session, store: SessionStore | None) -> SessionSource:
    if store is not None:
        return store
    # The session's own store (where it was loaded from or saved to), else the default:
    # the same store ``Session.ancestors()`` reads, walked only ``max_depth`` levels up.
    return session.store


def build_prompt_from_session(
    session: Session,
    strategy: PromptStrategy | str = PromptStrategy.CONVERSATION,
    max_tokens: int | None = None,
    model: str = "gpt-3.5-turbo",
    include_parent_context: bool = False,
    current_query: str | None = None,
    *,
    max_depth: int = 3,
    store: SessionStore | None = None,
) -> list[Message]:
    """Build an OpenAI-style prompt from a session's events.

    Args:
        session: The session.
        strategy: A ``PromptStrategy`` (or its string value); see its docstring.
        max_tokens: Prompt budget in tokens (message overhead and reply primer
            included), or None for no budget.
        model: Model name that selects the tokenizer.
        include_parent_context: Add the ancestors' summaries whatever the strategy
            (``HIERARCHICAL`` always adds them).
        current_query: Text that ``TASK_FOCUSED`` ranks earlier turns against; it is
            not added to the prompt.
        max_depth: How many ancestors to read for their summaries.
        store: Store to read ancestors from (default: the session's store, else the
            configured default). Only read when ancestor summaries are wanted and the
            session has a parent.

    Returns:
        A valid OpenAI-style message list; with ``max_tokens``,
        ``count_messages_tokens(result, model) <= max_tokens``.

    Raises:
        PromptBudgetError: The essential messages alone need more than ``max_tokens``.
        ValueError: ``max_tokens`` or ``max_depth`` is invalid, or the strategy is unknown.
        StorageError: Reading an ancestor failed.
    """
    strategy = _coerce_strategy(strategy)
    _check_max_tokens(max_tokens, allow_none=True)
    depth = _check_depth(max_depth)
    extra: list[Message] = []
    if (strategy is PromptStrategy.HIERARCHICAL or include_parent_context) and session.parent_id and depth:
        ancestors = session.ancestors(_store_for(session, store), max_depth=depth)
        extra = _ancestor_messages(session, ancestors)
    return _assemble(session, strategy, max_tokens, model, current_query, extra)


async def abuild_prompt_from_session(
    session: Session,
    strategy: PromptStrategy | str = PromptStrategy.CONVERSATION,
    max_tokens: int | None = None,
    model: str = "gpt-3.5-turbo",
    include_parent_context: bool = False,
    current_query: str | None = None,
    *,
    max_depth: int = 3,
    store: SessionStore | None = None,
) -> list[Message]:
    """Async twin of `build_prompt_from_session` (ancestors are read with the store's async API)."""
    strategy = _coerce_strategy(strategy)
    _check_max_tokens(max_tokens, allow_none=True)
    depth = _check_depth(max_depth)
    extra: list[Message] = []
    if (strategy is PromptStrategy.HIERARCHICAL or include_parent_context) and session.parent_id and depth:
        ancestors = await session.aancestors(_store_for(session, store), max_depth=depth)
        extra = _ancestor_messages(session, ancestors)
    return _assemble(session, strategy, max_tokens, model, current_query, extra)
