"""A mesh that survives its global: the Mesh's CA is the program's (a
`provided` backend from the state), the baseline permission exists with the Mesh, and zones
reach a rebuilt global only once it holds everything they keep. The drill models Kuma's
zone-side KDS sync (offline/mesh_rebuild.py, from kumahq/kuma v2.13.10 pkg/kds/v2/store/sync.go)
over the offline plan and the GitOps render."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from components.kuma.settings import (
    MESH_CA_CERT_SECRET,
    MESH_CA_KEY_SECRET,
    MESH_CA_SECRET_ID,
    MESH_NAME,
    ZONE_SYNC_SERVICE,
)
from components.kuma.zone_sync import MESH_POLICIES_KUSTOMIZATION
from offline import kuma_ca, mesh_rebuild
from offline.engine import Plan, Registration, stacks
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import meta
from offline.gitops.render import ClusterRender
from offline.k8s_validation import validate_manifest
from offline.kuma_rules import kuma_problems
from tests.support import plan_of

STACKS = stacks()
MESH = mesh_rebuild.Key("Mesh", MESH_NAME)
CA = (
    mesh_rebuild.Key("Secret", MESH_CA_CERT_SECRET),
    mesh_rebuild.Key("Secret", MESH_CA_KEY_SECRET),
)
# Kuma's own: the rebuilt global creates a new one with the Mesh, KDS updates it on every zone.
SIGNING_KEY = mesh_rebuild.Key("Secret", f"dataplane-token-signing-key-{MESH_NAME}-1")


def _global(stack: str) -> ClusterRender:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global")


def _one(plan: Plan, type_: str, name: str) -> Registration:
    (found,) = [r for r in plan.of_type(type_) if r.get("metadata.name") == name]
    return found


def _edited(plan: Plan, urn: str, edit: Callable[[Registration], Registration]) -> Plan:
    return dataclasses.replace(
        plan, registrations=[edit(r) if r.urn == urn else r for r in plan.registrations]
    )


# -- the CA -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh_ca_is_provided_from_the_programs_secrets(stack: str) -> None:
    """Kuma reads a provided CA from two Kuma Secrets of the mesh (pkg/plugins/ca/provided/
    manager.go `getCa` -> datasource `secret`); the program writes both from pulumi-tls, the key
    as a Pulumi secret, and the Mesh waits for them (its webhook validates the pair)."""
    plan = plan_of(stack)
    (mesh,) = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    mtls = mesh.inputs["spec"]["mtls"]
    (backend,) = [b for b in mtls["backends"] if b["name"] == mtls["enabledBackend"]]
    assert backend["type"] == "provided"
    assert backend["conf"] == {
        "cert": {"secret": MESH_CA_CERT_SECRET},
        "key": {"secret": MESH_CA_KEY_SECRET},
    }
    index = plan.by_urn()
    for name in (MESH_CA_CERT_SECRET, MESH_CA_KEY_SECRET):
        secret = _one(plan, "kubernetes:core/v1:Secret", name)
        assert secret.inputs["type"] == "system.kuma.io/secret"
        assert secret.get("metadata.namespace") == "kuma-system"
        assert meta(secret.inputs)["labels"] == {"kuma.io/mesh": MESH_NAME}
        assert secret.inputs["stringData"]["value"].startswith("-----BEGIN ")
        (record,) = secret.property_dependencies["stringData"]
        assert index[record].type == "gcp:secretmanager/secretVersion:SecretVersion"
        assert plan.depends_on(mesh, secret), f"the Mesh must wait for {name}"
        assert secret.protect == mesh.protect, "the CA is protected wherever the Mesh is"
    key_secret = _one(plan, "kubernetes:core/v1:Secret", MESH_CA_KEY_SECRET)
    assert key_secret.is_secret("stringData.value") or key_secret.is_secret("stringData")
    assert not kuma_problems(mesh.inputs)


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh_ca_record_is_written_once_from_pulumi_tls(stack: str) -> None:
    """The Secret Manager record: both PEMs from pulumi-tls, a Pulumi secret, never rewritten
    (ignore_changes), retained, in an entry kept like every other one."""
    plan = plan_of(stack)
    (record,) = [
        r
        for r in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        if str(r.inputs["secret"]).endswith(f"/secrets/{MESH_CA_SECRET_ID}")
    ]
    index = plan.by_urn()
    assert {index[u].type for u in record.property_dependencies["secretData"]} == {
        "tls:index/selfSignedCert:SelfSignedCert",
        "tls:index/privateKey:PrivateKey",
    }
    assert record.is_secret("secretData")
    assert record.ignore_changes == ["secretData"]
    assert record.retain_on_delete
    (entry,) = [
        r
        for r in plan.of_type("gcp:secretmanager/secret:Secret")
        if r.inputs["secretId"] == MESH_CA_SECRET_ID
    ]
    (other, *_) = [r for r in plan.of_type("gcp:secretmanager/secret:Secret") if r.urn != entry.urn]
    assert entry.inputs["replication"] == other.inputs["replication"]
    assert (entry.protect, entry.retain_on_delete) == (other.protect, other.retain_on_delete)


def _mesh_ca_inputs(plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
    (cert,) = [
        r
        for r in plan.of_type("tls:index/selfSignedCert:SelfSignedCert")
        if r.name.endswith("-mesh-ca")
    ]
    (key,) = [
        r for r in plan.of_type("tls:index/privateKey:PrivateKey") if r.name.endswith("-mesh-ca")
    ]
    return dict(key.inputs), dict(cert.inputs)


def test_the_mesh_ca_passes_kumas_provided_ca_validation() -> None:
    """A certificate made, with OpenSSL, from the inputs the program gives pulumi-tls passes
    Kuma's provided-CA checks (offline/kuma_ca.py, from pkg/plugins/ca/provided/
    ca_cert_validator.go); the same inputs with key_agreement, or without CA or cert_signing,
    do not."""
    key, cert = _mesh_ca_inputs(plan_of("prod-eu"))
    assert key["algorithm"] == "ECDSA"
    assert kuma_ca.problems(key, cert) == []
    uses = list(cert["allowedUses"])
    assert kuma_ca.problems(key, {**cert, "allowedUses": [*uses, "key_agreement"]}) == [
        "cert[0]: key usage extension 'keyAgreement' must NOT be set"
    ]
    assert kuma_ca.problems(key, {**cert, "isCaCertificate": False}) == [
        "cert[0]: basic constraint 'CA' must be set to 'true'"
    ]
    without_signing = [u for u in uses if u != "cert_signing"]
    assert kuma_ca.problems(key, {**cert, "allowedUses": without_signing}) == [
        "cert[0]: key usage extension 'keyCertSign' must be set"
    ]


# -- the baseline permission ----------------------------------------------------------------


@pytest.mark.parametrize(("stack", "action"), [("staging", "Allow"), ("prod-eu", "Deny")])
def test_the_baseline_permission_exists_with_the_mesh(stack: str, action: str) -> None:
    plan = plan_of(stack)
    (mesh,) = plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    (baseline,) = plan.of_type("kubernetes:kuma.io/v1alpha1:MeshTrafficPermission")
    assert baseline.inputs["spec"]["targetRef"] == {"kind": "Mesh"}
    assert [e["default"]["action"] for e in baseline.inputs["spec"]["from"]] == [action]
    assert meta(baseline.inputs)["labels"]["kuma.io/mesh"] == MESH_NAME
    # A mesh-scoped policy gets its Mesh as owner (owner_reference_mutator.go): after it.
    assert plan.depends_on(baseline, mesh)
    assert validate_manifest(dict(baseline.inputs)) == []
    assert kuma_problems(dict(baseline.inputs)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_synced_object_is_owned_by_both_the_program_and_flux(stack: str) -> None:
    plan = plan_of(stack)
    render = _global(stack)
    program = mesh_rebuild.program_synced(plan, render.cluster.name)
    flux = mesh_rebuild.flux_synced(render)
    assert program and flux
    assert not set(program) & set(flux), sorted(map(str, set(program) & set(flux)))


# -- the zone-sync Service and its gate -----------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_chart_creates_no_zone_sync_service(stack: str) -> None:
    plan = plan_of(stack)
    release = mesh_rebuild.global_release(plan, _global(stack).cluster.name)
    assert not mesh_rebuild.chart_service_enabled(release)


@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_zone_sync_service_is_the_charts_service(stack: str) -> None:
    """Same name, selector, port and protocol as the chart's template
    (deployments/charts/kuma/templates/cp-global-sync-service.yaml), schema-valid."""
    plan = plan_of(stack)
    (service,) = mesh_rebuild.zone_sync_services(plan, _global(stack).cluster.name)
    assert validate_manifest(dict(service)) == []
    assert meta(service)["name"] == ZONE_SYNC_SERVICE
    assert service["spec"]["selector"] == {
        "app": "kuma-control-plane",
        "app.kubernetes.io/name": "kuma",
        "app.kubernetes.io/instance": "kuma",
    }
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["appProtocol"]) == (5685, "grpc")
    gate = mesh_rebuild.zone_sync_gate(plan, _global(stack).cluster.name)
    assert gate is not None
    assert validate_manifest(dict(gate.inputs)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_gate_waits_for_the_flux_kustomization_that_applies_the_mesh_policies(
    stack: str,
) -> None:
    render = _global(stack)
    kustomizations = {
        meta(d)["name"]: d
        for d in render.docs
        if (d["apiVersion"], d["kind"]) == mesh_rebuild.FLUX_KUSTOMIZATION
    }
    policies = kustomizations[MESH_POLICIES_KUSTOMIZATION]
    # Ready only once everything it applied is (Flux `wait`), not merely applied.
    assert policies["spec"]["wait"] is True
    flux = mesh_rebuild.flux_synced(render)
    # Every policy Flux applies on the global comes from that Kustomization.
    assert {item.source for item in flux.values()} == {f"flux {MESH_POLICIES_KUSTOMIZATION}"}


# -- the drill --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_global_rebuilt_from_the_same_state_no_zone_loses_anything(stack: str) -> None:
    """The global cluster is rebuilt (`pulumi up` after "A cluster is lost"): the zones reconnect
    only once the new global holds the Mesh, its CA Secrets, the baseline permission, every
    Flux-applied policy and the gateway's certificate; their initial sync deletes nothing, and
    the CA is the same one (it comes from the state, not from the lost cluster). The only update
    is Kuma's own data plane token signing key, made anew by the rebuilt global."""
    plan = plan_of(stack)
    render = _global(stack)
    drill = mesh_rebuild.rebuild_drill(plan, render)
    print("\n".join(drill.steps))
    assert drill.result.deleted == ()
    assert drill.result.updated == (SIGNING_KEY,)
    kept = drill.zone_after
    assert {MESH, *CA} <= kept
    assert any(k.kind == "MeshTrafficPermission" for k in kept)
    assert kept == frozenset(drill.zone_before)
    # What feeds the CA Secrets survives the cluster: it is not in the cluster.
    cluster = render.cluster.name
    index = plan.by_urn()
    for name in (MESH_CA_CERT_SECRET, MESH_CA_KEY_SECRET):
        secret = _one(plan, "kubernetes:core/v1:Secret", name)
        for urn in secret.property_dependencies["stringData"]:
            assert not index[urn].provider_urn.endswith(f"{cluster}-k8s")
            assert not index[urn].deleted_with


