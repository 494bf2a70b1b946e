"""The platform's PriorityClass on one cluster: every pod the program installs runs above the
applications, so capacity pressure evicts apps before the control planes they depend on."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.facts import PLATFORM_PRIORITY, PLATFORM_PRIORITY_CLASS
from components.kubernetes import MANAGED_BY_LABELS


@dataclass(frozen=True)
class PlatformPriorityArgs:
    cluster_name: str


class PlatformPriority(pulumi.ComponentResource):
    """A `platform-critical` PriorityClass. Not `system-cluster-critical`: Kubernetes reserves the
    `system-` names, and GKE admits pods of the system classes only in namespaces holding a
    ResourceQuota scoped to them (Flux ships one for flux-system; the others have none)."""

    name: str
    priority_class: k8s.scheduling.v1.PriorityClass

    def __init__(
        self, name: str, args: PlatformPriorityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:PlatformPriority", name, None, opts)
        self.name = PLATFORM_PRIORITY_CLASS
        self.priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PLATFORM_PRIORITY_CLASS, labels=dict(MANAGED_BY_LABELS)
            ),
            value=PLATFORM_PRIORITY,
            global_default=False,
            preemption_policy="PreemptLowerPriority",
            description=f"Platform components of {args.cluster_name} installed by Pulumi.",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.name})
