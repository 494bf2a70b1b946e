"""The PR diff opens with every delete or replace of a protected, retained or stateful
resource and everything it takes with it; a BASE that names no commit is an error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from offline import diff
from offline.engine import REPO_ROOT, Plan, stack_config
from tests.support import plan_of, plan_with, session_plan_stack

CLUSTER = "gcp:container/cluster:Cluster"
PROVIDER = "pulumi:providers:kubernetes"


def _with_cluster(stack: str, index: int, **changes: object) -> Plan:
    clusters = [dict(c) for c in stack_config(stack)["platform:clusters"]]
    clusters[index] = {**clusters[index], **changes}
    return plan_with(stack, {"platform:clusters": clusters})


def _moved_control_plane() -> tuple[Plan, diff.StackDiff]:
    """A new control-plane range replaces prod-zone-ew1 in place: same name, same location, so
    the mock's endpoint (and kubeconfig) is unchanged; only the engine's rules tell."""
    ranges = dict(stack_config("prod-eu")["platform:clusters"][1]["ranges"])
    head = _with_cluster("prod-eu", 1, ranges={**ranges, "controlPlane": "172.16.9.0/28"})
    return head, diff.compare(plan_of("prod-eu"), head)


def test_a_replaced_cluster_replaces_its_provider_and_every_object_deployed_through_it():
    head, result = _moved_control_plane()
    replaced = {c.resource.urn: c for c in result.replaced}
    cluster = head.one(CLUSTER, "prod-zone-ew1")
    provider = head.one(PROVIDER, "prod-zone-ew1-k8s")
    assert replaced[cluster.urn].replacing == ["privateClusterConfig.masterIpv4CidrBlock"]
    assert provider.urn in replaced, "its kubeconfig is unknown in preview: DiffConfig replaces"
    in_cluster = [r for r in head.resources if r.provider_urn == provider.urn]
    assert in_cluster
    for resource in in_cluster:
        assert resource.urn in replaced, resource.urn
        assert replaced[resource.urn].via in (provider.urn, cluster.urn)
    [loss] = result.losses
    assert loss.resource == cluster
    taken = {r.urn for r in loss.taken}
    assert {r.urn for r in in_cluster} | {provider.urn} <= taken
    assert {
        r.urn for r in head.of_type("gcp:container/nodePool:NodePool") if "ew1" in r.name
    } <= taken
    assert not {c.resource.urn for c in result.updated} & {r.urn for r in in_cluster}
    # The other clusters' objects are untouched.
    other = head.one(PROVIDER, "prod-zone-ew4-k8s")
    assert other.urn not in replaced


def test_diff_md_starts_with_the_losses_and_lists_what_each_takes_with_it():
    head, result = _moved_control_plane()
    markdown = diff.render_markdown(result, "main")
    assert markdown.startswith("> [!CAUTION]\n")
    loud = markdown[: markdown.index("### Offline plan diff")]
    assert "**REPLACE** `gcp:container/cluster:Cluster` **prod-zone-ew1**" in loud
    provider = head.one(PROVIDER, "prod-zone-ew1-k8s")
    for resource in head.resources:
        if resource.provider_urn == provider.urn:
            assert f"`{resource.type}` {resource.name}\n" in loud, resource.name
    assert "prod-zone-ew4-kuma-zone" not in loud
    # One entry per cause: what goes with the cluster is not listed again on its own.
    assert loud.count("**REPLACE**") == 1
    text = diff.render_text(result, "main")
    assert text.startswith("!! 1 protected, retained or stateful resource(s)")


def test_a_removed_secret_entry_is_called_out_as_left_behind_with_its_version():
    config = stack_config("staging")
    secrets = [s for s in config["platform:secrets"] if s["id"] != "backup-encryption-key"]
    result = diff.compare(plan_of("staging"), plan_with("staging", {"platform:secrets": secrets}))
    [loss] = [x for x in result.losses if x.resource.type == "gcp:secretmanager/secret:Secret"]
    assert (loss.operation, loss.resource.name) == ("delete", "backup-encryption-key")
    assert {r.type for r in loss.taken} >= {"gcp:secretmanager/secretVersion:SecretVersion"}
    markdown = diff.render_markdown(result, "main")
    assert "left in the cloud unmanaged (retainOnDelete)" in markdown.split("###")[0]


def test_a_changed_generator_length_is_a_rotation_with_a_new_version():
    config = stack_config("staging")
    secrets = [
        {**s, "generated": {**s["generated"], "length": 40}}
        if s["id"] == "catalog-db-password"
        else s
        for s in config["platform:secrets"]
    ]
    result = diff.compare(plan_of("staging"), plan_with("staging", {"platform:secrets": secrets}))
    [loss] = result.losses
    assert (loss.resource.type, loss.resource.name) == (
        "random:index/randomPassword:RandomPassword",
        "catalog-db-password",
    )
    assert [r.type for r in loss.taken] == ["gcp:secretmanager/secretVersion:SecretVersion"]


def test_an_unchanged_plan_has_no_loud_section():
    result = diff.compare(plan_of("staging"), plan_of("staging"))
    assert result.losses == []
    assert diff.render_markdown(result, "main").startswith("### Offline plan diff")


def test_an_unknown_base_is_one_message_and_exit_2(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "offline.diff", "staging", "--base", "no-such-ref-8d1f",
         "--out", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1, completed.stderr
    assert "no-such-ref-8d1f" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "diff.md").exists(), "nothing that looks like '105 added'"


def test_a_base_that_predates_the_stack_shows_everything_added(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(diff, "plan_ref", lambda stack, ref: None)
    monkeypatch.setattr(diff, "plan_stack", session_plan_stack)
    assert diff.main(["staging", "--base", "HEAD", "--out", str(tmp_path)]) == 0
    assert "does not exist at HEAD" in (tmp_path / "diff.txt").read_text()


def _repo(tmp_path, files: dict[str, str]):
    repo = tmp_path / "repo"
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return repo


def test_a_base_whose_planner_fails_is_an_error_naming_the_reason(tmp_path):
    repo = _repo(tmp_path, {
        "Pulumi.staging.yaml": "config: {}\n",
        "offline/__init__.py": "",
        "offline/plan.py": "import sys\nsys.exit('boom: the base cannot plan')\n",
    })  # fmt: skip
    # Not "everything added": that is what a mistyped or broken base used to look like.
    with pytest.raises(diff.BaseRefError, match="boom: the base cannot plan"):
        diff.plan_ref("staging", "HEAD", repo)


def test_a_base_without_the_stack_file_is_planned_as_empty(tmp_path):
    repo = _repo(tmp_path, {"README.md": "no stacks yet\n"})
    assert diff.plan_ref("staging", "HEAD", repo) is None


def test_a_region_move_is_one_loss_the_cluster_with_its_pools_and_everything_in_it():
    head = _with_cluster("prod-eu", 1, region="europe-west3")
    result = diff.compare(plan_of("prod-eu"), head)
    losses = {(loss.resource.type, loss.resource.name): loss for loss in result.losses}
    # Besides the cluster, only the zone's mesh gateway address: a regional reservation cannot
    # move, so the gateway gets a new address (and its DNS record must follow).
    assert set(losses) == {
        (CLUSTER, "prod-zone-ew1"),
        ("gcp:compute/address:Address", "prod-zone-ew1-mesh-gateway"),
    }
    loss = losses[CLUSTER, "prod-zone-ew1"]
    taken = {(r.type, r.name) for r in loss.taken}
    assert ("gcp:container/nodePool:NodePool", "prod-zone-ew1-workloads") in taken
    provider = head.one(PROVIDER, "prod-zone-ew1-k8s")
    in_cluster = [r for r in head.resources if r.provider_urn == provider.urn]
    assert in_cluster
    assert {(r.type, r.name) for r in in_cluster} <= taken
    # Each is replaced: for an input of its own that forces it (a ConfigMap holding the
    # region), or along with its provider, whose kubeconfig comes from the replaced cluster (the
    # engine's provider cascade, offline/diff.py `cascade`), which most of them need.
    replaced = {c.resource.urn: c for c in result.replaced}
    for resource in in_cluster:
        change = replaced[resource.urn]
        assert change.replacing or change.via in (provider.urn, loss.resource.urn), resource.urn
    assert sum(replaced[r.urn].via == provider.urn for r in in_cluster) > len(in_cluster) / 2
