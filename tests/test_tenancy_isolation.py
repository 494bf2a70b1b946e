"""Tenant isolation in the clusters: Flux applies each tenant's manifests as an account with rights
in that tenant's namespace only, everything Flux applies for a tenant fits those rights, the
flux-operator web UI is off, and every namespace carries Pod Security labels."""

from __future__ import annotations

from typing import Any

import pytest

from components.facts import FLUX_NAMESPACE
from components.kuma.settings import GATEWAY_NAMESPACE
from components.naming import tenant_reconciler
from components.tenant import RECONCILER_RESOURCES, RECONCILER_ROLE, RECONCILER_VERBS
from components.versions import KUBERNETES_MINOR
from offline.engine import Plan
from offline.gitops import facts as gitops_facts
from offline.gitops.render import ClusterRender
from tests.support import STACKS, plan_of

PSA = "pod-security.kubernetes.io"


def tenants(plan: Plan) -> list[str]:
    return [t["namespace"] for t in plan.config["platform:tenants"]]


def flux_kustomizations(render: ClusterRender) -> list[dict[str, Any]]:
    return [d for d in render.docs if d.get("kind") == "Kustomization" and "spec" in d]


def zone_renders(stack: str) -> list[ClusterRender]:
    return [r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == "zone"]


def tenant_problems(render: ClusterRender, expected: list[str]) -> list[str]:
    """What breaks tenant isolation in one cluster's Flux tree."""
    problems = []
    by_tenant = {}
    for ks in flux_kustomizations(render):
        name, spec = ks["metadata"]["name"], ks["spec"]
        account = spec.get("serviceAccountName")
        if name.startswith("apps-"):
            ns = name.removeprefix("apps-")
            by_tenant[ns] = ks
            if account != tenant_reconciler(ns) or spec.get("targetNamespace") != ns:
                problems.append(
                    f"{name}: applies as {account!r} into {spec.get('targetNamespace')!r}"
                )
        elif account != "kustomize-controller":
            problems.append(f"{name}: platform Kustomization applies as {account!r}")
    if sorted(by_tenant) != sorted(expected):
        problems.append(f"tenant Kustomizations {sorted(by_tenant)} != tenants {sorted(expected)}")
    allowed = {(group, r) for group, rs in RECONCILER_RESOURCES.items() for r in rs}
    for out in render.outputs:
        ns = out.kustomization.removeprefix("apps-")
        if ns not in by_tenant:
            continue
        for doc in out.docs:
            group = doc["apiVersion"].rpartition("/")[0]
            kind = doc["kind"].lower()
            resource = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
            if (group, resource) not in allowed:
                problems.append(f"{out.kustomization}: {doc['kind']} is not in its Role")
            if doc["metadata"].get("namespace") not in (None, ns):
                problems.append(f"{out.kustomization}: {doc['kind']} in another namespace")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_each_tenant_is_applied_with_its_own_namespace_rights(stack):
    renders = zone_renders(stack)
    assert renders
    for render in renders:
        assert tenant_problems(render, tenants(plan_of(stack))) == []
        applied = {out.kustomization for out in render.outputs}
        assert {f"apps-{ns}" for ns in tenants(plan_of(stack))} <= applied


