"""``a2a-sessions``: look into a store from a shell.

Commands: ``list``, ``show ID``, ``tree ID``, ``usage ID``, ``export ID``, ``import FILE``,
``delete ID``. The store comes from ``--store URL`` (see ``create_session_store``), else
the ``A2A_SESSIONS_STORE`` environment variable, else ``sqlite:///sessions.db``.
Only ``import`` creates a store: the other commands on a file or SQLite store that does
not exist fail and create nothing. ``--json`` prints JSON for scripts.

The CLI builds on the core: ``usage`` is ``usage.summarize_tree`` formatted, ``tree`` walks
``Session.descendants``, and ``export --format langchain|llamaindex`` calls the adapter's
public ``a2a_session_integrations.<format>.export_events``, found by name at run time (the
core imports no adapter).

Nothing from a store reaches the terminal raw: control characters (ANSI escapes, ``\\r``,
bell), C1 controls, bidi overrides and line separators in stored text are printed as
``\\uXXXX`` escapes (in JSON output too, where they are valid JSON escapes of the same
text). A password in a store URL is never printed (``redact_url``), ``--help`` included.

Exit codes: 0 ok, 1 unknown session or bad input file, 2 bad usage or bad store URL,
3 store missing, unreachable or failing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO, cast

from pydantic import ValidationError

from a2a_session_manager._ids import check_session_id
from a2a_session_manager.display import llm_call_summary
from a2a_session_manager.exceptions import (
    CorruptSessionError,
    InvalidSessionIdError,
    MissingDependencyError,
    SessionManagerError,
    StorageError,
    StoreUnavailableError,
)
from a2a_session_manager.messages import events_to_openai
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.neutral import view
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.models.session_run import SessionRun
from a2a_session_manager.models.token_usage import TokenSummary
from a2a_session_manager.storage import SessionStore, codec, create_session_store, redact_url
from a2a_session_manager.usage import cost_usd, format_cost, format_tokens, summarize_session, summarize_tree

__all__ = ["build_parser", "main"]

DEFAULT_STORE = "sqlite:///sessions.db"
STORE_ENV = "A2A_SESSIONS_STORE"
EXPORT_FORMATS = ("jsonl", "openai", "langchain", "llamaindex")
READ_ONLY_COMMANDS = ("list", "show", "tree", "usage", "export", "delete")
"""Commands that never create a store (``delete`` removes from an existing one only)."""

# Characters a terminal may act on: C0 controls (ANSI escapes start with ESC, ``\r``
# rewrites the line, BEL rings), DEL, C1 controls (8-bit CSI), bidi marks and overrides
# (reorder what is shown) and Unicode line separators.
_UNSAFE_FIELD = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# The same but the newline, which the CLI writes itself between lines.
_UNSAFE_OUTPUT = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


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
    env = os.environ.get(STORE_ENV)
    # The default is resolved in main(), never shown raw: the variable may hold a password.
    shown = f"${STORE_ENV} = {_clean(redact_url(env))}" if env else f"${STORE_ENV} (unset), else {DEFAULT_STORE}"
    parser.add_argument(
        "--store",
        default=None,
        help="store URL: sqlite:///rel.db, sqlite:////abs.db, file:///dir, redis://host:port/db "
        f"(default: {shown.replace('%', '%%')})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list session ids (paginated)")
    p.add_argument("--prefix", default="", help="only ids starting with this")
    p.add_argument("--limit", type=_positive, default=50, help="ids per page (default 50)")
    p.add_argument("--page", type=_positive, default=1, help="page number, from 1")

    p = sub.add_parser("show", help="print a session's transcript")
    p.add_argument("session_id")
    p.add_argument(
        "--last", type=_non_negative, default=None, help="only the last N events (0: only the session's header line)"
    )
    p.add_argument("--width", type=_positive, default=100, help="characters of content per event (default 100)")

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
    url = args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE
    # Every byte of text output passes the escaper: stored data is never sent raw to a terminal.
    out = cast(TextIO, _SafeOutput(sys.stdout))
    try:
        store = _open_store(url, create=args.command not in READ_ONLY_COMMANDS)
        try:
            handler = _COMMANDS[args.command]
            handler(store, args, out)
        finally:
            store.close()
    except CliError as exc:
        return _fail(exc, exc.code)
    except InvalidSessionIdError as exc:
        return _fail(exc, 2)
    except StorageError as exc:
        return _fail(exc, 3)
    except SessionManagerError as exc:
        return _fail(exc, 1)
    except BrokenPipeError:
        # The reader went away (``a2a-sessions list | head``): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not report it either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


# ---------------------------------------------------------------------- helpers
def _clean(text: str) -> str:
    """``text`` with every character a terminal could act on written as ``\\uXXXX`` (newlines too)."""
    return _UNSAFE_FIELD.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _SafeOutput:
    """Standard output that escapes terminal control characters, all but the newline.

    The escapes (``\\u001b``) are also valid JSON escapes of the same characters, so JSON
    output stays exact. The CLI's own line breaks pass; stored text has had its newlines
    escaped or collapsed before it gets here.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_UNSAFE_OUTPUT.sub(lambda m: f"\\u{ord(m.group()):04x}", text))

    def flush(self) -> None:
        self._stream.flush()


