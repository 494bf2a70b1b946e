"""The KumaMultiZone component: the global control plane and the Mesh on the global cluster, a
zone control plane with ZoneIngress and ZoneEgress on every zone cluster.

The Mesh survives a rebuilt global: its CA, its baseline permission and the Mesh itself are the
program's (re-created from the state, same CA), and zones reach the new global only after all of
them and Flux's mesh policies are back (components/kuma/zone_sync.py, the drill in
tests/test_mesh_rebuild.py)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.facts import FLUX_NAMESPACE, Stage
from components.kubernetes import custom_resource, helm_release, namespace
from components.kuma.pki import kds_pki, mesh_ca
from components.kuma.settings import (
    KDS_CA_SECRET,
    KDS_PORT,
    KDS_SERVER_SECRET,
    KUMA_NAMESPACE,
    MESH_CA_CERT_SECRET,
    MESH_CA_KEY_SECRET,
    MESH_CA_SECRET_ID,
    MESH_NAME,
    MESH_SECRET_TYPE,
    SYSTEM_NAMESPACE_LABELS,
    kds_address,
)
from components.kuma.values import (
    BASELINE_PERMISSION,
    baseline_permission_spec,
    global_values,
    mesh_spec,
    zone_values,
)
from components.kuma.zone_sync import ZONE_SYNC_GATE, zone_sync_gate_spec, zone_sync_service
from components.naming import kds_address_name
from components.priority_class import PlatformPriority
from components.secrets import SecretEntryArgs, secret_entry
from components.versions import KUMA_CHART


@dataclass(frozen=True)
class GlobalPlane:
    cluster_name: str
    region: str
    subnet_self_link: pulumi.Input[str]
    nodes_range: ipaddress.IPv4Network
    # The cluster's provider and deletion with the cluster (GkeCluster.in_cluster).
    in_cluster: pulumi.ResourceOptions
    priority: PlatformPriority
    # flux-operator and Flux on the global (the FluxInstance): the zone-sync gate is a
    # flux-operator ResourceSet that waits for Flux's mesh policies.
    flux: pulumi.Resource


@dataclass(frozen=True)
class ZonePlane:
    cluster_name: str
    region: str
    zone: str
    in_cluster: pulumi.ResourceOptions
    priority: PlatformPriority
    # Where the zone control plane connects from: only these may reach the global's KDS port
    # (the load balancer's source ranges). Kuma OSS does not authenticate zones; the network must
    # (docs/architecture.md, "What Kuma does not authenticate").
    source_ranges: Sequence[str]


@dataclass(frozen=True)
class KumaMultiZoneArgs:
    project: str
    environment: str
    global_plane: GlobalPlane
    zones: Sequence[ZonePlane]
    # Picks the baseline permission (values.baseline_permission_spec).
    stage: Stage
    # Kuma Secrets of the mesh that External Secrets writes on the global (the gateway's
    # certificate): zones connect only once they exist (zone_sync.py).
    eso_mesh_secrets: Sequence[str]
    # How the stack keeps Secret Manager entries: the mesh CA's record is one.
    secret_entries: SecretEntryArgs
    highly_available: bool
    protected: bool


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
    # `baseline`: the chart's ZoneIngress/ZoneEgress pods set no seccomp profile and keep their
    # capabilities (kuma 2.13.10 values.yaml ingress/egress podSecurityContext), which
    # `restricted` refuses; nothing in the chart needs more than baseline.
    system = namespace(
        KUMA_NAMESPACE,
        f"{cluster_name}-kuma-ns",
        opts,
        SYSTEM_NAMESPACE_LABELS,
        pod_security="baseline",
    )
    secret = k8s.core.v1.Secret(
        secret_resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=system.metadata.name),
        type=secret_type,
        string_data=dict(data),
        opts=opts,
    )
    return system, secret


def _mesh_secret(
    resource_name: str, name: str, pem: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """A Kuma Secret of the mesh on the global: type system.kuma.io/secret, the mesh label, the
    bytes under `value` (kumahq/kuma v2.13.10 pkg/plugins/secrets/k8s/secret.go; the Secret
    webhook refuses an empty `value` and, unlike policies, does not need the Mesh to exist:
    pkg/plugins/runtime/k8s/webhooks/secret_validator.go)."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=KUMA_NAMESPACE, labels={"kuma.io/mesh": MESH_NAME}
        ),
        type=MESH_SECRET_TYPE,
        string_data={"value": pem},
        opts=opts,
    )


