"""The refresh of offline/refs reads what shared/ lacks (the notification-controller CRDs,
flux-operator's policies, Kuma's injector golden files) from git mirrors
(scripts/refresh_offline_refs.py): what it refuses and what it reads, on throwaway repositories.
Never reads the workspace's shared folder."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "refresh_offline_refs", ROOT / "scripts" / "refresh_offline_refs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


refresh = _load()
NC = refresh.NOTIFICATION_CONTROLLER
CRD = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A repository with the CRD files under config/crd/bases and the tag the script pins."""
    repo: Path = refresh.mirror_dir(tmp_path, NC)
    (repo / NC.base_path).mkdir(parents=True)
    for name in refresh.NOTIFICATION_FILES:
        (repo / NC.base_path / name).write_bytes(CRD + name.encode() + b"\n")
    git(tmp_path, "init", "--quiet", str(repo))
    git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", "-A")
    git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "c")
    git(repo, "tag", NC.tag)
    return repo


def test_the_pinned_tag_is_what_the_pinned_flux_ships() -> None:
    assert (NC.repo, NC.tag) == ("fluxcd/notification-controller", "v1.9.3")
    assert refresh.NOTIFICATION_FILES == (
        "notification.toolkit.fluxcd.io_providers.yaml",
        "notification.toolkit.fluxcd.io_alerts.yaml",
    )


