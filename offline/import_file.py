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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.cli import guarded
from offline.engine import REPO_ROOT, Plan, Registration, plan_stack
from offline.resource_ids import gcp_id, kubernetes_id


def _secret_id(resource: Registration) -> str:
    """Secrets names its RandomPassword and SecretVersion after the entry id they belong to."""
    return resource.name


def _import_command(resource: Registration, stack: str, project: str, identifier: str) -> str:
    return (
        f"pulumi import -s {stack} {resource.type} {resource.name} {identifier} "
        f"--parent 'parent={resource.parent}' --generate-code=false"
    )


# Ids chosen at create time: a lost state cannot name them, the cloud can.
def _manual_step(resource: Registration, stack: str, project: str) -> str | None:
    secret = _secret_id(resource)
    if resource.type == "random:index/randomPassword:RandomPassword":
        # Adopting the value keeps the credential; a new random value would rotate it unasked.
        value = f'"$(gcloud secrets versions access latest --secret {secret} --project {project})"'
        return _import_command(resource, stack, project, value)
    if resource.type == "gcp:secretmanager/secretVersion:SecretVersion":
        latest = (
            f"$(gcloud secrets versions list {secret} --project {project} --limit 1 "
            "--format='value(name)')"
        )
        ident = f'"projects/{project}/secrets/{secret}/versions/{latest}"'
        return _import_command(resource, stack, project, ident)
    return None


@dataclass
class ImportDocuments:
    gcp: dict[str, Any]
    kubernetes: dict[str, Any]
    manual: list[str] = field(default_factory=list)
    provider_urns: list[str] = field(default_factory=list)


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


def build(plan: Plan) -> ImportDocuments:
    names = _import_names(plan)
    project = str(plan.config["gcp:project"])
    index = plan.by_urn()
    gcp: list[dict[str, Any]] = []
    kubernetes: list[dict[str, Any]] = []
    providers: dict[str, str] = {}
    manual: list[str] = []
    for resource in plan.resources:
        if not resource.custom:
            gcp.append(_entry(resource, names, component=True, remote=False))
        elif resource.type.startswith("gcp:") and (
            ident := gcp_id(resource.type, resource.inputs, project)
        ):
            gcp.append(_entry(resource, names, id=ident))
        elif resource.type.startswith("kubernetes:") and (ident := kubernetes_id(resource.inputs)):
            provider_name = index[resource.provider_urn].name
            providers[provider_name] = resource.provider_urn
            kubernetes.append(_entry(resource, names, id=ident, provider=provider_name))
        elif step := _manual_step(resource, plan.stack, project):
            manual.append(step)
        # A service identity is get-or-create on the API side: `pulumi up` adopts it as is.
        elif not resource.type.startswith(
            ("pulumi:providers:", "tls:", "gcp:projects/serviceIdentity:")
        ):
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
    paths[2].write_text("\n".join(documents.manual) + "\n")
    return paths


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    documents = build(plan_stack(args.stack))
    paths = write(documents, args.out or REPO_ROOT / "build" / args.stack)
    print(f"{len(documents.gcp['resources'])} entries (components + GCP) -> {paths[0]}")
    print(f"{len(documents.kubernetes['resources'])} Kubernetes objects -> {paths[1]}")
    print(f"{len(documents.manual)} resources need a manual step -> {paths[2]}")
    targets = " ".join(f"--target '{urn}'" for urn in documents.provider_urns)
    print(
        "\nThen (docs/disaster-recovery.md, 'Pulumi state lost'):\n"
        f"  pulumi import -s {args.stack} --file {paths[0]} --generate-code=false\n"
        f"  pulumi up -s {args.stack} {targets}\n"
        f"  pulumi import -s {args.stack} --file {paths[1]} --generate-code=false"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
