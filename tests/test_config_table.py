"""Malformed stack configs fail before any resource is registered, naming the key.

(What the Pulumi CLI itself refuses before the program runs, such as a missing required key or a
top-level value of the wrong type, is specified in tests/test_engine_rules.py.)

Each case mutates the real staging or prod-eu config a little, runs the WHOLE program under the
mock engine (`try_plan`) and asserts that
  - the run failed with a StackConfigError,
  - every expected problem is reported, starting with the exact key a user would pass to
    `pulumi config set --path` and saying what would be accepted,
  - nothing else is reported (the mutation's problems, all of them, and only them),
  - no resource other than the root Stack was registered.
"""

from __future__ import annotations

import pytest

from components.config import StackConfigError
from offline.engine import STACK_TYPE, Plan, PlanFailed, plan_stack, try_plan
from tests.config_cases import (
    Mutation,
    append_at,
    combine,
    delete_at,
    overrides_for,
    rename_at,
    set_at,
)
from tests.support import plan_of

ERROR_PREFIX = "StackConfigError: invalid stack configuration:\n"
STG = "staging"
PROD = "prod-eu"

Expected = tuple[str, str]  # (exact key, fragment of the message saying what is accepted)


def expect(key: str, fragment: str) -> Expected:
    return key, fragment


def case(case_id: str, stack: str, mutation: Mutation, *expected: Expected) -> object:
    return pytest.param(stack, mutation, expected, id=f"{stack}-{case_id}")


def problems_of(plan: Plan) -> list[str]:
    """The problems listed by the StackConfigError the program failed with."""
    assert plan.error is not None, "the program ran to completion with a malformed config"
    assert plan.error.startswith(ERROR_PREFIX), plan.error
    lines = plan.error.removeprefix(ERROR_PREFIX).split("\n")
    assert all(line.startswith("  - ") for line in lines), plan.error
    return [line.removeprefix("  - ") for line in lines]


def assert_reported(problems: list[str], expected: tuple[Expected, ...]) -> None:
    unmatched = list(problems)
    for key, fragment in expected:
        matches = [p for p in unmatched if p.startswith(f"{key}: ") and fragment in p]
        assert matches, f"no problem '{key}: ...{fragment}...' in:\n" + "\n".join(problems)
        unmatched.remove(matches[0])
    assert not unmatched, "unexpected problems:\n" + "\n".join(unmatched)


def assert_nothing_registered(plan: Plan) -> None:
    assert [r.type for r in plan.registrations] == [STACK_TYPE]
    assert plan.resources == []


EXTERNAL = {"description": "set by an operator"}
LONDON, ZURICH, FRANKFURT = "europe-west2", "europe-west6", "europe-west3"