def test_without_a_mirror_the_error_says_what_is_missing_and_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        refresh.main(["--check", "--shared", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "lacks what the refresh reads: crds/kuma-v2.13.10" in err
    assert "--mirrors DIR (or $UPSTREAM_MIRRORS) is required" in err
    for up in refresh.MIRRORED:
        name = up.repo.replace("/", "+")
        assert f"git clone --mirror https://github.com/{up.repo}.git DIR/{name}/repo" in err
    assert {up.repo for up in refresh.MIRRORED} == {
        "fluxcd/notification-controller",
        "controlplaneio-fluxcd/flux-operator",
        "kumahq/kuma",
    }


def test_a_mirrors_folder_without_a_repository_names_each_missing_one(tmp_path: Path) -> None:
    problems = refresh.mirror_problems(tmp_path)
    assert len(problems) == len(refresh.MIRRORED)
    for problem, up in zip(problems, refresh.MIRRORED, strict=True):
        assert problem.startswith(f"{refresh.mirror_dir(tmp_path, up)} is not a git repository")


def test_a_folder_that_is_no_repository_is_refused(tmp_path: Path) -> None:
    problem = refresh.git_mirror_problem(tmp_path, NC)
    assert problem is not None and problem.startswith(f"{tmp_path} is not a git repository")


def test_a_tag_on_another_commit_is_refused(mirror: Path) -> None:
    """The tag is checked against the commit recorded in the script (and in SOURCES.json)."""
    problem = refresh.git_mirror_problem(mirror, NC)
    commit = git(mirror, "rev-parse", "HEAD")
    assert problem == (
        f"{mirror}: tag {NC.tag} is commit {commit}, but {NC.repo} {NC.tag} is {NC.commit}"
        " (not a mirror of that repository, or the tag was moved)"
    )


def test_a_missing_tag_is_refused(mirror: Path) -> None:
    git(mirror, "tag", "-d", NC.tag)
    assert refresh.git_mirror_problem(mirror, NC) == (
        f"{mirror} has no tag {NC.tag} (fetch the tags of {NC.repo}: `git fetch --tags`)"
    )


def test_the_files_are_read_at_the_recorded_commit(mirror: Path) -> None:
    pinned = dataclasses.replace(NC, commit=git(mirror, "rev-parse", "HEAD"))
    assert refresh.git_mirror_problem(mirror, pinned) is None
    # A later commit on the checkout does not change what is read.
    (mirror / NC.base_path / refresh.NOTIFICATION_FILES[0]).write_bytes(b"changed\n")
    git(mirror, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qam", "x")
    [providers, alerts] = refresh._git_crd_inputs(mirror, pinned, refresh.NOTIFICATION_FILES)
    assert providers.data == CRD + b"notification.toolkit.fluxcd.io_providers.yaml\n"
    assert providers.sha256 == hashlib.sha256(providers.data).hexdigest()
    assert providers.source_file == (
        f"git:{NC.repo}@{NC.tag}:{NC.base_path}/notification.toolkit.fluxcd.io_providers.yaml"
    )
    assert alerts.name == "notification.toolkit.fluxcd.io_alerts.yaml"


# --------------------------------------------------------------------------- npm files

RS = refresh.RENOVATE_SCHEMA


def tarball_of(files: dict[str, bytes]) -> bytes:
    """A gzipped tarball holding `files` (name inside the archive -> content)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def npm_tarball(package_json: dict[str, str], schema: bytes = b'{"x": 1}\n') -> bytes:
    """A tarball laid out like `npm pack`'s (everything under package/)."""
    return tarball_of(
        {"package/package.json": json.dumps(package_json).encode(), RS.member: schema}
    )


RENOVATE_PACKAGE_JSON = {"name": RS.package, "version": RS.version, "license": RS.spdx}


def test_npm_integrity_is_the_sri_string_npm_records() -> None:
    """`sha512-` + base64 of the digest (the registry's `dist.integrity`, ssri's format)."""
    empty = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    assert refresh.npm_integrity(b"") == empty
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", RS.integrity)


def test_the_file_is_read_from_a_tarball_with_the_pinned_integrity() -> None:
    tarball = npm_tarball(RENOVATE_PACKAGE_JSON)
    pinned = dataclasses.replace(RS, integrity=refresh.npm_integrity(tarball))
    assert refresh.read_npm_file(pinned, tarball) == b'{"x": 1}\n'


def test_a_tarball_with_another_integrity_is_refused() -> None:
    tarball = npm_tarball(RENOVATE_PACKAGE_JSON)
    with pytest.raises(
        SystemExit, match=r"renovate@.*: the tarball's integrity is sha512-.*, the pin is"
    ):
        refresh.read_npm_file(RS, tarball)


@pytest.mark.parametrize("field", ["name", "version", "license"])
def test_a_tarball_declaring_another_package_is_refused(field: str) -> None:
    tarball = npm_tarball({**RENOVATE_PACKAGE_JSON, field: "other"})
    pinned = dataclasses.replace(RS, integrity=refresh.npm_integrity(tarball))
    with pytest.raises(SystemExit, match=r"package\.json declares name, version, licence"):
        refresh.read_npm_file(pinned, tarball)


@pytest.mark.parametrize("missing", [RS.member, "package/package.json"])
def test_a_tarball_without_a_member_names_it(missing: str) -> None:
    """tarfile's extractfile raises KeyError for an absent name; the script exits naming it."""
    files = {"package/package.json": json.dumps(RENOVATE_PACKAGE_JSON).encode(), RS.member: b"{}"}
    tarball = tarball_of({name: data for name, data in files.items() if name != missing})
    pinned = dataclasses.replace(RS, integrity=refresh.npm_integrity(tarball))
    with pytest.raises(
        SystemExit, match=rf"^renovate@.*: the tarball has no {re.escape(missing)}$"
    ):
        refresh.read_npm_file(pinned, tarball)


def test_the_renovate_pin_is_read_from_the_validator_lock(tmp_path: Path) -> None:
    lock = json.loads(refresh.RENOVATE_VALIDATOR_LOCK.read_text(encoding="utf-8"))
    entry = lock["packages"]["node_modules/renovate"]
    assert (RS.version, RS.integrity) == (entry["version"], entry["integrity"])
    written = tmp_path / "package-lock.json"
    written.write_text(json.dumps({"packages": {"node_modules/renovate": {"version": "1.2.3"}}}))
    with pytest.raises(SystemExit, match=r"no node_modules/renovate with an integrity"):
        refresh.npm_locked(written, "renovate")
    with pytest.raises(SystemExit, match=r"no node_modules/other with an integrity"):
        refresh.npm_locked(written, "other")
