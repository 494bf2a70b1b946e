"""Offline render and checks of the GitOps tree (k8s/) that Flux applies on every cluster.

What Flux does on a cluster, reproduced here without a cluster:

1. the root Kustomization `flux-system` builds `k8s/clusters/<stack>/<role>` with kustomize and
   substitutes `${VAR}` from the cluster's `platform-vars` ConfigMap (written by Pulumi);
2. every Flux Kustomization found in that output builds its own `spec.path` the same way, with
   the variables of its own `postBuild` (substitution is not inherited), recursively.

`render_cluster` does exactly that with the real kustomize (`kubectl kustomize`) and the
platform-vars the program produces for that cluster (`offline.engine.plan_stack`). The `check_*`
functions each take rendered documents and return one message per problem (empty: all good), so
tests stay thin and each check can be fed a hand-made bad input.

Command line: `python -m offline.gitops render STACK|--all --out DIR` writes one YAML file per
cluster (what checkov scans).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.facts import SECRET_ACCESSOR_ROLE
from components.flux import PLATFORM_VARS
from components.naming import cluster_of_provider
from offline.cli import guarded
from offline.engine import REPO_ROOT, Plan, plan_stack, stacks
from offline.k8s_validation import kuma_policy_problems, validate_manifest

Doc = dict[str, Any]

FLUX_SOURCE = {"kind": "GitRepository", "name": "flux-system"}
FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
SUBSTITUTE_DISABLED = "kustomize.toolkit.fluxcd.io/substitute"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
KUBECTL = "kubectl"
KUSTOMIZATION_FILE = "kustomization.yaml"
ESO_GROUP = "external-secrets.io"


class RenderError(RuntimeError):
    """kustomize failed on a path."""


# --------------------------------------------------------------------------- substitution

# `$${...}` is an escaped literal; `${NAME}`, `${NAME:=default}`, `${NAME:-default}`,
# `${NAME=default}`, `${NAME-default}` are the forms Flux (drone/envsubst) substitutes. Anything
# else inside `${...}` is reported as unsupported rather than guessed.
_EXPR = re.compile(r"\$(\$?)\{([^}]*)\}")
_VAR = re.compile(r"(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-=])(?P<default>.*))?", re.S)


@dataclass(frozen=True)
class Substituted:
    text: str
    referenced: frozenset[str]  # every variable name a `${...}` names (defaults or not)
    unsupported: tuple[str, ...] = ()  # `${...}` expressions that are not simple variables


def substitute(text: str, variables: Mapping[str, str]) -> Substituted:
    """Replace `${VAR}` like Flux's post-build substitution (strict mode off: unset -> "")."""
    referenced: set[str] = set()
    unsupported: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, body = match.group(1), match.group(2)
        if escaped:
            return "${" + body + "}"
        parsed = _VAR.fullmatch(body)
        if parsed is None:
            unsupported.append(match.group(0))
            return match.group(0)
        name, op, default = parsed.group("name", "op", "default")
        referenced.add(name)
        value = variables.get(name)
        if op is None:
            return value or ""
        if op.startswith(":"):  # unset or empty
            return value if value else default
        return value if value is not None else default  # unset only

    text = _EXPR.sub(replace, text)
    return Substituted(text, frozenset(referenced), tuple(unsupported))


def substitution_disabled(doc: Mapping[str, Any]) -> bool:
    meta = doc.get("metadata") or {}
    marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    return marks.get(SUBSTITUTE_DISABLED) == "disabled"


# --------------------------------------------------------------------------- kustomize


# libyaml's C loader and dumper when present (same safe subset, ~10x faster than pure Python).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@cache
def _kustomize(directory: Path) -> tuple[Doc, ...]:
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {proc.stderr.strip()}")
    return tuple(d for d in yaml.load_all(proc.stdout, Loader=_Loader) if d)


def kustomize_build(path: str, repo: Path = REPO_ROOT) -> list[Doc]:
    """`kubectl kustomize <repo>/<path>`, parsed (cached per directory, copies returned)."""
    docs = _kustomize((repo / path).resolve())
    return [copy.deepcopy(d) for d in docs]


# --------------------------------------------------------------------------- the Flux tree


@dataclass(frozen=True)
class Cluster:
    """One cluster of a stack, with the platform-vars the program writes on it."""

    stack: str
    name: str
    role: str
    platform_vars: Mapping[str, str]

    @property
    def sync_path(self) -> str:
        return f"k8s/clusters/{self.stack}/{self.role}"


