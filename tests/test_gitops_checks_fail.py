"""Each GitOps check reports what it is meant to catch (checks that cannot fail are worthless),
and the substitution behaves like Flux's."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from offline import kuma_rules
from offline.gitops import checks, cross_layer, documents, mesh, substitution
from offline.gitops import facts as gitops_facts
from offline.gitops import render as flux_render

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
        "secretStoreRef": {"kind": "SecretStore", "name": store},
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


def kuma_shape(docs: list[Doc]) -> list[str]:
    """What Kuma's admission refuses in these documents (offline/kuma_rules.py)."""
    return [problem for doc in docs for problem in kuma_rules.kuma_problems(doc)]


FACTS = gitops_facts.StackFacts(
    stack="test",
    clusters=(),
    secret_ids=frozenset({"catalog-db-password", "backup-encryption-key"}),
    mesh_names=frozenset({"default"}),
    secret_stores=frozenset({("c1", "shop", "gcp-secret-manager")}),
    readable_by={"shop": frozenset({"catalog-db-password"})},
)


@pytest.mark.parametrize(
    "check",
    [
        checks.check_selectors,
        checks.check_references,
        checks.check_collisions,
        kuma_shape,
        checks.check_autoscaled_replicas,
        checks.check_service_urls,
    ],
)
def test_the_good_fixture_passes(check: checks.Check) -> None:
    assert check(_good()) == []
    assert cross_layer.check_external_secrets(_good(), FACTS, "c1") == []


def test_selectors_report_a_service_that_selects_nothing() -> None:
    docs = [_deployment(), _service({"app": "shop-typo"})]
    problems = checks.check_selectors(docs)
    assert any("Service/shop/app" in p for p in problems)
    assert any("no Service of its namespace selects its pods" in p for p in problems)


