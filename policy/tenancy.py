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

from components.facts import FLUX_NAMESPACE, SECRET_READER_SERVICE_ACCOUNT, Stage
from components.versions import KUBERNETES_MINOR
from offline.secret_access import (
    CLUSTER_SECRET_STORE,
    SECRET_STORE,
    Resource,
    access_problems,
    analyse,
)
from policy.rules import (
    FLUX_INSTANCE,
    HELM_CHARTS,
    UNKNOWN,
    ResourceView,
    StackFacts,
    Where,
    rule,
)

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


ESO_CLUSTER_SWITCHES: Final = (
    "processClusterStore",
    "processClusterExternalSecret",
    "processClusterPushSecret",
    "processClusterGenerator",
)


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
    # Every cluster-scoped kind the chart can process: the stores, and the objects that write into
    # many namespaces or read from any store (ESO 2.9.0 values.yaml `processCluster*`; the chart
    # defaults them all to true).
    for key in ESO_CLUSTER_SWITCHES:
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


# -- namespaces, Flux -----------------------------------------------------------------------------
NAMESPACE: Final = "kubernetes:core/v1:Namespace"
PSA: Final = "pod-security.kubernetes.io"
PSA_MODES: Final = ("enforce", "audit", "warn")
MESH_INJECTION: Final = "kuma.io/sidecar-injection"


