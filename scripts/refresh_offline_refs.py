#!/usr/bin/env python3
"""Regenerate the committed offline validation references under ``offline/refs``.

The project never reads ``../shared`` at run time or test time: this script is the only
place that does. It turns the verbatim upstream CRDs and Helm chart files kept in
``../shared`` into:

* strict JSON Schemas, one file per served ``apiVersion`` + ``kind``;
* verbatim copies of the Helm charts' ``values.yaml`` / ``values.schema.json``;
* ``index.json`` (what the validator loads), ``SOURCES.json`` (provenance, machine-readable)
  and ``README.md`` (provenance, for people).

Files derived from AGPL-3.0 upstreams (controlplaneio-fluxcd) live under ``agpl-3.0/``;
everything else under ``apache-2.0/``.

Usage::

    python scripts/refresh_offline_refs.py            # (re)write offline/refs
    python scripts/refresh_offline_refs.py --check    # exit 1 if offline/refs is stale
    python scripts/refresh_offline_refs.py --shared /path/to/shared --mirrors /path/to/mirrors

Most inputs are verbatim copies under ``shared/``; the upstream files ``shared/`` lacks are read
from local git mirrors, ``<mirrors>/<owner>+<name>/repo`` (a ``git clone --mirror`` of the GitHub
repository), at the recorded commit after checking that the tag names it: the
notification-controller CRDs (Provider, Alert) of the pinned Flux distribution
(``NOTIFICATION_CONTROLLER``), and ``GIT_FILES`` (flux-operator's NetworkPolicies for that
distribution, Kuma's injector golden files). ``NPM_FILES`` (Renovate's config schema) come from
the npm registry: ``npm pack`` downloads the pinned tarball, its ``dist.integrity`` is checked,
and the file is read out of it with ``tarfile`` (standard library and npm only).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "offline" / "refs"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

APACHE = "Apache-2.0"
AGPL = "AGPL-3.0"
LICENCE_DIR = {APACHE: "apache-2.0", AGPL: "agpl-3.0"}


@dataclass(frozen=True)
class Upstream:
    """One upstream repository at one tag."""

    repo: str
    tag: str
    commit: str
    base_path: str  # folder in the upstream repository holding the copied files
    licence: str


SOURCE_CONTROLLER = Upstream(
    "fluxcd/source-controller",
    "v1.9.1",
    "092bcff3c9c3f258a44310507201d295ff294ba6",
    "config/crd/bases",
    APACHE,
)
KUSTOMIZE_CONTROLLER = Upstream(
    "fluxcd/kustomize-controller",
    "v1.9.4",
    "1324b615da01038e2859cbcde604bd5434f21933",
    "config/crd/bases",
    APACHE,
)
HELM_CONTROLLER = Upstream(
    "fluxcd/helm-controller",
    "v1.6.3",
    "372c34e2b4a455d24ef6cbb8321c82c4533dbbd8",
    "config/crd/bases",
    APACHE,
)
FLUX_OPERATOR = Upstream(
    "controlplaneio-fluxcd/flux-operator",
    "v0.58.1",
    "b3b36020aca1f8d2172c76949c0bcb6bbf688dde",
    "config/crd/bases",
    AGPL,
)
ESO = Upstream(
    "external-secrets/external-secrets",
    "v2.9.0",
    "378bdb622ed9712ef4a58370f6a17af033b7d343",
    "config/crds/bases",
    APACHE,
)
KUMA_CRDS = Upstream(
    "kumahq/kuma",
    "v2.13.10",
    "b9b8c3f84ad8ff5fede09577439eb12cac518709",
    "deployments/charts/kuma/crds",
    APACHE,
)
KUMA_CHART = Upstream(
    "kumahq/kuma",
    "v2.13.10",
    "b9b8c3f84ad8ff5fede09577439eb12cac518709",
    "deployments/charts/kuma",
    APACHE,
)
ESO_CHART = Upstream(
    "external-secrets/external-secrets",
    "helm-chart-2.9.0",
    "cc5bfbc2234ace9cb0caff4ea89c435cf517b27b",
    "deploy/charts/external-secrets",
    APACHE,
)
FLUX_OPERATOR_CHART = Upstream(
    "controlplaneio-fluxcd/charts",
    "v0.14.8",
    "6603078fd491f2a8f3f9d121dec1a04310a4b178",
    "charts/flux-operator",
    AGPL,
)

# Flux v2.9.4 ships notification-controller v1.9.3 (fluxcd/flux2 v2.9.4
# manifests/bases/notification-controller/kustomization.yaml); read from a git mirror, not shared/.
NOTIFICATION_CONTROLLER = Upstream(
    "fluxcd/notification-controller",
    "v1.9.3",
    "0b6fcb118ea64a36d7ca7d29904e4f5075be87bc",
    "config/crd/bases",
    APACHE,
)
NOTIFICATION_FILES: tuple[str, ...] = (
    "notification.toolkit.fluxcd.io_providers.yaml",
    "notification.toolkit.fluxcd.io_alerts.yaml",
)


@dataclass(frozen=True)
class GitFile:
    """One upstream file copied verbatim from a git mirror (not kept in ``shared/``)."""

    up: Upstream
    path: str  # in the upstream repository
    out: str  # relative to offline/refs/<licence dir>
    type: str


# FluxInstance distribution 2.9.x resolves, with flux-operator v0.58.1, to Flux v2.9.4 (the
# newest config/data/flux/v2.9.* there); the operator applies policies.yaml when
# spec.cluster.networkPolicy is true (internal/builder/templates.go).
FLUX_OPERATOR_DATA = Upstream(
    FLUX_OPERATOR.repo, FLUX_OPERATOR.tag, FLUX_OPERATOR.commit, "config/data/flux/v2.9.4", AGPL
)
KUMA_INJECTOR = Upstream(
    KUMA_CRDS.repo,
    KUMA_CRDS.tag,
    KUMA_CRDS.commit,
    "pkg/plugins/runtime/k8s/webhooks/injector/testdata",
    APACHE,
)
GIT_FILES: tuple[GitFile, ...] = (
    GitFile(
        FLUX_OPERATOR_DATA,
        "policies.yaml",
        "flux-operator/flux-v2.9.4/policies.yaml",
        "flux-operator-network-policies",
    ),
    *(
        GitFile(KUMA_INJECTOR, name, f"kuma/injector/{name}", "kuma-injector-golden")
        for name in (
            "inject.01.input.yaml",
            "inject.01.golden.yaml",
            "inject.34.input.yaml",
            "inject.34.golden.yaml",
        )
    ),
)
# Every upstream read from a git mirror, in the order the problems are reported.
MIRRORED: tuple[Upstream, ...] = (
    NOTIFICATION_CONTROLLER,
    *dict.fromkeys(item.up for item in GIT_FILES),
)
MIRRORS_ENV = "UPSTREAM_MIRRORS"


def mirror_dir(mirrors: Path, up: Upstream) -> Path:
    """Where `up`'s mirror lives under the mirrors folder."""
    return mirrors / up.repo.replace("/", "+") / "repo"