def test_selectors_report_a_deployment_selecting_other_pods() -> None:
    dep = _deployment()
    dep["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert any("does not match pod labels" in p for p in checks.check_selectors([dep]))


def test_references_report_missing_configmaps_and_secrets() -> None:
    docs = [_deployment()]  # nothing it references exists
    assert checks.check_references(docs) == [
        "Deployment/shop/app: ConfigMap 'app-config' does not exist in 'shop'",
        "Deployment/shop/app: Secret 'creds' does not exist in 'shop'",
        "Deployment/shop/app: Secret 'tls' does not exist in 'shop'",
    ]


def test_references_accept_a_secret_written_by_an_external_secret_only_by_target_name() -> None:
    docs = _good()
    docs[-1]["spec"]["target"]["name"] = "creds-renamed"
    assert checks.check_references(docs) == [
        "Deployment/shop/app: Secret 'creds' does not exist in 'shop'"
    ]


def test_collisions_report_duplicates_and_shared_external_secret_targets() -> None:
    docs = [*_good(), _object("ConfigMap", "app-config"), _external_secret("x", "creds", "k")]
    problems = checks.check_collisions(docs)
    assert "ConfigMap/shop/app-config (core) is defined 2 times" in problems
    assert "Secret/shop/creds is written by 2 ExternalSecrets" in problems


def _policy(**spec: Any) -> Doc:
    doc = _object("MeshTimeout", "t", "kuma.io/v1alpha1")
    doc["metadata"].update(namespace="kuma-system", labels={"kuma.io/mesh": "default"})
    doc["spec"] = {"targetRef": {"kind": "Mesh"}, **spec}
    return doc


def test_kuma_policy_shape_reports_rules_mixed_with_to() -> None:
    mixed = _policy(rules=[{"default": {}}], to=[{"targetRef": {"kind": "Mesh"}}])
    assert kuma_shape([mixed]) == [
        "MeshTimeout/kuma-system/t: spec.rules: may not be combined with spec.to"
    ]
    assert kuma_shape([_policy(rules=[{"default": {}}])]) == []


MESH: Doc = {"kind": "Mesh"}
SIDECARS: Doc = {"kind": "Mesh", "proxyTypes": ["Sidecar"]}
CATALOG: Doc = {"kind": "Dataplane", "labels": {"app": "catalog"}}
FROM_MESH = [{"targetRef": MESH, "default": {}}]
TO_MESH = [{"targetRef": MESH, "default": {}}]
RULES: list[Doc] = [{"default": {}}]


def _kuma(kind: str, target: Doc, **sections: Any) -> Doc:
    doc = _policy(**sections)
    doc["kind"] = kind
    doc["spec"]["targetRef"] = target
    return doc


# One case per rule of offline.kuma_rules.KUMA_POLICY_RULES that the check enforces.
KUMA_REJECTS = [
    pytest.param(
        _kuma("MeshRateLimit", MESH, rules=RULES),
        "spec.rules: must not be defined when spec.targetRef includes gateways",
        id="rate-limit-rules-on-gateways",
    ),
    pytest.param(
        _kuma("MeshRateLimit", {"kind": "Mesh", "proxyTypes": ["Sidecar", "Gateway"]}, rules=RULES),
        "spec.rules: must not be defined when spec.targetRef includes gateways",
        id="rate-limit-rules-proxy-types-with-gateway",
    ),
    pytest.param(
        _kuma("MeshFaultInjection", MESH, **{"from": FROM_MESH}),
        "spec.from: must not be defined when spec.targetRef includes gateways",
        id="fault-injection-from-on-gateways",
    ),
    pytest.param(
        _kuma("MeshFaultInjection", CATALOG, to=TO_MESH),
        "spec.to: must not be defined when spec.targetRef selects sidecars only",
        id="fault-injection-to-on-sidecars",
    ),
    pytest.param(
        _kuma("MeshRateLimit", SIDECARS, to=TO_MESH),
        "spec.to: must not be defined when spec.targetRef selects sidecars only",
        id="rate-limit-to-on-sidecars",
    ),
    pytest.param(
        _kuma("MeshTimeout", {"kind": "MeshHTTPRoute", "name": "r"}, **{"from": FROM_MESH}),
        "spec.from: must not be defined when spec.targetRef includes gateways",
        id="timeout-from-on-route",
    ),
    pytest.param(
        _kuma("MeshTrafficPermission", {"kind": "MeshGateway", "name": "g"}, **{"from": FROM_MESH}),
        "spec.targetRef.kind: 'MeshGateway' is not supported here",
        id="top-level-kind",
    ),
    pytest.param(
        _kuma(
            "MeshRateLimit",
            SIDECARS,
            **{"from": [{"targetRef": {"kind": "MeshSubset", "tags": {"a": "b"}}, "default": {}}]},
        ),
        "spec.from[0].targetRef.kind: 'MeshSubset' is not supported here (Kuma accepts Mesh)",
        id="from-kind",
    ),
    pytest.param(
        _kuma("MeshRetry", MESH, to=[{"targetRef": CATALOG, "default": {}}]),
        "spec.to[0].targetRef.kind: 'Dataplane' is not supported here",
        id="to-kind",
    ),
    pytest.param(
        _kuma("MeshTimeout", {"kind": "Mesh", "tags": {"a": "b"}}, to=TO_MESH),
        "spec.targetRef.tags: must not be set with kind Mesh",
        id="mesh-with-tags",
    ),
    pytest.param(
        _kuma("MeshTimeout", {"kind": "Dataplane", "tags": {"a": "b"}}, to=TO_MESH),
        "spec.targetRef.tags: must not be set with kind Dataplane",
        id="dataplane-with-tags",
    ),
    pytest.param(
        _kuma("MeshTrafficPermission", CATALOG),
        "spec: at least one of from, rules has to be defined",
        id="permission-without-from-or-rules",
    ),
    pytest.param(
        _kuma("MeshRetry", MESH),
        "spec: at least one of to has to be defined",
        id="retry-without-to",
    ),
    pytest.param(
        _kuma("MeshHealthCheck", MESH, to=TO_MESH),
        "spec.to[0].default: must have at least one defined: http, tcp, grpc",
        id="health-check-without-checker",
    ),
]


@pytest.mark.parametrize(("doc", "message"), KUMA_REJECTS)
def test_kuma_semantics_report_what_kuma_rejects(doc: Doc, message: str) -> None:
    problems = kuma_shape([doc])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{doc['kind']}/kuma-system/t: {message}"), problems


@pytest.mark.parametrize(
    "doc",
    [
        _kuma("MeshRateLimit", SIDECARS, rules=RULES),
        _kuma("MeshRateLimit", MESH, to=TO_MESH),  # gateways: outbound `to`
        _kuma("MeshFaultInjection", CATALOG, **{"from": FROM_MESH}),
        _kuma("MeshTrafficPermission", MESH, **{"from": FROM_MESH}),  # no gateway restriction
        _kuma("MeshTimeout", MESH, to=TO_MESH, **{"from": FROM_MESH}),
        _kuma("MeshHealthCheck", MESH, to=[{"targetRef": MESH, "default": {"tcp": {}}}]),
    ],
)
def test_kuma_semantics_accept_what_kuma_accepts(doc: Doc) -> None:
    assert kuma_shape([doc]) == []


def _hpa(target: str) -> Doc:
    doc = _object("HorizontalPodAutoscaler", "app", "autoscaling/v2")
    doc["spec"] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}
    }
    return doc


