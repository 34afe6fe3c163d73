"""Prompt building: a session's events as a valid, token-budgeted OpenAI message list.

Three layers, each usable alone:

* ``select_events(events, strategy, max_tokens=..., model=...)`` chooses which events go
  into a prompt (pure: no I/O, same event objects back, in chronological order). The
  LangChain middleware and the LlamaIndex memory call it on events converted from their
  framework's messages.
* ``render_events(events)`` renders events as OpenAI chat messages and pairs tool calls
  with their results, so the list is always valid for the chat API.
* ``build_prompt_from_session(session, strategy, ...)`` is select + render, plus the
  summaries of ancestor sessions for ``HIERARCHICAL`` (or ``include_parent_context``);
  ``abuild_prompt_from_session`` is its async twin.

``truncate_prompt_to_token_limit(prompt, max_tokens, model)`` fits an existing message
list to a budget.

**Validity.** An assistant turn that called tools carries ``tool_calls`` and is followed
by exactly one ``tool`` message per call, with the matching ``tool_call_id``; there is
never a tool message without its call, and never ``content: None`` without
``tool_calls``. Such a turn and its results form one *tool group*, which is kept or
dropped whole. Tool results are matched to their turn by ``tool_call_id`` (the neutral
format), or by ``metadata["parent_event_id"]`` for 0.1.3's tool events, which have no
call id: the call id is then synthesized from the tool event's id (``call_`` + 24 hex
digits of its SHA-1, stable across calls) and added to the parent turn's ``tool_calls``.
A tool result whose calling turn is not an assistant message in the history (0.1.3's
tool processor recorded it as a SYSTEM event) gets a synthesized assistant turn that
makes the call, placed where the result is. Calls the model asked for but that never got
a result are left out of the turn (a turn left with no text and no calls is skipped),
and a second result for a call that already has one is ignored.

**Roles.** USER events are ``user``, LLM events ``assistant``, SYSTEM events ``system``;
SUMMARY and CONTEXT_BRIDGE events are ``system`` messages; REFERENCE events are not
rendered.

**Budgets.** Counts are the model's tokenizer's, by OpenAI's chat rule (see
``a2a_session_manager.tokens``: 3 per message, +1 per ``name``, tool calls as compact
JSON, +3 for the reply primer), so ``count_messages_tokens(prompt, model) <= max_tokens``
always holds for a returned prompt. The *essential* messages are always kept: the
system messages that open the session (every system, summary or context-bridge event
before the first other message), the first user message (the task) and the latest user
message. When those alone exceed ``max_tokens``, ``PromptBudgetError`` is raised (use
``truncate_prompt_to_token_limit`` to shorten content instead). Everything else is added
newest first and the walk stops at the first turn that does not fit, so the oldest turns
are dropped first and the kept history is contiguous; system messages later in the
session are kept when the walk reaches them, like any other turn.

**Speed.** Each event's token count is computed once and cached on the event
(``tokens.event_token_count``). A budgeted walk looks only at the turns it keeps (plus
one), so building a 4,000-token prompt costs the same for a 1,000- or a 100,000-event
session; only ``TASK_FOCUSED`` (which scores every earlier turn) reads the whole history.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from a2a_session_manager.exceptions import PromptBudgetError
from a2a_session_manager.messages import compact_json, event_role, event_text, event_to_openai, event_tool_calls
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.tokens import (
    REPLY_PRIMER_TOKENS,
    choose_encoding,
    count_message_tokens,
    event_token_count,
    get_encoding,
)

if TYPE_CHECKING:
    from a2a_session_manager.models.session import Session, SessionSource
    from a2a_session_manager.storage.base import SessionStore

__all__ = [
    "ANCESTOR_SUMMARY_PREFIX",
    "TRUNCATION_MARKER",
    "PromptStrategy",
    "PromptTruncationWarning",
    "abuild_prompt_from_session",
    "build_prompt_from_session",
    "render_events",
    "select_events",
    "truncate_prompt_to_token_limit",
]

Message = dict[str, Any]

TRUNCATION_MARKER = "…[truncated]"
"""Appended to a message whose content ``truncate_prompt_to_token_limit`` shortened."""

ANCESTOR_SUMMARY_PREFIX = "Summary of an earlier part of this conversation:\n"
"""Opens each ancestor summary that ``HIERARCHICAL`` adds as a system message."""


class PromptStrategy(str, Enum):
    """Which events of a session go into a prompt.

    Every strategy keeps the essential messages (the opening system messages, the first
    user message and the latest user message) and returns a valid message list; with
    ``max_tokens`` each fits the budget, dropping the oldest optional turns first.

    Attributes:
        MINIMAL: The essentials plus the current turn: everything after the latest user
            message (the assistant's replies and tool groups since the user last spoke).
            With no user message at all, the newest turn only.
        TASK_FOCUSED: MINIMAL plus the earlier turns most relevant to ``current_query``
            (default: the latest user message), by a BM25 lexical score: the query's
            words (lower-cased, English stop words dropped, a plural ``s`` stripped)
            are counted in each turn, a trailing ``s`` allowed; ``k1=1.2``,
            ``b=0.75``, length in words, IDF over the earlier turns. Only turns sharing a
            word with the query count; the best are added first, skipping any that no
            longer fit (until 32 in a row did not), and the output stays chronological.
            Scores every earlier turn, so it costs O(history): about 1.6 s for
            100,000 events, against 1.5 ms for the recency strategies.
        TOOL_FOCUSED: MINIMAL plus earlier tool groups (an assistant turn with its
            tool calls and their results), newest first.
        CONVERSATION: The whole conversation, newest turns first until the budget is
            full (no budget: everything).
        HIERARCHICAL: CONVERSATION plus the summaries of ancestor sessions (the latest
            SUMMARY event of each, up to ``max_depth`` ancestors, nearest last) as
            system messages after the opening system messages. Under a budget they
            come right after the essentials, nearest first.
    """

    MINIMAL = "minimal"
    TASK_FOCUSED = "task"
    TOOL_FOCUSED = "tool"
    CONVERSATION = "conversation"
    HIERARCHICAL = "hierarchical"


class PromptTruncationWarning(UserWarning):
    """``truncate_prompt_to_token_limit`` had to shorten a message's content to fit."""


# ----------------------------------------------------------------------------- units
@dataclass(slots=True)
class _Unit:
    """One piece of a prompt that is kept or dropped whole: a message or a tool group.

    ``anchor`` is the position where the unit renders (its lowest event index);
    ``indices`` are its events in render order. ``messages`` is None when every event
    renders as ``event_to_openai(event)`` (so cached per-event counts apply), else the
    messages as repaired or synthesized here.
    """

    anchor: int
    indices: tuple[int, ...]
    messages: list[Message] | None
    is_tool_group: bool

    def cost(self, events: Sequence[SessionEvent], model: str) -> int:
        if self.messages is None:
            return sum(event_token_count(events[i], model) for i in self.indices)
        return sum(count_message_tokens(m, model) for m in self.messages)

    def render(self, events: Sequence[SessionEvent]) -> list[Message]:
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        out: list[Message] = []
        for i in self.indices:
            rendered = event_to_openai(events[i])
            if rendered is not None:
                out.append(rendered)
        return out


def _result_call_id(event: SessionEvent) -> str | None:
    msg = event.message
    if isinstance(msg, dict):
        cid = msg.get("tool_call_id")
        if isinstance(cid, str) and cid:
            return cid
    return None


def _parent_id(event: SessionEvent) -> str | None:
    pid = event.metadata.get("parent_event_id")
    return pid if isinstance(pid, str) and pid else None


def _synth_call_id(event: SessionEvent) -> str:
    return "call_" + hashlib.sha1(event.id.encode("utf-8")).hexdigest()[:24]


def _result_call(event: SessionEvent, call_id: str) -> dict[str, Any]:
    """The neutral tool call a result answers, rebuilt from the result event."""
    msg = event.message
    name: Any = None
    arguments: Any = None
    if isinstance(msg, dict):
        name = msg.get("name") or msg.get("tool_name") or msg.get("tool")
        arguments = msg.get("arguments", msg.get("args"))
    return {
        "id": call_id,
        "name": str(name) if name else "tool",
        "arguments": arguments if isinstance(arguments, dict) else {},
    }


def _openai_call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": compact_json(call["arguments"])},
    }


