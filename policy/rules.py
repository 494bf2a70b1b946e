"""The platform invariants as pure functions over a neutral view of one resource.

Nothing here imports Pulumi or pulumi_policy: the same rules run in CrossGuard (policy/crossguard.py
adapts `ResourceValidationArgs`) and offline over the mock engine's plan (policy/plan_checks.py).
This file must stay importable without them: CrossGuard runs the pack from its own virtualenv, where
neither the cloud providers' SDKs nor pydantic are installed. The facts it shares with the program
(EU regions, the node roles, stages) come from components/facts.py, which needs only the standard
library.

Each rule states as data where it is enforced (`Rule.where`, `Rule.offline_part`) and which inputs
it lets pass while they are unknown during a preview (`Rule.deferred`); docs/policy.md's rule
table is generated from that data (policy/docs.py). What CrossGuard cannot see is `None` in the
view: `retain_on_delete` and `secret_paths` (see policy/crossguard.py for the upstream source).
"""

from __future__ import annotations

import fnmatch
import functools
import json
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
KMS_CRYPTO_KEY: Final = "gcp:kms/cryptoKey:CryptoKey"
SQL_INSTANCE: Final = "gcp:sql/databaseInstance:DatabaseInstance"
MESH: Final = "kubernetes:kuma.io/v1alpha1:Mesh"
FLUX_INSTANCE: Final = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"
K8S_SECRET: Final = "kubernetes:core/v1:Secret"
HELM_CHARTS: Final = frozenset(
    {
        "kubernetes:helm.sh/v3:Release",
        # Client-side charts: v3 renders in the SDK, v4 in the provider; both take a chart
        # reference, a version and values like a Release.
        "kubernetes:helm.sh/v3:Chart",
        "kubernetes:helm.sh/v4:Chart",
    }
)
GCP_PROVIDER: Final = "pulumi:providers:gcp"
K8S_PROVIDER: Final = "pulumi:providers:kubernetes"

