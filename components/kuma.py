"""The Kuma multi-zone mesh: global control plane, zone control planes, KDS TLS and the Mesh.

Every Kuma detail lives in this module, so the move to Kuma 3 (no Kubernetes global CP, no
Mesh.mtls / routing.zoneEgress, no standalone ZoneIngress/ZoneEgress) is one change here.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.kubernetes import custom_resource, helm_release, namespace
from components.naming import kds_address_name
from components.versions import KUMA_CHART

KUMA_NAMESPACE = "kuma-system"
MESH_NAME = "default"
KDS_PORT = 5685
KDS_SERVER_SECRET = "kds-server-tls"
KDS_CA_SECRET = "kds-ca-certs"
MTLS_BACKEND = "ca-1"
# The control plane's own webhooks must not be injected with a sidecar.
SYSTEM_NAMESPACE_LABELS = {"kuma.io/sidecar-injection": "false"}
INTERNAL_LB = {"networking.gke.io/load-balancer-type": "Internal"}
GLOBAL_ACCESS = {"networking.gke.io/internal-load-balancer-allow-global-access": "true"}

CA_VALIDITY_HOURS = 10 * 365 * 24
SERVER_CERT_VALIDITY_HOURS = 365 * 24
# `pulumi up` within 30 days of expiry issues a new server certificate.
SERVER_CERT_EARLY_RENEWAL_HOURS = 30 * 24


def kds_address(global_nodes_range: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The reserved internal IP zones dial: the last address GCP lets us reserve in the global
    cluster's node subnet (it keeps the network, gateway and last two addresses). Derived, so it
    is known at preview and moves with the subnet in a region rebuild."""
    return global_nodes_range.broadcast_address - 2


@dataclass(frozen=True)
class GlobalPlane:
    cluster_name: str
    region: str
    subnet_self_link: pulumi.Input[str]
    nodes_range: ipaddress.IPv4Network
    provider: k8s.Provider


@dataclass(frozen=True)
class ZonePlane:
    cluster_name: str
    region: str
    zone: str
    provider: k8s.Provider
    # Where the zone control plane connects from (its node and pod ranges): only these may
    # reach the global's KDS port. Kuma OSS does not authenticate zones; the network must.
    source_ranges: Sequence[str]


@dataclass(frozen=True)
class KumaMultiZoneArgs:
    project: str
    environment: str
    global_plane: GlobalPlane
    zones: Sequence[ZonePlane]
    highly_available: bool
    protected: bool


def _availability(highly_available: bool) -> dict[str, Any]:
    return {
        "replicas": 3 if highly_available else 1,
        "podDisruptionBudget": {"enabled": highly_available, "maxUnavailable": 1},
    }


def global_values(
    address: str,
    *,
    cross_region: bool,
    highly_available: bool,
    zone_source_ranges: Sequence[str],
    server_cert_pem: str,
) -> dict[str, Any]:
    annotations = {**INTERNAL_LB, **(GLOBAL_ACCESS if cross_region else {})}
    return {
        "controlPlane": {
            "mode": "global",
            **_availability(highly_available),
            # Kuma 2.13 reads its KDS certificate at start only, and the chart restarts the
            # control plane only for secrets it generates: a renewed certificate rolls the pods.
            "podAnnotations": {
                "checksum/kds-server-tls": hashlib.sha256(server_cert_pem.encode()).hexdigest()
            },
            # Our Mesh is created by this program; the chart's default one would collide.
            "defaults": {"skipMeshCreation": True},
            "globalZoneSyncService": {
                "type": "LoadBalancer",
                "loadBalancerIP": address,
                "loadBalancerSourceRanges": list(zone_source_ranges),
                "annotations": annotations,
                "port": KDS_PORT,
            },
            "tls": {"kdsGlobalServer": {"secretName": KDS_SERVER_SECRET}},
        },
    }


def zone_values(zone: str, address: str, highly_available: bool) -> dict[str, Any]:
    proxy = {
        "enabled": True,
        "replicas": 2 if highly_available else 1,
        "podDisruptionBudget": {"enabled": highly_available, "maxUnavailable": 1},
    }
    return {
        "controlPlane": {
            "mode": "zone",
            "zone": zone,
            "kdsGlobalAddress": f"grpcs://{address}:{KDS_PORT}",
            **_availability(highly_available),
            "tls": {"kdsZoneClient": {"secretName": KDS_CA_SECRET, "skipVerify": False}},
        },
        # Other zones reach this zone's services through its ZoneIngress, possibly cross-region.
        "ingress": {
            **proxy,
            "service": {"type": "LoadBalancer", "annotations": {**INTERNAL_LB, **GLOBAL_ACCESS}},
        },
        "egress": proxy,
    }


def mesh_spec() -> dict[str, Any]:
    """Builtin mTLS (required before zoneEgress is accepted) and cross-zone traffic via egress."""
    return {
        "mtls": {
            "enabledBackend": MTLS_BACKEND,
            "backends": [
                {
                    "name": MTLS_BACKEND,
                    "type": "builtin",
                    "dpCert": {"rotation": {"expiration": "24h"}},
                    "conf": {"caCert": {"RSAbits": 2048, "expiration": "10y"}},
                }
            ],
        },
        "routing": {"zoneEgress": True},
        # Kuma would create default MeshTimeout/MeshRetry/MeshCircuitBreaker policies that sort
        # after ours and override them: the defaults live in k8s/mesh instead.
        "skipCreatingInitialPolicies": ["*"],
    }


