"""The core's floors as a test: every import, at the top, in a function or under TYPE_CHECKING, points down.

Floors (ARCHITECTURE.md, issue 12): 0 ground (no model), 1 the models (pure data),
2 storage and the OpenAI rendering, 3 context and accounting, 4 the faces. A module may
import its own floor or a lower one; the core imports no adapter, except that the CLI
finds an export format by the public name ``a2a_session_integrations.<fmt>.export_events``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = {
    "a2a_session_manager": ROOT / "core" / "a2a_session_manager",
    "a2a_session_integrations": ROOT / "a2a_session_integrations",
}
FLOORS = {
    **dict.fromkeys(("exceptions", "_ids", "_optional", "_redact", "_parts", "pricing", "tokens"), 0),
    "models": 1,
    **dict.fromkeys(("storage", "messages"), 2),
    **dict.fromkeys(("prompts", "infinite_conversation", "session_aware_tool_processor", "usage", "display"), 3),
    "session_prompt_builder": 3,
    **dict.fromkeys(("cli", "testing"), 4),  # faces: the CLI, and the store conformance kit
    "": 5,  # the package's __init__: re-exports only, imported by nobody in the core
}
# Loops allowed inside one package: a model's _repr_html_ imports models._html lazily.
LOOP_PACKAGES = ("a2a_session_manager.models",)


def module_name(path: Path) -> str:
    for name, base in ROOTS.items():
        if path.is_relative_to(base):
            parts = [name, *path.relative_to(base).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(path)


MODULES = {module_name(p): p for base in ROOTS.values() for p in sorted(base.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module of ours ``path`` imports, wherever the import statement sits."""
    mod, is_pkg = module_name(path), path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = mod.split(".")[: None if is_pkg else -1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule pkg.sub when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t.split(".")[0] in ROOTS]
    return found


def floor(module: str) -> int:
    rest = module.removeprefix("a2a_session_manager").lstrip(".")
    return FLOORS.get(rest.split(".")[0], -1)


CORE = {m: p for m, p in MODULES.items() if m.split(".")[0] == "a2a_session_manager"}
EDGES = {(m, t, line) for m, p in CORE.items() for t, line in imports(p) if t != m}


def test_every_core_module_has_a_floor() -> None:
    assert [m for m in CORE if floor(m) < 0] == []


def test_core_imports_point_to_the_same_or_a_lower_floor() -> None:
    upward = sorted(
        f"{src}:{line} imports {dst}" for src, dst, line in EDGES if dst in CORE and floor(dst) > floor(src)
    )
    assert upward == []


def test_core_modules_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in CORE}
    for src, dst, _ in EDGES:
        if dst in CORE:
            graph[src].add(dst)
    loops = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    loops = [c for c in loops if not all(m.startswith(LOOP_PACKAGES) for m in c)]
    assert loops == []


def test_core_imports_no_adapter_and_names_only_public_export_functions() -> None:
    assert sorted(f"{s}:{line} imports {d}" for s, d, line in EDGES if d.startswith("a2a_session_integrations")) == []
    named = [
        (module, node.value)
        for module, path in CORE.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "a2a_session_integrations." in node.value
    ]
    # Only the CLI names an adapter module, and only a package's public face, never a private module.
    refused = [(m, v) for m, v in named if m != "a2a_session_manager.cli" or "._" in v]
    assert refused == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            out.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return out
