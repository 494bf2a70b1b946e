"""The repository stands on its own: its docs cite only what it contains, and nothing but the
refresh of the offline references (`make refresh-refs`) reads outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from offline.engine import REPO_ROOT

TRACKED = [
    REPO_ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
]
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".json", ".mk", ".toml", ".txt", ".sh", ""}
TEXT_FILES = [
    p
    for p in TRACKED
    if p.suffix in TEXT_SUFFIXES and p.is_file() and "offline/refs" not in p.as_posix()
]
MARKDOWN = [p for p in TEXT_FILES if p.suffix == ".md"]
# The only files that may read the design inputs outside the repository.
REFRESH_FILES = {"scripts/refresh_offline_refs.py", "mk/refresh-refs.mk"}
SELF = Path(__file__).relative_to(REPO_ROOT).as_posix()

_OUTSIDE_DESIGN = re.compile(r"\bDESIGN(\.md|\s+(§|section\s+)?\d)")
_OUTSIDE_TREE = re.compile(r"\.\./shared|/work/shared")  # the inputs `make refresh-refs` reads
_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")


def _rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def outside_design_citations(path: Path) -> list[str]:
    return [
        f"{_rel(path)}:{n}: {line.strip()}"
        for n, line in enumerate(_lines(path), 1)
        if _OUTSIDE_DESIGN.search(line)
    ]


def outside_tree_reads(path: Path) -> list[str]:
    """Lines naming the inputs outside the repository. Docs may name them only where they explain
    the refresh of the offline references; code never, except the refresh itself."""
    if _rel(path) in REFRESH_FILES or _rel(path) == SELF:
        return []
    lines = _lines(path)
    found = []
    for n, line in enumerate(lines, 1):
        if not _OUTSIDE_TREE.search(line):
            continue
        context = " ".join(lines[max(0, n - 3) : n + 2])
        if path.suffix == ".md" and re.search(r"refresh|offline/refs", context):
            continue
        found.append(f"{_rel(path)}:{n}: {line.strip()}")
    return found


def broken_links(path: Path) -> list[str]:
    return [
        f"{_rel(path)}:{n}: {target}"
        for n, line in enumerate(_lines(path), 1)
        for target in _LINK.findall(line)
        if not (path.parent / target.split("#", 1)[0]).exists()
    ]


@pytest.mark.parametrize(
    "finder", [outside_design_citations, outside_tree_reads], ids=lambda f: f.__name__
)
def test_nothing_points_outside_the_repository(finder: object) -> None:
    assert callable(finder)
    assert [hit for path in TEXT_FILES if _rel(path) != SELF for hit in finder(path)] == []


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert MARKDOWN and [hit for path in MARKDOWN for hit in broken_links(path)] == []


@pytest.mark.parametrize(
    ("finder", "text"),
    [
        (outside_design_citations, "why: see DESIGN.md"),
        (outside_design_citations, "residency (DESIGN 6)."),
        (outside_tree_reads, "schema = load('../shared/crds/x.yaml')"),
        (broken_links, "see [the design](no-such-doc.md)"),
    ],
)
def test_each_finder_catches_its_case(finder: object, text: str) -> None:
    assert callable(finder)
    probe = REPO_ROOT / "build" / "probe-self-contained.py"
    probe.parent.mkdir(exist_ok=True)
    probe.write_text(text + "\n")
    try:
        assert finder(probe)
    finally:
        probe.unlink()
