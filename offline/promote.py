"""Promotion of the apps' pins from staging to prod, once staging's Flux reported them healthy.

Each app has one pin file per stage, `k8s/apps/stages/<stage>/pins/<app>/kustomization.yaml`: a
kustomize Component with the image (name, tag, digest) and the release config the stage runs.
Renovate writes staging's only; prod's change only through the pull request this module prepares:
everything below the file's leading comment block is copied, byte for byte, from staging's pin
*at the commit staging reported healthy* (not from the tip of main, which may already carry the
next candidate).

Health evidence. The staging zone clusters carry a Flux notification-controller `Provider` of type
`github` and an `Alert` on their Kustomizations (k8s/flux/commit-status; docs/environments.md,
"Flux's commit statuses"). The kustomize-controller emits an info event marked as a commit status
update once a Kustomization is Ready at a revision (health checks included: the apps'
Kustomizations `wait: true`), and an error event when it fails (fluxcd/kustomize-controller v1.9.4
internal/controller/kustomization_controller.go; fluxcd/notification-controller v1.9.3
internal/server/event_handlers.go `getNotificationParams`); the github notifier posts them as
commit statuses `success`/`failure` on the revision's commit, skipping Progressing events
(internal/notifier/github.go `Post`). The Provider's `commitStatusExpr` names each status
`flux/<cluster>/<kustomization>` (`commit_status_context`).

The evidence file (`--evidence`) is what the workflow fetches for that commit:

    {"sha": "<40 hex>", "statuses": [<GitHub commit status>, ...]}

`statuses` is the REST list `GET /repos/{owner}/{repo}/commits/{sha}/statuses`
(docs.github.com/en/rest/commits/statuses; objects with at least `context`, `state`,
`created_at`, `id`, `creator.login`), or `gh api --paginate --slurp`'s list of such pages. Anyone
with write access to the repository can set a commit status (docs.github.com/en/pull-requests/
reference/status-checks), so only statuses created by the account Flux posts with
(`--status-creator`) count. Per context the newest of those counts (`created_at`, then `id`). An
app is healthy at that commit when the newest status of `flux/<cluster>/apps-<app>` is `success`
for every zone cluster of every staging-stage stack.

Hold: a file `HOLD` in `k8s/apps/stages/prod/pins/` stops every promotion, one in
`k8s/apps/stages/prod/pins/<app>/` that app's; its content is the reason. Commit it to main (and
`git rm` it to release the hold).

CLI (exit 0: proposed or nothing to do; 3: refused, nothing promotable; 2: bad input):

    python -m offline.promote --sha <commit> --evidence statuses.json --status-creator <login>
        [--repo .] [--commit] [--open-pr]
        [--branch promote/prod] [--pr-body build/promotion/pr.md] [--github-output FILE]

Without `--commit` it only rewrites prod's pin files in the working tree. With `--commit` it
commits them on `--branch` (created from HEAD), unless a pull request from that branch is open
(`--open-pr`, which the workflow learns from `gh pr list --head <branch> --state open`) and the
branch (or `origin/<branch>`) already holds exactly these pins: a second run proposes nothing. A
branch left over from a closed or merged pull request does not count.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from components.facts import ClusterRole, Stage
from offline import ci_stacks, pulumi_project

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES_DIR = Path("k8s") / "apps" / "stages"
PIN_FILE = "kustomization.yaml"
HOLD_FILE = "HOLD"
BRANCH = "promote/prod"
CONTEXT_PREFIX = "flux"
SHA_LENGTH = 40
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3


class PromotionError(Exception):
    """The input cannot be acted on (not a refusal: a mistake in what was given)."""


class Action(StrEnum):
    PROMOTE = "promote"
    CURRENT = "current"  # prod already runs staging's pins at that commit
    HELD = "held"
    UNHEALTHY = "unhealthy"  # a required status is failure/error
    PENDING = "pending"  # a required status is missing or pending
    NO_PROD_PIN = "no-prod-pin"


@dataclass(frozen=True)
class Decision:
    app: str
    action: Action
    detail: str
    new_text: str | None = None  # prod's pin file after the promotion (PROMOTE only)


@dataclass(frozen=True)
class Outcome:
    result: str  # proposed | already-proposed | nothing-to-promote | refused
    decisions: tuple[Decision, ...]
    sha: str

    @property
    def exit_code(self) -> int:
        return EXIT_REFUSED if self.result == "refused" else EXIT_OK

    @property
    def open_pr(self) -> bool:
        return self.result == "proposed"


# --------------------------------------------------------------------------- files and git


def pins_dir(stage: Stage) -> Path:
    return STAGES_DIR / stage.value / "pins"


def pin_path(stage: Stage, app: str) -> Path:
    return pins_dir(stage) / app / PIN_FILE


def split_pin(text: str) -> tuple[str, str]:
    """(leading comment block, the rest): the rest is what a promotion copies."""
    lines = text.splitlines(keepends=True)
    cut = 0
    while cut < len(lines) and lines[cut].lstrip().startswith("#"):
        cut += 1
    return "".join(lines[:cut]), "".join(lines[cut:])


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise PromotionError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _show(repo: Path, rev: str, path: Path) -> str | None:
    proc = _git(repo, "show", f"{rev}:{path.as_posix()}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def _ref_exists(repo: Path, ref: str) -> bool:
    return (
        _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode
        == 0
    )


def staging_apps(repo: Path, rev: str) -> list[str]:
    """The apps with a staging pin at `rev`."""
    listing = _git(repo, "ls-tree", "--name-only", f"{rev}:{pins_dir(Stage.STAGING).as_posix()}")
    return sorted(
        name
        for name in listing.stdout.split()
        if _show(repo, rev, pin_path(Stage.STAGING, name)) is not None
    )


# --------------------------------------------------------------------------- health evidence


def commit_status_context(cluster: str, kustomization: str) -> str:
    """The commit status the staging cluster's Flux posts for one of its Kustomizations."""
    return f"{CONTEXT_PREFIX}/{cluster}/{kustomization}"


