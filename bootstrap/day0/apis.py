"""The Google APIs the bootstrap itself and the CI token exchange need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_gcp as gcp

BOOTSTRAP_APIS: Final[tuple[str, ...]] = (
    "serviceusage.googleapis.com",  # enabling the others (on by default in a new project)
    "cloudresourcemanager.googleapis.com",  # project IAM bindings
    "iam.googleapis.com",  # service accounts, custom roles, workload identity pools
    "iamcredentials.googleapis.com",  # CI impersonates the service accounts
    "sts.googleapis.com",  # CI exchanges the GitHub token
    "cloudkms.googleapis.com",  # the state's secrets provider
    "storage.googleapis.com",  # the state bucket
)


@dataclass(frozen=True)
class ApisArgs:
    project: str
    apis: Sequence[str] = BOOTSTRAP_APIS


class Apis(pulumi.ComponentResource):
    """Enables the APIs; never disabled on destroy (the platform stacks and CI depend on them)."""

    services: list[gcp.projects.Service]

    def __init__(
        self, name: str, args: ApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bootstrap:gcp:Apis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                api.split(".")[0],
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in args.apis
        ]
        self.register_outputs({"apis": list(args.apis)})
