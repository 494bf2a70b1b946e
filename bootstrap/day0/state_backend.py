"""The platform stacks' state backend in their residency region: a versioned GCS bucket and the
Cloud KMS key that is their secrets provider. Both protected: losing either loses every stack's
state or every secret in it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from day0 import names

# Predefined roles, resource-scoped (https://cloud.google.com/storage/docs/access-control/iam-roles,
# https://cloud.google.com/kms/docs/reference/permissions-and-roles): the preview and the drift
# check read the state and decrypt its secrets; the deployer also writes (state, lock and
# history objects) and encrypts.
PREVIEW_BUCKET_ROLE = "roles/storage.objectViewer"
DEPLOYER_BUCKET_ROLE = "roles/storage.objectAdmin"
PREVIEW_KEY_ROLE = "roles/cloudkms.cryptoKeyDecrypter"
DEPLOYER_KEY_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class StateBackendArgs:
    project: str
    region: str
    deployer_member: pulumi.Input[str]
    preview_member: pulumi.Input[str]
    drift_member: pulumi.Input[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class StateBackend(pulumi.ComponentResource):
    bucket: gcp.storage.Bucket
    key: gcp.kms.CryptoKey

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bootstrap:state:Backend", name, None, opts)
        protected = pulumi.ResourceOptions(
            parent=self, protect=True, depends_on=list(args.depends_on)
        )
        child = pulumi.ResourceOptions(parent=self)
        ring = gcp.kms.KeyRing(
            names.KEY_RING,
            project=args.project,
            name=names.KEY_RING,
            location=args.region,
            opts=protected,
        )
        self.key = gcp.kms.CryptoKey(
            names.STATE_KEY,
            name=names.STATE_KEY,
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=names.KEY_ROTATION_PERIOD,
            labels=dict(args.labels),
            opts=protected,
        )
        self.bucket = gcp.storage.Bucket(
            "state",
            project=args.project,
            name=names.state_bucket(args.project),
            location=args.region.upper(),
            storage_class="STANDARD",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=False,
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        with_state="ARCHIVED",
                        days_since_noncurrent_time=names.NONCURRENT_DAYS,
                        num_newer_versions=names.NEWER_VERSIONS_KEPT,
                    ),
                )
            ],
            labels=dict(args.labels),
            opts=protected,
        )
        for identity, member, bucket_role, key_role in (
            ("deployer", args.deployer_member, DEPLOYER_BUCKET_ROLE, DEPLOYER_KEY_ROLE),
            ("preview", args.preview_member, PREVIEW_BUCKET_ROLE, PREVIEW_KEY_ROLE),
            ("drift", args.drift_member, PREVIEW_BUCKET_ROLE, PREVIEW_KEY_ROLE),
        ):
            gcp.storage.BucketIAMMember(
                f"state-{identity}",
                bucket=self.bucket.name,
                role=bucket_role,
                member=member,
                opts=child,
            )
            gcp.kms.CryptoKeyIAMMember(
                f"state-key-{identity}",
                crypto_key_id=self.key.id,
                role=key_role,
                member=member,
                opts=child,
            )
        self.backend_url = pulumi.Output.concat("gs://", self.bucket.name)
        self.secrets_provider = names.secrets_provider(args.project, args.region)
        self.register_outputs(
            {"backendUrl": self.backend_url, "secretsProvider": self.secrets_provider}
        )
