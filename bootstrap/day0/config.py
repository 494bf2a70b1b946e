"""The bootstrap stack's configuration, read and validated before any resource is registered.

Keys (declared in bootstrap/Pulumi.yaml, documented in docs/bootstrap.md): `gcp:project`,
`gcp:region` (the platform stack's residency region: the state bucket and key live there),
`bootstrap:githubRepository` and optionally `bootstrap:githubRepositoryOwnerId`. Every problem is
reported at once, naming the key and what would be accepted.
"""

from __future__ import annotations

from typing import Annotated

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# GCP project ids: 6-30 characters, lowercase letters, digits, hyphens, starting with a letter
# (https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin).
PROJECT_ID = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
REGION = r"^[a-z]+-[a-z]+[0-9]+$"
# GitHub owner and repository names (owner: alphanumerics and single hyphens; repository: also
# dots and underscores).
REPOSITORY = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"

KEYS = {
    "project": ("gcp:project", "a GCP project id, e.g. acme-platform-staging"),
    "region": ("gcp:region", "a region, the platform stack's gcp:region, e.g. europe-west1"),
    "github_repository": ("bootstrap:githubRepository", "owner/name of the GitHub repository"),
    "github_repository_owner_id": (
        "bootstrap:githubRepositoryOwnerId",
        "the owner's numeric id (`gh api repos/<owner>/<name> -q .owner.id`)",
    ),
}


class BootstrapConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Annotated[str, Field(min_length=1)]
    project: Annotated[str, Field(pattern=PROJECT_ID)]
    region: Annotated[str, Field(pattern=REGION)]
    github_repository: Annotated[str, Field(pattern=REPOSITORY)]
    github_repository_owner_id: Annotated[str | None, Field(pattern=r"^[0-9]+$")] = None


class BootstrapConfigError(pulumi.RunError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def problems_of(error: ValidationError) -> list[str]:
    found: list[str] = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        key, accepted = KEYS.get(field, (field, ""))
        found.append(f"{key}: {item['msg']}; expected {accepted}" if accepted else item["msg"])
    return found


def load() -> BootstrapConfig:
    gcp = pulumi.Config("gcp")
    own = pulumi.Config("bootstrap")
    raw = {
        "environment": pulumi.get_stack(),
        "project": gcp.get("project"),
        "region": gcp.get("region"),
        "github_repository": own.get("githubRepository"),
        "github_repository_owner_id": own.get("githubRepositoryOwnerId") or None,
    }
    try:
        return BootstrapConfig.model_validate(raw)
    except ValidationError as error:
        raise BootstrapConfigError(problems_of(error)) from None
