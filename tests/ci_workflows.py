"""The GitHub Actions workflows as data: jobs, steps, the matrix each job runs with, the
`pulumi preview`/`pulumi up` each job runs, and the policy pack run offline with a config file.

Shared by tests/test_workflows.py and tests/test_new_stack.py. The workflows are read as the
files say; GitHub expressions are resolved only for the contexts a job's matrix provides.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline import ci_stacks
from offline.engine import Plan, Registration
from policy import crossguard
from policy.plan_checks import COMPUTED

ROOT = Path(__file__).resolve().parent.parent
PULUMI_ACTION = "pulumi/actions@"
EXPRESSION = re.compile(r"\$\{\{\s*(?P<expr>.*?)\s*\}\}")
# The engine's wire form of a secret (pulumi/pulumi sdk/go/common/resource/sig/sig.go).
_SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def workflow_files(root: Path = ROOT) -> list[Path]:
    directory = root / ".github" / "workflows"
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict)
    return found


def jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    found = workflow["jobs"]
    assert isinstance(found, dict)
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps", [])
    assert isinstance(found, list)
    return found


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action)


def all_steps(root: Path = ROOT) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in workflow_files(root):
        for job_id, job in jobs(load(path)).items():
            for step in steps(job):
                yield path.name, job_id, step


def pulumi_step(job: dict[str, Any]) -> dict[str, Any]:
    found = [s for s in steps(job) if uses(s, PULUMI_ACTION)]
    assert len(found) == 1, job
    return found[0]


def resolve(value: Any, context: dict[str, Any]) -> str:
    """`${{ matrix.x }}` and friends replaced from `context` ({"matrix": {...}}); any other
    expression is an error, so a test never compares a string that GitHub would rewrite."""

    def one(m: re.Match[str]) -> str:
        expr = m["expr"]
        head, _, key = expr.partition(".")
        assert head in context and key in context[head], f"cannot resolve ${{{{ {expr} }}}}"
        return str(context[head][key])

    return EXPRESSION.sub(one, str(value))


@dataclass(frozen=True)
class PulumiRun:
    """One `pulumi preview`/`pulumi up` of a job, for one matrix entry."""

    workflow: str
    job: str
    command: str
    stack: str
    policy_packs: list[str]
    policy_pack_configs: list[str]
    generated_configs: list[str]  # `make policy-config STACK=<s>` steps before the pulumi step


def _lines(value: Any) -> list[str]:
    # pulumi/actions splits these inputs on newlines and semicolons (src/config.ts,
    # parseSemicolorToArray).
    return [
        p.strip() for line in str(value or "").splitlines() for p in line.split(";") if p.strip()
    ]


def policy_config_stacks(step: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """The STACK of every `make policy-config STACK=...` in a run step, shell variables taken
    from the step's env (the workflows pass values through env, never `${{ }}` in `run:`)."""
    env = {k: resolve(v, context) for k, v in step.get("env", {}).items()}
    found: list[str] = []
    for line in str(step.get("run", "")).splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] != ["make", "policy-config"]:
            continue
        for word in words[2:]:
            if word.startswith("STACK="):
                value = word.removeprefix("STACK=")
                found.append(re.sub(r"\$\{?(\w+)\}?", lambda m: env[m[1]], value))
    return found


def pulumi_runs(path: Path, repo: Path = ROOT) -> list[PulumiRun]:
    """Every pulumi run of a workflow, one per matrix entry (derived matrices computed from
    `repo` as the workflow's own stacks job computes them)."""
    runs: list[PulumiRun] = []
    workflow = load(path)
    for job_id, job in jobs(workflow).items():
        if not any(uses(s, PULUMI_ACTION) for s in steps(job)):
            continue
        for entry in matrix_entries(workflow, job_id, repo):
            context = {"matrix": entry}
            generated: list[str] = []
            for step in steps(job):
                if uses(step, PULUMI_ACTION):
                    inputs = step["with"]
                    runs.append(
                        PulumiRun(
                            workflow=path.name,
                            job=job_id,
                            command=inputs["command"],
                            stack=resolve(inputs["stack-name"], context),
                            policy_packs=_lines(resolve(inputs.get("policyPacks"), context)),
                            policy_pack_configs=_lines(
                                resolve(inputs.get("policyPackConfigs"), context)
                            ),
                            generated_configs=generated,
                        )
                    )
                    break
                generated.extend(policy_config_stacks(step, context))
    return runs


