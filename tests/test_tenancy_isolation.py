"""Tenant isolation in the clusters: Flux applies each tenant's manifests as an account with rights
in that tenant's namespace only, everything Flux applies for a tenant fits those rights, the
flux-operator web UI is off, and every namespace carries Pod Security labels."""

from __future__ import annotations

from typing import Any

import pytest

from components.facts import FLUX_NAMESPACE
from components.naming import tenant_reconciler
from components.tenant import RECONCILER_RESOURCES, RECONCILER_ROLE, RECONCILER_VERBS
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
        "restricted": {"flux-system", "external-secrets"},
        "baseline": {"kuma-system"},
        # Kuma's init container needs NET_ADMIN (components/tenant.py)
        "privileged": set(tenants(plan)),
    }
    # The namespaces k8s/ creates carry the labels too; no tenant namespace comes from k8s/.
    for render in gitops_facts.rendered_stack(stack):
        for doc in (d for d in render.docs if d.get("kind") == "Namespace"):
            labels = doc["metadata"].get("labels") or {}
            assert labels.get(f"{PSA}/enforce") in ("baseline", "restricted"), doc
            assert doc["metadata"]["name"] not in tenants(plan)


def _peers(rule: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(namespace selector, pod selector, port, protocol) of one egress rule; a missing `to` or
    port (any destination, any port) shows as '*'."""
    peers = rule.get("to") or [{"namespaceSelector": "*"}]
    ports = rule.get("ports") or [{"port": "*", "protocol": "*"}]
    return [
        (str(p.get("namespaceSelector", p.get("ipBlock"))), str(p.get("podSelector")),
         q.get("port"), q.get("protocol", "TCP"))
        for p in peers
        for q in ports
    ]  # fmt: skip


def egress_problems(docs: list[dict[str, Any]], kuma_namespace: str) -> list[str]:
    """Each namespace with workloads denies egress by default and allows only DNS, the zone
    control plane and ZoneEgress, and the app port of other meshed namespaces."""
    dns = str({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}})
    kuma = str({"matchLabels": {"kubernetes.io/metadata.name": kuma_namespace}})
    mesh = str({"matchLabels": {"kuma.io/sidecar-injection": "enabled"}})
    allowed = {
        (dns, "None", 53, "UDP"),
        (dns, "None", 53, "TCP"),
        (kuma, "None", 5678, "TCP"),
        (kuma, "None", 10002, "TCP"),
        (mesh, "None", 8080, "TCP"),
        (
            str({"matchLabels": {"kubernetes.io/metadata.name": "observability"}}),
            "None",
            4317,
            "TCP",
        ),
    }
    problems = []
    namespaces = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Deployment"}
    for ns in sorted(namespaces):
        policies = [
            d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == ns
        ]
        if not any(
            p["spec"]["podSelector"] == {} and "Egress" in p["spec"].get("policyTypes", [])
            for p in policies
        ):
            problems.append(f"{ns}: no default-deny egress policy")
        for policy in policies:
            for rule in policy["spec"].get("egress") or []:
                for peer in _peers(rule):
                    if peer not in allowed:
                        problems.append(f"{ns}/{policy['metadata']['name']}: egress to {peer}")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_tenants_deny_egress_but_dns_and_the_mesh(stack):
    for render in zone_renders(stack):
        docs = [
            d for out in render.outputs if out.kustomization.startswith("apps-") for d in out.docs
        ]
        assert {d["metadata"]["namespace"] for d in docs} == set(tenants(plan_of(stack)))
        assert egress_problems(docs, render.cluster.platform_vars["KUMA_NAMESPACE"]) == []


def test_egress_breaks_are_found():
    render = zone_renders("staging")[0]
    docs = [d for out in render.outputs if out.kustomization == "apps-catalog" for d in out.docs]
    [egress] = [d for d in docs if d["metadata"]["name"].endswith("app-egress")]
    egress["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})
    egress["spec"]["egress"][2]["ports"] = []
    assert egress_problems(docs, "kuma-system") == [
        "catalog/catalog-app-egress: egress to "
        "(\"{'matchLabels': {'kuma.io/sidecar-injection': 'enabled'}}\", 'None', '*', '*')",
        "catalog/catalog-app-egress: egress to (\"{'cidr': '0.0.0.0/0'}\", 'None', '*', '*')",
    ]
    egress["spec"]["policyTypes"] = ["Ingress"]
    assert egress_problems(docs, "kuma-system")[0] == "catalog: no default-deny egress policy"
