"""Helpers shared by tests/test_config_table.py and tests/test_config_model.py.

A config is the flat mapping the Pulumi CLI hands the program (`platform:clusters`, `gcp:region`,
...), built from the real stack files by `offline.engine.stack_config`. Mutations address a value
by the key a user would pass to `pulumi config set --path`, e.g.
`platform:clusters[1].nodePools[0].minNodes`, so a test case reads like the error it expects.
Every helper returns fresh copies: nothing here is shared mutable state.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from offline.engine import DELETE, stack_config

Config = dict[str, Any]
Mutation = Callable[[Config], None]
PathPart = int | str

_PART = re.compile(r"\[(\d+)\]|\.([A-Za-z_][A-Za-z0-9_-]*)")


@functools.cache
def _stack_config(stack: str) -> Config:
    return stack_config(stack)


def base_config(stack: str) -> Config:
    """A private deep copy of the real stack's config (Pulumi.yaml defaults + stack file)."""
    return copy.deepcopy(_stack_config(stack))


def raw_model_input(config: Mapping[str, Any]) -> dict[str, Any]:
    """What `read_raw_config()` builds from a config: `platform:*` by key, gcp:project/region."""
    raw: dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace == "platform":
            raw[full_key if key in ("project", "region") else key] = copy.deepcopy(value)
    for key in ("project", "region"):
        if f"gcp:{key}" in config:
            raw[key] = config[f"gcp:{key}"]
    return raw


def raw_of(stack: str) -> dict[str, Any]:
    return raw_model_input(base_config(stack))


def split_key(path: str) -> tuple[str, list[PathPart]]:
    """`platform:clusters[1].ranges.pods` -> (`platform:clusters`, [1, 'ranges', 'pods'])."""
    match = re.match(r"^[a-z]+:[A-Za-z_][A-Za-z0-9_-]*", path)
    if match is None:
        raise ValueError(f"not a config key: {path!r}")
    key, rest = match.group(0), path[match.end() :]
    parts: list[PathPart] = []
    while rest:
        part = _PART.match(rest)
        if part is None:
            raise ValueError(f"cannot parse {rest!r} in {path!r}")
        parts.append(int(part.group(1)) if part.group(1) is not None else part.group(2))
        rest = rest[part.end() :]
    return key, parts


def _parent(config: Config, path: str) -> tuple[Any, PathPart]:
    key, parts = split_key(path)
    if not parts:
        return config, key
    node: Any = config[key]
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def set_at(path: str, value: Any) -> Mutation:
    """Set the value at a `--path` style key (the key's parent must exist)."""

    def mutate(config: Config) -> None:
        parent, last = _parent(config, path)
        parent[last] = copy.deepcopy(value)

    return mutate


def delete_at(path: str) -> Mutation:
    def mutate(config: Config) -> None:
        parent, last = _parent(config, path)
        del parent[last]

    return mutate


def rename_at(path: str, new_name: str) -> Mutation:
    """Rename a mapping key in place: the way a typo reaches the program."""

    def mutate(config: Config) -> None:
        parent, last = _parent(config, path)
        if isinstance(parent, list) or isinstance(last, int):
            raise TypeError(f"{path} is not a mapping key")
        if parent is config:
            namespace = str(last).partition(":")[0]
            new_name_full = new_name if ":" in new_name else f"{namespace}:{new_name}"
            config[new_name_full] = config.pop(str(last))
        else:
            parent[new_name] = parent.pop(last)

    return mutate


def append_at(path: str, item: Any) -> Mutation:
    def mutate(config: Config) -> None:
        parent, last = _parent(config, path)
        parent[last].append(copy.deepcopy(item))

    return mutate


def combine(*mutations: Mutation) -> Mutation:
    def mutate(config: Config) -> None:
        for mutation in mutations:
            mutation(config)

    return mutate


def mutated(stack: str, mutation: Mutation) -> Config:
    config = base_config(stack)
    mutation(config)
    return config


def overrides_for(stack: str, mutation: Mutation) -> dict[str, Any]:
    """The `plan_stack` overrides (changed values, DELETE for removed keys) of a mutation."""
    before = base_config(stack)
    after = mutated(stack, mutation)
    overrides: dict[str, Any] = {k: v for k, v in after.items() if before.get(k, DELETE) != v}
    overrides.update({k: DELETE for k in before if k not in after})
    return overrides


def key_path(parts: list[PathPart] | tuple[PathPart, ...]) -> str:
    """Raw model path -> the key users see: ('clusters', 1, 'name') -> platform:clusters[1].name."""
    head, *rest = parts
    if ":" in str(head):
        text = str(head)
    else:
        text = f"gcp:{head}" if head in ("project", "region") else f"platform:{head}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text
