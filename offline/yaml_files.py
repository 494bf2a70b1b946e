"""Strict loading of the YAML files a human edits (Pulumi.yaml, Pulumi.<stack>.yaml).

Every problem is a `YamlFileError` naming the file and line, never a traceback:

- not UTF-8, not YAML, or more than one document;
- a key repeated in one mapping (the Pulumi CLI's YAML library, gopkg.in/yaml.v3, refuses
  `mapping key "x" already defined at line N`; PyYAML would silently keep the last one);
- aliases that expand beyond `MAX_EXPANDED_NODES` (a "billion laughs" file): the expanded size is
  computed on the node graph before anything is built, so such a file fails in milliseconds
  (yaml.v3 refuses the same files with "document contains excessive aliasing").

`Located.line_of(path)` maps a key path such as `("config", "platform:clusters", 1, "name")` to its
line, so later checks can point at the line of the value they reject.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from offline.frozen import Frozen

# Comfortably above any real stack file (a 10-zone stack file is ~3,000 nodes).
MAX_EXPANDED_NODES = 100_000

KeyPath = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(Exception):
    """A file that cannot be used as it is; `str()` is `file:line: message`."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path.name}:{line}" if line else self.path.name
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Located:
    """A loaded document and the line of every key and item in it."""

    path: Path
    data: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def error(self, path: KeyPath, message: str) -> YamlFileError:
        return YamlFileError(self.path, self.line_of(path), message)


# Plain scalars as yaml.v3 resolves them into an interface{} (gopkg.in/yaml.v3 resolve.go): YAML
# 1.2 booleans only (`yes`, `on` stay strings), no base-60 numbers (`3:00` stays a string), no
# timestamps (`2026-12-01` stays a string). PyYAML's defaults follow YAML 1.1 instead.
_YAML_V3_SCALARS: tuple[tuple[str, str, str], ...] = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\0"),
)
_REPLACED_TAGS = {tag for tag, _, _ in _YAML_V3_SCALARS} | {"tag:yaml.org,2002:timestamp"}


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and resolves plain scalars like yaml.v3."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise YamlFileError(
                        self.name,
                        line,
                        f"mapping key {key!r} already defined at line {seen[key]}",
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in _YAML_V3_SCALARS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _expanded_size(node: Node, memo: dict[int, int], limit: int) -> int:
    """Nodes the document would have with every alias expanded (stops counting past `limit`)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = limit + 1  # a node reached again while being counted: a recursive alias
    size = 1
    children: list[Node] = []
    if isinstance(node, SequenceNode):
        children = list(node.value)
    elif isinstance(node, MappingNode):
        children = [n for pair in node.value for n in pair]
    for child in children:
        size += _expanded_size(child, memo, limit)
        if size > limit:
            break
    memo[id(node)] = size
    return size


def _lines(root: Node) -> dict[KeyPath, int]:
    """The line of every mapping key (and of every sequence item) by its key path."""
    lines: dict[KeyPath, int] = {}

    def walk(node: Node, path: KeyPath) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode):
                    child = (*path, str(key_node.value))
                    lines.setdefault(child, key_node.start_mark.line + 1)
                    walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    walk(root, ())
    return lines


def read_text(path: Path) -> str:
    """The text of `path`, or YamlFileError when it cannot be read or is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise YamlFileError(path, line, f"not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise YamlFileError(path, None, f"cannot be read: {error.strerror}") from None


def load(path: Path) -> Located:
    """Load one YAML document from `path` strictly (see the module docstring)."""
    return loads(read_text(path), path)


def loads(text: str, path: Path | str) -> Located:
    """Like `load`, for text already read (`path` names it in messages).

    A plan loads Pulumi.yaml and the stack file every time, and PyYAML's pure-Python loader (the
    one that can refuse duplicate keys) takes tens of milliseconds per file, most of a refused
    plan's time. The result depends on nothing but `text` and `path`, so it is kept; every caller
    gets its own copy of the data, as if it had been parsed for it."""
    located, data = _parsed(text, str(path))
    return dataclasses.replace(located, data=data.thaw())


@functools.lru_cache(maxsize=32)
def _parsed(text: str, path: str) -> tuple[Located, Frozen[Any]]:
    """`_parse` and its data kept to be copied (a file that fails raises each time: exceptions
    are not cached)."""
    located = _parse(text, path)
    return located, Frozen(located.data)


def _parse(text: str, path: str) -> Located:
    """The uncached `loads`."""
    loader = _Loader(text)
    loader.name = str(path)
    try:
        root = loader.get_single_node()
        if root is None:
            return Located(Path(path), None, MappingProxyType({}))
        if _expanded_size(root, {}, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise YamlFileError(
                path,
                root.start_mark.line + 1,
                f"document contains excessive aliasing (more than {MAX_EXPANDED_NODES} nodes "
                "once aliases are expanded)",
            )
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (error.context, error.problem) if p)
        raise YamlFileError(path, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise YamlFileError(path, None, f"not valid YAML: {error}") from None
    finally:
        loader.dispose()
    return Located(Path(path), data, MappingProxyType(_lines(root)))
