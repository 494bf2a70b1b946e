"""The typed model of a stack's configuration: what differs per environment, and every rule a value
must meet, including what Google Cloud would refuse (components/gcp_limits.py).

Field rules are `Annotated` types; rules across fields of one object are model validators; rules
across top-level keys are `cross_key_problems`, which runs on typed values only (a `ConfigView` of
the keys that validated), so that it also runs when other keys are invalid and every problem is
reported at once (components/config.py does the reading and the reporting).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components import gcp_limits
from components.facts import (
    EU_REGIONS,
    FLUX_NAMESPACE,
    GCP_REGIONS,
    HA_CONTROL_PLANE_REPLICAS,
    KUMA_NAMESPACE,
    MESH_CA_SECRET_ID,
    RESERVED_NAMESPACES,
    ZONES_PER_REGION,
    ClusterRole,
    Residency,
    Stage,
)
from components.naming import nat_router_name

# RFC 1918 private ranges and the RFC 6598 shared range (GKE accepts both for its ranges).
# `IPv4Network.is_private` is not this: it also accepts loopback, link-local, 0.0.0.0/8 and
# 240.0.0.0/4 (none usable for a VPC) and rejects 100.64.0.0/10.
PRIVATE_RANGES: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(r)
    for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
GCP_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# A Kubernetes namespace name (RFC 1123 label).
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Labels the platform sets itself on every labelled resource (a user label may not override them).
PLATFORM_LABEL_KEYS = frozenset({"environment", "stage", "managed-by", "cluster", "role", "pool"})


class KeyedConfigError(ValueError):
    """Problems found by a model-level check, each naming a key relative to that model, so a user
    sees `platform:clusters[1].kumaZone: ...` rather than just `platform:clusters[1]: ...`."""

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


# -- field types -----------------------------------------------------------------------------------
def _checked(check: Any) -> AfterValidator:
    """An AfterValidator from a `problem(value) -> str | None` function."""

    def validate(value: Any) -> Any:
        problem = check(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(validate)


def _rfc1035(value: str) -> str | None:
    return gcp_limits.compute_name_problem(value)


def _gke_name(value: str) -> str | None:
    return gcp_limits.compute_name_problem(value, gcp_limits.GKE_NAME_MAX)


def _region(value: str) -> str | None:
    if value not in GCP_REGIONS:
        return f"{value!r} is not a Google Cloud region (e.g. 'europe-west1')"
    return None


def _project_id(value: str) -> str | None:
    if not GCP_PROJECT_ID.fullmatch(value):
        return (
            f"{value!r} is not a GCP project id: 6-30 characters of a-z, 0-9 and '-', starting "
            "with a letter"
        )
    return None


def _project_number(value: Any) -> Any:
    """A project number as the stack file gives it: an integer (Pulumi.yaml declares it so; a
    quoted one arrives as digits)."""
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not re.fullmatch(r"[1-9][0-9]{0,18}", text):
        raise ValueError(
            f"{value!r} is not a project number: the digits `gcloud projects describe "
            "<gcp:project> --format='value(projectNumber)'` prints"
        )
    return text


def _secret_id(value: str) -> str | None:
    if not SECRET_ID.fullmatch(value):
        return f"{value!r} is not a Secret Manager id: 1-255 characters of A-Z, a-z, 0-9, '-', '_'"
    return None


def _https_url(value: str) -> str | None:
    """Flux's git traffic leaves a zone cluster only on 443 (components/kuma/network_policy.py
    `platform_egress_policy`), and the credentials are a username and password (HTTP basic
    auth, components/flux.py): an ssh:// or scp-like URL would never connect."""
    if not re.fullmatch(r"https://[^\s/]+/\S+", value):
        return (
            f"{value!r} is not an https:// URL: Flux reaches git over HTTPS only (port 443, "
            "username and password from gitops.credentialsSecret); write the repository's "
            "https:// clone URL, e.g. 'https://github.com/acme/gcp-platform.git'"
        )
    return None


