"""Kuma upgrades in Kuma's order: the global control plane before any zone.

Kuma's upgrade guide has the global upgraded first; a zone may run up to two minors older than
its global, never newer (kuma.io/docs/2.13.x/production/upgrades-tuning/upgrades/ and
developer.konghq.com/mesh/upgrade). The engine runs a resource's step only after the steps of the
resources it depends on, so a version bump that changes every release updates the global first.
"""

from __future__ import annotations

import dataclasses

import pytest

from offline import estimate
from offline.engine import Registration
from tests.support import STACKS, plan_of

RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize("stack", STACKS)
def test_every_zone_control_plane_waits_for_the_global(stack: str) -> None:
    plan = plan_of(stack)
    releases = [r for r in plan.of_type(RELEASE) if r.inputs.get("chart") == "kuma"]
    [global_release] = [r for r in releases if r.name.endswith("-kuma-global")]
    zones = [r for r in releases if r.name.endswith("-kuma-zone")]
    assert zones
    assert all(plan.depends_on(zone, global_release) for zone in zones)


@pytest.mark.parametrize("stack", STACKS)
def test_the_ordering_costs_a_first_install_at_most_the_global_install(stack: str) -> None:
    """No cost beyond what the ordering needs: without the zones' wait on the global release the
    estimated first `pulumi up` would be shorter by at most that release's own install time."""
    plan = plan_of(stack)
    [global_release] = [r for r in plan.of_type(RELEASE) if r.name.endswith("-kuma-global")]

    def unordered(r: Registration) -> Registration:
        if not r.name.endswith("-kuma-zone"):
            return r
        return dataclasses.replace(
            r, dependencies=[d for d in r.dependencies if d != global_release.urn]
        )

    without = dataclasses.replace(plan, registrations=[unordered(r) for r in plan.registrations])
    cost = (
        estimate.critical_path(plan).total_seconds - estimate.critical_path(without).total_seconds
    )
    assert 0 <= cost <= estimate.latency(global_release).seconds
