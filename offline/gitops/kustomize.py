"""`kubectl kustomize`: the real kustomize, on the machine image; outputs cached by the content of
what the build can read, so identical folders (a PR's base and head, a copy of the tree) build
once per process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import yaml

from offline.engine import REPO_ROOT
from offline.frozen import Frozen
from offline.gitops.documents import LOADER, Doc
from offline.prerequisites import MissingTool

KUBECTL = "kubectl"


KUSTOMIZATION_FILE = "kustomization.yaml"


class RenderError(RuntimeError):
    """kustomize failed on a path."""


# --------------------------------------------------------------------------- substitution

# `$${...}` is an escaped literal; `${NAME}`, `${NAME:=default}`, `${NAME:-default}`,
# `${NAME=default}`, `${NAME-default}` are the forms Flux (drone/envsubst) substitutes. Anything
# else inside `${...}` is reported as unsupported rather than guessed.


def kustomize_directory(directory: Path) -> tuple[Doc, ...]:
    """`kubectl kustomize <directory>`, parsed, uncached."""
    try:
        proc = subprocess.run(
            [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:  # the executable itself (no cwd is given): not on PATH
        raise MissingTool(KUBECTL, "`kubectl kustomize` renders k8s/") from None
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {proc.stderr.strip()}")
    return tuple(d for d in yaml.load_all(proc.stdout, Loader=LOADER) if d)


# What a build can read. `kubectl kustomize` restricts each kustomization to the files in or
# below its own folder (LoadRestrictionsRootOnly: a resource, patch or generator file outside it,
# even through a symlink, fails the build); only other kustomization folders, named in the fields
# below, are read from elsewhere, each under the same restriction. So the folders closed over the
# directories those fields name hold every file a successful build reads. Every occurrence of a
# field counts (a repeated key included): an extra folder only makes the key stricter.

_KUSTOMIZATION_FILES = (KUSTOMIZATION_FILE, "kustomization.yml", "Kustomization")


_FOLDER_FIELDS = frozenset(
    {"resources", "bases", "components", "generators", "transformers", "validators"}
)


def _named_folders(folder: Path) -> list[Path] | None:
    """Every directory the folder fields of `folder`'s kustomization file name (None: the file
    is not YAML that PyYAML reads, so what it names is unknown)."""
    spec = next((folder / n for n in _KUSTOMIZATION_FILES if (folder / n).is_file()), None)
    if spec is None:
        return []
    try:
        root = yaml.compose(spec.read_text(encoding="utf-8"), Loader=LOADER)
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(root, yaml.MappingNode):
        return []
    keys = [key.value if isinstance(key, yaml.ScalarNode) else None for key, _ in root.value]
    if "<<" in keys:  # a merge key may bring fields in from elsewhere: not followed
        return None
    entries = [
        item.value
        for key, (_, value) in zip(keys, root.value, strict=True)
        if key in _FOLDER_FIELDS and isinstance(value, yaml.SequenceNode)
        for item in value.value
        if isinstance(item, yaml.ScalarNode)
    ]
    found: list[Path] = []
    for entry in entries:
        try:
            target = folder / entry
            if "\0" in entry:
                return None
            if target.is_dir():
                found.append(target.resolve())
            elif not target.is_file():  # a remote base (git URL) or a missing path: unknown
                return None
        except OSError:  # e.g. a name too long to be a path: unknown
            return None
    return found


def _file_digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:  # a dangling symlink: what it points to is part of the tree's content
        return b"unreadable:" + os.fsencode(os.readlink(path) if path.is_symlink() else "")


def content_key(directory: Path) -> str | None:
    """A digest of every file a build of `directory` can read, by its path relative to
    `directory` (kustomize's output, e.g. origin annotations, may depend on that layout).
    None when the folders it reads cannot be known."""
    start = directory.resolve()
    todo: list[Path] = [start]
    seen: set[Path] = set()
    digest = hashlib.sha256()
    while todo:
        folder = todo.pop()
        if folder in seen:
            continue
        seen.add(folder)
        named = _named_folders(folder)
        if named is None:
            return None
        todo += named
    for folder in sorted(seen):
        for parent, dirs, files in os.walk(folder):
            # os.walk does not follow a symlinked folder, so its content would be missing from
            # the key (a re-pointed link would hit a stale render): such a tree is not cached.
            if any(os.path.islink(os.path.join(parent, d)) for d in dirs):
                return None
            dirs.sort()
            for name in sorted(files):
                path = Path(parent) / name
                digest.update(os.fsencode(os.path.relpath(path, start)) + b"\0")
                digest.update(_file_digest(path))
    return digest.hexdigest()


_built: dict[str, Frozen[tuple[Doc, ...]]] = {}
# One lock per content key: clusters rendered in parallel (offline/gitops/facts.py) often need
# the same folder at the same moment (prod-eu's two zones); the second waits for the first
# build instead of running its own.
_key_locks: dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()


def kustomize_build(path: str, repo: Path = REPO_ROOT) -> list[Doc]:
    """`kubectl kustomize <repo>/<path>`, parsed (cached by content_key, copies returned)."""
    return kustomize_cached(repo / path)


def kustomize_cached(directory: Path) -> list[Doc]:
    """`kubectl kustomize <directory>`, parsed, cached by content_key (copies returned): the key
    holds paths relative to `directory` only, so a throwaway directory with the same files (e.g.
    offline/flux_operator.py's, once per cluster) is a hit."""
    directory = directory.resolve()
    key = content_key(directory)
    if key is None:
        return list(kustomize_directory(directory))
    with _key_locks_guard:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        built = _built.get(key)
        if built is None:
            built = _built[key] = Frozen(kustomize_directory(directory))
    return list(built.thaw())
