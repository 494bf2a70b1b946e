"""The CrossGuard pack: `pulumi preview -s <stack> --policy-pack policy
--policy-pack-config build/<stack>/policy-config.json` (docs/policy.md;
`make policy-config STACK=<stack>` writes that file from the stack file).

Pulumi runs this file with `runpy.run_path("policy")`, which puts policy/ (not the repository) on
sys.path; the repository root is added so that the modules import as `policy.*` both here and in
the offline tests. Constructing PolicyPack starts the analyzer's gRPC server and blocks forever, so
nothing imports this file: the tests use policy.crossguard.policies() directly.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.crossguard import PACK_NAME, policies
from policy.tenancy import stack_policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*policies(), *stack_policies()],
    description="Platform invariants of the GKE platform (docs/design.md).",
)
