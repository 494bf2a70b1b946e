"""Plans shared by the test modules: each stack is planned once per test session."""

from __future__ import annotations

import functools

from offline.engine import Plan, plan_stack, stacks

STACKS = stacks()


@functools.cache
def plan_of(stack: str) -> Plan:
    """The offline plan of a real stack. Treat as read-only: it is shared between tests."""
    return plan_stack(stack)


def config_value(plan: Plan, key: str) -> object:
    return plan.config[key]
