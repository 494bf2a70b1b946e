"""An EU stack keeps its logs in the EU: the `_Default` sink writes to a log bucket in an allowed
EU region, and the plan is refused unless the organization's Cloud Logging default location (which
alone decides where the `_Required` audit-log bucket lives) is stated to be in the EU."""

from __future__ import annotations

import pytest

from components.facts import EU_REGIONS
from components.log_storage import DEFAULT_SINK, LOG_BUCKET_ID
from offline.engine import stack_config, try_plan
from tests.config_cases import overrides_for, set_at
from tests.support import STACKS, plan_of

BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
SINK = "gcp:logging/projectSink:ProjectSink"
# Chosen from the stack files (with Pulumi.yaml's defaults), not from plans: planning at import
# would cost every pytest worker both plans during collection. The test checks the plan agrees.
EU_STACKS = [s for s in STACKS if stack_config(s).get("platform:residency") == "eu"]


@pytest.mark.parametrize("stack", EU_STACKS)
def test_the_default_sink_writes_to_a_bucket_in_an_allowed_eu_region(stack: str) -> None:
    plan = plan_of(stack)
    assert plan.config["platform:residency"] == "eu"
    [bucket] = plan.of_type(BUCKET)
    [sink] = plan.of_type(SINK)
    location = bucket.inputs["location"]
    assert location in EU_REGIONS
    assert location in plan.config["platform:allowedRegions"]
    assert bucket.inputs["bucketId"] == LOG_BUCKET_ID
    assert sink.inputs["name"] == DEFAULT_SINK
    project = plan.config["gcp:project"]
    assert sink.inputs["destination"] == (
        f"logging.googleapis.com/projects/{project}/locations/{location}/buckets/{LOG_BUCKET_ID}"
    )
    assert plan.depends_on(sink, bucket)
    # Only where logs go changes, not which: the _Required sink keeps the audit logs.
    for log in ("activity", "system_event", "access_transparency"):
        assert f'NOT LOG_ID("cloudaudit.googleapis.com/{log}")' in sink.inputs["filter"]
    assert plan.config["platform:logging"]["orgStorageLocation"] in EU_REGIONS


@pytest.mark.parametrize(
    ("location", "stated"),
    [(None, "not stated"), ("europe-west2", "'europe-west2', outside the EU")],
)
def test_an_eu_stack_is_refused_without_the_org_logging_location_in_the_eu(
    location: str | None, stated: str
) -> None:
    mutation = set_at("platform:logging.orgStorageLocation", location)
    plan = try_plan("prod-eu", overrides_for("prod-eu", mutation))
    assert plan.error is not None
    assert f"platform:logging.orgStorageLocation: {stated}" in plan.error
    assert "gcloud logging settings update --organization=ORG_ID" in plan.error
    assert not plan.of_type(BUCKET), "refused before anything is registered"
