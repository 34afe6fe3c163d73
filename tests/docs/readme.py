"""Read one section of README.md (the single source of the docs), for tests of its snippets."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_section(heading: str) -> str:
    """Return the README text under ``heading`` (e.g. ``"## LangGraph"``), up to the next heading
    of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    out, fence = [], False
    for line in lines[start + 1 :]:
        if line.startswith("```"):
            fence = not fence
        match = re.match(r"^(#+) ", line)
        if not fence and match and len(match.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of ``text``, in order."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)
