"""The stack configuration: one typed, validated model of everything that differs per environment.

`load_stack_config()` reads the Pulumi config of the running stack and validates all of it before
any resource is registered. Every problem is reported at once, each naming the config key (as you
would pass it to `pulumi config set --path`) and what would be accepted.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.facts import EU_REGIONS, GCP_REGIONS, ClusterRole, Residency, Stage

PLATFORM_NAMESPACE = "platform"
# Model fields read from the gcp provider's namespace (gcp:project, gcp:region).
GCP_KEYS = ("project", "region")

# RFC 1918 private ranges and the RFC 6598 shared range (GKE accepts both for its ranges).
# `IPv4Network.is_private` is not this: it also accepts loopback, link-local, 0.0.0.0/8 and
# 240.0.0.0/4 (none usable for a VPC) and rejects 100.64.0.0/10.
PRIVATE_RANGES: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(r)
    for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)

RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
GCP_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")


class StackConfigError(pulumi.RunError):
    """Raised before any resource is registered; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class KeyedConfigError(ValueError):
    """Problems found by a model-level check, each naming a key relative to that model.

    `parse_platform_config` appends the key to the model's own location, so a user sees
    `platform:clusters[1].kumaZone: ...` rather than just `platform:clusters[1]: ...`.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{key}: {message}" for key, message in problems))


class _Model(BaseModel):
    """camelCase keys as in Pulumi.<stack>.yaml; unknown keys are errors, never ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


def _check_rfc1035(value: str) -> str:
    if not RFC1035_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an RFC 1035 label: 1-63 characters of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    return value


Rfc1035Name = Annotated[str, AfterValidator(_check_rfc1035)]


def _check_cluster_name(value: str) -> str:
    if len(value) > 40:
        raise ValueError(f"{value!r} has {len(value)} characters: use at most 40 (GKE limit)")
    return value


ClusterName = Annotated[Rfc1035Name, AfterValidator(_check_cluster_name)]


