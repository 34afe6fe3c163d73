"""Every script in examples/ runs offline and exits 0, and the README lists exactly them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def test_readme_lists_every_example_and_only_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Examples", 1)[1].split("\n## ", 1)[0]
    listed = sorted(set(re.findall(r"`([A-Za-z0-9_]+\.py)`", section)))
    assert listed == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = dict(os.environ)
    env["A2A_DEMO_DIR"] = str(tmp_path)
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"{name} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    assert proc.stdout.strip(), f"{name} printed nothing"