def _system_namespace_with_secret(
    cluster_name: str,
    *,
    secret_resource_name: str,
    secret_name: str,
    secret_type: str,
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> tuple[k8s.core.v1.Namespace, k8s.core.v1.Secret]:
    """The Kuma system namespace of a cluster (never injected) and the KDS TLS secret in it."""
    system = namespace(KUMA_NAMESPACE, f"{cluster_name}-kuma-ns", opts, SYSTEM_NAMESPACE_LABELS)
    secret = k8s.core.v1.Secret(
        secret_resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=system.metadata.name),
        type=secret_type,
        string_data=dict(data),
        opts=opts,
    )
    return system, secret


class KumaMultiZone(pulumi.ComponentResource):
    kds_address: str
    kds_global_address: str
    mesh_name: str
    global_release: k8s.helm.v3.Release
    zone_releases: dict[str, k8s.helm.v3.Release]
    mesh: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: KumaMultiZoneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:kuma:MultiZone", name, None, opts)
        glob = args.global_plane
        address = str(kds_address(glob.nodes_range))
        self.kds_address = address
        self.kds_global_address = f"grpcs://{address}:{KDS_PORT}"
        self.mesh_name = MESH_NAME
        child = pulumi.ResourceOptions(parent=self)

        reserved = gcp.compute.Address(
            f"{name}-kds",
            project=args.project,
            name=kds_address_name(glob.cluster_name),
            region=glob.region,
            subnetwork=glob.subnet_self_link,
            address_type="INTERNAL",
            purpose="GCE_ENDPOINT",
            address=address,
            description="Kuma global zone-sync (KDS) internal load balancer",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protected),
        )

        ca_key = tls.PrivateKey(f"{name}-kds-ca", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca_cert = tls.SelfSignedCert(
            f"{name}-kds-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"kuma-kds-ca.{args.environment}", organization="platform"
            ),
            opts=child,
        )
        server_key = tls.PrivateKey(
            f"{name}-kds-server", algorithm="ECDSA", ecdsa_curve="P256", opts=child
        )
        server_request = tls.CertRequest(
            f"{name}-kds-server",
            private_key_pem=server_key.private_key_pem,
            # The SAN is exactly what zones dial: the reserved IP.
            ip_addresses=[address],
            subject=tls.CertRequestSubjectArgs(common_name=address, organization="platform"),
            opts=child,
        )
        server_cert = tls.LocallySignedCert(
            f"{name}-kds-server",
            cert_request_pem=server_request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca_cert.cert_pem,
            validity_period_hours=SERVER_CERT_VALIDITY_HOURS,
            early_renewal_hours=SERVER_CERT_EARLY_RENEWAL_HOURS,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=child,
        )

        # Global control plane.
        on_global = pulumi.ResourceOptions(parent=self, provider=glob.provider)
        global_ns, server_secret = _system_namespace_with_secret(
            glob.cluster_name,
            secret_resource_name=f"{glob.cluster_name}-kds-server-tls",
            secret_name=KDS_SERVER_SECRET,
            secret_type="kubernetes.io/tls",
            data={
                "tls.crt": server_cert.cert_pem,
                "tls.key": server_key.private_key_pem.apply(pulumi.Output.secret),
                "ca.crt": ca_cert.cert_pem,
            },
            opts=on_global,
        )
        cross_region = any(zone.region != glob.region for zone in args.zones)
        self.global_release = helm_release(
            f"{glob.cluster_name}-kuma-global",
            release_name="kuma",
            chart=KUMA_CHART,
            namespace=global_ns,
            values=server_cert.cert_pem.apply(
                lambda pem: global_values(
                    address,
                    cross_region=cross_region,
                    highly_available=args.highly_available,
                    zone_source_ranges=[r for z in args.zones for r in z.source_ranges],
                    server_cert_pem=pem,
                )
            ),
            opts=pulumi.ResourceOptions.merge(
                on_global, pulumi.ResourceOptions(depends_on=[server_secret, reserved])
            ),
        )

        # Zone control planes need only the address and the CA, not a running global: they
        # install in parallel and connect once the global is up.
        self.zone_releases = {}
        for zone in args.zones:
            on_zone = pulumi.ResourceOptions(parent=self, provider=zone.provider)
            zone_ns, ca_secret = _system_namespace_with_secret(
                zone.cluster_name,
                secret_resource_name=f"{zone.cluster_name}-kds-ca",
                secret_name=KDS_CA_SECRET,
                secret_type="Opaque",
                data={"ca.crt": ca_cert.cert_pem},
                opts=on_zone,
            )
            self.zone_releases[zone.cluster_name] = helm_release(
                f"{zone.cluster_name}-kuma-zone",
                release_name="kuma",
                chart=KUMA_CHART,
                namespace=zone_ns,
                values=zone_values(zone.zone, address, args.highly_available),
                opts=pulumi.ResourceOptions.merge(
                    on_zone, pulumi.ResourceOptions(depends_on=[ca_secret])
                ),
            )

        self.mesh = custom_resource(
            f"{name}-mesh-{MESH_NAME}",
            api_version="kuma.io/v1alpha1",
            kind="Mesh",
            name=MESH_NAME,
            spec=mesh_spec(),
            crd_release=self.global_release,
            opts=pulumi.ResourceOptions.merge(
                on_global, pulumi.ResourceOptions(protect=args.protected)
            ),
        )
        self.register_outputs({"kdsGlobalAddress": self.kds_global_address, "mesh": MESH_NAME})
