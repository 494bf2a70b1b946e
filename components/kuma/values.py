"""Helm values of the Kuma chart for the global and the zone control planes, and the Mesh spec."""

from __future__ import annotations

import hashlib
from typing import Any

from components.facts import (
    HA_CONTROL_PLANE_REPLICAS,
    MIN_WEBHOOK_REPLICAS,
    ZONES_PER_REGION,
    Stage,
)
from components.kuma.settings import (
    GATEWAY_TLS_SECRET,
    GLOBAL_ACCESS,
    INTERNAL_LB,
    KDS_CA_SECRET,
    KDS_PORT,
    KDS_SERVER_SECRET,
    MESH_CA_CERT_SECRET,
    MESH_CA_KEY_SECRET,
    MESH_NAME,
    MESH_SECRET_TYPE,
    MTLS_BACKEND,
)

# The control plane's pods, as the chart labels them (v2.13.10 _helpers.tpl kuma.cpLabels and
# kuma.selectorLabels). Rendered with `tpl` by the chart (cp-deployment.yaml), like its own
# default affinity, so the chart's name and the release name are resolved by Helm.
CONTROL_PLANE_POD_LABELS = {
    "app": '{{ include "kuma.name" . }}-control-plane',
    "app.kubernetes.io/name": '{{ include "kuma.name" . }}',
    "app.kubernetes.io/instance": "{{ .Release.Name }}",
}