def _strict_cidr(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CIDR such as '10.0.0.0/16' (write it as text)")
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 CIDR with host bits zero ({exc})") from exc


def _private(network: ipaddress.IPv4Network) -> str | None:
    if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
        return f"{network} is not a private (RFC 1918/6598) range"
    return None


def _unique(values: Sequence[str]) -> str | None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    return f"listed twice: {repeated}" if repeated else None


def _labels(labels: dict[str, str]) -> str | None:
    for key, value in labels.items():
        if (problem := gcp_limits.label_key_problem(key)) is not None:
            return problem
        if key in PLATFORM_LABEL_KEYS:
            return f"label key {key!r} is set by the platform itself; choose another key"
        if (problem := gcp_limits.label_value_problem(key, value)) is not None:
            return problem
    if len(labels) > gcp_limits.MAX_USER_LABELS:
        return (
            f"{len(labels)} labels: at most {gcp_limits.MAX_USER_LABELS} (GCP allows "
            f"{gcp_limits.LABELS_PER_RESOURCE} per resource; the platform, pulumi-gcp and GKE's "
            "node VMs add the rest)"
        )
    return None


def _tenant_namespace(value: str) -> str | None:
    if not NAMESPACE_NAME.fullmatch(value):
        return f"{value!r} is not a Kubernetes namespace name (RFC 1123 label, <= 63 characters)"
    if not value[0].isalpha():
        # Its Google service account is `<namespace>-secrets`, and an account id starts with a
        # letter (cloud.google.com/iam/docs/service-accounts-create).
        return f"{value!r} must start with a letter (it names the Google account {value}-secrets)"
    if value in RESERVED_NAMESPACES or value.startswith(("kube-", "gke-", "gmp-")):
        return f"{value!r} is a namespace of Kubernetes, GKE or the platform; choose another name"
    return None


def _reader(value: str) -> str | None:
    if value == FLUX_NAMESPACE:
        return None
    if not NAMESPACE_NAME.fullmatch(value):
        return f"{value!r} is not a Kubernetes namespace name (RFC 1123 label, <= 63 characters)"
    return None


Rfc1035Name = Annotated[str, _checked(_rfc1035)]
GkeName = Annotated[str, _checked(_gke_name)]
Region = Annotated[str, _checked(_region)]
ProjectId = Annotated[str, _checked(_project_id)]
ProjectNumber = Annotated[str, BeforeValidator(_project_number)]
SecretId = Annotated[str, _checked(_secret_id)]
TenantNamespace = Annotated[str, _checked(_tenant_namespace)]
Reader = Annotated[str, _checked(_reader)]
Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_strict_cidr)]
PrivateCidr = Annotated[Cidr, _checked(_private)]
Regions = Annotated[list[Region], Field(min_length=1), _checked(_unique)]
MachineType = Annotated[str, _checked(gcp_limits.machine_type_problem)]
Labels = Annotated[dict[str, str], _checked(_labels)]
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def _email(value: str) -> str | None:
    return None if _EMAIL.match(value) else f"{value!r} is not an email address (name@domain)"


# An address Cloud Monitoring can mail (its `email` channel type takes one `email_address`).
EmailAddress = Annotated[str, _checked(_email)]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
Rfc3339 = Annotated[str, _checked(gcp_limits.rfc3339_problem)]
ExclusionScope = Literal["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"]
BootDiskType = Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"]


# -- models ----------------------------------------------------------------------------------------
class ClusterRanges(_Model):
    nodes: PrivateCidr
    pods: PrivateCidr
    services: PrivateCidr
    control_plane: PrivateCidr

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
    name: GkeName
    machine_type: MachineType = "e2-standard-4"
    min_nodes: int = Field(default=1, ge=0, le=1000)
    max_nodes: int = Field(default=3, ge=1, le=1000)
    spot: bool = False
    # GKE's floor is 10 GB; below 20 GB a node has no room for images and logs.
    disk_size_gb: int = Field(default=100, ge=20, le=65536)
    disk_type: BootDiskType = "pd-balanced"

    @model_validator(mode="after")
    def _consistent(self) -> NodePool:
        problems: list[tuple[str, str]] = []
        if self.min_nodes > self.max_nodes:
            problems.append(
                ("minNodes", f"{self.min_nodes} must be <= maxNodes ({self.max_nodes})")
            )
        if (disk := gcp_limits.boot_disk_problem(self.machine_type, self.disk_type)) is not None:
            problems.append(("diskType", disk))
        if problems:
            raise KeyedConfigError(problems)
        return self


