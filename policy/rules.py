"""The platform invariants as pure functions over a neutral view of one resource.

Nothing here imports Pulumi or pulumi_policy: the same rules run in CrossGuard (policy/crossguard.py
adapts `ResourceValidationArgs`) and offline over the mock engine's plan (policy/plan_checks.py).
This file must stay importable without them: CrossGuard runs the pack from its own virtualenv, where
neither the cloud providers' SDKs nor pydantic are installed. The facts it shares with the program
(EU regions, the node roles, stages) come from components/facts.py, which needs only the standard
library.

What CrossGuard cannot see is `None` in the view: `retain_on_delete` (the engine's
AnalyzerResourceOptions has no such field) and `secret_paths` (pulumi_policy unwraps secrets before
a validation sees the inputs). Rules check those parts only when they are known; a rule that needs
them entirely is marked `offline_only` and is not part of the CrossGuard pack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final

from components import facts
from components.facts import Residency, Stage

# -- facts shared with the program (components/facts.py: standard library only) ------------------
EU_REGIONS: Final = facts.EU_REGIONS
"""Regions in EU member states (London and Zurich are in Europe but not in the EU)."""

NODE_SERVICE_ACCOUNT_ROLES: Final = frozenset(facts.NODE_SERVICE_ACCOUNT_ROLES)
"""The only project-level roles the platform grants, and only to node service accounts."""

NODE_SERVICE_ACCOUNT = re.compile(r"^serviceAccount:[a-z][-a-z0-9]*-nodes@")
"""`components/naming.service_account_id(cluster, "nodes")`: `<cluster>-nodes`, or for a long
cluster name `<cluster prefix>-<hash>-nodes`: it always ends in `-nodes`."""

TELEMETRY_WRITER_ROLES: Final = frozenset(facts.TELEMETRY_WRITER_ROLES)
"""Project-only roles (Cloud Trace has no resource-level IAM), for the telemetry identity only."""

TELEMETRY_SERVICE_ACCOUNT = re.compile(rf"^serviceAccount:{facts.TELEMETRY_SERVICE_ACCOUNT_ID}@")

SECRET_ACCESSOR_ROLE: Final = facts.SECRET_ACCESSOR_ROLE

# -- resource types -------------------------------------------------------------------------------
CLUSTER: Final = "gcp:container/cluster:Cluster"
NODE_POOL: Final = "gcp:container/nodePool:NodePool"
SERVICE_ACCOUNT_KEY: Final = "gcp:serviceaccount/key:Key"
HMAC_KEY: Final = "gcp:storage/hmacKey:HmacKey"
PROJECT_IAM: Final = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
    }
)
SECRET_IAM: Final = frozenset(
    {
        "gcp:secretmanager/secretIamMember:SecretIamMember",
        "gcp:secretmanager/secretIamBinding:SecretIamBinding",
        "gcp:secretmanager/secretIamPolicy:SecretIamPolicy",
    }
)
SM_SECRET: Final = "gcp:secretmanager/secret:Secret"
SM_SECRET_VERSION: Final = "gcp:secretmanager/secretVersion:SecretVersion"
ADDRESS: Final = "gcp:compute/address:Address"
MESH: Final = "kubernetes:kuma.io/v1alpha1:Mesh"
FLUX_INSTANCE: Final = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
K8S_SECRET: Final = "kubernetes:core/v1:Secret"
HELM_CHARTS: Final = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"})
GCP_PROVIDER: Final = "pulumi:providers:gcp"
K8S_PROVIDER: Final = "pulumi:providers:kubernetes"

EXACT_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")


class _Unknown:
    """A value the engine computes later (an output of another resource, during preview)."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = _Unknown()