@dataclass(frozen=True)
class Rendered:
    """The output of one Flux Kustomization (or of the root one) on one cluster."""

    kustomization: str
    path: str
    docs: tuple[Doc, ...]
    referenced_vars: frozenset[str]


@dataclass
class ClusterRender:
    cluster: Cluster
    outputs: list[Rendered] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def docs(self) -> list[Doc]:
        return [doc for out in self.outputs for doc in out.docs]

    @property
    def referenced_vars(self) -> frozenset[str]:
        return frozenset().union(*(out.referenced_vars for out in self.outputs))


def _ident(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc.get('kind')}/{ns}{meta.get('name')}"


def _is_flux_kustomization(doc: Mapping[str, Any]) -> bool:
    return (doc.get("apiVersion"), doc.get("kind")) == FLUX_KUSTOMIZATION


def substitute_docs(
    docs: Iterable[Doc], variables: Mapping[str, str] | None
) -> tuple[list[Doc], frozenset[str], list[str]]:
    """Flux post-build: each document as YAML, substituted, parsed back. No variables: as is."""
    out: list[Doc] = []
    referenced: set[str] = set()
    problems: list[str] = []
    for doc in docs:
        text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
        if variables is None or substitution_disabled(doc):
            out.append(doc)
            referenced |= set(substitute(text, {}).referenced)  # left as literal `${...}`
            continue
        result = substitute(text, variables)
        referenced |= result.referenced
        problems += [f"{_ident(doc)}: unsupported substitution {u}" for u in result.unsupported]
        out.append(yaml.load(result.text, Loader=_Loader))
    return out, frozenset(referenced), problems


def _flux_variables(
    ks: Mapping[str, Any], platform_vars: Mapping[str, str]
) -> tuple[dict[str, str] | None, list[str]]:
    """The variables Flux substitutes in the output of Kustomization `ks` (None: no postBuild)."""
    post = (ks.get("spec") or {}).get("postBuild")
    if not post:
        return None, []
    variables: dict[str, str] = {}
    problems: list[str] = []
    for source in post.get("substituteFrom") or []:
        if (source.get("kind"), source.get("name")) == ("ConfigMap", PLATFORM_VARS):
            variables.update(platform_vars)
        else:
            problems.append(f"{_ident(ks)}: substituteFrom {source} is not known offline")
    variables.update(post.get("substitute") or {})  # inline values take precedence
    return variables, problems


def flux_kustomization_problems(ks: Mapping[str, Any], repo: Path = REPO_ROOT) -> list[str]:
    """What a Flux Kustomization of this repository must have: prune, our source, a real path,
    and substitution from platform-vars (it is not inherited from the parent)."""
    spec = ks.get("spec") or {}
    who = _ident(ks)
    problems: list[str] = []
    if spec.get("prune") is not True:
        problems.append(f"{who}: spec.prune must be true")
    ref = spec.get("sourceRef") or {}
    if {k: ref.get(k) for k in FLUX_SOURCE} != FLUX_SOURCE:
        problems.append(f"{who}: sourceRef must be GitRepository flux-system, got {ref}")
    path = str(spec.get("path") or "")
    if "${" in path or not path or not (repo / path).is_dir():
        problems.append(f"{who}: spec.path {path!r} is not a folder of this repository")
    elif not (repo / path / KUSTOMIZATION_FILE).is_file():
        problems.append(f"{who}: spec.path {path!r} has no {KUSTOMIZATION_FILE}")
    sources = (spec.get("postBuild") or {}).get("substituteFrom") or []
    if {"kind": "ConfigMap", "name": PLATFORM_VARS} not in [
        {"kind": s.get("kind"), "name": s.get("name")} for s in sources
    ]:
        problems.append(f"{who}: postBuild.substituteFrom must include ConfigMap {PLATFORM_VARS}")
    return problems


