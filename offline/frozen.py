"""A value kept once and handed out as a fresh deep copy to every caller.

Caches that serve data a caller may edit (plans, renders, parsed YAML) hand each caller its own
copy. `copy.deepcopy` walks the value in Python, with a memo lookup and a dispatch per object,
strings and numbers included. Unpickling the value, pickled once, builds the same copy in C,
about 4 times faster on a render or a stack file. An instance is rebuilt the way deepcopy
rebuilds it: its class's `__reduce_ex__`, then its `__dict__` updated without `__setattr__`, so
frozen dataclasses too (copy.py `_reconstruct`; the BUILD opcode, pickle.py
`_Unpickler.load_build`). Like deepcopy, what the value shares is shared within the copy (the
pickle memo). A value pickle cannot write (a lambda, a local class) or read back (an exception
whose __init__ takes other arguments than its args) is refused when frozen, not at a later
thaw: the caches hold plain data, plans and renders, all of module-level types.
"""

from __future__ import annotations

import pickle
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Frozen(Generic[T]):
    """`value` as it is now; every `thaw()` is a new deep copy of it, equal to it and sharing
    nothing mutable with it or with another copy. Raises what pickle raises for a value it cannot
    write or read back (one copy is read back here, so a cache fails where it is filled)."""

    __slots__ = ("_pickled",)

    def __init__(self, value: T) -> None:
        self._pickled = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        self.thaw()

    def thaw(self) -> T:
        return cast(T, pickle.loads(self._pickled))
