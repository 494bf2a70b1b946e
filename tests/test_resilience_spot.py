"""Spot capacity is for bursting only: spot pools are tainted, platform components never tolerate
the taint, and only autoscaled applications that opt in (k8s/apps/components/spot-burst) do."""

from __future__ import annotations

from typing import Any

import pytest

from components.facts import ESO_NAMESPACE, FLUX_NAMESPACE, SPOT_TAINT_KEY, SPOT_TAINT_VALUE
from components.kuma import KUMA_NAMESPACE
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import namespace_of, pod_template, workloads
from tests.support import STACKS, plan_of
from tests.test_bootstrap import RELEASE, walk

NODE_POOL = "gcp:container/nodePool:NodePool"
PLATFORM_NAMESPACES = frozenset({ESO_NAMESPACE, FLUX_NAMESPACE, KUMA_NAMESPACE, "kube-system"})


def _tolerates_spot(tolerations: Any) -> bool:
    return any(
        isinstance(t, dict)
        and t.get("key") in (SPOT_TAINT_KEY, None)
        and t.get("operator", "Equal") in ("Equal", "Exists")
        for t in tolerations or []
    )


def _prefers_standard_nodes(pod_spec: dict[str, Any]) -> bool:
    preferred = (
        pod_spec.get("affinity", {})
        .get("nodeAffinity", {})
        .get("preferredDuringSchedulingIgnoredDuringExecution", [])
    )
    return any(
        expr == {"key": SPOT_TAINT_KEY, "operator": "NotIn", "values": [SPOT_TAINT_VALUE]}
        for term in preferred
        for expr in term.get("preference", {}).get("matchExpressions", [])
    )


@pytest.mark.parametrize("stack", STACKS)
def test_spot_pools_are_tainted_and_standard_pools_are_not(stack: str) -> None:
    pools = plan_of(stack).of_type(NODE_POOL)
    assert any(p.inputs["nodeConfig"]["spot"] for p in pools), "each stack has a spot pool"
    for pool in pools:
        config = pool.inputs["nodeConfig"]
        expected = (
            [{"key": SPOT_TAINT_KEY, "value": SPOT_TAINT_VALUE, "effect": "NO_SCHEDULE"}]
            if config["spot"]
            else []
        )
        assert config.get("taints", []) == expected, pool.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_has_a_standard_pool_for_its_control_planes(stack: str) -> None:
    plan = plan_of(stack)
    for cluster in plan.config["platform:clusters"]:
        assert any(not pool.get("spot", False) for pool in cluster["nodePools"]), cluster["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_platform_component_tolerates_spot(stack: str) -> None:
    for release in plan_of(stack).of_type(RELEASE):
        tolerations = [
            value for path, value in walk(release.inputs["values"]) if ".tolerations" in path
        ]
        assert not any(value in (SPOT_TAINT_KEY, SPOT_TAINT_VALUE) for value in tolerations), (
            release.name
        )


@pytest.mark.parametrize("stack", STACKS)
def test_only_autoscaled_apps_tolerate_spot_and_they_prefer_standard_nodes(stack: str) -> None:
    bursting = 0
    for render in gitops_facts.rendered_stack(stack):
        autoscaled = {
            (namespace_of(doc), doc["spec"]["scaleTargetRef"]["name"])
            for doc in render.docs
            if doc.get("kind") == "HorizontalPodAutoscaler"
        }
        for doc, _ in workloads(render.docs):
            spec = (pod_template(doc) or {}).get("spec", {})
            if not _tolerates_spot(spec.get("tolerations")):
                continue
            where = f"{render.cluster.name}: {doc['kind']} {namespace_of(doc)}/{doc['metadata']}"
            assert namespace_of(doc) not in PLATFORM_NAMESPACES, where
            assert (namespace_of(doc), doc["metadata"]["name"]) in autoscaled, where
            assert _prefers_standard_nodes(spec), where
            bursting += 1
    # The decision is exercised: every stack has spot capacity and apps that may use it.
    assert bursting > 0
