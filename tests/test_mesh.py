"""The mesh's smaller contracts, read from the rendered tree: idempotent-only
retries, a retry/timeout budget that ends before the app gives up, nothing joining the mesh before
it exists, app namespaces in the mesh, platform-vars changes rolling pods, hard zone spread."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from offline.engine import stacks
from offline.gitops import facts as gitops_facts
from offline.gitops import mesh
from offline.gitops import render as flux_render
from offline.gitops.documents import Doc, ident, meta, namespace_of

STACKS = stacks()
# RFC 9110 section 9.2.2: the safe methods, PUT and DELETE.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def _renders(stack: str, role: str) -> list[flux_render.ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == role]


def _policies(stack: str) -> list[Doc]:
    return _renders(stack, "global")[0].objects


def _app_config(render: flux_render.ClusterRender, deployment: Doc) -> Mapping[str, str]:
    """The data of the ConfigMaps a Deployment's containers take their environment from."""
    names = {
        source["configMapRef"]["name"]
        for container in deployment["spec"]["template"]["spec"]["containers"]
        for source in container.get("envFrom") or []
        if "configMapRef" in source
    }
    data: dict[str, str] = {}
    for doc in render.docs:
        same_ns = namespace_of(doc) == namespace_of(deployment)
        if doc["kind"] == "ConfigMap" and same_ns and meta(doc)["name"] in names:
            data.update(doc.get("data") or {})
    return data


def _clients(stack: str) -> Iterator[tuple[str, Mapping[str, str], float]]:
    """(workload, proxy tags, the app's client timeout) of every meshed app calling an upstream."""
    for zone in _renders(stack, "zone"):
        deployments = {ident(d): d for d in zone.docs if d["kind"] == "Deployment"}
        for workload in mesh.mesh_workloads(zone):
            config = _app_config(zone, deployments[workload.name])
            if "UPSTREAM_URL" in config:
                yield workload.name, workload.tags, float(config["UPSTREAM_TIMEOUT_SECONDS"])


@pytest.mark.parametrize("stack", STACKS)
def test_sidecars_retry_only_idempotent_methods(stack: str) -> None:
    policies = _policies(stack)
    for zone in _renders(stack, "zone"):
        for workload in mesh.mesh_workloads(zone):
            methods = mesh.http_retry_methods(policies, workload.tags)
            assert methods is not None, f"{workload.name}: retries every method, POST included"
            assert methods <= IDEMPOTENT, f"{workload.name}: retries {sorted(methods)}"


@pytest.mark.parametrize("stack", STACKS)
def test_retry_budget_ends_before_the_mesh_timeout_and_the_app_timeout(stack: str) -> None:
    policies = _policies(stack)
    clients = list(_clients(stack))
    assert clients, "no app calls an upstream: nothing to budget"
    for name, tags, app_timeout in clients:
        budget = mesh.retry_budget(policies, tags)
        assert budget.attempts > 1, f"{name}: no retries"
        assert budget.worst_case <= budget.request_timeout <= app_timeout, (name, budget)


def test_retry_budget_sees_the_old_prod_numbers_as_incoherent() -> None:
    """10 s route timeout, three 5 s attempts: the budget reports 16 s of retrying."""
    policies = copy.deepcopy(_policies("prod-eu"))
    for doc in policies:
        if doc["kind"] == "MeshTimeout":
            doc["spec"]["to"][0]["default"]["http"]["requestTimeout"] = "10s"
        if doc["kind"] == "MeshRetry":
            doc["spec"]["to"][0]["default"]["http"].update(
                perTryTimeout="5s", backOff={"baseInterval": "50ms", "maxInterval": "500ms"}
            )
    budget = mesh.retry_budget(policies, {"app.kubernetes.io/name": "storefront"})
    assert (budget.attempts, budget.per_try, budget.request_timeout) == (3, 5.0, 10.0)
    assert budget.worst_case == pytest.approx(16.0)


