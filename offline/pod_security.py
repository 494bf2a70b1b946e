"""Pod Security admission, offline: what the API server's built-in `PodSecurity` plugin refuses
in a namespace, from the namespace's `pod-security.kubernetes.io/enforce` and `enforce-version`
labels and the pod as it reaches validation (after every mutating webhook, so after Kuma's
injector: offline/kuma_injection.py).

Ported from kubernetes/pod-security-admission v0.34.9 (Kubernetes 1.34), `policy/check_*.go`,
each check for the versions it states (`MinimumVersion`), over manifests (camelCase dicts):
- baseline: hostNamespaces, privileged, capabilities_baseline, hostPathVolumes, hostPorts,
  appArmorProfile, seLinuxOptions, procMount_baseline, seccompProfile_baseline, sysctls,
  windowsHostProcess, hostProbesAndhostLifecycle (1.34+);
- restricted adds: restrictedVolumes (overrides hostPathVolumes), allowPrivilegeEscalation,
  runAsNonRoot, runAsUser (1.23+), seccompProfile_restricted (overrides the baseline one),
  capabilities_restricted (overrides the baseline one).
Every container is visited: init, regular and ephemeral (`policy/visitor.go`). Pods that ask for
a user namespace (`hostUsers: false`) are relaxed for runAsNonRoot/runAsUser
(`relaxPolicyForUserNamespacePod`), and Windows pods for the Linux-only checks, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

LEVELS: Final = ("privileged", "baseline", "restricted")
LABEL_PREFIX: Final = "pod-security.kubernetes.io"

Spec = Mapping[str, Any]
Meta = Mapping[str, Any]

# policy/check_capabilities_baseline.go capabilities_allowed_1_0
BASELINE_CAPABILITIES: Final = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
# policy/check_sysctls.go sysctlsAllowedV1Dot32 (the set of every version from 1.32 on).
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    }
)  # fmt: skip
# policy/check_seLinuxOptions.go selinuxAllowedTypes1_31
SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
# policy/check_restrictedVolumes.go: the only inline volume sources `restricted` admits.
RESTRICTED_VOLUMES: Final = frozenset(
    {
        "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
        "persistentVolumeClaim", "projected", "secret",
    }
)  # fmt: skip
APPARMOR_ANNOTATION: Final = "container.apparmor.security.beta.kubernetes.io/"
# The pinned evaluation: the minor the clusters' enforce-version label names.
MIN_VERSION: Final = (1, 34)


def _containers(spec: Spec) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _pod_sc(spec: Spec) -> Mapping[str, Any]:
    return spec.get("securityContext") or {}


def _names(spec: Spec, bad: Callable[[Mapping[str, Any]], bool]) -> list[str]:
    return [str(c.get("name")) for c in _containers(spec) if bad(c)]


def _linux(spec: Spec) -> bool:
    return (spec.get("os") or {}).get("name") != "windows"


def _user_namespace(spec: Spec) -> bool:
    return spec.get("hostUsers") is False


# -- baseline ------------------------------------------------------------------------------------
def _host_namespaces(meta: Meta, spec: Spec) -> list[str]:
    return [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]


def _privileged(meta: Meta, spec: Spec) -> list[str]:
    bad = _names(spec, lambda c: _sc(c).get("privileged") is True)
    return [f"privileged containers {bad}"] if bad else []


def _capabilities_baseline(meta: Meta, spec: Spec) -> list[str]:
    added = {
        str(c.get("name")): sorted(set(_added(c)) - BASELINE_CAPABILITIES)
        for c in _containers(spec)
    }
    return [f"container {n!r} adds {caps}" for n, caps in added.items() if caps]


def _added(container: Mapping[str, Any]) -> list[str]:
    return list((_sc(container).get("capabilities") or {}).get("add") or [])


def _host_path(meta: Meta, spec: Spec) -> list[str]:
    bad = [v.get("name") for v in spec.get("volumes") or [] if "hostPath" in v]
    return [f"hostPath volumes {bad}"] if bad else []


def _host_ports(meta: Meta, spec: Spec) -> list[str]:
    bad = [
        p["hostPort"]
        for c in _containers(spec)
        for p in c.get("ports") or []
        if p.get("hostPort") not in (None, 0)
    ]
    return [f"hostPorts {bad}"] if bad else []


def _apparmor(meta: Meta, spec: Spec) -> list[str]:
    problems = [
        f"annotation {k}={v!r}"
        for k, v in ((meta.get("annotations") or {}).items())
        if k.startswith(APPARMOR_ANNOTATION)
        and v != "runtime/default"
        and not str(v).startswith("localhost/")
        and v != ""
    ]
    contexts = [("pod", _pod_sc(spec))] + [(str(c.get("name")), _sc(c)) for c in _containers(spec)]
    problems += [
        f"{who} appArmorProfile {profile.get('type')!r}"
        for who, sc in contexts
        if (profile := sc.get("appArmorProfile"))
        and profile.get("type") not in ("RuntimeDefault", "Localhost")
    ]
    return problems


def _selinux(meta: Meta, spec: Spec) -> list[str]:
    contexts = [("pod", _pod_sc(spec))] + [(str(c.get("name")), _sc(c)) for c in _containers(spec)]
    problems = []
    for who, sc in contexts:
        options = sc.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            problems.append(f"{who} seLinuxOptions.type {options['type']!r}")
        problems += [f"{who} seLinuxOptions.{k}" for k in ("user", "role") if options.get(k)]
    return problems


def _proc_mount(meta: Meta, spec: Spec) -> list[str]:
    if _user_namespace(spec):
        return []  # check_procMount_baseline.go 1.30+: allowed in a user namespace
    bad = _names(spec, lambda c: _sc(c).get("procMount") not in (None, "Default"))
    return [f"procMount of containers {bad}"] if bad else []


def _seccomp_baseline(meta: Meta, spec: Spec) -> list[str]:
    contexts = [("pod", _pod_sc(spec))] + [(str(c.get("name")), _sc(c)) for c in _containers(spec)]
    return [
        f"{who} seccompProfile Unconfined"
        for who, sc in contexts
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined"
    ]


def _sysctls(meta: Meta, spec: Spec) -> list[str]:
    sysctls = _pod_sc(spec).get("sysctls") or []
    bad = [s.get("name") for s in sysctls if s.get("name") not in SAFE_SYSCTLS]
    return [f"sysctls {bad}"] if bad else []


def _windows_host_process(meta: Meta, spec: Spec) -> list[str]:
    contexts = [_pod_sc(spec)] + [_sc(c) for c in _containers(spec)]
    if any((sc.get("windowsOptions") or {}).get("hostProcess") is True for sc in contexts):
        return ["windowsOptions.hostProcess=true"]
    return []


def _host_probes(meta: Meta, spec: Spec) -> list[str]:
    """check_hostProbesAndhostLifecycle.go (1.34+): no `host` in probes or lifecycle handlers."""
    problems = []
    for c in _containers(spec):
        handlers = [c.get(p) or {} for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(c.get("lifecycle") or {}).get(h) or {} for h in ("postStart", "preStop")]
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                if (handler.get(action) or {}).get("host"):
                    problems.append(f"container {c.get('name')!r} {action}.host")
    return problems


# -- restricted ----------------------------------------------------------------------------------
def _restricted_volumes(meta: Meta, spec: Spec) -> list[str]:
    bad = [
        v.get("name")
        for v in spec.get("volumes") or []
        if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    return [f"volumes {bad} of a type restricted refuses"] if bad else []


def _privilege_escalation(meta: Meta, spec: Spec) -> list[str]:
    if not _linux(spec):
        return []
    bad = _names(spec, lambda c: _sc(c).get("allowPrivilegeEscalation") is not False)
    return [f"containers {bad} must set allowPrivilegeEscalation=false"] if bad else []


def _run_as_non_root(meta: Meta, spec: Spec) -> list[str]:
    if _user_namespace(spec):
        return []
    pod = _pod_sc(spec).get("runAsNonRoot")
    if pod is False:
        return ["pod sets runAsNonRoot=false"]
    explicit = _names(spec, lambda c: _sc(c).get("runAsNonRoot") is False)
    implicit = _names(spec, lambda c: _sc(c).get("runAsNonRoot") is None and pod is not True)
    if explicit:
        return [f"containers {explicit} set runAsNonRoot=false"]
    return [f"pod or containers {implicit} must set runAsNonRoot=true"] if implicit else []


def _run_as_user(meta: Meta, spec: Spec) -> list[str]:
    if _user_namespace(spec):
        return []
    problems = ["pod runs as UID 0"] if _pod_sc(spec).get("runAsUser") == 0 else []
    bad = _names(spec, lambda c: _sc(c).get("runAsUser") == 0)
    return problems + ([f"containers {bad} run as UID 0"] if bad else [])


def _seccomp_restricted(meta: Meta, spec: Spec) -> list[str]:
    if not _linux(spec):
        return []

    def valid(sc: Mapping[str, Any]) -> bool | None:
        profile = sc.get("seccompProfile")
        return None if profile is None else profile.get("type") in ("RuntimeDefault", "Localhost")

    pod = valid(_pod_sc(spec))
    problems = ["pod seccompProfile is not RuntimeDefault or Localhost"] if pod is False else []
    explicit = _names(spec, lambda c: valid(_sc(c)) is False)
    implicit = _names(spec, lambda c: valid(_sc(c)) is None and pod is not True)
    if explicit:
        problems.append(f"containers {explicit} set another seccompProfile")
    if not problems and implicit:
        problems.append(f"pod or containers {implicit} must set seccompProfile RuntimeDefault")
    return problems


def _capabilities_restricted(meta: Meta, spec: Spec) -> list[str]:
    if not _linux(spec):
        return []
    missing = _names(
        spec, lambda c: "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])
    )
    adding = {
        str(c.get("name")): sorted(set(_added(c)) - {"NET_BIND_SERVICE"}) for c in _containers(spec)
    }
    problems = [f"containers {missing} must drop ALL capabilities"] if missing else []
    return problems + [f"container {n!r} adds {caps}" for n, caps in adding.items() if caps]


Check = Callable[[Meta, Spec], list[str]]


@dataclass(frozen=True)
class PodCheck:
    id: str
    level: str
    check: Check
    overrides: str | None = None


CHECKS: Final = (
    PodCheck("hostNamespaces", "baseline", _host_namespaces),
    PodCheck("privileged", "baseline", _privileged),
    PodCheck("capabilities_baseline", "baseline", _capabilities_baseline),
    PodCheck("hostPathVolumes", "baseline", _host_path),
    PodCheck("hostPorts", "baseline", _host_ports),
    PodCheck("appArmorProfile", "baseline", _apparmor),
    PodCheck("seLinuxOptions", "baseline", _selinux),
    PodCheck("procMount_baseline", "baseline", _proc_mount),
    PodCheck("seccompProfile_baseline", "baseline", _seccomp_baseline),
    PodCheck("sysctls", "baseline", _sysctls),
    PodCheck("windowsHostProcess", "baseline", _windows_host_process),
    PodCheck("hostProbesAndhostLifecycle", "baseline", _host_probes),
    PodCheck("restrictedVolumes", "restricted", _restricted_volumes, "hostPathVolumes"),
    PodCheck("allowPrivilegeEscalation", "restricted", _privilege_escalation),
    PodCheck("runAsNonRoot", "restricted", _run_as_non_root),
    PodCheck("runAsUser", "restricted", _run_as_user),
    PodCheck(
        "seccompProfile_restricted", "restricted", _seccomp_restricted, "seccompProfile_baseline"
    ),
    PodCheck(
        "capabilities_restricted", "restricted", _capabilities_restricted, "capabilities_baseline"
    ),
)  # fmt: skip


def _version(label: str | None) -> tuple[int, int] | None:
    """`v1.34` -> (1, 34); `latest` or absent -> None (the API server's own minor)."""
    if label in (None, "latest"):
        return None
    major, minor = str(label).removeprefix("v").split(".")
    return int(major), int(minor)


def enforced(namespace_labels: Mapping[str, str]) -> tuple[str, tuple[int, int] | None]:
    """The level and version a namespace enforces (unlabelled: privileged, the default of a
    cluster without an AdmissionConfiguration, which GKE does not set)."""
    level = namespace_labels.get(f"{LABEL_PREFIX}/enforce", "privileged")
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}")
    return level, _version(namespace_labels.get(f"{LABEL_PREFIX}/enforce-version"))


def violations(level: str, pod_meta: Meta, pod_spec: Spec) -> list[str]:
    """Why `level` refuses the pod, one message per failing check (empty: admitted)."""
    if level == "privileged":
        return []
    wanted = LEVELS[: LEVELS.index(level) + 1]
    checks = [c for c in CHECKS if c.level in wanted]
    overridden = {c.overrides for c in checks if c.overrides}
    return [
        f"{c.id}: {message}"
        for c in checks
        if c.id not in overridden
        for message in c.check(pod_meta, pod_spec)
    ]


def admission_problems(
    namespace_labels: Mapping[str, str], pod_template: Mapping[str, Any]
) -> list[str]:
    """What the namespace's enforce label refuses of a pod (template) as it reaches validation.
    The checks are 1.34's: an enforce-version older than MIN_VERSION is an error here rather
    than a silently different evaluation."""
    level, version = enforced(namespace_labels)
    if version is not None and version < MIN_VERSION:
        raise ValueError(f"enforce-version v{version[0]}.{version[1]} predates the modelled checks")
    return violations(level, pod_template.get("metadata") or {}, pod_template.get("spec") or {})
