"""Where a pod may connect, and who may connect to it, under the rendered NetworkPolicies
(Kubernetes semantics): the offline stand-in for GKE Dataplane V2's enforcement, used to prove
that meshed pods leave only through the mesh (ZoneEgress) and never reach the global's KDS
address, and that telemetry is not cut off."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.gitops.documents import Doc, meta, namespace_of

# The API server labels every namespace with its name (NamespaceDefaultLabelName, Kubernetes 1.22+).
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Destination:
    """A pod of the cluster (namespace and pod labels) or an address outside it (ip)."""

    port: int
    protocol: str = "TCP"
    ip: str | None = None
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)


def namespace_labels(docs: Sequence[Doc], name: str) -> dict[str, str]:
    """A rendered namespace's labels plus the name label the API server adds."""
    for doc in docs:
        if doc.get("kind") == "Namespace" and meta(doc).get("name") == name:
            return {**(meta(doc).get("labels") or {}), NAME_LABEL: name}
    return {NAME_LABEL: name}


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], dest: Destination, namespace: str) -> bool:
    """Whether a peer of a policy in `namespace` selects `dest`. Without a namespaceSelector a
    podSelector selects pods of the policy's own namespace only (NetworkPolicyPeer.podSelector:
    "selects particular Pods in the same namespace as the NetworkPolicy")."""
    if "ipBlock" in peer:
        # Pod addresses are matched by selectors; ipBlock covers addresses outside the cluster.
        if dest.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(dest.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(
            address in ipaddress.ip_network(e) for e in block.get("except") or []
        )
    if dest.ip is not None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], dest.namespace_labels):
            return False
    elif dest.namespace_labels.get(NAME_LABEL) != namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], dest.pod_labels)


def _port_matches(ports: Sequence[Mapping[str, Any]], dest: Destination) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != dest.protocol:
            continue
        port = entry.get("port")
        if port is None:
            return True
        if isinstance(port, int) and port <= dest.port <= int(entry.get("endPort", port)):
            return True
    return False


def _is_policy_of(policy: Mapping[str, Any], direction: str) -> bool:
    """policyTypes when given; else Ingress always, Egress when the spec has egress rules."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return direction in types
    return direction == "Ingress" or "egress" in spec


def _allowed(
    docs: Sequence[Doc],
    namespace: str,
    pod_labels: Mapping[str, str],
    peer: Destination,
    direction: str,
) -> bool:
    """Allowed when no policy of this direction in the pod's namespace selects the pod, else when
    some rule of one that does matches the peer and the port."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    policies = [
        d
        for d in docs
        if d.get("kind") == "NetworkPolicy"
        and namespace_of(d) == namespace
        and _is_policy_of(d, direction)
        and _selects((d.get("spec") or {}).get("podSelector"), pod_labels)
    ]
    if not policies:
        return True
    return any(
        (not rule.get(peers_key) or any(_peer_matches(p, peer, namespace) for p in rule[peers_key]))
        and _port_matches(rule.get("ports") or [], peer)
        for policy in policies
        for rule in (policy.get("spec") or {}).get(rules_key) or []
    )


def egress_allowed(
    docs: Sequence[Doc], namespace: str, pod_labels: Mapping[str, str], dest: Destination
) -> bool:
    """Whether a pod may open this connection to `dest` (its port on the destination)."""
    return _allowed(docs, namespace, pod_labels, dest, "Egress")


def ingress_allowed(
    docs: Sequence[Doc], namespace: str, pod_labels: Mapping[str, str], source: Destination
) -> bool:
    """Whether `source` (namespace and pod labels, or an ip) may connect to this pod on
    `source.port` (the port of the pod that receives)."""
    return _allowed(docs, namespace, pod_labels, source, "Ingress")