class MaintenanceWindow(_Model):
    """GKE's one recurring maintenance window (times in UTC; RFC 5545 recurrence)."""

    start_time: Rfc3339
    end_time: Rfc3339
    recurrence: str = Field(min_length=1)

    @model_validator(mode="after")
    def _gke_minimum(self) -> MaintenanceWindow:
        problem = gcp_limits.maintenance_window_problem(
            gcp_limits.parse_rfc3339(self.start_time),
            gcp_limits.parse_rfc3339(self.end_time),
            self.recurrence,
        )
        if problem is not None:
            raise KeyedConfigError([problem])
        return self


class MaintenanceExclusion(_Model):
    """A one-off period in which GKE does not upgrade what `scope` names."""

    name: str = Field(min_length=1)
    start_time: Rfc3339
    end_time: Rfc3339
    scope: ExclusionScope

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceExclusion:
        if gcp_limits.parse_rfc3339(self.end_time) <= gcp_limits.parse_rfc3339(self.start_time):
            raise KeyedConfigError([("endTime", "must be after startTime")])
        return self


class Maintenance(_Model):
    window: MaintenanceWindow
    exclusions: list[MaintenanceExclusion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Maintenance:
        if (repeated := _unique([e.name for e in self.exclusions])) is not None:
            raise KeyedConfigError([("exclusions", f"exclusion names must be unique, {repeated}")])
        return self


class Cluster(_Model):
    name: GkeName
    role: ClusterRole
    region: Region
    ranges: ClusterRanges
    node_pools: list[NodePool] = Field(min_length=1)
    release_channel: ReleaseChannel = "REGULAR"
    kuma_zone: Rfc1035Name | None = None
    maintenance: Maintenance | None = None

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
        if (repeated := _unique([pool.name for pool in self.node_pools])) is not None:
            problems.append(("nodePools", f"node pool names must be unique, {repeated}"))
        if all(pool.spot for pool in self.node_pools):
            problems.append(
                (
                    "nodePools",
                    "every pool is spot: spot pools are tainted and control planes never "
                    "tolerate it, so add a pool with spot: false (it runs the control planes "
                    "and GKE's own system pods)",
                )
            )
        if problems:
            raise KeyedConfigError(problems)
        return self


class AuthorizedNetwork(_Model):
    display_name: str = Field(min_length=1, max_length=100)
    cidr: Cidr

    @model_validator(mode="after")
    def _not_open(self) -> AuthorizedNetwork:
        if self.cidr.prefixlen == 0:
            raise KeyedConfigError(
                [("cidr", "0.0.0.0/0 would open the control plane to the internet")]
            )
        return self


class GeneratedValue(_Model):
    """A value made by pulumi-random at create time; stored in state only as a secret."""

    length: int = Field(default=32, ge=16, le=4096)
    special: bool = False
    override_special: str | None = Field(default=None, min_length=1)


class ExternalValue(_Model):
    """Created empty: an operator adds the value out of band (docs/configuration.md)."""

    description: str = Field(min_length=1)


class SecretEntry(_Model):
    id: SecretId
    generated: GeneratedValue | None = None
    external: ExternalValue | None = None
    # The namespaces that may read this entry: `flux-system` or a tenant namespace. Each reads
    # through its own SecretStore and Google identity; nobody else can.
    readers: Annotated[list[Reader], _checked(_unique)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> SecretEntry:
        if (self.generated is None) == (self.external is None):
            raise ValueError("set exactly one of 'generated' or 'external'")
        return self


class Tenant(_Model):
    """An application namespace on the zone clusters: created by the program with its own
    secret-reading identity and SecretStore, and reconciled by Flux with namespace-only rights."""

    namespace: TenantNamespace


class Network(_Model):
    name: Rfc1035Name = "platform"
    routing_mode: Literal["REGIONAL", "GLOBAL"] = "GLOBAL"


class LogStorageConfig(_Model):
    """Where the project's logs are kept (components/log_storage.py)."""

    # The region of the log bucket the `_Default` sink writes to.
    bucket_location: Region
    retention_days: int = Field(default=30, ge=1, le=3650)
    # The organization's (or folder's) Cloud Logging default storage location when the project was
    # created: it decides where the `_Required` bucket (audit logs) lives, and nothing in the
    # project can move it. Stated by the operator (`gcloud logging settings describe
    # --organization=ORG_ID`); the program cannot read it offline.
    org_storage_location: Region | None = None


class GitOps(_Model):
    """Where Flux pulls this repository from; credentials come from Secret Manager. A staging
    stack's zone clusters post commit statuses with the GitHub App keys of `commit_status_secret`
    (k8s/flux/commit-status; docs/environments.md)."""

    repository_url: Annotated[str, _checked(_https_url)]
    credentials_secret: SecretId
    commit_status_secret: SecretId | None = None

    @property
    def flux_secrets(self) -> list[str]:
        """The entries Flux's identity reads: the git credentials, and the commit-status keys."""
        return [self.credentials_secret, *filter(None, [self.commit_status_secret])]


class Gateway(_Model):
    """The mesh's way in: a Kuma MeshGateway per zone cluster behind a GKE load balancer at a
    reserved address (External: internet-facing; Internal: the VPC only), terminating TLS with the
    certificate chain and key (PEM) of an external Secret Manager entry."""

    tls_secret: SecretId
    exposure: Literal["External", "Internal"] = "Internal"


def _endpoint_range(network: ipaddress.IPv4Network) -> str | None:
    if not 24 <= network.prefixlen <= 29:
        return f"{network} must be a /24 to /29 (a subnet of its own for the endpoint)"
    return None


class Database(_Model):
    """One Cloud SQL for PostgreSQL instance, private only, for one tenant (components/
    database.py): reached through a Private Service Connect endpoint in a subnet of its own
    (`endpointRange`, the first usable address), its password a `generated` Secret Manager entry
    only that tenant reads."""

    tenant: TenantNamespace
    password_secret: SecretId
    region: Region
    # Where automated backups (and the transaction logs of point-in-time recovery) are kept:
    # another allowed region, so that they survive the loss of the instance's region.
    backup_region: Region
    version: Literal["POSTGRES_15", "POSTGRES_16", "POSTGRES_17"] = "POSTGRES_16"
    tier: str = Field(default="db-custom-1-3840", pattern=r"^db-custom-\d+-\d+$")
    disk_size_gb: int = Field(default=20, ge=10, le=65536)
    endpoint_range: Annotated[PrivateCidr, _checked(_endpoint_range)]

    @property
    def endpoint_address(self) -> str:
        """The endpoint's address: the first one GCP lets a subnet hand out (it keeps the
        network, the gateway (first host), the second-to-last and the broadcast address:
        cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet)."""
        return str(self.endpoint_range.network_address + 2)


class PlatformConfig(_Model):
    """The `platform:*` keys of a stack, plus the `gcp:project` / `gcp:region` provider keys."""

    project: ProjectId
    # The number of `project`: names the Google-managed service agents (components/kms.py).
    project_number: ProjectNumber
    region: Region
    environment: Rfc1035Name
    stage: Stage
    residency: Residency = Residency.ANY
    allowed_regions: Regions
    network: Network = Network()
    clusters: list[Cluster] = Field(min_length=2)
    authorized_networks: list[AuthorizedNetwork] = Field(
        default_factory=list, max_length=gcp_limits.MAX_AUTHORIZED_NETWORKS
    )
    secret_replica_regions: Regions
    secrets: list[SecretEntry] = Field(default_factory=list)
    tenants: list[Tenant] = Field(default_factory=list)
    gitops: GitOps
    gateway: Gateway | None = None
    database: Database | None = None
    labels: Labels = Field(default_factory=dict)
    protect: bool | None = None
    logging: LogStorageConfig
    # Who the alert policies notify (components/observability.py); none: incidents only.
    alert_emails: Annotated[list[EmailAddress], _checked(_unique)] = Field(
        default_factory=list, max_length=16
    )

    @model_validator(mode="after")
    def _across_keys(self) -> PlatformConfig:
        problems = cross_key_problems(ConfigView.of(self))
        if problems:
            raise KeyedConfigError(problems)
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

    @cached_property
    def tenant_namespaces(self) -> list[str]:
        return [t.namespace for t in self.tenants]

    @cached_property
    def secret_readers(self) -> dict[str, list[str]]:
        """Reader namespace -> the entries it may read (`flux-system` first, then tenants, then
        `kuma-system` on the global cluster when a gateway serves TLS)."""
        gateway = [KUMA_NAMESPACE] if self.gateway is not None else []
        return {
            ns: [s.id for s in self.secrets if ns in s.readers]
            for ns in [FLUX_NAMESPACE, *self.tenant_namespaces, *gateway]
        }


# -- rules across top-level keys -------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterView:
    """The keys of one cluster that validated (None: invalid, reported on its own)."""

    index: int
    name: str | None = None
    role: ClusterRole | None = None
    region: str | None = None
    ranges: ClusterRanges | None = None
    kuma_zone: str | None = None
    node_pools: list[NodePool] | None = None
    # Whether the cluster sets `maintenance` at all (valid or not: its own problems are reported).
    has_maintenance: bool = False

    @classmethod
    def of(cls, index: int, cluster: Cluster) -> ClusterView:
        return cls(
            index,
            cluster.name,
            cluster.role,
            cluster.region,
            cluster.ranges,
            cluster.kuma_zone,
            cluster.node_pools,
            cluster.maintenance is not None,
        )


@dataclass(frozen=True)
class ConfigView:
    """The top-level keys that validated, typed. A key that did not is None (or, for lists, its
    invalid items are missing and `*_complete` is False): its own problems are reported already."""

    stack: str | None = None
    region: str | None = None
    environment: str | None = None
    stage: Stage | None = None
    residency: Residency | None = None
    allowed_regions: list[str] | None = None
    network: Network | None = None
    clusters: list[ClusterView] = field(default_factory=list)
    secret_replica_regions: list[str] | None = None
    secrets: list[tuple[int, SecretEntry]] = field(default_factory=list)
    secrets_complete: bool = True
    """Every item of `secrets` validated (a missing id may then be an invalid entry's)."""
    # None: the key is invalid (reported on its own); the reader rules then wait for it.
    tenants: list[Tenant] | None = None
    gitops: GitOps | None = None
    gateway: Gateway | None = None
    gateway_declared: bool = False
    """The gateway key is set, valid or not: kuma-system then reads its TLS entry (an invalid
    gateway's own problems are reported already)."""
    protect: bool | None = None
    logging: LogStorageConfig | None = None
    database: Database | None = None

    @classmethod
    def of(cls, config: PlatformConfig, stack: str | None = None) -> ConfigView:
        return cls(
            stack=stack,
            region=config.region,
            environment=config.environment,
            stage=config.stage,
            residency=config.residency,
            allowed_regions=config.allowed_regions,
            network=config.network,
            clusters=[ClusterView.of(i, c) for i, c in enumerate(config.clusters)],
            secret_replica_regions=config.secret_replica_regions,
            secrets=list(enumerate(config.secrets)),
            tenants=config.tenants,
            gitops=config.gitops,
            gateway=config.gateway,
            gateway_declared=config.gateway is not None,
            protect=config.protect,
            logging=config.logging,
            database=config.database,
        )


Problem = tuple[str, str]  # (key relative to the namespace, or `gcp:...`; message)


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1}, key=values.index)


