"""KDS reachable only from the zone control planes: the global's zone-sync load
balancer admits only the zone clusters' pod ranges, and inside a zone cluster only the Kuma system
namespace may reach the KDS address: every namespace the mesh owns (apps, gateway) is isolated
for egress by NetworkPolicies that do not allow it (GKE Dataplane V2 enforces them)."""

from __future__ import annotations

from typing import Any

import pytest

from offline import mesh_rebuild
from offline.engine import Plan, stacks
from offline.gitops import egress
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import meta, namespace_of
from tests.support import plan_of

STACKS = stacks()
KUMA_NAMESPACE = "kuma-system"


def _zone_sync_spec(plan: Plan) -> dict[str, Any]:
    """The global's zone-sync Service (the program's, applied through its gate:
    components/kuma/zone_sync.py)."""
    (global_cluster,) = [
        c["name"] for c in plan.config["platform:clusters"] if c["role"] == "global"
    ]
    (service,) = mesh_rebuild.zone_sync_services(plan, global_cluster)
    return dict(service["spec"])


@pytest.mark.parametrize("stack", STACKS)
def test_kds_load_balancer_admits_only_the_zone_pod_ranges(stack: str) -> None:
    plan = plan_of(stack)
    zones = [c for c in plan.config["platform:clusters"] if c["role"] == "zone"]
    service = _zone_sync_spec(plan)
    assert sorted(service["loadBalancerSourceRanges"]) == sorted(z["ranges"]["pods"] for z in zones)
    others = [c["ranges"]["nodes"] for c in plan.config["platform:clusters"]]
    assert not set(others) & set(service["loadBalancerSourceRanges"])


@pytest.mark.parametrize("stack", STACKS)
def test_in_a_zone_cluster_only_the_kuma_namespace_reaches_kds(stack: str) -> None:
    plan = plan_of(stack)
    kds = egress.Destination(5685, ip=_zone_sync_spec(plan)["loadBalancerIP"])
    for render in (r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"):
        docs = render.objects
        meshed = {
            meta(d)["name"]
            for d in docs
            if d["kind"] == "Namespace" and "kuma.io/mesh" in (meta(d).get("labels") or {})
        }
        assert {"storefront", "catalog", "mesh-gateway"} <= meshed, meshed
        for namespace in sorted(meshed):
            assert not egress.egress_allowed(docs, namespace, {"any": "pod"}, kds), namespace
        assert egress.egress_allowed(docs, KUMA_NAMESPACE, {"app": "kuma-control-plane"}, kds)


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_reaches_its_control_plane_and_storefront(stack: str) -> None:
    render = next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone")
    docs = render.objects
    kuma = egress.namespace_labels(docs, KUMA_NAMESPACE)
    storefront = egress.namespace_labels(docs, "storefront")
    pod = {"app": "edge"}
    assert egress.egress_allowed(
        docs, "mesh-gateway", pod, egress.Destination(5678, namespace_labels=kuma)
    )
    assert egress.egress_allowed(
        docs, "mesh-gateway", pod, egress.Destination(8080, namespace_labels=storefront)
    )
    assert not egress.egress_allowed(
        docs, "mesh-gateway", pod, egress.Destination(443, ip="142.250.74.100")
    )
    assert [namespace_of(d) for d in docs if meta(d).get("name") == "mesh-gateway-egress"] == [
        "mesh-gateway"
    ]
