"""One private GKE Standard cluster, its node pools and node identity, and a Kubernetes provider."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from components.config_model import AuthorizedNetwork, Cluster, Maintenance, NodePool
from components.facts import (
    NODE_SERVICE_ACCOUNT_ROLES,
    SPOT_TAINT_EFFECT,
    SPOT_TAINT_KEY,
    SPOT_TAINT_VALUE,
    ZONES_PER_REGION,
)
from components.naming import kubernetes_provider_name, service_account_id, workload_pool

NODE_OAUTH_SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/cloud-platform",)
# The Kubernetes taint effect as the GKE API spells it (NodeTaint.Effect).
GKE_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE"}
# GKE's own metrics and logs, plus workload logs (stdout of every container, Envoy access
# logs included). pulumi-gcp ClusterMonitoringConfig / ClusterLoggingConfig enable_components.
MONITORING_COMPONENTS: tuple[str, ...] = ("SYSTEM_COMPONENTS",)
LOGGING_COMPONENTS: tuple[str, ...] = ("SYSTEM_COMPONENTS", "WORKLOADS")


@dataclass(frozen=True)
class GkeClusterArgs:
    project: str
    cluster: Cluster
    network_self_link: pulumi.Input[str]
    subnet_self_link: pulumi.Input[str]
    pods_range_name: str
    services_range_name: str
    authorized_networks: Sequence[AuthorizedNetwork]
    labels: Mapping[str, str]
    protected: bool
    # Cloud KMS key for application-layer encryption of Secrets (components/kms.py), and the
    # service agent's grant on it, which the cluster's creation needs.
    secrets_encryption_key: pulumi.Input[str]
    secrets_encryption_grant: pulumi.Resource
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


def kubeconfig(name: str, endpoint: str) -> str:
    """A kubeconfig for the DNS-based endpoint, authenticated by gke-gcloud-auth-plugin.

    It holds no token and no CA (the DNS endpoint serves a publicly trusted certificate), so it is
    the same text on every run and on every machine: the provider's identity never churns, and a
    preview does not propose replacing everything deployed through it.
    """
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": f"https://{endpoint}"}}],
        "users": [
            {
                "name": name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                        "installHint": "gcloud components install gke-gcloud-auth-plugin",
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(document, sort_keys=True)


class GkeCluster(pulumi.ComponentResource):
    """Private nodes, DNS-based control-plane endpoint, Dataplane V2, Workload Identity, shielded
    nodes; the default pool is replaced by autoscaled pools running as a dedicated identity."""

    name: str
    location: str
    cluster: gcp.container.Cluster
    node_pools: list[gcp.container.NodePool]
    node_service_account_email: pulumi.Output[str]
    dns_endpoint: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(
        self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gke:Cluster", name, None, opts)
        spec = args.cluster
        self.name = spec.name
        self.location = spec.region
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protected)

        node_identity = gcp.serviceaccount.Account(
            f"{spec.name}-nodes",
            project=args.project,
            account_id=service_account_id(spec.name, "nodes"),
            display_name=f"GKE nodes of {spec.name}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.node_service_account_email = node_identity.email
        node_role_grants = [
            gcp.projects.IAMMember(
                f"{spec.name}-nodes-{role.rsplit('/', 1)[-1]}",
                project=args.project,
                role=role,
                member=node_identity.member,
                opts=child,
            )
            for role in NODE_SERVICE_ACCOUNT_ROLES
        ]

        self.cluster = gcp.container.Cluster(
            spec.name,
            project=args.project,
            name=spec.name,
            location=spec.region,
            network=args.network_self_link,
            subnetwork=args.subnet_self_link,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range_name,
                services_secondary_range_name=args.services_range_name,
            ),
            remove_default_node_pool=True,
            initial_node_count=1,
            # The short-lived default pool still boots: give it the same hardened settings.
            node_config=_cluster_node_config(node_identity.email),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=True,
                master_ipv4_cidr_block=str(spec.ranges.control_plane),
                master_global_access_config=gcp.container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=True
                ),
            ),
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                # CI and operators reach the API through the DNS endpoint, authorised by IAM.
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=True
                ),
                ip_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(
                    enabled=True
                ),
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                gcp_public_cidrs_access_enabled=False,
                # Authorized networks apply to the private endpoint too, not only the public one.
                private_endpoint_enforcement_enabled=True,
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=str(net.cidr), display_name=net.display_name
                    )
                    for net in args.authorized_networks
                ],
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=spec.release_channel),
            maintenance_policy=_maintenance_policy(spec.maintenance) if spec.maintenance else None,
            datapath_provider="ADVANCED_DATAPATH",
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=args.secrets_encryption_key
            ),
            # Managed Service for Prometheus collects what PodMonitorings select (k8s/
            # infrastructure); container stdout (mesh access logs) goes to Cloud Logging.
            # Explicit, not GKE's version-dependent defaults (docs/observability.md).
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=list(MONITORING_COMPONENTS),
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(
                    enabled=True
                ),
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=list(LOGGING_COMPONENTS)
            ),
            enable_shielded_nodes=True,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=workload_pool(args.project)
            ),
            resource_labels={**args.labels, "cluster": spec.name, "role": spec.role.value},
            deletion_protection=args.protected,
            opts=pulumi.ResourceOptions.merge(
                stateful,
                pulumi.ResourceOptions(
                    depends_on=[*args.depends_on, *node_role_grants, args.secrets_encryption_grant],
                    # Only the removed default pool used these, and GKE does not report them as
                    # set (a cluster imported after a state loss would otherwise be replaced:
                    # initial_node_count is ForceNew, hashicorp/terraform-provider-google#4963).
                    ignore_changes=["nodeConfig", "initialNodeCount"],
                ),
            ),
        )

        # The autoscaler owns the node count after creation; a changed initial count would
        # otherwise replace the pool.
        # Deleted with the cluster: GKE removes its pools itself, one by one would only be slower.
        pool_opts = pulumi.ResourceOptions.merge(
            stateful,
            pulumi.ResourceOptions(ignore_changes=["initialNodeCount"], deleted_with=self.cluster),
        )
        self.node_pools = [
            self._node_pool(args, pool, node_identity.email, pool_opts) for pool in spec.node_pools
        ]

        self.dns_endpoint = self.cluster.control_plane_endpoints_config.apply(_dns_endpoint)
        self.provider = k8s.Provider(
            kubernetes_provider_name(spec.name),
            kubeconfig=self.dns_endpoint.apply(lambda endpoint: kubeconfig(spec.name, endpoint)),
            # Replaced (and with it everything in the cluster) only when the cluster is: its DNS
            # endpoint is unique per cluster instance. Without it any change of the provider's
            # configuration would replace it (pulumi-kubernetes provider.go DiffConfig).
            cluster_identifier=self.dns_endpoint,
            enable_server_side_apply=True,
            # Workloads wait for node pools: without nodes, webhooks of Helm charts time out.
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.node_pools),
        )
        # What a component installed into this cluster is created with: the cluster's provider,
        # and deletion with the cluster (the engine passes deletedWith on to the component's
        # children), so a destroy removes the cluster instead of each object in it, and no
        # finalizer can keep a namespace terminating after its controller is gone.
        self.in_cluster = pulumi.ResourceOptions(
            providers=[self.provider], deleted_with=self.cluster
        )

        self.register_outputs(
            {
                "name": spec.name,
                "location": spec.region,
                "dnsEndpoint": self.dns_endpoint,
                "nodeServiceAccount": self.node_service_account_email,
            }
        )

    def _node_pool(
        self,
        args: GkeClusterArgs,
        pool: NodePool,
        service_account: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> gcp.container.NodePool:
        spec = args.cluster
        return gcp.container.NodePool(
            f"{spec.name}-{pool.name}",
            project=args.project,
            name=pool.name,
            cluster=self.cluster.name,
            location=spec.region,
            # Per zone. Without it the pool starts empty, and the first Helm installs would wait
            # on a scale-up from zero inside their timeout.
            initial_node_count=math.ceil(pool.min_nodes / ZONES_PER_REGION),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_nodes,
                total_max_node_count=pool.max_nodes,
                location_policy="ANY" if pool.spot else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                max_surge=1, max_unavailable=0, strategy="SURGE"
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type,
                spot=pool.spot,
                disk_size_gb=pool.disk_size_gb,
                disk_type=pool.disk_type,
                image_type="COS_CONTAINERD",
                service_account=service_account,
                oauth_scopes=list(NODE_OAUTH_SCOPES),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata={"disable-legacy-endpoints": "true"},
                # Spot nodes may be reclaimed at any time: only pods that tolerate this taint
                # (apps meant to burst, docs/operations.md) land there, never a control plane.
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=SPOT_TAINT_KEY,
                        value=SPOT_TAINT_VALUE,
                        effect=GKE_TAINT_EFFECTS[SPOT_TAINT_EFFECT],
                    )
                ]
                if pool.spot
                else [],
                labels={"pool": pool.name},
                resource_labels={**args.labels, "cluster": spec.name, "pool": pool.name},
            ),
            opts=opts,
        )


def _cluster_node_config(
    service_account: pulumi.Output[str],
) -> gcp.container.ClusterNodeConfigArgs:
    return gcp.container.ClusterNodeConfigArgs(
        service_account=service_account,
        oauth_scopes=list(NODE_OAUTH_SCOPES),
        shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
            mode="GKE_METADATA"
        ),
        metadata={"disable-legacy-endpoints": "true"},
    )


def _maintenance_policy(maintenance: Maintenance) -> gcp.container.ClusterMaintenancePolicyArgs:
    """Auto-upgrades only inside the recurring window and never inside an exclusion."""
    window = maintenance.window
    return gcp.container.ClusterMaintenancePolicyArgs(
        recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
            start_time=window.start_time, end_time=window.end_time, recurrence=window.recurrence
        ),
        maintenance_exclusions=[
            gcp.container.ClusterMaintenancePolicyMaintenanceExclusionArgs(
                exclusion_name=exclusion.name,
                start_time=exclusion.start_time,
                end_time=exclusion.end_time,
                exclusion_options=gcp.container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs(
                    scope=exclusion.scope
                ),
            )
            for exclusion in maintenance.exclusions
        ],
    )


def _dns_endpoint(config: gcp.container.outputs.ClusterControlPlaneEndpointsConfig | None) -> str:
    endpoint = (
        config.dns_endpoint_config.endpoint if config and config.dns_endpoint_config else None
    )
    if not endpoint:
        raise ValueError("the cluster reported no DNS endpoint; is dnsEndpointConfig enabled?")
    return endpoint
