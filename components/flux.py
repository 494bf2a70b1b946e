"""Flux on one cluster: flux-operator, a FluxInstance syncing this repository, and the facts Flux
overlays substitute (`platform-vars`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config_model import Cluster, PlatformConfig
from components.facts import FLUX_NAMESPACE, SECRET_STORE_NAME, ClusterRole
from components.kubernetes import MANAGED_BY_LABELS, custom_resource, helm_release, namespace
from components.kuma.settings import KUMA_NAMESPACE, MESH_NAME
from components.priority_class import PlatformPriority
from components.secret_store import SecretStore, SecretStoreArgs
from components.versions import (
    FLUX_DISTRIBUTION_REGISTRY,
    FLUX_DISTRIBUTION_VERSION,
    FLUX_OPERATOR_CHART,
)

FLUX_INSTANCE = "flux"
PLATFORM_VARS = "platform-vars"
GIT_CREDENTIALS = "flux-git-credentials"
SYNC_REF = "refs/heads/main"
FLUX_COMPONENTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
)
# Flux 2.9 runs source-, kustomize- and helm-controller at system-cluster-critical already (with
# a `critical-pods` ResourceQuota in flux-system that GKE requires for it: flux-operator v0.58.1
# config/data/flux/v2.9.4/*.yaml); only notification-controller comes without a class.
UNPRIORITISED_FLUX_COMPONENTS = ("notification-controller",)
# With `cluster.networkPolicy` flux-operator applies its distribution's policies.yaml in
# flux-system (flux-operator v0.58.1 internal/builder/templates.go; config/data/flux/v2.9.4/
# policies.yaml): `allow-egress` selects every pod and allows all egress (`egress: [{}]`).
# NetworkPolicies are additive, so that rule would reopen the KDS address the platform egress
# policy excludes (components/kuma/network_policy.py). The patch keeps its ingress rule (the
# controllers fetch artifacts from source-controller through it) and drops its egress.
FLUX_EGRESS_POLICY = "allow-egress"
INGRESS_ONLY_PATCH = (
    {"op": "replace", "path": "/spec/policyTypes", "value": ["Ingress"]},
    {"op": "remove", "path": "/spec/egress"},
)
# Flux reconciles a Kustomization as soon as a ConfigMap it substitutes from, carrying this
# label, changes (instead of waiting for the next interval).
WATCH_LABEL = {"reconcile.fluxcd.io/watch": "Enabled"}


@dataclass(frozen=True)
class DatabaseVars:
    """The stack's database as the GitOps tree sees it: the MeshExternalService's endpoint
    (k8s/mesh/components/database) and what the postgres-connection component gives an app
    (k8s/apps/components/postgres-connection)."""

    address: str
    name: str
    user: str
    password_secret: str

    def data(self) -> dict[str, str]:
        return {
            "DATABASE_ADDRESS": self.address,
            "DATABASE_NAME": self.name,
            "DATABASE_USER": self.user,
            "DATABASE_PASSWORD_SECRET": self.password_secret,
        }


@dataclass(frozen=True)
class PlatformVars:
    """The facts Pulumi hands to Flux overlays; keys are what `${VAR}` may name in k8s/."""

    # The repository the FluxInstance syncs (also the address Flux posts commit statuses to).
    repository_url: str
    # Secret Manager entry with the GitHub App keys Flux posts commit statuses with (staging).
    commit_status_secret: str | None
    environment: str
    stage: str
    project: str
    region: str
    cluster_name: str
    cluster_role: str
    secret_store: str
    mesh_name: str
    kuma_namespace: str
    kuma_zone: str | None
    database: DatabaseVars | None = None

    @classmethod
    def of(
        cls, config: PlatformConfig, cluster: Cluster, database: DatabaseVars | None
    ) -> PlatformVars:
        """What the stack's config says about `cluster`, as its overlays may substitute it."""
        return cls(
            repository_url=config.gitops.repository_url,
            commit_status_secret=config.gitops.commit_status_secret,
            environment=config.environment,
            stage=config.stage.value,
            project=config.project,
            region=cluster.region,
            cluster_name=cluster.name,
            cluster_role=cluster.role.value,
            secret_store=SECRET_STORE_NAME,
            mesh_name=MESH_NAME,
            kuma_namespace=KUMA_NAMESPACE,
            kuma_zone=cluster.kuma_zone if cluster.role is ClusterRole.ZONE else None,
            database=database,
        )

    def data(self) -> dict[str, str]:
        data = {
            "GIT_REPOSITORY_URL": self.repository_url,
            "ENVIRONMENT": self.environment,
            "STAGE": self.stage,
            "GCP_PROJECT": self.project,
            "GCP_REGION": self.region,
            "CLUSTER_NAME": self.cluster_name,
            "CLUSTER_ROLE": self.cluster_role,
            "SECRET_STORE": self.secret_store,
            "MESH_NAME": self.mesh_name,
            "KUMA_NAMESPACE": self.kuma_namespace,
        }
        if self.kuma_zone is not None:
            data["KUMA_ZONE"] = self.kuma_zone
        if self.commit_status_secret is not None:
            data["COMMIT_STATUS_SECRET"] = self.commit_status_secret
        if self.database is not None:
            data.update(self.database.data())
        return data


