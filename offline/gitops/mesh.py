"""The mesh as Kuma would see it from a render: the meshed workloads (their proxy tags), the
effective MeshTrafficPermission action between every two of them (offline/kuma_rules.py), what a
proxy gets from the outbound policies (retry budget, retried methods), and whether anything joins
the mesh before Flux has seen the Mesh exist."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from offline.gitops.documents import WORKLOAD_KINDS, Doc, ident, meta, namespace_of, workloads
from offline.gitops.render import ClusterRender, flux_kustomizations
from offline.kuma_rules import (
    HEALTH_CHECK_DEFAULTS,
    is_kuma_policy,
    specificity,
    target_selects,
)


@dataclass(frozen=True)
class MeshWorkload:
    """A meshed Deployment and the tags its data plane proxies carry (pod labels, namespace,
    zone), which MeshSubset `tags` and Dataplane `labels` select on."""

    name: str
    tags: Mapping[str, str]


def mesh_workloads(render: ClusterRender) -> list[MeshWorkload]:
    """The Deployments of the render in sidecar-injected namespaces (the program's or the
    tree's), with their proxy tags."""
    zone = render.cluster.platform_vars.get("KUMA_ZONE", "")
    meshed = meshed_namespaces(render.objects)
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
        if doc.get("kind") == "Deployment" and namespace_of(doc) in meshed
    ]


# How specific a targetRef is (Kuma orders policies and their entries by it; more specific wins).


def permission(
    policies: Sequence[Doc], client: Mapping[str, str], server: Mapping[str, str]
) -> str:
    """The effective MeshTrafficPermission action from a client (the tags of its mTLS identity)
    to a server sidecar: among the `from` entries of the policies whose top-level targetRef
    selects the server and whose `from` targetRef selects the client, the most specific `from`
    wins, then the most specific top-level targetRef, then the policy name (later overrides
    earlier); no match: Deny (mTLS on, nothing allowed)."""
    matching = [
        ((specificity(entry["targetRef"]), specificity(top), str(meta(doc).get("name"))), entry)
        for doc in policies
        if doc.get("kind") == "MeshTrafficPermission"
        and target_selects(top := doc.get("spec", {}).get("targetRef") or {"kind": "Mesh"}, server)
        for entry in doc.get("spec", {}).get("from") or []
        if target_selects(entry["targetRef"], client)
    ]
    best = max(matching, key=lambda m: m[0], default=None)
    return str(best[1]["default"]["action"]) if best else "Deny"


def traffic_permissions(
    policies: Sequence[Doc], mesh: Sequence[MeshWorkload]
) -> dict[tuple[str, str], str]:
    """The effective MeshTrafficPermission action (permission()) for every (client, server) pair
    of distinct workloads."""
    return {
        (client.name, server.name): permission(policies, client.tags, server.tags)
        for server in mesh
        for client in mesh
        if client is not server
    }


# -- what one proxy gets towards the whole mesh ----------------------------------------------------

_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """Seconds of a Kubernetes/Go duration as Kuma's policies take it ("600ms", "2.5s", "1h")."""
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        raise ValueError(f"{text!r} is not a duration Kuma accepts")
    return sum(float(p["n"]) * _SECONDS[p["unit"]] for p in parts)


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        old = merged.get(key)
        nested = isinstance(old, Mapping) and isinstance(value, Mapping)
        merged[key] = _merge(old, value) if nested and old is not None else value
    return merged


def _entries(spec: Mapping[str, Any], section: str) -> list[Mapping[str, Any]]:
    """The `default`s of a policy's `to: Mesh` entries (section "to") or of its `rules`."""
    entries = spec.get(section) or []
    if section == "to":
        entries = [e for e in entries if (e.get("targetRef") or {}).get("kind") == "Mesh"]
    return [entry.get("default") or {} for entry in entries]


def _effective_conf(
    policies: Sequence[Doc],
    kind: str,
    section: str,
    tags: Mapping[str, str],
    *,
    proxy: str,
    gateway: str | None,
) -> dict[str, Any]:
    matching = sorted(
        (
            (specificity(top), str(meta(doc).get("name")), default)
            for doc in policies
            if doc.get("kind") == kind
            and target_selects(
                top := doc["spec"].get("targetRef") or {"kind": "Mesh"}, tags, proxy, gateway
            )
            for default in _entries(doc["spec"], section)
        ),
        key=lambda m: (m[0], m[1]),
    )
    conf: dict[str, Any] = {}
    for _, _, default in matching:
        conf = _merge(conf, default)
    return conf


def outbound_conf(
    policies: Sequence[Doc],
    kind: str,
    tags: Mapping[str, str],
    proxy: str = "Sidecar",
    gateway: str | None = None,
) -> dict[str, Any]:
    """The `default` a proxy gets from the `to: Mesh` entries of every policy of `kind` whose
    top-level targetRef selects it, merged least specific first (more specific fields win; Kuma
    merges matching policies this way, pkg/plugins/policies/core/rules)."""
    return _effective_conf(policies, kind, "to", tags, proxy=proxy, gateway=gateway)


