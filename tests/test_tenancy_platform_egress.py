"""In a zone cluster only the Kuma system namespace reaches the global's KDS address: the
platform namespaces (flux-system, external-secrets, observability) and `default`
are isolated for egress, and every platform component still reaches what it must (the API
server, Google APIs, git over HTTPS, the metadata server, DNS, its own namespace). Evaluated
with Kubernetes' NetworkPolicy semantics over what the program and Flux apply
(offline/gitops/egress.py)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from components.facts import ESO_NAMESPACE, FLUX_NAMESPACE
from components.kuma.settings import KDS_PORT, KUMA_NAMESPACE
from offline import admission, flux_operator, mesh_rebuild
from offline.gitops import egress
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import Doc, meta
from offline.gitops.egress import Destination
from offline.gitops.render import ClusterRender
from tests.support import STACKS, plan_of

OBSERVABILITY = "observability"
GITHUB = "140.82.121.4"  # github.com: git over HTTPS, ghcr.io-like registries
GOOGLE_API = "142.250.74.106"  # a *.googleapis.com front end (public Google range)
INTERNET = "93.184.215.14"


def _kds(stack: str) -> str:
    """The zone-sync Service's reserved address (the program's Service, applied through its gate:
    components/kuma/zone_sync.py)."""
    plan = plan_of(stack)
    (global_cluster,) = [c for c in plan.config["platform:clusters"] if c["role"] == "global"]
    (service,) = mesh_rebuild.zone_sync_services(plan, global_cluster["name"])
    return str(service["spec"]["loadBalancerIP"])


def _zones(stack: str) -> list[ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]


def _cluster_config(stack: str, name: str) -> dict[str, Any]:
    return next(c for c in plan_of(stack).config["platform:clusters"] if c["name"] == name)


def _api_server_addresses(stack: str, cluster: str) -> list[str]:
    """Where the in-cluster `kubernetes` Service leads after translation: the control plane's
    private endpoint, in the control plane range (VPC peering) or in the node subnet (Private
    Service Connect): both must be reachable."""
    ranges = _cluster_config(stack, cluster)["ranges"]
    return [str(ipaddress.ip_network(ranges[key])[2]) for key in ("controlPlane", "nodes")]


def _namespaces(docs: list[Doc]) -> list[str]:
    return sorted({meta(d)["name"] for d in docs if d["kind"] == "Namespace"} | {"default"})


def _reaches(docs: list[Doc], namespace: str, dest: Destination) -> bool:
    return egress.egress_allowed(docs, namespace, {"app": "any"}, dest)


@pytest.mark.parametrize("stack", STACKS)
def test_only_kuma_system_reaches_kds_in_a_zone_cluster(stack: str) -> None:
    kds = _kds(stack)
    for zone in _zones(stack):
        docs = zone.objects
        for port in (KDS_PORT, 443):
            reaching = {
                ns for ns in _namespaces(docs) if _reaches(docs, ns, Destination(port, ip=kds))
            }
            assert reaching == {KUMA_NAMESPACE}, (zone.cluster.name, port, reaching)


def _dns(docs: list[Doc]) -> Destination:
    return Destination(
        53,
        "UDP",
        namespace_labels=egress.namespace_labels(docs, "kube-system"),
        pod_labels={"k8s-app": "kube-dns"},
    )


@pytest.mark.parametrize("stack", STACKS)
def test_platform_components_reach_what_they_need(stack: str) -> None:
    for zone in _zones(stack):
        docs = zone.objects
        api = [Destination(443, ip=ip) for ip in _api_server_addresses(stack, zone.cluster.name)]
        metadata = [Destination(80, ip="169.254.169.254"), Destination(988, ip="169.254.169.252")]
        google = Destination(443, ip=GOOGLE_API)
        needs = {
            # Controllers watch the API server; Flux pulls git over HTTPS and its distribution
            # from an OCI registry; kustomize-controller fetches artifacts from source-controller.
            FLUX_NAMESPACE: [
                *api, Destination(443, ip=GITHUB), _dns(docs),
                Destination(9090, namespace_labels=egress.namespace_labels(docs, FLUX_NAMESPACE),
                            pod_labels={"app": "source-controller"}),
            ],
            # Workload Identity token exchange (STS), impersonation and Secret Manager.
            ESO_NAMESPACE: [*api, google, *metadata, _dns(docs)],
            # Cloud Trace through Workload Identity.
            OBSERVABILITY: [google, *metadata, _dns(docs)],
        }  # fmt: skip
        for namespace, destinations in needs.items():
            for dest in destinations:
                assert _reaches(docs, namespace, dest), (zone.cluster.name, namespace, dest)


@pytest.mark.parametrize("stack", STACKS)
def test_platform_namespaces_reach_nothing_else(stack: str) -> None:
    for zone in _zones(stack):
        docs = zone.objects
        kuma = egress.namespace_labels(docs, KUMA_NAMESPACE)
        catalog = egress.namespace_labels(docs, "catalog")
        forbidden = [
            Destination(80, ip=INTERNET),
            Destination(22, ip=GITHUB),
            Destination(5681, namespace_labels=kuma),  # the zone control plane's API
            Destination(8080, namespace_labels=catalog),  # an app
        ]
        for namespace in (FLUX_NAMESPACE, ESO_NAMESPACE, OBSERVABILITY, "default"):
            for dest in forbidden:
                assert not _reaches(docs, namespace, dest), (namespace, dest)
        # Observability needs no internal address at all, the API server's included.
        for ip in _api_server_addresses(stack, zone.cluster.name):
            assert not _reaches(docs, OBSERVABILITY, Destination(443, ip=ip))
        # `default` reaches nothing, DNS included.
        assert not _reaches(docs, "default", _dns(docs))


def test_without_the_platform_policies_flux_and_eso_reach_kds() -> None:
    kds = Destination(KDS_PORT, ip=_kds("staging"))
    zone = _zones("staging")[0]
    docs = [d for d in zone.objects if meta(d).get("name") != "platform-egress"]
    assert _reaches(docs, FLUX_NAMESPACE, kds) and _reaches(docs, ESO_NAMESPACE, kds)
    assert not _reaches(zone.objects, FLUX_NAMESPACE, kds)


def _operator_policies(zone: ClusterRender) -> dict[str, Doc]:
    return {meta(d)["name"]: d for d in zone.cluster.operator_docs}


@pytest.mark.parametrize("stack", STACKS)
def test_flux_operators_policies_are_in_the_model_with_allow_egress_ingress_only(
    stack: str,
) -> None:
    """flux-operator's own NetworkPolicies (offline/refs, flux-operator v0.58.1
    config/data/flux/v2.9.4/policies.yaml) are on every cluster the evaluator sees; the
    FluxInstance's patch leaves `allow-egress` its ingress rule (controllers fetch artifacts from
    source-controller) and no egress."""
    for render in gitops_facts.rendered_stack(stack):
        policies = _operator_policies(render)
        assert set(policies) == {"allow-egress", "allow-scraping", "allow-webhooks"}
        assert all(meta(p)["namespace"] == FLUX_NAMESPACE for p in policies.values())
        assert all(p in render.objects for p in policies.values())
        spec = policies["allow-egress"]["spec"]
        assert spec == {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
        }


def test_without_the_flux_instance_patch_flux_operators_policy_reopens_kds() -> None:
    """NetworkPolicies are additive: flux-operator's unpatched `allow-egress` (all egress for
    every flux-system pod) undoes the platform policy's exclusion of the KDS address."""
    plan = plan_of("staging")
    zone = _zones("staging")[0]
    (instance,) = [
        r
        for r in plan.of_type(gitops_facts.FLUX_INSTANCE_TYPE)
        if r.inputs["spec"]["sync"]["path"] == zone.cluster.sync_path
    ]
    spec = copy.deepcopy(instance.inputs["spec"])
    spec["kustomize"]["patches"] = [
        p for p in spec["kustomize"]["patches"] if p["target"]["kind"] != "NetworkPolicy"
    ]
    unpatched = flux_operator.network_policies(FLUX_NAMESPACE, spec)
    docs = [*zone.cluster.program_docs, *unpatched, *zone.docs]
    kds = Destination(KDS_PORT, ip=_kds("staging"))
    assert _reaches(docs, FLUX_NAMESPACE, kds)
    assert not _reaches(zone.objects, FLUX_NAMESPACE, kds)
    # Without networkPolicy the operator applies none of them.
    assert (
        flux_operator.network_policies(FLUX_NAMESPACE, {"cluster": {"networkPolicy": False}}) == ()
    )


