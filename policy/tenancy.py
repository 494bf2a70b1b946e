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
        return [f"provider {_keys(provider)}: only gcpsm (Secret Manager) is used"]
    auth = resource.get("spec.provider.gcpsm.auth")
    if not isinstance(auth, Mapping) or set(auth) != {"workloadIdentity"}:
        return [
            f"auth {_keys(auth)}: use exactly workloadIdentity (no auth means the ESO "
            "controller's identity, secretRef means a key)"
        ]
    ref = resource.get("spec.provider.gcpsm.auth.workloadIdentity.serviceAccountRef")
    if not isinstance(ref, Mapping):
        return [f"serviceAccountRef {ref!r}: name {SECRET_READER_SERVICE_ACCOUNT!r}"]
    problems = []
    # The name is a literal of the program (components/secret_store.py), never computed: an
    # unknown one fails closed like a wrong one.
    if ref.get("name") != SECRET_READER_SERVICE_ACCOUNT:
        problems.append(
            f"serviceAccountRef {ref.get('name')!r}: use {SECRET_READER_SERVICE_ACCOUNT!r}, the "
            "account bound to this namespace's Google identity"
        )
    if "namespace" in ref:
        problems.append("serviceAccountRef.namespace: a SecretStore uses its own namespace")
    return problems


def _keys(value: Any) -> Any:
    """The keys of a mapping for a message; anything else (UNKNOWN, a scalar) as it is."""
    return sorted(value) if isinstance(value, Mapping) else value


def _eso_values(resource: ResourceView) -> Mapping[str, Any] | None:
    """The values of an External Secrets chart (UNKNOWN values as an empty mapping, so every
    setting fails closed); None for anything else."""
    chart = resource.get("chart")
    if not (isinstance(chart, str) and chart.endswith(ESO_CHART)):
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
    if resource.type not in HELM_CHARTS:
        return []
    if resource.get("chart") is UNKNOWN:
        return ["chart is unknown during preview: it may be external-secrets"]
    values = _eso_values(resource)
    if values is None:
        return []
    problems = []
    account = values.get("serviceAccount")
    annotations = account.get("annotations") if isinstance(account, Mapping) else account
    if annotations is UNKNOWN or (
        isinstance(annotations, Mapping) and WORKLOAD_IDENTITY_ANNOTATION in annotations
    ):
        problems.append(
            f"serviceAccount.annotations[{WORKLOAD_IDENTITY_ANNOTATION!r}] gives the controller a "
            "Google identity (or may, unknown during preview): every namespace could read as it"
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
    # The key's id is an output of the CryptoKey (components/kms.py); `up` checks it known.
    deferred=("keyName",),
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
        rotation = resource.get("rotationPeriod")
        if not isinstance(rotation, str) or not rotation:
            problems.append(f"rotationPeriod is {rotation!r}: rotate the key")
        if facts.stage is Stage.PROD and resource.retain_on_delete is False:
            problems.append("not retained on delete: removing it from the program destroys it")
        return problems
    return []
