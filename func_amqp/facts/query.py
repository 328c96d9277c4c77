"""func's facts queries: the tree an overlord builds, and the list it sends and a minion reads back.

An overlord narrows a call to the minions whose facts match (`Overlord("*").filter(os__contains=
"Debian", runlevel="5").service.status("httpd")`). Each condition is `fact__keyword=value`; the
conditions of one `filter(...)` are ANDed (`filter_or`: ORed), and chained calls combine the way
func's `FuncLogicQuery` did. The query travels as func 0.30 serialised it (func/minion/facts/
overlord_query.py), so an old func overlord's `{'__fact__': query}` is understood too:

    query = [connector, [child, ...]]         connector "AND" | "OR"
    child = [fact__keyword, value]            one condition (func's minion also reads a flat
          | [connector, [child, ...]]          [k1, v1, k2, v2] as conditions joined by the connector)
          | ["NOT", [connector, [child...]]]  a negated group

A negated top level is sent as `["NOT", [...]]` (func's dropped the negation). `evaluate` reads
a query against a minion's facts; `filter_text` reads the CLI's `--filter`. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

AND, OR, NOT = "AND", "OR", "NOT"
Child = Union[tuple[str, Any], "Q"]


class QueryError(ValueError):
    """A query that cannot be read or evaluated (the minion answers it with a REMOTE_ERROR)."""


@dataclass(frozen=True)
class Q:
    """A group of conditions and subgroups, joined by `connector`, maybe negated (as Django's Q)."""

    children: tuple[Child, ...] = ()
    connector: str = AND
    negated: bool = False

    @classmethod
    def of(cls, *pairs: tuple[str, Any], connector: str = AND, **conditions: Any) -> Q:
        return cls((*pairs, *conditions.items()), connector)

    def __bool__(self) -> bool:
        return bool(self.children)

    def __and__(self, other: Q) -> Q:
        return _combine(self, other, AND)

    def __or__(self, other: Q) -> Q:
        return _combine(self, other, OR)

    def __invert__(self) -> Q:
        return Q(self.children, self.connector, not self.negated)


def _combine(a: Q, b: Q, connector: str) -> Q:
    if not isinstance(b, Q):
        raise TypeError(f"cannot combine a query with {type(b).__name__}")
    if not a:
        return b
    if not b:
        return a
    return Q((a, b), connector)


@dataclass(frozen=True)
class FactQuery:
    """What an overlord filters on: func's `filter`, `filter_or`, `and_and`, `and_or`, `or_or`,
    `or_and` (the outer word joins the new group to what is there, the inner one joins its own
    conditions), `exclude` and `set_complexq`. Each returns a new query."""

    q: Q = field(default_factory=Q)

    def __bool__(self) -> bool:
        return bool(self.q)

    def _add(self, outer: str, inner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> FactQuery:
        pairs = tuple(_pair(a) for a in args if not isinstance(a, Q)) + tuple(kwargs.items())
        groups = [a for a in args if isinstance(a, Q)]
        new = Q(pairs, inner)
        for g in groups:
            new = _combine(new, g, inner)
        return FactQuery(_combine(self.q, new, outer))

    def filter(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(AND, AND, args, kwargs)

    def filter_or(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(OR, OR, args, kwargs)

    def and_and(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(AND, AND, args, kwargs)

    def and_or(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(AND, OR, args, kwargs)

    def or_or(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(OR, OR, args, kwargs)

    def or_and(self, *args: Any, **kwargs: Any) -> FactQuery:
        return self._add(OR, AND, args, kwargs)

    def exclude(self, *args: Any, **kwargs: Any) -> FactQuery:
        return FactQuery(_combine(self.q, ~Q(tuple(_pair(a) for a in args) + tuple(kwargs.items())), AND))

    def set_complexq(self, q: Q, connector: str | None = None) -> FactQuery:
        if not connector or not self.q:
            return FactQuery(q)
        return FactQuery(_combine(self.q, q, _connector(connector)))

    def serialize(self) -> list[Any]:
        return serialize(self.q)


def _pair(arg: Any) -> tuple[str, Any]:
    if isinstance(arg, tuple | list) and len(arg) == 2 and isinstance(arg[0], str):
        return (arg[0], arg[1])
    raise TypeError(f"a condition is fact__keyword=value or a (name, value) pair, not {arg!r}")


def _connector(word: Any) -> str:
    if word not in (AND, OR):
        raise QueryError(f"a connector is 'AND' or 'OR', not {word!r}")
    return word


# -- the wire form ---------------------------------------------------------------------------------
def serialize(q: Q) -> list[Any]:
    """The list func's overlord sent as `{'__fact__': ...}`."""
    body = [q.connector, _children(q)]
    return [NOT, body] if q.negated else body


def _children(q: Q) -> list[Any]:
    out: list[Any] = []
    for c in q.children:
        out.append(serialize(c) if isinstance(c, Q) else [c[0], c[1]])
    return out


MAX_DEPTH = 32  # a query is a few conditions; nesting deeper than this is someone's attack


def deserialize(data: Any, depth: int = 0) -> Q:
    """A query list (func's, or this overlord's) back into a tree. Raises QueryError."""
    if depth > MAX_DEPTH:
        raise QueryError("the facts query is nested too deeply")
    if not isinstance(data, list | tuple) or not data:
        raise QueryError(f"a facts query is a non-empty list, not {data!r}")
    negated = False
    if data[0] == NOT:
        if len(data) != 2:
            raise QueryError(f"NOT takes one group: {data!r}")
        negated, data = True, data[1]
        if not isinstance(data, list | tuple) or not data:
            raise QueryError(f"NOT takes a group, not {data!r}")
    connector = AND
    if data[0] in (AND, OR):
        if len(data) != 2:
            raise QueryError(f"{data[0]} takes one list of conditions: {data!r}")
        connector, data = data[0], data[1]
        if not isinstance(data, list | tuple):
            raise QueryError(f"{connector} takes a list of conditions, not {data!r}")
    children: list[Child] = []
    if data and isinstance(data[0], str):  # flat conditions: [k1, v1, k2, v2...]
        if len(data) % 2:
            raise QueryError(f"conditions come in (fact, value) pairs: {data!r}")
        children.extend((_key(data[i]), data[i + 1]) for i in range(0, len(data), 2))
    else:
        for item in data:
            children.append(_child(item, depth))
    return Q(tuple(children), connector, negated)


def _child(item: Any, depth: int) -> Child:
    if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str) and item[0] not in (AND, OR, NOT):
        return (_key(item[0]), item[1])
    return deserialize(item, depth + 1)


def _key(key: str) -> str:
    if not key or len(key) > 200:
        raise QueryError(f"not a fact condition: {key!r}")
    return key
