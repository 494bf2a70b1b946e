"""The first `pulumi preview` after a state-loss rebuild, modelled from the providers' importers.

`make import-file` adopts every surviving resource. What the next preview does to each one depends
on the state its import wrote: most properties are read back from the cloud (and equal what this
program created), but some cannot be: virtual fields the importer sets to a fixed value, inputs
the API does not return, and for a RandomPassword everything but the value itself. Where such a
property forces replacement and differs from the program's input (after `ignore_changes`), the
rebuild would replace the resource: a new secret value, a new cluster.

Sources: terraform-provider-random v3.9.0 (pinned by pulumi-random 4.21.4, provider/go.mod) and
terraform-provider-google-beta 7.x (bridged by pulumi-gcp 10; read at v7.45.0), file paths below;
the engine's ignore_changes: pulumi/pulumi pkg/resource/deploy/step_generator.go
`processIgnoreChanges` -> sdk/go/common/resource/properties_path.go `Reset` (the old input's value,
or the key removed when the old state has none).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from offline.diff import cascade, is_critical
from offline.engine import Plan, Registration
from offline.resource_ids import import_fields

if TYPE_CHECKING:  # import_file runs this model before it writes the documents
    from offline.import_file import ImportDocuments


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING = _Marker("<not in state>")
UNKNOWN = _Marker("<not knowable from the program>")


@dataclass(frozen=True)
class Unrestored:
    """A property the import does not read back from the cloud."""

    value: Any  # what the import leaves in state (MISSING, UNKNOWN or a fixed value)
    replaces: bool  # a difference forces replacement
    source: str
    # Provider default when the program leaves the input unset (MISSING: the state is kept).
    default: Any = MISSING


def _random_password(value: str) -> dict[str, Unrestored]:
    src = "terraform-provider-random internal/provider/resource_password.go ImportState"
    state: dict[str, Unrestored] = {
        "length": Unrestored(len(value), True, src + "; schema: RequiresReplace"),
        "overrideSpecial": Unrestored(
            MISSING, True, src + "; schema: RequiresReplaceUnlessEmptyStringToNull"
        ),
        "keepers": Unrestored(MISSING, True, src + "; schema: RequiresReplaceIfValuesNotNull"),
    }
    for flag in ("special", "upper", "lower"):
        state[flag] = Unrestored(True, True, src + "; schema: Default true, RequiresReplace", True)
    for flag in ("number", "numeric"):
        state[flag] = Unrestored(True, True, src + "; schema: RequiresReplace")
    for minimum in ("minSpecial", "minUpper", "minLower", "minNumeric"):
        state[minimum] = Unrestored(0, True, src + "; schema: Default 0, RequiresReplace", 0)
    return state


_CLUSTER = "google-beta/services/container/resource_container_cluster.go"
_SECRET = "google-beta/services/secretmanager/resource_secret_manager_secret.go"
_VERSION = "google-beta/services/secretmanager/resource_secret_manager_secret_version.go"
_NETWORK = "google-beta/services/compute/resource_compute_network.go"
_PROJECT_SERVICE = "google-beta/services/resourcemanager/resource_google_project_service.go"

# Per type: the program's inputs an import cannot read back (everything else is read from the
# API and equals what this program created). Checked and read back, so not listed: a secret's
# `replication` (ForceNew; Read sets it from the API, flattenSecretManagerSecretReplication, in
# the API's order, the same state a refresh after creation holds), a node pool's
# `initialNodeCount` (resource_container_node_pool.go flattenNodePool), IAM members' project,
# role and member (iamMemberImport, then the policy read).
UNRESTORED: dict[str, dict[str, Unrestored]] = {
    "gcp:container/cluster:Cluster": {
        # Read copies the API's deprecated Cluster.initialNodeCount, which describes the default
        # pool this program removes; upstream issue hashicorp/terraform-provider-google#4963.
        "initialNodeCount": Unrestored(UNKNOWN, True, _CLUSTER + ": ForceNew, Read from the API"),
        # node_config is the default pool's (removed) config; its fields are ForceNew.
        "nodeConfig": Unrestored(UNKNOWN, True, _CLUSTER + ": schemaNodeConfig, ForceNew fields"),
        # Never read; Update deletes "default-pool" and tolerates a 404.
        "removeDefaultNodePool": Unrestored(MISSING, False, _CLUSTER + ": Optional, not read"),
        "deletionProtection": Unrestored(True, False, _CLUSTER + ": StateImporter sets true"),
    },
    "gcp:secretmanager/secret:Secret": {
        "deletionProtection": Unrestored(False, False, _SECRET + ": import sets false"),
    },
    "gcp:secretmanager/secretVersion:SecretVersion": {
        "isSecretDataBase64": Unrestored(False, True, _VERSION + ": Read sets false; ForceNew"),
        "deletionPolicy": Unrestored("DELETE", False, _VERSION + ": import sets DELETE"),
    },
    "gcp:compute/network:Network": {
        "deleteDefaultRoutesOnCreate": Unrestored(
            False,
            False,
            "google-beta/services/compute/resource_compute_network.go: import sets false",
        ),
    },
    "gcp:projects/service:Service": {
        "disableOnDestroy": Unrestored(MISSING, False, _PROJECT_SERVICE + ": Optional, not read"),
        "disableDependentServices": Unrestored(
            MISSING, False, _PROJECT_SERVICE + ": Optional, not read"
        ),
    },
}
# Properties the importer sets from the id that force replacement, by type: compared with the
# program's input as a relative resource path (tpgresource.CompareSelfLinkOrResourceName).
ID_FIELDS_REPLACING: dict[str, tuple[str, ...]] = {
    "gcp:secretmanager/secretVersion:SecretVersion": ("secret",),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId",),
    "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccountId",),
    "gcp:container/nodePool:NodePool": ("cluster", "name", "location"),
    "gcp:container/cluster:Cluster": ("name", "location"),
}


# -- what the gcloud commands in manual.txt print, for the model ----------------------------------
PROJECT_NUMBER = "123456789012"
LATEST_VERSION = "3"


def latest_payload(plan: Plan, secret: str) -> str:
    versions = [
        v
        for v in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        if str(v.inputs["secret"]).rsplit("/", 1)[-1] == secret
    ]
    if len(versions) != 1:
        raise ValueError(f"no single version of {secret} in the plan")
    return str(versions[0].inputs["secretData"])


def _parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    flags: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            flags[key] = value if eq else next(args)
        else:
            words.append(arg)
    return words, flags


def fake_gcloud(plan: Plan, argv: list[str]) -> str:
    """Output of the gcloud commands manual.txt uses, against a project this program built: the
    latest version of each entry holds the program's value; names carry the project NUMBER
    (Secret Manager API: `projects/*/secrets/*/versions/*`)."""
    words, flags = _parse(argv)
    command = words[:4]
    if _monitoring_list(words) is not None:
        return _monitoring_number(plan, words, flags)
    if command == ["gcloud", "secrets", "versions", "access"]:
        return latest_payload(plan, flags["secret"])
    if command == ["gcloud", "secrets", "versions", "describe"]:
        secret = flags["secret"]
    elif command == ["gcloud", "secrets", "versions", "list"]:
        secret = words[4]
    else:
        raise ValueError(f"the import model does not know what {shlex.join(argv)} prints")
    name = f"projects/{PROJECT_NUMBER}/secrets/{secret}/versions/{LATEST_VERSION}"
    return {"value(name)": name, "value(name.basename())": LATEST_VERSION}[flags["format"]]


def _monitoring_list(words: list[str]) -> str | None:
    from offline.import_file import MONITORING_LISTS

    for type_, (group, _, _) in MONITORING_LISTS.items():
        if words == ["gcloud", *group.split(), "list"]:
            return type_
    return None


def _monitoring_number(plan: Plan, words: list[str], flags: dict[str, str]) -> str:
    """`gcloud monitoring ... list --filter='displayName="X"' --format='value(name.basename())'`:
    the number of the one object of that type with that display name."""
    from offline.import_file import MONITORING_LISTS

    type_ = _monitoring_list(words)
    assert type_ is not None
    _, _, display_name = MONITORING_LISTS[type_]
    match = re.fullmatch(r'displayName="(?P<name>[^"]*)"', flags["filter"])
    if match is None or flags["format"] != "value(name.basename())":
        raise ValueError(f"the import model does not know what {shlex.join(words)} prints")
    found = [r for r in plan.of_type(type_) if display_name(r) == match["name"]]
    if len(found) != 1:
        raise ValueError(f"{len(found)} {type_} named {match['name']!r}: the lookup is ambiguous")
    return str(int(hashlib.sha256(found[0].urn.encode()).hexdigest()[:10], 16))


def evaluate(plan: Plan, word: str) -> str:
    """A shell word with `$(gcloud ...)` substitutions, as bash would expand it."""
    expanded, rest = "", word
    while (start := rest.find("$(")) >= 0:
        depth, end = 0, start + 1
        for end in range(start + 1, len(rest)):
            depth += {"(": 1, ")": -1}.get(rest[end], 0)
            if depth == 0:
                break
        command = fake_gcloud(plan, shlex.split(rest[start + 2 : end]))
        expanded, rest = expanded + rest[:start] + command, rest[end + 1 :]
    [value] = shlex.split(expanded + rest)
    return value


# -- the model -----------------------------------------------------------------------------------
def imported_state(plan: Plan, resource: Registration, identifier: str) -> dict[str, Unrestored]:
    """The properties whose imported value is not simply the program's own input, given the
    import id (as `pulumi import` receives it)."""
    if resource.type == "random:index/randomPassword:RandomPassword":
        return _random_password(identifier)
    state = dict(UNRESTORED.get(resource.type, {}))
    fields = import_fields(resource.type, identifier) or {}
    for key in ID_FIELDS_REPLACING.get(resource.type, ()):
        state[key] = Unrestored(fields.get(key, UNKNOWN), True, "the importer's id pattern")
    if resource.type == "gcp:secretmanager/secretVersion:SecretVersion":
        # Read accesses the version's payload (flattenSecretManagerSecretVersionPayload).
        secret = str(fields.get("secret", "")).rsplit("/", 1)[-1]
        state["secretData"] = Unrestored(
            latest_payload(plan, secret), True, _VERSION + ": ForceNew"
        )
    return state


def _relative(value: Any) -> Any:
    return re.sub(r"^https://[^/]+/[^/]+/[^/]+/", "", value) if isinstance(value, str) else value


def _ignored(resource: Registration, key: str) -> bool:
    """ignore_changes resets the input to the old state's value: no difference, whatever it is."""
    return any(key == p or p.startswith(key + ".") for p in resource.ignore_changes)


