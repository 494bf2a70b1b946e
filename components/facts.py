"""Facts that the program, the policy pack and the offline tools all need, in one place.

Standard library only: the CrossGuard pack imports this module from its own virtualenv, where
neither Pulumi's providers nor pydantic are installed (policy/__main__.py puts the repository root
on sys.path). Nothing else in components/ may be imported by the pack.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Stage(StrEnum):
    STAGING = "staging"
    PROD = "prod"


class Residency(StrEnum):
    EU = "eu"
    ANY = "any"


class ClusterRole(StrEnum):
    GLOBAL = "global"
    ZONE = "zone"


# Regions Google Cloud served in 2026-11 (cloud.google.com/about/locations). A typo such as
# "europe-west11" must fail in config validation, not as an API error halfway through `pulumi up`.
GCP_REGIONS: Final[frozenset[str]] = frozenset(
    {
        "africa-south1",
        "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
        "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
        "australia-southeast1", "australia-southeast2",
        "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
        "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
        "europe-west8", "europe-west9", "europe-west10", "europe-west12",
        "me-central1", "me-central2", "me-west1",
        "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1",
        "southamerica-east1", "southamerica-west1",
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
        "us-west1", "us-west2", "us-west3", "us-west4",
    }
)  # fmt: skip

# Regions located in EU member states. London (europe-west2) and Zurich (europe-west6) are in
# Europe but not in the EU, so an EU-residency stack may not use them.
EU_REGIONS: Final[frozenset[str]] = frozenset(
    {
        "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
        "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
        "europe-west10", "europe-west12",
    }
)  # fmt: skip

# The node identity needs only to write logs and metrics and to read images; Google's predefined
# role for exactly that replaces the default compute account's Editor. The only project-level
# role the platform grants.
NODE_SERVICE_ACCOUNT_ROLES: Final[tuple[str, ...]] = ("roles/container.defaultNodeServiceAccount",)

# The OpenTelemetry collector writes the mesh's spans to Cloud Trace. Cloud Trace has no
# resource-level IAM: its writer role exists only on the project, so this is the one project
# role a workload identity holds, and only this identity (policy/rules.py).
TELEMETRY_SERVICE_ACCOUNT_ID: Final = "otel-collector"
TELEMETRY_WRITER_ROLES: Final[tuple[str, ...]] = ("roles/cloudtrace.agent",)

SECRET_ACCESSOR_ROLE: Final = "roles/secretmanager.secretAccessor"
WORKLOAD_IDENTITY_USER_ROLE: Final = "roles/iam.workloadIdentityUser"
