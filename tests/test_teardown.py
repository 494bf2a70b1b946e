"""`pulumi destroy` as the engine runs it (offline/teardown.py): a non-prod stack destroys
completely, in-cluster objects go with their cluster, prod refuses, and no finalizer wedges a
namespace (issue 11 item 4)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from components.facts import Stage
from offline import teardown
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
