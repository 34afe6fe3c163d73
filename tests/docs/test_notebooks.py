"""Every notebook in notebooks/ runs top to bottom, offline, on this venv's Python, and renders its displays.

Each notebook runs in a fresh kernel (this interpreter, through a kernelspec written under
``tmp_path``, so no other Python installed on the machine is picked up), with ``TMPDIR``
pointing into ``tmp_path``: whatever the notebooks write lands there, never in the repo.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "a2a-session-manager-test"
CELL_TIMEOUT_S = 120


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def _mime(nb: Any, kind: str) -> list[Any]:
    return [out["data"][kind] for out in _outputs(nb) if kind in out.get("data", {})]


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernelspec that runs ipykernel on this very interpreter (the venv's)."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "a2a-session-manager tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def run_notebook(name: str, tmp_path: Path, kernel_specs: KernelSpecManager) -> Any:
    """Execute a notebook in a fresh kernel and return it with its outputs."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ)
    env.update({"TMPDIR": str(scratch), "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    env.pop("PYTHONWARNINGS", None)
    km = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False, resources={"metadata": {"path": str(tmp_path)}}
    )
    # cleanup_kc: shut the kernel down and close its channels even though we made the manager.
    client.execute(env=env, cleanup_kc=True)  # raises CellExecutionError (naming the cell) on any error
    return nb


def test_there_are_the_five_tour_notebooks() -> None:
    assert [n[:2] for n in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code"
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} was committed with outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_and_writes_only_to_a_temp_dir(
    name: str, tmp_path: Path, kernel_specs: KernelSpecManager
) -> None:
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    nb = run_notebook(name, tmp_path, kernel_specs)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    # The notebook's store lives in the temp dir it made, and nothing new appeared beside the notebooks.
    assert any(p.suffix == ".db" for p in (tmp_path / "tmp").rglob("*")), f"{name} wrote no store under TMPDIR"
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before
    if name.startswith("01"):
        html = _mime(nb, "text/html")
        transcripts = [h for h in html if "<b>Session</b> <code>weather-chat</code>" in h]
        assert transcripts, "the quickstart's session transcript did not render as HTML"
        assert "get_weather" in transcripts[0] and "<details>" in transcripts[0]
        assert any("<b>Token usage</b>" in h for h in html) and any("<b>Run</b>" in h for h in html)
    if name.startswith("05"):
        charts = _mime(nb, "image/png")
        assert len(charts) >= 2, "the usage charts did not render"
        assert all(len(png) > 10_000 for png in charts)  # base64 of a real plot, not an empty figure
