"""`make plan STACK=x`: run the program offline and print what `pulumi up` would create.

Prints the resource tree (component -> children, type and name), counts per type, and every
problem found; writes the full registration to build/<stack>/plan.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from offline import certificates, estimate, kuma_upgrade
from offline.cli import EXIT_BAD_INPUT, describe, finish, guarded
from offline.engine import REPO_ROOT, STACK_TYPE, Plan, PlanFailed, Registration, plan_stack

ProblemFinder = Callable[[Plan], Iterable[str]]


def _finders() -> list[ProblemFinder]:
    """Checks that turn a plan into problems; the policy rules and estimates plug in here."""
    from offline import problems

    return list(problems.FINDERS)


def render_tree(plan: Plan) -> list[str]:
    children: dict[str, list[Registration]] = {}
    for r in plan.registrations:
        children.setdefault(r.parent, []).append(r)
    lines: list[str] = []

    def walk(parent: str, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            flags = "".join(
                f" [{flag}]"
                for flag, on in (("protect", r.protect), ("retain", r.retain_on_delete))
                if on
            )
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{r.type}  {r.name}{flags}")
            walk(r.urn, prefix + ("   " if last else "│  "))

    roots = [r for r in plan.registrations if r.type == STACK_TYPE]
    for root in roots:
        lines.append(f"{root.type}  {root.name}")
        walk(root.urn, "")
    return lines


def render_counts(plan: Plan) -> list[str]:
    counts = Counter(r.type for r in plan.resources)
    width = max((len(t) for t in counts), default=0)
    return [f"{count:4d}  {type_:<{width}}" for type_, count in sorted(counts.items())] + [
        f"{sum(counts.values()):4d}  resources in total"
    ]


def write_plan(plan: Plan, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "plan.json"
    path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
    return path


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack", help="stack name: Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default build/<stack>")
    parser.add_argument("--quiet", action="store_true", help="summary only, no tree")
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="`pulumi stack export` of the deployed stack: adds the days left on each certificate "
        "and checks the Kuma upgrade step from the deployed version",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=REPO_ROOT,
        help="the Pulumi project to plan (default: the platform; bootstrap/ for day 0)",
    )
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    platform = project_dir == REPO_ROOT
    default_out = (
        REPO_ROOT / "build" / (args.stack if platform else f"{project_dir.name}/{args.stack}")
    )

    export = certificates.load_export(args.state) if args.state else None
    ends = certificates.validity_ends(export) if export else {}
    started = time.perf_counter()
    try:
        plan = plan_stack(args.stack) if platform else plan_stack(args.stack, repo=project_dir)
    except PlanFailed as failed:
        message = describe(failed, args.stack, project_dir)
        print(f"plan of {args.stack} failed: {message}", file=sys.stderr)
        write_plan(failed.plan, args.out or default_out)
        return EXIT_BAD_INPUT
    elapsed = time.perf_counter() - started

    if not args.quiet:
        print("\n".join(render_tree(plan)))
        print()
    print(f"Resources of stack {args.stack} by type:")
    print("\n".join(render_counts(plan)))
    print()
    print("\n".join(estimate.render(estimate.critical_path(plan))))
    print()
    print("\n".join(certificates.render(plan, ends)))
    print()
    # The finders are the platform's (its policy pack reads platform:* facts); the bootstrap
    # program has its own tests (tests/test_bootstrap_program*.py).
    finders = _finders() if platform else []
    problems = [p for finder in finders for p in finder(plan)]
    problems += certificates.problems(plan, ends)
    problems += kuma_upgrade.problems(plan, export) if platform else []
    problems += [f"warning from the program: {w}" for w in plan.warnings]
    if problems:
        print(f"{len(problems)} problem(s):")
        print("\n".join(f"  - {p}" for p in problems))
    else:
        print("No problems found.")
    path = write_plan(plan, args.out or default_out)
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    print(
        f"\nFull registration written to {shown} (planned in {elapsed:.2f}s, offline, mock engine)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    finish(main())
