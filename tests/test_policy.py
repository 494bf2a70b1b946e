"""The policy pack (policy/): every rule holds on every stack, every rule can fail (a breaking case
per rule flips one input or option of a planned resource, or adds a forbidden one), and the
CrossGuard adapter reports what the offline run reports."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.facts import EU_REGIONS, NODE_SERVICE_ACCOUNT_ROLES
from components.naming import service_account_id
from offline import problems
from offline.engine import REPO_ROOT, Plan, Registration, stack_config
from policy import crossguard, rules
from policy import stack_config as policy_stack_config
from policy.plan_checks import COMPUTED, facts_of, view_of, violations
from policy.rules import RULES, Enforcement, Rule, StackFacts, rule_named
from tests.support import STACKS, plan_of

POLICY_DIR = REPO_ROOT / "policy"


SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


# -- every rule holds on every stack ---------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_holds_on_every_stack(stack):
    assert [str(v) for v in violations(plan_of(stack))] == []


@pytest.mark.parametrize("stack", STACKS)
def test_make_plan_reports_no_policy_problem(stack):
    assert list(problems.policy_violations(plan_of(stack))) == []


def test_rules_are_named_described_and_unique():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for r in RULES:
        assert r.name == r.name.lower() and " " not in r.name and r.description and r.why
    # Security invariants block a deployment; nothing here is merely advisory.
    assert {r.enforcement for r in RULES} == {Enforcement.MANDATORY}


def test_copied_facts_match_the_program():
    """The pack cannot import components/ (it runs from its own virtualenv): copies must agree."""
    assert rules.EU_REGIONS == EU_REGIONS
    assert set(NODE_SERVICE_ACCOUNT_ROLES) == rules.NODE_SERVICE_ACCOUNT_ROLES
    for cluster in ("stg-global", "a-very-long-cluster-name-of-forty-chars"):
        member = f"serviceAccount:{service_account_id(cluster, 'nodes')}@p.iam.gserviceaccount.com"
        assert rules.NODE_SERVICE_ACCOUNT.match(member), member


# -- breaking each rule on purpose -----------------------------------------------------------------
Edit = Callable[[dict[str, Any]], None]


def put(path: str, value: Any) -> Edit:
    """Set a dotted input path (creating mappings on the way)."""

    def edit(inputs: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = inputs
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)

    return edit


@dataclass(frozen=True)
class Case:
    rule: str
    id: str
    stack: str
    type: str
    expect: str
    """A fragment every violation message of `rule` on the resource contains."""
    edit: Edit | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    pick: str = ""
    """Change the first resource of `type` whose name contains this."""
    new_name: str | None = None
    """Add a resource of `type` with this name (inputs from `edit`) instead of changing one."""
    in_crossguard: bool = True
    """False where CrossGuard cannot see what breaks the rule (retainOnDelete, secrets)."""

    def apply(self, plan: Plan) -> tuple[Plan, Registration]:
        if self.new_name is None:
            original = next(r for r in plan.of_type(self.type) if self.pick in r.name)
            inputs = copy.deepcopy(original.inputs)
            name, urn = original.name, original.urn
        else:
            original = plan.resources[0]
            inputs, name = {}, self.new_name
            urn = f"urn:pulumi:{plan.stack}::{plan.project}::{self.type}::{name}"
        if self.edit:
            self.edit(inputs)
        changed = dataclasses.replace(
            original, type=self.type, name=name, urn=urn, inputs=inputs, **self.options
        )
        kept = [r for r in plan.registrations if r.urn != urn]
        return dataclasses.replace(plan, registrations=[*kept, changed]), changed


CLUSTER, NODE_POOL, MESH = rules.CLUSTER, rules.NODE_POOL, rules.MESH
KDS_SKIP_VERIFY = "values.controlPlane.tls.kdsZoneClient.skipVerify"
HELM = "kubernetes:helm.sh/v3:Release"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
STORE = "kubernetes:external-secrets.io/v1:SecretStore"
CLUSTER_STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"

CASES = [
    Case("gke-private-nodes", "public-nodes", "prod-eu", CLUSTER, "enablePrivateNodes",
         put("privateClusterConfig.enablePrivateNodes", False)),
    Case("gke-private-nodes", "public-endpoint", "staging", CLUSTER, "enablePrivateEndpoint",
         put("privateClusterConfig.enablePrivateEndpoint", False)),
    Case("gke-private-nodes", "pool-opts-out", "staging", NODE_POOL, "public IPs",
         put("networkConfig.enablePrivateNodes", False)),
    Case("gke-workload-identity", "no-pool", "prod-eu", CLUSTER, "workloadPool",
         put("workloadIdentityConfig", {})),
    Case("node-pool-gke-metadata", "pool", "prod-eu", NODE_POOL, "GKE_METADATA",
         put("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA")),
    Case("node-pool-gke-metadata", "default-pool", "staging", CLUSTER, "nodeConfig.workload",
         put("nodeConfig.workloadMetadataConfig", {})),
    Case("gke-shielded-secure-boot", "pool", "staging", NODE_POOL, "enableSecureBoot",
         put("nodeConfig.shieldedInstanceConfig.enableSecureBoot", False)),
    Case("gke-shielded-secure-boot", "cluster", "prod-eu", CLUSTER, "enableShieldedNodes",
         put("enableShieldedNodes", False)),
    Case("gke-dataplane-v2", "legacy", "prod-eu", CLUSTER, "ADVANCED_DATAPATH",
         put("datapathProvider", "LEGACY_DATAPATH")),
    Case("no-service-account-keys", "sa-key", "staging", rules.SERVICE_ACCOUNT_KEY,
         "long-lived key", put("serviceAccountId", "ci"), new_name="ci-key"),
    Case("no-service-account-keys", "hmac", "prod-eu", rules.HMAC_KEY, "long-lived key",
         put("serviceAccountEmail", "ci@p.iam.gserviceaccount.com"), new_name="ci-hmac"),
    Case("no-project-roles-for-workloads", "editor", "prod-eu", PROJECT_MEMBER, "only [",
         put("role", "roles/editor")),
    Case("no-project-roles-for-workloads", "node-role-to-workload", "staging", PROJECT_MEMBER,
         "not a GKE node service account",
         put("member", "serviceAccount:external-secrets@p.iam.gserviceaccount.com")),
    Case("no-project-roles-for-workloads", "trace-role-to-workload", "prod-eu", PROJECT_MEMBER,
         "not the telemetry identity",
         put("member", "serviceAccount:external-secrets@p.iam.gserviceaccount.com"),
         pick="otel-collector"),
    Case("no-project-roles-for-workloads", "policy", "staging", "gcp:projects/iAMPolicy:IAMPolicy",
         "authoritative", put("policyData", "{}"), new_name="project-policy"),
    Case("secret-accessor-per-secret", "project-accessor", "prod-eu", PROJECT_MEMBER,
         "granted on the project", put("role", rules.SECRET_ACCESSOR_ROLE)),
    Case("secret-accessor-per-secret", "secret-admin", "staging",
         "gcp:secretmanager/secretIamMember:SecretIamMember", "per-secret role",
         put("role", "roles/secretmanager.admin")),
    Case("eu-residency", "london-cluster", "prod-eu", CLUSTER, "not in an EU region",
         put("location", "europe-west2")),
    Case("eu-residency", "eu-but-not-allowed", "staging", "gcp:compute/subnetwork:Subnetwork",
         "not in allowedRegions", put("region", "europe-west3")),
    Case("eu-residency", "us-replica", "prod-eu", rules.SM_SECRET, "replicas[1].location",
         put("replication.userManaged.replicas", [{"location": "europe-west1"},
                                                  {"location": "us-east1"}])),
    Case("eu-residency", "automatic-replication", "staging", rules.SM_SECRET, "automatic",
         put("replication", {"auto": {}})),
    Case("eu-residency", "zone-outside", "prod-eu", NODE_POOL, "nodeLocations[0]",
         put("nodeLocations", ["us-central1-a"])),
    Case("prod-protected", "cluster-unprotected", "prod-eu", CLUSTER, "not protected",
         options={"protect": False}),
    Case("prod-protected", "no-deletion-protection", "prod-eu", CLUSTER, "deletionProtection",
         put("deletionProtection", False)),
    Case("prod-protected", "mesh-unprotected", "prod-eu", MESH, "not protected",
         options={"protect": False}),
    Case("prod-protected", "address-unprotected", "prod-eu", rules.ADDRESS, "not protected",
         options={"protect": False}),
    Case("prod-protected", "secret-not-retained", "staging", rules.SM_SECRET, "retained",
         options={"retain_on_delete": False}, in_crossguard=False),
    Case("flux-instance-protected", "unprotected", "prod-eu", rules.FLUX_INSTANCE,
         "not protected", options={"protect": False}),
    Case("flux-instance-protected", "not-retained", "prod-eu", rules.FLUX_INSTANCE, "retained",
         options={"retain_on_delete": False}, in_crossguard=False),
    Case("no-skip-verify", "kds-skip-verify", "staging", HELM, "skipVerify",
         put(KDS_SKIP_VERIFY, True), pick="kuma-zone"),
    Case("no-skip-verify", "cr-insecure", "prod-eu",
         "kubernetes:external-secrets.io/v1:SecretStore", "insecureSkipVerify",
         put("spec.provider.gcpsm.insecureSkipVerify", True)),
    Case("pinned-chart-versions", "range", "staging", HELM, "exact semver",
         put("version", "~2.9")),
    Case("pinned-chart-versions", "missing", "prod-eu", HELM, "exact semver", put("version", "")),
    Case("mesh-mtls", "no-mtls-with-egress", "prod-eu", MESH, "enabledBackend",
         put("spec.mtls", {})),
    Case("mesh-mtls", "dangling-backend", "staging", MESH, "names no backend",
         put("spec.mtls.enabledBackend", "ca-2")),
    Case("secrets-are-secret", "tls-key-in-clear", "staging", rules.K8S_SECRET,
         "not a Pulumi", options={"secret_paths": []}, pick="kds-server-tls",
         in_crossguard=False),
    Case("secrets-are-secret", "version-data-in-clear", "prod-eu", rules.SM_SECRET_VERSION,
         "secretData", options={"secret_paths": []}, in_crossguard=False),
    # Tenancy (policy/tenancy.py; the stack-wide reader analysis: tests/test_tenancy.py).
    Case("no-cluster-secret-store", "cluster-store", "staging", CLUSTER_STORE,
         "SecretStore per namespace", put("spec", {}), new_name="shared-store"),
    Case("secret-store-own-identity", "no-auth", "staging", STORE, "controller's identity",
         put("spec.provider.gcpsm.auth", {})),
    Case("secret-store-own-identity", "key", "prod-eu", STORE, "exactly workloadIdentity",
         put("spec.provider.gcpsm.auth", {"secretRef": {"secretAccessKeySecretRef": {}}})),
    Case("secret-store-own-identity", "other-account", "staging", STORE, "serviceAccountRef",
         put("spec.provider.gcpsm.auth.workloadIdentity.serviceAccountRef.name", "default")),
    Case("secret-store-own-identity", "other-namespace", "prod-eu", STORE, "own namespace",
         put("spec.provider.gcpsm.auth.workloadIdentity.serviceAccountRef.namespace", "x")),
    Case("eso-controller-reads-nothing", "annotated", "staging", HELM, "Google identity",
         put("values.serviceAccount.annotations",
             {"iam.gke.io/gcp-service-account": "x@p.iam.gserviceaccount.com"}),
         pick="external-secrets"),
    Case("eso-controller-reads-nothing", "cluster-stores", "prod-eu", HELM, "processClusterStore",
         put("values.processClusterStore", True), pick="external-secrets"),
    Case("gke-secrets-encrypted-with-own-key", "decrypted", "staging", CLUSTER, "ENCRYPTED",
         put("databaseEncryption", {"state": "DECRYPTED"})),
    Case("gke-secrets-encrypted-with-own-key", "no-rotation", "prod-eu", "gcp:kms/cryptoKey:CryptoKey",
         "rotationPeriod", put("rotationPeriod", "")),
    Case("gke-secrets-encrypted-with-own-key", "key-not-retained", "prod-eu",
         "gcp:kms/cryptoKey:CryptoKey", "retained", options={"retain_on_delete": False},
         in_crossguard=False),
]  # fmt: skip


def _case_id(case: Case) -> str:
    return f"{case.rule}:{case.id}"


def test_every_rule_has_a_breaking_case():
    assert {c.rule for c in CASES} == {r.name for r in RULES}


def test_breaking_cases_are_distinct():
    ids = [_case_id(c) for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_breaking_a_rule_is_reported(case: Case):
    broken, resource = case.apply(plan_of(case.stack))
    found = violations(broken)
    assert found, f"{case.rule} did not report {case.id}"
    # Only the changed resource is reported, and every report of the rule says what is wrong.
    assert {(v.type, v.name) for v in found} == {(resource.type, resource.name)}
    messages = [v.message for v in found if v.rule == case.rule]
    assert messages, [str(v) for v in found]
    assert all(case.expect in m for m in messages), messages


# -- the same rules through the CrossGuard adapter -------------------------------------------------
def policy_config(stack: str) -> dict[str, dict[str, Any]]:
    """The file `make policy-config STACK=<stack>` writes, as the workflows pass it."""
    out = REPO_ROOT / "build" / "test-policy-config" / f"{stack}.json"
    assert policy_stack_config.main([stack, "--out", str(out)]) == 0
    config: dict[str, dict[str, Any]] = json.loads(out.read_text())
    return config


def _wire(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Inputs as the engine sends them: unknowns as sentinels, secrets wrapped."""
    if isinstance(value, dict):
        wired: Any = {
            k: _wire(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()
        }
    elif isinstance(value, list):
        wired = [_wire(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    else:
        wired = UNKNOWN_STRING_VALUE if value == COMPUTED else value
    return {**SECRET_SIG, "value": wired} if path in secret_paths else wired


def validation_args(resource: Registration, config: dict[str, Any]) -> ResourceValidationArgs:
    """What pulumi_policy's Analyze builds for a resource (deserialized, unknown-checking)."""
    from pulumi_policy.deserialize import deserialize_properties

    props = unknown_checking_proxy(
        deserialize_properties(_wire(resource.inputs, "", resource.secret_paths))
    )
    opts = PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=resource.ignore_changes,
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=resource.additional_secret_outputs,
        parent=resource.parent or None,
    )
    return ResourceValidationArgs(
        resource.type, props, resource.urn, resource.name, opts, None, config
    )


class Reported(list[str]):
    """A ReportViolation callback that keeps the messages."""

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.append(message)


def crossguard_messages(rule: Rule, resource: Registration, config: dict[str, Any]) -> list[str]:
    """Run the rule's CrossGuard policy (its real validate callback) on one resource."""
    [policy] = [p for p in crossguard.policies() if p.name == rule.name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported = Reported()
    assert policy.validate(validation_args(resource, config), reported) is None
    return list(reported)


def config_for(rule: Rule, stack: str) -> dict[str, Any]:
    return policy_config(stack).get(rule.name, {})


def test_the_pack_holds_every_rule_crossguard_can_see():
    assert [p.name for p in crossguard.policies()] == [r.name for r in RULES if not r.offline_only]
    assert [r.name for r in RULES if r.offline_only] == ["secrets-are-secret"]
    for policy in crossguard.policies():
        assert policy.enforcement_level is EnforcementLevel.MANDATORY


@pytest.mark.parametrize("stack", STACKS)
def test_crossguard_adapter_passes_every_resource(stack):
    for resource in plan_of(stack).resources:
        for rule in RULES:
            if not rule.offline_only:
                assert crossguard_messages(rule, resource, config_for(rule, stack)) == [], (
                    resource.urn
                )


@pytest.mark.parametrize(
    "case", [c for c in CASES if not rule_named(c.rule).offline_only], ids=_case_id
)
def test_crossguard_adapter_reports_what_the_offline_run_reports(case: Case):
    rule = rule_named(case.rule)
    _, resource = case.apply(plan_of(case.stack))
    offline = rule.evaluate(view_of(resource), facts_of(plan_of(case.stack).config))
    assert offline
    reported = crossguard_messages(rule, resource, config_for(rule, case.stack))
    assert reported == (offline if case.in_crossguard else [])


def test_crossguard_sees_unknowns_without_stopping():
    """A value computed during preview is UNKNOWN to a rule, not an abort of the whole rule."""
    [release] = [r for r in plan_of("staging").of_type(HELM) if "kuma-zone" in r.name]
    inputs = copy.deepcopy(release.inputs)
    inputs["values"]["controlPlane"]["kdsGlobalAddress"] = COMPUTED
    put(KDS_SKIP_VERIFY, True)(inputs)
    broken = dataclasses.replace(release, inputs=inputs)
    view = crossguard.view_of(validation_args(broken, {}))
    assert view.get("values.controlPlane.kdsGlobalAddress") is rules.UNKNOWN
    assert crossguard_messages(rule_named("no-skip-verify"), broken, {}) == [
        f"{KDS_SKIP_VERIFY} is True: TLS verification must stay on"
    ]


# -- policy config: the CrossGuard source of the stack facts ---------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_generated_policy_config_matches_the_stack(stack):
    config = policy_config(stack)
    needed = {r.name: r.facts for r in RULES if r.facts and not r.offline_only}
    assert set(config) == set(needed)
    expected = facts_of(stack_config(stack))
    for name, keys in needed.items():
        assert set(config[name]) == set(keys)
        actual = StackFacts.parse(config[name], keys)
        for key, attribute in zip(StackFacts.FIELDS, dataclasses.fields(StackFacts), strict=True):
            if key in keys:
                assert getattr(actual, attribute.name) == getattr(expected, attribute.name)


def test_missing_policy_config_fails_closed():
    cluster = plan_of("prod-eu").of_type(CLUSTER)[0]
    [message] = crossguard_messages(rule_named("eu-residency"), cluster, {})
    assert "--policy-pack-config" in message


def test_analyzer_round_trip_with_policy_config():
    """pulumi_policy's own analyzer service (what PolicyPack serves; constructing PolicyPack
    blocks on its gRPC server): schema, config from the JSON file, wire inputs, protect."""
    servicer: Any = _PolicyAnalyzerServicer(
        crossguard.PACK_NAME, "0.0.1", crossguard.policies(), EnforcementLevel.MANDATORY
    )
    info = servicer.GetAnalyzerInfo(None, None)
    schemas = {p.name: list(p.configSchema.required) for p in info.policies}
    assert schemas["eu-residency"] == ["residency", "allowedRegions"]
    assert schemas["prod-protected"] == ["stage"]

    request = proto.ConfigureAnalyzerRequest()
    for name, values in policy_config("prod-eu").items():
        properties = struct_pb2.Struct()
        properties.update(values)
        request.policyConfig[name].CopyFrom(
            proto.PolicyConfig(enforcementLevel=proto.MANDATORY, properties=properties)
        )
    servicer.Configure(request, None)

    def analyze(resource: Registration) -> list[tuple[str, str]]:
        properties = struct_pb2.Struct()
        properties.update(_wire(resource.inputs, "", resource.secret_paths))
        response = servicer.Analyze(
            proto.AnalyzeRequest(
                type=resource.type,
                properties=properties,
                urn=resource.urn,
                name=resource.name,
                options=proto.AnalyzerResourceOptions(protect=resource.protect),
            ),
            None,
        )
        return [(d.policyName, d.message) for d in response.diagnostics]

    plan = plan_of("prod-eu")
    assert [d for r in plan.resources for d in analyze(r)] == []
    cluster = plan.of_type(CLUSTER)[0]
    moved = dataclasses.replace(
        cluster, inputs={**cluster.inputs, "location": "europe-west2"}, protect=False
    )
    assert sorted(name for name, _ in analyze(moved)) == ["eu-residency", "prod-protected"]


# -- the pack's files ------------------------------------------------------------------------------
def test_pack_files_pin_what_the_program_pins():
    pins = _pins(POLICY_DIR / "requirements.txt")
    assert pins["pulumi"] == _pins(REPO_ROOT / "requirements.txt")["pulumi"]
    assert "pulumi-policy" in pins
    main = (POLICY_DIR / "__main__.py").read_text()
    assert "PolicyPack(" in main and "policies()" in main
    assert "name: python" in (POLICY_DIR / "PulumiPolicy.yaml").read_text()


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = version.strip()
    return pins


def test_stack_facts_reject_bad_config():
    with pytest.raises(ValueError, match="stage") as error:
        StackFacts.parse({"stage": "production", "residency": "eu", "allowedRegions": []})
    assert "allowedRegions" in str(error.value)


def test_docs_list_every_rule():
    doc = (REPO_ROOT / "docs" / "policy.md").read_text()
    assert [r.name for r in RULES if f"| `{r.name}` |" not in doc] == []
