"""What flux-operator itself applies in flux-system for a FluxInstance, beyond the Flux
controllers: the NetworkPolicies of the distribution (policies.yaml), built the way the operator
builds them.

controlplaneio-fluxcd/flux-operator v0.58.1: internal/builder/templates.go lists `policies.yaml`
among the kustomization's resources when `spec.cluster.networkPolicy` is true (the default,
internal/builder/options.go), sets `namespace:` to the instance's namespace and appends
`spec.kustomize.patches` to its `patches:` (internal/controller/fluxinstance_controller.go marshals
them as given). The policies are the operator's config/data/flux/v2.9.4/policies.yaml, committed
verbatim in offline/refs (scripts/refresh_offline_refs.py `GIT_FILES`); the build here is the
real kustomize (`kubectl kustomize`, offline/gitops/kustomize.py).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offline.gitops.documents import Doc
from offline.gitops.kustomize import kustomize_cached

POLICIES = Path(__file__).resolve().parent / "refs/agpl-3.0/flux-operator/flux-v2.9.4/policies.yaml"


def network_policies(namespace: str, instance_spec: Mapping[str, Any]) -> tuple[Doc, ...]:
    """The NetworkPolicies the operator applies for a FluxInstance with `instance_spec` in
    `namespace` (none when `spec.cluster.networkPolicy` is false)."""
    if not instance_spec.get("cluster", {}).get("networkPolicy", True):
        return ()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": [POLICIES.name],
        "patches": list(instance_spec.get("kustomize", {}).get("patches", [])),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / POLICIES.name).write_bytes(POLICIES.read_bytes())
        (root / "kustomization.yaml").write_text(json.dumps(kustomization))
        return tuple(kustomize_cached(root))
