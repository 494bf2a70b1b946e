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

# Namespaces the platform itself runs in. `flux-system` reads the git credentials from Secret
# Manager and `kuma-system` (global cluster) the gateway's TLS entry; application namespaces
# ("tenants") are named in the stack config.
FLUX_NAMESPACE: Final = "flux-system"
KUMA_NAMESPACE: Final = "kuma-system"
# The Secret Manager entry the program writes itself: the mesh CA's record (components/kuma).
MESH_CA_SECRET_ID: Final = "kuma-mesh-ca"
ESO_NAMESPACE: Final = "external-secrets"
GATEWAY_NAMESPACE: Final = "mesh-gateway"
OBSERVABILITY_NAMESPACE: Final = "observability"  # k8s/infrastructure/zone/observability
RESERVED_NAMESPACES: Final[frozenset[str]] = frozenset(
    {
        "default",
        FLUX_NAMESPACE,
        ESO_NAMESPACE,
        KUMA_NAMESPACE,
        GATEWAY_NAMESPACE,
        OBSERVABILITY_NAMESPACE,
    }
)
# In every reader namespace: the Kubernetes service account its SecretStore authenticates as
# (Workload Identity, impersonating the namespace's own Google service account), and the store.
SECRET_READER_SERVICE_ACCOUNT: Final = "secret-reader"
SECRET_STORE_NAME: Final = "gcp-secret-manager"
# Annotation on each Secret Manager entry naming the namespaces that may read it (comma-separated):
# the entry states its own audience, so the policy pack can compare it with the grants it sees.
SECRET_READERS_ANNOTATION: Final = "platform-readers"
# The platform's own PriorityClass, created by Pulumi on every cluster and set on every pod the
# program installs (Kuma, External Secrets, flux-operator, Flux's notification-controller). It must
# stay above every application class in k8s/ (tests/test_resilience_priority.py reads both) and at
# most 1e9: Kubernetes refuses a user-defined class above HighestUserDefinablePriority, and names
# starting with `system-` are reserved (kubernetes pkg/apis/scheduling/validation/validation.go).
PLATFORM_PRIORITY_CLASS: Final = "platform-critical"
PLATFORM_PRIORITY: Final = 1_000_000
HIGHEST_USER_DEFINABLE_PRIORITY: Final = 1_000_000_000

# Spot node pools carry this taint (the one GKE's Spot VM guide recommends); GKE labels Spot
# nodes `cloud.google.com/gke-spot: "true"` itself. Only pods meant to burst tolerate it.
SPOT_TAINT_KEY: Final = "cloud.google.com/gke-spot"
SPOT_TAINT_VALUE: Final = "true"
SPOT_TAINT_EFFECT: Final = "NoSchedule"

# A regional GKE node pool spreads over three zones of its region unless node locations are set
# (https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters); ours are not set.
ZONES_PER_REGION: Final = 3
# Prod control planes: one Kuma control-plane replica per zone, spread with a hard constraint.
HA_CONTROL_PLANE_REPLICAS: Final = ZONES_PER_REGION
# A webhook server (Kuma's control plane, ESO's webhook) never runs alone: with one replica a
# node drain takes the webhook away, and Kuma's injector fails closed. Two replicas and a
# disruption budget of one keep it answering through node upgrades, on every stage.
MIN_WEBHOOK_REPLICAS: Final = 2
