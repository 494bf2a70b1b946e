"""North-south: a request from the load balancer to storefront, traced through
what the program registers (plan) and what Flux applies (render), with Kuma's own naming rules
(offline/kuma_rules.py): reserved address -> MeshGatewayInstance Service -> MeshGateway listener
(TLS from Secret Manager through External Secrets) -> MeshHTTPRoute -> storefront's Service ->
MeshTrafficPermission; and the edge's timeout outlasts storefront's own upstream budget."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from components.naming import cluster_of_provider
from offline import admission
from offline.engine import Plan, stack_config, stacks
from offline.gitops import facts as gitops_facts
from offline.gitops import mesh
from offline.gitops.documents import Doc, ident, meta, namespace_of
from offline.kuma_rules import gateway_service_tag, service_tag
from tests.support import plan_of

STACKS = stacks()
STOREFRONT = {"app.kubernetes.io/name": "storefront"}


@dataclass(frozen=True)
class Hop:
    what: str
    detail: str


def _on(plan: Plan, type_: str) -> dict[str, list[Any]]:
    by_cluster: dict[str, list[Any]] = {}
    for r in plan.of_type(type_):
        by_cluster.setdefault(cluster_of_provider(r.provider_urn.rsplit("::", 1)[-1]), []).append(r)
    return by_cluster


def _global_docs(stack: str) -> list[Doc]:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global").objects


def trace(
    stack: str, plan: Plan, policies: list[Doc], zone: str, zone_docs: list[Doc]
) -> list[Hop]:
    """Every hop of LB -> storefront on one zone cluster; an AssertionError names the broken one."""
    config = stack_config(stack)
    gateway_config = config["platform:gateway"]
    global_cluster = next(c["name"] for c in config["platform:clusters"] if c["role"] == "global")
    by_urn = plan.by_urn()
    (instance,) = _on(plan, "kubernetes:kuma.io/v1alpha1:MeshGatewayInstance")[zone]
    spec = instance.inputs["spec"]
    addresses = [
        by_urn[u]
        for u in instance.property_dependencies.get("spec", [])
        if by_urn[u].type == "gcp:compute/address:Address"
    ]
    assert len(addresses) == 1, "the instance's Service takes no reserved address"
    address = addresses[0].inputs
    internal = gateway_config.get("exposure", "Internal") == "Internal"
    assert address["addressType"] == ("INTERNAL" if internal else "EXTERNAL")
    annotations = spec["serviceTemplate"]["metadata"]["annotations"]
    lb_type = annotations.get("networking.gke.io/load-balancer-type")
    assert spec["serviceType"] == "LoadBalancer" and (lb_type == "Internal") == internal
    hops = [Hop("load balancer", f"{address['name']} ({address['addressType']})")]

    tag = gateway_service_tag(
        instance.inputs["metadata"]["name"], instance.inputs["metadata"]["namespace"]
    )
    meshes = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    (mesh_name,) = {r.inputs["metadata"]["name"] for r in meshes}
    gateways = [
        d
        for d in policies
        if d["kind"] == "MeshGateway"
        and d.get("mesh") == mesh_name
        and any(s["match"].get("kuma.io/service") == tag for s in d["spec"]["selectors"])
    ]
    assert len(gateways) == 1, f"no MeshGateway selects {tag}"
    gateway = gateways[0]
    hops.append(Hop("MeshGatewayInstance", f"{ident(instance.inputs)} serves {tag}"))

    (listener,) = [x for x in gateway["spec"]["conf"]["listeners"] if x["protocol"] == "HTTPS"]
    (certificate,) = [c["secret"] for c in listener["tls"]["certificates"]]
    secrets = [
        r
        for r in _on(plan, "kubernetes:external-secrets.io/v1:ExternalSecret")[global_cluster]
        if r.inputs["spec"]["target"]["name"] == certificate
    ]
    assert len(secrets) == 1, f"nothing writes the Kuma Secret {certificate}"
    target = secrets[0].inputs["spec"]["target"]
    assert secrets[0].inputs["metadata"]["namespace"] == "kuma-system"
    assert target["template"]["type"] == "system.kuma.io/secret"
    assert target["template"]["metadata"]["labels"]["kuma.io/mesh"] == mesh_name
    assert "value" in target["template"]["data"]
    keys = [d["remoteRef"]["key"] for d in secrets[0].inputs["spec"]["data"]]
    assert keys == [gateway_config["tlsSecret"]]
    hops.append(
        Hop("listener", f"HTTPS :{listener['port']}, certificate {certificate} <- {keys[0]}")
    )

    routes = [
        d
        for d in policies
        if d["kind"] == "MeshHTTPRoute"
        and d["spec"]["targetRef"] == {"kind": "MeshGateway", "name": meta(gateway)["name"]}
    ]
    backends = [
        b["name"]
        for r in routes
        for to in r["spec"]["to"]
        for rule in to["rules"]
        for b in rule["default"]["backendRefs"]
    ]
    services = {
        service_tag(meta(s)["name"], namespace_of(s), p["port"]): s
        for s in zone_docs
        if s["kind"] == "Service"
        for p in s["spec"]["ports"]
    }
    assert backends and all(b in services for b in backends), (backends, sorted(services))
    (backend,) = set(backends)
    service = services[backend]
    # The storefront pods behind it:
    pods = [
        d
        for d in zone_docs
        if d["kind"] == "Deployment"
        and namespace_of(d) == namespace_of(service)
        and service["spec"]["selector"].items() <= meta(d["spec"]["template"])["labels"].items()
    ]
    assert pods and all(
        STOREFRONT.items() <= meta(p["spec"]["template"])["labels"].items() for p in pods
    )
    hops.append(Hop("MeshHTTPRoute", f"{ident(routes[0])} -> {backend}"))

    server = {
        **meta(pods[0]["spec"]["template"])["labels"],
        "k8s.kuma.io/namespace": namespace_of(pods[0]),
    }
    assert mesh.permission(policies, {"kuma.io/service": tag}, server) == "Allow"
    hops.append(Hop("MeshTrafficPermission", f"{tag} -> {ident(pods[0])}: Allow"))
    return hops


@pytest.mark.parametrize("stack", STACKS)
def test_a_request_reaches_storefront_through_the_gateway_on_every_zone(stack: str) -> None:
    plan = plan_of(stack)
    policies = _global_docs(stack)
    for render in (r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"):
        hops = trace(stack, plan, policies, render.cluster.name, render.docs)
        assert [h.what for h in hops] == [
            "load balancer",
            "MeshGatewayInstance",
            "listener",
            "MeshHTTPRoute",
            "MeshTrafficPermission",
        ]


def test_prod_storefront_is_public_and_staging_stays_internal() -> None:
    for stack, exposure in (("prod-eu", "EXTERNAL"), ("staging", "INTERNAL")):
        addresses = [
            r.inputs["addressType"]
            for r in plan_of(stack).of_type("gcp:compute/address:Address")
            if r.name.endswith("-mesh-gateway")
        ]
        assert addresses and set(addresses) == {exposure}, (stack, addresses)


def _broken(policies: list[Doc], kind: str, edit: Any) -> list[Doc]:
    policies = copy.deepcopy(policies)
    for doc in policies:
        if doc["kind"] == kind:
            edit(doc)
    return policies


@pytest.mark.parametrize(
    ("kind", "edit", "message"),
    [
        (
            "MeshGateway",
            lambda d: d["spec"]["selectors"][0]["match"].update({"kuma.io/service": "x"}),
            "no MeshGateway selects",
        ),
        (
            "MeshGateway",
            lambda d: d["spec"]["conf"]["listeners"][0]["tls"]["certificates"][0].update(
                secret="other"
            ),
            "nothing writes the Kuma Secret",
        ),
        (
            "MeshHTTPRoute",
            lambda d: d["spec"]["to"][0]["rules"][0]["default"]["backendRefs"][0].update(
                name="storefront-app_storefront_svc_80"
            ),
            "storefront-app_storefront_svc_80",
        ),
        (
            "MeshTrafficPermission",
            lambda d: d["spec"]["from"][0]["default"].update(action="Deny"),
            "Allow",
        ),
    ],
)
def test_the_trace_names_the_broken_hop(kind: str, edit: Any, message: str) -> None:
    plan = plan_of("prod-eu")
    zone = next(r for r in gitops_facts.rendered_stack("prod-eu") if r.cluster.role == "zone")
    policies = _broken(_global_docs("prod-eu"), kind, edit)
    with pytest.raises(AssertionError, match=message):
        trace("prod-eu", plan, policies, zone.cluster.name, zone.docs)


def test_the_edge_waits_longer_than_storefront_waits_for_its_upstream() -> None:
    for stack in STACKS:
        policies = _global_docs(stack)
        timeout = mesh.outbound_conf(policies, "MeshTimeout", {}, proxy="Gateway", gateway="edge")[
            "http"
        ]["requestTimeout"]
        retry = mesh.outbound_conf(policies, "MeshRetry", {}, proxy="Gateway", gateway="edge")
        assert retry == {}, "the edge must not retry on top of the sidecars"
        zone = next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone")
        waits = {
            float(d["data"]["UPSTREAM_TIMEOUT_SECONDS"])
            for d in zone.docs
            if d["kind"] == "ConfigMap"
            and namespace_of(d) == "storefront"
            and "UPSTREAM_URL" in d["data"]
        }
        assert waits and mesh.go_duration(timeout) > max(waits), (stack, timeout, waits)


def _rendered_gateway() -> Doc:
    return copy.deepcopy(next(d for d in _global_docs("prod-eu") if d["kind"] == "MeshGateway"))


def _listener(doc: Doc) -> dict[str, Any]:
    listener: dict[str, Any] = doc["spec"]["conf"]["listeners"][0]
    return listener


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _listener(d).pop("tls"), "cannot be empty with protocol HTTPS"),
        (lambda d: _listener(d)["tls"].update(mode="PASSTHROUGH"), "PASSTHROUGH is not supported"),
        (lambda d: _listener(d)["tls"].update(certificates=[]), "one or two certificates"),
        (lambda d: _listener(d)["tags"].update({"kuma.io/service": "x"}), "kuma.io/service"),
        (lambda d: _listener(d).update(protocol="HTTP3"), "protocol"),
        (lambda d: d["spec"]["conf"].update(listners=[]), "listners"),
        (lambda d: d["spec"]["selectors"][0]["match"].pop("kuma.io/service"), "selectors"),
    ],
)
def test_kuma_refuses_a_broken_mesh_gateway(edit: Any, message: str) -> None:
    gateway = _rendered_gateway()
    assert admission.problems(copy.deepcopy(gateway)) == []
    edit(gateway)
    problems = admission.problems(gateway)
    assert any(message in p for p in problems), problems


def test_kuma_refuses_a_gateway_timeout_towards_a_mesh_service() -> None:
    """Under a MeshGateway target MeshTimeout takes `to` kinds Mesh and MeshExternalService only
    (kumahq/kuma v2.13.10 pkg/plugins/policies/meshtimeout/api/v1alpha1/validator.go)."""
    timeout = copy.deepcopy(
        next(d for d in _global_docs("prod-eu") if meta(d)["name"] == "mesh-gateway-timeout")
    )
    assert admission.problems(copy.deepcopy(timeout)) == []
    timeout["spec"]["to"][0]["targetRef"] = {"kind": "MeshService", "name": "storefront"}
    problems = admission.problems(timeout)
    assert any("spec.to[0].targetRef.kind: 'MeshService' is not supported" in p for p in problems)
