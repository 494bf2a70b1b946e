"""The stacks CI previews and deploys, derived from the repository (never listed by hand).

A stack is a `Pulumi.<stack>.yaml` together with its GitOps folder `k8s/clusters/<stack>`
(docs/environments.md, "Adding an environment"); one without the other is an error. CI previews
and deploys a stack once its project has had its day 0, which commits the bootstrap program's
stack file `bootstrap/Pulumi.<stack>.yaml` (docs/bootstrap.md): before that the project has no
state bucket, no CI identities and no Workload Identity provider, so a job could only fail (and a
failing prod job would stop the stage's other stacks). Such a stack is *pending*: the offline
checks cover it, the matrices leave it out, and the `stacks` job says so. Everything CI
needs per stack follows from the stack file's `gcp:project`, `gcp:region` and `platform:stage`
and from the names the bootstrap program creates (docs/bootstrap.md):

- state: `gs://<project>-pulumi-state`, secrets provider
  `gcpkms://projects/<project>/locations/<region>/keyRings/pulumi/cryptoKeys/state`;
- identities: `platform-deployer@<project>.iam.gserviceaccount.com` (deploy jobs),
  `platform-preview@<project>.iam.gserviceaccount.com` (PR previews) and
  `platform-drift@<project>.iam.gserviceaccount.com` (the scheduled drift check).

`python -m offline.ci_stacks` prints the matrices as JSON; `--github-output FILE` appends them as
step outputs (`all`, and one per stage in deploy order: `staging`, `prod`; `pending`, the names
waiting for their day 0), which the workflows read with `fromJSON`, and prints a warning
annotation per pending stack; `--names` prints every stack name (pending ones too), one a line,
for what runs offline (the PR's offline diff). Standard library,
PyYAML and jsonschema only (no Pulumi import), so the job that computes the matrix stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from components.facts import Stage
from offline import pulumi_project
from offline.yaml_files import YamlFileError, load

REPO_ROOT = Path(__file__).resolve().parent.parent
CLUSTERS_DIR = Path("k8s") / "clusters"
BOOTSTRAP_DIR = Path("bootstrap")
STAGES = [s.value for s in Stage]
EXIT_BAD_INPUT = 2


class StackSetupError(Exception):
    """The repository's stacks are not what CI can run (one message per problem)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CiStack:
    """One matrix entry: what a preview or deploy job of this stack needs."""

    stack: str
    stage: str
    project: str
    region: str
    backend: str
    secrets_provider: str
    deployer: str
    previewer: str
    drifter: str


def state_bucket(project: str) -> str:
    return f"{project}-pulumi-state"


def secrets_provider(project: str, region: str) -> str:
    return f"gcpkms://projects/{project}/locations/{region}/keyRings/pulumi/cryptoKeys/state"


def service_account(name: str, project: str) -> str:
    return f"{name}@{project}.iam.gserviceaccount.com"


def _ci_stack(repo: Path, stack: str) -> CiStack:
    try:
        config = pulumi_project.load_stack_config(repo, stack)
    except pulumi_project.EngineRuleError as error:
        raise StackSetupError(error.problems) from None
    missing = [k for k in ("gcp:project", "gcp:region", "platform:stage") if k not in config]
    if missing:
        raise StackSetupError([f"Pulumi.{stack}.yaml: CI needs {', '.join(missing)}"])
    project, region = str(config["gcp:project"]), str(config["gcp:region"])
    entry = CiStack(
        stack=stack,
        stage=str(config["platform:stage"]),
        project=project,
        region=region,
        backend=f"gs://{state_bucket(project)}",
        secrets_provider=secrets_provider(project, region),
        deployer=service_account("platform-deployer", project),
        previewer=service_account("platform-preview", project),
        drifter=service_account("platform-drift", project),
    )
    # `pulumi stack init --secrets-provider` writes the provider into the stack file; when it is
    # there it must be this stack's own key, or the state would be encrypted with another's.
    try:
        written = (load(pulumi_project.stack_file(repo, stack)).data or {}).get("secretsprovider")
    except YamlFileError as error:
        raise StackSetupError([str(error)]) from None
    if written is not None and written != entry.secrets_provider:
        raise StackSetupError(
            [
                f"Pulumi.{stack}.yaml: secretsprovider is {written!r}; this stack's key is "
                f"{entry.secrets_provider!r} (docs/ci.md)"
            ]
        )
    return entry


