"""Active health checking: every proxy of the mesh, the gateway included,
probes every HTTP service's endpoints on the path the app's readiness answers, and the
MeshHealthCheck's numbers fit the rest of the render: a probe times out no later than one try of
a real request, a dead endpoint is out before kubelet's readiness would take it out, and the
probes of the whole mesh stay a small share of an endpoint's rate limit. Kuma's checker choice
and defaults are ported in offline/kuma_rules.py (health_checker, HEALTH_CHECK_DEFAULTS)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from offline.engine import Plan
from offline.gitops import facts as gitops_facts
from offline.gitops import mesh
from offline.gitops.documents import Doc, ident, is_subset, meta, namespace_of
from offline.gitops.render import ClusterRender
from offline.kuma_rules import health_checker, kuma_policy_problems, service_port_protocol
from tests.support import STACKS, plan_of

# The share of an endpoint's inbound rate limit the probes of every proxy of the mesh may take
# (an upper bound: it counts every proxy at its HPA maximum probing every endpoint directly).
PROBE_SHARE = 0.05


@dataclass(frozen=True)
class Server:
    """A meshed Deployment as a destination: its Service port's Kuma protocol, its readiness probe
    and its proxy tags."""

    name: str
    tags: Mapping[str, str]
    protocol: str
    readiness: Mapping[str, Any]
    max_replicas: int


def _zones(stack: str) -> list[ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]


def _policies(stack: str) -> list[Doc]:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global").docs


def _gateway(stack: str) -> str:
    """The name of the stack's MeshGateway (the one the zones' gateway proxies serve)."""
    (gateway,) = [d for d in _policies(stack) if d["kind"] == "MeshGateway"]
    return str(meta(gateway)["name"])


def _servers(render: ClusterRender) -> Iterator[Server]:
    deployments = {ident(d): d for d in render.docs if d["kind"] == "Deployment"}
    for workload in mesh.mesh_workloads(render):
        deployment = deployments[workload.name]
        pod = deployment["spec"]["template"]
        (service,) = [
            d
            for d in render.docs
            if d["kind"] == "Service"
            and namespace_of(d) == namespace_of(deployment)
            and is_subset(d["spec"]["selector"], meta(pod)["labels"])
        ]
        (port,) = service["spec"]["ports"]
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "app"]
        hpas = [
            d
            for d in render.docs
            if d["kind"] == "HorizontalPodAutoscaler"
            and namespace_of(d) == namespace_of(deployment)
            and d["spec"]["scaleTargetRef"]["name"] == meta(deployment)["name"]
        ]
        # An HPA's maximum, else the Deployment's own count (Kubernetes' default: 1).
        most = hpas[0]["spec"]["maxReplicas"] if hpas else deployment["spec"].get("replicas", 1)
        yield Server(
            name=workload.name,
            tags=workload.tags,
            protocol=service_port_protocol(service, port),
            readiness=container["readinessProbe"],
            max_replicas=int(most),
        )


def _clients(
    stack: str, policies: list[Doc]
) -> Iterator[tuple[str, mesh.ActiveHealthCheck | None, float | None]]:
    """(proxy, the health check it runs, its per-try timeout; None at the edge, which does not
    retry) of every sidecar and of the mesh gateway's proxies."""
    for render in _zones(stack):
        for workload in mesh.mesh_workloads(render):
            check = mesh.active_health_check(policies, workload.tags)
            yield workload.name, check, mesh.retry_budget(policies, workload.tags).per_try
    gateway = _gateway(stack)
    check = mesh.active_health_check(policies, {}, proxy="Gateway", gateway=gateway)
    yield f"gateway {gateway}", check, None


