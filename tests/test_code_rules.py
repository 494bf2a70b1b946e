"""Rules about the program's source that the mock engine cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from offline.engine import REPO_ROOT

BOOTSTRAP_MAIN = REPO_ROOT / "bootstrap" / "__main__.py"
PROGRAM_FILES = [
    REPO_ROOT / "__main__.py",
    *sorted((REPO_ROOT / "components").rglob("*.py")),
    BOOTSTRAP_MAIN,
    *sorted((REPO_ROOT / "bootstrap" / "day0").rglob("*.py")),
]
PROVIDER_MODULES = {"gcp", "k8s", "random", "tls"}
# Inputs that are free-form maps in the provider schema (no typed Args exists for them).
FREE_FORM_INPUTS = {
    "labels",
    "resource_labels",
    "user_labels",
    "metadata",
    "data",
    "string_data",
    "values",
    "spec",
    "annotations",
}


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def raw_dict_inputs(source: str) -> list[str]:
    """Keyword arguments of provider calls given as dict literals (or lists of them) where the
    provider has typed *Args classes: a misspelt key there is only caught by the cloud."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _root_name(node.func) not in PROVIDER_MODULES:
            continue
        for keyword in node.keywords:
            value = keyword.value
            items = value.elts if isinstance(value, ast.List) else [value]
            if keyword.arg not in FREE_FORM_INPUTS and any(isinstance(i, ast.Dict) for i in items):
                found.append(f"line {node.lineno}: {ast.unparse(node.func)}({keyword.arg}=...)")
    return found


@pytest.mark.parametrize("path", PROGRAM_FILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_nested_provider_inputs_use_typed_args(path: Path):
    assert raw_dict_inputs(path.read_text()) == []


def test_the_typed_args_rule_can_fail():
    bad = "gcp.container.Cluster('c', private_cluster_config={'enable_private_nodes': True})"
    assert raw_dict_inputs(bad) == ["line 1: gcp.container.Cluster(private_cluster_config=...)"]
    assert raw_dict_inputs("k8s.core.v1.ConfigMap('c', data={'A': 'b'})") == []


def test_a_typo_in_typed_args_is_a_type_error_offline():
    import pulumi_gcp as gcp

    with pytest.raises(TypeError):
        gcp.container.ClusterPrivateClusterConfigArgs(enable_private_node=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("path", PROGRAM_FILES, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_no_service_account_keys_in_code(path: Path):
    source = path.read_text()
    assert "serviceaccount.Key" not in source
    assert "HmacKey" not in source


@pytest.mark.parametrize(
    "main", [REPO_ROOT / "__main__.py", BOOTSTRAP_MAIN], ids=["platform", "bootstrap"]
)
def test_main_is_wiring_only(main: Path):
    """__main__.py reads config, creates components, exports: no provider resources of its own."""
    tree = ast.parse(main.read_text())
    provider_calls = [
        ast.unparse(n.func)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _root_name(n.func) in PROVIDER_MODULES
    ]
    assert provider_calls == []
