"""The offline harness applies the Pulumi engine's own rules (offline/pulumi_project.py).

Each rule is broken once and the harness must refuse with the engine's own message (the
`fmt.Errorf` strings of pulumi/pulumi: project.go, config.go, key.go, tokens). The real files of
this repository must pass them, and every URN the harness records is formed as the engine forms it.
"""

from __future__ import annotations

import concurrent.futures
import copy
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import engine, pulumi_project
from offline.engine import DELETE, REPO_ROOT, PlanFailed, plan_stack, stacks, try_plan
from offline.pulumi_project import (
    ROOT_STACK_TYPE,
    EngineRuleError,
    apply_project_config,
    load_project,
    load_stack_config,
    parse_config_key,
    urn,
)
from tests.support import STACKS, plan_of

# The project file as it was before this fix: the real CLI refused it before the program ran.
REFUSED_PROJECT = """\
name: gcp-platform
runtime: python
config:
  platform:environment:
    type: string
"""


def write_project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(text)
    return tmp_path


def refusal(tmp_path: Path, project_text: str) -> list[str]:
    with pytest.raises(EngineRuleError) as refused:
        load_project(write_project(tmp_path, project_text))
    return refused.value.problems


def project_with_config(config: str) -> str:
    return "name: platform\nruntime: python\nconfig:\n" + config


# -- Pulumi.yaml -----------------------------------------------------------------------------------
def test_the_project_file_passes_the_engine_rules() -> None:
    project = load_project(REPO_ROOT)
    assert project.name == "platform"
    # Every declaration is in the project's own namespace, so it may be typed.
    assert all(pulumi_project.namespaced_by_project(project.name, k) for k in project.config)
    assert all(d.type is not None for d in project.config.values())


def test_the_former_project_file_is_refused_with_the_engine_message(tmp_path: Path) -> None:
    assert refusal(tmp_path, REFUSED_PROJECT) == [
        "Pulumi.yaml:4: Configuration key 'platform:environment' is not namespaced by the project "
        "and should not define a type"
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            "  other:key:\n    default: 1\n",
            "Configuration key 'other:key' is not namespaced by the project and should not "
            "define a default value. Did you mean to use the 'value' attribute instead of "
            "'default'?",
            id="foreign-default",
        ),
        pytest.param(
            "  other:key:\n    description: no value\n",
            "Configuration key 'other:key' is namespaced and must provide an attribute 'value'",
            id="foreign-without-value",
        ),
        pytest.param(
            "  platform:size:\n    default: 1\n    value: 2\n",
            "project config 'platform:size' cannot have both a 'default' and 'value' attribute",
            id="default-and-value",
        ),
        pytest.param(
            "  platform:zones:\n    type: array\n",
            "The configuration key 'platform:zones' declares an array but does not specify the "
            "underlying type via the 'items' attribute",
            id="array-without-items",
        ),
        pytest.param(
            "  platform:size:\n    type: integer\n    default: big\n",
            "The default value specified for configuration key 'platform:size' is not of the "
            "expected type 'integer'",
            id="default-of-wrong-type",
        ),
        pytest.param(
            "  zones:\n    type: array\n    items:\n      type: string\n    default: [1]\n",
            "The default value specified for configuration key 'zones' is not of the expected "
            "type 'array<string>'",
            id="unnamespaced-is-the-projects",
        ),
    ],
)
def test_each_config_declaration_rule(tmp_path: Path, config: str, message: str) -> None:
    [problem] = refusal(tmp_path, project_with_config(config))
    assert problem == f"Pulumi.yaml:4: {message}"


def test_a_shorthand_foreign_value_is_a_value_not_a_default(tmp_path: Path) -> None:
    """RewriteShorthandConfigValues: `gcp:region: x` declares a value, which is allowed."""
    project = load_project(write_project(tmp_path, project_with_config("  gcp:region: x\n")))
    assert project.config["gcp:region"].value == "x"
    assert not project.config["gcp:region"].has_default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runtime: python\n", "Pulumi.yaml:1: project is missing a 'name' attribute"),
        (
            "nmae: platform\nruntime: python\n",
            "Pulumi.yaml:1: project is missing a 'name' attribute; found 'nmae' instead",
        ),
        ("name: ''\n", "Pulumi.yaml:1: project is missing a non-empty string 'name' attribute"),
        ("- a list\n", "Pulumi.yaml:1: expected project to be an object, was 'list'"),
        (
            "name: my project\nruntime: python\n",
            "Pulumi.yaml:1: project names may only contain alphanumerics, hyphens, underscores, "
            "and periods",
        ),
    ],
    ids=["no-name", "name-typo", "empty-name", "not-a-mapping", "bad-name"],
)
def test_project_name_rules(tmp_path: Path, text: str, message: str) -> None:
    assert refusal(tmp_path, text) == [message]


