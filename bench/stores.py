"""Benchmark: our four stores beside the raw operation each stands on, the original 0.1.3
and the stores of LangChain, LlamaIndex and the OpenAI Agents SDK (issue 3, item 4).

Workloads, in one run on one machine:

* **append**: one session grows to N = 100, 1,000 and 10,000 messages, one append at a
  time (µs per append; each system builds its own message object inside the timing);
* **load**: a fresh handle (new store object) opens and reads a 10,000-message session
  as native objects; for our stores, beside decoding the same stored records raw
  (read the lines / rows / list and ``json.loads`` each);
* **threads**: 8 threads × 250 appends to one session; **processes**: 4 processes ×
  250. Lost = expected − what a fresh handle finds afterwards; errors = exceptions the
  callers saw.

Each cell is the median of 3 repetitions; the order of the systems rotates every
repetition. An append cell predicted (T ∝ N^k, k fitted on the two smaller sizes) to
take over 60 s is skipped and its prediction shown, marked ``~``; a cell whose first
repetition takes over 30 s is not repeated (marked ``1 run``).

The original a2a-session-manager 0.1.3 shares our import name, so it runs in its own
venv (``bench/.orig-venv``, created on first use from PyPI) via ``bench/orig/run_orig.py``.
Redis: ``REDIS_URL`` or 127.0.0.1:6379 db 0; every key carries a fresh per-run prefix
and exactly those keys are deleted at the end (never FLUSHDB). Files go to a temporary
folder.

Run: ``python bench/stores.py [--quick] [--out DIR]`` (``make bench`` runs it through
``bench/run.py``). ``--quick``: small N, 1 repetition, only our stores and the raw floors.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import _corpus  # noqa: E402
import _harness  # noqa: E402
from _systems import FLOOR, SYSTEMS, Location, System  # noqa: E402

warnings.filterwarnings("ignore", message=".*langchain-community.*is being sunset.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")

ORIG_VENV = BENCH / ".orig-venv"
ORIG_SCRIPT = BENCH / "orig" / "run_orig.py"
ORIG_VERSION = "0.1.3"
SIZES = (100, 1_000, 10_000)
CAP_SECONDS = 60.0
STEADY_ROUNDS = 40
"""Rounds of the alternating-blocks workload (each: one block to each session)."""
STEADY_BLOCK = 25
"""Appends per block in the alternating-blocks workload."""
SLOW_CELL_SECONDS = 30.0
PACKAGES = (
    "pydantic",
    "redis",
    "langchain-core",
    "langchain-community",
    "SQLAlchemy",
    "llama-index-core",
    "llama-index-storage-chat-store-redis",
    "openai-agents",
    "matplotlib",
)


@dataclass
class Config:
    """What one run measures."""

    quick: bool
    sizes: tuple[int, ...]
    load_n: int
    thread_writers: int
    process_writers: int
    per_writer: int
    reps: int
    out: Path
    redis_url: str | None
    only: set[str] | None = None
    workloads: tuple[str, ...] = ("append", "steady", "load", "threads", "procs")

    @classmethod
    def make(cls, args: argparse.Namespace) -> Config:
        quick = bool(args.quick)
        return cls(
            quick=quick,
            sizes=tuple(int(x) for x in args.sizes.split(",")) if args.sizes else (50, 200) if quick else SIZES,
            load_n=args.load_n or (200 if quick else 10_000),
            thread_writers=8,
            process_writers=4,
            per_writer=args.per_writer or (20 if quick else 250),
            reps=1 if quick else int(args.reps),
            out=Path(args.out),
            redis_url=args.redis_url,
            only=set(args.only.split(",")) if args.only else None,
            workloads=tuple(args.workloads.split(",")) if args.workloads else cls.workloads,
        )


@dataclass
class Run:
    """State of one benchmark run: scratch folder, Redis prefix, results."""

    cfg: Config
    root: Path
    prefix: str
    systems: list[System]
    skipped: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    cells: int = 0

    def location(self, system: System) -> Location:
        self.cells += 1
        cell = f"c{self.cells}"
        directory = self.root / cell
        directory.mkdir()
        url = self.cfg.redis_url if system.backend == "redis" else None
        return Location(directory, "bench-session", url, f"{self.prefix}{cell}:")

    def cleanup(self, loc: Location) -> None:
        shutil.rmtree(loc.directory, ignore_errors=True)
        if loc.redis_url:
            delete_keys(loc.redis_url, loc.prefix)


def delete_keys(url: str, prefix: str) -> int:
    """Delete the keys starting with ``prefix`` (SCAN, never KEYS or FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        escaped = "".join("\\" + c if c in "\\*?[]" else c for c in prefix)
        keys = list(client.scan_iter(match=escaped + "*", count=1000))
        for lo in range(0, len(keys), 500):
            client.delete(*keys[lo : lo + 500])
        return len(keys)
    finally:
        client.close()


def redis_reachable(url: str) -> str | None:
    """None when the server answers PING, else why not."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# ======================================================================== original
def ensure_orig_venv(log: Callable[[str], None]) -> Path:
    """Create ``bench/.orig-venv`` with a2a-session-manager 0.1.3 from PyPI if needed; return its python."""
    python = ORIG_VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), str(ORIG_SCRIPT), "--version"], capture_output=True, text=True)
        if probe.returncode == 0 and json.loads(probe.stdout)["version"] == ORIG_VERSION:
            return python
        shutil.rmtree(ORIG_VENV)
    log(f"creating {ORIG_VENV} (a2a-session-manager=={ORIG_VERSION} redis from PyPI)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(ORIG_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"a2a-session-manager=={ORIG_VERSION}", "redis"], check=True
    )
    return python


def run_orig(run: Run, system: System, op: str, loc: Location, **spec: Any) -> dict[str, Any]:
    """Run one cell of the original in its own venv; return its JSON result."""
    python = ORIG_VENV / "bin" / "python"
    full = {"op": op, "store": system.orig_store, "sid": loc.sid, "dir": str(loc.directory)}
    full.update(redis_url=loc.redis_url, prefix=loc.prefix, **spec)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(python), str(ORIG_SCRIPT), json.dumps(full)], capture_output=True, text=True, env=env, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{system.name} {op} failed: {proc.stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ======================================================================== workloads
def rotated(items: list[System], rep: int) -> list[System]:
    k = rep % len(items) if items else 0
    return items[k:] + items[:k]


def log(msg: str) -> None:
    print(msg, flush=True)


def quiesce() -> None:
    """Collect garbage before a timed cell, so a full collection of earlier cells' garbage
    (100 ms with the frameworks loaded) does not land inside it."""
    gc.collect()


@contextlib.contextmanager
def cell(run: Run, system: System) -> Iterator[tuple[Location, Any]]:
    loc = run.location(system)
    quiesce()
    try:
        target = system.target(loc) if system.target is not None else None
        yield loc, target
    finally:
        run.cleanup(loc)


def predicted(points: dict[int, float], n: int) -> tuple[float, float] | None:
    """Predict T(n) from the two largest smaller sizes (T ∝ N^k); return (seconds, k)."""
    smaller = sorted(m for m in points if m < n)
    if len(smaller) < 2:
        return None
    n0, n1 = smaller[-2], smaller[-1]
    t0, t1 = points[n0], points[n1]
    if t0 <= 0 or t1 <= 0:
        return None
    k = math.log(t1 / t0) / math.log(n1 / n0)
    return t1 * (n / n1) ** k, k


def workload_append(run: Run) -> None:
    cfg = run.cfg
    out: dict[str, dict[str, Any]] = {s.name: {} for s in run.systems}
    run.results["append"] = out
    for n in cfg.sizes:
        medians = {s.name: {m: v["median"] for m, v in out[s.name].items() if "median" in v} for s in run.systems}
        active: list[System] = []
        for s in run.systems:
            guess = predicted({int(m): t for m, t in medians[s.name].items()}, n) if not cfg.quick else None
            if guess is not None and guess[0] > CAP_SECONDS:
                out[s.name][str(n)] = {"skipped": True, "predicted_s": guess[0], "k": guess[1]}
                log(f"  append N={n:>6} {s.name:<12} skipped: ≈{guess[0]:.0f} s predicted (k={guess[1]:.2f})")
            else:
                out[s.name][str(n)] = {"runs": [], "found": []}
                active.append(s)
        for rep in range(cfg.reps):
            for s in rotated(active, rep):
                entry = out[s.name][str(n)]
                if rep > 0 and entry["runs"] and entry["runs"][0] > SLOW_CELL_SECONDS:
                    continue
                with cell(run, s) as (loc, target):
                    if target is None:
                        res = run_orig(run, s, "append", loc, n=n)
                        seconds, found = res["seconds"], res["found"]
                    else:
                        seconds = _harness.time_appends(target.handle, n)
                        found, _ = _harness.final_count(target.handle)
                entry["runs"].append(seconds)
                entry["found"].append(found)
                log(f"  append N={n:>6} {s.name:<12} rep {rep + 1}: {seconds * 1e6 / n:10.1f} µs/append")
        for s in active:
            entry = out[s.name][str(n)]
            entry["median"] = statistics.median(entry["runs"])
            entry["per_append_us"] = entry["median"] * 1e6 / n


def workload_steady(run: Run) -> None:
    """Append cost at two session lengths, measured in alternating blocks.

    Two sessions of the same system, prefilled to the smallest and the largest size,
    take turns: a block of appends to one, then a block to the other, for many rounds.
    Both see the same machine at the same moments, so the ratio of their median block
    costs is the growth of the append cost with the session's length, free of the drift
    that separate runs minutes apart pick up (on a shared machine, even the raw floors
    "grow" 1.2–2.6× between such runs). Our stores and the raw floors only.
    """
    cfg = run.cfg
    small, big = cfg.sizes[0], cfg.sizes[-1]
    rounds, block = (6, 10) if cfg.quick else (STEADY_ROUNDS, STEADY_BLOCK)
    out: dict[str, dict[str, Any]] = {}
    run.results["steady"] = out
    for s in run.systems:
        if s.target is None or s.group not in ("ours", "raw"):
            continue
        locs = [run.location(s), run.location(s)]
        handles: list[Any] = []
        try:
            for loc, n in zip(locs, (small, big), strict=True):
                target = s.target(loc)
                target.prefill(n)
                handles.append(target.handle())
            quiesce()
            times: list[list[float]] = [[], []]
            nxt = [small, big]
            for r in range(rounds):
                for k in (0, 1) if r % 2 == 0 else (1, 0):
                    handle, start = handles[k], nxt[k]
                    t0 = time.perf_counter()
                    for i in range(start, start + block):
                        handle.append(i)
                    times[k].append((time.perf_counter() - t0) / block)
                    nxt[k] += block
            entry = {
                "small_n": small,
                "big_n": big,
                "rounds": rounds,
                "block": block,
                "small_us": statistics.median(times[0]) * 1e6,
                "big_us": statistics.median(times[1]) * 1e6,
            }
            entry["ratio"] = entry["big_us"] / entry["small_us"]
            out[s.name] = entry
            log(
                f"  steady {s.name:<12} {entry['small_us']:8.1f} µs at ~{small:,}  {entry['big_us']:8.1f} µs at "
                f"~{big:,}  ratio {entry['ratio']:.2f}"
            )
        finally:
            for handle in handles:
                handle.close()
            for loc in locs:
                run.cleanup(loc)


def workload_load(run: Run) -> None:
    cfg, n = run.cfg, run.cfg.load_n
    out: dict[str, dict[str, Any]] = {}
    run.results["load"] = out
    prepared: dict[str, tuple[Location, Any]] = {}
    try:
        for s in run.systems:
            out[s.name] = {"n": n, "runs": [], "found": [], "raw_decode_runs": []}
            if s.target is not None:
                loc = run.location(s)
                target = s.target(loc)
                t0 = time.perf_counter()
                target.prefill(n)
                prepared[s.name] = (loc, target)
                log(f"  load   prefill {s.name:<12} {n} messages in {time.perf_counter() - t0:.1f} s")
        for rep in range(cfg.reps):
            for s in rotated(run.systems, rep):
                entry = out[s.name]
                if s.target is None:
                    with cell(run, s) as (loc, _):
                        res = run_orig(run, s, "load", loc, n=n)
                    seconds, found = res["seconds"], res["found"]
                else:
                    loc, target = prepared[s.name]
                    quiesce()
                    seconds, found = _harness.time_load(target.handle)
                    if hasattr(target, "raw_decode") and s.backend != "memory":
                        quiesce()
                        t0 = time.perf_counter()
                        decoded = target.raw_decode()
                        entry["raw_decode_runs"].append(time.perf_counter() - t0)
                        assert decoded == n, (s.name, decoded, n)
                entry["runs"].append(seconds)
                entry["found"].append(found)
                log(f"  load   N={n:>6} {s.name:<12} rep {rep + 1}: {seconds * 1e3:9.1f} ms")
        for entry in out.values():
            entry["median"] = statistics.median(entry["runs"])
            if entry["raw_decode_runs"]:
                entry["raw_decode_median"] = statistics.median(entry["raw_decode_runs"])
    finally:
        for loc, _ in prepared.values():
            run.cleanup(loc)


def workload_concurrent(run: Run, kind: str) -> None:
    cfg = run.cfg
    writers = cfg.thread_writers if kind == "threads" else cfg.process_writers
    expected = writers * cfg.per_writer
    out: dict[str, dict[str, Any]] = {}
    run.results[kind] = out
    systems = [s for s in run.systems if kind == "threads" or not s.in_process]
    for s in run.systems:
        if s not in systems:
            out[s.name] = {"na": "in-process store: other processes cannot share it"}
        else:
            out[s.name] = {"writers": writers, "per_writer": cfg.per_writer, "expected": expected, "runs": []}
    for rep in range(cfg.reps):
        for s in rotated(systems, rep):
            entry = out[s.name]
            if rep > 0 and entry["runs"] and entry["runs"][0]["elapsed"] > SLOW_CELL_SECONDS:
                continue
            with cell(run, s) as (loc, target):
                if target is None:
                    res = run_orig(run, s, kind, loc, writers=writers, per_writer=cfg.per_writer)
                else:
                    if kind == "threads":
                        res = _harness.run_threads(
                            target.handle, writers=writers, per_writer=cfg.per_writer, shared=s.shared_threads
                        )
                    else:
                        res = _harness.run_processes(target.handle, writers=writers, per_writer=cfg.per_writer)
                    found, read_error = _harness.final_count(target.handle)
                    res.update(found=found, read_error=read_error)
            res["lost"] = max(expected - res["found"], 0)
            entry["runs"].append(res)
            log(
                f"  {kind:<7} {s.name:<12} rep {rep + 1}: lost {res['lost']:>4}/{expected} "
                f"errors {res['errors']:>4}  {res['elapsed']:.2f} s"
                + (f"  ({res['first_error'] or res['read_error']})" if res["first_error"] or res["read_error"] else "")
            )
    for entry in out.values():
        if "runs" in entry:
            runs = entry["runs"]
            entry["lost_median"] = statistics.median(r["lost"] for r in runs)
            entry["lost_min"] = min(r["lost"] for r in runs)
            entry["lost_max"] = max(r["lost"] for r in runs)
            entry["errors_median"] = statistics.median(r["errors"] for r in runs)
            entry["elapsed_median"] = statistics.median(r["elapsed"] for r in runs)
            entry["first_error"] = next((r["first_error"] for r in runs if r["first_error"]), None)
            entry["read_errors"] = sum(1 for r in runs if r["read_error"])
            entry["read_error"] = next((r["read_error"] for r in runs if r["read_error"]), None)


# ======================================================================== targets
def _per_append(res: dict[str, Any], name: str, n: int) -> float | None:
    cellres = res.get("append", {}).get(name, {}).get(str(n), {})
    return cellres.get("per_append_us")


def targets(res: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:
    """Check the issue's targets against the measured figures."""
    lo, hi = cfg.sizes[0], cfg.sizes[-1]
    rows: list[dict[str, Any]] = []
    for backend in ("file", "sqlite", "redis"):
        name = f"ours.{backend}"
        a, b = _per_append(res, name, lo), _per_append(res, name, hi)
        if a and b:
            rows.append(
                {
                    "target": f"`{name}` append flat: µs/append N={hi:,} ÷ N={lo:,}",
                    "value": b / a,
                    "goal": 1.2,
                    "figure": f"{b:,.1f} ÷ {a:,.1f} µs",
                }
            )
            floor = FLOOR[backend]
            fa, fb = _per_append(res, floor, lo), _per_append(res, floor, hi)
            if fa and fb:
                # The same ratio for the bare backend operation in the same run: the part of
                # the growth that the machine and backend (WAL checkpoints, loopback latency) add.
                rows.append(
                    {
                        "target": f"(context) `{floor}` growth N={hi:,} ÷ N={lo:,}; `{name}` growth ÷ it",
                        "value": (b / a) / (fb / fa),
                        "goal": 1.2,
                        "figure": f"{fb:,.1f} ÷ {fa:,.1f} µs = {fb / fa:.2f}",
                    }
                )
    for backend in ("file", "sqlite", "redis"):
        entry = res.get("steady", {}).get(f"ours.{backend}")
        floor = res.get("steady", {}).get(FLOOR[backend])
        if entry:
            context = f"; `{FLOOR[backend]}` {floor['ratio']:.2f}" if floor else ""
            rows.append(
                {
                    "target": f"`ours.{backend}` append at N≈{entry['big_n']:,} ÷ at N≈{entry['small_n']:,}, "
                    "alternating blocks (steady state)",
                    "value": entry["ratio"],
                    "goal": 1.2,
                    "figure": f"{entry['big_us']:,.1f} ÷ {entry['small_us']:,.1f} µs{context}",
                }
            )
    for backend, goal in (("sqlite", 2.5), ("redis", 1.5), ("file", 4.0)):
        name, floor = f"ours.{backend}", FLOOR[backend]
        for n in cfg.sizes[1:]:
            a, b = _per_append(res, name, n), _per_append(res, floor, n)
            if a and b:
                rows.append(
                    {
                        "target": f"`{name}` append ÷ `{floor}` at N={n:,}",
                        "value": a / b,
                        "goal": goal,
                        "figure": f"{a:,.1f} ÷ {b:,.1f} µs",
                    }
                )
    for backend in ("file", "sqlite", "redis"):
        entry = res.get("load", {}).get(f"ours.{backend}")
        if entry and entry.get("raw_decode_median"):
            rows.append(
                {
                    "target": f"`ours.{backend}` load {entry['n']:,} (fresh handle) ÷ raw decode of the same records",
                    "value": entry["median"] / entry["raw_decode_median"],
                    "goal": 2.0,
                    "figure": f"{entry['median'] * 1e3:,.1f} ÷ {entry['raw_decode_median'] * 1e3:,.1f} ms",
                }
            )
    for kind in ("threads", "procs"):
        for backend in ("memory", "file", "sqlite", "redis"):
            entry = res.get(kind, {}).get(f"ours.{backend}")
            if entry and "runs" in entry:
                lost = max(r["lost"] for r in entry["runs"])
                errors = max(r["errors"] for r in entry["runs"])
                rows.append(
                    {
                        "target": f"`ours.{backend}` {kind}: lost + errors (worst rep)",
                        "value": lost + errors,
                        "goal": 0,
                        "figure": f"lost {lost}, errors {errors} of {entry['expected']}",
                    }
                )
    for row in rows:
        row["met"] = row["value"] <= row["goal"]
    return rows


# ======================================================================== output
def _dur(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds * 1e6:,.0f} µs"


def _us(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def markdown(run: Run) -> str:
    res, cfg = run.results, run.cfg
    meta = res["meta"]
    names = [s.name for s in run.systems]
    labels = {s.name: s.label for s in run.systems}
    backends = {s.name: s.backend for s in run.systems}
    lines = [
        "# Stores beside their raw floors, the original 0.1.3 and library anchors",
        "",
        f"Generated by `bench/stores.py`{' --quick' if cfg.quick else ''} on {meta['date']} "
        f"({meta['machine']}). Each cell is the median of {cfg.reps} repetition(s), system order rotated "
        "every repetition, garbage collected before each timed cell; `~` marks a prediction "
        "(T ∝ N^k fitted on the two smaller sizes) for a cell "
        f"that would have taken over {CAP_SECONDS:.0f} s; `1 run` marks a cell whose first repetition took over "
        f"{SLOW_CELL_SECONDS:.0f} s. Messages: deterministic English-like text, median "
        f"{meta['corpus']['chars_median']:.0f} characters, roles alternating user/assistant; every append builds the "
        "system's own message object. `× floor` compares with the raw operation of the same backend in the same run.",
        "",
    ]
    if run.skipped:
        lines += ["Not run: " + "; ".join(f"`{k}` ({v})" for k, v in run.skipped.items()), ""]
    if "targets" in res:
        lines += ["## Targets", "", "| target | measured | ratio / count | goal | met |", "|---|---|---|---|---|"]
        for t in res["targets"]:
            value = f"{t['value']:.2f}" if isinstance(t["value"], float) else str(t["value"])
            goal = f"≤ {t['goal']}" if t["goal"] else "0"
            lines.append(f"| {t['target']} | {t['figure']} | {value} | {goal} | {'yes' if t['met'] else '**no**'} |")
        lines.append("")
    if "append" in res:
        sizes = cfg.sizes
        lines += [
            "## Append (one message at a time, one session)",
            "",
            "| system | "
            + " | ".join(f"N={n:,}: total (µs/append)" for n in sizes)
            + f" | growth N={sizes[-1]:,}÷N={sizes[0]:,} | × floor @N={sizes[-1]:,} |",
            "|---|" + "---|" * (len(sizes) + 2),
        ]
        for name in names:
            row = res["append"][name]
            cells_ = []
            for n in sizes:
                c = row.get(str(n), {})
                if c.get("skipped"):
                    cells_.append(f"~{_dur(c['predicted_s'])} (~{_us(c['predicted_s'] * 1e6 / n)}) skipped")
                elif "median" in c:
                    lost = [n - f for f in c["found"] if f != n]
                    note = " 1 run" if len(c["runs"]) == 1 and cfg.reps > 1 else ""
                    note += f" **found {c['found']}**" if lost else ""
                    cells_.append(f"{_dur(c['median'])} ({_us(c['per_append_us'])}){note}")
                else:
                    cells_.append("-")
            first, last = row.get(str(sizes[0]), {}), row.get(str(sizes[-1]), {})
            a = first.get("per_append_us")
            b = last.get("per_append_us") or (last["predicted_s"] * 1e6 / sizes[-1] if last.get("skipped") else None)
            growth = f"{'~' if last.get('skipped') else ''}{b / a:.2f}" if a and b else "-"
            floor = FLOOR[backends[name]]
            fl = res["append"].get(floor, {}).get(str(sizes[-1]), {}).get("per_append_us")
            xf = f"{'~' if last.get('skipped') else ''}{b / fl:.1f}× `{floor}`" if b and fl and floor != name else "-"
            lines.append(f"| `{name}` {labels[name]} | " + " | ".join(cells_) + f" | {growth} | {xf} |")
        lines.append("")
    if res.get("steady"):
        any_entry = next(iter(res["steady"].values()))
        lines += [
            "## Append cost by session length (alternating blocks)",
            "",
            f"Two sessions per system, prefilled to {any_entry['small_n']:,} and {any_entry['big_n']:,} messages, "
            f"take turns: {any_entry['rounds']} rounds of {any_entry['block']} appends each, order alternating. "
            "Median µs per append over the blocks; the ratio is the growth of the append cost with the "
            "session's length, measured with both lengths side by side.",
            "",
            f"| system | µs/append at ~{any_entry['small_n']:,} | µs/append at ~{any_entry['big_n']:,} | ratio |",
            "|---|---|---|---|",
        ]
        for name in names:
            e = res["steady"].get(name)
            if e:
                lines.append(f"| `{name}` | {_us(e['small_us'])} | {_us(e['big_us'])} | {e['ratio']:.2f} |")
        lines.append("")
    if "load" in res:
        n = cfg.load_n
        lines += [
            f"## Load {n:,} messages (fresh handle: open + read all as native objects)",
            "",
            "| system | median (µs/msg) | × floor | raw decode of the same records | × raw decode | handle |",
            "|---|---|---|---|---|---|",
        ]
        for name in names:
            e = res["load"][name]
            floor = FLOOR[backends[name]]
            fl = res["load"].get(floor, {}).get("median")
            xf = f"{e['median'] / fl:.1f}× `{floor}`" if fl and floor != name else "-"
            rd = e.get("raw_decode_median")
            handle = "same in-process object" if backends[name] == "memory" else "fresh"
            xrd = f"{e['median'] / rd:.2f}" if rd else "-"
            lines.append(
                f"| `{name}` | {_dur(e['median'])} ({_us(e['median'] * 1e6 / n)}) | {xf} | "
                f"{_dur(rd) if rd else '-'} | {xrd} | {handle} |"
            )
        lines.append("")
    for kind, title in (("threads", "threads, same session"), ("procs", "processes, same session")):
        if kind not in res:
            continue
        lines += [
            f"## Concurrent appends: {title}",
            "",
            "| system | writers × msgs | expected | lost: median (min–max) | errors: median | elapsed median | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in names:
            e = res[kind][name]
            if "na" in e:
                lines.append(f"| `{name}` | - | - | n/a | - | - | {e['na']} |")
                continue
            notes = []
            if kind == "threads":
                notes.append(
                    "threads share one handle" if run_system(run, name).shared_threads else "a handle per thread"
                )
            if len(e["runs"]) == 1 and cfg.reps > 1:
                notes.append("1 run")
            if e["first_error"]:
                notes.append(f"e.g. `{e['first_error'][:120]}`")
            if e["read_errors"]:
                notes.append(
                    f"final read failed in {e['read_errors']}/{len(e['runs'])} reps: `{e['read_error'][:120]}`"
                )
            lost = f"{e['lost_median']:g} ({e['lost_min']}–{e['lost_max']})"
            if e["lost_max"] and run_system(run, name).group == "ours":
                lost = f"**{lost}**"
            lines.append(
                f"| `{name}` | {e['writers']} × {e['per_writer']} | {e['expected']} | {lost} | "
                f"{e['errors_median']:g} | {_dur(e['elapsed_median'])} | {'; '.join(notes)} |"
            )
        lines.append("")
    lines += [
        "## Environment",
        "",
        f"- Python {meta['python']} on {meta['platform']}, {meta['cpus']} CPUs; SQLite {meta['sqlite']}; "
        f"Redis server {meta.get('redis_server', 'n/a')}",
        f"- original: a2a-session-manager {meta.get('orig', {}).get('version', 'n/a')} in its own venv "
        f"(pydantic {meta.get('orig', {}).get('pydantic', 'n/a')})",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()),
        "- phase wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in meta.get("phases", {}).items()),
        "",
    ]
    return "\n".join(lines)


def run_system(run: Run, name: str) -> System:
    return next(s for s in run.systems if s.name == name)


def chart(run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res, cfg = run.results, run.cfg
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    colors = {"ours": "tab:green", "raw": "tab:gray", "orig": "tab:red", "anchor": "tab:blue"}
    styles = {"memory": ":", "file": "-", "sqlite": "--", "redis": "-."}
    ax = axes[0]
    if "append" in res:
        for s in run.systems:
            xs, ys, px, py = [], [], [], []
            for n in cfg.sizes:
                c = res["append"][s.name].get(str(n), {})
                if "per_append_us" in c:
                    xs.append(n)
                    ys.append(c["per_append_us"])
                elif c.get("skipped"):
                    px.append(n)
                    py.append(c["predicted_s"] * 1e6 / n)
            ax.plot(xs, ys, styles[s.backend], marker="o", color=colors[s.group], label=s.name, alpha=0.85)
            if px and xs:
                ax.plot([xs[-1], *px], [ys[-1], *py], ":", marker="x", color=colors[s.group], alpha=0.5)
            if xs:
                ax.annotate(s.name, (xs[-1], ys[-1]), fontsize=7, xytext=(3, 0), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("session length N (messages)")
        ax.set_ylabel("µs per append (median)")
        ax.set_title("Append cost vs session length (x: predicted)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    if "load" in res:
        names = [s.name for s in run.systems]
        vals = [res["load"][n]["median"] * 1e3 for n in names]
        ax.barh(names, vals, color=[colors[s.group] for s in run.systems])
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("ms (median, log scale)")
        ax.set_title(f"Load {cfg.load_n:,} messages with a fresh handle")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle("a2a-session-manager stores (green) vs raw floors (gray), original 0.1.3 (red), anchors (blue)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def environment(run: Run) -> dict[str, Any]:
    packages = {}
    for p in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[p] = importlib.metadata.version(p)
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()}",
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "packages": packages,
        "quick": run.cfg.quick,
        "reps": run.cfg.reps,
    }
    texts = _corpus.corpus()
    meta["corpus"] = {
        "n": len(texts),
        "chars_min": min(map(len, texts)),
        "chars_median": statistics.median(map(len, texts)),
        "chars_max": max(map(len, texts)),
    }
    if run.cfg.redis_url and any(s.backend == "redis" for s in run.systems):
        with contextlib.suppress(Exception):
            import redis

            client = redis.Redis.from_url(run.cfg.redis_url)
            meta["redis_server"] = client.info("server")["redis_version"]
            client.close()
    return meta


# ======================================================================== main
def select_systems(cfg: Config, skipped: dict[str, str]) -> list[System]:
    chosen = []
    redis_problem = redis_reachable(cfg.redis_url) if cfg.redis_url else "no Redis URL"
    for s in SYSTEMS:
        if cfg.only is not None and s.name not in cfg.only:
            continue
        if cfg.quick and s.group not in ("ours", "raw"):
            continue
        if s.backend == "redis" and redis_problem:
            skipped[s.name] = f"Redis unreachable: {redis_problem}"
            continue
        if s.needs:
            try:
                importlib.import_module(s.needs)
            except ImportError as exc:
                skipped[s.name] = f"{exc.name or s.needs} not installed (pip install -e '.[bench]')"
                continue
        chosen.append(s)
    return chosen


def render(cfg: Config) -> int:
    """Re-write stores.md and stores.png (and the targets) from an existing stores.json."""
    results = json.loads((cfg.out / "stores.json").read_text())
    meta = results["meta"]
    cfg.quick, cfg.reps = meta["quick"], meta["reps"]
    cfg.sizes = tuple(sorted(int(n) for n in next(iter(results["append"].values()))))
    cfg.load_n = next(iter(results["load"].values()))["n"]
    systems = [s for s in SYSTEMS if s.name in results["systems"]]
    run = Run(cfg, cfg.out, "", systems, results.get("skipped", {}), results)
    results["targets"] = targets(results, cfg)
    (cfg.out / "stores.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (cfg.out / "stores.md").write_text(markdown(run))
    chart(run, cfg.out / "stores.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the store benchmark; write ``stores.md``, ``stores.json`` and ``stores.png`` to ``--out``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, 1 rep, our stores and raw floors")
    parser.add_argument("--out", default=str(BENCH / "results"), help="folder for stores.md/.json/.png")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", help="comma-separated system names (debugging)")
    parser.add_argument("--sizes", help="comma-separated append sizes (debugging)")
    parser.add_argument("--load-n", type=int, help="load size (debugging)")
    parser.add_argument("--per-writer", type=int, help="appends per concurrent writer (debugging)")
    parser.add_argument("--workloads", help="comma-separated subset of append,steady,load,threads,procs (debugging)")
    parser.add_argument("--render", action="store_true", help="only re-render stores.md/.png from stores.json")
    args = parser.parse_args(argv)
    cfg = Config.make(args)
    cfg.out.mkdir(parents=True, exist_ok=True)
    if args.render:
        return render(cfg)
    skipped: dict[str, str] = {}
    systems = select_systems(cfg, skipped)
    root = Path(tempfile.mkdtemp(prefix="a2a-bench-"))
    run = Run(cfg, root, f"a2abench:{uuid.uuid4().hex[:12]}:", systems, skipped)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    try:
        if any(s.group == "orig" for s in systems):
            try:
                python = ensure_orig_venv(log)
                probe = subprocess.run([str(python), str(ORIG_SCRIPT), "--version"], capture_output=True, text=True)
                run.results["orig"] = json.loads(probe.stdout)
            except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                for s in [s for s in systems if s.group == "orig"]:
                    skipped[s.name] = f"original's venv unavailable: {exc}"
                    systems.remove(s)
        log(f"systems: {', '.join(s.name for s in systems)}" + (f"; not run: {', '.join(skipped)}" if skipped else ""))
        # Warm-up outside the timing: imports, pydantic validators, Lua scripts, schemas.
        for s in systems:
            if s.target is not None:
                with cell(run, s) as (_, target):
                    _harness.time_appends(target.handle, 5)
                    _harness.final_count(target.handle)
        # Imported modules and warm-up objects live for the whole run: keep the collector
        # from re-scanning them in every full collection (as a long-running app would).
        gc.collect()
        gc.freeze()
        for name, fn in (
            ("append", workload_append),
            ("steady", workload_steady),
            ("load", workload_load),
            ("threads", lambda r: workload_concurrent(r, "threads")),
            ("procs", lambda r: workload_concurrent(r, "procs")),
        ):
            if name not in cfg.workloads:
                continue
            log(f"== {name}")
            t0 = time.perf_counter()
            fn(run)
            phases[name] = time.perf_counter() - t0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if cfg.redis_url and any(s.backend == "redis" for s in systems):
            left = delete_keys(cfg.redis_url, run.prefix)
            if left:
                log(f"deleted {left} leftover keys under {run.prefix}")
    phases["total"] = time.perf_counter() - started
    meta = environment(run)
    meta["phases"] = phases
    if "orig" in run.results:
        meta["orig"] = run.results.pop("orig")
    run.results = {"meta": meta, **run.results}
    run.results["targets"] = targets(run.results, cfg)
    run.results["systems"] = {s.name: {"label": s.label, "backend": s.backend, "group": s.group} for s in systems}
    run.results["skipped"] = skipped
    (cfg.out / "stores.json").write_text(json.dumps(run.results, indent=1, default=str) + "\n")
    (cfg.out / "stores.md").write_text(markdown(run))
    chart(run, cfg.out / "stores.png")
    log(f"wrote {cfg.out / 'stores.md'}, stores.json, stores.png in {phases['total']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