EXACT_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")
PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
"""A GCP project id (cloud.google.com/resource-manager/docs/creating-managing-projects)."""


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
    project: str

    FIELDS: ClassVar[tuple[str, ...]] = ("stage", "residency", "allowedRegions", "project")
    """Keys in policy config, camelCase like the stack config keys they mirror (in field order)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], keys: Sequence[str] = FIELDS) -> StackFacts:
        """Facts from a mapping with the camelCase `keys`; facts outside `keys` get neutral values
        (staging, any residency, no regions, no project). ValueError lists every problem."""
        problems: list[str] = []
        unknown = sorted(set(keys) - set(cls.FIELDS))
        if unknown:
            raise ValueError(f"unknown stack facts {unknown}; known: {list(cls.FIELDS)}")
        stage, residency, regions, project = Stage.STAGING, Residency.ANY, frozenset[str](), ""
        for key in keys:
            value = raw.get(key)
            try:
                if key == "stage":
                    stage = Stage(str(value))
                elif key == "residency":
                    residency = Residency(str(value))
                elif key == "project":
                    if not isinstance(value, str) or not PROJECT_ID.fullmatch(value):
                        raise ValueError
                    project = value
                elif not _is_str_list(value) or not value:
                    raise ValueError
                else:
                    regions = frozenset(value)
            except ValueError:
                problems.append(f"{key}: {value!r} is not {_FACT_HINTS[key]}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(stage=stage, residency=residency, allowed_regions=regions, project=project)


_FACT_HINTS: Final = {
    "stage": f"one of {[s.value for s in Stage]}",
    "residency": f"one of {[r.value for r in Residency]}",
    "allowedRegions": "a non-empty list of region names",
    "project": "a GCP project id (gcp:project of the stack)",
}


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class Enforcement(StrEnum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"


class Where(StrEnum):
    """Where a rule is enforced."""

    PREVIEW = "preview"
    """All of it by CrossGuard on `pulumi preview`/`up` (and offline)."""
    PARTLY = "preview, part offline"
    """By CrossGuard, except `Rule.offline_part`, which only the offline runs see."""
    OFFLINE = "offline"
    """Only offline: CrossGuard cannot see what it checks (`Rule.offline_part` says why)."""
    REMEDIATED = "offline, remediated by CrossGuard"
    """Fails only offline; CrossGuard cannot fail a preview on it but repairs the inputs with a
    remediation (`Rule.offline_part` says why and how)."""


Check = Callable[[ResourceView, "StackFacts"], list[str]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check
    why: str
    enforcement: Enforcement = Enforcement.MANDATORY
    facts: tuple[str, ...] = ()
    """StackFacts the rule reads (camelCase); the CrossGuard policy requires them as config."""
    where: Where = Where.PREVIEW
    offline_part: str = ""
    """What only the offline runs check, and why CrossGuard cannot (set unless `where` is
    PREVIEW)."""
    deferred: tuple[str, ...] = ()
    """Inputs (fnmatch patterns of the last key of a path; `*` for any) whose value may be
    unknown during a preview without a violation: values computed from other resources' outputs,
    such as a service account's email or a kubeconfig. `pulumi up` runs the policy again with
    them known, before it creates the resource (pkg/resource/deploy/step_generator.go: analyzers
    run on every registration, preview or update). Every other input a rule needs fails the rule
    while it is unknown."""
    switches: str = ""
    """Regex over normalized keys (lowercase, letters and digits) that a `*` in `deferred` does
    not cover: the switches a scanning rule fails closed on."""

    def __post_init__(self) -> None:
        if (self.where is Where.PREVIEW) == bool(self.offline_part):
            raise ValueError(f"{self.name}: offline_part is set exactly when where is not PREVIEW")

    @property
    def offline_only(self) -> bool:
        """No CrossGuard validation: only the offline runs report a violation."""
        return self.where in (Where.OFFLINE, Where.REMEDIATED)

    def defers(self, path: str) -> bool:
        """Whether an unknown value at dotted input `path` passes the preview."""
        key = re.sub(r"(\[\d+\])+$", "", path).rsplit(".", 1)[-1]
        if self.switches and re.search(self.switches, _normalized(key)):
            return False
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.deferred)

    def evaluate(self, resource: ResourceView, facts: StackFacts) -> list[str]:
        return self.check(resource, facts)


RULES: list[Rule] = []


def rule(
    name: str,
    description: str,
    *,
    why: str,
    facts: tuple[str, ...] = (),
    where: Where = Where.PREVIEW,
    offline_part: str = "",
    deferred: tuple[str, ...] = (),
    switches: str = "",
    enforcement: Enforcement = Enforcement.MANDATORY,
) -> Callable[[Check], Check]:
    """Register a check as a rule of the pack."""

    def register(check: Check) -> Check:
        RULES.append(
            Rule(
                name=name,
                description=description,
                check=check,
                why=why,
                enforcement=enforcement,
                facts=facts,
                where=where,
                offline_part=offline_part,
                deferred=deferred,
                switches=switches,
            )
        )
        return check

    return register


# -- helpers --------------------------------------------------------------------------------------
def walk(value: Any, path: str = "") -> Iterator[tuple[str, str | None, Any]]:
    """Every node below `value` as (dotted path, key in its mapping or None, value), depth first.

    Iterative, with a stack of the containers being walked: rules walk every input of every
    resource, and a recursive generator hands each node up through one `yield from` per level."""
    levels = [_children(value, path)]
    while levels:
        for child_path, key, child in levels[-1]:
            yield child_path, key, child
            # A string (the most common leaf) is no container: skip the ABC isinstance check.
            if not isinstance(child, str) and isinstance(child, Mapping | list | tuple):
                levels.append(_children(child, child_path))
                break  # the child's nodes come before its next sibling
        else:
            levels.pop()


def _children(value: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield (f"{path}.{key}" if path else str(key)), str(key), child
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield f"{path}[{index}]", None, child


def _items(value: Any) -> list[Any]:
    """A list input as a list; anything else (absent, UNKNOWN, a scalar) as one item or none."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


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
        pools = resource.get("nodePools")
        inline = [f"nodePools[{i}].nodeConfig" for i in range(len(_items(pools)))]
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