def _zone_spread() -> list[dict[str, Any]]:
    """One replica per zone, hard: with DoNotSchedule and minDomains a replica stays Pending
    (and the cluster autoscaler adds a node in the missing zone) rather than doubling up in a
    zone. `pod-template-hash` spreads each rollout's ReplicaSet on its own (Kubernetes
    "Pod Topology Spread Constraints": matchLabelKeys, minDomains)."""
    return [
        {
            "maxSkew": 1,
            "minDomains": ZONES_PER_REGION,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": dict(CONTROL_PLANE_POD_LABELS)},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def _availability(highly_available: bool, priority_class: str) -> dict[str, Any]:
    """The control plane serves Kuma's admission webhooks (the injector fails closed): never one
    replica, always a disruption budget; in prod one replica per zone."""
    return {
        "priorityClassName": priority_class,
        "replicas": HA_CONTROL_PLANE_REPLICAS if highly_available else MIN_WEBHOOK_REPLICAS,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        **({"topologySpreadConstraints": _zone_spread()} if highly_available else {}),
    }


def global_values(
    *, highly_available: bool, server_cert_pem: str, priority_class: str
) -> dict[str, Any]:
    return {
        "controlPlane": {
            "mode": "global",
            **_availability(highly_available, priority_class),
            # Kuma 2.13 reads its KDS certificate at start only, and the chart restarts the
            # control plane only for secrets it generates: a renewed certificate rolls the pods.
            "podAnnotations": {
                "checksum/kds-server-tls": hashlib.sha256(server_cert_pem.encode()).hexdigest()
            },
            # Our Mesh is created by this program; the chart's default one would collide.
            "defaults": {"skipMeshCreation": True},
            # Zones may connect only once the global holds the mesh: the program creates the
            # zone-sync Service behind that gate (components/kuma/zone_sync.py), not the chart.
            "globalZoneSyncService": {"enabled": False},
            "tls": {"kdsGlobalServer": {"secretName": KDS_SERVER_SECRET}},
        },
    }


# Where GKE keeps CNI binaries and configuration on its nodes (COS), as Kuma documents the Kuma CNI
# for GKE, Dataplane V2 included (kumahq/kuma-website app/_src/production/dp-config/cni.md, tab
# "Google - GKE"): chained after GKE's own plugin.
GKE_CNI_BIN_DIR = "/home/kubernetes/bin"
GKE_CNI_NET_DIR = "/etc/cni/net.d"
# The conflist GKE Dataplane V2 writes and Kuma chains onto (same page: `CNI_CONF_NAME=
# 10-gke-ptp.conflist` for GKE Dataplane V2).
GKE_DPV2_CNI_CONF = "10-gke-ptp.conflist"


def cni_values() -> dict[str, Any]:
    """The Kuma CNI on a zone cluster: the node's CNI chain sets up each meshed pod's traffic
    redirection, so the injector adds no privileged `kuma-init` (injector.go: with
    `KUMA_RUNTIME_KUBERNETES_INJECTOR_CNI_ENABLED`, which the chart sets from `cni.enabled`, only
    the unprivileged `kuma-validation`) and application namespaces enforce Pod Security
    `restricted` (components/tenant.py). The DaemonSet is the only privileged part; it runs in
    kube-system (`cni.namespace`'s default), at system-node-critical, on every node (the chart
    tolerates every taint: templates/cni-daemonset.yaml).
    `confName` is the file Kuma documents for Dataplane V2. Left empty, the installer would look
    for a conf(list) once, at start, and without one fall back to its own `YYY-kuma-cni.conflist`
    (kumahq/kuma v2.13.10 app/cni/pkg/install/installer_config.go `PostProcess`), a file nobody
    writes on GKE; with either name, a missing file makes it wait 5 minutes and exit
    (main.go `setupChainedPlugin`), so a wrong name shows as a CNI pod that never becomes ready
    (docs/architecture.md, "Tenancy")."""
    return {
        "enabled": True,
        "chained": True,
        "netDir": GKE_CNI_NET_DIR,
        "binDir": GKE_CNI_BIN_DIR,
        "confName": GKE_DPV2_CNI_CONF,
    }


def zone_values(
    zone: str, address: str, highly_available: bool, priority_class: str
) -> dict[str, Any]:
    proxy = {
        "enabled": True,
        "priorityClassName": priority_class,
        "replicas": 2 if highly_available else 1,
        "podDisruptionBudget": {"enabled": highly_available, "maxUnavailable": 1},
    }
    return {
        "controlPlane": {
            "mode": "zone",
            "zone": zone,
            "kdsGlobalAddress": f"grpcs://{address}:{KDS_PORT}",
            **_availability(highly_available, priority_class),
            "tls": {"kdsZoneClient": {"secretName": KDS_CA_SECRET, "skipVerify": False}},
        },
        # Other zones reach this zone's services through its ZoneIngress, possibly cross-region.
        "ingress": {
            **proxy,
            "service": {"type": "LoadBalancer", "annotations": {**INTERNAL_LB, **GLOBAL_ACCESS}},
        },
        "egress": proxy,
        "cni": cni_values(),
    }


def mesh_spec() -> dict[str, Any]:
    """mTLS (required before zoneEgress is accepted) from the program's own CA, cross-zone and
    external traffic via the ZoneEgress, no passthrough.

    A `provided` backend, not `builtin`: a builtin CA is generated by the global when the Mesh is
    created and lives only there, so a rebuilt global would mint a new trust root. The provided
    one is read from the Kuma Secrets MESH_CA_CERT_SECRET / MESH_CA_KEY_SECRET of the mesh
    (kumahq/kuma v2.13.10 pkg/plugins/ca/provided/config/provided_ca_config.proto: `cert` and
    `key` are DataSources, `secret` names a Kuma Secret of the mesh), which the program writes
    from the state; Kuma validates the pair when the Mesh is applied (manager.go
    `ValidateBackend`), so the Secrets come first."""
    return {
        "mtls": {
            "enabledBackend": MTLS_BACKEND,
            "backends": [
                {
                    "name": MTLS_BACKEND,
                    "type": "provided",
                    "dpCert": {"rotation": {"expiration": "24h"}},
                    "conf": {
                        "cert": {"secret": MESH_CA_CERT_SECRET},
                        "key": {"secret": MESH_CA_KEY_SECRET},
                    },
                }
            ],
        },
        # `defaultForbidMeshExternalServiceAccess: true` "blocks traffic to MeshExternalServices"
        # (api/mesh/v1alpha1/mesh.proto) and in Kuma OSS nothing lifts it: the ZoneEgress gets a
        # deny-all RBAC filter on every MeshExternalService chain, no MeshTrafficPermission is
        # consulted (kumahq/kuma v2.13.10 pkg/plugins/policies/meshtrafficpermission/plugin/
        # v1alpha1/plugin.go configureEgress, the `mesNames` loop). With it the database
        # (k8s/mesh/components/database) would be unreachable, so it is off: every declared
        # MeshExternalService is reachable from the mesh, only through the ZoneEgress; what a
        # MeshExternalService serves is protected by its own credentials (the database's are
        # readable by its tenant alone: docs/architecture.md).
        "routing": {"zoneEgress": True, "defaultForbidMeshExternalServiceAccess": False},
        # Nothing leaves the mesh but to a declared MeshExternalService, which Kuma serves only
        # through the ZoneEgress (kumahq/kuma docs/madr/decisions/062-meshexternalservice-and-
        # zoneegress.md: "egress only"): without passthrough a sidecar has no route to any
        # other address (tests/test_mesh_egress.py).
        "networking": {"outbound": {"passthrough": False}},
        # Kuma would create default MeshTimeout/MeshRetry/MeshCircuitBreaker policies that sort
        # after ours and override them: the defaults live in k8s/mesh instead.
        "skipCreatingInitialPolicies": ["*"],
    }


# The mesh-wide default permission: the program's, created with the Mesh (a Mesh with mTLS and
# no permission denies everything). Every more specific permission is Flux's (k8s/mesh).
BASELINE_PERMISSION = "mesh-default-traffic-permission"


def baseline_permission_spec(stage: Stage) -> dict[str, Any]:
    """From the whole mesh to the whole mesh: Allow in staging (every service may call every
    other, mTLS still on), Deny in prod (only the explicit permissions of k8s/mesh/stages/prod
    allow). MeshTrafficPermission keeps `from` (Mesh mTLS); Kuma's validator accepts `from`
    under a kind-Mesh target here (offline/kuma_rules.py)."""
    action = "Allow" if stage is Stage.STAGING else "Deny"
    return {
        "targetRef": {"kind": "Mesh"},
        "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": action}}],
    }


