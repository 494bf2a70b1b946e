"""Names, ports and lifetimes of the Kuma deployment, and the KDS address."""

from __future__ import annotations

import ipaddress

from components import facts

KUMA_NAMESPACE = facts.KUMA_NAMESPACE
MESH_NAME = "default"
KDS_PORT = 5685
KDS_SERVER_SECRET = "kds-server-tls"
KDS_CA_SECRET = "kds-ca-certs"
MTLS_BACKEND = "ca-1"
# The mesh's own CA (a `provided` mTLS backend): the program makes it and keeps its key in the
# stack's state, so a rebuilt global gets the same trust root back. Kuma reads both from Kuma
# Secrets of the mesh (type system.kuma.io/secret, label kuma.io/mesh, PEM under `value`) in the
# Kuma system namespace of the global (kumahq/kuma v2.13.10 pkg/plugins/ca/provided/manager.go,
# pkg/core/datasource/loader.go); KDS syncs them to the zones with the Mesh.
# Its record outside the state: a Secret Manager entry holding both PEMs (JSON), written once; the
# Kuma Secrets are written from it (components/kuma/multizone.py).
MESH_CA_SECRET_ID = facts.MESH_CA_SECRET_ID
MESH_CA_CERT_SECRET = "mesh-ca-cert"
MESH_CA_KEY_SECRET = "mesh-ca-key"
MESH_SECRET_TYPE = "system.kuma.io/secret"
# The global's zone-sync (KDS) Service: the chart's name for it
# (v2.13.10 templates/_helpers.tpl kuma.controlPlane.globalZoneSync.serviceName), created by the
# program instead of the chart (components/kuma/zone_sync.py).
ZONE_SYNC_SERVICE = "kuma-global-zone-sync"
# The control plane's own webhooks must not be injected with a sidecar.
SYSTEM_NAMESPACE_LABELS = {"kuma.io/sidecar-injection": "false"}
INTERNAL_LB = {"networking.gke.io/load-balancer-type": "Internal"}
GLOBAL_ACCESS = {"networking.gke.io/internal-load-balancer-allow-global-access": "true"}

# The mesh gateway: a MeshGatewayInstance per zone cluster. Kuma tags its proxies
# `kuma.io/service: <name>_<namespace>_svc` (kumahq/kuma v2.13.10
# pkg/plugins/runtime/k8s/controllers/gateway_instance_controller.go, util.ServiceTag); the
# MeshGateway in k8s/mesh/gateway selects that tag and serves the certificate of the Kuma Secret
# GATEWAY_TLS_SECRET (kuma-system of the global, synced to the zones by KDS). Both sides are
# traced together by tests/test_mesh_gateway.py.
GATEWAY_NAMESPACE = facts.GATEWAY_NAMESPACE
GATEWAY_INSTANCE = "edge"
GATEWAY_TLS_SECRET = "mesh-gateway-tls"

CA_VALIDITY_HOURS = 10 * 365 * 24
SERVER_CERT_VALIDITY_HOURS = 365 * 24
# `pulumi up` within 30 days of expiry issues a new server certificate.
SERVER_CERT_EARLY_RENEWAL_HOURS = 30 * 24
# The mesh CA: ten years, never renewed in place (its Secret Manager record is written once, so a
# state loss cannot change it): a new CA is a second mtls backend and Kuma's rotation
# (docs/disaster-recovery.md, "Global control plane rebuilt").
MESH_CA_VALIDITY_HOURS = 10 * 365 * 24


def kds_address(global_nodes_range: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The reserved internal IP zones dial: the last address GCP lets us reserve in the global
    cluster's node subnet (it keeps the network, gateway and last two addresses). Derived, so it
    is known at preview and moves with the subnet in a region rebuild."""
    return global_nodes_range.broadcast_address - 2


# The zone's OpenTelemetry collector (k8s/infrastructure/zone/observability), where MeshTrace
# sends spans: Envoy connects to it from the proxy's pod, so egress policies must allow it.
TRACE_COLLECTOR_NAMESPACE = "observability"
TRACE_COLLECTOR_LABELS = {"app": "otel-collector"}
TRACE_COLLECTOR_PORT = 4317  # OTLP gRPC
