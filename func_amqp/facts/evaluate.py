"""A facts query evaluated on the minion: func's keywords, func's type conversion, every fact read.

A condition `name__keyword=value` reads fact `name` and compares it with `value` converted to the
fact's type first, as func did (so `cpus="2"` matches the int 2); `contains` on a list fact is
membership. A group is all (AND) or any (OR) of its conditions, negated as a whole when marked NOT:
there func's evaluation was wrong (it flipped the running result after every child but the first,
so a negated group of one condition was never negated). Every condition is read, as func read
them, so the facts that come back are all the query named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .query import AND, Q, QueryError


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
