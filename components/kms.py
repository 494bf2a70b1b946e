"""Customer-managed encryption keys: a Cloud KMS key ring and key in the region of the data it
protects, usable by the Google service agent that encrypts that data.
- GKE application-layer encryption of Kubernetes Secrets
  (cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets: the key must be in the
  cluster's location, and the agent `service-<project number>@container-engine-robot.iam.
  gserviceaccount.com` needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it);
- Cloud SQL CMEK (cloud.google.com/sql/docs/postgres/cmek: the key in the instance's region, the
  Cloud SQL service agent `service-<project number>@gcp-sa-cloud-sql.iam.gserviceaccount.com`,
  created with `services identity create --service=sqladmin.googleapis.com`, granted the same
  role before the instance is created)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_gcp as gcp

ENCRYPTER_DECRYPTER_ROLE: Final = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class ServiceAgent:
    """The Google service whose agent encrypts with the key; `label` names the grant, `domain`
    the agent's address."""

    label: str
    service: str
    domain: str

    def member(self, project_number: str) -> str:
        """The agent as an IAM member, built from the project's number
        (cloud.google.com/iam/docs/service-agents: `service-PROJECT_NUMBER@<domain>.iam.
        gserviceaccount.com`). Not `ServiceIdentity.member`: the provider documents the resource
        for the APIs Google "has configured with a Service Identity" (pulumi-gcp
        `gcp.projects.ServiceIdentity`), and its email comes back empty for some services
        (hashicorp/terraform-provider-google#18649, #19970), which would make the grant name
        nobody while the encrypted resource waits for it."""
        return f"serviceAccount:service-{project_number}@{self.domain}.iam.gserviceaccount.com"


GKE_AGENT: Final = ServiceAgent("gke", "container.googleapis.com", "container-engine-robot")
CLOUD_SQL_AGENT: Final = ServiceAgent("cloud-sql", "sqladmin.googleapis.com", "gcp-sa-cloud-sql")

# Rotated every 90 days: new data uses the new version; old versions stay to decrypt.
ROTATION_PERIOD: Final = f"{90 * 24 * 3600}s"


@dataclass(frozen=True)
class SecretsEncryptionKeyArgs:
    project: str
    # The project's number (platform:projectNumber): names the service agent.
    project_number: str
    ring_name: str
    key_name: str
    agent: ServiceAgent
    region: str
    labels: dict[str, str]
    protected: bool
    # The agent's API (the service agent exists once it is enabled).
    depends_on: Sequence[pulumi.Resource] = ()


class SecretsEncryptionKey(pulumi.ComponentResource):
    """A key ring and key. In prod they outlive the program (protected, retained when removed):
    destroying the key would make every byte it encrypted unreadable. Elsewhere a teardown
    destroys the key's versions with the data; GCP never deletes a key ring, so the provider only
    forgets it (terraform-provider-google `google_kms_key_ring` docs). The type keeps its first
    name (the Kubernetes Secrets key) so that the clusters' keys keep their URNs."""

    key_id: pulumi.Output[str]
    # The service agent's grant: the encrypted resource must not be created before it.
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
            name=args.ring_name,
            location=args.region,
            opts=pulumi.ResourceOptions.merge(
                kept, pulumi.ResourceOptions(depends_on=list(args.depends_on))
            ),
        )
        key = gcp.kms.CryptoKey(
            f"{name}-key",
            name=args.key_name,
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            labels=args.labels,
            opts=kept,
        )
        # Makes sure the agent exists before it is granted (services.generateServiceIdentity);
        # the member itself comes from the project number.
        agent = gcp.projects.ServiceIdentity(
            f"{name}-{args.agent.label}-agent",
            project=args.project,
            service=args.agent.service,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-{args.agent.label}-agent",
            crypto_key_id=key.id,
            role=ENCRYPTER_DECRYPTER_ROLE,
            member=args.agent.member(args.project_number),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[agent]),
        )
        self.key_id = key.id
        self.register_outputs({"keyId": self.key_id})
