"""The README guides a newcomer: contents, what A2A means, how to install this version, which store to pick."""

from __future__ import annotations

import re
from collections import Counter

from tests.docs.readme import README, readme_section

TEXT = README.read_text(encoding="utf-8")


def _headings() -> list[tuple[int, str]]:
    out, fence = [], False
    for line in TEXT.splitlines():
        if line.startswith("```"):
            fence = not fence
        match = re.match(r"^(#+) (.*)$", line)
        if match and not fence:
            out.append((len(match.group(1)), match.group(2)))
    return out


def _slug(heading: str) -> str:
    # GitHub's anchors: lower case, punctuation but "-" and "_" dropped, spaces to "-".
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors() -> set[str]:
    seen: Counter[str] = Counter()
    anchors = set()
    for _, heading in _headings():
        slug = _slug(heading)
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def test_every_link_to_a_section_points_at_a_heading() -> None:
    links = set(re.findall(r"\]\(#([^)]+)\)", TEXT))
    assert links and not links - _anchors()


def test_the_contents_list_every_top_level_section() -> None:
    contents = readme_section("## Contents")
    listed = set(re.findall(r"\]\(#([^)]+)\)", contents))
    sections = {_slug(h) for level, h in _headings() if level == 2 and h != "Contents"}
    assert sections <= listed, f"missing from ## Contents: {sorted(sections - listed)}"
    assert "Some sections build on earlier ones" in TEXT.split("## The two commands", 1)[0]


def test_the_top_says_what_a2a_means_and_where_to_install_this_version() -> None:
    top = TEXT.split("## Contents", 1)[0]
    assert "agent-to-agent" in top and "0.1.3" in top and "(#installation)" in top


def test_installation_says_how_to_install_this_version_and_keeps_the_pypi_lines() -> None:
    install = readme_section("## Installation")
    assert "only the original 0.1.3" in install and "does not provide the extra" in install
    assert "pip install '.[full]'" in install
    assert "@ git+" in install and ".whl[full]" in install
    assert "pip install 'a2a-session-manager[langchain]'" in install  # for when 0.2.0 is on PyPI


def test_storage_says_which_store_to_pick() -> None:
    choice = readme_section("## Storage Providers").split("### ", 1)[0]
    for store in ("In-memory", "SQLite", "File", "Redis", "Redis Cluster", "PostgreSQL"):
        assert f"{store}" in choice, store
    assert "the default for one machine" in choice and "tests" in choice


def test_runnable_with_message_history_is_marked_deprecated_with_our_replacements() -> None:
    section = readme_section("### A chat history for `RunnableWithMessageHistory`: a one-line swap")
    note = section.split("```", 1)[0]
    assert "Deprecated by LangChain" in note
    assert "SessionCheckpointer" in note and "SessionMiddleware" in note
