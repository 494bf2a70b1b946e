"""The ids the providers give resources, derived from their inputs where that is deterministic.

Used twice: by the mock engine, so plans carry ids in the providers' real formats (a resource that
refers to another by id then holds a realistic value), and by `make import-file`, which writes the
`pulumi import --file` document that adopts surviving resources after the state is lost.

`IMPORT_PATTERNS` is the contract with upstream: for each type, the first import-id pattern the
provider's importer tries (pulumi-gcp 10 bridges hashicorp/terraform-provider-google-beta 7.x; read
at tag v7.45.0, `google-beta/services/<dir>/<file>`), or for IAM members the
`<resource> <role> <member>` split of tpgiamresource/resource_iam_member.go `iamMemberImport`
followed by the resource's own parser. tests/test_import_file.py checks every id we write against
it; the "Import" section of each resource's page in the Pulumi registry shows the same formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Inputs = Mapping[str, Any]


def _account_email(inputs: Inputs, project: str) -> str:
    return f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"


GCP_ID_FORMATS: dict[str, Callable[[Inputs, str], str]] = {
    "gcp:projects/service:Service": lambda i, p: f"{p}/{i['service']}",
    "gcp:compute/network:Network": lambda i, p: f"projects/{p}/global/networks/{i['name']}",
    "gcp:compute/subnetwork:Subnetwork": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/subnetworks/{i['name']}"
    ),
    "gcp:compute/firewall:Firewall": lambda i, p: f"projects/{p}/global/firewalls/{i['name']}",
    "gcp:compute/router:Router": lambda i, p: (
        f"projects/{p}/regions/{i['region']}/routers/{i['name']}"
    ),
    "gcp:compute/routerNat:RouterNat": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/routers/{i['router']}/{i['name']}"
    ),
    "gcp:compute/address:Address": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/addresses/{i['name']}"
    ),
    "gcp:container/cluster:Cluster": (
        lambda i, p: f"projects/{p}/locations/{i['location']}/clusters/{i['name']}"
    ),
    "gcp:container/nodePool:NodePool": (
        lambda i, p: (
            f"projects/{p}/locations/{i['location']}/clusters/{i['cluster']}/nodePools/{i['name']}"
        )
    ),
    "gcp:serviceaccount/account:Account": (
        lambda i, p: f"projects/{p}/serviceAccounts/{_account_email(i, p)}"
    ),
    "gcp:projects/iAMMember:IAMMember": lambda i, p: f"{p} {i['role']} {i['member']}",
    "gcp:serviceaccount/iAMMember:IAMMember": (
        lambda i, p: f"{i['serviceAccountId']} {i['role']} {i['member']}"
    ),
    "gcp:secretmanager/secret:Secret": lambda i, p: f"projects/{p}/secrets/{i['secretId']}",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": (
        lambda i, p: f"{i['cryptoKeyId']} {i['role']} {i['member']}"
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": (
        lambda i, p: f"{i['secretId']} {i['role']} {i['member']}"
    ),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": (
        lambda i, p: f"projects/{p}/locations/{i['location']}/buckets/{i['bucketId']}"
    ),
    "gcp:logging/projectSink:ProjectSink": lambda i, p: f"projects/{p}/sinks/{i['name']}",
    # The bootstrap program's (bootstrap/) and components/kms.py.
    "gcp:kms/keyRing:KeyRing": (
        lambda i, p: f"projects/{p}/locations/{i['location']}/keyRings/{i['name']}"
    ),
    "gcp:kms/cryptoKey:CryptoKey": lambda i, p: f"{i['keyRing']}/cryptoKeys/{i['name']}",
    "gcp:storage/bucket:Bucket": lambda i, p: str(i["name"]),
    # components/database.py.
    "gcp:compute/forwardingRule:ForwardingRule": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/forwardingRules/{i['name']}"
    ),
    "gcp:sql/databaseInstance:DatabaseInstance": lambda i, p: f"projects/{p}/instances/{i['name']}",
    "gcp:sql/database:Database": (
        lambda i, p: f"projects/{p}/instances/{i['instance']}/databases/{i['name']}"
    ),
    "gcp:sql/user:User": lambda i, p: f"{p}/{i['instance']}/{i['name']}",
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda i, p: f"projects/{p}/roles/{i['roleId']}",
}

_SEG = "[^/]+"
_IAM = r" (?P<role>\S+) (?P<member>\S+)"
# type -> (the importer's pattern, where upstream parses it). Named groups are the properties the
# importer sets from the id; the test compares them with the program's inputs.
IMPORT_PATTERNS: dict[str, tuple[str, str]] = {
    "gcp:projects/service:Service": (
        f"(?P<project>{_SEG})/(?P<service>{_SEG})",
        "resourcemanager/resource_google_project_service.go resourceGoogleProjectServiceImport",
    ),
    "gcp:compute/network:Network": (
        f"projects/(?P<project>{_SEG})/global/networks/(?P<name>{_SEG})",
        "compute/resource_compute_network.go resourceComputeNetworkImport",
    ),
    "gcp:compute/subnetwork:Subnetwork": (
        f"projects/(?P<project>{_SEG})/regions/(?P<region>{_SEG})/subnetworks/(?P<name>{_SEG})",
        "compute/resource_compute_subnetwork.go resourceComputeSubnetworkImport",
    ),
    "gcp:compute/firewall:Firewall": (
        f"projects/(?P<project>{_SEG})/global/firewalls/(?P<name>{_SEG})",
        "compute/resource_compute_firewall.go resourceComputeFirewallImport",
    ),
    "gcp:compute/router:Router": (
        f"projects/(?P<project>{_SEG})/regions/(?P<region>{_SEG})/routers/(?P<name>{_SEG})",
        "compute/resource_compute_router.go resourceComputeRouterImport",
    ),
    "gcp:compute/routerNat:RouterNat": (
        f"projects/(?P<project>{_SEG})/regions/(?P<region>{_SEG})/routers/(?P<router>{_SEG})"
        f"/(?P<name>{_SEG})",
        "compute/resource_compute_router_nat.go resourceComputeRouterNatImport",
    ),
    "gcp:compute/address:Address": (
        f"projects/(?P<project>{_SEG})/regions/(?P<region>{_SEG})/addresses/(?P<name>{_SEG})",
        "compute/resource_compute_address.go resourceComputeAddressImport",
    ),
    "gcp:container/cluster:Cluster": (
        f"projects/(?P<project>{_SEG})/locations/(?P<location>{_SEG})/clusters/(?P<name>{_SEG})",
        "container/resource_container_cluster.go resourceContainerClusterStateImporter",
    ),
    "gcp:container/nodePool:NodePool": (
        f"projects/(?P<project>{_SEG})/locations/(?P<location>{_SEG})/clusters/"
        f"(?P<cluster>{_SEG})/nodePools/(?P<name>{_SEG})",
        "container/resource_container_node_pool.go resourceContainerNodePoolStateImporter",
    ),
    "gcp:serviceaccount/account:Account": (
        f"projects/(?P<project>{_SEG})/serviceAccounts/(?P<email>{_SEG})",
        "resourcemanager/resource_google_service_account.go resourceGoogleServiceAccountImport",
    ),
    "gcp:projects/iAMMember:IAMMember": (
        f"(?P<project>{_SEG}){_IAM}",
        "resourcemanager/iam_project.go ProjectIdParseFunc (project = the first field)",
    ),
    "gcp:serviceaccount/iAMMember:IAMMember": (
        f"(?P<serviceAccountId>projects/{_SEG}/serviceAccounts/{_SEG}){_IAM}",
        "resourcemanager/iam_service_account.go ServiceAccountIdParseFunc "
        "(service_account_id = the first field)",
    ),
    "gcp:secretmanager/secret:Secret": (
        f"projects/(?P<project>{_SEG})/secrets/(?P<secretId>{_SEG})",
        "secretmanager/resource_secret_manager_secret.go resourceSecretManagerSecretImport",
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": (
        f"(?P<secretId>projects/{_SEG}/secrets/{_SEG}){_IAM}",
        "secretmanager/iam_secret_manager_secret.go SecretManagerSecretIdParseFunc",
    ),
    # The importer sets `project` to `projects/<id>` (the parent), so only these two are compared.
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": (
        f"projects/{_SEG}/locations/(?P<location>{_SEG})/buckets/(?P<bucketId>{_SEG})",
        "logging/resource_logging_bucket_config.go resourceLoggingBucketConfigImportState "
        "(loggingBucketConfigIDRegex)",
    ),
    "gcp:logging/projectSink:ProjectSink": (
        f"projects/(?P<project>{_SEG})/sinks/(?P<name>{_SEG})",
        "logging/resource_logging_sink.go resourceLoggingSinkImportState (parseLoggingSinkId)",
    ),
    "gcp:kms/keyRing:KeyRing": (
        f"projects/(?P<project>{_SEG})/locations/(?P<location>{_SEG})/keyRings/(?P<name>{_SEG})",
        "kms/resource_kms_key_ring.go resourceKMSKeyRingImport",
    ),
    "gcp:kms/cryptoKey:CryptoKey": (
        "(?P<keyRing>projects/[^/]+/locations/[a-z0-9-]+/keyRings/[a-zA-Z0-9_-]{1,63})"
        "/cryptoKeys/(?P<name>[a-zA-Z0-9_-]{1,63})",
        "kms/kms_utils.go ParseKmsCryptoKeyId (cryptoKeyRelativeLinkRegex)",
    ),
    "gcp:storage/bucket:Bucket": (
        f"(?P<name>{_SEG})",
        "storage/resource_storage_bucket.go resourceStorageBucketStateImporter (name; project "
        "read back)",
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": (
        f"projects/(?P<project>{_SEG})/roles/(?P<roleId>{_SEG})",
        "resourcemanager/resource_google_project_iam_custom_role.go "
        "resourceGoogleProjectIamCustomRoleImport",
    ),
    # components/database.py. Read from the stored versions of these files in
    # hashicorp/terraform-provider-google-beta (the first patterns have not changed across them;
    # not re-read at the v7.45.0 tag).
    "gcp:compute/forwardingRule:ForwardingRule": (
        f"projects/(?P<project>{_SEG})/regions/(?P<region>{_SEG})/forwardingRules/(?P<name>{_SEG})",
        "compute/resource_compute_forwarding_rule.go resourceComputeForwardingRuleImport",
    ),
    "gcp:sql/databaseInstance:DatabaseInstance": (
        f"projects/(?P<project>{_SEG})/instances/(?P<name>{_SEG})",
        "sql/resource_sql_database_instance.go resourceSqlDatabaseInstanceImport (also sets "
        "deletionProtection true: a staging instance's first preview then updates it back)",
    ),
    "gcp:sql/database:Database": (
        f"projects/(?P<project>{_SEG})/instances/(?P<instance>{_SEG})/databases/(?P<name>{_SEG})",
        "sql/resource_sql_database.go resourceSqlDatabaseImport",
    ),
    # Three parts: a PostgreSQL user has no host.
    "gcp:sql/user:User": (
        f"(?P<project>{_SEG})/(?P<instance>{_SEG})/(?P<name>{_SEG})",
        "sql/resource_sql_user.go resourceSqlUserImporter ({project}/{instance}/{name} for "
        "postgres)",
    ),
    # Not derivable from inputs (numbered by the cloud): import_file asks gcloud.
    "gcp:monitoring/alertPolicy:AlertPolicy": (
        f"projects/(?P<project>{_SEG})/alertPolicies/(?P<policy>{_SEG})",
        "monitoring/resource_monitoring_alert_policy.go resourceMonitoringAlertPolicyImport "
        "(name = the id, project = its second segment)",
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": (
        f"projects/(?P<project>{_SEG})/notificationChannels/(?P<channel>{_SEG})",
        "monitoring/resource_monitoring_notification_channel.go "
        "resourceMonitoringNotificationChannelImport (project = the id's second segment)",
    ),
    "gcp:monitoring/dashboard:Dashboard": (
        f"projects/(?P<project>{_SEG})/dashboards/(?P<dashboard>{_SEG})",
        "monitoring/resource_monitoring_dashboard.go resourceMonitoringDashboardImport",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": (
        f"(?P<cryptoKeyId>projects/{_SEG}/locations/{_SEG}/keyRings/{_SEG}/cryptoKeys/{_SEG}){_IAM}",
        "kms/iam_kms_crypto_key.go CryptoKeyIdParseFunc",
    ),
    # Not derivable from inputs (the version number is the cloud's): import_file asks gcloud.
    "gcp:secretmanager/secretVersion:SecretVersion": (
        "(?P<secret>projects/.+/secrets/.+)/versions/(?P<version>.+)",
        "secretmanager/resource_secret_manager_secret_version.go "
        "resourceSecretManagerSecretVersionImport (secret = everything before /versions/)",
    ),
}


def import_fields(type_: str, identifier: str) -> dict[str, str] | None:
    """What the provider's importer reads out of `identifier`, or None if it rejects it."""
    pattern = IMPORT_PATTERNS.get(type_)
    match = re.fullmatch(pattern[0], identifier) if pattern else None
    return match.groupdict() if match else None


def gcp_id(type_: str, inputs: Inputs, project: str) -> str | None:
    """The provider id of a GCP resource, or None when it is not derivable from inputs."""
    derive = GCP_ID_FORMATS.get(type_)
    return derive(inputs, str(inputs.get("project", project))) if derive else None


def kubernetes_id(inputs: Inputs) -> str | None:
    """`namespace/name` (or `name` for cluster-scoped objects); Helm releases likewise: what
    pulumi-kubernetes Read splits an import id with (provider/pkg/provider/util.go parseFqName)."""
    if "chart" in inputs:  # helm.sh/v3 Release
        return f"{inputs['namespace']}/{inputs['name']}"
    metadata = inputs.get("metadata")
    if not isinstance(metadata, Mapping) or "name" not in metadata:
        return None
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