def mirror_hint(up: Upstream, git_dir: Path) -> str:
    return (
        f"a clone or mirror of github.com/{up.repo} holding tag {up.tag} at {git_dir}: "
        f"`git clone --mirror https://github.com/{up.repo}.git {git_dir}` (the mirrors folder is "
        f"--mirrors DIR, or ${MIRRORS_ENV}; make: UPSTREAM_MIRRORS=DIR)"
    )


@dataclass(frozen=True)
class NpmFile:
    """One file of a published npm package, copied verbatim out of its registry tarball."""

    package: str
    version: str
    # The registry's `dist.integrity` (`npm view <package>@<version> dist.integrity`): the sha512
    # of the tarball, checked before anything is read from it.
    integrity: str
    spdx: str  # the package.json `license` the tarball must declare
    licence: str  # LICENCE_DIR key
    repo: str  # the package's source repository (package.json `repository`)
    member: str  # path inside the tarball
    out: str  # relative to offline/refs/<licence dir>
    type: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


def npm_locked(lock: Path, package: str) -> tuple[str, str]:
    """(version, integrity) of `package` as the npm lock file `lock` (lockfileVersion 2/3)
    records it."""
    packages = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    entry = packages.get(f"node_modules/{package}")
    if not entry or "integrity" not in entry:
        raise SystemExit(f"{lock}: no node_modules/{package} with an integrity")
    return str(entry["version"]), str(entry["integrity"])


# The Renovate release CI validates renovate.json with (renovate-config-validator, job
# renovate-config of .github/workflows/pr.yml), installed from this lock; Renovate's npm manager
# bumps it (renovate.json) and `make refresh-refs` then reads the schema of the same release.
RENOVATE_VALIDATOR_LOCK = REPO_ROOT / ".github" / "renovate-validator" / "package-lock.json"
_RENOVATE_VERSION, _RENOVATE_INTEGRITY = npm_locked(RENOVATE_VALIDATOR_LOCK, "renovate")

# Renovate's configuration schema as the renovate package publishes it (the file served at
# https://docs.renovatebot.com/renovate-schema.json, which renovate.json's `$schema` names);
# tests/test_renovate_config.py validates renovate.json against it. Version and integrity are the
# validator's (above): a new Renovate version is a new lock there, then `make refresh-refs`.
RENOVATE_SCHEMA = NpmFile(
    package="renovate",
    version=_RENOVATE_VERSION,
    integrity=_RENOVATE_INTEGRITY,
    spdx="AGPL-3.0-only",
    licence=AGPL,
    repo="renovatebot/renovate",
    member="package/renovate-schema.json",
    out="renovate/renovate-schema.json",
    type="renovate-config-schema",
)
NPM_FILES: tuple[NpmFile, ...] = (RENOVATE_SCHEMA,)


