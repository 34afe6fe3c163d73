"""``make bench``: every benchmark of the project in one go, results under ``bench/results/``.

First the store benchmark (``bench/stores.py``: ``stores.md``, ``stores.json``,
``stores.png``), then each other benchmark script in ``bench/`` as a subprocess
(``context_build.py``, ``langchain_history.py``, ``llamaindex_memory.py``,
``checkpointer.py``, ...), its output saved as ``<name>.md``. ``--quick`` passes the
scripts' own quick flag; ``--stores-only`` skips the other scripts. Exits non-zero when
any benchmark failed (the others still run).

Run: ``python bench/run.py [--quick] [--out DIR] [--stores-only]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import stores  # noqa: E402

NOT_SCRIPTS = {"run.py", "stores.py"}


def other_scripts() -> list[Path]:
    """The other benchmark scripts: ``bench/*.py`` except this one, ``stores.py`` and helpers."""
    return sorted(p for p in BENCH.glob("*.py") if p.name not in NOT_SCRIPTS and not p.name.startswith("_"))


def run_script(script: Path, out: Path, *, quick: bool, redis_url: str) -> bool:
    """Run one script, save its output as ``<out>/<name>.md``; return whether it succeeded."""
    source = script.read_text()
    cmd = [sys.executable, str(script)]
    if quick and '"--quick"' in source:
        cmd.append("--quick")
    if '"--redis-url"' in source:
        cmd += ["--redis-url", redis_url]
    print(f"== {script.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=BENCH.parent)
    elapsed = time.perf_counter() - t0
    ok = proc.returncode == 0
    doc = (source.split('"""')[1].strip().splitlines() or [""])[0] if source.startswith('"""') else script.name
    text = [
        f"# {script.name}",
        "",
        doc,
        "",
        f"Output of `python bench/{script.name}{' --quick' if '--quick' in cmd else ''}` "
        f"(run by `bench/run.py`, {elapsed:.0f} s{'' if ok else f', FAILED with exit code {proc.returncode}'}):",
        "",
        "```",
        proc.stdout.rstrip(),
        "```",
    ]
    if not ok:
        text += ["", "stderr (last lines):", "", "```", "\n".join(proc.stderr.strip().splitlines()[-30:]), "```"]
    (out / f"{script.stem}.md").write_text("\n".join(text) + "\n")
    print(proc.stdout.rstrip(), flush=True)
    if not ok:
        print(proc.stderr.strip()[-2000:], file=sys.stderr, flush=True)
    print(
        f"   {script.name}: {'ok' if ok else 'FAILED'} in {elapsed:.0f} s -> {out / (script.stem + '.md')}", flush=True
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the store benchmark, then the other scripts; return the exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (every script's quick mode)")
    parser.add_argument("--out", default=str(BENCH / "results"), help="results folder")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--stores-only", action="store_true", help="only bench/stores.py")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    argv_stores = ["--out", str(out), "--redis-url", args.redis_url] + (["--quick"] if args.quick else [])
    print("== stores.py", flush=True)
    failed = [] if stores.main(argv_stores) == 0 else ["stores.py"]
    if not args.stores_only:
        for script in other_scripts():
            if not run_script(script, out, quick=args.quick, redis_url=args.redis_url):
                failed.append(script.name)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all benchmarks done; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