def _pem(record: gcp.secretmanager.SecretVersion, part: str) -> pulumi.Output[str]:
    """One PEM of the CA record (JSON {"cert", "key"}), as a Pulumi secret."""

    def pick(data: str | None) -> str:
        return str(json.loads(data or "")[part])

    return pulumi.Output.secret(record.secret_data.apply(pick))


class KumaMultiZone(pulumi.ComponentResource):
    kds_address: str
    kds_global_address: str
    # When the zone-sync server certificate expires (RFC 3339): the expiry alert's deadline.
    kds_server_cert_expiry: pulumi.Output[str]
    mesh_name: str
    global_release: k8s.helm.v3.Release
    global_namespace: k8s.core.v1.Namespace
    zone_releases: dict[str, k8s.helm.v3.Release]
    mesh: k8s.apiextensions.CustomResource
    # What a zone keeps from the global, and the gate that lets zones connect after them.
    mesh_ca_secrets: list[k8s.core.v1.Secret]
    baseline_permission: k8s.apiextensions.CustomResource
    zone_sync_gate: k8s.apiextensions.CustomResource

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

        pki = kds_pki(name, args.environment, address, child)
        self.kds_server_cert_expiry = pki.server_cert_expiry

        # Global control plane.
        on_global = pulumi.ResourceOptions.merge(glob.in_cluster, child)
        global_ns, server_secret = _system_namespace_with_secret(
            glob.cluster_name,
            secret_resource_name=f"{glob.cluster_name}-kds-server-tls",
            secret_name=KDS_SERVER_SECRET,
            secret_type="kubernetes.io/tls",
            data={
                "tls.crt": pki.server_cert_pem,
                "tls.key": pki.server_key_pem.apply(pulumi.Output.secret),
                "ca.crt": pki.ca_cert_pem,
            },
            opts=on_global,
        )
        self.global_namespace = global_ns
        cross_region = any(zone.region != glob.region for zone in args.zones)
        self.global_release = helm_release(
            f"{glob.cluster_name}-kuma-global",
            release_name="kuma",
            chart=KUMA_CHART,
            namespace=global_ns,
            values=pki.server_cert_pem.apply(
                lambda pem: global_values(
                    highly_available=args.highly_available,
                    server_cert_pem=pem,
                    priority_class=glob.priority.name,
                )
            ),
            priority_class=glob.priority.priority_class,
            opts=pulumi.ResourceOptions.merge(
                on_global, pulumi.ResourceOptions(depends_on=[server_secret, reserved])
            ),
        )

        # Zones upgrade after the global: a zone must never run a newer Kuma than its global
        # (kuma.io/docs/2.13.x/production/upgrades-tuning/upgrades; Kong Mesh's upgrade page:
        # a zone may be up to two minors older than the global, never newer). Each zone release
        # waits for the global release, so a version bump reaches the global first; on a first
        # install the zones connect to KDS only once the global runs anyway.
        self.zone_releases = {}
        for zone in args.zones:
            on_zone = pulumi.ResourceOptions.merge(zone.in_cluster, child)
            zone_ns, ca_secret = _system_namespace_with_secret(
                zone.cluster_name,
                secret_resource_name=f"{zone.cluster_name}-kds-ca",
                secret_name=KDS_CA_SECRET,
                secret_type="Opaque",
                data={"ca.crt": pki.ca_cert_pem},
                opts=on_zone,
            )
            self.zone_releases[zone.cluster_name] = helm_release(
                f"{zone.cluster_name}-kuma-zone",
                release_name="kuma",
                chart=KUMA_CHART,
                namespace=zone_ns,
                values=zone_values(zone.zone, address, args.highly_available, zone.priority.name),
                priority_class=zone.priority.priority_class,
                opts=pulumi.ResourceOptions.merge(
                    on_zone, pulumi.ResourceOptions(depends_on=[ca_secret, self.global_release])
                ),
            )

        # The mesh, in the order Kuma accepts it: the CA Secrets (the Mesh webhook loads and
        # validates the provided pair: pkg/plugins/ca/provided/manager.go `ValidateBackend`),
        # the Mesh, then the baseline permission (a mesh-scoped policy gets the Mesh as owner
        # and is refused without it: pkg/plugins/runtime/k8s/webhooks/
        # owner_reference_mutator.go). All protected in prod: they are what zones keep.
        keep = pulumi.ResourceOptions.merge(
            on_global, pulumi.ResourceOptions(protect=args.protected)
        )
        # The CA's record outside the state: written once from pulumi-tls (ignore_changes), so
        # after a state loss the imported version keeps the CA the zones trust while the tls
        # resources are regenerated unused (docs/disaster-recovery.md). The Kuma Secrets are
        # written from the version's payload, which the provider reads back from Secret Manager.
        ca = mesh_ca(name, args.environment, MESH_NAME, child)
        ca_entry = secret_entry(
            MESH_CA_SECRET_ID,
            args.secret_entries,
            source="program",
            readers=(),
            parent=self,
        )
        ca_record = gcp.secretmanager.SecretVersion(
            MESH_CA_SECRET_ID,
            secret=ca_entry.id,
            secret_data=pulumi.Output.json_dumps({"cert": ca.cert_pem, "key": ca.key_pem}).apply(
                pulumi.Output.secret
            ),
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, ignore_changes=["secretData"]
            ),
        )
        in_kuma_ns = pulumi.ResourceOptions.merge(
            keep, pulumi.ResourceOptions(depends_on=[global_ns])
        )
        self.mesh_ca_secrets = [
            _mesh_secret(
                f"{name}-{secret}",
                secret,
                _pem(ca_record, part),
                in_kuma_ns,
            )
            for secret, part in ((MESH_CA_CERT_SECRET, "cert"), (MESH_CA_KEY_SECRET, "key"))
        ]
        self.mesh = custom_resource(
            f"{name}-mesh-{MESH_NAME}",
            api_version="kuma.io/v1alpha1",
            kind="Mesh",
            name=MESH_NAME,
            spec=mesh_spec(),
            crd_release=self.global_release,
            depends_on=self.mesh_ca_secrets,
            opts=keep,
        )
        self.baseline_permission = custom_resource(
            f"{name}-{BASELINE_PERMISSION}",
            api_version="kuma.io/v1alpha1",
            kind="MeshTrafficPermission",
            name=BASELINE_PERMISSION,
            namespace=KUMA_NAMESPACE,
            labels={"kuma.io/mesh": MESH_NAME},
            spec=baseline_permission_spec(args.stage),
            crd_release=self.global_release,
            depends_on=[self.mesh],
            opts=keep,
        )
        # Zones connect last (zone_sync.py): the Service exists only once all of the above is
        # on the global and Flux's mesh policies are Ready.
        self.zone_sync_gate = custom_resource(
            f"{name}-zone-sync",
            api_version="fluxcd.controlplane.io/v1",
            kind="ResourceSet",
            name=ZONE_SYNC_GATE,
            namespace=FLUX_NAMESPACE,
            spec=zone_sync_gate_spec(
                zone_sync_service(
                    address,
                    cross_region=cross_region,
                    source_ranges=[r for z in args.zones for r in z.source_ranges],
                ),
                args.eso_mesh_secrets,
            ),
            crd_release=glob.flux,
            depends_on=[
                reserved,
                self.global_release,
                *self.mesh_ca_secrets,
                self.mesh,
                self.baseline_permission,
            ],
            opts=on_global,
        )
        self.register_outputs({"kdsGlobalAddress": self.kds_global_address, "mesh": MESH_NAME})
