"""Adding an environment is one stack file plus one overlay folder (docs/environments.md).

A copy of the repository (its git files) gets a throwaway stack `NEW`: `Pulumi.<NEW>.yaml`
copied from prod-eu and edited (project, US regions, no EU residency) and `k8s/clusters/<NEW>`
copied from prod-eu, and nothing else. In that copy the plan, the kustomize render, the policy
config and pack, and the workflows' matrices all pick the new stack up. Its day 0 (docs/
bootstrap.md) then writes the bootstrap program's stack file for that project, which plans too.
The name is one no stack file of the repository uses, so a real stack of that name (the docs'
example, prod-us) can be added without this test colliding with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offline import ci_stacks
from offline.engine import Plan, stacks
from tests.ci_workflows import ROOT, pulumi_runs, run_pack, workflow_files

NEW = "prod-throwaway"
assert NEW not in stacks()
PROJECT = f"acme-platform-{NEW}"
# prod-eu -> NEW: the stack file's own facts; everything else stays as copied.
EDITS = {
    "gcp:project: acme-platform-prod-eu": f"gcp:project: {PROJECT}",
    "platform:environment: prod-eu": f"platform:environment: {NEW}",
    "platform:residency: eu": "platform:residency: any",
    "name: platform-prod-eu": f"name: platform-{NEW}",
    "europe-west1": "us-central1",
    "europe-west3": "us-west1",
    "europe-west4": "us-east4",
}


def _git_files() -> list[str]:
    # Tracked and new (not ignored) files: what a clone has, plus work not yet committed.
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("repo")
    for name in _git_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    text = (copy / "Pulumi.prod-eu.yaml").read_text(encoding="utf-8")
    for old, new in EDITS.items():
        assert old in text, old
        text = text.replace(old, new)
    (copy / f"Pulumi.{NEW}.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(copy / "k8s/clusters/prod-eu", copy / f"k8s/clusters/{NEW}")
    # Day 0 of the new project: the bootstrap's stack file, as docs/bootstrap.md has it written.
    bootstrap = (copy / "bootstrap/Pulumi.prod-eu.yaml").read_text(encoding="utf-8")
    for old, new in EDITS.items():
        bootstrap = bootstrap.replace(old, new)
    assert PROJECT in bootstrap and "us-central1" in bootstrap
    (copy / f"bootstrap/Pulumi.{NEW}.yaml").write_text(bootstrap, encoding="utf-8")
    return copy


# What `make plan`, `make render`, `make policy-config` and `make plan-bootstrap` run for NEW, in one
# interpreter of this virtualenv inside the copy (one import of the provider SDKs, not three),
# ending as those commands end (offline.cli.finish: no collector sweeps at exit).
MAKE_TARGETS = f"""
import contextlib, io, json, sys
from offline.cli import finish
from offline.plan import main as plan
from offline.gitops.__main__ import main as gitops
from policy.stack_config import main as policy_config
results = {{}}
for name, run, argv in [
    ("plan", plan, ["{NEW}", "--quiet"]),
    ("render", gitops, ["render", "{NEW}", "--out", "build/k8s"]),
    ("policy-config", policy_config, ["{NEW}"]),
    ("plan-bootstrap", plan, ["{NEW}", "--project-dir", "bootstrap", "--quiet"]),
]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    results[name] = {{"code": code, "out": out.getvalue(), "err": err.getvalue()}}
print(json.dumps(results))
finish(0)
"""


@pytest.fixture(scope="module")
def targets(repo: Path) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-c", MAKE_TARGETS],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return results


def _assert_no_problems(plan: dict[str, Any]) -> None:
    """A `make plan` run of the script above: exit 0 and the plan's own all-clear."""
    assert plan["code"] == 0, plan["err"] + plan["out"]
    assert "No problems found." in plan["out"]


def test_make_plan_of_the_new_stack_finds_no_problem(
    repo: Path, targets: dict[str, dict[str, Any]]
) -> None:
    _assert_no_problems(targets["plan"])
    assert (repo / "build" / NEW / "plan.json").is_file()


