"""Hypothesis strategies for QMFv1 messages in the Qpid reference peer's JSON format.

The format is the one `codec.jsonform.encode_json` and the harness' `encode` command read (README,
"The codec's command line"): a list of messages, schemas given once in an 's' with an `"id"` and
referred to by `"schema"`.  Everything generated here is something Qpid's own code (console.py 1.36,
codec010 1.36, driven by tests/interop/qpid_harness.py) encodes without raising, so a live
cross-check can demand identical bytes.  What is deliberately NOT generated, and why:

* non-ASCII package/class/method/property/argument names, except in 'p' and 'q' (console.py does
  `str()` on the names it reads, and on those it sends); non-ASCII text goes into string values,
  descriptions, units, 'z'/'m' texts, 'A' labels and map keys instead;
* a typecode-20 object whose optional property is falsy (0, "", False, empty map/list):
  `Object._encodeUnmanaged` decides presence with `if value:` and writes the value with a clear bit
  (README table); a typecode-20 object missing a mandatory property (Qpid writes nothing for it);
* an 'M' relying on a schema default or on keyword arguments (console 1.36 raises IndexError on v1);
* a 'm' with status 0 and `include_out_args` false (the out-arguments are then not written, but a
  console reads them for status 0; this codec refuses such a response);
* values Qpid's writers cannot write: ints past int64 in maps (past int32 in engine-style maps),
  negative ints in typecode-22 arrays (the console writes int elements as uint64), non-ASCII strings
  and maps in typecode-22 arrays, mixed element types in one array, AMQP annotations console.py has
  no Python type for in console-side values (M arguments, typecode-20 objects: str16, vbin32, int64,
  double, boolean, void, uuid, datetime only; vbin16 of ASCII text would be inferred as str16);
* AMQP types codec010 1.36 has no `write_`/`read_` method for although `qpid.ops.PRIMITIVE` lists
  them: bin8, bin16, bin32, bin40, bin64, bin72, bin256, bin512, bin1024, dec32, dec64, char_utf32,
  str8_latin, str8_utf16, str16_utf16 (a Qpid gap found here, not in the README: Qpid's Python code
  cannot write them, and console.py's `read_map` raises AttributeError on a map from a C++ peer that
  holds one); `{"t": "array"}` only in python style with ASCII text (the harness hands the JSON list
  to codec010's `write_array`, which infers the element type the Python console's way);
* `"extra"` on a method record (the peer writes none; this codec writes it, so its decode output
  round-trips);
* byte strings (`bytes_hex`) in engine-style maps (the qmf engine's FieldTable has only setString);
* typecode-20 objects with map/list properties and typecode-22 arrays of lists inside a message
  whose `map_style` is not python: Qpid's console writes those with codec010 whatever the message's
  style (they never come from a C++ agent), while this codec writes them in the message's style;
* a missing statistic / event argument / out-argument of a non-numeric typecode (the reference
  peer writes 0 for it, which only numeric typecodes accept; the harness writes a typed default);
* JSON booleans or numbers other than 0/1 for `index`/`optional`, lower-case `dir` (this codec
  normalises them, Qpid writes them as given), `"raw": true` on a 'G' object id (console.py prints
  every id normalised; this codec keeps the raw text, as documented).
"""

from __future__ import annotations

import functools
import math
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import strategies as st

OPCODES = "BbPpQqSszhGgciMmeAax"
TYPECODES = (1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22)
U32 = 2**32 - 1
U64 = 2**64 - 1
INT_RANGES = {1: (0, 2**8 - 1), 2: (0, 2**16 - 1), 3: (0, U32), 4: (0, U64), 8: (-(2**63), 2**63 - 1),
              9: (0, U64), 16: (-(2**7), 2**7 - 1), 17: (-(2**15), 2**15 - 1), 18: (-(2**31), 2**31 - 1),
              19: (-(2**63), 2**63 - 1)}