class ClusterRanges(_Model):
    nodes: ipaddress.IPv4Network
    pods: ipaddress.IPv4Network
    services: ipaddress.IPv4Network
    control_plane: ipaddress.IPv4Network

    @field_validator("nodes", "pods", "services", "control_plane", mode="before")
    @classmethod
    def _strict_cidr(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                ipaddress.IPv4Network(value, strict=True)
            except ValueError as exc:
                raise ValueError(
                    f"{value!r} is not an IPv4 CIDR with host bits zero ({exc})"
                ) from exc
        return value

    @model_validator(mode="after")
    def _sizes(self) -> ClusterRanges:
        problems: list[tuple[str, str]] = []
        if self.control_plane.prefixlen != 28:
            problems.append(
                ("controlPlane", f"must be a /28 (GKE requires it), got {self.control_plane}")
            )
        for key, network, largest in (
            ("nodes", self.nodes, 29),
            ("pods", self.pods, 24),
            ("services", self.services, 27),
        ):
            if network.prefixlen > largest:
                problems.append((key, f"{network} is too small: use /{largest} or larger"))
        for key, network in self.named().items():
            if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
                problems.append((key, f"{network} is not a private (RFC 1918/6598) range"))
        if problems:
            raise KeyedConfigError(problems)
        return self

    def named(self) -> dict[str, ipaddress.IPv4Network]:
        return {
            "nodes": self.nodes,
            "pods": self.pods,
            "services": self.services,
            "controlPlane": self.control_plane,
        }


class NodePool(_Model):
    name: Rfc1035Name
    machine_type: str = "e2-standard-4"
    min_nodes: int = Field(default=1, ge=0, le=1000)
    max_nodes: int = Field(default=3, ge=1, le=1000)
    spot: bool = False
    disk_size_gb: int = Field(default=100, ge=20, le=65536)
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"] = "pd-balanced"

    @field_validator("machine_type")
    @classmethod
    def _machine_type(cls, value: str) -> str:
        if not MACHINE_TYPE.fullmatch(value):
            raise ValueError(f"{value!r} is not a machine type such as 'e2-standard-4'")
        return value

    @model_validator(mode="after")
    def _min_le_max(self) -> NodePool:
        if self.min_nodes > self.max_nodes:
            raise KeyedConfigError(
                [("minNodes", f"{self.min_nodes} must be <= maxNodes ({self.max_nodes})")]
            )
        return self


class Cluster(_Model):
    name: ClusterName
    role: ClusterRole
    region: str
    ranges: ClusterRanges
    node_pools: list[NodePool] = Field(min_length=1)
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    kuma_zone: Rfc1035Name | None = None

    @field_validator("region")
    @classmethod
    def _region_exists(cls, value: str) -> str:
        if value not in GCP_REGIONS:
            raise ValueError(f"{value!r} is not a Google Cloud region (e.g. 'europe-west1')")
        return value

    @model_validator(mode="after")
    def _zone_name_by_role(self) -> Cluster:
        problems: list[tuple[str, str]] = []
        if self.role is ClusterRole.ZONE and self.kuma_zone is None:
            problems.append(
                ("kumaZone", "required for a cluster with role 'zone' (an RFC 1035 label)")
            )
        if self.role is ClusterRole.GLOBAL and self.kuma_zone is not None:
            problems.append(
                (
                    "kumaZone",
                    "must not be set on the 'global' cluster (the Kuma chart refuses "
                    "a zone name on a global control plane)",
                )
            )
        pool_names = [pool.name for pool in self.node_pools]
        duplicates = sorted({n for n in pool_names if pool_names.count(n) > 1})
        if duplicates:
            problems.append(
                ("nodePools", f"node pool names must be unique, repeated: {duplicates}")
            )
        if problems:
            raise KeyedConfigError(problems)
        return self


class AuthorizedNetwork(_Model):
    display_name: str = Field(min_length=1, max_length=100)
    cidr: ipaddress.IPv4Network

    @field_validator("cidr")
    @classmethod
    def _not_open(cls, value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if value.prefixlen == 0:
            raise ValueError("0.0.0.0/0 would open the control plane to the internet")
        return value


class GeneratedValue(_Model):
    """A value made by pulumi-random at create time; stored in state only as a secret."""

    length: int = Field(default=32, ge=16, le=4096)
    special: bool = False
    override_special: str | None = Field(default=None, min_length=1)


class ExternalValue(_Model):
    """Created empty: an operator adds the value out of band (docs/configuration.md)."""

    description: str = Field(min_length=1)


class SecretEntry(_Model):
    id: str
    generated: GeneratedValue | None = None
    external: ExternalValue | None = None
    # Whether the cluster's External Secrets identity may read this entry.
    expose_to_clusters: bool = False

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not SECRET_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Secret Manager id: 1-255 characters of A-Z, a-z, 0-9, '-', '_'"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretEntry:
        if (self.generated is None) == (self.external is None):
            raise ValueError("set exactly one of 'generated' or 'external'")
        return self


class Network(_Model):
    name: Rfc1035Name = "platform"
    routing_mode: Literal["REGIONAL", "GLOBAL"] = "GLOBAL"


class GitOps(_Model):
    """Where Flux pulls this repository from; credentials come from Secret Manager."""

    repository_url: str = Field(pattern=r"^(https://|ssh://)\S+$")
    credentials_secret: str


class PlatformConfig(_Model):
    """The `platform:*` keys of a stack, plus the `gcp:project` / `gcp:region` provider keys."""

    project: str
    region: str
    environment: Rfc1035Name
    stage: Stage
    residency: Residency = Residency.ANY
    allowed_regions: list[str] = Field(min_length=1)
    network: Network = Network()
    clusters: list[Cluster] = Field(min_length=2)
    authorized_networks: list[AuthorizedNetwork] = Field(default_factory=list)
    secret_replica_regions: list[str] = Field(min_length=1)
    secrets: list[SecretEntry] = Field(default_factory=list)
    gitops: GitOps
    labels: dict[str, str] = Field(default_factory=dict)
    protect: bool | None = None

    @field_validator("project")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not GCP_PROJECT_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a GCP project id: 6-30 characters of a-z, 0-9 and '-', "
                "starting with a letter"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in GCP_REGIONS:
            raise ValueError(f"{value!r} is not a Google Cloud region (e.g. 'europe-west1')")
        return value

    @field_validator("allowed_regions", "secret_replica_regions")
    @classmethod
    def _regions(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in GCP_REGIONS]
        if unknown:
            raise ValueError(f"not Google Cloud regions: {unknown}")
        if len(set(values)) != len(values):
            raise ValueError(f"regions are listed twice: {values}")
        return values

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not LABEL_KEY.fullmatch(key):
                raise ValueError(
                    f"label key {key!r}: 1-63 characters of a-z, 0-9, '_' and '-', "
                    "starting with a letter"
                )
            if not LABEL_VALUE.fullmatch(value):
                raise ValueError(
                    f"label {key}={value!r}: values are 0-63 characters of a-z, 0-9, '_' and '-'"
                )
        return labels

    @model_validator(mode="after")
    def _cross_field(self) -> PlatformConfig:
        problems = cross_field_problems(self.model_dump(mode="json", by_alias=True))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # Derived facts the components use. Computed here so that every component agrees.
    @property
    def is_prod(self) -> bool:
        return self.stage is Stage.PROD

    @property
    def protected(self) -> bool:
        """Pulumi `protect` and GKE deletion protection: on for prod unless set explicitly."""
        return self.is_prod if self.protect is None else self.protect

    @cached_property
    def global_cluster(self) -> Cluster:
        return next(c for c in self.clusters if c.role is ClusterRole.GLOBAL)

    @cached_property
    def zone_clusters(self) -> list[Cluster]:
        return [c for c in self.clusters if c.role is ClusterRole.ZONE]

    @cached_property
    def regions_in_use(self) -> list[str]:
        """Regions holding clusters, in first-use order (one Cloud Router + NAT each)."""
        return list(dict.fromkeys(c.region for c in self.clusters))

    @cached_property
    def resource_labels(self) -> dict[str, str]:
        return {
            **self.labels,
            "environment": self.environment,
            "stage": self.stage.value,
            "managed-by": "pulumi",
        }

    def secret(self, secret_id: str) -> SecretEntry:
        return next(s for s in self.secrets if s.id == secret_id)


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def _networks(value: Any) -> Iterator[tuple[str, ipaddress.IPv4Network]]:
    """The parseable ranges of one raw cluster, by key (unparseable ones are field errors)."""
    ranges = value.get("ranges") if isinstance(value, Mapping) else None
    for key, text in ranges.items() if isinstance(ranges, Mapping) else ():
        try:
            yield key, ipaddress.IPv4Network(str(text), strict=True)
        except ValueError:
            continue


def _strings(value: Any) -> list[str]:
    """The string items of a raw list (anything else is a field error reported elsewhere)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _string(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def _clusters(raw: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    clusters = raw.get("clusters")
    if not isinstance(clusters, list):
        return []
    return [(i, c) for i, c in enumerate(clusters) if isinstance(c, Mapping)]


def _topology_problems(raw: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    clusters = _clusters(raw)
    roles = [_string(c, "role") for _, c in clusters]
    # Counting roles means something only once every role is a valid one.
    if clusters and all(role in {r.value for r in ClusterRole} for role in roles):
        if roles.count(ClusterRole.GLOBAL) != 1:
            problems.append(
                "clusters: exactly one cluster must have role 'global' "
                f"(found {roles.count(ClusterRole.GLOBAL)})"
            )
        if roles.count(ClusterRole.ZONE) < 1:
            problems.append("clusters: at least one cluster must have role 'zone'")
    names = [name for _, c in clusters if (name := _string(c, "name"))]
    for name in _duplicates(names):
        problems.append(f"clusters: cluster name {name!r} is used twice; names must be unique")
    zones = [zone for _, c in clusters if (zone := _string(c, "kumaZone"))]
    for zone in _duplicates(zones):
        problems.append(f"clusters: kumaZone {zone!r} is used twice; zone names must be unique")

    ranges = [
        (f"clusters[{i}].ranges.{key}", network)
        for i, cluster in clusters
        for key, network in _networks(cluster)
    ]
    for a in range(len(ranges)):
        for b in range(a + 1, len(ranges)):
            (key_a, net_a), (key_b, net_b) = ranges[a], ranges[b]
            if net_a.overlaps(net_b):
                problems.append(
                    f"{key_b}: {net_b} overlaps {key_a} {net_a}; every range must be disjoint"
                )
    return problems


def _location_problems(raw: Mapping[str, Any]) -> list[str]:
    if not isinstance(raw.get("allowedRegions"), list):
        return []
    allowed_regions = _strings(raw["allowedRegions"])
    problems: list[str] = []
    allowed = set(allowed_regions)
    if raw.get("residency") == Residency.EU.value:
        outside = [r for r in allowed_regions if r not in EU_REGIONS]
        if outside:
            problems.append(
                f"allowedRegions: {outside} are outside the EU; residency 'eu' accepts only "
                f"{sorted(EU_REGIONS)}"
            )
    region = _string(raw, "region")
    if region is not None and region not in allowed:
        problems.append(f"gcp:region: {region!r} is not in allowedRegions {allowed_regions}")
    for i, cluster in _clusters(raw):
        cluster_region = _string(cluster, "region")
        if cluster_region is not None and cluster_region not in allowed:
            problems.append(
                f"clusters[{i}].region: {cluster_region!r} is not in allowedRegions "
                f"{allowed_regions}"
            )
    for replica in _strings(raw.get("secretReplicaRegions")):
        if replica not in allowed:
            problems.append(
                f"secretReplicaRegions: {replica!r} is not in allowedRegions {allowed_regions}"
            )
    return problems


def _secret_problems(raw: Mapping[str, Any]) -> list[str]:
    secrets = raw.get("secrets", [])
    entries = [s for s in secrets if isinstance(s, Mapping)] if isinstance(secrets, list) else []
    ids = [i for s in entries if (i := _string(s, "id"))]
    problems = [
        f"secrets: id {secret_id!r} is used twice; Secret Manager ids must be unique"
        for secret_id in _duplicates(ids)
    ]
    gitops = raw.get("gitops")
    wanted = _string(gitops, "credentialsSecret") if isinstance(gitops, Mapping) else None
    if wanted is None:
        return problems
    by_id = {i: s for s in entries if (i := _string(s, "id"))}
    credentials = by_id.get(wanted)
    if credentials is None:
        problems.append(
            f"gitops.credentialsSecret: {wanted!r} is not one of secrets[].id {sorted(by_id)}"
        )
    elif credentials.get("external") is None or credentials.get("exposeToClusters") is not True:
        problems.append(
            f"gitops.credentialsSecret: secret {wanted!r} must be 'external' (git "
            "credentials never pass through Pulumi state) with exposeToClusters: true"
        )
    return problems


def _protection_problems(raw: Mapping[str, Any]) -> list[str]:
    if raw.get("stage") == Stage.PROD.value and raw.get("protect") is False:
        return [
            "protect: a prod stack is always protected; to decommission it, run "
            "`pulumi state unprotect --all -s <stack>` on purpose instead"
        ]
    return []


def cross_field_problems(raw: Mapping[str, Any]) -> list[str]:
    """Checks across keys, on the raw camelCase mapping so that they also run when some fields
    are invalid (every problem is reported at once). Keys are relative to the namespace, except
    `gcp:` ones."""
    return [
        *_topology_problems(raw),
        *_location_problems(raw),
        *_secret_problems(raw),
        *_protection_problems(raw),
    ]


def _key_path(namespace: str, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into the key a user passes to `pulumi config set --path`."""
    if not loc:
        return f"{namespace}:"
    head, *rest = loc
    if isinstance(head, str) and ":" in head:  # already a full key, see read_raw_config
        path = head
    else:
        key = "gcp" if head in GCP_KEYS else namespace
        path = f"{key}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _problem(error: Mapping[str, Any], namespace: str) -> str:
    # Drop pydantic's union/validator bookkeeping segments from the location.
    loc = tuple(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and (part.startswith("function-") or "[" in part))
    )
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "missing":
        return f"{_key_path(namespace, loc)}: required key is missing"
    if kind == "extra_forbidden":
        return (
            f"{_key_path(namespace, loc)}: unknown key (a typo? see docs/configuration.md "
            "for the accepted keys)"
        )
    if kind in {"enum", "literal_error"}:
        return f"{_key_path(namespace, loc)}: {message}"
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedConfigError):
        base = _key_path(namespace, loc) + "." if loc else f"{namespace}:"
        return "\n".join(f"{base}{key}: {text}" for key, text in cause.problems)
    # Cross-field checks already name their keys relative to the namespace.
    if not loc:
        return "\n".join(
            p if p.startswith("gcp:") else f"{namespace}:{p}" for p in message.split("\n")
        )
    return f"{_key_path(namespace, loc)}: {message}"


