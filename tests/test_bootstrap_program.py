"""The day-0 bootstrap program (bootstrap/) under the same harness and engine rules as
the platform: one stack per environment project, the state bucket and secrets key the platform
stacks use, protected, in the stack's residency region, readable by the preview identity and
writable by the deployer only."""

from __future__ import annotations

import copy
import shutil
from urllib.parse import urlparse

import pytest

from day0 import names
from day0.config import BootstrapConfigError
from offline import doc_commands
from offline import plan as plan_cli
from offline.engine import DELETE, REPO_ROOT, PlanFailed, plan_stack
from offline.pulumi_project import EngineRuleError, load_project, stacks
from tests.support import BOOTSTRAP_STACKS, STACKS, bootstrap_plan_of, plan_of

BOOTSTRAP = REPO_ROOT / "bootstrap"
BUCKET = "gcp:storage/bucket:Bucket"
KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"


def test_each_bootstrap_stack_is_a_platform_stacks_project_and_region():
    """A bootstrap stack prepares the project of the platform stack of the same name. A platform
    stack may come first (adding an environment is its stack file and its GitOps folder, docs/
    environments.md); its day 0 then adds bootstrap/Pulumi.<stack>.yaml (docs/bootstrap.md)."""
    assert stacks(BOOTSTRAP) == BOOTSTRAP_STACKS
    assert BOOTSTRAP_STACKS, "the repository's environments are bootstrapped"
    assert set(BOOTSTRAP_STACKS) <= set(STACKS), "a bootstrap stack without its platform stack"
    for stack in BOOTSTRAP_STACKS:
        platform, bootstrap = plan_of(stack).config, bootstrap_plan_of(stack).config
        assert bootstrap["gcp:project"] == platform["gcp:project"]
        assert bootstrap["gcp:region"] == platform["gcp:region"]
        # The trusted repository is the one Flux syncs (the platform's own repository).
        repository_url = platform["platform:gitops"]["repositoryUrl"]
        path = urlparse(repository_url).path.removesuffix(".git").strip("/")
        assert bootstrap["bootstrap:githubRepository"] == path


def test_make_plan_bootstrap_plans_the_bootstrap_project(tmp_path, capsys):
    """`make plan-bootstrap STACK=x` runs offline.plan with --project-dir bootstrap."""
    status = plan_cli.main(
        ["staging", "--project-dir", str(BOOTSTRAP), "--out", str(tmp_path), "--quiet"]
    )
    assert status == 0, capsys.readouterr()
    written = (tmp_path / "plan.json").read_text()
    assert '"project": "bootstrap"' in written
    assert "gcp:storage/bucket:Bucket" in written


def test_make_plan_bootstrap_locates_a_bad_value_in_the_stack_file(tmp_path, capsys):
    project = tmp_path / "bootstrap"
    shutil.copytree(BOOTSTRAP, project, ignore=shutil.ignore_patterns("__pycache__"))
    stack_file = project / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("acme/gcp-platform", "not a repository"))
    status = plan_cli.main(
        ["staging", "--project-dir", str(project), "--out", str(tmp_path / "out")]
    )
    assert status == 2
    line = next(
        number
        for number, text in enumerate(stack_file.read_text().splitlines(), 1)
        if "bootstrap:githubRepository" in text
    )
    assert f"Pulumi.staging.yaml:{line}: bootstrap:githubRepository:" in capsys.readouterr().err


def test_the_project_name_is_its_config_namespace():
    project = load_project(BOOTSTRAP)
    assert project.name == "bootstrap"
    assert {key.split(":")[0] for key in project.config} <= {"bootstrap"}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_plans_cleanly(stack: str):
    plan = bootstrap_plan_of(stack)
    assert plan.error is None
    assert plan.warnings == []


