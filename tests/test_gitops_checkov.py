"""Security scan (checkov) of every rendered stack: zero failures; every skip carries its reason
as a `checkov.io/skipN: <ID>=<reason>` annotation on the manifest. checkov runs from its own
virtualenv (.venv-checkov, made by `make checkov-venv`: it pins old dependencies)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from offline.engine import REPO_ROOT, stacks
from offline.gitops import __main__ as gitops_cli
from offline.gitops import facts as gitops_facts

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# The console script itself, run by its virtualenv's interpreter as `__main__` (runpy.run_path
# sets sys.argv[0] to it; the flags follow in sys.argv[1:], where checkov.main reads them), with
# one exit handler more: gc.freeze(), so that the interpreter's shutdown does not sweep checkov's
# heap for reference cycles (offline/cli.py `finish`; ~2 s of CPU here). atexit handlers run
# before those sweeps and in reverse order of registration, so checkov's own run before it
# (CPython Python/pylifecycle.c Py_FinalizeEx: _PyAtExit_Call, then finalize_modules).
CHECKOV_RUN = (
    "import atexit, gc, runpy; atexit.register(gc.freeze); "
    f"runpy.run_path({str(CHECKOV)!r}, run_name='__main__')"
)
CONFIG = REPO_ROOT / "k8s" / ".checkov.yaml"


SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(?P<id>CKV2?_[A-Z0-9]+_\d+)=(?P<reason>.*)$")


def skip_problems(docs: Iterable[dict[str, Any]]) -> list[str]:
    """Every `checkov.io/skipN` annotation is `<check id>=<reason>` with a non-empty reason."""
    problems: list[str] = []
    for doc in docs:
        meta = doc.get("metadata") or {}
        for key, value in sorted((meta.get("annotations") or {}).items()):
            if not SKIP_ANNOTATION.match(key):
                continue
            match = SKIP_VALUE.match(str(value))
            if match is None or not match["reason"].strip():
                problems.append(
                    f"{doc.get('kind')}/{meta.get('name')}: {key}: {value!r} has no reason"
                )
    return problems


def config_skip_problems(text: str) -> list[str]:
    """Every `skip-check` entry of a checkov config carries a `# reason` comment on its line."""
    problems: list[str] = []
    in_skips = False
    for line in text.splitlines():
        if re.match(r"^skip-check\s*:", line):
            in_skips = True
            inline = line.split(":", 1)[1].split("#", 1)[0].strip()
            if inline not in ("", "[]"):
                problems.append(
                    f"{line.strip()!r}: list skipped checks one per line, with a reason"
                )
            continue
        if in_skips and re.match(r"^\s+-", line):
            entry, _, reason = line.partition("#")
            if not reason.strip():
                problems.append(f"skip-check {entry.strip(' -')!r} has no `# reason` comment")
        elif in_skips and line.strip() and not line.lstrip().startswith("#"):
            in_skips = False
    return problems


def test_every_skip_annotation_has_a_reason() -> None:
    docs = [d for stack in stacks() for r in gitops_facts.rendered_stack(stack) for d in r.docs]
    assert any("checkov.io/skip1" in (d["metadata"].get("annotations") or {}) for d in docs)
    assert skip_problems(docs) == []


def test_a_skip_without_reason_is_reported() -> None:
    annotations = {
        "checkov.io/skip1": "CKV_K8S_38= ",
        "checkov.io/skip2": "CKV_K8S_15",
    }
    doc = {"kind": "Deployment", "metadata": {"name": "a", "annotations": annotations}}
    assert skip_problems([doc]) == [
        "Deployment/a: checkov.io/skip1: 'CKV_K8S_38= ' has no reason",
        "Deployment/a: checkov.io/skip2: 'CKV_K8S_15' has no reason",
    ]


def test_checkov_config_skips_nothing_without_a_reason() -> None:
    assert config_skip_problems(CONFIG.read_text(encoding="utf-8")) == []
    bad = "framework:\n  - kubernetes\nskip-check:\n  - CKV_K8S_1  # why\n  - CKV_K8S_2\nquiet: true\n"
    assert config_skip_problems(bad) == ["skip-check 'CKV_K8S_2' has no `# reason` comment"]
    assert config_skip_problems("skip-check: [CKV_K8S_1]\n") == [
        "'skip-check: [CKV_K8S_1]': list skipped checks one per line, with a reason"
    ]


def _reports(output: str) -> list[dict[str, Any]]:
    data = json.loads(output)
    return data if isinstance(data, list) else [data]


# The rules checkov owns (offline/gitops/checks.py docstring): a manifest that breaks each of them
# must fail the scan with exactly that check.
CHECKOV_OWNED = {
    "CKV_K8S_10": "cpu requests",
    "CKV_K8S_11": "cpu limits",
    "CKV_K8S_12": "memory requests",
    "CKV_K8S_13": "memory limits",
    "CKV_K8S_14": "image tag fixed (not latest or blank)",
    "CKV_K8S_43": "image pinned by digest",
}

# A Deployment that breaks every rule in CHECKOV_OWNED (no resources, `latest`, no digest).
BAD_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "bad", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "bad"}},
        "template": {
            "metadata": {"labels": {"app": "bad"}},
            "spec": {"containers": [{"name": "app", "image": "python:latest"}]},
        },
    },
}


@dataclass(frozen=True)
class Scan:
    """One checkov run over <root>/render/ (every stack's real render) and <root>/bad/bad.yaml."""

    proc: subprocess.CompletedProcess[str]
    reports: list[dict[str, Any]]

    def checks(self, outcome: str, under: str) -> list[dict[str, Any]]:
        """The `outcome` (passed/failed/skipped_checks) results of files under /<under>/."""
        return [
            c
            for r in self.reports
            for c in r["results"].get(outcome, [])
            if c["file_path"].startswith(f"/{under}/")
        ]


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """checkov's start-up (importing every framework's runner) costs most of a scan's CPU, so both
    checkov tests share one run over one directory holding the real tree and the manifest built
    to fail; every result names its file (`file_path`, relative to the scanned directory), so each
    test reads its own part. One directory, not two `--directory` flags: checkov 3.3.30 reports
    the first directory's files again for the second one and never scans the second."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-venv` first")
    root = tmp_path_factory.mktemp("checkov")
    for stack in stacks():
        gitops_cli.write_stack(stack, root / "scanned" / "render")
    # Only one Deployment without labels in the bad folder: checkov's Kubernetes graph checks
    # (CKV2_K8S_*) join objects across files by label selectors, network policies and RBAC
    # subjects (checkov/kubernetes/graph_builder/graph_components/edge_builders), so a labelled
    # object, a NetworkPolicy or an RBAC object here could change a result of the real tree.
    assert BAD_DEPLOYMENT["kind"] == "Deployment"
    assert "labels" not in BAD_DEPLOYMENT["metadata"]
    (root / "scanned" / "bad").mkdir()
    (root / "scanned" / "bad" / "bad.yaml").write_text(json.dumps(BAD_DEPLOYMENT), encoding="utf-8")
    # The committed config, but not quiet: the report must list the skipped checks too.
    config = root / "checkov.yaml"
    text = CONFIG.read_text(encoding="utf-8")
    assert "quiet: true\n" in text
    config.write_text(text.replace("quiet: true\n", "quiet: false\n"), encoding="utf-8")
    proc = subprocess.run(
        [
            str(CHECKOV.with_name("python")),
            # -P: not the working directory (the repository, with packages of its own) first on
            # sys.path, as `-c` would put it; the console script had its bin/ folder there.
            "-P",
            "-c",
            CHECKOV_RUN,
            "--config-file",
            str(config),
            "--directory",
            str(root / "scanned"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return Scan(proc, _reports(proc.stdout))


def test_checkov_finds_nothing(scan: Scan) -> None:
    """The real tree passes. checkov's exit status is 1 iff a report has a failed check (the
    config sets no soft/hard-fail threshold; checkov's Report.get_exit_code), so with the real
    tree's results free of failures the scan exits 1 for bad.yaml alone: exactly what a scan of
    the real tree alone exiting 0 proved. A crash also exits 1, but prints a traceback and no
    complete JSON report, which the asserts below reject."""
    for stack in stacks():
        rendered = {c["file_path"] for c in scan.checks("passed_checks", f"render/{stack}")}
        assert rendered, f"no object of stack {stack} was scanned\n{scan.proc.stderr}"
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in scan.checks("failed_checks", "render")
    ]
    assert not failures, "\n".join(failures)
    skipped = scan.checks("skipped_checks", "render")
    assert skipped, "the manifests' skip annotations were not seen"
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if not str((c.get("check_result") or {}).get("suppress_comment") or "").strip()
    ]
    assert not unexplained, unexplained
    summary = {r["check_type"]: r["summary"] for r in scan.reports}
    assert all(s["parsing_errors"] == 0 for s in summary.values()), summary
    every_failed = [c for r in scan.reports for c in r["results"].get("failed_checks", [])]
    assert {c["file_path"] for c in every_failed} == {"/bad/bad.yaml"}
    assert "Traceback" not in scan.proc.stderr, scan.proc.stderr
    assert scan.proc.returncode == 1, scan.proc.stderr


def test_checkov_enforces_the_rules_it_owns(scan: Scan) -> None:
    failed = {c["check_id"] for c in scan.checks("failed_checks", "bad")}
    assert set(CHECKOV_OWNED) <= failed, sorted(set(CHECKOV_OWNED) - failed)