def _stack_problems(raw: Mapping[str, Any], stack: str | None) -> list[str]:
    environment = raw.get("environment")
    if stack is None or environment == stack:
        return []
    # Flux syncs k8s/clusters/<stack>/<role>, whose apps path is k8s/clusters/${ENVIRONMENT}/apps.
    return [
        f"environment: {environment!r} must equal the stack name {stack!r} (the GitOps tree of "
        f"the stack is k8s/clusters/{stack}/)"
    ]


def parse_platform_config(
    raw: Mapping[str, Any], namespace: str = PLATFORM_NAMESPACE, stack: str | None = None
) -> PlatformConfig:
    """Validate a plain mapping (camelCase keys, `project`/`region` from the gcp namespace);
    with `stack`, also that the environment is named after it."""
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors():
            problems.extend(_problem(error, namespace).split("\n"))
        # The model checks across fields only once every field is valid: run those checks on the
        # raw input too, leaving out those about a key that already has a problem (an overlap
        # with a range of the wrong size may vanish once the size is fixed).
        reported = [_reported_key(p) for p in problems]
        for problem in [*cross_field_problems(raw), *_stack_problems(raw, stack)]:
            full = problem if problem.startswith("gcp:") else f"{namespace}:{problem}"
            key = _reported_key(full)
            mentioned = {f"{namespace}:{word}" for word in full.split()}
            if not any(_within(key, other) or other in mentioned for other in reported):
                problems.append(full)
        raise StackConfigError(problems) from None
    mismatch = _stack_problems(raw, stack)
    if mismatch:
        raise StackConfigError([f"{namespace}:{p}" for p in mismatch])
    return config