CASES = [
    # -- missing required keys ---------------------------------------------------------------
    case(
        "missing-gcp-project",
        STG,
        delete_at("gcp:project"),
        expect("gcp:project", "required key is missing"),
    ),
    case(
        "missing-gcp-region",
        PROD,
        delete_at("gcp:region"),
        expect("gcp:region", "required key is missing"),
    ),
    case(
        "missing-nested-range",
        PROD,
        delete_at("platform:clusters[2].ranges.pods"),
        expect("platform:clusters[2].ranges.pods", "required key is missing"),
    ),
    case(
        "missing-pool-name",
        STG,
        delete_at("platform:clusters[0].nodePools[0].name"),
        expect("platform:clusters[0].nodePools[0].name", "required key is missing"),
    ),
    # -- topology: exactly one global cluster, at least one zone -------------------------------
    case(
        "two-globals-no-zone",
        STG,
        combine(
            set_at("platform:clusters[1].role", "global"),
            delete_at("platform:clusters[1].kumaZone"),
        ),
        expect("platform:clusters", "exactly one cluster must have role 'global' (found 2)"),
        expect("platform:clusters", "at least one cluster must have role 'zone'"),
    ),
    case(
        "two-globals",
        PROD,
        combine(
            set_at("platform:clusters[2].role", "global"),
            delete_at("platform:clusters[2].kumaZone"),
        ),
        expect("platform:clusters", "exactly one cluster must have role 'global' (found 2)"),
    ),
    case(
        "no-global",
        PROD,
        combine(
            set_at("platform:clusters[0].role", "zone"),
            set_at("platform:clusters[0].kumaZone", "prod-global"),
        ),
        expect("platform:clusters", "exactly one cluster must have role 'global' (found 0)"),
    ),
    case(
        "single-cluster",
        STG,
        delete_at("platform:clusters[1]"),
        expect("platform:clusters", "at least 2 items"),
    ),
    case(
        "unknown-role",
        STG,
        set_at("platform:clusters[1].role", "primary"),
        expect("platform:clusters[1].role", "'global' or 'zone'"),
    ),
    # -- names ---------------------------------------------------------------------------------
    case(
        "duplicate-cluster-name",
        STG,
        set_at("platform:clusters[1].name", "stg-global"),
        expect(
            "platform:clusters", "cluster name 'stg-global' is used twice; names must be unique"
        ),
    ),
    case(
        "duplicate-cluster-name",
        PROD,
        set_at("platform:clusters[2].name", "prod-zone-ew1"),
        expect("platform:clusters", "'prod-zone-ew1' is used twice; names must be unique"),
    ),
    case(
        "duplicate-kuma-zone",
        PROD,
        set_at("platform:clusters[2].kumaZone", "prod-ew1"),
        expect("platform:clusters", "kumaZone 'prod-ew1' is used twice; zone names must be unique"),
    ),
    case(
        "kuma-zone-not-rfc1035",
        STG,
        set_at("platform:clusters[1].kumaZone", "Stg_EW1"),
        expect("platform:clusters[1].kumaZone", "not an RFC 1035 label: 1-63 characters"),
    ),
    case(
        "kuma-zone-64-chars",
        PROD,
        set_at("platform:clusters[1].kumaZone", "z" * 64),
        expect("platform:clusters[1].kumaZone", "has 64 characters: use at most 63"),
    ),
    case(
        "kuma-zone-trailing-dash",
        PROD,
        set_at("platform:clusters[2].kumaZone", "prod-ew4-"),
        expect("platform:clusters[2].kumaZone", "not ending with '-'"),
    ),
    case(
        "cluster-name-uppercase",
        STG,
        set_at("platform:clusters[0].name", "Stg-Global"),
        expect("platform:clusters[0].name", "not an RFC 1035 label"),
    ),
    case(
        "cluster-name-41-chars",
        PROD,
        set_at("platform:clusters[0].name", "p" * 41),
        expect("platform:clusters[0].name", "use at most 40 (Google Cloud's limit)"),
    ),
    case(
        "environment-not-rfc1035",
        STG,
        set_at("platform:environment", "Staging"),
        expect("platform:environment", "not an RFC 1035 label"),
    ),
    case(
        "environment-not-the-stack-name",
        PROD,
        set_at("platform:environment", "prod-us"),
        expect("platform:environment", "must equal the stack name 'prod-eu'"),
    ),
    # -- kumaZone by role ----------------------------------------------------------------------
    case(
        "zone-without-kuma-zone",
        STG,
        delete_at("platform:clusters[1].kumaZone"),
        expect("platform:clusters[1].kumaZone", "required for a cluster with role 'zone'"),
    ),
    case(
        "zone-without-kuma-zone",
        PROD,
        delete_at("platform:clusters[2].kumaZone"),
        expect("platform:clusters[2].kumaZone", "required for a cluster with role 'zone'"),
    ),
    case(
        "global-with-kuma-zone",
        STG,
        set_at("platform:clusters[0].kumaZone", "stg-global"),
        expect("platform:clusters[0].kumaZone", "must not be set on the 'global' cluster"),
    ),
    case(
        "global-with-kuma-zone",
        PROD,
        set_at("platform:clusters[0].kumaZone", "prod-global"),
        expect("platform:clusters[0].kumaZone", "must not be set on the 'global' cluster"),
    ),
    # -- CIDRs ---------------------------------------------------------------------------------
    case(
        "cidr-prefix-33",
        STG,
        set_at("platform:clusters[0].ranges.nodes", "10.10.0.0/33"),
        expect("platform:clusters[0].ranges.nodes", "not an IPv4 CIDR with host bits zero"),
    ),
    case(
        "cidr-host-bits",
        PROD,
        set_at("platform:clusters[1].ranges.nodes", "10.120.0.1/20"),
        expect("platform:clusters[1].ranges.nodes", "not an IPv4 CIDR with host bits zero"),
    ),
    case(
        "cidr-not-an-address",
        PROD,
        set_at("platform:clusters[2].ranges.services", "ten.dot.zero/20"),
        expect("platform:clusters[2].ranges.services", "not an IPv4 CIDR"),
    ),
    case(
        "overlap-across-clusters",
        STG,
        set_at("platform:clusters[1].ranges.pods", "10.11.0.0/18"),
        expect(
            "platform:clusters[1].ranges.pods",
            "overlaps clusters[0].ranges.pods 10.11.0.0/18; every range must be disjoint",
        ),
    ),
    case(
        "overlap-within-cluster",
        PROD,
        set_at("platform:clusters[2].ranges.services", "10.130.4.0/24"),
        expect(
            "platform:clusters[2].ranges.services",
            "overlaps clusters[2].ranges.nodes 10.130.0.0/20; every range must be disjoint",
        ),
    ),
    case(
        "overlap-control-planes",
        PROD,
        set_at("platform:clusters[2].ranges.controlPlane", "172.16.1.16/28"),
        expect(
            "platform:clusters[2].ranges.controlPlane",
            "overlaps clusters[1].ranges.controlPlane 172.16.1.16/28",
        ),
    ),
    case(
        "overlap-node-range-contains-pods",
        STG,
        set_at("platform:clusters[1].ranges.nodes", "10.8.0.0/13"),
        expect("platform:clusters[1].ranges.nodes", "overlaps clusters[0].ranges.nodes"),
        expect("platform:clusters[1].ranges.nodes", "overlaps clusters[0].ranges.pods"),
        expect("platform:clusters[1].ranges.nodes", "overlaps clusters[0].ranges.services"),
    ),
    case(
        "control-plane-27",
        STG,
        set_at("platform:clusters[0].ranges.controlPlane", "172.16.0.32/27"),
        expect("platform:clusters[0].ranges.controlPlane", "must be a /28 (GKE requires it)"),
    ),
    case(
        "control-plane-29",
        PROD,
        set_at("platform:clusters[1].ranges.controlPlane", "172.16.1.16/29"),
        expect("platform:clusters[1].ranges.controlPlane", "must be a /28 (GKE requires it)"),
    ),
    case(
        "pods-too-small",
        STG,
        set_at("platform:clusters[1].ranges.pods", "10.21.0.0/25"),
        expect("platform:clusters[1].ranges.pods", "too small: use /24 or larger"),
    ),
    case(
        "public-range",
        PROD,
        set_at("platform:clusters[1].ranges.pods", "8.8.0.0/16"),
        expect("platform:clusters[1].ranges.pods", "not a private (RFC 1918/6598) range"),
    ),
    case(
        "loopback-range",
        STG,
        set_at("platform:clusters[0].ranges.services", "127.0.0.0/22"),
        expect("platform:clusters[0].ranges.services", "not a private (RFC 1918/6598) range"),
    ),
    case(
        "authorized-network-open-to-internet",
        PROD,
        set_at("platform:authorizedNetworks[1].cidr", "0.0.0.0/0"),
        expect("platform:authorizedNetworks[1].cidr", "would open the control plane"),
    ),
    # -- regions -------------------------------------------------------------------------------
    case(
        "cluster-region-typo",
        STG,
        set_at("platform:clusters[1].region", "europe-west11"),
        expect("platform:clusters[1].region", "not a Google Cloud region (e.g. 'europe-west1')"),
    ),
    case(
        "gcp-region-typo",
        PROD,
        set_at("gcp:region", "eu-west1"),
        expect("gcp:region", "not a Google Cloud region (e.g. 'europe-west1')"),
    ),
    case(
        "allowed-region-typo",
        STG,
        append_at("platform:allowedRegions", "europe-west99"),
        expect("platform:allowedRegions[2]", "'europe-west99' is not a Google Cloud region"),
    ),
    case(
        "cluster-outside-allowed-regions",
        PROD,
        set_at("platform:clusters[2].region", "europe-west9"),
        expect("platform:clusters[2].region", "is not in allowedRegions"),
    ),
    case(
        "cluster-outside-allowed-regions",
        STG,
        set_at("platform:clusters[1].region", FRANKFURT),
        expect("platform:clusters[1].region", "is not in allowedRegions"),
    ),
    case(
        "gcp-region-outside-allowed-regions",
        STG,
        set_at("gcp:region", FRANKFURT),
        expect("gcp:region", "'europe-west3' is not in allowedRegions"),
    ),
    case(
        "eu-residency-london",
        PROD,
        append_at("platform:allowedRegions", LONDON),
        expect("platform:allowedRegions", "outside the EU; residency 'eu' accepts only"),
    ),
    case(
        "eu-residency-zurich",
        STG,
        append_at("platform:allowedRegions", ZURICH),
        expect("platform:allowedRegions", "['europe-west6'] are outside the EU"),
    ),
    case(
        "eu-residency-us-cluster",
        PROD,
        combine(
            append_at("platform:allowedRegions", "us-central1"),
            set_at("platform:clusters[2].region", "us-central1"),
        ),
        expect("platform:allowedRegions", "['us-central1'] are outside the EU"),
    ),
    case(
        "secret-replica-outside-allowed",
        STG,
        append_at("platform:secretReplicaRegions", FRANKFURT),
        expect("platform:secretReplicaRegions", "'europe-west3' is not in allowedRegions"),
    ),
    case(
        "secret-replica-listed-twice",
        PROD,
        append_at("platform:secretReplicaRegions", "europe-west1"),
        expect("platform:secretReplicaRegions", "listed twice: ['europe-west1']"),
    ),
    case(
        "residency-unknown",
        STG,
        set_at("platform:residency", "EU"),
        expect("platform:residency", "'eu' or 'any'"),
    ),
    # -- node pools ----------------------------------------------------------------------------
    case(
        "pool-min-above-max",
        STG,
        set_at("platform:clusters[1].nodePools[0].minNodes", 5),
        expect("platform:clusters[1].nodePools[0].minNodes", "5 must be <= maxNodes (4)"),
    ),
    case(
        "pool-min-above-max",
        PROD,
        set_at("platform:clusters[1].nodePools[1].minNodes", 11),
        expect("platform:clusters[1].nodePools[1].minNodes", "11 must be <= maxNodes (10)"),
    ),
    case(
        "pool-max-zero",
        PROD,
        set_at("platform:clusters[0].nodePools[0].maxNodes", 0),
        expect("platform:clusters[0].nodePools[0].maxNodes", "greater than or equal to 1"),
    ),
    case(
        "pool-min-negative",
        STG,
        set_at("platform:clusters[0].nodePools[0].minNodes", -1),
        expect("platform:clusters[0].nodePools[0].minNodes", "greater than or equal to 0"),
    ),
    case(
        "duplicate-pool-names",
        PROD,
        set_at("platform:clusters[1].nodePools[1].name", "workloads"),
        expect("platform:clusters[1].nodePools", "node pool names must be unique"),
    ),
    case(
        "pool-name-not-rfc1035",
        STG,
        set_at("platform:clusters[1].nodePools[0].name", "Workloads"),
        expect("platform:clusters[1].nodePools[0].name", "not an RFC 1035 label"),
    ),
    case(
        "no-node-pools",
        PROD,
        set_at("platform:clusters[0].nodePools", []),
        expect("platform:clusters[0].nodePools", "at least 1 item"),
    ),
    case(
        "only-spot-pools",
        STG,
        set_at("platform:clusters[0].nodePools[0].spot", True),
        expect("platform:clusters[0].nodePools", "every pool is spot"),
    ),
    case(
        "only-spot-pools",
        PROD,
        set_at("platform:clusters[2].nodePools[0].spot", True),
        expect("platform:clusters[2].nodePools", "add a pool with spot: false"),
    ),
    case(
        "prod-global-pool-cannot-hold-control-plane",
        PROD,
        set_at("platform:clusters[0].nodePools[0].minNodes", 1),
        expect("platform:clusters[0].nodePools", "raise minNodes of pool 'system' to 3"),
    ),
    case(
        "prod-zone-pool-cannot-hold-control-plane",
        PROD,
        set_at("platform:clusters[1].nodePools[0].minNodes", 2),
        expect("platform:clusters[1].nodePools", "their minNodes sum to 2"),
    ),
    # -- maintenance windows and exclusions (GKE's rules: components/gcp_limits.py) --------------
    case(
        "prod-cluster-without-maintenance",
        PROD,
        delete_at("platform:clusters[1].maintenance"),
        expect("platform:clusters[1].maintenance", "required for a prod cluster"),
    ),
    case(
        "maintenance-time-not-rfc3339",
        PROD,
        set_at("platform:clusters[0].maintenance.window.startTime", "2026-01-03 01:00"),
        expect("platform:clusters[0].maintenance.window.startTime", "not an RFC 3339 time"),
    ),
    case(
        "maintenance-time-without-offset",
        STG,
        set_at(
            "platform:clusters[0].maintenance",
            {
                "window": {
                    "startTime": "2026-01-03T01:00:00",
                    "endTime": "2026-01-03T07:00:00Z",
                    "recurrence": "FREQ=DAILY",
                }
            },
        ),
        expect("platform:clusters[0].maintenance.window.startTime", "not an RFC 3339 time"),
    ),
    case(
        "maintenance-window-too-short",
        PROD,
        set_at("platform:clusters[0].maintenance.window.endTime", "2026-01-03T04:00:00Z"),
        expect("platform:clusters[0].maintenance.window.endTime", "at least 4 contiguous hours"),
    ),
    case(
        "maintenance-window-ends-before-it-starts",
        PROD,
        set_at("platform:clusters[2].maintenance.window.endTime", "2026-01-02T07:00:00Z"),
        expect("platform:clusters[2].maintenance.window.endTime", "must be after startTime"),
    ),
    case(
        "maintenance-too-little-time",
        PROD,
        set_at("platform:clusters[0].maintenance.window.recurrence", "FREQ=WEEKLY;BYDAY=SA"),
        expect("platform:clusters[0].maintenance.window.recurrence", "GKE requires at least 48"),
    ),
    case(
        "maintenance-recurrence-unknown",
        PROD,
        set_at("platform:clusters[0].maintenance.window.recurrence", "FREQ=WEEKLY;BYDAY=XX"),
        expect("platform:clusters[0].maintenance.window.recurrence", "use 'FREQ=DAILY'"),
    ),
    case(
        "maintenance-exclusion-scope",
        PROD,
        set_at("platform:clusters[0].maintenance.exclusions[0].scope", "NO_PATCHES"),
        expect(
            "platform:clusters[0].maintenance.exclusions[0].scope",
            "'NO_UPGRADES', 'NO_MINOR_UPGRADES' or 'NO_MINOR_OR_NODE_UPGRADES'",
        ),
    ),
    case(
        "maintenance-exclusion-ends-before-it-starts",
        PROD,
        set_at("platform:clusters[1].maintenance.exclusions[0].endTime", "2026-12-01T00:00:00Z"),
        expect("platform:clusters[1].maintenance.exclusions[0].endTime", "must be after"),
    ),
    case(
        "maintenance-exclusion-names-repeat",
        PROD,
        append_at(
            "platform:clusters[0].maintenance.exclusions",
            {
                "name": "year-end-freeze",
                "startTime": "2027-03-01T00:00:00Z",
                "endTime": "2027-03-02T00:00:00Z",
                "scope": "NO_UPGRADES",
            },
        ),
        expect("platform:clusters[0].maintenance.exclusions", "exclusion names must be unique"),
    ),
    # -- where logs are stored (components/log_storage.py) --------------------------------------
    case(
        "log-bucket-outside-allowed-regions",
        STG,
        set_at("platform:logging.bucketLocation", "europe-west3"),
        expect("platform:logging.bucketLocation", "is not in allowedRegions"),
    ),
    case(
        "eu-stack-without-org-log-location",
        STG,
        delete_at("platform:logging.orgStorageLocation"),
        expect("platform:logging.orgStorageLocation", "--storage-location=<EU region>"),
    ),
    case(
        "machine-type",
        STG,
        set_at("platform:clusters[0].nodePools[0].machineType", "e2_standard"),
        expect("platform:clusters[0].nodePools[0].machineType", "unknown machine family"),
    ),
    case(
        "release-channel",
        PROD,
        set_at("platform:clusters[1].releaseChannel", "BETA"),
        expect("platform:clusters[1].releaseChannel", "'RAPID', 'REGULAR', 'STABLE' or 'EXTENDED'"),
    ),
    # -- what Google Cloud would refuse (components/gcp_limits.py) -----------------------------
    case(
        "pool-name-41-chars",
        PROD,
        set_at("platform:clusters[1].nodePools[0].name", "p" * 41),
        expect("platform:clusters[1].nodePools[0].name", "has 41 characters: use at most 40"),
    ),
    case(
        "router-nat-name-over-63",
        STG,
        set_at("platform:network.name", "n" * 51),
        expect("platform:network.name", "the Cloud Router and NAT name of europe-west1"),
    ),
    case(
        "machine-family-unknown",
        PROD,
        set_at("platform:clusters[1].nodePools[0].machineType", "z9-standard-4"),
        expect("platform:clusters[1].nodePools[0].machineType", "unknown machine family"),
    ),
    case(
        "machine-vcpus-not-offered",
        STG,
        set_at("platform:clusters[1].nodePools[0].machineType", "e2-standard-6"),
        expect("platform:clusters[1].nodePools[0].machineType", "comes with 2, 4, 8, 16, 32 vCPUs"),
    ),
    case(
        "machine-series-unknown",
        PROD,
        set_at("platform:clusters[2].nodePools[0].machineType", "n2-ultramem-4"),
        expect("platform:clusters[2].nodePools[0].machineType", "not a n2 machine type"),
    ),
    case(
        "machine-custom-not-offered",
        STG,
        set_at("platform:clusters[0].nodePools[0].machineType", "c2-custom-4-16384"),
        expect("platform:clusters[0].nodePools[0].machineType", "has no custom machine types"),
    ),
    case(
        "disk-pd-on-hyperdisk-only-family",
        PROD,
        set_at("platform:clusters[1].nodePools[0].machineType", "c4-standard-8"),
        expect("platform:clusters[1].nodePools[0].diskType", "cannot be the boot disk of c4"),
    ),
    case(
        "disk-hyperdisk-on-e2",
        STG,
        set_at("platform:clusters[1].nodePools[0].diskType", "hyperdisk-balanced"),
        expect("platform:clusters[1].nodePools[0].diskType", "cannot be the boot disk of e2"),
    ),
    case(
        "disk-type-unknown",
        PROD,
        set_at("platform:clusters[0].nodePools[0].diskType", "pd-extreme"),
        expect("platform:clusters[0].nodePools[0].diskType", "'pd-balanced', 'pd-ssd'"),
    ),
    case(
        "too-many-labels",
        STG,
        set_at("platform:labels", {f"l{i}": "x" for i in range(51)}),
        expect("platform:labels", "51 labels: at most 50"),
    ),
    case(
        "label-key-google-prefix",
        PROD,
        set_at("platform:labels.goog-owner", "x"),
        expect("platform:labels", "the prefix 'goog-' is Google's"),
    ),
    case(
        "label-key-platform-owned",
        STG,
        set_at("platform:labels.cluster", "x"),
        expect("platform:labels", "label key 'cluster' is set by the platform itself"),
    ),
    case(
        "too-many-authorized-networks",
        PROD,
        set_at(
            "platform:authorizedNetworks",
            [{"displayName": f"n{i}", "cidr": f"10.250.{i}.0/24"} for i in range(51)],
        ),
        expect("platform:authorizedNetworks", "at most 50 items"),
    ),
    # -- Secret Manager ------------------------------------------------------------------------
    case(
        "secret-id-invalid-characters",
        STG,
        set_at("platform:secrets[1].id", "catalog.db/password"),
        expect("platform:secrets[1].id", "1-255 characters of A-Z, a-z, 0-9, '-', '_'"),
    ),
    case(
        "secret-id-too-long",
        PROD,
        set_at("platform:secrets[3].id", "k" * 256),
        expect("platform:secrets[3].id", "not a Secret Manager id"),
    ),
    case(
        "secret-generated-and-external",
        STG,
        set_at("platform:secrets[1].external", EXTERNAL),
        expect("platform:secrets[1]", "set exactly one of 'generated' or 'external'"),
    ),
    case(
        "secret-neither-source",
        PROD,
        delete_at("platform:secrets[2].generated"),
        expect("platform:secrets[2]", "set exactly one of 'generated' or 'external'"),
    ),
    case(
        "duplicate-secret-id",
        STG,
        set_at("platform:secrets[2].id", "catalog-db-password"),
        expect("platform:secrets", "'catalog-db-password' is used twice"),
    ),
    case(
        "secret-id-of-the-program",
        PROD,
        set_at("platform:secrets[3].id", "kuma-mesh-ca"),
        expect("platform:secrets", "'kuma-mesh-ca' is the program's own entry"),
    ),
    case(
        "generated-too-short",
        PROD,
        set_at("platform:secrets[1].generated.length", 8),
        expect("platform:secrets[1].generated.length", "greater than or equal to 16"),
    ),
    case(
        "gitops-credentials-unknown-secret",
        STG,
        set_at("platform:gitops.credentialsSecret", "flux-git-creds"),
        expect("platform:gitops.credentialsSecret", "is not one of secrets[].id"),
    ),
    case(
        "gitops-credentials-generated",
        PROD,
        set_at("platform:gitops.credentialsSecret", "catalog-db-password"),
        expect("platform:gitops.credentialsSecret", "must be 'external'"),
    ),
    case(
        "gitops-credentials-not-exposed",
        STG,
        set_at("platform:secrets[0].readers", []),
        expect("platform:gitops.credentialsSecret", "with readers: [flux-system]"),
    ),
    case(
        "secret-reader-unknown-namespace",
        STG,
        set_at("platform:secrets[1].readers", ["catalog", "payments"]),
        expect(
            "platform:secrets[1].readers",
            "'payments' is not one of ['flux-system', 'catalog', 'storefront'",
        ),
        # The entry is the database's password: a second reader is a problem of its own.
        expect("platform:database.passwordSecret", "the database's tenant alone reads it"),
    ),
    case(
        "flux-reads-an-app-secret",
        PROD,
        set_at("platform:secrets[2].readers", ["storefront", "flux-system"]),
        expect("platform:secrets[2].readers", "may read only the git credentials"),
    ),
    case(
        "git-credentials-shared-with-a-tenant",
        STG,
        set_at("platform:secrets[0].readers", ["flux-system", "catalog"]),
        expect("platform:gitops.credentialsSecret", "with readers: [flux-system]"),
    ),
    # Staging's Flux posts the promotion's commit statuses with secrets[5] (flux-commit-status).
    case(
        "commit-statuses-from-prod",
        PROD,
        set_at("platform:gitops.commitStatusSecret", "flux-git-credentials"),
        expect("platform:gitops.commitStatusSecret", "a prod stack posts no commit statuses"),
    ),
    case(
        "commit-status-unknown-secret",
        STG,
        set_at("platform:gitops.commitStatusSecret", "flux-commit"),
        expect("platform:gitops.commitStatusSecret", "is not one of secrets[].id"),
    ),
    case(
        "commit-status-generated",
        STG,
        set_at("platform:gitops.commitStatusSecret", "catalog-db-password"),
        expect("platform:gitops.commitStatusSecret", "must be 'external'"),
    ),
    case(
        "commit-status-keys-shared-with-a-tenant",
        STG,
        set_at("platform:secrets[5].readers", ["flux-system", "catalog"]),
        expect("platform:gitops.commitStatusSecret", "with readers: [flux-system]"),
    ),
    case(
        "flux-reads-an-app-secret-besides-its-two",
        STG,
        set_at("platform:secrets[2].readers", ["storefront", "flux-system"]),
        expect(
            "platform:secrets[2].readers",
            "may read only the git credentials and the commit-status keys "
            "('flux-git-credentials', 'flux-commit-status')",
        ),
    ),
    case(
        "secret-reader-listed-twice",
        PROD,
        set_at("platform:secrets[1].readers", ["catalog", "catalog"]),
        expect("platform:secrets[1].readers", "listed twice"),
    ),
    case(
        "tenant-reserved-namespace",
        PROD,
        set_at("platform:tenants[0].namespace", "kube-system"),
        expect("platform:tenants[0].namespace", "a namespace of Kubernetes, GKE or the platform"),
    ),
    case(
        "tenant-not-a-namespace-name",
        STG,
        set_at("platform:tenants[1].namespace", "Store_Front"),
        expect("platform:tenants[1].namespace", "not a Kubernetes namespace name"),
    ),
    case(
        "tenant-starts-with-a-digit",
        STG,
        set_at("platform:tenants[1].namespace", "9shop"),
        expect("platform:tenants[1].namespace", "'9shop' must start with a letter"),
    ),
    case(
        "tenant-is-a-platform-namespace",
        STG,
        set_at("platform:tenants[1].namespace", "observability"),
        expect("platform:tenants[1].namespace", "'observability' is a namespace of Kubernetes"),
    ),
    case(
        "tenant-listed-twice",
        STG,
        set_at("platform:tenants[1].namespace", "catalog"),
        expect("platform:tenants", "namespace 'catalog' is listed twice"),
        # storefront's entry now names a namespace that is no tenant (the known ones once each).
        expect(
            "platform:secrets[2].readers",
            "'storefront' is not one of ['flux-system', 'catalog', 'kuma-system']",
        ),
    ),
    case(
        "gateway-tls-unknown-secret",
        PROD,
        set_at("platform:gateway.tlsSecret", "gateway-cert"),
        expect("platform:gateway.tlsSecret", "is not one of secrets[].id"),
    ),
    case(
        "gateway-tls-generated",
        STG,
        set_at("platform:gateway.tlsSecret", "catalog-db-password"),
        expect("platform:gateway.tlsSecret", "must be 'external'"),
    ),
    case(
        "gateway-exposure-unknown",
        PROD,
        set_at("platform:gateway.exposure", "Public"),
        expect("platform:gateway.exposure", "'External' or 'Internal'"),
    ),
    case(
        "gitops-url-scheme",
        PROD,
        set_at("platform:gitops.repositoryUrl", "git@github.com:acme/gcp-platform.git"),
        expect("platform:gitops.repositoryUrl", "is not an https:// URL"),
    ),
    case(
        "gitops-url-ssh",
        PROD,
        set_at("platform:gitops.repositoryUrl", "ssh://git@github.com/acme/gcp-platform.git"),
        expect("platform:gitops.repositoryUrl", "Flux reaches git over HTTPS only (port 443"),
    ),
    # -- stage / protect -----------------------------------------------------------------------
    case(
        "prod-unprotected",
        PROD,
        set_at("platform:protect", False),
        expect("platform:protect", "a prod stack is always protected"),
    ),
    case(
        "stage-unknown",
        STG,
        set_at("platform:stage", "production"),
        expect("platform:stage", "'staging' or 'prod'"),
    ),
    case(
        "gcp-project-id",
        PROD,
        set_at("gcp:project", "Acme_Prod"),
        expect("gcp:project", "not a GCP project id: 6-30 characters"),
    ),
    # -- labels --------------------------------------------------------------------------------
    case(
        "label-key-uppercase",
        STG,
        set_at("platform:labels.Team", "platform"),
        expect("platform:labels", "label key 'Team': lowercase letters, digits"),
    ),
    case(
        "label-value-space",
        PROD,
        set_at("platform:labels.team", "Platform Team"),
        expect("platform:labels", "values are lowercase letters, digits"),
    ),
    case(
        "label-value-64-chars",
        STG,
        set_at("platform:labels.cost-center", "c" * 64),
        expect("platform:labels", "values are at most 63 characters"),
    ),
    # -- unknown keys: a typo is never silently ignored ----------------------------------------
    case(
        "unknown-top-level-key",
        PROD,
        set_at("platform:enableMesh", True),
        expect("platform:enableMesh", "unknown key (a typo?"),
    ),
    case(
        "typo-pool-minNode",
        PROD,
        rename_at("platform:clusters[1].nodePools[0].minNodes", "minNode"),
        expect("platform:clusters[1].nodePools[0].minNode", "unknown key (a typo?"),
    ),
    case(
        "typo-pool-minNode",
        STG,
        rename_at("platform:clusters[0].nodePools[0].minNodes", "minNode"),
        expect("platform:clusters[0].nodePools[0].minNode", "unknown key (a typo?"),
    ),
    case(
        "typo-ranges-controlplane",
        STG,
        rename_at("platform:clusters[1].ranges.controlPlane", "controlplane"),
        expect("platform:clusters[1].ranges.controlplane", "unknown key"),
        expect("platform:clusters[1].ranges.controlPlane", "required key is missing"),
    ),
    case(
        "typo-cluster-kumazone",
        PROD,
        rename_at("platform:clusters[2].kumaZone", "kumazone"),
        expect("platform:clusters[2].kumazone", "unknown key"),
    ),
    case(
        "typo-secret-reader",
        STG,
        rename_at("platform:secrets[2].readers", "reader"),
        expect("platform:secrets[2].reader", "unknown key"),
    ),
    case(
        "typo-gitops-repositoryURL",
        PROD,
        rename_at("platform:gitops.repositoryUrl", "repositoryURL"),
        expect("platform:gitops.repositoryURL", "unknown key"),
        expect("platform:gitops.repositoryUrl", "required key is missing"),
    ),
    case(
        "typo-network-routingmode",
        STG,
        set_at("platform:network.routingmode", "GLOBAL"),
        expect("platform:network.routingmode", "unknown key"),
    ),
    case(
        "region-under-platform-namespace",
        STG,
        set_at("platform:region", "europe-west1"),
        expect("platform:region", "unknown key"),
    ),
    case(
        "region-under-platform-namespace-only",
        PROD,
        rename_at("gcp:region", "platform:region"),
        expect("platform:region", "unknown key"),
        expect("gcp:region", "required key is missing"),
    ),
    # -- several independent problems are reported at once ------------------------------------
    case(
        "three-independent-problems",
        STG,
        combine(
            set_at("gcp:region", "mars-central1"),
            set_at("platform:clusters[1].nodePools[0].minNodes", 9),
            set_at("platform:secrets[1].id", "bad id!"),
        ),
        expect("gcp:region", "not a Google Cloud region"),
        expect("platform:clusters[1].nodePools[0].minNodes", "must be <= maxNodes"),
        expect("platform:secrets[1].id", "not a Secret Manager id"),
    ),
    case(
        "three-cross-field-problems",
        PROD,
        combine(
            set_at("platform:protect", False),
            set_at("platform:clusters[2].ranges.pods", "10.121.0.0/16"),
            append_at("platform:secretReplicaRegions", "europe-west9"),
        ),
        expect("platform:protect", "always protected"),
        expect("platform:clusters[2].ranges.pods", "overlaps clusters[1].ranges.pods"),
        expect("platform:secretReplicaRegions", "is not in allowedRegions"),
    ),
    case(
        "field-and-cross-field-problems-together",
        STG,
        combine(
            rename_at("platform:clusters[0].nodePools[0].minNodes", "minNode"),
            set_at("platform:clusters[1].ranges.pods", "10.11.0.0/18"),
            set_at("gcp:region", "europe-west3"),
            set_at("platform:gitops.credentialsSecret", "catalog-db-password"),
        ),
        expect("platform:clusters[0].nodePools[0].minNode", "unknown key"),
        expect("platform:clusters[1].ranges.pods", "overlaps clusters[0].ranges.pods"),
        expect("gcp:region", "is not in allowedRegions"),
        expect("platform:gitops.credentialsSecret", "must be 'external'"),
    ),
    case(
        "problems-in-every-cluster",
        PROD,
        combine(
            set_at("platform:clusters[0].ranges.controlPlane", "172.16.1.0/27"),
            delete_at("platform:clusters[1].kumaZone"),
            set_at("platform:clusters[2].nodePools[0].minNodes", 20),
        ),
        expect("platform:clusters[0].ranges.controlPlane", "must be a /28"),
        expect("platform:clusters[1].kumaZone", "required"),
        expect("platform:clusters[2].nodePools[0].minNodes", "must be <= maxNodes (10)"),
    ),
    # -- alert notification --------------------------------------------------------------------
    case(
        "alert-email-not-an-address",
        PROD,
        set_at("platform:alertEmails[0]", "platform-oncall"),
        expect("platform:alertEmails[0]", "is not an email address (name@domain)"),
    ),
    case(
        "alert-email-twice",
        STG,
        set_at("platform:alertEmails", ["oncall@acme.example", "oncall@acme.example"]),
        expect("platform:alertEmails", "listed twice: ['oncall@acme.example']"),
    ),
]


