"""What every offline command does with bad input: one message naming file, line and key, exit 2.

A stack file the Pulumi CLI would refuse, a config the program refuses, or a YAML file that cannot
be read is input to fix, not a bug to debug: no traceback (set OFFLINE_TRACEBACK=1 to see one).
"""

from __future__ import annotations

import functools
import gc
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, ParamSpec

from offline.certificates import StateExportError
from offline.engine import REPO_ROOT, PlanFailed
from offline.prerequisites import EXIT_MISSING_TOOL, MissingTool
from offline.pulumi_project import EngineRuleError, stack_file
from offline.yaml_files import KeyPath, YamlFileError, load

EXIT_BAD_INPUT = 2
P = ParamSpec("P")


_KEY = re.compile(r"^(?P<key>[A-Za-z0-9_.-]+:[A-Za-z0-9_]+(?:\[\d+\]|\.[A-Za-z0-9_]+)*): ")


def _key_path(key: str) -> KeyPath:
    """`platform:clusters[1].nodePools[0].name` -> ("config", "platform:clusters", 1, ...)."""
    head = re.match(r"[^.\[]+", key)
    if head is None:
        return ("config",)
    path: list[str | int] = ["config", head.group(0)]
    for index, name in re.findall(r"\[(\d+)\]|\.([A-Za-z0-9_]+)", key[head.end() :]):
        path.append(int(index) if index else name)
    return tuple(path)


def located_problems(problems: list[str], stack: str, repo: Path = REPO_ROOT) -> list[str]:
    """Each `<key>: <message>` prefixed with the stack file and the line that sets the key (or
    the nearest enclosing one)."""
    path = stack_file(repo, stack)
    try:
        doc = load(path)
    except YamlFileError:
        return problems
    located: list[str] = []
    for problem in problems:
        match = _KEY.match(problem)
        line = doc.line_of(_key_path(match["key"])) if match else None
        located.append(f"{path.name}:{line}: {problem}" if line else problem)
    return located


def describe(failed: PlanFailed, stack: str, repo: Path = REPO_ROOT) -> str:
    error = failed.error
    problems = getattr(error, "problems", None)
    if isinstance(error, EngineRuleError):
        return "the Pulumi CLI would refuse this stack before running the program:\n" + "\n".join(
            f"  - {p}" for p in error.problems
        )
    if isinstance(problems, list) and all(isinstance(p, str) for p in problems):
        return "invalid stack configuration:\n" + "\n".join(
            f"  - {p}" for p in located_problems(problems, stack, repo)
        )
    return f"the program failed: {type(error).__name__}: {error}"


def guarded(main: Callable[P, int]) -> Callable[P, int]:
    """Turn bad input raised anywhere below `main` into one message on stderr and exit 2, and
    a missing tool into one line naming it and exit 4 (offline/prerequisites.py)."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        code = EXIT_BAD_INPUT
        try:
            return main(*args, **kwargs)
        except PlanFailed as failed:
            message = describe(failed, failed.plan.stack)
        except (EngineRuleError, YamlFileError, StateExportError) as error:
            message = str(error)
        except MissingTool as error:
            message, code = str(error), EXIT_MISSING_TOOL
        if os.environ.get("OFFLINE_TRACEBACK"):
            traceback.print_exc()
        print(message, file=sys.stderr)
        return code

    return run


def finish(code: int) -> NoReturn:
    """End a command's process with exit status `code`, without the interpreter's last sweeps.

    At exit CPython runs the cyclic garbage collector over every object still alive (Python/
    pylifecycle.c Py_FinalizeEx's full collection, then finalize_modules, and Python/pystate.c
    interpreter_clear: _PyGC_CollectNoFail), only to free memory the process hands back anyway:
    after a plan, the provider SDKs' ~400,000 tracked objects cost ~2 s of CPU
    (docs/performance.md). gc.freeze() moves them all to the permanent generation, which no
    collection visits (docs: gc.freeze). Exit handlers (atexit, so logging.shutdown and
    weakref.finalize cleanups such as TemporaryDirectory's) and the flush of stdout and stderr
    still run, and the exit status is `code`. What is not promised: an object still referenced
    at exit, a module global included, may never be finalized (docs: object.__del__), so an
    unclosed file's buffer would be lost: a command closes what it writes (`with`,
    `Path.write_text`). For a process's own end only (`__main__`): a frozen object is never
    collected.
    """
    gc.freeze()
    sys.exit(code)
