"""make plan / diff / import-file and the disaster-recovery drills, offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from offline import diff, estimate, import_file
from offline.engine import REPO_ROOT, Plan, plan_stack, stack_config
from offline.plan import main as plan_main
from offline.plan import render_tree
from tests.support import STACKS, plan_of, plan_with, session_plan_stack


# -- make plan -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_plan_cli_prints_tree_counts_estimate_and_writes_plan_json(
    stack, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("offline.plan.plan_stack", session_plan_stack)
    assert plan_main([stack, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "platform:gke:Cluster" in printed
    assert "resources in total" in printed
    assert "Estimated `pulumi up` from an empty project" in printed
    assert "No problems found." in printed
    written = Plan.from_json(json.loads((tmp_path / "plan.json").read_text()))
    assert [r.urn for r in written.registrations] == [r.urn for r in plan_of(stack).registrations]


def test_plan_cli_reports_a_config_error_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "offline.plan.plan_stack", lambda stack: plan_stack(stack, {"gcp:region": "europe-west99"})
    )
    assert plan_main(["staging", "--out", str(tmp_path)]) == 2
    assert "gcp:region" in capsys.readouterr().err


def test_tree_nests_children_under_their_component():
    lines = render_tree(plan_of("staging"))
    cluster_line = next(
        i for i, line in enumerate(lines) if "platform:gke:Cluster  stg-global" in line
    )
    assert "gcp:container/cluster:Cluster  stg-global" in lines[cluster_line + 1] or any(
        "gcp:container/cluster:Cluster  stg-global" in line
        for line in lines[cluster_line + 1 : cluster_line + 6]
    )


# -- estimate --------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_critical_path_runs_from_an_api_to_the_bootstrap(stack):
    result = estimate.critical_path(plan_of(stack))
    types = [r.type for r, _ in result.chain]
    assert types[0] == "gcp:projects/service:Service"
    assert "gcp:container/cluster:Cluster" in types and "gcp:container/nodePool:NodePool" in types
    finishes = [finished for _, finished in result.chain]
    assert finishes == sorted(finishes)
    assert result.total_seconds == finishes[-1]
    # Serial sum of every latency is far longer: the estimate credits parallelism.
    serial = sum(estimate.latency(r).seconds for r in plan_of(stack).registrations)
    assert 15 * 60 < result.total_seconds < serial


def test_every_planned_type_has_a_latency_figure():
    for stack in STACKS:
        for resource in plan_of(stack).registrations:
            assert estimate.latency(resource).source


def test_estimate_follows_dependencies():
    """Dropping the node pools' wait would shorten the path: the estimate reads the real graph."""
    plan = plan_of("staging")
    trimmed = Plan(plan.stack, plan.project, plan.config, [
        r for r in plan.registrations if r.type != "gcp:container/nodePool:NodePool"
    ], {})  # fmt: skip
    assert (
        estimate.critical_path(trimmed).total_seconds < estimate.critical_path(plan).total_seconds
    )


# -- make diff -------------------------------------------------------------------------------------
def test_diff_of_identical_plans_is_empty():
    result = diff.compare(plan_of("staging"), plan_of("staging"))
    assert result.empty
    assert "No changes." in diff.render_text(result, "main")


def test_diff_calls_out_replaced_clusters_first_and_cascades_through_the_provider():
    base = plan_of("prod-eu")
    config = stack_config("prod-eu")
    clusters = [dict(c) for c in config["platform:clusters"]]
    clusters[1] = {**clusters[1], "region": "europe-west3"}
    head = plan_with("prod-eu", {"platform:clusters": clusters})
    result = diff.compare(base, head)
    first = result.replaced[0]
    assert first.critical
    replaced = {(c.resource.type, c.resource.name) for c in result.replaced}
    assert ("gcp:container/cluster:Cluster", "prod-zone-ew1") in replaced
    assert ("gcp:compute/subnetwork:Subnetwork", "prod-zone-ew1") in replaced
    # Everything deployed through the moved cluster's provider goes with it.
    assert ("kubernetes:helm.sh/v3:Release", "prod-zone-ew1-kuma-zone") in replaced
    text = diff.render_text(result, "main")
    assert text.index("!!   REPLACE gcp:container/cluster:Cluster prod-zone-ew1 (protected)") < (
        text.index("Offline diff of stack")
    )
    markdown = diff.render_markdown(result, "main")
    assert "[!CAUTION]" in markdown and "prod-zone-ew1" in markdown


def test_diff_reports_in_place_updates_with_their_inputs():
    config = stack_config("staging")
    clusters = [dict(c) for c in config["platform:clusters"]]
    first, *others = clusters[1]["nodePools"]
    pools = [{**first, "maxNodes": 6}, *others]
    clusters[1] = {**clusters[1], "nodePools": pools}
    result = diff.compare(plan_of("staging"), plan_with("staging", {"platform:clusters": clusters}))
    assert not result.replaced
    [change] = result.updated
    assert change.resource.name == "stg-zone-ew1-workloads"
    assert change.changed == ["autoscaling.totalMaxNodeCount"]