def test_autoscaled_replicas_report_replicas_and_missing_targets() -> None:
    dep = _deployment()
    assert checks.check_autoscaled_replicas([dep, _hpa("app")]) == []
    dep["spec"]["replicas"] = 2
    assert checks.check_autoscaled_replicas([dep, _hpa("app"), _hpa("gone")]) == [
        "Deployment/shop/app: sets spec.replicas although HorizontalPodAutoscaler/shop/app scales"
        " it (leave the count to the HPA's minReplicas)",
        "HorizontalPodAutoscaler/shop/app: scaleTargetRef Deployment/shop/gone is not rendered",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://app.shop.svc.cluster.local:80/", None),
        ("http://app.shop.svc/x", None),  # default port 80
        ("https://example.com/", None),  # not in-cluster
        ("http://app.shop.svc.cluster.local:8080/", "Service/shop/app has no port 8080"),
        ("http://other.shop.svc.cluster.local:80/", "no Service shop/other"),
    ],
)
def test_service_urls_must_resolve(url: str, problem: str | None) -> None:
    cm = _object("ConfigMap", "app-config")
    cm["data"] = {"UPSTREAM_URL": url, "LOG_LEVEL": "info"}
    expected = [f"ConfigMap/shop/app-config: UPSTREAM_URL={url}: {problem}"] if problem else []
    assert checks.check_service_urls([cm, _service({"app": "shop"})]) == expected


def test_mesh_membership_reports_wrong_mesh_and_namespace() -> None:
    policy = _policy(to=[])
    policy["metadata"]["labels"]["kuma.io/mesh"] = "other"
    policy["metadata"]["namespace"] = "shop"
    assert cross_layer.check_mesh_membership([policy], {"default"}, "kuma-system") == [
        "MeshTimeout/shop/t: kuma.io/mesh 'other' names no Mesh of the program",
        "MeshTimeout/shop/t: namespace 'shop' is not 'kuma-system'",
    ]


def test_external_secrets_report_unknown_unreadable_keys_and_other_stores() -> None:
    docs = [
        _external_secret("a", "a", "no-such-secret"),
        _external_secret("b", "b", "backup-encryption-key"),
        _external_secret("c", "c", "catalog-db-password", store="other-store"),
    ]
    problems = cross_layer.check_external_secrets(docs, FACTS, "c1")
    assert "no Secret Manager entry" in problems[0]
    assert "not readable by namespace 'shop'" in problems[1]
    assert "not a SecretStore the program creates in namespace 'shop'" in problems[2]


def test_external_secrets_use_their_own_namespace_store_and_entries() -> None:
    # Another namespace's entry, or this namespace's store on a cluster without it, is refused.
    other = _external_secret("d", "d", "catalog-db-password")
    other["metadata"]["namespace"] = "payments"
    problems = cross_layer.check_external_secrets([other], FACTS, "c1")
    assert "not a SecretStore the program creates in namespace 'payments'" in problems[0]
    assert "not readable by namespace 'payments'" in problems[1]
    assert len(cross_layer.check_external_secrets(_good(), FACTS, "c2")) == 1


def test_schema_check_reports_unknown_fields() -> None:
    dep = _deployment()
    dep["spec"]["replicass"] = 2
    assert any("replicass: unknown field" in p for p in checks.check_admission([dep]))


def test_variables_outside_platform_vars_are_reported() -> None:
    assert cross_layer.check_variables({"MESH_NAME", "KUMA_ZONE"}, {"MESH_NAME": "default"}) == [
        "${KUMA_ZONE} is not a key of this cluster's platform-vars (MESH_NAME)"
    ]


