"""Names and numbers the bootstrap creates and the platform stacks and CI rely on (the contract
with docs/ci.md and the workflows). Standard library only: tests and tools import it freely."""

from __future__ import annotations

from typing import Final

STATE_BUCKET_SUFFIX: Final = "-pulumi-state"
KEY_RING: Final = "pulumi"
STATE_KEY: Final = "state"
# Cloud KMS rotates the key every 90 days; old versions stay enabled, so older state still
# decrypts (https://cloud.google.com/kms/docs/key-rotation).
KEY_ROTATION_PERIOD: Final = "7776000s"

DEPLOYER_ACCOUNT: Final = "platform-deployer"
PREVIEW_ACCOUNT: Final = "platform-preview"
# The scheduled drift check (`pulumi preview --refresh`): the preview's reads plus the secret
# material a refresh reads (permissions.drift_permissions), bound to scheduled runs of main only.
DRIFT_ACCOUNT: Final = "platform-drift"
# pr.yml's prod approval gate waits in the GitHub environment `<stack>-approval`: required
# reviewers only, no branch rule, no secrets; no identity is bound to it (wif.py binds the deployer
# to `refs/heads/main:<stack>`).
APPROVAL_ENVIRONMENT_SUFFIX: Final = "-approval"
DEPLOYER_ROLE: Final = "platformDeployer"
IAM_GRANTER_ROLE: Final = "platformIamGranter"
PREVIEW_ROLE: Final = "platformPreview"
DRIFT_ROLE: Final = "platformDrift"

POOL_ID: Final = "github"
PROVIDER_ID: Final = "github-actions"
GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"
PROTECTED_REF: Final = "refs/heads/main"
PULL_REQUEST_EVENT: Final = "pull_request"
# The drift check (.github/workflows/drift.yml): GitHub runs scheduled workflows on the default
# branch (https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#schedule).
SCHEDULE_EVENT: Final = "schedule"

# Retention of the state objects' non-current versions. A Pulumi update writes the stack file
# once per resource step (a checkpoint each), so "versions" are cheap and many; a non-current
# version is deleted only when it is both older than NONCURRENT_DAYS and has at least
# NEWER_VERSIONS_KEPT newer versions (the conditions of one lifecycle rule are ANDed,
# https://cloud.google.com/storage/docs/lifecycle#conditions). So the last 90 days are always
# restorable, and after a quiet quarter the last few complete updates still are.
NONCURRENT_DAYS: Final = 90
NEWER_VERSIONS_KEPT: Final = 500


def state_bucket(project: str) -> str:
    return f"{project}{STATE_BUCKET_SUFFIX}"


def backend_url(project: str) -> str:
    """What `pulumi login` takes for the platform stacks of this project."""
    return f"gs://{state_bucket(project)}"


def secrets_provider(project: str, region: str) -> str:
    """The platform stacks' `--secrets-provider`."""
    return (
        f"gcpkms://projects/{project}/locations/{region}/keyRings/{KEY_RING}/cryptoKeys/{STATE_KEY}"
    )


def service_account_email(account: str, project: str) -> str:
    return f"{account}@{project}.iam.gserviceaccount.com"
