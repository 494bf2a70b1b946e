"""What watches the platform on Google Cloud's own stack: the OpenTelemetry collector's identity
(Cloud Trace), and the Cloud Monitoring alert policies and dashboard over the metrics Managed
Service for Prometheus scrapes (PodMonitorings in k8s/infrastructure; docs/observability.md)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.facts import TELEMETRY_SERVICE_ACCOUNT_ID, TELEMETRY_WRITER_ROLES
from components.kuma import KUMA_NAMESPACE
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

# The collector's Kubernetes identity (k8s/infrastructure/zone/observability/otel-collector.yaml).
COLLECTOR_NAMESPACE = "observability"
COLLECTOR_SERVICE_ACCOUNT = "otel-collector"

# Alert when the KDS server certificate has this little validity left: any `pulumi up` in its
# last 30 days renews it (components/kuma/settings.py), so firing means nobody ran one for 16.
KDS_CERT_ALERT_LEAD = datetime.timedelta(days=14)


@dataclass(frozen=True)
class ScrapedMetric:
    """A metric an alert may query: which PodMonitoring (k8s/infrastructure/base/monitoring)
    scrapes it, in which namespace, and where upstream defines it."""

    podmonitoring: str
    namespace: str
    source: str


EXPOSED_METRICS: dict[str, ScrapedMetric] = {
    # Gauge of open KDS delta streams. On the global: one GlobalToZoneSync stream per connected
    # zone; on a zone: 1 while its ZoneToGlobalSync session is up (leader only).
    "kds_delta_streams_active": ScrapedMetric(
        "kuma-control-plane",
        KUMA_NAMESPACE,
        'kumahq/kuma v2.13.10 pkg/util/xds/stats_callbacks.go (dsType + "_streams_active"), '
        'dsType "kds_delta" in pkg/kds/v2/server/components.go; global: pkg/kds/global/'
        "components.go, zone: pkg/kds/zone/components.go + pkg/kds/mux/client.go",
    ),
    # Counter per ExternalSecret (labels name, namespace) of failed syncs.
    "externalsecret_sync_calls_error": ScrapedMetric(
        "external-secrets",
        "external-secrets",
        "external-secrets v2.9.0 pkg/controllers/externalsecret/esmetrics/esmetrics.go "
        "(Subsystem externalsecret, Name sync_calls_error)",
    ),
    # Gauge per ExternalSecret condition (labels name, namespace, condition, status).
    "externalsecret_status_condition": ScrapedMetric(
        "external-secrets",
        "external-secrets",
        "external-secrets v2.9.0 pkg/controllers/externalsecret/esmetrics/esmetrics.go "
        "(Subsystem externalsecret, Name status_condition)",
    ),
    # Gauge per Flux object with its Ready status (labels kind, name, exported_namespace,
    # ready, reason, suspended), refreshed with the FluxReport.
    "flux_resource_info": ScrapedMetric(
        "flux-operator",
        "flux-system",
        "controlplaneio-fluxcd/flux-operator v0.58.1 internal/reporter/metrics.go, "
        "docs/guides/instance/instance-monitoring.md",
    ),
    "flux_instance_info": ScrapedMetric(
        "flux-operator",
        "flux-system",
        "controlplaneio-fluxcd/flux-operator v0.58.1 internal/reporter/metrics.go",
    ),
}


def _selector(metric: str, namespace: str, clusters: Sequence[str]) -> str:
    if len(clusters) == 1:
        return f'{metric}{{namespace="{namespace}",cluster="{clusters[0]}"}}'
    return f'{metric}{{namespace="{namespace}",cluster=~"{"|".join(clusters)}"}}'


def zone_disconnected_query(zone_clusters: Sequence[str]) -> str:
    """A zone (by its cluster) without a KDS session to the global, or not reporting at all."""
    metric = "kds_delta_streams_active"
    ns = EXPOSED_METRICS[metric].namespace
    parts = [f"sum by (cluster) ({_selector(metric, ns, zone_clusters)}) < 1"]
    parts += [f"absent({_selector(metric, ns, [zone])})" for zone in zone_clusters]
    return " or ".join(f"({p})" for p in parts)


def global_missing_zones_query(global_cluster: str, zone_count: int) -> str:
    """The global sees fewer zone streams than the stack has zones."""
    metric = "kds_delta_streams_active"
    ns = EXPOSED_METRICS[metric].namespace
    return f"sum({_selector(metric, ns, [global_cluster])}) < {zone_count}"


def kds_cert_expiry_query(global_cluster: str, expiry_rfc3339: str) -> str:
    """Fires once the evaluation time passes the certificate's expiry minus the lead. The
    program knows the expiry (pulumi-tls); nothing in the cluster exports it, so the deadline is
    written into the query and moves with every renewal."""
    expiry = datetime.datetime.fromisoformat(expiry_rfc3339.replace("Z", "+00:00"))
    deadline = int((expiry - KDS_CERT_ALERT_LEAD).timestamp())
    metric = "kds_delta_streams_active"
    ns = EXPOSED_METRICS[metric].namespace
    return f"timestamp(max({_selector(metric, ns, [global_cluster])})) > {deadline}"


ESO_SYNC_ERRORS_QUERY = (
    "sum by (cluster, name) (increase(externalsecret_sync_calls_error[15m])) > 0"
)
ESO_NOT_READY_QUERY = (
    'max by (cluster, name) (externalsecret_status_condition{condition="Ready",status="False"}) > 0'
)
FLUX_NOT_READY_QUERY = (
    "max by (cluster, kind, name, exported_namespace) "
    '(flux_resource_info{ready="False",suspended="False"}) > 0'
)
FLUX_INSTANCE_NOT_READY_QUERY = 'max by (cluster, name) (flux_instance_info{ready="False"}) > 0'


@dataclass(frozen=True)
class AlertCondition:
    name: str
    query: pulumi.Input[str]
    duration: str


@dataclass(frozen=True)
class Alert:
    name: str
    summary: str
    runbook: str
    severity: str
    conditions: Sequence[AlertCondition]


@dataclass(frozen=True)
class ObservabilityArgs:
    project: str
    environment: str
    global_cluster: str
    zone_clusters: Sequence[str]
    kds_server_cert_expiry: pulumi.Input[str]
    # The clusters running the collector: its Workload Identity binding waits for them.
    clusters: Sequence[pulumi.Resource]
    # `platform:alertEmails`: one email notification channel each, on every alert policy.
    alert_emails: Sequence[str] = ()
    depends_on: Sequence[pulumi.Resource] = ()


def alerts(args: ObservabilityArgs) -> list[Alert]:
    runbook = "docs/observability.md#alerts"
    expiry_query = pulumi.Output.from_input(args.kds_server_cert_expiry).apply(
        lambda expiry: kds_cert_expiry_query(args.global_cluster, expiry)
    )
    return [
        Alert(
            "kuma-zone-disconnected",
            "A Kuma zone has no KDS session with the global control plane",
            runbook,
            "CRITICAL",
            [
                AlertCondition(
                    "zone-without-session",
                    zone_disconnected_query(args.zone_clusters),
                    "300s",
                ),
                AlertCondition(
                    "global-missing-zones",
                    global_missing_zones_query(args.global_cluster, len(args.zone_clusters)),
                    "300s",
                ),
            ],
        ),
        Alert(
            "kuma-kds-certificate-expiry",
            "The KDS server certificate expires within 14 days: run `pulumi up` to renew it",
            runbook,
            "WARNING",
            [AlertCondition("renewal-overdue", expiry_query, "0s")],
        ),
        Alert(
            "external-secrets-sync-failing",
            "External Secrets cannot sync an ExternalSecret from Secret Manager",
            runbook,
            "ERROR",
            [
                AlertCondition("sync-errors", ESO_SYNC_ERRORS_QUERY, "600s"),
                AlertCondition("not-ready", ESO_NOT_READY_QUERY, "600s"),
            ],
        ),
        Alert(
            "flux-reconciliation-failing",
            "A Flux object or the FluxInstance is not Ready",
            runbook,
            "ERROR",
            [
                AlertCondition("resource-not-ready", FLUX_NOT_READY_QUERY, "900s"),
                AlertCondition("instance-not-ready", FLUX_INSTANCE_NOT_READY_QUERY, "900s"),
            ],
        ),
    ]


def dashboard_json(args: ObservabilityArgs) -> str:
    """A Cloud Monitoring dashboard (mosaicLayout, PromQL tiles) over the alerts' metrics."""
    ns = KUMA_NAMESPACE
    zones = list(args.zone_clusters)
    tiles = [
        (
            "KDS sessions per zone",
            f"sum by (cluster) ({_selector('kds_delta_streams_active', ns, zones)})",
        ),
        (
            "Zones connected to the global",
            f"sum({_selector('kds_delta_streams_active', ns, [args.global_cluster])})",
        ),
        (
            "ExternalSecret sync errors (15m)",
            "sum by (cluster, name) (increase(externalsecret_sync_calls_error[15m]))",
        ),
        (
            "Flux objects not Ready",
            'count by (cluster, kind) (flux_resource_info{ready="False",suspended="False"})',
        ),
    ]
    width, height = 24, 16
    return json.dumps(
        {
            "displayName": f"Platform {args.environment}: mesh, secrets, GitOps",
            "mosaicLayout": {
                "columns": 48,
                "tiles": [
                    {
                        "xPos": (index % 2) * width,
                        "yPos": (index // 2) * height,
                        "width": width,
                        "height": height,
                        "widget": {
                            "title": title,
                            "xyChart": {
                                "dataSets": [
                                    {
                                        "timeSeriesQuery": {"prometheusQuery": query},
                                        "plotType": "LINE",
                                    }
                                ]
                            },
                        },
                    }
                    for index, (title, query) in enumerate(tiles)
                ],
            },
        },
        sort_keys=True,
    )


class Observability(pulumi.ComponentResource):
    collector_identity: WorkloadIdentity
    notification_channels: list[gcp.monitoring.NotificationChannel]
    alert_policies: dict[str, gcp.monitoring.AlertPolicy]
    dashboard: gcp.monitoring.Dashboard

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.collector_identity = WorkloadIdentity(
            TELEMETRY_SERVICE_ACCOUNT_ID,
            WorkloadIdentityArgs(
                project=args.project,
                namespace=COLLECTOR_NAMESPACE,
                service_account_name=COLLECTOR_SERVICE_ACCOUNT,
                account_id=TELEMETRY_SERVICE_ACCOUNT_ID,
                description="OpenTelemetry collector (writes the mesh's traces to Cloud Trace)",
                clusters=args.clusters,
                depends_on=args.depends_on,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        for role in TELEMETRY_WRITER_ROLES:
            gcp.projects.IAMMember(
                f"{TELEMETRY_SERVICE_ACCOUNT_ID}-{role.rsplit('/', 1)[-1]}",
                project=args.project,
                role=role,
                member=self.collector_identity.member,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.notification_channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{index}",
                project=args.project,
                type="email",
                display_name=f"{args.environment} platform alerts: {address}",
                labels={"email_address": address},
                user_labels={"environment": args.environment},
                opts=child,
            )
            for index, address in enumerate(args.alert_emails)
        ]
        self.alert_policies = {
            alert.name: gcp.monitoring.AlertPolicy(
                f"{name}-{alert.name}",
                project=args.project,
                display_name=f"{args.environment}: {alert.summary}",
                combiner="OR",
                notification_channels=[c.name for c in self.notification_channels],
                severity=alert.severity,
                user_labels={"environment": args.environment},
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    subject=f"[{args.environment}] {alert.summary}",
                    content=f"{alert.summary}. Runbook: {alert.runbook}",
                    mime_type="text/markdown",
                ),
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=condition.name,
                        condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                            query=condition.query,
                            duration=condition.duration,
                            evaluation_interval="60s",
                            alert_rule=condition.name.replace("-", "_"),
                            rule_group=alert.name.replace("-", "_"),
                            # The metrics exist only once GMP has scraped them: on a fresh
                            # project the policy is created first (pulumi-gcp docs).
                            disable_metric_validation=True,
                        ),
                    )
                    for condition in alert.conditions
                ],
                opts=child,
            )
            for alert in alerts(args)
        }
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=dashboard_json(args),
            opts=child,
        )
        self.register_outputs(
            {
                "collectorServiceAccount": self.collector_identity.email,
                "alertPolicies": sorted(self.alert_policies),
            }
        )
