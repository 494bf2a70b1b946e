"""What Flux applies on one cluster: the root Kustomization's path, then every Flux
Kustomization's path found in the output, recursively, each with its own substitution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.flux import PLATFORM_VARS
from offline.engine import REPO_ROOT
from offline.gitops.documents import Doc, ident
from offline.gitops.kustomize import KUSTOMIZATION_FILE, RenderError, kustomize_build
from offline.gitops.substitution import substitute_docs

FLUX_SOURCE = {"kind": "GitRepository", "name": "flux-system"}


FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")


ROOT_KUSTOMIZATION = "flux-system"


@dataclass(frozen=True)
class Cluster:
    """One cluster of a stack: the path its FluxInstance syncs and the platform-vars the program
    writes on it (both read from the plan: what the program really gives Flux)."""

    stack: str
    name: str
    role: str
    platform_vars: Mapping[str, str]
    sync_path: str
    # What the program itself applies on the cluster, as manifests: its namespaces (the app
    # namespaces with their mesh and Pod Security labels are the program's, components/tenant.py)
    # NetworkPolicies and the baseline MeshTrafficPermission it creates with the Mesh.
    program_docs: tuple[Doc, ...] = ()
    # What flux-operator applies for the cluster's FluxInstance besides the controllers: its
    # NetworkPolicies in flux-system (offline/flux_operator.py).
    operator_docs: tuple[Doc, ...] = ()


@dataclass(frozen=True)
class Rendered:
    """The output of one Flux Kustomization (or of the root one) on one cluster."""

    kustomization: str
    path: str
    docs: tuple[Doc, ...]
    referenced_vars: frozenset[str]


@dataclass
class ClusterRender:
    cluster: Cluster
    outputs: list[Rendered] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def docs(self) -> list[Doc]:
        return [doc for out in self.outputs for doc in out.docs]

    @property
    def objects(self) -> list[Doc]:
        """Everything on the cluster: what the program applies, what flux-operator applies
        around Flux, then what Flux applies."""
        return [*self.cluster.program_docs, *self.cluster.operator_docs, *self.docs]

    @property
    def referenced_vars(self) -> frozenset[str]:
        return frozenset().union(*(out.referenced_vars for out in self.outputs))


def is_flux_kustomization(doc: Mapping[str, Any]) -> bool:
    return (doc.get("apiVersion"), doc.get("kind")) == FLUX_KUSTOMIZATION


def flux_kustomizations(docs: Iterable[Doc]) -> list[Doc]:
    return [d for d in docs if is_flux_kustomization(d)]


# The root Kustomization: the FluxInstance (components/flux.py) creates it, not the tree.


def _flux_variables(
    ks: Mapping[str, Any], platform_vars: Mapping[str, str]
) -> tuple[dict[str, str] | None, list[str]]:
    """The variables Flux substitutes in the output of Kustomization `ks` (None: no postBuild)."""
    post = (ks.get("spec") or {}).get("postBuild")
    if not post:
        return None, []
    variables: dict[str, str] = {}
    problems: list[str] = []
    for source in post.get("substituteFrom") or []:
        if (source.get("kind"), source.get("name")) == ("ConfigMap", PLATFORM_VARS):
            variables.update(platform_vars)
        else:
            problems.append(f"{ident(ks)}: substituteFrom {source} is not known offline")
    variables.update(post.get("substitute") or {})  # inline values take precedence
    return variables, problems


def flux_kustomization_problems(ks: Mapping[str, Any], repo: Path = REPO_ROOT) -> list[str]:
    """What a Flux Kustomization of this repository must have: prune, our source, a real path,
    and substitution from platform-vars (it is not inherited from the parent)."""
    spec = ks.get("spec") or {}
    who = ident(ks)
    problems: list[str] = []
    if spec.get("prune") is not True:
        problems.append(f"{who}: spec.prune must be true")
    ref = spec.get("sourceRef") or {}
    if {k: ref.get(k) for k in FLUX_SOURCE} != FLUX_SOURCE:
        problems.append(f"{who}: sourceRef must be GitRepository flux-system, got {ref}")
    path = str(spec.get("path") or "")
    if "${" in path or not path or not (repo / path).is_dir():
        problems.append(f"{who}: spec.path {path!r} is not a folder of this repository")
    elif not (repo / path / KUSTOMIZATION_FILE).is_file():
        problems.append(f"{who}: spec.path {path!r} has no {KUSTOMIZATION_FILE}")
    sources = (spec.get("postBuild") or {}).get("substituteFrom") or []
    if {"kind": "ConfigMap", "name": PLATFORM_VARS} not in [
        {"kind": s.get("kind"), "name": s.get("name")} for s in sources
    ]:
        problems.append(f"{who}: postBuild.substituteFrom must include ConfigMap {PLATFORM_VARS}")
    return problems


def render_cluster(cluster: Cluster, repo: Path = REPO_ROOT) -> ClusterRender:
    """Everything Flux applies on `cluster`: the root path, then every Flux Kustomization's path."""
    result = ClusterRender(cluster)
    queue: list[tuple[str, str, dict[str, str] | None]] = [
        ("flux-system", cluster.sync_path, dict(cluster.platform_vars))
    ]
    seen: set[str] = set()
    while queue:
        name, path, variables = queue.pop(0)
        try:
            raw = kustomize_build(path, repo)
        except RenderError as error:
            result.problems.append(f"Kustomization/{name}: {error}")
            continue
        docs, referenced, problems = substitute_docs(raw, variables)
        result.problems += problems
        result.outputs.append(Rendered(name, path, tuple(docs), referenced))
        for ks in filter(is_flux_kustomization, docs):
            problems = flux_kustomization_problems(ks, repo)
            result.problems += problems
            child = str(ks["spec"].get("path", "")).removeprefix("./").rstrip("/")
            if problems or child in seen:
                continue
            seen.add(child)
            child_vars, var_problems = _flux_variables(ks, cluster.platform_vars)
            result.problems += var_problems
            queue.append((ks["metadata"]["name"], child, child_vars))
    return result
