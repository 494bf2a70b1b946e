"""The rules over an offline plan (offline/engine.py): the same functions CrossGuard runs, plus the
offline-only parts (secret inputs, retain-on-delete), with the facts read from the stack config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from policy.rules import UNKNOWN, ResourceView, StackFacts, Violation, evaluate

COMPUTED = "<computed>"  # how offline.engine records a value unknown during preview
STACK_TYPE = "pulumi:pulumi:Stack"


class RegistrationLike(Protocol):
    """The parts of offline.engine.Registration a rule reads."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def protect(self) -> bool: ...
    @property
    def retain_on_delete(self) -> bool: ...
    @property
    def secret_paths(self) -> list[str]: ...


class PlanLike(Protocol):
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def resources(self) -> list[Any]: ...


def _known(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return UNKNOWN if value == COMPUTED else value


def view_of(registration: RegistrationLike) -> ResourceView:
    return ResourceView(
        type=registration.type,
        name=registration.name,
        urn=registration.urn,
        props=_known(registration.inputs),
        protect=registration.protect,
        retain_on_delete=registration.retain_on_delete,
        secret_paths=frozenset(registration.secret_paths),
    )


def facts_of(config: Mapping[str, Any]) -> StackFacts:
    """Facts from the stack config (`platform:*` keys, Pulumi.yaml defaults applied, and the
    provider's `gcp:project`)."""
    return StackFacts.parse(
        {
            "stage": config.get("platform:stage"),
            "residency": config.get("platform:residency", "any"),
            "allowedRegions": config.get("platform:allowedRegions"),
            "project": config.get("gcp:project"),
        }
    )


def violations(plan: PlanLike) -> list[Violation]:
    """Every violation of every rule (offline-only ones included) in the plan."""
    resources = [view_of(r) for r in plan.resources if r.type != STACK_TYPE]
    return evaluate(resources, facts_of(plan.config))
