"""One environment: the GCP foundation, then the in-cluster bootstrap that Flux takes over from."""

import pulumi

from components.config import load_stack_config
from components.database import Database, DatabaseArgs
from components.external_secrets import ExternalSecrets, ExternalSecretsArgs
from components.facts import (
    ESO_NAMESPACE,
    FLUX_NAMESPACE,
    SECRET_READER_SERVICE_ACCOUNT,
    SECRET_STORE_NAME,
)
from components.flux import DatabaseVars, Flux, FluxArgs
from components.gke_cluster import GkeCluster, GkeClusterArgs
from components.kms import GKE_AGENT, SecretsEncryptionKey, SecretsEncryptionKeyArgs
from components.kuma import (
    GATEWAY_TLS_SECRET,
    KUMA_NAMESPACE,
    GatewayZone,
    GlobalPlane,
    KumaMultiZone,
    KumaMultiZoneArgs,
    MeshGateway,
    MeshGatewayArgs,
    ZonePlane,
)
from components.log_storage import LogStorage, LogStorageArgs
from components.naming import service_account_id
from components.network import Network, NetworkArgs
from components.observability import Observability, ObservabilityArgs
from components.platform_egress import PlatformEgress, PlatformEgressArgs
from components.priority_class import PlatformPriority, PlatformPriorityArgs
from components.project_services import ProjectServices, ProjectServicesArgs
from components.secret_store import SecretStore, SecretStoreArgs
from components.secrets import SecretEntryArgs, Secrets, SecretsArgs
from components.tenant import Tenant, TenantArgs
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

config = load_stack_config()

services = ProjectServices("apis", ProjectServicesArgs(project=config.project))

network = Network(
    "network",
    NetworkArgs(
        project=config.project,
        name=config.network.name,
        routing_mode=config.network.routing_mode,
        clusters=config.clusters,
        depends_on=services.services,
    ),
)

# Project logs stay where the stack may keep data (docs/configuration.md, platform:logging).
LogStorage(
    "logs",
    LogStorageArgs(
        project=config.project,
        config=config.logging,
        protected=config.protected,
        depends_on=services.services,
    ),
)

# Kubernetes Secrets in etcd are encrypted with a key of our own, per cluster, in its region.
secrets_keys = {
    c.name: SecretsEncryptionKey(
        f"{c.name}-secrets-key",
        SecretsEncryptionKeyArgs(
            project=config.project,
            project_number=config.project_number,
            ring_name=f"{c.name}-secrets",
            key_name="kubernetes-secrets",
            agent=GKE_AGENT,
            region=c.region,
            labels=config.resource_labels,
            protected=config.protected,
            depends_on=services.services,
        ),
    )
    for c in config.clusters
}

clusters = {
    c.name: GkeCluster(
        c.name,
        GkeClusterArgs(
            project=config.project,
            cluster=c,
            network_self_link=network.network_self_link,
            subnet_self_link=network.subnets[c.name].self_link,
            pods_range_name=network.subnets[c.name].pods_range_name,
            services_range_name=network.subnets[c.name].services_range_name,
            authorized_networks=config.authorized_networks,
            labels=config.resource_labels,
            protected=config.protected,
            secrets_encryption_key=secrets_keys[c.name].key_id,
            secrets_encryption_grant=secrets_keys[c.name].grant,
            depends_on=services.services,
        ),
    )
    for c in config.clusters
}

# Every pod the program installs runs at the platform's priority, above every application.
priorities = {
    name: PlatformPriority(
        f"{name}-priority",
        PlatformPriorityArgs(cluster_name=name),
        cluster.in_cluster,
    )
    for name, cluster in clusters.items()
}

