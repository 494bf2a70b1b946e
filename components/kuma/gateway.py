"""The MeshGateway component: the mesh's way in. On every zone cluster a MeshGatewayInstance
behind a GKE load balancer at an address reserved here; on the global the Kuma Secret with the
gateway's TLS certificate (Secret Manager -> External Secrets). The MeshGateway (its listener),
its routes and the permission into storefront are mesh policy, applied by Flux on the global
(k8s/mesh/gateway, k8s/mesh/base/gateway-route.yaml, k8s/mesh/stages/prod/policies)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.kubernetes import custom_resource, namespace
from components.kuma.network_policy import mesh_egress_policy
from components.kuma.settings import (
    GATEWAY_INSTANCE,
    GATEWAY_NAMESPACE,
    GATEWAY_TLS_SECRET,
    KUMA_NAMESPACE,
    MESH_NAME,
)
from components.kuma.values import gateway_instance_spec, gateway_tls_external_secret_spec
from components.naming import gateway_address_name


@dataclass(frozen=True)
class GatewayZone:
    cluster_name: str
    region: str
    subnet_self_link: pulumi.Input[str]
    # The cluster's provider and deletion with the cluster (GkeCluster.in_cluster).
    in_cluster: pulumi.ResourceOptions
    # The zone's Kuma release: it installs the MeshGatewayInstance CRD and its controller.
    kuma_release: pulumi.Resource


@dataclass(frozen=True)
class MeshGatewayArgs:
    project: str
    exposure: Literal["External", "Internal"]
    # The Secret Manager entry holding the PEM key and certificate chain.
    tls_secret_id: str
    zones: Sequence[GatewayZone]
    global_in_cluster: pulumi.ResourceOptions
    # External Secrets on the global: its release (CRDs) and the store the Secret is read with.
    eso_release: pulumi.Resource
    eso_store: pulumi.Resource
    secret_store: str
    # The Kuma system namespace of the global must exist (and may use the store) first.
    global_kuma: pulumi.Resource
    # The Mesh the certificate belongs to, created first. Not a webhook requirement: Kuma 2.13's
    # Secret webhook accepts a mesh-scoped Secret whose Mesh does not exist yet (kumahq/kuma
    # v2.13.10 pkg/plugins/runtime/k8s/webhooks/secret_validator.go `validateMeshSecret`
    # ignores NotFound; secret_validator_test.go "should allow Secret with mesh that does not
    # exist"); the Mesh's own Secrets (the CA) must come first instead (multizone.py).
    mesh: pulumi.Resource
    highly_available: bool
    protected: bool
    # Typically the project's API enablement: children do not inherit a component's dependsOn.
    depends_on: Sequence[pulumi.Resource] = ()


class MeshGateway(pulumi.ComponentResource):
    addresses: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: MeshGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:kuma:MeshGateway", name, None, opts)
        internal = args.exposure == "Internal"
        self.addresses = {}
        for zone in args.zones:
            # A reserved address survives a re-created Service (and the DNS record on it).
            address = gcp.compute.Address(
                f"{zone.cluster_name}-mesh-gateway",
                project=args.project,
                name=gateway_address_name(zone.cluster_name),
                region=zone.region,
                address_type="INTERNAL" if internal else "EXTERNAL",
                subnetwork=zone.subnet_self_link if internal else None,
                description=f"Kuma mesh gateway of {zone.cluster_name} ({args.exposure.lower()})",
                opts=pulumi.ResourceOptions(
                    parent=self, protect=args.protected, depends_on=list(args.depends_on)
                ),
            )
            self.addresses[zone.cluster_name] = address.address
            on_zone = pulumi.ResourceOptions.merge(
                zone.in_cluster, pulumi.ResourceOptions(parent=self)
            )
            ns = namespace(
                GATEWAY_NAMESPACE,
                f"{zone.cluster_name}-mesh-gateway-ns",
                on_zone,
                # The gateway's proxies join the mesh the namespace names
                # (pkg/plugins/runtime/k8s/util MeshOfByLabelOrAnnotation).
                {"kuma.io/mesh": MESH_NAME},
                # `baseline`: the gateway pods add NET_BIND_SERVICE and the chart sets no seccomp
                # profile for them (kumahq/kuma gateway_instance_controller.go); no init container.
                pod_security="baseline",
            )
            # The same rules as the apps' (components/tenant.py): not the global's KDS
            # address, not the internet.
            mesh_egress_policy(
                f"{zone.cluster_name}-mesh-gateway-egress",
                "mesh-gateway-egress",
                GATEWAY_NAMESPACE,
                pulumi.ResourceOptions.merge(on_zone, pulumi.ResourceOptions(depends_on=[ns])),
            )
            custom_resource(
                f"{zone.cluster_name}-mesh-gateway",
                api_version="kuma.io/v1alpha1",
                kind="MeshGatewayInstance",
                name=GATEWAY_INSTANCE,
                namespace=GATEWAY_NAMESPACE,
                spec=address.address.apply(
                    lambda ip: gateway_instance_spec(
                        ip, internal=internal, highly_available=args.highly_available
                    )
                ),
                crd_release=zone.kuma_release,
                depends_on=[ns],
                opts=on_zone,
            )

        on_global = pulumi.ResourceOptions.merge(
            args.global_in_cluster, pulumi.ResourceOptions(parent=self)
        )
        custom_resource(
            f"{name}-tls",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            name=GATEWAY_TLS_SECRET,
            namespace=KUMA_NAMESPACE,
            spec=gateway_tls_external_secret_spec(args.secret_store, args.tls_secret_id),
            crd_release=args.eso_release,
            depends_on=[args.eso_store, args.global_kuma, args.mesh],
            opts=on_global,
        )
        self.register_outputs({"addresses": self.addresses})
