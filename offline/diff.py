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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.cli import EXIT_BAD_INPUT, finish, guarded
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
    "gcp:secretmanager/secretVersion:SecretVersion": ("secret", "secretData", "isSecretDataBase64"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId", "role", "member"),
    "gcp:projects/service:Service": ("service", "project"),
    # terraform-provider-random resource_password.go: every generator setting RequiresReplace.
    "random:index/randomPassword:RandomPassword": (
        "length", "special", "upper", "lower", "number", "numeric", "minSpecial", "minUpper",
        "minLower", "minNumeric", "overrideSpecial", "keepers",
    ),
    # pulumi-kubernetes provider/pkg/provider/helm_release.go Diff: forceNewFields.
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
# pulumi-kubernetes provider/pkg/provider/diff.go forceNewProperties: a Secret's or ConfigMap's
# content is replaced, not patched, unless the provider sets enableSecretMutable /
# enableConfigMapMutable (ours does not).
KUBERNETES_FORCE_NEW: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Secret": ("type", "stringData", "data"),
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
}
# Destroying one of these loses something a new one does not bring back: a cluster and what runs
# in it, a secret value (a replaced RandomPassword is a rotated credential), a reserved address
# clients dial, a key, the Mesh and its policies, Flux's sync, a namespace and all it holds.
STATEFUL_TYPES = frozenset(
    {
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
        "gcp:secretmanager/secret:Secret",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "gcp:compute/address:Address",
        "gcp:kms/keyRing:KeyRing",
        "gcp:kms/cryptoKey:CryptoKey",
        "random:index/randomPassword:RandomPassword",
        "kubernetes:core/v1:Namespace",
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


def _prefixes(resource: Registration) -> tuple[str, ...]:
    prefixes = REPLACING_INPUTS.get(resource.type, ())
    if resource.type.startswith("kubernetes:") and resource.type != "kubernetes:helm.sh/v3:Release":
        prefixes = (*KUBERNETES_IDENTITY, *KUBERNETES_FORCE_NEW.get(resource.type, ()))
    return (*prefixes, *resource.replace_on_changes)


def replacing_inputs(resource: Registration, changed: list[str]) -> list[str]:
    prefixes = _prefixes(resource)
    return [p for p in changed if _matches(p, prefixes)]


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _fed_replacing_input(resource: Registration, replaced: Mapping[str, Any]) -> str | None:
    """A top-level input that forces replacement (or holds one that does) and takes a value from
    a replaced resource: unknown during preview, so the provider plans a replacement. Not an
    input in `ignore_changes`: the engine resets it to the old state's value before the diff,
    unknown or not (pulumi/pulumi pkg/resource/deploy/step_generator.go `processIgnoreChanges`)."""
    prefixes = _prefixes(resource)
    for key, sources in sorted(resource.property_dependencies.items()):
        if key in resource.ignore_changes:
            continue
        feeding = [u for u in sources if u in replaced]
        if feeding and any(_top(p) == key for p in prefixes):
            return feeding[0]
    return None


def _only_fed(change: Change, replaced: Mapping[str, Any]) -> bool:
    """Every input that forces this replacement comes from another replaced resource: it goes
    with that one rather than being a cause of its own."""
    deps = change.resource.property_dependencies
    return all(set(deps.get(_top(p), ())) & replaced.keys() for p in change.replacing)


def cascade(
    resources: Mapping[str, Registration], direct: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """Everything replaced along with `direct` (URN -> why): URN -> (why, the replaced URN that
    brings it along, "" for those in `direct`).

    The engine's rules (pulumi/pulumi pkg/resource/deploy/step_generator.go `diff`): a resource
    whose provider reference changes is replaced when the new provider's DiffConfig says so
    (ReplaceKeys ["provider"]), and a resource `deletedWith` a replaced one is replaced. A
    replaced provider gets a new id, so its reference changes; pulumi-kubernetes DiffConfig
    (provider/pkg/provider/provider.go) replaces the provider when `kubeconfig` is unknown, which
    it is in preview once the cluster it comes from is replaced. Any other input that forces
    replacement and is fed by a replaced resource's output is likewise unknown in preview.
    """
    result = {urn: (why, "") for urn, why in direct.items()}
    grew = True
    while grew:
        grew = False
        for resource in resources.values():
            if resource.urn in result or not resource.custom:
                continue
            cause, why = None, ""
            if resource.provider_urn in result:
                cause = resource.provider_urn
                why = f"its provider {resources[cause].name} is replaced"
            elif resource.deleted_with in result:
                cause = resource.deleted_with
                why = f"deleted with {resources[cause].name}, which is replaced"
            elif source := _fed_replacing_input(resource, result):
                cause = source
                why = f"an input that forces replacement comes from {resources[cause].name}"
            if cause is not None:
                result[resource.urn] = (why, cause)
                grew = True
    return result


def _goes_with(
    resources: Mapping[str, Registration], root: str, candidates: set[str]
) -> list[Registration]:
    """Removed resources that need `root` (through their provider, deletedWith or a
    dependency), transitively: they are destroyed with it."""
    taken: list[Registration] = []
    frontier = {root}
    while frontier:
        found = [
            r
            for urn, r in resources.items()
            if urn in candidates
            and r not in taken
            and frontier & {r.provider_urn, r.deleted_with, *r.dependencies}
        ]
        taken += found
        frontier = {r.urn for r in found}
    return taken


def is_critical(resource: Registration) -> bool:
    """Destroying it loses state, is blocked by protection, or leaves it behind (retained)."""
    return resource.protect or resource.retain_on_delete or resource.type in STATEFUL_TYPES


@dataclass
class Change:
    resource: Registration
    changed: list[str] = field(default_factory=list)
    replacing: list[str] = field(default_factory=list)
    reason: str = ""
    via: str = ""  # the replaced URN that brings this one along ("" when it is a cause)

    @property
    def critical(self) -> bool:
        return is_critical(self.resource)


@dataclass(frozen=True)
class Loss:
    """A delete or replace of a critical resource, and everything destroyed with it."""

    operation: str  # "replace" or "delete"
    resource: Registration
    why: str
    taken: list[Registration]


@dataclass
class StackDiff:
    stack: str
    added: list[Registration]
    removed: list[Registration]
    updated: list[Change]
    replaced: list[Change]
    base_note: str | None = None
    removed_with: dict[str, list[Registration]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.updated or self.replaced)

    def _anchors(self) -> dict[str, str]:
        """URN -> the nearest critical replaced resource it goes with ("" if none): up its `via`
        chain, or, for a cause of its own, what it is deployed into or fed by (a node pool whose
        location moves goes with its cluster, which moves too)."""
        by_urn = {c.resource.urn: c for c in self.replaced}

        def parent(change: Change) -> str:
            if change.via:
                return change.via
            r = change.resource
            feeding = sorted({u for urns in r.property_dependencies.values() for u in urns})
            linked = [r.provider_urn, r.deleted_with, *feeding]
            return next((u for u in linked if u in by_urn and u != r.urn), "")

        anchors: dict[str, str] = {}
        for urn, change in by_urn.items():
            up = parent(change)
            while up and not by_urn[up].critical:
                up = parent(by_urn[up])
            anchors[urn] = up
        return anchors

    @property
    def losses(self) -> list[Loss]:
        anchors = self._anchors()
        replaced = [
            Loss(
                "replace",
                c.resource,
                ", ".join(c.replacing) or c.reason,
                [d.resource for d in self.replaced if anchors[d.resource.urn] == c.resource.urn],
            )
            for c in self.replaced
            if c.critical and not anchors[c.resource.urn]
        ]
        taken = {r.urn for urns in self.removed_with.values() for r in urns}
        deleted = [
            Loss("delete", r, "removed from the program", self.removed_with.get(r.urn, []))
            for r in self.removed
            if is_critical(r) and r.urn not in taken
        ]
        return replaced + deleted


def compare(base: Plan, head: Plan) -> StackDiff:
    old = {r.urn: r for r in base.registrations if r.type != STACK_TYPE}
    new = {r.urn: r for r in head.registrations if r.type != STACK_TYPE}
    updated: dict[str, Change] = {}
    direct: dict[str, Change] = {}
    for urn in sorted(old.keys() & new.keys()):
        changed = changed_inputs(old[urn], new[urn])
        if not changed:
            continue
        replacing = replacing_inputs(new[urn], changed)
        change = Change(new[urn], changed, replacing)
        if replacing:
            change.reason = "inputs that force replacement changed"
            direct[urn] = change
        else:
            updated[urn] = change
    causes = {u: c.reason for u, c in direct.items() if not _only_fed(c, direct)}
    replaced: dict[str, Change] = {}
    for urn, (why, via) in (
        {u: (c.reason, "") for u, c in direct.items()} | cascade(new, causes)
    ).items():
        before = direct.get(urn) or updated.get(urn) or Change(new[urn])
        replaced[urn] = Change(
            new[urn], before.changed, before.replacing, why if via else before.reason, via
        )
    removed = {u: old[u] for u in old.keys() - new.keys()}
    removed_with = {
        urn: _goes_with(old, urn, set(removed) - {urn})
        for urn, r in removed.items()
        if is_critical(r)
    }
    return StackDiff(
        stack=head.stack,
        added=[new[u] for u in sorted(new.keys() - old.keys())],
        removed=[removed[u] for u in sorted(removed)],
        updated=[c for u, c in updated.items() if u not in replaced],
        replaced=sorted(replaced.values(), key=lambda c: (not c.critical, c.resource.urn)),
        removed_with={u: rs for u, rs in removed_with.items() if rs},
    )


def _label(r: Registration) -> str:
    flags = [f for f, on in (("protected", r.protect), ("retained", r.retain_on_delete)) if on]
    return f"{r.type} {r.name}" + (f" ({', '.join(flags)})" if flags else "")


def _consequence(loss: Loss) -> str:
    r = loss.resource
    if loss.operation == "delete" and r.retain_on_delete:
        return "left in the cloud unmanaged (retainOnDelete)"
    if r.protect:
        return "`pulumi up` refuses until it is unprotected"
    return "destroyed"


def _taken_summary(taken: list[Registration]) -> str:
    return ", ".join(f"{r.type} {r.name}" for r in taken)


def render_text(diff: StackDiff, base_ref: str) -> str:
    lines: list[str] = []
    losses = diff.losses
    if losses:
        lines.append(
            f"!! {len(losses)} protected, retained or stateful resource(s) would be "
            "DELETED or REPLACED:"
        )
        for loss in losses:
            lines.append(
                f"!!   {loss.operation.upper()} {_label(loss.resource)}: {loss.why}; "
                f"{_consequence(loss)}"
            )
            if loss.taken:
                lines.append(
                    f"!!     takes with it ({len(loss.taken)}): {_taken_summary(loss.taken)}"
                )
        lines.append("")
    lines.append(f"Offline diff of stack {diff.stack} against {base_ref}:")
    if diff.base_note:
        lines.append(f"  ({diff.base_note})")
    sections: list[tuple[str, list[str]]] = [
        (
            "likely replaced",
            [f"{_label(c.resource)}: {', '.join(c.replacing) or c.reason}" for c in diff.replaced],
        ),
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


def _markdown_losses(losses: list[Loss]) -> list[str]:
    out = [
        "> [!CAUTION]",
        f"> **{len(losses)} protected, retained or stateful resource(s) would be deleted or "
        "replaced**, with everything listed under each:",
    ]
    for loss in losses:
        r = loss.resource
        out.append(
            f"> - **{loss.operation.upper()}** `{r.type}` **{r.name}**: {loss.why}; "
            f"{_consequence(loss)}"
        )
        out += [f">   - {loss.operation} `{t.type}` {t.name}" for t in loss.taken]
    return [*out, ""]


def render_markdown(diff: StackDiff, base_ref: str) -> str:
    losses = diff.losses
    out = _markdown_losses(losses) if losses else []
    out += [f"### Offline plan diff: `{diff.stack}` vs `{base_ref}`", ""]
    if diff.base_note:
        out += [f"_{diff.base_note}_", ""]
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


class BaseRefError(Exception):
    """BASE names no commit, or its revision cannot plan the stack."""


def resolve_ref(ref: str, repo: Path = REPO_ROOT) -> str:
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", "--end-of-options",
         f"{ref}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode != 0:
        raise BaseRefError(
            f"BASE={ref!r} is not a commit in this repository (git rev-parse found nothing); "
            "use a branch, tag or commit, e.g. BASE=origin/main (after `git fetch`)"
        )
    return found.stdout.strip()


@contextmanager
def detached_worktree(ref: str, repo: Path = REPO_ROOT) -> Iterator[Path]:
    """A temporary `git worktree add --detach` of `ref` (removed on exit)."""
    commit = resolve_ref(ref, repo)
    with tempfile.TemporaryDirectory(prefix="base-") as tmp:
        worktree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(worktree),
             commit],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield worktree
        finally:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)],
                check=False, capture_output=True,
            )  # fmt: skip