# Each namespace that reads Secret Manager (flux-system, each tenant) does so as its own Google
# identity, bound to the namespace's `secret-reader` Kubernetes account on every cluster.
readers = {
    ns: WorkloadIdentity(
        f"{ns}-secrets",
        WorkloadIdentityArgs(
            project=config.project,
            namespace=ns,
            service_account_name=SECRET_READER_SERVICE_ACCOUNT,
            account_id=service_account_id(ns, "secrets"),
            description=f"Secret Manager reader of namespace {ns} (External Secrets)",
            clusters=[c.cluster for c in clusters.values()],
            depends_on=services.services,
        ),
    )
    for ns in config.secret_readers
}

secrets = Secrets(
    "secrets",
    SecretsArgs(
        project=config.project,
        entries=config.secrets,
        replica_regions=config.secret_replica_regions,
        labels=config.resource_labels,
        protected=config.protected,
        readers={ns: identity.member for ns, identity in readers.items()},
        depends_on=services.services,
    ),
)


# A tenant's PostgreSQL (Cloud SQL, private only), its user's password the tenant's generated
# Secret Manager entry; the mesh reaches it through the ZoneEgress (k8s/mesh/components/database).
database_vars = None
if config.database is not None:
    database = Database(
        "database",
        DatabaseArgs(
            project=config.project,
            project_number=config.project_number,
            config=config.database,
            network_self_link=network.network_self_link,
            password=secrets.generated_values[config.database.password_secret],
            labels=config.resource_labels,
            protected=config.protected,
            is_prod=config.is_prod,
            depends_on=services.services,
        ),
    )
    database_vars = DatabaseVars(
        address=database.endpoint_address,
        name=config.database.tenant,
        user=config.database.tenant,
        password_secret=config.database.password_secret,
    )


def secret_read_access(namespace: str) -> list[pulumi.Resource]:
    """What a namespace's SecretStore waits for: its Workload Identity binding and its grants."""
    return [readers[namespace].binding, *secrets.grants[namespace]]


# External Secrets on every cluster; each namespace that reads through it has its own store.
esos = {
    c.name: ExternalSecrets(
        f"{c.name}-external-secrets",
        ExternalSecretsArgs(highly_available=config.is_prod, priority=priorities[c.name]),
        clusters[c.name].in_cluster,
    )
    for c in config.clusters
}

# Every cluster: External Secrets, then Flux, which takes over from k8s/clusters/<stack>/<role>.
fluxes = {
    c.name: Flux(
        f"{c.name}-flux",
        FluxArgs(
            config=config,
            cluster=c,
            database=database_vars,
            reader_annotations=readers[FLUX_NAMESPACE].annotations,
            read_access=secret_read_access(FLUX_NAMESPACE),
            eso_release=esos[c.name].release,
            priority=priorities[c.name],
        ),
        clusters[c.name].in_cluster,
    )
    for c in config.clusters
}

# The multi-zone mesh: global control plane on the global cluster, one zone per zone cluster.
global_cluster = config.global_cluster
global_eso = esos[global_cluster.name]
kuma = KumaMultiZone(
    "kuma",
    KumaMultiZoneArgs(
        project=config.project,
        environment=config.environment,
        global_plane=GlobalPlane(
            cluster_name=global_cluster.name,
            region=global_cluster.region,
            subnet_self_link=network.subnets[global_cluster.name].self_link,
            nodes_range=global_cluster.ranges.nodes,
            in_cluster=clusters[global_cluster.name].in_cluster,
            priority=priorities[global_cluster.name],
            flux=fluxes[global_cluster.name].instance,
        ),
        zones=[
            ZonePlane(
                cluster_name=c.name,
                region=c.region,
                zone=c.kuma_zone or c.name,
                in_cluster=clusters[c.name].in_cluster,
                priority=priorities[c.name],
                # Pods keep their address towards RFC 1918 destinations (GKE's default
                # non-masquerade list), so the zone control plane dials KDS from its pod range.
                source_ranges=[str(c.ranges.pods)],
            )
            for c in config.zone_clusters
        ],
        stage=config.stage,
        secret_entries=SecretEntryArgs(
            project=config.project,
            replica_regions=config.secret_replica_regions,
            labels=config.resource_labels,
            protected=config.protected,
            depends_on=services.services,
        ),
        eso_mesh_secrets=[GATEWAY_TLS_SECRET] if config.gateway is not None else [],
        highly_available=config.is_prod,
        protected=config.protected,
    ),
)