def render_cluster(cluster: Cluster, repo: Path = REPO_ROOT) -> ClusterRender:
    """Everything Flux applies on `cluster`: the root path, then every Flux Kustomization's path."""
    result = ClusterRender(cluster)
    queue: list[tuple[str, str, dict[str, str] | None]] = [
        ("flux-system", cluster.sync_path, dict(cluster.platform_vars))
    ]
    seen: set[str] = set()
    while queue:
        name, path, variables = queue.pop(0)
        try:
            raw = kustomize_build(path, repo)
        except RenderError as error:
            result.problems.append(f"Kustomization/{name}: {error}")
            continue
        docs, referenced, problems = substitute_docs(raw, variables)
        result.problems += problems
        result.outputs.append(Rendered(name, path, tuple(docs), referenced))
        for ks in filter(_is_flux_kustomization, docs):
            problems = flux_kustomization_problems(ks, repo)
            result.problems += problems
            child = str(ks["spec"].get("path", "")).removeprefix("./").rstrip("/")
            if problems or child in seen:
                continue
            seen.add(child)
            child_vars, var_problems = _flux_variables(ks, cluster.platform_vars)
            result.problems += var_problems
            queue.append((ks["metadata"]["name"], child, child_vars))
    return result


# --------------------------------------------------------------------------- the program's facts


@dataclass(frozen=True)
class StackFacts:
    """What the Pulumi program creates that the GitOps tree must agree with."""

    stack: str
    clusters: tuple[Cluster, ...]
    secret_ids: frozenset[str]  # every Secret Manager entry of the stack
    cluster_readable: frozenset[str]  # the entries ESO may read (secretAccessor grants)
    mesh_names: frozenset[str]
    secret_stores: frozenset[str]  # ClusterSecretStore names
    # (cluster, namespace, Deployment) of each Kuma control plane: Helm release `<r>` of chart
    # `kuma` runs the Deployment `<r>-control-plane` (the chart's naming).
    kuma_control_planes: frozenset[tuple[str, str, str]] = frozenset()
    # ClusterSecretStore name -> the namespace labels its conditions require.
    store_namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _cluster_of(registration_provider: str) -> str:
    return cluster_of_provider(registration_provider.rsplit("::", 1)[-1])


def _readable_secret_ids(plan: Plan) -> frozenset[str]:
    by_urn = plan.by_urn()
    readable: set[str] = set()
    for grant in plan.of_type("gcp:secretmanager/secretIamMember:SecretIamMember"):
        if grant.inputs.get("role") != SECRET_ACCESSOR_ROLE:
            continue
        for urn in grant.property_dependencies.get("secretId") or grant.dependencies:
            secret = by_urn.get(urn)
            if secret is not None and secret.type == "gcp:secretmanager/secret:Secret":
                readable.add(secret.inputs["secretId"])
    return frozenset(readable)


def stack_facts_from_plan(plan: Plan) -> StackFacts:
    clusters = tuple(
        Cluster(
            stack=plan.stack,
            name=_cluster_of(r.provider_urn),
            role=r.inputs["data"]["CLUSTER_ROLE"],
            platform_vars=dict(r.inputs["data"]),
        )
        for r in plan.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs.get("metadata", {}).get("name") == PLATFORM_VARS
    )
    return StackFacts(
        stack=plan.stack,
        clusters=tuple(sorted(clusters, key=lambda c: (c.role, c.name))),
        secret_ids=frozenset(
            r.inputs["secretId"] for r in plan.of_type("gcp:secretmanager/secret:Secret")
        ),
        cluster_readable=_readable_secret_ids(plan),
        mesh_names=frozenset(
            r.inputs["metadata"]["name"] for r in plan.of_type("kubernetes:kuma.io/v1alpha1:Mesh")
        ),
        secret_stores=frozenset(
            r.inputs["metadata"]["name"]
            for r in plan.of_type("kubernetes:external-secrets.io/v1:ClusterSecretStore")
        ),
        store_namespace_labels={
            r.inputs["metadata"]["name"]: _store_selector(r.inputs["spec"])
            for r in plan.of_type("kubernetes:external-secrets.io/v1:ClusterSecretStore")
        },
        kuma_control_planes=frozenset(
            (
                _cluster_of(r.provider_urn),
                r.inputs["namespace"],
                f"{r.inputs['name']}-control-plane",
            )
            for r in plan.of_type("kubernetes:helm.sh/v3:Release")
            if r.inputs.get("chart") == "kuma"
        ),
    )


@cache
def _stack_facts(stack: str) -> StackFacts:
    return stack_facts_from_plan(plan_stack(stack))


def stack_facts(stack: str) -> StackFacts:
    """The facts of `stack` from the offline plan (computed once per process; every call returns
    a deep copy, so a caller that edits it cannot change what the next one sees)."""
    return copy.deepcopy(_stack_facts(stack))


