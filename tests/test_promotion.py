"""Promotion staging -> prod (offline/promote.py) on a throwaway git repository: the real stack
files and GitOps tree, committed in tmp_path, a candidate committed to staging's pins, and the
commit statuses staging's Flux would post for it (the evidence file the workflow fetches)."""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.facts import FLUX_NAMESPACE, SECRET_STORE_NAME, Stage
from components.naming import cluster_of_provider
from offline import admission, prod_changes, promote
from offline.gitops.checks import external_secret_targets
from offline.gitops.cross_layer import remote_keys
from offline.gitops.documents import Doc, namespace_of
from offline.gitops.facts import rendered_stack, stack_facts
from offline.gitops.render import ROOT_KUSTOMIZATION, ClusterRender, render_cluster
from offline.promote import Action, commit_status_context, pin_path, split_pin
from tests import wif_cel
from tests.support import STACKS, plan_of

ROOT = Path(__file__).resolve().parent.parent
CANDIDATE_TAG = "3.12.9-slim-bookworm"
CANDIDATE_DIGEST = "sha256:" + "d" * 64  # a fixture value: never rendered for a real cluster
OLD_DIGEST = "sha256:2199a62885a12290dc9c5be3ca0681d367576ab7bf037da120e564723292a2f0"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def _copy_bootstrap_stack_files(repo: Path) -> None:
    """Each stack's day 0 is done: CI (and so the promotion) runs only such stacks."""
    (repo / "bootstrap").mkdir()
    for path in ROOT.glob("bootstrap/Pulumi.*.yaml"):
        shutil.copy(path, repo / "bootstrap" / path.name)


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository every test's `repo` copies, built once per module (the six git processes
    each test used to pay). Never handed to a test: tests edit, commit and branch in their copy."""
    work = tmp_path_factory.mktemp("template") / "repo"
    work.mkdir()
    for name in ["Pulumi.yaml", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, work / name)
    _copy_bootstrap_stack_files(work)
    shutil.copytree(ROOT / "k8s", work / "k8s")
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "config", "user.email", "ci@example.invalid")
    git(work, "config", "user.name", "ci")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "base")
    # healthy() reads ROOT's staging zone clusters once: they must be this copy's too.
    assert tuple(promote.staging_zone_clusters(work)) == _staging_zone_clusters()
    staging = work / pin_path(Stage.STAGING, "catalog")
    text = staging.read_text(encoding="utf-8")
    text = text.replace("newTag: 3.12.8-slim-bookworm", f"newTag: {CANDIDATE_TAG}")
    staging.write_text(text.replace(f"digest: {OLD_DIGEST}", f"digest: {CANDIDATE_DIGEST}"))
    git(work, "commit", "--quiet", "-am", "Update python to 3.12.9 (staging)")
    # Storage only, the same commits: the ~160 loose object files and their ~115 folders become
    # one pack (git-repack(1): -a packs everything reachable, -d runs git prune-packed), so a
    # copy creates ~180 files and folders instead of ~450; copying them loose costs about as much
    # CPU as the git processes the copy replaces.
    git(work, "repack", "-a", "-d", "--quiet")
    return work


@pytest.fixture
def repo(tmp_path: Path, _template: Path) -> Path:
    """main with today's tree, then one commit: Renovate's candidate image in staging's catalog
    pin (the config candidate, an extra item, is already on main). The test's own full copy of
    _template, .git included: a non-bare repository made by `git init` is its work tree and the
    .git folder in it, which names no absolute path (no core.worktree, no objects/info/alternates;
    git's gitrepository-layout(5)), so the copy is a repository of its own. Its index still holds
    the template's stat data (inodes differ), so git re-reads each file once and finds it clean
    (core.checkStat in git-config(1); "racy git" in git's Documentation/technical/racy-git.txt)."""
    work = tmp_path / "repo"
    shutil.copytree(_template, work, symlinks=True)
    return work


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


FLUX = "acme-flux-status[bot]"  # the account the staging Provider's token belongs to


def status(
    context: str,
    state: str,
    created: str = "2026-12-02T08:00:00Z",
    id_: int = 1,
    creator: str = FLUX,
) -> dict[str, Any]:
    return {
        "context": context,
        "state": state,
        "created_at": created,
        "id": id_,
        "creator": {"login": creator},
    }


def evidence(tmp_path: Path, sha: str, statuses: list[Any]) -> Path:
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"sha": sha, "statuses": statuses}), encoding="utf-8")
    return path


