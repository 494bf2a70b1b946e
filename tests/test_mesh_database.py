"""The database path through the mesh (catalog's connection to Cloud SQL): catalog opts into
k8s/apps/components/postgres-connection, connects to the MeshExternalService `postgres`, whose
endpoint is the address the program gave the Cloud SQL endpoint; the password comes from the
entry only catalog reads; only the ZoneEgress can open a connection to the database's endpoint,
no meshed pod can (rendered NetworkPolicies, Kubernetes semantics: offline/gitops/egress.py)."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from components.kuma.settings import KUMA_NAMESPACE
from offline.engine import stack_config
from offline.gitops import egress, mesh
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import Doc, ident, meta, namespace_of, workloads
from offline.gitops.render import ClusterRender
from tests.support import STACKS, plan_of

ADDRESS = "gcp:compute/address:Address"
FORWARDING_RULE = "gcp:compute/forwardingRule:ForwardingRule"


def _renders(stack: str, role: str) -> list[ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == role]


def _policies(stack: str) -> list[Doc]:
    return _renders(stack, "global")[0].docs


def _database(stack: str) -> dict[str, Any]:
    database = stack_config(stack)["platform:database"]
    assert isinstance(database, dict)
    return database


def _endpoint(stack: str) -> str:
    """The address the plan reserves for the endpoint, which its forwarding rule uses."""
    plan = plan_of(stack)
    (rule,) = plan.of_type(FORWARDING_RULE)
    by_urn = plan.by_urn()
    (address,) = [
        by_urn[u] for u in rule.property_dependencies["ipAddress"] if by_urn[u].type == ADDRESS
    ]
    return str(address.inputs["address"])


def _external_services(stack: str) -> list[Doc]:
    return [d for d in _policies(stack) if d["kind"] == "MeshExternalService"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_external_service_points_at_the_programs_endpoint(stack: str) -> None:
    (service,) = _external_services(stack)
    assert meta(service)["namespace"] == KUMA_NAMESPACE
    assert meta(service)["labels"]["kuma.io/mesh"] in gitops_facts.stack_facts(stack).mesh_names
    (endpoint,) = service["spec"]["endpoints"]
    assert endpoint == {"address": _endpoint(stack), "port": 5432}
    assert service["spec"]["match"] == {
        "type": "HostnameGenerator",
        "port": 5432,
        "protocol": "tcp",
    }
    # The endpoint lies in the database's own range.
    assert ipaddress.ip_address(endpoint["address"]) in ipaddress.ip_network(
        _database(stack)["endpointRange"]
    )


def _database_clients(
    render: ClusterRender,
) -> Iterator[tuple[Doc, dict[str, Any], dict[str, Any]]]:
    """(workload, its container's env by name, the secret volume holding the password)."""
    for doc, pod in workloads(render.docs):
        for container in pod["spec"]["containers"]:
            env = {e["name"]: e for e in container.get("env") or []}
            if "PGHOST" not in env:
                continue
            directory, file = env["DATABASE_PASSWORD_FILE"]["value"].rsplit("/", 1)
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
            (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
            assert file == "password"
            yield doc, env, volume


@pytest.mark.parametrize("stack", STACKS)
def test_the_tenant_connects_through_the_external_service_with_its_own_password(
    stack: str,
) -> None:
    database = _database(stack)
    readable = gitops_facts.stack_facts(stack).readable_by
    for zone in _renders(stack, "zone"):
        clients = list(_database_clients(zone))
        assert {namespace_of(doc) for doc, _, _ in clients} == {database["tenant"]}
        assert mesh.check_external_destinations(zone.objects, _policies(stack)) == []
        for doc, env, volume in clients:
            assert env["PGSSLMODE"]["value"] == "require", ident(doc)  # the server demands TLS
            assert env["PGDATABASE"]["value"] == env["PGUSER"]["value"] == database["tenant"]
            secret_name = volume["secret"]["secretName"]
            (external,) = [
                d
                for d in zone.docs
                if d["kind"] == "ExternalSecret"
                and namespace_of(d) == namespace_of(doc)
                and d["spec"]["target"]["name"] == secret_name
            ]
            (entry,) = external["spec"]["data"]
            assert entry["remoteRef"]["key"] == database["passwordSecret"]
            # Only the tenant's identity may read the entry (Secret Manager grants).
            readers = {ns for ns, ids in readable.items() if database["passwordSecret"] in ids}
            assert readers == {database["tenant"]}


def test_a_database_host_outside_the_mesh_is_reported() -> None:
    zone = _renders("prod-eu", "zone")[0]
    objects = copy.deepcopy(zone.objects)
    for _, pod in workloads(objects):
        for container in pod["spec"]["containers"]:
            for env in container.get("env") or []:
                if env["name"] == "PGHOST":
                    env["value"] = "10.140.0.2"
    problems = mesh.check_external_destinations(objects, _policies("prod-eu"))
    assert problems and all("PGHOST=10.140.0.2" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_zone_egress_reaches_the_database_endpoint(stack: str) -> None:
    """Of every namespace on a zone cluster (the program's and the tree's), only the Kuma system
    namespace, where the ZoneEgress runs and which no policy isolates for egress, may open a
    connection to the database's endpoint: meshed namespaces leave only through the mesh,
    platform namespaces only on HTTPS (components/kuma/network_policy.py)."""
    database = egress.Destination(5432, ip=_endpoint(stack))
    for zone in _renders(stack, "zone"):
        namespaces = {meta(d)["name"] for d in zone.objects if d["kind"] == "Namespace"}
        assert mesh.meshed_namespaces(zone.objects) < namespaces
        reach = {
            ns
            for ns in namespaces
            if egress.egress_allowed(zone.objects, ns, {"app": "any"}, database)
        }
        assert reach == {KUMA_NAMESPACE}, zone.cluster.name
        # And every pod the tree runs, with its own labels.
        for doc, pod in workloads(zone.objects):
            labels = meta(pod).get("labels") or {}
            allowed = egress.egress_allowed(zone.objects, namespace_of(doc), labels, database)
            assert allowed is (namespace_of(doc) == KUMA_NAMESPACE), ident(doc)


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh_lets_its_external_services_through_the_zone_egress(stack: str) -> None:
    """Kuma OSS 2.13 denies every MeshExternalService at the ZoneEgress when the Mesh sets
    defaultForbidMeshExternalServiceAccess, whatever the MeshTrafficPermissions say."""
    (mesh_cr,) = plan_of(stack).of_type("kubernetes:kuma.io/v1alpha1:Mesh")
    routing = mesh_cr.inputs["spec"]["routing"]
    assert routing["zoneEgress"] is True
    assert routing["defaultForbidMeshExternalServiceAccess"] is False


def test_without_its_egress_policy_a_meshed_pod_would_reach_the_database() -> None:
    zone = _renders("prod-eu", "zone")[0]
    database = egress.Destination(5432, ip=_endpoint("prod-eu"))
    tenant = _database("prod-eu")["tenant"]
    assert not egress.egress_allowed(zone.objects, tenant, {"app": "x"}, database)
    opened = [
        d for d in zone.objects if not (d["kind"] == "NetworkPolicy" and namespace_of(d) == tenant)
    ]
    assert egress.egress_allowed(opened, tenant, {"app": "x"}, database)