# The mesh's way in: a gateway on every zone cluster, its certificate from Secret Manager,
# read by the global's Kuma namespace through its own store and identity.
if config.gateway is not None:
    gateway_store = SecretStore(
        f"{global_cluster.name}-kuma-secret-store",
        SecretStoreArgs(
            project=config.project,
            cluster_name=global_cluster.name,
            cluster_location=global_cluster.region,
            namespace=KUMA_NAMESPACE,
            service_account_annotations=readers[KUMA_NAMESPACE].annotations,
            depends_on=[
                kuma.global_namespace,
                *secret_read_access(KUMA_NAMESPACE),
            ],
            eso_release=global_eso.release,
        ),
        clusters[global_cluster.name].in_cluster,
    )
    MeshGateway(
        "mesh-gateway",
        MeshGatewayArgs(
            project=config.project,
            exposure=config.gateway.exposure,
            tls_secret_id=config.gateway.tls_secret,
            zones=[
                GatewayZone(
                    cluster_name=c.name,
                    region=c.region,
                    subnet_self_link=network.subnets[c.name].self_link,
                    in_cluster=clusters[c.name].in_cluster,
                    kuma_release=kuma.zone_releases[c.name],
                )
                for c in config.zone_clusters
            ],
            global_in_cluster=clusters[global_cluster.name].in_cluster,
            eso_release=global_eso.release,
            eso_store=gateway_store.store,
            secret_store=SECRET_STORE_NAME,
            global_kuma=kuma.global_namespace,
            mesh=kuma.mesh,
            highly_available=config.is_prod,
            protected=config.protected,
            depends_on=services.services,
        ),
    )

# Zone clusters: only the Kuma system namespace may reach the global's KDS address; the
# applications (tenants) run there and nowhere else.
for c in config.zone_clusters:
    on_cluster = clusters[c.name].in_cluster
    PlatformEgress(
        f"{c.name}-platform-egress",
        PlatformEgressArgs(
            cluster_name=c.name,
            kds_address=kuma.kds_address,
            namespaces={
                FLUX_NAMESPACE: fluxes[c.name].namespace,
                ESO_NAMESPACE: esos[c.name].namespace,
            },
        ),
        on_cluster,
    )
    for ns in config.tenant_namespaces:
        Tenant(
            f"{c.name}-{ns}",
            TenantArgs(
                project=config.project,
                cluster_name=c.name,
                cluster_location=c.region,
                namespace=ns,
                reader_annotations=readers[ns].annotations,
                read_access=secret_read_access(ns),
                eso_release=esos[c.name].release,
                kuma_release=kuma.zone_releases[c.name],
                flux_namespace=fluxes[c.name].namespace,
            ),
            on_cluster,
        )

# Cloud Monitoring alerts and dashboard over what GMP scrapes; the collector's Cloud Trace identity.
Observability(
    "observability",
    ObservabilityArgs(
        project=config.project,
        environment=config.environment,
        global_cluster=global_cluster.name,
        zone_clusters=[c.name for c in config.zone_clusters],
        kds_server_cert_expiry=kuma.kds_server_cert_expiry,
        clusters=[c.cluster for c in clusters.values()],
        alert_emails=config.alert_emails,
        depends_on=services.services,
    ),
)

pulumi.export("project", config.project)
pulumi.export("clusters", {name: c.dns_endpoint for name, c in clusters.items()})
pulumi.export("secrets", secrets.secret_names)
pulumi.export("kumaGlobalKdsAddress", kuma.kds_global_address)
