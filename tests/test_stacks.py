"""The GCP layer of every stack, as the mock engine sees it: topology, cluster and pool settings,
locations, dependencies, and protection by stage."""

from __future__ import annotations

import copy
import ipaddress
from collections import Counter
from typing import Any

import pytest

from components.facts import (
    EU_REGIONS,
    GCP_REGIONS,
    NODE_SERVICE_ACCOUNT_ROLES,
    TELEMETRY_SERVICE_ACCOUNT_ID,
    TELEMETRY_WRITER_ROLES,
)
from components.network import WEBHOOK_PORTS
from components.project_services import REQUIRED_APIS
from offline.engine import Plan, Registration, plan_stack
from tests.support import STACKS, plan_of

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SUBNET = "gcp:compute/subnetwork:Subnetwork"


def clusters_config(plan: Plan) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = plan.config["platform:clusters"]
    return clusters


def is_prod(plan: Plan) -> bool:
    return bool(plan.config["platform:stage"] == "prod")


def test_both_environments_exist():
    assert {"staging", "prod-eu"} <= set(STACKS)


def test_every_plan_of_is_a_copy_of_its_own():
    """A test that edits its plan, however deep, changes no other test's plan."""
    # The expected plan is a deepcopy: nothing it holds can be shared with plan_of's copies.
    before, plan = copy.deepcopy(plan_of("staging")), plan_of("staging")
    assert plan == before
    nested = next(
        v for r in plan.registrations for v in r.inputs.values() if isinstance(v, dict) and v
    )
    nested.clear()
    clusters_config(plan)[0]["name"] = "edited"
    plan.registrations[0].secret_paths.append("edited")
    plan.stack_outputs.clear()
    plan.warnings.append("edited")
    del plan.registrations[-1]
    assert plan != before
    assert plan_of("staging") == before


@pytest.mark.parametrize("stack", STACKS)
class TestTopology:
    def test_one_cluster_and_subnet_per_configured_cluster(self, stack):
        plan = plan_of(stack)
        names = [c["name"] for c in clusters_config(plan)]
        assert sorted(r.inputs["name"] for r in plan.of_type(CLUSTER)) == sorted(names)
        # Plus the database's endpoint subnet (components/database.py), if any.
        endpoint = [
            f"{d['tenant']}-postgres-psc" for d in [plan.config.get("platform:database")] if d
        ]
        assert sorted(r.inputs["name"] for r in plan.of_type(SUBNET)) == sorted(names + endpoint)

    def test_subnets_carry_the_configured_ranges(self, stack):
        plan = plan_of(stack)
        for cluster in clusters_config(plan):
            subnet = plan.one(SUBNET, cluster["name"])
            assert subnet.inputs["ipCidrRange"] == cluster["ranges"]["nodes"]
            assert subnet.inputs["region"] == cluster["region"]
            assert subnet.inputs["privateIpGoogleAccess"] is True
            secondary = {
                s["rangeName"]: s["ipCidrRange"] for s in subnet.inputs["secondaryIpRanges"]
            }
            assert secondary == {
                f"{cluster['name']}-pods": cluster["ranges"]["pods"],
                f"{cluster['name']}-services": cluster["ranges"]["services"],
            }

    def test_custom_mode_vpc(self, stack):
        [vpc] = plan_of(stack).of_type("gcp:compute/network:Network")
        assert vpc.inputs["autoCreateSubnetworks"] is False

    def test_router_and_nat_per_region_in_use(self, stack):
        plan = plan_of(stack)
        regions = {c["region"] for c in clusters_config(plan)}
        routers = plan.of_type("gcp:compute/router:Router")
        nats = plan.of_type("gcp:compute/routerNat:RouterNat")
        assert sorted(r.inputs["region"] for r in routers) == sorted(regions)
        assert sorted(n.inputs["region"] for n in nats) == sorted(regions)
        for nat in nats:
            assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"

    def test_webhook_firewall_from_each_control_plane(self, stack):
        plan = plan_of(stack)
        firewalls = plan.of_type("gcp:compute/firewall:Firewall")
        for cluster in clusters_config(plan):
            [rule] = [f for f in firewalls if f.name == f"{cluster['name']}-webhooks"]
            assert rule.inputs["sourceRanges"] == [cluster["ranges"]["controlPlane"]]
            assert cluster["ranges"]["nodes"] in rule.inputs["destinationRanges"]
            [allow] = rule.inputs["allows"]
            assert allow["protocol"] == "tcp"
            assert set(allow["ports"]) == set(WEBHOOK_PORTS) == {"5443", "8443", "9443"}

    def test_required_apis_never_disabled(self, stack):
        services = plan_of(stack).of_type("gcp:projects/service:Service")
        assert {s.inputs["service"] for s in services} == set(REQUIRED_APIS)
        for service in services:
            assert service.inputs["disableOnDestroy"] is False


