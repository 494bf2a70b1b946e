"""Platform pods cannot be starved by applications: a Pulumi-owned PriorityClass above every
application class, on every cluster, named by every pod the program installs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.facts import (
    HIGHEST_USER_DEFINABLE_PRIORITY,
    PLATFORM_PRIORITY_CLASS,
)
from components.flux import FLUX_COMPONENTS, UNPRIORITISED_FLUX_COMPONENTS
from offline.engine import Plan, Registration
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import pod_template, workloads
from tests.support import STACKS, plan_of
from tests.test_bootstrap import CHART_OF, RELEASE, cluster_of

PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
# Where each chart takes the priority class of each Deployment it renders (chart templates:
# kuma v2.13.10 cp-/ingress-/egress-deployment.yaml, external-secrets helm-chart-2.9.0
# deployment.yaml / webhook-deployment.yaml / cert-controller-deployment.yaml, flux-operator
# templates/deployment.yaml).
POD_SECTIONS: dict[str, tuple[str, ...]] = {
    "kuma": ("controlPlane", "ingress", "egress"),
    "external-secrets": ("", "webhook", "certController"),
    "flux-operator": ("",),
}
# Flux 2.9 renders these with system-cluster-critical (flux-operator v0.58.1
# config/data/flux/v2.9.4/{source,kustomize,helm}-controller.yaml), which is higher already.
ALREADY_CRITICAL = frozenset({"source-controller", "kustomize-controller", "helm-controller"})


def _section(values: dict[str, Any], path: str) -> dict[str, Any] | None:
    return values if path == "" else values.get(path)


def _platform_classes(plan: Plan) -> dict[str, Registration]:
    classes = plan.of_type(PRIORITY_CLASS)
    by_cluster = {cluster_of(plan, c): c for c in classes}
    assert len(by_cluster) == len(classes), "two PriorityClasses on one cluster"
    return by_cluster


def _app_classes(stack: str) -> dict[str, int]:
    return {
        str(doc["metadata"]["name"]): int(doc["value"])
        for render in gitops_facts.rendered_stack(stack)
        for doc in render.docs
        if doc.get("kind") == "PriorityClass"
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_has_the_platform_class(stack: str) -> None:
    plan = plan_of(stack)
    classes = _platform_classes(plan)
    assert set(classes) == {c["name"] for c in plan.config["platform:clusters"]}
    for pc in classes.values():
        assert pc.inputs["metadata"]["name"] == PLATFORM_PRIORITY_CLASS
        assert not PLATFORM_PRIORITY_CLASS.startswith("system-"), "reserved by Kubernetes"
        assert pc.inputs["value"] <= HIGHEST_USER_DEFINABLE_PRIORITY
        assert pc.inputs["globalDefault"] is False
        assert pc.inputs["preemptionPolicy"] == "PreemptLowerPriority"


@pytest.mark.parametrize("stack", STACKS)
def test_the_platform_class_is_above_every_application_class(stack: str) -> None:
    plan = plan_of(stack)
    apps = _app_classes(stack)
    assert apps, "the k8s tree defines the application classes"
    assert PLATFORM_PRIORITY_CLASS not in apps, "Flux must not own the platform class"
    for pc in _platform_classes(plan).values():
        below = {name: value for name, value in apps.items() if value >= pc.inputs["value"]}
        assert below == {}, f"application classes at or above {PLATFORM_PRIORITY_CLASS}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_application_runs_at_the_platform_priority(stack: str) -> None:
    for render in gitops_facts.rendered_stack(stack):
        for doc, _ in workloads(render.docs):
            pod = pod_template(doc) or {}
            name = pod.get("spec", {}).get("priorityClassName")
            assert name != PLATFORM_PRIORITY_CLASS, f"{render.cluster.name}: {doc['metadata']}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_installed_pod_runs_at_the_platform_priority(stack: str) -> None:
    plan = plan_of(stack)
    classes = _platform_classes(plan)
    releases = plan.of_type(RELEASE)
    assert {CHART_OF[r.inputs["chart"]] for r in releases} == set(POD_SECTIONS)
    for release in releases:
        values = release.inputs["values"]
        sections = [
            section
            for path in POD_SECTIONS[CHART_OF[release.inputs["chart"]]]
            if (section := _section(values, path)) is not None
        ]
        assert sections, release.name
        for section in sections:
            assert section["priorityClassName"] == PLATFORM_PRIORITY_CLASS, release.name
        # The API server refuses a pod naming a class that does not exist yet.
        assert plan.depends_on(release, classes[cluster_of(plan, release)]), release.name


@pytest.mark.parametrize("stack", STACKS)
def test_flux_controllers_without_a_class_get_the_platform_class(stack: str) -> None:
    plan = plan_of(stack)
    assert set(FLUX_COMPONENTS) - ALREADY_CRITICAL == set(UNPRIORITISED_FLUX_COMPONENTS)
    for instance in plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance"):
        patched = {
            p["target"]["name"]
            for p in instance.inputs["spec"]["kustomize"]["patches"]
            if p["target"]["kind"] == "Deployment"
            and json.loads(p["patch"])
            == [
                {
                    "op": "add",
                    "path": "/spec/template/spec/priorityClassName",
                    "value": PLATFORM_PRIORITY_CLASS,
                }
            ]
        }
        assert patched == set(UNPRIORITISED_FLUX_COMPONENTS), instance.name