# a value of these typecodes may be left out of a message: both sides then write zero
NUMERIC_TYPECODES = frozenset(INT_RANGES) | {11, 12, 13}
# values whose bytes depend on a map style
STYLED = frozenset((15, 20, 21, 22))
STYLES = ("python", "cpp", "engine")
# JSON objects with these keys mean something else to one side or the other (or to the harness' output)
SPECIAL_KEYSETS = ({"t", "v"}, {"t", "v", "element"}, {"uuid"}, {"bytes_hex"}, {"objectId"}, {"float"}, {"datetime"})
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# -- text ---------------------------------------------------------------------------------------------
names = st.builds(lambda a, b: a + b, st.sampled_from(string.ascii_letters + "_"),
                  st.text(string.ascii_letters + string.digits + "_.", max_size=14))
_any_char = st.characters(codec="utf-8")
ascii_text = st.text(st.characters(codec="ascii"), max_size=12)


def utf8_text(max_bytes: int = 255, max_size: int = 16) -> st.SearchStrategy[str]:
    """Any Unicode text (no surrogates) of at most `max_bytes` UTF-8 bytes, now and then at the limit."""
    short = st.text(_any_char, max_size=min(max_size, max_bytes // 4))
    edge = st.text(st.characters(codec="ascii"), min_size=max(0, max_bytes - 3), max_size=max_bytes)
    return st.one_of(short, short, short, edge) if max_bytes <= 255 else short


def long_ascii(max_bytes: int) -> st.SearchStrategy[str]:
    """A string at (or just under) a length limit, cheaply."""
    return st.integers(max_bytes - 2, max_bytes).map(lambda n: "L" * n)


def unicode_names() -> st.SearchStrategy[str]:
    return st.one_of(names, st.just(""), utf8_text(255, 10))


hash_hex = st.binary(min_size=16, max_size=16).map(bytes.hex)
uuid_text = st.binary(min_size=16, max_size=16).flatmap(
    lambda b: st.sampled_from([b.hex(), str(uuid.UUID(bytes=b)), b.hex().upper()]))


def uint(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


# -- object ids --------------------------------------------------------------------------------------
def _oid_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={"flags": uint(4), "seq": uint(12), "brokerBank": uint(20),
                                               "agentBank": uint(28), "object": uint(64)})


def object_ids(allow_flags: bool = True) -> st.SearchStrategy[Any]:
    """An object id in every JSON form the peer reads: fields, first/second, or 'f-s-b-a-o' text."""
    flags = st.fixed_dictionaries({}, optional={"raw": st.booleans(), "console_encode": st.booleans()}) \
        if allow_flags else st.just({})
    halves = st.fixed_dictionaries({"first": uint(64), "second": uint(64)})
    text = st.tuples(uint(4), uint(12), uint(20), uint(28), uint(64)).map(lambda t: "-".join(map(str, t)))
    as_dict = st.tuples(st.one_of(_oid_fields(), halves), flags).map(lambda p: {**p[0], **p[1]})
    return st.one_of(as_dict, as_dict, text)


# -- AMQP values in maps and lists ------------------------------------------------------------------
@dataclass(frozen=True)
class Ctx:
    """Where a value goes, which decides what Qpid's writer for it can do."""

    style: str = "python"  # the message's (or schema's) map_style
    console: bool = False  # written by console.py (M arguments, typecode-20 objects), not codec010 primitives
    annotations: bool = True  # {"t": ..., "v": ...} allowed
    leaf_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()  # (id, 's' JSON) usable for typecode 20
    null_containers: bool = False  # a typecode-15/21 value may be null (statistics, arguments)
    truthy: bool = False  # only values console.py's `if value:` takes as present


def _ints_for(style: str) -> st.SearchStrategy[int]:
    lo, hi = INT32 if style == "engine" else INT64
    return st.one_of(st.integers(-3, 3), st.integers(lo, hi), st.sampled_from([lo, hi]))


finite_doubles = st.floats(allow_nan=False, allow_infinity=False)
doubles = st.one_of(finite_doubles, finite_doubles, st.sampled_from([math.nan, math.inf, -math.inf, -0.0]))
float32s = st.one_of(st.floats(width=32, allow_nan=False), st.just(math.nan))
latin9_text = st.text(st.characters(codec="iso8859-15"), max_size=10)
binaries = st.binary(max_size=12)


def _text_or_bytes(max_bytes: int) -> st.SearchStrategy[Any]:
    return st.one_of(utf8_text(max_bytes, 10),
                     st.binary(max_size=min(max_bytes, 12)).map(lambda b: {"bytes_hex": b.hex()}))


_AGENT_ANNOTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "int8": st.integers(-(2**7), 2**7 - 1), "uint8": uint(8), "int16": st.integers(-(2**15), 2**15 - 1),
    "uint16": uint(16), "int32": st.integers(*INT32), "uint32": uint(32), "int64": st.integers(*INT64),
    "uint64": uint(64), "float": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "double": finite_doubles, "boolean": st.booleans(), "void": st.none(), "str8": utf8_text(255, 10),
    "str16": utf8_text(1000, 10), "str16_latin": latin9_text, "vbin8": _text_or_bytes(255),
    "vbin16": _text_or_bytes(1000), "vbin32": _text_or_bytes(1000), "uuid": uuid_text,
    "bin128": hash_hex, "datetime": uint(64), "char": st.characters(codec="ascii"),
}
_CONSOLE_ANNOTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "str16": utf8_text(1000, 10), "vbin32": _text_or_bytes(1000), "int64": st.integers(*INT64),
    "double": finite_doubles, "boolean": st.booleans(), "void": st.none(), "uuid": uuid_text,
    "datetime": st.integers(0, 2**53),  # console.py turns it into a float timestamp first
}


