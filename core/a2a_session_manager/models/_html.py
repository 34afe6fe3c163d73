"""HTML views of sessions, runs and token summaries for Jupyter (no third-party packages).

Every value is escaped; long transcripts show the first and last events and say how
many were left out, so a 100,000-event session still renders in an instant.

The views look the same in JupyterLab, the classic notebook, VS Code and nbconvert's
HTML: every rule of their stylesheet is scoped to the views' root class and marked
``!important``, because those hosts style every ``td``/``tr``/``pre`` of an output
(JupyterLab right-aligns cells with a selector more specific than a scoped one, and
paints alternate rows and code boxes in the page colour). Backgrounds are transparent
and text takes the host's colour, so light and dark themes both stay readable.

``llm_call_summary`` turns an ``llm_call`` REFERENCE event (one model call recorded by
the LlamaIndex handler) into one readable line; the CLI and the demo use it too.

The models' ``_repr_html_`` hooks import this module when a notebook asks for a view
(the one import loop the layer test allows, inside ``models/``); the public names are
re-exported by ``a2a_session_manager.display``.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from a2a_session_manager.models._format import format_cost, format_tokens
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.neutral import compact_json, view

if TYPE_CHECKING:
    from a2a_session_manager.models.session import Session
    from a2a_session_manager.models.session_event import SessionEvent
    from a2a_session_manager.models.session_run import SessionRun
    from a2a_session_manager.models.token_usage import TokenSummary

__all__ = [
    "MAX_CHILDREN_SHOWN",
    "MAX_EVENTS_SHOWN",
    "ROOT_CLASS",
    "STYLESHEET",
    "llm_call_summary",
    "run_html",
    "session_html",
    "summary_html",
]

MAX_EVENTS_SHOWN = 200
"""Events rendered at most (the first and the last halves of that)."""
MAX_CHILDREN_SHOWN = 20
"""Child links (and run statuses) listed at most in a session's header."""
ROOT_CLASS = "a2a-s"
"""Class of every view's root element; every stylesheet rule starts with it."""

_GRID = "rgba(128,128,128,0.35)"  # a border visible on light and dark backgrounds alike
_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    # The root and everything in it: left-aligned, transparent, in the host's text colour.
    (
        ("",),
        "text-align:left;background:transparent;color:inherit;font-family:system-ui,sans-serif;"
        "font-size:13px;line-height:1.4",
    ),
    ((" *",), "text-align:left;background:transparent;color:inherit;font-size:inherit;box-shadow:none"),
    ((" table",), "border-collapse:collapse;table-layout:auto;margin:4px 0;border:none;width:auto"),
    ((" tr",), "border:none"),
    (
        (" td", " th"),
        f"border:none;border-bottom:1px solid {_GRID};padding:3px 6px;vertical-align:top;"
        "white-space:normal;max-width:none;line-height:1.4",
    ),
    ((" th",), "font-weight:bold"),
    ((" pre",), "margin:0;padding:0;border:none;white-space:pre-wrap;max-width:70em;font-size:12px"),
    ((" code",), "padding:0;border:none;font-size:12px"),
    ((" a",), "text-decoration:underline"),
    ((" ul",), "margin:2px 0;padding-left:1.5em"),
    ((" .r-user",), "color:#3b78d8"),
    ((" .r-assistant",), "color:#3c9a40"),
    ((" .r-system",), "color:#b07d12"),
    ((" .r-tool",), "color:#9c4fd6"),
    ((" .muted",), "color:#888"),
)


def _stylesheet() -> str:
    rules = []
    for suffixes, declarations in _RULES:
        selector = ",".join(f".{ROOT_CLASS}{suffix}" for suffix in suffixes)
        rules.append(selector + "{" + ";".join(f"{d} !important" for d in declarations.split(";")) + "}")
    return "".join(rules)


STYLESHEET = _stylesheet()
"""The views' CSS: every rule scoped to ``ROOT_CLASS`` (see the module docstring)."""
_STYLE = f"<style>{STYLESHEET}</style>"


