"""Checks of rendered manifests on their own: each takes documents and returns one message per
problem (empty: all good), so tests stay thin and each check can be fed a hand-made bad input.

One owner per rule. checkov (k8s/.checkov.yaml, tests/test_gitops_checkov.py) owns per-object
Kubernetes hygiene, at its own strictness: requests and limits (CKV_K8S_10..13), images pinned by
digest (CKV_K8S_14, CKV_K8S_43), security contexts, probes, service-account tokens. These checks
own what checkov cannot see: what the API server and Kuma's admission accept, and how objects
refer to each other (selectors, references, collisions, autoscaling, in-cluster URLs)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from offline import admission
from offline.gitops.documents import (
    Doc,
    api_group,
    containers,
    ident,
    is_subset,
    meta,
    namespace_of,
    workloads,
)

Check = Callable[[Sequence[Doc]], list[str]]


def check_selectors(docs: Sequence[Doc]) -> list[str]:
    """Deployment selectors match their pod labels; every Service selects some Deployment's pods
    and every Deployment is behind a Service of its namespace."""
    problems: list[str] = []
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    services = [d for d in docs if d.get("kind") == "Service"]
    for dep in deployments:
        selector = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        labels = meta((dep.get("spec") or {}).get("template") or {}).get("labels") or {}
        if not selector or not is_subset(selector, labels):
            problems.append(f"{ident(dep)}: selector {selector} does not match pod labels {labels}")
        behind = [
            s
            for s in services
            if namespace_of(s) == namespace_of(dep)
            and _selects((s.get("spec") or {}).get("selector"), labels)
        ]
        if not behind:
            problems.append(f"{ident(dep)}: no Service of its namespace selects its pods")
    for svc in services:
        selector = (svc.get("spec") or {}).get("selector")
        pods = [
            meta((d.get("spec") or {}).get("template") or {}).get("labels") or {}
            for d in deployments
            if namespace_of(d) == namespace_of(svc)
        ]
        if not any(_selects(selector, labels) for labels in pods):
            problems.append(f"{ident(svc)}: selector {selector} matches no Deployment's pods")
    return problems


def _selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    return isinstance(selector, Mapping) and bool(selector) and is_subset(selector, labels)


def _pod_refs(pod: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every non-optional ConfigMap/Secret a pod spec needs."""
    spec = pod.get("spec") or {}
    for container in containers(pod):
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = source.get(key)
                if ref and not ref.get("optional"):
                    yield kind, ref.get("name")
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = value_from.get(key)
                if ref and not ref.get("optional"):
                    yield kind, ref.get("name")
    for volume in spec.get("volumes") or []:
        yield from _volume_refs(volume)


def _volume_refs(volume: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if (cm := volume.get("configMap")) and not cm.get("optional"):
        yield "ConfigMap", cm.get("name")
    if (secret := volume.get("secret")) and not secret.get("optional"):
        yield "Secret", secret.get("secretName")
    for source in (volume.get("projected") or {}).get("sources") or []:
        if (cm := source.get("configMap")) and not cm.get("optional"):
            yield "ConfigMap", cm.get("name")
        if (secret := source.get("secret")) and not secret.get("optional"):
            yield "Secret", secret.get("name")


def external_secret_targets(docs: Iterable[Doc]) -> Iterator[tuple[str, str]]:
    """(namespace, Secret name) every ExternalSecret writes (target.name defaults to its name)."""
    for doc in docs:
        if doc.get("kind") == "ExternalSecret":
            target = (doc.get("spec") or {}).get("target") or {}
            yield namespace_of(doc), str(target.get("name") or meta(doc).get("name"))


def check_references(docs: Sequence[Doc]) -> list[str]:
    """Every ConfigMap/Secret/ServiceAccount a pod needs, and its PriorityClass, exists in the
    render (Secrets: or is written by an ExternalSecret)."""
    present = {(d.get("kind"), namespace_of(d), meta(d).get("name")) for d in docs}
    present |= {("Secret", ns, name) for ns, name in external_secret_targets(docs)}
    present |= {("ServiceAccount", namespace_of(d), "default") for d in docs}
    problems: list[str] = []
    for doc, pod in workloads(docs):
        spec = pod.get("spec") or {}
        needed = list(_pod_refs(pod))
        needed.append(("ServiceAccount", spec.get("serviceAccountName") or "default"))
        for kind, name in needed:
            if (kind, namespace_of(doc), name) not in present:
                problems.append(
                    f"{ident(doc)}: {kind} {name!r} does not exist in {namespace_of(doc)!r}"
                )
        priority = spec.get("priorityClassName")
        if priority and ("PriorityClass", "", priority) not in present:
            problems.append(f"{ident(doc)}: PriorityClass {priority!r} does not exist")
    return problems


def check_collisions(docs: Sequence[Doc]) -> list[str]:
    """No object twice (same group/kind/namespace/name); no Secret written by two
    ExternalSecrets."""
    keys = Counter(
        (api_group(d.get("apiVersion")), d.get("kind"), namespace_of(d), meta(d).get("name"))
        for d in docs
    )
    problems = [
        f"{kind}/{ns + '/' if ns else ''}{name} ({group or 'core'}) is defined {count} times"
        for (group, kind, ns, name), count in sorted(keys.items(), key=str)
        if count > 1
    ]
    targets = Counter(external_secret_targets(docs))
    problems += [
        f"Secret/{ns}/{name} is written by {count} ExternalSecrets"
        for (ns, name), count in sorted(targets.items())
        if count > 1
    ]
    return problems


def _scale_target(hpa: Mapping[str, Any]) -> tuple[str, str, str]:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("kind")), namespace_of(hpa), str(ref.get("name"))