@dataclass(frozen=True)
class FluxArgs:
    """Flux on `cluster` of the stack `config` describes. The git credentials are the Secret
    Manager entry `config.gitops.credentials_secret` (external value, JSON {"username": ...,
    "password": ...}); ESO copies it into flux-system through flux-system's own SecretStore, whose
    identity may read this entry and, on a staging stack, the commit-status keys
    (PlatformVars.commit_status_secret), nothing else."""

    config: PlatformConfig
    cluster: Cluster
    database: DatabaseVars | None
    # flux-system's WorkloadIdentity annotations, and the IAM its store waits for.
    reader_annotations: pulumi.Input[Mapping[str, str]]
    read_access: Sequence[pulumi.Resource]
    eso_release: pulumi.Resource
    priority: PlatformPriority

    @property
    def platform_vars(self) -> PlatformVars:
        return PlatformVars.of(self.config, self.cluster, self.database)

    @property
    def sync_path(self) -> str:
        # platform:environment is the stack's name (a config check refuses anything else).
        return sync_path(self.config.environment, self.cluster.role.value)


def sync_path(stack: str, role: str) -> str:
    return f"k8s/clusters/{stack}/{role}"


def flux_instance_spec(args: FluxArgs) -> dict[str, object]:
    # The root Kustomization `flux-system` that the operator generates gets substituteFrom, so the
    # Kustomizations in k8s/clusters/<stack>/<role> can use ${VAR} from platform-vars.
    substitute_patch = [
        {
            "op": "add",
            "path": "/spec/postBuild",
            "value": {"substituteFrom": [{"kind": "ConfigMap", "name": PLATFORM_VARS}]},
        }
    ]
    priority_patch = {
        "op": "add",
        "path": "/spec/template/spec/priorityClassName",
        "value": args.priority.name,
    }
    return {
        "distribution": {
            "version": FLUX_DISTRIBUTION_VERSION,
            "registry": FLUX_DISTRIBUTION_REGISTRY,
        },
        "components": list(FLUX_COMPONENTS),
        # Multi-tenancy lockdown (flux-operator v0.58.1 internal/builder/profiles.go
        # `profileClusterMultitenant`): no cross-namespace source references, and a Kustomization
        # without `serviceAccountName` applies as `default` of its namespace (no rights) instead
        # of as kustomize-controller. The operator gives its own sync Kustomization
        # kustomize-controller; k8s/flux names it on each platform Kustomization and a
        # per-tenant account on each tenant's.
        "cluster": {
            "type": "gcp",
            "networkPolicy": True,
            "domain": "cluster.local",
            "multitenant": True,
            "tenantDefaultServiceAccount": "default",
        },
        "sync": {
            "kind": "GitRepository",
            "url": args.config.gitops.repository_url,
            "ref": SYNC_REF,
            "path": args.sync_path,
            "pullSecret": GIT_CREDENTIALS,
        },
        "kustomize": {
            "patches": [
                {
                    "target": {"kind": "Kustomization", "name": FLUX_NAMESPACE},
                    "patch": json.dumps(substitute_patch),
                },
                *(
                    {
                        "target": {"kind": "Deployment", "name": component},
                        "patch": json.dumps([priority_patch]),
                    }
                    for component in UNPRIORITISED_FLUX_COMPONENTS
                ),
                {
                    "target": {"kind": "NetworkPolicy", "name": FLUX_EGRESS_POLICY},
                    "patch": json.dumps(list(INGRESS_ONLY_PATCH)),
                },
            ]
        },
    }


