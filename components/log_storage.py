"""Where the project's logs are stored: a log bucket in the stack's own region, and the
project's `_Default` sink pointed at it, so that logs stay where the stack's residency says.

What GCP allows (Cloud Logging "Configure default settings for organizations and folders" and
"Routing and storage overview"; checked 2026-12, needs a real project to confirm):
- a log bucket's location is fixed when the bucket is created; the `_Default` and `_Required`
  buckets are created with the project, in the organization's (or folder's) default storage
  location, `global` unless that setting says otherwise;
- the `_Default` sink cannot be deleted but can be re-pointed: pulumi-gcp's ProjectSink named
  `_Default` acquires and updates the existing sink, and leaves it unchanged when removed from
  the program (pulumi-gcp `logging.ProjectSink` notes);
- the `_Required` sink and bucket (Admin Activity, System Event and Access Transparency audit
  logs) can be neither re-pointed nor moved: only the organization setting decides their
  location, which is why config validation demands it for an EU stack
  (`platform:logging.orgStorageLocation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.config_model import LogStorageConfig

DEFAULT_SINK = "_Default"
LOG_BUCKET_ID = "platform-logs"
# The `_Default` sink's own filter: everything the `_Required` sink does not take (Cloud Logging
# "Routing and storage overview", _Default sink). Kept as is so that re-pointing the sink changes
# where logs go, not which logs.
REQUIRED_LOG_IDS: tuple[str, ...] = tuple(
    f"{source}.googleapis.com/{log}"
    for log in ("activity", "system_event", "access_transparency")
    for source in ("cloudaudit", "externalaudit")
)
DEFAULT_SINK_FILTER = " AND ".join(f'NOT LOG_ID("{log_id}")' for log_id in REQUIRED_LOG_IDS)


@dataclass(frozen=True)
class LogStorageArgs:
    project: str
    config: LogStorageConfig
    protected: bool
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class LogStorage(pulumi.ComponentResource):
    bucket: gcp.logging.ProjectBucketConfig
    sink: gcp.logging.ProjectSink

    def __init__(
        self, name: str, args: LogStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:gcp:LogStorage", name, None, opts)
        location = args.config.bucket_location
        self.bucket = gcp.logging.ProjectBucketConfig(
            f"{name}-bucket",
            project=args.project,
            location=location,
            bucket_id=LOG_BUCKET_ID,
            retention_days=args.config.retention_days,
            description="Project logs (the _Default sink), kept in the stack's region",
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protected, depends_on=list(args.depends_on)
            ),
        )
        self.sink = gcp.logging.ProjectSink(
            f"{name}-default-sink",
            project=args.project,
            name=DEFAULT_SINK,
            # Known at preview (the bucket's resource name is derived from its inputs); a bucket
            # of the same project needs no grant to the sink's writer identity.
            destination=(
                f"logging.googleapis.com/projects/{args.project}/locations/{location}"
                f"/buckets/{LOG_BUCKET_ID}"
            ),
            filter=DEFAULT_SINK_FILTER,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket]),
        )
        self.register_outputs({"bucket": self.bucket.name, "sink": DEFAULT_SINK})
