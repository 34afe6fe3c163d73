"""What ``make demo`` prints about money, estimates and LLM calls reads the same as the CLI and the views."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_never_prices_unpriced_tokens_at_zero_and_shows_llm_calls_as_lines(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["A2A_DEMO_DIR"] = str(tmp_path)
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    # The mock LLM's tokens have no price: never "$0.000000", always counted as unpriced.
    assert not re.search(r"\$0\.0+\b(?! \+)", out), "a group without a price is shown as $0"
    report = next(line for line in out.splitlines() if "prices as of" in line)
    assert re.search(r"~[\d,]+ tokens \([\d,]+ estimated\), \$0\.\d+ \+ [\d,]+ unpriced tokens", report), report
    assert re.search(r"by model\s+unknown\s+~[\d,]+ tokens \(estimated\)\s+[\d,]+ unpriced tokens$", out, re.M)
    # LLM call records: one readable line in the core's transcript and in `a2a-sessions show`, never raw JSON.
    assert '"kind"' not in out and "llm_call" not in out
    assert len(re.findall(r"LLM call · \S+ · \d+ messages in", out)) >= 4
    assert "calls convert_eur_to_nok(" in out
