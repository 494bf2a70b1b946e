"""Environment drift at a glance: the difference between what Flux applies in staging and in
prod-eu, per role (run `pytest -s tests/test_gitops_drift.py` to read it; docs/environments.md
explains it)."""

from __future__ import annotations

import dataclasses

import pytest

from offline.gitops import documents, drift
from offline.gitops import facts as gitops_facts
from offline.gitops import render as flux_render


def _first(stack: str, role: str) -> flux_render.ClusterRender:
    return next(r for r in gitops_facts.rendered_stack(stack) if r.cluster.role == role)


@pytest.mark.parametrize("role", ["global", "zone"])
def test_staging_vs_prod_eu(role: str) -> None:
    staging, prod = _first("staging", role), _first("prod-eu", role)
    diff = drift.render_diff(staging, prod)
    summary = drift.drift_summary(staging, prod)
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
    # prod-eu has two zone clusters: with the same platform-vars they must render the same tree,
    # so everything that differs between them comes from their facts.
    ew1, ew4 = (c for c in gitops_facts.stack_facts("prod-eu").clusters if c.role == "zone")
    assert set(ew1.platform_vars) == set(ew4.platform_vars)
    # Stack-wide values (ENVIRONMENT, STAGE, ... pick the Flux paths) stay; the per-cluster ones
    # (CLUSTER_NAME, KUMA_ZONE, ...) become the same placeholder on both.
    shared = {k: v for k, v in ew1.platform_vars.items() if ew4.platform_vars[k] == v}
    assert {"ENVIRONMENT", "STAGE"} <= set(shared) and len(shared) < len(ew1.platform_vars)
    placeholders = {key: shared.get(key, f"<{key}>") for key in ew1.platform_vars}
    renders = [
        flux_render.render_cluster(dataclasses.replace(c, platform_vars=placeholders))
        for c in (ew1, ew4)
    ]
    assert not renders[0].problems and not renders[1].problems
    assert renders[0].docs
    assert documents.to_yaml(renders[0].docs) == documents.to_yaml(renders[1].docs)