def _fail(exc: BaseException, code: int) -> int:
    # One line, escaped: messages may quote stored data or a file's contents.
    text = re.sub(r"\s*\n\s*", " ", str(exc).strip())
    print(f"a2a-sessions: error: {_clean(text)}", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    return _count(text, minimum=1)


def _non_negative(text: str) -> int:
    return _count(text, minimum=0)


def _count(text: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        what = "a positive whole number" if minimum == 1 else "a whole number >= 0"
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
    return value


def _open_store(url: str, *, create: bool) -> SessionStore:
    try:
        return create_session_store(url, create=create)
    except MissingDependencyError as exc:
        raise CliError(str(exc), 2) from exc
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc
    except StoreUnavailableError as exc:
        raise CliError(f"{exc}; only `import` creates a store", 3) from exc


def _load(store: SessionStore, session_id: str) -> Session:
    session = store.get(session_id)
    if session is None:
        raise CliError(f"no session {session_id!r} in {_describe(store)}", 1)
    return session


def _describe(store: SessionStore) -> str:
    return type(store).__name__


def _emit_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 1)] + "…"


def _event_line(event: SessionEvent, width: int) -> dict[str, Any]:
    turn = view(event)
    row: dict[str, Any] = {
        "seq": event.seq,
        "time": event.timestamp.isoformat(timespec="seconds"),
        "type": event.type.value,
        "role": turn.role or event.source.value,
        # An LLM call record reads as one line (model, calls, reply), not as its raw JSON.
        "text": _short(llm_call_summary(event, with_usage=False, width=width) or turn.text, width),
    }
    if turn.tool_calls:
        row["tool_calls"] = [f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in turn.tool_calls]
    if turn.kind == EventType.TOOL_CALL and turn.is_structured:
        row["tool"] = turn.name
    if event.token_usage is not None:
        row["tokens"] = event.token_usage.total_tokens
        row["token_origin"] = event.token_usage.origin
        row["cost_usd"] = event.token_usage.estimated_cost_usd
    return row


