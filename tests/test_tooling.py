"""The developer tooling: hash-pinned locks that match their pins, installs that require hashes,
prerequisites checked first, `make help`, and a mypy configuration that still checks every
provider module the code uses."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)(?:\s|;|\\|$)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _locks() -> list[tuple[Path, Path]]:
    """(lock, input) pairs as `make lock` generates them (LOCKS in mk/tools.mk)."""
    text = (ROOT / "mk" / "tools.mk").read_text(encoding="utf-8").replace("\\\n", " ")
    [value] = re.findall(r"^LOCKS := (.*)$", text, re.MULTILINE)
    pairs = [pair.split(":") for pair in value.split()]
    return [(ROOT / lock, ROOT / source) for lock, source in pairs]


def _pins(path: Path) -> dict[str, str]:
    """`name==version` of a requirements file, following `-r` includes."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-r "):
            pins |= _pins(path.parent / line.removeprefix("-r ").strip())
        elif m := PIN.match(line):
            pins[_normalize(m["name"])] = m["version"]
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_entries(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = lock.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = PIN.match(block)
        if m:
            entries[_normalize(m["name"])] = (m["version"], HASH.findall(block))
        else:
            assert block.startswith("#"), f"{lock.name}: not a pinned entry: {block[:80]!r}"
    return entries


def test_every_lock_has_an_input_and_every_input_a_lock() -> None:
    locks = _locks()
    for lock, source in locks:
        assert lock.is_file() and source.is_file(), (lock, source)
    # requirements.txt is part of requirements-dev.txt (`-r`), so of requirements-dev.lock.
    inputs = {source for _, source in locks} | {ROOT / "requirements.txt"}
    assert {*ROOT.glob("requirements*.txt"), ROOT / "policy" / "requirements.txt"} == inputs


@pytest.mark.parametrize("lock,source", _locks(), ids=lambda p: p.name)
def test_lock_matches_the_pins_of_its_input(lock: Path, source: Path) -> None:
    entries = _lock_entries(lock)
    assert entries, lock
    for name, version in _pins(source).items():
        assert name in entries, f"{lock.name} lacks {name}=={version}: run `make lock`"
        assert entries[name][0] == version, (
            f"{lock.name} has {name}=={entries[name][0]}, {source.name} pins {version}: "
            "run `make lock`"
        )
    for name, (version, hashes) in entries.items():
        assert hashes, f"{lock.name}: {name}=={version} has no hash"


def test_lock_check_fails_on_a_stale_pin(tmp_path: Path) -> None:
    """The check above can fail: a pin bumped in the input but not in the lock."""
    lock = next(lock for lock, _ in _locks() if lock.name == "requirements-dev.lock")
    bumped = tmp_path / "requirements-dev.txt"
    bumped.write_text("pytest==0.0.1\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=re.escape("pins 0.0.1: run `make lock`")):
        test_lock_matches_the_pins_of_its_input(lock, bumped)


def test_every_install_requires_hashes_from_a_lock() -> None:
    proc = _make("-n", "-B", "venv", "checkov-venv", "policy-venv")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.replace("\\\n", " ")
    installs = [line for line in text.splitlines() if re.search(r"\bpip install\b", line)]
    assert len(installs) == 4, installs  # uv, .venv, .venv-checkov, policy/.venv
    for line in installs:
        assert "--require-hashes" in line, line
        assert re.search(r"-r \S+\.lock\b", line), line


def test_make_help_prints_no_unexpanded_variable() -> None:
    proc = _make("help")
    assert proc.returncode == 0, proc.stderr
    assert "$(" not in proc.stdout, proc.stdout
    assert "make test" in proc.stdout


def _bin_without(tmp_path: Path, *missing: str) -> str:
    """A PATH with the tools make needs, minus `missing`."""
    tools = ["bash", "make", "python3", "git", "sha256sum", "cut", "sed", "grep", "sort", "cat"]
    tools += ["kubectl", "node", "npm", "env", "rm", "printf"]
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if tool not in missing and found:
            (directory / tool).symlink_to(found)
    return str(directory)


def test_prerequisites_name_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": _bin_without(tmp_path, "kubectl", "node")}
    proc = _make("prereqs", env=env)
    assert proc.returncode != 0
    assert "missing prerequisite: kubectl with kustomize" in proc.stderr
    assert "missing prerequisite: node" in proc.stderr
    assert "npm" not in proc.stderr


def test_prerequisites_pass_here() -> None:
    proc = _make("prereqs")
    assert proc.returncode == 0, proc.stderr


def test_make_test_checks_prerequisites_before_anything_else() -> None:
    proc = _make("-n", "-B", "test")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "missing prerequisite" in first or "missing=()" in first, first


# The make targets that run `kubectl kustomize` (offline/gitops/kustomize.py): the render and what
# builds on it (checkov scans render-all's output; offline/bench.py renders every stack).
KUBECTL_TARGETS = ["render", "render-all", "checkov", "bench"]


@pytest.mark.parametrize("target", KUBECTL_TARGETS)
def test_kubectl_targets_check_kubectl_before_anything_else(target: str) -> None:
    proc = _make("-n", "-B", target)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "missing=()" in first and "kubectl kustomize --help" in first, first
    assert "node" not in first, first  # only what the target needs


def test_make_render_without_kubectl_names_it_and_runs_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": _bin_without(tmp_path, "kubectl")}
    proc = _make("render", "STACK=staging", env=env)
    assert proc.returncode != 0
    assert "missing prerequisite: kubectl with kustomize" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "offline.gitops" not in proc.stdout, proc.stdout


PROVIDER_PACKAGES = {"gcp": "pulumi_gcp", "k8s": "pulumi_kubernetes"}


def _modules_mypy_reads(reference: str) -> set[str]:
    """The modules mypy reads to type `reference` (`gcp.compute.Network`, `k8s.meta.v1.X`): each
    package on the way and the module that defines the name (pulumi_gcp loads services lazily;
    getattr loads them). A dotted name the package does not have (text such as `k8s.kuma.io`)
    ends the walk."""
    alias, *attributes = reference.split(".")
    node: object = importlib.import_module(PROVIDER_PACKAGES[alias])
    modules = {PROVIDER_PACKAGES[alias]}
    for attribute in attributes:
        if not isinstance(node, ModuleType) or not hasattr(node, attribute):
            break
        node = getattr(node, attribute)
        modules.add(node.__name__ if isinstance(node, ModuleType) else str(node.__module__))
    return modules


def _followed(module: str, patterns: set[str]) -> bool:
    """mypy's override matching: `a.b` names that module, `a.b.*` it and its submodules."""
    return any(
        module == pattern.removesuffix(".*")
        or (pattern.endswith(".*") and module.startswith(pattern.removesuffix("*")))
        for pattern in patterns
    )


def test_mypy_checks_every_provider_module_the_code_uses() -> None:
    """Provider modules outside the followed list are Any to mypy: a newly used one (a service, a
    resource's own module, an API version) must be added to pyproject.toml, or its calls go
    unchecked."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = {
        module
        for override in config["tool"]["mypy"]["overrides"]
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }
    used: set[str] = set()
    sources = [
        ROOT / "__main__.py",
        *(ROOT / "components").rglob("*.py"),
        *(ROOT / "bootstrap").rglob("*.py"),
    ]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for reference in re.findall(r"\b(?:gcp|k8s)(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text):
            used |= _modules_mypy_reads(reference)
    assert {"pulumi_gcp.compute.network", "pulumi_kubernetes.provider"} <= used
    assert sorted(m for m in used if not _followed(m, patterns)) == []


def test_the_followed_check_knows_a_module_from_its_package() -> None:
    assert _modules_mypy_reads("gcp.compute.RouterNatLogConfigArgs") == {
        "pulumi_gcp",
        "pulumi_gcp.compute",
        "pulumi_gcp.compute._inputs",
    }
    assert _modules_mypy_reads("k8s.kuma.io") == {"pulumi_kubernetes"}
    assert _followed("pulumi_gcp.compute.network", {"pulumi_gcp.compute.*"})
    assert _followed("pulumi_gcp.compute", {"pulumi_gcp.compute.*"})
    assert not _followed("pulumi_gcp.compute.network", {"pulumi_gcp.compute"})
    assert not _followed("pulumi_gcp.computer", {"pulumi_gcp.compute.*"})
