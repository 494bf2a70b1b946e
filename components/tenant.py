"""An application namespace on one zone cluster: the namespace itself (mesh injection, Pod
Security), its own way into Secret Manager (components/secret_store.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.kubernetes import namespace
from components.secret_store import SecretStore, SecretStoreArgs

# Every pod of an application namespace gets the Kuma sidecar.
MESH_INJECTION_LABELS = {"kuma.io/sidecar-injection": "enabled"}


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


class Tenant(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:k8s:Tenant", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self)
        # `privileged` enforcement, `restricted` audit and warnings: the Kuma injector adds the
        # init container `kuma-init` running as root with NET_ADMIN and NET_RAW (kuma v2.13.10
        # pkg/plugins/runtime/k8s/webhooks/injector/injector.go `NewInitContainer`), which even
        # `baseline` refuses. Only the Kuma CNI removes it (docs/architecture.md).
        ns = namespace(
            args.namespace,
            f"{name}-ns",
            on_cluster,
            MESH_INJECTION_LABELS,
            pod_security="privileged",
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
        self.register_outputs({"namespace": args.namespace})
