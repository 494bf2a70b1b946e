"""The GitHub Actions trust: attribute mapping, the provider's attribute condition and the
principal sets of the three CI identities, built from one structured description so that the
tests can evaluate exactly what the provider receives. Standard library only.

GitHub's OIDC claims used (https://docs.github.com/en/actions/reference/security/oidc, "Custom
claims provided by GitHub"): `repository` (owner/name), `repository_owner_id` (numeric, survives
renames), `ref` (`refs/heads/main`, `refs/pull/<n>/merge`, ...), `environment` (only present when
the job names an environment), `event_name` (`push`, `pull_request`, `workflow_dispatch`, ...).

Google side (https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.
workloadIdentityPools.providers, `attributeMapping`): each custom attribute `attribute.<name>`
(name in [a-z0-9_]) is a CEL expression over `assertion`, and can be used in IAM bindings as
`principalSet://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/
<pool>/attribute.<name>/<value>`. A principal set names one attribute value, so "branch AND
environment" needs one attribute that combines both: `ref_environment`. A claim absent from the
token makes its bare reference fail to evaluate, so the optional `environment` is read through
`has()` (the CEL presence test). `event_ref` combines the event and the ref the same way, for
the scheduled drift check: `schedule` on the protected branch only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from day0.names import PROTECTED_REF, PULL_REQUEST_EVENT, SCHEDULE_EVENT

# A git ref cannot contain ':' (git check-ref-format), so `<ref>:<environment>` is unambiguous.
REF_ENVIRONMENT_SEPARATOR: Final = ":"
_ENVIRONMENT: Final = "(has(assertion.environment) ? assertion.environment : '')"

ATTRIBUTE_MAPPING: Final[Mapping[str, str]] = {
    "google.subject": "assertion.sub",
    "attribute.repository": "assertion.repository",
    "attribute.repository_owner_id": "assertion.repository_owner_id",
    "attribute.ref": "assertion.ref",
    "attribute.event_name": "assertion.event_name",
    "attribute.environment": _ENVIRONMENT,
    "attribute.ref_environment": f"assertion.ref + '{REF_ENVIRONMENT_SEPARATOR}' + {_ENVIRONMENT}",
    # `<event>:<ref>`: an event name has no ':' ([a-z_]), so the value is unambiguous.
    "attribute.event_ref": f"assertion.event_name + '{REF_ENVIRONMENT_SEPARATOR}' + assertion.ref",
}


@dataclass(frozen=True)
class Repository:
    """The one repository whose workflows may exchange tokens."""

    name: str
    owner_id: str | None = None

    def condition(self) -> str:
        """The provider's attribute condition: tokens of any other repository are rejected
        before any IAM binding is looked at."""
        clauses = [f"assertion.repository == '{self.name}'"]
        if self.owner_id:
            clauses.append(f"assertion.repository_owner_id == '{self.owner_id}'")
        return " && ".join(clauses)


def _principal_set(pool_name: str, attribute: str, value: str) -> str:
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.{attribute}/{value}"


def deployer_principal_set(pool_name: str, environment: str) -> str:
    """Jobs of the protected branch running in the GitHub environment named like the stack."""
    value = f"{PROTECTED_REF}{REF_ENVIRONMENT_SEPARATOR}{environment}"
    return _principal_set(pool_name, "ref_environment", value)


def preview_principal_set(pool_name: str) -> str:
    """Jobs started by a pull_request event (of this repository: the condition)."""
    return _principal_set(pool_name, "event_name", PULL_REQUEST_EVENT)


def drift_principal_set(pool_name: str) -> str:
    """Jobs of a scheduled run on the protected branch (the drift check): not a manual
    `workflow_dispatch`, which any writer can start on any branch with its own workflow file."""
    value = f"{SCHEDULE_EVENT}{REF_ENVIRONMENT_SEPARATOR}{PROTECTED_REF}"
    return _principal_set(pool_name, "event_ref", value)
