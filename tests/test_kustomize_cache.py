"""The kustomize output cache (offline/gitops/kustomize.py `kustomize_cached`): keyed by the
content of everything a build can read, so it never serves a render of other files, and each
caller gets its own copy. Real `kubectl kustomize` builds of small throwaway trees."""

from __future__ import annotations

from pathlib import Path

from offline.gitops.kustomize import content_key, kustomize_cached


def config_map(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def kustomization(*resources: str) -> str:
    return "resources:\n" + "".join(f"  - {r}\n" for r in resources)


def names(folder: Path) -> list[str]:
    return [d["metadata"]["name"] for d in kustomize_cached(folder)]


def test_a_changed_file_at_the_same_path_is_built_again(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "base").mkdir(parents=True)
    (app / "kustomization.yaml").write_text(kustomization("base"))
    (app / "base" / "kustomization.yaml").write_text(kustomization("cm.yaml"))
    (app / "base" / "cm.yaml").write_text(config_map("first"))
    assert names(app) == ["first"]
    # A file of a followed folder (`resources: [base]`) changes: a new key, a new build.
    (app / "base" / "cm.yaml").write_text(config_map("second"))
    assert names(app) == ["second"]


def test_the_same_content_elsewhere_is_one_key_and_callers_get_copies(tmp_path: Path) -> None:
    for copy in ("one", "two"):
        (tmp_path / copy).mkdir()
        (tmp_path / copy / "kustomization.yaml").write_text(kustomization("cm.yaml"))
        (tmp_path / copy / "cm.yaml").write_text(config_map("same"))
    assert content_key(tmp_path / "one") == content_key(tmp_path / "two")
    first = kustomize_cached(tmp_path / "one")
    first[0]["metadata"]["name"] = "edited by a caller"
    assert names(tmp_path / "two") == ["same"]


def test_a_symlinked_folder_is_not_cached(tmp_path: Path) -> None:
    """os.walk does not follow a symlinked folder: re-pointing it must not serve the old render.
    (kustomize follows it when the target is inside the kustomization's own folder.)"""
    app = tmp_path / "app"
    for target in ("a", "b"):
        (app / target).mkdir(parents=True)
        (app / target / "cm.yaml").write_text(config_map(target))
    (app / "kustomization.yaml").write_text(kustomization("data/cm.yaml"))
    (app / "data").symlink_to(app / "a")
    assert content_key(app) is None
    assert names(app) == ["a"]
    (app / "data").unlink()
    (app / "data").symlink_to(app / "b")
    assert names(app) == ["b"]


def test_a_remote_or_missing_entry_is_not_cached(tmp_path: Path) -> None:
    """A remote base (a git URL kustomize would clone) is outside anything a key can hash."""
    (tmp_path / "kustomization.yaml").write_text(
        kustomization(
            "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0"
        )
    )
    assert content_key(tmp_path) is None
    (tmp_path / "kustomization.yaml").write_text(kustomization("missing"))
    assert content_key(tmp_path) is None
