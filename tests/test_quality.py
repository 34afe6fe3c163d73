"""Lint and types are tests: ruff on everything, mypy --strict on the core and the adapters."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_clean_on_core_and_integrations() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # pyproject's [tool.mypy] packages decide what is checked: both roots, never only the core.
    assert "a2a_session_integrations" in _mypy_packages()


def _mypy_packages() -> list[str]:
    packages: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]
    return packages


def test_both_packages_ship_py_typed() -> None:
    assert (ROOT / "core" / "a2a_session_manager" / "py.typed").is_file()
    assert (ROOT / "a2a_session_integrations" / "py.typed").is_file()