@pytest.mark.parametrize("stack", STACKS)
def test_global_rebuilt_after_a_state_loss_no_zone_loses_anything(stack: str) -> None:
    """The state was lost and restored per the runbook (`make import-file`: pulumi-tls is
    created anew, the CA's Secret Manager version is imported); then the global is rebuilt.
    Nothing of the program's that the zones keep has new content (the CA Secrets come from the
    imported version), so the zones' initial sync deletes nothing and updates only Kuma's own
    signing key."""
    plan = plan_of(stack)
    render = _global(stack)
    changed = mesh_rebuild.regenerated_after_state_loss(plan, render.cluster.name)
    assert changed == {}
    drill = mesh_rebuild.rebuild_drill(plan, render, {k: "regenerated" for k in changed})
    assert (drill.result.deleted, drill.result.updated) == ((), (SIGNING_KEY,))


@pytest.mark.parametrize("stack", STACKS)
def test_the_global_creates_a_signing_key_with_each_mesh_and_zones_hold_it(stack: str) -> None:
    """kumahq/kuma v2.13.10 pkg/defaults/mesh/mesh.go: the global creates the Secret with the
    Mesh; it is a mesh Secret, so the zones hold it, and it is there once the Mesh is."""
    plan = plan_of(stack)
    render = _global(stack)
    steady = mesh_rebuild.global_holds(plan, render)
    assert mesh_rebuild.is_kuma_created(steady[SIGNING_KEY])
    assert [k for k, i in steady.items() if mesh_rebuild.is_kuma_created(i)] == [SIGNING_KEY]
    assert SIGNING_KEY in mesh_rebuild.gate(plan, render).holds