# --------------------------------------------------------------------- commands
def _page_footer(page: int, limit: int, shown: int, total: int, prefix: str) -> str:
    """The line under a page of ``list``: which ids it showed out of how many, and what next."""
    what = f"sessions with prefix {_clean(repr(prefix))}" if prefix else "sessions"
    if total == 0:
        return f"-- no {what}"
    pages = -(-total // limit)
    if shown == 0:
        return f"-- page {page} is past the end: {total} {what} fill {pages} page(s) of {limit} (last: --page {pages})"
    first = (page - 1) * limit + 1
    line = f"-- {first}-{first + shown - 1} of {total} {what} (page {page} of {pages})"
    return line + (f" (next: --page {page + 1})" if page < pages else "")


def _cmd_list(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    ids = store.list_sessions(args.prefix)
    first = (args.page - 1) * args.limit
    page = ids[first : first + args.limit]
    rows = [{"id": sid, "events": store.count_events(sid)} for sid in page]
    if args.json:
        _emit_json(out, {"total": len(ids), "page": args.page, "limit": args.limit, "sessions": rows})
        return
    for row in rows:
        out.write(f"{_clean(str(row['id']))}  {row['events']} events\n")
    out.write(_page_footer(args.page, args.limit, len(page), len(ids), args.prefix) + "\n")


def _cmd_show(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    session = _load(store, args.session_id)
    # --last N: the last N events; 0 shows only the header line (argparse refuses N < 0).
    events = session.events if args.last is None else session.events[max(len(session.events) - args.last, 0) :]
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
            extra = "  -> " + _clean(", ".join(row["tool_calls"]))
        if row.get("tool"):
            extra = f"  [{_clean(str(row['tool']))}]"
        if "tokens" in row:
            estimated = row["tokens"] if row["token_origin"] == "estimated" else 0
            extra += f"  ({format_tokens(row['tokens'], estimated_tokens=estimated)}, {format_cost(row['cost_usd'])})"
        out.write(f"#{row['seq']:<4} {row['time']}  {_clean(str(row['role'])):<9} {row['text']}{extra}\n")


def _tree_with_depths(store: SessionStore, root: Session) -> list[tuple[int, Session]]:
    """The root and its descendants, depth-first, each with its depth below the root."""
    depths = {root.id: 0}
    nodes = [(0, root)]
    for node in root.descendants(store):
        # Depth-first order visits a parent before its children; a child whose parent_id
        # names no session of this tree (a stale link) is shown right under the root.
        depth = depths.get(node.parent_id or "", 0) + 1
        depths[node.id] = depth
        nodes.append((depth, node))
    return nodes


def _cmd_tree(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    root = _load(store, args.session_id)
    nodes = _tree_with_depths(store, root)
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
            f"{'  ' * depth}{'└─ ' if depth else ''}{_clean(node.id)}  ({len(node.events)} events, "
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
    usage = summarize_session(root) if args.no_tree else summarize_tree(root, store)
    total, sessions = usage.total, len(usage.session_ids)
    by_model: dict[str, dict[str, Any]] = {
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
        "sessions": sessions,
        "total": _summary_json(total),
        "by_model": by_model,
        "by_source": {k: _summary_json(v) for k, v in sorted(usage.by_source.items())},
        "by_run": {k: _summary_json(v) for k, v in sorted(usage.by_run.items())},
    }
    if args.json:
        _emit_json(out, report)
        return
    out.write(f"usage of {root.id} over {sessions} session(s): {format_tokens(total)}, {format_cost(total)}\n")
    for title, table in (("model", by_model), ("source", report["by_source"]), ("run", report["by_run"])):
        out.write(f"by {title}:\n")
        for key, row in table.items():
            tokens = format_tokens(row["total_tokens"], estimated_tokens=row["estimated_tokens"])
            cost = format_cost(row["estimated_cost_usd"], unpriced_tokens=row["unpriced_tokens"])
            out.write(f"  {_clean(str(key)):<36} {tokens:>28}  {cost}\n")


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
        exported = _framework_export(store, session, args.format)
        text = json.dumps(exported, indent=2, ensure_ascii=False, default=str) + "\n"
    if args.output == "-":
        out.write(text)
        return
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", 1) from exc


def _framework_export(store: SessionStore, session: Session, fmt: str) -> list[Any]:
    """``a2a_session_integrations.<fmt>.export_events(store, session_id)``, or a CliError (exit 2).

    The adapters sit above the core: the CLI finds their public ``export_events`` by name
    at run time (LangChain: ``messages_to_dict`` dicts; LlamaIndex: ``ChatMessage`` dicts).
    """
    try:
        adapter = importlib.import_module(f"a2a_session_integrations.{fmt}")
    except ImportError as exc:  # MissingDependencyError too: its message has the pip line
        raise CliError(f"--format {fmt} needs its adapter and framework: {exc}", 2) from exc
    export = getattr(adapter, "export_events", None)
    if not callable(export):
        raise CliError(f"--format {fmt}: a2a_session_integrations.{fmt} has no export_events", 2)
    exported: list[Any] = export(store, session.id)
    return exported


def _validation_text(exc: ValidationError) -> str:
    """Pydantic's error as one line: the first failing field and why (and how many more)."""
    errors = exc.errors()
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _bad_line(name: str, number: int, why: str) -> CliError:
    return CliError(f"{name} line {number}: {why}; expected a file written by `export --format jsonl`", 1)


def _read_export(fh: TextIO, name: str) -> tuple[dict[str, Any], list[SessionRun], list[SessionEvent]]:
    """The session header, runs and events of an export, or a one-line ``CliError`` (exit 1)."""
    header: dict[str, Any] | None = None
    runs: list[SessionRun] = []
    events: list[SessionEvent] = []
    number = 0
    try:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _bad_line(name, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
            except RecursionError as exc:
                raise _bad_line(name, number, "JSON nested too deeply") from exc
            if not isinstance(item, dict):
                raise _bad_line(name, number, f"a JSON {type(item).__name__}, not an object")
            kind = item.get("type")
            if kind == "session":
                if header is not None:
                    raise _bad_line(name, number, "a second session line (one file holds one session)")
                header, raw_runs = item.get("header"), item.get("runs", [])
                if not isinstance(header, dict) or not isinstance(raw_runs, list):
                    raise _bad_line(name, number, "the session line needs a 'header' object and a 'runs' list")
                try:
                    check_session_id(header.get("id"))
                except InvalidSessionIdError as exc:
                    raise _bad_line(name, number, str(exc)) from exc
                try:
                    runs = [SessionRun.model_validate(r) for r in raw_runs]
                except ValidationError as exc:
                    raise _bad_line(name, number, f"invalid run ({_validation_text(exc)})") from exc
            elif kind == "event":
                try:
                    events.append(SessionEvent.model_validate(item.get("event")))
                except ValidationError as exc:
                    raise _bad_line(name, number, f"invalid event ({_validation_text(exc)})") from exc
            else:
                raise _bad_line(name, number, 'each line needs "type": "session" or "event"')
    except UnicodeDecodeError as exc:
        raise CliError(f"{name} line {number + 1}: not UTF-8 text ({exc.reason})", 1) from exc
    if header is None:
        raise CliError(f"{name}: no session line (was it written by `export --format jsonl`?)", 1)
    return header, runs, events


def _cmd_import(store: SessionStore, args: argparse.Namespace, out: TextIO) -> None:
    if args.new_id is not None:
        try:
            check_session_id(args.new_id)
        except InvalidSessionIdError as exc:
            raise CliError(f"--id: {exc}", 2) from exc
    name = "stdin" if args.file == "-" else args.file
    try:
        fh = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}", 1) from exc
    with fh:
        header, runs, events = _read_export(fh, name)
    header = dict(header)
    if args.new_id is not None:
        header["id"] = args.new_id
    try:
        session = codec.build_session(header, [], runs, [])
    except CorruptSessionError as exc:
        why = _validation_text(exc.__cause__) if isinstance(exc.__cause__, ValidationError) else str(exc)
        raise CliError(f"{name}: invalid session header ({why})", 1) from exc
    for event in events:
        event.seq = None
        session.add_event(event)
    store.save(session)
    result = {"id": session.id, "events": store.count_events(session.id)}
    if args.json:
        _emit_json(out, result)
    else:
        out.write(f"imported {_clean(session.id)}: {result['events']} events\n")


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
