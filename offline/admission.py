"""What a cluster of ours would refuse when an object is applied: the API server's schema check
(offline/k8s_validation.py, strict: unknown fields are errors) and the admission webhooks this
repository models (Kuma's, offline/kuma_rules.py). Every problem once, as `kind/name: path: why`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from offline.k8s_validation import validate_manifest
from offline.kuma_rules import kuma_problems


def problems(doc: dict[str, Any]) -> list[str]:
    schema = validate_manifest(doc)
    # A document the schema refuses is not admitted at all: its webhook verdict is moot.
    return schema or kuma_problems(doc)


def all_problems(docs: Iterable[dict[str, Any]]) -> list[str]:
    return [problem for doc in docs for problem in problems(doc)]
