"""What Google Cloud accepts, so that config validation refuses the rest before anything is planned.

Sources (checked 2026-12; where a fact could only be confirmed second-hand the comment says so):
- names: https://cloud.google.com/compute/docs/naming-resources (RFC 1035, 63), GKE cluster and
  node pool names 1-40 (terraform-provider-google `validateGKEClusterName`; node pools: the API's
  own error "must be 1-40 characters", quoted in provider issues), Cloud NAT names 2-63
  (terraform-provider-google `resource_compute_router_nat` ValidateFunc);
- labels: https://cloud.google.com/resource-manager/docs/creating-managing-labels (64 per
  resource; keys 1-63 starting with a lowercase letter; values 0-63; lowercase letters, digits,
  `_` and `-`; international characters allowed; 128 bytes); pulumi-gcp adds
  `goog-pulumi-provisioned` to labelled resources by default (provider `add_pulumi_attribution`);
- authorized networks: https://cloud.google.com/kubernetes-engine/docs/how-to/authorized-networks
  (50 CIDR blocks for a public endpoint, 100 for private clusters) vs the API field description
  ("up to 50"): the lower bound is enforced until a real project shows otherwise;
- release channels: the GKE API's `ReleaseChannel.Channel` (RAPID, REGULAR, STABLE, EXTENDED;
  UNSPECIFIED is deprecated);
- machine types: https://cloud.google.com/compute/docs/machine-resource and a `gcloud compute
  machine-types list` export of 2026-07 (second-hand) for the vCPU counts of each series; custom
  machine types `[<family>-]custom-<vCPUs>-<MiB>[-ext]` for N1, N2, N2D, E2, N4, N4D;
- boot disks: GKE node pools take pd-standard, pd-balanced, pd-ssd and hyperdisk-balanced
  (https://cloud.google.com/kubernetes-engine/docs/how-to/custom-boot-disks); N4, N4A, N4D, C4,
  C4A and C4D boot only from Hyperdisk, E2, N1, C2 and C2D never (API errors such as
  "[pd-balanced, c4-standard-16] features are not compatible", and
  https://cloud.google.com/compute/docs/disks/hd-types/hyperdisk-balanced). Pairs not known
  either way are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

COMPUTE_NAME_MAX: Final = 63
GKE_NAME_MAX: Final = 40  # clusters and node pools
LABELS_PER_RESOURCE: Final = 64
LABEL_TEXT_MAX: Final = 63
LABEL_BYTES_MAX: Final = 128
# Labels every labelled resource of ours carries besides the user's: environment, stage,
# managed-by, plus cluster and role/pool, plus pulumi-gcp's goog-pulumi-provisioned.
PLATFORM_LABELS_PER_RESOURCE: Final = 6
# GKE adds its own goog-* labels to node VMs (5 to 8 seen; second-hand): room is kept for them.
GKE_NODE_VM_LABELS: Final = 8
MAX_USER_LABELS: Final = LABELS_PER_RESOURCE - PLATFORM_LABELS_PER_RESOURCE - GKE_NODE_VM_LABELS
RESERVED_LABEL_PREFIXES: Final = ("goog-",)
MAX_AUTHORIZED_NETWORKS: Final = 50
RELEASE_CHANNELS: Final = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
GKE_BOOT_DISK_TYPES: Final = ("pd-standard", "pd-balanced", "pd-ssd", "hyperdisk-balanced")
HYPERDISK: Final = frozenset({"hyperdisk-balanced"})
PERSISTENT_DISK: Final = frozenset({"pd-standard", "pd-balanced", "pd-ssd"})

_RFC1035 = re.compile(r"^[a-z](?:[-a-z0-9]*[a-z0-9])?$")


def compute_name_problem(name: str, limit: int = COMPUTE_NAME_MAX) -> str | None:
    """Why `name` is not a valid Compute Engine / GKE resource name (None: it is)."""
    if not _RFC1035.fullmatch(name):
        return (
            f"{name!r} is not an RFC 1035 label: 1-{limit} characters of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    if len(name) > limit:
        return f"{name!r} has {len(name)} characters: use at most {limit} (Google Cloud's limit)"
    return None


# -- labels ----------------------------------------------------------------------------------------
def _label_char(char: str, *, first: bool) -> bool:
    category = unicodedata.category(char)
    if category in ("Ll", "Lo"):  # lowercase letters of any script, letters without case
        return True
    return not first and (category.startswith("N") or char in "_-")


def label_key_problem(key: str) -> str | None:
    if not key or len(key) > LABEL_TEXT_MAX or len(key.encode()) > LABEL_BYTES_MAX:
        return f"label key {key!r}: 1-{LABEL_TEXT_MAX} characters"
    if not _label_char(key[0], first=True) or not all(_label_char(c, first=False) for c in key):
        return (
            f"label key {key!r}: lowercase letters, digits, '_' and '-', starting with a "
            "lowercase letter"
        )
    if key.startswith(RESERVED_LABEL_PREFIXES):
        return f"label key {key!r}: the prefix {RESERVED_LABEL_PREFIXES[0]!r} is Google's"
    return None


def label_value_problem(key: str, value: str) -> str | None:
    if len(value) > LABEL_TEXT_MAX or len(value.encode()) > LABEL_BYTES_MAX:
        return f"label {key}={value!r}: values are at most {LABEL_TEXT_MAX} characters"
    if not all(_label_char(c, first=False) for c in value):
        return f"label {key}={value!r}: values are lowercase letters, digits, '_' and '-'"
    return None


# -- machine types ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A machine family: predefined `<family>-<series>-<vCPUs>` types, named extras, custom."""

    vcpus: dict[str, tuple[int, ...]]
    named: frozenset[str] = frozenset()
    custom: bool = False
    lssd: bool = False  # `-lssd` variants with local SSD
    boot_disks: frozenset[str] = field(default_factory=lambda: frozenset(GKE_BOOT_DISK_TYPES))


