"""Least privilege: the CI identities' roles are derived from the platform plan.

bootstrap/day0/permissions.py maps every resource type of the platform program to the IAM
permissions its read / create / update / delete need. These tests fail when the platform gains a
type without an entry, when an identity holds anything outside the table, when the preview
identity could change anything, and when IAM grants are not limited to the platform's
roles.
"""

from __future__ import annotations

import re

import pytest

from day0 import names, permissions
from offline.engine import Plan
from tests.support import BOOTSTRAP_STACKS, STACKS, bootstrap_plan_of, plan_of

CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
# Verbs that only read (IAM permission names end in the verb). `connect` only reaches a
# cluster's DNS endpoint; what may be done there is decided by the container.<kind> permissions.
# `access` is Secret Manager's read of a version's payload (secretmanager.versions.access,
# https://cloud.google.com/secret-manager/docs/access-control#permissions).
READ_VERBS = {"get", "list", "getIamPolicy", "connect", "access"}
PERMISSION = re.compile(r"^[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+$")


def writes(granted: set[str]) -> set[str]:
    """The permissions whose verb is not a read."""
    return {p for p in granted if p.rsplit(".", 1)[1] not in READ_VERBS}


def custom_types(plan: Plan) -> set[str]:
    """Types the engine sends to a provider (components are only grouping)."""
    return {r.type for r in plan.resources if r.custom}


def missing_entries(types: set[str]) -> set[str]:
    return types - set(permissions.TABLE)


@pytest.mark.parametrize("stack", STACKS)
def test_every_platform_resource_type_has_its_permissions(stack: str):
    assert missing_entries(custom_types(plan_of(stack))) == set()


def test_a_new_resource_type_without_an_entry_is_caught():
    assert missing_entries({"gcp:redis/instance:Instance"}) == {"gcp:redis/instance:Instance"}


def test_the_table_has_no_entry_the_platform_does_not_use():
    """A stale entry would grant permissions nothing needs."""
    used = set().union(*(custom_types(plan_of(stack)) for stack in STACKS))
    assert set(permissions.TABLE) - used == set()


def test_every_permission_name_is_well_formed():
    for type_, needs in permissions.TABLE.items():
        for permission in needs.all:
            assert PERMISSION.match(permission), (type_, permission)
        assert needs.source, type_


def roles_by_id(plan: Plan) -> dict[str, set[str]]:
    return {r.inputs["roleId"]: set(r.inputs["permissions"]) for r in plan.of_type(CUSTOM_ROLE)}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_deployer_holds_exactly_the_table(stack: str):
    roles = roles_by_id(bootstrap_plan_of(stack))
    granted = roles[names.DEPLOYER_ROLE] | roles[names.IAM_GRANTER_ROLE]
    assert granted == permissions.table_union()
    assert "iam.serviceAccounts.actAs" in granted  # node pools run as the node accounts
    assert {"container.clusters.get", "container.clusters.connect"} <= granted


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_preview_holds_only_reads_of_the_table(stack: str):
    preview = roles_by_id(bootstrap_plan_of(stack))[names.PREVIEW_ROLE]
    assert preview == permissions.preview_permissions()
    assert preview <= permissions.table_union()
    assert writes(preview) == set()
    # No secret material: neither Kubernetes Secrets (in any cluster) nor secret versions.
    assert not {p for p in preview if p.startswith("container.secrets.")}
    assert "secretmanager.secrets.get" in preview
    assert not {p for p in preview if p.startswith("secretmanager.versions.access")}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_the_drift_check_holds_the_preview_plus_what_a_refresh_reads(stack: str):
    """`pulumi preview --refresh` reads every resource: the `read` of every table entry,
    including the secret material the PR preview lacks, and no write."""
    roles = roles_by_id(bootstrap_plan_of(stack))
    drift = roles[names.DRIFT_ROLE]
    assert drift == permissions.drift_permissions()
    assert drift == frozenset().union(*(needs.read for needs in permissions.TABLE.values()))
    assert (
        drift - roles[names.PREVIEW_ROLE]
        == permissions.SECRET_READS
        == {
            "container.secrets.get",
            "container.secrets.list",
            "secretmanager.versions.access",
        }
    )
    assert writes(drift) == set()


def test_the_read_only_check_can_fail():
    """The verb check above catches a write slipped into a read set."""
    assert writes({"compute.networks.get", "compute.networks.delete"}) == {
        "compute.networks.delete"
    }
    assert writes(set(permissions.deployer_permissions()))  # the deployer does write


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_project_roles_are_the_custom_roles_only(stack: str):
    """No predefined role at project level: nothing broader than the table."""
    plan = bootstrap_plan_of(stack)
    role_names = {r.outputs["name"] for r in plan.of_type(CUSTOM_ROLE)}
    members = plan.of_type(PROJECT_MEMBER)
    assert members
    assert {m.inputs["role"] for m in members} <= role_names


# The IAM member types of the platform and the permission that writes their policy.
IAM_MEMBER_TYPES = {
    PROJECT_MEMBER: "resourcemanager.projects.setIamPolicy",
    "gcp:serviceaccount/iAMMember:IAMMember": "iam.serviceAccounts.setIamPolicy",
    "gcp:secretmanager/secretIamMember:SecretIamMember": "secretmanager.secrets.setIamPolicy",
}


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_iam_policy_writes_are_limited_to_the_roles_the_platform_grants(stack: str):
    plan = bootstrap_plan_of(stack)
    granter = next(
        m
        for m in plan.of_type(PROJECT_MEMBER)
        if m.inputs["role"].endswith(f"/roles/{names.IAM_GRANTER_ROLE}")
    )
    assert granter.inputs["condition"]["expression"] == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(['roles/container.defaultNodeServiceAccount', 'roles/cloudtrace.agent', "
        "'roles/iam.workloadIdentityUser', 'roles/secretmanager.secretAccessor'])"
    )
    roles = roles_by_id(plan)
    assert roles[names.IAM_GRANTER_ROLE] == set(IAM_MEMBER_TYPES.values())
    assert not roles[names.DEPLOYER_ROLE] & set(IAM_MEMBER_TYPES.values())


def test_the_condition_covers_every_role_the_platform_grants():
    used = set().union(*(custom_types(plan_of(stack)) for stack in STACKS))
    # Every IAM member type of the platform has its policy write in the conditional role.
    assert {t for t in used if "IamMember" in t or "iAMMember" in t} == set(IAM_MEMBER_TYPES)
    granted = {
        r.inputs["role"]
        for stack in STACKS
        for type_ in IAM_MEMBER_TYPES
        for r in plan_of(stack).of_type(type_)
    }
    assert granted == set(permissions.GRANTABLE_ROLES)
