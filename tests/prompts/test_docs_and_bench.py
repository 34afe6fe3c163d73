"""The README's prompts section runs as written, and the context-build bench's quick mode runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.readme import python_blocks, readme_section

ROOT = Path(__file__).resolve().parents[2]


def test_doc_section_code_runs_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(readme_section("## Prompts that fit the model"))
    assert len(blocks) >= 2
    namespace: dict[str, object] = {"__name__": "prompts_doc"}
    for block in blocks:
        exec(compile(block, "README.md (Prompts)", "exec"), namespace)
    assert "essential messages" in capsys.readouterr().out  # the PromptBudgetError example printed its message


def test_bench_quick_mode_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "context_build.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "| ours.cold |" in done.stdout and "| lc.trim_messages |" in done.stdout