def _anchor(session_id: str) -> str:
    return escape(f"a2a-session-{session_id}", quote=True)


def _link(session_id: str) -> str:
    # A link to the session's own view when it is rendered on the same page (a notebook).
    return f"<a href='#{_anchor(session_id)}'><code>{escape(session_id)}</code></a>"


def _cut(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _usage_cell(event: SessionEvent) -> str:
    usage = event.token_usage
    if usage is None:
        return ""
    tokens = f"{usage.prompt_tokens:,}+{usage.completion_tokens:,} tok"
    if usage.origin == "estimated":
        tokens = "~" + tokens
    return escape(f"{tokens} ({usage.origin}), {format_cost(usage)}")


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 1)] + "…"


def llm_call_summary(event: SessionEvent, *, with_usage: bool = True, width: int = 80) -> str | None:
    """One readable line for an ``llm_call`` REFERENCE event (model, tokens, tool calls, reply).

    The LlamaIndex handler records each model call as a REFERENCE event whose message is
    ``{"kind": "llm_call", "model", "messages", "response", "tool_calls"?}``; this line
    replaces that raw JSON in the HTML view, ``a2a-sessions show`` and the demo, e.g.
    ``LLM call · gpt-4o-mini · 3 messages in · ~70 tokens (estimated), unpriced · calls
    convert({"amount":200}) · replied "200 EUR is 2300 NOK."``.

    Args:
        event: Any event.
        with_usage: Include the tokens and cost (leave them out where a column shows them).
        width: Characters kept of the reply and of each call's arguments.

    Returns:
        The line, or None when the event is not an ``llm_call`` record.
    """
    body = event.message
    if event.type != EventType.REFERENCE or not isinstance(body, dict) or body.get("kind") != "llm_call":
        return None
    model = body.get("model")
    parts = ["LLM call", str(model) if model else "model not named"]
    count = body.get("messages")
    if isinstance(count, int) and not isinstance(count, bool):
        parts.append(f"{count} message{'' if count == 1 else 's'} in")
    usage = event.token_usage
    if with_usage and usage is not None:
        parts.append(f"{format_tokens(usage)}, {format_cost(usage)}")
    calls = body.get("tool_calls")
    if isinstance(calls, list) and calls:
        named = [
            f"{c.get('name') or 'tool'}({_short(compact_json(c.get('arguments', {})), width)})"
            for c in calls
            if isinstance(c, dict)
        ]
        parts.append("calls " + ", ".join(named))
    reply = body.get("response")
    if isinstance(reply, str) and reply.strip():
        parts.append(f'replied "{_short(reply, width)}"')
    return " · ".join(parts)


def _event_row(event: SessionEvent) -> str:
    turn = view(event)
    role = turn.role or event.source.value
    line = llm_call_summary(event, with_usage=False)
    body = f"<pre>{escape(_cut(turn.text if line is None else line))}</pre>"
    calls = turn.tool_calls
    if calls:
        items = "".join(
            f"<li><code>{escape(c.name)}</code> <span class='muted'>{escape(c.id)}</span>"
            f"<pre>{escape(_cut(json.dumps(c.arguments, ensure_ascii=False, indent=1)))}</pre></li>"
            for c in calls
        )
        body += f"<details><summary>{len(calls)} tool call(s)</summary><ul>{items}</ul></details>"
    if turn.kind == EventType.TOOL_CALL and turn.is_structured:
        args = json.dumps(turn.arguments, ensure_ascii=False, indent=1, default=str)
        outcome = "error" if turn.is_error else "result"
        timing = f" in {turn.duration_ms:.1f} ms" if turn.duration_ms is not None else ""
        body = (
            f"<details><summary><code>{escape(turn.name or 'tool')}</code> {outcome}{timing}"
            f"</summary><pre>{escape(_cut(args))}</pre></details>{body}"
        )
    speaker = turn.name if turn.kind == EventType.MESSAGE else None
    who = escape(role) + (f" <span class='muted'>({escape(speaker)})</span>" if speaker else "")
    seq = "" if event.seq is None else str(event.seq)
    when = escape(event.timestamp.isoformat(timespec="seconds"), quote=True)
    return (
        f"<tr><td class='muted' title='{when}'>{seq}</td><td class='r-{escape(role)}'>{who}"
        f"<br><span class='muted'>{escape(event.type.value)}</span></td><td>{body}</td>"
        f"<td class='muted'>{_usage_cell(event)}</td></tr>"
    )


