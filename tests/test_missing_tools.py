"""A tool missing from PATH is named in one line, never shown as a traceback: `kubectl` (the
render's `kubectl kustomize`, offline/gitops/kustomize.py) raises MissingTool, which no render
step turns into a render problem, and every offline command (offline/cli.py `guarded`) prints
it as one line and exits 1. The make targets check it before running (tests/test_tooling.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import cli, prerequisites
from offline.engine import REPO_ROOT
from offline.gitops import kustomize
from offline.gitops.facts import stack_facts
from offline.gitops.render import render_cluster


def _without_kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH without kubectl and an empty kustomize cache (a cached build runs no kubectl)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(kustomize, "_built", {})


def test_kustomize_without_kubectl_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_kubectl(monkeypatch, tmp_path)
    with pytest.raises(prerequisites.MissingTool) as raised:
        kustomize.kustomize_directory(REPO_ROOT / "k8s" / "clusters" / "staging" / "global")
    assert str(raised.value) == (
        "missing prerequisite: kubectl is not on PATH (`kubectl kustomize` renders k8s/)"
    )


def test_a_render_without_kubectl_stops_with_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not a render problem of the root Kustomization (render_cluster collects RenderErrors)."""
    cluster = stack_facts("staging").clusters[0]  # the facts need kustomize too: before
    _without_kubectl(monkeypatch, tmp_path)
    with pytest.raises(prerequisites.MissingTool, match="kubectl"):
        render_cluster(cluster)


def test_a_command_prints_a_missing_tool_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @cli.guarded
    def main() -> int:
        raise prerequisites.MissingTool("kubectl", "`kubectl kustomize` renders k8s/")

    assert main() == prerequisites.EXIT_MISSING_TOOL == 4
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "missing prerequisite: kubectl is not on PATH (`kubectl kustomize` renders k8s/)"
    ]
