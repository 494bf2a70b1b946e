"""Control planes survive a zone and a node drain: prod spreads them over the zones with a hard
constraint, and every admission webhook runs at least two replicas behind a disruption budget."""

from __future__ import annotations

from typing import Any

import pytest

from components.facts import HA_CONTROL_PLANE_REPLICAS, MIN_WEBHOOK_REPLICAS, ZONES_PER_REGION
from tests.support import STACKS, plan_of
from tests.test_bootstrap import clusters, release_on

# The selector of the chart's control-plane Deployment (kuma v2.13.10 cp-deployment.yaml:
# kuma.selectorLabels plus `app`), as chart templates that the chart renders with `tpl`.
KUMA_CP_SELECTOR = {
    "app": '{{ include "kuma.name" . }}-control-plane',
    "app.kubernetes.io/name": '{{ include "kuma.name" . }}',
    "app.kubernetes.io/instance": "{{ .Release.Name }}",
}


def _is_prod(stack: str) -> bool:
    return bool(plan_of(stack).config["platform:stage"] == "prod")


def _kuma_control_planes(stack: str) -> list[tuple[str, dict[str, Any]]]:
    plan = plan_of(stack)
    return [
        (cluster, release_on(plan, "kuma", cluster).inputs["values"]["controlPlane"])
        for cluster in clusters(plan)
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_prod_control_planes_are_spread_over_zones_with_a_hard_constraint(stack: str) -> None:
    for cluster, cp in _kuma_control_planes(stack):
        if not _is_prod(stack):
            assert "topologySpreadConstraints" not in cp, cluster
            continue
        assert cp["replicas"] == HA_CONTROL_PLANE_REPLICAS == ZONES_PER_REGION, cluster
        [spread] = cp["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["whenUnsatisfiable"] == "DoNotSchedule", "a soft spread may double up"
        assert spread["maxSkew"] == 1
        assert spread["minDomains"] == ZONES_PER_REGION
        assert spread["labelSelector"] == {"matchLabels": KUMA_CP_SELECTOR}
        assert spread["matchLabelKeys"] == ["pod-template-hash"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_kuma_webhooks_never_run_alone_and_have_a_disruption_budget(stack: str) -> None:
    for cluster, cp in _kuma_control_planes(stack):
        assert cp["replicas"] >= MIN_WEBHOOK_REPLICAS, cluster
        budget = cp["podDisruptionBudget"]
        assert budget["enabled"] is True, cluster
        assert cp["replicas"] - budget["maxUnavailable"] >= 1, cluster


@pytest.mark.parametrize("stack", STACKS)
def test_the_eso_webhook_never_runs_alone_and_has_a_disruption_budget(stack: str) -> None:
    plan = plan_of(stack)
    for cluster in clusters(plan):
        webhook = release_on(plan, "external-secrets", cluster).inputs["values"]["webhook"]
        assert webhook["replicaCount"] >= MIN_WEBHOOK_REPLICAS, cluster
        assert webhook["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}, cluster
