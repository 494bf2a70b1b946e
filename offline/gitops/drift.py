"""How two clusters' renders differ (kustomize's generated-name hashes masked)."""

from __future__ import annotations

import difflib

from offline.gitops.documents import HASH_SUFFIX, ident, normalized, to_yaml
from offline.gitops.render import ClusterRender


def drift_summary(left: ClusterRender, right: ClusterRender) -> str:
    """Which objects exist on one side only, and which differ (hash suffixes masked)."""
    a = {ident(d): normalized(d) for d in left.docs}
    b = {ident(d): normalized(d) for d in right.docs}
    a = {HASH_SUFFIX.sub("-<hash>", k): v for k, v in a.items()}
    b = {HASH_SUFFIX.sub("-<hash>", k): v for k, v in b.items()}
    lines = [f"only in {left.cluster.stack}: {k}" for k in sorted(a.keys() - b.keys())]
    lines += [f"only in {right.cluster.stack}: {k}" for k in sorted(b.keys() - a.keys())]
    lines += [f"differs: {k}" for k in sorted(a.keys() & b.keys()) if a[k] != b[k]]
    return "\n".join(lines)


def render_diff(left: ClusterRender, right: ClusterRender) -> str:
    """Unified diff of two clusters' renders (documents sorted, hash suffixes masked)."""
    a = to_yaml(left.docs, normalize=True).splitlines(keepends=True)
    b = to_yaml(right.docs, normalize=True).splitlines(keepends=True)
    return "".join(
        difflib.unified_diff(
            a,
            b,
            f"{left.cluster.stack}/{left.cluster.name}",
            f"{right.cluster.stack}/{right.cluster.name}",
        )
    )
