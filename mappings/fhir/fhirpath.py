"""A small FHIRPath subset, enough to name carried elements precisely.

The COVERAGE tables (``mappings.fhir.carried``) name what the hub keeps as FHIRPath expressions
such as ``Patient.identifier.where(value.exists()).system`` or
``Appointment.participant.actor.where(reference.empty() or reference.matches('^Patient/'))``.
This module evaluates them over FHIR JSON (``dict``/``list``) so that round-trip tests can
compare the carried values of an original resource with those of ``to_fhir(from_fhir(x))``.

Supported (FHIRPath N1 semantics, collections throughout): member access, the ``[n]``
indexer, ``first()``, ``last()``, ``exists()``, ``empty()``, ``not()``, ``where(criteria)``,
``select(projection)``,
``matches('regex')``, ``=`` / ``!=`` against a string literal, ``and`` / ``or``. Choice
elements are written with their JSON names (``deceasedBoolean``), as they appear on the wire.
Anything else is a ``ValueError`` when the expression is parsed: the tables are code, so a
typo must fail loudly at import time, not silently select nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Expression", "compile_path", "element_paths", "evaluate"]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<int>\d+)|(?P<op>!=|=|\(|\)|\[|\]|\.)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)

Collection = list[Any]


@dataclass(frozen=True)
class _Member:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Call:
    name: str
    argument: Any = None  # a nested _Path/_Bool for where(), a str for matches()


@dataclass(frozen=True)
class _Path:
    steps: tuple[_Member | _Index | _Call, ...]


@dataclass(frozen=True)
class _Compare:
    path: _Path
    negate: bool
    literal: str


@dataclass(frozen=True)
class _Bool:
    op: str  # "and" | "or"
    left: Any
    right: Any


@dataclass(frozen=True)
class Expression:
    """A compiled expression: its text and its syntax tree."""

    text: str
    tree: Any


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"FHIRPath: cannot read {text[pos:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ValueError(f"FHIRPath: expected {value or 'more'} in {self.text!r}")
        self.pos += 1
        return token

    def boolean(self) -> Any:
        left = self.comparison()
        while (token := self.peek()) and token[1] in ("and", "or"):
            self.take()
            left = _Bool(token[1], left, self.comparison())
        return left

    def comparison(self) -> Any:
        path = self.path()
        token = self.peek()
        if token and token[1] in ("=", "!="):
            self.take()
            kind, literal = self.take()
            if kind != "str":
                raise ValueError(f"FHIRPath: only string literals compare, in {self.text!r}")
            return _Compare(path, token[1] == "!=", _unquote(literal))
        return path

    def path(self) -> _Path:
        steps: list[_Member | _Index | _Call] = [self.step()]
        while (token := self.peek()) and token[1] in (".", "["):
            if self.take()[1] == "[":
                steps.append(_Index(int(self.take()[1])))
                self.take("]")
            else:
                steps.append(self.step())
        return _Path(tuple(steps))

    def step(self) -> _Member | _Call:
        kind, name = self.take()
        if kind != "name":
            raise ValueError(f"FHIRPath: expected a name, got {name!r} in {self.text!r}")
        token = self.peek()
        if token is None or token[1] != "(":
            return _Member(name)
        self.take("(")
        argument: Any = None
        if name in ("where", "select"):
            argument = self.boolean()
        elif name == "matches":
            argument = _unquote(self.take()[1])
        elif name not in _NULLARY:
            raise ValueError(f"FHIRPath: function {name}() is not in the subset ({self.text!r})")
        self.take(")")
        return _Call(name, argument)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


_NULLARY: dict[str, Callable[[Collection], Collection]] = {
    "first": lambda c: c[:1],
    "last": lambda c: c[-1:],
    "exists": lambda c: [bool(c)],
    "empty": lambda c: [not c],
    "not": lambda c: [not _truthy(c)] if c else [],
}


@lru_cache(maxsize=2048)
def compile_path(text: str) -> Expression:
    """Parse ``text`` once; raises ``ValueError`` for anything outside the subset."""
    parser = _Parser(text)
    tree = parser.boolean()
    if parser.peek() is not None:
        raise ValueError(f"FHIRPath: unexpected {parser.peek()!r} in {text!r}")
    return Expression(text, tree)


def _truthy(collection: Collection) -> bool:
    return len(collection) == 1 and collection[0] is True


def _member(collection: Collection, name: str) -> Collection:
    out: Collection = []
    for item in collection:
        if not isinstance(item, dict):
            continue
        if item.get("resourceType") == name:
            out.append(item)  # the root: `Patient` selects the Patient itself
            continue
        value = item.get(name)
        if isinstance(value, list):
            out.extend(v for v in value if v is not None)
        elif value is not None:
            out.append(value)
    return out


def _call(collection: Collection, call: _Call) -> Collection:
    if call.name == "where":
        return [item for item in collection if _truthy(_eval(call.argument, [item]))]
    if call.name == "select":
        return [out for item in collection for out in _eval(call.argument, [item])]
    if call.name == "matches":
        return [
            bool(re.search(call.argument, item)) for item in collection[:1] if isinstance(item, str)
        ]
    return _NULLARY[call.name](collection)


def _eval_path(path: _Path, collection: Collection) -> Collection:
    for step in path.steps:
        if isinstance(step, _Member):
            collection = _member(collection, step.name)
        elif isinstance(step, _Index):
            collection = collection[step.index : step.index + 1]
        else:
            collection = _call(collection, step)
    return collection


def _eval(node: Any, collection: Collection) -> Collection:
    if isinstance(node, _Path):
        return _eval_path(node, collection)
    if isinstance(node, _Compare):
        values = _eval_path(node.path, collection)
        if len(values) != 1:
            return []
        return [(values[0] == node.literal) != node.negate]
    left, right = _truthy(_eval(node.left, collection)), _truthy(_eval(node.right, collection))
    return [left and right] if node.op == "and" else [left or right]


def evaluate(expression: str | Expression, resource: dict[str, Any]) -> Collection:
    """Evaluate ``expression`` over one resource; the result is always a list (a collection)."""
    compiled = compile_path(expression) if isinstance(expression, str) else expression
    return _eval(compiled.tree, [resource])


def _paths_of(node: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Element paths an expression reads: its members, and those compared inside where()."""
    if isinstance(node, _Bool):
        return _paths_of(node.left, prefix) + _paths_of(node.right, prefix)
    if isinstance(node, _Compare):
        return _paths_of(node.path, prefix)
    if not isinstance(node, _Path):
        return []
    found: list[tuple[str, ...]] = []
    current = prefix
    for step in node.steps:
        if isinstance(step, _Member):
            current = (*current, step.name)
        elif isinstance(step, _Call) and step.name == "where":
            found += [p for p in _paths_of(step.argument, current) if _compared(step.argument)]
        elif isinstance(step, _Call) and step.name == "select":
            inner = _paths_of(step.argument, current)
            current, found = inner[0], found + inner[1:]
    return [current, *found]


def _compared(node: Any) -> bool:
    if isinstance(node, _Bool):
        return _compared(node.left) or _compared(node.right)
    return isinstance(node, _Compare)


def element_paths(expression: str) -> list[str]:
    """Plain element paths (``Patient.link.type``) that ``expression`` reads, for the
    dropped-element computation: functions and indexers removed, where()-comparisons kept."""
    tree = compile_path(expression).tree
    return [".".join(p) for p in _paths_of(tree, ()) if p]