# an AMQP array of one scalar kind: the harness hands the JSON list to codec010.write_array, which
# types the elements itself (as the Python console would); so python style, ASCII text only
_ARRAY_ITEMS = st.one_of(st.lists(st.integers(*INT64), max_size=3), st.lists(finite_doubles, max_size=3),
                         st.lists(st.booleans(), max_size=3), st.lists(st.none(), max_size=3),
                         st.lists(st.text(st.characters(codec="ascii"), max_size=6), max_size=3))


def annotations(ctx: Ctx) -> st.SearchStrategy[dict[str, Any]]:
    table = dict(_CONSOLE_ANNOTATIONS if ctx.console else _AGENT_ANNOTATIONS)
    if not ctx.console and ctx.style == "python":
        table["array"] = _ARRAY_ITEMS
    return st.sampled_from(sorted(table)).flatmap(lambda t: table[t].map(lambda v, t=t: {"t": t, "v": v}))


map_keys = st.one_of(names, st.text(_any_char, max_size=8))


def _plain_dict(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(map_keys, values, max_size=4).filter(lambda d: set(d) not in SPECIAL_KEYSETS)


def amqp_leaves(ctx: Ctx) -> st.SearchStrategy[Any]:
    leaves = [st.none(), st.booleans(), _ints_for(ctx.style), doubles, utf8_text(300, 10),
              uuid_text.map(lambda u: {"uuid": u})]
    if ctx.style != "engine":
        leaves.append(binaries.map(lambda b: {"bytes_hex": b.hex()}))
    if ctx.annotations:
        leaves.append(annotations(ctx))
    return st.one_of(*leaves)


def amqp_values(ctx: Ctx) -> st.SearchStrategy[Any]:
    """A JSON value as it may appear inside a map or list of `ctx`."""
    return _amqp_values(ctx.style, ctx.console, ctx.annotations)


@functools.cache
def _amqp_values(style: str, console: bool, annotations: bool) -> st.SearchStrategy[Any]:
    ctx = Ctx(style=style, console=console, annotations=annotations)

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        nested = [st.lists(children, max_size=4), _plain_dict(children)]
        if ctx.annotations and not ctx.console:
            nested += [_plain_dict(children).map(lambda d: {"t": "map", "v": d}),
                       st.lists(children, max_size=3).map(lambda items: {"t": "list", "v": items})]
        return st.one_of(*nested)

    return st.recursive(amqp_leaves(ctx), extend, max_leaves=8)


def amqp_maps(ctx: Ctx) -> st.SearchStrategy[dict[str, Any]]:
    return _amqp_maps(ctx.style, ctx.console, ctx.annotations)


@functools.cache
def _amqp_maps(style: str, console: bool, annotations: bool) -> st.SearchStrategy[dict[str, Any]]:
    return _plain_dict(_amqp_values(style, console, annotations))


def amqp_lists(ctx: Ctx) -> st.SearchStrategy[list[Any]]:
    return _amqp_lists(ctx.style, ctx.console, ctx.annotations)


@functools.cache
def _amqp_lists(style: str, console: bool, annotations: bool) -> st.SearchStrategy[list[Any]]:
    return st.lists(_amqp_values(style, console, annotations), max_size=5)


# -- QMF typed values ---------------------------------------------------------------------------------
def _nonempty(value: Any) -> bool:
    """console.py's `if value:` on the Python value the JSON becomes."""
    if isinstance(value, bool | int | float | str | list | dict):
        return bool(value) and not (isinstance(value, float) and value == 0.0)
    return value is not None


def arrays(ctx: Ctx) -> st.SearchStrategy[list[Any]]:
    """Typecode 22: one element kind per array, as console.py infers the element typecode."""
    kinds = [st.lists(st.text(st.characters(codec="ascii"), max_size=8), max_size=4),
             st.lists(st.one_of(uint(64), st.booleans()), max_size=4),
             st.lists(doubles, max_size=4),
             st.lists(uuid_text.map(lambda u: {"uuid": u}), max_size=3)]
    if ctx.style == "python":
        plain = replace(ctx, annotations=False)
        kinds.append(st.lists(amqp_lists(plain), min_size=1, max_size=3))
    return st.one_of(*kinds)


def embedded_objects(ctx: Ctx) -> st.SearchStrategy[dict[str, Any]]:
    """Typecode 20: an unmanaged object of one of the leaf schemas."""
    usable = [(sid, s) for sid, s in ctx.leaf_schemas
              if ctx.style == "python" or not ({p["type"] for p in s.get("properties", [])}
                                               | {x["type"] for x in s.get("statistics", [])}) & {15, 21}]

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        sid, schema = draw(st.sampled_from(usable))
        inner = Ctx(style=ctx.style, console=True, annotations=ctx.annotations)
        props = {}
        for p in schema.get("properties", []):
            if p.get("optional") and draw(st.booleans()):
                continue
            sub = replace(inner, truthy=bool(p.get("optional")))
            props[p["name"]] = draw(qmf_values(p["type"], sub))
        stats = {s["name"]: draw(qmf_values(s["type"], replace(inner, null_containers=True)))
                 for s in schema.get("statistics", [])}
        return {"schema": sid, "properties": props, "statistics": stats}

    return build()


def qmf_values(tc: int, ctx: Ctx) -> st.SearchStrategy[Any]:
    """A JSON value laid out by QMF typecode `tc`, in `ctx`."""
    s: st.SearchStrategy[Any]
    if tc in INT_RANGES:
        lo, hi = INT_RANGES[tc]
        s = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0]))
    elif tc == 6:
        s = utf8_text(255)
    elif tc == 7:
        s = st.one_of(utf8_text(2000, 24), utf8_text(2000, 24), utf8_text(2000, 24), long_ascii(0xFFFF))
    elif tc == 10:
        s = object_ids()
    elif tc == 11:
        s = st.booleans()
    elif tc == 12:
        s = float32s
    elif tc == 13:
        s = doubles
    elif tc == 14:
        s = st.one_of(uuid_text, uuid_text.map(lambda u: {"uuid": u}))
    elif tc == 15:
        s = amqp_maps(ctx)
        if ctx.null_containers:
            s = st.one_of(s, st.none())
    elif tc == 21:
        s = amqp_lists(ctx)
        if ctx.null_containers:
            s = st.one_of(s, st.none())
    elif tc == 22:
        s = arrays(ctx)
    elif tc == 20:
        s = embedded_objects(ctx)
    else:
        raise ValueError(f"no QMF typecode {tc}")
    return s.filter(_nonempty) if ctx.truthy else s