def test_a_ca_record_rewritten_from_the_state_would_rotate_the_ca_after_a_state_loss() -> None:
    """Without ignore_changes the imported version would be replaced with the regenerated
    pulumi-tls pair, and every zone would get a new trust root."""
    plan = plan_of("prod-eu")
    (record,) = [
        r
        for r in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
        if str(r.inputs["secret"]).endswith(f"/secrets/{MESH_CA_SECRET_ID}")
    ]
    plan = _edited(plan, record.urn, lambda r: dataclasses.replace(r, ignore_changes=[]))
    render = _global("prod-eu")
    changed = mesh_rebuild.regenerated_after_state_loss(plan, render.cluster.name)
    assert set(changed) == set(CA)
    drill = mesh_rebuild.rebuild_drill(plan, render, {k: "regenerated" for k in changed})
    assert set(drill.result.updated) == {*CA, SIGNING_KEY}


def _chart_service_on(plan: Plan, cluster: str) -> Plan:
    release = mesh_rebuild.global_release(plan, cluster)

    def edit(r: Registration) -> Registration:
        values: dict[str, Any] = dict(r.inputs["values"])
        control_plane = dict(values["controlPlane"])
        control_plane.pop("globalZoneSyncService")
        values["controlPlane"] = control_plane
        return dataclasses.replace(r, inputs={**r.inputs, "values": values})

    return _edited(plan, release.urn, edit)