def test_the_project_schema_is_applied(tmp_path: Path) -> None:
    """ValidateProject checks Pulumi.yaml against Pulumi's JSON schema (committed verbatim)."""
    problems = refusal(tmp_path, "name: platform\nruntime:\n  name: python\n  optoins: {}\n")
    assert problems == [
        "Pulumi.yaml:2: #/runtime: {'name': 'python', 'optoins': {}} is not valid under any of "
        "the given schemas"
    ]
    [problem] = refusal(tmp_path, "name: platform\nruntime: python\nbackend:\n  ulr: gs://x\n")
    assert problem.startswith("Pulumi.yaml:3: #/backend: Additional properties are not allowed")
    assert problem.endswith("did you mean 'url'?")


# -- stack files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_passes_the_engine_rules(stack: str) -> None:
    config = load_stack_config(REPO_ROOT, stack)
    project = load_project(REPO_ROOT)
    declared = {str(pulumi_project.declared_key(project.name, k)) for k in project.config}
    assert declared <= set(config)
    # Only the project's and the providers' namespaces: a key of another namespace is a typo.
    assert {parse_config_key(k).namespace for k in config} <= {"platform", "gcp"}


def stack_refusal(tmp_path: Path, stack_text: str, stack: str = "dev") -> list[str]:
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_text)
    with pytest.raises(EngineRuleError) as refused:
        load_stack_config(tmp_path, stack)
    return refused.value.problems


def real_config(stack: str = "staging") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())
    return dict(data["config"])


def dump(config: dict[str, Any], **top: Any) -> str:
    return yaml.safe_dump({"config": config, **top}, sort_keys=False)


def test_missing_required_keys_use_the_engines_wording(tmp_path: Path) -> None:
    one = {k: v for k, v in real_config().items() if k != "platform:gitops"}
    assert stack_refusal(tmp_path, dump(one)) == [
        "Pulumi.dev.yaml: Stack 'dev' is missing configuration value 'platform:gitops'"
    ]
    three = {
        k: v
        for k, v in real_config().items()
        if k not in {"platform:gitops", "platform:stage", "platform:clusters"}
    }
    assert stack_refusal(tmp_path, dump(three)) == [
        "Pulumi.dev.yaml: Stack 'dev' is missing configuration values 'platform:clusters', "
        "'platform:gitops' and 'platform:stage'"
    ]


@pytest.mark.parametrize(
    ("key", "value", "type_name"),
    [
        ("platform:clusters", "one", "array<object>"),
        ("platform:clusters", ["one"], "array<object>"),
        ("platform:allowedRegions", [1], "array<string>"),
        ("platform:gitops", ["https://example.com"], "object"),
        ("platform:stage", ["prod"], "string"),
    ],
)
def test_typed_declarations_check_the_stack_value(
    tmp_path: Path, key: str, value: Any, type_name: str
) -> None:
    config = {**real_config(), key: value}
    assert stack_refusal(tmp_path, dump(config)) == [
        f"Pulumi.dev.yaml: Stack 'dev' with configuration key '{key}' must be of type '{type_name}'"
    ]


def test_scalars_are_strings_to_the_type_check() -> None:
    """ValidateConfigValue sees a scalar stack value as its text: 3 passes as a string, "3" as
    an integer, "true" as a boolean; a bool is never an integer."""
    check = pulumi_project.config_value_matches
    assert check("string", None, pulumi_project.StackValue.of(3).content())
    assert check("integer", None, "3") and not check("integer", None, "3.5")
    assert check("boolean", None, "true") and not check("boolean", None, "yes")
    assert not check("integer", None, True)
    assert check("integer", None, 3.0) and not check("integer", None, 3.5)


def test_a_secret_declaration_needs_an_encrypted_value(tmp_path: Path) -> None:
    project = load_project(
        write_project(
            tmp_path, project_with_config("  platform:token:\n    type: string\n    secret: true\n")
        )
    )
    with pytest.raises(EngineRuleError) as refused:
        apply_project_config(project, "dev", {"platform:token": "plain"})
    assert refused.value.problems == [
        "Stack 'dev' with configuration key 'platform:token' must be encrypted as it's secret"
    ]
    merged = apply_project_config(project, "dev", {"platform:token": {"secure": "v1:abc"}})
    assert merged["platform:token"] == {"secure": "v1:abc"}