def commit_status_expr(cluster: str) -> str:
    """The Provider's `commitStatusExpr` (CEL) that yields `commit_status_context` for every
    event of `cluster`."""
    return f"'{CONTEXT_PREFIX}/{cluster}/' + event.involvedObject.name"


def staging_zone_clusters(repo: Path) -> list[str]:
    """Every zone cluster of every staging-stage stack (the clusters that prove a candidate)."""
    clusters: list[str] = []
    for entry in ci_stacks.ci_stacks(repo):
        if entry.stage != Stage.STAGING.value:
            continue
        config = pulumi_project.load_stack_config(repo, entry.stack)
        clusters += [
            str(c["name"])
            for c in config.get("platform:clusters") or []
            if c.get("role") == ClusterRole.ZONE.value
        ]
    return sorted(clusters)


def required_contexts(repo: Path, app: str) -> list[str]:
    return [commit_status_context(c, f"apps-{app}") for c in staging_zone_clusters(repo)]


def load_evidence(path: Path, sha: str, creator: str) -> dict[str, Mapping[str, Any]]:
    """The newest status per context among those `creator` posted, from the evidence file for
    commit `sha`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PromotionError(f"{path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("statuses"), list):
        raise PromotionError(f'{path}: expected {{"sha": ..., "statuses": [...]}}')
    if data.get("sha") != sha:
        raise PromotionError(f"{path}: evidence is for {data.get('sha')!r}, not {sha}")
    statuses: list[Any] = []
    for item in data["statuses"]:
        statuses += item if isinstance(item, list) else [item]  # `--slurp` pages
    newest: dict[str, Mapping[str, Any]] = {}
    for status in statuses:
        if not isinstance(status, dict) or not {"context", "state", "created_at"} <= set(status):
            raise PromotionError(f"{path}: not a commit status: {status!r}")
        if (status.get("creator") or {}).get("login") != creator:
            continue
        key = (str(status["created_at"]), int(status.get("id", 0)))
        seen = newest.get(status["context"])
        if seen is None or key > (str(seen["created_at"]), int(seen.get("id", 0))):
            newest[status["context"]] = status
    return newest


def health(contexts: Sequence[str], newest: Mapping[str, Mapping[str, Any]]) -> tuple[Action, str]:
    if not contexts:
        return Action.PENDING, "no staging zone cluster reports this app"
    failed = [c for c in contexts if newest.get(c, {}).get("state") in ("failure", "error")]
    if failed:
        return Action.UNHEALTHY, "failed: " + ", ".join(failed)
    waiting = [c for c in contexts if newest.get(c, {}).get("state") != "success"]
    if waiting:
        return Action.PENDING, "not reported healthy yet: " + ", ".join(waiting)
    return Action.PROMOTE, "healthy: " + ", ".join(contexts)


# --------------------------------------------------------------------------- decisions


def hold_reason(repo: Path, app: str) -> str | None:
    for path in (
        repo / pins_dir(Stage.PROD) / HOLD_FILE,
        repo / pins_dir(Stage.PROD) / app / HOLD_FILE,
    ):
        if path.is_file():
            reason = path.read_text(encoding="utf-8").strip() or "(no reason given)"
            return f"{path.relative_to(repo).as_posix()}: {reason}"
    return None


def decide(repo: Path, sha: str, newest: Mapping[str, Mapping[str, Any]]) -> list[Decision]:
    """What to do for each app staging pins at `sha`, against prod's pins in the working tree."""
    decisions: list[Decision] = []
    for app in staging_apps(repo, sha):
        staged = _show(repo, sha, pin_path(Stage.STAGING, app))
        assert staged is not None
        prod_file = repo / pin_path(Stage.PROD, app)
        if not prod_file.is_file():
            decisions.append(
                Decision(app, Action.NO_PROD_PIN, f"{pin_path(Stage.PROD, app)} is missing")
            )
            continue
        header, current = split_pin(prod_file.read_text(encoding="utf-8"))
        wanted = split_pin(staged)[1]
        if current == wanted:
            decisions.append(Decision(app, Action.CURRENT, "prod runs these pins already"))
            continue
        held = hold_reason(repo, app)
        if held is not None:
            decisions.append(Decision(app, Action.HELD, held))
            continue
        action, detail = health(required_contexts(repo, app), newest)
        decisions.append(
            Decision(app, action, detail, header + wanted if action is Action.PROMOTE else None)
        )
    return decisions


