"""The in-cluster bootstrap (ESO, Flux, Kuma, the Mesh): strict validation against the pinned CRDs
and chart values, the dependency graph, and the security properties."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from components import versions
from components.kuma import KDS_PORT
from components.naming import cluster_of_provider
from offline import admission, mesh_rebuild
from offline.engine import Plan, Registration
from offline.k8s_validation import unknown_values_keys
from tests.support import STACKS, plan_of

RELEASE = "kubernetes:helm.sh/v3:Release"
CUSTOM_RESOURCE_PREFIXES = (
    "kubernetes:kuma.io/",
    "kubernetes:external-secrets.io/",
    "kubernetes:fluxcd",
)
CHART_OF = {
    "kuma": "kuma",
    "external-secrets": "external-secrets",
    versions.FLUX_OPERATOR_CHART_OCI: "flux-operator",
}
CRD_CHART = {
    "kuma.io": "kuma",
    "external-secrets.io": "external-secrets",
    "fluxcd.controlplane.io": "flux-operator",
}


def custom_resources(plan: Plan) -> list[Registration]:
    return [r for r in plan.resources if r.type.startswith(CUSTOM_RESOURCE_PREFIXES)]


def manifest(resource: Registration) -> dict[str, Any]:
    """The object the Kubernetes provider would send for a registration."""
    return {
        k: v for k, v in resource.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")
    }


def cluster_of(plan: Plan, resource: Registration) -> str:
    return cluster_of_provider(plan.by_urn()[resource.provider_urn].name)


def releases(plan: Plan, chart: str) -> list[Registration]:
    return [r for r in plan.of_type(RELEASE) if CHART_OF[r.inputs["chart"]] == chart]


def release_on(plan: Plan, chart: str, cluster: str) -> Registration:
    [release] = [r for r in releases(plan, chart) if cluster_of(plan, r) == cluster]
    return release


def clusters(plan: Plan, role: str | None = None) -> list[str]:
    return [c["name"] for c in plan.config["platform:clusters"] if role in (None, c["role"])]


def walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in walk(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [kv for i, v in enumerate(value) for kv in walk(v, f"{path}[{i}]")]
    return [(path, value)]


# -- strict validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_is_valid_against_the_pinned_crds(stack):
    plan = plan_of(stack)
    resources = custom_resources(plan)
    kinds = {r.inputs["kind"] for r in resources}
    assert kinds == {
        "SecretStore",
        "ExternalSecret",
        "FluxInstance",
        "Mesh",
        "MeshGatewayInstance",
        "MeshTrafficPermission",
        "ResourceSet",
    }
    errors = [e for r in resources for e in admission.problems(manifest(r))]
    assert errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_helm_values_key_exists_in_its_chart(stack):
    plan = plan_of(stack)
    for release in plan.of_type(RELEASE):
        chart = CHART_OF[release.inputs["chart"]]
        assert unknown_values_keys(chart, release.inputs["values"]) == [], release.name


def test_a_misspelt_values_key_is_caught():
    """The check above can fail: Helm would silently ignore this key."""
    release = release_on(plan_of("staging"), "kuma", "stg-global")
    values = json.loads(json.dumps(release.inputs["values"]))
    values["controlPlane"]["defaults"]["skipMeshCreations"] = True
    assert unknown_values_keys("kuma", values) == ["controlPlane.defaults.skipMeshCreations"]


@pytest.mark.parametrize("stack", STACKS)
def test_chart_versions_are_the_pinned_ones(stack):
    plan = plan_of(stack)
    expected = {
        "kuma": versions.KUMA_CHART_VERSION,
        "external-secrets": versions.EXTERNAL_SECRETS_CHART_VERSION,
        "flux-operator": versions.FLUX_OPERATOR_CHART_VERSION,
    }
    for release in plan.of_type(RELEASE):
        assert release.inputs["version"] == expected[CHART_OF[release.inputs["chart"]]]


# -- what runs where -------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_eso_and_flux_on_every_cluster_kuma_by_role(stack):
    plan = plan_of(stack)
    for chart in ("external-secrets", "flux-operator"):
        assert sorted(cluster_of(plan, r) for r in releases(plan, chart)) == sorted(clusters(plan))
    kuma = {
        cluster_of(plan, r): r.inputs["values"]["controlPlane"]["mode"]
        for r in releases(plan, "kuma")
    }
    assert kuma == {c: "global" for c in clusters(plan, "global")} | {
        c: "zone" for c in clusters(plan, "zone")
    }
    [mesh] = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    assert cluster_of(plan, mesh) in clusters(plan, "global")


@pytest.mark.parametrize("stack", STACKS)
def test_kuma_global_values(stack):
    plan = plan_of(stack)
    [address] = [a for a in plan.of_type("gcp:compute/address:Address") if a.name == "kuma-kds"]
    assert address.inputs["addressType"] == "INTERNAL"
    [global_cluster] = clusters(plan, "global")
    control_plane = release_on(plan, "kuma", global_cluster).inputs["values"]["controlPlane"]
    assert control_plane["defaults"]["skipMeshCreation"] is True
    # The zone-sync Service is the program's, behind its gate (tests/test_mesh_rebuild.py).
    assert control_plane["globalZoneSyncService"] == {"enabled": False}
    (service,) = mesh_rebuild.zone_sync_services(plan, global_cluster)
    sync = {**service["spec"], "annotations": service["metadata"]["annotations"]}
    assert sync["type"] == "LoadBalancer"
    assert sync["loadBalancerIP"] == address.inputs["address"]
    assert [p["port"] for p in sync["ports"]] == [KDS_PORT]
    assert sync["annotations"]["networking.gke.io/load-balancer-type"] == "Internal"
    zone_regions = {c["region"] for c in plan.config["platform:clusters"] if c["role"] == "zone"}
    cross_region = zone_regions != {address.inputs["region"]}
    global_access = "networking.gke.io/internal-load-balancer-allow-global-access"
    assert (sync["annotations"].get(global_access) == "true") is cross_region
    assert control_plane["tls"]["kdsGlobalServer"]["secretName"] == "kds-server-tls"
    prod = plan.config["platform:stage"] == "prod"
    # It serves Kuma's webhooks: never alone (tests/test_resilience_topology.py).
    assert control_plane["replicas"] == (3 if prod else 2)
    assert control_plane["podDisruptionBudget"]["enabled"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_kuma_zone_values(stack):
    plan = plan_of(stack)
    [address] = [a for a in plan.of_type("gcp:compute/address:Address") if a.name == "kuma-kds"]
    for spec in (c for c in plan.config["platform:clusters"] if c["role"] == "zone"):
        values = release_on(plan, "kuma", spec["name"]).inputs["values"]
        control_plane = values["controlPlane"]
        assert control_plane["zone"] == spec["kumaZone"]
        assert (
            control_plane["kdsGlobalAddress"] == f"grpcs://{address.inputs['address']}:{KDS_PORT}"
        )
        assert control_plane["tls"]["kdsZoneClient"] == {
            "secretName": "kds-ca-certs",
            "skipVerify": False,
        }
        assert values["ingress"]["enabled"] is True
        assert (
            values["ingress"]["service"]["annotations"]["networking.gke.io/load-balancer-type"]
            == "Internal"
        )
        assert values["egress"]["enabled"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_kds_certificate_names_exactly_the_reserved_ip(stack):
    plan = plan_of(stack)
    [address] = [a for a in plan.of_type("gcp:compute/address:Address") if a.name == "kuma-kds"]
    [request] = plan.of_type("tls:index/certRequest:CertRequest")
    assert request.inputs["ipAddresses"] == [address.inputs["address"]]
    assert "dnsNames" not in request.inputs
    [cert] = plan.of_type("tls:index/locallySignedCert:LocallySignedCert")
    assert "server_auth" in cert.inputs["allowedUses"]


@pytest.mark.parametrize("stack", STACKS)
def test_kuma_system_namespaces_are_not_injected(stack):
    plan = plan_of(stack)
    kuma_namespaces = [
        n
        for n in plan.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "kuma-system"
    ]
    assert len(kuma_namespaces) == len(clusters(plan))
    for namespace in kuma_namespaces:
        assert namespace.inputs["metadata"]["labels"]["kuma.io/sidecar-injection"] == "false"


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh(stack):
    plan = plan_of(stack)
    [mesh] = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    spec = mesh.inputs["spec"]
    assert spec["routing"]["zoneEgress"] is True
    assert spec["skipCreatingInitialPolicies"] == ["*"], "our defaults live in k8s/mesh"
    assert spec["mtls"]["enabledBackend"] in [b["name"] for b in spec["mtls"]["backends"]]
    assert mesh.protect is (plan.config["platform:stage"] == "prod")


def test_mesh_without_enabled_backend_is_rejected_by_the_hand_check():
    mesh = manifest(plan_of("staging").of_type("kubernetes:kuma.io/v1alpha1:Mesh")[0])
    del mesh["spec"]["mtls"]["enabledBackend"]
    assert any("zoneEgress" in e for e in admission.problems(mesh))


@pytest.mark.parametrize("stack", STACKS)
def test_flux_instance(stack):
    plan = plan_of(stack)
    roles = {c["name"]: c["role"] for c in plan.config["platform:clusters"]}
    instances = plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    assert sorted(cluster_of(plan, i) for i in instances) == sorted(roles)
    for instance in instances:
        spec = instance.inputs["spec"]
        assert instance.inputs["metadata"] == {
            "name": "flux",
            "namespace": "flux-system",
            "labels": {"app.kubernetes.io/managed-by": "pulumi"},
        }
        assert spec["distribution"] == {"version": "2.9.x", "registry": "ghcr.io/fluxcd"}
        assert spec["components"] == [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
        ]
        sync = spec["sync"]
        assert sync["url"] == plan.config["platform:gitops"]["repositoryUrl"]
        assert sync["ref"] == "refs/heads/main"
        assert sync["path"] == f"k8s/clusters/{stack}/{roles[cluster_of(plan, instance)]}"
        assert sync["pullSecret"] == "flux-git-credentials"
        [patch] = [
            p for p in spec["kustomize"]["patches"] if p["target"]["kind"] == "Kustomization"
        ]
        assert patch["target"] == {"kind": "Kustomization", "name": "flux-system"}
        assert json.loads(patch["patch"]) == [
            {
                "op": "add",
                "path": "/spec/postBuild",
                "value": {"substituteFrom": [{"kind": "ConfigMap", "name": "platform-vars"}]},
            }
        ]


@pytest.mark.parametrize("stack", STACKS)
def test_platform_vars_per_cluster(stack):
    plan = plan_of(stack)
    specs = {c["name"]: c for c in plan.config["platform:clusters"]}
    config_maps = [
        c
        for c in plan.of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == "platform-vars"
    ]
    assert sorted(cluster_of(plan, c) for c in config_maps) == sorted(specs)
    for config_map in config_maps:
        spec = specs[cluster_of(plan, config_map)]
        assert config_map.inputs["metadata"]["namespace"] == "flux-system"
        assert config_map.inputs["metadata"]["labels"]["reconcile.fluxcd.io/watch"] == "Enabled"
        data = config_map.inputs["data"]
        gitops = plan.config["platform:gitops"]
        expected = {
            # The repository the FluxInstance syncs: where staging posts its commit statuses.
            "GIT_REPOSITORY_URL": gitops["repositoryUrl"],
            "ENVIRONMENT": plan.config["platform:environment"],
            "STAGE": plan.config["platform:stage"],
            "GCP_PROJECT": plan.config["gcp:project"],
            "GCP_REGION": spec["region"],
            "CLUSTER_NAME": spec["name"],
            "CLUSTER_ROLE": spec["role"],
            "SECRET_STORE": "gcp-secret-manager",
            "MESH_NAME": "default",
            "KUMA_NAMESPACE": "kuma-system",
        } | ({"KUMA_ZONE": spec["kumaZone"]} if spec["role"] == "zone" else {})
        if "commitStatusSecret" in gitops:
            expected["COMMIT_STATUS_SECRET"] = gitops["commitStatusSecret"]
        database = plan.config.get("platform:database")
        if database:  # components/database.py; the endpoint is the range's first usable address
            expected |= {
                "DATABASE_ADDRESS": str(
                    ipaddress.ip_network(database["endpointRange"]).network_address + 2
                ),
                "DATABASE_NAME": database["tenant"],
                "DATABASE_USER": database["tenant"],
                "DATABASE_PASSWORD_SECRET": database["passwordSecret"],
            }
        assert data == expected


@pytest.mark.parametrize("stack", STACKS)
def test_git_credentials_come_from_secret_manager_through_eso(stack):
    plan = plan_of(stack)
    secret_id = plan.config["platform:gitops"]["credentialsSecret"]
    pulls = [
        r
        for r in plan.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if r.name.endswith("-git-credentials")
    ]
    assert len(pulls) == len(clusters(plan))
    for external_secret in pulls:
        spec = external_secret.inputs["spec"]
        assert external_secret.inputs["metadata"]["namespace"] == "flux-system"
        assert spec["dataFrom"] == [{"extract": {"key": secret_id}}]
        assert spec["secretStoreRef"] == {"kind": "SecretStore", "name": "gcp-secret-manager"}
    # The credentials value never passes through Pulumi: no version is created for it.
    versions_created = {
        v.name for v in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    }
    assert secret_id not in versions_created


# -- dependency graph ------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_wait_for_the_release_installing_their_crd(stack):
    plan = plan_of(stack)
    for resource in custom_resources(plan):
        group = resource.inputs["apiVersion"].split("/")[0]
        crd_release = release_on(plan, CRD_CHART[group], cluster_of(plan, resource))
        assert plan.depends_on(resource, crd_release), resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_mesh_after_global_control_plane(stack):
    plan = plan_of(stack)
    [mesh] = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    [global_cluster] = clusters(plan, "global")
    assert plan.depends_on(mesh, release_on(plan, "kuma", global_cluster))


@pytest.mark.parametrize("stack", STACKS)
def test_zone_installs_have_the_ca_to_verify_the_global(stack):
    """(They also wait for the global install: tests/test_upgrade_order.py.)"""
    plan = plan_of(stack)
    [ca] = [
        c
        for c in plan.of_type("tls:index/selfSignedCert:SelfSignedCert")
        if c.name.endswith("-kds-ca")
    ]
    for zone in clusters(plan, "zone"):
        assert plan.depends_on(release_on(plan, "kuma", zone), ca)


@pytest.mark.parametrize("stack", STACKS)
def test_flux_instance_after_its_pull_secret_and_platform_vars(stack):
    plan = plan_of(stack)
    for instance in plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance"):
        cluster = cluster_of(plan, instance)
        same_cluster = [r for r in plan.resources if r.provider and cluster_of(plan, r) == cluster]
        [pull_secret] = [
            r
            for r in same_cluster
            if r.type.endswith(":ExternalSecret")
            and r.inputs["metadata"]["namespace"] == "flux-system"
        ]
        [platform_vars] = [r for r in same_cluster if r.type == "kubernetes:core/v1:ConfigMap"]
        assert plan.depends_on(instance, pull_secret)
        assert plan.depends_on(instance, platform_vars)


def test_depends_on_is_not_vacuous():
    plan = plan_of("staging")
    [mesh] = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    [zone] = clusters(plan, "zone")
    assert not plan.depends_on(mesh, release_on(plan, "kuma", zone))


# -- security --------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_no_skip_verify_anywhere(stack):
    for resource in plan_of(stack).resources:
        for path, value in walk(resource.inputs):
            leaf = path.rsplit(".", 1)[-1].lower()
            if leaf in {"skipverify", "insecureskipverify", "insecure"}:
                assert value is False, f"{resource.name}: {path}"


@pytest.mark.parametrize("stack", STACKS)
def test_private_keys_only_as_pulumi_secrets(stack):
    plan = plan_of(stack)
    found = 0
    for resource in plan.resources:
        for path, value in walk(resource.inputs):
            if isinstance(value, str) and "PRIVATE KEY" in value:
                found += 1
                assert resource.is_secret(path), f"{resource.type} {resource.name}: {path} in clear"
    assert found >= 1


@pytest.mark.parametrize("stack", STACKS)
def test_generated_secret_values_are_pulumi_secrets(stack):
    for version in plan_of(stack).of_type("gcp:secretmanager/secretVersion:SecretVersion"):
        assert version.is_secret("secretData")


@pytest.mark.parametrize("stack", STACKS)
def test_flux_instance_protection_follows_the_stage(stack):
    """Prod keeps its FluxInstance (deleting it uninstalls Flux); other stages destroy it with
    their cluster (tests/test_teardown.py)."""
    plan = plan_of(stack)
    prod = plan.config["platform:stage"] == "prod"
    instances = plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
    assert instances
    for instance in instances:
        assert (instance.protect, instance.retain_on_delete) == (prod, prod)
