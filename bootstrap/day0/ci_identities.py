"""The three identities CI impersonates: the deployer (`pulumi up`), the preview (`pulumi
preview` of pull requests) and the drift check (`pulumi preview --refresh` of scheduled runs of
main), each with one custom role derived from day0/permissions.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from day0 import names, permissions


@dataclass(frozen=True)
class CiIdentitiesArgs:
    project: str
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class CiIdentities(pulumi.ComponentResource):
    deployer: gcp.serviceaccount.Account
    preview: gcp.serviceaccount.Account
    drift: gcp.serviceaccount.Account

    def __init__(
        self, name: str, args: CiIdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bootstrap:iam:CiIdentities", name, None, opts)
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        child = pulumi.ResourceOptions(parent=self)
        self.deployer = self._account(
            args.project,
            names.DEPLOYER_ACCOUNT,
            "Platform deployer (CI: pulumi up on main)",
            after_apis,
        )
        self.preview = self._account(
            args.project,
            names.PREVIEW_ACCOUNT,
            "Platform preview (CI: pulumi preview of pull requests, read-only)",
            after_apis,
        )
        deployer_role = self._role(
            args.project,
            names.DEPLOYER_ROLE,
            "Platform deployer",
            permissions.deployer_permissions(),
            after_apis,
        )
        granter_role = self._role(
            args.project,
            names.IAM_GRANTER_ROLE,
            "Platform IAM grants (conditional)",
            permissions.IAM_POLICY_WRITES,
            after_apis,
        )
        preview_role = self._role(
            args.project,
            names.PREVIEW_ROLE,
            "Platform preview (read-only)",
            permissions.preview_permissions(),
            after_apis,
        )
        self.drift = self._account(
            args.project,
            names.DRIFT_ACCOUNT,
            "Platform drift check (CI: scheduled pulumi preview --refresh of main)",
            after_apis,
        )
        drift_role = self._role(
            args.project,
            names.DRIFT_ROLE,
            "Platform drift check (read-only, with secret reads)",
            permissions.drift_permissions(),
            after_apis,
        )
        gcp.projects.IAMMember(
            f"{names.DEPLOYER_ACCOUNT}-role",
            project=args.project,
            role=deployer_role.name,
            member=self.deployer.member,
            opts=child,
        )
        gcp.projects.IAMMember(
            f"{names.DEPLOYER_ACCOUNT}-iam-grants",
            project=args.project,
            role=granter_role.name,
            member=self.deployer.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title="platform-grantable-roles",
                description="Only the roles the platform program grants",
                expression=permissions.grantable_roles_condition(),
            ),
            opts=child,
        )
        for account, role, identity in (
            (names.PREVIEW_ACCOUNT, preview_role, self.preview),
            (names.DRIFT_ACCOUNT, drift_role, self.drift),
        ):
            gcp.projects.IAMMember(
                f"{account}-role",
                project=args.project,
                role=role.name,
                member=identity.member,
                opts=child,
            )
        self.register_outputs(
            {
                "deployer": self.deployer.email,
                "preview": self.preview.email,
                "drift": self.drift.email,
            }
        )

    def _account(
        self, project: str, account_id: str, display_name: str, opts: pulumi.ResourceOptions
    ) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            account_id, project=project, account_id=account_id, display_name=display_name, opts=opts
        )

    def _role(
        self,
        project: str,
        role_id: str,
        title: str,
        granted: frozenset[str],
        opts: pulumi.ResourceOptions,
    ) -> gcp.projects.IAMCustomRole:
        return gcp.projects.IAMCustomRole(
            role_id,
            project=project,
            role_id=role_id,
            title=title,
            description="Derived from bootstrap/day0/permissions.py; edit the table, not the role.",
            permissions=sorted(granted),
            opts=opts,
        )
