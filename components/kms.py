"""Application-layer encryption of Kubernetes Secrets: a Cloud KMS key per cluster, in the
cluster's region, that the GKE service agent may use. GKE then envelope-encrypts Secrets in etcd
with it (cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets: the key must be in
the cluster's location, and the agent
`service-<project number>@container-engine-robot.iam.gserviceaccount.com` needs
roles/cloudkms.cryptoKeyEncrypterDecrypter on it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_gcp as gcp

ENCRYPTER_DECRYPTER_ROLE: Final = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def gke_service_agent(project_number: str) -> str:
    """The GKE service agent of a project as an IAM member, built from the project's number
    (cloud.google.com/iam/docs/service-agents: `service-PROJECT_NUMBER@container-engine-robot.
    iam.gserviceaccount.com`). Not `ServiceIdentity.member`: the provider documents the resource
    for the APIs Google "has configured with a Service Identity" (pulumi-gcp
    `gcp.projects.ServiceIdentity`), and its email comes back empty for some services
    (hashicorp/terraform-provider-google#18649, #19970), which would make the grant below name
    nobody while the cluster waits for it."""
    return f"serviceAccount:service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


# Rotated every 90 days: new Secrets use the new version; old versions stay to decrypt.
ROTATION_PERIOD: Final = f"{90 * 24 * 3600}s"


@dataclass(frozen=True)
class SecretsEncryptionKeyArgs:
    project: str
    # The project's number (platform:projectNumber): names the GKE service agent.
    project_number: str
    cluster_name: str
    region: str
    labels: dict[str, str]
    protected: bool
    # The container API (the service agent exists once it is enabled).
    depends_on: Sequence[pulumi.Resource] = ()


class SecretsEncryptionKey(pulumi.ComponentResource):
    """A key ring and key per cluster. In prod they outlive the program (protected, retained when
    removed): destroying the key would make every Secret of the cluster unreadable. Elsewhere a
    teardown destroys the key's versions with the cluster; GCP never deletes a key ring, so the
    provider only forgets it (terraform-provider-google `google_kms_key_ring` docs)."""

    key_id: pulumi.Output[str]
    # The service agent's grant: the cluster must not be created before it.
    grant: gcp.kms.CryptoKeyIAMMember

    def __init__(
        self, name: str, args: SecretsEncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:kms:SecretsEncryptionKey", name, None, opts)
        kept = pulumi.ResourceOptions(
            parent=self, protect=args.protected, retain_on_delete=args.protected
        )
        ring = gcp.kms.KeyRing(
            f"{name}-ring",
            project=args.project,
            name=f"{args.cluster_name}-secrets",
            location=args.region,
            opts=pulumi.ResourceOptions.merge(
                kept, pulumi.ResourceOptions(depends_on=list(args.depends_on))
            ),
        )
        key = gcp.kms.CryptoKey(
            f"{name}-key",
            name="kubernetes-secrets",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            labels=args.labels,
            opts=kept,
        )
        # Makes sure the agent exists before it is granted (services.generateServiceIdentity);
        # the member itself comes from the project number.
        agent = gcp.projects.ServiceIdentity(
            f"{name}-gke-agent",
            project=args.project,
            service="container.googleapis.com",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-gke-agent",
            crypto_key_id=key.id,
            role=ENCRYPTER_DECRYPTER_ROLE,
            member=gke_service_agent(args.project_number),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[agent]),
        )
        self.key_id = key.id
        self.register_outputs({"keyId": self.key_id})
