"""``a2a-sessions``: look into a store from a shell.

Commands: ``list``, ``show ID``, ``tree ID``, ``usage ID``, ``export ID``, ``import FILE``,
``delete ID``. The store comes from ``--store URL`` (see ``create_session_store``), else
the ``A2A_SESSIONS_STORE`` environment variable, else ``sqlite:///sessions.db``.
Human output uses rich when it is installed; ``--json`` prints JSON for scripts.

Exit codes: 0 ok, 1 unknown session or bad input file, 2 bad usage or bad store URL,
3 store unreachable or failing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from a2a_session_manager.display import llm_call_summary
from a2a_session_manager.exceptions import (
    InvalidSessionIdError,
    MissingDependencyError,
    SessionManagerError,
    StorageError,
)
from a2a_session_manager.messages import event_role, event_text, event_tool_calls, events_to_openai
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.token_usage import TokenSummary
from a2a_session_manager.storage import SessionStore, codec, create_session_store
from a2a_session_manager.usage import cost_usd, format_cost, format_tokens

__all__ = ["build_parser", "main"]

DEFAULT_STORE = "sqlite:///sessions.db"
EXPORT_FORMATS = ("jsonl", "openai", "langchain", "llamaindex")


class CliError(Exception):
    """An error reported to the user with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``a2a-sessions``.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="a2a-sessions",
        description="Inspect a2a-session-manager stores: list, show, tree, usage, export, import, delete.",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("A2A_SESSIONS_STORE", DEFAULT_STORE),
        help="store URL: sqlite:///rel.db, sqlite:////abs.db, file:///dir, redis://host:port/db "
        "(default: $A2A_SESSIONS_STORE or %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list session ids (paginated)")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument("--limit", type=int, default=50, help="ids per page (default 50)")
    p.add_argument("--page", type=int, default=1, help="page number, from 1")

    p = sub.add_parser("show", help="print a session's transcript")
    p.add_argument("session_id")
    p.add_argument("--last", type=int, default=None, help="only the last N events")
    p.add_argument("--width", type=int, default=100, help="characters of content per event (default 100)")

    p = sub.add_parser("tree", help="print a session's hierarchy (its descendants)")
    p.add_argument("session_id")

    p = sub.add_parser("usage", help="tokens and cost by model, source and run")
    p.add_argument("session_id")
    p.add_argument("--no-tree", action="store_true", help="only this session, not its descendants")

    p = sub.add_parser("export", help="export a session")
    p.add_argument("session_id")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="jsonl", help="default: jsonl (re-importable)")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")

    p = sub.add_parser("import", help="import a session exported with `export --format jsonl`")
    p.add_argument("file", help="JSON-lines file ('-' for stdin)")
    p.add_argument("--id", dest="new_id", default=None, help="store it under this id instead")

    p = sub.add_parser("delete", help="delete a session and its events")
    p.add_argument("session_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    out = sys.stdout
    try:
        store = _open_store(args.store)
        try:
            handler = _COMMANDS[args.command]
            handler(store, args, out)
        finally:
            store.close()
    except CliError as exc:
        print(f"a2a-sessions: error: {exc}", file=sys.stderr)
        return exc.code
    except InvalidSessionIdError as exc:
        print(f"a2a-sessions: error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"a2a-sessions: error: {exc}", file=sys.stderr)
        return 3
    except SessionManagerError as exc:
        print(f"a2a-sessions: error: {exc}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------- helpers
def _open_store(url: str) -> SessionStore:
    try:
        return create_session_store(url)
    except MissingDependencyError as exc:
        raise CliError(str(exc), 2) from exc
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc


def _load(store: SessionStore, session_id: str) -> Session:
    session = store.get(session_id)
    if session is None:
        raise CliError(f"no session {session_id!r} in {_describe(store)}", 1)
    return session


def _describe(store: SessionStore) -> str:
    return type(store).__name__


def _console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(soft_wrap=False, highlight=False)


def _emit_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 1)] + "…"


def _event_line(event: SessionEvent, width: int) -> dict[str, Any]:
    calls = event_tool_calls(event)
    row: dict[str, Any] = {
        "seq": event.seq,
        "time": event.timestamp.isoformat(timespec="seconds"),
        "type": event.type.value,
        "role": event_role(event) or event.source.value,
        # An LLM call record reads as one line (model, calls, reply), not as its raw JSON.
        "text": _short(llm_call_summary(event, with_usage=False, width=width) or event_text(event), width),
    }
    if calls:
        row["tool_calls"] = [f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})" for c in calls]
    if event.type == EventType.TOOL_CALL and isinstance(event.message, dict):
        row["tool"] = event.message.get("name") or event.message.get("tool_name") or event.message.get("tool")
    if event.token_usage is not None:
        row["tokens"] = event.token_usage.total_tokens
        row["token_origin"] = event.token_usage.origin
        row["cost_usd"] = event.token_usage.estimated_cost_usd
    return row


