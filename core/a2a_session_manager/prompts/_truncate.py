"""Fit an existing OpenAI-style message list to a token budget, shortening content last."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.prompts._select import _check_max_tokens
from a2a_session_manager.prompts._units import Message
from a2a_session_manager.tokens import REPLY_PRIMER_TOKENS, choose_encoding, count_message_tokens, get_encoding

TRUNCATION_MARKER = "…[truncated]"
"""Appended to a message whose content ``truncate_prompt_to_token_limit`` shortened."""


class PromptTruncationWarning(UserWarning):
    """``truncate_prompt_to_token_limit`` had to shorten a message's content to fit."""


def _prompt_units(prompt: Sequence[Message]) -> list[list[int]]:
    """Split a message list into units: single messages, or an assistant turn with its tool results."""
    units: list[list[int]] = []
    i = 0
    while i < len(prompt):
        message = prompt[i]
        unit = [i]
        i += 1
        if message.get("role") == "assistant" and message.get("tool_calls"):
            while i < len(prompt) and prompt[i].get("role") == "tool":
                unit.append(i)
                i += 1
        units.append(unit)
    return units


def _text_slot(message: Message) -> tuple[str, int | None] | None:
    """The text that may be shortened: the str content, or the longest text part (its index)."""
    content = message.get("content")
    if isinstance(content, str):
        return (content, None) if content and content != TRUNCATION_MARKER else None
    if isinstance(content, list):
        best: tuple[str, int | None] | None = None
        for k, part in enumerate(content):
            if isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                text = part["text"]
                if text and text != TRUNCATION_MARKER and (best is None or len(text) > len(best[0])):
                    best = (text, k)
        return best
    return None


def _with_text(message: Message, slot: int | None, text: str) -> Message:
    out = dict(message)
    if slot is None:
        out["content"] = text
    else:
        parts = list(out["content"])
        parts[slot] = {**parts[slot], "text": text}
        out["content"] = parts
    return out


def _shorten(message: Message, target: int, model: str) -> Message:
    """The longest prefix of the message's text (plus the marker) costing at most ``target`` tokens.

    Falls back to the marker alone when even that costs more.
    """
    found = _text_slot(message)
    assert found is not None
    text, slot = found
    encoding = get_encoding(choose_encoding(model).name)
    if encoding is not None:
        ids = encoding.encode_ordinary(text)

        def prefix(k: int) -> str:
            return str(encoding.decode(ids[:k])).rstrip("\ufffd")

        hi = len(ids)
    else:

        def prefix(k: int) -> str:
            return text[:k]

        hi = len(text)

    def fits(k: int) -> bool:
        return count_message_tokens(_with_text(message, slot, prefix(k) + TRUNCATION_MARKER), model) <= target

    lo = 0
    if not fits(0):
        return _with_text(message, slot, TRUNCATION_MARKER)
    hi -= 1  # strictly shorter than the original
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return _with_text(message, slot, prefix(lo) + TRUNCATION_MARKER)


def truncate_prompt_to_token_limit(
    prompt: Sequence[Mapping[str, Any]],
    max_tokens: int,
    model: str = "gpt-3.5-turbo",
) -> list[Message]:
    """Fit an OpenAI-style message list to a token budget.

    Essential messages (every system message, the first and the latest user message)
    are kept; the other messages are dropped oldest first, an assistant turn with
    ``tool_calls`` and its ``tool`` results always together. When the essentials alone
    do not fit, the content of the longest one (by tokens) is cut to a prefix ending in
    ``TRUNCATION_MARKER``, then the next longest, until the prompt fits; each such cut
    is reported with a ``PromptTruncationWarning`` (messages never get extra keys).

    Args:
        prompt: The messages (not modified).
        max_tokens: Budget in tokens, as ``count_messages_tokens`` counts them.
        model: Model name that selects the tokenizer.

    Returns:
        New message list with ``count_messages_tokens(result, model) <= max_tokens``.

    Raises:
        ValueError: ``max_tokens`` is not a positive int, or ``prompt`` is not a list
            of message dicts.
        PromptBudgetError: Even with every essential message's text cut down to the
            marker the prompt does not fit (fixed per-message costs, names, tool calls).
    """
    _check_max_tokens(max_tokens, allow_none=False)
    if isinstance(prompt, (str, bytes)) or not isinstance(prompt, Sequence):
        raise ValueError(f"prompt must be a list of message dicts, got {type(prompt).__name__}")
    messages: list[Message] = []
    for k, message in enumerate(prompt):
        if not isinstance(message, Mapping):
            raise ValueError(f"prompt[{k}] must be a message dict, got {type(message).__name__}")
        messages.append(dict(message))
    costs = [count_message_tokens(m, model) for m in messages]
    total = REPLY_PRIMER_TOKENS + sum(costs)
    if total <= max_tokens:
        return messages

    user_positions = [k for k, m in enumerate(messages) if m.get("role") == "user"]
    essential = {k for k, m in enumerate(messages) if m.get("role") in ("system", "developer")}
    if user_positions:
        essential.update((user_positions[0], user_positions[-1]))
    units = _prompt_units(messages)
    keep: set[int] = set(essential)
    used = REPLY_PRIMER_TOKENS + sum(costs[k] for k in essential)
    for unit in reversed(units):
        if unit[0] in essential:
            continue
        cost = sum(costs[k] for k in unit)
        if used + cost > max_tokens:
            break
        used += cost
        keep.update(unit)
    kept = [k for k in range(len(messages)) if k in keep]
    result = [messages[k] for k in kept]
    result_costs = [costs[k] for k in kept]
    if used <= max_tokens:
        return result

    cut: list[str] = []
    while used > max_tokens:
        candidates = [k for k, m in enumerate(result) if _text_slot(m) is not None]
        if not candidates:
            raise PromptBudgetError(
                f"the essential messages need at least {used} tokens for {model!r} even with their text cut "
                f"to {TRUNCATION_MARKER!r}, but max_tokens is {max_tokens}"
            )
        k = max(candidates, key=lambda c: result_costs[c])
        before = result_costs[k]
        shortened = _shorten(result[k], before - (used - max_tokens), model)
        after = count_message_tokens(shortened, model)
        result[k] = shortened
        result_costs[k] = after
        used += after - before
        cut.append(f"{result[k].get('role')} message {kept[k]} from {before} to {after} tokens")
    warnings.warn(
        f"prompt shortened to fit max_tokens={max_tokens} for {model!r}: cut " + ", ".join(cut),
        PromptTruncationWarning,
        stacklevel=2,
    )
    return result