@functools.cache
def _staging_zone_clusters() -> tuple[str, ...]:
    """The staging zone clusters of every throwaway repository: `repo` copies ROOT's stack files
    byte for byte and no test edits them or k8s/clusters' folders (all that
    promote.staging_zone_clusters reads), so they are ROOT's; read once, not once per test."""
    return tuple(promote.staging_zone_clusters(ROOT))


def healthy(*apps: str) -> list[dict[str, Any]]:
    return [
        status(commit_status_context(cluster, f"apps-{app}"), "success")
        for cluster in _staging_zone_clusters()
        for app in apps
    ]


def run(repo: Path, sha: str, ev: Path, *extra: str) -> int:
    return promote.main(
        ["--repo", str(repo), "--sha", sha, "--evidence", str(ev), "--status-creator", FLUX, *extra]
    )


# --------------------------------------------------------------------------- the contract


def test_the_required_statuses_are_every_staging_zone_cluster_of_the_app() -> None:
    assert promote.staging_zone_clusters(ROOT) == ["stg-zone-ew1"]
    assert promote.required_contexts(ROOT, "catalog") == ["flux/stg-zone-ew1/apps-catalog"]


def test_the_required_statuses_follow_the_stack_files_not_a_cached_answer(tmp_path: Path) -> None:
    """staging_zone_clusters answers from a cache keyed by the content of the stack files: a
    repository whose staging stack names its zone cluster differently gets its own answer."""
    for name in ["Pulumi.yaml", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, tmp_path / name)
    _copy_bootstrap_stack_files(tmp_path)
    for stack in STACKS:
        (tmp_path / "k8s" / "clusters" / stack).mkdir(parents=True)
    assert promote.staging_zone_clusters(tmp_path) == ["stg-zone-ew1"]
    staging = tmp_path / "Pulumi.staging.yaml"
    text = staging.read_text(encoding="utf-8")
    assert "name: stg-zone-ew1\n" in text
    staging.write_text(text.replace("name: stg-zone-ew1\n", "name: stg-zone-ew9\n"))
    assert promote.staging_zone_clusters(tmp_path) == ["stg-zone-ew9"]
    assert promote.staging_zone_clusters(ROOT) == ["stg-zone-ew1"]
    # A second staging stack merged before its day 0 runs no Flux yet: its clusters cannot report,
    # so they are not required (they would hold every promotion); after its day 0 they are.
    second = tmp_path / "Pulumi.staging-two.yaml"
    second.write_text(
        staging.read_text(encoding="utf-8")
        .replace("stg-zone-ew9", "stg2-zone-ew1")
        .replace("platform:environment: staging", "platform:environment: staging-two"),
        encoding="utf-8",
    )
    (tmp_path / "k8s" / "clusters" / "staging-two").mkdir()
    assert promote.staging_zone_clusters(tmp_path) == ["stg-zone-ew9"]
    shutil.copy(
        tmp_path / "bootstrap/Pulumi.staging.yaml", tmp_path / "bootstrap/Pulumi.staging-two.yaml"
    )
    assert promote.staging_zone_clusters(tmp_path) == ["stg-zone-ew9", "stg2-zone-ew1"]