def test_the_platform_policy_excludes_the_kds_address_itself() -> None:
    """Defence in depth: even on 443 (the one port open to any address), the KDS address is
    excluded, so moving KDS to 443 would not reopen it."""
    plan = plan_of("prod-eu")
    kds = _kds("prod-eu")
    policies = [
        r
        for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["name"] == "platform-egress"
    ]
    assert {p.inputs["metadata"]["namespace"] for p in policies} == {FLUX_NAMESPACE, ESO_NAMESPACE}
    for policy in policies:
        blocks = [
            peer["ipBlock"]
            for rule in policy.inputs["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        ]
        assert blocks == [{"cidr": "0.0.0.0/0", "except": [f"{kds}/32"]}]


def test_a_pod_selector_peer_selects_pods_of_its_own_namespace_only() -> None:
    policy: Doc = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": {}}]}]},
    }  # fmt: skip
    own = Destination(9090, namespace_labels={egress.NAME_LABEL: "a"})
    other = Destination(9090, namespace_labels={egress.NAME_LABEL: "b"})
    assert egress.egress_allowed([policy], "a", {}, own)
    assert not egress.egress_allowed([policy], "a", {}, other)


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_namespaces_and_policies_are_strictly_valid(stack: str) -> None:
    """What the program applies on every cluster (namespaces with their Pod Security labels, the
    NetworkPolicies) passes the API server's strict schema of the clusters' minor."""
    for render in gitops_facts.rendered_stack(stack):
        docs = list(render.cluster.program_docs)
        assert {d["kind"] for d in docs} >= {"Namespace"}
        assert [p for d in docs for p in admission.problems(d)] == []
    broken: Doc = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x", "namespace": "flux-system"},
        "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                                                    "excepts": []}}]}]},
    }  # fmt: skip
    assert admission.problems(broken)