def _topology(view: ConfigView) -> Iterator[Problem]:
    roles = [c.role for c in view.clusters]
    # Counting roles means something only once every role is a valid one.
    if roles and None not in roles:
        if roles.count(ClusterRole.GLOBAL) != 1:
            count = roles.count(ClusterRole.GLOBAL)
            yield "clusters", f"exactly one cluster must have role 'global' (found {count})"
        if roles.count(ClusterRole.ZONE) < 1:
            yield "clusters", "at least one cluster must have role 'zone'"
    for name in _duplicates([c.name for c in view.clusters if c.name]):
        yield "clusters", f"cluster name {name!r} is used twice; names must be unique"
    for zone in _duplicates([c.kuma_zone for c in view.clusters if c.kuma_zone]):
        yield "clusters", f"kumaZone {zone!r} is used twice; zone names must be unique"
    ranges = [
        (f"clusters[{c.index}].ranges.{key}", network)
        for c in view.clusters
        if c.ranges is not None
        for key, network in c.ranges.named().items()
    ]
    for a, (key_a, net_a) in enumerate(ranges):
        for key_b, net_b in ranges[a + 1 :]:
            if net_a.overlaps(net_b):
                yield key_b, f"{net_b} overlaps {key_a} {net_a}; every range must be disjoint"


