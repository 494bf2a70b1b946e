""".github/CODEOWNERS covers the workflows (pr.yml's prod gate), the gate's own code and every
folder prod's Flux render reads (derived: offline/prod_changes.py `render_inputs`), so a pull
request cannot edit the gate or change prod without a code owner's review.

GitHub's rules (docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/
customizing-your-repository/about-code-owners): gitignore-like patterns, a leading `/` anchors at
the repository root, a trailing `/` matches everything below, `*` any characters but `/`; the last
matching pattern wins. The matcher below implements that subset and refuses any other shape."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from offline import prod_changes

ROOT = Path(__file__).resolve().parent.parent
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"


def rules(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, *owners = line.split()
        assert pattern.startswith("/") and "**" not in pattern and "\\" not in pattern, pattern
        found.append((pattern, owners))
    return found


def _matches(pattern: str, path: str) -> bool:
    parts = pattern.strip("/").split("/")
    segments = path.split("/")
    if pattern.endswith("/"):  # a folder: everything below it
        return len(segments) > len(parts) and all(
            fnmatch.fnmatchcase(s, p) for s, p in zip(segments, parts, strict=False)
        )
    return len(segments) == len(parts) and all(
        fnmatch.fnmatchcase(s, p) for s, p in zip(segments, parts, strict=True)
    )


def owners(path: str, text: str) -> list[str]:
    """The owners of `path`: those of the last matching pattern (none when nothing matches)."""
    found: list[str] = []
    for pattern, who in rules(text):
        if _matches(pattern, path):
            found = who
    return found


def test_the_matcher_follows_githubs_rules() -> None:
    text = "/k8s/          @a\n/k8s/apps/stages/staging/\n/k8s/clusters/prod-*/ @b\n/Makefile @c\n"
    assert owners("k8s/flux/zone/apps.yaml", text) == ["@a"]
    assert owners("k8s/apps/stages/staging/pins/x/kustomization.yaml", text) == []  # last wins
    assert owners("k8s/clusters/prod-us/zone/kustomization.yaml", text) == ["@b"]
    assert owners("k8s/clusters/prod-us", text) == ["@a"]  # the folder pattern is below it
    assert owners("Makefile", text) == ["@c"] and owners("sub/Makefile", text) == []
    assert owners("docs/ci.md", text) == []


def test_codeowners_exists_with_one_configurable_owner() -> None:
    text = CODEOWNERS.read_text(encoding="utf-8")
    assert {tuple(who) for _, who in rules(text)} == {("@acme/platform-owners",)}
    assert "placeholder" in text


def _files_below(relative: str) -> list[str]:
    path = ROOT / relative
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return [p.relative_to(ROOT).as_posix() for p in files]


@pytest.fixture(scope="module")
def render_inputs() -> list[str]:
    return prod_changes.render_inputs(prod_changes.prod_clusters(ROOT), ROOT)


def test_every_file_prod_renders_has_a_code_owner(render_inputs: list[str]) -> None:
    text = CODEOWNERS.read_text(encoding="utf-8")
    assert "k8s/apps/stages/prod/pins/catalog" in render_inputs
    assert "k8s/flux/zone" in render_inputs
    files = [f for relative in render_inputs for f in _files_below(relative)]
    assert files
    assert [f for f in files if not owners(f, text)] == []


def test_the_gate_and_its_code_have_code_owners() -> None:
    text = CODEOWNERS.read_text(encoding="utf-8")
    for path in [
        ".github/CODEOWNERS",
        ".github/workflows/pr.yml",
        ".github/workflows/promote.yml",
        # What every deploy runs: the called `pulumi up` workflow and the shared stack set-up,
        # the called `stacks` workflow (the matrices of pr.yml's prod gate and of the deploy)
        # and the Python set-up it and the gate's `prod-changes` job share.
        ".github/workflows/pulumi-up.yml",
        ".github/workflows/stacks.yml",
        ".github/actions/stack-setup/action.yml",
        ".github/actions/python-venv/action.yml",
        "offline/prod_changes.py",
        "offline/gitops/render.py",
        "k8s/apps/stages/prod/pins/HOLD",  # a hold on prod: code owners too
        # A bootstrap stack file decides whether CI runs its stack at all.
        "bootstrap/Pulumi.prod-eu.yaml",
    ]:
        assert owners(path, text), path


def test_staging_only_changes_need_no_code_owner(render_inputs: list[str]) -> None:
    """Renovate's staging pins merge without the prod owners (staging proves them first)."""
    text = CODEOWNERS.read_text(encoding="utf-8")
    staging_pin = "k8s/apps/stages/staging/pins/catalog/kustomization.yaml"
    assert (ROOT / staging_pin).is_file()
    assert not owners(staging_pin, text)
    assert not any(r.startswith("k8s/apps/stages/staging") for r in render_inputs)
