"""HTML views of sessions, runs and token summaries for Jupyter (no third-party packages).

Every value is escaped; long transcripts show the first and last events and say how
many were left out, so a 100,000-event session still renders in an instant.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from a2a_session_manager.messages import event_role, event_text, event_tool_calls
from a2a_session_manager.models.event_type import EventType

if TYPE_CHECKING:
    from a2a_session_manager.models.session import Session
    from a2a_session_manager.models.session_event import SessionEvent
    from a2a_session_manager.models.session_run import SessionRun
    from a2a_session_manager.models.token_usage import TokenSummary

__all__ = ["MAX_CHILDREN_SHOWN", "MAX_EVENTS_SHOWN", "run_html", "session_html", "summary_html"]

MAX_EVENTS_SHOWN = 200
"""Events rendered at most (the first and the last halves of that)."""
MAX_CHILDREN_SHOWN = 20
"""Child links (and run statuses) listed at most in a session's header."""

_STYLE = (
    "<style>.a2a-s{font-family:system-ui,sans-serif;font-size:13px}"
    ".a2a-s table{border-collapse:collapse}.a2a-s td,.a2a-s th{border-bottom:1px solid #ddd;"
    "padding:3px 6px;text-align:left;vertical-align:top}.a2a-s .r-user{color:#1f5fbf}"
    ".a2a-s .r-assistant{color:#2f7d32}.a2a-s .r-system{color:#7a4f01}.a2a-s .r-tool{color:#7b1fa2}"
    ".a2a-s pre{margin:0;white-space:pre-wrap;max-width:70em}.a2a-s .muted{color:#888}</style>"
)


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
    cost = "unpriced" if usage.estimated_cost_usd is None else f"${usage.estimated_cost_usd:.6f}"
    return escape(f"{usage.prompt_tokens}+{usage.completion_tokens} tok ({usage.origin}), {cost}")


def _event_row(event: SessionEvent) -> str:
    role = event_role(event) or event.source.value
    body = f"<pre>{escape(_cut(event_text(event)))}</pre>"
    calls = event_tool_calls(event)
    if calls:
        items = "".join(
            f"<li><code>{escape(c['name'])}</code> <span class='muted'>{escape(c['id'])}</span>"
            f"<pre>{escape(_cut(json.dumps(c['arguments'], ensure_ascii=False, indent=1)))}</pre></li>"
            for c in calls
        )
        body += f"<details><summary>{len(calls)} tool call(s)</summary><ul>{items}</ul></details>"
    if event.type == EventType.TOOL_CALL and isinstance(event.message, dict):
        msg = event.message
        name = msg.get("name") or msg.get("tool_name") or msg.get("tool") or "tool"
        args = json.dumps(msg.get("arguments", {}), ensure_ascii=False, indent=1, default=str)
        outcome = "error" if msg.get("error") is not None else "result"
        took = msg.get("duration_ms")
        timing = f" in {took:.1f} ms" if isinstance(took, (int, float)) else ""
        body = (
            f"<details><summary><code>{escape(str(name))}</code> {outcome}{timing}"
            f"</summary><pre>{escape(_cut(args))}</pre></details>{body}"
        )
    speaker = event.message.get("name") if event.type == EventType.MESSAGE and isinstance(event.message, dict) else None
    who = escape(role) + (f" <span class='muted'>({escape(str(speaker))})</span>" if speaker else "")
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
            rows.append(f"<tr><td colspan='4' class='muted'>… {len(events) - 2 * half} events not shown …</td></tr>")
        else:
            rows.append(_event_row(event))
    parent = f"parent {_link(session.parent_id)}" if session.parent_id else "<span class='muted'>root</span>"
    children = ", ".join(_link(c) for c in session.child_ids[:MAX_CHILDREN_SHOWN])
    if len(session.child_ids) > MAX_CHILDREN_SHOWN:
        children += f" … ({len(session.child_ids)} in all)"
    runs = ", ".join(escape(r.status.value) for r in session.runs[-MAX_CHILDREN_SHOWN:])
    summary = session.token_summary
    return (
        f"{_STYLE}<div class='a2a-s' id='{_anchor(session.id)}'><b>Session</b> <code>{escape(session.id)}</code>"
        f" · {parent}{' · children ' + children if children else ''}<br>"
        f"{len(events)} events · {len(session.runs)} runs{f' ({runs})' if runs else ''} · "
        f"{summary.total_tokens} tokens · "
        f"${summary.total_estimated_cost_usd:.6f}"
        f"{f' ({summary.unpriced_tokens} tokens unpriced)' if summary.unpriced_tokens else ''}"
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
        f"{_STYLE}<div class='a2a-s'><b>Run</b> <code>{escape(run.id)}</code> · "
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
        f"<tr><td><code>{escape(model)}</code></td><td>{u.prompt_tokens}</td><td>{u.completion_tokens}</td>"
        f"<td>{u.total_tokens}</td><td>{'unpriced' if u.estimated_cost_usd is None else f'${u.estimated_cost_usd:.6f}'}"
        "</td></tr>"
        for model, u in sorted(summary.usage_by_model.items())
    )
    origins = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(summary.tokens_by_origin.items()))
    return (
        f"{_STYLE}<div class='a2a-s'><b>Token usage</b>: {summary.total_tokens} tokens, "
        f"${summary.total_estimated_cost_usd:.6f}"
        f"{f', {summary.unpriced_tokens} tokens unpriced' if summary.unpriced_tokens else ''}"
        f"{f' · {origins}' if origins else ''}<table><tr><th>model</th><th>prompt</th><th>completion</th>"
        f"<th>total</th><th>cost</th></tr>{rows}</table></div>"
    )
