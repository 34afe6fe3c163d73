"""README.md's Python blocks run, in order, as one program (the way pydantic tests its docs).

Prelude: the blocks run in a temporary working directory, so relative paths such as
``./sessions`` and ``sessions.db`` land there (the Redis block only builds a store, which
connects lazily). Nothing else is defined for them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_python_blocks() -> None:
    assert len(python_blocks()) >= 10


def test_readme_python_blocks_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from a2a_session_manager.storage import SessionStoreProvider

    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    namespace: dict[str, object] = {"__name__": "__readme__"}
    try:
        for number, code in enumerate(blocks, start=1):
            try:
                exec(compile(code, f"README.md python block {number}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README python block {number} failed: {exc!r}\n---\n{code}") from exc
    finally:
        SessionStoreProvider.reset()
    out = capsys.readouterr().out
    assert "Estimated cost: $" in out