def _reported_key(problem: str) -> str:
    return problem.split(": ", 1)[0]


def _within(key: str, other: str) -> bool:
    """`key` is `other` or lies inside it (`a.b` is within `a`, `a[1].c` within `a[1]`)."""
    return key == other or key.startswith((f"{other}.", f"{other}["))


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def read_raw_config(namespace: str = PLATFORM_NAMESPACE) -> dict[str, Any]:
    """Every `<namespace>:*` key of the running stack, plus gcp:project and gcp:region.

    The Python language host hands the program the whole stack config as JSON in PULUMI_CONFIG
    (pulumi-language-python `constructConfig`); `pulumi.runtime.get_config_env` is the SDK's
    public reader of it, and the only way to see keys the program does not know (typos)."""
    everything = pulumi.runtime.get_config_env()
    raw: dict[str, Any] = {}
    for full_key, value in everything.items():
        ns, _, key = full_key.partition(":")
        if ns == namespace:
            # project/region are read from gcp:*; `platform:project` is an unknown key, not a
            # silently ignored (or silently used) synonym, so keep its full name for the error.
            raw[full_key if key in GCP_KEYS else key] = _decode(value)
    for key in GCP_KEYS:
        value = pulumi.runtime.get_config(f"gcp:{key}")
        if value is not None:
            raw[key] = value
    return raw


def load_stack_config() -> PlatformConfig:
    """Read and validate the running stack's config; StackConfigError lists every problem."""
    return parse_platform_config(read_raw_config(), stack=pulumi.get_stack())
