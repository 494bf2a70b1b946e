"""Bad input never shows a traceback. Whatever value lands at whatever key of a stack's
config, the offline plan either succeeds or is refused with the CLI's or the program's message
(EngineRuleError / StackConfigError), never with another exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline.engine import stack_config, try_plan

Path = tuple[str | int, ...]
REFUSALS = ("EngineRuleError: ", "StackConfigError: ")

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every key path of a config (top-level keys, nested keys and list items)."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(config: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(config)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["staging", "prod-eu"]), st.data(), values)
def test_any_value_at_any_key_is_planned_or_refused_with_a_message(
    stack: str, data: st.DataObject, value: Any
) -> None:
    config = stack_config(stack)
    path = data.draw(st.sampled_from(sorted(paths(config), key=str)))
    plan = try_plan(stack, config=replaced(config, path, value))
    assert plan.error is None or plan.error.startswith(REFUSALS), plan.error
