"""Each GitOps check reports what it is meant to catch (checks that cannot fail are worthless),
and the substitution behaves like Flux's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline import gitops

Doc = dict[str, Any]


def _deployment(**overrides: Any) -> Doc:
    container: Doc = {
        "name": "app",
        "image": "docker.io/library/python:3.12.8-slim",
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        "envFrom": [{"configMapRef": {"name": "app-config"}}],
        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}],
    }
    container.update(overrides)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "v", "secret": {"secretName": "tls"}}],
                },
            },
        },
    }


def _service(selector: dict[str, str]) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": "shop"},
        "spec": {"selector": selector, "ports": [{"port": 80}]},
    }


def _object(kind: str, name: str, api_version: str = "v1") -> Doc:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop"},
    }


def _external_secret(name: str, target: str, key: str, store: str = "gcp-secret-manager") -> Doc:
    doc = _object("ExternalSecret", name, "external-secrets.io/v1")
    doc["spec"] = {
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": store},
        "target": {"name": target},
        "data": [{"secretKey": "k", "remoteRef": {"key": key}}],
    }
    return doc


def _good() -> list[Doc]:
    return [
        _deployment(),
        _service({"app": "shop"}),
        _object("ConfigMap", "app-config"),
        _object("Secret", "tls"),
        _external_secret("creds", "creds", "catalog-db-password"),
    ]


FACTS = gitops.StackFacts(
    stack="test",
    clusters=(),
    secret_ids=frozenset({"catalog-db-password", "backup-encryption-key"}),
    cluster_readable=frozenset({"catalog-db-password"}),
    mesh_names=frozenset({"default"}),
    secret_stores=frozenset({"gcp-secret-manager"}),
)


@pytest.mark.parametrize(
    "check",
    [
        gitops.check_selectors,
        gitops.check_resources,
        gitops.check_references,
        gitops.check_collisions,
        gitops.check_images,
        gitops.check_kuma_policy_shape,
    ],
)
def test_the_good_fixture_passes(check: gitops.Check) -> None:
    assert check(_good()) == []
    assert gitops.check_external_secrets(_good(), FACTS) == []


def test_selectors_report_a_service_that_selects_nothing() -> None:
    docs = [_deployment(), _service({"app": "shop-typo"})]
    problems = gitops.check_selectors(docs)
    assert any("Service/shop/app" in p for p in problems)
    assert any("no Service of its namespace selects its pods" in p for p in problems)


def test_selectors_report_a_deployment_selecting_other_pods() -> None:
    dep = _deployment()
    dep["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert any("does not match pod labels" in p for p in gitops.check_selectors([dep]))


def test_resources_report_missing_limits() -> None:
    docs = [_deployment(resources={"requests": {"cpu": "10m", "memory": "1Mi"}})]
    assert gitops.check_resources(docs) == [
        "Deployment/shop/app: container app: no limits for cpu, memory"
    ]


def test_references_report_missing_configmaps_and_secrets() -> None:
    docs = [_deployment()]  # nothing it references exists
    problems = gitops.check_references(docs)
    assert len(problems) == 3, problems
    assert {p.split(": ")[1].split(" ")[0] for p in problems} == {"ConfigMap", "Secret"}


def test_references_accept_a_secret_written_by_an_external_secret_only_by_target_name() -> None:
    docs = _good()
    docs[-1]["spec"]["target"]["name"] = "creds-renamed"
    assert gitops.check_references(docs) == [
        "Deployment/shop/app: Secret 'creds' does not exist in 'shop'"
    ]


def test_collisions_report_duplicates_and_shared_external_secret_targets() -> None:
    docs = [*_good(), _object("ConfigMap", "app-config"), _external_secret("x", "creds", "k")]
    problems = gitops.check_collisions(docs)
    assert "ConfigMap/shop/app-config (core) is defined 2 times" in problems
    assert "Secret/shop/creds is written by 2 ExternalSecrets" in problems


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("python", "no tag"),
        ("python:latest", "tag latest"),
        ("registry:5000/team/python", "no tag"),
        ("python@sha256:abc", "malformed digest"),
    ],
)
def test_images_report_unpinned_images(image: str, reason: str) -> None:
    assert gitops.check_images([_deployment(image=image)]) == [
        f"Deployment/shop/app: image {image!r}: {reason}"
    ]


def test_images_accept_tags_and_digests() -> None:
    digest = "sha256:" + "0" * 64
    for image in ("registry:5000/python:3.12.8", f"python@{digest}", f"python:3.12@{digest}"):
        assert gitops.image_problem(image) is None


def _policy(**spec: Any) -> Doc:
    doc = _object("MeshTimeout", "t", "kuma.io/v1alpha1")
    doc["metadata"].update(namespace="kuma-system", labels={"kuma.io/mesh": "default"})
    doc["spec"] = {"targetRef": {"kind": "Mesh"}, **spec}
    return doc


def test_kuma_policy_shape_reports_rules_mixed_with_to() -> None:
    mixed = _policy(rules=[{"default": {}}], to=[{"targetRef": {"kind": "Mesh"}}])
    assert gitops.check_kuma_policy_shape([mixed]) == [
        "MeshTimeout/kuma-system/t: spec.rules mixed with spec.to"
    ]
    assert gitops.check_kuma_policy_shape([_policy(rules=[{"default": {}}])]) == []


def test_mesh_membership_reports_wrong_mesh_and_namespace() -> None:
    policy = _policy(to=[])
    policy["metadata"]["labels"]["kuma.io/mesh"] = "other"
    policy["metadata"]["namespace"] = "shop"
    problems = gitops.check_mesh_membership([policy], {"default"}, "kuma-system")
    assert len(problems) == 2, problems


def test_external_secrets_report_unknown_unreadable_keys_and_other_stores() -> None:
    docs = [
        _external_secret("a", "a", "no-such-secret"),
        _external_secret("b", "b", "backup-encryption-key"),
        _external_secret("c", "c", "catalog-db-password", store="other-store"),
    ]
    problems = gitops.check_external_secrets(docs, FACTS)
    assert "no Secret Manager entry" in problems[0]
    assert "not readable by the clusters" in problems[1]
    assert "not the program's ClusterSecretStore" in problems[2]


def test_schema_check_reports_unknown_fields() -> None:
    dep = _deployment()
    dep["spec"]["replicass"] = 2
    assert any("replicass: unknown field" in p for p in gitops.check_schemas([dep]))


def test_variables_outside_platform_vars_are_reported() -> None:
    assert gitops.check_variables({"MESH_NAME", "KUMA_ZONE"}, {"MESH_NAME": "default"}) == [
        "${KUMA_ZONE} is not a key of this cluster's platform-vars (MESH_NAME)"
    ]


def test_real_tree_on_a_zone_without_kuma_zone_is_reported() -> None:
    zone = next(c for c in gitops.stack_facts("staging").clusters if c.role == "zone")
    vars_ = {k: v for k, v in zone.platform_vars.items() if k != "KUMA_ZONE"}
    broken = gitops.Cluster(zone.stack, zone.name, zone.role, vars_)
    render = gitops.render_cluster(broken)
    assert any("${KUMA_ZONE}" in p for p in gitops.check_variables(render.referenced_vars, vars_))


def _flux_ks(**spec: Any) -> Doc:
    doc = _object("Kustomization", "apps", "kustomize.toolkit.fluxcd.io/v1")
    doc["spec"] = {
        "prune": True,
        "path": "./k8s/mesh/stages/prod",
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "platform-vars"}]},
        **spec,
    }
    return doc


def test_flux_kustomization_rules() -> None:
    assert gitops.flux_kustomization_problems(_flux_ks()) == []
    bad = _flux_ks(prune=False, path="./k8s/nowhere", postBuild={})
    bad["spec"]["sourceRef"]["name"] = "elsewhere"
    problems = gitops.flux_kustomization_problems(bad)
    assert len(problems) == 4, problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: ${A}", "a: 1"),
        ("a: ${MISSING}", "a: "),
        ("a: ${MISSING:=x}", "a: x"),
        ("a: ${MISSING:-x}", "a: x"),
        ("a: ${EMPTY:=x}", "a: x"),
        ("a: ${EMPTY=x}", "a: "),
        ("a: ${A:=x}", "a: 1"),
        ("a: $${A}", "a: ${A}"),
        ("a: $A", "a: $A"),
    ],
)
def test_substitution_is_flux_like(text: str, expected: str) -> None:
    assert gitops.substitute(text, {"A": "1", "EMPTY": ""}).text == expected


def test_substitution_records_references_and_unsupported_expressions() -> None:
    result = gitops.substitute("${A} ${B:=x} $${C} ${A^^}", {"A": "1"})
    assert result.referenced == {"A", "B"}
    assert result.unsupported == ("${A^^}",)


def test_substitution_can_be_disabled_per_object() -> None:
    doc = _object("ConfigMap", "raw")
    doc["metadata"]["annotations"] = {gitops.SUBSTITUTE_DISABLED: "disabled"}
    doc["data"] = {"x": "${A}"}
    out, _, _ = gitops.substitute_docs([copy.deepcopy(doc)], {"A": "1"})
    assert out == [doc]
