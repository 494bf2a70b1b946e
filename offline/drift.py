"""What the scheduled drift check (.github/workflows/drift.yml) says when `pulumi preview
--expect-no-changes` of a stack fails: whether a certificate is inside its renewal window, and so
which of the proposed changes are the renewal rather than drift.

The preview itself is the gate (the Pulumi CLI fails it on any change other than same/read:
pulumi/pulumi pkg/cmd/pulumi/operations/preview.go, `engine.HasChanges`). This report cannot see
the preview's steps; it states what the stack's state implies: a certificate inside its renewal
window is planned for replacement by every preview (offline/certificates.py), together with every
resource whose inputs are built from it. Those changes are expected and the weekly deploy applies
them; anything else the preview lists is drift. It never says that the preview shows nothing else.

    pulumi stack export --stack <s> --file build/<s>/state.json
    python -m offline.drift <s> --state build/<s>/state.json --out build/<s>/drift.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from offline import certificates
from offline.cli import finish
from offline.engine import Plan, plan_stack

# The deploy workflow's weekly re-apply (.github/workflows/deploy.yml `schedule`).
WEEKLY_DEPLOY = "the weekly deploy (`deploy.yml`, Mondays 05:17 UTC; prod after approval)"


def report(
    plan: Plan, ends: Mapping[str, datetime] | None, run_url: str, now: datetime
) -> list[str]:
    """Markdown for one stack whose drift preview failed; `ends` is None when the state could
    not be exported."""
    lines = [f"### `{plan.stack}`: the preview proposes changes", "", f"Run: {run_url}", ""]
    if ends is None:
        lines.append(
            "The stack's state could not be exported, so whether a certificate is inside its "
            "renewal window is unknown: treat every change the preview lists as drift."
        )
        return lines
    renewing = certificates.due(plan, ends, now)
    if not renewing:
        checked = len(certificates.certificates(plan))
        lines.append(
            f"No certificate is inside its renewal window ({checked} checked against the "
            f"state on {now:%Y-%m-%d %H:%M} UTC): every change the preview lists is drift, "
            "made outside Pulumi, or a commit on `main` that is not deployed yet (a failed or "
            "unapproved deploy)."
        )
        return lines
    lines.append(
        "Certificate renewal: inside its renewal window a certificate is replaced by every "
        "preview and `up` (terraform-provider-tls `modifyPlanIfCertificateReadyForRenewal`), "
        "and what is built from it is updated with it. These changes are the renewal, not "
        f"drift; {WEEKLY_DEPLOY} applies them, or start the deploy workflow now:"
    )
    lines.append("")
    for cert in renewing:
        lines.append(f"- {certificates.status(cert, ends[cert.urn], now)}")
        lines.append(f"  - replaced: `{cert.urn}`")
        lines += [f"  - updated: `{r.urn}`" for r in certificates.renewal_changes(plan, cert.urn)]
    lines += ["", "Any other change the preview lists is drift."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--state", type=Path, help="`pulumi stack export` of the stack")
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--run-url", default="(local run)")
    args = parser.parse_args(argv)
    try:
        ends = certificates.load_validity_ends(args.state) if args.state else None
    except certificates.StateExportError as error:
        print(f"drift report: {error}; reporting without certificate state", file=sys.stderr)
        ends = None
    lines = report(plan_stack(args.stack), ends, args.run_url, datetime.now(UTC))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    finish(main())
