"""The egress isolation of a zone cluster's platform namespaces (Flux, External Secrets): each
may reach what its controllers need, never the global's KDS address; only the Kuma system
namespace does (components/kuma/network_policy.py `platform_egress_policy`). `default`, where
nothing of ours runs, may reach nothing. GKE's own namespaces (kube-system, gmp-system) are
left to GKE (docs/architecture.md, "What Kuma does not authenticate")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.kuma.network_policy import no_egress_policy, platform_egress_policy

# Exists in every cluster (the API server creates it); nothing of ours runs there.
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class PlatformEgressArgs:
    cluster_name: str
    # The global's KDS address (an internal load balancer address, known to the program).
    kds_address: str
    # Namespace name -> the Namespace resource its policy waits for.
    namespaces: Mapping[str, pulumi.Resource]


class PlatformEgress(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: PlatformEgressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:PlatformEgress", name, None, opts)
        for namespace, resource in sorted(args.namespaces.items()):
            platform_egress_policy(
                f"{args.cluster_name}-{namespace}-egress",
                namespace,
                args.kds_address,
                pulumi.ResourceOptions(parent=self, depends_on=[resource]),
            )
        no_egress_policy(
            f"{args.cluster_name}-{DEFAULT_NAMESPACE}-egress",
            DEFAULT_NAMESPACE,
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"namespaces": sorted(args.namespaces)})
