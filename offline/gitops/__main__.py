"""`python -m offline.gitops render STACK|--all --out DIR`: one YAML file per cluster (what
checkov scans)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offline.cli import finish, guarded
from offline.engine import REPO_ROOT, stacks
from offline.gitops.documents import to_yaml
from offline.gitops.facts import rendered_stack
from offline.gitops.kustomize import RenderError


def write_stack(stack: str, out: Path) -> list[Path]:
    """One YAML file per cluster of `stack`: <out>/<stack>/<cluster>.yaml, with the program's own
    namespaces and NetworkPolicies (a tenant's pods are covered by the program's policies)."""
    written: list[Path] = []
    for render in rendered_stack(stack):
        if render.problems:
            raise RenderError("\n".join(render.problems))
        target = out / stack / f"{render.cluster.name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_yaml(render.objects), encoding="utf-8")
        written.append(target)
    return written


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.gitops")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="render what Flux applies on every cluster")
    render.add_argument("stack", nargs="?")
    render.add_argument("--all", action="store_true", help="every stack")
    render.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "k8s")
    args = parser.parse_args(argv)
    if bool(args.all) == bool(args.stack):
        parser.error("give one STACK or --all")
    for stack in stacks() if args.all else [args.stack]:
        try:
            written = write_stack(stack, args.out)
        except RenderError as error:
            # A broken overlay is a finding, reported like the plan's problems: exit 1.
            print(f"{stack}: the render has problems:\n{error}", file=sys.stderr)
            return 1
        for path in written:
            print(path)
    return 0


if __name__ == "__main__":
    finish(main())