def test_make_plan_bootstrap_of_the_new_project(
    repo: Path, targets: dict[str, dict[str, Any]]
) -> None:
    _assert_no_problems(targets["plan-bootstrap"])
    written = json.loads((repo / "build/bootstrap" / NEW / "plan.json").read_text(encoding="utf-8"))
    buckets = Plan.from_json(written).of_type("gcp:storage/bucket:Bucket")
    assert [b.inputs["name"] for b in buckets] == [f"{PROJECT}-pulumi-state"]


def test_make_render_of_the_new_stack(repo: Path, targets: dict[str, dict[str, Any]]) -> None:
    # kustomize build + Flux substitution + the render checks, per cluster.
    assert targets["render"]["code"] == 0, targets["render"]["err"]
    rendered = sorted(p.name for p in (repo / "build/k8s" / NEW).iterdir())
    assert rendered == ["prod-global.yaml", "prod-zone-ew1.yaml", "prod-zone-ew4.yaml"]


def test_workflows_preview_and_deploy_the_new_stack_with_the_pack(
    repo: Path, targets: dict[str, dict[str, Any]]
) -> None:
    runs = [run for path in workflow_files(repo) for run in pulumi_runs(path, repo)]
    new = [r for r in runs if r.stack == NEW]
    assert sorted((r.workflow, r.job, r.command) for r in new) == [
        ("deploy.yml", "up-prod", "up"),
        ("drift.yml", "preview", "preview"),
        ("pr.yml", "preview", "preview"),
    ]
    # The job's own `make policy-config` wrote the file the pulumi step passes; the pack passes
    # the new stack's plan with it.
    assert targets["policy-config"]["code"] == 0, targets["policy-config"]["err"]
    # The plan `make plan` wrote in the copy: its full registration, the same plan_stack run an
    # in-process plan of the copy would repeat (Plan.from_json reads back what to_json wrote).
    written = json.loads((repo / "build" / NEW / "plan.json").read_text(encoding="utf-8"))
    plan = Plan.from_json(written)
    for run in new:
        assert run.generated_configs == [NEW]
        [config] = run.policy_pack_configs
        assert run_pack(plan, repo / config) == []


def test_matrix_entry_of_the_new_stack(repo: Path) -> None:
    entries = ci_stacks.matrices(repo)
    [entry] = [e for e in entries["prod"] if e["stack"] == NEW]
    assert entry["backend"] == f"gs://{PROJECT}-pulumi-state"
    assert entry["region"] == "us-central1"
    # Every stack once; deploy order: the staging stage first, then prod stacks by name.
    order = [e["stack"] for e in entries["all"]]
    # Every stack CI runs here (a real stack still waiting for its day 0 is not one), and NEW.
    assert sorted(order) == sorted([*(e.stack for e in ci_stacks.ci_stacks(ROOT)), NEW])
    staging = [e["stack"] for e in entries["staging"]]
    assert order[: len(staging)] == staging
    assert order[len(staging) :] == sorted(e["stack"] for e in entries["prod"])


def test_a_stack_file_without_its_folder_is_refused(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod-eu.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "bootstrap").mkdir()
    shutil.copy2(ROOT / "bootstrap/Pulumi.staging.yaml", tmp_path / "bootstrap")
    (tmp_path / "k8s/clusters/staging").mkdir(parents=True)
    (tmp_path / "k8s/clusters/prod-us").mkdir(parents=True)
    with pytest.raises(ci_stacks.StackSetupError) as refused:
        ci_stacks.ci_stacks(tmp_path)
    assert refused.value.problems == [
        "Pulumi.prod-eu.yaml has no GitOps folder k8s/clusters/prod-eu (docs/environments.md)",
        "k8s/clusters/prod-us has no stack file Pulumi.prod-us.yaml (docs/environments.md)",
    ]