def inbound_conf(
    policies: Sequence[Doc],
    kind: str,
    tags: Mapping[str, str],
    proxy: str = "Sidecar",
    gateway: str | None = None,
) -> dict[str, Any]:
    """The `default` a proxy's inbound listeners get from the `rules` of every policy of `kind`
    whose top-level targetRef selects it, merged least specific first; a list replaces the one
    of a less specific policy. For a builtin gateway the inbound listeners are the MeshGateway's
    listeners (kumahq/kuma v2.13.10 pkg/plugins/policies/core/matchers/dataplane.go
    inboundsSelectedByTags; core/rules/inbound/inboundrules.go MatchesAllIncomingTraffic)."""
    return _effective_conf(policies, kind, "rules", tags, proxy=proxy, gateway=gateway)


@dataclass(frozen=True)
class RetryBudget:
    """How long a sidecar may spend on one request with its retries, against its route timeout
    (MeshTimeout requestTimeout, which spans every attempt in Envoy)."""

    attempts: int
    per_try: float
    back_off: float  # the longest total wait between attempts
    request_timeout: float

    @property
    def worst_case(self) -> float:
        return self.attempts * self.per_try + self.back_off


def retry_budget(policies: Sequence[Doc], tags: Mapping[str, str]) -> RetryBudget:
    """The HTTP retry budget of a sidecar with these tags under the rendered policies. Envoy
    waits at most backOff.maxInterval between two attempts (its exponential back-off is capped
    there); an unset numRetries is 1 (MeshRetry's API doc); no perTryTimeout means a try may run
    the whole route timeout."""
    timeout = outbound_conf(policies, "MeshTimeout", tags).get("http") or {}
    retry = outbound_conf(policies, "MeshRetry", tags).get("http") or {}
    request_timeout = go_duration(str(timeout.get("requestTimeout", "15s")))
    retries = int(retry.get("numRetries", 1)) if retry else 0
    back_off = go_duration(str((retry.get("backOff") or {}).get("maxInterval", "0s")))
    return RetryBudget(
        attempts=retries + 1,
        per_try=go_duration(str(retry.get("perTryTimeout", "0s"))) or request_timeout,
        back_off=retries * back_off,
        request_timeout=request_timeout,
    )


def http_retry_methods(policies: Sequence[Doc], tags: Mapping[str, str]) -> frozenset[str] | None:
    """The HTTP methods a sidecar retries: the `HttpMethod<X>` entries of its retryOn (Kuma makes
    them Envoy retriable_request_headers on `:method`); None when retryOn names no method, so
    Envoy retries every method, POST included."""
    retry_on = (outbound_conf(policies, "MeshRetry", tags).get("http") or {}).get("retryOn") or []
    methods = {
        str(c).removeprefix("HttpMethod").upper()
        for c in retry_on
        if str(c).startswith("HttpMethod")
    }
    return frozenset(methods) if methods else None


@dataclass(frozen=True)
class ActiveHealthCheck:
    """The active health check a proxy runs on the endpoints of its destinations (MeshHealthCheck,
    Kuma's defaults for unset fields), in seconds."""

    conf: Mapping[str, Any]
    interval: float
    timeout: float
    unhealthy_threshold: int
    healthy_threshold: int

    @property
    def detection(self) -> float:
        """The longest time from an endpoint's failure to Envoy counting it unhealthy: the probe
        after the failure, then `unhealthyThreshold` failing probes, the last one timing out."""
        return self.unhealthy_threshold * self.interval + self.timeout


def active_health_check(
    policies: Sequence[Doc],
    tags: Mapping[str, str],
    proxy: str = "Sidecar",
    gateway: str | None = None,
) -> ActiveHealthCheck | None:
    """The MeshHealthCheck a proxy gets towards the whole mesh; None when no policy selects it."""
    conf = outbound_conf(policies, "MeshHealthCheck", tags, proxy, gateway)
    if not conf:
        return None
    full = {**HEALTH_CHECK_DEFAULTS, **conf}
    return ActiveHealthCheck(
        conf=conf,
        interval=go_duration(str(full["interval"])),
        timeout=go_duration(str(full["timeout"])),
        unhealthy_threshold=int(full["unhealthyThreshold"]),
        healthy_threshold=int(full["healthyThreshold"]),
    )


# -- nothing joins the mesh before it exists -------------------------------------------------------


def joins_mesh(doc: Mapping[str, Any], meshed: Set[str]) -> bool:
    """A Kuma policy, a sidecar-injected namespace, or a workload whose pods get a sidecar (its
    namespace is in `meshed`): the injector refuses pods of a mesh that does not exist yet."""
    labels = meta(doc).get("labels") or {}
    injected = (
        doc.get("kind") == "Namespace" and labels.get("kuma.io/sidecar-injection") == "enabled"
    )
    pods = doc.get("kind") in WORKLOAD_KINDS and namespace_of(doc) in meshed
    return injected or pods or is_kuma_policy(doc)