def test_defaults_are_applied_and_legacy_keys_parse(tmp_path: Path) -> None:
    config = {k: v for k, v in real_config().items() if k != "platform:residency"}
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(dump(config))
    assert load_stack_config(tmp_path, "dev")["platform:residency"] == "any"
    assert parse_config_key("aws:config:region") == parse_config_key("aws:region")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "config:\n  platform:a:b: 1\n",
            "Pulumi.dev.yaml:2: could not parse platform:a:b as a configuration key "
            "(configuration keys should be of the form `<namespace>:<name>`)",
        ),
        ("config:\n  clusters: []\n", "Pulumi.dev.yaml:2: could not parse clusters as a"),
        ("conifg:\n  platform:stage: prod\n", "Pulumi.dev.yaml:1: unknown key 'conifg'"),
        (
            "config:\n  a: 1\n  a: 2\n",
            "Pulumi.dev.yaml:3: mapping key 'a' already defined at line 2",
        ),
        ("config: [1\n", "Pulumi.dev.yaml:2: not valid YAML"),
        ("config: {}\n---\nconfig: {}\n", "Pulumi.dev.yaml:2: not valid YAML: expected a single"),
        ("config: 3\n", "Pulumi.dev.yaml:1: config: must be a mapping"),
    ],
    ids=[
        "two-colons",
        "no-namespace",
        "unknown-top-key",
        "duplicate",
        "syntax",
        "two-docs",
        "scalar",
    ],
)
def test_stack_file_structure(tmp_path: Path, text: str, message: str) -> None:
    problems = stack_refusal(tmp_path, text)
    assert any(p.startswith(message) for p in problems), problems


