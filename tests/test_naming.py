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
