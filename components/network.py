"""The VPC of one environment: a subnet per cluster, NAT per region, webhook firewall rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config_model import Cluster
from components.naming import (
    nat_router_name,
    pods_range_name,
    services_range_name,
    webhook_firewall_name,
)

# Admission webhooks the control plane must reach on the nodes: Kuma's injector/validator (5443)
# and 8443/9443, the ports most controller-runtime webhooks use (for add-ons Flux installs later;
# ESO's webhook listens on 10250, which GKE's own control-plane rule already opens).
WEBHOOK_PORTS: tuple[str, ...] = ("5443", "8443", "9443")


@dataclass(frozen=True)
class NetworkArgs:
    project: str
    name: str
    routing_mode: str
    # A subnet per cluster, with the cluster's ranges.
    clusters: Sequence[Cluster]
    # Typically the project's API enablement: children do not inherit a component's dependsOn.
    depends_on: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class SubnetOutputs:
    """What a cluster needs from the network."""

    self_link: pulumi.Output[str]
    pods_range_name: str
    services_range_name: str


class Network(pulumi.ComponentResource):
    network_self_link: pulumi.Output[str]
    subnets: dict[str, SubnetOutputs]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        vpc = gcp.compute.Network(
            args.name,
            project=args.project,
            name=args.name,
            auto_create_subnetworks=False,
            routing_mode=args.routing_mode,
            delete_default_routes_on_create=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.network_self_link = vpc.self_link

        self.subnets = {}
        for cluster in args.clusters:
            subnet = gcp.compute.Subnetwork(
                cluster.name,
                project=args.project,
                name=cluster.name,
                region=cluster.region,
                network=vpc.id,
                ip_cidr_range=str(cluster.ranges.nodes),
                private_ip_google_access=True,
                secondary_ip_ranges=[
                    gcp.compute.SubnetworkSecondaryIpRangeArgs(
                        range_name=pods_range_name(cluster.name),
                        ip_cidr_range=str(cluster.ranges.pods),
                    ),
                    gcp.compute.SubnetworkSecondaryIpRangeArgs(
                        range_name=services_range_name(cluster.name),
                        ip_cidr_range=str(cluster.ranges.services),
                    ),
                ],
                log_config=gcp.compute.SubnetworkLogConfigArgs(
                    aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.1
                ),
                opts=child,
            )
            self.subnets[cluster.name] = SubnetOutputs(
                self_link=subnet.self_link,
                pods_range_name=pods_range_name(cluster.name),
                services_range_name=services_range_name(cluster.name),
            )
            gcp.compute.Firewall(
                f"{cluster.name}-webhooks",
                project=args.project,
                name=webhook_firewall_name(cluster.name),
                network=vpc.id,
                direction="INGRESS",
                description=f"GKE control plane of {cluster.name} to admission webhooks",
                source_ranges=[str(cluster.ranges.control_plane)],
                destination_ranges=[str(cluster.ranges.nodes), str(cluster.ranges.pods)],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(WEBHOOK_PORTS))],
                opts=child,
            )

        # Private nodes have no external IPs: Cloud NAT lets them pull from ghcr.io and docker.io.
        for region in dict.fromkeys(cluster.region for cluster in args.clusters):
            router = gcp.compute.Router(
                f"nat-router-{region}",
                project=args.project,
                name=nat_router_name(args.name, region),
                region=region,
                network=vpc.id,
                opts=child,
            )
            gcp.compute.RouterNat(
                f"nat-{region}",
                project=args.project,
                name=nat_router_name(args.name, region),
                router=router.name,
                region=region,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=child,
            )

        self.register_outputs(
            {
                "networkSelfLink": self.network_self_link,
                "subnets": {k: v.self_link for k, v in self.subnets.items()},
            }
        )