def pending_stacks(repo: Path = REPO_ROOT) -> list[str]:
    """Stacks whose project has not had its day 0: no bootstrap stack file yet."""
    bootstrapped = set(pulumi_project.stacks(repo / BOOTSTRAP_DIR))
    return sorted(set(pulumi_project.stacks(repo)) - bootstrapped)


def checked_stacks(repo: Path = REPO_ROOT) -> list[CiStack]:
    """Every stack, pending ones too, in deploy order (stage order of components.facts.Stage,
    then name): what runs offline (the PR's offline diff, the prod-approval render) covers them
    all, since it needs no day 0."""
    files = set(pulumi_project.stacks(repo))
    folders = {p.name for p in (repo / CLUSTERS_DIR).iterdir() if p.is_dir()}
    problems = [
        f"Pulumi.{s}.yaml has no GitOps folder {CLUSTERS_DIR / s} (docs/environments.md)"
        for s in sorted(files - folders)
    ] + [
        f"{CLUSTERS_DIR / s} has no stack file Pulumi.{s}.yaml (docs/environments.md)"
        for s in sorted(folders - files)
    ]
    entries: list[CiStack] = []
    for stack in sorted(files & folders):
        try:
            entries.append(_ci_stack(repo, stack))
        except StackSetupError as error:
            problems.extend(error.problems)
    problems.extend(
        f"Pulumi.{e.stack}.yaml: platform:stage {e.stage!r} is not one of {STAGES}"
        for e in entries
        if e.stage not in STAGES
    )
    if not entries:
        problems.append("no stack: CI needs at least one Pulumi.<stack>.yaml")
    if problems:
        raise StackSetupError(problems)
    return sorted(entries, key=lambda e: (STAGES.index(e.stage), e.stack))


def ci_stacks(repo: Path = REPO_ROOT) -> list[CiStack]:
    """The stacks CI previews and deploys: the checked ones that have had their day 0. Every
    stage needs one (the deploy workflow runs each stage in turn; GitHub fails a job whose
    matrix is empty), so a stage's first stack is merged after its day 0."""
    pending = set(pending_stacks(repo))
    entries = [e for e in checked_stacks(repo) if e.stack not in pending]
    problems = [
        f"no stack of stage {stage!r} has had its day 0 ({BOOTSTRAP_DIR}/Pulumi.<stack>.yaml, "
        "docs/bootstrap.md): the deploy workflow runs every stage in turn"
        for stage in STAGES
        if stage not in {e.stage for e in entries}
    ]
    if problems:
        raise StackSetupError(problems)
    return entries


def matrices(repo: Path = REPO_ROOT) -> dict[str, list[Any]]:
    """`all` (PR jobs) and one matrix per stage (deploy jobs), as GitHub `matrix.include`."""
    entries = ci_stacks(repo)
    out: dict[str, list[Any]] = {"all": [asdict(e) for e in entries]}
    for stage in Stage:
        out[stage.value] = [asdict(e) for e in entries if e.stage == stage.value]
    out["pending"] = pending_stacks(repo)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.ci_stacks", description=__doc__)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--names", action="store_true", help="stack names, one a line")
    group.add_argument("--github-output", type=Path, metavar="FILE", help="append step outputs")
    args = parser.parse_args(argv)
    try:
        if args.names:
            # Every stack, the pending ones too: what runs offline needs no day 0.
            print("\n".join(e.stack for e in checked_stacks(args.repo)))
            return 0
        found = matrices(args.repo)
    except StackSetupError as error:
        print("\n".join(f"error: {p}" for p in error.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.github_output:
        with args.github_output.open("a", encoding="utf-8") as out:
            for name, entries in found.items():
                out.write(f"{name}={json.dumps(entries, separators=(',', ':'))}\n")
        # A workflow command (docs.github.com/en/actions/reference/workflows-and-actions/
        # workflow-commands, "Setting a warning message"): shown on the run's summary.
        for stack in found["pending"]:
            print(
                f"::warning title=day 0 pending::{stack}: no {BOOTSTRAP_DIR}/Pulumi.{stack}.yaml "
                "yet, so CI neither previews nor deploys it (docs/bootstrap.md)"
            )
    else:
        print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
