"""The stack's PostgreSQL (components/database.py), from the plan: private only (a Private
Service Connect endpoint at the configured address, no public IP), TLS required, CMEK with a key
in its region usable by the Cloud SQL agent before the instance exists, backups in another
allowed region (point-in-time recovery in prod), protected and retained in prod, its user's
password the tenant's generated entry; and the config refusals that keep it so."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.config import StackConfigError, parse_platform_config
from components.database import SSL_MODE, instance_name
from components.kms import ENCRYPTER_DECRYPTER_ROLE
from offline.engine import Plan, Registration
from tests.config_cases import raw_of
from tests.support import STACKS, plan_of

INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"


def _database_config(plan: Plan) -> dict[str, Any]:
    config = plan.config["platform:database"]
    assert isinstance(config, dict)
    return config


def _instance(plan: Plan) -> Registration:
    (instance,) = plan.of_type(INSTANCE)
    return instance


@pytest.mark.parametrize("stack", STACKS)
def test_the_instance_is_private_and_requires_tls(stack: str) -> None:
    plan = plan_of(stack)
    instance = _instance(plan)
    ip = instance.inputs["settings"]["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and not ip.get("authorizedNetworks")
    assert ip["sslMode"] == SSL_MODE == "ENCRYPTED_ONLY"
    (psc,) = ip["pscConfigs"]
    assert psc == {"pscEnabled": True, "allowedConsumerProjects": [plan.config["gcp:project"]]}
    assert instance.inputs["name"] == instance_name(_database_config(plan)["tenant"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_endpoint_is_the_configured_address_reachable_from_every_region(stack: str) -> None:
    plan = plan_of(stack)
    config = _database_config(plan)
    by_urn = plan.by_urn()
    (rule,) = plan.of_type("gcp:compute/forwardingRule:ForwardingRule")
    assert rule.inputs["allowPscGlobalAccess"] is True
    assert rule.inputs["loadBalancingScheme"] == ""
    assert rule.inputs["target"] == _instance(plan).outputs["pscServiceAttachmentLink"]
    (address,) = [by_urn[u] for u in rule.property_dependencies["ipAddress"]]
    network = ipaddress.ip_network(config["endpointRange"])
    # The first address GCP lets a subnet hand out (network and gateway are reserved).
    assert address.inputs["address"] == str(network.network_address + 2)
    (subnet,) = [by_urn[u] for u in address.property_dependencies["subnetwork"]]
    assert subnet.inputs["ipCidrRange"] == config["endpointRange"]
    assert subnet.inputs["region"] == rule.inputs["region"] == config["region"]


@pytest.mark.parametrize("stack", STACKS)
def test_data_is_encrypted_with_a_key_of_the_stack_in_the_instances_region(stack: str) -> None:
    plan = plan_of(stack)
    instance = _instance(plan)
    key_name = instance.inputs["encryptionKeyName"]
    assert f"/locations/{instance.inputs['region']}/" in key_name
    (grant,) = [
        g
        for g in plan.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if g.inputs["cryptoKeyId"] == key_name
    ]
    assert grant.inputs["role"] == ENCRYPTER_DECRYPTER_ROLE
    number = plan.config["platform:projectNumber"]
    assert grant.inputs["member"] == (
        f"serviceAccount:service-{number}@gcp-sa-cloud-sql.iam.gserviceaccount.com"
    )
    assert plan.depends_on(instance, grant)


@pytest.mark.parametrize("stack", STACKS)
def test_backups_survive_the_loss_of_the_instances_region(stack: str) -> None:
    plan = plan_of(stack)
    instance = _instance(plan)
    backups = instance.inputs["settings"]["backupConfiguration"]
    allowed = plan.config["platform:allowedRegions"]
    assert backups["enabled"] is True
    assert backups["location"] in allowed and backups["location"] != instance.inputs["region"]
    prod = plan.config["platform:stage"] == "prod"
    assert backups.get("pointInTimeRecoveryEnabled", False) is prod


@pytest.mark.parametrize("stack", STACKS)
def test_prod_keeps_the_instance_and_other_stages_may_destroy_it(stack: str) -> None:
    plan = plan_of(stack)
    instance = _instance(plan)
    prod = plan.config["platform:stage"] == "prod"
    assert instance.protect is prod and instance.retain_on_delete is prod
    assert instance.inputs["deletionProtection"] is prod
    assert instance.inputs["settings"]["deletionProtectionEnabled"] is prod
    assert instance.inputs["settings"]["availabilityType"] == ("REGIONAL" if prod else "ZONAL")
    # The database and the user are forgotten, never dropped, by a destroy (PostgreSQL refuses
    # to drop a role that owns objects).
    for kind in ("gcp:sql/database:Database", "gcp:sql/user:User"):
        (child,) = plan.of_type(kind)
        assert child.inputs["deletionPolicy"] == "ABANDON"


@pytest.mark.parametrize("stack", STACKS)
def test_the_users_password_is_the_tenants_generated_entry(stack: str) -> None:
    plan = plan_of(stack)
    config = _database_config(plan)
    (user,) = plan.of_type("gcp:sql/user:User")
    assert user.inputs["name"] == config["tenant"]
    by_urn = plan.by_urn()
    sources = {by_urn[u].type: by_urn[u] for u in user.property_dependencies["password"]}
    password = sources["random:index/randomPassword:RandomPassword"]
    assert password.name == config["passwordSecret"]
    assert user.inputs["password"] == password.outputs["result"]


def _refused(stack: str, **database: Any) -> list[str]:
    raw = raw_of(stack)
    raw["database"] = {**raw["database"], **database}
    with pytest.raises(StackConfigError) as error:
        parse_platform_config(raw, stack=stack)
    return error.value.problems


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"tenant": "storefront"}, "database.passwordSecret", "readers: [storefront]"),
        ({"tenant": "billing"}, "database.tenant", "not one of platform:tenants"),
        ({"passwordSecret": "mesh-gateway-tls"}, "database.passwordSecret", "'generated'"),
        ({"passwordSecret": "nope"}, "database.passwordSecret", "not one of secrets[].id"),
        ({"region": "us-east1"}, "database.region", "not in allowedRegions"),
        ({"backupRegion": "europe-west1"}, "database.backupRegion", "survive its loss"),
        ({"endpointRange": "10.20.0.0/28"}, "database.endpointRange", "overlaps clusters"),
        ({"endpointRange": "10.30.0.0/16"}, "database.endpointRange", "/24 to /29"),
        ({"endpointRange": "8.8.8.0/28"}, "database.endpointRange", "private"),
    ],
)
def test_config_refuses_a_database_that_would_not_be_private_or_the_tenants(
    change: dict[str, Any], key: str, fragment: str
) -> None:
    problems = _refused("staging", **change)
    assert any(p.startswith(f"platform:{key}") and fragment in p for p in problems), problems


def test_a_password_entry_another_namespace_reads_is_refused() -> None:
    raw = raw_of("staging")
    for entry in raw["secrets"]:
        if entry["id"] == raw["database"]["passwordSecret"]:
            entry["readers"] = ["catalog", "storefront"]
    with pytest.raises(StackConfigError) as error:
        parse_platform_config(raw, stack="staging")
    assert any("database's tenant alone" in p for p in error.value.problems)
