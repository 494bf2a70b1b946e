"""`make import-file STACK=x`: the `pulumi import --file` documents that adopt a stack's surviving
resources after its Pulumi state is lost, instead of recreating them.

Two phases, because Kubernetes objects are imported through the cluster's provider, which exists in
state only once its cluster does:
  1. build/<stack>/import-gcp.json: components and every GCP resource with a deterministic id;
  2. pulumi up --target the Kubernetes providers, then build/<stack>/import-kubernetes.json.
Resources whose id the cloud chooses are listed with the command that adopts them (manual.txt).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline import teardown
from offline.cli import finish, guarded
from offline.engine import REPO_ROOT, STACK_TYPE, Plan, Registration, plan_stack
from offline.import_plan import unexpected
from offline.resource_ids import gcp_id, kubernetes_id


def _import_command(resource: Registration, stack: str, identifier: str) -> str:
    # `--` ends the flags: a generated value may start with "-" (overrideSpecial "-_.~").
    return (
        f"pulumi import -s {stack} --parent 'parent={resource.parent}' --generate-code=false "
        f"-- {resource.type} {resource.name} {identifier}"
    )


def secret_version_id(project: str, secret: str) -> str:
    """The SecretVersion import id, `projects/<project id>/secrets/<secret>/versions/<number>`.

    The importer keeps everything before `/versions/` as the `secret` input, which forces
    replacement when it differs from the program's `projects/<project id>/secrets/<secret>`
    (resource_secret_manager_secret_version.go: `secret` is ForceNew, compared as a relative
    path). gcloud's `name` is the full path with the project NUMBER, so only its last segment
    (`basename()`, gcloud topic projections) is taken; `latest` is the version Secrets wrote
    last, the same one the RandomPassword value is read from.
    """
    number = (
        f"$(gcloud secrets versions describe latest --secret {secret} --project {project} "
        "--format='value(name.basename())')"
    )
    return f'"projects/{project}/secrets/{secret}/versions/{number}"'


def generated_value(project: str, secret: str) -> str:
    """The RandomPassword import id is the value itself (terraform-provider-random
    resource_password.go ImportState); reading it back keeps the credential."""
    return f'"$(gcloud secrets versions access latest --secret {secret} --project {project})"'


@dataclass(frozen=True)
class ManualImport:
    """A resource whose import id only the cloud knows: `identifier` is a shell word."""

    resource: Registration
    identifier: str
    command: str


# Cloud Monitoring objects: the gcloud group that lists them, their collection in `name`, and
# their display name.
MONITORING_LISTS: dict[str, tuple[str, str, Callable[[Registration], str]]] = {
    "gcp:monitoring/alertPolicy:AlertPolicy": (
        "monitoring policies",
        "alertPolicies",
        lambda r: str(r.inputs["displayName"]),
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": (
        "beta monitoring channels",
        "notificationChannels",
        lambda r: str(r.inputs["displayName"]),
    ),
    "gcp:monitoring/dashboard:Dashboard": (
        "monitoring dashboards",
        "dashboards",
        lambda r: str(json.loads(r.inputs["dashboardJson"])["displayName"]),
    ),
}


def monitoring_object_id(project: str, resource: Registration) -> str:
    """Cloud Monitoring numbers its objects itself; the display name finds the number. The
    importers take `project` from the second segment of the id and it is ForceNew
    (resource_monitoring_alert_policy.go, _notification_channel.go, _dashboard.go), while the
    API may name the project by number: so the id is rebuilt with the project id and only the
    last segment of the listed `name` (as for SecretVersions)."""
    list_command, collection, display_name = MONITORING_LISTS[resource.type]
    lookup = (
        f"gcloud {list_command} list --project {project} "
        f"--filter='displayName=\"{display_name(resource)}\"' --format='value(name.basename())'"
    )
    return f'"projects/{project}/{collection}/$({lookup})"'


# Ids chosen at create time: a lost state cannot name them, the cloud can. Secrets names the
# RandomPassword and SecretVersion after the entry id they belong to.
_MANUAL_IDS: dict[str, Callable[[str, Registration], str]] = {
    "random:index/randomPassword:RandomPassword": lambda project, r: generated_value(
        project, r.name
    ),
    "gcp:secretmanager/secretVersion:SecretVersion": lambda project, r: secret_version_id(
        project, r.name
    ),
    **dict.fromkeys(MONITORING_LISTS, monitoring_object_id),
}


def _manual_step(resource: Registration, stack: str, project: str) -> ManualImport | None:
    derive = _MANUAL_IDS.get(resource.type)
    if derive is None:
        return None
    identifier = derive(project, resource)
    return ManualImport(resource, identifier, _import_command(resource, stack, identifier))


# Get-or-create on the API side (a service identity): `pulumi up` adopts it as it is.
ADOPTED_AS_IS: tuple[str, ...] = ("gcp:projects/serviceIdentity:ServiceIdentity",)


@dataclass
class ImportDocuments:
    gcp: dict[str, Any]
    kubernetes: dict[str, Any]
    manual: list[ManualImport] = field(default_factory=list)
    provider_urns: list[str] = field(default_factory=list)
    # URN -> the id `pulumi import` is given (a shell word for the manual steps).
    identifiers: dict[str, str] = field(default_factory=dict)


def _import_names(plan: Plan) -> dict[str, str]:
    """Each entry needs a unique key (`name`); the resource's own name goes in `logicalName`."""
    counts = Counter(r.name for r in plan.resources)
    return {
        r.urn: r.name
        if counts[r.name] == 1
        else f"{r.name}--{re.sub(r'[^a-z0-9]+', '-', r.type.lower())}"
        for r in plan.resources
    }


