"""What the Pulumi program creates that the GitOps tree must agree with, read from the offline
plan: the clusters (with the sync path and platform-vars the program gives Flux), the Secret
Manager entries and who may read them, the stores, the meshes, the Kuma control planes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from components.flux import PLATFORM_VARS
from components.naming import cluster_of_provider
from offline import flux_operator
from offline.engine import Plan, plan_stack
from offline.frozen import Frozen
from offline.gitops.documents import Doc
from offline.gitops.render import Cluster, ClusterRender, render_cluster
from offline.secret_access import SECRET_STORE, Resource, analyse

FLUX_INSTANCE_TYPE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance"


@dataclass(frozen=True)
class StackFacts:
    """What the Pulumi program creates that the GitOps tree must agree with."""

    stack: str
    clusters: tuple[Cluster, ...]
    secret_ids: frozenset[str]  # every Secret Manager entry of the stack
    mesh_names: frozenset[str]
    # (cluster, namespace, name) of each SecretStore the program creates.
    secret_stores: frozenset[tuple[str, str, str]]
    # Namespace -> the entries it can read (offline/secret_access.py).
    readable_by: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # (cluster, namespace, Deployment) of each Kuma control plane: Helm release `<r>` of chart
    # `kuma` runs the Deployment `<r>-control-plane` (the chart's naming).
    kuma_control_planes: frozenset[tuple[str, str, str]] = frozenset()


def _cluster_of(registration_provider: str) -> str:
    return cluster_of_provider(registration_provider.rsplit("::", 1)[-1])


def _readable_by(plan: Plan) -> dict[str, frozenset[str]]:
    access = analyse(Resource(r.type, r.inputs) for r in plan.registrations)
    return {ns: frozenset(entries) for ns, entries in access.namespaces.items()}


def _flux_instances(plan: Plan) -> dict[str, Mapping[str, Any]]:
    """Cluster -> its FluxInstance (inputs)."""
    return {_cluster_of(r.provider_urn): r.inputs for r in plan.of_type(FLUX_INSTANCE_TYPE)}


def _operator_docs(instance: Mapping[str, Any]) -> tuple[Doc, ...]:
    return flux_operator.network_policies(instance["metadata"]["namespace"], instance["spec"])


# The program's own objects that the tree's objects are judged with (namespaces, NetworkPolicies,
# the baseline MeshTrafficPermission it creates with the Mesh: components/kuma/multizone.py).
PROGRAM_DOC_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:kuma.io/v1alpha1:MeshTrafficPermission",
)


def program_docs(plan: Plan, cluster: str) -> tuple[Doc, ...]:
    """What the program itself applies on `cluster`, as the manifests the API server stores."""
    return tuple(
        {
            **copy.deepcopy(r.inputs),
            "apiVersion": r.inputs.get("apiVersion", "v1"),
            "kind": r.inputs.get("kind", r.type.rsplit(":", 1)[-1]),
        }
        for r in plan.resources
        if r.type in PROGRAM_DOC_TYPES and _cluster_of(r.provider_urn) == cluster
    )


def stack_facts_from_plan(plan: Plan) -> StackFacts:
    instances = _flux_instances(plan)
    clusters = tuple(
        Cluster(
            stack=plan.stack,
            name=_cluster_of(r.provider_urn),
            role=r.inputs["data"]["CLUSTER_ROLE"],
            platform_vars=dict(r.inputs["data"]),
            sync_path=str(instances[_cluster_of(r.provider_urn)]["spec"]["sync"]["path"]),
            program_docs=program_docs(plan, _cluster_of(r.provider_urn)),
            operator_docs=_operator_docs(instances[_cluster_of(r.provider_urn)]),
        )
        for r in plan.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs.get("metadata", {}).get("name") == PLATFORM_VARS
    )
    return StackFacts(
        stack=plan.stack,
        clusters=tuple(sorted(clusters, key=lambda c: (c.role, c.name))),
        secret_ids=frozenset(
            r.inputs["secretId"] for r in plan.of_type("gcp:secretmanager/secret:Secret")
        ),
        readable_by=_readable_by(plan),
        mesh_names=frozenset(
            r.inputs["metadata"]["name"] for r in plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
        ),
        secret_stores=frozenset(
            (
                _cluster_of(r.provider_urn),
                r.inputs["metadata"]["namespace"],
                r.inputs["metadata"]["name"],
            )
            for r in plan.of_type(SECRET_STORE)
        ),
        kuma_control_planes=frozenset(
            (
                _cluster_of(r.provider_urn),
                r.inputs["namespace"],
                f"{r.inputs['name']}-control-plane",
            )
            for r in plan.of_type("kubernetes:helm.sh/v3:Release")
            if r.inputs.get("chart") == "kuma"
        ),
    )


@cache
def stack_plan(stack: str) -> Plan:
    """plan_stack(stack): the plan of the stack file as it is, planned once per process and
    shared (tests/support.py's plan_of serves copies of it). Read it, never edit it: every
    caller in the process sees this object."""
    return plan_stack(stack)


@cache
def _stack_facts(stack: str) -> Frozen[StackFacts]:
    return Frozen(stack_facts_from_plan(stack_plan(stack)))


def stack_facts(stack: str) -> StackFacts:
    """The facts of `stack` from the offline plan (computed once per process; every call returns
    a deep copy, so a caller that edits it cannot change what the next one sees)."""
    return _stack_facts(stack).thaw()


@cache
def _rendered_stack(stack: str) -> Frozen[tuple[ClusterRender, ...]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return Frozen(tuple(pool.map(render_cluster, stack_facts(stack).clusters)))


def rendered_stack(stack: str) -> tuple[ClusterRender, ...]:
    """Every cluster of `stack`, rendered as Flux would (computed once per process, in parallel:
    each kustomize build is its own process). Every call returns a deep copy."""
    return _rendered_stack(stack).thaw()
