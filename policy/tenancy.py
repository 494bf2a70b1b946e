"""Tenancy invariants: each namespace reads only the Secret Manager entries that name it, through
its own store and identity; nothing reads through a store shared by every namespace.

Resource rules register into the pack's RULES (policy/rules.py imports this module). The reader
analysis needs every resource at once, so it is a stack policy (`stack_policies()`, added to the
pack in policy/__main__.py); offline it runs over the plan (`stack_problems`).
Standard library and the pack's own modules only (CrossGuard's virtualenv).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from components.facts import SECRET_READER_SERVICE_ACCOUNT, Stage
from offline.secret_access import (
    CLUSTER_SECRET_STORE,
    SECRET_STORE,
    Resource,
    access_problems,
    analyse,
)
from policy.rules import HELM_CHARTS, UNKNOWN, ResourceView, StackFacts, Where, rule

WORKLOAD_IDENTITY_ANNOTATION: Final = "iam.gke.io/gcp-service-account"
ESO_CHART: Final = "external-secrets"


@rule(
    "no-cluster-secret-store",
    "No ClusterSecretStore: every namespace reads Secret Manager through its own SecretStore.",
    why="A ClusterSecretStore reads as one identity for every namespace allowed to use it, so "
    "one tenant could read another's entries or the Flux git credentials.",
)
def no_cluster_secret_store(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type == CLUSTER_SECRET_STORE:
        return ["a ClusterSecretStore serves many namespaces: use a SecretStore per namespace"]
    return []


@rule(
    "secret-store-own-identity",
    "A SecretStore authenticates with Workload Identity as its namespace's `secret-reader` "
    "account, in its own namespace; never without auth, never with a key.",
    why="Without auth ESO falls back to its controller's own credentials (shared by every "
    "namespace); a key is long-lived and readable by anyone who reads the namespace's Secrets.",
)
def secret_store_own_identity(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != SECRET_STORE:
        return []
    provider = resource.get("spec.provider")
    if not isinstance(provider, Mapping) or set(provider) != {"gcpsm"}:
        return [f"provider {sorted(provider or {})}: only gcpsm (Secret Manager) is used"]
    auth = resource.get("spec.provider.gcpsm.auth")
    if not isinstance(auth, Mapping) or set(auth) != {"workloadIdentity"}:
        return [
            f"auth {sorted(auth or {})}: use exactly workloadIdentity (no auth means the ESO "
            "controller's identity, secretRef means a key)"
        ]
    ref = resource.get("spec.provider.gcpsm.auth.workloadIdentity.serviceAccountRef") or {}
    problems = []
    if ref.get("name") not in (SECRET_READER_SERVICE_ACCOUNT, UNKNOWN):
        problems.append(
            f"serviceAccountRef {ref.get('name')!r}: use {SECRET_READER_SERVICE_ACCOUNT!r}, the "
            "account bound to this namespace's Google identity"
        )
    if "namespace" in ref:
        problems.append("serviceAccountRef.namespace: a SecretStore uses its own namespace")
    return problems


def _eso_values(resource: ResourceView) -> Mapping[str, Any] | None:
    if resource.type not in HELM_CHARTS:
        return None
    chart = resource.get("chart")
    if not isinstance(chart, str) or not chart.endswith(ESO_CHART):
        return None
    values = resource.get("values")
    return values if isinstance(values, Mapping) else {}


@rule(
    "eso-controller-reads-nothing",
    "The External Secrets controller has no Google identity and ignores cluster-wide stores.",
    why="A store without auth reads as the controller (external-secrets auth.go "
    "`NewTokenSource`); an identity there is shared by every namespace.",
)
def eso_controller_reads_nothing(resource: ResourceView, facts: StackFacts) -> list[str]:
    values = _eso_values(resource)
    if values is None:
        return []
    problems = []
    account = values.get("serviceAccount")
    annotations = account.get("annotations") if isinstance(account, Mapping) else None
    if isinstance(annotations, Mapping) and WORKLOAD_IDENTITY_ANNOTATION in annotations:
        problems.append(
            f"serviceAccount.annotations[{WORKLOAD_IDENTITY_ANNOTATION!r}] gives the controller a "
            "Google identity: every namespace could read as it"
        )
    for key in ("processClusterStore", "processClusterExternalSecret"):
        if values.get(key) is not False:
            problems.append(f"{key} must be false: cluster-wide objects cross namespaces")
    return problems


def stack_problems(resources: Iterable[Resource]) -> list[str]:
    """Who can read each entry (offline/secret_access.py) against the readers it declares."""
    return access_problems(analyse(resources))


STACK_POLICY: Final = "secret-readers-as-declared"


def stack_policies() -> list[Any]:
    """The reader analysis as a CrossGuard stack policy. pulumi_policy is imported here, not at
    module level: policy/rules.py imports this module and must load without it."""
    from pulumi_policy import (
        EnforcementLevel,
        ReportViolation,
        StackValidationArgs,
        StackValidationPolicy,
    )

    from policy.crossguard import plain

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [Resource(r.resource_type, plain(r.props)) for r in args.resources]
        for message in stack_problems(resources):
            report_violation(message, None)

    return [
        StackValidationPolicy(
            name=STACK_POLICY,
            description="Each Secret Manager entry is readable by exactly the namespaces its "
            "`platform-readers` annotation names (IAM grants, Workload Identity bindings, stores).",
            validate=validate,
            enforcement_level=EnforcementLevel.MANDATORY,
        )
    ]


CLUSTER: Final = "gcp:container/cluster:Cluster"
CRYPTO_KEY: Final = "gcp:kms/cryptoKey:CryptoKey"


@rule(
    "gke-secrets-encrypted-with-own-key",
    "GKE clusters encrypt Kubernetes Secrets at the application layer with a Cloud KMS key "
    "(databaseEncryption ENCRYPTED); keys are rotated, and in prod never deleted with the program.",
    why="A Secret copied from etcd or a backup stays unreadable without the key, whose use is "
    "logged and revocable; destroying the key would make every Secret unreadable.",
    facts=("stage",),
    where=Where.PARTLY,
    offline_part="retain-on-delete of the key (the engine passes no retainOnDelete to policies)",
)
def gke_secrets_encrypted(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type == CLUSTER:
        state, key = (
            resource.get("databaseEncryption.state"),
            resource.get("databaseEncryption.keyName"),
        )
        if state != "ENCRYPTED" or not key:
            return [f"databaseEncryption {state!r} with key {key!r}: use ENCRYPTED with a KMS key"]
    if resource.type == CRYPTO_KEY:
        problems = []
        if not resource.get("rotationPeriod"):
            problems.append("rotationPeriod is not set: rotate the key")
        if facts.stage is Stage.PROD and resource.retain_on_delete is False:
            problems.append("not retained on delete: removing it from the program destroys it")
        return problems
    return []