@pytest.mark.parametrize("stack", STACKS)
class TestClusters:
    def test_private_nodes_and_dns_endpoint(self, stack):
        for cluster in plan_of(stack).of_type(CLUSTER):
            private = cluster.inputs["privateClusterConfig"]
            assert private["enablePrivateNodes"] is True
            assert private["enablePrivateEndpoint"] is True
            dns = cluster.inputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]
            assert dns["allowExternalTraffic"] is True

    def test_control_plane_range_and_authorized_networks(self, stack):
        plan = plan_of(stack)
        expected_networks = [n["cidr"] for n in plan.config["platform:authorizedNetworks"]]
        for spec in clusters_config(plan):
            cluster = plan.one(CLUSTER, spec["name"])
            private = cluster.inputs["privateClusterConfig"]
            assert private["masterIpv4CidrBlock"] == spec["ranges"]["controlPlane"]
            authorized = cluster.inputs["masterAuthorizedNetworksConfig"]
            assert [b["cidrBlock"] for b in authorized["cidrBlocks"]] == expected_networks
            assert authorized["gcpPublicCidrsAccessEnabled"] is False

    def test_hardening(self, stack):
        plan = plan_of(stack)
        project = plan.config["gcp:project"]
        for cluster in plan.of_type(CLUSTER):
            assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"
            assert cluster.inputs["enableShieldedNodes"] is True
            assert (
                cluster.inputs["workloadIdentityConfig"]["workloadPool"] == f"{project}.svc.id.goog"
            )
            assert cluster.inputs["removeDefaultNodePool"] is True
            assert cluster.inputs["networkingMode"] == "VPC_NATIVE"
            assert cluster.inputs["releaseChannel"]["channel"] in {"RAPID", "REGULAR", "STABLE"}

    def test_node_pools_match_config(self, stack):
        plan = plan_of(stack)
        for spec in clusters_config(plan):
            pools = [p for p in plan.of_type(NODE_POOL) if p.name.startswith(f"{spec['name']}-")]
            assert sorted(p.inputs["name"] for p in pools) == sorted(
                n["name"] for n in spec["nodePools"]
            )
            for pool_spec in spec["nodePools"]:
                pool = plan.one(NODE_POOL, f"{spec['name']}-{pool_spec['name']}")
                scaling = pool.inputs["autoscaling"]
                assert scaling["totalMinNodeCount"] == pool_spec.get("minNodes", 1)
                assert scaling["totalMaxNodeCount"] == pool_spec.get("maxNodes", 3)
                node = pool.inputs["nodeConfig"]
                assert node["machineType"] == pool_spec.get("machineType", "e2-standard-4")
                assert node.get("spot", False) == pool_spec.get("spot", False)

    def test_every_pool_hardened(self, stack):
        for pool in plan_of(stack).of_type(NODE_POOL):
            node = pool.inputs["nodeConfig"]
            assert node["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
            assert node["shieldedInstanceConfig"] == {
                "enableSecureBoot": True,
                "enableIntegrityMonitoring": True,
            }
            assert node["metadata"]["disable-legacy-endpoints"] == "true"
            assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}

    def test_nodes_run_as_dedicated_least_privilege_identity(self, stack):
        plan = plan_of(stack)
        accounts = {
            a.outputs["email"]: a for a in plan.of_type("gcp:serviceaccount/account:Account")
        }
        for pool in plan.of_type(NODE_POOL):
            email = pool.inputs["nodeConfig"]["serviceAccount"]
            assert email in accounts, "nodes must not run as the default compute account"
            assert not email.endswith("-compute@developer.gserviceaccount.com")
        project_grants = plan.of_type("gcp:projects/iAMMember:IAMMember")
        node_members = {
            r.inputs["member"]
            for r in project_grants
            if r.inputs["role"] in NODE_SERVICE_ACCOUNT_ROLES
        }
        assert all(m.startswith("serviceAccount:") and "-nodes@" in m for m in node_members)
        # The only other project roles: Cloud Trace's writer, for the telemetry identity.
        others = {
            (r.inputs["role"], r.inputs["member"])
            for r in project_grants
            if r.inputs["role"] not in NODE_SERVICE_ACCOUNT_ROLES
        }
        assert {role for role, _ in others} == set(TELEMETRY_WRITER_ROLES)
        assert all(
            m.startswith(f"serviceAccount:{TELEMETRY_SERVICE_ACCOUNT_ID}@") for _, m in others
        )
        assert {r.inputs["role"] for r in project_grants} >= set(NODE_SERVICE_ACCOUNT_ROLES)

    def test_kubernetes_provider_per_cluster_with_exec_auth(self, stack):
        plan = plan_of(stack)
        providers = {p.name: p for p in plan.of_type("pulumi:providers:kubernetes")}
        for spec in clusters_config(plan):
            provider = providers[f"{spec['name']}-k8s"]
            kubeconfig = provider.inputs["kubeconfig"]
            assert "gke-gcloud-auth-plugin" in kubeconfig
            assert "token" not in kubeconfig, "a token in the kubeconfig changes every run"
            assert ".gke.goog" in kubeconfig, "the DNS-based endpoint is what CI reaches"


