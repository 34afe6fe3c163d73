"""``a2a-sessions`` shows money, estimates and LLM call records the way the Python API and HTML views do."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from a2a_session_manager import EventSource, EventType, Session, SessionEvent, TokenUsage, create_session_store
from a2a_session_manager.messages import make_message_event
from a2a_session_manager.usage import format_cost, format_tokens, summarize_tree

ENTRY = shutil.which("a2a-sessions", path=str(Path(sys.executable).parent))


def run_cli(*args: str) -> str:
    assert ENTRY is not None, "the a2a-sessions entry point is not installed in the venv"
    proc = subprocess.run([ENTRY, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A root with priced, unpriced and estimated usage and an LLM call record; a child with no price at all."""
    store_url = f"sqlite:///{tmp_path / 'money.db'}"
    store = create_session_store(store_url)
    root = Session(id="trip")
    root.add_event(make_message_event("user", "How much is 200 EUR in NOK?"))
    root.add_event(
        SessionEvent(
            message={
                "kind": "llm_call",
                "model": "my-local-llm",
                "messages": 3,
                "response": "",
                "tool_calls": [{"id": "c1", "name": "convert", "arguments": {"amount": 200}}],
            },
            source=EventSource.LLM,
            type=EventType.REFERENCE,
            token_usage=TokenUsage(prompt_tokens=52, completion_tokens=18, model="my-local-llm", origin="estimated"),
        )
    )
    root.add_event(
        make_message_event(
            "assistant",
            "2300 NOK.",
            token_usage=TokenUsage(prompt_tokens=1200, completion_tokens=30, model="gpt-4o-mini"),
        )
    )
    store.save(root)
    child = Session(id="trip.seg2", parent_id=root.id)
    child.add_event(
        SessionEvent.create_with_tokens(
            message="later", prompt="hi there", completion="later", model="my-local-llm", source=EventSource.SYSTEM
        )
    )
    store.save(child)
    store.close()
    return store_url


def test_usage_says_how_many_tokens_had_no_price_and_marks_estimates(url: str) -> None:
    store = create_session_store(url)
    root = store.get("trip")
    assert root is not None
    report = summarize_tree(root, store)
    store.close()
    assert report.unpriced_tokens > 0 and report.total_cost_usd > 0
    text = run_cli("--store", url, "usage", "trip")
    assert "$0.000000" not in text and "$0.00 " not in text
    first = text.splitlines()[0]
    assert first == f"usage of trip over 2 session(s): {format_tokens(report)}, {format_cost(report)}"
    assert re.fullmatch(r".*: ~[\d,]+ tokens \([\d,]+ estimated\), \$0\.\d+ \+ [\d,]+ unpriced tokens", first)
    local = report.by_model["my-local-llm"]
    row = next(line for line in text.splitlines() if line.strip().startswith("my-local-llm"))
    assert row.split() == ["my-local-llm", *format_tokens(local).split(), *format_cost(local).split()]
    assert row.endswith(f"{local.unpriced_tokens:,} unpriced tokens")


def test_usage_json_gives_null_and_the_unpriced_count_for_groups_without_a_price(url: str) -> None:
    data = json.loads(run_cli("--store", url, "--json", "usage", "trip"))
    local = data["by_model"]["my-local-llm"]
    assert local["estimated_cost_usd"] is None and local["unpriced_tokens"] == local["total_tokens"] > 0
    assert local["estimated_tokens"] == local["total_tokens"]
    priced = data["by_model"]["gpt-4o-mini"]
    assert priced["estimated_cost_usd"] > 0 and priced["unpriced_tokens"] == 0 and priced["estimated_tokens"] == 0
    total = data["total"]
    assert total["estimated_cost_usd"] == pytest.approx(priced["estimated_cost_usd"])
    assert total["unpriced_tokens"] == local["total_tokens"]
    # A group with tokens and no price at all: null, never 0; a partly priced one: its cost and the rest counted.
    system, llm = data["by_source"]["system"], data["by_source"]["llm"]
    assert system["estimated_cost_usd"] is None and system["unpriced_tokens"] == system["total_tokens"] > 0
    assert llm["estimated_cost_usd"] > 0 and llm["unpriced_tokens"] == 70


def test_show_prints_llm_call_records_as_one_line_and_marks_estimates(url: str) -> None:
    text = run_cli("--store", url, "show", "trip", "--width", "200")
    assert '"kind"' not in text and "llm_call" not in text
    line = next(line for line in text.splitlines() if "LLM call" in line)
    assert 'LLM call · my-local-llm · 3 messages in · calls convert({"amount":200})' in line
    assert line.endswith("(~70 tokens (estimated), unpriced)")
    priced = TokenUsage(prompt_tokens=1200, completion_tokens=30, model="gpt-4o-mini")
    assert f"(1,230 tokens, {format_cost(priced)})" in text
    data = json.loads(run_cli("--store", url, "--json", "show", "trip"))
    call = data["events"][1]
    assert call["text"].startswith("LLM call · my-local-llm")
    assert call["cost_usd"] is None and call["token_origin"] == "estimated"


def test_tree_marks_estimated_token_counts(url: str) -> None:
    text = run_cli("--store", url, "tree", "trip")
    child = next(line for line in text.splitlines() if "trip.seg2" in line)
    assert re.search(r"\(1 events, ~[\d,]+ tokens \(estimated\)\)$", child)
    data = json.loads(run_cli("--store", url, "--json", "tree", "trip"))
    assert data[1]["estimated_tokens"] == data[1]["tokens"] > 0
