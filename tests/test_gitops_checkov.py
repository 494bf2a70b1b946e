"""Security scan (checkov) of every rendered stack: zero failures; every skip carries its reason
as a `checkov.io/skipN: <ID>=<reason>` annotation on the manifest. checkov runs from its own
virtualenv (.venv-checkov, made by `make checkov-venv`: it pins old dependencies)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from offline import gitops
from offline.engine import REPO_ROOT, stacks

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = REPO_ROOT / "k8s" / ".checkov.yaml"


def _reports(output: str) -> list[dict[str, Any]]:
    data = json.loads(output)
    return data if isinstance(data, list) else [data]


def test_checkov_finds_nothing(tmp_path: Path) -> None:
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-venv` first")
    for stack in stacks():
        gitops.write_stack(stack, tmp_path)
    proc = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "--directory", str(tmp_path), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    reports = _reports(proc.stdout)
    summary = {r["check_type"]: r["summary"] for r in reports}
    assert summary.get("kubernetes", {}).get("resource_count", 0) > 0, proc.stderr
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for r in reports
        for c in r["results"].get("failed_checks", [])
    ]
    assert not failures, "\n".join(failures)
    assert all(s["parsing_errors"] == 0 for s in summary.values()), summary
    assert proc.returncode == 0, proc.stderr