def plan_ref(stack: str, ref: str, repo: Path = REPO_ROOT) -> Plan | None:
    """Plan `stack` as of git `ref`, with that revision's own program and planner; None when the
    stack does not exist there yet (everything is then added)."""
    with detached_worktree(ref, repo) as worktree:
        if not (worktree / f"Pulumi.{stack}.yaml").is_file():
            return None
        out = worktree.parent / "out"
        planned = subprocess.run(
            [sys.executable, "-m", "offline.plan", stack, "--out", str(out), "--quiet"],
            cwd=worktree, check=False, capture_output=True, text=True,
        )  # fmt: skip
        plan_file = out / "plan.json"
        if not plan_file.is_file():
            detail = (planned.stderr.strip().splitlines() or ["no output"])[-1]
            raise BaseRefError(f"{ref} cannot plan stack {stack}: {detail}")
        return Plan.from_json(json.loads(plan_file.read_text()))


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--base", default="origin/main", help="git ref to compare against")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        base = plan_ref(args.stack, args.base)
    except BaseRefError as error:
        print(f"make diff: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    head = plan_stack(args.stack)
    if base is None:
        diff = compare(Plan(args.stack, head.project, {}, [], {}), head)
        diff.base_note = f"stack {args.stack} does not exist at {args.base}: everything is added"
    else:
        diff = compare(base, head)
    out_dir = args.out or REPO_ROOT / "build" / args.stack
    out_dir.mkdir(parents=True, exist_ok=True)
    text = render_text(diff, args.base)
    (out_dir / "diff.txt").write_text(text)
    (out_dir / "diff.md").write_text(render_markdown(diff, args.base))
    print(text, end="")
    print(f"\nWritten: {out_dir / 'diff.txt'}, {out_dir / 'diff.md'}")
    return 0


if __name__ == "__main__":
    finish(main())
