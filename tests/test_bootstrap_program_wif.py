"""The GitHub trust admits this repository only; the deployer is impersonable only from
the protected branch in the GitHub environment named like the stack, the preview identity only
from pull requests. Evaluated on the exact strings the plan sends to the provider
(tests/wif_cel.py), then matched against the principal sets of the impersonation bindings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from day0 import names, wif
from offline.engine import DELETE, REPO_ROOT, Plan, plan_stack
from tests.support import BOOTSTRAP_STACKS, bootstrap_plan_of
from tests.wif_cel import CelSyntaxError, MissingClaim, evaluate

REPO = "acme/gcp-platform"
PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"


def token(**claims: Any) -> dict[str, Any]:
    """A GitHub Actions token's claims (docs.github.com/en/actions/reference/security/oidc);
    `environment` only when given, as GitHub omits it for jobs without one."""
    base = {
        "iss": names.GITHUB_ISSUER,
        "repository": REPO,
        "repository_owner_id": "4242",
        "ref": "refs/heads/main",
        "event_name": "push",
    }
    base.update(claims)
    base.setdefault(
        "sub",
        f"repo:{base['repository']}:"
        + (f"environment:{base['environment']}" if "environment" in base else f"ref:{base['ref']}"),
    )
    return {k: v for k, v in base.items() if v is not None}


def impersonable(plan: Plan, claims: dict[str, Any]) -> set[str]:
    """Which service accounts (account ids) the token may impersonate, or empty when the
    provider rejects it: condition, then mapping, then the principalSet bindings."""
    provider = plan.of_type(PROVIDER)[0]
    condition = provider.inputs.get("attributeCondition")
    assert condition, "the provider must have an attribute condition"
    if not evaluate(condition, {"assertion": claims}):
        return set()
    mapped = {
        key: evaluate(expression, {"assertion": claims})
        for key, expression in provider.inputs["attributeMapping"].items()
    }
    pool_name = plan.of_type(POOL)[0].outputs["name"]
    principals = {
        f"principalSet://iam.googleapis.com/{pool_name}/attribute.{key.removeprefix('attribute.')}/{value}"
        for key, value in mapped.items()
        if key.startswith("attribute.")
    }
    accounts = {a.outputs["name"]: a.inputs["accountId"] for a in plan.of_type(ACCOUNT)}
    return {
        accounts[binding.inputs["serviceAccountId"]]
        for binding in plan.of_type(SA_MEMBER)
        if binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        and binding.inputs["member"] in principals
    }


DEPLOYER, PREVIEW, DRIFT = {names.DEPLOYER_ACCOUNT}, {names.PREVIEW_ACCOUNT}, {names.DRIFT_ACCOUNT}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
@pytest.mark.parametrize(
    ("case", "claims", "expected"),
    [
        ("deploy job on main", {"environment": "{stack}"}, DEPLOYER),
        ("manual deploy on main", {"environment": "{stack}", "event_name": "workflow_dispatch"}, DEPLOYER),
        ("pull request preview", {"ref": "refs/pull/7/merge", "event_name": "pull_request"}, PREVIEW),
        ("PR job claiming the environment", {"ref": "refs/pull/7/merge", "event_name": "pull_request", "environment": "{stack}"}, PREVIEW),
        ("scheduled drift check on main", {"event_name": "schedule"}, DRIFT),
        ("weekly scheduled deploy on main", {"event_name": "schedule", "environment": "{stack}"}, DEPLOYER | DRIFT),
        ("schedule on another branch", {"event_name": "schedule", "ref": "refs/heads/feature"}, set()),
        ("manual run on main without environment", {"event_name": "workflow_dispatch"}, set()),
        ("manual run on another branch", {"event_name": "workflow_dispatch", "ref": "refs/heads/feature"}, set()),
        ("schedule of another repository", {"repository": "evil/gcp-platform", "event_name": "schedule"}, set()),
        ("other branch in the environment", {"ref": "refs/heads/feature", "environment": "{stack}"}, set()),
        ("tag in the environment", {"ref": "refs/tags/v1.0.0", "environment": "{stack}"}, set()),
        ("main without environment", {}, set()),
        ("main in another stack's environment", {"environment": "other-env"}, set()),
        # pr.yml's prod gate waits in `<stack>-approval`: nothing is bound to it.
        ("main in the approval environment", {"environment": "{stack}" + names.APPROVAL_ENVIRONMENT_SUFFIX}, set()),
        ("PR gate in the approval environment", {"ref": "refs/pull/7/merge", "event_name": "pull_request", "environment": "{stack}" + names.APPROVAL_ENVIRONMENT_SUFFIX}, PREVIEW),
        ("other repository, main, environment", {"repository": "evil/gcp-platform", "environment": "{stack}"}, set()),
        ("other repository, pull request", {"repository": "acme/other", "ref": "refs/pull/1/merge", "event_name": "pull_request"}, set()),
        ("prefix-alike repository", {"repository": "acme/gcp-platform-fork", "environment": "{stack}"}, set()),
    ],
)  # fmt: skip
def test_who_may_impersonate_what(
    stack: str, case: str, claims: dict[str, Any], expected: set[str]
):
    plan = bootstrap_plan_of(stack)
    claims = {k: v.format(stack=stack) if isinstance(v, str) else v for k, v in claims.items()}
    assert impersonable(plan, token(**claims)) == expected, case


def test_the_owner_id_when_configured_is_required_too():
    plan = plan_stack(
        "staging",
        {"bootstrap:githubRepositoryOwnerId": "4242"},
        repo=REPO_ROOT / "bootstrap",
    )
    assert impersonable(plan, token(environment="staging")) == DEPLOYER
    assert impersonable(plan, token(environment="staging", repository_owner_id="999")) == set()
    without = plan_stack(
        "staging", {"bootstrap:githubRepositoryOwnerId": DELETE}, repo=REPO_ROOT / "bootstrap"
    )
    assert "repository_owner_id" not in without.of_type(PROVIDER)[0].inputs["attributeCondition"]


def test_the_provider_trusts_github_actions_and_maps_the_claims_the_bindings_use():
    provider = bootstrap_plan_of("staging").of_type(PROVIDER)[0]
    assert provider.inputs["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["workloadIdentityPoolProviderId"] == "github-actions"
    assert provider.inputs["workloadIdentityPoolId"] == "github"
    mapping = provider.inputs["attributeMapping"]
    for claim in ("repository", "repository_owner_id", "ref", "environment", "event_name"):
        assert f"assertion.{claim}" in mapping[f"attribute.{claim}"]
    assert evaluate(
        mapping["attribute.event_ref"], {"assertion": token(event_name="schedule")}
    ) == ("schedule:refs/heads/main")
    assert mapping["google.subject"] == "assertion.sub"


def test_every_mapping_evaluates_for_a_token_without_environment():
    """A PR or a plain push has no `environment` claim; a mapping that reads it unguarded would
    fail the exchange. The evaluator treats a missing claim as CEL does (this can fail)."""
    pr = token(ref="refs/pull/1/merge", event_name="pull_request")
    for expression in wif.ATTRIBUTE_MAPPING.values():
        evaluate(expression, {"assertion": pr})
    with pytest.raises(MissingClaim):
        evaluate("assertion.environment", {"assertion": pr})


def test_the_evaluator_refuses_what_it_does_not_know():
    with pytest.raises(CelSyntaxError):
        evaluate("assertion.ref.startsWith('refs/heads/')", {"assertion": token()})


def test_the_deployer_binding_is_the_stack_environment_on_the_protected_branch():
    pool = "projects/1/locations/global/workloadIdentityPools/github"
    assert wif.deployer_principal_set(pool, "prod-eu") == (
        f"principalSet://iam.googleapis.com/{pool}/attribute.ref_environment/refs/heads/main:prod-eu"
    )


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
@pytest.mark.parametrize(
    ("account", "principal"),
    [
        # PR previews: pull_request events only (the PR's own code runs as this identity).
        (names.PREVIEW_ACCOUNT, "attribute.event_name/pull_request"),
        # The drift check (it reads secret material): scheduled runs of the protected branch only.
        (names.DRIFT_ACCOUNT, "attribute.event_ref/schedule:refs/heads/main"),
    ],
)
def test_the_read_only_identities_have_exactly_one_way_in(stack: str, account: str, principal: str):
    """Nothing else binds the preview or the drift account."""
    plan = bootstrap_plan_of(stack)
    pool = plan.of_type(POOL)[0].outputs["name"]
    sa = next(a for a in plan.of_type(ACCOUNT) if a.inputs["accountId"] == account)
    members = {
        b.inputs["member"]
        for b in plan.of_type(SA_MEMBER)
        if b.inputs["serviceAccountId"] == sa.outputs["name"]
        and b.inputs["role"] == "roles/iam.workloadIdentityUser"
    }
    assert members == {f"principalSet://iam.googleapis.com/{pool}/{principal}"}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_provider_stays_within_googles_limits(stack: str):
    """attributeMapping / attributeCondition limits of the IAM API reference
    (projects.locations.workloadIdentityPools.providers): custom attribute names [a-z0-9_] up to
    100 characters, at most 50 of them, expressions up to 2048 characters, the condition up to
    4096."""
    provider = bootstrap_plan_of(stack).of_type(PROVIDER)[0]
    mapping = provider.inputs["attributeMapping"]
    custom = [key.removeprefix("attribute.") for key in mapping if key.startswith("attribute.")]
    assert len(custom) <= 50
    assert all(re.fullmatch(r"[a-z0-9_]{1,100}", name) for name in custom), custom
    assert all(len(expression) <= 2048 for expression in mapping.values())
    assert len(provider.inputs["attributeCondition"]) <= 4096
