"""The rules fed the property shapes CrossGuard really passes, through pulumi-policy's own analyzer
service (`_PolicyAnalyzerServicer.Analyze`, what `PolicyPack` serves to the engine).

What the engine sends and what the pack's validations then see (read in the sources):
- pulumi pkg/resource/deploy/step_generator.go: every registration goes to `Analyze` with its
  checked inputs and options protect, ignoreChanges, deleteBeforeReplace, additionalSecretOutputs,
  aliases, customTimeouts (no retainOnDelete, no parent); in preview and in update alike, and a
  mandatory diagnostic fails the preview (`sawError`) or stops the update (`invalid`).
- pulumi sdk/go/common/resource/plugin/analyzer_plugin.go `Analyze`: inputs marshalled with
  KeepUnknowns and KeepSecrets: an unknown value is the string sentinel UNKNOWN_STRING_VALUE
  (`04da6b54-...`), a secret is `{4dabf18...: 1b47061..., value: ...}`.
- pulumi-policy 1.21.0 sdk/python/lib/pulumi_policy/policy.py `Analyze`:
  `deserialize_properties(MessageToDict(request.properties))` unwraps secrets (proxy_secrets is
  False, so secretness is gone), `unknown_checking_proxy` raises UnknownValueError when an
  unknown is read; an UnknownValueError escaping a validation becomes an ADVISORY "can't run
  policy ... during preview" diagnostic, i.e. the policy silently passes.

So the tests below put the sentinel and the secret wrapper into the wire request and assert that
the CrossGuard verdict is the offline verdict, that no rule crashes or gives up (no advisory),
and that a rule fails closed on an unknown value it needs (unless the rule declares that input
`deferred`: computed from another resource's output and checked known again on `up`).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, SupportsIndex

import pytest
from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from offline.engine import Plan, Registration
from policy.plan_checks import COMPUTED, facts_of, view_of
from policy.rules import K8S_SECRET, RULES, walk
from tests.support import STACKS, plan_of
from tests.test_policy import (
    CASES,
    SECRET_SIG,
    Case,
    Put,
    _case_id,
    analyze_request,
    configured_analyzer,
)

Diagnostic = tuple[str, str]
"""(policy name, message) as the engine receives it."""


def crossguard_verdict(servicer: Any, resource: Registration) -> list[Diagnostic]:
    response = servicer.Analyze(analyze_request(resource), None)
    # No validation may give up on an unknown (pulumi-policy would pass it as ADVISORY).
    levels = {d.enforcementLevel for d in response.diagnostics}
    assert levels <= {proto.MANDATORY}, [d.message for d in response.diagnostics]
    # report_violation prefixes the policy's description; the rule's own message follows.
    return sorted(
        (d.policyName, d.message.partition("\n")[2] or d.message) for d in response.diagnostics
    )


def offline_verdict(
    plan: Plan, resource: Registration, only: Collection[str] | None = None
) -> list[Diagnostic]:
    """What the same rules (or those named in `only`) report offline, limited to what CrossGuard
    runs and can see."""
    view = dataclasses.replace(view_of(resource), retain_on_delete=None, secret_paths=None)
    facts = facts_of(plan.config)
    return sorted(
        (r.name, message)
        for r in RULES
        if not r.offline_only and (only is None or r.name in only)
        for message in r.evaluate(view, facts)
    )


class _ReadRecorder(Mapping[str, Any]):
    """A resource's inputs that note which top-level inputs a rule looked at. Every way to learn
    something about a Mapping's content goes through these methods (the mixins `get`, `in`,
    `items`, `==` call them), and ResourceView.props is typed Mapping, so a rule cannot use a
    dict-only way around them without mypy failing. `__getitem__` notes the one input asked for
    (present or not); anything that reveals which inputs there are notes them all (`everything`)."""

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        self._inputs = inputs
        self.read: set[str] = set()
        self.everything = False

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._inputs[key]

    def __iter__(self) -> Iterator[str]:
        self.everything = True
        return iter(self._inputs)

    def __len__(self) -> int:
        self.everything = True
        return len(self._inputs)

    def __repr__(self) -> str:
        self.everything = True
        return repr(self._inputs)

    # copy/deepcopy/pickle read an object's state without the Mapping methods: all inputs.
    def __copy__(self) -> dict[str, Any]:
        self.everything = True
        return dict(self._inputs)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        self.everything = True
        return copy.deepcopy(dict(self._inputs), memo)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        self.everything = True
        return (dict, (dict(self._inputs),))


ReadInputs = Mapping[str, frozenset[str] | None]
"""Per CrossGuard rule that reads any input of a resource: the top-level inputs it read, None
for all of them."""


def inputs_read(plan: Plan, resource: Registration) -> ReadInputs:
    """The CrossGuard rules that read any input of `resource` (run on it with recording inputs),
    with the top-level inputs each read. A rule that reads none decides from the resource's type,
    name, urn and options and the stack's facts alone, so no input's value, unknown or not,
    changes what it reports; a rule is a function of what it reads, so one that read only inputs
    other than `k` reads the same values, takes the same steps and reports the same whatever
    the value below `k`."""
    view = dataclasses.replace(view_of(resource), retain_on_delete=None, secret_paths=None)
    facts = facts_of(plan.config)
    reading: dict[str, frozenset[str] | None] = {}
    for rule in RULES:
        if not rule.offline_only:
            inputs = _ReadRecorder(view.props)
            rule.evaluate(dataclasses.replace(view, props=inputs), facts)
            if inputs.everything:
                reading[rule.name] = None
            elif inputs.read:
                reading[rule.name] = frozenset(inputs.read)
    return reading


def rules_reading(read: ReadInputs, top: str | int) -> frozenset[str]:
    """The rules whose verdict may change with a value below the top-level input `top`."""
    return frozenset(name for name, keys in read.items() if keys is None or top in keys)


Path = tuple[str | int, ...]


def nodes(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path (keys and indexes; keys may contain dots) of every node below `value`."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*path, key)
        yield from nodes(child, (*path, key))


def with_input(resource: Registration, path: Path, value: Any) -> Registration:
    """`resource` with the input at `path` replaced by `value`. Only the dicts and lists on the
    path are copied; the rest is shared with `resource`, which nothing here mutates."""

    def replaced(node: Any, rest: Path) -> Any:
        if not rest:
            return value
        changed: Any = dict(node) if isinstance(node, dict) else list(node)
        changed[rest[0]] = replaced(node[rest[0]], rest[1:])
        return changed

    return dataclasses.replace(resource, inputs=replaced(resource.inputs, path))


# -- unknown values -------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_an_unknown_anywhere_gives_the_offline_verdict_through_crossguard(stack: str) -> None:
    """Every input of every resource, one at a time, unknown during preview: no rule crashes or
    gives up, and CrossGuard reports exactly what the offline run reports.

    The whole pack runs through Analyze once per resource as planned; each unknown input is
    sent through Analyze with the policies whose rule reads, on that resource, all its inputs or
    the top-level input the unknown is under (`inputs_read`, ~2 of the pack's 26), and compared
    with those rules offline. That proves the same as sending the whole pack per input: any other
    rule reads only values the unknown leaves as they were, so it reports the same with it,
    offline and in its CrossGuard validation alike (which runs the same rule on what `view_of`
    makes of the request), and its verdict is the one the full run checked; and what CrossGuard
    does per request before a rule runs (the wire request, pulumi-policy's deserialization and
    unknown-checking proxy per policy, the adapter's `view_of`) is the same for every policy and
    still runs for every input, as every input has a rule that reads it (no-skip-verify reads
    them all)."""
    plan = plan_of(stack)
    analyzers: dict[frozenset[str] | None, Any] = {None: configured_analyzer(stack)}
    checked = 0
    for resource in plan.resources:
        assert crossguard_verdict(analyzers[None], resource) == offline_verdict(plan, resource)
        read = inputs_read(plan, resource)
        for path in nodes(resource.inputs):
            reading = rules_reading(read, path[0])
            assert reading, (resource.urn, path)
            if reading not in analyzers:
                analyzers[reading] = configured_analyzer(stack, only=reading)
            changed = with_input(resource, path, COMPUTED)
            assert crossguard_verdict(analyzers[reading], changed) == offline_verdict(
                plan, changed, only=reading
            ), (resource.urn, path)
            checked += 1
    assert checked > 500


def _unknown_variants(case: Case) -> Iterator[str]:
    """The input the case breaks, as a scalar: the rule's switch itself."""
    if isinstance(case.edit, Put) and not isinstance(case.edit.value, dict | list):
        yield case.edit.path


FAIL_CLOSED = [
    (case, path)
    for case in CASES
    if case.in_crossguard and not next(r for r in RULES if r.name == case.rule).offline_only
    for path in _unknown_variants(case)
]


@pytest.mark.parametrize(
    ("case", "path"), FAIL_CLOSED, ids=[f"{_case_id(c)}:{p}" for c, p in FAIL_CLOSED]
)
def test_an_unknown_switch_fails_closed_unless_deferred(case: Case, path: str) -> None:
    """The value a breaking case sets, unknown instead: the preview fails (some mandatory
    violation on the resource), unless the rule defers that input to `up`; then the rule passes
    it and `up` sees it known."""
    rule = next(r for r in RULES if r.name == case.rule)
    _, broken = case.apply(plan_of(case.stack))
    unknown = dataclasses.replace(broken, inputs=copy.deepcopy(broken.inputs))
    Put(path, COMPUTED)(unknown.inputs)
    verdict = crossguard_verdict(configured_analyzer(case.stack), unknown)
    if rule.defers(path):
        assert [m for name, m in verdict if name == rule.name] == []
    else:
        assert verdict, f"{rule.name} passes an unknown {path}"


def test_fail_closed_covers_every_crossguard_rule_with_a_switch() -> None:
    covered = {case.rule for case, _ in FAIL_CLOSED}
    type_only = {
        "no-service-account-keys",
        "prod-protected",
        "flux-instance-protected",
        "no-cluster-secret-store",
    }
    expected = {r.name for r in RULES if not r.offline_only} - type_only
    assert expected <= covered


def first_preview(plan: Plan) -> Plan:
    """The plan as a first `pulumi preview` of an empty stack sends it: every input derived
    from a cloud-assigned output of a resource it depends on (an email, a self link, an endpoint)
    is unknown; inputs that echo another resource's inputs stay known. The mock engine's
    outputs beyond the inputs are exactly the cloud-assigned ones (offline/engine.py
    `_computed_outputs`)."""
    by_urn = {r.urn: r for r in plan.registrations}

    def assigned(urn: str) -> set[str]:
        dependency = by_urn.get(urn)
        if dependency is None:
            return set()
        given = {v for _, _, v in walk(dependency.inputs) if isinstance(v, str)}
        return {
            value
            for _, _, value in walk(dependency.outputs)
            if isinstance(value, str) and len(value) > 6 and value not in given
        }

    def unknown_where_derived(value: Any, computed: set[str]) -> Any:
        if isinstance(value, dict):
            return {k: unknown_where_derived(v, computed) for k, v in value.items()}
        if isinstance(value, list):
            return [unknown_where_derived(v, computed) for v in value]
        if isinstance(value, str) and any(c in value for c in computed):
            return COMPUTED
        return value

    registrations = []
    for r in plan.registrations:
        inputs = dict(r.inputs)
        for key, urns in r.property_dependencies.items():
            computed = set().union(*(assigned(u) for u in urns)) if urns else set()
            if key in inputs and computed:
                inputs[key] = unknown_where_derived(inputs[key], computed)
        registrations.append(dataclasses.replace(r, inputs=inputs))
    return dataclasses.replace(plan, registrations=registrations)


@pytest.mark.parametrize("stack", STACKS)
def test_a_first_preview_of_an_empty_stack_passes(stack: str) -> None:
    """Failing closed must not fail the program's own first preview: what is unknown then is
    exactly what the rules defer."""
    plan = first_preview(plan_of(stack))
    unknown = [
        (r.name, path)
        for r in plan.resources
        for path, _, value in walk(r.inputs)
        if value == COMPUTED
    ]
    assert len(unknown) >= 5, "the first preview has unknown inputs (emails, kubeconfigs)"
    servicer = configured_analyzer(stack)
    assert [(r.urn, crossguard_verdict(servicer, r)) for r in plan.resources] == [
        (r.urn, []) for r in plan.resources
    ]


# -- secret values --------------------------------------------------------------------------------
def _secret_variants(case: Case) -> Iterator[str]:
    """The broken input wrapped as a secret, and the top-level input that contains it."""
    if isinstance(case.edit, Put):
        yield case.edit.path
        yield case.edit.path.split(".")[0]


SECRET_WRAPPED = [
    (case, path)
    for case in CASES
    if not next(r for r in RULES if r.name == case.rule).offline_only
    for path in dict.fromkeys(_secret_variants(case))
]


@pytest.mark.parametrize(
    ("case", "path"), SECRET_WRAPPED, ids=[f"{_case_id(c)}:{p}" for c, p in SECRET_WRAPPED]
)
def test_a_secret_wrapped_value_is_judged_like_a_plain_one(case: Case, path: str) -> None:
    """A violation sent as a Pulumi secret is still a violation: CrossGuard sees the unwrapped
    value and reports what the offline run reports on the plain value."""
    plan, broken = case.apply(plan_of(case.stack))
    hidden = dataclasses.replace(broken, secret_paths=[*broken.secret_paths, path])
    verdict = crossguard_verdict(configured_analyzer(case.stack), hidden)
    assert verdict == offline_verdict(plan, broken)
    if case.in_crossguard:
        assert any(name == case.rule for name, _ in verdict)


# -- secrets-are-secret under CrossGuard: a remediation -------------------------------------------
def remediate(servicer: Any, resource: Registration) -> list[tuple[str, dict[str, Any]]]:
    """pulumi-policy's Remediate for one resource: (policy, returned inputs in wire format)."""
    response = servicer.Remediate(analyze_request(resource), None)
    assert [r.diagnostic for r in response.remediations if r.diagnostic] == []
    return [(r.policyName, json_format.MessageToDict(r.properties)) for r in response.remediations]


def unwired(value: Any, path: str, secrets: list[str]) -> Any:
    """Wire-format inputs back to plain data (unknowns as COMPUTED), collecting secret paths."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG[SIG_KEY]:
        secrets.append(path)
        return unwired(value["value"], path, [])
    if isinstance(value, dict):
        return {k: unwired(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [unwired(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return COMPUTED if value == UNKNOWN_STRING_VALUE else value


SIG_KEY = next(iter(SECRET_SIG))


@pytest.mark.parametrize("stack", STACKS)
def test_no_remediation_when_every_secret_is_a_secret(stack: str) -> None:
    servicer = configured_analyzer(stack)
    assert [(r.urn, remediate(servicer, r)) for r in plan_of(stack).resources] == [
        (r.urn, []) for r in plan_of(stack).resources
    ]


SECRET_CASES = [c for c in CASES if c.rule == "secrets-are-secret"]


@pytest.mark.parametrize("case", SECRET_CASES, ids=_case_id)
def test_plaintext_secret_material_comes_back_as_a_secret(case: Case) -> None:
    """The breaking cases of secrets-are-secret (secret material sent in plain text) through
    Remediate: the same inputs come back with exactly the secret material (and whatever already
    was a secret) wrapped as secrets; an unknown elsewhere stays unknown."""
    plan, broken = case.apply(plan_of(case.stack))
    expected = [path for path, *_ in (m.partition(" ") for m in offline_messages(plan, broken))]
    assert expected
    some_input = next(
        k
        for k in broken.inputs
        if not any(re.match(rf"{re.escape(k)}($|[.\[])", p) for p in expected)
    )
    broken.inputs[some_input] = COMPUTED
    [(policy, returned)] = remediate(configured_analyzer(case.stack), broken)
    assert policy == "secrets-are-secret"
    secrets: list[str] = []
    assert unwired(returned, "", secrets) == broken.inputs
    assert sorted(secrets) == sorted({*expected, *broken.secret_paths})


def offline_messages(plan: Plan, resource: Registration) -> list[str]:
    return next(r for r in RULES if r.name == "secrets-are-secret").evaluate(
        view_of(resource), facts_of(plan.config)
    )


def test_remediation_keeps_existing_secrets() -> None:
    """A resource with one secret input and one plaintext secret: both come back secret."""
    [secret] = [r for r in plan_of("staging").of_type(K8S_SECRET) if "kds-server-tls" in r.name]
    assert secret.secret_paths
    broken = dataclasses.replace(
        secret, inputs={**secret.inputs, "data": {"extra.key": "a2V5"}}, secret_paths=["stringData"]
    )
    [(_, returned)] = remediate(configured_analyzer("staging"), broken)
    secrets: list[str] = []
    assert unwired(returned, "", secrets) == broken.inputs
    assert sorted(secrets) == ["data.extra.key", "stringData"]
