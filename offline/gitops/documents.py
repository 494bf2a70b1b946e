"""Kubernetes documents as plain data: identity, namespaces, pod templates, YAML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import yaml

from offline.k8s_validation import describe

Doc = dict[str, Any]


WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def ident(doc: Mapping[str, Any]) -> str:
    """`kind/namespace/name` of a document (offline.k8s_validation.describe: one spelling)."""
    return describe(doc)


def meta(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def namespace_of(doc: Mapping[str, Any]) -> str:
    return str(meta(doc).get("namespace") or "")


def pod_template(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    elif doc.get("kind") == "Pod":
        return doc
    elif doc.get("kind") not in WORKLOAD_KINDS:
        return None
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def workloads(docs: Iterable[Doc]) -> Iterator[tuple[Doc, Mapping[str, Any]]]:
    """(workload, its pod template) for every document that runs pods."""
    for doc in docs:
        pod = pod_template(doc)
        if pod is not None:
            yield doc, pod


def is_subset(small: Mapping[str, Any], big: Mapping[str, Any]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


def api_group(api_version: Any) -> str:
    return str(api_version).rpartition("/")[0]


HASH_SUFFIX = re.compile(r"-[bcdfghkmnt-z2456789]{10}$")


def normalized(doc: Doc) -> Doc:
    """A document with kustomize's generated-name hashes masked (they change with any byte)."""
    text = yaml.safe_dump(doc, sort_keys=True)
    names = {
        n
        for n in re.findall(r"name: (\S+)", text)
        if HASH_SUFFIX.search(n) and not n.startswith("$")
    }
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, HASH_SUFFIX.sub("-<hash>", name))
    # The text stays PyYAML's (its emitter folds long strings where libyaml's does not, and the
    # names are found in the text); only the parsing goes to libyaml (LOADER), ~6 times faster.
    # CSafeLoader builds data with SafeLoader's own constructor and resolver (yaml/cyaml.py:
    # CParser, SafeConstructor, Resolver), so the same text gives the same data.
    loaded: Doc = yaml.load(text, Loader=LOADER)
    return loaded


def to_yaml(docs: Iterable[Doc], normalize: bool = False) -> str:
    ordered = sorted(
        docs, key=lambda d: (str(d.get("kind")), namespace_of(d), str(meta(d).get("name")))
    )
    if normalize:
        ordered = [normalized(d) for d in ordered]
    # PyYAML's emitter, not libyaml's (DUMPER): this text is written to build/ and diffed, and
    # libyaml folds long double-quoted strings at other places (the same data, another text).
    return yaml.safe_dump_all(ordered, sort_keys=normalize, explicit_start=True)