NOT_LETTER_OR_DIGIT: Final = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=8192)
def _normalized(key: str) -> str:
    """`insecure-skip-tls-verify`, `insecureSkipTLSVerify`, `INSECURE_SKIP_TLS_VERIFY` alike.
    Cached: the same few hundred keys recur in every resource the rules walk."""
    return NOT_LETTER_OR_DIGIT.sub("", key.lower())


TRUE_STRINGS: Final = frozenset({"true", "t", "1", "yes", "y", "on"})
"""What turns a switch on when it arrives as text: Go's strconv.ParseBool ("1", "t", "true" in
any case; env vars of Kuma, Flux and ESO are parsed with it) and YAML 1.1 booleans (yes, y, on;
sigs.k8s.io/yaml, which kubectl uses to read a kubeconfig, follows YAML 1.1)."""


def _is_true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().strip("\"'").lower() in TRUE_STRINGS


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
    if resource.type != NODE_POOL:
        return []
    opt_out = resource.get("networkConfig.enablePrivateNodes")
    if opt_out not in (None, True):
        # Absent, the pool inherits the cluster's private nodes; anything but true may not.
        return [f"networkConfig.enablePrivateNodes is {opt_out!r}: the pool's nodes get public IPs"]
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


def _is_iam(resource_type: str) -> bool:
    """Every pulumi-gcp IAM resource: `gcp:<module>/<x>IamMember|Binding|Policy` and the
    `iAMMember`-style spellings of projects/folders/organizations/serviceaccount."""
    return resource_type.startswith("gcp:") and bool(
        re.search(r"iam(member|binding|policy):", resource_type.lower())
    )


def _policy_bindings(policy_data: Any) -> list[tuple[Any, Any]]:
    """(role, member) of every binding in an IAM policy document (`policyData`, JSON text as
    gcp.organizations.get_iam_policy renders it); UNKNOWN text yields nothing (deferred)."""
    if not isinstance(policy_data, str):
        return []
    try:
        document = json.loads(policy_data)
    except ValueError:
        return [(UNKNOWN, f"unreadable policyData {policy_data[:40]!r}")]
    bindings = document.get("bindings") if isinstance(document, Mapping) else None
    return [
        (binding.get("role"), member)
        for binding in _items(bindings)
        if isinstance(binding, Mapping)
        for member in _items(binding.get("members"))
    ]


def _grants(resource: ResourceView) -> list[tuple[Any, Any]]:
    """(role, member) of every grant an IAM resource makes (member, members, policyData)."""
    if not _is_iam(resource.type):
        return []
    role = resource.get("role")
    grants = [(role, resource.get("member"))] if "member" in resource.props else []
    grants += [(role, member) for member in _items(resource.get("members"))]
    return grants + _policy_bindings(resource.get("policyData"))


def _project_grants(resource: ResourceView) -> list[tuple[str, Any]]:
    """(role, member) of a project-level IAM resource; IAMPolicy yields nothing (see below)."""
    if resource.type in PROJECT_IAM and resource.type != "gcp:projects/iAMPolicy:IAMPolicy":
        return _grants(resource)
    return []


