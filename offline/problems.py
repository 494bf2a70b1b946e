"""What `make plan` reports as problems: every finder turns a plan into messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from offline.engine import Plan


def unprotected_retained_secrets(plan: Plan) -> Iterable[str]:
    """Secret Manager entries must survive removal from the program (their values cannot be
    recreated); a missing retainOnDelete would delete them on the next `pulumi up`."""
    for r in plan.of_type("gcp:secretmanager/secret:Secret"):
        if not r.retain_on_delete:
            yield f"{r.type} {r.name}: not retained on delete"


def policy_violations(plan: Plan) -> Iterable[str]:
    """Every rule of the policy pack (policy/rules.py), including the offline-only ones:
    `policy <rule>: <type> <name>: <message>`."""
    from policy.plan_checks import violations

    return [str(v) for v in violations(plan)]


FINDERS: list[Callable[[Plan], Iterable[str]]] = [unprotected_retained_secrets, policy_violations]