def _tool_message(event: SessionEvent, call_id: str) -> Message:
    if _result_call_id(event) == call_id:
        rendered = event_to_openai(event)
        if rendered is not None and rendered.get("role") == "tool":
            return rendered
    return {"role": "tool", "tool_call_id": call_id, "content": event_text(event)}


def _assistant_message(event: SessionEvent, calls: Sequence[Mapping[str, Any]]) -> Message | None:
    """The event as an assistant turn carrying exactly ``calls`` (None: nothing to say)."""
    out = event_to_openai(event) or {"role": "assistant", "content": event_text(event)}
    out["role"] = "assistant"
    out.pop("tool_calls", None)
    empty = out.get("content") in (None, "", [])
    if calls:
        out["tool_calls"] = [_openai_call(c) for c in calls]
        if empty:
            out["content"] = None
        return out
    if empty:
        return None
    return out


def _orphan_unit(events: Sequence[SessionEvent], results: list[int]) -> _Unit:
    """Results with no assistant turn in the history: synthesize the turn that called them."""
    results = sorted(results)
    calls = [_result_call(events[j], _result_call_id(events[j]) or _synth_call_id(events[j])) for j in results]
    messages: list[Message] = [{"role": "assistant", "content": None, "tool_calls": [_openai_call(c) for c in calls]}]
    messages.extend(_tool_message(events[j], c["id"]) for j, c in zip(results, calls, strict=True))
    return _Unit(results[0], tuple(results), messages, True)