_PD_ONLY = PERSISTENT_DISK
_HD_ONLY = HYPERDISK
_STD_HM_HC = ("standard", "highmem", "highcpu")


def _same(
    counts: tuple[int, ...], series: tuple[str, ...] = _STD_HM_HC
) -> dict[str, tuple[int, ...]]:
    return dict.fromkeys(series, counts)


FAMILIES: Final[dict[str, Family]] = {
    "e2": Family(
        {"standard": (2, 4, 8, 16, 32), "highmem": (2, 4, 8, 16), "highcpu": (2, 4, 8, 16, 32)},
        named=frozenset({"e2-micro", "e2-small", "e2-medium"}),
        custom=True,
        boot_disks=_PD_ONLY,
    ),
    "n1": Family(
        {
            "standard": (1, 2, 4, 8, 16, 32, 64, 96),
            "highmem": (2, 4, 8, 16, 32, 64, 96),
            "highcpu": (2, 4, 8, 16, 32, 64, 96),
        },
        named=frozenset({"f1-micro", "g1-small"}),
        custom=True,
        boot_disks=_PD_ONLY,
    ),
    "n2": Family(
        {
            "standard": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128),
            "highmem": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128),
            "highcpu": (2, 4, 8, 16, 32, 48, 64, 80, 96),
        },
        custom=True,
    ),
    "n2d": Family(
        {
            "standard": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
            "highmem": (2, 4, 8, 16, 32, 48, 64, 80, 96),
            "highcpu": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
        },
        custom=True,
    ),
    "n4": Family(_same((2, 4, 8, 16, 32, 48, 64, 80)), custom=True, boot_disks=_HD_ONLY),
    "n4d": Family(_same((2, 4, 8, 16, 32, 48, 64, 80, 96)), custom=True, boot_disks=_HD_ONLY),
    "n4a": Family(_same((1, 2, 4, 8, 16, 32, 48, 64)), boot_disks=_HD_ONLY),
    "c2": Family({"standard": (4, 8, 16, 30, 60)}, boot_disks=_PD_ONLY),
    "c2d": Family(_same((2, 4, 8, 16, 32, 56, 112)), boot_disks=_PD_ONLY),
    "c3": Family(_same((4, 8, 22, 44, 88, 176)), lssd=True),
    "c3d": Family(_same((4, 8, 16, 30, 60, 90, 180, 360)), lssd=True),
    "c4": Family(
        _same((2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288)), lssd=True, boot_disks=_HD_ONLY
    ),
    "c4a": Family(_same((1, 2, 4, 8, 16, 32, 48, 64, 72)), lssd=True, boot_disks=_HD_ONLY),
    "c4d": Family(_same((2, 4, 8, 16, 32, 48, 64, 96, 192, 384)), lssd=True, boot_disks=_HD_ONLY),
    "t2d": Family({"standard": (1, 2, 4, 8, 16, 32, 48, 60)}),
    "t2a": Family({"standard": (1, 2, 4, 8, 16, 32, 48)}),
    "m1": Family({"ultramem": (40, 80, 160), "megamem": (96,)}),
    "m2": Family({"ultramem": (208, 416), "megamem": (416,), "hypermem": (416,)}),
    "m3": Family({"ultramem": (32, 64, 128), "megamem": (64, 128)}),
    "g2": Family({"standard": (4, 8, 12, 16, 24, 32, 48, 96)}),
    "a2": Family(
        {},
        named=frozenset(
            {
                *(f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)),
                "a2-megagpu-16g",
                *(f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)),
            }
        ),
    ),
    "a3": Family(
        {},
        named=frozenset(
            {
                *(f"a3-highgpu-{n}g" for n in (1, 2, 4, 8)),
                "a3-megagpu-8g",
                "a3-ultragpu-8g",
                "a3-ultragpu-8g-nolssd",
                "a3-edgegpu-8g",
                "a3-edgegpu-8g-nolssd",
            }
        ),
    ),
}

