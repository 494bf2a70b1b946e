"""Every URN and every `pulumi ...` command written in the docs names something real.

offline/doc_commands.py extracts them from README.md and docs/*.md and checks each against the CLI
(subcommands, flags) and against the offline plan of its stack (URNs, stack names, files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from offline import doc_commands
from offline.doc_commands import command_problems, urn_problem
from offline.engine import REPO_ROOT, Plan, plan_stack
from tests.support import plan_of

CLUSTER_URN = "urn:pulumi:prod-eu::platform::platform:gke:Cluster$gcp:container/cluster:Cluster::prod-zone-ew4"


def _shared_plan(stack: str, repo: Path) -> Plan:
    """doc_commands plans a stack file with no overrides, the very input tests.support.plan_of
    plans once per test process for the other test files: the same plan, so it is taken from
    there. Another project's stacks (bootstrap/) are planned for real."""
    return plan_of(stack) if repo == REPO_ROOT else plan_stack(stack, repo=repo)


@pytest.fixture(autouse=True, scope="module")
def _plans_shared_with_other_tests() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(doc_commands, "plan_stack", _shared_plan)
        yield


def test_every_documented_command_and_urn_checks_out() -> None:
    assert doc_commands.problems() == []


def test_the_docs_do_contain_commands_and_urns() -> None:
    """The check above is not vacuous: the runbooks name real URNs and real commands."""
    found = [c for path in doc_commands.documents() for c in doc_commands.commands(path)]
    assert len(found) >= 10
    assert any("state unprotect" in c.text for c in found)
    assert [u for path in doc_commands.documents() for u in doc_commands.urns(path)]


def test_a_real_urn_passes() -> None:
    assert urn_problem(CLUSTER_URN) is None


@pytest.mark.parametrize(
    ("urn", "fragment"),
    [
        # The form the mock engine used to record: the engine never includes the root stack type.
        (
            "urn:pulumi:prod-eu::platform::pulumi:pulumi:Stack$platform:gke:Cluster$gcp:container/cluster:Cluster::prod-zone-ew4",
            "no such resource",
        ),
        (CLUSTER_URN.replace("::platform::", "::gcp-platform::", 1), "no Pulumi project named"),
        (CLUSTER_URN.replace("prod-eu::", "no-such-stack::", 1), "no stack 'no-such-stack'"),
        (CLUSTER_URN.replace("prod-zone-ew4", "prod-zone-ew9"), "no such resource"),
        ("urn:pulumi:nothing", "not a URN"),
    ],
    ids=["root-stack-type", "old-project", "unknown-stack", "unknown-name", "malformed"],
)
def test_a_stale_urn_is_caught(urn: str, fragment: str) -> None:
    problem = urn_problem(urn)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        ("pulumi upp -s staging", "is not a Pulumi CLI command"),
        ("pulumi up -s staging --taget x", "--taget is not a flag of `pulumi up`"),
        ("pulumi preview -s no-such-stack", "no stack 'no-such-stack'"),
        ("pulumi import -s staging --file import.json", "no such file"),
        (
            "pulumi preview -s staging --policy-pack-config policy/config/staging.json",
            "no such file",
        ),
        ("pulumi config set platform:clustres x -s staging", "platform:clustres is not declared"),
        (f"pulumi state unprotect -s staging '{CLUSTER_URN}'", "of another stack"),
        ("pulumi up -s staging 'unbalanced", "cannot be parsed"),
        # The day-0 bootstrap project (docs/bootstrap.md): -C moves to bootstrap/.
        ("pulumi -C bootstrap stack init no-such-stack", "no stack 'no-such-stack' in bootstrap"),
        (
            "pulumi -C bootstrap config set bootstrap:githubRepo x -s staging",
            "is not declared in bootstrap/Pulumi.yaml",
        ),
        ("pulumi -C bootstrapp up -s staging", "has no Pulumi.yaml"),
    ],
)
def test_a_broken_command_is_caught(command: str, fragment: str) -> None:
    problems = command_problems(command)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "command",
    [
        f"pulumi state unprotect -s prod-eu '{CLUSTER_URN}'",
        "pulumi preview -s staging --policy-pack policy --policy-pack-config build/staging/policy-config.json",
        "pulumi config set --path 'platform:clusters[1].nodePools[0].maxNodes' 6 -s staging",
        "pulumi up -s <stack> --target '<a URN printed by make import-file>'",
        "pulumi stack init prod-eu --secrets-provider gcpkms://projects/p/locations/l/keyRings/k/cryptoKeys/c",
        "pulumi login gs://acme-platform-staging-pulumi-state",
        "pulumi -C bootstrap stack init staging",
        "pulumi -C bootstrap up -s prod-eu",
        "pulumi -C bootstrap config set bootstrap:githubRepositoryOwnerId 4242 -s staging",
    ],
)
def test_a_correct_command_passes(command: str) -> None:
    assert command_problems(command, REPO_ROOT) == []