@dataclass(frozen=True)
class ResourceView:
    """One resource as a rule sees it; `props` are the inputs (camelCase, as sent to the provider),
    plain dicts/lists/scalars with UNKNOWN for values not known yet."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool
    retain_on_delete: bool | None = None
    """None: not visible (CrossGuard)."""
    secret_paths: frozenset[str] | None = None
    """Dotted input paths sent as Pulumi secrets (`a.b`, `a[0]`); None: not visible (CrossGuard)."""

    def get(self, path: str) -> Any:
        """The input at a dotted path such as `privateClusterConfig.enablePrivateNodes`, or None."""
        node: Any = self.props
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def is_secret(self, path: str) -> bool | None:
        """Whether `path`, or an input containing it, is a Pulumi secret; None when not visible."""
        if self.secret_paths is None:
            return None
        return any(
            path == p or path.startswith(p + ".") or path.startswith(p + "[")
            for p in self.secret_paths
        )


@dataclass(frozen=True)
class StackFacts:
    """What a rule may know about the stack; CrossGuard reads it from the policy config
    (build/<stack>/policy-config.json, made by `make policy-config` from the stack file), the
    offline runs from the stack config directly."""

    stage: Stage
    residency: Residency
    allowed_regions: frozenset[str]

    FIELDS: ClassVar[tuple[str, ...]] = ("stage", "residency", "allowedRegions")
    """Keys in policy config, camelCase like the stack config keys they mirror."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], keys: Sequence[str] = FIELDS) -> StackFacts:
        """Facts from a mapping with the camelCase `keys`; facts outside `keys` get neutral values
        (staging, any residency, no regions). ValueError lists every problem."""
        problems: list[str] = []
        unknown = sorted(set(keys) - set(cls.FIELDS))
        if unknown:
            raise ValueError(f"unknown stack facts {unknown}; known: {list(cls.FIELDS)}")
        stage, residency, regions = Stage.STAGING, Residency.ANY, frozenset[str]()
        for key in keys:
            value = raw.get(key)
            try:
                if key == "stage":
                    stage = Stage(str(value))
                elif key == "residency":
                    residency = Residency(str(value))
                elif not _is_str_list(value) or not value:
                    raise ValueError
                else:
                    regions = frozenset(value)
            except ValueError:
                problems.append(f"{key}: {value!r} is not {_FACT_HINTS[key]}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(stage=stage, residency=residency, allowed_regions=regions)


_FACT_HINTS: Final = {
    "stage": f"one of {[s.value for s in Stage]}",
    "residency": f"one of {[r.value for r in Residency]}",
    "allowedRegions": "a non-empty list of region names",
}


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class Enforcement(StrEnum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"


Check = Callable[[ResourceView, StackFacts], list[str]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check
    enforcement: Enforcement = Enforcement.MANDATORY
    facts: tuple[str, ...] = ()
    """StackFacts the rule reads (camelCase); the CrossGuard policy requires them as config."""
    offline_only: bool = False
    """True when CrossGuard cannot see what the rule checks, so the pack leaves it out."""
    crossguard_gap: str = ""
    """What part of the rule only the offline runs check."""
    why: str = ""

    def evaluate(self, resource: ResourceView, facts: StackFacts) -> list[str]:
        return self.check(resource, facts)


RULES: list[Rule] = []


def rule(
    name: str,
    description: str,
    *,
    why: str,
    facts: tuple[str, ...] = (),
    offline_only: bool = False,
    crossguard_gap: str = "",
    enforcement: Enforcement = Enforcement.MANDATORY,
) -> Callable[[Check], Check]:
    """Register a check as a rule of the pack."""

    def register(check: Check) -> Check:
        RULES.append(
            Rule(
                name=name,
                description=description,
                check=check,
                enforcement=enforcement,
                facts=facts,
                offline_only=offline_only,
                crossguard_gap=crossguard_gap,
                why=why,
            )
        )
        return check

    return register


# -- helpers --------------------------------------------------------------------------------------
def walk(value: Any, path: str = "") -> Iterator[tuple[str, str | None, Any]]:
    """Every node below `value` as (dotted path, key in its mapping or None, value), depth first."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            yield child_path, str(key), child
            yield from walk(child, child_path)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            child_path = f"{path}[{index}]"
            yield child_path, None, child
            yield from walk(child, child_path)


def _region_of(location: str) -> str:
    match = ZONE.fullmatch(location)
    return match["region"] if match else location


def _require(resource: ResourceView, path: str, expected: Any) -> list[str]:
    actual = resource.get(path)
    if actual == expected and not isinstance(actual, _Unknown):
        return []
    return [f"{path} must be {expected!r}, got {actual!r}"]


def _node_configs(resource: ResourceView) -> list[str]:
    """Paths of every node configuration a cluster or node pool declares."""
    if resource.type == NODE_POOL:
        return ["nodeConfig"]
    if resource.type == CLUSTER:
        pools = resource.get("nodePools") or []
        inline = [f"nodePools[{i}].nodeConfig" for i in range(len(pools))]
        return ["nodeConfig", *inline]
    return []


def _at(resource: ResourceView, path: str) -> Any:
    """Like ResourceView.get, but also understands `[i]` list indexes."""
    node: Any = resource.props
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            node = node[index] if isinstance(node, list) and index < len(node) else None
        elif isinstance(node, Mapping):
            node = node.get(part)
        else:
            return None
    return node


# -- GKE ------------------------------------------------------------------------------------------
@rule(
    "gke-private-nodes",
    "GKE clusters have private nodes and a private IP endpoint; no node pool opts out.",
    why="Nodes without public IPs; the control plane is reached through the DNS endpoint.",
)
def gke_private_nodes(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type == CLUSTER:
        return _require(resource, "privateClusterConfig.enablePrivateNodes", True) + _require(
            resource, "privateClusterConfig.enablePrivateEndpoint", True
        )
    if resource.type == NODE_POOL and resource.get("networkConfig.enablePrivateNodes") is False:
        return ["networkConfig.enablePrivateNodes is false: the pool's nodes get public IPs"]
    return []


@rule(
    "gke-workload-identity",
    "GKE clusters enable Workload Identity (workloadIdentityConfig.workloadPool *.svc.id.goog).",
    why="Pods get short-lived Google tokens instead of keys or the node's identity.",
)
def gke_workload_identity(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != CLUSTER:
        return []
    pool = resource.get("workloadIdentityConfig.workloadPool")
    if isinstance(pool, str) and pool.endswith(".svc.id.goog"):
        return []
    return [f"workloadIdentityConfig.workloadPool must be PROJECT.svc.id.goog, got {pool!r}"]


@rule(
    "node-pool-gke-metadata",
    "Every node configuration (node pools, the cluster's default pool) uses GKE_METADATA.",
    why="Without the GKE metadata server, pods read the node's credentials.",
)
def node_pool_gke_metadata(resource: ResourceView, facts: StackFacts) -> list[str]:
    return [
        f"{path}.workloadMetadataConfig.mode must be 'GKE_METADATA', got {mode!r}"
        for path in _node_configs(resource)
        if (mode := _at(resource, f"{path}.workloadMetadataConfig.mode")) != "GKE_METADATA"
    ]


@rule(
    "gke-shielded-secure-boot",
    "Shielded GKE nodes with secure boot on every node configuration.",
    why="Verified boot chain on every node.",
)
def gke_shielded_secure_boot(resource: ResourceView, facts: StackFacts) -> list[str]:
    problems = _require(resource, "enableShieldedNodes", True) if resource.type == CLUSTER else []
    return problems + [
        f"{path}.shieldedInstanceConfig.enableSecureBoot must be True, got {boot!r}"
        for path in _node_configs(resource)
        if (boot := _at(resource, f"{path}.shieldedInstanceConfig.enableSecureBoot")) is not True
    ]


@rule(
    "gke-dataplane-v2",
    "GKE clusters use Dataplane V2 (datapathProvider ADVANCED_DATAPATH).",
    why="Network policy enforcement (Flux's networkPolicy) and eBPF dataplane.",
)
def gke_dataplane_v2(resource: ResourceView, facts: StackFacts) -> list[str]:
    return (
        _require(resource, "datapathProvider", "ADVANCED_DATAPATH")
        if resource.type == CLUSTER
        else []
    )


# -- identities -----------------------------------------------------------------------------------
@rule(
    "no-service-account-keys",
    "No service-account keys and no HMAC keys.",
    why="Long-lived keys leak; workloads use Workload Identity, CI uses federation.",
)
def no_service_account_keys(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type in (SERVICE_ACCOUNT_KEY, HMAC_KEY):
        return [f"{resource.type} creates a long-lived key: use Workload Identity instead"]
    return []


def _project_grants(resource: ResourceView) -> list[tuple[str, Any]]:
    """(role, member) of a project-level IAM resource; IAMPolicy yields nothing (see below)."""
    role = resource.get("role")
    if resource.type == "gcp:projects/iAMMember:IAMMember":
        return [(role, resource.get("member"))]
    if resource.type == "gcp:projects/iAMBinding:IAMBinding":
        members = resource.get("members")
        return [(role, m) for m in members] if isinstance(members, list) else [(role, members)]
    return []


@rule(
    "no-project-roles-for-workloads",
    "Project-level IAM grants only the node roles, only to GKE node service accounts, and the "
    "Cloud Trace writer role only to the telemetry identity; no authoritative project IAM policy.",
    why="Workloads get per-resource grants; a project role reaches every resource of the project.",
)
def no_project_roles_for_workloads(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type not in PROJECT_IAM:
        return []
    if resource.type == "gcp:projects/iAMPolicy:IAMPolicy":
        return ["a project IAMPolicy is authoritative for the whole project: use IAMMember"]
    problems: list[str] = []
    for role, member in _project_grants(resource):
        if role in TELEMETRY_WRITER_ROLES:
            if isinstance(member, str) and not TELEMETRY_SERVICE_ACCOUNT.match(member):
                problems.append(f"project role {role!r} for {member!r}, not the telemetry identity")
        elif role not in NODE_SERVICE_ACCOUNT_ROLES:
            problems.append(
                f"project role {role!r} for {member!r}: only {sorted(NODE_SERVICE_ACCOUNT_ROLES)} "
                "may be granted at project level; grant workloads on the resource instead"
            )
        # A member computed at preview is the new node account's; it is checked on `up`.
        elif isinstance(member, str) and not NODE_SERVICE_ACCOUNT.match(member):
            problems.append(f"project role {role!r} for {member!r}, not a GKE node service account")
    return problems


@rule(
    "secret-accessor-per-secret",
    "Secret Manager access is granted per secret, as secretAccessor only; never project-wide.",
    why="A project-level accessor role reads every secret of the project.",
)
def secret_accessor_per_secret(resource: ResourceView, facts: StackFacts) -> list[str]:
    role = resource.get("role")
    if resource.type in PROJECT_IAM and isinstance(role, str) and "secretmanager" in role:
        return [f"{role} granted on the project: grant {SECRET_ACCESSOR_ROLE} per secret"]
    if resource.type == "gcp:secretmanager/secretIamPolicy:SecretIamPolicy":
        return ["a SecretIamPolicy is authoritative: grant with SecretIamMember"]
    if resource.type in SECRET_IAM and role != SECRET_ACCESSOR_ROLE:
        return [f"per-secret role {role!r}: the platform grants only {SECRET_ACCESSOR_ROLE}"]
    return []


# -- residency and protection ---------------------------------------------------------------------
LOCATION_KEYS: Final = ("location", "region", "zone")
LOCATION_LISTS: Final = ("nodeLocations",)


def _locations(resource: ResourceView) -> Iterator[tuple[str, Any]]:
    for key in LOCATION_KEYS:
        if key in resource.props:
            yield key, resource.props[key]
    for key in LOCATION_LISTS:
        for index, value in enumerate(resource.get(key) or []):
            yield f"{key}[{index}]", value
    replicas = resource.get("replication.userManaged.replicas") or []
    for index, replica in enumerate(replicas):
        location = replica.get("location") if isinstance(replica, Mapping) else None
        yield f"replication.userManaged.replicas[{index}].location", location


@rule(
    "eu-residency",
    "With residency eu, every location/region of a GCP resource and every Secret Manager replica "
    "is an EU region listed in allowedRegions; no automatic replication.",
    facts=("residency", "allowedRegions"),
    why="prod-eu data stays in EU member states (docs/design.md).",
)
def eu_residency(resource: ResourceView, facts: StackFacts) -> list[str]:
    if facts.residency is not Residency.EU:
        return []
    if not (resource.type.startswith("gcp:") or resource.type == GCP_PROVIDER):
        return []
    problems: list[str] = []
    for path, value in _locations(resource):
        region = _region_of(value) if isinstance(value, str) else None
        if region not in EU_REGIONS:
            problems.append(f"{path} {value!r} is not in an EU region")
        elif region not in facts.allowed_regions:
            problems.append(
                f"{path} {value!r} is not in allowedRegions {sorted(facts.allowed_regions)}"
            )
    if resource.type == SM_SECRET:
        replication = resource.get("replication") or {}
        if not isinstance(replication, Mapping) or set(replication) & {"auto", "automatic"}:
            problems.append("replication is automatic (Google picks the regions): use userManaged")
        elif not resource.get("replication.userManaged.replicas"):
            problems.append("replication.userManaged.replicas is empty")
    return problems


PROD_PROTECTED_TYPES: Final = frozenset({CLUSTER, NODE_POOL, SM_SECRET, ADDRESS, MESH})
RETAINED_TYPES: Final = frozenset({SM_SECRET, SM_SECRET_VERSION})


@rule(
    "prod-protected",
    "prod: clusters, node pools, Secret Manager secrets, the KDS address and the Mesh are "
    "protected, clusters and secrets have deletionProtection; Secret Manager entries are always "
    "retained on delete.",
    facts=("stage",),
    crossguard_gap="retainOnDelete (not sent to policy packs)",
    why="A prod destroy or replace must be deliberate; a secret's value cannot be recreated.",
)
def prod_protected(resource: ResourceView, facts: StackFacts) -> list[str]:
    problems: list[str] = []
    if facts.stage is Stage.PROD and resource.type in PROD_PROTECTED_TYPES:
        if not resource.protect:
            problems.append("not protected (protect=True in prod)")
        if resource.type in (CLUSTER, SM_SECRET):
            problems += _require(resource, "deletionProtection", True)
    if resource.type in RETAINED_TYPES and resource.retain_on_delete is False:
        problems.append("not retained on delete: removing it from the program would delete it")
    return problems


@rule(
    "flux-instance-protected",
    "prod: FluxInstance is protected and retained on delete (deleting it uninstalls Flux). "
    "Other stages may destroy it with their cluster.",
    facts=("stage",),
    crossguard_gap="retainOnDelete (not sent to policy packs)",
    why="Deleting the FluxInstance uninstalls Flux and everything it reconciles.",
)
def flux_instance_protected(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != FLUX_INSTANCE or facts.stage is not Stage.PROD:
        return []
    problems = [] if resource.protect else ["not protected"]
    if resource.retain_on_delete is False:
        problems.append("not retained on delete")
    return problems


# -- in-cluster -----------------------------------------------------------------------------------
SKIP_VERIFY_KEYS: Final = frozenset(
    {"skipverify", "insecureskipverify", "insecureskiptlsverify", "insecure"}
)
KUBECONFIG_INSECURE = re.compile(r"insecure-skip-tls-verify:\s*['\"]?true", re.IGNORECASE)


@rule(
    "no-skip-verify",
    "No TLS verification switched off anywhere in Kubernetes inputs (Helm values, CR specs, "
    "provider kubeconfig): skipVerify/insecureSkipVerify/insecure true.",
    why="The KDS connection and every other TLS link verify their peer (docs/design.md).",
)
def no_skip_verify(resource: ResourceView, facts: StackFacts) -> list[str]:
    if not (resource.type.startswith("kubernetes:") or resource.type == K8S_PROVIDER):
        return []
    problems = [
        f"{path} is {value!r}: TLS verification must stay on"
        for path, key, value in walk(resource.props)
        if key is not None and key.lower() in SKIP_VERIFY_KEYS and value in (True, "true")
    ]
    kubeconfig = resource.get("kubeconfig")
    if isinstance(kubeconfig, str) and KUBECONFIG_INSECURE.search(kubeconfig):
        problems.append("kubeconfig sets insecure-skip-tls-verify")
    return problems


@rule(
    "pinned-chart-versions",
    "Every Helm release/chart pins an exact semver version (no range, no empty, no latest).",
    why="What is installed changes only with a reviewed commit (docs/design.md).",
)
def pinned_chart_versions(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type not in HELM_CHARTS:
        return []
    version = resource.get("version")
    if isinstance(version, str) and EXACT_SEMVER.fullmatch(version):
        return []
    return [f"version {version!r} is not an exact semver version such as '1.2.3'"]


@rule(
    "mesh-mtls",
    "The Kuma Mesh enables mTLS with a declared backend; zoneEgress only with mTLS.",
    why="docs/design.md: mTLS on; routing.zoneEgress is rejected without mtls.enabledBackend.",
)
def mesh_mtls(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != MESH:
        return []
    backend = resource.get("spec.mtls.enabledBackend")
    backends = resource.get("spec.mtls.backends") or []
    names = [b.get("name") for b in backends if isinstance(b, Mapping)]
    if not isinstance(backend, str) or not backend:
        problems = ["spec.mtls.enabledBackend is not set: mTLS is off"]
        if resource.get("spec.routing.zoneEgress") is True:
            problems.append("spec.routing.zoneEgress requires spec.mtls.enabledBackend")
        return problems
    if backend not in names:
        return [f"spec.mtls.enabledBackend {backend!r} names no backend; declared: {names}"]
    return []


# -- secrets --------------------------------------------------------------------------------------
SENSITIVE_KEY = re.compile(
    r"(password|passwd|token|privatekey(pem)?|secretdata(wo)?|apikey|clientsecret)$"
)
PRIVATE_KEY_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def _sensitive_paths(resource: ResourceView) -> Iterator[str]:
    """Inputs that hold secret material: Secret data, secret-looking keys, private-key PEM."""
    if resource.type == K8S_SECRET:
        for field_name in ("data", "stringData"):
            for key in resource.get(field_name) or {}:
                yield f"{field_name}.{key}"
    for path, key, value in walk(resource.props):
        normalized = re.sub(r"[^a-z]", "", key.lower()) if key is not None else ""
        if (key is not None and (SENSITIVE_KEY.search(normalized) or key.endswith(".key"))) or (
            isinstance(value, str) and PRIVATE_KEY_PEM.search(value)
        ):
            yield path


@rule(
    "secrets-are-secret",
    "Secret material (Kubernetes Secret data, passwords, tokens, private keys, Secret Manager "
    "data) is sent as a Pulumi secret, so it is encrypted in state.",
    offline_only=True,
    why="docs/design.md: every secret-bearing input is a Pulumi secret.",
)
def secrets_are_secret(resource: ResourceView, facts: StackFacts) -> list[str]:
    return [
        f"{path} holds secret material but is not a Pulumi secret"
        for path in dict.fromkeys(_sensitive_paths(resource))
        if resource.is_secret(path) is False
    ]


def rule_named(name: str) -> Rule:
    matches = [r for r in RULES if r.name == name]
    if len(matches) != 1:
        raise KeyError(f"{len(matches)} rules named {name!r}; known: {[r.name for r in RULES]}")
    return matches[0]


@dataclass(frozen=True)
class Violation:
    rule: str
    type: str
    name: str
    urn: str
    message: str
    enforcement: Enforcement = field(default=Enforcement.MANDATORY)

    def __str__(self) -> str:
        return f"policy {self.rule}: {self.type} {self.name}: {self.message}"


def evaluate(resources: Sequence[ResourceView], facts: StackFacts) -> list[Violation]:
    """Every violation of every rule over `resources`."""
    return [
        Violation(r.name, resource.type, resource.name, resource.urn, message, r.enforcement)
        for resource in resources
        for r in RULES
        for message in r.evaluate(resource, facts)
    ]


# The tenancy rules live in their own module and register themselves into RULES on import.
from policy import tenancy  # noqa: E402, F401