def test_with_the_charts_zone_sync_service_a_rebuilt_global_wipes_the_zones() -> None:
    """The failure this guards against: the chart's Service comes with the global release,
    zones connect to an empty global and delete the Mesh, its CA and every permission."""
    render = _global("prod-eu")
    plan = _chart_service_on(plan_of("prod-eu"), render.cluster.name)
    drill = mesh_rebuild.rebuild_drill(plan, render)
    deleted = set(drill.result.deleted)
    assert {MESH, *CA} <= deleted
    assert all(k in deleted for k in drill.zone_before if k.kind == "MeshTrafficPermission")


def _gate_spec(plan: Plan, cluster: str, edit: Callable[[dict[str, Any]], None]) -> Plan:
    gate = mesh_rebuild.zone_sync_gate(plan, cluster)
    assert gate is not None

    def change(r: Registration) -> Registration:
        spec = {**r.inputs["spec"], "dependsOn": [dict(d) for d in r.inputs["spec"]["dependsOn"]]}
        edit(spec)
        return dataclasses.replace(r, inputs={**r.inputs, "spec": spec})

    return _edited(plan, gate.urn, change)


def test_without_waiting_for_flux_the_zones_lose_the_flux_policies() -> None:
    render = _global("prod-eu")
    plan = _gate_spec(
        plan_of("prod-eu"),
        render.cluster.name,
        lambda spec: spec.update(
            dependsOn=[d for d in spec["dependsOn"] if d["kind"] != "Kustomization"]
        ),
    )
    deleted = {str(k) for k in mesh_rebuild.rebuild_drill(plan, render).result.deleted}
    assert "MeshTrafficPermission/catalog-from-storefront" in deleted
    assert "MeshGateway/edge" in deleted or any(k.startswith("MeshGateway/") for k in deleted)


def test_without_waiting_for_the_gateway_certificate_the_zones_lose_it() -> None:
    render = _global("prod-eu")
    plan = _gate_spec(
        plan_of("prod-eu"),
        render.cluster.name,
        lambda spec: spec.update(dependsOn=[d for d in spec["dependsOn"] if d["kind"] != "Secret"]),
    )
    deleted = {str(k) for k in mesh_rebuild.rebuild_drill(plan, render).result.deleted}
    assert deleted == {"Secret/mesh-gateway-tls"}


def test_a_gate_created_before_the_mesh_lets_the_zones_delete_it() -> None:
    render = _global("staging")
    plan = plan_of("staging")
    gate = mesh_rebuild.zone_sync_gate(plan, render.cluster.name)
    assert gate is not None
    index = plan.by_urn()
    program = {
        r.urn
        for r in plan.resources
        if r.custom and mesh_rebuild.is_synced(r.inputs) and r.urn in gate.dependencies
    }
    assert program, "the gate lists the program's mesh resources among its dependencies"
    cut = _edited(
        plan,
        gate.urn,
        lambda r: dataclasses.replace(
            r, dependencies=[u for u in r.dependencies if u not in program]
        ),
    )
    # Nothing else in the graph brings them in before the gate: the zones would delete them.
    deleted = set(mesh_rebuild.rebuild_drill(cut, render).result.deleted)
    assert {mesh_rebuild.key_of(index[u].inputs) for u in program} <= deleted