def test_isolation_breaks_are_found():
    render = zone_renders("staging")[0]
    catalog = next(
        k for k in flux_kustomizations(render) if k["metadata"]["name"] == "apps-catalog"
    )
    catalog["spec"]["serviceAccountName"] = "kustomize-controller"
    infra = next(
        k for k in flux_kustomizations(render) if k["metadata"]["name"] == "infrastructure"
    )
    del infra["spec"]["serviceAccountName"]
    out = next(o for o in render.outputs if o.kustomization == "apps-storefront")
    out.docs[0]["kind"] = "Secret"
    assert tenant_problems(render, ["catalog", "storefront", "payments"]) == [
        "apps-catalog: applies as 'kustomize-controller' into 'catalog'",
        "infrastructure: platform Kustomization applies as None",
        "tenant Kustomizations ['catalog', 'storefront'] != tenants "
        "['catalog', 'payments', 'storefront']",
        "apps-storefront: Secret is not in its Role",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_tenant_reconcilers_have_a_role_in_their_namespace_only(stack):
    plan = plan_of(stack)
    assert plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding") == []
    roles = plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    bindings = plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    zones = [c for c in plan.config["platform:clusters"] if c["role"] == "zone"]
    assert len(roles) == len(bindings) == len(zones) * len(tenants(plan))
    for role in roles:
        assert role.inputs["metadata"]["name"] == RECONCILER_ROLE
        rules = {(g, r) for rule in role.inputs["rules"] for g in rule["apiGroups"]
                 for r in rule["resources"]}  # fmt: skip
        assert "secrets" not in {r for _, r in rules}
        for rule in role.inputs["rules"]:
            assert rule["verbs"] == list(RECONCILER_VERBS)
    for binding in bindings:
        ns = binding.inputs["metadata"]["namespace"]
        assert binding.inputs["roleRef"]["kind"] == "Role"
        assert binding.inputs["subjects"] == [
            {"kind": "ServiceAccount", "name": tenant_reconciler(ns), "namespace": FLUX_NAMESPACE}
        ]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_program_writes_a_tenants_network_policies(stack):
    """NetworkPolicies only add: a tenant that may create one may reopen all egress, so its
    reconciler gets nothing on networking.k8s.io and the program applies both policies."""
    plan = plan_of(stack)
    for role in plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role"):
        for rule in role.inputs["rules"]:
            assert "networking.k8s.io" not in rule["apiGroups"], role.name
            assert "networkpolicies" not in rule["resources"], role.name
    zones = [c for c in gitops_facts.stack_facts(stack).clusters if c.role == "zone"]
    assert zones
    for cluster in zones:
        policies = {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]["policyTypes"]
            for d in cluster.program_docs
            if d["kind"] == "NetworkPolicy"
        }
        for ns in tenants(plan):
            assert policies.get((ns, "app")) == ["Ingress"], (cluster.name, ns)
            assert policies.get((ns, "app-mesh-egress")) == ["Egress"], (cluster.name, ns)


def test_a_network_policy_in_a_tenant_tree_is_found():
    render = zone_renders("staging")[0]
    out = next(o for o in render.outputs if o.kustomization == "apps-catalog")
    allow_all = out.docs[0]
    allow_all.clear()
    allow_all.update(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all", "namespace": "catalog"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
        }
    )
    assert tenant_problems(render, tenants(plan_of("staging"))) == [
        "apps-catalog: NetworkPolicy is not in its Role"
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_flux_is_locked_down_and_its_web_ui_off(stack):
    plan = plan_of(stack)
    for instance in plan.of_type("kubernetes:fluxcd.controlplane.io/v1:FluxInstance"):
        cluster = instance.inputs["spec"]["cluster"]
        assert cluster["multitenant"] is True
        assert cluster["tenantDefaultServiceAccount"] == "default"
    releases = [
        r
        for r in plan.of_type("kubernetes:helm.sh/v3:Release")
        if "flux-operator" in r.inputs["chart"]
    ]
    assert releases
    for release in releases:
        assert release.inputs["values"]["web"] == {"enabled": False}


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_has_pod_security_labels(stack):
    plan = plan_of(stack)
    levels: dict[str, set[str]] = {}
    for ns in plan.of_type("kubernetes:core/v1:Namespace"):
        labels = ns.inputs["metadata"]["labels"]
        assert labels[f"{PSA}/audit"] == labels[f"{PSA}/warn"] == "restricted"
        levels.setdefault(labels[f"{PSA}/enforce"], set()).add(ns.inputs["metadata"]["name"])
    assert levels == {
        # Apps run under `restricted`: Kuma injects through its CNI (tests/test_tenancy_pod_security.py)
        "restricted": {"flux-system", "external-secrets", *tenants(plan)},
        # The gateway pods add NET_BIND_SERVICE and set no seccomp profile (components/kuma/gateway.py)
        "baseline": {"kuma-system", GATEWAY_NAMESPACE},
    }
    # The namespaces k8s/ creates carry the labels too; no tenant namespace comes from k8s/.
    for render in gitops_facts.rendered_stack(stack):
        for doc in (d for d in render.docs if d.get("kind") == "Namespace"):
            labels = doc["metadata"].get("labels") or {}
            assert labels.get(f"{PSA}/enforce") in ("baseline", "restricted"), doc
            for mode in ("enforce", "audit", "warn"):
                assert labels.get(f"{PSA}/{mode}-version") == f"v{KUBERNETES_MINOR}", doc
            assert doc["metadata"]["name"] not in tenants(plan)
