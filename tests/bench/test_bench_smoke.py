"""Smoke test of ``make bench``: the store benchmark's quick mode runs and loses nothing.

It runs ``bench/run.py --quick --stores-only`` in a subprocess (as ``make bench`` runs
``bench/run.py``) into ``tmp_path``. Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("ours.memory", "ours.file", "ours.sqlite", "ours.redis")
FLOORS = ("raw.list", "raw.file", "raw.sqlite", "raw.redis")


def _run_quick(out: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--stores-only", "--out", str(out)]
    return subprocess.run([*cmd, "--redis-url", redis_url], capture_output=True, text=True, timeout=240, cwd=ROOT)


def _table(md: str, heading: str) -> dict[str, str]:
    """Rows of the markdown table under ``heading``, by system name."""
    section = md.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            rows[line.split("`")[1]] = line
    return rows


def test_quick_bench_reports_every_store_and_floor_and_loses_nothing(tmp_path: Path, redis_url: str) -> None:
    proc = _run_quick(tmp_path, redis_url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "stores.md").read_text()
    for heading in (
        "## Append (",
        "## Append cost by session length",
        "## Load",
        "## Concurrent appends: threads",
        "## Concurrent appends: processes",
    ):
        assert set(_table(md, heading)) == set(OURS + FLOORS), heading
    assert (tmp_path / "stores.png").stat().st_size > 10_000
    results = json.loads((tmp_path / "stores.json").read_text())
    for kind in ("threads", "procs"):
        for name in OURS:
            entry = results[kind][name]
            if name == "ours.memory" and kind == "procs":
                assert "na" in entry
                continue
            assert [r["lost"] for r in entry["runs"]] == [0], (kind, name, entry)
            assert [r["errors"] for r in entry["runs"]] == [0], (kind, name, entry)
            assert entry["runs"][0]["found"] == entry["expected"]
    for name in OURS:
        for size, cell in results["append"][name].items():
            assert cell["found"] == [int(size)], (name, size)
        assert results["load"][name]["found"] == [results["load"][name]["n"]]
    for name in OURS + FLOORS:
        steady = results["steady"][name]
        assert steady["small_us"] > 0 and steady["big_us"] > 0, name
    assert "| target |" in md


def test_quick_bench_without_redis_skips_redis_rows_and_says_why(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) has no Redis: the Redis rows are left out, named in the report.
    proc = _run_quick(tmp_path, "redis://127.0.0.1:9/0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "stores.md").read_text()
    assert set(_table(md, "## Append (")) == {n for n in OURS + FLOORS if not n.endswith("redis")}
    assert "`ours.redis` (Redis unreachable" in md
