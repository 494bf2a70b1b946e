"""The mesh as Kuma would see it from a render: the meshed workloads (their proxy tags) and the
effective MeshTrafficPermission action between every two of them (offline/kuma_rules.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from offline.gitops.documents import Doc, ident, meta, namespace_of, workloads
from offline.gitops.render import ClusterRender
from offline.kuma_rules import specificity, target_selects


@dataclass(frozen=True)
class MeshWorkload:
    """A meshed Deployment and the tags its data plane proxies carry (pod labels, namespace,
    zone), which MeshSubset `tags` and Dataplane `labels` select on."""

    name: str
    tags: Mapping[str, str]


def mesh_workloads(render: ClusterRender) -> list[MeshWorkload]:
    zone = render.cluster.platform_vars.get("KUMA_ZONE", "")
    return [
        MeshWorkload(
            name=ident(doc),
            tags={
                **(meta(pod).get("labels") or {}),
                "k8s.kuma.io/namespace": namespace_of(doc),
                "kuma.io/zone": zone,
            },
        )
        for doc, pod in workloads(render.docs)
        if doc.get("kind") == "Deployment"
    ]


# How specific a targetRef is (Kuma orders policies and their entries by it; more specific wins).


def traffic_permissions(
    policies: Sequence[Doc], mesh: Sequence[MeshWorkload]
) -> dict[tuple[str, str], str]:
    """The effective MeshTrafficPermission action for every (client, server) pair of distinct
    workloads: among the `from` entries of the policies whose top-level targetRef selects the
    server and whose `from` targetRef selects the client, the most specific `from` wins, then the
    most specific top-level targetRef, then the policy name (later overrides earlier); no match:
    Deny (mTLS on, nothing allowed)."""
    entries = [
        (doc.get("spec", {}).get("targetRef") or {"kind": "Mesh"}, entry, meta(doc).get("name"))
        for doc in policies
        if doc.get("kind") == "MeshTrafficPermission"
        for entry in doc.get("spec", {}).get("from") or []
    ]
    matrix: dict[tuple[str, str], str] = {}
    for server in mesh:
        for client in mesh:
            if client is server:
                continue
            matching = [
                ((specificity(entry["targetRef"]), specificity(top), str(name)), entry)
                for top, entry, name in entries
                if target_selects(top, server.tags)
                and target_selects(entry["targetRef"], client.tags)
            ]
            best = max(matching, key=lambda m: m[0], default=None)
            matrix[client.name, server.name] = str(best[1]["default"]["action"]) if best else "Deny"
    return matrix