def git_credentials_spec(credentials_secret: str) -> dict[str, object]:
    return {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "SecretStore", "name": SECRET_STORE_NAME},
        "target": {"name": GIT_CREDENTIALS, "creationPolicy": "Owner"},
        "dataFrom": [{"extract": {"key": credentials_secret}}],
    }


class Flux(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    instance: k8s.apiextensions.CustomResource
    platform_vars: k8s.core.v1.ConfigMap

    def __init__(
        self, name: str, args: FluxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:Flux", name, None, opts)
        # The cluster's Kubernetes provider comes with this component's own options (`providers`).
        on_cluster = pulumi.ResourceOptions(parent=self)
        # flux-operator's chart defaults are "compliant with the pod security restricted profile"
        # (its values.yaml securityContext), as are the Flux controllers' manifests.
        ns = namespace(FLUX_NAMESPACE, f"{name}-ns", on_cluster, pod_security="restricted")
        self.namespace = ns
        store = SecretStore(
            f"{name}-store",
            SecretStoreArgs(
                project=args.config.project,
                cluster_name=args.cluster.name,
                cluster_location=args.cluster.region,
                namespace=FLUX_NAMESPACE,
                service_account_annotations=args.reader_annotations,
                depends_on=[ns, *args.read_access],
                eso_release=args.eso_release,
            ),
            on_cluster,
        )
        operator = helm_release(
            f"{name}-operator",
            release_name="flux-operator",
            chart=FLUX_OPERATOR_CHART,
            namespace=ns,
            priority_class=args.priority.priority_class,
            # Not the chart's suggested system-cluster-critical: GKE admits pods of that class
            # only in namespaces with a matching ResourceQuota, which flux-system has only once
            # Flux runs. The chart renders `priorityClassName` as given (templates/deployment.yaml).
            values={
                "installCRDs": True,
                # The Flux Status web UI is on by default and unauthenticated unless a Web Config
                # with an identity provider is given (values.yaml `web`); off here.
                "web": {"enabled": False},
                "priorityClassName": args.priority.name,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1000m", "memory": "512Mi"},
                },
            },
            opts=on_cluster,
        )
        self.platform_vars = k8s.core.v1.ConfigMap(
            f"{name}-platform-vars",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PLATFORM_VARS,
                namespace=FLUX_NAMESPACE,
                labels={**MANAGED_BY_LABELS, **WATCH_LABEL},
            ),
            data=args.platform_vars.data(),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[ns])),
        )
        credentials = custom_resource(
            f"{name}-git-credentials",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            name=GIT_CREDENTIALS,
            namespace=FLUX_NAMESPACE,
            spec=git_credentials_spec(args.config.gitops.credentials_secret),
            crd_release=args.eso_release,
            depends_on=[ns, store.store],
            opts=on_cluster,
        )
        # Deleting the FluxInstance uninstalls Flux (and with it everything Flux applied): in
        # prod protected, and left in the cluster if removed from the program. Elsewhere it goes
        # with its cluster on destroy (deletedWith, inherited from this component).
        self.instance = custom_resource(
            f"{name}-instance",
            api_version="fluxcd.controlplane.io/v1",
            kind="FluxInstance",
            name=FLUX_INSTANCE,
            namespace=FLUX_NAMESPACE,
            spec=flux_instance_spec(args),
            crd_release=operator,
            depends_on=[credentials, self.platform_vars],
            opts=pulumi.ResourceOptions.merge(
                on_cluster,
                pulumi.ResourceOptions(
                    protect=args.config.protected, retain_on_delete=args.config.protected
                ),
            ),
        )
        self.register_outputs({"syncPath": args.sync_path})