def apply(repo: Path, decisions: Iterable[Decision]) -> list[Path]:
    written: list[Path] = []
    for d in decisions:
        if d.new_text is not None:
            path = pin_path(Stage.PROD, d.app)
            (repo / path).write_text(d.new_text, encoding="utf-8")
            written.append(path)
    return written


def _already_proposed(
    repo: Path, branch: str, decisions: Sequence[Decision], *, open_pr: bool
) -> bool:
    """An open pull request from `branch` already holds exactly these pins. A branch left over
    from a closed or merged pull request proposes nothing: without `open_pr` it is not looked at
    (the workflow asks GitHub: `gh pr list --head <branch> --state open`)."""
    if not open_pr:
        return False
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        if _ref_exists(repo, ref):
            return all(
                _show(repo, ref, pin_path(Stage.PROD, d.app)) == d.new_text
                for d in decisions
                if d.new_text is not None
            )
    return False


def commit_message(sha: str, decisions: Sequence[Decision]) -> str:
    apps = [d.app for d in decisions if d.action is Action.PROMOTE]
    return (
        f"Promote {', '.join(apps)} to prod (verified in staging at {sha[:12]})\n\n"
        "Copies staging's pins at that commit to prod (offline/promote.py); revert this commit "
        "to roll back.\n\n"
        f"Promoted-From: {sha}\n"
    )


