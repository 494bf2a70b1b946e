"""A Kuma version change checked against what is deployed, as Kuma's upgrade guide asks.

Kuma (https://kuma.io/docs/2.13.x/production/upgrades-tuning/upgrades/, the same text for Kong
Mesh at https://developer.konghq.com/mesh/upgrade): "upgrades can be performed up to two minor
versions" (2.11 -> 2.13 is one step, 2.9 -> 2.13 goes through 2.11), a zone control plane may be
up to two minors older than its global, and the global is upgraded first. The order is the plan's
(the zone releases depend on the global's: tests/test_upgrade_order.py); the size of the step needs
the deployed version, which only the stack's state knows:

    pulumi stack export --stack <s> --file state.json && make plan STACK=<s> STATE=state.json

Both sides of the step are the chart version of each `kuma` Helm release: pulumi-kubernetes
records the installed chart's version in the release's `version` output
(provider/pkg/provider/helm_release.go `setReleaseAttributes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from offline.engine import Plan

RELEASE = "kubernetes:helm.sh/v3:Release"
KUMA_CHART = "kuma"
MAX_MINOR_STEP = 2


def _major_minor(version: str) -> tuple[int, int]:
    major, minor, *_ = version.split(".")
    return int(major), int(minor)


def step_problem(deployed: str, planned: str) -> str | None:
    """Why going from `deployed` to `planned` is not one supported step, or None."""
    (old_major, old_minor), (new_major, new_minor) = _major_minor(deployed), _major_minor(planned)
    if new_major != old_major:
        return (
            f"Kuma {deployed} -> {planned} changes the major version: not a chart bump; follow "
            "Kuma's UPGRADE.md for that major by hand"
        )
    if new_minor - old_minor > MAX_MINOR_STEP:
        via = f"{old_major}.{old_minor + MAX_MINOR_STEP}.x"
        return (
            f"Kuma {deployed} -> {planned} skips more than {MAX_MINOR_STEP} minor versions "
            f"(kuma.io upgrades guide): deploy {via} first, then {planned}"
        )
    return None


def deployed_versions(export: Mapping[str, Any]) -> dict[str, str]:
    """URN -> chart version of every `kuma` Helm release in a `pulumi stack export`."""
    resources = (export.get("deployment") or {}).get("resources") or []
    return {
        r["urn"]: str(r["outputs"]["version"])
        for r in resources
        if r.get("type") == RELEASE
        and (r.get("outputs") or {}).get("chart") == KUMA_CHART
        and "version" in r["outputs"]
    }


def problems(plan: Plan, export: Mapping[str, Any] | None) -> list[str]:
    """Each planned `kuma` release whose version is not one supported step from the deployed
    one (nothing without a state: a first install has no step)."""
    if export is None:
        return []
    deployed = deployed_versions(export)
    found: list[str] = []
    for release in plan.of_type(RELEASE):
        if release.inputs.get("chart") != KUMA_CHART or release.urn not in deployed:
            continue
        problem = step_problem(deployed[release.urn], str(release.inputs["version"]))
        if problem:
            found.append(f"{release.name}: {problem}")
    return found
