"""The Kuma upgrade drill (docs/disaster-recovery.md): what the plan of a version bump changes,
how the CRDs follow, and the refusal of a step Kuma does not support. The order (global before
any zone) is tests/test_upgrade_order.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from components.kuma import multizone
from offline import kuma_upgrade, plan
from offline.engine import Plan, plan_stack
from tests.support import STACKS, plan_of, session_plan_stack

RELEASE = "kubernetes:helm.sh/v3:Release"
BUMP = "2.14.0"
REFS = Path(__file__).resolve().parent.parent / "offline" / "refs"


def kuma_releases(stack_plan: Plan) -> list[Any]:
    return [r for r in stack_plan.of_type(RELEASE) if r.inputs.get("chart") == "kuma"]


def bumped_plan(stack: str, version: str, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """The stack planned with the Kuma chart pin at `version` (what Renovate's PR changes:
    components/versions.py)."""
    bumped = dataclasses.replace(versions.KUMA_CHART, version=version)
    monkeypatch.setattr(multizone, "KUMA_CHART", bumped)
    return plan_stack(stack)


def export_of(stack_plan: Plan, kuma_version: str) -> dict[str, Any]:
    """A `pulumi stack export` with every kuma release deployed at `kuma_version` (the release's
    `chart`/`version` outputs as pulumi-kubernetes records them)."""
    resources = []
    for r in stack_plan.resources:
        outputs: dict[str, Any] = {}
        if r.type == RELEASE:
            outputs = {"chart": r.inputs["chart"], "version": r.inputs["version"]}
            if r.inputs["chart"] == "kuma":
                outputs["version"] = kuma_version
        resources.append({"urn": r.urn, "type": r.type, "outputs": outputs})
    return {"version": 3, "deployment": {"manifest": {}, "resources": resources}}


@pytest.mark.parametrize("stack", STACKS)
def test_a_minor_bump_changes_the_kuma_releases_version_and_nothing_else(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bump is a Helm upgrade of each kuma release (global first): no other resource, no
    replacement (the Release's replace-triggering fields are its name and namespace:
    pulumi-kubernetes helm_release.go `forceNewFields`)."""
    before = {r.urn: r for r in plan_of(stack).registrations}
    after = {r.urn: r for r in bumped_plan(stack, BUMP, monkeypatch).registrations}
    assert before.keys() == after.keys()
    changed = {
        urn: sorted(k for k in {*before[urn].inputs, *after[urn].inputs}
                    if before[urn].inputs.get(k) != after[urn].inputs.get(k))
        for urn in before
        if before[urn].inputs != after[urn].inputs
    }  # fmt: skip
    assert changed == {r.urn: ["version"] for r in kuma_releases(plan_of(stack))}
    assert {after[urn].inputs["version"] for urn in changed} == {BUMP}


@pytest.mark.parametrize("stack", STACKS)
def test_the_crds_are_upgraded_by_the_charts_hook_which_the_releases_let_run(stack: str) -> None:
    """Helm installs a chart's crds/ on first install only; the kuma chart (v2.13.10
    templates/pre-upgrade-install-crds-job.yaml) applies `kumactl install crds` in a
    pre-upgrade,pre-install hook Job when `installCrdsOnUpgrade.enabled` and not `noHelmHooks`.
    pulumi-kubernetes runs hooks on upgrade unless the Release sets `disableCRDHooks`
    (helm_release.go `helmUpdate`: `client.DisableHooks = newRelease.DisableCRDHooks`). So a bump
    upgrades the CRDs before the control plane, as long as nothing here turns that off; and
    Pulumi owns no kuma.io CRD that a bump would have to change."""
    defaults = yaml.safe_load((REFS / "apache-2.0/charts/kuma/values.yaml").read_text("utf-8"))
    assert defaults["installCrdsOnUpgrade"]["enabled"] is True
    assert defaults["noHelmHooks"] is False
    stack_plan = plan_of(stack)
    releases = kuma_releases(stack_plan)
    assert releases
    for release in releases:
        assert not release.inputs.get("disableCRDHooks"), release.name
        assert not release.inputs.get("disableWebhooks"), release.name
        values = release.inputs.get("values", {})
        assert values.get("installCrdsOnUpgrade", {}).get("enabled", True) is True, release.name
        assert values.get("noHelmHooks", False) is False, release.name
    crds = stack_plan.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert not [c for c in crds if str(c.get("spec.group", "")).endswith("kuma.io")]


@pytest.mark.parametrize(
    ("deployed", "planned", "refused"),
    [
        ("2.13.10", "2.13.11", None),
        ("2.12.4", "2.13.10", None),
        ("2.11.0", "2.13.10", None),
        ("2.10.7", "2.13.10", "deploy 2.12.x first"),
        ("2.9.1", "2.13.10", "deploy 2.11.x first"),
        ("2.13.10", "3.0.0", "changes the major version"),
    ],
)
def test_a_step_of_more_than_two_minors_is_refused(
    deployed: str, planned: str, refused: str | None
) -> None:
    problem = kuma_upgrade.step_problem(deployed, planned)
    assert (problem is None) if refused is None else (problem and refused in problem)


@pytest.mark.parametrize(("deployed", "exit_code"), [("2.12.0", 0), ("2.10.7", 1)])
def test_make_plan_with_the_state_refuses_a_step_kuma_does_not_support(
    deployed: str,
    exit_code: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plan, "plan_stack", session_plan_stack)
    state = tmp_path / "state.json"
    state.write_text(json.dumps(export_of(plan_of("staging"), deployed)))
    out = tmp_path / "out"
    assert plan.main(["staging", "--quiet", "--state", str(state), "--out", str(out)]) == exit_code
    printed = capsys.readouterr().out
    releases = kuma_releases(plan_of("staging"))
    refusals = [line for line in printed.splitlines() if "skips more than 2 minor" in line]
    assert len(refusals) == (len(releases) if exit_code else 0)


@pytest.mark.parametrize("stack", STACKS)
def test_after_the_upgrade_every_zone_runs_the_globals_version(stack: str) -> None:
    """One pin for all kuma releases: once the zones follow the global, none is behind it, and
    during the upgrade a zone is behind by at most the step (<= 2 minors, refused above)."""
    assert len({r.inputs["version"] for r in kuma_releases(plan_of(stack))}) == 1
