"""The policy pack (policy/): every rule holds on every stack, every rule can fail (a breaking case
per rule flips one input or option of a planned resource, or adds a forbidden one), and the
CrossGuard adapter reports what the offline run reports."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import tempfile
from collections.abc import Collection
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
from policy import docs as policy_docs
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


def test_residency_ignores_keys_that_only_look_like_places():
    """A time zone or a Cloud DNS zone is not where data lives; a self link's region is."""
    job = rules.ResourceView(
        type="gcp:cloudscheduler/job:Job",
        name="nightly",
        urn="urn:x",
        props={"region": "projects/p/regions/europe-west1", "timeZone": "America/New_York",
               "httpTarget": {"managedZone": "corp", "dnsZone": "us"}},
        protect=False,
    )  # fmt: skip
    facts = facts_of(plan_of("prod-eu").config)
    assert rule_named("eu-residency").evaluate(job, facts) == []


def test_copied_facts_match_the_program():
    """The pack cannot import components/ (it runs from its own virtualenv): copies must agree."""
    assert rules.EU_REGIONS == EU_REGIONS
    assert set(NODE_SERVICE_ACCOUNT_ROLES) == rules.NODE_SERVICE_ACCOUNT_ROLES
    for cluster in ("stg-global", "a-very-long-cluster-name-of-forty-chars"):
        member = f"serviceAccount:{service_account_id(cluster, 'nodes')}@p.iam.gserviceaccount.com"
        assert rules.NODE_SERVICE_ACCOUNT.match(member), member


# -- breaking each rule on purpose -----------------------------------------------------------------
@dataclass(frozen=True)
class Put:
    """Set a dotted input path (creating mappings on the way); `["a.b/c"]` is one key with dots
    (a label), `[0]` a list index."""

    path: str
    value: Any

    def __call__(self, inputs: dict[str, Any]) -> None:
        *parents, last = re.findall(r'\["[^"]*"\]|[^.\[\]]+|\[\d+\]', self.path)
        node: Any = inputs
        for part in parents:
            node = node[int(part[1:-1])] if _is_index(part) else node.setdefault(_key(part), {})
        if _is_index(last):
            node[int(last[1:-1])] = copy.deepcopy(self.value)
        else:
            node[_key(last)] = copy.deepcopy(self.value)


def _is_index(part: str) -> bool:
    return part.startswith("[") and not part.startswith('["')


def _key(part: str) -> str:
    return part[2:-2] if part.startswith('["') else part


def put(path: str, value: Any) -> Put:
    return Put(path, value)