@pytest.mark.parametrize(("stack", "mutation", "expected"), CASES)
def test_malformed_config_fails_before_any_resource(
    stack: str, mutation: Mutation, expected: tuple[Expected, ...]
) -> None:
    plan = try_plan(stack, overrides_for(stack, mutation))
    assert_reported(problems_of(plan), expected)
    assert_nothing_registered(plan)


def test_table_is_large_and_ids_are_unique() -> None:
    ids = [param.id for param in CASES]  # type: ignore[attr-defined]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)
    assert {param.values[0] for param in CASES} == {STG, PROD}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "mutation",
    [
        set_at("platform:enableMesh", True),
        set_at("platform:clusters[1].nodePools[0].minNodes", 5),
        delete_at("gcp:project"),
    ],
    ids=["unknown-key", "min-above-max", "missing-key"],
)
def test_the_error_is_a_stack_config_error_with_the_problems(mutation: Mutation) -> None:
    """What `try_plan` reports as text is a StackConfigError (a pulumi.RunError) with .problems."""
    with pytest.raises(PlanFailed) as failed:
        plan_stack(STG, overrides_for(STG, mutation))
    error = failed.value.error
    assert isinstance(error, StackConfigError)
    assert error.problems == problems_of(failed.value.plan)
    assert_nothing_registered(failed.value.plan)


