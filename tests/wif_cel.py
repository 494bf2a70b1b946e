"""A tiny evaluator for the CEL subset the bootstrap writes into the workload identity provider
(bootstrap/day0/wif.py) and Flux's Provider writes as commitStatusExpr (k8s/flux/commit-status):
string literals, `assertion.<claim>`, `attribute.<name>`, nested `event.<field>.<field>`, `has()`,
`+`, `==`, `!=`, `&&`, `||`, `!`, `?:` and parentheses. A claim missing from the token is an
error, as CEL's "no such key" (https://github.com/google/cel-spec/blob/master/doc/langdef.md,
"Field Selection"), absorbed by `&&`/`||` when the other side decides and by `?:` when the other
branch is chosen, as in CEL. Anything outside the subset raises CelSyntaxError, so a new
expression shape fails the tests instead of being misread."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<op>==|!=|&&|\|\||[()?:+!.])|(?P<id>[A-Za-z_]\w*))")

Node = tuple[Any, ...]
Env = Mapping[str, Mapping[str, Any]]


class CelSyntaxError(ValueError):
    pass


class MissingClaim(KeyError):
    pass


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position, end = 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise CelSyntaxError(f"cannot read {text[position:]!r}")
        tokens.append(match.group(match.lastgroup or ""))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise CelSyntaxError(f"expected {expected or 'a token'}, found {token!r}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek() is not None:
            raise CelSyntaxError(f"unexpected {self.peek()!r}")
        return node

    def ternary(self) -> Node:
        condition = self.binary(0)
        if self.peek() != "?":
            return condition
        self.take("?")
        then = self.ternary()
        self.take(":")
        return ("?:", condition, then, self.ternary())

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("+",))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            operator = self.take()
            node = (operator, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return ("!", self.unary())
        token = self.take()
        if token.startswith("'"):
            return ("str", token[1:-1])
        if token == "(":
            node = self.ternary()
            self.take(")")
            return node
        if token == "has":
            self.take("(")
            variable, name = self.take(), (self.take("."), self.take())[1]
            self.take(")")
            return ("has", variable, name)
        variable = token
        self.take(".")
        path = [self.take()]
        while self.peek() == ".":
            self.take(".")
            path.append(self.take())
        return ("select", variable, *path)


def _select(node: Node, env: Env) -> Any:
    kind, variable, *path = node
    if variable not in env:
        raise CelSyntaxError(f"unknown variable {variable!r}")
    if kind == "has":
        return path[0] in env[variable]
    value: Any = env[variable]
    for depth, name in enumerate(path):
        if not isinstance(value, Mapping) or name not in value:
            return MissingClaim(".".join([variable, *path[: depth + 1]]))
        value = value[name]
    return value


def _logical(node: Node, env: Env) -> Any:
    decisive = node[0] == "||"
    left, right = _eval(node[1], env), _eval(node[2], env)
    if left is decisive or right is decisive:
        return decisive
    for value in (left, right):
        if isinstance(value, MissingClaim):
            return value
    return not decisive


def _eval(node: Node, env: Env) -> Any:
    """The value, or a MissingClaim instance standing for CEL's error value."""
    kind = node[0]
    if kind == "str":
        return node[1]
    if kind in ("select", "has"):
        return _select(node, env)
    if kind in ("&&", "||"):
        return _logical(node, env)
    if kind == "?:":
        condition = _eval(node[1], env)
        if isinstance(condition, MissingClaim):
            return condition
        return _eval(node[2] if condition else node[3], env)
    operands = [_eval(child, env) for child in node[1:]]
    missing = [value for value in operands if isinstance(value, MissingClaim)]
    if missing:
        return missing[0]
    if kind == "!":
        return not operands[0]
    left, right = operands
    if kind == "+":
        if not (isinstance(left, str) and isinstance(right, str)):
            raise CelSyntaxError("+ of non-strings")
        return left + right
    return (left == right) if kind == "==" else (left != right)


def evaluate(expression: str, env: Env) -> Any:
    """Evaluate; a missing claim that decides the result raises MissingClaim."""
    value = _eval(_Parser(expression).parse(), env)
    if isinstance(value, MissingClaim):
        raise value
    return value