@dataclass(frozen=True)
class Case:
    rule: str
    id: str
    stack: str
    type: str
    expect: str
    """A fragment every violation message of `rule` on the resource contains."""
    edit: Put | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    pick: str = ""
    """Change the first resource of `type` whose name contains this."""
    new_name: str | None = None
    """Add a resource of `type` with this name (inputs `base`, then `edit`) instead of changing
    one."""
    base: dict[str, Any] = dataclasses.field(default_factory=dict)
    in_crossguard: bool = True
    """False where CrossGuard cannot see what breaks the rule (retainOnDelete, secrets)."""

    def apply(self, plan: Plan) -> tuple[Plan, Registration]:
        if self.new_name is None:
            original = next(r for r in plan.of_type(self.type) if self.pick in r.name)
            inputs = copy.deepcopy(original.inputs)
            name, urn = original.name, original.urn
        else:
            original = plan.resources[0]
            inputs, name = copy.deepcopy(self.base), self.new_name
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
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
[NODE_ROLE] = NODE_SERVICE_ACCOUNT_ROLES
INSECURE_KUBECONFIG_YAML = """apiVersion: v1
clusters:
- cluster:
    server: https://10.0.0.2
    insecure-skip-tls-verify: true
  name: c
kind: Config
"""
INSECURE_KUBECONFIG_JSON = json.dumps(
    {"apiVersion": "v1", "clusters": [{"name": "c", "cluster": {
        "server": "https://10.0.0.2", "insecure-skip-tls-verify": True}}]}
)  # fmt: skip
STORE = "kubernetes:external-secrets.io/v1:SecretStore"
NAMESPACE = "kubernetes:core/v1:Namespace"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
PSA = "pod-security.kubernetes.io"
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
    Case("gke-workload-identity", "not-a-pool", "staging", CLUSTER, "workloadPool",
         put("workloadIdentityConfig.workloadPool", "acme-platform-staging")),
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
    Case("prod-protected", "sql-unprotected", "prod-eu", rules.SQL_INSTANCE, "not protected",
         options={"protect": False}),
    Case("prod-protected", "sql-google-deletion-protection-off", "prod-eu", rules.SQL_INSTANCE,
         "deletionProtectionEnabled", put("settings.deletionProtectionEnabled", False)),
    Case("cloud-sql-private-tls", "public-ip", "staging", rules.SQL_INSTANCE, "ipv4Enabled",
         put("settings.ipConfiguration.ipv4Enabled", True)),
    Case("cloud-sql-private-tls", "authorized-network", "prod-eu", rules.SQL_INSTANCE,
         "authorizedNetworks", put("settings.ipConfiguration.authorizedNetworks",
                                   [{"value": "0.0.0.0/0"}])),
    Case("cloud-sql-private-tls", "plain-text-allowed", "staging", rules.SQL_INSTANCE, "sslMode",
         put("settings.ipConfiguration.sslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED")),
    Case("cloud-sql-private-tls", "no-backups", "staging", rules.SQL_INSTANCE,
         "backupConfiguration.enabled", put("settings.backupConfiguration.enabled", False)),
    Case("cloud-sql-private-tls", "prod-no-pitr", "prod-eu", rules.SQL_INSTANCE,
         "pointInTimeRecoveryEnabled",
         put("settings.backupConfiguration.pointInTimeRecoveryEnabled", False)),
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
    Case("mesh-mtls", "builtin-ca", "prod-eu", MESH, "must be 'provided'",
         put("spec.mtls.backends[0].type", "builtin")),
    # -- public principals, node roles of other projects
    Case("no-public-principals", "secret-accessor-all-users", "staging", SECRET_MEMBER,
         "grants to everyone", put("member", "allUsers")),
    Case("no-public-principals", "project-all-authenticated", "prod-eu", PROJECT_MEMBER,
         "grants to everyone", put("member", "allAuthenticatedUsers")),
    Case("no-public-principals", "secret-binding", "staging",
         "gcp:secretmanager/secretIamBinding:SecretIamBinding", "grants to everyone",
         put("members", ["serviceAccount:eso@p.iam.gserviceaccount.com", "allUsers"]),
         new_name="open-binding"),
    Case("no-public-principals", "secret-policy-document", "prod-eu",
         "gcp:secretmanager/secretIamPolicy:SecretIamPolicy", "grants to everyone",
         put("policyData", json.dumps({"bindings": [
             {"role": rules.SECRET_ACCESSOR_ROLE, "members": ["allAuthenticatedUsers"]}]})),
         new_name="open-policy"),
    Case("no-public-principals", "bucket-member", "staging",
         "gcp:storage/bucketIAMMember:BucketIAMMember", "grants to everyone",
         put("member", "allUsers"), new_name="public-bucket"),
    Case("no-public-principals", "v2-public-principal-set", "prod-eu",
         "gcp:iam/denyPolicy:DenyPolicy", "grants to everyone",
         put("rules", [{"denyRule": {"deniedPrincipals": ["principalSet://goog/public:all"]}}]),
         new_name="public-deny"),
    Case("node-roles-own-project", "other-project-account", "staging", PROJECT_MEMBER,
         "only service accounts of project",
         put("member", "serviceAccount:stg-global-nodes@other-project.iam.gserviceaccount.com")),
    Case("node-roles-own-project", "other-project-grant", "prod-eu", PROJECT_MEMBER,
         "granted in project", put("project", "other-project-42")),
    Case("node-roles-own-project", "through-service-account-iam", "staging",
         "gcp:serviceaccount/iAMMember:IAMMember", NODE_ROLE,
         put("role", NODE_ROLE)),
    Case("node-roles-own-project", "binding-default-compute", "prod-eu",
         "gcp:projects/iAMBinding:IAMBinding", "only service accounts of project",
         put("members", ["serviceAccount:123456789012-compute@developer.gserviceaccount.com"]),
         new_name="compute-nodes", base={"role": NODE_ROLE}),
    # -- TLS verification in every spelling
    Case("no-skip-verify", "kds-skip-verify-string", "prod-eu", HELM, "skipVerify",
         put(KDS_SKIP_VERIFY, "True"), pick="kuma-zone"),
    Case("no-skip-verify", "kuma-env-map", "staging", HELM, "SKIP_VERIFY",
         put("values.controlPlane.envVars", {"KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY": "true"}),
         pick="kuma-zone"),
    Case("no-skip-verify", "env-list", "prod-eu", HELM, "GIT_SSL_NO_VERIFY",
         put("values.extraEnv", [{"name": "GIT_SSL_NO_VERIFY", "value": "1"}]),
         pick="external-secrets"),
    Case("no-skip-verify", "env-text", "staging", HELM, "INSECURE_SKIP_TLS_VERIFY=yes",
         put("values.extraEnvText", "A=1\nFLUX_INSECURE_SKIP_TLS_VERIFY=yes\n"),
         pick="flux-operator"),
    Case("no-skip-verify", "cli-flag", "staging", HELM, "--insecure-skip-tls-verify",
         put("values.extraArgs", ["--log-level=info", "--insecure-skip-tls-verify"]),
         pick="flux-operator"),
    Case("no-skip-verify", "cli-flag-value", "prod-eu", HELM, "kds-tls-skip-verify=true",
         put("values.controlPlane.extraArgs", ["--kds-tls-skip-verify=true"]),
         pick="kuma-zone"),
    Case("no-skip-verify", "kubeconfig-yaml", "staging", rules.K8S_PROVIDER,
         "insecure-skip-tls-verify", put("kubeconfig", INSECURE_KUBECONFIG_YAML)),
    Case("no-skip-verify", "kubeconfig-json", "prod-eu", rules.K8S_PROVIDER,
         "insecure-skip-tls-verify", put("kubeconfig", INSECURE_KUBECONFIG_JSON)),
    Case("no-skip-verify", "kubeconfig-in-configmap", "staging", "kubernetes:core/v1:ConfigMap",
         "insecure-skip-tls-verify", put("data.kubeconfig", INSECURE_KUBECONFIG_YAML)),
    Case("no-skip-verify", "v4-chart-values", "prod-eu", "kubernetes:helm.sh/v4:Chart",
         "insecureSkipVerify", put("values.webhook.insecureSkipVerify", "TRUE"),
         new_name="v4-chart"),
    # -- Helm charts like releases, strict mTLS
    Case("pinned-chart-versions", "v3-chart-range", "staging", "kubernetes:helm.sh/v3:Chart",
         "exact semver", put("version", ">=1.0.0"), new_name="v3-chart"),
    Case("pinned-chart-versions", "v3-chart-fetch-opts", "prod-eu", "kubernetes:helm.sh/v3:Chart",
         "fetchOpts.version", put("fetchOpts", {"version": "latest", "repo": "https://x"}),
         new_name="v3-chart"),
    Case("pinned-chart-versions", "v4-chart-unset", "staging", "kubernetes:helm.sh/v4:Chart",
         "version is not set", put("chart", "oci://ghcr.io/x/chart"), new_name="v4-chart"),
    Case("mtls-strict", "mesh-backend-permissive", "prod-eu", MESH, "PERMISSIVE",
         put("spec.mtls.backends", [{"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE"}])),
    Case("mtls-strict", "mesh-backend-mode", "staging", MESH, "PERMISSIVE",
         put("spec.mtls.backends[0].mode", "PERMISSIVE")),
    Case("mtls-strict", "meshtls-from", "staging", "kubernetes:kuma.io/v1alpha1:MeshTLS",
         "Permissive", put("spec", {"targetRef": {"kind": "Mesh"}, "from": [
             {"targetRef": {"kind": "Mesh"}, "default": {"mode": "Permissive"}}]}),
         new_name="meshtls-permissive"),
    Case("mtls-strict", "meshtls-rules", "prod-eu", "kubernetes:kuma.io/v1alpha1:MeshTLS",
         "Permissive", put("spec", {"rules": [{"default": {"mode": "Permissive"}}]}),
         new_name="meshtls-permissive"),
    # -- residency at any depth, KMS keys protected
    Case("eu-residency", "nested-zone", "prod-eu", "gcp:sql/databaseInstance:DatabaseInstance",
         "settings.locationPreference.zone", put("settings", {
             "locationPreference": {"zone": "us-central1-a"}}), new_name="db"),
    Case("eu-residency", "inline-pool-locations", "staging", CLUSTER,
         "nodePools[0].nodeLocations[0]",
         put("nodePools", [{"name": "extra", "nodeLocations": ["europe-west2-a"],
                            "nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"},
                                           "shieldedInstanceConfig": {"enableSecureBoot": True}}}])),
    Case("eu-residency", "bucket-data-locations", "prod-eu", "gcp:storage/bucket:Bucket",
         "dataLocations", put("customPlacementConfig", {"dataLocations": ["US-EAST1"]}),
         new_name="bucket"),
    Case("eu-residency", "auto-provisioning", "prod-eu", CLUSTER,
         "autoProvisioningLocations[0]",
         put("clusterAutoscaling.autoProvisioningLocations", ["us-east1-b"])),
    Case("eu-residency", "self-link-region", "staging", "gcp:compute/routerNat:RouterNat",
         "not in an EU region",
         put("region", "https://www.googleapis.com/compute/v1/projects/p/regions/us-east1")),
    Case("prod-protected", "kms-key-unprotected", "prod-eu", rules.KMS_CRYPTO_KEY,
         "not protected", put("keyRing", "projects/p/locations/europe-west1/keyRings/r"),
         new_name="secrets-key", options={"protect": False}),
    Case("secrets-are-secret", "tls-key-in-clear", "staging", rules.K8S_SECRET,
         "not a Pulumi", options={"secret_paths": []}, pick="kds-server-tls",
         in_crossguard=False),
    Case("secrets-are-secret", "version-data-in-clear", "prod-eu", rules.SM_SECRET_VERSION,
         "secretData", options={"secret_paths": []}, in_crossguard=False),
    # Found by its value (a PEM private key under an innocent name) and by a `*.key` name.
    Case("secrets-are-secret", "pem-in-clear", "staging", rules.SM_SECRET,
         "annotations.ca holds secret material",
         put("annotations", {"ca": "-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----"}),
         options={"secret_paths": []}, in_crossguard=False),
    Case("secrets-are-secret", "dot-key-in-clear", "staging", rules.SM_SECRET,
         "annotations.tls.key holds secret material", put("annotations", {"tls.key": "c2VjcmV0"}),
         options={"secret_paths": []}, in_crossguard=False),
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
    Case("eso-controller-reads-nothing", "cluster-push-secrets", "staging", HELM,
         "processClusterPushSecret", put("values.processClusterPushSecret", True),
         pick="external-secrets"),
    Case("eso-controller-reads-nothing", "cluster-generators", "prod-eu", HELM,
         "processClusterGenerator", put("values.processClusterGenerator", "true"),
         pick="external-secrets"),
    # Namespaces, Flux, tenant rights (policy/tenancy.py).
    Case("namespace-pod-security", "app-privileged", "staging", NAMESPACE, "use restricted",
         put(f'metadata.labels["{PSA}/enforce"]', "privileged"), pick="catalog"),
    Case("namespace-pod-security", "app-baseline", "prod-eu", NAMESPACE, "app namespace",
         put(f'metadata.labels["{PSA}/enforce"]', "baseline"), pick="storefront"),
    Case("namespace-pod-security", "platform-privileged", "staging", NAMESPACE, "enforce",
         put(f'metadata.labels["{PSA}/enforce"]', "privileged"), pick="kuma-ns"),
    Case("namespace-pod-security", "version-latest", "prod-eu", NAMESPACE, "-version",
         put(f'metadata.labels["{PSA}/enforce-version"]', "latest"), pick="flux"),
    Case("namespace-pod-security", "audit-baseline", "staging", NAMESPACE, "audit",
         put(f'metadata.labels["{PSA}/audit"]', "baseline"), pick="external-secrets"),
    Case("namespace-pod-security", "no-labels", "prod-eu", NAMESPACE, "labels",
         put("metadata", {"name": "scratch"}), new_name="scratch-ns"),
    Case("flux-web-ui-authenticated", "default-on", "staging", HELM, "web UI enabled",
         put("values.web", {}), pick="flux-operator"),
    Case("flux-web-ui-authenticated", "enabled", "prod-eu", HELM, "web UI enabled",
         put("values.web.enabled", True), pick="flux-operator"),
    Case("flux-web-ui-authenticated", "anonymous", "staging", HELM, "'Anonymous'",
         put("values.web", {"enabled": True, "config": {"authentication": {
             "type": "Anonymous", "anonymous": {"username": "admin"}}}}), pick="flux-operator"),
    Case("flux-multitenant-lockdown", "off", "prod-eu", rules.FLUX_INSTANCE, "multitenant",
         put("spec.cluster.multitenant", False)),
    Case("flux-multitenant-lockdown", "default-account", "staging", rules.FLUX_INSTANCE,
         "tenantDefaultServiceAccount", put("spec.cluster.tenantDefaultServiceAccount",
                                            "kustomize-controller")),
    Case("tenant-rights-namespaced", "network-policies", "staging", ROLE, "networking.k8s.io",
         put("rules[0].apiGroups", ["networking.k8s.io"])),
    Case("tenant-rights-namespaced", "escalate", "prod-eu", ROLE, "escalate",
         put("rules[1].verbs", ["get", "escalate"])),
    Case("tenant-rights-namespaced", "secrets", "staging", ROLE, "secrets",
         put("rules[0].resources", ["configmaps", "secrets"])),
    Case("tenant-rights-namespaced", "cluster-role-ref", "prod-eu", ROLE_BINDING, "ClusterRole",
         put("roleRef.kind", "ClusterRole")),
    Case("tenant-rights-namespaced", "cluster-binding", "staging",
         "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "cluster-wide",
         put("subjects", [{"kind": "ServiceAccount", "name": "apps-catalog",
                           "namespace": "flux-system"}]),
         new_name="apps-catalog-admin",
         base={"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "cluster-admin"}}),
    Case("tenant-rights-namespaced", "wildcard-cluster-role", "prod-eu",
         "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "grants ['*']",
         put("rules", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
         new_name="everything"),
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
@functools.cache
def _policy_config_text(stack: str) -> str:
    # A directory of this process's own: test files run in parallel workers and would otherwise
    # read each other's half-written file.
    out = Path(tempfile.mkdtemp(prefix="policy-config-")) / f"{stack}.json"
    assert policy_stack_config.main([stack, "--out", str(out)]) == 0
    return out.read_text()


def policy_config(stack: str) -> dict[str, dict[str, Any]]:
    """The file `make policy-config STACK=<stack>` writes, as the workflows pass it (written once
    per stack and test process; every call returns a fresh copy)."""
    config: dict[str, dict[str, Any]] = json.loads(_policy_config_text(stack))
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


@functools.cache
def _validation_policy(name: str) -> ResourceValidationPolicy:
    """The pack's validation policy of a rule, built once per test process as PolicyPack builds
    it once and runs it on every resource of a preview."""
    [policy] = [
        p
        for p in crossguard.policies()
        if p.name == name and isinstance(p, ResourceValidationPolicy) and p.has_validation()
    ]
    return policy


def crossguard_messages(rule: Rule, resource: Registration, config: dict[str, Any]) -> list[str]:
    """Run the rule's CrossGuard policy (its real validate callback) on one resource."""
    policy = _validation_policy(rule.name)
    reported = Reported()
    assert policy.validate(validation_args(resource, config), reported) is None
    return list(reported)


def config_for(rule: Rule, stack: str) -> dict[str, Any]:
    return policy_config(stack).get(rule.name, {})


def test_the_pack_holds_every_rule_crossguard_can_see():
    """A validation per rule CrossGuard can see; the secrets rule as a remediation (a validation
    cannot see secretness); nothing is left out."""
    levels = {p.name: p.enforcement_level for p in crossguard.policies()}
    assert list(levels) == [r.name for r in RULES]
    assert [r.name for r in RULES if r.offline_only] == ["secrets-are-secret"]
    assert rule_named("secrets-are-secret").where is rules.Where.REMEDIATED
    assert levels.pop("secrets-are-secret") is EnforcementLevel.REMEDIATE
    assert set(levels.values()) == {EnforcementLevel.MANDATORY}


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


def configured_analyzer(stack: str, only: Collection[str] | None = None) -> Any:
    """pulumi_policy's own analyzer service (what PolicyPack serves; constructing PolicyPack
    blocks on its gRPC server), configured with the stack's generated policy config file; with
    the pack's policies, or only those named in `only`."""
    policies = [p for p in crossguard.policies() if only is None or p.name in only]
    servicer: Any = _PolicyAnalyzerServicer(
        crossguard.PACK_NAME, "0.0.1", policies, EnforcementLevel.MANDATORY
    )
    request = proto.ConfigureAnalyzerRequest()
    for name, values in policy_config(stack).items():
        properties = struct_pb2.Struct()
        properties.update(values)
        request.policyConfig[name].CopyFrom(
            proto.PolicyConfig(enforcementLevel=proto.MANDATORY, properties=properties)
        )
    servicer.Configure(request, None)
    return servicer


def analyze_request(resource: Registration) -> Any:
    """The engine's AnalyzeRequest (also Remediate's) for a resource: wire-format inputs."""
    properties = struct_pb2.Struct()
    properties.update(_wire(resource.inputs, "", resource.secret_paths))
    return proto.AnalyzeRequest(
        type=resource.type,
        properties=properties,
        urn=resource.urn,
        name=resource.name,
        options=proto.AnalyzerResourceOptions(protect=resource.protect),
    )


def test_analyzer_round_trip_with_policy_config():
    """Schema, config from the JSON file, wire inputs, protect, through the analyzer service."""
    servicer = configured_analyzer("prod-eu")
    info = servicer.GetAnalyzerInfo(None, None)
    schemas = {p.name: list(p.configSchema.required) for p in info.policies}
    assert schemas["eu-residency"] == ["residency", "allowedRegions"]
    assert schemas["prod-protected"] == ["stage"]

    def analyze(resource: Registration) -> list[tuple[str, str]]:
        response = servicer.Analyze(analyze_request(resource), None)
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


def test_docs_rule_table_is_generated_from_the_rules():
    """docs/policy.md's table is the rules' own metadata (where enforced, offline part, what may
    be unknown); editing a rule without `python -m policy.docs` fails here."""
    assert policy_docs.main(["--check"]) == 0
    table = policy_docs.rules_table()
    for r in RULES:
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{r.name}` |")]
        assert policy_docs.WHERE_TEXT[r.where].split(":")[0] in row
        assert r.offline_part.replace("|", "\\|") in row


def test_docs_check_fails_on_drift(tmp_path, monkeypatch):
    doc = tmp_path / "policy.md"
    doc.write_text(policy_docs.DOC.read_text().replace("`mtls-strict`", "`mtls-lenient`"))
    monkeypatch.setattr(policy_docs, "DOC", doc)
    assert policy_docs.main(["--check"]) == 1
    assert policy_docs.main([]) == 0
    assert policy_docs.main(["--check"]) == 0


def test_rule_metadata_is_consistent():
    """Where a rule runs is data: offline-only parts always say why; a rule CrossGuard runs in
    full has none."""
    with pytest.raises(ValueError, match="offline_part"):
        dataclasses.replace(rule_named("gke-dataplane-v2"), where=rules.Where.PARTLY)
    with pytest.raises(ValueError, match="offline_part"):
        dataclasses.replace(rule_named("secrets-are-secret"), where=rules.Where.PREVIEW)
    assert rule_named("no-project-roles-for-workloads").defers("members[2]")
    assert not rule_named("no-project-roles-for-workloads").defers("role")