# --------------------------------------------------------------------- commands
def _cmd_list(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    if args.limit <= 0 or args.page <= 0:
        raise CliError("--limit and --page must be positive", 2)
    ids = store.list_sessions(args.prefix)
    first = (args.page - 1) * args.limit
    page = ids[first : first + args.limit]
    rows = [{"id": sid, "events": store.count_events(sid)} for sid in page]
    if args.json:
        _emit_json(out, {"total": len(ids), "page": args.page, "limit": args.limit, "sessions": rows})
        return
    for row in rows:
        out.write(f"{row['id']}  {row['events']} events\n")
    shown_to = first + len(page)
    out.write(f"-- {first + 1 if page else 0}-{shown_to} of {len(ids)} sessions")
    out.write(f" (next: --page {args.page + 1})\n" if shown_to < len(ids) else "\n")


def _cmd_show(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    session = _load(store, args.session_id)
    events = session.events[-args.last :] if args.last else session.events
    rows = [_event_line(e, args.width) for e in events]
    if args.json:
        _emit_json(
            out,
            {
                "id": session.id,
                "parent_id": session.parent_id,
                "child_ids": session.child_ids,
                "runs": [r.model_dump(mode="json") for r in session.runs],
                "events": rows,
            },
        )
        return
    out.write(
        f"session {session.id}  parent={session.parent_id}  children={len(session.child_ids)}  "
        f"events={len(session.events)}  runs={len(session.runs)}\n"
    )
    for row in rows:
        extra = ""
        if "tool_calls" in row:
            extra = "  -> " + ", ".join(row["tool_calls"])
        if row.get("tool"):
            extra = f"  [{row['tool']}]"
        if "tokens" in row:
            estimated = row["tokens"] if row["token_origin"] == "estimated" else 0
            extra += f"  ({format_tokens(row['tokens'], estimated_tokens=estimated)}, {format_cost(row['cost_usd'])})"
        out.write(f"#{row['seq']:<4} {row['time']}  {row['role']:<9} {row['text']}{extra}\n")


def _walk_tree(store: SessionStore, root: Session) -> Iterator[tuple[int, Session]]:
    stack: list[tuple[int, Session]] = [(0, root)]
    seen: set[str] = set()
    while stack:
        depth, node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        yield depth, node
        children = [c for c in (store.get(cid) for cid in node.child_ids) if c is not None]
        stack.extend((depth + 1, c) for c in reversed(children))


def _cmd_tree(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    root = _load(store, args.session_id)
    nodes = list(_walk_tree(store, root))
    if args.json:
        _emit_json(
            out,
            [
                {
                    "id": s.id,
                    "depth": d,
                    "parent_id": s.parent_id,
                    "events": len(s.events),
                    "tokens": s.total_tokens,
                    "estimated_tokens": s.token_summary.tokens_by_origin.get("estimated", 0),
                }
                for d, s in nodes
            ],
        )
        return
    for depth, node in nodes:
        out.write(
            f"{'  ' * depth}{'└─ ' if depth else ''}{node.id}  ({len(node.events)} events, "
            f"{format_tokens(node.token_summary)})\n"
        )


def _summary_json(summary: TokenSummary) -> dict[str, Any]:
    return {
        "total_tokens": summary.total_tokens,
        "prompt_tokens": summary.total_prompt_tokens,
        "completion_tokens": summary.total_completion_tokens,
        # None, not $0, when nothing in it had a price; unpriced_tokens says how much had none.
        "estimated_cost_usd": cost_usd(summary),
        "unpriced_tokens": summary.unpriced_tokens,
        "estimated_tokens": summary.tokens_by_origin.get("estimated", 0),
        "by_origin": summary.tokens_by_origin,
    }


def _cmd_usage(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    root = _load(store, args.session_id)
    sessions = [root] if args.no_tree else [s for _, s in _walk_tree(store, root)]
    total = TokenSummary()
    by_source: dict[str, TokenSummary] = {}
    by_run: dict[str, TokenSummary] = {}
    for session in sessions:
        total.merge(session.token_summary)
        for key, summary in session.get_token_usage_by_source().items():
            by_source.setdefault(key, TokenSummary()).merge(summary)
        for key, summary in session.get_token_usage_by_run().items():
            by_run.setdefault(key, TokenSummary()).merge(summary)
    by_model = {
        model: {
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "estimated_cost_usd": u.estimated_cost_usd,
            "unpriced_tokens": u.total_tokens if u.estimated_cost_usd is None else 0,
            "estimated_tokens": u.total_tokens if u.origin == "estimated" else 0,
        }
        for model, u in sorted(total.usage_by_model.items())
    }
    report: dict[str, Any] = {
        "session_id": root.id,
        "sessions": len(sessions),
        "total": _summary_json(total),
        "by_model": by_model,
        "by_source": {k: _summary_json(v) for k, v in sorted(by_source.items())},
        "by_run": {k: _summary_json(v) for k, v in sorted(by_run.items())},
    }
    if args.json:
        _emit_json(out, report)
        return
    out.write(f"usage of {root.id} over {len(sessions)} session(s): {format_tokens(total)}, {format_cost(total)}\n")
    for title, table in (("model", by_model), ("source", report["by_source"]), ("run", report["by_run"])):
        out.write(f"by {title}:\n")
        for key, row in table.items():
            tokens = format_tokens(row["total_tokens"], estimated_tokens=row["estimated_tokens"])
            cost = format_cost(row["estimated_cost_usd"], unpriced_tokens=row["unpriced_tokens"])
            out.write(f"  {key:<36} {tokens:>28}  {cost}\n")


def _export_lines(session: Session) -> Iterator[str]:
    yield json.dumps(
        {
            "type": "session",
            "header": json.loads(codec.dump_header(session)),
            "runs": [r.model_dump(mode="json") for r in session.runs],
        },
        ensure_ascii=False,
    )
    for event in session.events:
        yield json.dumps({"type": "event", "event": json.loads(codec.dump_event(event))}, ensure_ascii=False)


def _cmd_export(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    session = _load(store, args.session_id)
    if args.format == "jsonl":
        text = "\n".join(_export_lines(session)) + "\n"
    elif args.format == "openai":
        text = json.dumps(events_to_openai(session.events), indent=2, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(_framework_export(session, args.format), indent=2, ensure_ascii=False, default=str) + "\n"
    if args.output == "-":
        out.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)


def _framework_export(session: Session, fmt: str) -> list[Any]:
    # The adapters live in a2a_session_integrations; the core reaches them only by name, at run time.
    module_name = f"a2a_session_integrations.{fmt}._convert"
    try:
        module = importlib.import_module(module_name)
        exported: list[Any] = module.export_events(session.events)
    except (ImportError, MissingDependencyError) as exc:
        raise CliError(f"--format {fmt} needs its adapter and framework: {exc}", 2) from exc
    return exported


def _cmd_import(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    try:
        fh = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc}", 1) from exc
    with fh:
        header: dict[str, Any] | None = None
        runs: list[Any] = []
        events: list[SessionEvent] = []
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if item.get("type") == "session":
                    header, runs = item["header"], item.get("runs", [])
                elif item.get("type") == "event":
                    events.append(SessionEvent.model_validate(item["event"]))
                else:
                    raise ValueError("each line needs type 'session' or 'event'")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CliError(f"{args.file} line {number}: not an a2a-sessions export ({exc})", 1) from exc
    if header is None:
        raise CliError(f"{args.file}: no session line (was it written by `export --format jsonl`?)", 1)
    from a2a_session_manager.models.session_run import SessionRun

    try:
        run_models = [SessionRun.model_validate(r) for r in runs]
    except ValueError as exc:
        raise CliError(f"{args.file}: invalid run: {exc}", 1) from exc
    header = dict(header)
    if args.new_id:
        header["id"] = args.new_id
    session = codec.build_session(header, [], run_models, [])
    session._synced_ids.clear()
    for event in events:
        event.seq = None
        session.add_event(event)
    store.save(session)
    result = {"id": session.id, "events": store.count_events(session.id)}
    if args.json:
        _emit_json(out, result)
    else:
        out.write(f"imported {session.id}: {result['events']} events\n")


def _cmd_delete(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    if not store.delete(args.session_id):
        raise CliError(f"no session {args.session_id!r} in {_describe(store)}", 1)
    if args.json:
        _emit_json(out, {"deleted": args.session_id})
    else:
        out.write(f"deleted {args.session_id}\n")


_COMMANDS = {
    "list": _cmd_list,
    "show": _cmd_show,
    "tree": _cmd_tree,
    "usage": _cmd_usage,
    "export": _cmd_export,
    "import": _cmd_import,
    "delete": _cmd_delete,
}

if __name__ == "__main__":
    raise SystemExit(main())
