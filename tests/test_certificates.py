"""Certificate lifetimes and the days left, as `make plan` prints them (issue 11 item 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline import certificates, plan
from offline.engine import Plan
from tests.support import STACKS, plan_of

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


def test_make_plan_fails_when_a_renewal_is_due(tmp_path: Path, capsys: Any) -> None:
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