def _commit_beside_head(path: str, old: str, new: str, scratch: Path) -> str:
    """A commit whose parent is HEAD and whose tree is HEAD's with `old` -> `new` in `path`,
    written with a scratch index: the working tree, the index and every ref stay as they are."""
    env = {
        **os.environ,
        "GIT_INDEX_FILE": str(scratch / "index"),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }

    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

    text = git("show", f"HEAD:{path}")
    assert old in text, old
    git("read-tree", "HEAD")
    blob = git("hash-object", "-w", "--stdin", stdin=text.replace(old, new))
    git("update-index", "--cacheinfo", f"100644,{blob},{path}")
    return git("commit-tree", git("write-tree"), "-p", "HEAD", "-m", "diff test base")


def test_diff_against_a_git_ref_plans_that_revision(tmp_path, capsys, monkeypatch):
    """End to end through `git worktree`: the base revision's own planner plans it (`python -m
    offline.plan` in the worktree). The base is HEAD with another cost-center label, so the diff
    shows exactly that revision's difference (a base that was ignored, or planned from the
    working tree, would show none). In process: the command line itself runs in test_diff.py.
    The working tree's side is the session's plan of the same stack file
    (tests.support.session_plan_stack)."""
    monkeypatch.setattr(diff, "plan_stack", session_plan_stack)
    base = _commit_beside_head(
        "Pulumi.staging.yaml", "cost-center: cc-4120", "cost-center: cc-0000", tmp_path
    )
    out = tmp_path / "out"
    assert diff.main(["staging", "--base", base, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Offline diff of stack staging against {base}" in printed
    markdown = (out / "diff.md").read_text()
    assert markdown.startswith("### Offline plan diff")  # no losses: no caution
    # The label reaches every labelled resource; the global cluster stands for them.
    assert re.search(
        r"^\| update \| `gcp:container/cluster:Cluster` \| stg-global \| .*"
        r"resourceLabels\.cost-center",
        markdown,
        re.M,
    ), markdown


# -- disaster recovery drills ----------------------------------------------------------------------
ID_PATTERNS = {
    "gcp:projects/service:Service": r"[a-z][-a-z0-9]+/[a-z.]+\.googleapis\.com",
    "gcp:compute/network:Network": r"projects/[^/]+/global/networks/[^/]+",
    "gcp:compute/subnetwork:Subnetwork": r"projects/[^/]+/regions/[^/]+/subnetworks/[^/]+",
    "gcp:compute/firewall:Firewall": r"projects/[^/]+/global/firewalls/[^/]+",
    "gcp:compute/router:Router": r"projects/[^/]+/regions/[^/]+/routers/[^/]+",
    "gcp:compute/routerNat:RouterNat": r"projects/[^/]+/regions/[^/]+/routers/[^/]+/[^/]+",
    "gcp:compute/address:Address": r"projects/[^/]+/regions/[^/]+/addresses/[^/]+",
    "gcp:container/cluster:Cluster": r"projects/[^/]+/locations/[^/]+/clusters/[^/]+",
    "gcp:container/nodePool:NodePool": r"projects/[^/]+/locations/[^/]+/clusters/[^/]+/nodePools/[^/]+",
    "gcp:serviceaccount/account:Account": r"projects/[^/]+/serviceAccounts/[^@]+@[^.]+\.iam\.gserviceaccount\.com",
    "gcp:projects/iAMMember:IAMMember": r"[-a-z0-9]+ roles/\S+ serviceAccount:\S+",
    "gcp:serviceaccount/iAMMember:IAMMember": r"projects/\S+/serviceAccounts/\S+ roles/\S+ serviceAccount:\S+",
    "gcp:secretmanager/secret:Secret": r"projects/[^/]+/secrets/[A-Za-z0-9_-]+",
    "gcp:secretmanager/secretIamMember:SecretIamMember": r"projects/[^/]+/secrets/\S+ roles/\S+ \S+",
    "gcp:kms/keyRing:KeyRing": r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+",
    "gcp:kms/cryptoKey:CryptoKey": r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": r"projects/\S+/cryptoKeys/\S+ roles/\S+ serviceAccount:\S+",
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": r"projects/[^/]+/locations/[^/]+/buckets/[^/]+",
    "gcp:logging/projectSink:ProjectSink": r"projects/[^/]+/sinks/_Default",
    "gcp:compute/forwardingRule:ForwardingRule": r"projects/[^/]+/regions/[^/]+/forwardingRules/[^/]+",
    "gcp:sql/databaseInstance:DatabaseInstance": r"projects/[^/]+/instances/[^/]+",
    "gcp:sql/database:Database": r"projects/[^/]+/instances/[^/]+/databases/[^/]+",
    "gcp:sql/user:User": r"[^/]+/[^/]+/[^/]+",
}


@pytest.mark.parametrize("stack", STACKS)
def test_import_file_covers_every_gcp_resource_with_a_deterministic_id(stack):
    plan = plan_of(stack)
    documents = import_file.build(plan)
    entries = documents.gcp["resources"]
    by_type: dict[str, list[dict[str, object]]] = {}
    for entry in entries:
        by_type.setdefault(str(entry["type"]), []).append(entry)
    for type_, pattern in ID_PATTERNS.items():
        planned = plan.of_type(type_)
        assert len(by_type.get(type_, [])) == len(planned), type_
        for entry in by_type.get(type_, []):
            assert re.fullmatch(pattern, str(entry["id"])), entry
            assert "-id" not in str(entry["id"]) and "<computed>" not in str(entry["id"])
    gcp_types = {r.type for r in plan.resources if r.type.startswith("gcp:")}
    # Ids the cloud chooses: adopted through the manual steps instead; a service identity needs
    # no adoption (get-or-create).
    assert gcp_types - set(ID_PATTERNS) == {
        "gcp:secretmanager/secretVersion:SecretVersion",
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "gcp:monitoring/dashboard:Dashboard",
        "gcp:projects/serviceIdentity:ServiceIdentity",
    } | ({"gcp:monitoring/notificationChannel:NotificationChannel"} & gcp_types)
    manual = "\n".join(step.command for step in documents.manual)
    for resource in plan.resources:
        if resource.type.startswith("gcp:monitoring/"):
            assert f"{resource.type} {resource.name} " in manual


@pytest.mark.parametrize("stack", STACKS)
def test_import_file_has_the_shape_pulumi_import_reads(stack):
    plan = plan_of(stack)
    documents = import_file.build(plan)
    allowed = {
        "type",
        "name",
        "id",
        "parent",
        "provider",
        "logicalName",
        "component",
        "remote",
        "version",
    }
    names: set[str] = set()
    for entry in documents.gcp["resources"]:
        assert set(entry) <= allowed
        assert entry["name"] not in names, "names are the keys parents and providers refer to"
        names.add(str(entry["name"]))
        assert ("id" in entry) != bool(entry.get("component")), entry
    for entry in documents.gcp["resources"]:
        if "parent" in entry:
            assert entry["parent"] in names, "a parent is created by the same file"
    urns = {r.urn for r in plan.registrations}
    kube = documents.kubernetes
    assert set(kube) == {"nameTable", "resources"}
    for entry in kube["resources"]:
        assert set(entry) <= allowed
        assert kube["nameTable"][entry["provider"]] in urns
        assert kube["nameTable"][entry["parent"]] in urns
    # Generated values are adopted by value, never regenerated (that would rotate credentials).
    generated = [s["id"] for s in plan.config["platform:secrets"] if "generated" in s]
    for secret_id in generated:
        assert any(f"RandomPassword {secret_id} " in step.command for step in documents.manual)
        assert any(f"SecretVersion {secret_id} " in step.command for step in documents.manual)


def test_import_file_cli_writes_both_phases(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(import_file, "plan_stack", session_plan_stack)
    assert import_file.main(["staging", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "import-gcp.json").read_text())["resources"]
    assert json.loads((tmp_path / "import-kubernetes.json").read_text())["resources"]
    assert "pulumi import -s staging --file" in capsys.readouterr().out


@pytest.mark.parametrize("stack", STACKS)
def test_rebuild_from_empty_needs_no_input_but_the_declared_external_secrets(stack):
    """The stack file holds every input: no encrypted config to restore, nothing interactive; the
    only values an operator supplies are the external Secret Manager entries."""
    config = stack_config(stack)
    assert not [k for k, v in config.items() if isinstance(v, dict) and "secure" in v]
    plan = plan_of(stack)
    external = {s["id"] for s in config["platform:secrets"] if "external" in s}
    with_values = {
        v.inputs["secret"].rsplit("/", 1)[-1]
        for v in plan.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    }
    all_ids = {s["id"] for s in config["platform:secrets"]}
    assert all_ids - with_values == external


def test_dr_runbook_names_every_scenario_and_command():
    runbook = (REPO_ROOT / "docs" / "disaster-recovery.md").read_text()
    for needle in (
        "## A cluster is lost",
        "## A region is lost",
        "## The Pulumi state is lost",
        "## The state backend",
        "RTO",
        "RPO",
        "make import-file STACK=",
        "PULUMI_K8S_DELETE_UNREACHABLE",
        "gcloud secrets versions add",
    ):
        assert needle in runbook, needle


def test_docs_exist():
    for doc in ("architecture.md", "configuration.md", "disaster-recovery.md", "operations.md"):
        assert (Path(REPO_ROOT) / "docs" / doc).is_file(), doc