class _Pending:
    """Tool results seen by the backward walk that still wait for the turn that called them."""

    __slots__ = ("by_call", "by_parent", "entries", "keys")

    def __init__(self) -> None:
        self.entries: dict[int, tuple[str | None, str | None]] = {}
        self.by_call: dict[str, list[int]] = {}
        self.by_parent: dict[str, list[int]] = {}
        self.keys: set[tuple[str, str | None]] = set()

    def add(self, j: int, cid: str | None, pid: str | None) -> bool:
        if cid is not None:
            if (cid, pid) in self.keys:
                return False  # a second result for the same call (and parent): the newer one stands
            self.keys.add((cid, pid))
            self.by_call.setdefault(cid, []).append(j)
        if pid is not None:
            self.by_parent.setdefault(pid, []).append(j)
        self.entries[j] = (cid, pid)
        return True

    def claim(self, j: int) -> tuple[str | None, str | None] | None:
        entry = self.entries.pop(j, None)
        if entry is not None and entry[0] is not None:
            self.keys.discard((entry[0], entry[1]))
        return entry

    def claim_call(self, cid: str) -> int | None:
        """The oldest waiting result for ``cid`` (the nearest to the turn being closed)."""
        waiting = self.by_call.get(cid)
        while waiting:
            j = waiting.pop()
            if j in self.entries:
                self.claim(j)
                return j
        return None


def _iter_units(events: Sequence[SessionEvent], lo: int, hi: int) -> Iterator[_Unit]:
    """Yield the units of ``events[lo:hi]``, newest first (orphaned results come last).

    Walking backwards, tool results wait (by parent id and by call id) until the turn
    that called them; the walk does work only for the units the caller consumes.
    """
    pending = _Pending()
    for i in range(hi - 1, lo - 1, -1):
        event = events[i]
        role = event_role(event)
        if role is None:
            continue
        if role == "tool":
            pending.add(i, _result_call_id(event), _parent_id(event))
            continue
        children = pending.by_parent.pop(event.id, None) if pending.by_parent else None
        if role == "assistant":
            calls = event_tool_calls(event)
            if calls or children:
                unit = _group_unit(events, i, calls, children or [], pending)
                if unit is not None:
                    yield unit
                continue
        if children:
            orphans = [j for j in children if pending.claim(j) is not None]
            if orphans:
                yield _orphan_unit(events, orphans)
        yield _Unit(i, (i,), None, False)
    leftovers: dict[str | int, list[int]] = {}
    for j in sorted(pending.entries):
        pid = pending.entries[j][1]
        leftovers.setdefault(pid if pid is not None else j, []).append(j)
    for results in sorted(leftovers.values(), key=lambda r: -r[0]):
        yield _orphan_unit(events, results)


def _group_unit(
    events: Sequence[SessionEvent],
    i: int,
    calls: list[dict[str, Any]],
    children: list[int],
    pending: _Pending,
) -> _Unit | None:
    declared = {c["id"] for c in calls if c["id"]}
    answers: dict[str, int] = {}
    extras: list[tuple[dict[str, Any], int]] = []
    for j in sorted(children):  # results that name this turn as their parent come first
        entry = pending.claim(j)
        if entry is None:
            continue
        cid = entry[0]
        if cid is not None and cid in declared:
            answers.setdefault(cid, j)  # a duplicate answer to a call is ignored
        else:
            extras.append((_result_call(events[j], cid or _synth_call_id(events[j])), j))
    for cid in declared - answers.keys():
        found = pending.claim_call(cid)
        if found is not None:
            answers[cid] = found
    answered: list[tuple[dict[str, Any], int]] = []
    used: set[str] = set()
    for call in calls:
        answer = answers.get(call["id"]) if call["id"] not in used else None
        if answer is not None:
            used.add(call["id"])
            answered.append((call, answer))
    standard = not extras and len(answered) == len(calls)
    for call, j in extras:
        if call["id"] in used:  # an extra result reusing an id of this turn gets its own id
            call = {**call, "id": _synth_call_id(events[j])}
        used.add(call["id"])
        answered.append((call, j))
    indices = (i, *(j for _, j in answered))
    if standard and answered:
        return _Unit(i, indices, None, True)
    head = _assistant_message(events[i], [c for c, _ in answered])
    if head is None:
        return None
    messages = [head, *(_tool_message(events[j], c["id"]) for c, j in answered)]
    return _Unit(i, indices, messages, bool(answered))


