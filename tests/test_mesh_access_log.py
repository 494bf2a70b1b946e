"""Access logs at the edge: the builtin gateway's proxies get a MeshAccessLog
on their listeners, to stdout like the sidecars (GKE ships container stdout to Cloud Logging),
with every key of the sidecars' lines, computed from the rendered policies the way Kuma picks
them for a proxy (offline/gitops/mesh.py inbound_conf)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.gitops import facts as gitops_facts
from offline.gitops import mesh
from offline.gitops.documents import Doc, meta
from offline.kuma_rules import kuma_policy_problems
from tests.support import STACKS

STDOUT = ("File", "/dev/stdout")


def _policies(stack: str) -> list[Doc]:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "global").docs


def _gateway(policies: list[Doc]) -> str:
    (gateway,) = [d for d in policies if d["kind"] == "MeshGateway"]
    return str(meta(gateway)["name"])


def _backends(conf: dict[str, Any]) -> list[dict[str, Any]]:
    return list(conf.get("backends") or [])


def _keys(backend: dict[str, Any]) -> set[str]:
    return {entry["key"] for entry in backend["file"]["format"]["json"]}


def gateway_log(policies: list[Doc]) -> dict[str, Any]:
    return mesh.inbound_conf(
        policies, "MeshAccessLog", {}, proxy="Gateway", gateway=_gateway(policies)
    )


@pytest.mark.parametrize("stack", STACKS)
def test_gateway_proxies_log_every_request_to_stdout(stack: str) -> None:
    policies = _policies(stack)
    backends = _backends(gateway_log(policies))
    assert [(b["type"], b["file"]["path"]) for b in backends] == [STDOUT]
    assert backends[0]["file"]["format"]["type"] == "Json"


@pytest.mark.parametrize("stack", STACKS)
def test_gateway_lines_carry_every_key_of_the_sidecar_lines(stack: str) -> None:
    """One Cloud Logging query (jsonPayload.status, jsonPayload.traceparent...) spans the edge and
    the sidecars; the edge adds what only it knows."""
    policies = _policies(stack)
    zones = [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]
    workloads = [w for render in zones for w in mesh.mesh_workloads(render)]
    assert workloads
    (edge,) = _backends(gateway_log(policies))
    for workload in workloads:
        (sidecar,) = _backends(mesh.inbound_conf(policies, "MeshAccessLog", workload.tags))
        assert (sidecar["type"], sidecar["file"]["path"]) == STDOUT
        assert _keys(sidecar) <= _keys(edge), workload.name
    assert {"client_address", "authority", "upstream_host"} <= _keys(edge)


def test_the_sidecar_policy_alone_leaves_the_gateway_without_access_log() -> None:
    """The state before: MeshAccessLog for proxyTypes [Sidecar] only."""
    policies = [
        d
        for d in copy.deepcopy(_policies("prod-eu"))
        if not (d["kind"] == "MeshAccessLog" and d["spec"]["targetRef"]["kind"] == "MeshGateway")
    ]
    assert _backends(gateway_log(policies)) == []


def test_a_mesh_wide_policy_without_proxy_types_reaches_the_gateway_too() -> None:
    policies = copy.deepcopy(_policies("prod-eu"))
    for doc in policies:
        if doc["kind"] == "MeshAccessLog":
            doc["spec"]["targetRef"] = {"kind": "Mesh"}
    assert [(b["type"], b["file"]["path"]) for b in _backends(gateway_log(policies))] == [STDOUT]


def test_the_most_specific_policy_wins_the_backends() -> None:
    """Kuma replaces a list of a less specific policy (MeshGateway beats Mesh)."""
    policies = copy.deepcopy(_policies("prod-eu"))
    for doc in policies:
        if doc["kind"] == "MeshAccessLog" and doc["spec"]["targetRef"]["kind"] == "Mesh":
            doc["spec"]["targetRef"] = {"kind": "Mesh"}
            doc["spec"]["rules"][0]["default"]["backends"][0]["file"]["path"] = "/tmp/other"
    assert [b["file"]["path"] for b in _backends(gateway_log(policies))] == ["/dev/stdout"]


@pytest.mark.parametrize("stack", STACKS)
def test_kuma_accepts_the_gateway_access_log(stack: str) -> None:
    for doc in _policies(stack):
        if doc["kind"] == "MeshAccessLog":
            assert kuma_policy_problems("MeshAccessLog", doc["spec"]) == [], meta(doc)["name"]
