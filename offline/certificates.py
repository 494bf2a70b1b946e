"""Every certificate the program makes: its lifetime, its renewal window and, given the stack's
state, the days it has left.

Renewal is the tls provider's: a certificate with `early_renewal_hours` is planned for replacement
by any preview/up that runs within that many hours of its `validity_end_time`, and one past its
validity end is planned for re-creation (hashicorp/terraform-provider-tls
internal/provider/common_cert.go, `modifyPlanIfCertificateReadyForRenewal`). So a scheduled
`pulumi preview --expect-no-changes` fails once renewal is due, and a `pulumi up` then renews.
Nothing renews a certificate whose stack is not updated: the days left are what to watch.

Offline, a plan only knows lifetimes; the days left come from the stack's state
(`pulumi stack export --file state.json`, then `make plan STACK=<s> STATE=state.json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from offline.engine import Plan, Registration

CERTIFICATE_TYPES = (
    "tls:index/selfSignedCert:SelfSignedCert",
    "tls:index/locallySignedCert:LocallySignedCert",
)


@dataclass(frozen=True)
class Certificate:
    urn: str
    name: str
    lifetime: timedelta
    early_renewal: timedelta

    @property
    def renews_itself(self) -> bool:
        return self.early_renewal > timedelta(0)


def certificates(plan: Plan) -> list[Certificate]:
    return [
        Certificate(
            urn=r.urn,
            name=r.name,
            lifetime=timedelta(hours=int(r.inputs["validityPeriodHours"])),
            early_renewal=timedelta(hours=int(r.inputs.get("earlyRenewalHours", 0))),
        )
        for type_ in CERTIFICATE_TYPES
        for r in plan.of_type(type_)
    ]


class StateExportError(ValueError):
    """The file is not the output of `pulumi stack export`."""


def validity_ends(export: Mapping[str, Any]) -> dict[str, datetime]:
    """URN -> `validityEndTime` of every certificate in a `pulumi stack export` document
    (checkpoint version 3: deployment.resources[].{urn,type,outputs})."""
    deployment = export.get("deployment")
    if not isinstance(deployment, Mapping) or not isinstance(deployment.get("resources"), list):
        raise StateExportError("no deployment.resources: not the output of `pulumi stack export`")
    ends: dict[str, datetime] = {}
    for resource in deployment["resources"]:
        if resource.get("type") not in CERTIFICATE_TYPES:
            continue
        end = (resource.get("outputs") or {}).get("validityEndTime")
        if isinstance(end, str):
            ends[resource["urn"]] = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return ends


def load_export(path: Path) -> dict[str, Any]:
    """A `pulumi stack export` file, or StateExportError naming what is wrong with it."""
    try:
        export = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        message = f"{path}: cannot read the state export ({error.strerror})"
        raise StateExportError(message) from error
    except json.JSONDecodeError as error:
        raise StateExportError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from error
    if not isinstance(export, dict):
        raise StateExportError(f"{path}: not the output of `pulumi stack export` (not an object)")
    validity_ends(export)  # the shape check
    return export


def load_validity_ends(path: Path) -> dict[str, datetime]:
    return validity_ends(load_export(path))


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def status(cert: Certificate, end: datetime | None, now: datetime) -> str:
    window = (
        f"renewed by any `pulumi up` in its last {_days(cert.early_renewal)} d"
        if cert.renews_itself
        else "never renewed by the program (no early renewal window)"
    )
    head = f"{cert.name}: lifetime {_days(cert.lifetime)} d, {window}"
    if end is None:
        return f"{head}; days left unknown offline (needs the stack's state)"
    left = end - now
    if left <= timedelta(0):
        return f"{head}; EXPIRED {_days(-left)} d ago"
    if cert.renews_itself and left <= cert.early_renewal:
        return f"{head}; {_days(left)} d left, RENEWAL DUE: run `pulumi up` now"
    due = f", renewal due in {_days(left - cert.early_renewal)} d" if cert.renews_itself else ""
    return f"{head}; {_days(left)} d left{due}"


def render(plan: Plan, ends: Mapping[str, datetime], now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    certs = certificates(plan)
    lines = [f"Certificates ({len(certs)}):"]
    lines += [f"  {status(cert, ends.get(cert.urn), now)}" for cert in certs]
    return lines


def problems(plan: Plan, ends: Mapping[str, datetime], now: datetime | None = None) -> list[str]:
    """Certificates whose renewal is due or that have expired: a deploy is needed now."""
    now = now or datetime.now(UTC)
    return [status(cert, ends[cert.urn], now) for cert in due(plan, ends, now)]


def renewal_changes(plan: Plan, cert_urn: str) -> list[Registration]:
    """What a renewal of the certificate changes besides the certificate (which is replaced):
    every resource with an input computed from its outputs, transitively. In a preview a
    replaced resource's outputs are unknown, so each such input is unknown and its resource is
    shown as updated; on `up` each gets the new value. An edge through `depends_on` alone
    changes no input, so only property dependencies count."""
    changed: dict[str, Registration] = {}
    frontier = {cert_urn}
    while frontier:
        reached = [
            r
            for r in plan.registrations
            if r.urn not in changed
            and any(frontier & set(urns) for urns in r.property_dependencies.values())
        ]
        changed.update((r.urn, r) for r in reached)
        frontier = {r.urn for r in reached}
    return sorted(changed.values(), key=lambda r: r.urn)


def due(plan: Plan, ends: Mapping[str, datetime], now: datetime) -> list[Certificate]:
    """The certificates a preview now plans to replace: inside their renewal window or past
    their validity end (common_cert.go `modifyPlanIfCertificateReadyForRenewal`)."""
    return [
        cert
        for cert in certificates(plan)
        if (end := ends.get(cert.urn)) is not None and end - now <= cert.early_renewal
    ]