def test_every_bootstrap_plan_of_is_a_copy_of_its_own():
    before, plan = copy.deepcopy(bootstrap_plan_of("staging")), bootstrap_plan_of("staging")
    assert plan == before
    plan.registrations[-1].inputs.clear()
    plan.config.clear()
    assert plan != before
    assert bootstrap_plan_of("staging") == before


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_state_bucket_and_key_are_protected(stack: str):
    plan = bootstrap_plan_of(stack)
    for type_ in (BUCKET, KEY, RING):
        (resource,) = plan.of_type(type_)
        assert resource.protect, type_


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_state_bucket(stack: str):
    plan = bootstrap_plan_of(stack)
    project, region = plan.config["gcp:project"], plan.config["gcp:region"]
    (bucket,) = plan.of_type(BUCKET)
    assert bucket.inputs["name"] == f"{project}-pulumi-state"
    assert bucket.inputs["location"] == region.upper()
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["forceDestroy"] is False
    (rule,) = bucket.inputs["lifecycleRules"]
    assert rule["action"] == {"type": "Delete"}
    # Only non-current versions, only when old AND with enough newer ones (ANDed conditions).
    assert rule["condition"] == {
        "withState": "ARCHIVED",
        "daysSinceNoncurrentTime": names.NONCURRENT_DAYS,
        "numNewerVersions": names.NEWER_VERSIONS_KEPT,
    }
    assert plan.stack_outputs["backendUrl"] == f"gs://{project}-pulumi-state"


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_secrets_key_is_the_platform_secrets_provider(stack: str):
    plan = bootstrap_plan_of(stack)
    project, region = plan.config["gcp:project"], plan.config["gcp:region"]
    (ring,), (key,) = plan.of_type(RING), plan.of_type(KEY)
    assert (ring.inputs["name"], ring.inputs["location"]) == ("pulumi", region)
    assert key.inputs["name"] == "state"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert int(key.inputs["rotationPeriod"].removesuffix("s")) <= 90 * 24 * 3600
    provider = plan.stack_outputs["secretsProvider"]
    assert provider == (
        f"gcpkms://projects/{project}/locations/{region}/keyRings/pulumi/cryptoKeys/state"
    )
    # The URL names the key the plan creates: its id, as the key's IAM grants reference it.
    key_ids = {m.inputs["cryptoKeyId"] for m in plan.of_type(KEY_MEMBER)}
    assert key_ids == {provider.removeprefix("gcpkms://")}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_state_access_per_identity(stack: str):
    plan = bootstrap_plan_of(stack)
    member = {a.inputs["accountId"]: a.outputs["member"] for a in plan.of_type(ACCOUNT)}
    bucket_grants = {(m.inputs["member"], m.inputs["role"]) for m in plan.of_type(BUCKET_MEMBER)}
    key_grants = {(m.inputs["member"], m.inputs["role"]) for m in plan.of_type(KEY_MEMBER)}
    assert bucket_grants == {
        (member["platform-deployer"], "roles/storage.objectAdmin"),
        (member["platform-preview"], "roles/storage.objectViewer"),
        (member["platform-drift"], "roles/storage.objectViewer"),
    }
    assert key_grants == {
        (member["platform-deployer"], "roles/cloudkms.cryptoKeyEncrypterDecrypter"),
        (member["platform-preview"], "roles/cloudkms.cryptoKeyDecrypter"),
        (member["platform-drift"], "roles/cloudkms.cryptoKeyDecrypter"),
    }


def test_the_apis_the_bootstrap_needs():
    services = {r.inputs["service"] for r in bootstrap_plan_of("staging").of_type(
        "gcp:projects/service:Service"
    )}  # fmt: skip
    assert {
        "serviceusage.googleapis.com",
        "iam.googleapis.com",
        "iamcredentials.googleapis.com",
        "sts.googleapis.com",
        "cloudkms.googleapis.com",
        "storage.googleapis.com",
        "cloudresourcemanager.googleapis.com",
    } <= services


def test_a_missing_repository_is_refused_before_the_program_runs():
    with pytest.raises(PlanFailed) as failed:
        plan_stack("staging", {"bootstrap:githubRepository": DELETE}, repo=BOOTSTRAP)
    assert isinstance(failed.value.error, EngineRuleError)
    assert "bootstrap:githubRepository" in str(failed.value.error)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"bootstrap:githubRepository": "acme"}, "bootstrap:githubRepository"),
        ({"bootstrap:githubRepositoryOwnerId": "acme"}, "bootstrap:githubRepositoryOwnerId"),
        ({"gcp:project": "Acme_Platform"}, "gcp:project"),
    ],
)
def test_bad_config_names_the_key(overrides: dict[str, str], fragment: str):
    with pytest.raises(PlanFailed) as failed:
        plan_stack("staging", overrides, repo=BOOTSTRAP)
    assert isinstance(failed.value.error, BootstrapConfigError)
    assert any(p.startswith(fragment + ":") for p in failed.value.error.problems)
    assert failed.value.plan.resources == []


def test_the_day0_runbook_uses_what_the_bootstrap_creates():
    """docs/bootstrap.md logs in to the bucket and inits the platform stack with the key the
    staging bootstrap plan outputs, after bootstrapping with `-C bootstrap`."""
    runbook = [c.text for c in doc_commands.commands(REPO_ROOT / "docs" / "bootstrap.md")]
    outputs = bootstrap_plan_of("staging").stack_outputs
    assert "pulumi -C bootstrap stack init staging" in runbook
    assert "pulumi -C bootstrap up -s staging" in runbook
    assert f"pulumi login {outputs['backendUrl']}" in runbook
    platform_init = f"pulumi stack init staging --secrets-provider {outputs['secretsProvider']}"
    assert platform_init in runbook
    assert runbook.index("pulumi -C bootstrap up -s staging") < runbook.index(platform_init)


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_names_ci_relies_on(stack: str):
    """The contract with docs/ci.md and the workflows (bootstrap/day0/names.py)."""
    plan = bootstrap_plan_of(stack)
    project = plan.config["gcp:project"]
    outputs = plan.stack_outputs
    assert outputs["deployServiceAccount"] == f"platform-deployer@{project}.iam.gserviceaccount.com"
    assert outputs["previewServiceAccount"] == f"platform-preview@{project}.iam.gserviceaccount.com"
    assert outputs["driftServiceAccount"] == f"platform-drift@{project}.iam.gserviceaccount.com"
    assert outputs["stateBucket"] == f"{project}-pulumi-state"
    assert outputs["workloadIdentityProvider"].endswith(
        "/locations/global/workloadIdentityPools/github/providers/github-actions"
    )
    assert outputs["workloadIdentityProvider"].startswith("projects/")
