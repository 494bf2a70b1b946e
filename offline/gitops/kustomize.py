"""`kubectl kustomize`: the real kustomize, on the machine image; outputs cached per folder."""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from pathlib import Path

import yaml

from offline.engine import REPO_ROOT
from offline.gitops.documents import LOADER, Doc

KUBECTL = "kubectl"


KUSTOMIZATION_FILE = "kustomization.yaml"


class RenderError(RuntimeError):
    """kustomize failed on a path."""


# --------------------------------------------------------------------------- substitution

# `$${...}` is an escaped literal; `${NAME}`, `${NAME:=default}`, `${NAME:-default}`,
# `${NAME=default}`, `${NAME-default}` are the forms Flux (drone/envsubst) substitutes. Anything
# else inside `${...}` is reported as unsupported rather than guessed.


def kustomize_directory(directory: Path) -> tuple[Doc, ...]:
    """`kubectl kustomize <directory>`, parsed, uncached (for throwaway directories)."""
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {proc.stderr.strip()}")
    return tuple(d for d in yaml.load_all(proc.stdout, Loader=LOADER) if d)


_kustomize = cache(kustomize_directory)


def kustomize_build(path: str, repo: Path = REPO_ROOT) -> list[Doc]:
    """`kubectl kustomize <repo>/<path>`, parsed (cached per directory, copies returned)."""
    docs = _kustomize((repo / path).resolve())
    return [copy.deepcopy(d) for d in docs]
