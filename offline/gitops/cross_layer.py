"""Checks that the GitOps tree agrees with what the program creates: the variables it
substitutes, the stores and entries it reads, the meshes its policies name, what its
Kustomizations wait for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from components.flux import PLATFORM_VARS
from offline.gitops.documents import Doc, api_group, ident, meta, namespace_of
from offline.gitops.facts import StackFacts
from offline.gitops.mesh import check_mesh_first
from offline.gitops.render import ROOT_KUSTOMIZATION, ClusterRender, flux_kustomizations
from offline.kuma_rules import is_kuma_policy


def check_variables(referenced: Iterable[str], platform_vars: Mapping[str, str]) -> list[str]:
    """Every `${VAR}` names a key Pulumi writes to this cluster's platform-vars."""
    return [
        f"${{{name}}} is not a key of this cluster's {PLATFORM_VARS} ({', '.join(platform_vars)})"
        for name in sorted(set(referenced) - set(platform_vars))
    ]


def remote_keys(doc: Mapping[str, Any]) -> Iterator[str]:
    spec = doc.get("spec") or {}
    for item in spec.get("data") or []:
        yield str((item.get("remoteRef") or {}).get("key"))
    for item in spec.get("dataFrom") or []:
        if item.get("extract"):
            yield str(item["extract"].get("key"))
        if item.get("find"):
            yield f"<find {item['find']}>"  # not checkable offline: reported as unknown


def check_external_secrets(docs: Sequence[Doc], facts: StackFacts, cluster: str) -> list[str]:
    """ExternalSecrets read through the program's SecretStore of their own namespace on this
    cluster, and only entries that namespace may read (its `readers` in the stack config)."""
    problems: list[str] = []
    for doc in (d for d in docs if d.get("kind") == "ExternalSecret"):
        namespace = namespace_of(doc)
        store = (doc.get("spec") or {}).get("secretStoreRef") or {}
        if (
            store.get("kind") != "SecretStore"
            or (cluster, namespace, store.get("name")) not in facts.secret_stores
        ):
            problems.append(
                f"{ident(doc)}: secretStoreRef {store} is not a SecretStore the program creates "
                f"in namespace {namespace!r} on this cluster"
            )
        readable = facts.readable_by.get(namespace, frozenset())
        for key in remote_keys(doc):
            if key not in facts.secret_ids:
                problems.append(f"{ident(doc)}: {key!r} is no Secret Manager entry of the stack")
            elif key not in readable:
                problems.append(
                    f"{ident(doc)}: {key!r} is not readable by namespace {namespace!r} "
                    "(platform:secrets[].readers)"
                )
    return problems


def check_mesh_membership(
    docs: Sequence[Doc], mesh_names: Iterable[str], kuma_namespace: str
) -> list[str]:
    """Every Kuma policy carries `kuma.io/mesh: <a Mesh the program creates>` and lives in the
    Kuma system namespace; a cluster-scoped MeshGateway names such a Mesh in `mesh`."""
    meshes = set(mesh_names)
    problems: list[str] = []
    for doc in filter(is_kuma_policy, docs):
        if "mesh" in doc:  # a cluster-scoped legacy kind (MeshGateway): the mesh is a field
            if doc["mesh"] not in meshes:
                problems.append(f"{ident(doc)}: mesh {doc['mesh']!r} names no Mesh of the program")
            if namespace_of(doc):
                problems.append(f"{ident(doc)}: cluster-scoped, but has a namespace")
            continue
        mesh = (meta(doc).get("labels") or {}).get("kuma.io/mesh")
        if mesh not in meshes:
            problems.append(f"{ident(doc)}: kuma.io/mesh {mesh!r} names no Mesh of the program")
        if namespace_of(doc) != kuma_namespace:
            problems.append(
                f"{ident(doc)}: namespace {namespace_of(doc)!r} is not {kuma_namespace!r}"
            )
    return problems


