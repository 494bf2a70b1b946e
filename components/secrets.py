"""Secret Manager entries of the stack, their generated values, and per-secret read grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.config_model import SecretEntry
from components.facts import SECRET_ACCESSOR_ROLE, SECRET_READERS_ANNOTATION

# The RandomPassword inputs this program sets that importing the value cannot restore. `length`
# is restored (the value's length), so changing it still rotates the value.
UNRESTORABLE_GENERATOR_SETTINGS = ("special", "overrideSpecial")


@dataclass(frozen=True)
class SecretEntryArgs:
    """Where and how the stack keeps a Secret Manager entry (the same for every entry)."""

    project: str
    replica_regions: Sequence[str]
    labels: Mapping[str, str]
    protected: bool
    depends_on: Sequence[pulumi.Resource] = ()


def secret_entry(
    secret_id: str,
    args: SecretEntryArgs,
    *,
    source: str,
    readers: Sequence[str],
    parent: pulumi.Resource,
) -> gcp.secretmanager.Secret:
    """An entry: user-managed replicas in the configured regions only, retained when removed from
    the program (a secret's value cannot be recreated), protected in prod. `source` says where
    its value comes from (generated, external, or made by a component of the program)."""
    return gcp.secretmanager.Secret(
        secret_id,
        project=args.project,
        secret_id=secret_id,
        labels={**args.labels, "source": source},
        annotations={SECRET_READERS_ANNOTATION: ",".join(readers)},
        replication=gcp.secretmanager.SecretReplicationArgs(
            user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                replicas=[
                    gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=r)
                    for r in args.replica_regions
                ]
            )
        ),
        deletion_protection=args.protected,
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=args.protected,
            retain_on_delete=True,
            depends_on=list(args.depends_on),
        ),
    )


@dataclass(frozen=True)
class SecretsArgs:
    project: str
    entries: Sequence[SecretEntry]
    replica_regions: Sequence[str]
    labels: Mapping[str, str]
    protected: bool
    # Reader namespace -> its Google identity (IAM member); each entry is granted to exactly the
    # identities of its `readers`.
    readers: Mapping[str, pulumi.Input[str]]
    depends_on: Sequence[pulumi.Resource] = ()


class Secrets(pulumi.ComponentResource):
    """The configured entries (secret_entry), their generated values and read grants."""

    secret_names: dict[str, pulumi.Output[str]]
    # Generated entry id -> its value (a Pulumi secret), for a resource that must be set to the
    # same value (components/database.py: the database user's password).
    generated_values: dict[str, pulumi.Output[str]]
    # Reader namespace -> its accessor grants.
    grants: dict[str, list[gcp.secretmanager.SecretIamMember]]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gcp:Secrets", name, None, opts)
        self.secret_names = {}
        self.generated_values = {}
        self.grants = {reader: [] for reader in args.readers}
        where = SecretEntryArgs(
            project=args.project,
            replica_regions=args.replica_regions,
            labels=args.labels,
            protected=args.protected,
            depends_on=args.depends_on,
        )
        for entry in args.entries:
            secret = secret_entry(
                entry.id,
                where,
                source="generated" if entry.generated else "external",
                readers=entry.readers,
                parent=self,
            )
            self.secret_names[entry.id] = secret.name
            if entry.generated is not None:
                value = random.RandomPassword(
                    entry.id,
                    length=entry.generated.length,
                    special=entry.generated.special,
                    override_special=entry.generated.override_special,
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        protect=args.protected,
                        # After a state loss the value is imported by value, and the import
                        # cannot know these (terraform-provider-random resource_password.go
                        # ImportState sets special=true, overrideSpecial=null); both force
                        # replacement, i.e. a rotated credential. They shape the next value only.
                        ignore_changes=list(UNRESTORABLE_GENERATOR_SETTINGS),
                    ),
                )
                self.generated_values[entry.id] = pulumi.Output.secret(value.result)
                gcp.secretmanager.SecretVersion(
                    entry.id,
                    secret=secret.id,
                    # A Pulumi secret (encrypted in state, like the RandomPassword it comes from).
                    # Not the write-only input: the bridge keeps it in state all the same, and a
                    # new value would only reach Secret Manager with a bumped version counter.
                    secret_data=value.result.apply(pulumi.Output.secret),
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            # One member per reader (never a binding or policy, which would own the entry's whole
            # accessor list); named after the namespace, so a reader's grants are its own.
            for reader in entry.readers:
                self.grants[reader].append(
                    gcp.secretmanager.SecretIamMember(
                        f"{entry.id}-reader-{reader}",
                        project=args.project,
                        secret_id=secret.id,
                        role=SECRET_ACCESSOR_ROLE,
                        member=args.readers[reader],
                        opts=pulumi.ResourceOptions(parent=self),
                    )
                )
        self.register_outputs({"secrets": self.secret_names})
