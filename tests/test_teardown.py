"""`pulumi destroy` as the engine runs it (offline/teardown.py): a non-prod stack destroys
completely, in-cluster objects go with their cluster, prod refuses, and no finalizer wedges a
namespace."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from components.facts import Stage
from offline import estimate, import_file, import_plan, teardown
from offline.engine import Plan, Registration, _inherit_from_parent
from tests.support import STACKS, plan_of

CLUSTER = "gcp:container/cluster:Cluster"
NON_PROD = [s for s in STACKS if plan_of(s).config["platform:stage"] != Stage.PROD.value]
PROD = [s for s in STACKS if s not in NON_PROD]


def replaced(plan: Plan, change: Any) -> Plan:
    """The plan with `change(registration)` applied to every registration."""
    return dataclasses.replace(plan, registrations=[change(r) for r in plan.registrations])


def cluster_of(plan: Plan, resource: Registration) -> Registration:
    """The GKE cluster whose Kubernetes provider `resource` is created with."""
    provider = plan.by_urn()[resource.provider_urn]
    gke = plan.by_urn()[provider.parent]
    return next(r for r in plan.children(gke) if r.type == CLUSTER)


@pytest.mark.parametrize("stack", NON_PROD)
def test_a_non_prod_stack_destroys_completely(stack: str) -> None:
    result = teardown.destroy(plan_of(stack))
    assert result.completes, "\n".join(teardown.render(result))
    # Only Secret Manager entries outlive it: their values cannot be recreated.
    assert {r.type for r in result.left_behind} <= {
        "gcp:secretmanager/secret:Secret",
        "gcp:secretmanager/secretVersion:SecretVersion",
    }


@pytest.mark.parametrize("stack", PROD)
def test_prod_refuses_destroy_on_its_stateful_resources(stack: str) -> None:
    result = teardown.destroy(plan_of(stack))
    refused = {r.type for r in result.refused}
    assert not result.completes
    assert {CLUSTER, "gcp:secretmanager/secret:Secret"} <= refused
    assert any(t.endswith(":FluxInstance") for t in refused)


@pytest.mark.parametrize("stack", STACKS)
def test_in_cluster_objects_are_deleted_with_their_cluster(stack: str) -> None:
    plan = plan_of(stack)
    in_cluster = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.provider_urn]
    assert in_cluster
    assert [r.name for r in in_cluster if r.deleted_with != cluster_of(plan, r).urn] == []
    result = teardown.destroy(plan)
    # A destroy calls no Kubernetes API at all: the cluster goes, and everything in it.
    assert not [r for r in result.provider_deletes() if r.type.startswith("kubernetes:")]


@pytest.mark.parametrize("stack", STACKS)
def test_node_pools_are_deleted_with_their_cluster(stack: str) -> None:
    plan = plan_of(stack)
    pools = plan.of_type("gcp:container/nodePool:NodePool")
    assert pools and all(plan.by_urn()[p.deleted_with].type == CLUSTER for p in pools)


def test_deletion_order_puts_dependents_first() -> None:
    steps = teardown.destroy(plan_of("staging")).steps
    wave = {s.resource.urn: s.wave for s in steps}
    for step in steps:
        for dependency in teardown.delete_dependencies(step.resource) & wave.keys():
            assert wave[dependency] > step.wave, (step.resource.name, dependency)


def test_a_retained_flux_instance_outside_its_cluster_deletion_wedges_flux_system() -> None:
    """The defect the drill exists for: FluxInstance kept (retain or protect) while its
    operator and namespace are deleted one by one."""

    def one_by_one_and_retained(r: Registration) -> Registration:
        retain = r.retain_on_delete or r.type.endswith(":FluxInstance")
        return dataclasses.replace(r, deleted_with="", retain_on_delete=retain)

    result = teardown.destroy(replaced(plan_of("staging"), one_by_one_and_retained))
    assert result.wedges and all("flux-system" in w for w in result.wedges)
    assert not result.completes


def test_deleted_one_by_one_the_flux_instance_goes_before_its_operator() -> None:
    def one_by_one(r: Registration) -> Registration:
        return dataclasses.replace(r, deleted_with="")

    result = teardown.destroy(replaced(plan_of("staging"), one_by_one))
    assert result.wedges == []
    assert any(r.type.startswith("kubernetes:") for r in result.provider_deletes())


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        # The three cases of pulumi/pulumi source_eval_test.go TestResourceInheritsOptionsFromParent
        ("parent-deleted-with", "", "parent-deleted-with"),
        ("parent-deleted-with", "own", "own"),
        ("", "own", "own"),
    ],
)
def test_the_harness_inherits_deleted_with_like_the_engine(
    parent: str, child: str, expected: str
) -> None:
    request = SimpleNamespace(deletedWith=child, HasField=lambda field: False)
    parent_goal = _inherit_from_parent(
        SimpleNamespace(deletedWith=parent, HasField=lambda field: False), None
    )
    assert _inherit_from_parent(request, parent_goal).deleted_with == expected


def test_the_harness_inherits_retain_on_delete_only_when_unset() -> None:
    retained = SimpleNamespace(
        deletedWith="", retainOnDelete=True, protect=False, HasField=lambda field: True
    )
    parent = _inherit_from_parent(retained, None)
    unset = SimpleNamespace(deletedWith="", HasField=lambda field: False)
    explicit = SimpleNamespace(
        deletedWith="", retainOnDelete=False, protect=False, HasField=lambda field: True
    )
    assert _inherit_from_parent(unset, parent).retain_on_delete is True
    assert _inherit_from_parent(explicit, parent).retain_on_delete is False


@pytest.mark.parametrize("stack", NON_PROD)
def test_up_after_destroy_adopts_what_was_retained_and_nothing_else(stack: str) -> None:
    """`make import-file STACK=<s> AFTER_DESTROY=1`: every resource the destroy left behind is
    imported (an `up` would otherwise fail on it with 409 AlreadyExists), each generated value is
    adopted by value from its retained version (no rotation), nothing the destroy deleted is in
    the documents (`pulumi import` fails on a resource that does not exist), and the modelled
    first preview after the import replaces nothing."""
    plan = plan_of(stack)
    left = teardown.destroy(plan).left_behind
    documents = import_file.build(plan, import_file.retained_after_destroy(plan))
    imported = set(documents.identifiers)
    assert left and {r.urn for r in left} <= imported
    deleted = {s.resource.urn for s in teardown.destroy(plan).steps} - {r.urn for r in left}
    custom_deleted = {u for u in deleted if plan.by_urn()[u].custom}
    assert imported & custom_deleted == {
        r.urn
        for r in plan.of_type(import_file.RANDOM_PASSWORD)
        if r.name in {v.name for v in left if v.type == import_file.SECRET_VERSION}
    }
    generated = [s for s in documents.manual if s.resource.type == import_file.RANDOM_PASSWORD]
    assert generated and all("versions access latest" in s.identifier for s in generated)
    assert documents.kubernetes["resources"] == []
    assert import_plan.unexpected(plan, documents) == {}


@pytest.mark.parametrize("stack", STACKS)
def test_only_in_cluster_objects_and_node_pools_go_with_a_cluster(stack: str) -> None:
    """deletedWith skips the provider's Delete: a GCP resource that inherited it from an
    in-cluster component would be leaked by a destroy."""
    plan = plan_of(stack)
    index = plan.by_urn()
    with_cluster = [r for r in plan.resources if r.custom and r.deleted_with]
    assert with_cluster
    for resource in with_cluster:
        assert index[resource.deleted_with].type == CLUSTER
        assert resource.type.startswith("kubernetes:") or resource.type.endswith(":NodePool"), (
            resource.type
        )


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_providers_are_replaced_only_with_their_cluster(stack: str) -> None:
    plan = plan_of(stack)
    providers = plan.of_type("pulumi:providers:kubernetes")
    assert providers
    for provider in providers:
        endpoint = plan.stack_outputs["clusters"][provider.name.removesuffix("-k8s")]
        assert provider.inputs["clusterIdentifier"] == endpoint
        assert endpoint in provider.inputs["kubeconfig"]


def _registration(
    name: str, *, custom: bool = True, parent: str = "", deps: tuple[str, ...] = ()
) -> Registration:
    kind = "test:index:Custom" if custom else "test:index:Component"
    return Registration(
        urn=f"urn:pulumi:s::p::{kind}::{name}", type=kind, name=name, custom=custom,
        parent=parent, inputs={}, secret_paths=[], dependencies=list(deps),
        property_dependencies={}, provider="", protect=False, retain_on_delete=False,
        delete_before_replace=False, ignore_changes=[], replace_on_changes=[],
        additional_secret_outputs=[], deleted_with="", import_id="", version="",
    )  # fmt: skip


def _remote_component_state() -> tuple[Plan, dict[str, Registration]]:
    """A dependency on a component as the state holds it for a remote (multi-language)
    component: the component's URN, not its children (pulumi/runtime/rpc.py `_add_dependency`
    expands only local components). `before` is its child registered before the dependent,
    `after` one registered after it that depends on the dependent."""
    component = _registration("component", custom=False)
    before = _registration("before", parent=component.urn)
    grandchild = _registration("grandchild", parent=before.urn)
    dependent = _registration("dependent", deps=(component.urn,))
    after = _registration("after", parent=component.urn, deps=(dependent.urn,))
    resources = [component, before, grandchild, dependent, after]
    return Plan("s", "p", {}, resources, {}), {r.name: r for r in resources}


def test_a_dependency_on_a_component_orders_its_earlier_descendants_like_dependencies_of() -> None:
    """pulumi/pulumi pkg/resource/graph/dependency_graph.go `DependenciesOf`: an edge to a
    component includes its transitive children that precede the dependent in the state, so the
    dependent is deleted before them; a child registered after it is not included (it would be
    a cycle: `after` depends on `dependent`)."""
    plan, by_name = _remote_component_state()
    graph = teardown.dependencies_of(plan.registrations)
    assert graph[by_name["dependent"].urn] == {
        by_name[n].urn for n in ("component", "before", "grandchild")
    }
    wave = {s.resource.name: s.wave for s in teardown.destroy(plan).steps}
    assert wave["dependent"] < wave["grandchild"] < wave["before"] < wave["component"]
    assert wave["after"] < wave["dependent"]


def test_the_real_plans_hold_no_edge_to_a_component_beyond_parents() -> None:
    """Why the expansion changes nothing today: the Python SDK sends a local component's
    children instead of the component (pulumi/runtime/rpc.py `_add_dependency`)."""
    for stack in STACKS:
        plan = plan_of(stack)
        index = plan.by_urn()
        to_components = [
            (r.name, urn)
            for r in plan.registrations
            for urn in teardown.delete_dependencies(r) - {r.parent}
            if urn in index and not index[urn].custom
        ]
        assert to_components == [], stack


# -- the cluster-lost drill (docs/disaster-recovery.md, "A cluster is lost") --------------------


@pytest.mark.parametrize("stack", STACKS)
def test_a_lost_cluster_takes_only_itself_its_pools_and_its_objects(stack: str) -> None:
    """Per cluster: what the recovery recreates is the cluster, its node pools and what runs in
    it; no Secret Manager entry, no reserved address, no network and nothing of another cluster
    (those survive, so ESO re-reads the same values and zones reconnect to the same address).
    Recreating it is estimated no slower than a first install of the whole stack."""
    plan = plan_of(stack)
    whole = estimate.critical_path(plan).total_seconds
    for cluster in plan.of_type(CLUSTER):
        lost = teardown.lost_with(plan, cluster)
        custom = [r for r in lost if r.custom]
        assert {r.type for r in custom if not r.type.startswith("kubernetes:")} == {
            CLUSTER,
            "gcp:container/nodePool:NodePool",
        }, cluster.name
        in_cluster = [r for r in custom if r.type.startswith("kubernetes:")]
        assert in_cluster and all(cluster_of(plan, r).urn == cluster.urn for r in in_cluster)
        others = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.provider_urn]
        assert {r.urn for r in others if cluster_of(plan, r).urn == cluster.urn} == {
            r.urn for r in in_cluster
        }
        rebuild = estimate.critical_path(dataclasses.replace(plan, registrations=lost))
        assert 0 < rebuild.total_seconds <= whole, cluster.name
