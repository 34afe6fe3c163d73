"""The prompts doc section runs as written, and the context-build bench's quick mode runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_doc_section_code_runs_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "sections" / "prompts.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {"__name__": "prompts_doc"}
    for block in blocks:
        exec(compile(block, "docs/sections/prompts.md", "exec"), namespace)
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
