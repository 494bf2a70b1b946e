"""Application namespaces enforce Pod Security `restricted`: the zone control
planes inject through the Kuma CNI, so every app pod, as the pinned injector leaves it, is
admitted, while a pod that asks for more (a capability, privileged, a hostPath, the host's
network, root) is refused by the API server's own admission (offline/pod_security.py, ported from
kubernetes/pod-security-admission v0.34.9)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.kuma.settings import MESH_NAME
from components.versions import KUBERNETES_MINOR
from offline import pod_security
from offline.gitops import facts as gitops_facts
from offline.gitops.documents import Doc, namespace_of
from offline.gitops.egress import namespace_labels
from offline.gitops.render import ClusterRender
from offline.k8s_validation import unknown_values_keys
from offline.kuma_injection import inject
from tests.support import STACKS, plan_of

PSA = pod_security.LABEL_PREFIX


def _tenants(stack: str) -> set[str]:
    return {t["namespace"] for t in plan_of(stack).config["platform:tenants"]}


def _zone_values(stack: str) -> list[dict[str, Any]]:
    return [
        r.inputs["values"]
        for r in plan_of(stack).of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs.get("chart") == "kuma" and r.inputs["values"]["controlPlane"]["mode"] == "zone"
    ]


def _app_pods(render: ClusterRender, tenants: set[str]) -> list[tuple[str, Doc]]:
    return [
        (namespace_of(d), d["spec"]["template"])
        for d in render.docs
        if d["kind"] == "Deployment" and namespace_of(d) in tenants
    ]


def _zones(stack: str) -> list[ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]


def _cni_on(stack: str) -> bool:
    (enabled,) = {v["cni"]["enabled"] for v in _zone_values(stack)}
    return bool(enabled)


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_pins_pod_security_to_the_clusters_minor(stack: str) -> None:
    for ns in plan_of(stack).of_type("kubernetes:core/v1:Namespace"):
        labels = ns.inputs["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"{PSA}/{mode}-version"] == f"v{KUBERNETES_MINOR}", labels
        if ns.inputs["metadata"]["name"] in _tenants(stack):
            assert pod_security.enforced(labels) == ("restricted", (1, 34))


@pytest.mark.parametrize("stack", STACKS)
def test_zone_control_planes_inject_through_the_kuma_cni_chained_on_gke(stack: str) -> None:
    values = _zone_values(stack)
    assert values
    for v in values:
        assert v["cni"] == {
            "enabled": True,
            "chained": True,
            "netDir": "/etc/cni/net.d",
            "binDir": "/home/kubernetes/bin",
            "confName": "10-gke-ptp.conflist",
        }
        assert unknown_values_keys("kuma", v) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_app_pod_is_admitted_as_the_injector_leaves_it(stack: str) -> None:
    cni = _cni_on(stack)
    for zone in _zones(stack):
        pods = _app_pods(zone, _tenants(stack))
        assert {ns for ns, _ in pods} == _tenants(stack)
        for ns, template in pods:
            injected = inject(template, cni=cni, mesh=MESH_NAME)
            names = [c["name"] for c in injected["spec"]["initContainers"]]
            assert names[-1] == "kuma-validation"
            labels = namespace_labels(zone.objects, ns)
            assert pod_security.admission_problems(labels, injected) == [], (ns, labels)


def test_without_the_cni_kuma_init_is_refused_by_restricted_and_by_baseline() -> None:
    """Why the CNI: kuma-init runs as root with NET_ADMIN and NET_RAW."""
    zone = _zones("prod-eu")[0]
    ns, template = _app_pods(zone, _tenants("prod-eu"))[0]
    injected = inject(template, cni=False, mesh=MESH_NAME)
    refused = pod_security.admission_problems(namespace_labels(zone.objects, ns), injected)
    assert {p.split(":")[0] for p in refused} == {
        "capabilities_restricted",
        "runAsUser",
        "allowPrivilegeEscalation",
    }
    assert all("kuma-init" in p for p in refused)
    baseline = pod_security.violations("baseline", injected["metadata"], injected["spec"])
    assert baseline == [
        "capabilities_baseline: container 'kuma-init' adds ['NET_ADMIN', 'NET_RAW']"
    ]


def _app_container(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "app")


def _add_capability(pod: dict[str, Any]) -> None:
    _app_container(pod)["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]


def _privileged(pod: dict[str, Any]) -> None:
    _app_container(pod)["securityContext"]["privileged"] = True


def _host_path(pod: dict[str, Any]) -> None:
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})


def _host_network(pod: dict[str, Any]) -> None:
    pod["spec"]["hostNetwork"] = True


def _root(pod: dict[str, Any]) -> None:
    _app_container(pod)["securityContext"].update(runAsUser=0, runAsNonRoot=False)


def _unconfined(pod: dict[str, Any]) -> None:
    pod["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


def _escalation(pod: dict[str, Any]) -> None:
    pod["spec"]["initContainers"] = [
        {
            "name": "setup",
            "image": "busybox",
            "securityContext": {"capabilities": {"drop": ["ALL"]}},
        }
    ]


def _host_port(pod: dict[str, Any]) -> None:
    _app_container(pod)["ports"] = [{"containerPort": 8080, "hostPort": 8080}]


BREAKS = {
    "extra capability": (_add_capability, "capabilities_restricted"),
    "privileged": (_privileged, "privileged"),
    "hostPath": (_host_path, "restrictedVolumes"),
    "host network": (_host_network, "hostNamespaces"),
    "root": (_root, "runAsNonRoot"),
    "seccomp unconfined": (_unconfined, "seccompProfile_restricted"),
    "privilege escalation": (_escalation, "allowPrivilegeEscalation"),
    "host port": (_host_port, "hostPorts"),
}


@pytest.mark.parametrize("name", BREAKS)
def test_an_app_pod_asking_for_more_is_refused(name: str) -> None:
    edit, check = BREAKS[name]
    zone = _zones("staging")[0]
    ns, template = _app_pods(zone, _tenants("staging"))[0]
    pod = copy.deepcopy(template)
    edit(pod)
    injected = inject(pod, cni=True, mesh=MESH_NAME)
    refused = pod_security.admission_problems(namespace_labels(zone.objects, ns), injected)
    assert refused and any(p.startswith(f"{check}:") for p in refused), refused


def test_the_evaluator_follows_upstream_levels_and_overrides() -> None:
    pod = {"metadata": {}, "spec": {"containers": [{"name": "c"}], "volumes": [
        {"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {"server": "x"}}]}}  # fmt: skip
    assert pod_security.violations("privileged", pod["metadata"], pod["spec"]) == []
    # baseline: hostPath only; nfs is admitted.
    assert pod_security.violations("baseline", pod["metadata"], pod["spec"]) == [
        "hostPathVolumes: hostPath volumes ['h']"
    ]
    restricted = pod_security.violations("restricted", pod["metadata"], pod["spec"])
    # restricted replaces hostPathVolumes by restrictedVolumes (OverrideCheckIDs) and asks for
    # what an unset securityContext does not say.
    ids = [p.split(":")[0] for p in restricted]
    assert ids == [
        "restrictedVolumes", "allowPrivilegeEscalation", "runAsNonRoot",
        "seccompProfile_restricted", "capabilities_restricted",
    ]  # fmt: skip
    assert "['h', 'n']" in restricted[0]
    # NET_BIND_SERVICE is the one capability restricted lets a container add.
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
    }  # fmt: skip
    assert pod_security.violations("restricted", {}, spec) == []
    # A user namespace relaxes the root checks (relaxPolicyForUserNamespacePod).
    spec["hostUsers"] = False
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    assert pod_security.violations("restricted", {}, spec) == []


def test_an_unlabelled_namespace_is_privileged_and_an_old_pin_is_refused() -> None:
    assert pod_security.enforced({}) == ("privileged", None)
    with pytest.raises(ValueError, match="predates"):
        pod_security.admission_problems(
            {f"{PSA}/enforce": "restricted", f"{PSA}/enforce-version": "v1.22"}, {}
        )


@pytest.mark.parametrize("stack", STACKS)
def test_tenant_namespaces_wait_for_their_zones_kuma_cni(stack: str) -> None:
    """A pod injected before the zone control plane runs with the CNI would carry kuma-init and
    be refused: the namespace is created (or relabelled) after the zone's Kuma release."""
    plan = plan_of(stack)
    releases = {
        r.provider_urn: r
        for r in plan.of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs.get("chart") == "kuma" and r.inputs["values"]["controlPlane"]["mode"] == "zone"
    }
    namespaces = [
        n
        for n in plan.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] in _tenants(stack)
    ]
    assert namespaces and releases
    for ns in namespaces:
        assert plan.depends_on(ns, releases[ns.provider_urn])