def test_real_tree_on_a_zone_without_kuma_zone_is_reported() -> None:
    zone = next(c for c in gitops_facts.stack_facts("staging").clusters if c.role == "zone")
    vars_ = {k: v for k, v in zone.platform_vars.items() if k != "KUMA_ZONE"}
    broken = flux_render.Cluster(zone.stack, zone.name, zone.role, vars_, zone.sync_path)
    render = flux_render.render_cluster(broken)
    assert any(
        "${KUMA_ZONE}" in p for p in cross_layer.check_variables(render.referenced_vars, vars_)
    )


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
    assert flux_render.flux_kustomization_problems(_flux_ks()) == []
    bad = _flux_ks(prune=False, path="./k8s/nowhere", postBuild={})
    bad["spec"]["sourceRef"]["name"] = "elsewhere"
    assert flux_render.flux_kustomization_problems(bad) == [
        "Kustomization/shop/apps: spec.prune must be true",
        "Kustomization/shop/apps: sourceRef must be GitRepository flux-system, got"
        " {'kind': 'GitRepository', 'name': 'elsewhere'}",
        "Kustomization/shop/apps: spec.path './k8s/nowhere' is not a folder of this repository",
        "Kustomization/shop/apps: postBuild.substituteFrom must include ConfigMap platform-vars",
    ]


def test_flux_path_without_a_kustomization_file_is_reported() -> None:
    assert flux_render.flux_kustomization_problems(_flux_ks(path="./k8s/mesh")) == [
        "Kustomization/shop/apps: spec.path './k8s/mesh' has no kustomization.yaml"
    ]


def test_depends_on_must_name_a_kustomization_of_the_cluster() -> None:
    infra = _flux_ks()
    infra["metadata"]["name"] = "infrastructure"
    apps = _flux_ks(dependsOn=[{"name": "infrastructure"}, {"name": "infra"}])
    assert cross_layer.check_depends_on([infra, apps]) == [
        "Kustomization/shop/apps: dependsOn 'infra' is no Flux Kustomization of this cluster"
    ]


KUMA_CP = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "kuma-system"}
STORE = {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "namespace": "shop"}
READY = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
NOT_READY = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')"
STORE_EXPR = {**STORE, "current": READY, "failed": NOT_READY}


def test_health_checks_must_target_what_exists() -> None:
    facts = dataclasses.replace(
        FACTS, kuma_control_planes=frozenset({("c1", "kuma-system", "kuma-control-plane")})
    )
    good = _flux_ks(
        healthChecks=[
            {**STORE, "name": "gcp-secret-manager"},
            {**KUMA_CP, "name": "kuma-control-plane"},
        ]
    )
    assert cross_layer.check_health_checks([good], facts, "c1") == []
    bad = _flux_ks(healthChecks=[{**STORE, "name": "gcp"}, {**KUMA_CP, "name": "kuma"}])
    assert cross_layer.check_health_checks([bad], facts, "c1") == [
        "Kustomization/shop/apps: health check SecretStore/shop/gcp is neither rendered nor"
        " created by the program on this cluster",
        "Kustomization/shop/apps: health check Deployment/kuma-system/kuma is neither rendered nor"
        " created by the program on this cluster",
    ]
    # the store and control plane of another cluster do not count
    assert len(cross_layer.check_health_checks([good], facts, "c2")) == 2


def _render_of(ks: Doc, output: list[Doc]) -> flux_render.ClusterRender:
    cluster = flux_render.Cluster("test", "c1", "zone", {}, "k8s/clusters/test/zone")
    render = flux_render.ClusterRender(cluster)
    render.outputs += [
        flux_render.Rendered("flux-system", "k8s/clusters/test/zone", (ks,), frozenset()),
        flux_render.Rendered("apps", "k8s/apps", tuple(output), frozenset()),
    ]
    return render


@pytest.mark.parametrize(
    ("spec", "output", "missing"),
    [
        ({"healthChecks": [{**STORE, "name": "s"}]}, [], "SecretStore"),
        (
            {
                "healthChecks": [{**STORE, "name": "s"}],
                "healthCheckExprs": [{**STORE, "current": READY}],
            },
            [],
            "SecretStore",
        ),
        ({"wait": True, "healthCheckExprs": [STORE_EXPR]}, _good(), "ExternalSecret"),
    ],
)
def test_eso_health_needs_cel_expressions(spec: Doc, output: list[Doc], missing: str) -> None:
    render = _render_of(_flux_ks(**spec), output)
    assert cross_layer.check_eso_health_exprs(render) == [
        f"Kustomization/shop/apps: waits for external-secrets.io/v1 {missing} without a"
        " healthCheckExprs entry (current and failed): kstatus would only check that it exists"
    ]


