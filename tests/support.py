"""Plans shared by the test modules: each stack is planned once per test session."""

from __future__ import annotations

import functools
import json

from offline.engine import REPO_ROOT, Plan, plan_stack, stacks

STACKS = stacks()


@functools.cache
def _plan_json(stack: str) -> str:
    return json.dumps(plan_stack(stack).to_json())


def plan_of(stack: str) -> Plan:
    """The offline plan of a real stack, planned once; every call returns a fresh copy, so a
    test that edits it cannot change what other tests see (tests run in any order)."""
    return Plan.from_json(json.loads(_plan_json(stack)))


BOOTSTRAP_DIR = REPO_ROOT / "bootstrap"


@functools.cache
def _bootstrap_plan_json(stack: str) -> str:
    return json.dumps(plan_stack(stack, repo=BOOTSTRAP_DIR).to_json())


def bootstrap_plan_of(stack: str) -> Plan:
    """The offline plan of the day-0 bootstrap program (bootstrap/) for `stack`, planned once."""
    return Plan.from_json(json.loads(_bootstrap_plan_json(stack)))
