"""Derived names stay valid for GCP and keep saying what they are."""

from __future__ import annotations

import re

import pytest

from components.naming import service_account_id

ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


@pytest.mark.parametrize(
    "parts",
    [
        ("prod-zone-ew1", "nodes"),
        ("a" * 40, "nodes"),
        ("cluster-" + "x" * 32, "nodes"),
        ("external-secrets",),
    ],
)
def test_service_account_ids_are_valid_and_keep_their_purpose(parts):
    account = service_account_id(*parts)
    assert ACCOUNT_ID.fullmatch(account), account
    assert account.endswith(parts[-1])


def test_short_ids_are_readable_and_long_ones_distinct():
    assert service_account_id("stg-global", "nodes") == "stg-global-nodes"
    assert service_account_id("c" * 30 + "1", "nodes") != service_account_id(
        "c" * 30 + "2", "nodes"
    )


def test_names_derived_from_a_longest_cluster_name_fit_google_clouds_limits():
    """Config validation checks cluster names (<= 40) but not what is derived from them: every
    suffix must keep the derived names within 63 characters."""
    from components.gcp_limits import GKE_NAME_MAX, compute_name_problem
    from components.naming import (
        gateway_address_name,
        kds_address_name,
        pods_range_name,
        services_range_name,
        webhook_firewall_name,
    )

    longest = "c" * GKE_NAME_MAX
    for derived in (
        webhook_firewall_name(longest),
        kds_address_name(longest),
        gateway_address_name(longest),
        pods_range_name(longest),
        services_range_name(longest),
    ):
        assert compute_name_problem(derived) is None, derived
