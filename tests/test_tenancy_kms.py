"""Application-layer encryption of Kubernetes Secrets: every cluster's Secrets are encrypted with a
key of the program, in the cluster's region, usable by the GKE service agent, and kept."""

from __future__ import annotations

import pytest

from components.kms import ENCRYPTER_DECRYPTER_ROLE
from tests.support import STACKS, plan_of

CLUSTER = "gcp:container/cluster:Cluster"
KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_encrypts_secrets_with_a_key_in_its_region(stack):
    plan = plan_of(stack)
    keys = {f"{k.inputs['keyRing']}/cryptoKeys/{k.inputs['name']}": k for k in plan.of_type(KEY)}
    rings = {r.inputs["name"]: r for r in plan.of_type(RING)}
    grants = {g.inputs["cryptoKeyId"]: g for g in plan.of_type(GRANT)}
    clusters = plan.of_type(CLUSTER)
    # One key per cluster, plus the database's (tests/test_database.py).
    databases = plan.of_type("gcp:sql/databaseInstance:DatabaseInstance")
    assert len(keys) == len(grants) == len(clusters) + len(databases)
    for cluster in clusters:
        encryption = cluster.inputs["databaseEncryption"]
        assert encryption["state"] == "ENCRYPTED"
        key_name = encryption["keyName"]
        assert f"/locations/{cluster.inputs['location']}/" in key_name
        key = keys[key_name]
        ring = rings[key_name.split("/keyRings/")[1].split("/")[0]]
        assert ring.inputs["location"] == cluster.inputs["location"]
        grant = grants[key_name]
        assert grant.inputs["role"] == ENCRYPTER_DECRYPTER_ROLE
        assert grant.inputs["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
        # The cluster is created only once the agent may use the key.
        assert plan.depends_on(cluster, grant)
        # Prod keeps them: protected, and never destroyed with the program.
        prod = plan.config["platform:stage"] == "prod"
        for kept in (key, ring):
            assert (kept.protect, kept.retain_on_delete) == (prod, prod)
        assert key.inputs["rotationPeriod"]