def test_retry_methods_none_when_retry_on_names_no_method() -> None:
    policies = copy.deepcopy(_policies("prod-eu"))
    for doc in policies:
        if doc["kind"] == "MeshRetry":
            http = doc["spec"]["to"][0]["default"]["http"]
            http["retryOn"] = [c for c in http["retryOn"] if not c.startswith("HttpMethod")]
    assert mesh.http_retry_methods(policies, {}) is None


@pytest.mark.parametrize(("text", "seconds"), [("600ms", 0.6), ("2.5s", 2.5), ("1h30m", 5400)])
def test_go_durations(text: str, seconds: float) -> None:
    assert mesh.go_duration(text) == pytest.approx(seconds)


def test_go_duration_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        mesh.go_duration("5 seconds")


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_joins_the_mesh_before_it_exists(stack: str) -> None:
    for render in gitops_facts.rendered_stack(stack):
        assert mesh.check_mesh_first(render) == [], render.cluster.name
        meshed = mesh.meshed_namespaces(render.objects)
        joined = [doc for out in render.outputs for doc in out.docs if mesh.joins_mesh(doc, meshed)]
        assert joined, f"{render.cluster.name}: nothing meshed to check"


def _without_mesh_health_check(render: flux_render.ClusterRender) -> flux_render.ClusterRender:
    broken = copy.deepcopy(render)
    for out in broken.outputs:
        for doc in out.docs:
            if doc["kind"] == "Kustomization" and "healthChecks" in doc["spec"]:
                checks = doc["spec"]["healthChecks"]
                doc["spec"]["healthChecks"] = [c for c in checks if c["kind"] != "Mesh"]
    return broken


@pytest.mark.parametrize("role", ["global", "zone"])
def test_mesh_first_flags_a_tree_that_does_not_wait_for_the_mesh(role: str) -> None:
    render = _without_mesh_health_check(_renders("staging", role)[0])
    problems = mesh.check_mesh_first(render)
    assert problems and all("without waiting for the Mesh" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_app_namespaces_join_the_programs_mesh(stack: str) -> None:
    meshes = gitops_facts.stack_facts(stack).mesh_names
    for zone in _renders(stack, "zone"):
        injected = [
            d
            for d in zone.objects
            if d["kind"] == "Namespace"
            and (meta(d).get("labels") or {}).get("kuma.io/sidecar-injection") == "enabled"
        ]
        assert injected
        for ns in injected:
            assert meta(ns)["labels"].get("kuma.io/mesh") in meshes, ident(ns)


def _pod_templates(render: flux_render.ClusterRender) -> dict[str, Any]:
    return {ident(d): d["spec"]["template"] for d in render.docs if d["kind"] == "Deployment"}


# ENVIRONMENT also names the env's apps folder: a new value is a different tree, not a roll.
@pytest.mark.parametrize("key", ["CLUSTER_NAME", "KUMA_ZONE"])
def test_a_platform_vars_change_rolls_the_pods_that_read_it(key: str) -> None:
    zone = _renders("staging", "zone")[0]
    cluster = zone.cluster
    changed = dataclasses.replace(
        cluster, platform_vars={**cluster.platform_vars, key: "changed-value"}
    )
    after = flux_render.render_cluster(changed)
    assert not after.problems, after.problems
    before_pods, after_pods = _pod_templates(zone), _pod_templates(after)
    readers = [
        name
        for name, d in ((ident(d), d) for d in after.docs if d["kind"] == "Deployment")
        if "changed-value" in _app_config(after, d).values()
    ]
    assert readers, f"no Deployment reads {key}"
    for name in readers:
        assert before_pods[name] != after_pods[name], f"{name}: {key} changed, pods not rolled"


def test_prod_zone_spread_is_hard() -> None:
    for zone in _renders("prod-eu", "zone"):
        apps = mesh.meshed_namespaces(zone.objects)
        deployments = [
            d for d in zone.docs if d["kind"] == "Deployment" and namespace_of(d) in apps
        ]
        assert deployments
        for doc in deployments:
            spread = doc["spec"]["template"]["spec"].get("topologySpreadConstraints") or []
            by_zone = [c for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone"]
            assert by_zone, f"{ident(doc)}: not spread over zones"
            assert all(c["whenUnsatisfiable"] == "DoNotSchedule" for c in by_zone), ident(doc)