def test_bad_encoding_names_file_and_line(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_bytes(b"config:\n  platform:stage: \xff\xfe\n")
    with pytest.raises(EngineRuleError) as refused:
        load_stack_config(tmp_path, "dev")
    assert refused.value.problems == ["Pulumi.dev.yaml:2: not UTF-8 text (byte 26)"]


def test_alias_expansion_is_bounded_and_fails_fast(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    started = time.perf_counter()
    problems = stack_refusal(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1.0
    assert problems == [
        "Pulumi.dev.yaml:1: document contains excessive aliasing (more than 100000 nodes once "
        "aliases are expanded)"
    ]


def test_stack_names_follow_the_backend_rule(tmp_path: Path) -> None:
    with pytest.raises(EngineRuleError) as refused:
        load_stack_config(REPO_ROOT, "prod eu")
    assert refused.value.problems == [
        "stack names are limited to 100 characters and may only contain alphanumeric, "
        "hyphens, underscores, or periods: prod eu"
    ]


# -- the harness refuses before the program runs ---------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"platform:clusters": DELETE},
            ["Stack 'staging' is missing configuration value 'platform:clusters'"],
        ),
        (
            {"platform:clusters": DELETE, "platform:clustres": []},
            [
                "Stack 'staging' is missing configuration value 'platform:clusters'",
                "platform:clustres: not declared in Pulumi.yaml (did you mean 'platform:clusters'?)",
            ],
        ),
        (
            {"platform:secrets": {"id": "x"}},
            [
                "Stack 'staging' with configuration key 'platform:secrets' must be of type 'array<object>'"
            ],
        ),
    ],
    ids=["missing", "typo-hint", "wrong-type"],
)
def test_the_plan_is_refused_before_the_program_runs(
    overrides: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(PlanFailed) as failed:
        plan_stack("staging", overrides)
    assert isinstance(failed.value.error, EngineRuleError)
    assert failed.value.error.problems == expected
    assert failed.value.plan.registrations == []


def test_make_plan_reports_bad_input_in_one_message_with_exit_2(tmp_path: Path) -> None:
    """`python -m offline.plan` on a copy of the repository with a broken stack file: one message
    naming file and line, no traceback, exit 2."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "components", tmp_path / "components")
    shutil.copytree(REPO_ROOT / "offline", tmp_path / "offline")
    shutil.copytree(REPO_ROOT / "policy", tmp_path / "policy")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  platform:stage: a\n  platform:stage: b\n")
    result = subprocess.run(
        [sys.executable, "-m", "offline.plan", "dev"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        "Pulumi.dev.yaml:3: mapping key 'platform:stage' already defined at line 2" in result.stderr
    )


# -- URNs ------------------------------------------------------------------------------------------
def test_urns_are_formed_as_the_engine_forms_them() -> None:
    root = urn("prod-eu", "platform", "", ROOT_STACK_TYPE, "platform-prod-eu")
    assert root == "urn:pulumi:prod-eu::platform::pulumi:pulumi:Stack::platform-prod-eu"
    component = urn("prod-eu", "platform", root, "platform:gke:Cluster", "c")
    assert component == "urn:pulumi:prod-eu::platform::platform:gke:Cluster::c"
    child = urn("prod-eu", "platform", component, "gcp:container/cluster:Cluster", "c")
    assert (
        child
        == "urn:pulumi:prod-eu::platform::platform:gke:Cluster$gcp:container/cluster:Cluster::c"
    )
    # The parent's whole qualified type, not only its last segment (the SDK's MockMonitor).
    grandchild = urn("prod-eu", "platform", child, "platform:x:Y", "y")
    assert (
        grandchild.split("::")[2]
        == "platform:gke:Cluster$gcp:container/cluster:Cluster$platform:x:Y"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_recorded_urn_is_the_engines(stack: str) -> None:
    plan = plan_of(stack)
    by_urn = plan.by_urn()
    for registration in plan.registrations:
        expected = urn(
            stack, plan.project, registration.parent, registration.type, registration.name
        )
        assert registration.urn == expected
        if registration.type != ROOT_STACK_TYPE:
            assert f"{ROOT_STACK_TYPE}$" not in registration.urn
            assert registration.parent in by_urn
    assert plan.project == load_project(REPO_ROOT).name


def test_stack_list_is_the_stack_files() -> None:
    assert stacks() == sorted(
        re.sub(r"^Pulumi\.(.*)\.yaml$", r"\1", p.name) for p in REPO_ROOT.glob("Pulumi.*.yaml")
    )


def test_try_plan_of_a_refused_stack_reports_the_engine_message() -> None:
    plan = try_plan("staging", {"platform:stage": ["prod"]})
    assert plan.error == (
        "EngineRuleError: Stack 'staging' with configuration key 'platform:stage' must be of "
        "type 'string'"
    )


def test_plain_scalars_resolve_as_the_cli_resolves_them() -> None:
    """gopkg.in/yaml.v3 into an interface{}: YAML 1.2 booleans only, no base-60 numbers, no
    timestamps (PyYAML's YAML 1.1 defaults would turn these into True, 180 and a date)."""
    from offline.yaml_files import loads

    data = loads("a: yes\nb: 3:00\nc: 2026-12-01\nd: true\ne: 012\nf: off\n", "x.yaml").data
    assert data == {"a": "yes", "b": "3:00", "c": "2026-12-01", "d": True, "e": 10, "f": "off"}


@pytest.mark.parametrize(
    "text", ["a: {b: [1]}\n", "a: {b: [1]}\nwhen: !!timestamp 2026-12-01\n"], ids=["plain", "date"]
)
def test_every_load_of_a_text_is_a_copy_of_its_own(text: str) -> None:
    """loads keeps what it parsed; a caller that edits its data changes no other caller's."""
    from offline.yaml_files import loads

    # The expected data is a deepcopy: nothing it holds can be shared with loads' copies.
    before, data = copy.deepcopy(loads(text, "x.yaml").data), loads(text, "x.yaml").data
    assert data == before
    data["a"]["b"].append(2)
    data["added"] = True
    assert loads(text, "x.yaml").data == before != data


def test_plans_run_on_the_plan_thread_and_a_plan_inside_a_plan_runs_inline() -> None:
    """Plans run on one dedicated thread (offline/engine.py `_on_plan_thread`); a plan started
    from inside a plan must not queue behind itself (a deadlock: the wait below times out)."""

    def on(thread: str) -> engine.Plan:
        return engine.Plan(thread, "", {}, [], {})

    def nested() -> engine.Plan:
        return engine._on_plan_thread(lambda: on(threading.current_thread().name))

    caller = concurrent.futures.ThreadPoolExecutor(1)
    try:
        plan = caller.submit(engine._on_plan_thread, nested).result(timeout=60)
    finally:
        caller.shutdown(wait=False)  # a deadlocked caller would never return
    assert plan.stack == "offline-plan"


# A fresh interpreter: the threads after importing the engine, then after its first plan.
_THREADS_BEFORE_AND_AFTER_A_PLAN = """
import threading
from offline import engine
print(sorted(t.name for t in threading.enumerate()))
engine._on_plan_thread(lambda: engine.Plan("", "", {}, [], {}))
print(sorted(t.name for t in threading.enumerate()))
"""


def test_the_plan_thread_starts_on_the_first_plan_not_at_import() -> None:
    """Importing offline.engine starts no thread (`python -X importtime` would book the thread's
    start-up as the engine's own import time; docs/performance.md); the first plan starts it."""
    result = subprocess.run(
        [sys.executable, "-c", _THREADS_BEFORE_AND_AFTER_A_PLAN],
        timeout=60,  # a plan thread that never starts would leave the plan waiting
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["['MainThread']", "['MainThread', 'offline-plan']"]
