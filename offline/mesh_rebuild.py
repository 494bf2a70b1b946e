"""The "global control plane rebuilt" drill: what a zone keeps when it reconnects to a rebuilt
global, from the offline plan and the GitOps render.

Kuma's zone side of KDS (kumahq/kuma v2.13.10), modelled here:
- on connect, the global sends a response for every resource type, empty or not
  (pkg/kds/v2/client/kds_client.go: "When client first connects, the server sends empty
  DeltaDiscoveryResponse for every resource type"); the first one of a type on a stream is the
  initial request (pkg/kds/v2/client/stream.go `Receive`: `isInitialRequest`);
- on an initial request the zone lists every resource of the type in its store and deletes each
  one the upstream lacks, creates what it lacks, updates what differs
  (pkg/kds/v2/store/sync.go `Sync`: "on the first request ... we want to make stores synced");
  for a type zones may also create, its locally created resources are filtered out first
  (`ZoneSyncCallback` PrefilterBy `IsLocallyOriginated`): the model holds global-originated
  resources only, so that filter is the identity here.

Kuma itself creates global-originated resources too: with every Mesh, the global control plane
creates the Secret `dataplane-token-signing-key-<mesh>-1`, a new random RSA key
(pkg/defaults/mesh/mesh.go `EnsureDefaultMeshResources`; pkg/core/tokens/signing_key.go
`NewSigningKey`, `SigningKeyResourceKey` with `DefaultKeyID` "1"; a mesh Secret, so KDS syncs it to
the zones). A rebuilt global makes a new one, so every zone gets that Secret updated: data plane
tokens signed with the old key stop validating. On Kubernetes data planes authenticate with
their service account token, not a data plane token (docs/disaster-recovery.md).

A zone reconnects when it can reach the global's zone-sync Service. The chart's Service exists
with the global release unless `controlPlane.globalZoneSyncService.enabled` is false; the
program's (components/kuma/zone_sync.py) is applied by flux-operator from the ResourceSet once the
ResourceSet exists (after everything it depends on in the plan) and each of its `dependsOn` holds
(flux-operator v0.58.1 internal/controller/resourceset_controller.go `checkDependencies`): a Flux
Kustomization `ready` when everything it applied is (its output in the render), any other object
when it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.kuma.settings import KUMA_NAMESPACE, MESH_SECRET_TYPE
from components.kuma.zone_sync import ZONE_SYNC_GATE
from components.naming import cluster_of_provider
from offline import import_file, import_plan
from offline.engine import Plan, Registration
from offline.gitops.documents import Doc, meta
from offline.gitops.render import ClusterRender

KUMA_API = "kuma.io/v1alpha1"
RESOURCE_SET = "kubernetes:fluxcd.controlplane.io/v1:ResourceSet"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")


@dataclass(frozen=True, order=True)
class Key:
    """A resource as KDS names it on the zone: its type and name (one mesh)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Synced:
    """A global-originated resource and where it comes from on the global."""

    key: Key
    # "program <urn>", "flux <kustomization>" or "eso <ExternalSecret urn>".
    source: str
    content: str  # what KDS compares (spec, labels; a Secret's data)


