"""Day 0 of one environment project: what the platform stacks and their CI need before the first
`pulumi up` (docs/bootstrap.md). Run once per project by a human with owner rights. Wiring only."""

import pulumi

from day0 import config, names
from day0.apis import Apis, ApisArgs
from day0.ci_identities import CiIdentities, CiIdentitiesArgs
from day0.github_trust import GithubTrust, GithubTrustArgs
from day0.state_backend import StateBackend, StateBackendArgs
from day0.wif import Repository

cfg = config.load()

apis = Apis("apis", ApisArgs(project=cfg.project))
identities = CiIdentities("ci-identities", CiIdentitiesArgs(project=cfg.project, depends_on=[apis]))
backend = StateBackend(
    "state-backend",
    StateBackendArgs(
        project=cfg.project,
        region=cfg.region,
        deployer_member=identities.deployer.member,
        preview_member=identities.preview.member,
        drift_member=identities.drift.member,
        labels={"environment": cfg.environment, "managed-by": "pulumi-bootstrap"},
        depends_on=[apis],
    ),
)
trust = GithubTrust(
    "github-trust",
    GithubTrustArgs(
        project=cfg.project,
        environment=cfg.environment,
        repository=Repository(cfg.github_repository, cfg.github_repository_owner_id),
        deployer_account=identities.deployer.name,
        preview_account=identities.preview.name,
        drift_account=identities.drift.name,
        depends_on=[apis],
    ),
)

# What docs/ci.md's GitHub variables and the platform stack's init take.
pulumi.export("backendUrl", backend.backend_url)
pulumi.export("secretsProvider", backend.secrets_provider)
pulumi.export("workloadIdentityProvider", trust.provider.name)
pulumi.export("deployServiceAccount", identities.deployer.email)
pulumi.export("previewServiceAccount", identities.preview.email)
pulumi.export("driftServiceAccount", identities.drift.email)
pulumi.export("stateBucket", names.state_bucket(cfg.project))