_PREDEFINED = re.compile(
    r"^(?P<family>[a-z0-9]+)-(?P<series>[a-z]+)-(?P<vcpus>\d+)(?P<lssd>-lssd)?$"
)
_CUSTOM = re.compile(r"^(?:(?P<family>[a-z0-9]+)-)?custom-(?P<vcpus>\d+)-(?P<mib>\d+)(?:-ext)?$")


def family_of(machine_type: str) -> str | None:
    """The family of a machine type (`n1` for the unprefixed custom and shared-core n1 types)."""
    if machine_type.startswith(("f1-", "g1-", "custom-")):
        return "n1"
    head = machine_type.split("-", 1)[0]
    return head if head in FAMILIES else None


def machine_type_problem(machine_type: str) -> str | None:
    """Why GKE would refuse `machine_type` for a node pool (None: a type Compute Engine offers)."""
    family_name = family_of(machine_type)
    if family_name is None:
        known = ", ".join(sorted(FAMILIES))
        return f"{machine_type!r}: unknown machine family (known: {known})"
    family = FAMILIES[family_name]
    if machine_type in family.named:
        return None
    if custom := _CUSTOM.fullmatch(machine_type):
        if not family.custom:
            return f"{machine_type!r}: the {family_name} family has no custom machine types"
        if int(custom["vcpus"]) < 1 or int(custom["mib"]) < 1024:
            return f"{machine_type!r}: a custom type needs vCPUs >= 1 and memory >= 1024 MiB"
        return None
    predefined = _PREDEFINED.fullmatch(machine_type)
    if predefined is None or predefined["series"] not in family.vcpus:
        series = ", ".join(f"{family_name}-{s}-N" for s in family.vcpus) or "named types only"
        return f"{machine_type!r}: not a {family_name} machine type ({series})"
    counts = family.vcpus[predefined["series"]]
    if int(predefined["vcpus"]) not in counts:
        return (
            f"{machine_type!r}: {family_name}-{predefined['series']} comes with "
            f"{', '.join(map(str, counts))} vCPUs"
        )
    if predefined["lssd"] and not family.lssd:
        return f"{machine_type!r}: the {family_name} family has no -lssd types"
    return None


