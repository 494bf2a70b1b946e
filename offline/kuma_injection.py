"""What the pinned Kuma injector (mutating webhook of the zone control plane) does to a pod of a
namespace labelled `kuma.io/sidecar-injection: enabled`, as far as Pod Security admission sees it
(which runs after mutating webhooks): the containers, their security contexts and the volumes.

kumahq/kuma v2.13.10 pkg/plugins/runtime/k8s/webhooks/injector/injector.go `InjectKuma` (legacy
path: the chart's transparentProxy.configMap is off): the sidecar `kuma-sidecar` goes first in
`containers` (NewSidecarContainer over pkg/plugins/runtime/k8s/containers/factory.go: UID/GID
5678, drop ALL, read-only root, no privilege escalation); two 10M emptyDir volumes
(`kuma-init-tmp`, `kuma-sidecar-tmp`); then one init container, after the pod's own, or before
them when the pod is annotated `kuma.io/init-first: "true"` (injector.go `KumaInitFirst`; the
chart's `experimental.sidecarContainers`, which would prepend it too, is off):
- CNI off: `kuma-init` (NewInitContainer: root, adds NET_ADMIN and NET_RAW to set up iptables);
- CNI on (`KUMA_RUNTIME_KUBERNETES_INJECTOR_CNI_ENABLED`, set by the chart from `cni.enabled`,
  templates/_helpers.tpl): `kuma-validation` (NewValidationContainer: UID 5678, drop ALL), which
  only checks the redirection the CNI plugin set up.
tests/test_kuma_injection.py checks inject() against the injector's golden files, committed in
offline/refs/apache-2.0/kuma/injector (inject.01 for kuma-init, inject.34 "cni enabled" with
init-first for kuma-validation).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

SIDECAR_UID: Final = 5678  # pkg/config/plugins/runtime/k8s/config.go SidecarContainer.UID/GID
TMP_VOLUMES: Final = ("kuma-init-tmp", "kuma-sidecar-tmp")
INIT_FIRST: Final = "kuma.io/init-first"
# pkg/plugins/runtime/k8s/metadata/annotations.go GetEnabled: what counts as on (case-sensitive;
# any value but these and false/no/disabled makes the injector fail).
_ENABLED: Final = ("true", "yes", "enabled")

_READ_ONLY: Final = {"readOnlyRootFilesystem": True}
SIDECAR_SECURITY: Final = {
    "runAsUser": SIDECAR_UID,
    "runAsGroup": SIDECAR_UID,
    "capabilities": {"drop": ["ALL"]},
    **_READ_ONLY,
    "allowPrivilegeEscalation": False,
}
INIT_SECURITY: Final = {
    "runAsUser": 0,
    "runAsGroup": 0,
    "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
    **_READ_ONLY,
}


def _container(name: str, security: Mapping[str, Any], volume: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"kumahq/{'kuma-dp' if name == 'kuma-sidecar' else 'kuma-init'}",
        "securityContext": copy.deepcopy(dict(security)),
        "volumeMounts": [{"name": volume, "mountPath": "/tmp"}],
    }


def inject(pod_template: Mapping[str, Any], *, cni: bool, mesh: str) -> dict[str, Any]:
    """The pod template as the injector leaves it (a copy)."""
    pod = copy.deepcopy(dict(pod_template))
    metadata = pod.setdefault("metadata", {})
    metadata.setdefault("labels", {})["kuma.io/mesh"] = mesh
    metadata.setdefault("annotations", {})["kuma.io/sidecar-injected"] = "true"
    spec = pod.setdefault("spec", {})
    spec["containers"] = [
        _container("kuma-sidecar", SIDECAR_SECURITY, "kuma-sidecar-tmp"),
        *spec.get("containers", []),
    ]
    spec["volumes"] = [
        *spec.get("volumes", []),
        *({"name": v, "emptyDir": {"sizeLimit": "10M"}} for v in TMP_VOLUMES),
    ]
    init = (
        _container("kuma-validation", SIDECAR_SECURITY, "kuma-sidecar-tmp")
        if cni
        else _container("kuma-init", INIT_SECURITY, "kuma-init-tmp")
    )
    own = spec.get("initContainers", [])
    first = metadata["annotations"].get(INIT_FIRST) in _ENABLED
    spec["initContainers"] = [init, *own] if first else [*own, init]
    return pod
