"""The GitOps tree, rendered per cluster as Flux would (real kustomize, platform-vars from the
offline plan), passes strict validation, the platform team's CI checks and agrees with the
program (offline/gitops/ holds the logic; each check has a negative test elsewhere)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest

from offline.engine import REPO_ROOT, stack_config, stacks
from offline.gitops import checks, cross_layer, mesh
from offline.gitops import facts as gitops_facts
from offline.gitops import render as flux_render

STACKS = stacks()


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_and_role_has_a_flux_entry_point(stack: str) -> None:
    roles = {c["role"] for c in stack_config(stack)["platform:clusters"]}
    for role in sorted(roles):
        assert (REPO_ROOT / "k8s" / "clusters" / stack / role / "kustomization.yaml").is_file()


@pytest.mark.parametrize("stack", STACKS)
def test_platform_vars_come_from_the_program_for_every_cluster(stack: str) -> None:
    facts = gitops_facts.stack_facts(stack)
    declared = {c["name"]: c for c in stack_config(stack)["platform:clusters"]}
    assert {c.name for c in facts.clusters} == set(declared)
    for cluster in facts.clusters:
        assert cluster.platform_vars["CLUSTER_NAME"] == cluster.name
        assert cluster.role == declared[cluster.name]["role"]
        assert ("KUMA_ZONE" in cluster.platform_vars) == (cluster.role == "zone")


def test_every_rendered_stack_is_a_copy_of_its_own() -> None:
    """A test that edits its render, however deep, changes no other test's render."""
    # The expected render is a deepcopy: nothing it holds can be shared with the copies.
    before = copy.deepcopy(gitops_facts.rendered_stack("staging"))
    renders = gitops_facts.rendered_stack("staging")
    assert renders == before
    render = renders[0]
    render.outputs[0].docs[0]["metadata"].clear()
    render.cluster.program_docs[0].clear()
    assert isinstance(render.cluster.platform_vars, dict)
    render.cluster.platform_vars.clear()
    render.problems.append("edited")
    del render.outputs[-1]
    assert renders != before
    assert gitops_facts.rendered_stack("staging") == before


def test_every_stack_facts_is_a_copy_of_its_own() -> None:
    """The same for the stack's facts, which the renders are made from."""
    before = copy.deepcopy(gitops_facts.stack_facts("staging"))
    facts = gitops_facts.stack_facts("staging")
    assert facts == before
    facts.clusters[0].program_docs[0].clear()
    platform_vars = facts.clusters[0].platform_vars
    assert isinstance(platform_vars, dict)
    platform_vars.clear()
    assert facts != before
    assert gitops_facts.stack_facts("staging") == before


@pytest.mark.parametrize("stack", STACKS)
def test_flux_tree_renders_and_every_path_exists(stack: str) -> None:
    for render in gitops_facts.rendered_stack(stack):
        assert not render.problems, _report(render.problems)
        paths = {out.path for out in render.outputs}
        assert len(paths) >= 3, f"{render.cluster.name}: only {sorted(paths)} reconciled"
        for path in paths:
            assert (REPO_ROOT / path).is_dir(), path


