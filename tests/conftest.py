"""Settings of every test process (the pytest process, or each pytest-xdist worker)."""

from __future__ import annotations

import gc
import sys

import pytest

# A test that imports this many new modules (the provider SDKs: ~700 on the first plan) has
# added hundreds of thousands of objects that live as long as the process.
_MANY_NEW_MODULES = 100
# len(sys.modules) when objects were last frozen.
_modules_frozen = [0]


def _freeze_long_lived() -> None:
    """Collect once, then move every surviving object out of the collector's reach (gc.freeze).

    Every full collection scans every tracked object: with the provider SDKs loaded that is
    ~340,000 objects and ~0.5 s of CPU, and a worker runs dozens of full collections (one each
    time the surviving young objects reach a quarter of the old ones, and five at the end of the
    session, _pytest/unraisableexception.py). Module-level objects never become garbage, so
    scanning them finds nothing. Collecting first means no garbage is frozen; later garbage is
    collected as before.
    """
    gc.collect()
    gc.freeze()
    _modules_frozen[0] = len(sys.modules)


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_long_lived()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if len(sys.modules) - _modules_frozen[0] >= _MANY_NEW_MODULES:
        _freeze_long_lived()