def test_eso_health_with_cel_expressions_passes() -> None:
    es_expr = {**STORE_EXPR, "kind": "ExternalSecret"}
    spec = {
        "wait": True,
        "healthChecks": [{**STORE, "name": "s"}],
        "healthCheckExprs": [STORE_EXPR, es_expr],
    }
    assert cross_layer.check_eso_health_exprs(_render_of(_flux_ks(**spec), _good())) == []
    # wait: false -> the applied ExternalSecrets are not waited for
    assert cross_layer.check_eso_health_exprs(_render_of(_flux_ks(wait=False), _good())) == []


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_render_reports_a_child_path_that_fails_to_build(tmp_path: Path) -> None:
    child = _flux_ks(path="./k8s/broken")
    child["metadata"] = {"name": "broken-child", "namespace": "flux-system"}
    root = tmp_path / "k8s" / "clusters" / "test" / "zone"
    _write(root / "child.yaml", documents.to_yaml([child]))
    _write(root / "kustomization.yaml", "resources: [child.yaml]\n")
    _write(tmp_path / "k8s" / "broken" / "kustomization.yaml", "resources: [missing.yaml]\n")
    render = flux_render.render_cluster(
        flux_render.Cluster("test", "c1", "zone", {}, "k8s/clusters/test/zone"), repo=tmp_path
    )
    assert [out.kustomization for out in render.outputs] == ["flux-system"]
    assert len(render.problems) == 1, render.problems
    assert render.problems[0].startswith(
        f"Kustomization/broken-child: kubectl kustomize {tmp_path / 'k8s' / 'broken'}: "
    )
    assert "missing.yaml" in render.problems[0]


def test_unsupported_substitution_is_reported_per_document() -> None:
    doc = _object("ConfigMap", "raw")
    doc["data"] = {"x": "${A^^}", "y": "${A}"}
    out, referenced, problems = substitution.substitute_docs([doc], {"A": "one"})
    assert problems == ["ConfigMap/shop/raw: unsupported substitution ${A^^}"]
    assert referenced == {"A"}
    assert out[0]["data"] == {"x": "${A^^}", "y": "one"}  # left as is, the rest substituted


def _workload(name: str, **tags: str) -> mesh.MeshWorkload:
    return mesh.MeshWorkload(name, tags)


def _permission(name: str, target: Doc, client: Doc, action: str) -> Doc:
    doc = _kuma(
        "MeshTrafficPermission",
        target,
        **{"from": [{"targetRef": client, "default": {"action": action}}]},
    )
    doc["metadata"]["name"] = name
    return doc


def test_traffic_permissions_most_specific_from_wins_then_name() -> None:
    front, back = _workload("front", app="front"), _workload("back", app="back")
    subset = {"kind": "MeshSubset", "tags": {"app": "front"}}
    policies = [
        _permission("z-deny-all", MESH, MESH, "Deny"),
        _permission(
            "a-allow-front", {"kind": "Dataplane", "labels": {"app": "back"}}, subset, "Allow"
        ),
    ]
    assert mesh.traffic_permissions(policies, [front, back]) == {
        ("front", "back"): "Allow",  # MeshSubset beats Mesh whatever the names
        ("back", "front"): "Deny",
    }
    tie = [_permission("b", MESH, MESH, "Allow"), _permission("a", MESH, MESH, "Deny")]
    assert mesh.traffic_permissions(tie, [front, back])["front", "back"] == "Allow"
    assert mesh.traffic_permissions([], [front, back])["front", "back"] == "Deny"
    with pytest.raises(ValueError, match="not modelled"):
        mesh.traffic_permissions(
            [_permission("x", {"kind": "MeshService", "name": "s"}, MESH, "Allow")], [front, back]
        )


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
    assert substitution.substitute(text, {"A": "1", "EMPTY": ""}).text == expected


def test_substitution_records_references_and_unsupported_expressions() -> None:
    result = substitution.substitute("${A} ${B:=x} $${C} ${A^^}", {"A": "1"})
    assert result.referenced == {"A", "B"}
    assert result.unsupported == ("${A^^}",)


def test_substitution_can_be_disabled_per_object() -> None:
    doc = _object("ConfigMap", "raw")
    doc["metadata"]["annotations"] = {substitution.SUBSTITUTE_DISABLED: "disabled"}
    doc["data"] = {"x": "${A}"}
    out, _, _ = substitution.substitute_docs([copy.deepcopy(doc)], {"A": "1"})
    assert out == [doc]
