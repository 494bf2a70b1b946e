"""Certificate lifetimes and the days left, as `make plan` prints them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline import certificates, drift, plan
from offline.engine import Plan
from tests.ci_workflows import ROOT
from tests.support import STACKS, plan_of, session_plan_stack

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def export_of(stack_plan: Plan, ends: dict[str, datetime]) -> dict[str, Any]:
    """A `pulumi stack export` document (checkpoint v3) for the planned resources, with the given
    certificate validity ends (by resource name) as the tls provider records them."""
    resources = []
    for r in stack_plan.resources:
        outputs: dict[str, Any] = {}
        if r.name in ends:
            outputs["validityEndTime"] = ends[r.name].strftime("%Y-%m-%dT%H:%M:%SZ")
        resources.append({"urn": r.urn, "type": r.type, "outputs": outputs})
    return {"version": 3, "deployment": {"manifest": {}, "resources": resources}}


@pytest.mark.parametrize("stack", STACKS)
def test_every_certificate_the_plan_makes_is_listed(stack: str) -> None:
    stack_plan = plan_of(stack)
    listed = {c.urn for c in certificates.certificates(stack_plan)}
    made = {r.urn for r in stack_plan.resources if r.type.startswith("tls:") and "Cert" in r.type}
    made -= {r.urn for r in stack_plan.of_type("tls:index/certRequest:CertRequest")}
    assert made and listed == made


def test_kds_server_certificate_renews_itself_before_expiry() -> None:
    server = next(c for c in certificates.certificates(plan_of("staging")) if "server" in c.name)
    assert server.renews_itself and server.early_renewal < server.lifetime


@pytest.mark.parametrize(
    ("days_left", "expected", "due"),
    [
        (100, "100 d left, renewal due in 70 d", False),
        (10, "10 d left, RENEWAL DUE", True),
        (-3, "EXPIRED 3 d ago", True),
    ],
)
def test_days_left_come_from_the_state(days_left: int, expected: str, due: bool) -> None:
    stack_plan = plan_of("staging")
    server = next(c for c in certificates.certificates(stack_plan) if "server" in c.name)
    ends = certificates.validity_ends(
        export_of(stack_plan, {server.name: NOW + timedelta(days=days_left)})
    )
    assert expected in "\n".join(certificates.render(stack_plan, ends, NOW))
    assert bool(certificates.problems(stack_plan, ends, NOW)) is due


def test_without_state_days_left_are_unknown_and_nothing_is_due() -> None:
    stack_plan = plan_of("staging")
    assert all("unknown offline" in line for line in certificates.render(stack_plan, {}, NOW)[1:])
    assert certificates.problems(stack_plan, {}, NOW) == []


def test_make_plan_fails_when_a_renewal_is_due(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "plan_stack", session_plan_stack)
    stack_plan = plan_of("staging")
    server = next(c for c in certificates.certificates(stack_plan) if "server" in c.name)
    state = tmp_path / "state.json"
    soon = datetime.now(UTC) + timedelta(days=5)
    state.write_text(json.dumps(export_of(stack_plan, {server.name: soon})))
    assert plan.main(["staging", "--quiet", "--state", str(state), "--out", str(tmp_path)]) == 1
    assert "RENEWAL DUE" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["{not json", '{"version": 3}', None])
def test_a_bad_state_file_is_one_message_and_exit_2(
    tmp_path: Path, capsys: Any, content: str | None
) -> None:
    state = tmp_path / "state.json"
    if content is not None:
        state.write_text(content)
    assert plan.main(["staging", "--state", str(state), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(state) in err or "stack export" in err
    assert "Traceback" not in err


# -- the certificate-renewal drill (docs/disaster-recovery.md) ---------------------------------

RELEASE = "kubernetes:helm.sh/v3:Release"
K8S_SECRET = "kubernetes:core/v1:Secret"


def _server_and_ca(stack_plan: Plan) -> tuple[certificates.Certificate, certificates.Certificate]:
    """The KDS server certificate (renews itself) and the KDS CA that signs it (does not)."""
    certs = certificates.certificates(stack_plan)
    [server] = [c for c in certs if c.name.endswith("-kds-server")]
    [ca] = [c for c in certs if c.name.endswith("-kds-ca")]
    assert server.renews_itself and not ca.renews_itself
    return server, ca


@pytest.mark.parametrize("stack", STACKS)
def test_renewal_drill_replaces_the_kds_server_certificate_only(stack: str) -> None:
    """Inside the window the preview replaces the server certificate and updates exactly what
    is built from it: the global's TLS Secret, the global Kuma release (its pod annotation rolls
    the control plane) and the expiry alert. The CA is not due, so no zone's CA Secret or
    release changes: zones keep verifying the renewed certificate with the CA they hold."""
    stack_plan = plan_of(stack)
    server, ca = _server_and_ca(stack_plan)
    ends = certificates.validity_ends(
        export_of(
            stack_plan,
            {server.name: NOW + timedelta(days=10), ca.name: NOW + timedelta(days=3000)},
        )
    )
    assert certificates.due(stack_plan, ends, NOW) == [server]
    changed = certificates.renewal_changes(stack_plan, server.urn)
    names = {(r.type, r.name) for r in changed}
    [global_release] = [r for r in stack_plan.of_type(RELEASE) if r.name.endswith("-kuma-global")]
    global_secret = next(
        r for r in stack_plan.of_type(K8S_SECRET) if r.name.endswith("-kds-server-tls")
    )
    assert {(RELEASE, global_release.name), (K8S_SECRET, global_secret.name)} <= names
    assert server.urn in global_release.property_dependencies["values"]
    # Nothing in a zone cluster changes: the zones' CA Secrets and releases stay as they are.
    zone_providers = {
        r.provider_urn for r in stack_plan.of_type(RELEASE) if r.name.endswith("-kuma-zone")
    }
    assert zone_providers
    assert not [r for r in changed if r.provider_urn in zone_providers]
    assert ca.urn not in {r.urn for r in changed}
    zone_ca_secrets = [
        r
        for r in certificates.renewal_changes(stack_plan, ca.urn)
        if r.provider_urn in zone_providers
    ]
    assert zone_ca_secrets  # the CA does reach the zones; the server certificate does not


def test_renewal_changes_are_transitive() -> None:
    """The dependents walk goes beyond one hop: the CA reaches the server certificate
    (`caCertPem`) and through it everything the server certificate reaches."""
    stack_plan = plan_of("staging")
    server, ca = _server_and_ca(stack_plan)
    through_ca = {r.urn for r in certificates.renewal_changes(stack_plan, ca.urn)}
    assert server.urn in through_ca
    assert {r.urn for r in certificates.renewal_changes(stack_plan, server.urn)} < through_ca


def test_a_renewed_certificate_rolls_the_global_control_plane() -> None:
    """kuma v2.13.10 pkg/kds/mux/server.go loads the KDS server key pair once, when the server
    starts (`tls.LoadX509KeyPair` into a static `tls.Config.Certificates`, no reload), and the
    chart's own checksum annotations cover only the secrets it templates
    (deployments/charts/kuma/templates/cp-deployment.yaml). So the global release carries the
    certificate's hash in `controlPlane.podAnnotations`, which that template copies onto the pod
    template: a new certificate changes the pod template, and the Deployment rolls."""
    stack_plan = plan_of("staging")
    server, _ = _server_and_ca(stack_plan)
    pem = stack_plan.by_urn()[server.urn].outputs["certPem"]
    [release] = [r for r in stack_plan.of_type(RELEASE) if r.name.endswith("kuma-global")]
    annotations = release.get("values.controlPlane.podAnnotations")
    assert annotations == {"checksum/kds-server-tls": hashlib.sha256(pem.encode()).hexdigest()}


def test_the_drift_report_names_the_renewal_and_still_calls_the_rest_drift() -> None:
    stack_plan = plan_of("staging")
    server, ca = _server_and_ca(stack_plan)
    url = "https://github.com/acme/gcp-platform/actions/runs/1"

    def report(days: int | None) -> str:
        ends = (
            None
            if days is None
            else certificates.validity_ends(
                export_of(stack_plan, {server.name: NOW + timedelta(days=days)})
            )
        )
        return "\n".join(drift.report(stack_plan, ends, url, NOW))

    due = report(10)
    assert "Certificate renewal" in due and "RENEWAL DUE" in due
    assert f"replaced: `{server.urn}`" in due
    assert due.count("updated: `") == len(certificates.renewal_changes(stack_plan, server.urn))
    assert "Any other change the preview lists is drift." in due
    assert ca.urn not in due
    quiet = report(100)
    assert "No certificate is inside its renewal window" in quiet and "renewal," not in quiet
    assert "is unknown" in report(None)
    assert all(url in text for text in (due, quiet))


def test_the_drift_report_cites_the_weekly_deploy_schedule() -> None:
    import yaml

    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text("utf-8"))
    [schedule] = deploy[True]["schedule"]
    minute, hour, *_, weekday = schedule["cron"].split()
    assert (weekday, f"{int(hour):02d}:{int(minute):02d}") == ("1", "05:17")
    assert "Mondays 05:17 UTC" in drift.WEEKLY_DEPLOY


def test_the_drift_report_cli_writes_markdown(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drift, "plan_stack", session_plan_stack)
    stack_plan = plan_of("staging")
    server, _ = _server_and_ca(stack_plan)
    state = tmp_path / "state.json"
    soon = datetime.now(UTC) + timedelta(days=3)
    state.write_text(json.dumps(export_of(stack_plan, {server.name: soon})))
    out = tmp_path / "drift.md"
    assert drift.main(["staging", "--state", str(state), "--out", str(out)]) == 0
    assert "Certificate renewal" in out.read_text(encoding="utf-8")
    missing = tmp_path / "missing.md"
    assert drift.main(["staging", "--state", str(tmp_path / "nope"), "--out", str(missing)]) == 0
    assert "is unknown" in missing.read_text(encoding="utf-8")
    assert "cannot read the state export" in capsys.readouterr().err