@cache
def _rendered_stack(stack: str) -> tuple[ClusterRender, ...]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return tuple(pool.map(render_cluster, _stack_facts(stack).clusters))


def rendered_stack(stack: str) -> tuple[ClusterRender, ...]:
    """Every cluster of `stack`, rendered as Flux would (computed once per process, in parallel:
    each kustomize build is its own process). Every call returns a deep copy."""
    return copy.deepcopy(_rendered_stack(stack))


# --------------------------------------------------------------------------- generic checks

Check = Callable[[Sequence[Doc]], list[str]]


def _meta(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _ns(doc: Mapping[str, Any]) -> str:
    return str(_meta(doc).get("namespace") or "")


def _pod_template(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    elif doc.get("kind") == "Pod":
        return doc
    elif doc.get("kind") not in WORKLOAD_KINDS:
        return None
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def workloads(docs: Iterable[Doc]) -> Iterator[tuple[Doc, Mapping[str, Any]]]:
    """(workload, its pod template) for every document that runs pods."""
    for doc in docs:
        pod = _pod_template(doc)
        if pod is not None:
            yield doc, pod


def _subset(small: Mapping[str, Any], big: Mapping[str, Any]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


def check_selectors(docs: Sequence[Doc]) -> list[str]:
    """Deployment selectors match their pod labels; every Service selects some Deployment's pods
    and every Deployment is behind a Service of its namespace."""
    problems: list[str] = []
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    services = [d for d in docs if d.get("kind") == "Service"]
    for dep in deployments:
        selector = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        labels = _meta((dep.get("spec") or {}).get("template") or {}).get("labels") or {}
        if not selector or not _subset(selector, labels):
            problems.append(
                f"{_ident(dep)}: selector {selector} does not match pod labels {labels}"
            )
        behind = [
            s
            for s in services
            if _ns(s) == _ns(dep) and _selects((s.get("spec") or {}).get("selector"), labels)
        ]
        if not behind:
            problems.append(f"{_ident(dep)}: no Service of its namespace selects its pods")
    for svc in services:
        selector = (svc.get("spec") or {}).get("selector")
        pods = [
            _meta((d.get("spec") or {}).get("template") or {}).get("labels") or {}
            for d in deployments
            if _ns(d) == _ns(svc)
        ]
        if not any(_selects(selector, labels) for labels in pods):
            problems.append(f"{_ident(svc)}: selector {selector} matches no Deployment's pods")
    return problems


def _selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    return isinstance(selector, Mapping) and bool(selector) and _subset(selector, labels)


def check_resources(docs: Sequence[Doc]) -> list[str]:
    """Every container has cpu and memory requests and limits."""
    problems: list[str] = []
    for doc, pod in workloads(docs):
        for container in _containers(pod):
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                missing = [r for r in ("cpu", "memory") if r not in (resources.get(kind) or {})]
                if missing:
                    problems.append(
                        f"{_ident(doc)}: container {container.get('name')}: no {kind} for"
                        f" {', '.join(missing)}"
                    )
    return problems


def _pod_refs(pod: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every non-optional ConfigMap/Secret a pod spec needs."""
    spec = pod.get("spec") or {}
    for container in _containers(pod):
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
            yield _ns(doc), str(target.get("name") or _meta(doc).get("name"))


def check_references(docs: Sequence[Doc]) -> list[str]:
    """Every ConfigMap/Secret/ServiceAccount a pod needs, and its PriorityClass, exists in the
    render (Secrets: or is written by an ExternalSecret)."""
    present = {(d.get("kind"), _ns(d), _meta(d).get("name")) for d in docs}
    present |= {("Secret", ns, name) for ns, name in external_secret_targets(docs)}
    present |= {("ServiceAccount", _ns(d), "default") for d in docs}
    problems: list[str] = []
    for doc, pod in workloads(docs):
        spec = pod.get("spec") or {}
        needed = list(_pod_refs(pod))
        needed.append(("ServiceAccount", spec.get("serviceAccountName") or "default"))
        for kind, name in needed:
            if (kind, _ns(doc), name) not in present:
                problems.append(f"{_ident(doc)}: {kind} {name!r} does not exist in {_ns(doc)!r}")
        priority = spec.get("priorityClassName")
        if priority and ("PriorityClass", "", priority) not in present:
            problems.append(f"{_ident(doc)}: PriorityClass {priority!r} does not exist")
    return problems


def _group(api_version: Any) -> str:
    return str(api_version).rpartition("/")[0]


def check_collisions(docs: Sequence[Doc]) -> list[str]:
    """No object twice (same group/kind/namespace/name); no Secret written by two
    ExternalSecrets."""
    keys = Counter(
        (_group(d.get("apiVersion")), d.get("kind"), _ns(d), _meta(d).get("name")) for d in docs
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


def _is_kuma_policy(doc: Mapping[str, Any]) -> bool:
    return _group(doc.get("apiVersion")) == "kuma.io" and doc.get("kind") != "Mesh"


def check_kuma_policy_shape(docs: Sequence[Doc]) -> list[str]:
    """What Kuma's validator rejects although the CRD accepts it: `rules` mixed with `to`/`from`,
    targetRef kinds per position, `rules`/`from` on gateway targets and `to` on sidecar targets
    (offline.k8s_validation.kuma_policy_problems, with the Kuma sources it encodes)."""
    return [
        f"{_ident(doc)}: {problem}"
        for doc in filter(_is_kuma_policy, docs)
        for problem in kuma_policy_problems(str(doc.get("kind")), doc.get("spec"))
    ]


def _scale_target(hpa: Mapping[str, Any]) -> tuple[str, str, str]:
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return str(ref.get("kind")), _ns(hpa), str(ref.get("name"))


def check_autoscaled_replicas(docs: Sequence[Doc]) -> list[str]:
    """Every HPA scales an object of the render, and no Deployment scaled by an HPA sets
    spec.replicas: each apply would reset the HPA's count to the manifest's (HPA minReplicas
    carries the intent)."""
    objects = {(str(d.get("kind")), _ns(d), str(_meta(d).get("name"))): d for d in docs}
    problems: list[str] = []
    for hpa in (d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"):
        kind, ns, name = _scale_target(hpa)
        target = objects.get((kind, ns, name))
        if target is None:
            problems.append(f"{_ident(hpa)}: scaleTargetRef {kind}/{ns}/{name} is not rendered")
        elif "replicas" in (target.get("spec") or {}):
            problems.append(
                f"{_ident(target)}: sets spec.replicas although {_ident(hpa)} scales it"
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
    services = {(_ns(d), str(_meta(d).get("name"))): d for d in docs if d.get("kind") == "Service"}
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
                    f"{_ident(cm)}: {key}={value}: no Service {host['ns']}/{host['svc']}"
                )
            elif port not in _service_ports(svc):
                problems.append(f"{_ident(cm)}: {key}={value}: {_ident(svc)} has no port {port}")
    return problems


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_problem(image: str) -> str | None:
    """Why `image` is not pinned (None: pinned by digest, or by an exact non-latest tag)."""
    if _DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        return "malformed digest"
    if ":" not in last:
        return "no tag"
    if last.rsplit(":", 1)[1] in ("", "latest"):
        return "tag latest"
    return None


def check_images(docs: Sequence[Doc]) -> list[str]:
    """Every container image is pinned (a digest, or a tag that is not `latest`)."""
    problems: list[str] = []
    for doc, pod in workloads(docs):
        for container in _containers(pod):
            image = str(container.get("image") or "")
            reason = image_problem(image)
            if reason:
                problems.append(f"{_ident(doc)}: image {image!r}: {reason}")
    return problems


def check_schemas(docs: Sequence[Doc]) -> list[str]:
    """Strict validation of every document (offline.k8s_validation)."""
    return [error for doc in docs for error in validate_manifest(doc)]


GENERIC_CHECKS: dict[str, Check] = {
    "schemas": check_schemas,
    "selectors": check_selectors,
    "resources": check_resources,
    "references": check_references,
    "collisions": check_collisions,
    "kuma-policy-shape": check_kuma_policy_shape,
    "autoscaled-replicas": check_autoscaled_replicas,
    "service-urls": check_service_urls,
    "images": check_images,
}


# --------------------------------------------------------------------------- cross-layer checks


def check_variables(referenced: Iterable[str], platform_vars: Mapping[str, str]) -> list[str]:
    """Every `${VAR}` names a key Pulumi writes to this cluster's platform-vars."""
    return [
        f"${{{name}}} is not a key of this cluster's {PLATFORM_VARS} ({', '.join(platform_vars)})"
        for name in sorted(set(referenced) - set(platform_vars))
    ]


def remote_keys(doc: Mapping[str, Any]) -> Iterator[str]:
    spec = doc.get("spec") or {}
    for item in spec.get("data") or []:
        yield str((item.get("remoteRef") or {}).get("key"))
    for item in spec.get("dataFrom") or []:
        if item.get("extract"):
            yield str(item["extract"].get("key"))
        if item.get("find"):
            yield f"<find {item['find']}>"  # not checkable offline: reported as unknown


def check_external_secrets(docs: Sequence[Doc], facts: StackFacts) -> list[str]:
    """ExternalSecrets read, through the program's ClusterSecretStore, Secret Manager entries of
    this stack that the clusters are allowed to read."""
    problems: list[str] = []
    for doc in (d for d in docs if d.get("kind") == "ExternalSecret"):
        store = (doc.get("spec") or {}).get("secretStoreRef") or {}
        if (
            store.get("kind") != "ClusterSecretStore"
            or store.get("name") not in facts.secret_stores
        ):
            problems.append(
                f"{_ident(doc)}: secretStoreRef {store} is not the program's ClusterSecretStore"
                f" ({', '.join(sorted(facts.secret_stores))})"
            )
        for key in remote_keys(doc):
            if key not in facts.secret_ids:
                problems.append(f"{_ident(doc)}: {key!r} is no Secret Manager entry of the stack")
            elif key not in facts.cluster_readable:
                problems.append(f"{_ident(doc)}: {key!r} is not readable by the clusters")
    return problems


def _store_selector(spec: Mapping[str, Any]) -> dict[str, str]:
    """The labels every namespace-selector condition of a store requires (merged)."""
    labels: dict[str, str] = {}
    for condition in spec.get("conditions") or []:
        labels.update((condition.get("namespaceSelector") or {}).get("matchLabels") or {})
    return labels


def check_store_access(docs: Sequence[Doc], facts: StackFacts) -> list[str]:
    """An ExternalSecret's namespace carries the labels its ClusterSecretStore's conditions
    require; otherwise ESO refuses it and the app never gets its credentials."""
    namespaces = {
        _meta(d).get("name"): _meta(d).get("labels") or {}
        for d in docs
        if d.get("kind") == "Namespace"
    }
    problems: list[str] = []
    for doc in (d for d in docs if d.get("kind") == "ExternalSecret"):
        store = str(((doc.get("spec") or {}).get("secretStoreRef") or {}).get("name"))
        required = facts.store_namespace_labels.get(store, {})
        labels = namespaces.get(_ns(doc))
        if labels is None:
            problems.append(f"{_ident(doc)}: its namespace {_ns(doc)!r} is not rendered")
        elif any(labels.get(k) != v for k, v in required.items()):
            problems.append(
                f"{_ident(doc)}: namespace {_ns(doc)!r} lacks the labels {dict(required)} that "
                f"ClusterSecretStore {store} requires"
            )
    return problems


def check_mesh_membership(
    docs: Sequence[Doc], mesh_names: Iterable[str], kuma_namespace: str
) -> list[str]:
    """Every Kuma policy carries `kuma.io/mesh: <a Mesh the program creates>` and lives in the
    Kuma system namespace."""
    meshes = set(mesh_names)
    problems: list[str] = []
    for doc in filter(_is_kuma_policy, docs):
        mesh = (_meta(doc).get("labels") or {}).get("kuma.io/mesh")
        if mesh not in meshes:
            problems.append(f"{_ident(doc)}: kuma.io/mesh {mesh!r} names no Mesh of the program")
        if _ns(doc) != kuma_namespace:
            problems.append(f"{_ident(doc)}: namespace {_ns(doc)!r} is not {kuma_namespace!r}")
    return problems


def _flux_kustomizations(docs: Iterable[Doc]) -> list[Doc]:
    return [d for d in docs if _is_flux_kustomization(d)]


# The root Kustomization: the FluxInstance (components/flux.py) creates it, not the tree.
ROOT_KUSTOMIZATION = "flux-system"


def check_depends_on(docs: Sequence[Doc]) -> list[str]:
    """Every `dependsOn` of a Flux Kustomization names one the cluster gets (Flux would wait
    forever otherwise)."""
    known = {str(_meta(d).get("name")) for d in _flux_kustomizations(docs)} | {ROOT_KUSTOMIZATION}
    return [
        f"{_ident(ks)}: dependsOn {dep.get('name')!r} is no Flux Kustomization of this cluster"
        for ks in _flux_kustomizations(docs)
        for dep in (ks.get("spec") or {}).get("dependsOn") or []
        if dep.get("name") not in known
    ]


def check_health_checks(docs: Sequence[Doc], facts: StackFacts, cluster: str) -> list[str]:
    """Every health-check target exists: an object of the render, the program's
    ClusterSecretStore, or this cluster's Kuma control-plane Deployment."""
    rendered = {(str(d.get("kind")), _ns(d), str(_meta(d).get("name"))) for d in docs}
    program = {("ClusterSecretStore", "", name) for name in facts.secret_stores}
    program |= {
        ("Deployment", ns, name) for c, ns, name in facts.kuma_control_planes if c == cluster
    }
    return [
        f"{_ident(ks)}: health check {check.get('kind')}/"
        f"{check.get('namespace') + '/' if check.get('namespace') else ''}{check.get('name')}"
        " is neither rendered nor created by the program on this cluster"
        for ks in _flux_kustomizations(docs)
        for check in (ks.get("spec") or {}).get("healthChecks") or []
        if (str(check.get("kind")), str(check.get("namespace") or ""), str(check.get("name")))
        not in rendered | program
    ]


def _eso_kinds_waited_for(ks: Mapping[str, Any], output: Sequence[Doc]) -> set[tuple[str, str]]:
    """(apiVersion, kind) of the ESO objects Flux checks the health of for `ks`: its healthChecks,
    and with `wait: true` every object it applies."""
    spec = ks.get("spec") or {}
    checked = [dict(c) for c in spec.get("healthChecks") or []]
    if spec.get("wait") is True:
        checked += output
    return {
        (str(c.get("apiVersion")), str(c.get("kind")))
        for c in checked
        if _group(c.get("apiVersion")) == ESO_GROUP
    }


def check_eso_health_exprs(render: ClusterRender) -> list[str]:
    """kstatus ignores ESO's Ready condition: every ESO kind a Flux Kustomization waits for has a
    healthCheckExprs entry with `current` and `failed` expressions."""
    outputs = {out.kustomization: out.docs for out in render.outputs}
    problems: list[str] = []
    for ks in _flux_kustomizations(render.docs):
        spec = ks.get("spec") or {}
        exprs = {
            (str(e.get("apiVersion")), str(e.get("kind")))
            for e in spec.get("healthCheckExprs") or []
            if e.get("current") and e.get("failed")
        }
        output = outputs.get(str(_meta(ks).get("name")), ())
        for api_version, kind in sorted(_eso_kinds_waited_for(ks, output) - exprs):
            problems.append(
                f"{_ident(ks)}: waits for {api_version} {kind} without a healthCheckExprs entry"
                " (current and failed): kstatus would only check that it exists"
            )
    return problems


def cross_layer_problems(render: ClusterRender, facts: StackFacts) -> list[str]:
    vars_ = render.cluster.platform_vars
    return [
        *check_variables(render.referenced_vars, vars_),
        *check_external_secrets(render.docs, facts),
        *check_store_access(render.docs, facts),
        *check_mesh_membership(render.docs, facts.mesh_names, vars_.get("KUMA_NAMESPACE", "")),
        *check_depends_on(render.docs),
        *check_health_checks(render.docs, facts, render.cluster.name),
        *check_eso_health_exprs(render),
    ]


# --------------------------------------------------------------------------- mesh permissions


@dataclass(frozen=True)
class MeshWorkload:
    """A meshed Deployment and the tags its data plane proxies carry (pod labels, namespace,
    zone), which MeshSubset `tags` and Dataplane `labels` select on."""

    name: str
    tags: Mapping[str, str]


def mesh_workloads(render: ClusterRender) -> list[MeshWorkload]:
    zone = render.cluster.platform_vars.get("KUMA_ZONE", "")
    return [
        MeshWorkload(
            name=_ident(doc),
            tags={
                **(_meta(pod).get("labels") or {}),
                "k8s.kuma.io/namespace": _ns(doc),
                "kuma.io/zone": zone,
            },
        )
        for doc, pod in workloads(render.docs)
        if doc.get("kind") == "Deployment"
    ]


# How specific a targetRef is (Kuma orders policies and their entries by it; more specific wins).
_SPECIFICITY = {"Mesh": 0, "MeshSubset": 1, "Dataplane": 2}


def _target_selects(ref: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    kind = ref.get("kind")
    if kind == "Mesh":
        return True
    if kind == "MeshSubset":
        return _subset(ref.get("tags") or {}, tags)
    if kind == "Dataplane" and "labels" in ref:
        return _subset(ref["labels"], tags)
    raise ValueError(f"targetRef {dict(ref)} is not modelled offline")


def _specificity(ref: Mapping[str, Any]) -> tuple[int, int]:
    selectors = ref.get("tags") or ref.get("labels") or {}
    return _SPECIFICITY[str(ref.get("kind"))], len(selectors)


def traffic_permissions(
    policies: Sequence[Doc], mesh: Sequence[MeshWorkload]
) -> dict[tuple[str, str], str]:
    """The effective MeshTrafficPermission action for every (client, server) pair of distinct
    workloads: among the `from` entries of the policies whose top-level targetRef selects the
    server and whose `from` targetRef selects the client, the most specific `from` wins, then the
    most specific top-level targetRef, then the policy name (later overrides earlier); no match:
    Deny (mTLS on, nothing allowed)."""
    entries = [
        (doc.get("spec", {}).get("targetRef") or {"kind": "Mesh"}, entry, _meta(doc).get("name"))
        for doc in policies
        if doc.get("kind") == "MeshTrafficPermission"
        for entry in doc.get("spec", {}).get("from") or []
    ]
    matrix: dict[tuple[str, str], str] = {}
    for server in mesh:
        for client in mesh:
            if client is server:
                continue
            matching = [
                ((_specificity(entry["targetRef"]), _specificity(top), str(name)), entry)
                for top, entry, name in entries
                if _target_selects(top, server.tags)
                and _target_selects(entry["targetRef"], client.tags)
            ]
            best = max(matching, key=lambda m: m[0], default=None)
            matrix[client.name, server.name] = str(best[1]["default"]["action"]) if best else "Deny"
    return matrix


# --------------------------------------------------------------------------- diff and output

_HASH_SUFFIX = re.compile(r"-[bcdfghkmnt-z2456789]{10}$")


def _normalized(doc: Doc) -> Doc:
    """A document with kustomize's generated-name hashes masked (they change with any byte)."""
    text = yaml.safe_dump(doc, sort_keys=True)
    names = {
        n
        for n in re.findall(r"name: (\S+)", text)
        if _HASH_SUFFIX.search(n) and not n.startswith("$")
    }
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, _HASH_SUFFIX.sub("-<hash>", name))
    loaded: Doc = yaml.safe_load(text)
    return loaded


def to_yaml(docs: Iterable[Doc], normalize: bool = False) -> str:
    ordered = sorted(docs, key=lambda d: (str(d.get("kind")), _ns(d), str(_meta(d).get("name"))))
    if normalize:
        ordered = [_normalized(d) for d in ordered]
    return yaml.safe_dump_all(ordered, sort_keys=normalize, explicit_start=True)


def drift_summary(left: ClusterRender, right: ClusterRender) -> str:
    """Which objects exist on one side only, and which differ (hash suffixes masked)."""
    a = {_ident(d): _normalized(d) for d in left.docs}
    b = {_ident(d): _normalized(d) for d in right.docs}
    a = {_HASH_SUFFIX.sub("-<hash>", k): v for k, v in a.items()}
    b = {_HASH_SUFFIX.sub("-<hash>", k): v for k, v in b.items()}
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


def write_stack(stack: str, out: Path) -> list[Path]:
    """One YAML file per cluster of `stack`: <out>/<stack>/<cluster>.yaml."""
    written: list[Path] = []
    for render in rendered_stack(stack):
        if render.problems:
            raise RenderError("\n".join(render.problems))
        target = out / stack / f"{render.cluster.name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_yaml(render.docs), encoding="utf-8")
        written.append(target)
    return written


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.gitops")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="render what Flux applies on every cluster")
    render.add_argument("stack", nargs="?")
    render.add_argument("--all", action="store_true", help="every stack")
    render.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "k8s")
    args = parser.parse_args(argv)
    if bool(args.all) == bool(args.stack):
        parser.error("give one STACK or --all")
    for stack in stacks() if args.all else [args.stack]:
        for path in write_stack(stack, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