# -- schemas -----------------------------------------------------------------------------------------
def _numbers(style: str) -> st.SearchStrategy[Any]:
    lo, hi = INT32 if style == "engine" else INT64
    return st.one_of(st.integers(lo, hi), finite_doubles)


def _extras(style: str, reserved: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    values = amqp_values(Ctx(style=style))
    return st.dictionaries(names.filter(lambda k: k not in reserved), values, max_size=2)


@st.composite
def schemas(draw: Any, sid: str, key: tuple[str, str, str], kind: int, types: tuple[int, ...],
            min_methods: int = 0) -> dict[str, Any]:
    """An 's' message in JSON: an object class (kind 1) or an event class (kind 2) of typecodes `types`."""
    style = draw(st.sampled_from([None, *STYLES]))
    s_style = style or "cpp"
    pkg, cls, hsh = key
    d: dict[str, Any] = {"op": "s", "seq": draw(uint(32)), "id": sid, "package": pkg, "class": cls, "hash": hsh}
    if kind == 2 or draw(st.booleans()):
        d["kind"] = kind
    if style is not None:
        d["map_style"] = style
    text = utf8_text(60, 10)
    typecode = st.sampled_from(types)

    def opt(rec: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
        if draw(st.booleans()):
            rec[key] = draw(strategy)

    def extra(rec: dict[str, Any], reserved: tuple[str, ...]) -> None:
        if draw(st.integers(0, 4)) == 0:
            rec["extra"] = draw(_extras(s_style, reserved))

    def argument(name: str, method: bool) -> dict[str, Any]:
        a: dict[str, Any] = {"name": name, "type": draw(typecode)}
        if method:
            a["dir"] = draw(st.sampled_from(["I", "O", "IO"]))
            opt(a, "min", _numbers(s_style))
            opt(a, "max", _numbers(s_style))
            opt(a, "maxlen", st.integers(0, INT32[1]))
            opt(a, "default", text)
        opt(a, "unit", text)
        opt(a, "desc", text)
        extra(a, ("name", "type", "dir", "unit", "min", "max", "maxlen", "default", "desc"))
        return a

    if kind == 2:
        arg_names = draw(st.lists(names, max_size=4, unique=True))
        d["arguments"] = [argument(n, False) for n in arg_names]
        return d
    member_names = draw(st.lists(names, max_size=6, unique=True))
    n_props = draw(st.integers(0, len(member_names)))
    props = []
    for n in member_names[:n_props]:
        p: dict[str, Any] = {"name": n, "type": draw(typecode)}
        opt(p, "access", st.integers(1, 3))
        opt(p, "index", st.integers(0, 1))
        opt(p, "optional", st.integers(0, 1))
        for k in ("unit", "desc"):
            opt(p, k, text)
        for k in ("min", "max"):
            opt(p, k, _numbers(s_style))
        opt(p, "maxlen", st.integers(0, INT32[1]))
        for k in ("refPackage", "refClass"):
            opt(p, k, names)
        extra(p, ("name", "type", "access", "index", "optional", "unit", "desc", "min", "max", "maxlen",
                  "refPackage", "refClass"))
        props.append(p)
    stats = []
    for n in member_names[n_props:]:
        s: dict[str, Any] = {"name": n, "type": draw(typecode)}
        opt(s, "unit", text)
        opt(s, "desc", text)
        extra(s, ("name", "type", "unit", "desc"))
        stats.append(s)
    methods = []
    for n in draw(st.lists(names, min_size=min_methods, max_size=2, unique=True)):
        m: dict[str, Any] = {"name": n, "args": [argument(a, True) for a in
                                                 draw(st.lists(names, max_size=3, unique=True))]}
        opt(m, "desc", text)  # no "extra": the peer writes none on a method map (this codec would)
        methods.append(m)
    d.update(properties=props, statistics=stats, methods=methods)
    return d


# -- messages ----------------------------------------------------------------------------------------
@dataclass
class Pool:
    """The schemas a document defines (their 's' messages come first)."""

    leaf: list[dict[str, Any]]  # object classes without typecode 20 (embeddable)
    objects: list[dict[str, Any]]  # every object class, leaf ones included
    events: list[dict[str, Any]]

    def leaf_ids(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return tuple((s["id"], s) for s in self.leaf)

    def with_methods(self) -> list[dict[str, Any]]:
        return [s for s in self.objects if s.get("methods")]


def _value_ctx(pool: Pool, style: str | None, console: bool = False) -> Ctx:
    return Ctx(style=style or "python", console=console, leaf_schemas=pool.leaf_ids(), null_containers=True)


def _values_for(draw: Any, items: list[dict[str, Any]], ctx: Ctx, may_omit: bool) -> dict[str, Any]:
    out = {}
    for item in items:
        if may_omit and item["type"] in NUMERIC_TYPECODES and draw(st.integers(0, 3)) == 0:
            continue  # written as zero by both sides
        out[item["name"]] = draw(qmf_values(item["type"], ctx))
    return out


def _maybe_style(draw: Any) -> str | None:
    return draw(st.sampled_from([None, *STYLES]))


def _record(draw: Any, op: str, seq: int, pool: Pool) -> dict[str, Any]:
    schema = draw(st.sampled_from(pool.objects))
    style = _maybe_style(draw)
    ctx = _value_ctx(pool, style)
    d: dict[str, Any] = {"op": op, "seq": seq, "schema": schema["id"], "objectId": draw(object_ids())}
    if draw(st.booleans()):
        d["timestamps"] = draw(st.lists(uint(64), min_size=3, max_size=3))
    if style is not None:
        d["map_style"] = style
    if op in "cg":
        props = {}
        for p in schema.get("properties", []):
            if p.get("optional") and draw(st.booleans()):
                continue
            props[p["name"]] = draw(qmf_values(p["type"], replace(ctx, null_containers=False)))
        d["properties"] = props
    if op in "ig":
        d["statistics"] = _values_for(draw, schema.get("statistics", []), ctx, True)
    return d


def _in_args(method: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in method.get("args", []) if "I" in a.get("dir", "I")]


def _out_args(method: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in method.get("args", []) if "O" in a.get("dir", "I")]


@st.composite
def messages(draw: Any, op: str, pool: Pool, omit_seq: bool = True) -> dict[str, Any]:
    """One message of opcode `op` (not 's': schemas come from `schemas`); now and then without "seq"."""
    seq = draw(uint(32))
    if omit_seq and op != "m" and draw(st.integers(0, 7)) == 0:
        return {k: v for k, v in draw(messages(op, pool, omit_seq=False)).items() if k != "seq"}
    if op in "BPx":
        return {"op": op, "seq": seq}
    if op == "b":
        return {"op": "b", "seq": seq, "brokerId": draw(uuid_text)}
    if op == "p":
        return {"op": "p", "seq": seq, "package": draw(unicode_names())}
    if op == "Q":
        return {"op": "Q", "seq": seq, "package": draw(st.one_of(names, st.just("")))}
    if op == "q":
        d = {"op": "q", "seq": seq, "package": draw(unicode_names()), "class": draw(unicode_names()),
             "hash": draw(hash_hex)}
        if draw(st.integers(0, 3)):
            d["kind"] = draw(st.sampled_from([1, 2]))
        return d
    if op == "S":
        d = {"op": "S", "seq": seq, "package": draw(names), "class": draw(names), "hash": draw(hash_hex)}
        if draw(st.booleans()):
            d["kind"] = draw(st.sampled_from([1, 2]))
        return d
    if op == "z":
        d = {"op": "z", "seq": seq}
        if draw(st.booleans()):
            d["code"] = draw(st.one_of(uint(32), st.sampled_from([0, 1])))
        if draw(st.booleans()):
            d["text"] = draw(utf8_text(255))
        return d
    if op == "h":
        return {"op": "h", "seq": seq, "timestamp": draw(uint(64))}
    if op == "A":
        d = {"op": "A", "seq": seq, "systemId": draw(uuid_text)}
        for k, s in (("label", utf8_text(255)), ("brokerBank", uint(32)), ("agentBank", uint(32))):
            if draw(st.booleans()):
                d[k] = draw(s)
        return d
    if op == "a":
        d = {"op": "a", "seq": seq, "agentBank": draw(uint(32))}
        if draw(st.booleans()):
            d["brokerBank"] = draw(uint(32))
        return d
    if op == "G":
        return _get_query(draw, seq, pool)
    if op in "cig":
        return _record(draw, op, seq, pool)
    if op == "M":
        schema = draw(st.sampled_from(pool.with_methods()))
        method = draw(st.sampled_from(schema["methods"]))
        ctx = _value_ctx(pool, None, console=True)
        d = {"op": "M", "seq": seq, "schema": schema["id"], "method": method["name"],
             "objectId": draw(object_ids()),
             "args": [draw(qmf_values(a["type"], ctx)) for a in _in_args(method)]}
        if draw(st.integers(0, 3)) == 0:
            d["map_style"] = "python"  # console.py has only the one
        return d
    if op == "m":
        schema = draw(st.sampled_from(pool.with_methods()))
        method = draw(st.sampled_from(schema["methods"]))
        style = _maybe_style(draw)
        d = {"op": "m", "seq": seq, "schema": schema["id"], "method": method["name"]}
        if style is not None:
            d["map_style"] = style
        code = draw(st.one_of(st.just(0), st.just(0), uint(32)))
        if code or draw(st.booleans()):
            d["code"] = code
        if draw(st.booleans()):
            d["text"] = draw(st.one_of(utf8_text(1000, 20), long_ascii(0xFFFF)))
        if code and draw(st.booleans()):
            d["include_out_args"] = draw(st.booleans())
        if code == 0 or d.get("include_out_args") or draw(st.booleans()):
            d["outArgs"] = _values_for(draw, _out_args(method), _value_ctx(pool, style), True)
        return d
    if op == "e":
        schema = draw(st.sampled_from(pool.events))
        style = _maybe_style(draw)
        d = {"op": "e", "seq": seq, "schema": schema["id"]}
        if style is not None:
            d["map_style"] = style
        if draw(st.booleans()):
            d["timestamp"] = draw(uint(64))
        if draw(st.booleans()):
            d["severity"] = draw(uint(8))
        d["arguments"] = _values_for(draw, schema.get("arguments", []), _value_ctx(pool, style), True)
        return d
    raise ValueError(f"no generator for opcode {op!r}")


def _get_query(draw: Any, seq: int, pool: Pool) -> dict[str, Any]:
    d: dict[str, Any] = {"op": "G", "seq": seq}
    if draw(st.integers(0, 3)) == 0:
        style = _maybe_style(draw)
        if style is not None:
            d["map_style"] = style
        d["query"] = draw(amqp_maps(Ctx(style=style or "python")))
        return d
    # console.py's _v1SendGetQuery: _class (with _package), else _key, else _objectId, else nothing
    parts = {"_class": names, "_package": names, "_objectId": object_ids(allow_flags=False),
             "_key": st.fixed_dictionaries({"package": names, "class": names, "hash": hash_hex}),
             "agentBank": uint(28)}
    for k, strategy in parts.items():
        if draw(st.booleans()):
            d[k] = draw(strategy)
    return d


NEEDS = {"c": "objects", "i": "objects", "g": "objects", "M": "methods", "m": "methods", "e": "events"}


@st.composite
def documents(draw: Any, focus: str) -> list[dict[str, Any]]:
    """A list of messages with at least one of opcode `focus`: the schemas first, then a mix."""
    keys = draw(st.lists(st.tuples(names, names, hash_hex), min_size=7, max_size=7,
                         unique_by=(lambda k: k[2])))
    counter = iter(range(100))

    def sid() -> str:
        return f"S{next(counter)}"

    # the first leaf class can be embedded in a message of any map style (no map or list members)
    leaf_types = (tuple(tc for tc in TYPECODES if tc not in (15, 20, 21)), tuple(tc for tc in TYPECODES if tc != 20))
    need = NEEDS.get(focus)
    n_leaf = draw(st.integers(0, 2))
    n_obj = draw(st.integers(0, 1)) + (need in ("objects", "methods") and not n_leaf)
    n_ev = draw(st.integers(0, 1)) + (need == "events" or focus == "s")
    leaf = [draw(schemas(sid(), keys.pop(), 1, leaf_types[i], int(need == "methods" and i == 0)))
            for i in range(n_leaf)]
    all_types = TYPECODES if leaf else leaf_types[1]
    objects = leaf + [draw(schemas(sid(), keys.pop(), 1, all_types, int(need == "methods" and i == 0)))
                      for i in range(n_obj)]
    events = [draw(schemas(sid(), keys.pop(), 2, all_types)) for _ in range(n_ev)]
    pool = Pool(leaf, objects, events)

    def available(op: str) -> bool:
        want = NEEDS.get(op)
        return op != "s" and (want is None or (want == "objects" and bool(pool.objects))
                              or (want == "methods" and bool(pool.with_methods()))
                              or (want == "events" and bool(pool.events)))

    ops = [focus] * draw(st.integers(1, 3)) if focus != "s" else []
    ops += draw(st.lists(st.sampled_from([o for o in OPCODES if available(o)]), max_size=4))
    ops = draw(st.permutations(ops))
    body = [draw(messages(op, pool)) for op in ops]
    return unique_method_response_seqs([*objects, *events], body)


def unique_method_response_seqs(schema_msgs: list[dict[str, Any]], body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Console.py matches an 'm' to its call by sequence number, and a 'z', 's' or another 'm' with the
    same number releases it; its startup replies reserve 1000, 1001, ... (the harness' seed).  Every
    'm' gets a number nothing else in the document uses."""
    taken = {m.get("seq", 0) for m in schema_msgs + body if m["op"] != "m"} | set(range(1000, 1100))
    for m in body:
        if m["op"] == "m":
            seq = m["seq"]
            while seq in taken:
                seq = (seq + 7919) % (U32 + 1)
            m["seq"] = seq
            taken.add(seq)
    return schema_msgs + body


def walk_values(doc: list[dict[str, Any]], visit: Callable[[int, Any], None]) -> None:
    """Calls visit(typecode, json_value) for every schema-typed value of every message in `doc`."""
    ids = {m["id"]: m for m in doc if m["op"] == "s"}

    def go(tc: int, v: Any) -> None:
        visit(tc, v)
        if tc == 20 and isinstance(v, dict) and "schema" in v:
            s = ids[v["schema"]]
            for p in s.get("properties", []):
                if p["name"] in v.get("properties", {}):
                    go(p["type"], v["properties"][p["name"]])
            for x in s.get("statistics", []):
                if x["name"] in v.get("statistics", {}):
                    go(x["type"], v["statistics"][x["name"]])

    for m in doc:
        for tc, v in message_values(m, ids):
            go(tc, v)


def message_values(m: dict[str, Any], ids: dict[str, dict[str, Any]]) -> list[tuple[int, Any]]:
    """(typecode, JSON value) of one message's schema-typed values."""
    if m["op"] not in "cigMme" or "schema" not in m:
        return []
    s = ids[m["schema"]]
    out: list[tuple[int, Any]] = []
    if m["op"] in "cg":
        out += [(p["type"], m["properties"][p["name"]]) for p in s.get("properties", [])
                if p["name"] in m.get("properties", {})]
    if m["op"] in "ig":
        out += [(x["type"], m["statistics"][x["name"]]) for x in s.get("statistics", [])
                if x["name"] in m.get("statistics", {})]
    if m["op"] in "Mm":
        method = next(x for x in s["methods"] if x["name"] == m["method"])
        if m["op"] == "M":
            out += list(zip([a["type"] for a in _in_args(method)], m["args"], strict=True))
        elif m.get("include_out_args", int(m.get("code", 0)) == 0):
            out += [(a["type"], m["outArgs"][a["name"]]) for a in _out_args(method)
                    if a["name"] in m.get("outArgs", {})]
    if m["op"] == "e":
        out += [(a["type"], m["arguments"][a["name"]]) for a in s.get("arguments", [])
                if a["name"] in m.get("arguments", {})]
    return out
