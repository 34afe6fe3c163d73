"""The real ``a2a-sessions`` entry point, run in a subprocess against SQLite, file and Redis stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from a2a_session_manager import Session, SessionEvent, SessionRun, create_session_store
from a2a_session_manager.messages import make_message_event, make_tool_call_event

from tests.conftest import CLUSTER, server_url_for, store_url

ENTRY = shutil.which("a2a-sessions", path=str(Path(sys.executable).parent))


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert ENTRY is not None, "the a2a-sessions entry point is not installed in the venv"
    return subprocess.run(
        [ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        stdin=None if stdin else subprocess.DEVNULL,
    )


@pytest.fixture(params=["sqlite", "file", "redis", CLUSTER])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = str(request.param)
    return store_url(kind, tmp_path, server_url_for(kind, request.getfixturevalue))


@pytest.fixture
def populated(url: str) -> dict[str, str]:
    """A root with a run, a tool call and priced usage, and one child segment."""
    store = create_session_store(url)
    root = Session(id="conv-1")
    run = SessionRun()
    run.mark_running()
    root.runs.append(run)
    root.add_event(make_message_event("user", "weather in Oslo?", task_id=run.id))
    ask = make_message_event(
        "assistant", "", tool_calls=[{"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}], task_id=run.id
    )
    root.add_event(ask)
    root.add_event(make_tool_call_event("weather", {"city": "Oslo"}, "c1", result="4 °C", parent_event_id=ask.id))
    root.add_event(
        SessionEvent.create_with_tokens(
            message="4 °C in Oslo.",
            prompt="weather in Oslo?",
            completion="4 °C in Oslo.",
            model="gpt-4o",
            task_id=run.id,
        )
    )
    run.mark_completed()
    store.save(root)
    child = Session(id="conv-1.seg2", parent_id=root.id)
    child.add_event(
        SessionEvent.create_with_tokens(message="later", prompt="hi", completion="later", model="my-local-llm")
    )
    store.save(child)
    store.save(Session(id="other"))
    store.close()
    return {"url": url, "root": root.id, "child": child.id, "run": run.id}


def test_list_paginates_and_filters(populated: dict[str, str]) -> None:
    url = populated["url"]
    proc = run_cli("--store", url, "--json", "list", "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    page = json.loads(proc.stdout)
    assert page["total"] == 3 and [s["id"] for s in page["sessions"]] == ["conv-1", "conv-1.seg2"]
    proc = run_cli("--store", url, "--json", "list", "--prefix", "oth")
    assert [s["id"] for s in json.loads(proc.stdout)["sessions"]] == ["other"]
    human = run_cli("--store", url, "list", "--limit", "1")
    assert "conv-1" in human.stdout and "next: --page 2" in human.stdout


def test_show_prints_transcript_with_tool_calls(populated: dict[str, str]) -> None:
    proc = run_cli("--store", populated["url"], "show", populated["root"])
    assert proc.returncode == 0, proc.stderr
    assert "weather in Oslo?" in proc.stdout
    assert 'weather({"city": "Oslo"})' in proc.stdout
    assert "[weather]" in proc.stdout and "4 °C" in proc.stdout
    data = json.loads(run_cli("--store", populated["url"], "--json", "show", populated["root"]).stdout)
    assert [e["role"] for e in data["events"]] == ["user", "assistant", "tool", "assistant"]
    assert data["child_ids"] == [populated["child"]]


def test_tree_and_usage_span_segments(populated: dict[str, str]) -> None:
    tree = json.loads(run_cli("--store", populated["url"], "--json", "tree", populated["root"]).stdout)
    assert [(n["id"], n["depth"]) for n in tree] == [(populated["root"], 0), (populated["child"], 1)]
    usage = json.loads(run_cli("--store", populated["url"], "--json", "usage", populated["root"]).stdout)
    assert usage["sessions"] == 2
    assert set(usage["by_model"]) == {"gpt-4o", "my-local-llm"}
    assert usage["by_model"]["my-local-llm"]["estimated_cost_usd"] is None
    assert usage["total"]["unpriced_tokens"] == usage["by_model"]["my-local-llm"]["total_tokens"] > 0
    assert usage["total"]["estimated_cost_usd"] > 0
    assert populated["run"] in usage["by_run"]
    only_root = json.loads(
        run_cli("--store", populated["url"], "--json", "usage", populated["root"], "--no-tree").stdout
    )
    assert only_root["sessions"] == 1 and set(only_root["by_model"]) == {"gpt-4o"}


def test_export_import_round_trip_and_openai_format(populated: dict[str, str], tmp_path: Path) -> None:
    url = populated["url"]
    dump = tmp_path / "conv.jsonl"
    assert run_cli("--store", url, "export", populated["root"], "-o", str(dump)).returncode == 0
    proc = run_cli("--store", url, "--json", "import", str(dump), "--id", "conv-copy")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"id": "conv-copy", "events": 4}
    store = create_session_store(url)
    original, copy = store.get(populated["root"]), store.get("conv-copy")
    assert original is not None and copy is not None
    assert [e.model_dump(exclude={"seq"}) for e in copy.events] == [
        e.model_dump(exclude={"seq"}) for e in original.events
    ]
    assert [r.id for r in copy.runs] == [populated["run"]]
    store.close()
    messages = json.loads(run_cli("--store", url, "export", populated["root"], "--format", "openai").stdout)
    assert messages[1]["tool_calls"][0]["function"]["name"] == "weather"
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "4 °C"}


def test_delete_and_errors(populated: dict[str, str], tmp_path: Path) -> None:
    url = populated["url"]
    proc = run_cli("--store", url, "delete", "other")
    assert proc.returncode == 0 and "deleted other" in proc.stdout
    again = run_cli("--store", url, "delete", "other")
    assert again.returncode == 1 and "no session 'other'" in again.stderr
    missing = run_cli("--store", url, "show", "nope")
    assert missing.returncode == 1 and "no session 'nope'" in missing.stderr
    # Any printable id is valid now (API.md); a control character is not.
    bad_id = run_cli("--store", url, "show", "bad\x1b[2Jid")
    assert bad_id.returncode == 2 and "invalid session id" in bad_id.stderr and "\x1b" not in bad_id.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("{not json\n")
    bad_file = run_cli("--store", url, "import", str(garbage))
    assert bad_file.returncode == 1 and "line 1" in bad_file.stderr


def test_bad_url_and_unreachable_server_exit_non_zero(tmp_path: Path) -> None:
    bad = run_cli("--store", "ftp://x", "list")
    assert bad.returncode == 2 and "unknown store URL scheme" in bad.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = run_cli("--store", f"redis://127.0.0.1:{port}/0", "list")
    assert down.returncode == 3 and f"127.0.0.1:{port}" in down.stderr
