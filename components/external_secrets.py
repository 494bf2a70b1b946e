"""External Secrets Operator on one cluster. It holds no Google identity of its own: every namespace
that reads Secret Manager has its own SecretStore and identity (components/secret_store.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.facts import ESO_NAMESPACE, MIN_WEBHOOK_REPLICAS
from components.kubernetes import helm_release, namespace
from components.priority_class import PlatformPriority
from components.versions import EXTERNAL_SECRETS_CHART

ESO_SERVICE_ACCOUNT = "external-secrets"


@dataclass(frozen=True)
class ExternalSecretsArgs:
    highly_available: bool
    priority: PlatformPriority


def eso_values(highly_available: bool, priority_class: str) -> dict[str, object]:
    replicas = 2 if highly_available else 1
    return {
        # Controller, webhook and cert controller each take their own key (chart 2.9.0
        # templates deployment.yaml, webhook-deployment.yaml, cert-controller-deployment.yaml).
        "priorityClassName": priority_class,
        "installCRDs": True,
        "replicaCount": replicas,
        # Two controllers without leader election would both reconcile every ExternalSecret.
        "leaderElect": highly_available,
        # No `iam.gke.io/gcp-service-account` annotation and no grant to the controller's own
        # principal: a store without auth falls back to the controller's default credentials
        # (external-secrets v2.9.0 providers/v1/gcp/secretmanager/auth.go `NewTokenSource`), which
        # must therefore read nothing.
        "serviceAccount": {"create": True, "name": ESO_SERVICE_ACCOUNT},
        # Cluster-scoped stores and ClusterExternalSecrets cross namespaces; the platform uses
        # neither, so the controller ignores them.
        "processClusterStore": False,
        "processClusterExternalSecret": False,
        "processClusterPushSecret": False,
        "processClusterGenerator": False,
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


class ExternalSecrets(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    namespace: k8s.core.v1.Namespace

    def __init__(
        self, name: str, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:ExternalSecrets", name, None, opts)
        # The cluster's Kubernetes provider comes with this component's own options (`providers`).
        on_cluster = pulumi.ResourceOptions(parent=self)
        # The chart's pods meet `restricted` (values.yaml securityContext: non-root, no
        # privilege escalation, capabilities dropped, RuntimeDefault seccomp).
        ns = namespace(ESO_NAMESPACE, f"{name}-ns", on_cluster, pod_security="restricted")
        self.namespace = ns
        self.release = helm_release(
            f"{name}-eso",
            release_name="external-secrets",
            chart=EXTERNAL_SECRETS_CHART,
            namespace=ns,
            values=eso_values(args.highly_available, args.priority.name),
            priority_class=args.priority.priority_class,
            opts=on_cluster,
        )
        self.register_outputs({})