@pytest.mark.parametrize("stack", [STG, PROD])
def test_the_real_stacks_are_valid(stack: str) -> None:
    """The baseline every case mutates: unmodified, the program runs and registers resources.

    The unmodified stack's plan is the one tests/support.py plans once per test process for the
    other modules (`plan_stack(stack)`, which raises PlanFailed on any error): the empty mutation
    has no overrides, so it is the very same run."""
    assert overrides_for(stack, combine()) == {}
    plan = plan_of(stack)
    assert plan.error is None
    assert plan.resources


@pytest.mark.parametrize(
    ("stack", "mutation"),
    [
        (PROD, set_at("platform:clusters[1].releaseChannel", "EXTENDED")),
        (STG, set_at("platform:clusters[1].nodePools[0].machineType", "n2-custom-4-16384")),
        (PROD, set_at("platform:clusters[1].nodePools[0].machineType", "custom-2-4096")),
        (
            PROD,
            combine(
                set_at("platform:clusters[1].nodePools[0].machineType", "n4-standard-8"),
                set_at("platform:clusters[1].nodePools[0].diskType", "hyperdisk-balanced"),
            ),
        ),
        (STG, set_at("platform:labels", {"équipe": "données"})),
        (STG, set_at("platform:network.name", "n" * 50)),
        (
            PROD,
            set_at(
                "platform:clusters[0].maintenance.window",
                {
                    "startTime": "2026-01-05T22:00:00+01:00",
                    "endTime": "2026-01-06T02:00:00+01:00",
                    "recurrence": "FREQ=DAILY",
                },
            ),
        ),
        (
            STG,
            combine(
                set_at("platform:residency", "any"),
                delete_at("platform:logging.orgStorageLocation"),
            ),
        ),
    ],
    ids=[
        "extended-channel",
        "custom-n2",
        "custom-n1",
        "n4-hyperdisk",
        "intl-label",
        "network-50",
        "daily-4h-window",
        "no-eu-residency-no-org-log-check",
    ],
)
def test_values_google_cloud_accepts_are_accepted(stack: str, mutation: Mutation) -> None:
    plan = try_plan(stack, overrides_for(stack, mutation))
    assert plan.error is None, plan.error