def _locations(view: ConfigView) -> Iterator[Problem]:
    if view.allowed_regions is None:
        return
    allowed = view.allowed_regions
    if view.residency is Residency.EU:
        outside = [r for r in allowed if r not in EU_REGIONS]
        if outside:
            yield (
                "allowedRegions",
                f"{outside} are outside the EU; residency 'eu' accepts only {sorted(EU_REGIONS)}",
            )
    if view.region is not None and view.region not in allowed:
        yield "gcp:region", f"{view.region!r} is not in allowedRegions {allowed}"
    for cluster in view.clusters:
        if cluster.region is not None and cluster.region not in allowed:
            yield (
                f"clusters[{cluster.index}].region",
                f"{cluster.region!r} is not in allowedRegions {allowed}",
            )
    for replica in view.secret_replica_regions or []:
        if replica not in allowed:
            yield "secretReplicaRegions", f"{replica!r} is not in allowedRegions {allowed}"


def _secrets(view: ConfigView) -> Iterator[Problem]:
    ids = [s.id for _, s in view.secrets]
    for secret_id in _duplicates(ids):
        yield "secrets", f"id {secret_id!r} is used twice; Secret Manager ids must be unique"
    if MESH_CA_SECRET_ID in ids:
        yield (
            "secrets",
            f"id {MESH_CA_SECRET_ID!r} is the program's own entry (the mesh CA's record, "
            "components/kuma); choose another id",
        )
    by_id = {s.id: s for _, s in view.secrets}
    # Entries only one platform namespace reads, whose values never pass through Pulumi state.
    wanted: list[tuple[str, str, str, str]] = []
    if view.gitops is not None:
        wanted.append(
            (
                "gitops.credentialsSecret",
                view.gitops.credentials_secret,
                "git credentials",
                FLUX_NAMESPACE,
            )
        )
        if view.gitops.commit_status_secret is not None:
            wanted.append(
                (
                    "gitops.commitStatusSecret",
                    view.gitops.commit_status_secret,
                    "GitHub App private keys",
                    FLUX_NAMESPACE,
                )
            )
    if view.gateway is not None:
        wanted.append(
            ("gateway.tlsSecret", view.gateway.tls_secret, "TLS private keys", KUMA_NAMESPACE)
        )
    for key, secret_id, what, reader in wanted:
        entry = by_id.get(secret_id)
        if entry is None:
            yield key, f"{secret_id!r} is not one of secrets[].id {sorted(by_id)}"
        elif entry.external is None or entry.readers != [reader]:
            yield (
                key,
                f"secret {secret_id!r} must be 'external' ({what} never pass through Pulumi "
                f"state) with readers: [{reader}] ({reader} alone reads it)",
            )


