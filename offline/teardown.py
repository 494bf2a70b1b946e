"""`pulumi destroy` of a stack, modelled on its plan the way the engine runs it.

The engine (pulumi/pulumi pkg/resource/deploy):
- schedules deletes in antichains, a resource only after everything that depends on it: its
  dependencies, property dependencies, provider, parent and deletedWith target, where a
  dependency on a component stands for the component and every descendant registered before the
  dependent (step_generator.go `ScheduleDeletes` over pkg/resource/graph/dependency_graph.go
  `DependenciesOf`);
- refuses to delete a protected resource, in preview too (step.go `DeleteStep.Apply`,
  `deleteProtectedError`);
- calls no provider Delete for a resource with retainOnDelete (left where it is) or whose
  deletedWith target is deleted in the same operation (`isDeletedWith`): it goes with its target.

Kubernetes adds one thing the engine does not see: a Namespace is gone only when every object in
it is, and an object carrying a controller's finalizer is gone only while that controller runs.
Deleting a namespace that still holds such an object after its controller was uninstalled waits
forever (the "terminating namespace" wedge).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from enum import StrEnum

from components.versions import FLUX_OPERATOR_CHART_OCI
from offline.engine import STACK_TYPE, Plan, Registration

NAMESPACE = "kubernetes:core/v1:Namespace"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class Finalizer:
    kind: str
    name: str
    controller_chart: str  # the `chart` of the Helm release that runs the controller
    source: str


# Objects Pulumi creates that their controller gives a finalizer.
FINALIZERS = (
    Finalizer(
        kind="FluxInstance",
        name="fluxcd.controlplane.io/finalizer",
        controller_chart=FLUX_OPERATOR_CHART_OCI,
        source="controlplaneio-fluxcd/flux-operator docs/api/v1/fluxinstance.md (status example)",
    ),
    Finalizer(
        kind="ResourceSet",
        name="fluxcd.controlplane.io/finalizer",
        controller_chart=FLUX_OPERATOR_CHART_OCI,
        source="controlplaneio-fluxcd/flux-operator v0.58.1 internal/controller/"
        "resourceset_controller.go (adds fluxcdv1.Finalizer before reconciling)",
    ),
)


class Action(StrEnum):
    DELETE = "delete"
    DELETED_WITH = "deleted with its target"
    RETAINED = "retained (left in place)"
    REFUSED = "refused: protected"


@dataclass(frozen=True)
class Step:
    resource: Registration
    action: Action
    wave: int


@dataclass
class Destroy:
    steps: list[Step]
    wedges: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[Registration]:
        return [s.resource for s in self.steps if s.action is Action.REFUSED]

    @property
    def left_behind(self) -> list[Registration]:
        """Retained resources that outlive the destroy (in-cluster ones only if their cluster
        does)."""
        return [s.resource for s in self.steps if s.action is Action.RETAINED]

    @property
    def completes(self) -> bool:
        return not self.refused and not self.wedges

    def provider_deletes(self) -> list[Registration]:
        return [s.resource for s in self.steps if s.action is Action.DELETE and s.resource.custom]


def delete_dependencies(resource: Registration) -> set[str]:
    """The resource's own edges (`State.GetAllDependencies` plus its provider)."""
    edges = set(resource.dependencies)
    for urns in resource.property_dependencies.values():
        edges.update(urns)
    edges.update({resource.provider_urn, resource.parent, resource.deleted_with})
    edges.discard("")
    return edges


def dependencies_of(order: list[Registration]) -> dict[str, set[str]]:
    """URN -> what it depends on, as pulumi's `DependencyGraph.DependenciesOf` computes it over
    the state's topological order (pkg/resource/graph/dependency_graph.go): the resource's own
    edges, and for an edge to a component (not custom) also that component's transitive
    children that come before the resource in the order (later ones would make cycles). The
    Python SDK already expands a dependency on a *local* component to its children
    (pulumi/runtime/rpc.py `_add_dependency`); a remote (multi-language) component reaches the
    state as itself, and only this expansion orders its children."""
    position = {r.urn: i for i, r in enumerate(order)}
    descendants: dict[str, list[str]] = {}
    for resource in order:
        ancestor = resource.parent
        while ancestor in position:
            descendants.setdefault(ancestor, []).append(resource.urn)
            ancestor = order[position[ancestor]].parent
    found: dict[str, set[str]] = {}
    for resource in order:
        cursor = position[resource.urn]
        edges = {urn for urn in delete_dependencies(resource) if position.get(urn, cursor) < cursor}
        for urn in list(edges):
            if not order[position[urn]].custom:
                edges.update(c for c in descendants.get(urn, []) if position[c] < cursor)
        found[resource.urn] = edges
    return found


