"""The repository stands on its own: its docs cite only what it contains, and nothing but the
refresh of the offline references (`make refresh-refs`) reads outside it. What the docs, comments
and docstrings cite exists: a repository path (`components/kuma/multizone.py`), a module's name
(`offline.kuma_rules.KUMA_POLICY_RULES`), a name cited in a file (`offline/kuma_rules.py`
(`KUMA_POLICY_RULES`)); and they say what a thing is, not which issue asked for it."""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import tokenize
from collections.abc import Iterator
from functools import cache
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


# "issue 9", "ISSUE 8.6", "issue 11 item 3": a request tracker this repository does not hold.
_ISSUE_NUMBER = re.compile(r"\bissues? \d+(\.\d+)*\b", re.IGNORECASE)


def issue_numbers(path: Path) -> list[str]:
    return [
        f"{_rel(path)}:{n}: {line.strip()}"
        for n, line in enumerate(_lines(path), 1)
        if _ISSUE_NUMBER.search(line)
    ]


def _markdown_prose(text: str) -> Iterator[tuple[int, str]]:
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield n, line


def _python_prose(text: str) -> Iterator[tuple[int, str]]:
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, documented) and (docstring := ast.get_docstring(node, clean=False)):
            yield from enumerate(docstring.splitlines(), node.body[0].lineno)


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of what a reader reads as prose: Markdown outside fenced blocks (a
    block shows commands and files to create), comments and docstrings of Python (not its string
    literals: tests hold made-up paths), and `#` comments of the other text files but JSON."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".md":
        yield from _markdown_prose(text)
    elif path.suffix == ".py":
        yield from _python_prose(text)
    elif path.suffix != ".json":
        for n, line in enumerate(text.splitlines(), 1):
            if "#" in line:
                yield n, line[line.index("#") :]


# A repository path with a file suffix. docs/ holds only flat `<name>.md` files: a deeper docs/
# path is an upstream project's (kumahq/kuma docs/madr/...). Not a path inside a longer one or a
# URL, nor a pattern or placeholder (`apps-*.yaml`, `Pulumi.<stack>.yaml`, `${VAR}`).
_TOP = r"(?:components|offline|tests|policy|scripts|k8s|mk|bootstrap|\.github|\.ci)"
_REPO_PATH = re.compile(
    r"(?<![\w./${<-])((?:" + _TOP + r"/[\w./-]*|docs/[\w-]+)"
    r"\.(?:py|md|ya?ml|mk|json|toml|txt|sh|mjs|lock))(?![\w*<{$-])"
)
_PACKAGES = r"(?:components|offline|policy|tests|scripts|bootstrap)"
# `offline.kuma_rules.KUMA_POLICY_RULES`; not a file name (`policy.md`).
_DOTTED = re.compile(r"(?<![\w./-])(" + _PACKAGES + r"(?:\.\w+)+)(?!\.?\w)")
_FILE_SUFFIXES = {"md", "py", "yaml", "yml", "json", "toml", "txt", "mk", "lock", "sh"}
# `offline/kuma_rules.py` (`KUMA_POLICY_RULES`), offline/engine.py `_on_plan_thread`.
_CITED = re.compile(r"(?<![\w./-])(" + _PACKAGES + r"/[\w/]+\.py)`?\s\(?`([A-Za-z_]\w*)(?:\.\w+)*`")


@cache
def _top_level_names(module: Path) -> frozenset[str]:
    """What `import module; module.NAME` finds: its top-level definitions and imports."""
    names: set[str] = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


