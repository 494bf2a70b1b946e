"""A Cloud SQL for PostgreSQL instance for one tenant, private only, reached through a Private
Service Connect endpoint the program places at a known address.

Why Private Service Connect and not Private Services Access: the endpoint is an internal address
the program reserves in a subnet of its own (`platform:database.endpointRange`), so the address
is known before the instance exists. The mesh's MeshExternalService (k8s/mesh/components/
database) and the ZoneEgress's NetworkPolicy name it from platform-vars, no peered range of
Google's choosing is involved, and PSC is Cloud SQL's default private connectivity for new
projects (cloud.google.com/sql/docs/postgres/about-private-service-connect: "endpoints are
internal IP addresses that are associated with a forwarding rule that references a service
attachment of a Cloud SQL instance"; configure-private-service-connect: reserve an internal
address, create the forwarding rule to the instance's service attachment, allow the consumer
project on the instance). The endpoint allows global access, so the ZoneEgress of a zone cluster
in another region reaches it (cloud.google.com/vpc/docs/configure-private-service-connect-
services, "global access"; provider: compute ForwardingRule `allowPscGlobalAccess`).

What a security reviewer checks (also policy rules, policy/rules.py): no public address
(ipv4Enabled false), TLS required (sslMode ENCRYPTED_ONLY: the server refuses unencrypted
connections; clients need no certificate of their own), deletion protection on the instance in
prod (both Google's `deletionProtectionEnabled` and the provider's `deletionProtection`), backups
in another allowed region with point-in-time recovery in prod, CMEK with a key of the stack.
The instance is protected and retained in prod (its data outlives the program), as are the
endpoint's subnet and address; the database and the user are only forgotten by a destroy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_gcp as gcp

from components.config_model import Database as DatabaseConfig
from components.kms import CLOUD_SQL_AGENT, SecretsEncryptionKey, SecretsEncryptionKeyArgs

POSTGRES_PORT: Final = 5432
# The server refuses a connection without TLS (Cloud SQL Admin API IpConfiguration.sslMode).
SSL_MODE: Final = "ENCRYPTED_ONLY"
# Days of transaction logs kept for point-in-time recovery, and automated backups kept (prod).
PITR_DAYS: Final = 7
RETAINED_BACKUPS: Final = 14


def instance_name(tenant: str) -> str:
    """The Cloud SQL instance of a tenant (a deleted instance's name stays taken for up to a
    week: cloud.google.com/sql/docs/postgres/delete-instance)."""
    return f"{tenant}-postgres"


def _retention(
    count: int,
) -> gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs:
    return gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
        retained_backups=count
    )


@dataclass(frozen=True)
class DatabaseArgs:
    project: str
    # The project's number (platform:projectNumber): names the Cloud SQL service agent.
    project_number: str
    config: DatabaseConfig
    network_self_link: pulumi.Input[str]
    # The tenant's generated password entry's value (components/secrets.py generated_values).
    password: pulumi.Input[str]
    labels: Mapping[str, str]
    protected: bool
    # Prod: regional availability, point-in-time recovery, longer backup retention.
    is_prod: bool
    depends_on: Sequence[pulumi.Resource] = ()


class Database(pulumi.ComponentResource):
    endpoint_address: str
    connection_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gcp:Database", name, None, opts)
        config = args.config
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        kept = pulumi.ResourceOptions(parent=self, protect=args.protected)
        key = SecretsEncryptionKey(
            f"{name}-key",
            SecretsEncryptionKeyArgs(
                project=args.project,
                project_number=args.project_number,
                ring_name=f"{instance_name(config.tenant)}-data",
                key_name="cloud-sql",
                agent=CLOUD_SQL_AGENT,
                region=config.region,
                labels=dict(args.labels),
                protected=args.protected,
                depends_on=args.depends_on,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        instance = gcp.sql.DatabaseInstance(
            name,
            project=args.project,
            name=instance_name(config.tenant),
            region=config.region,
            database_version=config.version,
            encryption_key_name=key.key_id,
            deletion_protection=args.protected,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=config.tier,
                edition="ENTERPRISE",  # db-custom-* tiers are Enterprise edition ones
                availability_type="REGIONAL" if args.is_prod else "ZONAL",
                disk_size=config.disk_size_gb,
                disk_autoresize=True,
                disk_type="PD_SSD",
                deletion_protection_enabled=args.protected,
                user_labels=dict(args.labels),
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    ssl_mode=SSL_MODE,
                    psc_configs=[
                        gcp.sql.DatabaseInstanceSettingsIpConfigurationPscConfigArgs(
                            psc_enabled=True, allowed_consumer_projects=[args.project]
                        )
                    ],
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    # Another allowed region (residency), so that backups survive the loss of
                    # the instance's region (cloud.google.com/sql/docs/postgres/backup-recovery/
                    # backups: custom backup location).
                    location=config.backup_region,
                    point_in_time_recovery_enabled=args.is_prod,
                    transaction_log_retention_days=PITR_DAYS if args.is_prod else None,
                    backup_retention_settings=_retention(RETAINED_BACKUPS if args.is_prod else 7),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protected,
                retain_on_delete=args.protected,
                # CMEK: the Cloud SQL agent must hold the key before the instance is created.
                depends_on=[*args.depends_on, key.grant],
            ),
        )
        # A destroy only forgets the database and the user (deletion_policy ABANDON): they
        # live and die with the instance, and PostgreSQL refuses to drop a role that owns
        # objects, which would wedge a teardown (provider docs of sql.User deletion_policy).
        child = pulumi.ResourceOptions(parent=self)
        gcp.sql.Database(
            f"{name}-{config.tenant}",
            project=args.project,
            instance=instance.name,
            name=config.tenant,
            deletion_policy="ABANDON",
            opts=child,
        )
        gcp.sql.User(
            f"{name}-{config.tenant}",
            project=args.project,
            instance=instance.name,
            name=config.tenant,
            type="BUILT_IN",
            password=args.password,
            deletion_policy="ABANDON",
            opts=child,
        )
        # The endpoint: a subnet of its own, an address the program chooses in it, a forwarding
        # rule to the instance's service attachment.
        subnet = gcp.compute.Subnetwork(
            f"{name}-endpoint",
            project=args.project,
            name=f"{instance_name(config.tenant)}-psc",
            region=config.region,
            network=args.network_self_link,
            ip_cidr_range=str(config.endpoint_range),
            private_ip_google_access=True,
            opts=pulumi.ResourceOptions.merge(after_apis, kept),
        )
        address = gcp.compute.Address(
            f"{name}-endpoint",
            project=args.project,
            name=f"{instance_name(config.tenant)}-psc",
            region=config.region,
            address_type="INTERNAL",
            subnetwork=subnet.id,
            address=config.endpoint_address,
            description=f"PSC endpoint of Cloud SQL {instance_name(config.tenant)}",
            opts=kept,
        )
        gcp.compute.ForwardingRule(
            f"{name}-endpoint",
            project=args.project,
            name=f"{instance_name(config.tenant)}-psc",
            region=config.region,
            network=args.network_self_link,
            ip_address=address.id,
            target=instance.psc_service_attachment_link,
            # A PSC endpoint to a published service: no load-balancing scheme.
            load_balancing_scheme="",
            allow_psc_global_access=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.endpoint_address = config.endpoint_address
        self.connection_name = instance.connection_name
        self.register_outputs(
            {"endpointAddress": self.endpoint_address, "connectionName": self.connection_name}
        )
