"""Which IAM permissions each resource type of the platform program needs: the deployer's and the
preview identity's roles are derived from this table and nothing else.

One entry per resource type of the platform's plan (tests/test_bootstrap_program_permissions.py
fails when the plan has a type without an entry). `read` is what a refresh or preview of the type
calls (Get/List); `write` is what create, update and delete call on top of that. Sources, per entry:
the REST method's "Authorization" section or the service's permission reference on
cloud.google.com; for in-cluster objects, GKE's IAM permissions on Kubernetes object types
(https://cloud.google.com/kubernetes-engine/docs/concepts/access-control: IAM manages "types of
objects within clusters", in every cluster of the project; `container.<kind>.<verb>` authorizes
the Kubernetes verb on that kind, so the deployer needs no RBAC binding made by someone else).
The GCP entries were cross-checked with pike's per-resource mappings for the same Terraform
resources (github.com/JamesWoolfenden/pike, src/mapping/google/resource/), which the Pulumi
provider wraps. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

CRUD: Final = ("create", "delete", "update")
READ: Final = ("get", "list")


@dataclass(frozen=True)
class Needs:
    """What one resource type needs: `read` for refresh/preview, `write` on top for changes."""

    read: frozenset[str]
    write: frozenset[str]
    source: str

    @property
    def all(self) -> frozenset[str]:
        return self.read | self.write


def _perms(prefix: str, verbs: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{prefix}.{verb}" for verb in verbs)


def _kubernetes(kinds: Iterable[str], source: str, extra: Iterable[str] = ()) -> Needs:
    """In-cluster kinds through the GKE API: Pulumi's Kubernetes provider gets, creates,
    server-side-applies (update) and deletes; Helm also lists."""
    kinds = tuple(kinds)
    return Needs(
        read=frozenset().union(*(_perms(f"container.{k}", READ) for k in kinds)) | CLUSTER_ACCESS,
        write=frozenset().union(*(_perms(f"container.{k}", CRUD) for k in kinds)) | set(extra),
        source=source,
    )


LOCAL: Final = Needs(
    frozenset(), frozenset(), "computed by the provider plugin itself; no cloud API is called"
)

# Reaching a cluster's API at all: the provider's kubeconfig names the DNS-based endpoint, which
# requires container.clusters.connect (https://cloud.google.com/kubernetes-engine/docs/concepts/
# network-isolation#dns-based_endpoint); container.clusters.get is the least any GKE role that
# allows Kubernetes API access holds (roles/container.clusterViewer).
CLUSTER_ACCESS: Final = frozenset({"container.clusters.get", "container.clusters.connect"})

# What the three Helm charts (external-secrets, flux-operator, kuma; components/versions.py)
# install, read from their templates/ (external-secrets/external-secrets deploy/charts/
# external-secrets/templates, kumahq/kuma deployments/charts/kuma/templates,
# controlplaneio-fluxcd/flux-operator charts/flux-operator/templates): RBAC, workloads, webhooks,
# CRDs, PDBs/HPAs, NetworkPolicies and the hook Jobs (kuma's pre-install/pre-delete). Helm keeps
# the release record in Secrets of the release namespace and, waiting (`atomic`), reads Pods and
# ReplicaSets.
HELM_CHART_KINDS: Final = (
    "serviceAccounts",
    "clusterRoles",
    "clusterRoleBindings",
    "roles",
    "roleBindings",
    "deployments",
    "services",
    "secrets",
    "configMaps",
    "customResourceDefinitions",
    "mutatingWebhookConfigurations",
    "validatingWebhookConfigurations",
    "podDisruptionBudgets",
    "horizontalPodAutoscalers",
    "networkPolicies",
    "jobs",
)
# The charts' ClusterRoles grant what the deployer itself does not hold (e.g. ESO reads every
# Secret). Kubernetes refuses to create such a role or binding unless the creator may `escalate`
# / `bind` (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-
# prevention-and-bootstrapping); GKE maps both verbs to these IAM permissions.
RBAC_ESCALATION: Final = frozenset(
    {
        "container.clusterRoles.bind",
        "container.clusterRoles.escalate",
        "container.roles.bind",
        "container.roles.escalate",
    }
)
HELM_WAIT_READS: Final = _perms("container.pods", READ) | _perms("container.replicaSets", READ)

_COMPUTE = "https://cloud.google.com/compute/docs/reference/rest/v1/"
_CLOUD_SQL = "https://cloud.google.com/sql/docs/postgres/iam-permissions"
_GKE_IAM = "https://cloud.google.com/iam/docs/roles-permissions/container"
_IAM_MEMBER_SOURCE = "setIamPolicy is read-modify-write: getIamPolicy then setIamPolicy"


def _iam_member(collection: str) -> Needs:
    """An IAM member on a resource of `collection` (e.g. `iam.serviceAccounts`): setIamPolicy is
    read-modify-write, getIamPolicy then setIamPolicy."""
    return Needs(
        read=frozenset({f"{collection}.getIamPolicy"}),
        write=frozenset({f"{collection}.setIamPolicy"}),
        source=_IAM_MEMBER_SOURCE,
    )


TABLE: Final[Mapping[str, Needs]] = {
    # -- Google Cloud ------------------------------------------------------------------------
    "gcp:projects/service:Service": Needs(
        read=frozenset({"serviceusage.services.get", "serviceusage.services.list"}),
        # disable_on_destroy=False (components/project_services.py): never disabled.
        write=frozenset({"serviceusage.services.enable", "serviceusage.operations.get"}),
        source="https://cloud.google.com/service-usage/docs/access-control#permissions",
    ),
    "gcp:compute/network:Network": Needs(
        read=frozenset({"compute.networks.get"}),
        write=_perms("compute.networks", CRUD) | {"compute.globalOperations.get"},
        source=_COMPUTE + "networks/insert",
    ),
    "gcp:compute/subnetwork:Subnetwork": Needs(
        read=frozenset({"compute.subnetworks.get"}),
        write=_perms("compute.subnetworks", CRUD)
        | {"compute.networks.updatePolicy", "compute.regionOperations.get"},
        source=_COMPUTE + "subnetworks/insert",
    ),
    "gcp:compute/firewall:Firewall": Needs(
        read=frozenset({"compute.firewalls.get"}),
        write=_perms("compute.firewalls", CRUD)
        | {"compute.networks.updatePolicy", "compute.globalOperations.get"},
        source=_COMPUTE + "firewalls/insert",
    ),
    "gcp:compute/router:Router": Needs(
        read=frozenset({"compute.routers.get"}),
        write=_perms("compute.routers", CRUD)
        | {"compute.networks.updatePolicy", "compute.regionOperations.get"},
        source=_COMPUTE + "routers/insert",
    ),
    # A Cloud NAT is a part of its router: the provider patches the router.
    "gcp:compute/routerNat:RouterNat": Needs(
        read=frozenset({"compute.routers.get"}),
        write=frozenset({"compute.routers.update", "compute.regionOperations.get"}),
        source=_COMPUTE + "routers/patch",
    ),
    # The KDS address is INTERNAL, reserved in a subnet (components/kuma/multizone.py).
    "gcp:compute/address:Address": Needs(
        read=frozenset({"compute.addresses.get"}),
        write=frozenset(
            {
                "compute.addresses.createInternal",
                "compute.addresses.deleteInternal",
                "compute.subnetworks.use",
                "compute.regionOperations.get",
            }
        ),
        source=_COMPUTE + "addresses/insert",
    ),
    # Reading a cluster or pool resolves its node pools' instance groups through Compute.
    "gcp:container/cluster:Cluster": Needs(
        read=frozenset({"container.clusters.get", "compute.instanceGroupManagers.get"}),
        write=_perms("container.clusters", CRUD) | {"container.operations.get"},
        source="https://cloud.google.com/kubernetes-engine/docs/reference/api-permissions",
    ),
    # Node pools have no permissions of their own: create/update/delete need
    # container.clusters.update, get needs container.clusters.get.
    "gcp:container/nodePool:NodePool": Needs(
        read=frozenset({"container.clusters.get", "compute.instanceGroupManagers.get"}),
        write=frozenset({"container.clusters.update", "container.operations.get"}),
        source="https://cloud.google.com/kubernetes-engine/docs/reference/api-permissions",
    ),
    "gcp:serviceaccount/account:Account": Needs(
        read=frozenset({"iam.serviceAccounts.get"}),
        write=_perms("iam.serviceAccounts", CRUD),
        source="https://cloud.google.com/iam/docs/service-accounts-create#permissions",
    ),
    "gcp:serviceaccount/iAMMember:IAMMember": _iam_member("iam.serviceAccounts"),
    # The setIamPolicy writes are limited by a condition to GRANTABLE_ROLES (see there).
    "gcp:projects/iAMMember:IAMMember": _iam_member("resourcemanager.projects"),
    "gcp:secretmanager/secret:Secret": Needs(
        read=frozenset({"secretmanager.secrets.get"}),
        write=_perms("secretmanager.secrets", CRUD),
        source="https://cloud.google.com/secret-manager/docs/access-control#permissions",
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": _iam_member("secretmanager.secrets"),
    # The provider's read of a version fetches its payload (`:access`, terraform-provider-google
    # resource_secret_manager_secret_version.go, flattenSecretManagerSecretVersionPayload): a
    # refresh needs versions.access (SECRET_READS: the drift identity has it, the preview not).
    "gcp:secretmanager/secretVersion:SecretVersion": Needs(
        read=frozenset({"secretmanager.versions.get", "secretmanager.versions.access"}),
        write=frozenset(
            {
                "secretmanager.versions.add",
                "secretmanager.versions.destroy",
                "secretmanager.versions.disable",
                "secretmanager.versions.enable",
            }
        ),
        source="https://cloud.google.com/secret-manager/docs/access-control#permissions",
    ),
    # -- Cloud KMS (components/kms.py): the key that encrypts each cluster's Secrets; a teardown
    # of a non-prod stack destroys the key's versions (a key ring is never deleted) ------------
    "gcp:kms/keyRing:KeyRing": Needs(
        read=_perms("cloudkms.keyRings", READ),
        write=frozenset({"cloudkms.keyRings.create"}),
        source="https://cloud.google.com/kms/docs/reference/permissions-and-roles",
    ),
    "gcp:kms/cryptoKey:CryptoKey": Needs(
        read=_perms("cloudkms.cryptoKeys", READ) | _perms("cloudkms.cryptoKeyVersions", READ),
        write=frozenset(
            {
                "cloudkms.cryptoKeys.create",
                "cloudkms.cryptoKeys.update",
                "cloudkms.cryptoKeyVersions.destroy",
            }
        ),
        source="https://cloud.google.com/kms/docs/reference/permissions-and-roles",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _iam_member("cloudkms.cryptoKeys"),
    # -- Cloud SQL (components/database.py): the instance, its database and user, and its
    # Private Service Connect endpoint (a forwarding rule to the instance's service attachment).
    "gcp:sql/databaseInstance:DatabaseInstance": Needs(
        read=frozenset({"cloudsql.instances.get"}),
        write=_perms("cloudsql.instances", CRUD),
        source=_CLOUD_SQL,
    ),
    "gcp:sql/database:Database": Needs(
        read=frozenset({"cloudsql.databases.get"}),
        write=_perms("cloudsql.databases", CRUD),
        source=_CLOUD_SQL,
    ),
    # The provider reads a user by listing the instance's users.
    "gcp:sql/user:User": Needs(
        read=frozenset({"cloudsql.users.list"}),
        write=_perms("cloudsql.users", CRUD),
        source=_CLOUD_SQL,
    ),
    # A consumer endpoint to a published service: the psc* permissions, the internal address and
    # the network it uses.
    "gcp:compute/forwardingRule:ForwardingRule": Needs(
        read=frozenset({"compute.forwardingRules.get"}),
        write=frozenset(
            {
                "compute.forwardingRules.pscCreate",
                "compute.forwardingRules.pscDelete",
                "compute.forwardingRules.pscSetTarget",
                "compute.addresses.useInternal",
                "compute.networks.use",
                "compute.regionOperations.get",
            }
        ),
        source="https://cloud.google.com/vpc/docs/configure-private-service-connect-services#roles",
    ),
    # The GKE service agent's email: services.generateServiceIdentity (get-or-create); which
    # permission the API checks is not documented on that page: unverified here.
    "gcp:projects/serviceIdentity:ServiceIdentity": Needs(
        read=frozenset(),
        write=frozenset({"serviceusage.services.use"}),
        source="https://cloud.google.com/service-usage/docs/reference/rest/v1beta1/services/generateServiceIdentity",
    ),
    # -- Cloud Logging (components/log_storage.py): the bucket, and the `_Default` sink, which
    # the provider acquires and updates in place and never deletes (terraform-provider-google
    # logging/resource_logging_sink.go isAutomaticallyCreatedSink) -------------------------------
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": Needs(
        read=_perms("logging.buckets", READ),
        write=_perms("logging.buckets", CRUD),
        source="https://cloud.google.com/iam/docs/roles-permissions/logging",
    ),
    "gcp:logging/projectSink:ProjectSink": Needs(
        read=_perms("logging.sinks", READ),
        write=_perms("logging.sinks", CRUD),
        source="https://cloud.google.com/iam/docs/roles-permissions/logging",
    ),
    # -- Cloud Monitoring (components/observability.py) -----------------------------------------
    **{
        f"gcp:monitoring/{kind}:{kind[0].upper()}{kind[1:]}": Needs(
            read=_perms(f"monitoring.{collection}", READ),
            write=_perms(f"monitoring.{collection}", CRUD),
            source="https://cloud.google.com/iam/docs/roles-permissions/monitoring",
        )
        for kind, collection in (
            ("alertPolicy", "alertPolicies"),
            ("dashboard", "dashboards"),
            ("notificationChannel", "notificationChannels"),
        )
    },
    # -- Kubernetes, through each cluster's API --------------------------------------------------
    "pulumi:providers:kubernetes": Needs(
        read=CLUSTER_ACCESS,
        write=frozenset(),
        source="kubeconfig with the DNS endpoint (components/gke_cluster.py); see CLUSTER_ACCESS",
    ),
    "kubernetes:core/v1:Namespace": _kubernetes(["namespaces"], _GKE_IAM),
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": _kubernetes(["priorityClasses"], _GKE_IAM),
    "kubernetes:core/v1:ConfigMap": _kubernetes(["configMaps"], _GKE_IAM),
    "kubernetes:core/v1:Secret": _kubernetes(["secrets"], _GKE_IAM),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _kubernetes(["networkPolicies"], _GKE_IAM),
    # components/secret_store.py, components/tenant.py: each reader namespace's account, the
    # tenants' Flux reconciler accounts and their namespaced Role and RoleBinding (granting a
    # Role needs the rights it grants, or escalate/bind: RBAC_ESCALATION).
    "kubernetes:core/v1:ServiceAccount": _kubernetes(["serviceAccounts"], _GKE_IAM),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _kubernetes(
        ["roles"], _GKE_IAM, extra=RBAC_ESCALATION
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _kubernetes(
        ["roleBindings"], _GKE_IAM, extra=RBAC_ESCALATION
    ),
    # Custom resources are `thirdPartyObjects` in GKE's IAM.
    "kubernetes:external-secrets.io/v1:SecretStore": _kubernetes(["thirdPartyObjects"], _GKE_IAM),
    "kubernetes:external-secrets.io/v1:ExternalSecret": _kubernetes(
        ["thirdPartyObjects"], _GKE_IAM
    ),
    "kubernetes:fluxcd.controlplane.io/v1:FluxInstance": _kubernetes(
        ["thirdPartyObjects"], _GKE_IAM
    ),
    "kubernetes:kuma.io/v1alpha1:Mesh": _kubernetes(["thirdPartyObjects"], _GKE_IAM),
    "kubernetes:kuma.io/v1alpha1:MeshTrafficPermission": _kubernetes(
        ["thirdPartyObjects"], _GKE_IAM
    ),
    "kubernetes:fluxcd.controlplane.io/v1:ResourceSet": _kubernetes(
        ["thirdPartyObjects"], _GKE_IAM
    ),
    "kubernetes:kuma.io/v1alpha1:MeshGatewayInstance": _kubernetes(["thirdPartyObjects"], _GKE_IAM),
    "kubernetes:helm.sh/v3:Release": _kubernetes(
        HELM_CHART_KINDS,
        "chart templates (HELM_CHART_KINDS) and Helm's release storage",
        extra=RBAC_ESCALATION | HELM_WAIT_READS,
    ),
    # -- computed locally ------------------------------------------------------------------------
    "random:index/randomPassword:RandomPassword": LOCAL,
    "tls:index/privateKey:PrivateKey": LOCAL,
    "tls:index/selfSignedCert:SelfSignedCert": LOCAL,
    "tls:index/certRequest:CertRequest": LOCAL,
    "tls:index/locallySignedCert:LocallySignedCert": LOCAL,
}

# The node service accounts are created by the platform program (their names come from its
# config), so they do not exist when the bootstrap runs and cannot be the scope of a binding
# here: actAs is granted on the project, whose only service accounts are the platform's and the
# three CI identities (one project per environment). Cluster and node pool creation require actAs
# on the node account (https://cloud.google.com/kubernetes-engine/docs/how-to/service-accounts).
ACT_AS: Final = frozenset({"iam.serviceAccounts.actAs"})

# Every role the platform program grants (components/facts.py: NODE_SERVICE_ACCOUNT_ROLES and
# TELEMETRY_WRITER_ROLES on the project, WORKLOAD_IDENTITY_USER_ROLE on service accounts,
# SECRET_ACCESSOR_ROLE on secrets). Kept literal (the bootstrap runs apart from components/); the
# tests compare it with the roles in the plans. The setIamPolicy permissions are bound
# separately, with a condition that allows changing grants of these roles only
# (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles), as Cloud Foundation
# Fabric's FAST stages delegate role grants: the deployer cannot grant itself, or anyone, any
# other role through the IAM policies it manages.
GRANTABLE_ROLES: Final = (
    "roles/container.defaultNodeServiceAccount",  # NODE_SERVICE_ACCOUNT_ROLES
    "roles/cloudtrace.agent",  # TELEMETRY_WRITER_ROLES (the trace collector's identity)
    "roles/iam.workloadIdentityUser",
    "roles/secretmanager.secretAccessor",
)
IAM_POLICY_WRITES: Final = frozenset(
    {
        "resourcemanager.projects.setIamPolicy",
        "iam.serviceAccounts.setIamPolicy",
        "secretmanager.secrets.setIamPolicy",
    }
)


def grantable_roles_condition() -> str:
    roles = ", ".join(f"'{role}'" for role in GRANTABLE_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{roles}])"


def table_union() -> frozenset[str]:
    """Everything any entry needs: no identity may hold a permission outside it."""
    return frozenset().union(*(needs.all for needs in TABLE.values())) | ACT_AS


def deployer_permissions() -> frozenset[str]:
    """The deployer's unconditional custom role: the whole table but the IAM policy writes,
    which are bound separately under the grantable-roles condition."""
    return table_union() - IAM_POLICY_WRITES


# Reads that return secret material. GKE's permissions on Kubernetes objects hold in every
# cluster of the project, and a PR's own workflow runs as the preview identity: it must not read
# Kubernetes Secrets (the git token, ESO's copies, the KDS keys) nor Secret Manager payloads.
# roles/container.viewer leaves Kubernetes Secrets out for the same reason. A preview without
# refresh does not need them: pulumi-kubernetes diffs a Secret client-side when the server-side
# dry run is refused (pulumi/pulumi-kubernetes#3067), and a SecretVersion is only read by a
# refresh. The drift check refreshes, so its identity (bound to scheduled runs of main only,
# never to code of a pull request) holds them.
SECRET_READS: Final = _perms("container.secrets", READ) | {"secretmanager.versions.access"}


def refresh_permissions() -> frozenset[str]:
    """What a refresh of every resource type reads: the `read` of every entry."""
    return frozenset().union(*(needs.read for needs in TABLE.values()))


def preview_permissions() -> frozenset[str]:
    """The preview identity's custom role: the reads of every entry but secret material."""
    return refresh_permissions() - SECRET_READS


def drift_permissions() -> frozenset[str]:
    """The drift identity's custom role: the preview's plus the secret material a refresh reads,
    nothing else (no write)."""
    return refresh_permissions()