def _planned(resource: Registration, key: str, old: Unrestored) -> Any:
    """The program's input, or the provider's default when unset."""
    value = resource.inputs.get(key, MISSING)
    return old.default if value is MISSING and old.default is not MISSING else value


def _forces_replacement(key: str, planned: Any, old: Unrestored) -> bool:
    if not old.replaces:
        return False
    if key == "overrideSpecial":  # RequiresReplaceUnlessEmptyStringToNull
        return planned != old.value and not (planned is MISSING and old.value == "")
    if planned is MISSING:
        return False  # unset: an Optional+Computed input keeps the state
    return old.value is UNKNOWN or _relative(planned) != _relative(old.value)


def direct_replacements(plan: Plan, documents: ImportDocuments) -> dict[str, str]:
    """URN -> why, for every imported resource whose imported state forces replacement."""
    index = plan.by_urn()
    shell_words = {step.resource.urn for step in documents.manual}
    found: dict[str, str] = {}
    for urn, identifier in documents.identifiers.items():
        resource = index[urn]
        value = evaluate(plan, identifier) if urn in shell_words else identifier
        reasons = [
            f"{key}: imported {old.value!r}, program {planned!r} ({old.source})"
            for key, old in imported_state(plan, resource, value).items()
            if not _ignored(resource, key)
            and _forces_replacement(key, planned := _planned(resource, key, old), old)
        ]
        if reasons:
            found[urn] = "; ".join(reasons)
    return found