def check_autoscaled_replicas(docs: Sequence[Doc]) -> list[str]:
    """Every HPA scales an object of the render, and no Deployment scaled by an HPA sets
    spec.replicas: each apply would reset the HPA's count to the manifest's (HPA minReplicas
    carries the intent)."""
    objects = {(str(d.get("kind")), namespace_of(d), str(meta(d).get("name"))): d for d in docs}
    problems: list[str] = []
    for hpa in (d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"):
        kind, ns, name = _scale_target(hpa)
        target = objects.get((kind, ns, name))
        if target is None:
            problems.append(f"{ident(hpa)}: scaleTargetRef {kind}/{ns}/{name} is not rendered")
        elif "replicas" in (target.get("spec") or {}):
            problems.append(
                f"{ident(target)}: sets spec.replicas although {ident(hpa)} scales it"
                " (leave the count to the HPA's minReplicas)"
            )
    return problems


_CLUSTER_DNS = re.compile(r"^(?P<svc>[a-z0-9-]+)\.(?P<ns>[a-z0-9-]+)\.svc(?:\.cluster\.local)?$")


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def _service_ports(svc: Mapping[str, Any]) -> set[int]:
    return {int(p["port"]) for p in (svc.get("spec") or {}).get("ports") or [] if "port" in p}


def check_service_urls(docs: Sequence[Doc]) -> list[str]:
    """Every in-cluster URL (`<service>.<namespace>.svc[.cluster.local]`) in a ConfigMap names a
    Service of the render and one of its ports."""
    services = {
        (namespace_of(d), str(meta(d).get("name"))): d for d in docs if d.get("kind") == "Service"
    }
    problems: list[str] = []
    for cm in (d for d in docs if d.get("kind") == "ConfigMap"):
        for key, value in sorted((cm.get("data") or {}).items()):
            if not isinstance(value, str) or not _URL.match(value):
                continue
            url = urlsplit(value)
            host = _CLUSTER_DNS.match(url.hostname or "")
            if host is None:
                continue
            port = url.port or {"http": 80, "https": 443}.get(url.scheme)
            svc = services.get((host["ns"], host["svc"]))
            if svc is None:
                problems.append(
                    f"{ident(cm)}: {key}={value}: no Service {host['ns']}/{host['svc']}"
                )
            elif port not in _service_ports(svc):
                problems.append(f"{ident(cm)}: {key}={value}: {ident(svc)} has no port {port}")
    return problems


def check_admission(docs: Sequence[Doc]) -> list[str]:
    """What the cluster would refuse: strict schemas and Kuma's admission rules
    (offline/admission.py), each problem once."""
    return admission.all_problems(docs)


GENERIC_CHECKS: dict[str, Check] = {
    "admission": check_admission,
    "selectors": check_selectors,
    "references": check_references,
    "collisions": check_collisions,
    "autoscaled-replicas": check_autoscaled_replicas,
    "service-urls": check_service_urls,
}