def _readers(view: ConfigView) -> Iterator[Problem]:
    """Each reader is a namespace the program creates a store for; Flux's identity reads the
    git credentials (and, where it posts commit statuses, their GitHub App keys) and nothing
    else."""
    if view.tenants is None:
        return
    tenants = [t.namespace for t in view.tenants]
    for namespace in _duplicates(tenants):
        yield "tenants", f"namespace {namespace!r} is listed twice"
    gateway = [KUMA_NAMESPACE] if view.gateway_declared else []
    known = list(dict.fromkeys([FLUX_NAMESPACE, *tenants, *gateway]))
    by_id = {entry.id: entry for _, entry in view.secrets}
    # Which entries are Flux's is known only once gitops names valid ones (their problems are
    # reported by `_secrets`).
    flux_ids = view.gitops.flux_secrets if view.gitops is not None else []
    flux_entries = [by_id.get(secret_id) for secret_id in flux_ids]
    if not flux_ids or any(e is None or e.readers != [FLUX_NAMESPACE] for e in flux_entries):
        flux_ids = []
    for index, entry in view.secrets:
        for reader in entry.readers:
            if reader not in known:
                yield (
                    f"secrets[{index}].readers",
                    f"{reader!r} is not one of {known} (flux-system, tenants[], kuma-system "
                    "with a gateway); add it to platform:tenants first",
                )
            elif reader == FLUX_NAMESPACE and flux_ids and entry.id not in flux_ids:
                yield (
                    f"secrets[{index}].readers",
                    f"{FLUX_NAMESPACE!r} may read only the git credentials and the commit-status "
                    f"keys ({', '.join(map(repr, flux_ids))}); give {entry.id!r} to the "
                    "namespace that uses it",
                )