def boot_disk_problem(machine_type: str, disk_type: str) -> str | None:
    """Why `disk_type` cannot be the boot disk of `machine_type` nodes (None: it can, or it is
    not known either way)."""
    family_name = family_of(machine_type)
    if family_name is None:
        return None  # reported by machine_type_problem
    allowed = FAMILIES[family_name].boot_disks
    if disk_type in allowed:
        return None
    return (
        f"{disk_type!r} cannot be the boot disk of {family_name} machines "
        f"({machine_type}); use {' or '.join(sorted(allowed))}"
    )


# -- maintenance policy ----------------------------------------------------------------------------
# https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-windows-and-exclusions:
# one recurring window per cluster; at least 48 hours of maintenance availability in any 32-day
# rolling window, counting only contiguous windows of at least four hours; day-of-week
# recurrences are evaluated in UTC. Exclusion scopes (config_model.ExclusionScope): the GKE
# API's MaintenanceExclusionOptions.Scope. The longest exclusion GKE accepts per scope is not
# checked here (30 days for NO_UPGRADES historically, reportedly longer since 2026; unverified):
# the API refuses a longer one at `pulumi up`.
MAINTENANCE_MIN_WINDOW_HOURS: Final = 4
MAINTENANCE_MIN_HOURS: Final = 48
MAINTENANCE_ROLLING_DAYS: Final = 32
WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RRULE_DAILY = re.compile(r"^FREQ=DAILY$")
_RRULE_WEEKLY = re.compile(r"^FREQ=WEEKLY;BYDAY=(?P<days>[A-Z]{2}(?:,[A-Z]{2})*)$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def rfc3339_problem(value: str) -> str | None:
    """Why `value` is not an RFC 3339 timestamp with an explicit offset (GKE's time format)."""
    if not _RFC3339.fullmatch(value):
        return f"{value!r} is not an RFC 3339 time such as '2026-01-03T01:00:00Z'"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        return f"{value!r} is not a valid time ({exc})"
    return None


def parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def occurrences_in_rolling_window(recurrence: str) -> int | None:
    """The fewest occurrences of `recurrence` in any 32-day window, or None for a rule outside
    the two shapes checked here (`FREQ=DAILY`, `FREQ=WEEKLY;BYDAY=..`). Any 32 consecutive days
    hold every weekday at least four times."""
    if _RRULE_DAILY.fullmatch(recurrence):
        return MAINTENANCE_ROLLING_DAYS
    weekly = _RRULE_WEEKLY.fullmatch(recurrence)
    if weekly is None:
        return None
    days = weekly["days"].split(",")
    if any(day not in WEEKDAYS for day in days) or len(set(days)) != len(days):
        return None
    return (MAINTENANCE_ROLLING_DAYS // len(WEEKDAYS)) * len(days)


def maintenance_window_problem(
    start: datetime, end: datetime, recurrence: str
) -> tuple[str, str] | None:
    """The key (`endTime` or `recurrence`) and why GKE would refuse a recurring maintenance
    window; None: it meets GKE's minimum."""
    if end <= start:
        return "endTime", "must be after startTime"
    hours = (end - start).total_seconds() / 3600
    if hours < MAINTENANCE_MIN_WINDOW_HOURS:
        return "endTime", (
            f"the window lasts {hours:g} hours: GKE counts only windows of at least "
            f"{MAINTENANCE_MIN_WINDOW_HOURS} contiguous hours"
        )
    occurrences = occurrences_in_rolling_window(recurrence)
    if occurrences is None:
        return "recurrence", (
            f"{recurrence!r}: use 'FREQ=DAILY' or 'FREQ=WEEKLY;BYDAY=SA,SU' "
            f"(days among {', '.join(WEEKDAYS)}, UTC)"
        )
    available = occurrences * min(hours, 24.0)
    if available < MAINTENANCE_MIN_HOURS:
        return "recurrence", (
            f"{available:g} hours of maintenance in {MAINTENANCE_ROLLING_DAYS} days: GKE requires "
            f"at least {MAINTENANCE_MIN_HOURS} (longer windows or more days)"
        )
    return None