DERIVED = re.compile(
    r"^\$\{\{\s*fromJSON\(needs\.(?P<job>[\w-]+)\.outputs\.(?P<out>[\w-]+)\)\s*\}\}$"
)
STEP_OUTPUT = re.compile(r"^\$\{\{\s*steps\.(?P<step>[\w-]+)\.outputs\.(?P<out>[\w-]+)\s*\}\}$")
CI_STACKS_COMMAND = '.venv/bin/python -m offline.ci_stacks --github-output "$GITHUB_OUTPUT"'


def matrix_entries(
    workflow: dict[Any, Any], job_id: str, repo: Path = ROOT
) -> list[dict[str, Any]]:
    """The matrix entries of a job: written in the job, or `include: ${{ fromJSON(needs.<job>.
    outputs.<out>) }}` computed by following that output to the step that writes it, which must
    run offline.ci_stacks; its output is then computed here from `repo`. A job without a matrix
    runs once."""
    job = jobs(workflow)[job_id]
    matrix = job.get("strategy", {}).get("matrix")
    if matrix is None:
        return [{}]
    assert isinstance(matrix, dict) and set(matrix) == {"include"}, matrix
    include = matrix["include"]
    if isinstance(include, list):
        return include
    derived = DERIVED.match(str(include))
    assert derived, f"{job_id}: matrix.include is neither a list nor fromJSON(needs...)"
    needs = job.get("needs", [])
    assert derived["job"] in ([needs] if isinstance(needs, str) else needs), job_id
    source = jobs(workflow)[derived["job"]]
    step_output = STEP_OUTPUT.match(str(source["outputs"][derived["out"]]))
    assert step_output and step_output["out"] == derived["out"], source["outputs"]
    [step] = [s for s in steps(source) if s.get("id") == step_output["step"]]
    assert step["run"] == CI_STACKS_COMMAND, step
    entries = github_outputs(repo)[derived["out"]]
    assert isinstance(entries, list)
    return entries


def github_outputs(repo: Path) -> dict[str, Any]:
    """What `python -m offline.ci_stacks --github-output FILE` writes, parsed as GitHub does
    (`name=value` lines), each value read with fromJSON."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "github_output"
        assert ci_stacks.main(["--repo", str(repo), "--github-output", str(out)]) == 0
        lines = out.read_text(encoding="utf-8").splitlines()
    return {name: json.loads(value) for name, _, value in (x.partition("=") for x in lines)}


# -- the policy pack, as `pulumi preview --policy-pack policy --policy-pack-config <file>` runs it
def _wire(value: Any, path: str, secret_paths: list[str]) -> Any:
    """Inputs as the engine sends them to an analyzer: unknowns as the unknown sentinel,
    secrets wrapped in the secret signature."""
    if isinstance(value, dict):
        wired: Any = {
            k: _wire(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()
        }
    elif isinstance(value, list):
        wired = [_wire(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    else:
        wired = UNKNOWN_STRING_VALUE if value == COMPUTED else value
    return {**_SECRET_SIG, "value": wired} if path in secret_paths else wired


def run_pack(plan: Plan, config_file: Path | None) -> list[tuple[str, str]]:
    """(policy, message) of every violation pulumi_policy's analyzer service reports over the
    plan, configured with `config_file` the way `--policy-pack-config` passes it."""
    servicer: Any = _PolicyAnalyzerServicer(
        crossguard.PACK_NAME, "0.0.1", crossguard.policies(), EnforcementLevel.MANDATORY
    )
    request = proto.ConfigureAnalyzerRequest()
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file else {}
    for name, values in config.items():
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

    return [d for r in plan.resources for d in analyze(r)]
