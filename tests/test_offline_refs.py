"""Tests for the committed offline references (offline/refs) and offline.k8s_validation.

Fast, offline, and never reads the workspace's shared folder.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from offline import admission
from offline import k8s_validation as kv
from offline.k8s_validation import (
    KUBERNETES_VERSION,
    committed_sources,
    unknown_values_keys,
)

REPO = Path(__file__).resolve().parent.parent
REFS = REPO / "offline" / "refs"


# --------------------------------------------------------------------------- fixtures


def cluster_secret_store() -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "gcp-secret-manager", "labels": {"app": "eso"}},
        "spec": {
            "provider": {
                "gcpsm": {
                    "projectID": "my-project",
                    "auth": {
                        "workloadIdentity": {
                            "clusterLocation": "europe-west1",
                            "clusterName": "prod-eu",
                            "clusterProjectID": "my-project",
                            "serviceAccountRef": {
                                "name": "external-secrets",
                                "namespace": "external-secrets",
                            },
                        }
                    },
                }
            }
        },
    }


def flux_instance() -> dict[str, Any]:
    return {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {
            "name": "flux",
            "namespace": "flux-system",
            "annotations": {"fluxcd.controlplane.io/reconcileEvery": "1h"},
        },
        "spec": {
            "distribution": {"version": "2.9.x", "registry": "ghcr.io/fluxcd"},
            "components": [
                "source-controller",
                "kustomize-controller",
                "helm-controller",
                "notification-controller",
            ],
            "cluster": {"type": "gcp", "domain": "cluster.local"},
            "sync": {
                "kind": "GitRepository",
                "url": "https://github.com/example/platform.git",
                "ref": "refs/heads/main",
                "path": "k8s/clusters/prod-eu/global",
                "pullSecret": "flux-sync",
            },
            "kustomize": {
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "kustomize-controller"},
                        "patch": "- op: add\n  path: /spec/replicas\n  value: 1\n",
                    }
                ]
            },
        },
    }


def mesh_timeout() -> dict[str, Any]:
    return {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "MeshTimeout",
        "metadata": {
            "name": "default-timeouts",
            "namespace": "kuma-system",
            "labels": {"kuma.io/mesh": "default"},
        },
        "spec": {
            "targetRef": {"kind": "Mesh"},
            "to": [
                {
                    "targetRef": {"kind": "Mesh"},
                    "default": {
                        "connectionTimeout": "5s",
                        "idleTimeout": "1h",
                        "http": {"requestTimeout": "15s", "streamIdleTimeout": "30m"},
                    },
                }
            ],
        },
    }


def mesh() -> dict[str, Any]:
    return {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": "default"},
        "spec": {
            "mtls": {
                "enabledBackend": "ca-1",
                "backends": [
                    {
                        "name": "ca-1",
                        "type": "builtin",
                        "dpCert": {"rotation": {"expiration": "24h"}},
                        "conf": {"caCert": {"RSAbits": 2048, "expiration": "10y"}},
                    }
                ],
            },
            "routing": {
                "zoneEgress": True,
                "localityAwareLoadBalancing": True,
                "defaultForbidMeshExternalServiceAccess": True,
            },
            "networking": {"outbound": {"passthrough": False}},
            "meshServices": {"mode": "Exclusive"},
        },
    }


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


# --------------------------------------------------------------------------- CRDs


def test_good_cluster_secret_store_passes() -> None:
    assert admission.problems(cluster_secret_store()) == []


def test_misspelt_nested_key_in_cluster_secret_store_names_the_path() -> None:
    doc = cluster_secret_store()
    auth = doc["spec"]["provider"]["gcpsm"]["auth"]
    auth["workloadIdentty"] = auth.pop("workloadIdentity")
    errors = admission.problems(doc)
    assert errors == [
        "ClusterSecretStore/gcp-secret-manager:"
        " spec.provider.gcpsm.auth.workloadIdentty: unknown field"
    ]


def test_misspelt_deep_key_and_wrong_type_are_reported() -> None:
    doc = cluster_secret_store()
    wi = doc["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"]
    wi["serviceAccountRef"]["namespce"] = wi["serviceAccountRef"].pop("namespace")
    wi["clusterName"] = 7
    errors = admission.problems(doc)
    assert any(
        e.endswith(
            "spec.provider.gcpsm.auth.workloadIdentity.serviceAccountRef.namespce: unknown field"
        )
        for e in errors
    ), errors
    assert any("workloadIdentity.clusterName: 7 is not of type 'string'" in e for e in errors), (
        errors
    )


def test_v1beta1_is_not_served() -> None:
    doc = cluster_secret_store()
    doc["apiVersion"] = "external-secrets.io/v1beta1"
    errors = admission.problems(doc)
    assert len(errors) == 1
    assert "not served" in errors[0] and "external-secrets.io/v1" in errors[0]


def test_unknown_kind_in_crd_group_fails() -> None:
    errors = admission.problems(
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterPushSecret",
            "metadata": {"name": "x"},
        }
    )
    assert errors and "not served" in errors[0]


def test_api_version_and_kind_are_pinned() -> None:
    doc = cluster_secret_store()
    doc["metadata"]["nmae"] = "typo"
    assert admission.problems(doc) == [
        "ClusterSecretStore/gcp-secret-manager: metadata.nmae: unknown field"
    ]


def test_good_flux_instance_passes() -> None:
    assert admission.problems(flux_instance()) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["spec"]["sync"].update(pullSecretRef="x"),
            "spec.sync.pullSecretRef: unknown field",
        ),
        (
            lambda d: d["spec"]["kustomize"]["patches"][0].update(patches="x"),
            "spec.kustomize.patches[0].patches: unknown field",
        ),
        (
            lambda d: d["spec"]["distribution"].pop("registry"),
            "spec.distribution: 'registry' is a required property",
        ),
        (
            lambda d: d["spec"]["sync"].update(kind="GitRepo"),
            "spec.sync.kind: 'GitRepo' is not one of",
        ),
        (
            lambda d: d["spec"]["components"].append("kustomise-controller"),
            "spec.components[4]: 'kustomise-controller' is not one of",
        ),
    ],
)
def test_misspelt_flux_instance_fails(mutate: Any, expected: str) -> None:
    doc = flux_instance()
    mutate(doc)
    errors = admission.problems(doc)
    assert any(e.startswith("FluxInstance/flux-system/flux: " + expected) for e in errors), errors


def test_flux_kustomization_open_fields_stay_open() -> None:
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "infra", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "prune": True,
            "path": "./k8s/infrastructure",
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "platform-vars"}]},
            "dependsOn": [{"name": "crds"}],
        },
    }
    assert admission.problems(doc) == []
    del doc["spec"]["prune"]
    assert admission.problems(doc) == [
        "Kustomization/flux-system/infra: spec: 'prune' is a required property"
    ]


def test_kuma_mesh_timeout_passes_and_unknown_field_fails() -> None:
    assert admission.problems(mesh_timeout()) == []
    doc = mesh_timeout()
    doc["spec"]["to"][0]["default"]["http"]["requestTimout"] = "1s"
    assert admission.problems(doc) == [
        "MeshTimeout/kuma-system/default-timeouts: spec.to[0].default.http.requestTimout: unknown field"
    ]
    doc = mesh_timeout()
    doc["spec"]["targetRef"]["kind"] = "MeshServise"
    assert any(
        "spec.targetRef.kind: 'MeshServise' is not one of" in e for e in admission.problems(doc)
    )


def test_kuma_policy_semantics_run_with_the_schema() -> None:
    # The Kuma validator's rules (offline.kuma_rules.KUMA_POLICY_RULES; one negative test per
    # rule in tests/test_gitops_checks_fail.py) run after the schema (offline.admission).
    doc = mesh_timeout()
    doc["kind"] = "MeshRateLimit"
    doc["spec"] = {
        "targetRef": {"kind": "Mesh"},
        "rules": [{"default": {"local": {"http": {"requestRate": {"num": 1, "interval": "1s"}}}}}],
    }
    assert admission.problems(doc) == [
        "MeshRateLimit/kuma-system/default-timeouts: spec.rules: must not be defined when spec.targetRef"
        " includes gateways (select proxyTypes: [Sidecar], or target gateways only and use"
        " spec.to)"
    ]
    doc["spec"]["targetRef"]["proxyTypes"] = ["Sidecar"]
    assert admission.problems(doc) == []


def test_kuma_policy_may_not_mix_rules_with_to() -> None:
    doc = mesh_timeout()
    doc["spec"]["rules"] = [{"default": {"connectionTimeout": "5s"}}]
    assert admission.problems(doc) == [
        "MeshTimeout/kuma-system/default-timeouts: spec.rules: may not be combined with spec.to"
    ]


# --------------------------------------------------------------------------- Mesh hand check


def test_mesh_hand_check_good_passes() -> None:
    assert admission.problems(mesh()) == []
    assert (
        admission.problems(
            {"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh", "metadata": {"name": "m"}}
        )
        == []
    )


def test_mesh_zone_egress_requires_enabled_backend() -> None:
    doc = mesh()
    del doc["spec"]["mtls"]["enabledBackend"]
    errors = admission.problems(doc)
    assert len(errors) == 1 and "spec.routing.zoneEgress" in errors[0], errors
    doc = mesh()
    del doc["spec"]["mtls"]
    assert any("spec.routing.zoneEgress" in e for e in admission.problems(doc))


def test_mesh_enabled_backend_must_name_a_backend() -> None:
    doc = mesh()
    doc["spec"]["mtls"]["enabledBackend"] = "ca-2"
    errors = admission.problems(doc)
    assert any("spec.mtls.enabledBackend: 'ca-2' names no entry" in e for e in errors), errors


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda s: s.update(foo=1), "spec.foo"),
        (lambda s: s["routing"].update(zoneEgres=True), "spec.routing.zoneEgres"),
        (
            lambda s: s["mtls"]["backends"][0]["dpCert"]["rotation"].update(expirationn="1h"),
            "spec.mtls.backends[0].dpCert.rotation.expirationn",
        ),
        (
            lambda s: s["networking"]["outbound"].update(passthru=True),
            "spec.networking.outbound.passthru",
        ),
    ],
)
def test_mesh_unknown_key_fails(mutate: Any, path: str) -> None:
    doc = mesh()
    mutate(doc["spec"])
    assert admission.problems(doc) == [f"Mesh/default: {path}: unknown field"]


def test_mesh_wrong_values_fail() -> None:
    doc = mesh()
    doc["spec"]["mtls"]["backends"][0]["type"] = "vault"
    doc["spec"]["routing"]["zoneEgress"] = "true"
    errors = admission.problems(doc)
    assert any("spec.mtls.backends[0].type: 'vault' is not one of" in e for e in errors), errors
    assert any("spec.routing.zoneEgress: 'true' is not of type 'boolean'" in e for e in errors), (
        errors
    )


def test_mesh_top_level_is_strict() -> None:
    doc = mesh()
    doc["mtls"] = doc["spec"].pop("mtls")  # universal-format mistake: fields outside spec
    errors = admission.problems(doc)
    assert "Mesh/default: mtls: unknown field" in errors, errors


# --------------------------------------------------------------------------- core kinds


def test_good_deployment_passes() -> None:
    assert admission.problems(deployment()) == []


def test_deployment_container_typo_fails() -> None:
    doc = deployment()
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert admission.problems(doc) == [
        "Deployment/apps/web: spec.template.spec.containers[0].imagePullPolicyy: unknown field"
    ]


@pytest.mark.parametrize(
    "doc",
    [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "kuma-system", "labels": {"kuma.io/sidecar-injection": "false"}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "platform-vars", "namespace": "flux-system"},
            "data": {"region": "europe-west1"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "eso",
                "namespace": "eso",
                "annotations": {"iam.gke.io/gcp-service-account": "a@b.iam.gserviceaccount.com"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 5685, "targetPort": "kds"}]},
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "p"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}},
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                "maxReplicas": 3,
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "n"},
            "spec": {"podSelector": {}},
        },
    ],
)
def test_core_kinds_pass(doc: dict[str, Any]) -> None:
    assert admission.problems(doc) == []


def test_core_wrong_type_fails() -> None:
    doc = deployment()
    doc["spec"]["replicas"] = "two"
    errors = admission.problems(doc)
    assert len(errors) == 1 and errors[0].startswith("Deployment/apps/web: spec.replicas: 'two'"), (
        errors
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "w"}},
        {"apiVersion": "apps/v1beta1", "kind": "Deployment", "metadata": {"name": "w"}},
        # Same file name as networking.k8s.io/v1 NetworkPolicy in kubernetes-validate.
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "w"},
        },
    ],
)
def test_unknown_kind_fails(doc: dict[str, Any]) -> None:
    errors = admission.problems(doc)
    assert (
        len(errors) == 1 and "unknown" in errors[0] and errors[0].startswith(f"{doc['kind']}/w: ")
    ), errors


def test_missing_api_version_or_kind_fails() -> None:
    assert admission.problems({"kind": "ConfigMap", "metadata": {"name": "c"}}) == [
        "ConfigMap/c: apiVersion: missing or not a string"
    ]
    assert admission.problems({"apiVersion": "v1", "metadata": {"name": "c"}})


def test_kubernetes_version_is_pinned() -> None:
    assert KUBERNETES_VERSION == "1.34"


# --------------------------------------------------------------------------- Helm values


def test_kuma_values_keys() -> None:
    assert unknown_values_keys("kuma", {"controlPlane": {"mode": "global"}}) == []
    assert unknown_values_keys("kuma", {"controlPlane": {"modee": "global"}}) == [
        "controlPlane.modee"
    ]
    values = {
        "controlPlane": {
            "mode": "zone",
            "zone": "europe-west1",
            "kdsGlobalAddress": "grpcs://10.0.0.5:5685",
            "defaults": {"skipMeshCreation": True},
            "globalZoneSyncService": {
                "type": "LoadBalancer",
                "loadBalancerIP": "10.0.0.5",
                "annotations": {
                    "networking.gke.io/load-balancer-type": "Internal",
                    "networking.gke.io/internal-load-balancer-allow-global-access": "true",
                },
            },
            "tls": {
                "kdsGlobalServer": {"secretName": "kds"},
                "kdsZoneClient": {"secretName": "kds-ca"},
            },
        },
        "ingress": {"enabled": True},
        "egress": {"enabled": True},
    }
    assert unknown_values_keys("kuma", values) == []


def test_kuma_values_nested_unknowns_reported() -> None:
    values = {
        "controlPlane": {"tls": {"kdsGlobalServr": {"secretName": "x"}}},
        "ingres": {"enabled": True},
    }
    assert sorted(unknown_values_keys("kuma", values)) == [
        "controlPlane.tls.kdsGlobalServr",
        "ingres",
    ]


def test_eso_values_keys() -> None:
    assert unknown_values_keys("external-secrets", {"installCRDs": True}) == []
    assert (
        unknown_values_keys(
            "external-secrets",
            {
                "serviceAccount": {
                    "annotations": {
                        "iam.gke.io/gcp-service-account": "eso@p.iam.gserviceaccount.com"
                    }
                }
            },
        )
        == []
    )
    assert unknown_values_keys("external-secrets", {"serviceAccount": {"annotaions": {}}}) == [
        "serviceAccount.annotaions"
    ]


def test_eso_values_schema_violation_reported() -> None:
    errors = unknown_values_keys("external-secrets", {"installCRDs": "yes"})
    assert errors == ["installCRDs: 'yes' is not of type 'boolean' (values.schema.json)"]


def test_flux_operator_values() -> None:
    assert (
        unknown_values_keys(
            "flux-operator", {"installCRDs": True, "multitenancy": {"enabled": False}}
        )
        == []
    )
    errors = unknown_values_keys("flux-operator", {"logLevel": "verbose", "webb": {}})
    assert "webb" in errors
    assert any(e.startswith("logLevel: 'verbose' is not one of") for e in errors), errors


def test_unknown_chart_rejected() -> None:
    with pytest.raises(ValueError):
        unknown_values_keys("cert-manager", {})


# --------------------------------------------------------------------------- provenance


def test_sources_cover_every_committed_file() -> None:
    sources = committed_sources()
    files = sources["files"]
    committed = {
        p.relative_to(REFS).as_posix()
        for p in REFS.rglob("*")
        if p.is_file() and p.name not in {"index.json", "SOURCES.json", "README.md", "LICENCE.md"}
    }
    assert committed == set(files)
    for rel, meta in files.items():
        for key in (
            "upstream_repo",
            "tag",
            "upstream_path",
            "source_sha256",
            "sha256",
            "licence",
        ):
            assert meta.get(key), (rel, key)
        if "npm_package" in meta:
            # npm files are pinned by the tarball's integrity (the package names no commit).
            assert meta["npm_package"] == f"{meta['upstream_repo'].split('/')[1]}@{meta['tag']}"
            assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", meta["integrity"]), rel
            assert meta["source_file"] == f"npm:{meta['npm_package']}:{meta['upstream_path']}"
            assert "commit" not in meta, rel
        else:
            # Full commits, except where upstream named only an abbreviated one (pulumi/pulumi).
            assert re.fullmatch(r"[0-9a-f]{12,40}", meta["commit"]), (rel, meta["commit"])
        assert len(meta["source_sha256"]) == 64
        assert hashlib.sha256((REFS / rel).read_bytes()).hexdigest() == meta["sha256"], rel
        expected_dir = {"Apache-2.0": "apache-2.0/", "AGPL-3.0": "agpl-3.0/"}[meta["licence"]]
        assert rel.startswith(expected_dir), rel
        agpl = (
            meta["upstream_repo"].startswith("controlplaneio-fluxcd/")
            or meta["upstream_repo"] == "renovatebot/renovate"
        )
        assert (meta["licence"] == "AGPL-3.0") == agpl, rel
        if meta["type"] in {"helm-values", "renovate-config-schema"}:  # verbatim copies
            assert meta["sha256"] == meta["source_sha256"], rel


def test_index_points_at_committed_schemas() -> None:
    index = json.loads((REFS / "index.json").read_text())
    files = committed_sources()["files"]
    kinds = 0
    for api_version, by_kind in index["crds"].items():
        for kind, entry in by_kind.items():
            kinds += 1
            assert entry["schema"] in files
            assert files[entry["schema"]]["apiVersion"] == api_version
            assert files[entry["schema"]]["kind"] == kind
    # Kuma 2.13.10, Flux, ESO: one served version each; GKE Managed Prometheus: v1 and v1alpha1.
    # Flux: 10 shared CRDs + notification-controller Provider and Alert (v1beta3).
    assert kinds == 52 + 12 + 5 + 2 * 5
    assert "external-secrets.io/v1beta1" not in index["crds"]
    assert index["crds"]["kuma.io/v1alpha1"]["Mesh"]["spec_schema"] == "open"
    assert index["charts"]["flux-operator"]["chart_version"] == "0.49.0"
    assert index["charts"]["flux-operator"]["pinned_version"] == "0.58.1"
    assert not any(f["tag"] == "v2.14.3" for f in files.values())


def test_schemas_are_strict() -> None:
    """Every object schema with properties and no preserve-unknown-fields is closed."""
    index = json.loads((REFS / "index.json").read_text())

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "additionalProperties" in node, path
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            walk(node.get(key), f"{path}{'[]' if key == 'items' else '{}'}")
        for name, sub in node.get("$defs", {}).items():
            walk(sub, f"{path}$defs.{name}")

    for by_kind in index["crds"].values():
        for entry in by_kind.values():
            walk(json.loads((REFS / entry["schema"]).read_text()), entry["schema"])


def test_validation_is_cached_and_fast() -> None:
    import time

    docs = [cluster_secret_store(), flux_instance(), mesh_timeout(), mesh(), deployment()]
    for doc in docs:
        admission.problems(doc)
    start = time.perf_counter()
    for _ in range(200):
        for doc in docs:
            assert admission.problems(copy.deepcopy(doc)) == []
    assert time.perf_counter() - start < 10.0  # ~0.5 s when the caches work
    assert kv._crd_validator.cache_info().currsize >= 4
