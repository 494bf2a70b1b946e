"""Workload Identity Federation for the repository's GitHub Actions: one pool, one OIDC provider
admitting only this repository's tokens, and who may impersonate which CI identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from day0 import names, wif

WORKLOAD_IDENTITY_USER_ROLE = "roles/iam.workloadIdentityUser"


@dataclass(frozen=True)
class GithubTrustArgs:
    project: str
    environment: str
    repository: wif.Repository
    deployer_account: pulumi.Input[str]
    preview_account: pulumi.Input[str]
    drift_account: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class GithubTrust(pulumi.ComponentResource):
    pool: gcp.iam.WorkloadIdentityPool
    provider: gcp.iam.WorkloadIdentityPoolProvider

    def __init__(
        self, name: str, args: GithubTrustArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bootstrap:iam:GithubTrust", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pool = gcp.iam.WorkloadIdentityPool(
            names.POOL_ID,
            project=args.project,
            workload_identity_pool_id=names.POOL_ID,
            display_name="GitHub Actions",
            description=f"CI of {args.repository.name}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.provider = gcp.iam.WorkloadIdentityPoolProvider(
            names.PROVIDER_ID,
            project=args.project,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=names.PROVIDER_ID,
            display_name="GitHub Actions OIDC",
            attribute_mapping=dict(wif.ATTRIBUTE_MAPPING),
            attribute_condition=args.repository.condition(),
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=names.GITHUB_ISSUER),
            opts=child,
        )
        deployer_principal = self.pool.name.apply(
            lambda pool: wif.deployer_principal_set(pool, args.environment)
        )
        for identity, account, principal in (
            ("deployer", args.deployer_account, deployer_principal),
            ("preview", args.preview_account, self.pool.name.apply(wif.preview_principal_set)),
            # Was `scheduled-preview` on the preview account: a binding of another account, so a
            # new resource (replacing it), not an alias.
            ("drift", args.drift_account, self.pool.name.apply(wif.drift_principal_set)),
        ):
            gcp.serviceaccount.IAMMember(
                f"{names.POOL_ID}-impersonates-{identity}",
                service_account_id=account,
                role=WORKLOAD_IDENTITY_USER_ROLE,
                member=principal,
                opts=child,
            )
        self.register_outputs({"provider": self.provider.name})
