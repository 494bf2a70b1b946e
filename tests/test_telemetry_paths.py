"""Telemetry is not cut off by the mesh's own NetworkPolicies: every proxy (app sidecars and the
mesh gateway) may send spans to the collector MeshTrace names, and every pod a PodMonitoring
selects admits Managed Prometheus on the port it scrapes. Both are connections outside the mesh
(Envoy sends spans from the pod; GMP's collectors scrape from gmp-system on the pod network)."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import stacks
from offline.gitops import egress, mesh
from offline.gitops import facts as gitops_facts
from offline.gitops import render as flux_render
from offline.gitops.documents import Doc, meta, namespace_of
from tests.support import plan_of

STACKS = stacks()
GMP_NAMESPACE = "gmp-system"


def _renders(stack: str, role: str) -> list[flux_render.ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == role]


def _pulumi_gateway_pods(stack: str) -> list[tuple[str, dict[str, str]]]:
    """Namespaces of the mesh gateways Pulumi creates (their pods' labels are Kuma's)."""
    plan = plan_of(stack)
    return [
        (str(r.inputs["metadata"]["namespace"]), {})
        for r in plan.of_type("kubernetes:kuma.io/v1alpha1:MeshGatewayInstance")
    ]


def _trace_endpoints(docs: list[Doc]) -> list[tuple[str, str, int]]:
    """(service, namespace, port) of every OpenTelemetry backend of every MeshTrace."""
    found = []
    for doc in docs:
        if doc.get("kind") != "MeshTrace":
            continue
        for backend in doc["spec"]["default"]["backends"]:
            host, port = backend["openTelemetry"]["endpoint"].rsplit(":", 1)
            service, namespace = host.split(".")[:2]
            found.append((service, namespace, int(port)))
    return found


def _service_pods(docs: list[Doc], service: str, namespace: str) -> dict[str, str]:
    [svc] = [
        d
        for d in docs
        if d.get("kind") == "Service"
        and meta(d).get("name") == service
        and namespace_of(d) == namespace
    ]
    return dict(svc["spec"]["selector"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_proxy_may_send_spans_to_the_collector(stack: str) -> None:
    policies = _renders(stack, "global")[0].objects
    endpoints = _trace_endpoints(policies)
    assert endpoints
    for zone in _renders(stack, "zone"):
        docs = zone.objects
        meshed = mesh.meshed_namespaces(docs)
        proxies = [
            (namespace_of(d), dict(meta(d["spec"]["template"])["labels"]))
            for d in zone.docs
            if d["kind"] == "Deployment" and namespace_of(d) in meshed
        ] + _pulumi_gateway_pods(stack)
        assert proxies
        for service, namespace, port in endpoints:
            collector = egress.Destination(
                port,
                namespace_labels=egress.namespace_labels(zone.docs, namespace),
                pod_labels=_service_pods(zone.docs, service, namespace),
            )
            blocked = [p for p in proxies if not egress.egress_allowed(docs, *p, collector)]
            assert blocked == [], (zone.cluster.name, service)


def _pods(render: flux_render.ClusterRender) -> list[tuple[str, dict[str, str]]]:
    """(namespace, labels) of every Deployment's pods as admitted: Kuma's injector labels the
    pods of meshed namespaces `kuma.io/mesh` (kumahq/kuma pkg/plugins/runtime/k8s/webhooks/
    injector/injector.go)."""
    meshed = mesh.meshed_namespaces(render.objects)
    mesh_label = {"kuma.io/mesh": render.cluster.platform_vars["MESH_NAME"]}
    return [
        (
            namespace_of(d),
            {
                **meta(d["spec"]["template"])["labels"],
                **(mesh_label if namespace_of(d) in meshed else {}),
            },
        )
        for d in render.docs
        if d["kind"] == "Deployment"
    ]


def _scraped(docs: list[Doc]) -> list[tuple[str | None, dict[str, Any], int]]:
    """(namespace or None for cluster-wide, selector, port) of every (Cluster)PodMonitoring."""
    found = []
    for doc in docs:
        if doc.get("kind") not in ("PodMonitoring", "ClusterPodMonitoring"):
            continue
        namespace = namespace_of(doc) if doc["kind"] == "PodMonitoring" else None
        for endpoint in doc["spec"]["endpoints"]:
            if isinstance(endpoint["port"], int):
                found.append((namespace, doc["spec"]["selector"], endpoint["port"]))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_scraped_pod_admits_managed_prometheus(stack: str) -> None:
    gmp = egress.namespace_labels([], GMP_NAMESPACE)
    for render in gitops_facts.rendered_stack(stack):
        pods = _pods(render)
        checked = 0
        for namespace, selector, port in _scraped(render.docs):
            for pod_namespace, labels in pods:
                if namespace not in (None, pod_namespace) or not egress._selects(selector, labels):
                    continue
                checked += 1
                scraper = egress.Destination(port, namespace_labels=gmp, pod_labels={})
                assert egress.ingress_allowed(render.objects, pod_namespace, labels, scraper), (
                    render.cluster.name,
                    pod_namespace,
                    port,
                )
        if render.cluster.role == "zone":
            assert checked, "the data planes of the apps are scraped"


def test_without_the_scrape_rule_the_app_pods_refuse_managed_prometheus() -> None:
    zone = _renders("prod-eu", "zone")[0]
    docs = [
        {**d, "spec": {**d["spec"], "ingress": [r for r in ingress if GMP_NAMESPACE not in str(r)]}}
        if d["kind"] == "NetworkPolicy" and (ingress := d["spec"].get("ingress"))
        else d
        for d in zone.objects
    ]
    [(_, selector, port)] = [s for s in _scraped(zone.docs) if s[2] == 5670]
    namespace, labels = next(p for p in _pods(zone) if egress._selects(selector, p[1]))
    scraper = egress.Destination(port, namespace_labels=egress.namespace_labels([], GMP_NAMESPACE))
    assert not egress.ingress_allowed(docs, namespace, labels, scraper)


def test_without_the_collector_rule_the_apps_cannot_send_spans() -> None:
    zone = _renders("prod-eu", "zone")[0]
    docs = [
        {**d, "spec": {**d["spec"], "egress": [r for r in rules if "observability" not in str(r)]}}
        if d["kind"] == "NetworkPolicy" and (rules := d["spec"].get("egress"))
        else d
        for d in zone.objects
    ]
    [(service, namespace, port)] = _trace_endpoints(_renders("prod-eu", "global")[0].docs)
    collector = egress.Destination(
        port,
        namespace_labels=egress.namespace_labels(zone.docs, namespace),
        pod_labels=_service_pods(zone.docs, service, namespace),
    )
    app_namespace, labels = next(p for p in _pods(zone) if "kuma.io/mesh" in p[1])
    assert not egress.egress_allowed(docs, app_namespace, labels, collector)
