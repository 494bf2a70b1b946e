"""`make diff STACK=x BASE=<git ref>`: what a change does to a stack, without credentials.

Plans the working tree and BASE (checked out in a temporary git worktree and planned by its own
code), then reports resources added, removed, updated (which inputs) and likely replaced (inputs
that force replacement for that type). Replacements of protected or prod resources come first.
Writes build/<stack>/diff.txt and build/<stack>/diff.md (a PR comment).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.cli import guarded
from offline.engine import REPO_ROOT, STACK_TYPE, Plan, Registration, plan_stack

# Inputs whose change makes the provider replace the resource (ForceNew in the upstream
# schemas), by type. Prefix match on dotted paths: "ranges" covers "ranges.nodes".
REPLACING_INPUTS: dict[str, tuple[str, ...]] = {
    "gcp:compute/network:Network": ("name", "project", "autoCreateSubnetworks", "routingMode"),
    "gcp:compute/subnetwork:Subnetwork": ("name", "project", "region", "network"),
    "gcp:compute/firewall:Firewall": ("name", "project", "network", "direction"),
    "gcp:compute/router:Router": ("name", "project", "region", "network"),
    "gcp:compute/routerNat:RouterNat": ("name", "project", "region", "router"),
    "gcp:compute/address:Address": (
        "name", "project", "region", "address", "addressType", "subnetwork", "purpose",
    ),
    "gcp:container/cluster:Cluster": (
        "name", "project", "location", "network", "subnetwork", "networkingMode",
        "ipAllocationPolicy", "privateClusterConfig.enablePrivateNodes",
        "privateClusterConfig.masterIpv4CidrBlock", "datapathProvider",
    ),
    "gcp:container/nodePool:NodePool": (
        "name", "project", "location", "cluster", "nodeConfig.diskType", "nodeConfig.spot",
        "nodeConfig.serviceAccount", "nodeConfig.oauthScopes", "nodeConfig.imageType",
    ),
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:projects/iAMMember:IAMMember": ("project", "role", "member"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccountId", "role", "member"),
    "gcp:secretmanager/secret:Secret": ("secretId", "project", "replication"),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secret",),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId", "role", "member"),
    "gcp:projects/service:Service": ("service", "project"),
    "random:index/randomPassword:RandomPassword": ("length", "special", "overrideSpecial"),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    # pulumi-kubernetes DiffConfig replaces the provider when the kubeconfig's server changes;
    # ours holds nothing else that varies.
    "pulumi:providers:kubernetes": ("kubeconfig",),
    "tls:index/privateKey:PrivateKey": ("algorithm", "ecdsaCurve", "rsaBits"),
    "tls:index/selfSignedCert:SelfSignedCert": ("privateKeyPem", "subject", "isCaCertificate"),
    "tls:index/certRequest:CertRequest": ("privateKeyPem", "subject", "ipAddresses", "dnsNames"),
    "tls:index/locallySignedCert:LocallySignedCert": ("certRequestPem", "caCertPem"),
}  # fmt: skip
# Every Kubernetes object is replaced when its identity changes.
KUBERNETES_IDENTITY = ("apiVersion", "kind", "metadata.name", "metadata.namespace")
STATEFUL_TYPES = frozenset(
    {
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
        "gcp:secretmanager/secret:Secret",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "gcp:compute/address:Address",
        "kubernetes:fluxcd.controlplane.io/v1:FluxInstance",
        "kubernetes:kuma.io/v1alpha1:Mesh",
    }
)


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        return {
            k: v for key, item in value.items() for k, v in flatten(item, _join(path, key)).items()
        }
    if isinstance(value, list) and value:
        return {
            k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()
        }
    return {path: value}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def changed_inputs(old: Registration, new: Registration) -> list[str]:
    before, after = flatten(old.inputs), flatten(new.inputs)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _matches(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def replacing_inputs(resource: Registration, changed: list[str]) -> list[str]:
    prefixes = REPLACING_INPUTS.get(resource.type, ())
    if resource.type.startswith("kubernetes:") and resource.type != "kubernetes:helm.sh/v3:Release":
        prefixes = KUBERNETES_IDENTITY
    prefixes = (*prefixes, *resource.replace_on_changes)
    return [p for p in changed if _matches(p, prefixes)]


@dataclass
class Change:
    resource: Registration
    changed: list[str] = field(default_factory=list)
    replacing: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def critical(self) -> bool:
        """Replacing it loses state or is blocked by protection."""
        return self.resource.protect or self.resource.type in STATEFUL_TYPES


@dataclass
class StackDiff:
    stack: str
    added: list[Registration]
    removed: list[Registration]
    updated: list[Change]
    replaced: list[Change]
    base_error: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.updated or self.replaced)


def compare(base: Plan, head: Plan) -> StackDiff:
    old = {r.urn: r for r in base.registrations if r.type != STACK_TYPE}
    new = {r.urn: r for r in head.registrations if r.type != STACK_TYPE}
    updated: list[Change] = []
    replaced: dict[str, Change] = {}
    for urn in sorted(old.keys() & new.keys()):
        changed = changed_inputs(old[urn], new[urn])
        if not changed:
            continue
        replacing = replacing_inputs(new[urn], changed)
        change = Change(new[urn], changed, replacing)
        if replacing:
            change.reason = "inputs that force replacement changed"
            replaced[urn] = change
        else:
            updated.append(change)
    # A replaced Kubernetes provider (its cluster changed) replaces everything deployed with it.
    for urn in list(replaced):
        if new[urn].type == "pulumi:providers:kubernetes":
            for r in new.values():
                if r.provider_urn == urn and r.urn not in replaced:
                    replaced[r.urn] = Change(r, [], [], f"its provider {new[urn].name} is replaced")
    updated = [c for c in updated if c.resource.urn not in replaced]
    return StackDiff(
        stack=head.stack,
        added=[new[u] for u in sorted(new.keys() - old.keys())],
        removed=[old[u] for u in sorted(old.keys() - new.keys())],
        updated=updated,
        replaced=sorted(replaced.values(), key=lambda c: (not c.critical, c.resource.urn)),
    )


def _label(r: Registration) -> str:
    flags = " (protected)" if r.protect else ""
    return f"{r.type} {r.name}{flags}"


def _replaced_lines(diff: StackDiff) -> Iterator[str]:
    for change in diff.replaced:
        why = ", ".join(change.replacing) or change.reason
        marker = "!! " if change.critical else ""
        yield f"{marker}{_label(change.resource)}: {why}"


def render_text(diff: StackDiff, base_ref: str) -> str:
    lines = [f"Offline diff of stack {diff.stack} against {base_ref}:"]
    if diff.base_error:
        lines.append(
            f"  (base could not be planned: {diff.base_error}; all resources shown as added)"
        )
    critical = [c for c in diff.replaced if c.critical]
    if critical:
        lines.append(f"!! {len(critical)} protected or stateful resource(s) would be REPLACED:")
    sections: list[tuple[str, list[str]]] = [
        ("likely replaced", list(_replaced_lines(diff))),
        ("removed", [_label(r) for r in diff.removed]),
        ("added", [_label(r) for r in diff.added]),
        ("updated", [f"{_label(c.resource)}: {', '.join(c.changed)}" for c in diff.updated]),
    ]
    for title, items in sections:
        lines.append(f"{len(items)} {title}")
        lines += [f"  {item}" for item in items]
    if diff.empty:
        lines.append("No changes.")
    return "\n".join(lines) + "\n"


def render_markdown(diff: StackDiff, base_ref: str) -> str:
    out = [f"### Offline plan diff: `{diff.stack}` vs `{base_ref}`", ""]
    critical = [c for c in diff.replaced if c.critical]
    if critical:
        out += [
            f"> [!CAUTION]\n> {len(critical)} protected or stateful resource(s) would be replaced:"
        ]
        out += [
            f"> - `{c.resource.type}` **{c.resource.name}**: {', '.join(c.replacing) or c.reason}"
            for c in critical
        ]
        out.append("")
    counts = (len(diff.added), len(diff.updated), len(diff.replaced), len(diff.removed))
    out += [
        "| added | updated | replaced | removed |",
        "|---:|---:|---:|---:|",
        "| {} | {} | {} | {} |".format(*counts),
        "",
    ]
    rows = [("replace", c.resource, ", ".join(c.replacing) or c.reason) for c in diff.replaced]
    rows += [("delete", r, "") for r in diff.removed]
    rows += [("create", r, "") for r in diff.added]
    rows += [("update", c.resource, ", ".join(c.changed)) for c in diff.updated]
    if rows:
        out += [
            "<details><summary>Resources</summary>",
            "",
            "| op | type | name | inputs |",
            "|---|---|---|---|",
        ]
        out += [f"| {op} | `{r.type}` | {r.name} | {detail} |" for op, r, detail in rows]
        out += ["", "</details>"]
    else:
        out.append("No changes.")
    out += [
        "",
        "_Computed offline with the mock engine (no cloud credentials); "
        "`pulumi preview` is authoritative._",
    ]
    return "\n".join(out) + "\n"


def plan_ref(stack: str, ref: str, repo: Path = REPO_ROOT) -> Plan:
    """Plan `stack` as of git `ref`, with that revision's own program and planner."""
    with tempfile.TemporaryDirectory(prefix="plan-base-") as tmp:
        worktree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(worktree), ref],
            check=True,
        )
        try:
            out = Path(tmp) / "out"
            subprocess.run(
                [sys.executable, "-m", "offline.plan", stack, "--out", str(out), "--quiet"],
                cwd=worktree, check=False, capture_output=True, text=True,
            )  # fmt: skip
            plan_file = out / "plan.json"
            if not plan_file.is_file():
                raise FileNotFoundError(f"{ref} has no offline plan for stack {stack}")
            return Plan.from_json(json.loads(plan_file.read_text()))
        finally:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)],
                check=False,
            )


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--base", default="origin/main", help="git ref to compare against")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    head = plan_stack(args.stack)
    try:
        base = plan_ref(args.stack, args.base)
        diff = compare(base, head)
    except (FileNotFoundError, subprocess.CalledProcessError) as missing:
        empty = Plan(args.stack, head.project, {}, [], {})
        diff = compare(empty, head)
        diff.base_error = str(missing)
    out_dir = args.out or REPO_ROOT / "build" / args.stack
    out_dir.mkdir(parents=True, exist_ok=True)
    text = render_text(diff, args.base)
    (out_dir / "diff.txt").write_text(text)
    (out_dir / "diff.md").write_text(render_markdown(diff, args.base))
    print(text, end="")
    print(f"\nWritten: {out_dir / 'diff.txt'}, {out_dir / 'diff.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