def _pod_templates(render: ClusterRender, tenants: set[str]) -> list[tuple[str, str, Doc]]:
    """Every pod template a tenant's rendered apps carry (any workload kind)."""
    found = []
    for d in render.docs:
        if namespace_of(d) not in tenants:
            continue
        spec = d.get("spec", {})
        if d["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            found.append((d["kind"], namespace_of(d), spec["template"]))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_tenant_pod_template_runs_as_non_root_with_the_runtime_default_seccomp(
    stack: str,
) -> None:
    """`restricted` requires runAsNonRoot and a RuntimeDefault/Localhost seccomp profile for
    every container; the injector sets neither for the containers it adds (only runAsUser 5678:
    offline/refs/apache-2.0/kuma/injector/inject.34.golden.yaml), so the pod level must."""
    templates = [t for z in _zones(stack) for t in _pod_templates(z, _tenants(stack))]
    assert templates
    for kind, namespace, template in templates:
        pod_security_context = template["spec"].get("securityContext", {})
        assert pod_security_context.get("runAsNonRoot") is True, (kind, namespace)
        assert pod_security_context.get("seccompProfile") == {"type": "RuntimeDefault"}, (
            kind,
            namespace,
        )
        injected = inject(template, cni=True, mesh=MESH_NAME)["spec"]
        for container in [*injected["containers"], *injected["initContainers"]]:
            if container["name"] in {"kuma-sidecar", "kuma-validation"}:
                assert "runAsNonRoot" not in container["securityContext"]
                assert "seccompProfile" not in container["securityContext"]
