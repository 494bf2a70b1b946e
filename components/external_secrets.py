"""External Secrets Operator on one cluster. It holds no Google identity of its own: every namespace
that reads Secret Manager has its own SecretStore and identity (components/secret_store.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.facts import ESO_NAMESPACE
from components.kubernetes import helm_release, namespace
from components.versions import EXTERNAL_SECRETS_CHART

ESO_SERVICE_ACCOUNT = "external-secrets"


@dataclass(frozen=True)
class ExternalSecretsArgs:
    highly_available: bool


def eso_values(highly_available: bool) -> dict[str, object]:
    replicas = 2 if highly_available else 1
    return {
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
        "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 1},
        # The webhook is stateless; the cert controller only rotates the webhook's certificate
        # and has no leader election in the chart: one replica.
        "webhook": {"replicaCount": replicas},
        "certController": {"replicaCount": 1},
    }


class ExternalSecrets(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: ExternalSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:ExternalSecrets", name, None, opts)
        # The cluster's Kubernetes provider comes with this component's own options (`providers`).
        on_cluster = pulumi.ResourceOptions(parent=self)
        # The chart's pods meet `restricted` (values.yaml securityContext: non-root, no
        # privilege escalation, capabilities dropped, RuntimeDefault seccomp).
        ns = namespace(ESO_NAMESPACE, f"{name}-ns", on_cluster, pod_security="restricted")
        self.release = helm_release(
            f"{name}-eso",
            release_name="external-secrets",
            chart=EXTERNAL_SECRETS_CHART,
            namespace=ns,
            values=eso_values(args.highly_available),
            opts=on_cluster,
        )
        self.register_outputs({})
