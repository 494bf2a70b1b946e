"""Estimated `pulumi up` time of a stack from an empty project: the critical path of the plan's
dependency graph, weighted by a per-type latency model.

The model's figures are planning estimates (seconds of create time). Where each comes from is
recorded beside it; none was measured here (no cloud is reachable), see docs/operations.md.
The engine runs independent steps in parallel, so the longest chain of waits decides the total.
"""

from __future__ import annotations

from dataclasses import dataclass

from offline.engine import Plan, Registration


@dataclass(frozen=True)
class Latency:
    seconds: float
    source: str


# Sources: "docs" = the Google Cloud documentation page for the API or its operation timeouts;
# "provider" = the Terraform google provider's default create timeout for the resource, of which
# typical creates use a fraction; "helm" = chart install with --wait (pods ready, LB address).
LATENCY_MODEL: dict[str, Latency] = {
    "gcp:projects/service:Service": Latency(60, "docs: enabling an API takes up to a few minutes"),
    "gcp:compute/network:Network": Latency(25, "provider: global operation, ~20-30 s typical"),
    "gcp:compute/subnetwork:Subnetwork": Latency(20, "provider: regional operation"),
    "gcp:compute/firewall:Firewall": Latency(12, "provider: global operation"),
    "gcp:compute/router:Router": Latency(15, "provider: regional operation"),
    "gcp:compute/routerNat:RouterNat": Latency(30, "provider: router patch operation"),
    "gcp:compute/address:Address": Latency(8, "provider: regional operation"),
    "gcp:compute/forwardingRule:ForwardingRule": Latency(15, "provider: regional operation"),
    # Creating a Cloud SQL instance is a long-running operation; the provider's create timeout
    # is 90 minutes (terraform-provider-google resource_sql_database_instance.go Timeouts), a
    # regional Enterprise instance typically takes ~10 minutes.
    "gcp:sql/databaseInstance:DatabaseInstance": Latency(
        600, "docs/provider: long-running operation, ~10 min typical (create timeout 90 min)"
    ),
    "gcp:sql/database:Database": Latency(10, "provider: instance operation"),
    "gcp:sql/user:User": Latency(10, "provider: instance operation"),
    "gcp:container/cluster:Cluster": Latency(
        600, "docs: a regional cluster takes ~5-10 min; default pool creation+removal adds more"
    ),
    "gcp:container/nodePool:NodePool": Latency(
        240, "docs: node pool creation ~3-5 min (VMs in 3 zones)"
    ),
    "gcp:serviceaccount/account:Account": Latency(
        10, "docs: IAM changes are eventually consistent"
    ),
    "gcp:serviceaccount/iAMMember:IAMMember": Latency(10, "provider: read-modify-write of policy"),
    "gcp:projects/iAMMember:IAMMember": Latency(15, "provider: project policy read-modify-write"),
    "gcp:secretmanager/secret:Secret": Latency(3, "docs: synchronous API call"),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": Latency(3, "docs: synchronous API call"),
    "gcp:logging/projectSink:ProjectSink": Latency(3, "docs: synchronous API call"),
    "gcp:secretmanager/secretVersion:SecretVersion": Latency(3, "docs: synchronous API call"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": Latency(5, "provider: policy update"),
    "gcp:projects/serviceIdentity:ServiceIdentity": Latency(5, "API: generateServiceIdentity"),
    "kubernetes:helm.sh/v3:Release": Latency(
        150, "helm: install --wait incl. an internal LoadBalancer address (~1-2 min)"
    ),
    "kubernetes:core/v1:Namespace": Latency(2, "API server round trip"),
    "kubernetes:core/v1:ConfigMap": Latency(1, "API server round trip"),
    "kubernetes:core/v1:Secret": Latency(1, "API server round trip"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": Latency(1, "API server round trip"),
    "kubernetes:core/v1:ServiceAccount": Latency(1, "API server round trip"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": Latency(1, "API server round trip"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": Latency(1, "API server round trip"),
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": Latency(1, "API server round trip"),
    "kubernetes:fluxcd.controlplane.io/v1:FluxInstance": Latency(
        120, "flux-operator installs the controllers and waits for Ready"
    ),
    "kubernetes:external-secrets.io/v1:SecretStore": Latency(5, "API server + validation"),
    "kubernetes:external-secrets.io/v1:ExternalSecret": Latency(5, "API server + first sync"),
    "kubernetes:kuma.io/v1alpha1:Mesh": Latency(5, "API server + Kuma webhook"),
    "kubernetes:kuma.io/v1alpha1:MeshTrafficPermission": Latency(3, "API server + Kuma webhook"),
    # pulumi-kubernetes has no await logic for this kind: created means accepted. What it
    # gates (the zone-sync Service) follows Flux's mesh policies, after `pulumi up`
    # (components/kuma/zone_sync.py; docs/architecture.md, "Order on the global").
    "kubernetes:fluxcd.controlplane.io/v1:ResourceSet": Latency(2, "API server round trip"),
    # pulumi-kubernetes has no await logic for this kind: created means accepted.
    "kubernetes:kuma.io/v1alpha1:MeshGatewayInstance": Latency(5, "API server + Kuma webhook"),
    # The day-0 bootstrap program's (bootstrap/).
    "gcp:projects/iAMCustomRole:IAMCustomRole": Latency(5, "docs: synchronous API call"),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": Latency(
        10, "provider: long-running operation, seconds"
    ),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": Latency(
        10, "provider: long-running operation, seconds"
    ),
    "gcp:kms/keyRing:KeyRing": Latency(2, "docs: synchronous API call"),
    "gcp:kms/cryptoKey:CryptoKey": Latency(3, "docs: synchronous API call"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": Latency(5, "provider: policy update"),
    "gcp:storage/bucket:Bucket": Latency(3, "docs: synchronous API call"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": Latency(5, "provider: policy update"),
    "gcp:monitoring/alertPolicy:AlertPolicy": Latency(3, "docs: synchronous API call"),
    "gcp:monitoring/dashboard:Dashboard": Latency(3, "docs: synchronous API call"),
    "gcp:monitoring/notificationChannel:NotificationChannel": Latency(
        3, "docs: synchronous API call"
    ),
}
# Local computations (random values, TLS keys/certificates, providers) take well under a second.
LOCAL_PREFIXES = ("random:", "tls:", "pulumi:providers:")
LOCAL = Latency(0.5, "computed locally by the provider plugin")
COMPONENT = Latency(0, "component: no API call of its own")


def latency(resource: Registration) -> Latency:
    if not resource.custom:
        return COMPONENT
    if resource.type in LATENCY_MODEL:
        return LATENCY_MODEL[resource.type]
    if resource.type.startswith(LOCAL_PREFIXES):
        return LOCAL
    raise KeyError(
        f"no latency figure for {resource.type}: add it to LATENCY_MODEL with its source"
    )


@dataclass(frozen=True)
class Estimate:
    total_seconds: float
    chain: list[tuple[Registration, float]]  # critical path, first step first, with finish times


def critical_path(plan: Plan) -> Estimate:
    """Longest weighted path: finish(r) = latency(r) + max(finish of what r waits for)."""
    graph = plan.dependency_graph()
    index = plan.by_urn()
    finish: dict[str, float] = {}
    previous: dict[str, str | None] = {}

    def visit(urn: str, trail: frozenset[str]) -> float:
        if urn in finish:
            return finish[urn]
        if urn in trail:
            raise ValueError(f"dependency cycle through {urn}")
        waits = [u for u in graph.get(urn, ()) if u in index]
        best = max(waits, key=lambda u: visit(u, trail | {urn}), default=None)
        start = finish[best] if best is not None else 0.0
        finish[urn] = start + latency(index[urn]).seconds
        previous[urn] = best
        return finish[urn]

    for r in plan.registrations:
        visit(r.urn, frozenset())
    end = max(finish, key=lambda u: finish[u])
    chain: list[tuple[Registration, float]] = []
    cursor: str | None = end
    while cursor is not None:
        if index[cursor].custom:
            chain.append((index[cursor], finish[cursor]))
        cursor = previous[cursor]
    chain.reverse()
    return Estimate(total_seconds=finish[end], chain=chain)


def render(estimate: Estimate) -> list[str]:
    minutes = estimate.total_seconds / 60
    lines = [f"Estimated `pulumi up` from an empty project: {minutes:.0f} min (critical path):"]
    for resource, finished in estimate.chain:
        step = f"+{latency(resource).seconds:>5.0f}s  {resource.type}  {resource.name}"
        lines.append(f"  {finished / 60:6.1f} min  {step}")
    lines.append("  (latency model and sources: offline/estimate.py, docs/operations.md)")
    return lines
