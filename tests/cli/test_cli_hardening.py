"""``a2a-sessions`` under bad input and hostile data, through the real entry point.

Secrets never printed, every export format, read-only commands that create nothing, paging
text, ``--last``, one-line import errors, terminal control characters escaped, and
``rediss://`` with a private CA (and client certificates) against a real TLS redis-server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from a2a_session_manager import Session, SessionEvent, TokenUsage, create_session_store
from a2a_session_manager.messages import make_message_event, make_tool_call_event

ENTRY = shutil.which("a2a-sessions", path=str(Path(sys.executable).parent))
SECRET = "Pw-7f3Zq-never-print"
# What a terminal would act on: ESC (ANSI colours, cursor moves, screen clears), CR, BEL,
# backspace, DEL, the 8-bit CSI, bidi overrides/isolates and Unicode line separators.
HOSTILE = "\x1b[31mRED\x1b[0m \x1b]0;title\x07 \r overwrite \x08 \x7f \x9b31m \u202eevil\u202c \u2066x\u2069 \u2028"
UNSAFE = ["\x1b", "\r", "\x07", "\x08", "\x7f", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069", "\u2028"]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert ENTRY is not None, "the a2a-sessions entry point is not installed in the venv"
    return subprocess.run(
        [ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("a2a-sessions: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(params=["sqlite", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return f"file://{tmp_path / 'file-store'}"


@pytest.fixture
def conversation(url: str) -> str:
    """One session with a user turn, a tool call and its result, and a priced reply."""
    store = create_session_store(url)
    session = Session(id="conv-1")
    session.add_event(make_message_event("user", "weather in Oslo?"))
    ask = make_message_event(
        "assistant", "", tool_calls=[{"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}]
    )
    session.add_event(ask)
    session.add_event(make_tool_call_event("weather", {"city": "Oslo"}, "c1", result="4 °C", parent_event_id=ask.id))
    session.add_event(make_message_event("assistant", "4 °C in Oslo."))
    store.save(session)
    store.close()
    return url


# ====================================================================== secrets
def test_help_never_shows_a_password_held_by_the_environment(tmp_path: Path) -> None:
    proc = run_cli("--help", env={"A2A_SESSIONS_STORE": f"redis://app:{SECRET}@127.0.0.1:6379/0"})
    assert proc.returncode == 0
    assert SECRET not in proc.stdout + proc.stderr
    assert "app:***@127.0.0.1" in " ".join(proc.stdout.split())
    # A % in the (percent-encoded) URL does not break argparse's help formatting.
    proc = run_cli("--help", env={"A2A_SESSIONS_STORE": "redis://app:p%40ss@127.0.0.1:6379/0"})
    assert proc.returncode == 0 and "p%40ss" not in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "store",
    [
        f"redis://app:{SECRET}@127.0.0.1:{{port}}/0?socket_timeout=0.5",  # unreachable
        f"redis://app:{SECRET}@127.0.0.1:{{port}}/0?tll=5",  # unknown parameter
        f"redis://app:{SECRET}@127.0.0.1:{{port}}/0?ttl=soon",  # bad value
        f"redis://:{SECRET}/x@127.0.0.1:{{port}}/0",  # unencoded '/' in the password
        f"ftp://app:{SECRET}@127.0.0.1:{{port}}/0",  # unknown scheme
        f"app:{SECRET}@127.0.0.1:{{port}}",  # not a URL
    ],
)
def test_cli_errors_never_show_the_store_password(store: str) -> None:
    pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = store.format(port=port)
    for proc in (run_cli("--store", url, "list"), run_cli("list", env={"A2A_SESSIONS_STORE": url})):
        assert proc.returncode in (2, 3)
        assert SECRET not in proc.stdout + proc.stderr
        _one_line_error(proc)


# ==================================================================== export formats
def test_every_export_format_works_and_reads_back_in_its_framework(conversation: str, tmp_path: Path) -> None:
    outputs = {}
    for fmt in ("jsonl", "openai", "langchain", "llamaindex"):
        proc = run_cli("--store", conversation, "export", "conv-1", "--format", fmt)
        assert proc.returncode == 0, f"{fmt}: {proc.stderr}"
        outputs[fmt] = proc.stdout
    lines = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert [line["type"] for line in lines] == ["session", "event", "event", "event", "event"]
    openai = json.loads(outputs["openai"])
    assert [m["role"] for m in openai] == ["user", "assistant", "tool", "assistant"]

    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage, messages_from_dict

    lc = messages_from_dict(json.loads(outputs["langchain"]))
    assert [type(m) for m in lc] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert isinstance(lc[1], AIMessage) and lc[1].tool_calls[0]["name"] == "weather"
    assert lc[1].tool_calls[0]["args"] == {"city": "Oslo"}
    assert isinstance(lc[2], ToolMessage) and lc[2].tool_call_id == "c1" and lc[2].content == "4 °C"
    assert lc[3].content == "4 °C in Oslo."

    from llama_index.core.llms import ChatMessage, MessageRole

    li = [ChatMessage.model_validate(m) for m in json.loads(outputs["llamaindex"])]
    assert [m.role for m in li] == [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL, MessageRole.ASSISTANT]
    assert li[0].content == "weather in Oslo?" and li[3].content == "4 °C in Oslo."
    # To a file as well.
    target = tmp_path / "lc.json"
    assert (
        run_cli("--store", conversation, "export", "conv-1", "--format", "langchain", "-o", str(target)).returncode == 0
    )
    assert json.loads(target.read_text()) == json.loads(outputs["langchain"])


def test_export_without_the_framework_is_a_one_line_error_with_the_pip_line(conversation: str) -> None:
    # The CLI finds a2a_session_integrations.<fmt>.export_events by name; with the framework
    # hidden, the adapter's import refuses and the CLI says how to install it.
    for fmt, framework, extra in (
        ("langchain", "langchain_core", "langchain"),
        ("llamaindex", "llama_index", "llamaindex"),
    ):
        code = (
            f"import sys; sys.modules[{framework!r}] = None; from a2a_session_manager.cli import main; "
            f"raise SystemExit(main(['--store', {conversation!r}, 'export', 'conv-1', '--format', {fmt!r}]))"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert f"pip install 'a2a-session-manager[{extra}]'" in _one_line_error(proc)


def test_tree_depths_and_usage_cover_grandchildren(url: str) -> None:
    store = create_session_store(url)
    try:
        usage = TokenUsage(prompt_tokens=3, completion_tokens=4, model="gpt-4o-mini")
        for sid, parent in (("r", None), ("r-b", "r"), ("r-a", "r"), ("r-a-1", "r-a")):
            session = Session(id=sid, parent_id=parent)
            session.add_event(SessionEvent(message=sid, token_usage=usage))
            store.save(session)
    finally:
        store.close()
    tree = json.loads(run_cli("--store", url, "--json", "tree", "r").stdout)
    assert [(n["id"], n["depth"]) for n in tree] == [("r", 0), ("r-a", 1), ("r-a-1", 2), ("r-b", 1)]
    text = run_cli("--store", url, "tree", "r").stdout
    assert [line.split("(")[0].rstrip() for line in text.splitlines()] == ["r", "  └─ r-a", "    └─ r-a-1", "  └─ r-b"]
    shown = json.loads(run_cli("--store", url, "--json", "usage", "r").stdout)
    assert shown["sessions"] == 4
    assert shown["total"]["total_tokens"] == 4 * 7
    assert json.loads(run_cli("--store", url, "--json", "usage", "r-a", "--no-tree").stdout)["sessions"] == 1


def test_export_to_an_unwritable_path_is_a_one_line_error(conversation: str, tmp_path: Path) -> None:
    proc = run_cli("--store", conversation, "export", "conv-1", "-o", str(tmp_path / "no" / "such" / "dir" / "x"))
    assert proc.returncode == 1 and "cannot write" in _one_line_error(proc)


# ===================================================================== missing stores
READ_ONLY = [["list"], ["show", "x"], ["tree", "x"], ["usage", "x"], ["export", "x"], ["delete", "x"]]


@pytest.mark.parametrize("command", READ_ONLY, ids=[c[0] for c in READ_ONLY])
def test_read_only_commands_on_a_missing_store_fail_and_create_nothing(command: list[str], tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    for url, what in (
        ("sqlite:///typo.db", "no SQLite database"),  # relative to the working directory
        (f"sqlite:///{tmp_path / 'deep' / 'typo.db'}", "no SQLite database"),
        (f"file://{tmp_path / 'nonexistent' / 'dir'}", "no file store"),
    ):
        proc = run_cli("--store", url, *command, cwd=work)
        assert proc.returncode == 3, proc.stderr
        assert what in _one_line_error(proc) and "only `import` creates a store" in proc.stderr
    assert _tree(tmp_path) == ["cwd"]


def test_import_creates_the_store_it_is_given(conversation: str, tmp_path: Path) -> None:
    dump = tmp_path / "conv.jsonl"
    assert run_cli("--store", conversation, "export", "conv-1", "-o", str(dump)).returncode == 0
    fresh = f"sqlite:///{tmp_path / 'new' / 'fresh.db'}"
    proc = run_cli("--store", fresh, "import", str(dump))
    assert proc.returncode == 0, proc.stderr
    assert "conv-1" in run_cli("--store", fresh, "list").stdout


# ============================================================================ paging
def test_list_paging_text_counts_right_and_says_when_a_page_is_past_the_end(url: str) -> None:
    store = create_session_store(url)
    for sid in ("a", "b", "c", "d"):
        store.save(Session(id=sid))
    store.close()
    first = run_cli("--store", url, "list", "--limit", "2")
    assert first.stdout.splitlines()[-1] == "-- 1-2 of 4 sessions (page 1 of 2) (next: --page 2)"
    last = run_cli("--store", url, "list", "--limit", "2", "--page", "2")
    assert last.stdout.splitlines() == ["c  0 events", "d  0 events", "-- 3-4 of 4 sessions (page 2 of 2)"]
    past = run_cli("--store", url, "list", "--limit", "2", "--page", "5")
    assert past.returncode == 0
    assert past.stdout == "-- page 5 is past the end: 4 sessions fill 2 page(s) of 2 (last: --page 2)\n"
    data = json.loads(run_cli("--store", url, "--json", "list", "--limit", "2", "--page", "5").stdout)
    assert data == {"total": 4, "page": 5, "limit": 2, "sessions": []}
    none = run_cli("--store", url, "list", "--prefix", "zz")
    assert none.stdout == "-- no sessions with prefix 'zz'\n"
    for flag, value in (("--limit", "0"), ("--page", "0"), ("--limit", "-3"), ("--page", "x")):
        bad = run_cli("--store", url, "list", flag, value)
        assert bad.returncode == 2 and f"argument {flag}: must be a positive whole number" in bad.stderr


# ============================================================================ --last
def test_show_last_counts_from_the_end_zero_shows_the_header_and_negatives_are_refused(conversation: str) -> None:
    def rows(*extra: str) -> list[str]:
        proc = run_cli("--store", conversation, "show", "conv-1", *extra)
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stdout.splitlines() if line.startswith("#")]

    assert len(rows()) == 4
    assert [r.split()[0] for r in rows("--last", "2")] == ["#2", "#3"]
    assert len(rows("--last", "10")) == 4
    header_only = run_cli("--store", conversation, "show", "conv-1", "--last", "0")
    assert header_only.stdout.startswith("session conv-1") and header_only.stdout.count("\n") == 1
    data = json.loads(run_cli("--store", conversation, "--json", "show", "conv-1", "--last", "0").stdout)
    assert data["events"] == []
    for value in ("-1", "-5", "two"):
        bad = run_cli("--store", conversation, "show", "conv-1", "--last", value)
        assert bad.returncode == 2 and "argument --last: must be a whole number >= 0" in bad.stderr
    bad = run_cli("--store", conversation, "show", "conv-1", "--width", "0")
    assert bad.returncode == 2 and "argument --width: must be a positive whole number" in bad.stderr


# ============================================================================ import
def _export_of(session_id: str = "imp", text: str = "hi") -> list[str]:
    header = {"type": "session", "header": {"id": session_id, "parent_id": None}, "runs": []}
    event = {"type": "event", "event": SessionEvent(message=text).model_dump(mode="json")}
    return [json.dumps(header), json.dumps(event)]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["{not json"], "line 1: not valid JSON"),
        ([_export_of()[0], '{"type": "event", "event": '], "line 2: not valid JSON"),
        (["[1, 2, 3]"], "line 1: a JSON list, not an object"),
        (['"just a string"'], "line 1: a JSON str, not an object"),
        (['{"type": "other"}'], 'line 1: each line needs "type": "session" or "event"'),
        (['{"type": "session", "header": [1]}'], "line 1: the session line needs a 'header' object"),
        (['{"type": "session", "header": {"id": "x"}, "runs": {}}'], "needs a 'header' object and a 'runs' list"),
        (
            [_export_of()[0], '{"type": "event", "event": {"timestamp": "yesterday"}}'],
            "line 2: invalid event (timestamp",
        ),
        ([_export_of()[0], '{"type": "event", "event": [1]}'], "line 2: invalid event"),
        ([_export_of()[0], _export_of()[0]], "line 2: a second session line"),
        ([_export_of()[1]], "no session line"),
        (['{"type": "session", "header": {"id": "x"}, "runs": [{"status": 5}]}'], "line 1: invalid run"),
        (['{"type": "session", "header": {"id": "x", "metadata": 7}}'], "invalid session header"),
        ([json.dumps({"type": "session", "header": {"id": ""}})], "line 1: invalid session id"),
        ([json.dumps({"type": "session", "header": {"id": "a\x1b[31mb"}})], "line 1: invalid session id"),
        ([json.dumps({"type": "session", "header": {"id": "x" * 300}})], "line 1: invalid session id"),
        ([json.dumps({"type": "session", "header": {"id": 42}})], "line 1: session id must be a str"),
        (["[" * 100_000], "line 1:"),
    ],
)
def test_import_of_a_malformed_file_is_a_one_line_error_and_stores_nothing(
    lines: list[str], expected: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    create_session_store(url).close()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli("--store", url, "import", str(bad))
    assert proc.returncode == 1
    assert expected in _one_line_error(proc)
    assert "\x1b" not in proc.stderr
    assert (
        run_cli("--store", url, "--json", "list").stdout
        and json.loads(run_cli("--store", url, "--json", "list").stdout)["total"] == 0
    )


def test_import_refuses_bad_bytes_a_missing_file_and_a_bad_new_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"type": "session"}\n\xff\xfe\x00garbage\n')
    proc = run_cli("--store", url, "import", str(binary))
    assert proc.returncode == 1 and "not UTF-8 text" in _one_line_error(proc)
    proc = run_cli("--store", url, "import", str(tmp_path / "missing.jsonl"))
    assert proc.returncode == 1 and "cannot read" in _one_line_error(proc)
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(_export_of()) + "\n", encoding="utf-8")
    for new_id in ("", "a\x07b", "x" * 300):
        proc = run_cli("--store", url, "import", str(good), "--id", new_id)
        assert proc.returncode == 2 and "--id: invalid session id" in _one_line_error(proc)
        assert "\x07" not in proc.stderr
    proc = run_cli("--store", url, "--json", "import", "-", "--id", "from-stdin", stdin=good.read_text())
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"id": "from-stdin", "events": 1}


# ================================================================= control characters
def test_control_characters_in_stored_data_never_reach_the_terminal(url: str) -> None:
    store = create_session_store(url)
    root = Session(id="hostile")
    root.add_event(make_message_event("user", HOSTILE))
    ask = make_message_event(
        "assistant", HOSTILE, tool_calls=[{"id": "c1", "name": "t\x1b[2Jool", "arguments": {"x": HOSTILE}}]
    )
    root.add_event(ask)
    root.add_event(make_tool_call_event("t\x1b[2Jool", {"x": HOSTILE}, "c1", result=HOSTILE, parent_event_id=ask.id))
    usage = TokenUsage(prompt_tokens=3, completion_tokens=4, total_tokens=7, model="m\x1b[2J\r\u202eodel")
    root.add_event(SessionEvent(message=HOSTILE, token_usage=usage, metadata={"note": HOSTILE}))
    store.save(root)
    store.save(Session(id="child-of-hostile", parent_id="hostile"))
    store.close()

    commands = [
        ["list"],
        ["show", "hostile"],
        ["show", "hostile", "--width", "1000"],
        ["tree", "hostile"],
        ["usage", "hostile"],
        *(["export", "hostile", "--format", fmt] for fmt in ("jsonl", "openai", "langchain", "llamaindex")),
    ]
    for command in commands:
        for json_flag in ([], ["--json"]):
            proc = run_cli("--store", url, *json_flag, *command)
            assert proc.returncode == 0, f"{command}: {proc.stderr}"
            leaked = [c for c in UNSAFE if c in proc.stdout + proc.stderr]
            assert not leaked, f"{json_flag + command} printed {leaked!r}"
    # The escapes are JSON escapes: machine-readable output still holds the exact text.
    exported = run_cli("--store", url, "export", "hostile").stdout.splitlines()
    assert json.loads(exported[1])["event"]["message"]["content"] == HOSTILE
    shown = json.loads(run_cli("--store", url, "--json", "usage", "hostile").stdout)
    assert list(shown["by_model"]) == ["m\x1b[2J\r\u202eodel"]
    text = run_cli("--store", url, "show", "hostile", "--width", "1000").stdout
    assert "\\u001b[31mRED" in text and "\\u202eevil" in text


# ================================================================== TLS (private CA)
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A throwaway redis-server speaking only TLS, its certificate signed by a private CA,
    requiring a password and a client certificate from that CA."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("TLS test needs redis-server and openssl on PATH")
    pytest.importorskip("redis")
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=a2a test CA", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", "san.cnf", cwd=d)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt",
         "--tls-auth-clients", "yes", "--requirepass", SECRET, "--save", "", "--appendonly", "no", "--dir", str(d)],
        cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("could not start a TLS redis-server (built without TLS?)")
            time.sleep(0.05)
        yield port, d
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_rediss_url_with_a_private_ca_and_client_certificate_works_from_the_cli(
    tls_server: tuple[int, Path], tmp_path: Path
) -> None:
    port, d = tls_server
    certs = f"ssl_ca_certs={d / 'ca.crt'}&ssl_certfile={d / 'client.crt'}&ssl_keyfile={d / 'client.key'}"
    url = f"rediss://:{SECRET}@127.0.0.1:{port}/0?prefix=tls-{tmp_path.name}:&{certs}"
    dump = tmp_path / "s.jsonl"
    dump.write_text("\n".join(_export_of("over-tls", "secure hello")) + "\n", encoding="utf-8")
    proc = run_cli("--store", url, "import", str(dump))
    assert proc.returncode == 0, proc.stderr
    shown = run_cli("--store", url, "show", "over-tls")
    assert shown.returncode == 0 and "secure hello" in shown.stdout, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert run_cli("--store", url, "delete", "over-tls").returncode == 0
    # Without the private CA the server's certificate is refused; the password stays hidden.
    no_ca = f"rediss://:{SECRET}@127.0.0.1:{port}/0?socket_timeout=2&ssl_certfile={d / 'client.crt'}"
    refused = run_cli("--store", f"{no_ca}&ssl_keyfile={d / 'client.key'}", "list")
    assert refused.returncode == 3 and "certificate" in _one_line_error(refused).lower()
    assert SECRET not in refused.stdout + refused.stderr
    # A wrong password: refused, and neither password printed.
    wrong = run_cli("--store", f"rediss://:WrongPw-91x@127.0.0.1:{port}/0?{certs}", "list")
    assert wrong.returncode != 0 and "WrongPw-91x" not in wrong.stdout + wrong.stderr
    _one_line_error(wrong)


def test_cluster_flag_on_a_single_redis_server_is_a_one_line_error(redis_url: str) -> None:
    proc = run_cli("--store", f"{redis_url}?cluster=1&prefix=cli-cluster-check:", "list")
    assert proc.returncode == 3 and "cluster" in _one_line_error(proc).lower()
