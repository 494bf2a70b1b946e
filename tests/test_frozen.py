"""offline.frozen.Frozen: every thaw() is an equal, independent deep copy; a value pickle cannot
write is refused when frozen, not at the first thaw."""

from __future__ import annotations

import copy
import datetime
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from offline.frozen import Frozen


class _Name(str):
    """A str subclass: copies keep the subclass."""


@dataclass(frozen=True)
class _Record:
    """A frozen dataclass holding mutable data: copies rebuild it without __setattr__."""

    items: list[int] = field(default_factory=lambda: [1])


def _value(**extra: Any) -> dict[str, Any]:
    shared = {"k": ["v"]}
    return {
        "scalars": [1, 2.5, -0.0, True, None, "s", b"b", _Name("n"), datetime.date(2026, 12, 1)],
        "tuple": (1, [2]),
        "set": {1, 2},
        "frozenset": frozenset({"a"}),
        "ints": {1: "one"},
        "record": _Record(),
        "a": shared,
        "b": shared,
        "nested": {"list": [1]},
        **extra,
    }


def test_every_thaw_is_an_equal_independent_copy() -> None:
    value = _value()
    expected = copy.deepcopy(value)
    frozen = Frozen(value)
    first, second = frozen.thaw(), frozen.thaw()
    assert first == value and second == value
    assert [type(v) for v in first["scalars"]] == [type(v) for v in value["scalars"]]
    assert [type(v) for v in first.values()] == [type(v) for v in value.values()]
    first["nested"]["list"].append(9)
    first["record"].items.append(9)
    first["tuple"][1].append(9)
    first["added"] = 1
    assert second == value and frozen.thaw() == value
    assert value == expected


def test_the_value_is_kept_as_it_was_when_frozen() -> None:
    """A later edit of the value is not seen: the copies are of the value when frozen."""
    value = _value()
    frozen = Frozen(value)
    value["nested"]["list"].append(9)
    assert frozen.thaw()["nested"]["list"] == [1]


def test_a_copy_shares_what_the_value_shares_and_nothing_with_another_copy() -> None:
    frozen = Frozen(_value())
    first, second = frozen.thaw(), frozen.thaw()
    assert first["a"] is first["b"]
    assert first["a"] is not second["a"]
    first["a"]["k"].append("w")
    assert first["b"]["k"] == ["v", "w"]
    assert second["a"]["k"] == ["v"] and second["b"]["k"] == ["v"]


def test_a_value_pickle_cannot_write_is_refused_when_frozen() -> None:
    # pickle writes a function by its qualified name: a local lambda has none it can import back
    # (pickle.py save_global: AttributeError "Can't pickle local object" in Python 3.11).
    with pytest.raises((pickle.PicklingError, AttributeError)):
        Frozen(_value(call=lambda: 1))


class _TwoPartError(Exception):
    """pickle rebuilds an exception as cls(*self.args): here one argument for an __init__ of two."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first}: {second}")


def test_a_value_pickle_cannot_read_back_is_refused_when_frozen() -> None:
    with pytest.raises(TypeError):
        Frozen([_TwoPartError("a", "b")])