def gateway_instance_spec(
    address: str, *, internal: bool, highly_available: bool
) -> dict[str, Any]:
    """The MeshGatewayInstance of a zone cluster: Kuma creates a Deployment and a LoadBalancer
    Service at `address` (serviceTemplate.spec.loadBalancerIP; the Service's ports are the
    MeshGateway's listeners, gateway_instance_controller.go). GKE makes an external passthrough
    Network Load Balancer of a LoadBalancer Service, an internal one with the Internal annotation;
    a static address is taken from loadBalancerIP when reserved in the Service's region."""
    return {
        "replicas": 2 if highly_available else 1,
        "serviceType": "LoadBalancer",
        "serviceTemplate": {
            "metadata": {"annotations": dict(INTERNAL_LB) if internal else {}},
            "spec": {"loadBalancerIP": address},
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    }


def gateway_tls_external_secret_spec(secret_store: str, secret_id: str) -> dict[str, Any]:
    """The Kuma Secret the MeshGateway's HTTPS listener serves, written by ESO from Secret
    Manager: a Secret of type system.kuma.io/secret in the Kuma system namespace with the mesh
    label, the PEM key and chain under `value` (kumahq/kuma v2.13.10 pkg/plugins/secrets/k8s/
    secret.go reads Data["value"]; pkg/plugins/runtime/gateway/filter_chain_generator.go parses
    the key and the chain from it)."""
    return {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "SecretStore", "name": secret_store},
        "target": {
            "name": GATEWAY_TLS_SECRET,
            "creationPolicy": "Owner",
            "template": {
                "engineVersion": "v2",
                "type": MESH_SECRET_TYPE,
                "metadata": {"labels": {"kuma.io/mesh": MESH_NAME}},
                "data": {"value": "{{ .pem }}"},
            },
        },
        "data": [{"secretKey": "pem", "remoteRef": {"key": secret_id}}],
    }
