"""Zone-aware traffic, computed from the rendered policies with Kuma's own
priority rules (offline/kuma_rules.py endpoint_priority): every proxy keeps its calls in its own
zone, reaches every other zone only as failover, and outlier detection can take a failing zone
out so that failover happens."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.engine import stacks
from offline.gitops import facts as gitops_facts
from offline.gitops import mesh
from offline.gitops.documents import Doc
from offline.kuma_rules import endpoint_priority

STACKS = stacks()


def _policies(stack: str) -> list[Doc]:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global").objects


def _zones(stack: str) -> list[str]:
    return [
        c.platform_vars["KUMA_ZONE"]
        for c in gitops_facts.stack_facts(stack).clusters
        if c.role == "zone"
    ]


def _priorities(conf: dict[str, Any], local: str, zones: list[str], **kw: Any) -> dict[str, Any]:
    return {
        zone: endpoint_priority(conf, local_zone=local, endpoint_zone=zone, zone_egress=True, **kw)
        for zone in zones
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_proxy_prefers_its_own_zone_and_can_fail_over(stack: str) -> None:
    policies = _policies(stack)
    zones = [*_zones(stack), "a-zone-added-later"]
    for render in (r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"):
        for workload in mesh.mesh_workloads(render):
            local = workload.tags["kuma.io/zone"]
            conf = mesh.outbound_conf(policies, "MeshLoadBalancingStrategy", workload.tags)
            for on_egress in (False, True):  # the sidecar, then its ZoneEgress
                priorities = _priorities(conf, local, zones, on_egress=on_egress)
                assert priorities[local] == 0
                remote = {z: p for z, p in priorities.items() if z != local}
                assert all(p is not None and p > 0 for p in remote.values()), (
                    workload.name,
                    on_egress,
                    priorities,
                )


def test_without_a_strategy_every_zone_is_equal() -> None:
    """Without a MeshLoadBalancingStrategy, as Kuma computes it: no zone is preferred."""
    assert _priorities({}, "prod-ew1", ["prod-ew1", "prod-ew4"]) == {"prod-ew1": 0, "prod-ew4": 0}


def test_a_failover_rule_that_names_no_zone_drops_the_other_zones() -> None:
    conf = {"localityAwareness": {"crossZone": {"failover": [{"to": {"type": "None"}}]}}}
    priorities = _priorities(conf, "prod-ew1", ["prod-ew1", "prod-ew4"], on_egress=True)
    assert priorities == {"prod-ew1": 0, "prod-ew4": None}


def _ejection(policies: list[Doc]) -> tuple[dict[str, Any], float]:
    tags = {"kuma.io/zone": "any"}
    breaker = mesh.outbound_conf(policies, "MeshCircuitBreaker", tags).get("outlierDetection")
    strategy = mesh.outbound_conf(policies, "MeshLoadBalancingStrategy", tags)
    threshold = strategy["localityAwareness"]["crossZone"]["failoverThreshold"]["percentage"]
    return breaker or {}, float(threshold)


def _can_fail_over(outlier: dict[str, Any], threshold: float) -> bool:
    """Outlier detection is on, has a detector, and may eject enough of a zone's endpoints to
    take its health below the failover threshold."""
    return (
        outlier.get("disabled") is not True
        and bool(outlier.get("detectors"))
        and float(outlier.get("maxEjectionPercent", 10)) > 100 - threshold
    )


@pytest.mark.parametrize("stack", STACKS)
def test_outlier_detection_can_take_a_failing_zone_out(stack: str) -> None:
    assert _can_fail_over(*_ejection(_policies(stack)))


def test_a_capped_ejection_would_pin_traffic_to_a_failing_zone() -> None:
    policies = copy.deepcopy(_policies("prod-eu"))
    for doc in policies:
        if doc["kind"] == "MeshCircuitBreaker":
            doc["spec"]["to"][0]["default"]["outlierDetection"]["maxEjectionPercent"] = 20
    assert not _can_fail_over(*_ejection(policies))
