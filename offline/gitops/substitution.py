"""Flux post-build variable substitution (`${VAR}` from `postBuild`), as kustomize-controller
does it (drone/envsubst forms; strict mode off: an unset variable becomes "")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from offline.gitops.documents import DUMPER, LOADER, Doc, ident

SUBSTITUTE_DISABLED = "kustomize.toolkit.fluxcd.io/substitute"


_EXPR = re.compile(r"\$(\$?)\{([^}]*)\}")


_VAR = re.compile(r"(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:?[-=])(?P<default>.*))?", re.S)


@dataclass(frozen=True)
class Substituted:
    text: str
    referenced: frozenset[str]  # every variable name a `${...}` names (defaults or not)
    unsupported: tuple[str, ...] = ()  # `${...}` expressions that are not simple variables


def substitute(text: str, variables: Mapping[str, str]) -> Substituted:
    """Replace `${VAR}` like Flux's post-build substitution (strict mode off: unset -> "")."""
    referenced: set[str] = set()
    unsupported: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, body = match.group(1), match.group(2)
        if escaped:
            return "${" + body + "}"
        parsed = _VAR.fullmatch(body)
        if parsed is None:
            unsupported.append(match.group(0))
            return match.group(0)
        name, op, default = parsed.group("name", "op", "default")
        referenced.add(name)
        value = variables.get(name)
        if op is None:
            return value or ""
        if op.startswith(":"):  # unset or empty
            return value if value else default
        return value if value is not None else default  # unset only

    text = _EXPR.sub(replace, text)
    return Substituted(text, frozenset(referenced), tuple(unsupported))


def substitution_disabled(doc: Mapping[str, Any]) -> bool:
    meta = doc.get("metadata") or {}
    marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    return marks.get(SUBSTITUTE_DISABLED) == "disabled"


# --------------------------------------------------------------------------- kustomize


# libyaml's C loader and dumper when present (same safe subset, ~10x faster than pure Python).


def substitute_docs(
    docs: Iterable[Doc], variables: Mapping[str, str] | None
) -> tuple[list[Doc], frozenset[str], list[str]]:
    """Flux post-build: each document as YAML, substituted, parsed back. No variables: as is."""
    out: list[Doc] = []
    referenced: set[str] = set()
    problems: list[str] = []
    for doc in docs:
        text = yaml.dump(doc, Dumper=DUMPER, sort_keys=False)
        if variables is None or substitution_disabled(doc):
            out.append(doc)
            referenced |= set(substitute(text, {}).referenced)  # left as literal `${...}`
            continue
        result = substitute(text, variables)
        referenced |= result.referenced
        problems += [f"{ident(doc)}: unsupported substitution {u}" for u in result.unsupported]
        # Text that substitution left as it was parses back to `doc` itself (a safe dump of safe-
        # loaded data round-trips), so most documents, which hold no `${...}`, skip the parse.
        out.append(doc if result.text == text else yaml.load(result.text, Loader=LOADER))
    return out, frozenset(referenced), problems