def _content(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def is_synced(doc: Mapping[str, Any]) -> bool:
    """What KDS sends from the global to the zones: the Mesh, every kuma.io policy of it, and the
    mesh's Kuma Secrets (type system.kuma.io/secret in the Kuma system namespace)."""
    if doc.get("apiVersion") == KUMA_API:
        return True
    return (
        doc.get("kind") == "Secret"
        and doc.get("type") == MESH_SECRET_TYPE
        and meta(doc).get("namespace") == KUMA_NAMESPACE
    )


def key_of(doc: Mapping[str, Any]) -> Key:
    return Key(str(doc.get("kind")), str(meta(doc).get("name")))


def _kds_content(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k in ("spec", "stringData", "data", "type")}
    return _content({"labels": meta(doc).get("labels") or {}, **body})


# -- what the global holds --------------------------------------------------------------------


def _on_cluster(plan: Plan, cluster: str) -> list[Registration]:
    return [
        r
        for r in plan.resources
        if r.provider_urn and cluster_of_provider(r.provider_urn.rsplit("::", 1)[-1]) == cluster
    ]


def program_synced(plan: Plan, cluster: str) -> dict[Key, Synced]:
    """What the program itself creates on the global that KDS syncs."""
    return {
        key_of(r.inputs): Synced(key_of(r.inputs), f"program {r.urn}", _kds_content(r.inputs))
        for r in _on_cluster(plan, cluster)
        if is_synced(r.inputs)
    }


def eso_synced(plan: Plan, cluster: str) -> dict[Key, Synced]:
    """The Kuma Secrets External Secrets writes on the global (an ExternalSecret in the Kuma
    system namespace whose target is a Kuma Secret)."""
    found: dict[Key, Synced] = {}
    for r in _on_cluster(plan, cluster):
        if r.type != EXTERNAL_SECRET or r.get("metadata.namespace") != KUMA_NAMESPACE:
            continue
        target = r.inputs["spec"]["target"]
        if (target.get("template") or {}).get("type") != MESH_SECRET_TYPE:
            continue
        key = Key("Secret", str(target.get("name") or r.get("metadata.name")))
        found[key] = Synced(key, f"eso {r.urn}", _content(r.inputs["spec"]))
    return found


def flux_synced(render: ClusterRender) -> dict[Key, Synced]:
    """What Flux applies on the global that KDS syncs, by the Kustomization that applies it."""
    return {
        key_of(doc): Synced(key_of(doc), f"flux {out.kustomization}", _kds_content(doc))
        for out in render.outputs
        for doc in out.docs
        if is_synced(doc)
    }


KUMA_CREATED = "kuma "
# pkg/core/resources/apis/system/constants.go DataplaneTokenSigningKeyPrefix + mesh, then
# SigningKeyResourceKey appends "-" + DefaultKeyID.
SIGNING_KEY_ID = "1"


def signing_key(mesh: str) -> Key:
    return Key("Secret", f"dataplane-token-signing-key-{mesh}-{SIGNING_KEY_ID}")


def kuma_synced(meshes: Iterable[Key]) -> dict[Key, Synced]:
    """What the global control plane creates itself for each Mesh: a fresh signing key, whose
    content only that control plane knows (a rebuilt one makes another)."""
    return {
        signing_key(mesh.name): Synced(
            signing_key(mesh.name), f"{KUMA_CREATED}{mesh}", f"random key of the global ({mesh})"
        )
        for mesh in meshes
        if mesh.kind == "Mesh"
    }


def is_kuma_created(item: Synced) -> bool:
    return item.source.startswith(KUMA_CREATED)


def global_holds(plan: Plan, render: ClusterRender) -> dict[Key, Synced]:
    """Everything global-originated in steady state: what the zones hold after a full sync."""
    cluster = render.cluster.name
    applied = {
        **flux_synced(render),
        **eso_synced(plan, cluster),
        **program_synced(plan, cluster),
    }
    return {**applied, **kuma_synced(applied)}


# -- when zones can reconnect -----------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """When the zone-sync Service exists on a rebuilt global, and what the global holds then."""

    opens_with: str
    # Steady-state resources certain to be on the global by then.
    holds: frozenset[Key]
    reasons: Mapping[Key, str] = field(default_factory=dict)


def global_release(plan: Plan, cluster: str) -> Registration:
    (release,) = [
        r
        for r in _on_cluster(plan, cluster)
        if r.type == HELM_RELEASE and r.get("values.controlPlane.mode") == "global"
    ]
    return release


def chart_service_enabled(release: Registration) -> bool:
    """The chart renders its zone-sync Service unless told not to (values.yaml default: true)."""
    service = release.get("values.controlPlane.globalZoneSyncService") or {}
    return bool(service.get("enabled", True))


def zone_sync_gate(plan: Plan, cluster: str) -> Registration | None:
    gates = [
        r
        for r in _on_cluster(plan, cluster)
        if r.type == RESOURCE_SET and r.get("metadata.name") == ZONE_SYNC_GATE
    ]
    return gates[0] if gates else None


def zone_sync_services(plan: Plan, cluster: str) -> list[Doc]:
    """The zone-sync Service(s) the program hands flux-operator (the gate's resources)."""
    gate = zone_sync_gate(plan, cluster)
    if gate is None:
        return []
    resources: Sequence[Doc] = gate.get("spec.resources") or []
    return [doc for doc in resources if doc.get("kind") == "Service"]


def _waited_for(plan: Plan, resource: Registration, steady: Mapping[Key, Synced]) -> set[Key]:
    """The program's synced resources that `resource` waits for in the plan's graph."""
    index = plan.by_urn()
    return {
        key
        for key, item in steady.items()
        if item.source.startswith("program ")
        and plan.depends_on(resource, index[item.source.removeprefix("program ")])
    }


def gate(plan: Plan, render: ClusterRender) -> Gate:
    cluster = render.cluster.name
    steady = global_holds(plan, render)
    release = global_release(plan, cluster)
    if chart_service_enabled(release):
        return Gate(
            f"the chart's zone-sync Service, with {release.name}",
            frozenset(_waited_for(plan, release, steady)),
        )
    resource_set = zone_sync_gate(plan, cluster)
    if resource_set is None:
        return Gate("never: no zone-sync Service", frozenset(steady))
    holds = _waited_for(plan, resource_set, steady)
    reasons = {key: f"the plan: {resource_set.name} waits for it" for key in holds}
    for dep in resource_set.get("spec.dependsOn") or []:
        if (dep.get("apiVersion"), dep.get("kind")) == FLUX_KUSTOMIZATION and dep.get("ready"):
            applied = {k for k, item in steady.items() if item.source == f"flux {dep.get('name')}"}
            holds |= applied
            reasons |= {k: f"dependsOn Kustomization {dep.get('name')} ready" for k in applied}
        else:
            key = Key(str(dep.get("kind")), str(dep.get("name")))
            if key in steady:
                holds.add(key)
                reasons[key] = f"dependsOn {key} (exists)"
    for key, item in steady.items():
        mesh = item.source.removeprefix(KUMA_CREATED)
        if is_kuma_created(item) and mesh in {str(k) for k in holds}:
            holds.add(key)
            reasons[key] = f"created by the global control plane with {mesh}"
    return Gate(f"ResourceSet {resource_set.name}", frozenset(holds), reasons)


# -- the zone's side --------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    deleted: tuple[Key, ...]
    created: tuple[Key, ...]
    updated: tuple[Key, ...]


def initial_sync(
    downstream: Mapping[Key, str], upstream: Mapping[Key, str], kinds: Iterable[str]
) -> SyncResult:
    """sync.go `Sync` on an initial request, type by type: delete what the upstream lacks,
    create what the downstream lacks, update what differs."""
    deleted: list[Key] = []
    created: list[Key] = []
    updated: list[Key] = []
    for kind in sorted(set(kinds)):
        down = {k: v for k, v in downstream.items() if k.kind == kind}
        up = {k: v for k, v in upstream.items() if k.kind == kind}
        deleted += sorted(k for k in down if k not in up)
        created += sorted(k for k in up if k not in down)
        updated += sorted(k for k in up if k in down and up[k] != down[k])
    return SyncResult(tuple(deleted), tuple(created), tuple(updated))


@dataclass(frozen=True)
class Drill:
    steps: list[str]
    result: SyncResult
    zone_before: Mapping[Key, Synced]
    zone_after: frozenset[Key]


def rebuild_drill(
    plan: Plan, render: ClusterRender, changed: Mapping[Key, str] | None = None
) -> Drill:
    """The global cluster is rebuilt (`pulumi up` after "A cluster is lost"); every zone held the
    steady state. `changed` gives the new content of resources a rebuild regenerates (none when
    the state is kept)."""
    steady = global_holds(plan, render)
    opened = gate(plan, render)
    regenerated = {
        **{k: "new key of the rebuilt global" for k, i in steady.items() if is_kuma_created(i)},
        **(changed or {}),
    }
    upstream = {
        key: regenerated.get(key, item.content)
        for key, item in steady.items()
        if key in opened.holds
    }
    downstream = {key: item.content for key, item in steady.items()}
    result = initial_sync(downstream, upstream, {k.kind for k in steady})
    steps = [
        f"1. every zone holds {len(steady)} global-originated resources "
        f"({', '.join(sorted({k.kind for k in steady}))})",
        f"2. the global cluster is rebuilt empty; zones reach it through {opened.opens_with}",
        f"3. when zones can connect, the global holds {len(opened.holds)} of them",
        *(f"   - {key}: {opened.reasons.get(key, 'waited for')}" for key in sorted(opened.holds)),
        "4. each zone's initial sync (sync.go): "
        f"deleted {[str(k) for k in result.deleted]}, updated {[str(k) for k in result.updated]}",
    ]
    after = (set(downstream) - set(result.deleted)) | set(result.created)
    return Drill(steps, result, steady, frozenset(after))


def regenerated_after_state_loss(plan: Plan, cluster: str) -> dict[Key, str]:
    """The program's synced resources whose content would differ on a global rebuilt from a
    state restored per the state-lost runbook (`make import-file`, offline/import_plan.py): those
    with an input fed by a resource the recovery creates anew (pulumi-tls cannot be imported) or
    replaces. Key -> the resource it comes from."""
    documents = import_file.build(plan)
    new = import_plan.created(plan, documents) | set(import_plan.replacements(plan, documents))
    index = plan.by_urn()
    changed: dict[Key, str] = {}
    for key, item in program_synced(plan, cluster).items():
        resource = index[item.source.removeprefix("program ")]
        for prop, sources in resource.property_dependencies.items():
            if prop in ("metadata", "apiVersion", "kind"):
                continue
            fed = sorted(u for u in sources if u in new)
            if fed:
                changed[key] = index[fed[0]].name
    return changed
