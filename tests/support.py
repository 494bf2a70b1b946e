"""Plans shared by the test modules: each stack is planned once per test session."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from offline.engine import REPO_ROOT, Plan, plan_stack, stacks
from offline.frozen import Frozen
from offline.gitops.facts import stack_plan

STACKS = stacks()


def _freeze(plan: Plan) -> Frozen[Plan]:
    """The plan as its JSON form reads back (what `make plan` writes and the tests were written
    against: tuples as lists, keys as strings), kept to thaw a copy per call."""
    return Frozen(Plan.from_json(json.loads(json.dumps(plan.to_json()))))


@functools.cache
def _frozen_plan(stack: str) -> Frozen[Plan]:
    # The very plan offline/gitops/facts.py reads the stack's facts from: one run per process.
    return _freeze(stack_plan(stack))


def plan_of(stack: str) -> Plan:
    """The offline plan of a real stack, planned once; every call returns a fresh copy, so a
    test that edits it cannot change what other tests see (tests run in any order)."""
    return _frozen_plan(stack).thaw()


def session_plan_stack(stack: str) -> Plan:
    """Stands in for offline.engine.plan_stack in a command line run in process (monkeypatch it
    over the CLI module's `plan_stack`): the CLI plans the stack file with no overrides, the very
    input plan_of planned already, so the CLI's own work (reading state, checks, printing,
    writing) runs on that plan instead of a second identical run. The signature takes only the
    stack: a CLI that passed overrides or another repo would fail here, not be served a wrong
    plan. The CLIs that plan for real end to end: tests/test_new_stack.py and
    tests/test_operations.py::test_diff_against_a_git_ref_plans_that_revision."""
    return plan_of(stack)


@functools.cache
def _frozen_overridden_plan(stack: str, overrides: str) -> Frozen[Plan]:
    return _freeze(plan_stack(stack, json.loads(overrides)))


def plan_with(stack: str, overrides: Mapping[str, Any]) -> Plan:
    """plan_stack(stack, overrides), planned once per session for each distinct (stack,
    overrides) (the key is the overrides' canonical JSON: the exact input); a fresh copy each
    call, like plan_of."""
    key = json.dumps(overrides, sort_keys=True)
    # What is planned is the key read back: it must be the caller's input (no tuples, no
    # non-string keys that JSON would turn into something else).
    assert json.loads(key) == overrides, "plan_with needs JSON-shaped overrides"
    return _frozen_overridden_plan(stack, key).thaw()


BOOTSTRAP_DIR = REPO_ROOT / "bootstrap"
# The day-0 program's own stacks (bootstrap/Pulumi.<stack>.yaml): written when a project is
# bootstrapped (docs/bootstrap.md), each named like the platform stack of its project. A platform
# stack added before its day 0 simply has none yet.
BOOTSTRAP_STACKS = stacks(BOOTSTRAP_DIR)


@functools.cache
def _frozen_bootstrap_plan(stack: str) -> Frozen[Plan]:
    return _freeze(plan_stack(stack, repo=BOOTSTRAP_DIR))


def bootstrap_plan_of(stack: str) -> Plan:
    """The offline plan of the day-0 bootstrap program (bootstrap/) for `stack`, planned once."""
    return _frozen_bootstrap_plan(stack).thaw()
