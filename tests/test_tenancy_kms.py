"""Application-layer encryption of Kubernetes Secrets: every cluster's Secrets are encrypted with a
key of the program, in the cluster's region, usable by the GKE service agent, and kept."""

from __future__ import annotations

import pytest

from components.kms import ENCRYPTER_DECRYPTER_ROLE
from offline.engine import DELETE, STACK_TYPE, try_plan
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


SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"


@pytest.mark.parametrize("stack", STACKS)
def test_the_gke_agent_is_named_from_the_project_number(stack):
    """The grant names the agent from platform:projectNumber, not from ServiceIdentity's email
    (which the provider may leave empty): known at preview, and the same for every key."""
    plan = plan_of(stack)
    number = str(plan.config["platform:projectNumber"])
    agent = f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
    # The database's key is granted to the Cloud SQL agent the same way (tests/test_database.py).
    sql_agent = f"serviceAccount:service-{number}@gcp-sa-cloud-sql.iam.gserviceaccount.com"
    identities = plan.of_type(SERVICE_IDENTITY)
    for grant in plan.of_type(GRANT):
        assert grant.inputs["member"] in (agent, sql_agent)
        assert "member" not in grant.property_dependencies or not any(
            dep in {i.urn for i in identities} for dep in grant.property_dependencies["member"]
        )
        # The agent is created (generateServiceIdentity) before it is granted.
        assert any(plan.depends_on(grant, identity) for identity in identities)


@pytest.mark.parametrize("bad", ["12a4", "acme-platform-staging", True, 1.5])
def test_a_project_number_that_is_no_integer_is_refused_by_the_cli(bad):
    """Pulumi.yaml declares the key an integer: the CLI refuses anything else, naming it."""
    plan = try_plan("staging", {"platform:projectNumber": bad})
    assert plan.error is not None and "'platform:projectNumber'" in plan.error
    assert "integer" in plan.error and plan.resources == []


@pytest.mark.parametrize("bad", [0, -5, 10**19])
def test_an_impossible_project_number_is_refused_naming_the_key_and_the_fix(bad):
    plan = try_plan("staging", {"platform:projectNumber": bad})
    assert plan.error is not None
    assert "platform:projectNumber" in plan.error and "gcloud projects describe" in plan.error
    assert [r.type for r in plan.resources] in ([], [STACK_TYPE])


def test_the_project_number_is_required():
    plan = try_plan("prod-eu", {"platform:projectNumber": DELETE})
    assert plan.error is not None and "platform:projectNumber" in plan.error
