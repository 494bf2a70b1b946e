"""The ids the providers give resources, derived from their inputs where that is deterministic.

Used twice: by the mock engine, so plans carry ids in the providers' real formats (a resource that
refers to another by id then holds a realistic value), and by `make import-file`, which writes the
`pulumi import --file` document that adopts surviving resources after the state is lost.
Formats: the "Import" section of each resource's page in the Pulumi registry (pulumi-gcp 10,
pulumi-kubernetes 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Inputs = Mapping[str, Any]


def _account_email(inputs: Inputs, project: str) -> str:
    return f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"


GCP_ID_FORMATS: dict[str, Callable[[Inputs, str], str]] = {
    "gcp:projects/service:Service": lambda i, p: f"{p}/{i['service']}",
    "gcp:compute/network:Network": lambda i, p: f"projects/{p}/global/networks/{i['name']}",
    "gcp:compute/subnetwork:Subnetwork": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/subnetworks/{i['name']}"
    ),
    "gcp:compute/firewall:Firewall": lambda i, p: f"projects/{p}/global/firewalls/{i['name']}",
    "gcp:compute/router:Router": lambda i, p: (
        f"projects/{p}/regions/{i['region']}/routers/{i['name']}"
    ),
    "gcp:compute/routerNat:RouterNat": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/routers/{i['router']}/{i['name']}"
    ),
    "gcp:compute/address:Address": (
        lambda i, p: f"projects/{p}/regions/{i['region']}/addresses/{i['name']}"
    ),
    "gcp:container/cluster:Cluster": (
        lambda i, p: f"projects/{p}/locations/{i['location']}/clusters/{i['name']}"
    ),
    "gcp:container/nodePool:NodePool": (
        lambda i, p: (
            f"projects/{p}/locations/{i['location']}/clusters/{i['cluster']}/nodePools/{i['name']}"
        )
    ),
    "gcp:serviceaccount/account:Account": (
        lambda i, p: f"projects/{p}/serviceAccounts/{_account_email(i, p)}"
    ),
    "gcp:projects/iAMMember:IAMMember": lambda i, p: f"{p} {i['role']} {i['member']}",
    "gcp:serviceaccount/iAMMember:IAMMember": (
        lambda i, p: f"{i['serviceAccountId']} {i['role']} {i['member']}"
    ),
    "gcp:secretmanager/secret:Secret": lambda i, p: f"projects/{p}/secrets/{i['secretId']}",
    "gcp:kms/keyRing:KeyRing": (
        lambda i, p: (
            f"projects/{i.get('project', p)}/locations/{i['location']}/keyRings/{i['name']}"
        )
    ),
    "gcp:kms/cryptoKey:CryptoKey": lambda i, p: f"{i['keyRing']}/cryptoKeys/{i['name']}",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": (
        lambda i, p: f"{i['cryptoKeyId']} {i['role']} {i['member']}"
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": (
        lambda i, p: f"{i['secretId']} {i['role']} {i['member']}"
    ),
}


def gcp_id(type_: str, inputs: Inputs, project: str) -> str | None:
    """The provider id of a GCP resource, or None when it is not derivable from inputs."""
    derive = GCP_ID_FORMATS.get(type_)
    return derive(inputs, str(inputs.get("project", project))) if derive else None


def kubernetes_id(inputs: Inputs) -> str | None:
    """`namespace/name` (or `name` for cluster-scoped objects); Helm releases likewise."""
    if "chart" in inputs:  # helm.sh/v3 Release
        return f"{inputs['namespace']}/{inputs['name']}"
    metadata = inputs.get("metadata")
    if not isinstance(metadata, Mapping) or "name" not in metadata:
        return None
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