def render_events(events: Sequence[SessionEvent]) -> list[Message]:
    """Render events as OpenAI chat messages, pairing tool calls with their results.

    Each assistant turn that called tools is followed by exactly one ``tool`` message per
    call (results move up to follow their turn); see the module docstring for how 0.1.3
    tool events, orphaned results and unanswered calls are repaired.

    Args:
        events: Events in chronological order.

    Returns:
        A valid OpenAI-style message list (no budget applied).
    """
    units = sorted(_iter_units(events, 0, len(events)), key=lambda u: u.anchor)
    out: list[Message] = []
    for unit in units:
        out.extend(unit.render(events))
    return out


# ------------------------------------------------------------------------- selection
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)
_BM25_K1 = 1.2
_BM25_B = 0.75
_RELEVANCE_MISS_LIMIT = 32
"""TASK_FOCUSED stops trying less relevant turns after this many in a row did not fit."""


def _terms(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # plural "invoices" matches "invoice"
        out.append(word)
    return out


def _check_max_tokens(max_tokens: object, *, allow_none: bool) -> None:
    if max_tokens is None and allow_none:
        return
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise ValueError(f"max_tokens must be a positive int{' or None' if allow_none else ''}, got {max_tokens!r}")


def _coerce_strategy(strategy: PromptStrategy | str) -> PromptStrategy:
    if isinstance(strategy, PromptStrategy):
        return strategy
    try:
        return PromptStrategy(strategy)
    except ValueError:
        valid = ", ".join(repr(s.value) for s in PromptStrategy)
        raise ValueError(f"unknown prompt strategy {strategy!r}; use a PromptStrategy or one of {valid}") from None


@dataclass(slots=True)
class _Plan:
    indices: list[int]
    extra: list[Message]


def _plan(
    events: Sequence[SessionEvent],
    strategy: PromptStrategy,
    max_tokens: int | None,
    model: str,
    current_query: str | None,
    extra: Sequence[Message] = (),
    session_id: str | None = None,
) -> _Plan:
    n = len(events)
    head = 0
    while head < n and event_role(events[head]) in ("system", None):
        head += 1
    last_user: int | None = None
    for i in range(n - 1, head - 1, -1):
        if event_role(events[i]) == "user":
            last_user = i
            break
    first_user = last_user
    if last_user is not None:
        for i in range(head, last_user):
            if event_role(events[i]) == "user":
                first_user = i
                break
    essential = [i for i in range(head) if event_role(events[i]) is not None]
    user_turns = {i for i in (first_user, last_user) if i is not None}
    essential.extend(sorted(user_turns))
    chosen: set[int] = set(essential)

    budget = None if max_tokens is None else max_tokens - REPLY_PRIMER_TOKENS
    used = sum(event_token_count(events[i], model) for i in essential)
    if budget is not None and used > budget:
        raise PromptBudgetError(
            f"the essential messages (opening system messages, first and latest user message) need "
            f"{used + REPLY_PRIMER_TOKENS} tokens for {model!r} but max_tokens is {max_tokens}; raise max_tokens "
            f"or shorten them with truncate_prompt_to_token_limit",
            session_id=session_id,
        )

    kept_extra: list[Message] = []
    for message in reversed(extra):  # nearest ancestor last in the list, first to be kept
        cost = count_message_tokens(message, model)
        if budget is not None and used + cost > budget:
            break
        used += cost
        kept_extra.insert(0, message)

    def take(unit: _Unit) -> bool:
        nonlocal used
        if budget is not None:
            cost = unit.cost(events, model)
            if used + cost > budget:
                return False
            used += cost
        chosen.update(unit.indices)
        return True

    units = _iter_units(events, head, n)
    if strategy in (PromptStrategy.CONVERSATION, PromptStrategy.HIERARCHICAL):
        for unit in units:
            if unit.anchor not in user_turns and not take(unit):
                break
    elif strategy is PromptStrategy.MINIMAL:
        for unit in units:
            if last_user is None:
                take(unit)
                break
            if unit.anchor < last_user:
                break
            if unit.anchor not in user_turns and not take(unit):
                break
    elif strategy is PromptStrategy.TOOL_FOCUSED:
        for unit in units:
            if unit.anchor in user_turns:
                continue
            current = last_user is None or unit.anchor > last_user
            if (current or unit.is_tool_group) and not take(unit):
                break
    else:
        _take_relevant(events, units, last_user, user_turns, current_query, take)
    return _Plan(sorted(chosen), kept_extra)


def _take_relevant(
    events: Sequence[SessionEvent],
    units: Iterator[_Unit],
    last_user: int | None,
    user_turns: set[int],
    current_query: str | None,
    take: Callable[[_Unit], bool],
) -> None:
    earlier: list[_Unit] = []
    current_open = True
    for unit in units:
        if unit.anchor in user_turns:
            continue
        if last_user is None or unit.anchor > last_user:
            if current_open and not take(unit):
                current_open = False
            continue
        earlier.append(unit)
    if current_query is None:
        current_query = event_text(events[last_user]) if last_user is not None else ""
    query = set(_terms(current_query))
    if not query or not earlier:
        return
    # One regex over the query's words scans each turn in C; a turn's length is its word count.
    alternatives = "|".join(re.escape(t) for t in sorted(query, key=len, reverse=True))
    matcher = re.compile(rf"(?<![^\W_])({alternatives})s?(?![^\W_])")
    docs: list[tuple[Counter[str], int]] = []
    for unit in earlier:
        if unit.messages is None:
            text = "\n".join(event_text(events[i]) for i in unit.indices).lower()
        else:
            text = "\n".join(str(m.get("content") or "") for m in unit.messages).lower()
        docs.append((Counter(matcher.findall(text)), len(text.split())))
    avg_len = (sum(length for _, length in docs) / len(docs)) or 1.0
    df = Counter(term for hits, _ in docs for term in hits)
    idf = {t: math.log(1.0 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
    scored: list[tuple[float, int, _Unit]] = []
    for unit, (hits, length) in zip(earlier, docs, strict=True):
        if not hits:
            continue
        norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * length / avg_len)
        score = sum(idf[t] * tf * (_BM25_K1 + 1) / (tf + norm) for t, tf in hits.items())
        scored.append((score, unit.anchor, unit))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    misses = 0
    for _, _, unit in scored:
        if take(unit):
            misses = 0
            continue
        misses += 1
        if misses >= _RELEVANCE_MISS_LIMIT:
            break


def select_events(
    events: Sequence[SessionEvent],
    strategy: PromptStrategy | str = PromptStrategy.CONVERSATION,
    *,
    max_tokens: int | None,
    model: str,
    current_query: str | None = None,
) -> list[SessionEvent]:
    """Choose the events that go into a prompt (pure: no I/O).

    ``render_events`` of the result is a valid message list whose
    ``count_messages_tokens(..., model)`` is at most ``max_tokens``. Tool groups are
    chosen whole. ``HIERARCHICAL`` selects like ``CONVERSATION`` here (ancestor
    summaries are added by ``build_prompt_from_session``).

    Args:
        events: The history, oldest first (a session's events, or events converted from
            a framework's messages).
        strategy: A ``PromptStrategy`` (or its string value).
        max_tokens: Prompt budget in tokens, or None for no budget.
        model: Model name that selects the tokenizer.
        current_query: Text that ``TASK_FOCUSED`` ranks earlier turns against
            (default: the latest user message); it is not added to the prompt.

    Returns:
        The chosen events (the same objects), in chronological order.

    Raises:
        PromptBudgetError: The essential messages alone need more than ``max_tokens``.
        ValueError: ``max_tokens`` is not a positive int or None, or the strategy is unknown.
    """
    _check_max_tokens(max_tokens, allow_none=True)
    plan = _plan(events, _coerce_strategy(strategy), max_tokens, model, current_query)
    return [events[i] for i in plan.indices]


# --------------------------------------------------------------------- from sessions
def _check_depth(max_depth: object) -> int:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValueError(f"max_depth must be an int >= 0, got {max_depth!r}")
    return max_depth


def _latest_summary(session: Session) -> str | None:
    for event in reversed(session.events):
        if event.type == EventType.SUMMARY:
            text = event_text(event).strip()
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
        role = event_role(event)
        if role not in ("system", None):
            break
        if role == "system":
            opening.append(event_text(event))
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


# ------------------------------------------------------------------------ truncation
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