def npm_integrity(data: bytes) -> str:
    """npm's Subresource Integrity string of a tarball (`sha512-<base64 digest>`)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def npm_pack(item: NpmFile, dest: Path) -> bytes:
    """The tarball of `item`'s package version, downloaded by `npm pack` into `dest`."""
    done = subprocess.run(
        ["npm", "pack", item.spec, "--json", "--ignore-scripts", "--pack-destination", str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"npm pack {item.spec} failed: {done.stderr.strip()}")
    [packed] = json.loads(done.stdout)
    filename: str = packed["filename"]
    return (dest / filename).read_bytes()


def read_npm_file(item: NpmFile, tarball: bytes) -> bytes:
    """`item.member` out of `tarball`, after checking the pinned integrity and the package's
    name, version and licence (package/package.json)."""
    got = npm_integrity(tarball)
    if got != item.integrity:
        raise SystemExit(
            f"{item.spec}: the tarball's integrity is {got}, the pin is {item.integrity}"
            " (a changed upstream tarball or a wrong pin)"
        )
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:

        def member(name: str) -> bytes:
            try:  # tarfile raises KeyError for a name the archive does not hold
                found = archive.extractfile(name)
            except KeyError:
                raise SystemExit(f"{item.spec}: the tarball has no {name}") from None
            if found is None:
                raise SystemExit(f"{item.spec}: {name} is not a file in the tarball")
            return found.read()

        meta = json.loads(member("package/package.json"))
        declared = (meta.get("name"), meta.get("version"), meta.get("license"))
        if declared != (item.package, item.version, item.spdx):
            raise SystemExit(
                f"{item.spec}: package.json declares name, version, licence {declared},"
                f" the pin expects {(item.package, item.version, item.spdx)}"
            )
        return member(item.member)


def npm_problem() -> str | None:
    if shutil.which("npm") is None:
        return "npm is not on PATH (it downloads " + ", ".join(i.spec for i in NPM_FILES) + ")"
    return None


def add_npm_file_copies(files: dict[str, bytes], sources: dict[str, dict[str, Any]]) -> None:
    """Add the verbatim copies of `NPM_FILES` and their provenance (but the output's sha256)."""
    with tempfile.TemporaryDirectory(prefix="refresh-refs-npm-") as tmp:
        for item in NPM_FILES:
            raw = read_npm_file(item, npm_pack(item, Path(tmp)))
            out_rel = f"{LICENCE_DIR[item.licence]}/{item.out}"
            files[out_rel] = raw  # verbatim copy
            sources[out_rel] = {
                "type": item.type,
                "derived": False,
                "upstream_repo": item.repo,
                "tag": item.version,
                "npm_package": item.spec,
                "integrity": item.integrity,
                "upstream_path": item.member,
                "source_file": f"npm:{item.spec}:{item.member}",
                "source_sha256": sha256_bytes(raw),
                "licence": item.licence,
            }


GKE_MANAGED_PROMETHEUS = Upstream(
    "GoogleCloudPlatform/prometheus-engine",
    "after v0.17.0-rc.0",
    "2ffde4ec7b7e4ca1da4e32f36b692945b78a60e4",
    "charts/operator/crds",
    APACHE,
)
PULUMI = Upstream(
    "pulumi/pulumi",
    "master 2026-08-21",
    "1b5949891b3c",
    "sdk/go/common/workspace",
    APACHE,
)
# Engine rules kept verbatim (offline/pulumi_project.py ports the rest of them).
PULUMI_FILES: dict[str, str] = {"upstream/pulumi/project.json": "pulumi/project.json"}

FLUX_FILES: dict[str, Upstream] = {
    "source.toolkit.fluxcd.io_gitrepositories.yaml": SOURCE_CONTROLLER,
    "source.toolkit.fluxcd.io_helmrepositories.yaml": SOURCE_CONTROLLER,
    "source.toolkit.fluxcd.io_ocirepositories.yaml": SOURCE_CONTROLLER,
    "source.toolkit.fluxcd.io_helmcharts.yaml": SOURCE_CONTROLLER,
    "source.toolkit.fluxcd.io_buckets.yaml": SOURCE_CONTROLLER,
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml": KUSTOMIZE_CONTROLLER,
    "helm.toolkit.fluxcd.io_helmreleases.yaml": HELM_CONTROLLER,
    "fluxcd.controlplane.io_fluxinstances.yaml": FLUX_OPERATOR,
    "fluxcd.controlplane.io_resourcesets.yaml": FLUX_OPERATOR,
    "fluxcd.controlplane.io_fluxreports.yaml": FLUX_OPERATOR,
}


@dataclass(frozen=True)
class ChartSpec:
    """A Helm chart whose values we keep a verbatim copy of."""

    name: str
    shared_dir: str  # relative to shared/
    values_file: str  # file name inside shared_dir
    schema_file: str | None
    chart_version: str  # version of the chart the stored files come from
    pinned_version: str  # version the program deploys (components/versions.py)
    upstream: Upstream
    note: str


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        "kuma",
        "charts/kuma",
        "values-v2.13.10.yaml",
        None,
        "2.13.10",
        "2.13.10",
        KUMA_CHART,
        "The Kuma chart ships no values.schema.json: values.yaml is the only key reference.",
    ),
    ChartSpec(
        "external-secrets",
        "charts/external-secrets",
        "values.yaml",
        "values.schema.json",
        "2.9.0",
        "2.9.0",
        ESO_CHART,
        "values.schema.json declares JSON Schema draft 2020-12.",
    ),
    ChartSpec(
        "flux-operator",
        "charts/flux-operator",
        "values.yaml",
        "values.schema.json",
        "0.49.0",
        "0.58.1",
        FLUX_OPERATOR_CHART,
        "VERSION MISMATCH: stored values are from chart 0.49.0 (newest in any stored snapshot);"
        " the program pins 0.58.1. Keys added after 0.49.0 are missing, so every key the"
        " program sets must already exist in 0.49.0. values.schema.json declares draft 2019-09.",
    ),
)

# Keys that only document or that JSON Schema cannot evaluate; dropped to keep files small.
_DROP_KEYS = frozenset({"description", "example", "default", "x-kubernetes-validations"})

OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "selfLink": {"type": "string"},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_json(obj: Any, *, compact: bool) -> bytes:
    if compact:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode()


# --------------------------------------------------------------------------- schema conversion


class _Converter:
    """Convert one CRD openAPIV3Schema into a strict JSON Schema (draft 2020-12)."""

    def __init__(self) -> None:
        self.open_paths: list[str] = []
        self.cel_rules = 0

    def convert(self, node: dict[str, Any], path: str, *, structural: bool) -> dict[str, Any]:
        """``structural`` is False inside allOf/anyOf/oneOf/not (value validations only)."""
        if "x-kubernetes-validations" in node:
            self.cel_rules += len(node["x-kubernetes-validations"])
        out = self._convert_keys(node, path, structural=structural)
        self._apply_extensions(node, out, path, structural=structural)
        return out

    def _convert_keys(self, node: dict[str, Any], path: str, *, structural: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP_KEYS:
                continue
            if key == "properties":
                out[key] = {
                    name: self.convert(
                        sub, f"{path}.{name}" if path else name, structural=structural
                    )
                    for name, sub in value.items()
                }
            elif key == "items" and isinstance(value, dict):
                out[key] = self.convert(value, f"{path}[]", structural=structural)
            elif key == "additionalProperties" and isinstance(value, dict):
                out[key] = self.convert(value, f"{path}{{}}", structural=structural)
            elif key in ("allOf", "anyOf", "oneOf"):
                out[key] = [self.convert(sub, path, structural=False) for sub in value]
            elif key == "not":
                out[key] = self.convert(value, path, structural=False)
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                continue  # OpenAPI 3.0 boolean form: converted in _apply_extensions
            else:
                out[key] = copy.deepcopy(value)
        return out

    def _apply_extensions(
        self, node: dict[str, Any], out: dict[str, Any], path: str, *, structural: bool
    ) -> None:
        # OpenAPI 3.0 boolean exclusiveMinimum/Maximum -> JSON Schema numeric form.
        for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if node.get(excl) is True and bound in out:
                out[excl] = out.pop(bound)

        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        if preserve and structural:
            self.open_paths.append(path or "<root>")

        if node.get("x-kubernetes-int-or-string") is True:
            out["type"] = ["integer", "string"]

        if node.get("x-kubernetes-embedded-resource") is True and structural:
            props = out.setdefault("properties", {})
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props["metadata"] = {"$ref": "#/$defs/ObjectMeta"}

        is_object = node.get("type") == "object" or "properties" in node
        if structural and is_object and not preserve and "additionalProperties" not in node:
            # The API server prunes fields the schema does not declare; offline they are
            # errors. A bare `type: object` (no properties) therefore only admits `{}`.
            out["additionalProperties"] = False

        if node.get("nullable") is True:
            out.pop("nullable", None)
            typ = out.get("type")
            if isinstance(typ, str):
                out["type"] = [typ, "null"]
            elif isinstance(typ, list) and "null" not in typ:
                out["type"] = [*typ, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]


def convert_crd_version(
    group: str, kind: str, version: str, openapi: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (strict JSON Schema, index facts) for one served CRD version."""
    conv = _Converter()
    root = conv.convert(openapi, "", structural=True)
    props = root.setdefault("properties", {})
    api_version = f"{group}/{version}"
    props["apiVersion"] = {"type": "string", "const": api_version}
    props["kind"] = {"type": "string", "const": kind}
    props["metadata"] = {"$ref": "#/$defs/ObjectMeta"}
    root["type"] = "object"
    root["additionalProperties"] = False
    root["required"] = sorted({*root.get("required", []), "apiVersion", "kind", "metadata"})
    root["$schema"] = SCHEMA_DIALECT
    root["$defs"] = {"ObjectMeta": OBJECT_META_SCHEMA}

    spec_node = openapi.get("properties", {}).get("spec")
    if spec_node is None:
        spec_schema = "absent"
    elif spec_node.get("x-kubernetes-preserve-unknown-fields") is True:
        spec_schema = "open"
    else:
        spec_schema = "strict"
    facts = {
        "spec_schema": spec_schema,
        "open_paths": sorted(conv.open_paths),
        "cel_rules_not_evaluated": conv.cel_rules,
    }
    return root, facts


# --------------------------------------------------------------------------- generation


@dataclass
class Generated:
    files: dict[str, bytes]  # path relative to offline/refs -> content
    sources: dict[str, dict[str, Any]]
    index: dict[str, Any]


def _read_source_sums(source_txt: Path) -> dict[str, str]:
    """sha256 lines ("<hex>  <file>") listed in a SOURCE.txt, if any."""
    sums: dict[str, str] = {}
    if not source_txt.exists():
        return sums
    for line in source_txt.read_text().splitlines():
        m = re.fullmatch(r"([0-9a-f]{64})\s+(\S+)", line.strip())
        if m:
            sums[m.group(2)] = m.group(1)
    return sums


def _check_sum(shared: Path, rel: str, data: bytes) -> str:
    digest = sha256_bytes(data)
    listed = _read_source_sums((shared / rel).parent / "SOURCE.txt").get(Path(rel).name)
    if listed is not None and listed != digest:
        raise SystemExit(
            f"sha256 of shared/{rel} ({digest}) differs from its SOURCE.txt ({listed})"
        )
    return digest


@dataclass(frozen=True)
class CrdInput:
    """One upstream CRD file as read: where from (for SOURCES.json), its bytes and their sha256."""

    source_file: str
    name: str  # file name upstream (in `up.base_path`)
    data: bytes
    sha256: str
    up: Upstream


def _shared_input(shared: Path, rel: str, up: Upstream) -> CrdInput:
    raw = (shared / rel).read_bytes()
    return CrdInput(f"shared/{rel}", Path(rel).name, raw, _check_sum(shared, rel, raw), up)


def _crd_inputs(shared: Path) -> list[CrdInput]:
    inputs: list[CrdInput] = []
    kuma_dir = shared / "crds" / "kuma-v2.13.10"
    for path in sorted(kuma_dir.glob("*.yaml")):
        inputs.append(_shared_input(shared, f"crds/kuma-v2.13.10/{path.name}", KUMA_CRDS))
    flux_present = sorted(p.name for p in (shared / "crds" / "flux").glob("*.yaml"))
    if flux_present != sorted(FLUX_FILES):
        raise SystemExit(f"shared/crds/flux holds {flux_present}, expected {sorted(FLUX_FILES)}")
    for name in flux_present:
        inputs.append(_shared_input(shared, f"crds/flux/{name}", FLUX_FILES[name]))
    for path in sorted((shared / "crds" / "eso").glob("*.yaml")):
        inputs.append(_shared_input(shared, f"crds/eso/{path.name}", ESO))
    for path in sorted((shared / "crds" / "gke-managed-prometheus").glob("*.yaml")):
        inputs.append(
            _shared_input(
                shared, f"crds/gke-managed-prometheus/{path.name}", GKE_MANAGED_PROMETHEUS
            )
        )
    return inputs


def _git(git_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, check=False)


def git_mirror_problem(git_dir: Path, up: Upstream) -> str | None:
    """Why `git_dir` cannot serve `up`'s files (None: it can): not a git repository, no such tag,
    or the tag names another commit than the one recorded here."""
    if _git(git_dir, "rev-parse", "--git-dir").returncode != 0:
        return f"{git_dir} is not a git repository; {up.repo} files need {mirror_hint(up, git_dir)}"
    found = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/tags/{up.tag}^{{commit}}")
    if found.returncode != 0:
        return f"{git_dir} has no tag {up.tag} (fetch the tags of {up.repo}: `git fetch --tags`)"
    commit = found.stdout.decode().strip()
    if commit != up.commit:
        return (
            f"{git_dir}: tag {up.tag} is commit {commit}, but {up.repo} {up.tag} is {up.commit}"
            " (not a mirror of that repository, or the tag was moved)"
        )
    return None


def mirror_problems(mirrors: Path | None) -> list[str]:
    """What keeps the mirrors folder from serving every upstream in MIRRORED (empty: nothing)."""
    if mirrors is None:
        return [
            f"--mirrors DIR (or ${MIRRORS_ENV}) is required: "
            + "; ".join(mirror_hint(up, mirror_dir(Path("DIR"), up)) for up in MIRRORED)
        ]
    return [
        problem
        for up in MIRRORED
        if (problem := git_mirror_problem(mirror_dir(mirrors, up), up)) is not None
    ]


def read_git_file(git_dir: Path, up: Upstream, name: str) -> bytes:
    """`name` under `up.base_path` at `up.commit` of the clone or mirror `git_dir` (checked by
    git_mirror_problem first)."""
    path = f"{up.base_path}/{name}"
    shown = _git(git_dir, "show", f"{up.commit}:{path}")
    if shown.returncode != 0:
        raise SystemExit(f"{git_dir}: {up.repo} {up.tag} has no {path}")
    return shown.stdout


def _git_crd_inputs(git_dir: Path, up: Upstream, names: tuple[str, ...]) -> list[CrdInput]:
    """`names` from `up.base_path` at `up.commit` of the clone or mirror `git_dir`."""
    inputs: list[CrdInput] = []
    for name in names:
        data = read_git_file(git_dir, up, name)
        path = f"{up.base_path}/{name}"
        inputs.append(
            CrdInput(f"git:{up.repo}@{up.tag}:{path}", name, data, sha256_bytes(data), up)
        )
    return inputs


def add_git_file_copies(
    mirrors: Path, files: dict[str, bytes], sources: dict[str, dict[str, Any]]
) -> None:
    """Add the verbatim copies of `GIT_FILES` and their provenance (but the output's sha256)."""
    for item in GIT_FILES:
        raw = read_git_file(mirror_dir(mirrors, item.up), item.up, item.path)
        out_rel = f"{LICENCE_DIR[item.up.licence]}/{item.out}"
        files[out_rel] = raw  # verbatim copy
        sources[out_rel] = {
            "type": item.type,
            "derived": False,
            "upstream_repo": item.up.repo,
            "tag": item.up.tag,
            "commit": item.up.commit,
            "upstream_path": f"{item.up.base_path}/{item.path}",
            "source_file": f"git:{item.up.repo}@{item.up.tag}:{item.up.base_path}/{item.path}",
            "source_sha256": sha256_bytes(raw),
            "licence": item.up.licence,
        }


# Every input the refresh reads, relative to shared/: a missing one is named before anything runs.
REQUIRED_INPUTS: tuple[str, ...] = (
    "crds/kuma-v2.13.10",
    "crds/flux",
    "crds/eso",
    "crds/gke-managed-prometheus",
    "charts/kuma",
    "charts/external-secrets",
    "charts/flux-operator",
    *PULUMI_FILES,
)


def missing_inputs(shared: Path) -> list[str]:
    return [rel for rel in REQUIRED_INPUTS if not (shared / rel).exists()]


def generate(shared: Path, mirrors: Path) -> Generated:
    files: dict[str, bytes] = {}
    sources: dict[str, dict[str, Any]] = {}
    crd_index: dict[str, dict[str, Any]] = {}
    not_served: dict[str, list[str]] = {}
    groups: set[str] = set()

    crd_inputs = [
        *_crd_inputs(shared),
        *_git_crd_inputs(
            mirror_dir(mirrors, NOTIFICATION_CONTROLLER),
            NOTIFICATION_CONTROLLER,
            NOTIFICATION_FILES,
        ),
    ]
    for source in crd_inputs:
        up = source.up
        for crd in yaml.safe_load_all(source.data):
            if not crd:
                continue
            if crd.get("kind") != "CustomResourceDefinition":
                raise SystemExit(f"{source.source_file}: not a CustomResourceDefinition")
            spec = crd["spec"]
            group, kind, scope = spec["group"], spec["names"]["kind"], spec["scope"]
            groups.add(group)
            for ver in spec["versions"]:
                api_version = f"{group}/{ver['name']}"
                if not ver.get("served", False):
                    not_served.setdefault(api_version, []).append(kind)
                    continue
                schema, facts = convert_crd_version(
                    group, kind, ver["name"], ver["schema"]["openAPIV3Schema"]
                )
                out_rel = (
                    f"{LICENCE_DIR[up.licence]}/crds/{group}/{kind.lower()}_{ver['name']}.json"
                )
                files[out_rel] = dump_json(schema, compact=True)
                crd_index.setdefault(api_version, {})[kind] = {
                    "schema": out_rel,
                    "scope": scope,
                    "plural": spec["names"]["plural"],
                    "storage": bool(ver.get("storage", False)),
                    **facts,
                }
                sources[out_rel] = {
                    "type": "crd-json-schema",
                    "derived": True,
                    "apiVersion": api_version,
                    "kind": kind,
                    "upstream_repo": up.repo,
                    "tag": up.tag,
                    "commit": up.commit,
                    "upstream_path": f"{up.base_path}/{source.name}",
                    "source_file": source.source_file,
                    "source_sha256": source.sha256,
                    "licence": up.licence,
                }

    chart_index: dict[str, dict[str, Any]] = {}
    for chart in CHARTS:
        lic_dir = LICENCE_DIR[chart.upstream.licence]
        entry: dict[str, Any] = {
            "chart_version": chart.chart_version,
            "pinned_version": chart.pinned_version,
            "version_mismatch": chart.chart_version != chart.pinned_version,
            "values": None,
            "values_schema": None,
            "note": chart.note,
        }
        pairs = [("values", chart.values_file, "values.yaml")]
        if chart.schema_file:
            pairs.append(("values_schema", chart.schema_file, "values.schema.json"))
        for slot, src_name, out_name in pairs:
            rel = f"{chart.shared_dir}/{src_name}"
            raw = (shared / rel).read_bytes()
            digest = _check_sum(shared, rel, raw)
            out_rel = f"{lic_dir}/charts/{chart.name}/{out_name}"
            files[out_rel] = raw  # verbatim copy
            entry[slot] = out_rel
            sources[out_rel] = {
                "type": "helm-values" if slot == "values" else "helm-values-schema",
                "derived": False,
                "chart": chart.name,
                "chart_version": chart.chart_version,
                "pinned_chart_version": chart.pinned_version,
                "upstream_repo": chart.upstream.repo,
                "tag": chart.upstream.tag,
                "commit": chart.upstream.commit,
                "upstream_path": f"{chart.upstream.base_path}/{out_name}",
                "source_file": f"shared/{rel}",
                "source_sha256": digest,
                "licence": chart.upstream.licence,
            }
        chart_index[chart.name] = entry

    for rel, out_name in PULUMI_FILES.items():
        raw = (shared / rel).read_bytes()
        out_rel = f"{LICENCE_DIR[PULUMI.licence]}/{out_name}"
        files[out_rel] = raw  # verbatim copy
        sources[out_rel] = {
            "type": "pulumi-project-schema",
            "derived": False,
            "upstream_repo": PULUMI.repo,
            "tag": PULUMI.tag,
            "commit": PULUMI.commit,
            "upstream_path": f"{PULUMI.base_path}/{Path(rel).name}",
            "source_file": f"shared/{rel}",
            "source_sha256": _check_sum(shared, rel, raw),
            "licence": PULUMI.licence,
        }

    add_git_file_copies(mirrors, files, sources)
    add_npm_file_copies(files, sources)

    for path, meta in sources.items():
        meta["sha256"] = sha256_bytes(files[path])

    index = {
        "crd_groups": sorted(groups),
        "crds": {av: dict(sorted(kinds.items())) for av, kinds in sorted(crd_index.items())},
        "not_served": {av: sorted(kinds) for av, kinds in sorted(not_served.items())},
        "charts": chart_index,
    }
    sources_doc = {
        "generated_by": "scripts/refresh_offline_refs.py",
        "refresh": "make refresh-refs",
        "licence_dirs": {v: k for k, v in LICENCE_DIR.items()},
        "files": dict(sorted(sources.items())),
    }
    files["index.json"] = dump_json(index, compact=False)
    files["SOURCES.json"] = dump_json(sources_doc, compact=False)
    files["README.md"] = render_readme(index, sources).encode()
    for lic, dirname in LICENCE_DIR.items():
        files[f"{dirname}/LICENCE.md"] = render_licence_note(lic, sources).encode()
    return Generated(files=files, sources=sources, index=index)


def render_licence_note(licence: str, sources: dict[str, dict[str, Any]]) -> str:
    repos = sorted({m["upstream_repo"] for m in sources.values() if m["licence"] == licence})
    lines = [
        f"# {licence}",
        "",
        f"Every file below this folder is derived from or copied from upstream files licensed under"
        f" {licence}:",
        "",
        *[f"- github.com/{r}" for r in repos],
        "",
        "The upstream licence applies to these files, not the project's own licence."
        " See ../SOURCES.json for the exact tag, commit (or npm integrity) and path of each file.",
        "",
    ]
    return "\n".join(lines)


def render_readme(index: dict[str, Any], sources: dict[str, dict[str, Any]]) -> str:
    upstreams: dict[tuple[str, str, str, str], int] = {}
    for meta in sources.values():
        pin = meta["commit"] if "commit" in meta else f"npm {meta['integrity']}"
        key = (meta["upstream_repo"], meta["tag"], pin, meta["licence"])
        upstreams[key] = upstreams.get(key, 0) + 1
    rows = [
        f"| {repo} | {tag} | `{commit}` | {lic} | {count} |"
        for (repo, tag, commit, lic), count in sorted(upstreams.items())
    ]
    special = [
        f"- `{av}` `{kind}`: spec schema is **{facts['spec_schema']}**"
        f" (open paths: {', '.join(facts['open_paths']) or '-'}); needs a hand check"
        for av, kinds in index["crds"].items()
        for kind, facts in kinds.items()
        if facts["spec_schema"] != "strict"
    ]
    not_served = [f"- `{av}`: {', '.join(kinds)}" for av, kinds in index["not_served"].items()]
    charts = [
        f"| {name} | {c['chart_version']} | {c['pinned_version']} |"
        f" {'yes' if c['values_schema'] else 'no'} | {c['note']} |"
        for name, c in index["charts"].items()
    ]
    n_schemas = sum(len(k) for k in index["crds"].values())
    text = f"""# Offline validation references

GENERATED by `scripts/refresh_offline_refs.py` - do not edit by hand; run `make refresh-refs`
(or `python scripts/refresh_offline_refs.py`) to regenerate and
`python scripts/refresh_offline_refs.py --check` to verify nothing is stale.

These files let `offline/k8s_validation.py` validate manifests and Helm values without the
network and without `../shared` (which is only read by the refresh script).

## What

- `<licence>/crds/<group>/<kind>_<version>.json`: {n_schemas} strict JSON Schemas (draft 2020-12),
  one per served apiVersion+kind of the pinned CRDs (Kuma v2.13.10, Flux, External Secrets v2.9.0,
  GKE Managed Service for Prometheus).
  Derived from each CRD's `openAPIV3Schema`:
  - every object schema without `additionalProperties` and without
    `x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false` (the API
    server silently prunes unknown fields; offline they are errors). A bare `type: object` with
    no properties therefore only admits `{{}}`, which is what survives pruning;
  - `x-kubernetes-preserve-unknown-fields` stays open, `x-kubernetes-int-or-string` accepts an
    integer or a string, `nullable` adds `null`;
  - `apiVersion` and `kind` are pinned with `const`; `metadata` is checked against the usual
    ObjectMeta fields;
  - `description`, `default`, `example` and the CEL `x-kubernetes-validations` are dropped
    (JSON Schema cannot evaluate CEL; `index.json` counts the rules skipped per schema).
  Versions with `served: false` are not emitted (e.g. `external-secrets.io/v1beta1`).
- `<licence>/charts/<chart>/values.yaml` (+ `values.schema.json` where the chart has one):
  verbatim copies, the reference for valid Helm value keys.
- `apache-2.0/pulumi/project.json`: Pulumi's JSON schema of Pulumi.yaml, verbatim; the engine
  rules around it are ported in `offline/pulumi_project.py`.
- `agpl-3.0/renovate/renovate-schema.json`: Renovate's configuration schema (draft-07), verbatim
  from the `renovate` npm package {RENOVATE_SCHEMA.version}; `tests/test_renovate_config.py`
  validates renovate.json against it.
- `index.json`: apiVersion -> kind -> schema file, scope, and whether the spec has a schema.
- `SOURCES.json`: for every file, upstream repo, tag, commit (npm files: package and integrity),
  upstream path, sha256 of the source file and of the committed file, and licence.

## Needs a hand check (spec not described by the CRD)

{chr(10).join(special) or "- none"}

`offline/k8s_validation.py` hand-checks `kuma.io/v1alpha1` `Mesh`; the other kinds above are
legacy Kuma policies or objects the control plane manages; the project writes none of them.

## Not served (rejected by the validator)

{chr(10).join(not_served) or "- none"}

## Helm charts

| chart | stored values from | pinned | values.schema.json | note |
| --- | --- | --- | --- | --- |
{chr(10).join(charts)}

The flux-operator values are from chart **0.49.0** while the program pins **0.58.1**: no stored
snapshot has a newer chart. Replace `shared/charts/flux-operator/*` with the 0.58.1 chart's files
when available and re-run the refresh.

## Where from

| upstream repo | tag | commit / npm integrity | licence | files here |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

The refresh script reads the verbatim upstream copies kept in the workspace's `shared/`
folder (see `shared/crds/README.md`), checks their sha256 against the `SOURCE.txt` there and
records it in `SOURCES.json`. What `shared/` lacks comes from local git mirrors instead
(`--mirrors DIR` or `$UPSTREAM_MIRRORS`, one `DIR/<owner>+<name>/repo` per repository), read at the
recorded commit after checking that the tag names it; their `source_file` is
`git:<repo>@<tag>:<path>`:
- the notification-controller CRDs (`Provider`, `Alert`), converted like the other CRDs;
- `agpl-3.0/flux-operator/flux-v2.9.4/policies.yaml`: the NetworkPolicies flux-operator v0.58.1
  applies in flux-system for the pinned Flux distribution when `spec.cluster.networkPolicy` is
  true, verbatim (`offline/flux_operator.py` builds them with the FluxInstance's patches);
- `apache-2.0/kuma/injector/inject.{{01,34}}.{{input,golden}}.yaml`: Kuma v2.13.10's injector test
  cases (without and with CNI), verbatim; `offline/kuma_injection.py` is checked against them.

The npm files (`NPM_FILES`) come from the npm registry: `npm pack <package>@<version>` downloads
the tarball, whose sha512 must equal the pinned `dist.integrity` before the file is read out of
it; their `source_file` is `npm:<package>@<version>:<path in the tarball>`.

Notes carried over from the source notes:
- Flux v2.9.4 ships notification-controller v1.9.3 (fluxcd/flux2 v2.9.4
  `manifests/bases/notification-controller/kustomization.yaml`); its Provider and Alert serve
  `v1beta3` only. The Receiver CRD is not copied (the project writes none).
- Flux v2.9.4 ships source-controller v1.9.4; the stored snapshot stops at v1.9.1, whose source
  CRD schemas are identical to the release/v1.9.x branch (only an annotation differs).
- The ESO 2.9.0 chart is released from tag `helm-chart-2.9.0`, one commit after `v2.9.0`; CRDs,
  values.yaml and values.schema.json are identical at both tags.

## Licences

- `apache-2.0/`: Apache-2.0 (kumahq/kuma, fluxcd/*, external-secrets/external-secrets,
  GoogleCloudPlatform/prometheus-engine, pulumi/pulumi).
- `agpl-3.0/`: AGPL-3.0 (controlplaneio-fluxcd/flux-operator CRDs and controlplaneio-fluxcd/charts
  flux-operator chart values, renovatebot/renovate's config schema). Kept in their own folder so
  the licence boundary is obvious.
"""
    return text


# --------------------------------------------------------------------------- CLI


def existing_files(out_dir: Path) -> dict[str, bytes]:
    if not out_dir.exists():
        return {}
    return {
        p.relative_to(out_dir).as_posix(): p.read_bytes()
        for p in sorted(out_dir.rglob("*"))
        if p.is_file()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO_ROOT.parent / "shared",
        help="folder holding the upstream crds/ and charts/ copies (default: ../shared)",
    )
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=Path(os.environ[MIRRORS_ENV]) if MIRRORS_ENV in os.environ else None,
        metavar="DIR",
        help="folder of git mirrors DIR/<owner>+<name>/repo for what shared/ lacks"
        f" ({', '.join(up.repo for up in MIRRORED)}; default: ${MIRRORS_ENV})",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help="output folder (default: offline/refs)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed files differ from what would be generated",
    )
    args = parser.parse_args(argv)
    shared: Path = args.shared.resolve()
    out_dir: Path = args.out.resolve()
    mirrors: Path | None = args.mirrors.resolve() if args.mirrors is not None else None
    problems = []
    missing = missing_inputs(shared)
    if missing:
        problems.append(
            f"{shared} lacks what the refresh reads: {', '.join(missing)} (a checkout of the "
            "workspace's shared/ folder; pass --shared DIR if it is elsewhere)"
        )
    problems += mirror_problems(mirrors)
    if (npm := npm_problem()) is not None:
        problems.append(npm)
    if problems:
        parser.error("; ".join(problems))
    assert mirrors is not None  # reported above

    generated = generate(shared, mirrors)
    current = existing_files(out_dir)

    if args.check:
        stale = sorted(p for p, data in generated.files.items() if current.get(p) != data)
        extra = sorted(set(current) - set(generated.files))
        for p in stale:
            print(f"stale or missing: offline/refs/{p}", file=sys.stderr)
        for p in extra:
            print(f"not generated (remove it): offline/refs/{p}", file=sys.stderr)
        if stale or extra:
            print("offline/refs is out of date: run `make refresh-refs`", file=sys.stderr)
            return 1
        print(f"offline/refs is up to date ({len(generated.files)} files)")
        return 0

    for rel in sorted(set(current) - set(generated.files)):
        (out_dir / rel).unlink()
    written = 0
    for rel, data in sorted(generated.files.items()):
        target = out_dir / rel
        if current.get(rel) == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written += 1
    for d in sorted((p for p in out_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    print(f"offline/refs: {len(generated.files)} files, {written} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
