"""Who can read which Secret Manager entry, computed from the resources of a plan, and where that
differs from what each entry declares (its `platform-readers` annotation, from `readers` in the
stack config).

Standard library only: the policy pack (policy/tenancy.py) runs the same analysis in CrossGuard.

The model, from the upstream sources:
- A Google identity reads an entry with an accessor role on the entry or on the project
  (roles/secretmanager.secretAccessor and .admin hold secretmanager.versions.access:
  cloud.google.com/iam/docs/roles-permissions/secretmanager; roles/owner; roles/editor is counted
  too, deliberately over-approximating: it may attach any service account to a workload, below).
- A principal granted, on the project, a role that acts as service accounts
  (roles/iam.serviceAccountTokenCreator: tokens; roles/iam.workloadIdentityUser: federated
  identities; roles/iam.serviceAccountUser, roles/editor, roles/owner: `actAs`, attaching the
  account to a workload it runs) acts as every Google service account of the project, so it reads
  what any of them reads (cloud.google.com/iam/docs/service-account-permissions: roles granted on
  the project apply to every service account in it).
- A Kubernetes service account `ns/ksa` acts as a Google service account that grants it
  roles/iam.workloadIdentityUser (or token creation); it also reads directly with grants to its own
  principal `serviceAccount:PROJECT.svc.id.goog[ns/ksa]` (external-secrets v2.9.0
  providers/v1/gcp/secretmanager/workload_identity.go: without the annotation the federated token
  is used as is). The principal is the same in every cluster of the project, so access is per
  namespace, not per cluster.
- A namespace reads what any of its service accounts reads: whoever may create a SecretStore in it
  may name any of them (a SecretStore's serviceAccountRef resolves in the store's own namespace).
- A store with no auth falls back to the ESO controller's own credentials (auth.go
  `NewTokenSource`), so what the controller's principal reads, every namespace reads; so does
  every namespace what a ClusterSecretStore reads.
Over-approximating (a binding counts without the KSA annotation) is deliberate: an annotation is
one `kubectl annotate` away for whoever administers the namespace.

Outside the program, so outside this analysis (unverifiable here, docs/architecture.md): grants on
the project's folder or organization, which IAM inherits down to the project and its entries, and
grants made by hand. A real project needs `gcloud asset analyze-iam-policy` for those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from components.facts import (
    ESO_NAMESPACE,
    SECRET_ACCESSOR_ROLE,
    SECRET_READERS_ANNOTATION,
    WORKLOAD_IDENTITY_USER_ROLE,
)

EVERY_NAMESPACE: Final = "*"
ESO_CONTROLLER: Final = (ESO_NAMESPACE, "external-secrets")
READ_ROLES: Final = frozenset(
    {SECRET_ACCESSOR_ROLE, "roles/secretmanager.admin", "roles/owner", "roles/editor"}
)
IMPERSONATE_ROLES: Final = frozenset(
    {
        WORKLOAD_IDENTITY_USER_ROLE,
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountUser",
        "roles/owner",
    }
)
# On the project: the same, for every service account of the project, and Editor's `actAs`.
PROJECT_IMPERSONATE_ROLES: Final = IMPERSONATE_ROLES | {"roles/editor"}
EVERY_ACCOUNT: Final = "*"
PUBLIC_MEMBERS: Final = frozenset({"allUsers", "allAuthenticatedUsers"})

SECRET: Final = "gcp:secretmanager/secret:Secret"
SECRET_GRANTS: Final = {
    "gcp:secretmanager/secretIamMember:SecretIamMember": "member",
    "gcp:secretmanager/secretIamBinding:SecretIamBinding": "members",
    "gcp:secretmanager/secretIamPolicy:SecretIamPolicy": "policyData",
}
PROJECT_GRANTS: Final = {
    "gcp:projects/iAMMember:IAMMember": "member",
    "gcp:projects/iAMBinding:IAMBinding": "members",
    "gcp:projects/iAMPolicy:IAMPolicy": "policyData",
}
ACCOUNT_GRANTS: Final = {
    "gcp:serviceaccount/iAMMember:IAMMember": "member",
    "gcp:serviceaccount/iAMBinding:IAMBinding": "members",
    "gcp:serviceaccount/iAMPolicy:IAMPolicy": "policyData",
}
SECRET_STORE: Final = "kubernetes:external-secrets.io/v1:SecretStore"
CLUSTER_SECRET_STORE: Final = "kubernetes:external-secrets.io/v1:ClusterSecretStore"

KSA_MEMBER = re.compile(
    r"^serviceAccount:[^\s\[]+\.svc\.id\.goog\[(?P<ns>[^/\]]+)/(?P<sa>[^\]]+)\]$"
)
# Workload Identity Federation for GKE principals: one account, or every account of a namespace.
KSA_PRINCIPAL = re.compile(
    r"^principal://.*\.svc\.id\.goog/subject/ns/(?P<ns>[^/]+)/sa/(?P<sa>.+)$"
)
NAMESPACE_PRINCIPAL_SET = re.compile(r"^principalSet://.*\.svc\.id\.goog/namespace/(?P<ns>[^/]+)$")
GOOGLE_ACCOUNT = re.compile(r"^serviceAccount:(?P<email>[^\s\[]+@[^\s\[]+)$")


@dataclass(frozen=True)
class Resource:
    """What the analysis needs of one resource: its type and inputs (plain values)."""

    type: str
    props: Mapping[str, Any]


@dataclass
class SecretAccess:
    """Entry ids readable by each namespace (EVERY_NAMESPACE: by all of them), by Google accounts
    no Kubernetes account acts as, and what each entry declares."""

    namespaces: dict[str, set[str]] = field(default_factory=dict)
    outsiders: dict[str, set[str]] = field(default_factory=dict)
    declared: dict[str, frozenset[str]] = field(default_factory=dict)
    # A grant whose member or target is not known yet (a preview before the accounts exist):
    # who reads too much is still found; who cannot read yet is not decidable.
    incomplete: bool = False

    def readers_of(self, entry: str) -> set[str]:
        return {ns for ns, entries in self.namespaces.items() if entry in entries}


def _secret_id(value: Any) -> str | None:
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else None


def _account_email(value: Any) -> str | None:
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else None


def _grants(resource: Resource, key: str, roles: frozenset[str]) -> list[str | None]:
    """The members `resource` grants one of `roles` (any IAM member/binding/policy shape); None
    for a member not known yet."""
    if key == "policyData":
        data = resource.props.get("policyData")
        if not isinstance(data, str):
            return [None]
        try:
            policy = json.loads(data)
        except json.JSONDecodeError:
            return [None]
        return [
            str(member)
            for binding in policy.get("bindings") or []
            if binding.get("role") in roles
            for member in binding.get("members") or []
        ]
    if resource.props.get("role") not in roles:
        return []
    members = resource.props.get(key)
    listed = members if isinstance(members, list) else [members]
    return [m if isinstance(m, str) else None for m in listed]


def _kubernetes_reader(member: str) -> tuple[str, str] | None:
    for pattern in (KSA_MEMBER, KSA_PRINCIPAL):
        if match := pattern.match(member):
            return match["ns"], match["sa"]
    if match := NAMESPACE_PRINCIPAL_SET.match(member):
        return match["ns"], EVERY_NAMESPACE
    return None


def _declared(resources: list[Resource], access: SecretAccess) -> None:
    for r in resources:
        if r.type == SECRET and isinstance(r.props.get("secretId"), str):
            declared = (r.props.get("annotations") or {}).get(SECRET_READERS_ANNOTATION) or ""
            access.declared[r.props["secretId"]] = frozenset(filter(None, str(declared).split(",")))


def _reads(resources: list[Resource], access: SecretAccess) -> dict[str, set[str]]:
    """IAM member -> the entries it reads."""
    reads: dict[str, set[str]] = {}
    for r in resources:
        if r.type in SECRET_GRANTS:
            entry = _secret_id(r.props.get("secretId"))
            targets = {entry} if entry is not None else set()
            members = _grants(r, SECRET_GRANTS[r.type], READ_ROLES)
        elif r.type in PROJECT_GRANTS:
            targets = set(access.declared)
            members = _grants(r, PROJECT_GRANTS[r.type], READ_ROLES)
        else:
            continue
        for member in members:
            if member is None or not targets:
                access.incomplete = True
            else:
                reads.setdefault(member, set()).update(targets)
    return reads


def _actors(resources: list[Resource], access: SecretAccess) -> dict[str, set[tuple[str, str]]]:
    """Google account email (EVERY_ACCOUNT: each of them, from grants on the project) -> the
    Kubernetes accounts (namespace, name) that act as it; another principal that may impersonate
    it is ("", member)."""
    actors: dict[str, set[tuple[str, str]]] = {}
    for r in resources:
        if r.type in ACCOUNT_GRANTS:
            email = _account_email(r.props.get("serviceAccountId"))
            members = _grants(r, ACCOUNT_GRANTS[r.type], IMPERSONATE_ROLES)
        elif r.type in PROJECT_GRANTS:
            email = EVERY_ACCOUNT
            members = _grants(r, PROJECT_GRANTS[r.type], PROJECT_IMPERSONATE_ROLES)
        else:
            continue
        for member in members:
            if member is None or email is None:
                access.incomplete = True
            else:
                actors.setdefault(email, set()).add(_actor(member))
    return actors


def _actor(member: str) -> tuple[str, str]:
    if member in PUBLIC_MEMBERS:
        return EVERY_NAMESPACE, ""
    return _kubernetes_reader(member) or ("", member)


def _readers_of(member: str, actors: Mapping[str, set[tuple[str, str]]]) -> set[tuple[str, str]]:
    if member in PUBLIC_MEMBERS:
        return {(EVERY_NAMESPACE, ""), ("", member)}
    if (kubernetes := _kubernetes_reader(member)) is not None:
        return {kubernetes}
    google = GOOGLE_ACCOUNT.match(member)
    if google is None:
        return {("", member)}
    # Whoever may act as every account of the project reads what this one reads, besides the
    # account's own actors (or the account itself when nobody acts as it).
    return actors.get(google["email"], {("", member)}) | actors.get(EVERY_ACCOUNT, set())


def _shared(resources: list[Resource], access: SecretAccess) -> set[str]:
    """What every namespace reads: the ESO controller's own reads (a store without auth uses
    them) and what each ClusterSecretStore's account reads."""
    shared = set(access.namespaces.get(ESO_CONTROLLER[0], set()))
    for r in (r for r in resources if r.type == CLUSTER_SECRET_STORE):
        ref = _workload_identity_ref(r.props)
        owner = str(ref.get("namespace") or "") if ref is not None else ESO_CONTROLLER[0]
        shared |= access.namespaces.get(owner, set())
    return shared


