"""The `--policy-pack-config` file of a stack, derived from its stack config (never hand-written).

`make policy-config STACK=<stack>` (and the workflows) write build/<stack>/policy-config.json:
for every CrossGuard rule that reads stack facts, those facts as the stack file states them. A new
stack needs no policy file of its own, and the file cannot drift from the stack.

Runs in the program's virtualenv (it reads the stack through the offline harness); the pack itself
only reads the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from offline.cli import finish, guarded
from offline.engine import REPO_ROOT, stack_config
from policy.plan_checks import facts_of
from policy.rules import RULES, StackFacts


def policy_config(stack: str, repo: Path = REPO_ROOT) -> dict[str, dict[str, Any]]:
    """Rule name -> the facts it declares (camelCase keys), for every rule CrossGuard runs."""
    facts = facts_of(stack_config(stack, repo))
    values: dict[str, Any] = {
        "stage": facts.stage.value,
        "residency": facts.residency.value,
        "allowedRegions": sorted(facts.allowed_regions),
        "project": facts.project,
    }
    assert set(values) == set(StackFacts.FIELDS), "a new stack fact needs its value here"
    return {
        rule.name: {key: values[key] for key in rule.facts}
        for rule in RULES
        if rule.facts and not rule.offline_only
    }


def default_path(stack: str, repo: Path = REPO_ROOT) -> Path:
    return repo / "build" / stack / "policy-config.json"


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policy.stack_config", description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, default=None, help="default build/<stack>/...")
    args = parser.parse_args(argv)
    out = args.out or default_path(args.stack)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(policy_config(args.stack), indent=2, sort_keys=True) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    finish(main())