def _commit_statuses(view: ConfigView) -> Iterator[Problem]:
    """Only staging posts commit statuses: promotion evidence comes from staging, and a prod
    status would count for nothing (offline/promote.py reads staging's contexts only)."""
    if view.stage is Stage.PROD and view.gitops is not None and view.gitops.commit_status_secret:
        yield (
            "gitops.commitStatusSecret",
            "a prod stack posts no commit statuses (promotion evidence comes from staging's "
            "zone clusters: docs/environments.md, Promotion); remove the key",
        )


def _database(view: ConfigView) -> Iterator[Problem]:
    """The database's tenant exists, its region is allowed, its password is a generated entry
    that tenant alone reads, and its endpoint subnet collides with no cluster range."""
    db = view.database
    if db is None:
        return
    if view.tenants is not None and db.tenant not in [t.namespace for t in view.tenants]:
        yield "database.tenant", f"{db.tenant!r} is not one of platform:tenants[].namespace"
    regions = (("database.region", db.region), ("database.backupRegion", db.backup_region))
    for key, region in regions:
        if view.allowed_regions is not None and region not in view.allowed_regions:
            yield key, f"{region!r} is not in allowedRegions {view.allowed_regions}"
    if db.backup_region == db.region:
        yield (
            "database.backupRegion",
            f"{db.backup_region!r} is the instance's region; backups must survive its loss",
        )
    ids = [s.id for _, s in view.secrets]
    if not view.secrets_complete or ids.count(db.password_secret) > 1:
        return  # an invalid or repeated entry is reported on its own (`_secrets`)
    entry = {s.id: s for _, s in view.secrets}.get(db.password_secret)
    if entry is None:
        yield (
            "database.passwordSecret",
            f"{db.password_secret!r} is not one of secrets[].id {sorted(ids)}",
        )
    elif entry.generated is None or entry.readers != [db.tenant]:
        yield (
            "database.passwordSecret",
            f"secret {db.password_secret!r} must be 'generated' (the program sets the database "
            f"user's password from it) with readers: [{db.tenant}] (the database's tenant alone "
            "reads it)",
        )
    for cluster in view.clusters:
        for key, network in (cluster.ranges.named() if cluster.ranges else {}).items():
            if network.overlaps(db.endpoint_range):
                yield (
                    "database.endpointRange",
                    f"{db.endpoint_range} overlaps clusters[{cluster.index}].ranges.{key} "
                    f"{network}; every range must be disjoint",
                )


def _log_storage(view: ConfigView) -> Iterator[Problem]:
    """Logs are stored where the stack may store data: the `_Default` sink's bucket in an
    allowed region and, with residency eu, the `_Required` bucket (audit logs), whose location
    only the organization's Cloud Logging setting decides, in the EU as well."""
    if view.logging is None:
        return
    location = view.logging.bucket_location
    if view.allowed_regions is not None and location not in view.allowed_regions:
        yield (
            "logging.bucketLocation",
            f"{location!r} is not in allowedRegions {view.allowed_regions}",
        )
    if view.residency is not Residency.EU:
        return
    fix = (
        "`gcloud logging settings update --organization=ORG_ID --storage-location=<EU region>` "
        "before the project is created (an existing project keeps its _Required bucket where it "
        "is: re-create the project), then state that region here"
    )
    org = view.logging.org_storage_location
    if org is None or org not in EU_REGIONS:
        stated = "not stated" if org is None else f"{org!r}, outside the EU"
        yield (
            "logging.orgStorageLocation",
            f"{stated}: the _Required log bucket (audit logs) is created with the project in the "
            "organization's Cloud Logging default storage location (setting `storageLocation`) "
            f"and cannot be moved; set it to an EU region: {fix}",
        )


