"""One namespace's way into Secret Manager: a Kubernetes service account bound (Workload Identity)
to the namespace's own Google service account, and a namespaced SecretStore that authenticates as
it. Nothing else may use the store: ESO resolves a SecretStore's service account in the store's own
namespace (external-secrets v2.9.0 providers/v1/gcp/secretmanager/workload_identity.go,
`TokenSource`: only a ClusterSecretStore may name another namespace)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.facts import SECRET_READER_SERVICE_ACCOUNT, SECRET_STORE_NAME
from components.kubernetes import MANAGED_BY_LABELS, custom_resource


@dataclass(frozen=True)
class SecretStoreArgs:
    project: str
    cluster_name: str
    cluster_location: str
    namespace: str
    # `iam.gke.io/gcp-service-account` of the namespace's WorkloadIdentity: ESO exchanges the
    # account's token for a federated one and impersonates this Google account with it.
    service_account_annotations: pulumi.Input[Mapping[str, str]]
    # The namespace object, the ESO release (CRDs) and the IAM the store needs before it can go
    # Ready (Workload Identity binding, per-secret grants).
    depends_on: Sequence[pulumi.Resource]
    eso_release: pulumi.Resource


def secret_store_spec(project: str, cluster_name: str, cluster_location: str) -> dict[str, object]:
    # clusterName/Location/ProjectID name the cluster's identity provider explicitly instead of
    # asking the metadata server (workload_identity.go `gcpWorkloadIdentity`).
    return {
        "provider": {
            "gcpsm": {
                "projectID": project,
                "auth": {
                    "workloadIdentity": {
                        "clusterLocation": cluster_location,
                        "clusterName": cluster_name,
                        "clusterProjectID": project,
                        "serviceAccountRef": {"name": SECRET_READER_SERVICE_ACCOUNT},
                    }
                },
            }
        },
    }


class SecretStore(pulumi.ComponentResource):
    store: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: SecretStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:SecretStore", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # ESO requests this account's tokens through the TokenRequest API; no pod runs as it.
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRET_READER_SERVICE_ACCOUNT,
                namespace=args.namespace,
                labels=dict(MANAGED_BY_LABELS),
                annotations=args.service_account_annotations,
            ),
            opts=on_cluster,
        )
        self.store = custom_resource(
            name,
            api_version="external-secrets.io/v1",
            kind="SecretStore",
            name=SECRET_STORE_NAME,
            namespace=args.namespace,
            spec=secret_store_spec(args.project, args.cluster_name, args.cluster_location),
            crd_release=args.eso_release,
            depends_on=[account, *args.depends_on],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"namespace": args.namespace, "store": SECRET_STORE_NAME})