def test_kubernetes_provider_identity_is_stable_across_previews():
    """Two previews of the same stack send byte-identical provider inputs, so the engine never
    proposes replacing the provider (and everything deployed through it). The first preview is
    the session's (plan_of: a plan_stack run of its own, earlier in the session), the second a
    fresh one."""
    first = {p.name: p.inputs for p in plan_of("staging").of_type("pulumi:providers:kubernetes")}
    second = {
        p.name: p.inputs for p in plan_stack("staging").of_type("pulumi:providers:kubernetes")
    }
    assert first == second


@pytest.mark.parametrize("stack", STACKS)
def test_workload_identity_bindings_wait_for_every_cluster(stack):
    plan = plan_of(stack)
    bindings = [
        b
        for b in plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if b.inputs["member"].endswith("/secret-reader]")
    ]
    project = plan.config["gcp:project"]
    # One per namespace that reads secrets: flux-system, each tenant, and kuma-system for the
    # gateway's TLS entry.
    gateway = ["kuma-system"] if "platform:gateway" in plan.config else []
    readers = ["flux-system", *(t["namespace"] for t in plan.config["platform:tenants"]), *gateway]
    assert sorted(b.inputs["member"] for b in bindings) == sorted(
        f"serviceAccount:{project}.svc.id.goog[{ns}/secret-reader]" for ns in readers
    )
    for binding in bindings:
        for cluster in plan.of_type(CLUSTER):
            assert cluster.urn in binding.dependencies
            assert plan.depends_on(binding, cluster)


@pytest.mark.parametrize("stack", STACKS)
def test_no_service_account_keys(stack):
    types = {r.type for r in plan_of(stack).registrations}
    assert "gcp:serviceaccount/key:Key" not in types
    assert "gcp:storage/hmacKey:HmacKey" not in types


@pytest.mark.parametrize("stack", STACKS)
class TestProtection:
    STATEFUL = (CLUSTER, NODE_POOL, "gcp:secretmanager/secret:Secret")

    def test_protect_and_deletion_protection_follow_the_stage(self, stack):
        plan = plan_of(stack)
        for resource in (r for t in self.STATEFUL for r in plan.of_type(t)):
            assert resource.protect is is_prod(plan), resource.urn
        for cluster in plan.of_type(CLUSTER):
            assert cluster.inputs["deletionProtection"] is is_prod(plan)
        for secret in plan.of_type("gcp:secretmanager/secret:Secret"):
            assert secret.inputs["deletionProtection"] is is_prod(plan)

    def test_secrets_retained_on_delete_in_every_stage(self, stack):
        plan = plan_of(stack)
        for secret in plan.of_type("gcp:secretmanager/secret:Secret"):
            assert secret.retain_on_delete


