"""The NetworkPolicies of a meshed namespace, applied by the program (never by a tenant's Flux:
policies "do not conflict, they are additive", a pod gets the union of their rules, so whoever
may create one may reopen every connection; kubernetes.io/docs/concepts/services-networking/
network-policies)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kuma.settings import (
    KUMA_NAMESPACE,
    MESH_NAME,
    TRACE_COLLECTOR_LABELS,
    TRACE_COLLECTOR_NAMESPACE,
    TRACE_COLLECTOR_PORT,
)

# Set on every namespace by the API server (Kubernetes 1.22+).
NAME_LABEL = "kubernetes.io/metadata.name"
APP_PORT = 8080
# The data plane's MeshMetric endpoint (k8s/infrastructure/zone/observability/dataplanes.yaml).
SIDECAR_METRICS_PORT = 5670


def _namespaces(labels: dict[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
    )


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in ports]


def _dns() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Cluster DNS: kube-dns in kube-system, UDP and TCP 53."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={NAME_LABEL: "kube-system"}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        ports=[
            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP"),
        ],
    )


def _ip(
    cidr: str, *, port: int, exclude: tuple[str, ...] = ()
) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr, except_=list(exclude) or None)
            )
        ],
        ports=_tcp(port),
    )


# The GKE metadata server a pod reaches for Workload Identity tokens: 169.254.169.254:80, served
# on Dataplane V2 nodes from 169.254.169.252:988 (cloud.google.com/kubernetes-engine/docs/how-to/
# workload-identity, restrictions on network policies; unverified here).
METADATA_SERVER: tuple[tuple[str, int], ...] = (
    ("169.254.169.254/32", 80),
    ("169.254.169.252/32", 988),
)
PLATFORM_EGRESS_POLICY = "platform-egress"


def platform_egress_policy(
    resource_name: str, namespace: str, kds_address: str, opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Egress of a platform namespace of a zone cluster (Flux, External Secrets): HTTPS to any
    address but the global's KDS address (the API server, whose in-cluster Service is translated
    to the control plane's endpoint before policy applies, and whose address depends on how GKE
    connects the control plane; Google APIs; git and OCI registries), the namespace's own pods
    (Flux's controllers fetch artifacts from source-controller), cluster DNS and the metadata
    server. Selecting every pod isolates them for egress, so nothing else leaves, the KDS port
    included: only kuma-system, which no egress policy selects, reaches KDS
    (docs/architecture.md, "What Kuma does not authenticate")."""
    return _egress_of_every_pod(
        resource_name,
        PLATFORM_EGRESS_POLICY,
        namespace,
        [
            _ip("0.0.0.0/0", port=443, exclude=(f"{kds_address}/32",)),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        pod_selector=k8s.meta.v1.LabelSelectorArgs()
                    )
                ]
            ),
            _dns(),
            *(_ip(cidr, port=port) for cidr, port in METADATA_SERVER),
        ],
        opts,
    )


def _egress_of_every_pod(
    resource_name: str,
    name: str,
    namespace: str,
    rules: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A policy selecting every pod of `namespace` for egress (so each may reach only what some
    policy's `rules` allow; None allows nothing)."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Egress"], egress=rules
        ),
        opts=opts,
    )


def no_egress_policy(
    resource_name: str, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Egress isolation allowing nothing: for a namespace where nothing of ours runs (`default`),
    so a pod started there reaches neither KDS nor anything else."""
    return _egress_of_every_pod(resource_name, "no-egress", namespace, None, opts)


def mesh_egress_policy(
    resource_name: str, name: str, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Where a meshed pod may connect: its Kuma zone control plane (dp-server 5678), the
    ZoneEgress (10002; every call to another zone or to a MeshExternalService goes through it,
    the Mesh has routing.zoneEgress on and passthrough off), the app port of pods in namespaces
    of the mesh, the zone's trace collector and cluster DNS. Nothing else: a process that slips
    past the sidecar's redirection still cannot reach the internet, another zone directly, or
    the global's KDS address (only the Kuma system namespace may, docs/architecture.md). Ports:
    kumahq/kuma v2.13.10 deployments/charts/kuma/templates/cp-service.yaml (dp-server),
    egress-service.yaml (10002). An egress policy that selects a pod isolates it for egress
    (Kubernetes NetworkPolicy); GKE Dataplane V2 enforces it."""
    return _egress_of_every_pod(
        resource_name,
        name,
        namespace,
        [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[_namespaces({NAME_LABEL: KUMA_NAMESPACE})], ports=_tcp(5678, 10002)
            ),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[_namespaces({"kuma.io/mesh": MESH_NAME})], ports=_tcp(APP_PORT)
            ),
            # Envoy sends spans itself, from the pod, to the zone's OpenTelemetry collector
            # (MeshTrace, k8s/mesh/observability/trace.yaml; kumahq/kuma
            # pkg/plugins/policies/meshtrace).
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={NAME_LABEL: TRACE_COLLECTOR_NAMESPACE}
                        ),
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels=TRACE_COLLECTOR_LABELS
                        ),
                    )
                ],
                ports=_tcp(TRACE_COLLECTOR_PORT),
            ),
            _dns(),
        ],
        opts,
    )


def app_ingress_policy(
    resource_name: str, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """The app port, only from pods of this cluster (callers are sidecars and the Kuma zone
    ingress; who may call whom is decided by Kuma MeshTrafficPermissions over mTLS), and the
    data plane's metrics port for Managed Prometheus."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name="app", namespace=namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs()
                        )
                    ],
                    ports=_tcp(APP_PORT),
                ),
                # GKE Managed Prometheus scrapes the sidecar's MeshMetric endpoint from its
                # collectors in gmp-system (pod network, not host network:
                # GoogleCloudPlatform/prometheus-engine manifests/operator.yaml).
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[_namespaces({NAME_LABEL: "gmp-system"})],
                    ports=_tcp(SIDECAR_METRICS_PORT),
                ),
            ],
        ),
        opts=opts,
    )
