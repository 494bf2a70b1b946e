"""A value kept once and handed out as a fresh deep copy to every caller.

Caches that serve data a caller may edit (plans, renders, parsed YAML) hand each caller its own
copy. `copy.deepcopy` walks the value in Python, with a memo lookup and a dispatch per object,
strings and numbers included. Unpickling the value, pickled once, builds the same copy in C,
about 4 times faster on a render or a stack file. An instance is rebuilt the way deepcopy
rebuilds it: its class's `__reduce_ex__`, then its `__dict__` updated without `__setattr__`, so
frozen dataclasses too (copy.py `_reconstruct`; the BUILD opcode, pickle.py
`_Unpickler.load_build`). Like deepcopy, what the value shares is shared within the copy (the
pickle memo). A value pickle refuses (a lambda, a local class) is kept as it is and copied with
deepcopy each time.
"""

from __future__ import annotations

import copy
import pickle
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Frozen(Generic[T]):
    """`value` as it is now; every `thaw()` is a new deep copy of it, equal to it and sharing
    nothing mutable with it or with another copy. Do not edit `value` afterwards: a value
    pickle refuses is kept by reference."""

    __slots__ = ("_pickled", "_value")

    def __init__(self, value: T) -> None:
        try:
            self._pickled: bytes | None = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            self._value: T | None = None
        # What pickle.dumps raises for what it cannot write: PicklingError for a function or a
        # class it cannot find by name, TypeError ("cannot pickle ...") for a type without
        # __reduce__ support, AttributeError for a local object.
        except (pickle.PicklingError, TypeError, AttributeError):
            self._pickled = None
            self._value = value

    def thaw(self) -> T:
        if self._pickled is None:
            return copy.deepcopy(cast(T, self._value))
        return cast(T, pickle.loads(self._pickled))
