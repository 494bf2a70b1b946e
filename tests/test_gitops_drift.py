"""Environment drift at a glance: the difference between what Flux applies in staging and in
prod-eu, per role (run `pytest -s tests/test_gitops_drift.py` to read it; docs/environments.md
explains it)."""

from __future__ import annotations

import pytest

from offline import gitops


def _first(stack: str, role: str) -> gitops.ClusterRender:
    return next(r for r in gitops.rendered_stack(stack) if r.cluster.role == role)


@pytest.mark.parametrize("role", ["global", "zone"])
def test_staging_vs_prod_eu(role: str) -> None:
    staging, prod = _first("staging", role), _first("prod-eu", role)
    diff = gitops.render_diff(staging, prod)
    summary = gitops.drift_summary(staging, prod)
    print(f"\n===== {role}: staging -> prod-eu =====\n{summary}\n\n{diff}")
    assert diff, "staging and prod-eu render the same: the stages make no difference"
    removed = {line[1:].strip() for line in diff.splitlines() if line.startswith("-")}
    if role == "global":
        assert "kind: MeshFaultInjection" in removed  # staging-only component
        assert (
            "only in prod-eu: MeshTrafficPermission/kuma-system/catalog-from-storefront" in summary
        )
    else:
        assert "name: storefront-app-canary" in removed  # staging-only canary
        assert "only in staging: Deployment/storefront/storefront-app-canary" in summary


def test_clusters_of_one_stack_differ_only_by_their_facts() -> None:
    # prod-eu has two zone clusters: same tree, only the platform-vars values differ.
    ew1, ew4 = (r for r in gitops.rendered_stack("prod-eu") if r.cluster.role == "zone")
    changed = [
        line
        for line in gitops.render_diff(ew1, ew4).splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    facts = {v for r in (ew1, ew4) for v in r.cluster.platform_vars.values()}
    assert changed
    assert all(any(value in line for value in facts) for line in changed), changed