@rule(
    "no-project-roles-for-workloads",
    "Project-level IAM grants only the node roles, only to GKE node service accounts, and the "
    "Cloud Trace writer role only to the telemetry identity; no authoritative project IAM policy.",
    why="Workloads get per-resource grants; a project role reaches every resource of the project.",
    deferred=("member", "members"),
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


NODE_ROLE_MEMBER = re.compile(
    r"^serviceAccount:[a-z][-a-z0-9]*@(?P<project>[a-z][-a-z0-9]*)\.iam\.gserviceaccount\.com$"
)
"""A user-managed service account: `<id>@<project>.iam.gserviceaccount.com` names its project
(cloud.google.com/iam/docs/service-account-overview, "user-managed service accounts")."""


@rule(
    "node-roles-own-project",
    "The node roles are granted only in the stack's project, only to service accounts of that "
    "project.",
    facts=("project",),
    why="A node role for another project's account lets that project's nodes write here; "
    "granted elsewhere, it reaches beyond the stack.",
    deferred=("member", "members", "policyData"),
)
def node_roles_own_project(resource: ResourceView, facts: StackFacts) -> list[str]:
    problems: list[str] = []
    for role, member in _grants(resource):
        if isinstance(role, _Unknown):
            problems.append(
                f"role of {member!r} is unknown during preview: it could be a node role"
            )
        if role not in NODE_SERVICE_ACCOUNT_ROLES:
            continue
        if resource.type not in PROJECT_IAM:
            problems.append(f"{role} granted through {resource.type}: grant it on the project")
        project = resource.get("project")
        if project is not None and project != facts.project:
            problems.append(f"{role} granted in project {project!r}, not {facts.project!r}")
        if isinstance(member, _Unknown):
            continue
        match = NODE_ROLE_MEMBER.match(member) if isinstance(member, str) else None
        if match is None or match["project"] != facts.project:
            problems.append(
                f"{role} for {member!r}: only service accounts of project {facts.project!r}"
            )
    return problems


PUBLIC_PRINCIPAL = re.compile(
    r"(?<![A-Za-z0-9])(allUsers|allAuthenticatedUsers)(?![A-Za-z0-9])|principalSet://goog/public:all",
    re.IGNORECASE,
)
"""Everyone on the internet / every Google account (cloud.google.com/iam/docs/principal-identifiers:
`allUsers`, `allAuthenticatedUsers`; `principalSet://goog/public:all` in v2 IAM policies)."""
PROSE_KEYS: Final = frozenset({"description", "displayname", "title"})


@rule(
    "no-public-principals",
    "No GCP resource names allUsers or allAuthenticatedUsers (IAM member, binding or policy of "
    "any resource, ACL entities).",
    why="A secret accessor (or any role) for allUsers hands the resource to the internet.",
    deferred=("*",),
)
def no_public_principals(resource: ResourceView, facts: StackFacts) -> list[str]:
    if not resource.type.startswith("gcp:"):
        return []
    return [
        f"{path} {value!r} grants to everyone: name the principals"
        for path, key, value in walk(resource.props)
        if isinstance(value, str)
        and _normalized(key or "") not in PROSE_KEYS
        and PUBLIC_PRINCIPAL.search(value)
    ]


@rule(
    "secret-accessor-per-secret",
    "Secret Manager access is granted per secret, as secretAccessor only; never project-wide.",
    why="A project-level accessor role reads every secret of the project.",
)
def secret_accessor_per_secret(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type not in PROJECT_IAM and resource.type not in SECRET_IAM:
        return []
    role = resource.get("role")
    if resource.type in PROJECT_IAM and isinstance(role, str) and "secretmanager" in role:
        return [f"{role} granted on the project: grant {SECRET_ACCESSOR_ROLE} per secret"]
    if resource.type == "gcp:secretmanager/secretIamPolicy:SecretIamPolicy":
        return ["a SecretIamPolicy is authoritative: grant with SecretIamMember"]
    if resource.type in SECRET_IAM and role != SECRET_ACCESSOR_ROLE:
        return [f"per-secret role {role!r}: the platform grants only {SECRET_ACCESSOR_ROLE}"]
    return []


# -- residency and protection ---------------------------------------------------------------------
LOCATION_KEY = re.compile(r"(location|locations|region|regions|zone|zones)$")
"""Input keys (normalized) that place a GCP resource or its data, at any depth: `location`,
`region`, `zone` of every resource, `nodeLocations` of clusters and pools, Secret Manager
`replication.userManaged.replicas[].location`, Cloud SQL `settings.locationPreference.zone` and
`secondaryZone`, disks' `replicaZones`, node auto-provisioning's `autoProvisioningLocations`."""
NOT_A_PLACE: Final = frozenset(
    {"timezone", "managedzone", "dnszone", "privatezone", "peeringzone", "forwardingzone"}
)
"""Keys that end like a location but name something else (a time zone, a Cloud DNS zone)."""
LOCATION_PATH_KEYS: Final = frozenset({"datalocations", "locationid"})
PLACE_IN_PATH = re.compile(r"/(?:regions|zones|locations)/(?P<place>[A-Za-z0-9-]+)")
"""A place inside a resource path or self link (`projects/p/locations/europe-west1/...`)."""


def _is_location_key(key: str) -> bool:
    normalized = _normalized(key)
    return normalized not in NOT_A_PLACE and bool(
        LOCATION_KEY.search(normalized) or normalized in LOCATION_PATH_KEYS
    )


def _locations(resource: ResourceView) -> Iterator[tuple[str, Any]]:
    for path, key, value in walk(resource.props):
        if key is None or not _is_location_key(key) or isinstance(value, Mapping):
            continue
        if isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield f"{path}[{index}]", item
        else:
            yield path, value


def _place(value: str) -> str:
    """The region of a region, zone or a path/self link naming one (`.../regions/<r>/...`)."""
    match = PLACE_IN_PATH.search(value)
    return _region_of(match["place"] if match else value)


@rule(
    "eu-residency",
    "With residency eu, every location/region/zone of a GCP resource at any depth (Secret "
    "Manager replicas, node locations included) is an EU region listed in allowedRegions; no "
    "automatic replication.",
    facts=("residency", "allowedRegions"),
    why="A residency-eu stack's data stays in EU member states (docs/design.md, section 6).",
)
def eu_residency(resource: ResourceView, facts: StackFacts) -> list[str]:
    if facts.residency is not Residency.EU:
        return []
    if not (resource.type.startswith("gcp:") or resource.type == GCP_PROVIDER):
        return []
    problems: list[str] = []
    for path, value in _locations(resource):
        region = _place(value) if isinstance(value, str) else None
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
        elif not _items(resource.get("replication.userManaged.replicas")):
            problems.append("replication.userManaged.replicas is empty")
    return problems


PROD_PROTECTED_TYPES: Final = frozenset(
    {CLUSTER, NODE_POOL, SM_SECRET, ADDRESS, MESH, KMS_CRYPTO_KEY, SQL_INSTANCE}
)
RETAINED_TYPES: Final = frozenset({SM_SECRET, SM_SECRET_VERSION})
NO_RETAIN_IN_CROSSGUARD: Final = (
    "retainOnDelete: the engine does not send it to policy packs (AnalyzerResourceOptions has "
    "protect, ignoreChanges, deleteBeforeReplace, additionalSecretOutputs, aliases, "
    "customTimeouts, parent: pulumi 3.272 runtime/proto/analyzer_pb2; pulumi-policy 1.21 "
    "PolicyResourceOptions)"
)


@rule(
    "prod-protected",
    "prod: clusters, node pools, Secret Manager secrets, Cloud KMS crypto keys, Cloud SQL "
    "instances, reserved addresses and the Mesh are protected, clusters, secrets and Cloud SQL "
    "instances have deletionProtection (Cloud SQL also Google's "
    "settings.deletionProtectionEnabled); Secret Manager entries are always retained on delete.",
    facts=("stage",),
    where=Where.PARTLY,
    offline_part=NO_RETAIN_IN_CROSSGUARD,
    why="A prod destroy or replace must be deliberate; a secret's value or a key's material "
    "cannot be recreated.",
)
def prod_protected(resource: ResourceView, facts: StackFacts) -> list[str]:
    problems: list[str] = []
    if facts.stage is Stage.PROD and resource.type in PROD_PROTECTED_TYPES:
        if not resource.protect:
            problems.append("not protected (protect=True in prod)")
        if resource.type in (CLUSTER, SM_SECRET, SQL_INSTANCE):
            problems += _require(resource, "deletionProtection", True)
        if resource.type == SQL_INSTANCE:
            problems += _require(resource, "settings.deletionProtectionEnabled", True)
    if resource.type in RETAINED_TYPES and resource.retain_on_delete is False:
        problems.append("not retained on delete: removing it from the program would delete it")
    return problems


# Cloud SQL Admin API IpConfiguration.sslMode values that refuse unencrypted connections
# (cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances#ipconfiguration).
SQL_TLS_MODES: Final = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})