@cache
def _names_in_code(module: Path) -> frozenset[str]:
    """Every identifier the module's code uses or binds (definitions, names, attributes,
    arguments, keyword arguments): a name cited next to the file is one of them."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        # A config key or field alias (`allowedRegions`) the code spells as a string.
        elif isinstance(node, ast.Constant) and str(node.value).isidentifier():
            names.add(str(node.value))
    return frozenset(names)


def _dotted_problem(reference: str) -> str | None:
    """Why `package.module.NAME` names nothing here (None: it does)."""
    parts = reference.split(".")
    if parts[-1] in _FILE_SUFFIXES:
        return None
    folder = REPO_ROOT
    for i, part in enumerate(parts):
        module = folder / f"{part}.py"
        if module.is_file():
            rest = parts[i + 1 :]
            if rest and rest[0] not in _top_level_names(module):
                return f"{_rel(module)} defines no {rest[0]}"
            return None
        if not (folder / part).is_dir():
            return f"no module {'.'.join(parts[: i + 1])}"
        folder = folder / part
    return None


# `renovatebot/renovate docs/usage.md`, `pulumi/actions .github/workflows/release.yml`: a path
# right after an upstream `owner/name` is that repository's.
_UPSTREAM_REPO_BEFORE = re.compile(r"(?<![\w./-])(?P<owner>[\w.-]+)/[\w.-]+[\s:`(]+$")


def _upstream(line: str, start: int) -> bool:
    before = _UPSTREAM_REPO_BEFORE.search(line[:start])
    return before is not None and not re.fullmatch(_TOP + "|docs", before["owner"])


def stale_paths(path: Path) -> list[str]:
    return [
        f"{_rel(path)}:{n}: {m[1]} does not exist"
        for n, line in prose(path)
        for m in _REPO_PATH.finditer(line)
        if not (REPO_ROOT / m[1]).exists() and not _upstream(line, m.start())
    ]


def stale_symbols(path: Path) -> list[str]:
    found = [
        f"{_rel(path)}:{n}: {reference}: {problem}"
        for n, line in prose(path)
        for reference in _DOTTED.findall(line)
        if (problem := _dotted_problem(reference))
    ]
    found += [
        f"{_rel(path)}:{n}: {module} does not mention {name}"
        for n, line in prose(path)
        for module, name in _CITED.findall(line)
        if (REPO_ROOT / module).is_file() and name not in _names_in_code(REPO_ROOT / module)
    ]
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


def test_no_issue_numbers() -> None:
    assert [hit for path in TEXT_FILES if _rel(path) != SELF for hit in issue_numbers(path)] == []


@pytest.mark.parametrize("finder", [stale_paths, stale_symbols], ids=lambda f: f.__name__)
def test_every_cited_path_and_name_exists(finder: object) -> None:
    assert callable(finder)
    assert [hit for path in TEXT_FILES if _rel(path) != SELF for hit in finder(path)] == []


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert MARKDOWN and [hit for path in MARKDOWN for hit in broken_links(path)] == []


def _findings(finder: object, text: str) -> list[str]:
    """What `finder` reports on a throwaway Python file holding `text` (inside the repository,
    so that relative paths resolve as they do for the real files)."""
    assert callable(finder)
    probe = REPO_ROOT / "build" / f"probe-self-contained-{os.getpid()}.py"
    probe.parent.mkdir(exist_ok=True)
    probe.write_text(text + "\n")
    try:
        found: list[str] = finder(probe)
        return found
    finally:
        probe.unlink()


@pytest.mark.parametrize(
    ("finder", "text"),
    [
        (outside_design_citations, "why: see DESIGN.md"),
        (outside_design_citations, "residency (DESIGN 6)."),
        (outside_tree_reads, "schema = load('../shared/crds/x.yaml')"),
        (broken_links, "see [the design](no-such-doc.md)"),
        (issue_numbers, "# As issue 9.6 asked."),
        (issue_numbers, '"""ISSUE 8: bad input."""'),
        (stale_paths, "# Helm release `kuma` (components/kuma.py)."),
        (stale_paths, '"""The render (offline/gitops/no_such_module.py)."""'),
        (stale_paths, "# see docs/no-such-doc.md"),
        # A repository path after an in-repository folder is still ours.
        (stale_paths, "# the refresh reads offline/refs tests/no_such_test.py"),
        (stale_symbols, "# One case per rule of offline.k8s_validation.KUMA_POLICY_RULES."),
        (stale_symbols, "# offline.no_such_module.RULES"),
        (stale_symbols, "# `offline/k8s_validation.py` (`KUMA_POLICY_RULES`) encodes them."),
    ],
)
def test_each_finder_catches_its_case(finder: object, text: str) -> None:
    assert _findings(finder, text)


# What the finders must let pass: what exists, upstream paths, patterns, GitHub issue features.
@pytest.mark.parametrize(
    ("finder", "text"),
    [
        (issue_numbers, "# A failed drift check opens one GitHub issue (the issues: write token)."),
        (
            stale_paths,
            "# Helm release `kuma` (components/kuma/multizone.py); apps-*: `k8s/flux/zone/apps-*.yaml`.",
        ),
        (
            stale_paths,
            "# kumahq/kuma docs/madr/decisions/062-x.md; `bootstrap/Pulumi.<stack>.yaml`.",
        ),
        (
            stale_symbols,
            "# offline.kuma_rules.KUMA_POLICY_RULES; components.kuma; see [policy.md](policy.md).",
        ),
        (
            stale_symbols,
            "# `offline/kuma_rules.py` (`KUMA_POLICY_RULES`); `components/gke_cluster.py` (`monitoring_config`).",
        ),
        (
            stale_paths,
            "# renovatebot/renovate docs/usage.md; pulumi/actions `.github/workflows/release.yml`.",
        ),
        (stale_symbols, "# components/config_model.py (`allowedRegions`)."),
    ],
)
def test_each_finder_passes_what_exists(finder: object, text: str) -> None:
    assert _findings(finder, text) == []
