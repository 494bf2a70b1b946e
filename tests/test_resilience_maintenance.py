"""GKE upgrades prod clusters only inside the team's window and never inside an exclusion; the
config is refused where GKE would refuse it (tests/test_config_table.py has the error cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from components import gcp_limits
from tests.support import STACKS, plan_of

CLUSTER = "gcp:container/cluster:Cluster"


@pytest.mark.parametrize("stack", STACKS)
def test_each_cluster_gets_the_maintenance_policy_of_its_config(stack: str) -> None:
    plan = plan_of(stack)
    prod = plan.config["platform:stage"] == "prod"
    for spec in plan.config["platform:clusters"]:
        cluster = plan.one(CLUSTER, spec["name"])
        maintenance = spec.get("maintenance")
        assert maintenance is not None or not prod, f"{spec['name']}: prod needs a window"
        if maintenance is None:
            assert cluster.inputs.get("maintenancePolicy") is None
            continue
        policy = cluster.inputs["maintenancePolicy"]
        assert policy["recurringWindow"] == maintenance["window"]
        assert policy.get("maintenanceExclusions", []) == [
            {
                "exclusionName": e["name"],
                "startTime": e["startTime"],
                "endTime": e["endTime"],
                "exclusionOptions": {"scope": e["scope"]},
            }
            for e in maintenance.get("exclusions", [])
        ]


def test_gke_minimum_availability_is_counted_per_32_days() -> None:
    start = datetime(2026, 1, 3, 1, tzinfo=UTC)
    weekend = "FREQ=WEEKLY;BYDAY=SA,SU"
    # Any 32 days hold every weekday at least 4 times: 2 days x 4 x 6 h = 48 h, GKE's floor.
    assert gcp_limits.maintenance_window_problem(start, start + timedelta(hours=6), weekend) is None
    short = gcp_limits.maintenance_window_problem(start, start + timedelta(hours=5), weekend)
    assert short is not None and short[0] == "recurrence"
    daily = gcp_limits.maintenance_window_problem(start, start + timedelta(hours=4), "FREQ=DAILY")
    assert daily is None
    too_short = gcp_limits.maintenance_window_problem(
        start, start + timedelta(hours=3), "FREQ=DAILY"
    )
    assert too_short is not None and too_short[0] == "endTime"
    assert gcp_limits.occurrences_in_rolling_window("FREQ=WEEKLY;BYDAY=MO,MO") is None
    assert gcp_limits.occurrences_in_rolling_window("FREQ=MONTHLY") is None