def created(plan: Plan, documents: ImportDocuments) -> set[str]:
    """What the rebuild creates because it cannot be imported (the pulumi-tls keys and
    certificates); providers exist by then (the targeted `pulumi up`)."""
    return {
        r.urn
        for r in plan.resources
        if r.custom
        and r.urn not in documents.identifiers
        and not r.type.startswith("pulumi:providers:")
    }


def replacements(plan: Plan, documents: ImportDocuments) -> dict[str, tuple[str, str]]:
    """Everything the first preview after the imports would replace: URN -> (why, the URN that
    brings it along). New resources' outputs are unknown in that preview, like a replaced one's."""
    new = created(plan, documents)
    roots = direct_replacements(plan, documents) | {u: "created: cannot be imported" for u in new}
    resources: Mapping[str, Registration] = {r.urn: r for r in plan.resources}
    return {u: cause for u, cause in cascade(resources, roots).items() if u not in new}


def root_of(urn: str, replaced: Mapping[str, tuple[str, str]], new: set[str]) -> str:
    """The resource a replacement ultimately comes from (a direct one, or a created one)."""
    while urn not in new and replaced[urn][1]:
        urn = replaced[urn][1]
    return urn


def unexpected(plan: Plan, documents: ImportDocuments) -> dict[str, str]:
    """The replacements a recovery must not have: anything not fed by a newly created
    resource, and anything stateful or protected whatever the cause."""
    new = created(plan, documents)
    replaced = replacements(plan, documents)
    index = plan.by_urn()
    return {
        urn: why
        for urn, (why, _) in replaced.items()
        if root_of(urn, replaced, new) not in new or is_critical(index[urn])
    }