def test_staging_can_opt_into_protection():
    plan = plan_stack("staging", {"platform:protect": True})
    assert all(c.protect for c in plan.of_type(CLUSTER))
    assert all(c.inputs["deletionProtection"] for c in plan.of_type(CLUSTER))


def _locations(resource: Registration) -> list[str]:
    found = [str(resource.inputs[k]) for k in ("region", "location") if k in resource.inputs]
    replication = resource.inputs.get("replication", {}).get("userManaged", {})
    found += [r["location"] for r in replication.get("replicas", [])]
    return found


def test_prod_eu_keeps_every_location_and_replica_in_the_eu():
    plan = plan_of("prod-eu")
    allowed = set(plan.config["platform:allowedRegions"])
    located = [r for r in plan.resources if _locations(r)]
    assert len(located) > 10
    for resource in located:
        for location in _locations(resource):
            assert location in EU_REGIONS and location in allowed, (resource.urn, location)
    for secret in plan.of_type("gcp:secretmanager/secret:Secret"):
        assert "auto" not in secret.inputs["replication"], "automatic replication leaves the EU"


def test_prod_eu_has_two_zones_in_two_eu_regions():
    zones = [c for c in clusters_config(plan_of("prod-eu")) if c["role"] == "zone"]
    assert len(zones) == 2
    assert len({z["region"] for z in zones}) == 2


# -- disaster recovery by config: the same stack rebuilt in other regions --------------------
def region_move(stack: str) -> dict[str, str]:
    """Each region the stack uses -> one it does not, inside its residency (EU member states for
    `residency: eu`), in a fixed order: any stack file, also a newly added one, can be moved."""
    from offline.engine import stack_config

    config = stack_config(stack)
    database = config.get("platform:database") or {}
    used = {
        config["gcp:region"],
        *(c["region"] for c in config["platform:clusters"]),
        *(database.get(k) for k in ("region", "backupRegion") if database.get(k)),
    }
    space = EU_REGIONS if config.get("platform:residency") == "eu" else GCP_REGIONS
    free = sorted(space - used)
    assert len(free) >= len(used), f"{stack}: not enough free regions to move to"
    return dict(zip(sorted(used), free, strict=False))


# Where fresh ranges come from; control-plane ranges stay in GKE's usual private block.
RANGE_POOLS = {
    "nodes": ipaddress.IPv4Network("10.0.0.0/8"),
    "pods": ipaddress.IPv4Network("10.0.0.0/8"),
    "services": ipaddress.IPv4Network("10.0.0.0/8"),
    "controlPlane": ipaddress.IPv4Network("172.16.0.0/12"),
}


def _fresh_ranges(ranges: dict[str, str], taken: list[ipaddress.IPv4Network]) -> dict[str, str]:
    """The first free block of each range's size: a lost region still holds its subnets (and
    their ranges) and its clusters' control-plane ranges, so the moved clusters cannot reuse
    them until those are deleted, which needs the lost region's API."""
    fresh: dict[str, str] = {}
    for key, cidr in ranges.items():
        size = ipaddress.IPv4Network(cidr).prefixlen
        block = next(
            b
            for b in RANGE_POOLS[key].subnets(new_prefix=size)
            if not any(b.overlaps(t) for t in taken)
        )
        taken.append(block)
        fresh[key] = str(block)
    return fresh