@pytest.mark.parametrize("check", sorted(checks.GENERIC_CHECKS))
@pytest.mark.parametrize("stack", STACKS)
def test_ci_checks(stack: str, check: str) -> None:
    problems = [
        f"{render.cluster.name}: {problem}"
        for render in gitops_facts.rendered_stack(stack)
        for problem in checks.GENERIC_CHECKS[check](render.docs)
    ]
    assert not problems, _report(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_consistent_with_the_program(stack: str) -> None:
    """platform-vars keys, ExternalSecret keys and store, Mesh membership, dependsOn, health-check
    targets (the program's store and Kuma control plane) and ESO health expressions."""
    facts = gitops_facts.stack_facts(stack)
    problems = [
        f"{render.cluster.name}: {problem}"
        for render in gitops_facts.rendered_stack(stack)
        for problem in cross_layer.cross_layer_problems(render, facts)
    ]
    assert not problems, _report(problems)


def _kinds(render: flux_render.ClusterRender) -> set[str]:
    """Kinds on the cluster: what Flux applies and what the program does (the baseline
    MeshTrafficPermission is the program's: components/kuma/multizone.py)."""
    return {str(doc["kind"]) for doc in render.objects}


@pytest.mark.parametrize("stack", STACKS)
def test_roles_get_what_they_run(stack: str) -> None:
    for render in gitops_facts.rendered_stack(stack):
        kinds = _kinds(render)
        mesh_policies = {k for k in kinds if k.startswith("Mesh")}
        if render.cluster.role == "global":
            assert {"MeshTimeout", "MeshRetry", "MeshCircuitBreaker"} <= mesh_policies
            assert {"MeshRateLimit", "MeshTrafficPermission"} <= mesh_policies
            assert "Deployment" not in kinds
        else:
            assert not mesh_policies, f"{render.cluster.name}: policies belong on the global"
            assert {"Deployment", "ExternalSecret", "HorizontalPodAutoscaler"} <= kinds


def _global(stack: str) -> flux_render.ClusterRender:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global")


def _permissions(render: flux_render.ClusterRender) -> list[tuple[str, str]]:
    """(top-level targetRef kind, action) of every `from` entry whose client is the whole mesh."""
    return [
        (doc["spec"]["targetRef"]["kind"], entry["default"]["action"])
        for doc in render.objects
        if doc["kind"] == "MeshTrafficPermission"
        for entry in doc["spec"]["from"]
        if entry["targetRef"]["kind"] == "Mesh"
    ]


def test_staging_mesh_is_open_and_injects_faults() -> None:
    render = _global("staging")
    assert ("Mesh", "Allow") in _permissions(render)
    assert "MeshFaultInjection" in _kinds(render)


def test_prod_mesh_allows_only_explicit_permissions() -> None:
    render = _global("prod-eu")
    assert all(action == "Deny" for _, action in _permissions(render)), _permissions(render)
    explicit = [
        d
        for d in render.objects
        if d["kind"] == "MeshTrafficPermission" and d["spec"]["targetRef"]["kind"] != "Mesh"
    ]
    assert explicit, "prod must list who may call whom"
    assert "MeshFaultInjection" not in _kinds(render)


def _zones(stack: str) -> list[flux_render.ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]


def _matrices(stack: str) -> list[dict[tuple[str, str], str]]:
    """The effective MeshTrafficPermission action of every client -> server pair of each zone's
    Deployments, under the policies the global cluster applies (KDS syncs them to the zones)."""
    policies = _global(stack).objects
    return [mesh.traffic_permissions(policies, mesh.mesh_workloads(z)) for z in _zones(stack)]


STOREFRONT = "Deployment/storefront/storefront-app"
CATALOG = "Deployment/catalog/catalog-app"


def test_prod_permissions_allow_only_storefront_to_catalog() -> None:
    for matrix in _matrices("prod-eu"):
        assert len(matrix) >= 2, matrix
        allowed = {pair for pair, action in matrix.items() if action == "Allow"}
        assert allowed == {(STOREFRONT, CATALOG)}, matrix
        assert set(matrix.values()) == {"Allow", "Deny"}


def test_staging_permissions_allow_every_pair() -> None:
    for matrix in _matrices("staging"):
        assert (f"{STOREFRONT}-canary", CATALOG) in matrix  # the canary is a client too
        assert set(matrix.values()) == {"Allow"}, matrix


@pytest.mark.parametrize("stack", STACKS)
def test_storefront_upstream_is_a_rendered_service(stack: str) -> None:
    # check_service_urls (a CI check) resolves it; make sure it really is there to resolve.
    for zone in _zones(stack):
        urls = [
            d["data"]["UPSTREAM_URL"]
            for d in zone.docs
            if d["kind"] == "ConfigMap" and "UPSTREAM_URL" in d.get("data", {})
        ]
        assert urls and all(".catalog.svc.cluster.local:8080/" in u for u in urls), urls
        assert checks.check_service_urls(zone.docs) == []


@pytest.mark.parametrize("stack", STACKS)
def test_eso_objects_are_waited_for_with_cel(stack: str) -> None:
    for render in gitops_facts.rendered_stack(stack):
        exprs = {
            (e["kind"], ks["metadata"]["name"])
            for ks in render.docs
            if ks["kind"] == "Kustomization"
            for e in ks["spec"].get("healthCheckExprs", [])
        }
        assert ("SecretStore", "infrastructure") in exprs
        if render.cluster.role == "zone":
            assert ("ExternalSecret", "apps-catalog") in exprs


def test_cached_renders_and_facts_are_copies() -> None:
    render = gitops_facts.rendered_stack("staging")[0]
    render.docs[0]["metadata"]["name"] = "changed"
    render.outputs.clear()
    render.problems.append("leaked")
    facts = gitops_facts.stack_facts("staging")
    facts.clusters[0].platform_vars["ENVIRONMENT"] = "leaked"  # type: ignore[index]
    again = gitops_facts.rendered_stack("staging")[0]
    assert again.outputs and not again.problems
    assert again.docs[0]["metadata"]["name"] != "changed"
    assert gitops_facts.stack_facts("staging").clusters[0].platform_vars["ENVIRONMENT"] == "staging"


def test_the_render_command_reports_render_problems_as_findings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`make render` with a broken overlay: the problems on stderr and exit 1 (problems found),
    not a traceback, and no file written for the broken stack."""
    from offline.gitops import __main__ as gitops_cli

    broken = SimpleNamespace(problems=["zone: kustomize build failed: no such file"], cluster=None)
    monkeypatch.setattr(gitops_cli, "rendered_stack", lambda stack: [broken])
    assert gitops_cli.main(["render", "staging", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "staging: the render has problems:\nzone: kustomize build failed: no such file\n"
    assert not any(tmp_path.iterdir())