def pr_body(sha: str, decisions: Sequence[Decision], repo: Path) -> str:
    lines = [
        f"Promotion to prod of the pins staging runs at `{sha}`, which staging's Flux reported "
        "healthy (commit statuses below). Merging needs the approval of the prod environment "
        "(`prod approved`); Flux then rolls prod out with its health checks. Reverting this pull "
        'request rolls prod back (docs/environments.md, "Promotion").',
        "",
        "| app | decision | detail |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {d.app} | {d.action.value} | {d.detail} |" for d in decisions]
    for d in decisions:
        if d.new_text is None:
            continue
        path = pin_path(Stage.PROD, d.app).as_posix()
        diff = _git(repo, "diff", "--no-color", "--", path, check=False).stdout
        lines += ["", f"### {d.app}", "", "```diff", diff.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def promote(
    repo: Path,
    sha: str,
    evidence: Path,
    creator: str,
    *,
    commit: bool = False,
    branch: str = BRANCH,
    open_pr: bool = False,
) -> tuple[Outcome, str]:
    """Decide, rewrite prod's pins, and (with `commit`) commit them on `branch`.
    Returns the outcome and the pull request body."""
    if len(sha) != SHA_LENGTH or not all(c in "0123456789abcdef" for c in sha):
        raise PromotionError(f"--sha must be a full commit id (40 hex), got {sha!r}")
    if _git(repo, "merge-base", "--is-ancestor", sha, "HEAD", check=False).returncode != 0:
        raise PromotionError(f"{sha} is not a commit of the checked-out branch (main)")
    if not creator:
        raise PromotionError("--status-creator is empty: name the account Flux posts statuses as")
    newest = load_evidence(evidence, sha, creator)
    decisions = decide(repo, sha, newest)
    promotable = [d for d in decisions if d.action is Action.PROMOTE]
    refused = [d for d in decisions if d.action in (Action.HELD, Action.UNHEALTHY, Action.PENDING)]
    if not promotable:
        result = "refused" if refused else "nothing-to-promote"
        return Outcome(result, tuple(decisions), sha), ""
    if commit and _already_proposed(repo, branch, decisions, open_pr=open_pr):
        return Outcome("already-proposed", tuple(decisions), sha), ""
    written = apply(repo, decisions)
    body = pr_body(sha, decisions, repo)
    if commit:
        _git(repo, "checkout", "-B", branch)
        _git(repo, "add", "--", *(p.as_posix() for p in written))
        _git(repo, "commit", "--quiet", "-m", commit_message(sha, decisions))
    return Outcome("proposed", tuple(decisions), sha), body


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m offline.promote", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sha", required=True, help="the commit staging reported on")
    parser.add_argument("--evidence", required=True, type=Path, help="commit statuses (JSON)")
    parser.add_argument(
        "--status-creator", required=True, help="login of the account Flux posts statuses as"
    )
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--commit", action="store_true", help=f"commit on --branch ({BRANCH})")
    parser.add_argument("--branch", default=BRANCH)
    parser.add_argument(
        "--open-pr",
        action="store_true",
        help="a pull request from --branch is open (else a leftover branch is proposed again)",
    )
    parser.add_argument("--pr-body", type=Path, help="write the pull request body here")
    parser.add_argument("--github-output", type=Path, help="append result/open_pr/branch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        outcome, body = promote(
            args.repo.resolve(),
            args.sha,
            args.evidence,
            args.status_creator,
            commit=args.commit,
            branch=args.branch,
            open_pr=args.open_pr,
        )
    except (PromotionError, ci_stacks.StackSetupError, pulumi_project.EngineRuleError) as error:
        print(f"promote: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for d in outcome.decisions:
        print(f"{d.app}: {d.action.value} ({d.detail})")
    print(f"result: {outcome.result}")
    if args.pr_body is not None and body:
        args.pr_body.parent.mkdir(parents=True, exist_ok=True)
        args.pr_body.write_text(body, encoding="utf-8")
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as fh:
            fh.write(f"result={outcome.result}\n")
            fh.write(f"open_pr={str(outcome.open_pr).lower()}\n")
            fh.write(f"branch={args.branch}\n")
    return outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