def _gateway_replicas(plan: Plan) -> int:
    return sum(
        int(r.inputs["spec"]["replicas"])
        for r in plan.of_type("kubernetes:kuma.io/v1alpha1:MeshGatewayInstance")
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_proxy_probes_every_http_service_on_its_readiness_path(stack: str) -> None:
    servers = [s for render in _zones(stack) for s in _servers(render)]
    assert servers
    clients = list(_clients(stack, _policies(stack)))
    assert any(name.startswith("gateway") for name, _, _ in clients)
    for name, check, _ in clients:
        assert check is not None, f"{name}: no MeshHealthCheck selects it"
        for server in servers:
            checker = health_checker(check.conf, server.protocol)
            assert checker == "http", (name, server.name, server.protocol, checker)
            probe = server.readiness["httpGet"]
            assert check.conf["http"]["path"] == probe["path"], (name, server.name)
            assert 200 in check.conf["http"]["expectedStatuses"]


@pytest.mark.parametrize("stack", STACKS)
def test_a_retry_avoids_the_endpoints_already_tried(stack: str) -> None:
    """Kuma 2.13 turns hostSelection OmitPreviousHosts into Envoy's previous_hosts retry host
    predicate (meshretry/plugin/v1alpha1/testdata/*.golden.yaml); without it a retry may hit the
    endpoint that just failed, e.g. one a passing probe has un-ejected."""
    policies = _policies(stack)
    for render in _zones(stack):
        for workload in mesh.mesh_workloads(render):
            http = mesh.outbound_conf(policies, "MeshRetry", workload.tags)["http"]
            predicates = [p["predicate"] for p in http.get("hostSelection") or []]
            assert "OmitPreviousHosts" in predicates, workload.name


def timing_problems(stack: str, policies: list[Doc]) -> list[str]:
    """Where the health check's timing does not fit the retry budget or the apps' readiness."""
    problems: list[str] = []
    readiness = [
        (s.name, float(s.readiness["periodSeconds"]) * int(s.readiness["failureThreshold"]))
        for render in _zones(stack)
        for s in _servers(render)
    ]
    for name, check, per_try in _clients(stack, policies):
        assert check is not None, name
        if per_try is not None and check.timeout > per_try:
            problems.append(f"{name}: probe timeout {check.timeout}s > one try's {per_try}s")
        if check.timeout >= check.interval:
            problems.append(f"{name}: probe timeout {check.timeout}s ≥ interval {check.interval}s")
        for server, kubelet in readiness:
            if check.detection > kubelet:
                problems.append(
                    f"{name} -> {server}: a dead endpoint is out after {check.detection}s,"
                    f" kubelet's readiness takes {kubelet}s"
                )
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_health_check_timing_fits_the_retry_budget_and_readiness(stack: str) -> None:
    assert timing_problems(stack, _policies(stack)) == []


def _with_health_check(policies: list[Doc], **default: Any) -> list[Doc]:
    changed = copy.deepcopy(policies)
    for doc in changed:
        if doc["kind"] == "MeshHealthCheck":
            conf = doc["spec"]["to"][0]["default"]
            for key, value in default.items():
                if value is None:
                    conf.pop(key, None)
                else:
                    conf[key] = value
    return changed


@pytest.mark.parametrize(
    ("default", "fragment"),
    [
        # Kuma's defaults (1m interval, 15s timeout, 5 unhealthy): minutes to notice.
        ({"interval": None, "timeout": None, "unhealthyThreshold": None}, "kubelet's readiness"),
        ({"timeout": "2s"}, "one try's"),
        ({"interval": "500ms", "timeout": "500ms"}, "≥ interval"),
    ],
)
def test_timing_check_sees_an_incoherent_health_check(
    default: dict[str, Any], fragment: str
) -> None:
    problems = timing_problems("prod-eu", _with_health_check(_policies("prod-eu"), **default))
    assert any(fragment in p for p in problems), problems


def probe_rate_problems(stack: str, policies: list[Doc], plan: Plan) -> list[str]:
    """Every proxy of the mesh may probe every endpoint (each sidecar has an outbound to every
    service): the probes an endpoint receives per second, at the HPAs' maximum, against the
    inbound rate limit its sidecar enforces."""
    servers = [s for render in _zones(stack) for s in _servers(render)]
    proxies = sum(s.max_replicas for s in servers) + _gateway_replicas(plan)
    check = mesh.active_health_check(policies, {})
    assert check is not None
    problems = []
    for server in servers:
        limit = mesh.inbound_conf(policies, "MeshRateLimit", server.tags)["local"]["http"]
        rate = float(limit["requestRate"]["num"]) / mesh.go_duration(
            str(limit["requestRate"]["interval"])
        )
        probes = proxies / check.interval
        if probes > PROBE_SHARE * rate:
            problems.append(f"{server.name}: {probes:.1f} probes/s > {PROBE_SHARE:.0%} of {rate}/s")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_probes_are_a_small_share_of_each_endpoints_rate_limit(stack: str) -> None:
    assert probe_rate_problems(stack, _policies(stack), plan_of(stack)) == []


def test_probe_rate_check_sees_a_probe_storm() -> None:
    policies = _with_health_check(_policies("prod-eu"), interval="100ms", timeout="50ms")
    assert probe_rate_problems("prod-eu", policies, plan_of("prod-eu"))


@pytest.mark.parametrize(
    ("conf", "protocol", "checker"),
    [
        ({"http": {"path": "/readyz"}}, "http", "http"),
        ({"http": {"path": "/readyz"}}, "http2", "http"),
        # A TCP-only policy does not check an HTTP service at all (no fallback that way).
        ({"tcp": {}}, "http", None),
        ({"http": {"disabled": True}, "tcp": {}}, "http", "tcp"),
        ({"http": {"path": "/readyz"}}, "tcp", None),
        ({"http": {"path": "/readyz"}}, "grpc", None),
        ({"grpc": {}}, "grpc", "grpc"),
    ],
)
def test_kumas_choice_of_checker(conf: dict[str, Any], protocol: str, checker: str | None) -> None:
    assert health_checker(conf, protocol) == checker


def test_a_service_port_without_app_protocol_is_tcp_to_kuma() -> None:
    """Without appProtocol the HTTP check would silently not apply (ProtocolTagFor)."""
    service: dict[str, Any] = {"metadata": {}}
    assert service_port_protocol(service, {"port": 8080}) == "tcp"
    assert service_port_protocol(service, {"port": 8080, "appProtocol": "HTTP"}) == "http"
    assert service_port_protocol(service, {"port": 8080, "appProtocol": "kubernetes.io/h2c"}) == (
        "tcp"
    )
    annotated = {"metadata": {"annotations": {"8080.service.kuma.io/protocol": "http"}}}
    assert service_port_protocol(annotated, {"port": 8080}) == "http"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {}}]},
            "must have at least one defined: http, tcp, grpc",
        ),
        (
            {
                "targetRef": {"kind": "Mesh"},
                "to": [{"targetRef": {"kind": "MeshSubset", "tags": {}}, "default": {"tcp": {}}}],
            },
            "spec.to[0].targetRef.kind",
        ),
    ],
)
def test_kuma_refuses_what_the_health_check_crd_accepts(spec: Any, fragment: str) -> None:
    assert any(fragment in p for p in kuma_policy_problems("MeshHealthCheck", spec))
