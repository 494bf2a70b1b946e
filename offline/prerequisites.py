"""A program an offline command runs is missing: one exception, standard library only, so the
modules that spawn tools (offline/gitops/kustomize.py) need not import the command-line layer."""

from __future__ import annotations

# Not 1 (problems found), 2 (bad input) nor 3 (offline/promote.py: promotion refused): a script
# can tell "install kubectl" from a finding.
EXIT_MISSING_TOOL = 4


class MissingTool(RuntimeError):
    """A program the command runs is not on PATH (`make prereqs` names what `make test` needs)."""

    def __init__(self, tool: str, needed_for: str) -> None:
        super().__init__(f"missing prerequisite: {tool} is not on PATH ({needed_for})")