def session_html(session: Session) -> str:
    """Render a session as an HTML transcript.

    Args:
        session: The session.

    Returns:
        HTML: header (ids, parent, children, runs, totals) and one row per event.
    """
    events = session.events
    half = MAX_EVENTS_SHOWN // 2
    shown: list[Any] = list(events) if len(events) <= MAX_EVENTS_SHOWN else [*events[:half], None, *events[-half:]]
    rows = []
    for event in shown:
        if event is None:
            rows.append(f"<tr><td colspan='4' class='muted'>… {len(events) - 2 * half:,} events not shown …</td></tr>")
        else:
            rows.append(_event_row(event))
    parent = f"parent {_link(session.parent_id)}" if session.parent_id else "<span class='muted'>root</span>"
    children = ", ".join(_link(c) for c in session.child_ids[:MAX_CHILDREN_SHOWN])
    if len(session.child_ids) > MAX_CHILDREN_SHOWN:
        children += f" … ({len(session.child_ids)} in all)"
    runs = ", ".join(escape(r.status.value) for r in session.runs[-MAX_CHILDREN_SHOWN:])
    summary = session.token_summary
    return (
        f"{_STYLE}<div class='{ROOT_CLASS}' id='{_anchor(session.id)}'><b>Session</b> <code>{escape(session.id)}</code>"
        f" · {parent}{' · children ' + children if children else ''}<br>"
        f"{len(events):,} events · {len(session.runs)} runs{f' ({runs})' if runs else ''} · "
        f"{escape(format_tokens(summary))} · {escape(format_cost(summary))}"
        f"<table><tr><th>#</th><th>role</th><th>content</th><th>usage</th></tr>{''.join(rows)}</table></div>"
    )


def run_html(run: SessionRun) -> str:
    """Render a run as one HTML line.

    Args:
        run: The run.

    Returns:
        HTML.
    """
    ended = run.ended_at.isoformat(timespec="seconds") if run.ended_at else "—"
    return (
        f"{_STYLE}<div class='{ROOT_CLASS}'><b>Run</b> <code>{escape(run.id)}</code> · "
        f"<b>{escape(run.status.value)}</b> · started {escape(run.started_at.isoformat(timespec='seconds'))}"
        f" · ended {escape(ended)}</div>"
    )


def summary_html(summary: TokenSummary) -> str:
    """Render a token summary as an HTML table by model.

    Args:
        summary: The summary.

    Returns:
        HTML.
    """
    rows = "".join(
        f"<tr><td><code>{escape(model)}</code></td><td>{u.prompt_tokens:,}</td><td>{u.completion_tokens:,}</td>"
        f"<td>{'~' if u.origin == 'estimated' else ''}{u.total_tokens:,}</td><td>{escape(format_cost(u))}</td></tr>"
        for model, u in sorted(summary.usage_by_model.items())
    )
    origins = ", ".join(f"{escape(k)}: {v:,}" for k, v in sorted(summary.tokens_by_origin.items()))
    return (
        f"{_STYLE}<div class='{ROOT_CLASS}'><b>Token usage</b>: {escape(format_tokens(summary))}, "
        f"{escape(format_cost(summary))}{f' · {origins}' if origins else ''}<table><tr><th>model</th>"
        f"<th>prompt</th><th>completion</th><th>total</th><th>cost</th></tr>{rows}</table></div>"
    )
