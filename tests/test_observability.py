"""Observability on Google Cloud's own stack (docs/observability.md): GMP on every cluster, every
Kuma control plane and data plane scraped, traces through a Workload-Identity collector, and
alert policies whose PromQL names only metrics a rendered PodMonitoring scrapes."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from components.facts import TELEMETRY_SERVICE_ACCOUNT_ID, TELEMETRY_WRITER_ROLES
from components.kuma.settings import SERVER_CERT_EARLY_RENEWAL_HOURS
from components.naming import cluster_of_provider
from components.observability import (
    COLLECTOR_NAMESPACE,
    COLLECTOR_SERVICE_ACCOUNT,
    EXPOSED_METRICS,
    KDS_CERT_ALERT_LEAD,
)
from components.workload_identity import WORKLOAD_IDENTITY_ANNOTATION
from offline.engine import Plan
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import Doc, meta, namespace_of
from offline.gitops.render import ClusterRender
from offline.kuma_rules import kuma_policy_problems
from tests.support import STACKS, plan_of

CLUSTER = "gcp:container/cluster:Cluster"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"

_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# PromQL words that are not metric names (functions, aggregations, operators).
_PROMQL_WORDS = frozenset(
    {"sum", "max", "min", "count", "by", "without", "on", "ignoring", "or", "and", "unless"}
    | {"absent", "increase", "rate", "timestamp", "time", "vector", "bool"}
)


def queried_metrics(query: str) -> set[str]:
    """The metric names a PromQL expression selects: label matchers, ranges, strings and the
    label lists of `by (...)`/`on (...)` removed, then every identifier that is no keyword."""
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", query)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", bare)
    return {word for word in _IDENTIFIER.findall(bare) if word not in _PROMQL_WORDS}


def alert_queries(plan: Plan) -> Iterator[tuple[str, str]]:
    for policy in plan.of_type(ALERT_POLICY):
        for condition in policy.inputs["conditions"]:
            yield policy.name, condition["conditionPrometheusQueryLanguage"]["query"]


def dashboard_queries(plan: Plan) -> Iterator[tuple[str, str]]:
    for dashboard in plan.of_type("gcp:monitoring/dashboard:Dashboard"):
        for tile in json.loads(dashboard.inputs["dashboardJson"])["mosaicLayout"]["tiles"]:
            for data in tile["widget"]["xyChart"]["dataSets"]:
                yield dashboard.name, data["timeSeriesQuery"]["prometheusQuery"]


def renders(stack: str) -> tuple[ClusterRender, ...]:
    return gitops_facts.rendered_stack(stack)


def _docs(render: ClusterRender, kind: str) -> list[Doc]:
    return [d for d in render.docs if d.get("kind") == kind]


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


# -- the checker itself ---------------------------------------------------------------------------
def test_queried_metrics_finds_metric_names_only() -> None:
    query = (
        'max by (cluster, kind) (flux_resource_info{ready="False"}) > 0 or '
        "absent(kds_delta_streams_active) or sum(increase(typo_metric[15m])) > 0"
    )
    assert queried_metrics(query) == {
        "flux_resource_info",
        "kds_delta_streams_active",
        "typo_metric",
    }


# -- GMP on every cluster -------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_runs_managed_prometheus_and_ships_workload_logs(stack: str) -> None:
    clusters = plan_of(stack).of_type(CLUSTER)
    assert clusters
    for cluster in clusters:
        monitoring = cluster.get("monitoringConfig") or {}
        assert (monitoring.get("managedPrometheus") or {}).get("enabled") is True, cluster.name
        # Access logs go to the sidecars' stdout: only WORKLOADS logging ships them.
        assert "WORKLOADS" in (cluster.get("loggingConfig.enableComponents") or []), cluster.name


# -- what is scraped ------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_kuma_control_plane_is_scraped_on_its_metrics_port(stack: str) -> None:
    """Every (cluster, namespace, Deployment) running a Kuma control plane (from the plan) has a
    PodMonitoring in that namespace selecting the chart's pod label `app: <deployment>` on the
    `diagnostics` port (5680, which serves /metrics)."""
    control_planes = gitops_facts.stack_facts(stack).kuma_control_planes
    by_cluster = {r.cluster.name: r for r in renders(stack)}
    assert {cluster for cluster, _, _ in control_planes} == set(by_cluster)
    for cluster, namespace, deployment in control_planes:
        monitors = [
            m
            for m in _docs(by_cluster[cluster], "PodMonitoring")
            if namespace_of(m) == namespace
            and _selects(m["spec"]["selector"], {"app": deployment})
            and {"port": "diagnostics", "path": "/metrics"}.items()
            <= {k: e.get(k) for e in m["spec"]["endpoints"] for k in ("port", "path")}.items()
        ]
        assert len(monitors) == 1, f"{cluster}: {namespace}/{deployment} is not scraped"


# Labels each chart puts on the pods the PodMonitorings scrape, from (chart, release name):
# kuma 2.13.10 templates/_helpers.tpl kuma.cpLabels (`app: <chart name>-control-plane`);
# external-secrets 2.9.0 templates/_helpers.tpl external-secrets.selectorLabels;
# controlplaneio-fluxcd/charts flux-operator templates/deployment.yaml (flux-operator.labels).
CHART_POD_LABELS: dict[str, Callable[[str, str], dict[str, str]]] = {
    "kuma": lambda chart, release: {"app": f"{chart}-control-plane"},
    "external-secrets": lambda chart, release: {
        "app.kubernetes.io/name": chart,
        "app.kubernetes.io/instance": release,
    },
    "flux-operator": lambda chart, release: {"app.kubernetes.io/name": chart},
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_podmonitoring_selects_pods_of_a_release_the_program_installs(stack: str) -> None:
    """Each PodMonitoring selects, in its namespace, the pods of a Helm release the program
    installs on that cluster (the chart's own pod labels for that release)."""
    plan = plan_of(stack)
    releases: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        cluster = cluster_of_provider(release.provider_urn.rsplit("::", 1)[-1])
        chart = str(release.inputs["chart"]).rsplit("/", 1)[-1]
        labels = CHART_POD_LABELS[chart](chart, str(release.inputs["name"]))
        releases.setdefault(cluster, []).append((str(release.inputs["namespace"]), chart, labels))
    for render in renders(stack):
        monitors = _docs(render, "PodMonitoring")
        assert len(monitors) == 3
        for monitor in monitors:
            assert any(
                namespace == namespace_of(monitor) and _selects(monitor["spec"]["selector"], labels)
                for namespace, _, labels in releases[render.cluster.name]
            ), f"{render.cluster.name}: {meta(monitor)['name']} selects no release's pods"


@pytest.mark.parametrize("stack", STACKS)
def test_every_data_plane_is_scraped_where_meshmetric_serves(stack: str) -> None:
    """The MeshMetric (on the global, synced to zones) makes sidecars serve Prometheus on a
    port and path; a ClusterPodMonitoring on every zone scrapes exactly there, selecting the
    label Kuma's injector puts on every injected pod (`kuma.io/mesh: <mesh>`)."""
    all_renders = renders(stack)
    metrics = [d for r in all_renders for d in _docs(r, "MeshMetric")]
    assert len(metrics) == 1
    backend = metrics[0]["spec"]["default"]["backends"][0]
    assert backend["type"] == "Prometheus"
    meshes = gitops_facts.stack_facts(stack).mesh_names
    zones = [r for r in all_renders if r.cluster.role == "zone"]
    assert zones
    for render in zones:
        (monitor,) = _docs(render, "ClusterPodMonitoring")
        mesh = monitor["spec"]["selector"]["matchLabels"]["kuma.io/mesh"]
        assert mesh in meshes
        assert metrics[0]["metadata"]["labels"]["kuma.io/mesh"] == mesh
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == (
            backend["prometheus"]["port"],
            backend["prometheus"]["path"],
        )


# -- the alerts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_queries_only_metrics_a_rendered_podmonitoring_scrapes(stack: str) -> None:
    """Each metric an alert (or a dashboard tile) names is in EXPOSED_METRICS (with its upstream source), and the
    PodMonitoring that scrapes it is rendered in its namespace on every cluster."""
    plan = plan_of(stack)
    assert len({name for name, _ in alert_queries(plan)}) == 4
    queries = [*alert_queries(plan), *dashboard_queries(plan)]
    for render in renders(stack):
        monitors = {(namespace_of(m), meta(m)["name"]) for m in _docs(render, "PodMonitoring")}
        for policy, query in queries:
            names = queried_metrics(query)
            assert names, f"{policy}: {query!r} names no metric"
            for name in names:
                assert name in EXPOSED_METRICS, f"{policy}: {name} is not a scraped metric"
                scraped = EXPOSED_METRICS[name]
                assert (scraped.namespace, scraped.podmonitoring) in monitors, (
                    f"{render.cluster.name}: {name} needs PodMonitoring "
                    f"{scraped.namespace}/{scraped.podmonitoring}"
                )


@pytest.mark.parametrize("stack", STACKS)
def test_alert_policies_are_promql_against_gmp_and_survive_a_fresh_project(stack: str) -> None:
    for policy in plan_of(stack).of_type(ALERT_POLICY):
        assert policy.inputs["combiner"] == "OR"
        for condition in policy.inputs["conditions"]:
            assert set(condition) == {"displayName", "conditionPrometheusQueryLanguage"}
            promql = condition["conditionPrometheusQueryLanguage"]
            # Created before anything is scraped: metric validation would refuse the policy.
            assert promql["disableMetricValidation"] is True


def _zone_alert(plan: Plan) -> list[str]:
    return [q for name, q in alert_queries(plan) if name.endswith("kuma-zone-disconnected")]


@pytest.mark.parametrize("stack", STACKS)
def test_zone_disconnected_alert_watches_every_zone_and_the_global(stack: str) -> None:
    plan = plan_of(stack)
    facts = gitops_facts.stack_facts(stack)
    zones = sorted(c.name for c in facts.clusters if c.role == "zone")
    (glob,) = [c.name for c in facts.clusters if c.role == "global"]
    per_zone, on_global = _zone_alert(plan)
    for zone in zones:
        assert f'absent(kds_delta_streams_active{{namespace="kuma-system",cluster="{zone}"}})' in (
            per_zone
        )
    assert per_zone.startswith("(sum by (cluster) (kds_delta_streams_active{")
    assert on_global.endswith(f'cluster="{glob}"}}) < {len(zones)}')


@pytest.mark.parametrize("stack", STACKS)
def test_kds_certificate_alert_fires_before_expiry_after_the_renewal_window(stack: str) -> None:
    """The deadline in the query is the server certificate's expiry (pulumi-tls output) minus
    the lead; inside the renewal window, so a routine `pulumi up` moves it first."""
    plan = plan_of(stack)
    (cert,) = plan.of_type("tls:index/locallySignedCert:LocallySignedCert")
    expiry = datetime.datetime.fromisoformat(cert.outputs["validityEndTime"])
    (query,) = [q for n, q in alert_queries(plan) if n.endswith("kds-certificate-expiry")]
    deadline = int(query.rsplit(">", 1)[1])
    assert deadline == int((expiry - KDS_CERT_ALERT_LEAD).timestamp())
    assert datetime.timedelta(hours=SERVER_CERT_EARLY_RENEWAL_HOURS) > KDS_CERT_ALERT_LEAD


# -- traces: collector identity and endpoint ------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_collector_acts_as_the_trace_writer_identity_without_keys(stack: str) -> None:
    plan = plan_of(stack)
    account = plan.one("gcp:serviceaccount/account:Account", TELEMETRY_SERVICE_ACCOUNT_ID)
    email = account.outputs["email"]
    grants = {
        r.inputs["role"]
        for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
        if r.inputs["member"] == f"serviceAccount:{email}"
    }
    assert grants == set(TELEMETRY_WRITER_ROLES)
    binding = plan.one(
        "gcp:serviceaccount/iAMMember:IAMMember",
        f"{TELEMETRY_SERVICE_ACCOUNT_ID}-workload-identity-user",
    )
    assert binding.inputs["member"].endswith(
        f".svc.id.goog[{COLLECTOR_NAMESPACE}/{COLLECTOR_SERVICE_ACCOUNT}]"
    )
    zones = [r for r in renders(stack) if r.cluster.role == "zone"]
    for render in zones:
        (ksa,) = [
            d
            for d in _docs(render, "ServiceAccount")
            if namespace_of(d) == COLLECTOR_NAMESPACE
            and meta(d)["name"] == COLLECTOR_SERVICE_ACCOUNT
        ]
        assert meta(ksa)["annotations"][WORKLOAD_IDENTITY_ANNOTATION] == email
        (collector,) = [
            d for d in _docs(render, "Deployment") if namespace_of(d) == COLLECTOR_NAMESPACE
        ]
        assert collector["spec"]["template"]["spec"]["serviceAccountName"] == meta(ksa)["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_mesh_trace_endpoint_is_a_collector_service_on_every_zone(stack: str) -> None:
    all_renders = renders(stack)
    traces = [d for r in all_renders for d in _docs(r, "MeshTrace")]
    assert len(traces) == 1
    (backend,) = traces[0]["spec"]["default"]["backends"]
    assert backend["type"] == "OpenTelemetry"
    host, port = backend["openTelemetry"]["endpoint"].rsplit(":", 1)
    service, namespace = host.split(".")[:2]
    for render in (r for r in all_renders if r.cluster.role == "zone"):
        services = [
            d
            for d in _docs(render, "Service")
            if namespace_of(d) == namespace and meta(d)["name"] == service
        ]
        assert services, f"{render.cluster.name}: no Service {namespace}/{service}"
        assert int(port) in {p["port"] for p in services[0]["spec"]["ports"]}
        # The collector's NetworkPolicy lets the sidecars of every namespace in on that port.
        pods = services[0]["spec"]["selector"]
        allowed = {
            (rule_port["port"], bool(peer.get("namespaceSelector") == {}))
            for policy in _docs(render, "NetworkPolicy")
            if namespace_of(policy) == namespace and _selects(policy["spec"]["podSelector"], pods)
            for rule in policy["spec"]["ingress"]
            for rule_port in rule["ports"]
            for peer in rule["from"]
        }
        assert (int(port), True) in allowed, f"{render.cluster.name}: OTLP port not admitted"


@pytest.mark.parametrize("stack", STACKS)
def test_access_logs_go_to_stdout_for_cloud_logging(stack: str) -> None:
    # One for the sidecars, one for the mesh gateway (tests/test_mesh_access_log.py).
    logs = [d for r in renders(stack) for d in _docs(r, "MeshAccessLog")]
    assert len(logs) == 2
    for log in logs:
        backends = [b for rule in log["spec"]["rules"] for b in rule["default"]["backends"]]
        assert [(b["type"], b["file"]["path"]) for b in backends] == [("File", "/dev/stdout")]


# -- what Kuma's admission refuses in the telemetry policies (the CRDs accept it) -----------------
@pytest.mark.parametrize(
    ("kind", "spec", "fragment"),
    [
        ("MeshTrace", {"targetRef": {"kind": "MeshHTTPRoute", "name": "r"}}, "spec.targetRef.kind"),
        ("MeshMetric", {"targetRef": {"kind": "Mesh", "name": "x"}}, "must not be set"),
        ("MeshAccessLog", {"targetRef": {"kind": "Mesh"}}, "at least one of"),
        (
            "MeshAccessLog",
            {"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "MeshService"}}]},
            "spec.from[0].targetRef.kind",
        ),
    ],
)
def test_kuma_refuses_what_the_telemetry_crds_accept(kind: str, spec: Any, fragment: str) -> None:
    assert any(fragment in problem for problem in kuma_policy_problems(kind, spec))


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_policy_notifies_each_configured_address(stack: str) -> None:
    plan = plan_of(stack)
    emails = plan.config.get("platform:alertEmails") or []
    channels = plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == sorted(emails)
    assert all(c.inputs["type"] == "email" for c in channels)
    names = sorted(c.outputs["name"] for c in channels)
    for policy in plan.of_type(ALERT_POLICY):
        assert sorted(policy.inputs.get("notificationChannels") or []) == names, policy.name


def test_prod_alerts_notify_someone() -> None:
    assert plan_of("prod-eu").of_type("gcp:monitoring/notificationChannel:NotificationChannel")