def check_depends_on(docs: Sequence[Doc]) -> list[str]:
    """Every `dependsOn` of a Flux Kustomization names one the cluster gets (Flux would wait
    forever otherwise)."""
    known = {str(meta(d).get("name")) for d in flux_kustomizations(docs)} | {ROOT_KUSTOMIZATION}
    return [
        f"{ident(ks)}: dependsOn {dep.get('name')!r} is no Flux Kustomization of this cluster"
        for ks in flux_kustomizations(docs)
        for dep in (ks.get("spec") or {}).get("dependsOn") or []
        if dep.get("name") not in known
    ]


def check_health_checks(docs: Sequence[Doc], facts: StackFacts, cluster: str) -> list[str]:
    """Every health-check target exists: an object of the render, a SecretStore of the program
    on this cluster, this cluster's Kuma control-plane Deployment, or the program's Mesh."""
    rendered = {(str(d.get("kind")), namespace_of(d), str(meta(d).get("name"))) for d in docs}
    program = {("SecretStore", ns, name) for c, ns, name in facts.secret_stores if c == cluster}
    program |= {
        ("Deployment", ns, name) for c, ns, name in facts.kuma_control_planes if c == cluster
    }
    # The Mesh: created by the program on the global, synced by KDS to every zone under its name.
    program |= {("Mesh", "", name) for name in facts.mesh_names}
    return [
        f"{ident(ks)}: health check {check.get('kind')}/"
        f"{check.get('namespace') + '/' if check.get('namespace') else ''}{check.get('name')}"
        " is neither rendered nor created by the program on this cluster"
        for ks in flux_kustomizations(docs)
        for check in (ks.get("spec") or {}).get("healthChecks") or []
        if (str(check.get("kind")), str(check.get("namespace") or ""), str(check.get("name")))
        not in rendered | program
    ]


ESO_GROUP = "external-secrets.io"


def _eso_kinds_waited_for(ks: Mapping[str, Any], output: Sequence[Doc]) -> set[tuple[str, str]]:
    """(apiVersion, kind) of the ESO objects Flux checks the health of for `ks`: its healthChecks,
    and with `wait: true` every object it applies."""
    spec = ks.get("spec") or {}
    checked = [dict(c) for c in spec.get("healthChecks") or []]
    if spec.get("wait") is True:
        checked += output
    return {
        (str(c.get("apiVersion")), str(c.get("kind")))
        for c in checked
        if api_group(c.get("apiVersion")) == ESO_GROUP
    }


def check_eso_health_exprs(render: ClusterRender) -> list[str]:
    """kstatus ignores ESO's Ready condition: every ESO kind a Flux Kustomization waits for has a
    healthCheckExprs entry with `current` and `failed` expressions."""
    outputs = {out.kustomization: out.docs for out in render.outputs}
    problems: list[str] = []
    for ks in flux_kustomizations(render.docs):
        spec = ks.get("spec") or {}
        exprs = {
            (str(e.get("apiVersion")), str(e.get("kind")))
            for e in spec.get("healthCheckExprs") or []
            if e.get("current") and e.get("failed")
        }
        output = outputs.get(str(meta(ks).get("name")), ())
        for api_version, kind in sorted(_eso_kinds_waited_for(ks, output) - exprs):
            problems.append(
                f"{ident(ks)}: waits for {api_version} {kind} without a healthCheckExprs entry"
                " (current and failed): kstatus would only check that it exists"
            )
    return problems


def cross_layer_problems(render: ClusterRender, facts: StackFacts) -> list[str]:
    vars_ = render.cluster.platform_vars
    return [
        *check_variables(render.referenced_vars, vars_),
        *check_external_secrets(render.docs, facts, render.cluster.name),
        *check_mesh_membership(render.docs, facts.mesh_names, vars_.get("KUMA_NAMESPACE", "")),
        *check_depends_on(render.docs),
        *check_health_checks(render.docs, facts, render.cluster.name),
        *check_eso_health_exprs(render),
        *check_mesh_first(render),
    ]
