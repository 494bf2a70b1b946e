"""The Google APIs a fresh project needs before anything else can be created."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

REQUIRED_APIS: tuple[str, ...] = (
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",  # application-layer encryption of Kubernetes Secrets
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # Workload Identity token exchange
    "sts.googleapis.com",  # Workload Identity token exchange
    "secretmanager.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "cloudtrace.googleapis.com",  # the mesh's traces (components/observability.py)
    "sqladmin.googleapis.com",  # Cloud SQL (components/database.py)
)


@dataclass(frozen=True)
class ProjectServicesArgs:
    project: str
    apis: Sequence[str] = REQUIRED_APIS


class ProjectServices(pulumi.ComponentResource):
    """Enables the APIs. They are never disabled on destroy: other tenants of the project, and a
    disaster-recovery rebuild, must not find them switched off."""

    services: list[gcp.projects.Service]

    def __init__(
        self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gcp:ProjectServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.services = [
            gcp.projects.Service(
                api.split(".")[0],
                project=args.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in args.apis
        ]
        self.register_outputs({"apis": list(args.apis)})
