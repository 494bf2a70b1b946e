"""Secrets by tenant: from the plan, each namespace can read exactly the Secret Manager entries
whose `readers` name it (offline/secret_access.py), the entries say so themselves, and widening
any grant is caught, offline and by the pack's stack policy (policy/tenancy.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from components.facts import (
    FLUX_NAMESPACE,
    KUMA_NAMESPACE,
    MESH_CA_SECRET_ID,
    SECRET_READERS_ANNOTATION,
)
from offline.engine import Plan, Registration
from offline.secret_access import EVERY_NAMESPACE, Resource, access_problems, analyse
from policy.tenancy import STACK_POLICY, stack_policies, stack_problems
from tests.support import STACKS, plan_of

SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
ACCOUNT_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
ACCESSOR = "roles/secretmanager.secretAccessor"


def resources(plan: Plan) -> list[Resource]:
    return [Resource(r.type, r.inputs) for r in plan.registrations]


def configured_readers(plan: Plan) -> dict[str, set[str]]:
    readers: dict[str, set[str]] = {}
    for entry in plan.config["platform:secrets"]:
        for ns in entry.get("readers", []):
            readers.setdefault(ns, set()).add(entry["id"])
    return readers


def with_resource(plan: Plan, type_: str, name: str, inputs: dict[str, Any]) -> Plan:
    added = dataclasses.replace(
        plan.registrations[0],
        type=type_,
        name=name,
        urn=f"urn:pulumi:{plan.stack}::{plan.project}::{type_}::{name}",
        inputs=inputs,
    )
    return dataclasses.replace(plan, registrations=[*plan.registrations, added])


def without(plan: Plan, name: str) -> Plan:
    kept = [r for r in plan.registrations if r.name != name]
    assert len(kept) == len(plan.registrations) - 1
    return dataclasses.replace(plan, registrations=kept)


def one(plan: Plan, type_: str, name: str) -> Registration:
    [found] = [r for r in plan.of_type(type_) if r.name == name]
    return found


def member_of(plan: Plan, namespace: str) -> str:
    """The Google identity of a reader namespace, as its grants name it."""
    account = one(plan, "gcp:serviceaccount/account:Account", f"{namespace}-secrets")
    return str(account.outputs["member"])


# -- the plan grants exactly what the config says -------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_namespace_reads_exactly_its_entries(stack):
    plan = plan_of(stack)
    access = analyse(resources(plan))
    assert access.namespaces == configured_readers(plan)
    assert access.outsiders == {}
    assert not access.incomplete
    assert access_problems(access) == []
    # The fixture is not vacuous: several namespaces, and an entry nobody reads.
    assert len(access.namespaces) >= 3
    assert set(access.declared) - {e for s in access.namespaces.values() for e in s}


@pytest.mark.parametrize("stack", STACKS)
def test_flux_reads_exactly_the_git_credentials_and_where_it_posts_the_status_keys(stack):
    """flux-system: the git credentials, plus on a staging stack (its zone clusters post the
    promotion's commit statuses) the GitHub App keys; nothing else."""
    plan = plan_of(stack)
    access = analyse(resources(plan))
    gitops = plan.config["platform:gitops"]
    posts = plan.config["platform:stage"] == "staging"
    assert ("commitStatusSecret" in gitops) is posts
    assert access.namespaces[FLUX_NAMESPACE] == {
        gitops["credentialsSecret"],
        *([gitops["commitStatusSecret"]] if posts else []),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_each_entry_declares_its_readers(stack):
    plan = plan_of(stack)
    declared = {
        s.inputs["secretId"]: s.inputs["annotations"][SECRET_READERS_ANNOTATION]
        for s in plan.of_type("gcp:secretmanager/secret:Secret")
    }
    # Besides the configured entries, the program's own record of the mesh CA, read by no one
    # but the deployer (components/kuma/multizone.py).
    assert declared == {
        **{e["id"]: ",".join(e.get("readers", [])) for e in plan.config["platform:secrets"]},
        MESH_CA_SECRET_ID: "",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_store_is_namespaced_and_bound_to_its_namespace_identity(stack):
    plan = plan_of(stack)
    assert plan.of_type("kubernetes:external-secrets.io/v1:ClusterSecretStore") == []
    accounts = {
        (r.provider, r.inputs["metadata"]["namespace"]): r
        for r in plan.of_type("kubernetes:core/v1:ServiceAccount")
        if r.inputs["metadata"]["name"] == "secret-reader"
    }
    stores = plan.of_type("kubernetes:external-secrets.io/v1:SecretStore")
    tenants = [t["namespace"] for t in plan.config["platform:tenants"]]
    zones = [c for c in plan.config["platform:clusters"] if c["role"] == "zone"]
    # Flux's on every cluster, each tenant's on every zone, and with a gateway kuma-system's on
    # the global only: a Kuma Secret is a global resource, created on the global control plane and
    # copied to the zones over KDS (kuma.io/docs multizone; components/kuma/gateway.py).
    assert "platform:gateway" in plan.config, "both stacks serve the mesh gateway's TLS"
    assert len(stores) == len(plan.config["platform:clusters"]) + len(tenants) * len(zones) + 1
    [global_cluster] = [
        c["name"] for c in plan.config["platform:clusters"] if c["role"] == "global"
    ]
    assert [
        s.provider.split("::")[-2]
        for s in stores
        if s.inputs["metadata"]["namespace"] == KUMA_NAMESPACE
    ] == [f"{global_cluster}-k8s"]
    for store in stores:
        ns = store.inputs["metadata"]["namespace"]
        auth = store.inputs["spec"]["provider"]["gcpsm"]["auth"]["workloadIdentity"]
        assert auth["serviceAccountRef"] == {"name": "secret-reader"}
        account = accounts[(store.provider, ns)]
        email = account.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert f"serviceAccount:{email}" == member_of(plan, ns)
        # The store waits for its account, and for its namespace's grants and binding.
        assert plan.depends_on(store, account)
        binding = one(plan, ACCOUNT_MEMBER, f"{ns}-secrets-workload-identity-user")
        assert plan.depends_on(store, binding)
        for grant in plan.of_type(SECRET_MEMBER):
            if grant.name.endswith(f"-reader-{ns}"):
                assert plan.depends_on(store, grant)


@pytest.mark.parametrize("stack", STACKS)
def test_the_eso_controller_has_no_google_identity(stack):
    plan = plan_of(stack)
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if release.inputs["chart"] == "external-secrets":
            values = release.inputs["values"]
            assert "annotations" not in values["serviceAccount"]
            assert values["processClusterStore"] is False
    members = {r.inputs["member"] for r in plan.of_type(ACCOUNT_MEMBER)}
    assert not any("[external-secrets/" in m for m in members)


# -- widening any grant is caught ------------------------------------------------------------------
def _grant(plan: Plan, secret: str, member: str, name: str = "widened") -> Plan:
    project = plan.config["gcp:project"]
    return with_resource(
        plan,
        SECRET_MEMBER,
        name,
        {"secretId": f"projects/{project}/secrets/{secret}", "role": ACCESSOR, "member": member},
    )


def _bind(plan: Plan, account_of: str, ksa: str) -> Plan:
    project = plan.config["gcp:project"]
    email = member_of(plan, account_of).removeprefix("serviceAccount:")
    return with_resource(
        plan,
        ACCOUNT_MEMBER,
        "extra-binding",
        {
            "serviceAccountId": f"projects/{project}/serviceAccounts/{email}",
            "role": "roles/iam.workloadIdentityUser",
            "member": f"serviceAccount:{project}.svc.id.goog[{ksa}]",
        },
    )


def _project_grant(plan: Plan, role: str, member: str) -> Plan:
    project = plan.config["gcp:project"]
    return with_resource(
        plan, PROJECT_MEMBER, "project-grant", {"project": project, "role": role, "member": member}
    )


WIDENINGS = {
    # storefront's identity granted catalog's entry
    "grant-to-another-namespace": lambda p: _grant(
        p, "catalog-db-password", member_of(p, "storefront")
    ),
    # a storefront account may act as catalog's identity
    "binding-to-another-namespace": lambda p: _bind(p, "catalog", "storefront/app"),
    # the git credentials to a Kubernetes principal directly
    "grant-to-a-kubernetes-principal": lambda p: _grant(
        p,
        "flux-git-credentials",
        f"serviceAccount:{p.config['gcp:project']}.svc.id.goog[catalog/app]",
    ),
    # the ESO controller's own principal: every namespace reads through a store without auth
    "grant-to-the-eso-controller": lambda p: _grant(
        p,
        "storefront-session-key",
        f"serviceAccount:{p.config['gcp:project']}.svc.id.goog[external-secrets/external-secrets]",
    ),
    "grant-to-all-users": lambda p: _grant(p, "catalog-db-password", "allUsers"),
    "grant-to-a-person": lambda p: _grant(p, "backup-encryption-key", "user:eve@example.com"),
    "project-wide-accessor": lambda p: with_resource(
        p,
        PROJECT_MEMBER,
        "project-accessor",
        {"role": ACCESSOR, "member": member_of(p, "catalog"), "project": "x"},
    ),
    # Grants on the project act on every service account of the project (impersonation) or read
    # every entry (Editor).
    "project-token-creator": lambda p: _project_grant(
        p, "roles/iam.serviceAccountTokenCreator", "user:eve@example.com"
    ),
    "project-workload-identity-user": lambda p: _project_grant(
        p,
        "roles/iam.workloadIdentityUser",
        f"serviceAccount:{p.config['gcp:project']}.svc.id.goog[catalog/app]",
    ),
    "project-service-account-user": lambda p: _project_grant(
        p, "roles/iam.serviceAccountUser", "group:developers@example.com"
    ),
    "project-editor": lambda p: _project_grant(p, "roles/editor", "user:eve@example.com"),
    "cluster-store-of-flux": lambda p: with_resource(
        p,
        "kubernetes:external-secrets.io/v1:ClusterSecretStore",
        "shared",
        {
            "spec": {
                "provider": {
                    "gcpsm": {
                        "auth": {
                            "workloadIdentity": {
                                "serviceAccountRef": {
                                    "name": "secret-reader",
                                    "namespace": "flux-system",
                                }
                            }
                        }
                    }
                }
            }
        },
    ),
}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("widening", WIDENINGS)
def test_a_widened_grant_is_reported(stack, widening):
    plan = WIDENINGS[widening](plan_of(stack))
    problems = access_problems(analyse(resources(plan)))
    assert problems, widening
    assert all("can read it" in p for p in problems), problems
    assert stack_problems(resources(plan)) == problems


def test_project_level_impersonation_reads_what_every_account_reads():
    plan = plan_of("staging")
    read_by_accounts = {"flux-git-credentials", "flux-commit-status", "catalog-db-password",
                        "storefront-session-key", "mesh-gateway-tls"}  # fmt: skip
    access = analyse(resources(WIDENINGS["project-workload-identity-user"](plan)))
    assert access.namespaces["catalog"] == read_by_accounts
    access = analyse(resources(WIDENINGS["project-token-creator"](plan)))
    assert access.outsiders == {"user:eve@example.com": read_by_accounts}
    # Editor reads every entry directly too, those no account reads (the backup key, the mesh CA
    # record) included.
    access = analyse(resources(WIDENINGS["project-editor"](plan)))
    unread = {"backup-encryption-key", "kuma-mesh-ca"}
    assert access.outsiders["user:eve@example.com"] == read_by_accounts | unread
    # A project role that neither reads nor acts as an account changes nothing.
    viewer = _project_grant(plan, "roles/viewer", "user:eve@example.com")
    assert access_problems(analyse(resources(viewer))) == []


def test_every_namespace_reads_what_a_cluster_store_reads():
    access = analyse(resources(WIDENINGS["cluster-store-of-flux"](plan_of("staging"))))
    assert access.namespaces[EVERY_NAMESPACE] == {"flux-git-credentials", "flux-commit-status"}


@pytest.mark.parametrize("stack", STACKS)
def test_a_missing_grant_is_reported(stack):
    plan = without(plan_of(stack), "catalog-db-password-reader-catalog")
    assert access_problems(analyse(resources(plan))) == [
        "secret 'catalog-db-password': declared reader 'catalog' cannot read it"
    ]


def test_unknown_members_do_not_pass_as_missing_grants():
    """At the first preview the accounts' emails are unknown: who reads too much is still
    decided, who cannot read yet is not."""
    plan = plan_of("staging")
    unknown = [
        dataclasses.replace(r, inputs={**r.inputs, "member": None})
        if r.type == SECRET_MEMBER
        else r
        for r in plan.registrations
    ]
    access = analyse(Resource(r.type, r.inputs) for r in unknown)
    assert access.incomplete and access_problems(access) == []
    public = _grant(
        dataclasses.replace(plan, registrations=unknown), "catalog-db-password", "allUsers"
    )
    assert any("every namespace can read it" in p for p in stack_problems(resources(public)))


# -- the same check as a CrossGuard stack policy ---------------------------------------------------
def _crossguard_violations(plan: Plan) -> list[str]:
    [policy] = stack_policies()
    assert policy.name == STACK_POLICY
    reported: list[str] = []
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    args = StackValidationArgs(
        [
            PolicyResource(
                r.type, unknown_checking_proxy(r.inputs), r.urn, r.name, opts, None, None, [], {}
            )
            for r in plan.registrations
        ],
        None,
    )
    policy.validate(args, lambda message, urn=None: reported.append(message))
    return reported


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_policy_passes_the_plan_and_fails_a_widened_one(stack):
    assert _crossguard_violations(plan_of(stack)) == []
    widened = WIDENINGS["grant-to-another-namespace"](plan_of(stack))
    assert _crossguard_violations(widened) == [
        "secret 'catalog-db-password': namespace 'storefront' can read it, but it declares "
        "readers ['catalog']"
    ]
