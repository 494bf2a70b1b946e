"""Egress (the mesh's, and the NetworkPolicies of app namespaces): the Mesh has no passthrough
and sends cross-zone and external traffic through the ZoneEgress, apps name only cluster
Services or MeshExternalServices, and the NetworkPolicies let a meshed pod reach only its
control plane, the ZoneEgress, mesh peers and DNS: not the internet, not the global's KDS."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline import admission, mesh_rebuild
from offline.engine import stacks
from offline.gitops import egress, mesh
from offline.gitops import facts as gitops_facts
from offline.gitops import render as flux_render
from offline.gitops.documents import Doc, meta, namespace_of
from tests.support import plan_of

STACKS = stacks()
INTERNET = "142.250.74.100"


def _kuma_values(stack: str) -> dict[str, dict[str, Any]]:
    return {
        r.name: r.inputs["values"]
        for r in plan_of(stack).of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs.get("chart") == "kuma"
    }


def _kds_address(stack: str) -> str:
    (render,) = _renders(stack, "global")
    (service,) = mesh_rebuild.zone_sync_services(plan_of(stack), render.cluster.name)
    return str(service["spec"]["loadBalancerIP"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh_has_no_passthrough_and_leaves_through_zone_egress(stack: str) -> None:
    (mesh_cr,) = plan_of(stack).of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    spec = mesh_cr.inputs["spec"]
    assert spec["networking"]["outbound"]["passthrough"] is False
    assert spec["routing"]["zoneEgress"] is True
    # Kuma OSS would block every MeshExternalService, the database's included, and no
    # MeshTrafficPermission can lift it (components/kuma/values.py; tests/test_mesh_database.py).
    assert spec["routing"]["defaultForbidMeshExternalServiceAccess"] is False
    zones = [v for v in _kuma_values(stack).values() if v["controlPlane"]["mode"] == "zone"]
    assert zones and all(v["egress"]["enabled"] is True for v in zones)


def _renders(stack: str, role: str) -> list[flux_render.ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == role]


@pytest.mark.parametrize("stack", STACKS)
def test_apps_call_only_cluster_services_or_external_services(stack: str) -> None:
    policies = _renders(stack, "global")[0].objects
    for zone in _renders(stack, "zone"):
        assert mesh.check_external_destinations(zone.objects, policies) == []


def _with_url(docs: list[Doc], url: str) -> list[Doc]:
    docs = copy.deepcopy(docs)
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "UPSTREAM_URL" in d["data"])
    config["data"]["PAYMENTS_URL"] = url
    return docs


EXTERNAL_SERVICE: Doc = {
    "apiVersion": "kuma.io/v1alpha1",
    "kind": "MeshExternalService",
    "metadata": {
        "name": "payments-api",
        "namespace": "kuma-system",
        "labels": {"kuma.io/mesh": "default"},
    },
    "spec": {
        "match": {"type": "HostnameGenerator", "port": 443, "protocol": "tcp"},
        "endpoints": [{"address": "api.payments.example", "port": 443}],
    },
}


def test_an_undeclared_external_url_is_reported_and_a_declared_one_is_not() -> None:
    zone = _renders("prod-eu", "zone")[0].objects
    policies = _renders("prod-eu", "global")[0].objects
    undeclared = mesh.check_external_destinations(
        _with_url(zone, "https://api.payments.example/"), policies
    )
    assert len(undeclared) == 1 and "api.payments.example:443" in undeclared[0]
    assert admission.problems(copy.deepcopy(EXTERNAL_SERVICE)) == []
    declared = _with_url(zone, "https://payments-api.extsvc.mesh.local/")
    assert mesh.check_external_destinations(declared, [*policies, EXTERNAL_SERVICE]) == []
    assert mesh.check_external_destinations(declared, policies) != []


def _meshed_pods(render: flux_render.ClusterRender) -> list[tuple[str, dict[str, str]]]:
    meshed = mesh.meshed_namespaces(render.objects)
    return [
        (namespace_of(d), dict(meta(d["spec"]["template"])["labels"]))
        for d in render.docs
        if d["kind"] == "Deployment" and namespace_of(d) in meshed
    ]


def _reach(render: flux_render.ClusterRender, docs: list[Doc], kds: str) -> dict[str, Any]:
    kuma = egress.namespace_labels(docs, render.cluster.platform_vars["KUMA_NAMESPACE"])
    catalog = egress.namespace_labels(docs, "catalog")
    dns = egress.namespace_labels(docs, "kube-system")
    return {
        "control plane": egress.Destination(5678, namespace_labels=kuma),
        "zone egress": egress.Destination(10002, namespace_labels=kuma),
        "catalog": egress.Destination(8080, namespace_labels=catalog, pod_labels={"a": "b"}),
        "dns": egress.Destination(
            53, "UDP", namespace_labels=dns, pod_labels={"k8s-app": "kube-dns"}
        ),
        "internet": egress.Destination(443, ip=INTERNET),
        "kds": egress.Destination(5685, ip=kds),
        "kuma api": egress.Destination(5681, namespace_labels=kuma),
    }


MUST = {"control plane", "zone egress", "catalog", "dns"}


@pytest.mark.parametrize("stack", STACKS)
def test_meshed_pods_reach_only_the_mesh_and_never_kds(stack: str) -> None:
    kds = _kds_address(stack)
    for zone in _renders(stack, "zone"):
        pods = _meshed_pods(zone)
        assert pods
        for namespace, labels in pods:
            reach = {
                name: egress.egress_allowed(zone.objects, namespace, labels, dest)
                for name, dest in _reach(zone, zone.objects, kds).items()
            }
            allowed = {name for name, ok in reach.items() if ok}
            assert allowed == MUST, (namespace, reach)


def test_without_the_mesh_egress_policy_a_pod_reaches_the_internet_and_kds() -> None:
    zone = _renders("prod-eu", "zone")[0]
    docs = [d for d in zone.objects if meta(d).get("name") != "app-mesh-egress"]
    docs = [d for d in docs if not (d["kind"] == "NetworkPolicy" and "egress" in d["spec"])]
    namespace, labels = _meshed_pods(zone)[0]
    reach = _reach(zone, docs, _kds_address("prod-eu"))
    assert egress.egress_allowed(docs, namespace, labels, reach["internet"])
    assert egress.egress_allowed(docs, namespace, labels, reach["kds"])


def test_egress_rules_follow_kubernetes_semantics() -> None:
    policy: Doc = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {
            "podSelector": {
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]
            },
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.5/32"]}}]},
                {"ports": [{"port": 9000, "endPort": 9100, "protocol": "TCP"}]},
            ],
        },
    }
    allowed = egress.egress_allowed
    assert allowed([policy], "a", {"app": "x"}, egress.Destination(443, ip="8.8.8.8"))
    assert not allowed([policy], "a", {"app": "x"}, egress.Destination(443, ip="10.0.0.5"))
    assert allowed([policy], "a", {"app": "x"}, egress.Destination(9050, ip="10.0.0.5"))
    assert not allowed([policy], "a", {"app": "x"}, egress.Destination(9050, "UDP", ip="10.0.0.5"))
    assert not allowed([policy], "a", {"app": "x"}, egress.Destination(80))  # a pod: no ipBlock
    assert allowed([policy], "a", {"app": "y"}, egress.Destination(443, ip="10.0.0.5"))
    assert allowed([policy], "b", {"app": "x"}, egress.Destination(443, ip="10.0.0.5"))
