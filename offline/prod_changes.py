"""Does a change alter what Flux applies on prod? pr.yml's approval gate asks this.

The answer comes from the render, not from a list of paths: every cluster of every prod-stage
stack is rendered as Flux would (offline/gitops/render.py: the root path the FluxInstance syncs,
then every Flux Kustomization's path, with the platform-vars the program writes) once from the
working tree and once from BASE (a detached git worktree), and the objects are compared. Whatever
the change touches (a prod pin, k8s/apps/base, a service, a component, the prod stage, a prod
cluster folder, k8s/flux/zone, ...) needs prod's approval iff an object Flux applies on a prod
cluster differs. A HOLD file is not rendered: holding or releasing needs no approval.

The clusters (their sync path and platform-vars) are those of the working tree's offline plan, for
both sides: what the program itself changes reaches prod through deploy.yml, behind the prod
environments' own approval. A render that fails on either side counts as a change (the gate
then asks for approval rather than guessing).

CLI (exit 0, 2: bad BASE):

    python -m offline.prod_changes --base origin/main [--repo .] [--github-output FILE]
    python -m offline.prod_changes --inputs

prints the changed objects and appends `changed=true|false` to FILE; `--inputs` lists the folders
prod's render reads (`.github/CODEOWNERS` covers them: tests/test_codeowners.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml

from components.facts import Stage
from offline import ci_stacks
from offline.cli import EXIT_BAD_INPUT
from offline.diff import BaseRefError, detached_worktree
from offline.engine import REPO_ROOT
from offline.gitops.documents import Doc
from offline.gitops.facts import stack_facts
from offline.gitops.kustomize import KUSTOMIZATION_FILE
from offline.gitops.render import Cluster, render_cluster

ObjectKey = tuple[str, str, str, str, str]  # (cluster, apiVersion, kind, namespace, name)


def prod_clusters(repo: Path = REPO_ROOT) -> list[Cluster]:
    """Every cluster of every prod-stage stack, one before its day 0 too (offline/ci_stacks.py
    `checked_stacks`): its Flux will sync what main holds once it runs, so a change to it needs
    the prod approval like any prod change."""
    return [
        cluster
        for entry in ci_stacks.checked_stacks(repo)
        if entry.stage == Stage.PROD.value
        for cluster in stack_facts(entry.stack).clusters
    ]


def _key(cluster: str, doc: Doc) -> ObjectKey:
    meta = doc.get("metadata") or {}
    return (
        cluster,
        str(doc.get("apiVersion", "")),
        str(doc.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def rendered_objects(
    clusters: Iterable[Cluster], tree: Path
) -> tuple[dict[ObjectKey, Doc], list[str]]:
    """What Flux applies on each cluster when it syncs `tree`, by object; and render problems."""
    objects: dict[ObjectKey, Doc] = {}
    problems: list[str] = []
    for cluster in clusters:
        render = render_cluster(cluster, tree)
        problems += [f"{cluster.name}: {p}" for p in render.problems]
        objects.update((_key(cluster.name, doc), doc) for doc in render.docs)
    return objects, problems


def changed_objects(
    base: Mapping[ObjectKey, Doc], head: Mapping[ObjectKey, Doc]
) -> list[tuple[str, ObjectKey]]:
    """(added|removed|changed, key) for every object that differs, sorted."""
    changes = [("added", k) for k in head.keys() - base.keys()]
    changes += [("removed", k) for k in base.keys() - head.keys()]
    changes += [("changed", k) for k in head.keys() & base.keys() if head[k] != base[k]]
    return sorted(changes, key=lambda c: (c[1], c[0]))


def prod_changes(base_ref: str, repo: Path = REPO_ROOT) -> tuple[list[str], list[str]]:
    """(changed objects, render problems) of prod between `base_ref` and the working tree."""
    clusters = prod_clusters(repo)
    head, head_problems = rendered_objects(clusters, repo)
    with detached_worktree(base_ref, repo) as tree:
        base, base_problems = rendered_objects(clusters, tree)
    lines = [
        f"{what}: {cluster} {api} {kind} {namespace}/{name}".replace(" /", " ")
        for what, (cluster, api, kind, namespace, name) in changed_objects(base, head)
    ]
    return lines, [f"head {p}" for p in head_problems] + [f"base {p}" for p in base_problems]


def render_inputs(clusters: Iterable[Cluster], repo: Path = REPO_ROOT) -> list[str]:
    """Every folder (and file outside those) kustomize reads to render `clusters`: the paths Flux
    syncs, closed over each kustomization.yaml's local `resources` and `components`. A change
    anywhere else cannot change prod's render; `.github/CODEOWNERS` must cover all of these."""
    root = repo.resolve()
    todo = [
        root / out.path for cluster in clusters for out in render_cluster(cluster, repo).outputs
    ]
    seen: set[Path] = set()
    while todo:
        path = todo.pop().resolve()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        if path.is_dir():
            spec = yaml.safe_load((path / KUSTOMIZATION_FILE).read_text(encoding="utf-8")) or {}
            entries = [*spec.get("resources", []), *spec.get("components", [])]
            todo += [path / str(entry) for entry in entries if "://" not in str(entry)]
    inside = {p for p in seen if p.is_dir()}
    kept = [p for p in seen if p.is_dir() or p.parent not in inside]
    return sorted(p.relative_to(root).as_posix() for p in kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.prod_changes", description=__doc__)
    parser.add_argument("--base", default="origin/main", help="git ref the change is compared with")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--github-output", type=Path, metavar="FILE", help="append changed=")
    parser.add_argument(
        "--inputs",
        action="store_true",
        help="only list what prod's render reads (what .github/CODEOWNERS must cover)",
    )
    args = parser.parse_args(argv)
    if args.inputs:
        print("\n".join(render_inputs(prod_clusters(args.repo), args.repo)))
        return 0
    try:
        lines, problems = prod_changes(args.base, args.repo)
    except BaseRefError as error:
        print(f"prod_changes: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    changed = bool(lines or problems)
    for line in [*problems, *lines]:
        print(line)
    print(f"prod's rendered objects change: {str(changed).lower()}")
    if args.github_output:
        with args.github_output.open("a", encoding="utf-8") as out:
            out.write(f"changed={str(changed).lower()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
