"""offline/kuma_injection.py against the pinned Kuma injector's own test cases (kumahq/kuma
v2.13.10 pkg/plugins/runtime/k8s/webhooks/injector/testdata, committed verbatim in
offline/refs/apache-2.0/kuma/injector): inject() must place the same containers and init
containers in the same order, with the same security contexts, `/tmp` mounts and volumes, as the
golden output of each case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.kuma_injection import inject

GOLDEN = Path(__file__).resolve().parent.parent / "offline/refs/apache-2.0/kuma/injector"
# Case -> whether the case's injector config has CNI on (injector_test.go: "01" with
# inject.config.yaml, "34. cni enabled" with inject.config-cni.yaml).
CASES = {"01": False, "34": True}
INJECTED = ("kuma-sidecar", "kuma-init", "kuma-validation")


def _load(case: str, kind: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((GOLDEN / f"inject.{case}.{kind}.yaml").read_text())
    return doc


def _shape(pod: dict[str, Any]) -> dict[str, Any]:
    spec = pod["spec"]
    injected = {
        c["name"]: {
            "securityContext": c["securityContext"],
            "tmp": [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"],
        }
        for c in [*spec["containers"], *spec.get("initContainers", [])]
        if c["name"] in INJECTED
    }
    return {
        "containers": [c["name"] for c in spec["containers"]],
        "initContainers": [c["name"] for c in spec.get("initContainers", [])],
        "injected": injected,
        "volumes": spec["volumes"],
        "mesh": pod["metadata"]["labels"]["kuma.io/mesh"],
        "injected-annotation": pod["metadata"]["annotations"]["kuma.io/sidecar-injected"],
    }


@pytest.mark.parametrize(("case", "cni"), sorted(CASES.items()))
def test_inject_reproduces_the_injectors_golden_files(case: str, cni: bool) -> None:
    golden = _load(case, "golden")
    ours = inject(_load(case, "input"), cni=cni, mesh="default")
    assert _shape(ours) == _shape(golden)


def test_init_first_decides_where_the_injected_init_container_goes() -> None:
    pod = _load("34", "input")
    assert [c["name"] for c in inject(pod, cni=True, mesh="m")["spec"]["initContainers"]] == [
        "kuma-validation",
        "init",
    ]
    del pod["metadata"]["annotations"]["kuma.io/init-first"]
    assert [c["name"] for c in inject(pod, cni=True, mesh="m")["spec"]["initContainers"]] == [
        "init",
        "kuma-validation",
    ]
