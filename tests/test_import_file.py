"""A state-loss rebuild adopts every resource with the id its provider's importer
accepts, and the first preview after it replaces nothing: no rotated secret, no new cluster.

The import is modelled in offline/import_plan.py from the importers' source (cited there); the
ids are checked against the importers' own patterns (offline/resource_ids.py IMPORT_PATTERNS).
"""

from __future__ import annotations

import dataclasses

import pytest

from offline import import_file, import_plan
from offline.engine import Plan, Registration
from offline.resource_ids import GCP_ID_FORMATS, IMPORT_PATTERNS, gcp_id, import_fields
from tests.support import BOOTSTRAP_STACKS, STACKS, bootstrap_plan_of, plan_of

RANDOM = "random:index/randomPassword:RandomPassword"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
CLUSTER = "gcp:container/cluster:Cluster"


def _documents(stack: str) -> tuple[Plan, import_file.ImportDocuments]:
    plan = plan_of(stack)
    return plan, import_file.build(plan)


def _evaluated_ids(plan: Plan, documents: import_file.ImportDocuments) -> dict[str, str]:
    manual = {step.resource.urn for step in documents.manual}
    return {
        urn: import_plan.evaluate(plan, ident) if urn in manual else ident
        for urn, ident in documents.identifiers.items()
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_gcp_id_is_one_the_providers_importer_parses_into_the_programs_inputs(stack):
    plan, documents = _documents(stack)
    ids = _evaluated_ids(plan, documents)
    index = plan.by_urn()
    gcp = [
        r
        for r in plan.resources
        if r.type.startswith("gcp:") and r.type not in import_file.ADOPTED_AS_IS
    ]
    assert {r.type for r in gcp} <= set(IMPORT_PATTERNS), "every GCP type has a cited pattern"
    for resource in gcp:
        fields = import_fields(resource.type, ids[resource.urn])
        assert fields is not None, (resource.type, ids[resource.urn])
        for key, value in fields.items():
            if key in resource.inputs:
                assert value == str(resource.inputs[key]), (resource.urn, key)
    project = str(plan.config["gcp:project"])
    for urn, ident in ids.items():
        if index[urn].type.startswith("gcp:"):
            # The resource part; an IAM grant's member may be a service agent, which Google names
            # after the project number.
            resource_part = ident.split(" ", 1)[0]
            assert "123456789012" not in resource_part, "a project number where the id needs the id"
            assert project in ident


def test_every_derived_id_format_has_the_upstream_pattern_it_must_satisfy():
    assert set(GCP_ID_FORMATS) <= set(IMPORT_PATTERNS)
    assert all(source for _, source in IMPORT_PATTERNS.values())


@pytest.mark.parametrize("stack", BOOTSTRAP_STACKS)
def test_bootstrap_ids_parse_into_the_bootstrap_programs_inputs(stack):
    plan = bootstrap_plan_of(stack)
    project = str(plan.config["gcp:project"])
    derived = 0
    for resource in plan.resources:
        ident = gcp_id(resource.type, resource.inputs, project)
        if ident is None:
            continue
        derived += 1
        fields = import_fields(resource.type, ident)
        assert fields is not None, (resource.type, ident)
        for key, value in fields.items():
            if key in resource.inputs:
                assert value == str(resource.inputs[key]), (resource.urn, key)
    assert derived


@pytest.mark.parametrize("stack", STACKS)
def test_secret_version_ids_name_the_version_once(stack):
    plan, documents = _documents(stack)
    project = plan.config["gcp:project"]
    ids = _evaluated_ids(plan, documents)
    versions = plan.of_type(VERSION)
    assert versions
    for version in versions:
        expected = (
            f"projects/{project}/secrets/{version.name}/versions/{import_plan.LATEST_VERSION}"
        )
        assert ids[version.urn] == expected


def test_the_gcloud_name_projection_would_double_the_path_and_replace_the_versions(monkeypatch):
    """The model catches the old form: `value(name)` prints the full path (project number)."""
    monkeypatch.setitem(
        import_file._MANUAL_IDS,
        VERSION,
        lambda p, r: (
            f'"projects/{p}/secrets/{r.name}/versions/$(gcloud secrets versions list {r.name} '
            f"--project {p} --limit 1 --format='value(name)')\""
        ),
    )
    plan, documents = _documents("staging")
    replaced = import_plan.direct_replacements(plan, documents)
    assert {plan.by_urn()[u].type for u in replaced} == {VERSION}
    assert all("/versions/projects/123456789012/" in why for why in replaced.values())


def test_a_monitoring_id_with_the_project_number_would_replace_the_object(monkeypatch):
    """The importers take `project` from the id; the API may name the project by number."""
    monkeypatch.setitem(
        import_file._MANUAL_IDS,
        "gcp:monitoring/alertPolicy:AlertPolicy",
        lambda p, r: f'"projects/{import_plan.PROJECT_NUMBER}/alertPolicies/1"',
    )
    plan, documents = _documents("staging")
    replaced = import_plan.direct_replacements(plan, documents)
    index = plan.by_urn()
    assert replaced
    assert {index[u].type for u in replaced} == {"gcp:monitoring/alertPolicy:AlertPolicy"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_first_preview_after_the_import_replaces_nothing(stack):
    """Nothing but the Kubernetes Secrets that carry the regenerated KDS TLS material (pulumi-tls
    cannot be imported): their content forces replacement, so they are recreated with it."""
    plan, documents = _documents(stack)
    assert import_plan.unexpected(plan, documents) == {}
    index = plan.by_urn()
    replaced = import_plan.replacements(plan, documents)
    assert {index[u].type for u in replaced} == {"kubernetes:core/v1:Secret"}
    new = import_plan.created(plan, documents)
    roots = {import_plan.root_of(u, replaced, new) for u in replaced}
    assert {index[root].type.split(":")[0] for root in roots} == {"tls"}


def _without_ignore_changes(plan: Plan, type_: str) -> Plan:
    def strip(r: Registration) -> Registration:
        return dataclasses.replace(r, ignore_changes=[]) if r.type == type_ else r

    return dataclasses.replace(plan, registrations=[strip(r) for r in plan.registrations])


def test_without_ignore_changes_every_generated_secret_would_rotate():
    """What upstream hashicorp/terraform-provider-random#552 describes: ImportState sets
    special=true and overrideSpecial=null, both RequiresReplace."""
    plan = _without_ignore_changes(plan_of("prod-eu"), RANDOM)
    documents = import_file.build(plan)
    replaced = import_plan.unexpected(plan, documents)
    index = plan.by_urn()
    rotated = {index[u].name: why for u, why in replaced.items() if index[u].type == RANDOM}
    assert set(rotated) == {r.name for r in plan.of_type(RANDOM)}
    assert "special: imported True, program False" in rotated["catalog-db-password"]
    assert "overrideSpecial" in rotated["backup-encryption-key"]
    # Each new value is a new version: the SecretVersion goes with its RandomPassword.
    assert {index[u].name for u in replaced if index[u].type == VERSION} == set(rotated)


def test_without_ignore_changes_every_cluster_and_everything_in_it_would_be_replaced():
    plan = _without_ignore_changes(plan_of("staging"), CLUSTER)
    documents = import_file.build(plan)
    replaced = import_plan.unexpected(plan, documents)
    index = plan.by_urn()
    clusters = {u for u in replaced if index[u].type == CLUSTER}
    assert {index[u].name for u in clusters} == {r.name for r in plan.of_type(CLUSTER)}
    assert all("initialNodeCount" in replaced[u] for u in clusters)
    in_cluster = {r.urn for r in plan.resources if r.type.startswith("kubernetes:")}
    assert in_cluster <= set(replaced), "a new cluster means a new provider and new objects"


@pytest.mark.parametrize("stack", STACKS)
def test_generated_values_are_adopted_unchanged(stack):
    """The RandomPassword's import id is the value Secret Manager holds, so its result (and the
    SecretVersion fed by it) is the value the clusters already use."""
    plan, documents = _documents(stack)
    ids = _evaluated_ids(plan, documents)
    for password in plan.of_type(RANDOM):
        state = import_plan.imported_state(plan, password, ids[password.urn])
        assert ids[password.urn] == import_plan.latest_payload(plan, password.name)
        assert state["length"].value == password.inputs["length"]


@pytest.mark.parametrize("stack", STACKS)
def test_manual_steps_end_the_flags_before_a_value_that_may_start_with_a_dash(stack):
    _, documents = _documents(stack)
    assert documents.manual
    for step in documents.manual:
        assert step.command.startswith("pulumi import -s ")
        assert step.command.endswith(
            f" -- {step.resource.type} {step.resource.name} {step.identifier}"
        )


def test_the_model_refuses_a_gcloud_command_it_does_not_know():
    with pytest.raises(ValueError, match="does not know"):
        import_plan.fake_gcloud(plan_of("staging"), ["gcloud", "secrets", "delete", "x"])


def test_make_import_file_refuses_documents_whose_import_would_replace_something(
    monkeypatch, tmp_path, capsys
):
    stripped = _without_ignore_changes(plan_of("staging"), RANDOM)
    monkeypatch.setattr(import_file, "plan_stack", lambda stack: stripped)
    assert import_file.main(["staging", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "would replace" in err and "catalog-db-password" in err
    assert not (tmp_path / "manual.txt").exists()


@pytest.mark.parametrize("stack", STACKS)
def test_kubernetes_ids_split_into_the_objects_namespace_and_name(stack):
    """pulumi-kubernetes parseFqName: one `/` separates namespace and name; none, cluster-scoped."""
    plan, documents = _documents(stack)
    entries = documents.kubernetes["resources"]
    assert len(entries) == len([r for r in plan.resources if r.type.startswith("kubernetes:")])
    index = plan.by_urn()
    for urn, ident in documents.identifiers.items():
        resource = index[urn]
        if not resource.type.startswith("kubernetes:"):
            continue
        namespace, _, name = ident.rpartition("/")
        if resource.type == "kubernetes:helm.sh/v3:Release":
            assert (namespace, name) == (resource.inputs["namespace"], resource.inputs["name"])
        else:
            metadata = resource.inputs["metadata"]
            assert (namespace, name) == (metadata.get("namespace", ""), metadata["name"])