def _moved_config(stack: str, fresh_ranges: bool = True) -> dict[str, object]:
    from offline.engine import stack_config

    config = stack_config(stack)
    move = region_move(stack)
    taken = [
        ipaddress.IPv4Network(cidr)
        for c in config["platform:clusters"]
        for cidr in c["ranges"].values()
    ]
    moved_clusters = [
        {
            **c,
            "region": move[c["region"]],
            "ranges": _fresh_ranges(c["ranges"], taken) if fresh_ranges else c["ranges"],
        }
        if c["region"] in move
        else c
        for c in config["platform:clusters"]
    ]
    moved: dict[str, object] = {}
    database = config.get("platform:database")
    if database:
        # The database moves with the clusters: restored into the new region from its backups
        # (docs/disaster-recovery.md); its endpoint subnet takes a fresh range as well.
        moved["platform:database"] = {
            **database,
            "region": move[database["region"]],
            "backupRegion": move[database["backupRegion"]],
            "endpointRange": _fresh_ranges({"nodes": database["endpointRange"]}, taken)["nodes"]
            if fresh_ranges
            else database["endpointRange"],
        }
    return {
        **moved,
        "gcp:region": move[config["gcp:region"]],
        "platform:clusters": moved_clusters,
        "platform:allowedRegions": sorted({*move.values(), *config["platform:allowedRegions"]}),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_region_move_plans_cleanly_and_every_location_moves(stack):
    original = plan_of(stack)
    move = region_move(stack)
    moved = plan_stack(stack, _moved_config(stack))
    assert moved.error is None
    # Same resources (routers and NATs are named after their region, so compare by type).
    assert Counter(r.type for r in moved.resources) == Counter(r.type for r in original.resources)
    old_regions = set(move)
    for resource in moved.resources:
        if resource.type.startswith(("gcp:secretmanager/", "gcp:logging/")):
            # Secret replicas and the log bucket are data: they stay where the config puts them.
            continue
        for location in _locations(resource):
            assert location not in old_regions, (resource.urn, location)
    for cluster in moved.of_type(CLUSTER):
        assert cluster.inputs["location"] in move.values()
    # The KDS address and everything derived from it stay consistent after the move.
    [address] = [a for a in moved.of_type("gcp:compute/address:Address") if a.name == "kuma-kds"]
    assert address.inputs["region"] in move.values()
    # Nothing the lost regions still hold is asked for again: subnet and control-plane ranges.
    held = _held_ranges(original, set(move))
    assert held and not [
        (r.name, cidr) for r, cidr in _claimed_ranges(moved) if any(cidr.overlaps(h) for h in held)
    ]


def _claimed_ranges(plan: Plan) -> list[tuple[Registration, ipaddress.IPv4Network]]:
    claimed = []
    for subnet in plan.of_type("gcp:compute/subnetwork:Subnetwork"):
        cidrs = [subnet.inputs["ipCidrRange"]]
        cidrs += [s["ipCidrRange"] for s in subnet.inputs.get("secondaryIpRanges", [])]
        claimed += [(subnet, ipaddress.IPv4Network(c)) for c in cidrs]
    for cluster in plan.of_type(CLUSTER):
        block = cluster.get("privateClusterConfig.masterIpv4CidrBlock")
        if block:
            claimed.append((cluster, ipaddress.IPv4Network(block)))
    return claimed


def _held_ranges(plan: Plan, lost: set[str]) -> list[ipaddress.IPv4Network]:
    """What the resources in the lost regions still hold."""
    return [
        cidr
        for resource, cidr in _claimed_ranges(plan)
        if resource.inputs.get("region", resource.inputs.get("location")) in lost
    ]


def test_a_move_that_keeps_its_ranges_asks_for_what_the_lost_region_holds():
    same_ranges = plan_stack("prod-eu", _moved_config("prod-eu", fresh_ranges=False))
    held = _held_ranges(plan_of("prod-eu"), set(region_move("prod-eu")))
    assert any(cidr.overlaps(h) for _, cidr in _claimed_ranges(same_ranges) for h in held)


def test_kds_address_is_inside_the_global_subnet():
    plan = plan_of("prod-eu")
    [address] = [a for a in plan.of_type("gcp:compute/address:Address") if a.name == "kuma-kds"]
    global_spec = next(c for c in clusters_config(plan) if c["role"] == "global")
    assert ipaddress.ip_address(address.inputs["address"]) in ipaddress.ip_network(
        global_spec["ranges"]["nodes"]
    )


API_OF_TYPE_PREFIX = {
    "gcp:compute/": "compute.googleapis.com",
    "gcp:container/": "container.googleapis.com",
    "gcp:secretmanager/": "secretmanager.googleapis.com",
    "gcp:serviceaccount/": "iam.googleapis.com",
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_gcp_resource_waits_for_its_api(stack):
    """On an empty project a resource created before its API is enabled fails. A component's
    dependsOn is not inherited by its children, so each component must pass it down."""
    plan = plan_of(stack)
    services = {s.inputs["service"]: s for s in plan.of_type("gcp:projects/service:Service")}
    checked = 0
    for resource in plan.resources:
        api = next((a for p, a in API_OF_TYPE_PREFIX.items() if resource.type.startswith(p)), None)
        if api is not None:
            checked += 1
            assert plan.depends_on(resource, services[api]), f"{resource.type} {resource.name}"
    assert checked > 20