def test_pins_differ_between_the_stages_today() -> None:
    """Staging runs a candidate (catalog's release config) that prod does not run yet."""
    staged = split_pin((ROOT / pin_path(Stage.STAGING, "catalog")).read_text(encoding="utf-8"))
    prod = split_pin((ROOT / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8"))
    assert staged[1] != prod[1]
    assert staged[0] != prod[0]  # each stage's header says who writes it


# --------------------------------------------------------------------------- promote


def test_promotion_copies_exactly_the_verified_pins(repo: Path, tmp_path: Path) -> None:
    sha = head(repo)
    before = (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8")
    code = run(repo, sha, evidence(tmp_path, sha, healthy("catalog", "storefront")), "--commit")
    assert code == promote.EXIT_OK
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == promote.BRANCH
    changed = git(repo, "diff", "--name-only", "main", promote.BRANCH).split()
    assert changed == [pin_path(Stage.PROD, "catalog").as_posix()]
    after = (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8")
    staged = (repo / pin_path(Stage.STAGING, "catalog")).read_text(encoding="utf-8")
    assert after == split_pin(before)[0] + split_pin(staged)[1]  # prod's header, staging's pins
    diff = git(repo, "diff", "--unified=0", "main", promote.BRANCH)
    removed = sorted(
        line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")
    )
    added = sorted(
        line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    )
    assert removed == sorted(
        [
            "-    newTag: 3.12.8-slim-bookworm",
            f"-    digest: {OLD_DIGEST}",
            '-      - ITEMS=["espresso", "lungo", "ristretto"]',
        ]
    )
    assert added == sorted(
        [
            f"+    newTag: {CANDIDATE_TAG}",
            f"+    digest: {CANDIDATE_DIGEST}",
            '+      - ITEMS=["espresso", "lungo", "ristretto", "cortado"]',
        ]
    )
    message = git(repo, "log", "-1", "--format=%B", promote.BRANCH)
    assert f"Promoted-From: {sha}" in message


def test_the_pins_of_the_verified_commit_not_of_main(repo: Path, tmp_path: Path) -> None:
    """main moved on to the next candidate: the promotion still copies what was verified."""
    verified = head(repo)
    staging = repo / pin_path(Stage.STAGING, "catalog")
    staging.write_text(
        staging.read_text(encoding="utf-8").replace('"cortado"]', '"cortado", "doppio"]')
    )
    git(repo, "commit", "--quiet", "-am", "next candidate")
    assert run(repo, verified, evidence(tmp_path, verified, healthy("catalog"))) == 0
    prod = (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8")
    assert "doppio" not in prod and CANDIDATE_DIGEST in prod


def test_a_second_run_changes_nothing_and_opens_no_pr(repo: Path, tmp_path: Path) -> None:
    sha = head(repo)
    ev = evidence(tmp_path, sha, healthy("catalog"))
    out = tmp_path / "out1"
    assert run(repo, sha, ev, "--commit", "--github-output", str(out)) == 0
    assert "open_pr=true" in out.read_text()
    tip = git(repo, "rev-parse", promote.BRANCH)
    git(repo, "checkout", "--quiet", "main")  # the workflow checks out main again
    out2 = tmp_path / "out2"
    # The workflow found the pull request open (gh pr list --head promote/prod --state open).
    assert run(repo, sha, ev, "--commit", "--open-pr", "--github-output", str(out2)) == 0
    assert "result=already-proposed" in out2.read_text()
    assert "open_pr=false" in out2.read_text()
    assert git(repo, "rev-parse", promote.BRANCH) == tip
    assert git(repo, "status", "--porcelain") == ""
    # Once merged, there is nothing left to promote.
    git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge promotion", promote.BRANCH)
    outcome, body = promote.promote(repo, sha, ev, FLUX, commit=True, open_pr=True)
    assert outcome.result == "nothing-to-promote" and body == ""
    assert {d.action for d in outcome.decisions} == {Action.CURRENT}


def test_a_leftover_branch_of_a_closed_pull_request_is_proposed_again(
    repo: Path, tmp_path: Path
) -> None:
    """promote/prod still exists (on origin) with these pins, but its pull request was closed
    without merging: without an open pull request the run proposes again (force-push, new PR)."""
    sha = head(repo)
    ev = evidence(tmp_path, sha, healthy("catalog"))
    assert run(repo, sha, ev, "--commit") == 0
    git(repo, "update-ref", f"refs/remotes/origin/{promote.BRANCH}", promote.BRANCH)
    git(repo, "checkout", "--quiet", "main")
    git(repo, "branch", "--quiet", "-D", promote.BRANCH)  # a fresh checkout: origin's only
    out = tmp_path / "out"
    assert run(repo, sha, ev, "--commit", "--github-output", str(out)) == 0
    assert "result=proposed" in out.read_text() and "open_pr=true" in out.read_text()
    assert git(repo, "diff", f"origin/{promote.BRANCH}", promote.BRANCH) == ""  # same pins
    git(repo, "checkout", "--quiet", "main")
    out2 = tmp_path / "out2"  # with the pull request open again, the next run is a no-op
    assert run(repo, sha, ev, "--commit", "--open-pr", "--github-output", str(out2)) == 0
    assert "result=already-proposed" in out2.read_text()


@pytest.mark.parametrize(
    ("statuses", "action"),
    [
        ([], Action.PENDING),  # staging has not reported yet
        ([status("flux/stg-zone-ew1/apps-catalog", "failure")], Action.UNHEALTHY),
        ([status("flux/stg-zone-ew1/apps-catalog", "error")], Action.UNHEALTHY),
        ([status("flux/stg-zone-ew1/apps-catalog", "pending")], Action.PENDING),
        # another cluster's or another Kustomization's success proves nothing for catalog
        ([status("flux/stg-zone-ew1/apps-storefront", "success")], Action.PENDING),
        ([status("flux/other-cluster/apps-catalog", "success")], Action.PENDING),
        # anyone with write access can post a status: only Flux's account counts
        ([status("flux/stg-zone-ew1/apps-catalog", "success", creator="someone")], Action.PENDING),
        # the newest status counts: healthy once, failed since
        (
            [
                status("flux/stg-zone-ew1/apps-catalog", "success", "2026-12-02T08:00:00Z", 1),
                status("flux/stg-zone-ew1/apps-catalog", "failure", "2026-12-02T08:10:00Z", 2),
            ],
            Action.UNHEALTHY,
        ),
    ],
)
def test_refuses_what_staging_has_not_reported_healthy(
    repo: Path, tmp_path: Path, statuses: list[Any], action: Action
) -> None:
    sha = head(repo)
    out = tmp_path / "out"
    code = run(
        repo, sha, evidence(tmp_path, sha, statuses), "--commit", "--github-output", str(out)
    )
    assert code == promote.EXIT_REFUSED
    assert "open_pr=false" in out.read_text()
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--list", promote.BRANCH) == ""
    outcome, _ = promote.promote(repo, sha, evidence(tmp_path, sha, statuses), FLUX)
    assert {d.app: d.action for d in outcome.decisions}["catalog"] is action


def test_the_newest_status_wins_whatever_the_order(repo: Path, tmp_path: Path) -> None:
    sha = head(repo)
    pages = [
        [status("flux/stg-zone-ew1/apps-catalog", "failure", "2026-12-02T08:00:00Z", 1)],
        [status("flux/stg-zone-ew1/apps-catalog", "success", "2026-12-02T09:00:00Z", 2)],
    ]  # `gh api --paginate --slurp`: a list of pages
    assert run(repo, sha, evidence(tmp_path, sha, pages)) == promote.EXIT_OK


@pytest.mark.parametrize("where", ["all", "app"])
def test_hold_stops_the_promotion(repo: Path, tmp_path: Path, where: str) -> None:
    prod_pins = repo / promote.pins_dir(Stage.PROD)
    hold = (
        prod_pins / promote.HOLD_FILE
        if where == "all"
        else prod_pins / "catalog" / promote.HOLD_FILE
    )
    hold.write_text("incident 4711: no prod change until the postmortem\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "Hold promotions")
    sha = head(repo)
    ev = evidence(tmp_path, sha, healthy("catalog"))
    assert run(repo, sha, ev, "--commit") == promote.EXIT_REFUSED
    assert git(repo, "status", "--porcelain") == ""
    outcome, _ = promote.promote(repo, sha, ev, FLUX)
    [catalog] = [d for d in outcome.decisions if d.app == "catalog"]
    assert catalog.action is Action.HELD and "incident 4711" in catalog.detail
    # Releasing the hold (git rm) lets the same verified commit through.
    git(repo, "rm", "--quiet", str(hold.relative_to(repo)))
    git(repo, "commit", "--quiet", "-m", "Release the hold")
    assert run(repo, sha, ev, "--commit") == promote.EXIT_OK


def test_revert_of_the_promotion_is_the_rollback(repo: Path, tmp_path: Path) -> None:
    before = (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8")
    sha = head(repo)
    assert run(repo, sha, evidence(tmp_path, sha, healthy("catalog")), "--commit") == 0
    git(repo, "checkout", "--quiet", "main")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge promotion", promote.BRANCH)
    assert (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8") != before
    git(repo, "revert", "--no-edit", "-m", "1", "HEAD")
    assert (repo / pin_path(Stage.PROD, "catalog")).read_text(encoding="utf-8") == before
    # The rollback holds the app in the same change (docs/environments.md), so staging's next
    # success report for the reverted version proposes nothing.
    hold = repo / promote.pins_dir(Stage.PROD) / "catalog" / promote.HOLD_FILE
    hold.write_text("rolled back: catalog 3.12.9 breaks checkout\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--amend", "--no-edit")
    git(repo, "branch", "-D", promote.BRANCH)
    ev = evidence(tmp_path, sha, healthy("catalog"))
    assert run(repo, sha, ev, "--commit") == promote.EXIT_REFUSED
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("sha", "ev_sha", "message"),
    [
        ("abc", None, "40 hex"),
        ("f" * 40, None, "not a commit of the checked-out branch"),
        (None, "e" * 40, "evidence is for"),
    ],
)
def test_bad_input_is_refused_with_exit_2(
    repo: Path,
    tmp_path: Path,
    *,
    capsys: pytest.CaptureFixture[str],
    sha: str | None,
    ev_sha: str | None,
    message: str,
) -> None:
    commit = sha or head(repo)
    ev = evidence(tmp_path, ev_sha or commit, healthy("catalog"))
    assert run(repo, commit, ev) == promote.EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert git(repo, "status", "--porcelain") == ""


# --------------------------------------------------------------------------- renders


def _catalog_release(repo: Path, stack: str) -> set[tuple[str, str]]:
    """(image, ITEMS) of catalog's Deployment on every zone cluster of `stack`, as Flux renders it."""
    found: set[tuple[str, str]] = set()
    for cluster in stack_facts(stack).clusters:
        if cluster.role != "zone":
            continue
        render = render_cluster(cluster, repo)
        assert render.problems == []
        docs = {(d["kind"], d["metadata"]["name"]): d for d in render.docs}
        deployment = docs[("Deployment", "catalog-app")]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        config = container["envFrom"][0]["configMapRef"]["name"]
        found.add((container["image"], docs[("ConfigMap", config)]["data"]["ITEMS"]))
    assert found
    return found


def test_renders_keep_each_stage_pins_until_the_promotion(repo: Path, tmp_path: Path) -> None:
    old = f"docker.io/library/python:3.12.8-slim-bookworm@{OLD_DIGEST}"
    new = f"docker.io/library/python:{CANDIDATE_TAG}@{CANDIDATE_DIGEST}"
    items3 = '["espresso", "lungo", "ristretto"]'
    items4 = '["espresso", "lungo", "ristretto", "cortado"]'
    assert _catalog_release(repo, "staging") == {(new, items4)}
    assert _catalog_release(repo, "prod-eu") == {(old, items3)}
    sha = head(repo)
    assert run(repo, sha, evidence(tmp_path, sha, healthy("catalog")), "--commit") == 0
    # Same path, new content: kustomize outputs are cached by content, never by folder.
    assert _catalog_release(repo, "prod-eu") == {(new, items4)}
    assert _catalog_release(repo, "staging") == {(new, items4)}


# --------------------------------------------------------------------------- pr.yml's gate


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ("promotion", True),  # prod's pins
        ("revert", True),  # the rollback, on a branch of any name
        ("base", True),  # k8s/apps/base: every stage, prod included
        ("hold", False),  # a HOLD file is not rendered
        ("staging", False),  # staging's pins only
    ],
)
def test_prod_approval_is_needed_iff_prods_render_changes(
    repo: Path, tmp_path: Path, change: str, changed: bool
) -> None:
    """pr.yml's `prod render changed` decision (offline/prod_changes.py), in the throwaway
    repository on a PR branch against origin/main."""
    sha = head(repo)
    ev = evidence(tmp_path, sha, healthy("catalog"))
    if change == "revert":  # main already runs the promotion
        assert run(repo, sha, ev, "--commit") == 0
        git(repo, "checkout", "--quiet", "main")
        git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge promotion", promote.BRANCH)
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "checkout", "--quiet", "-b", "whatever-name/it-is")
    if change == "promotion":
        assert run(repo, sha, ev, "--commit") == 0
    elif change == "revert":
        git(repo, "revert", "--no-edit", "-m", "1", "HEAD")
    elif change == "hold":
        (repo / promote.pins_dir(Stage.PROD) / "catalog" / promote.HOLD_FILE).write_text("x\n")
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "hold")
    else:
        target = repo / (
            "k8s/apps/base/python-service/kustomization.yaml"
            if change == "base"
            else pin_path(Stage.STAGING, "storefront")
        )
        text = target.read_text()
        edited = (
            text + "commonAnnotations:\n  example.invalid/change: base\n"
            if change == "base"
            else text.replace("=disabled", "=enabled")
        )
        assert edited != text
        target.write_text(edited)
        git(repo, "commit", "--quiet", "-am", change)
    output = tmp_path / "github_output"
    assert prod_changes.main(["--repo", str(repo), "--base", "origin/main",
                              "--github-output", str(output)]) == 0  # fmt: skip
    assert output.read_text() == f"changed={str(changed).lower()}\n"


def test_every_app_runs_the_pins_of_its_stage() -> None:
    """On every zone cluster of every stack, each app's Deployments (stable and canary) run the
    image its stage pins; nothing runs the base's placeholder."""
    for stack in STACKS:
        tenants = {t["namespace"] for t in plan_of(stack).config["platform:tenants"]}
        for render in rendered_stack(stack):
            stage = Stage(render.cluster.platform_vars["STAGE"])
            deployments = [
                d
                for d in render.docs
                if d["kind"] == "Deployment" and d["metadata"].get("namespace") in tenants
            ]
            if render.cluster.role != "zone":
                assert deployments == []
                continue
            assert deployments, render.cluster.name
            for deployment in deployments:
                app = deployment["metadata"]["namespace"]
                pin = yaml.safe_load((ROOT / pin_path(stage, app)).read_text(encoding="utf-8"))
                [image] = pin["images"]
                wanted = f"{image['newName']}:{image['newTag']}@{image['digest']}"
                [container] = deployment["spec"]["template"]["spec"]["containers"]
                assert container["image"] == wanted, (stack, deployment["metadata"]["name"])


# --------------------------------------------------------------------------- docs


ENVIRONMENTS_MD = ROOT / "docs" / "environments.md"


def _doc_blocks(lang: str) -> list[str]:
    text = ENVIRONMENTS_MD.read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def test_documented_promote_commands_parse() -> None:
    found = 0
    for block in _doc_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "offline.promote" in words:
                start = words.index("offline.promote") + 1
                promote.parser().parse_args(words[start:])
                found += 1
    assert found >= 1


def test_prod_rolls_the_pins_out_behind_health_checks() -> None:
    """Every Flux Kustomization that applies an app folder on a prod cluster waits for its
    objects (kstatus: Deployments rolled out) within a timeout, and for the ExternalSecrets' Ready
    condition, so a bad promotion shows as a failed Kustomization, not as a green apply."""
    for stack in STACKS:
        if plan_of(stack).config["platform:stage"] != Stage.PROD.value:
            continue
        found = 0
        for render in rendered_stack(stack):
            for doc in render.docs:
                spec = doc.get("spec") or {}
                if doc["kind"] != "Kustomization" or "/apps/" not in str(spec.get("path")):
                    continue
                found += 1
                assert spec["wait"] is True and spec["timeout"], doc["metadata"]["name"]
                kinds = {e["kind"] for e in spec.get("healthCheckExprs", [])}
                assert "ExternalSecret" in kinds, doc["metadata"]["name"]
        assert found >= 2, stack


def test_the_pull_request_body_shows_the_decisions_and_the_diff(repo: Path, tmp_path: Path) -> None:
    sha = head(repo)
    body_file = tmp_path / "pr.md"
    ev = evidence(tmp_path, sha, healthy("catalog"))
    assert run(repo, sha, ev, "--commit", "--pr-body", str(body_file)) == 0
    body = body_file.read_text(encoding="utf-8")
    assert f"`{sha}`" in body
    assert "| catalog | promote | healthy: flux/stg-zone-ew1/apps-catalog |" in body
    assert "| storefront | current | prod runs these pins already |" in body
    assert f"+    digest: {CANDIDATE_DIGEST}" in body


# --------------------------------------------------------------------------- staging's statuses


NOTIFICATION_API = "notification.toolkit.fluxcd.io/v1beta3"
STATUS_SECRET = "flux-commit-status"  # the Secret the Provider reads (k8s/flux/commit-status)


def _notification_docs(render: ClusterRender) -> dict[str, Doc]:
    """Kind -> the one notification object of that kind Flux applies on the cluster."""
    found: dict[str, Doc] = {}
    for doc in render.docs:
        if doc["apiVersion"].startswith("notification.toolkit.fluxcd.io/"):
            assert doc["kind"] not in found, doc["kind"]
            found[doc["kind"]] = doc
    return found


def _staging_zone_renders() -> list[tuple[str, ClusterRender]]:
    renders = [
        (stack, render)
        for stack in STACKS
        if plan_of(stack).config["platform:stage"] == Stage.STAGING.value
        for render in rendered_stack(stack)
        if render.cluster.role == "zone"
    ]
    assert renders
    return renders


def test_only_staging_zone_clusters_post_commit_statuses() -> None:
    """Provider, Alert and the Secret they post with: on every zone cluster of a staging stack,
    nowhere else (prod's statuses would prove nothing; the global runs no app). Strictly valid
    against notification-controller v1.9.3's CRDs (offline/refs)."""
    for stack in STACKS:
        staging = plan_of(stack).config["platform:stage"] == Stage.STAGING.value
        for render in rendered_stack(stack):
            posts = staging and render.cluster.role == "zone"
            docs = _notification_docs(render)
            assert sorted(docs) == (["Alert", "Provider"] if posts else []), render.cluster.name
            written = (FLUX_NAMESPACE, STATUS_SECRET) in set(external_secret_targets(render.docs))
            assert written is posts, render.cluster.name
            assert admission.all_problems(list(docs.values())) == []
            assert render.problems == []


def test_a_misspelt_provider_is_refused_by_the_pinned_crd() -> None:
    [(_, render), *_] = _staging_zone_renders()
    provider = copy.deepcopy(_notification_docs(render)["Provider"])
    provider["spec"]["commitStatusExpression"] = provider["spec"].pop("commitStatusExpr")
    assert admission.problems(provider) == [
        f"Provider/{FLUX_NAMESPACE}/github-commit-status:"
        " spec.commitStatusExpression: unknown field"
    ]
    provider["spec"]["type"] = "github-status"
    assert any(
        "spec.type: 'github-status' is not one of" in p for p in admission.problems(provider)
    )


def test_the_provider_posts_to_the_synced_repository_with_the_status_keys() -> None:
    """The address is the URL the cluster's FluxInstance syncs (one config value); the Secret is
    written by ESO through flux-system's own store from gitops.commitStatusSecret."""
    for stack, render in _staging_zone_renders():
        plan = plan_of(stack)
        [instance] = [
            r
            for r in plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance")
            if cluster_of_provider(plan.by_urn()[r.provider_urn].name) == render.cluster.name
        ]
        docs = _notification_docs(render)
        provider, alert = docs["Provider"]["spec"], docs["Alert"]["spec"]
        assert provider["type"] == "github"
        assert provider["address"] == instance.inputs["spec"]["sync"]["url"]
        assert provider["secretRef"] == {"name": STATUS_SECRET}
        assert alert["providerRef"] == {"name": docs["Provider"]["metadata"]["name"]}
        assert alert["eventSeverity"] == "info"  # info and error events
        [external] = [
            d
            for d in render.docs
            if d["kind"] == "ExternalSecret"
            and (namespace_of(d), d["spec"]["target"]["name"]) == (FLUX_NAMESPACE, STATUS_SECRET)
        ]
        assert external["spec"]["secretStoreRef"] == {
            "kind": "SecretStore",
            "name": SECRET_STORE_NAME,
        }
        secret_id = plan.config["platform:gitops"]["commitStatusSecret"]
        assert list(remote_keys(external)) == [secret_id]
        assert secret_id in stack_facts(stack).readable_by[FLUX_NAMESPACE]


def _alerted(alert: Doc, kustomization: Doc) -> bool:
    """Whether the Alert's eventSources select this Kustomization (name `*`: every one of the
    Alert's namespace, notification-controller v1.9.3 internal/server/event_handlers.go)."""
    return any(
        source["kind"] == kustomization["kind"]
        and source.get("namespace", namespace_of(alert)) == namespace_of(kustomization)
        and source["name"] in ("*", kustomization["metadata"]["name"])
        for source in alert["spec"]["eventSources"]
    )


def _ready_event(kustomization: Doc, sha: str) -> dict[str, Any]:
    """kustomize-controller v1.9.4's Ready event (internal/controller/kustomization_controller.go
    `r.event(... EventSeverityInfo ..., commit_status: update)`), as the unstructured map
    notification-controller hands to CEL (fluxcd/pkg apis/event v1beta1 Event's JSON fields)."""
    return {
        "involvedObject": {
            "kind": kustomization["kind"],
            "apiVersion": kustomization["apiVersion"],
            "namespace": namespace_of(kustomization),
            "name": kustomization["metadata"]["name"],
        },
        "severity": "info",
        "reason": "ReconciliationSucceeded",
        "reportingController": "kustomize-controller",
        "metadata": {
            "kustomize.toolkit.fluxcd.io/commit_status": "update",
            "kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{sha}",
        },
    }


def test_the_posted_contexts_are_exactly_what_the_promotion_requires() -> None:
    """commitStatusExpr evaluated (CEL subset, tests/wif_cel.py) for the Ready event of every
    apps Kustomization the Alert selects on every staging zone cluster: the set of contexts is
    exactly the one offline/promote.py requires for every app."""
    apps = sorted(p.name for p in (ROOT / promote.pins_dir(Stage.STAGING)).iterdir() if p.is_dir())
    required = {context for app in apps for context in promote.required_contexts(ROOT, app)}
    posted: set[str] = set()
    for _, render in _staging_zone_renders():
        docs = _notification_docs(render)
        provider, alert = docs["Provider"], docs["Alert"]
        assert provider["spec"]["commitStatusExpr"] == promote.commit_status_expr(
            render.cluster.name
        )
        kustomizations = [
            d
            for d in render.docs
            if d["kind"] == "Kustomization" and d["metadata"]["name"].startswith("apps-")
        ]
        assert kustomizations, render.cluster.name
        for ks in kustomizations:
            assert _alerted(alert, ks), ks["metadata"]["name"]
            env = {"event": _ready_event(ks, "a" * 40), "provider": provider, "alert": alert}
            posted.add(wif_cel.evaluate(provider["spec"]["commitStatusExpr"], env))
        # The platform's own Kustomizations report too, under contexts no app requires.
        root: Doc = {
            "kind": "Kustomization",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "metadata": {"name": ROOT_KUSTOMIZATION, "namespace": FLUX_NAMESPACE},
        }
        assert _alerted(alert, root)
    assert required and posted == required


def test_the_prod_approval_renders_a_prod_stack_before_its_day_0_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prod stack without its bootstrap stack file is out of CI's matrices, but its Flux will
    sync what main holds once it runs: the prod-approval render covers it (otherwise its GitOps
    content would reach prod unapproved, and deleting a bootstrap file would hide a live stack)."""
    from offline import ci_stacks

    everything = [c.name for c in prod_changes.prod_clusters(ROOT)]
    monkeypatch.setattr(ci_stacks, "pending_stacks", lambda repo=ROOT: ["prod-eu"])
    with pytest.raises(ci_stacks.StackSetupError):
        ci_stacks.ci_stacks(ROOT)  # no prod stack CI could run
    assert [c.name for c in prod_changes.prod_clusters(ROOT)] == everything
    assert everything == [c.name for c in stack_facts("prod-eu").clusters]