@rule(
    "cloud-sql-private-tls",
    "Cloud SQL instances have no public IPv4 address and no authorized networks, require TLS "
    "(sslMode ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED) and keep automated "
    "backups; prod also point-in-time recovery.",
    facts=("stage",),
    why="A database reachable from the internet, or over plain text, or without a way back "
    "from a bad write, is the first thing a security or DR review finds.",
)
def cloud_sql_private_tls(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != SQL_INSTANCE:
        return []
    ip = "settings.ipConfiguration"
    problems = _require(resource, f"{ip}.ipv4Enabled", False)
    if _items(resource.get(f"{ip}.authorizedNetworks")):
        problems.append(f"{ip}.authorizedNetworks must be empty (no public access)")
    mode = resource.get(f"{ip}.sslMode")
    if mode not in SQL_TLS_MODES or isinstance(mode, _Unknown):
        problems.append(f"{ip}.sslMode must be one of {sorted(SQL_TLS_MODES)}, got {mode!r}")
    problems += _require(resource, "settings.backupConfiguration.enabled", True)
    if facts.stage is Stage.PROD:
        problems += _require(
            resource, "settings.backupConfiguration.pointInTimeRecoveryEnabled", True
        )
    return problems


@rule(
    "flux-instance-protected",
    "prod: FluxInstance is protected and retained on delete (deleting it uninstalls Flux). "
    "Other stages may destroy it with their cluster.",
    facts=("stage",),
    where=Where.PARTLY,
    offline_part=NO_RETAIN_IN_CROSSGUARD,
    why="Deleting the FluxInstance uninstalls Flux and everything it reconciles.",
)
def flux_instance_protected(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != FLUX_INSTANCE or facts.stage is not Stage.PROD:
        return []
    problems = [] if resource.protect else ["not protected"]
    if resource.retain_on_delete is False:
        problems.append("not retained on delete")
    return problems


# -- TLS verification -----------------------------------------------------------------------------
SKIP_VERIFY_KEY = re.compile(
    r"(skip(tls|ssl|cert)?verif(y|ication)|noverify|insecure|allowselfsigned|allowinsecure)$"
)
"""Normalized keys that switch TLS verification off: Kuma `skipVerify` (Helm
controlPlane.tls.kdsZoneClient.skipVerify) and its env var KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY
(kumahq/kuma pkg/config/multizone), `insecureSkipVerify`/`tlsInsecureSkipVerify` (Kubernetes
and Prometheus TLS configs), `insecure-skip-tls-verify` (kubeconfig, kubectl/flux flags),
Flux and ESO `insecure` (plain HTTP; source.toolkit.fluxcd.io CRDs, ESO DVLS provider),
Kuma MeshIdentity `insecureAllowSelfSigned`, git's GIT_SSL_NO_VERIFY."""
ASSIGNMENT = re.compile(r"""(?P<key>[A-Za-z0-9_.-]+)["']?\s*[=:]\s*["']?(?P<value>[A-Za-z0-9]+)""")
"""`KEY=value` (env, flags), `key: value` (YAML), `"key": value` (JSON) inside a text input: an
embedded kubeconfig, a values file, an env list rendered as text."""
FLAG = re.compile(r"^\s*--?(?P<key>[A-Za-z0-9_.-]+)\s*$")
"""A bare command-line flag (`--insecure-skip-tls-verify`): a Go bool flag is true when given
without `=value` (pkg.go.dev/flag)."""


@functools.lru_cache(maxsize=8192)
def _switches_verification_off(key: str) -> bool:
    return SKIP_VERIFY_KEY.search(_normalized(key)) is not None


@functools.lru_cache(maxsize=4096)
def _text_switches(text: str) -> tuple[str, ...]:
    """What switches TLS verification off inside a text input, each finding without its path.
    Cached by the text: the same values (kubeconfigs, Helm values) recur in every preview of a
    resource, and scanning them is the bulk of this rule's work."""
    found: list[str] = []
    flag = FLAG.match(text)
    if flag and _switches_verification_off(flag["key"]):
        found.append(f"{text!r} switches TLS verification off")
    for match in ASSIGNMENT.finditer(text):
        if _switches_verification_off(match["key"]) and _is_true(match["value"]):
            found.append(f"sets {match['key']}={match['value']}: TLS verification must stay on")
    return tuple(found)


def _insecure_switches(path: str, key: str | None, value: Any) -> Iterator[str]:
    if key is not None and _switches_verification_off(key):
        if isinstance(value, _Unknown):
            yield f"{path} is unknown during preview: TLS verification must visibly stay on"
        elif _is_true(value):
            yield f"{path} is {value!r}: TLS verification must stay on"
    if isinstance(value, str):  # first: most inputs are strings, and a string is no Mapping
        for finding in _text_switches(value):
            yield f"{path} {finding}"
    elif isinstance(value, Mapping) and isinstance(value.get("name"), str) and "value" in value:
        # An env var as Kubernetes lists it: {name: KUMA_..._SKIP_VERIFY, value: "true"}.
        name, setting = value["name"], value["value"]
        if _switches_verification_off(name) and (
            _is_true(setting) or isinstance(setting, _Unknown)
        ):
            yield f"{path} sets {name}={setting!r}: TLS verification must stay on"


@rule(
    "no-skip-verify",
    "No TLS verification switched off in any input of any resource: skipVerify/"
    "insecureSkipVerify/insecure-skip-tls-verify/insecure as a boolean or a true-like string, as "
    "an environment variable (map or name/value list), as a command-line flag, or inside text "
    "such as a kubeconfig (YAML or JSON).",
    why="The KDS connection and every other TLS link verify their peer (docs/design.md, "
    "section 5).",
    deferred=("*",),
    switches=SKIP_VERIFY_KEY.pattern,
)
def no_skip_verify(resource: ResourceView, facts: StackFacts) -> list[str]:
    found: list[str] = []
    for path, key, value in walk(resource.props):
        found += _insecure_switches(path, key, value)
    return list(dict.fromkeys(found))


# -- Helm, Kuma -----------------------------------------------------------------------------------
@rule(
    "pinned-chart-versions",
    "Every Helm release or chart (helm.sh/v3 Release and Chart, helm.sh/v4 Chart) pins an exact "
    "semver version (no range, no empty, no latest).",
    why="What is installed changes only with a reviewed commit (docs/design.md, section 4).",
)
def pinned_chart_versions(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type not in HELM_CHARTS:
        return []
    # helm.sh/v3 Chart also takes the version inside fetchOpts.
    versions = {p: resource.get(p) for p in ("version", "fetchOpts.version")}
    given = {p: v for p, v in versions.items() if v is not None}
    if not given:
        return ["version is not set: pin an exact semver version such as '1.2.3'"]
    return [
        f"{path} {version!r} is not an exact semver version such as '1.2.3'"
        for path, version in given.items()
        if not (isinstance(version, str) and EXACT_SEMVER.fullmatch(version))
    ]


@rule(
    "mesh-mtls",
    "The Kuma Mesh enables mTLS with a declared backend of type `provided` (a CA the program "
    "owns, not `builtin`); zoneEgress only with mTLS.",
    why="docs/design.md sections 5 and 6: mTLS on; routing.zoneEgress is rejected without "
    "mtls.enabledBackend. A builtin CA is minted by the global and lost with it "
    "(docs/disaster-recovery.md, Global control plane rebuilt).",
)
def mesh_mtls(resource: ResourceView, facts: StackFacts) -> list[str]:
    if resource.type != MESH:
        return []
    backend = resource.get("spec.mtls.enabledBackend")
    names = [
        b.get("name") for b in _items(resource.get("spec.mtls.backends")) if isinstance(b, Mapping)
    ]
    if not isinstance(backend, str) or not backend:
        problems = [f"spec.mtls.enabledBackend is {backend!r}: mTLS is off"]
        if resource.get("spec.routing.zoneEgress") is True:
            problems.append("spec.routing.zoneEgress requires spec.mtls.enabledBackend")
        return problems
    if backend not in names:
        return [f"spec.mtls.enabledBackend {backend!r} names no backend; declared: {names}"]
    types = [
        b.get("type")
        for b in _items(resource.get("spec.mtls.backends"))
        if isinstance(b, Mapping) and b.get("name") == backend
    ]
    if types != ["provided"]:
        return [
            f"spec.mtls backend {backend!r} is of type {types[0]!r}: the mesh CA must be "
            "'provided' from the program's own certificate (a builtin CA dies with its global)"
        ]
    return []


@rule(
    "mtls-strict",
    "No Kuma resource sets an mTLS mode other than strict: Mesh mtls.backends[].mode and "
    "MeshTLS from[]/rules[].default.mode are never PERMISSIVE.",
    why="Permissive mode accepts plaintext from outside the mesh (Kuma mesh.proto "
    "CertificateAuthorityBackend.mode STRICT|PERMISSIVE; MeshTLS mode Strict|Permissive).",
)
def mtls_strict(resource: ResourceView, facts: StackFacts) -> list[str]:
    if not resource.type.startswith("kubernetes:kuma.io/"):
        return []
    problems: list[str] = []
    for path, key, value in walk(resource.props):
        if key != "mode":
            continue
        if isinstance(value, _Unknown) and re.search(r"\.(mtls|default)\b", path):
            problems.append(f"{path} is unknown during preview: mTLS mode must visibly be strict")
        elif isinstance(value, str) and value.strip().upper() == "PERMISSIVE":
            problems.append(f"{path} is {value!r}: mTLS must be strict")
    return problems


# -- secrets --------------------------------------------------------------------------------------
SENSITIVE_KEY = re.compile(
    r"(password|passwd|token|privatekey(pem)?|secretdata(wo)?|apikey|clientsecret)$"
)
PRIVATE_KEY_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def _sensitive_paths(resource: ResourceView) -> Iterator[str]:
    """Inputs that hold secret material: Secret data, secret-looking keys, private-key PEM."""
    if resource.type == K8S_SECRET:
        for field_name in ("data", "stringData"):
            entries = resource.get(field_name)
            if isinstance(entries, Mapping):
                for key in entries:
                    yield f"{field_name}.{key}"
            elif entries is not None:
                yield field_name
    for path, key, value in walk(resource.props):
        if (key is not None and _is_sensitive_key(key)) or (
            # The literal first: the regex scan of every text input is this rule's bulk.
            isinstance(value, str) and "-----BEGIN " in value and PRIVATE_KEY_PEM.search(value)
        ):
            yield path


@functools.lru_cache(maxsize=8192)
def _is_sensitive_key(key: str) -> bool:
    """Cached: the same few hundred keys recur in every resource."""
    return bool(SENSITIVE_KEY.search(re.sub(r"[^a-z]", "", key.lower())) or key.endswith(".key"))


@rule(
    "secrets-are-secret",
    "Secret material (Kubernetes Secret data, passwords, tokens, private keys, Secret Manager "
    "data) is sent as a Pulumi secret, so it is encrypted in state.",
    where=Where.REMEDIATED,
    offline_part="a validation cannot tell a secret from plain text: the engine sends secrets "
    "wrapped, but pulumi-policy unwraps them before a validation runs (pulumi_policy/policy.py "
    "Analyze: deserialize_properties(..., proxy_secrets=False)). Its Remediate keeps them "
    "(proxy_secrets=True), so under CrossGuard the rule is a remediation (enforcement level "
    "remediate): plaintext secret material comes back wrapped as a secret and the engine stores "
    "it encrypted (step_generator.go uses the remediated inputs); the preview shows the "
    "remediation instead of failing",
    why="docs/design.md section 6: every secret-bearing input is a Pulumi secret.",
)
def secrets_are_secret(resource: ResourceView, facts: StackFacts) -> list[str]:
    return [
        f"{path} holds secret material but is not a Pulumi secret"
        for path in plaintext_secret_paths(resource)
    ]


def plaintext_secret_paths(resource: ResourceView) -> list[str]:
    """Dotted paths (as `walk` spells them) of secret material not sent as a Pulumi secret;
    the CrossGuard remediation wraps exactly these."""
    return [
        path
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