@rule(
    "namespace-pod-security",
    "Every namespace carries Pod Security labels for enforce, audit and warn, each pinned to the "
    f"clusters' minor (v{KUBERNETES_MINOR}); audit and warn are `restricted`; enforce is never "
    "`privileged`, and `restricted` in a namespace whose pods get the mesh sidecar (the apps).",
    why="An unlabelled namespace admits any pod (privileged); an unpinned version follows the "
    "control plane's upgrades; the apps' namespaces need nothing above `restricted` because Kuma "
    "injects through its CNI.",
)
def namespace_pod_security(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != NAMESPACE:
        return []
    labels = resource.get("metadata.labels")
    if not isinstance(labels, Mapping):
        return [f"metadata.labels is {labels!r}: set the Pod Security labels"]
    problems = []
    for mode in PSA_MODES:
        version = labels.get(f"{PSA}/{mode}-version")
        if version != f"v{KUBERNETES_MINOR}":
            problems.append(f"{PSA}/{mode}-version is {version!r}: pin v{KUBERNETES_MINOR}")
    for mode in ("audit", "warn"):
        if labels.get(f"{PSA}/{mode}") != "restricted":
            problems.append(f"{PSA}/{mode} is {labels.get(f'{PSA}/{mode}')!r}: use restricted")
    enforce = labels.get(f"{PSA}/enforce")
    meshed = labels.get(MESH_INJECTION) == "enabled"
    allowed = ("restricted",) if meshed else ("baseline", "restricted")
    if enforce not in allowed:
        problems.append(
            f"{PSA}/enforce is {enforce!r}: use {' or '.join(allowed)}"
            + (" (an app namespace: Kuma injects through its CNI)" if meshed else "")
        )
    return problems


FLUX_OPERATOR_CHART: Final = "flux-operator"


@rule(
    "flux-web-ui-authenticated",
    "The flux-operator web UI is off, or on only with OAuth2 authentication in its Web Config "
    "(values `web.config.authentication`).",
    why="The chart enables the Flux Status web server by default; without a Web Config it has no "
    "login, and `Anonymous` gives every visitor one shared identity (flux-operator Web Config "
    "API: authentication types Anonymous and OAuth2).",
)
def flux_web_ui(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type not in HELM_CHARTS:
        return []
    chart = resource.get("chart")
    if chart is UNKNOWN:
        return ["chart is unknown during preview: it may be flux-operator"]
    if not (isinstance(chart, str) and chart.endswith(FLUX_OPERATOR_CHART)):
        return []
    web = resource.get("values.web")
    web = web if isinstance(web, Mapping) else {}
    if web.get("enabled") is False:
        return []
    config = web.get("config")
    auth = config.get("authentication") if isinstance(config, Mapping) else None
    kind = auth.get("type") if isinstance(auth, Mapping) else None
    if kind == "OAuth2":
        return []
    return [
        f"web UI enabled ({web.get('enabled', 'chart default true')!r}) with authentication "
        f"{kind!r}: set web.enabled false, or an OAuth2 Web Config in web.config (a config "
        "Secret is not visible to the policy)"
    ]


@rule(
    "flux-multitenant-lockdown",
    "Every FluxInstance enables Flux's multi-tenancy lockdown (`cluster.multitenant: true`) with "
    "`tenantDefaultServiceAccount: default`.",
    why="Without the lockdown a Kustomization without serviceAccountName applies as "
    "kustomize-controller (cluster-admin) and may reference sources across namespaces "
    "(flux-operator internal/builder/profiles.go).",
)
def flux_multitenant(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != FLUX_INSTANCE:
        return []
    problems = []
    if resource.get("spec.cluster.multitenant") is not True:
        problems.append(f"spec.cluster.multitenant is {resource.get('spec.cluster.multitenant')!r}")
    account = resource.get("spec.cluster.tenantDefaultServiceAccount")
    if account != "default":
        problems.append(f"spec.cluster.tenantDefaultServiceAccount is {account!r}: use 'default'")
    return problems


RBAC: Final = "kubernetes:rbac.authorization.k8s.io/v1"
ROLE_TYPES: Final = frozenset({f"{RBAC}:Role", f"{RBAC}:ClusterRole"})
BINDING_TYPES: Final = frozenset({f"{RBAC}:RoleBinding", f"{RBAC}:ClusterRoleBinding"})
FORBIDDEN_GROUPS: Final = frozenset({"*", "networking.k8s.io", "rbac.authorization.k8s.io"})
FORBIDDEN_VERBS: Final = frozenset({"*", "escalate", "bind", "impersonate"})
FORBIDDEN_RESOURCES: Final = frozenset({"*", "secrets"})
TENANT_RECONCILER_PREFIX: Final = "apps-"
"""components/naming.py tenant_reconciler: the flux-system account a tenant is applied as."""


def _is_reconciler(subject: Any) -> bool:
    return (
        isinstance(subject, Mapping)
        and subject.get("kind") == "ServiceAccount"
        and subject.get("namespace") == FLUX_NAMESPACE
        and str(subject.get("name", "")).startswith(TENANT_RECONCILER_PREFIX)
    )


@rule(
    "tenant-rights-namespaced",
    "Roles the program grants never cover NetworkPolicies, RBAC, Secrets or wildcards, nor the "
    "escalate/bind/impersonate verbs; a tenant reconciler (flux-system/apps-*) is bound only by a "
    "RoleBinding to a Role, never cluster-wide.",
    why="NetworkPolicies are additive (one allow-all reopens a namespace's egress), RBAC rights "
    "let a tenant grant itself more, and a cluster-wide binding reaches every namespace.",
)
def tenant_rights_namespaced(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type in ROLE_TYPES:
        rules_ = resource.get("rules")
        entries = rules_ if isinstance(rules_, list) else [rules_]
        return [p for i, entry in enumerate(entries) for p in _role_rule_problems(i, entry)]
    if resource.type in BINDING_TYPES:
        return _binding_problems(resource)
    return []


def _role_rule_problems(index: int, entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"rules[{index}] is {entry!r}"]
    problems = []
    for key, forbidden in (
        ("apiGroups", FORBIDDEN_GROUPS),
        ("verbs", FORBIDDEN_VERBS),
        ("resources", FORBIDDEN_RESOURCES),
    ):
        values = entry.get(key)
        if values is None and key == "resources":
            continue  # a rule of nonResourceURLs only (reported below)
        if not isinstance(values, list) or any(v is UNKNOWN for v in values):
            problems.append(f"rules[{index}].{key} is {values!r}: list it literally")
            continue
        bad = sorted(set(values) & forbidden)
        if bad:
            problems.append(f"rules[{index}].{key} grants {bad}")
    if entry.get("nonResourceURLs"):
        problems.append(f"rules[{index}].nonResourceURLs: nothing outside the API's resources")
    return problems


def _binding_problems(resource: ResourceView) -> list[str]:
    subjects = resource.get("subjects")
    subjects = subjects if isinstance(subjects, list) else [subjects]
    if any(s is UNKNOWN for s in subjects):
        return ["subjects are unknown during preview: they may name a tenant reconciler"]
    if not any(_is_reconciler(s) for s in subjects):
        return []
    if resource.type == f"{RBAC}:ClusterRoleBinding":
        return ["binds a tenant reconciler cluster-wide: use a RoleBinding"]
    kind = resource.get("roleRef.kind")
    if kind != "Role":
        return [f"roleRef.kind {kind!r} for a tenant reconciler: bind a Role of its namespace"]
    return []
