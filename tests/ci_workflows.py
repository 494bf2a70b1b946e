"""The GitHub Actions workflows as data: jobs, steps, the matrix each job runs with, the
`pulumi preview`/`pulumi up` each job runs, and the policy pack run offline with a config file.

`jobs` and `steps` read through the repository's own building blocks as GitHub runs them: a job
calling a local reusable workflow becomes the called workflow's job(s), a step using a local
composite action becomes the action's steps, each with its inputs bound to what the caller
passes (`raw_jobs`/`raw_steps` give the files' own text).

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


def action_files(root: Path = ROOT) -> list[Path]:
    """The repository's own actions (`uses: ./.github/actions/<name>`)."""
    directory = root / ".github" / "actions"
    return sorted([*directory.glob("*/action.yml"), *directory.glob("*/action.yaml")])


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict)
    return found


def is_called_only(workflow: dict[Any, Any]) -> bool:
    """A reusable workflow that runs only when another workflow calls it: its jobs are the
    callers' jobs (expanded into them by `jobs`), not runs of their own."""
    return set(triggers(workflow)) == {"workflow_call"}


def jobs(workflow: dict[Any, Any], root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The jobs as they run: a job that calls a local reusable workflow (`uses: ./.github/
    workflows/<file>`) is replaced by the called workflow's job(s), see `called_jobs`."""
    found = workflow["jobs"]
    assert isinstance(found, dict)
    expanded: dict[str, dict[str, Any]] = {}
    for job_id, job in found.items():
        if not is_call(job):
            expanded[job_id] = job
            continue
        called = called_jobs(job, root)
        for called_id, called_job in called.items():
            expanded[job_id if len(called) == 1 else f"{job_id}/{called_id}"] = called_job
    return expanded


def raw_jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """The jobs as the file writes them (a calling job stays a `uses:` job)."""
    found = workflow["jobs"]
    assert isinstance(found, dict)
    return found


def is_call(job: dict[str, Any]) -> bool:
    return "uses" in job


def local_file(ref: str, root: Path = ROOT) -> Path:
    """`./<path>` of a local action or reusable workflow, relative to the repository root (the
    checked-out workspace for actions; the caller's repository and commit for workflows)."""
    assert ref.startswith("./"), f"{ref}: only local references are expanded"
    return root / ref.removeprefix("./")


def called_workflow(job: dict[str, Any], root: Path = ROOT) -> dict[Any, Any]:
    called = load(local_file(str(job["uses"]), root))
    assert is_called_only(called), job["uses"]
    return called


def called_jobs(job: dict[str, Any], root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The called workflow's jobs as they run for this caller: `inputs.<name>` replaced by the
    calling job's `with:` (or the input's default), the caller's `needs`. GitHub evaluates a
    called workflow with the caller's `github` context (docs.github.com/en/actions/reference/
    workflows-and-actions/reusable-workflows, "`github` context"), so the rest reads as before.
    The calling job may only carry keys GitHub allows next to `uses` (same page, "Supported
    keywords for jobs that call a reusable workflow"; this repository uses no `if`, `strategy`,
    `concurrency` there, which keeps each job's guards in one place)."""
    assert set(job) <= {"name", "uses", "with", "needs", "permissions"}, sorted(job)
    called = called_workflow(job, root)
    declared = triggers(called)["workflow_call"].get("inputs", {})
    bound = bind_inputs(declared, job.get("with", {}), str(job["uses"]))
    result: dict[str, dict[str, Any]] = {}
    for called_id, called_job in raw_jobs(called).items():
        assert "needs" not in called_job, f"{job['uses']}/{called_id}: one job per call"
        expanded = substitute_inputs(called_job, bound)
        if "needs" in job:
            expanded["needs"] = job["needs"]
        result[called_id] = expanded
    return result


def bind_inputs(declared: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """Every input the caller passes is declared; every required input is passed; the rest take
    their default, else what an unset input reads as: `false` and `0` for a `workflow_call`
    input typed boolean or number, the empty string otherwise (docs.github.com/en/actions/
    reference/workflows-and-actions/workflow-syntax, `on.workflow_call.inputs.<input_id>.type`;
    an action input has no type)."""
    unknown = sorted(set(given) - set(declared))
    assert not unknown, f"{where}: inputs {unknown} are not declared"
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            bound[name] = given[name]
        else:
            assert not spec.get("required"), f"{where}: required input {name} is not passed"
            unset = {"boolean": False, "number": 0}.get(str(spec.get("type")), "")
            bound[name] = spec.get("default", unset)
    return bound


_INPUT_REF = r"\binputs\.(?P<name>[A-Za-z_][\w-]*)(?![\w-])"


def _as_expression(value: Any) -> str:
    """A caller's `with:` value as an expression operand."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    whole = EXPRESSION.fullmatch(str(value).strip())
    if whole:
        return whole["expr"]
    return "'" + str(value).replace("'", "''") + "'"


def _in_expression(expr: str, bound: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        assert m["name"] in bound, f"inputs.{m['name']} is not declared"
        operand = _as_expression(bound[m["name"]])
        atomic = m.group(0) == expr.strip() or re.fullmatch(r"[\w.-]+|'[^']*'", operand)
        return operand if atomic else f"({operand})"

    return re.sub(_INPUT_REF, one, expr)


def substitute_inputs(value: Any, bound: dict[str, Any], key: str = "") -> Any:
    """`value` with every `inputs.<name>` replaced by what the caller passed: a string that is
    exactly `${{ inputs.x }}` takes the passed value itself (a boolean stays a boolean); inside a
    longer expression the passed expression replaces the reference; an `if:` (an expression
    without `${{ }}`) likewise."""
    if isinstance(value, dict):
        return {k: substitute_inputs(v, bound, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_inputs(v, bound) for v in value]
    if not isinstance(value, str):
        return value
    if key == "if" and not EXPRESSION.search(value):
        return _in_expression(value, bound)
    whole = EXPRESSION.fullmatch(value.strip())
    if whole and re.fullmatch(_INPUT_REF, whole["expr"]):
        name = re.fullmatch(_INPUT_REF, whole["expr"])
        assert name and name["name"] in bound, value
        return bound[name["name"]]

    def one(m: re.Match[str]) -> str:
        expr = m["expr"]
        ref = re.fullmatch(_INPUT_REF, expr)
        if ref:
            passed = bound[ref["name"]]
            return passed if isinstance(passed, str) else _as_expression(passed)
        return "${{ " + _in_expression(expr, bound) + " }}"

    return EXPRESSION.sub(one, value)


def steps(job: dict[str, Any], root: Path = ROOT) -> list[dict[str, Any]]:
    """The steps as they run: a step that uses a local composite action (`uses: ./.github/
    actions/<name>`) is replaced by the action's steps with its inputs bound to the step's
    `with:` (docs.github.com/en/actions/reference/workflows-and-actions/metadata-syntax, `runs`
    for composite actions)."""
    found: list[dict[str, Any]] = []
    for step in raw_steps(job):
        if str(step.get("uses", "")).startswith("./"):
            found.extend(action_steps(step, root))
        else:
            found.append(step)
    return found


def raw_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps", [])
    assert isinstance(found, list)
    return found


def action_steps(step: dict[str, Any], root: Path = ROOT) -> list[dict[str, Any]]:
    ref = str(step["uses"])
    directory = local_file(ref, root)
    [path] = [p for p in (directory / "action.yml", directory / "action.yaml") if p.is_file()]
    action = load(path)
    assert action["runs"]["using"] == "composite", ref
    bound = bind_inputs(action.get("inputs", {}), step.get("with", {}), ref)
    expanded = substitute_inputs(action["runs"]["steps"], bound)
    assert isinstance(expanded, list)
    return expanded


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action)


def all_steps(root: Path = ROOT) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every step as a file writes it: the workflows' jobs' steps, then the local actions'."""
    for path in workflow_files(root):
        for job_id, job in raw_jobs(load(path)).items():
            for step in raw_steps(job):
                yield path.name, job_id, step
    for path in action_files(root):
        for step in load(path)["runs"]["steps"]:
            yield path.parent.name, "runs", step


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
    if is_called_only(workflow):
        return runs  # its runs are its callers' (expanded into their jobs)
    for job_id, job in jobs(workflow, repo).items():
        if not any(uses(s, PULUMI_ACTION) for s in steps(job, repo)):
            continue
        for entry in matrix_entries(workflow, job_id, repo):
            context = {"matrix": entry}
            generated: list[str] = []
            for step in steps(job, repo):
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
# `on.workflow_call.outputs.<out>.value` of a called workflow: a job-level output of that
# workflow (docs.github.com/en/actions/how-tos/reuse-automations/reuse-workflows, "Using outputs
# from a reusable workflow": "The `value` must be set to the value of a job-level output within
# the called workflow").
CALLED_OUTPUT = re.compile(r"^\$\{\{\s*jobs\.(?P<job>[\w-]+)\.outputs\.(?P<out>[\w-]+)\s*\}\}$")
CI_STACKS_COMMAND = '.venv/bin/python -m offline.ci_stacks --github-output "$GITHUB_OUTPUT"'


def matrix_entries(
    workflow: dict[Any, Any], job_id: str, repo: Path = ROOT
) -> list[dict[str, Any]]:
    """The matrix entries of a job: written in the job, or `include: ${{ fromJSON(needs.<job>.
    outputs.<out>) }}` computed by following that output to the step that writes it
    (`output_step`), which must run offline.ci_stacks; its output is then computed here from
    `repo`. A job without a matrix runs once."""
    job = jobs(workflow, repo)[job_id]
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
    step = output_step(workflow, derived["job"], derived["out"], repo)
    assert step["run"] == CI_STACKS_COMMAND, step
    entries = github_outputs(repo)[derived["out"]]
    assert isinstance(entries, list)
    return entries


def output_step(
    workflow: dict[Any, Any], job_id: str, out: str, repo: Path = ROOT
) -> dict[str, Any]:
    """The step that writes what `needs.<job_id>.outputs.<out>` reads, every link asserted and
    named alike (`out` throughout, so a typo in any link fails):
    - a job: its `outputs.<out>` is `${{ steps.<id>.outputs.<out> }}`, one step has that `id`;
    - a job calling a local reusable workflow: the called workflow declares
      `on.workflow_call.outputs.<out>` with `value: ${{ jobs.<j>.outputs.<out> }}`, and job `<j>`
      of that workflow (as this caller runs it, `called_jobs`) is followed as above. The caller
      reads the called workflow's outputs through `needs` like a job's (docs.github.com/en/
      actions/how-tos/reuse-automations/reuse-workflows, "Using outputs from a reusable
      workflow"); a called job with a matrix would give the last finishing entry's value (same
      section), so it has none."""
    source = raw_jobs(workflow)[job_id]
    if is_call(source):
        called = called_workflow(source, repo)
        declared = triggers(called)["workflow_call"].get("outputs", {})
        where = f"{source['uses']}: on.workflow_call.outputs.{out}"
        assert out in declared, f"{where} is not declared"
        link = CALLED_OUTPUT.match(str(declared[out].get("value")))
        assert link and link["out"] == out, f"{where}.value: {declared[out].get('value')}"
        called_job = called_jobs(source, repo).get(link["job"])
        assert called_job is not None, f"{where}.value: no job {link['job']}"
        assert "matrix" not in called_job.get("strategy", {}), f"{where}: a matrix job"
        source, job_id = called_job, f"{source['uses']}/{link['job']}"
    outputs = source.get("outputs", {})
    assert out in outputs, f"{job_id}: no output {out}"
    step_output = STEP_OUTPUT.match(str(outputs[out]))
    assert step_output and step_output["out"] == out, f"{job_id}.outputs.{out}: {outputs[out]}"
    found = [s for s in steps(source, repo) if s.get("id") == step_output["step"]]
    assert len(found) == 1, f"{job_id}: {len(found)} steps with id {step_output['step']}"
    return found[0]


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
