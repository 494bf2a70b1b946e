"""An application namespace on one zone cluster: the namespace itself (mesh injection, Pod
Security), its NetworkPolicies, its own way into Secret Manager (components/secret_store.py), and
the account Flux applies its manifests as, with rights in this namespace only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from components.facts import FLUX_NAMESPACE
from components.kubernetes import MANAGED_BY_LABELS, namespace
from components.kuma.network_policy import app_ingress_policy, mesh_egress_policy
from components.kuma.settings import MESH_NAME
from components.naming import tenant_reconciler
from components.secret_store import SecretStore, SecretStoreArgs

# Every pod of an application namespace gets the Kuma sidecar.
# Sidecar injection, and the mesh the namespace's data planes join (Kuma's namespace label,
# kumahq/kuma pkg/plugins/runtime/k8s/util MeshOfByLabelOrAnnotation).
MESH_INJECTION_LABELS: Final = {"kuma.io/sidecar-injection": "enabled", "kuma.io/mesh": MESH_NAME}
RECONCILER_ROLE: Final = "flux-reconciler"
# What the apps of k8s/apps consist of, and nothing more: no Secrets (ESO writes them), no RBAC,
# no SecretStores (the program's), no NetworkPolicies (the program's, below: they are additive,
# so one allow-all committed to a tenant's folder would reopen all egress), nothing
# cluster-scoped. Flux applies server-side, prunes and checks health through the impersonated
# account, so it needs every verb on these.
RECONCILER_RESOURCES: Final[Mapping[str, tuple[str, ...]]] = {
    "": ("configmaps", "services", "serviceaccounts"),
    "apps": ("deployments",),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
    "external-secrets.io": ("externalsecrets",),
}
RECONCILER_VERBS: Final = ("get", "list", "watch", "create", "update", "patch", "delete")


@dataclass(frozen=True)
class TenantArgs:
    project: str
    cluster_name: str
    cluster_location: str
    namespace: str
    # The namespace's WorkloadIdentity annotations, and the IAM its store waits for.
    reader_annotations: pulumi.Input[Mapping[str, str]]
    read_access: Sequence[pulumi.Resource]
    eso_release: pulumi.Resource
    # The zone's Kuma release: it injects through the Kuma CNI, which `restricted` needs.
    kuma_release: pulumi.Resource
    # flux-system, where the reconciler's account lives (the Flux component's namespace).
    flux_namespace: pulumi.Resource


class Tenant(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:Tenant", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self)
        # `restricted`: the zone control plane injects with the Kuma CNI (components/kuma/
        # values.py `cni_values`), so a meshed pod gets the unprivileged `kuma-validation` init
        # container instead of `kuma-init` (root, NET_ADMIN, NET_RAW), and the sidecar runs as
        # 5678 with every capability dropped (offline/kuma_injection.py; docs/architecture.md).
        # The namespace waits for the zone's Kuma release (Helm waits for its CNI DaemonSet): a pod
        # injected before the CNI is on would carry `kuma-init` and be refused here.
        ns = namespace(
            args.namespace,
            f"{name}-ns",
            pulumi.ResourceOptions(parent=self, depends_on=[args.kuma_release]),
            MESH_INJECTION_LABELS,
            pod_security="restricted",
        )
        SecretStore(
            f"{name}-store",
            SecretStoreArgs(
                project=args.project,
                cluster_name=args.cluster_name,
                cluster_location=args.cluster_location,
                namespace=args.namespace,
                service_account_annotations=args.reader_annotations,
                depends_on=[ns, *args.read_access],
                eso_release=args.eso_release,
            ),
            on_cluster,
        )
        # The namespace's only NetworkPolicies: its reconciler may create none
        # (RECONCILER_RESOURCES).
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        app_ingress_policy(f"{name}-app", args.namespace, in_namespace)
        mesh_egress_policy(
            f"{name}-app-mesh-egress", "app-mesh-egress", args.namespace, in_namespace
        )
        # Flux's Kustomization `apps-<namespace>` (k8s/flux/zone) impersonates this account; it
        # must live in the Kustomization's namespace (kustomize-controller impersonates
        # `spec.serviceAccountName` in the object's own namespace).
        reconciler = k8s.core.v1.ServiceAccount(
            f"{name}-reconciler",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=tenant_reconciler(args.namespace),
                namespace=FLUX_NAMESPACE,
                labels=dict(MANAGED_BY_LABELS),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.flux_namespace]),
        )
        role = k8s.rbac.v1.Role(
            f"{name}-reconciler",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=RECONCILER_ROLE, namespace=args.namespace, labels=dict(MANAGED_BY_LABELS)
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[group], resources=list(resources), verbs=list(RECONCILER_VERBS)
                )
                for group, resources in RECONCILER_RESOURCES.items()
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-reconciler",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=RECONCILER_ROLE, namespace=args.namespace, labels=dict(MANAGED_BY_LABELS)
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=RECONCILER_ROLE
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount",
                    name=tenant_reconciler(args.namespace),
                    namespace=FLUX_NAMESPACE,
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, reconciler]),
        )
        self.register_outputs({"namespace": args.namespace})
