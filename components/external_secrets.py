"""External Secrets Operator on one cluster and the ClusterSecretStore backed by Secret Manager."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.facts import MIN_WEBHOOK_REPLICAS
from components.kubernetes import custom_resource, helm_release, namespace
from components.priority_class import PlatformPriority
from components.versions import EXTERNAL_SECRETS_CHART

ESO_NAMESPACE = "external-secrets"
ESO_SERVICE_ACCOUNT = "external-secrets"
CLUSTER_SECRET_STORE = "gcp-secret-manager"
# Only namespaces carrying this label (value: the store name) may use the store; without it any
# namespace could read every exposed entry, the git credentials included.
STORE_ACCESS_LABEL = "platform.acme.io/secret-store"


@dataclass(frozen=True)
class ExternalSecretsArgs:
    project: str
    cluster_name: str
    cluster_location: str
    # `iam.gke.io/gcp-service-account` from the WorkloadIdentity component.
    service_account_annotations: pulumi.Input[Mapping[str, str]]
    # The Workload Identity binding and the per-secret grants: the store must not go Ready
    # before its identity may read.
    read_access: Sequence[pulumi.Resource]
    highly_available: bool
    priority: PlatformPriority


def eso_values(
    annotations: Mapping[str, str], highly_available: bool, priority_class: str
) -> dict[str, object]:
    replicas = 2 if highly_available else 1
    return {
        # Controller, webhook and cert controller each take their own key (chart 2.9.0
        # templates deployment.yaml, webhook-deployment.yaml, cert-controller-deployment.yaml).
        "priorityClassName": priority_class,
        "installCRDs": True,
        "replicaCount": replicas,
        # Two controllers without leader election would both reconcile every ExternalSecret.
        "leaderElect": highly_available,
        "serviceAccount": {
            "create": True,
            "name": ESO_SERVICE_ACCOUNT,
            "annotations": dict(annotations),
        },
        "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 1},
        # The webhook is stateless and admits ESO's resources (failurePolicy Fail): never alone, and
        # with a disruption budget (chart templates/webhook-poddisruptionbudget.yaml).
        "webhook": {
            "replicaCount": max(replicas, MIN_WEBHOOK_REPLICAS),
            "priorityClassName": priority_class,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        },
        # The cert controller only rotates the webhook's certificate and has no leader election
        # in the chart: one replica.
        "certController": {"replicaCount": 1, "priorityClassName": priority_class},
    }


def cluster_secret_store_spec(
    project: str, cluster_name: str, cluster_location: str
) -> dict[str, object]:
    return {
        "conditions": [
            {"namespaceSelector": {"matchLabels": {STORE_ACCESS_LABEL: CLUSTER_SECRET_STORE}}}
        ],
        "provider": {
            "gcpsm": {
                "projectID": project,
                "auth": {
                    "workloadIdentity": {
                        "clusterLocation": cluster_location,
                        "clusterName": cluster_name,
                        "clusterProjectID": project,
                        "serviceAccountRef": {
                            "name": ESO_SERVICE_ACCOUNT,
                            "namespace": ESO_NAMESPACE,
                        },
                    }
                },
            }
        },
    }


class ExternalSecrets(pulumi.ComponentResource):
    store_name: str
    # Labels a namespace needs to use the store.
    consumer_namespace_labels: dict[str, str]
    release: k8s.helm.v3.Release
    store: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:ExternalSecrets", name, None, opts)
        # The cluster's Kubernetes provider comes with this component's own options (`providers`).
        on_cluster = pulumi.ResourceOptions(parent=self)
        ns = namespace(ESO_NAMESPACE, f"{name}-ns", on_cluster)
        self.release = helm_release(
            f"{name}-eso",
            release_name="external-secrets",
            chart=EXTERNAL_SECRETS_CHART,
            namespace=ns,
            values=pulumi.Output.from_input(args.service_account_annotations).apply(
                lambda a: eso_values(a, args.highly_available, args.priority.name)
            ),
            priority_class=args.priority.priority_class,
            opts=on_cluster,
        )
        self.store_name = CLUSTER_SECRET_STORE
        self.consumer_namespace_labels = {STORE_ACCESS_LABEL: CLUSTER_SECRET_STORE}
        self.store = custom_resource(
            f"{name}-store",
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            name=CLUSTER_SECRET_STORE,
            spec=cluster_secret_store_spec(args.project, args.cluster_name, args.cluster_location),
            crd_release=self.release,
            depends_on=args.read_access,
            opts=on_cluster,
        )
        self.register_outputs({"storeName": self.store_name})