def _derived_names(view: ConfigView) -> Iterator[Problem]:
    """Names the components derive from config values must fit GCP's limits too (the names
    derived from a cluster name fit whenever the cluster name does: tests/test_naming.py)."""
    if view.network is None:
        return
    for region in dict.fromkeys(c.region for c in view.clusters if c.region is not None):
        name = nat_router_name(view.network.name, region)
        if (problem := gcp_limits.compute_name_problem(name)) is not None:
            yield "network.name", f"the Cloud Router and NAT name of {region}: {problem}"


def _protection(view: ConfigView) -> Iterator[Problem]:
    if view.stage is Stage.PROD and view.protect is False:
        yield (
            "protect",
            "a prod stack is always protected; to decommission it, run "
            "`pulumi state unprotect --all -s <stack>` on purpose instead",
        )


def _control_plane_capacity(view: ConfigView) -> Iterator[Problem]:
    """A prod cluster runs its Kuma control plane as one replica per zone with a hard spread
    (components/kuma/values.py): its standard pools must keep a node in every zone, or the
    autoscaler may shrink them to one zone and a replica stays Pending. Spot pools do not count:
    they are tainted and control planes never tolerate them."""
    if view.stage is not Stage.PROD:
        return
    needed = ZONES_PER_REGION  # one node per zone holds one replica per zone
    for cluster in view.clusters:
        if cluster.node_pools is None:
            continue
        standard = [pool for pool in cluster.node_pools if not pool.spot]
        kept = sum(pool.min_nodes for pool in standard)
        if standard and kept < needed:
            first = standard[0]
            yield (
                f"clusters[{cluster.index}].nodePools",
                f"a prod cluster runs {HA_CONTROL_PLANE_REPLICAS} control-plane replicas, one "
                f"in each of {ZONES_PER_REGION} zones (hard topology spread): its non-spot "
                f"pools must keep at least {needed} nodes, but their minNodes sum to {kept}; "
                f"raise minNodes of pool {first.name!r} to {needed - kept + first.min_nodes}",
            )


def _maintenance(view: ConfigView) -> Iterator[Problem]:
    """Prod clusters upgrade only inside a window the team chose, never at GKE's discretion."""
    if view.stage is not Stage.PROD:
        return
    for cluster in view.clusters:
        if not cluster.has_maintenance:
            yield (
                f"clusters[{cluster.index}].maintenance",
                "required for a prod cluster: a recurring window (e.g. window: {startTime: "
                "'2026-01-03T01:00:00Z', endTime: '2026-01-03T07:00:00Z', recurrence: "
                "'FREQ=WEEKLY;BYDAY=SA,SU'}) and any exclusions (docs/configuration.md)",
            )


def stack_name_problems(view: ConfigView) -> list[Problem]:
    if view.stack is None or view.environment is None or view.environment == view.stack:
        return []
    # Flux syncs k8s/clusters/<stack>/<role>, whose apps path is k8s/clusters/${ENVIRONMENT}.
    return [
        (
            "environment",
            f"{view.environment!r} must equal the stack name {view.stack!r} (the GitOps tree of "
            f"the stack is k8s/clusters/{view.stack}/)",
        )
    ]


def cross_key_problems(view: ConfigView) -> list[Problem]:
    return [
        *_topology(view),
        *_locations(view),
        *_secrets(view),
        *_readers(view),
        *_commit_statuses(view),
        *_log_storage(view),
        *_database(view),
        *_derived_names(view),
        *_protection(view),
        *_control_plane_capacity(view),
        *_maintenance(view),
        *stack_name_problems(view),
    ]