def analyse(resources: Iterable[Resource]) -> SecretAccess:
    listed = list(resources)
    access = SecretAccess()
    _declared(listed, access)
    actors = _actors(listed, access)
    for member, entries in _reads(listed, access).items():
        for ns, who in _readers_of(member, actors):
            if ns == "":  # a Google principal no Kubernetes account acts as
                access.outsiders.setdefault(who, set()).update(entries)
            else:
                access.namespaces.setdefault(ns, set()).update(entries)
    if shared := _shared(listed, access):
        access.namespaces.setdefault(EVERY_NAMESPACE, set()).update(shared)
    return access


def _workload_identity_ref(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    provider = ((props.get("spec") or {}).get("provider") or {}).get("gcpsm") or {}
    auth = provider.get("auth") or {}
    return (auth.get("workloadIdentity") or {}).get("serviceAccountRef")


def access_problems(access: SecretAccess) -> list[str]:
    """Every reader of an entry that the entry does not declare, and every declared reader that
    cannot read it (its application would never get the value)."""
    problems: list[str] = []
    for entry, declared in sorted(access.declared.items()):
        actual = access.readers_of(entry)
        for ns in sorted(actual - declared):
            who = "every namespace" if ns == EVERY_NAMESPACE else f"namespace {ns!r}"
            problems.append(
                f"secret {entry!r}: {who} can read it, but it declares readers {sorted(declared)}"
            )
        if EVERY_NAMESPACE not in actual and not access.incomplete:
            for ns in sorted(declared - actual):
                problems.append(f"secret {entry!r}: declared reader {ns!r} cannot read it")
        for outsider, entries in sorted(access.outsiders.items()):
            if entry in entries:
                problems.append(
                    f"secret {entry!r}: {outsider!r} can read it, and no namespace acts as it"
                )
    return problems
