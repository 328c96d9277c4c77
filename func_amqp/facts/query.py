"""func's facts queries: the tree an overlord builds, the list it sends, and how a minion reads it.

An overlord narrows a call to the minions whose facts match (`Overlord("*").filter(os__contains=
"Debian", runlevel="5").service.status("httpd")`). Each condition is `fact__keyword=value`; the
conditions of one `filter(...)` are ANDed (`filter_or`: ORed), and chained calls combine the way
func's `FuncLogicQuery` did. The query travels as func 0.30 serialised it (func/minion/facts/
overlord_query.py), so an old func overlord's `{'__fact__': query}` is understood too:

    query = [connector, [child, ...]]         connector "AND" | "OR"
    child = [fact__keyword, value]            one condition (func's minion also reads a flat
          | [connector, [child, ...]]          [k1, v1, k2, v2] as conditions joined by the connector)
          | ["NOT", [connector, [child...]]]  a negated group

Where func's own evaluation was wrong this one is not: a negated group is the negation of its
whole group (func's flipped the running result after every child, and never for a group of one),
and a negated top level is sent as `["NOT", [...]]` (func's dropped the negation). Nothing here
does I/O; evaluating asks a callable for each fact's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


# -- evaluation on the minion ----------------------------------------------------------------------
def evaluate(q: Q, fact: Callable[[str], Any]) -> tuple[bool, dict[str, Any]]:
    """(whether the minion matches, {fact name: its value} for every fact the query read).
    `fact(name)` gives a fact's value or raises KeyError for a fact the minion does not have."""
    seen: dict[str, Any] = {}

    def value_of(name: str) -> Any:
        if name not in seen:
            try:
                seen[name] = fact(name)
            except KeyError:
                raise QueryError(f"no fact named {name!r} on this minion") from None
        return seen[name]

    def walk(node: Q) -> bool:
        # every condition is read, as func did: the facts that come back are all the query named
        results = [walk(c) if isinstance(c, Q) else _condition(c, value_of) for c in node.children]
        out = all(results) if node.connector == AND else any(results)
        return not out if node.negated else out

    if not q:
        raise QueryError("the facts query has no conditions")
    return walk(q), seen


def _condition(cond: tuple[str, Any], value_of: Callable[[str], Any]) -> bool:
    name, _, keyword = cond[0].partition("__")
    test = KEYWORDS.get(keyword)
    if test is None:
        raise QueryError(f"{keyword!r} is not a query keyword (one of {', '.join(k or '(none)' for k in KEYWORDS)})")
    actual = value_of(name)
    try:
        return bool(test(_as_type_of(cond[1], actual, name), actual))
    except TypeError:
        raise QueryError(f"fact {name!r} ({actual!r}) cannot be compared with {cond[1]!r} by {keyword!r}") from None


def _as_type_of(wanted: Any, actual: Any, name: str) -> Any:
    """func converted the overlord's value to the fact's type (so "3" compares with a fact 3)."""
    if type(wanted) is type(actual) or actual is None or isinstance(actual, _CONTAINERS):
        return wanted
    try:
        if isinstance(actual, bool):
            return str(wanted).strip().lower() in ("1", "true", "yes", "on")
        return type(actual)(wanted)
    except (TypeError, ValueError):
        raise QueryError(f"fact {name!r} is a {type(actual).__name__}; {wanted!r} is not one") from None


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _text(fn: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda wanted, actual: fn(str(wanted), str(actual))


def _contains(wanted: Any, actual: Any) -> bool:
    """A text's substring, or a list's (a dict's keys') member."""
    if isinstance(actual, _CONTAINERS):
        return wanted in actual
    return str(wanted) in str(actual)


def _icontains(wanted: Any, actual: Any) -> bool:
    if isinstance(actual, _CONTAINERS):
        return str(wanted).lower() in (str(a).lower() for a in actual)
    return str(wanted).lower() in str(actual).lower()


KEYWORDS: Mapping[str, Callable[[Any, Any], bool]] = {
    "": lambda wanted, actual: actual == wanted,
    "contains": _contains,
    "icontains": _icontains,
    "iexact": _text(lambda w, a: w.lower() == a.lower()),
    "startswith": _text(lambda w, a: a.startswith(w)),
    "gt": lambda wanted, actual: actual > wanted,
    "gte": lambda wanted, actual: actual >= wanted,
    "lt": lambda wanted, actual: actual < wanted,
    "lte": lambda wanted, actual: actual <= wanted,
}


# -- the CLI's --filter text -----------------------------------------------------------------------
_OPERATORS = (("<=", "lte"), (">=", "gte"), ("=", ""), ("<", "lt"), (">", "gt"))
_WORDS = {"in": "contains", "ini": "icontains"}


def parse_filter(text: str) -> dict[str, str]:
    """func's `--filter "os=Fedora,runlevel>3,Fed in os"` → {"os__": "Fedora", "runlevel__gt": "3",
    "os__contains": "Fed"}. Raises QueryError naming the part it cannot read."""
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise QueryError(f"empty condition in {text!r}")
        out.update([_one_condition(part)])
    return out


def _one_condition(part: str) -> tuple[str, str]:
    words = part.split()
    if len(words) == 3 and words[1] in _WORDS:
        return f"{words[2]}__{_WORDS[words[1]]}", words[0]
    for op, keyword in _OPERATORS:
        if op in part:
            key, _, value = part.partition(op)
            if key.strip() and " " not in key.strip():  # an empty value is func's too: "os=" is os == ""
                return f"{key.strip()}__{keyword}", value.strip()
            break
    raise QueryError(f"cannot read the condition {part!r} (fact=value, fact<value, fact>=value, "
                     "value in fact, value ini fact)")

