"""Prompt units: a message, or an assistant turn with its tool results, kept or dropped whole.

The backward walk ``_iter_units`` pairs tool results with the turn that called them (by
``tool_call_id``, or by ``metadata["parent_event_id"]`` for 0.1.3's tool events) and
repairs what the chat API would refuse; ``render_events`` renders every unit in order.
See the package docstring for the validity rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from a2a_session_manager.messages import compact_json, event_to_openai, event_token_count
from a2a_session_manager.models.neutral import ToolCall, Turn, view
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.tokens import count_message_tokens

Message = dict[str, Any]


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


def _result_call_id(event: SessionEvent, turn: Turn) -> str | None:
    """The call id a tool result answers (``turn`` is ``view(event)``), None to pair by parent."""
    cid = turn.tool_call_id
    # The view str()s any id; pairing has always taken only ids stored as strings, so a
    # result with another id keeps being paired by its parent or synthesized.
    if cid is not None and isinstance(event.message.get("tool_call_id"), str):
        return cid
    return None


def _parent_id(event: SessionEvent) -> str | None:
    pid = event.metadata.get("parent_event_id")
    return pid if isinstance(pid, str) and pid else None


def _synth_call_id(event: SessionEvent) -> str:
    return "call_" + hashlib.sha1(event.id.encode("utf-8")).hexdigest()[:24]


def _result_call(event: SessionEvent, call_id: str) -> ToolCall:
    """The neutral tool call a result answers, rebuilt from the result event.

    Only the repair path (a result without its calling turn, or one the turn did not
    declare) comes here. It reads the raw message on purpose: it accepts 0.1.3's
    ``tool_name``/``tool`` and ``args`` keys on any tool result, which the view keeps
    only partly (``tool_name`` on TOOL_CALL events, no ``args``).
    """
    msg = event.message
    name: Any = None
    arguments: Any = None
    if isinstance(msg, dict):
        name = msg.get("name") or msg.get("tool_name") or msg.get("tool")
        arguments = msg.get("arguments", msg.get("args"))
    return ToolCall(call_id, str(name) if name else "tool", arguments if isinstance(arguments, dict) else {})


def _openai_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": compact_json(call.arguments)},
    }


def _tool_message(event: SessionEvent, call_id: str) -> Message:
    turn = view(event)
    if _result_call_id(event, turn) == call_id:
        rendered = event_to_openai(event)
        if rendered is not None and rendered.get("role") == "tool":
            return rendered
    return {"role": "tool", "tool_call_id": call_id, "content": turn.text}


def _assistant_message(event: SessionEvent, calls: Sequence[ToolCall]) -> Message | None:
    """The event as an assistant turn carrying exactly ``calls`` (None: nothing to say)."""
    out = event_to_openai(event) or {"role": "assistant", "content": view(event).text}
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
    calls = [
        _result_call(events[j], _result_call_id(events[j], view(events[j])) or _synth_call_id(events[j]))
        for j in results
    ]
    messages: list[Message] = [{"role": "assistant", "content": None, "tool_calls": [_openai_call(c) for c in calls]}]
    messages.extend(_tool_message(events[j], c.id) for j, c in zip(results, calls, strict=True))
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
        turn = view(event)
        role = turn.role
        if role is None:
            continue
        if role == "tool":
            pending.add(i, _result_call_id(event, turn), _parent_id(event))
            continue
        children = pending.by_parent.pop(event.id, None) if pending.by_parent else None
        if role == "assistant":
            calls = turn.tool_calls
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
    calls: tuple[ToolCall, ...],
    children: list[int],
    pending: _Pending,
) -> _Unit | None:
    declared = {c.id for c in calls if c.id}
    answers: dict[str, int] = {}
    extras: list[tuple[ToolCall, int]] = []
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
    answered: list[tuple[ToolCall, int]] = []
    used: set[str] = set()
    for call in calls:
        answer = answers.get(call.id) if call.id not in used else None
        if answer is not None:
            used.add(call.id)
            answered.append((call, answer))
    standard = not extras and len(answered) == len(calls)
    for call, j in extras:
        if call.id in used:  # an extra result reusing an id of this turn gets its own id
            call = call._replace(id=_synth_call_id(events[j]))
        used.add(call.id)
        answered.append((call, j))
    indices = (i, *(j for _, j in answered))
    if standard and answered:
        return _Unit(i, indices, None, True)
    head = _assistant_message(events[i], [c for c, _ in answered])
    if head is None:
        return None
    messages = [head, *(_tool_message(events[j], c.id) for c, j in answered)]
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
