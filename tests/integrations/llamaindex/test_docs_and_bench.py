"""The README's LlamaIndex section runs as written, and the bench's quick mode runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.readme import python_blocks, readme_section

ROOT = Path(__file__).resolve().parents[3]


def test_doc_section_code_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(readme_section("## LlamaIndex"))
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md (LlamaIndex)", "exec"), namespace)


def test_bench_quick_mode_runs(redis_url: str) -> None:
    pytest.importorskip("llama_index.storage.chat_store.redis", reason="bench extra not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "llamaindex_memory.py"), "--quick", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "SessionMemory.get (SQLite)" in done.stdout and "llama-index RedisChatStore" in done.stdout
