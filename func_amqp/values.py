"""How func's untyped Python values ride in QMF arguments, exactly.

func methods take and return plain Python data. QMF arguments are typed, so an argument or
result with no type of its own is *boxed*: a QMF LIST (typecode 21) of one element, whose AMQP
0-10 type code says what it is (None 0xf0, bool 0x08, int 0x31 int64 or 0x32 uint64, float 0x33,
str 0x95, bytes 0xa0, list 0xa9, dict 0xa8). An empty box means "not given: use the default".

AMQP 0-10 has no tuple, no non-string map keys and no integers wider than 64 bits; those travel
as a map with exactly one reserved key:

| Python value                    | boxed as                                  |
|---------------------------------|-------------------------------------------|
| tuple `(1, "a")`                | `{"__func_tuple__": [1, "a"]}`             |
| dict with a non-str key         | `{"__func_dict__": [[k, v], ...]}`         |
| int outside int64..uint64       | `{"__func_int__": "<decimal>"}`            |
| a str-keyed dict whose only key is one of these three | `{"__func_dict__": [[k, v]]}` (so it cannot be mistaken) |

So None, bool, 64-bit ints, floats, str, bytes, lists, tuples and dicts (nested) come back exactly.
Anything else (a set, an object) is refused with `TypeError` before anything is sent.
"""

from __future__ import annotations

from typing import Any

from codec import Double, Int64, UInt64, VBin32

_TUPLE = "__func_tuple__"
_DICT = "__func_dict__"
_INT = "__func_int__"
_RESERVED = frozenset((_TUPLE, _DICT, _INT))
_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1
MAX_DEPTH = 30


class Absent:
    """The value of an argument the caller left out (its default applies)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


def box(value: Any) -> list[Any]:
    """The QMF LIST (typecode 21) that carries `value`."""
    if value is ABSENT:
        return []
    return [to_amqp(value, 0)]


def unbox(boxed: Any) -> Any:
    """The Python value a box carries (ABSENT for an empty one)."""
    if not isinstance(boxed, list):
        raise TypeError(f"a boxed value is a list, not {type(boxed).__name__}")
    if not boxed:
        return ABSENT
    if len(boxed) != 1:
        raise TypeError(f"a boxed value holds one element, not {len(boxed)}")
    return from_amqp(boxed[0], 0)


def to_amqp(v: Any, depth: int) -> Any:
    """A Python value as AMQP 0-10 map/list content with the type codes the table above names."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    t = type(v)
    if v is None or t is str or t is bool:
        return v
    if t is int:
        if _I64_MIN <= v < 2**63:
            return Int64(v)
        if v <= _U64_MAX:
            return UInt64(v)
        return {_INT: str(v)}
    if t is float:
        return Double(v)
    if t is bytes or t is bytearray:
        return VBin32(bytes(v))
    if t is list:
        return [to_amqp(x, depth + 1) for x in v]
    if t is tuple:
        return {_TUPLE: [to_amqp(x, depth + 1) for x in v]}
    if t is dict:
        if all(type(k) is str for k in v) and not (len(v) == 1 and next(iter(v)) in _RESERVED):
            return {k: to_amqp(x, depth + 1) for k, x in v.items()}
        return {_DICT: [[to_amqp(k, depth + 1), to_amqp(x, depth + 1)] for k, x in v.items()]}
    # subclasses of the plain types (e.g. an IntEnum, an OrderedDict) travel as their base type
    for base in (bool, int, float, str, bytes, list, tuple, dict):
        if isinstance(v, base):
            return to_amqp(base(v), depth)
    raise TypeError(f"a {type(v).__name__} cannot travel as a func value (None, bool, int, float, str, bytes, "
                    "list, tuple and dict can)")


def from_amqp(v: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    if isinstance(v, bool) or v is None:
        return v if v is None else bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, list):
        return [from_amqp(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == _TUPLE and isinstance(x, list):
                return tuple(from_amqp(i, depth + 1) for i in x)
            if k == _DICT and isinstance(x, list):
                return {_key(from_amqp(p[0], depth + 1)): from_amqp(p[1], depth + 1) for p in x if _pair(p)}
            if k == _INT and isinstance(x, str):
                return int(x)
        return {str(k): from_amqp(x, depth + 1) for k, x in v.items()}
    raise TypeError(f"unexpected {type(v).__name__} in a func value")


def _pair(p: Any) -> bool:
    if isinstance(p, list) and len(p) == 2:
        return True
    raise TypeError("a __func_dict__ entry is a [key, value] pair")


def _key(k: Any) -> Any:
    if isinstance(k, list | dict):
        raise TypeError("a dict key cannot be a list or a dict")
    return k