def check_mesh_first(render: ClusterRender) -> list[str]:
    """Every Flux Kustomization that applies Kuma policies, sidecar-injected namespaces or
    workloads in one (the program's namespaces included) depends (dependsOn, transitively) on one
    whose healthChecks wait for a Mesh: Flux reconciles a Kustomization only once its
    dependencies are Ready, health checks included, while a Kustomization's own health checks run
    after it has applied its objects."""
    kustomizations = {str(meta(ks).get("name")): ks for ks in flux_kustomizations(render.docs)}
    meshed = meshed_namespaces(render.objects)

    def gated(name: str, seen: frozenset[str]) -> bool:
        spec = kustomizations.get(name, {}).get("spec") or {}
        for dep in spec.get("dependsOn") or []:
            parent = str(dep.get("name"))
            if parent in seen:
                continue
            checks = (kustomizations.get(parent, {}).get("spec") or {}).get("healthChecks") or []
            if any(c.get("kind") == "Mesh" for c in checks) or gated(parent, seen | {parent}):
                return True
        return False

    return [
        f"Kustomization/{out.kustomization}: applies {ident(doc)} without waiting for the Mesh"
        " (dependsOn a Kustomization that health-checks it)"
        for out in render.outputs
        for doc in out.docs
        if joins_mesh(doc, meshed) and not gated(out.kustomization, frozenset({out.kustomization}))
    ]


# -- nothing leaves the mesh but through a MeshExternalService -------------------------------------

# What Kuma names a MeshExternalService created on the global, in every zone (kumahq/kuma
# v2.13.10 pkg/defaults/hostname_generator.go, `synced-mesh-external-service`).
EXTERNAL_SERVICE_DOMAIN = "extsvc.mesh.local"
_IN_CLUSTER = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+\.svc(?:\.cluster\.local)?$")


def meshed_namespaces(docs: Sequence[Doc]) -> set[str]:
    """Namespaces whose pods get a Kuma sidecar (kuma.io/sidecar-injection: enabled)."""
    return {
        str(meta(d).get("name"))
        for d in docs
        if d.get("kind") == "Namespace"
        and (meta(d).get("labels") or {}).get("kuma.io/sidecar-injection") == "enabled"
    }


def _external_services(policies: Sequence[Doc]) -> set[tuple[str, int]]:
    """(hostname, port) of every MeshExternalService of the mesh."""
    return {
        (f"{meta(d).get('name')}.{EXTERNAL_SERVICE_DOMAIN}", int(d["spec"]["match"]["port"]))
        for d in policies
        if d.get("kind") == "MeshExternalService"
    }


# libpq's defaults (postgresql.org/docs/current/libpq-envars.html: PGHOST, PGPORT; 5432).
POSTGRES_DEFAULT_PORT = 5432


def postgres_destinations(apps: Sequence[Doc]) -> list[tuple[str, str, int]]:
    """(container, PGHOST, PGPORT) of every container of a meshed workload that sets PGHOST."""
    meshed = meshed_namespaces(apps)
    found = []
    for doc, pod in workloads(apps):
        if namespace_of(doc) not in meshed:
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            if env.get("PGHOST"):
                port = int(env.get("PGPORT") or POSTGRES_DEFAULT_PORT)
                found.append((f"{ident(doc)}:{container['name']}", str(env["PGHOST"]), port))
    return found


def check_external_destinations(apps: Sequence[Doc], policies: Sequence[Doc]) -> list[str]:
    """Every URL a meshed app is configured with (its ConfigMaps), and every PostgreSQL host its
    containers name (PGHOST/PGPORT), is a Service of the cluster or a MeshExternalService of the
    mesh (`<name>.extsvc.mesh.local` on its match port): with passthrough off the sidecar drops
    anything else, and the NetworkPolicies block it anyway."""
    external = _external_services(policies)
    meshed = meshed_namespaces(apps)
    problems: list[str] = [
        f"{container}: PGHOST={host} PGPORT={port} is neither a Service of the cluster nor a"
        " MeshExternalService of the mesh (passthrough is off)"
        for container, host, port in postgres_destinations(apps)
        if (host, port) not in external and not _IN_CLUSTER.match(host)
    ]
    for cm in (d for d in apps if d.get("kind") == "ConfigMap" and namespace_of(d) in meshed):
        for key, value in sorted((cm.get("data") or {}).items()):
            url = urlsplit(value) if isinstance(value, str) and "://" in value else None
            if url is None or not url.hostname or _IN_CLUSTER.match(url.hostname):
                continue
            port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
            if (url.hostname, port) not in external:
                problems.append(
                    f"{ident(cm)}: {key}={value}: {url.hostname}:{port} is neither a Service of"
                    " the cluster nor a MeshExternalService of the mesh (passthrough is off)"
                )
    return problems