def _entry(resource: Registration, names: dict[str, str], **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": resource.type, "name": names[resource.urn]}
    if names[resource.urn] != resource.name:
        entry["logicalName"] = resource.name
    if resource.parent in names:
        entry["parent"] = names[resource.parent]
    return entry | extra


SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def retained_after_destroy(plan: Plan) -> frozenset[str]:
    """What `pulumi import` must adopt before an `up` after a `pulumi destroy` in the same
    project: what the destroy leaves behind (offline/teardown.py), the generated values those
    entries hold (their RandomPasswords, by value: no rotation), and the components above them."""
    left = teardown.destroy(plan).left_behind
    entries = {r.name for r in left if r.type == SECRET_VERSION}
    values = [r for r in plan.of_type(RANDOM_PASSWORD) if r.name in entries]
    adopted = {r.urn for r in [*left, *values]}
    index = plan.by_urn()
    for urn in list(adopted):
        adopted |= {a.urn for a in plan.ancestors(index[urn]) if a.type != STACK_TYPE}
    return frozenset(adopted)


def build(plan: Plan, only: frozenset[str] | None = None) -> ImportDocuments:
    """Documents adopting every surviving resource of the plan (state lost), or only the URNs in
    `only` (e.g. what a destroy left behind)."""
    names = _import_names(plan)
    project = str(plan.config["gcp:project"])
    index = plan.by_urn()
    gcp: list[dict[str, Any]] = []
    kubernetes: list[dict[str, Any]] = []
    providers: dict[str, str] = {}
    manual: list[ManualImport] = []
    identifiers: dict[str, str] = {}
    for resource in plan.resources:
        if only is not None and resource.urn not in only:
            continue
        if not resource.custom:
            gcp.append(_entry(resource, names, component=True, remote=False))
        elif resource.type.startswith("gcp:") and (
            ident := gcp_id(resource.type, resource.inputs, project)
        ):
            gcp.append(_entry(resource, names, id=ident))
            identifiers[resource.urn] = ident
        elif resource.type.startswith("kubernetes:") and (ident := kubernetes_id(resource.inputs)):
            provider_name = index[resource.provider_urn].name
            providers[provider_name] = resource.provider_urn
            kubernetes.append(_entry(resource, names, id=ident, provider=provider_name))
            identifiers[resource.urn] = ident
        elif step := _manual_step(resource, plan.stack, project):
            manual.append(step)
            identifiers[resource.urn] = step.identifier
        elif not resource.type.startswith(("pulumi:providers:", "tls:", *ADOPTED_AS_IS)):
            raise ValueError(f"{resource.type} {resource.name}: no way to adopt it is known")
    # Phase 2 refers to what phase 1 (components) and the targeted update (providers) put in
    # the state by URN.
    by_name = {names[r.urn]: r.urn for r in plan.resources}
    parents = {e["parent"]: by_name[e["parent"]] for e in kubernetes if "parent" in e}
    return ImportDocuments(
        gcp={"resources": gcp},
        kubernetes={"nameTable": {**providers, **parents}, "resources": kubernetes},
        manual=manual,
        provider_urns=sorted(providers.values()),
        identifiers=identifiers,
    )


def write(documents: ImportDocuments, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        out_dir / "import-gcp.json",
        out_dir / "import-kubernetes.json",
        out_dir / "manual.txt",
    ]
    paths[0].write_text(json.dumps(documents.gcp, indent=2) + "\n")
    paths[1].write_text(json.dumps(documents.kubernetes, indent=2) + "\n")
    paths[2].write_text("".join(f"{step.command}\n" for step in documents.manual))
    return paths


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--after-destroy",
        action="store_true",
        help="adopt only what `pulumi destroy` leaves behind (retained entries), before an `up` "
        "in the same project",
    )
    args = parser.parse_args(argv)
    plan = plan_stack(args.stack)
    documents = build(plan, retained_after_destroy(plan) if args.after_destroy else None)
    if replaced := unexpected(plan, documents):
        # A rebuild that replaces something (a rotated secret, a new cluster) is not a recovery.
        print(
            f"The first `pulumi up` after these imports would replace {len(replaced)}:",
            file=sys.stderr,
        )
        index = plan.by_urn()
        for urn, why in replaced.items():
            print(f"  {index[urn].type} {index[urn].name}: {why}", file=sys.stderr)
        return 1
    default_out = REPO_ROOT / "build" / args.stack / ("after-destroy" if args.after_destroy else "")
    paths = write(documents, args.out or default_out)
    print(f"{len(documents.gcp['resources'])} entries (components + GCP) -> {paths[0]}")
    print(f"{len(documents.kubernetes['resources'])} Kubernetes objects -> {paths[1]}")
    print(f"{len(documents.manual)} resources need a manual step -> {paths[2]}")
    print("Modelled first preview after the imports (offline/import_plan.py): nothing replaced.")
    if args.after_destroy:
        print(
            "\nThen (docs/disaster-recovery.md, 'Destroy and re-create a stack'):\n"
            f"  pulumi import -s {args.stack} --file {paths[0]} --generate-code=false\n"
            f"  bash {paths[2]}\n"
            f"  pulumi up -s {args.stack}"
        )
        return 0
    targets = " ".join(f"--target '{urn}'" for urn in documents.provider_urns)
    print(
        "\nThen (docs/disaster-recovery.md, 'Pulumi state lost'):\n"
        f"  pulumi import -s {args.stack} --file {paths[0]} --generate-code=false\n"
        f"  pulumi up -s {args.stack} {targets}\n"
        f"  pulumi import -s {args.stack} --file {paths[1]} --generate-code=false"
    )
    return 0


if __name__ == "__main__":
    finish(main())
