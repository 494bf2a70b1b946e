"""Small builders shared by the in-cluster components (not components themselves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.versions import KUBERNETES_MINOR, ChartRef

MANAGED_BY_LABELS: Mapping[str, str] = {"app.kubernetes.io/managed-by": "pulumi"}


# Never `privileged`: no namespace of the program needs it (policy `namespace-pod-security`).
PodSecurityLevel = Literal["baseline", "restricted"]
POD_SECURITY_LABEL = "pod-security.kubernetes.io"


def pod_security_labels(enforce: PodSecurityLevel) -> dict[str, str]:
    """Pod Security admission: `enforce` rejects pods above the level; `audit` and `warn` always
    report what `restricted` would refuse, so the gap to it stays visible. Each mode is pinned
    to the clusters' minor (`<mode>-version`): an upgrade of the control plane does not change
    what a namespace admits until the pin moves (kubernetes.io/docs/concepts/security/
    pod-security-admission, "Pod Security Admission labels for namespaces")."""
    version = f"v{KUBERNETES_MINOR}"
    levels = {"enforce": enforce, "audit": "restricted", "warn": "restricted"}
    return {
        label: value
        for mode, level in levels.items()
        for label, value in (
            (f"{POD_SECURITY_LABEL}/{mode}", level),
            (f"{POD_SECURITY_LABEL}/{mode}-version", version),
        )
    }


def namespace(
    name: str,
    resource_name: str,
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
    *,
    pod_security: PodSecurityLevel,
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={**MANAGED_BY_LABELS, **(labels or {}), **pod_security_labels(pod_security)},
        ),
        opts=opts,
    )


def helm_release(
    resource_name: str,
    *,
    chart: ChartRef,
    namespace: k8s.core.v1.Namespace,
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    priority_class: pulumi.Resource,
    release_name: str | None = None,
) -> k8s.helm.v3.Release:
    """A Helm release that installs CRDs and waits for readiness; `atomic` rolls back a failed
    upgrade instead of leaving a half-applied control plane. The release waits for the platform's
    PriorityClass that its pods name: the API server refuses a pod naming a missing one."""
    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=release_name or resource_name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo) if chart.repo else None,
            namespace=namespace.metadata.name,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            max_history=5,
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[priority_class])
        ),
    )


def custom_resource(
    resource_name: str,
    *,
    api_version: str,
    kind: str,
    name: str,
    spec: pulumi.Input[Mapping[str, Any]],
    crd_release: pulumi.Resource,
    opts: pulumi.ResourceOptions,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apiextensions.CustomResource:
    """A custom resource that explicitly waits for the Helm release installing its CRD."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=api_version,
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=namespace, labels={**MANAGED_BY_LABELS, **(labels or {})}
        ),
        spec=dict(spec) if isinstance(spec, Mapping) else spec,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[crd_release, *depends_on])
        ),
    )
