"""A workload's Google identity: a Google service account a Kubernetes account may act as."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.facts import WORKLOAD_IDENTITY_USER_ROLE
from components.naming import workload_pool

WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    project: str
    namespace: str
    service_account_name: str
    # The Google service account id (components/naming.service_account_id).
    account_id: str
    description: str
    # The clusters running the workload. The project's identity pool exists only once a cluster
    # with Workload Identity does, so the IAM binding must wait for them.
    clusters: Sequence[pulumi.Resource]
    depends_on: Sequence[pulumi.Resource] = ()


class WorkloadIdentity(pulumi.ComponentResource):
    """Binds `namespace/service_account_name` to a dedicated Google service account. No keys:
    pods get short-lived tokens from the GKE metadata server.

    The Kubernetes principal `PROJECT.svc.id.goog[ns/name]` is the same in every cluster of the
    project (identity sameness), so one binding serves all clusters of the stack.
    """

    email: pulumi.Output[str]
    member: pulumi.Output[str]
    kubernetes_member: str
    annotations: pulumi.Output[dict[str, str]]
    binding: gcp.serviceaccount.IAMMember

    def __init__(
        self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:iam:WorkloadIdentity", name, None, opts)
        account = gcp.serviceaccount.Account(
            name,
            project=args.project,
            account_id=args.account_id,
            display_name=args.description,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.kubernetes_member = (
            f"serviceAccount:{workload_pool(args.project)}"
            f"[{args.namespace}/{args.service_account_name}]"
        )
        self.binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity-user",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER_ROLE,
            member=self.kubernetes_member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.clusters)),
        )
        self.email = account.email
        self.member = account.member
        self.annotations = account.email.apply(lambda email: {WORKLOAD_IDENTITY_ANNOTATION: email})
        self.register_outputs({"email": self.email, "kubernetesMember": self.kubernetes_member})