def test_a_stage_without_a_bootstrapped_stack_is_refused_but_still_checked_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub fails a job whose matrix is empty, and the deploy runs every stage in turn: a
    stage's first stack is merged after its day 0. What runs offline still lists it."""
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod-eu.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "bootstrap").mkdir()
    shutil.copy2(ROOT / "bootstrap/Pulumi.staging.yaml", tmp_path / "bootstrap")
    for stack in ("staging", "prod-eu"):
        (tmp_path / "k8s/clusters" / stack).mkdir(parents=True)
    with pytest.raises(ci_stacks.StackSetupError) as refused:
        ci_stacks.ci_stacks(tmp_path)
    assert refused.value.problems == [
        "no stack of stage 'prod' has had its day 0 (bootstrap/Pulumi.<stack>.yaml, "
        "docs/bootstrap.md): the deploy workflow runs every stage in turn",
    ]
    assert [e.stack for e in ci_stacks.checked_stacks(tmp_path)] == ["staging", "prod-eu"]
    assert ci_stacks.main(["--repo", str(tmp_path), "--names"]) == 0
    assert capsys.readouterr().out.split() == ["staging", "prod-eu"]
    shutil.copy2(ROOT / "bootstrap/Pulumi.prod-eu.yaml", tmp_path / "bootstrap")
    assert [e.stack for e in ci_stacks.ci_stacks(tmp_path)] == ["staging", "prod-eu"]


def test_a_stack_before_its_day_0_is_checked_but_not_run_by_ci(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Merged before its project's day 0, the new stack must not enter the matrices: its preview
    and deploy jobs could only fail (no state bucket, no identities), and a failing prod job
    would stop the stage's other stacks (fail-fast, one at a time)."""
    for name in ("Pulumi.yaml", *(f"Pulumi.{s}.yaml" for s in [*stacks(), NEW])):
        shutil.copy2(repo / name, tmp_path / name)
    for stack in [*stacks(), NEW]:
        (tmp_path / "k8s/clusters" / stack).mkdir(parents=True)
    (tmp_path / "bootstrap").mkdir()
    for stack in stacks(ROOT / "bootstrap"):
        shutil.copy2(repo / f"bootstrap/Pulumi.{stack}.yaml", tmp_path / "bootstrap")
    found = ci_stacks.matrices(tmp_path)
    assert found["pending"] == sorted([*ci_stacks.pending_stacks(ROOT), NEW])
    assert NEW not in [e["stack"] for name in ("all", "staging", "prod") for e in found[name]]
    assert [e["stack"] for e in found["all"]] == [
        e.stack for e in ci_stacks.ci_stacks(repo) if e.stack != NEW
    ]
    # The stacks job says so on the run's summary, and in its `pending` output.
    assert ci_stacks.main(["--repo", str(tmp_path), "--github-output", str(tmp_path / "out")]) == 0
    outputs = dict(line.split("=", 1) for line in (tmp_path / "out").read_text().splitlines())
    assert json.loads(outputs["pending"]) == found["pending"]
    assert (
        f"::warning title=day 0 pending::{NEW}: no bootstrap/Pulumi.{NEW}.yaml yet, so CI "
        "neither previews nor deploys it (docs/bootstrap.md)"
    ) in capsys.readouterr().out.splitlines()
    # What runs offline (the PR's offline diff loops over `--names`) covers it already.
    assert ci_stacks.main(["--repo", str(tmp_path), "--names"]) == 0
    assert NEW in capsys.readouterr().out.split()
    # Its day 0 commits the bootstrap stack file: from then on CI runs it.
    shutil.copy2(repo / f"bootstrap/Pulumi.{NEW}.yaml", tmp_path / "bootstrap")
    assert NEW in [e["stack"] for e in ci_stacks.matrices(tmp_path)["prod"]]


def test_a_secrets_provider_of_another_project_is_refused(repo: Path, tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", f"Pulumi.{NEW}.yaml"):
        shutil.copy2(repo / name, tmp_path / name)
    (tmp_path / "k8s/clusters" / NEW).mkdir(parents=True)
    stack_file = tmp_path / f"Pulumi.{NEW}.yaml"
    wrong = ci_stacks.secrets_provider("acme-platform-prod-eu", "europe-west1")
    stack_file.write_text(f"secretsprovider: {wrong}\n" + stack_file.read_text())
    with pytest.raises(ci_stacks.StackSetupError) as refused:
        ci_stacks.ci_stacks(tmp_path)
    [problem] = [p for p in refused.value.problems if "secretsprovider" in p]
    assert problem.startswith(
        f"Pulumi.{NEW}.yaml: secretsprovider is 'gcpkms://projects/acme-platform-prod-eu/"
    )