def state_order(registrations: list[Registration]) -> list[Registration]:
    """The registrations in an order the state could hold them: every resource after its own
    edges (the engine writes a snapshot in that topological order, dependency_graph.go
    `NewDependencyGraph`). The plan is sorted by URN for reproducibility; among the resources
    ready at each point the earliest in that order comes first."""
    index = {r.urn: i for i, r in enumerate(registrations)}
    waiting = {r.urn: delete_dependencies(r) & index.keys() for r in registrations}
    dependents: dict[str, list[str]] = {}
    for urn, edges in waiting.items():
        for edge in edges:
            dependents.setdefault(edge, []).append(urn)
    ready = [index[urn] for urn, edges in waiting.items() if not edges]
    heapq.heapify(ready)
    order: list[Registration] = []
    while ready:
        resource = registrations[heapq.heappop(ready)]
        order.append(resource)
        for urn in dependents.get(resource.urn, []):
            waiting[urn].discard(resource.urn)
            if not waiting[urn]:
                heapq.heappush(ready, index[urn])
    if len(order) < len(registrations):
        stuck = sorted(index.keys() - {r.urn for r in order})
        raise ValueError(f"dependency cycle among {stuck}")
    return order


def _waves(condemned: list[Registration], order: list[Registration]) -> list[list[Registration]]:
    """ScheduleDeletes: peel off resources with no condemned dependency (they go last), then
    reverse, so a resource is deleted only after everything that depends on it."""
    remaining = {r.urn: r for r in condemned}
    graph = dependencies_of(order)
    deps = {r.urn: graph[r.urn] & remaining.keys() for r in condemned}
    waves: list[list[Registration]] = []
    while remaining:
        wave = [r for urn, r in remaining.items() if not (deps[urn] & remaining.keys())]
        if not wave:
            raise ValueError(f"dependency cycle among {sorted(remaining)}")
        for r in wave:
            del remaining[r.urn]
        waves.append(wave)
    return waves[::-1]


def _action(resource: Registration, deleting: set[str]) -> Action:
    if resource.protect:
        return Action.REFUSED
    if resource.retain_on_delete:
        return Action.RETAINED
    if resource.deleted_with and resource.deleted_with in deleting:
        return Action.DELETED_WITH
    return Action.DELETE


def _finalizer_of(resource: Registration) -> Finalizer | None:
    """Custom resources register as `kubernetes:<group>/<version>:<Kind>`."""
    kind = resource.type.rsplit(":", 1)[-1] if resource.type.startswith("kubernetes:") else None
    return next((f for f in FINALIZERS if f.kind == kind), None)


def _namespace_of(resource: Registration) -> str | None:
    name = resource.get("metadata.namespace")
    return name if isinstance(name, str) else None


def _controller_release(plan: Plan, finalizer: Finalizer, object_: Registration) -> str | None:
    """The Helm release of the finalizer's controller on the object's cluster."""
    for release in plan.of_type(HELM_RELEASE):
        if release.get("chart") == finalizer.controller_chart and (
            release.provider_urn == object_.provider_urn
        ):
            return release.urn
    return None


def _wedges(plan: Plan, steps: list[Step]) -> list[str]:
    """Namespaces whose deletion waits forever on an object whose finalizer's controller is
    uninstalled before the object is deleted."""
    when = {s.resource.urn: s for s in steps}
    found: list[str] = []
    for step in steps:
        finalizer = _finalizer_of(step.resource)
        namespace = _namespace_of(step.resource)
        if finalizer is None or namespace is None:
            continue
        controller = _controller_release(plan, finalizer, step.resource)
        controller_step = when.get(controller or "")
        removed_first = step.action is Action.DELETE and (
            controller_step is None or step.wave < controller_step.wave
        )
        if removed_first:
            continue
        for ns_step in steps:
            ns = ns_step.resource
            if (
                ns.type == NAMESPACE
                and ns.provider_urn == step.resource.provider_urn
                and ns.get("metadata.name") == namespace
                and ns_step.action is Action.DELETE
            ):
                found.append(
                    f"namespace {namespace} ({ns.name}) never finishes terminating: "
                    f"{step.resource.inputs.get('kind')} {step.resource.name} keeps its finalizer "
                    f"{finalizer.name} after {finalizer.controller_chart} is uninstalled "
                    f"({step.action.value})"
                )
    return found


def destroy(plan: Plan) -> Destroy:
    condemned = [r for r in plan.registrations if r.type != STACK_TYPE]
    deleting = {r.urn for r in condemned}
    steps = [
        Step(resource, _action(resource, deleting), wave)
        for wave, resources in enumerate(_waves(condemned, state_order(plan.registrations)))
        for resource in resources
    ]
    return Destroy(steps=steps, wedges=_wedges(plan, steps))


def render(result: Destroy) -> list[str]:
    counts = {action: 0 for action in Action}
    for step in result.steps:
        counts[step.action] += 1
    lines = [
        f"pulumi destroy: {len(result.steps)} resources in "
        f"{max((s.wave for s in result.steps), default=-1) + 1} waves; "
        + ", ".join(f"{n} {action.value}" for action, n in counts.items() if n)
    ]
    lines += [f"  refused (protected): {r.urn}" for r in result.refused]
    lines += [f"  wedged: {w}" for w in result.wedges]
    lines += [f"  left behind: {r.type} {r.name}" for r in result.left_behind]
    return lines


def lost_with(plan: Plan, cluster: Registration) -> list[Registration]:
    """What a lost cluster takes with it, and so what the recovery's `pulumi up` recreates
    (after the refresh with PULUMI_K8S_DELETE_UNREACHABLE dropped it from the state): the
    cluster and everything created `deletedWith` it, node pools and in-cluster objects (and their
    components). Everything else, in the project or in other clusters, is untouched."""
    return [r for r in plan.registrations if cluster.urn in (r.urn, r.deleted_with)]
