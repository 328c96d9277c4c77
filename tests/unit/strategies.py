"""Hypothesis strategies for VALID codec values, schemas and the twenty QMFv1 messages.

Everything drawn here is legal: the codec must accept it when it is built, write it, and read
the bytes back to an equal value. The pieces:

- AMQP 0-10 values (`amqp_values`, `amqp_maps`, `amqp_lists`, `amqp_arrays`, `amqp_value_for`):
  plain Python values and every typed subclass of `codec.amqptypes`, nested maps, lists and
  arrays of every element type code in `AMQP_CODES`.
- QMF values by typecode (`qmf_values`), 1-22: typecode 20 as `Tagged` and as `Unmanaged` with a
  nested class schema, typecode 22 as `QmfArray` with an explicit element typecode and empty
  arrays of both kinds.
- Schemas (`object_classes`, `event_classes`): optional and mandatory properties, statistics,
  methods with I/O/IO arguments of every typecode, unknown keys kept in `extra`.
- Messages (`messages(op, reg)`, `cases(op)`, `bodies()`): one strategy per opcode.

Values whose decoding needs a schema register it in a `Registry` drawn per example, which is also
what the decoder's `schemas` and `methods` lookups read: class keys are unique within a registry,
and so are the sequence numbers of method responses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from codec import (
    BIT,
    Access,
    AgentAttachRequest,
    AgentAttachResponse,
    BrokerRequest,
    BrokerResponse,
    ClassIndication,
    ClassKey,
    ClassKind,
    ClassQuery,
    CommandComplete,
    ConsoleAddedIndication,
    EncodeError,
    EventClass,
    EventIndication,
    GetQuery,
    Heartbeat,
    MapStyle,
    Message,
    MethodRequest,
    MethodResponse,
    ObjectClass,
    ObjectId,
    ObjectIndication,
    PackageIndication,
    PackageQuery,
    PropertyIndication,
    QmfArray,
    Schema,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaRequest,
    SchemaResponse,
    SchemaStatistic,
    StatisticIndication,
    Tagged,
    Unmanaged,
)
from codec import amqptypes as t

U8, U16, U32, U64 = 2**8 - 1, 2**16 - 1, 2**32 - 1, 2**64 - 1
I64_MIN = -(2**63)

QMF_TYPECODES: tuple[int, ...] = (1, 2, 3, 4, *range(6, 23))
SCALAR_TYPECODES: tuple[int, ...] = tuple(tc for tc in QMF_TYPECODES if tc not in (15, 20, 21, 22))
OPCODES = "BbPpQqSszhGgciMmeAax"

# Every AMQP 0-10 type code the codec reads and writes: the typed classes plus the codes that
# plain values use (boolean, uuid, map, list, array, void) and bit.
AMQP_CODES: tuple[int, ...] = tuple(sorted(set(t.CLASS_BY_CODE) | {0x08, 0x48, 0xA8, 0xA9, 0xAA, 0xF0, 0xF1}))
CONTAINER_CODES = frozenset((0xA8, 0xA9, 0xAA))

LATIN_CHARS = bytes(range(256)).decode("iso-8859-15")


# -- text and scalars -----------------------------------------------------------------------------
def _fits(limit: int, encoding: str = "utf-8") -> Callable[[str], bool]:
    return lambda s: len(s.encode(encoding)) <= limit


@cache
def texts(max_bytes: int = U8, *, min_size: int = 0, max_size: int = 24) -> st.SearchStrategy[str]:
    """UTF-8 text of at most `max_bytes` (no lone surrogates: those cannot be written), now and then
    exactly at the limit."""
    small = st.text(min_size=min_size, max_size=max_size).filter(_fits(max_bytes))
    if max_bytes > 4096:
        return small
    at_limit = st.sampled_from(["x" * max_bytes, "é" * (max_bytes // 2) + "x" * (max_bytes % 2),
                                "€" * (max_bytes // 3) + "y" * (max_bytes % 3)])
    return st.one_of(small, small, small, at_limit.filter(lambda s: len(s) >= min_size))


@cache
def names(max_bytes: int = U8) -> st.SearchStrategy[str]:
    return texts(max_bytes, min_size=1, max_size=12)


@cache
def uuids() -> st.SearchStrategy[uuid.UUID]:
    return st.binary(min_size=16, max_size=16).map(lambda b: uuid.UUID(bytes=b))


@cache
def u32s() -> st.SearchStrategy[int]:
    return st.integers(0, U32)


@cache
def u64s() -> st.SearchStrategy[int]:
    return st.integers(0, U64)


@cache
def object_ids() -> st.SearchStrategy[ObjectId]:
    made = st.builds(lambda f, s, b, a, o: ObjectId.make(flags=f, sequence=s, broker_bank=b, agent_bank=a, object=o),
                     st.integers(0, 15), st.integers(0, 2**12 - 1), st.integers(0, 2**20 - 1),
                     st.integers(0, 2**28 - 1), u64s())
    return st.one_of(st.builds(ObjectId, u64s(), u64s()), made)


@cache
def floats32() -> st.SearchStrategy[float]:
    """Floats exactly representable in single precision (infinities included, no NaN)."""
    return st.floats(width=32, allow_nan=False)


@cache
def floats64() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False)


# -- AMQP 0-10 values -----------------------------------------------------------------------------
@cache
def _typed_str(cls: type) -> st.SearchStrategy[Any]:
    if cls.width == 0:  # Char, CharUtf32: exactly one character
        if cls.encoding == "iso-8859-15":
            return st.sampled_from(LATIN_CHARS).map(cls)
        return st.characters(exclude_categories=("Cs",)).map(cls)
    if cls.encoding == "iso-8859-15":
        base = st.text(alphabet=st.sampled_from(LATIN_CHARS), max_size=24)
        if cls.width == 1:
            base = st.one_of(base, st.just("\u20ac" * 255))  # 255 one-byte characters
    else:
        limit = U8 if cls.width == 1 else U16
        base = st.text(max_size=24).filter(_fits(limit, cls.encoding))
        if cls.width == 1:
            base = st.one_of(base, st.just("x" * 255 if cls.encoding == "utf-8" else "x" * 127))
    return base.map(cls)


@cache
def _typed_bytes(cls: type) -> st.SearchStrategy[Any]:
    if cls.size >= 0:
        return st.binary(min_size=cls.size, max_size=cls.size).map(cls)
    sizes = st.binary(max_size=24)
    if cls.width == 1:
        sizes = st.one_of(sizes, st.just(b"\xff" * 255))
    return sizes.map(cls)


def _int_range(code: int) -> tuple[int, int]:
    cls = t.CLASS_BY_CODE[code]
    return cls.lo, cls.hi


@cache
def amqp_scalar_for(code: int, *, typed: bool | None = None) -> st.SearchStrategy[Any]:
    """A value that AMQP type `code` can hold: the typed class for it, or (typed False / None)
    the plain value that an array of that element type accepts too."""
    cls = t.CLASS_BY_CODE.get(code)
    if code == 0x08:  # a plain bool, or the typed boolean class if the codec has one
        return st.booleans() if cls is None or typed is False else _choose(st.booleans(), st.booleans().map(cls), typed)
    if cls is not None and issubclass(cls, int):
        lo, hi = _int_range(code)
        plain = st.integers(lo, hi)
        return _choose(plain, plain.map(cls), typed)
    if code == 0x23:
        return _choose(floats32(), floats32().map(t.Float32), typed)
    if code == 0x33:
        return _choose(floats64(), floats64().map(t.Double), typed)
    if cls is not None and issubclass(cls, str):
        return _typed_str(cls) if typed is not False else _typed_str(cls).map(str)
    if cls is not None and issubclass(cls, bytes):
        return _typed_bytes(cls) if typed is not False else _typed_bytes(cls).map(bytes)
    if code == 0x48:
        return uuids()
    if code == 0xF0:
        return st.none()
    if code == 0xF1:
        return st.just(BIT)
    raise AssertionError(f"no scalar strategy for AMQP code 0x{code:02x}")


def _choose(plain: st.SearchStrategy[Any], typed_s: st.SearchStrategy[Any], typed: bool | None) -> Any:
    if typed is None:
        return st.one_of(plain, typed_s)
    return typed_s if typed else plain


@cache
def plain_scalars(style_safe: bool = False) -> st.SearchStrategy[Any]:
    """Values written by the default rule: None, bool, int (int64, uint64 from 2**63), float, str,
    bytes, UUID, BIT. `style_safe` leaves out plain str and bytes, which the Python and C++ writer
    styles retype (str to vbin16, ASCII bytes to str16), so that a value survives every style."""
    parts = [st.none(), st.booleans(), st.integers(I64_MIN, U64), floats64(), uuids(), st.just(BIT)]
    if not style_safe:
        parts += [texts(U16), st.binary(max_size=24)]
    return st.one_of(parts)


@cache
def typed_scalars() -> st.SearchStrategy[Any]:
    return st.one_of([amqp_scalar_for(code, typed=True) for code in AMQP_CODES
                      if code in t.CLASS_BY_CODE])


@cache
def amqp_values(depth: int = 2, style_safe: bool = False) -> st.SearchStrategy[Any]:
    scalars = st.one_of(plain_scalars(style_safe), typed_scalars())
    if depth <= 0:
        return scalars
    return st.one_of(scalars, amqp_maps(depth - 1, style_safe), amqp_lists(depth - 1, style_safe),
                     amqp_arrays(depth - 1, style_safe))


@cache
def map_keys() -> st.SearchStrategy[str]:
    return texts(U8, max_size=10)


@cache
def amqp_maps(depth: int = 2, style_safe: bool = False, max_size: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(map_keys(), st.deferred(lambda: amqp_values(depth, style_safe)), max_size=max_size)


@cache
def amqp_lists(depth: int = 2, style_safe: bool = False) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.deferred(lambda: amqp_values(depth, style_safe)), max_size=4)


@cache
def amqp_value_for(code: int, depth: int = 1, style_safe: bool = False) -> st.SearchStrategy[Any]:
    """Any value of AMQP type `code`, containers included (an array element, say)."""
    if code == 0xA8:
        return amqp_maps(depth, style_safe)
    if code == 0xA9:
        return amqp_lists(depth, style_safe)
    if code == 0xAA:
        return amqp_arrays(depth, style_safe)
    return amqp_scalar_for(code)


@st.composite
def amqp_arrays(draw: Any, depth: int = 1, style_safe: bool = False, code: int | None = None) -> t.Array:
    """An AMQP array (0xaa) of one element type, empty now and then."""
    codes = AMQP_CODES if depth > 0 else tuple(c for c in AMQP_CODES if c not in CONTAINER_CODES)
    if code is None:
        code = draw(st.sampled_from(codes))
    items = draw(st.lists(amqp_value_for(code, depth - 1, style_safe), max_size=4))
    return t.Array(code, items)


# -- schemas ---------------------------------------------------------------------------------------
@dataclass
class Registry:
    """The schemas and pending methods one example's messages need; their lookups feed the decoder."""

    schemas: dict[ClassKey, Schema] = field(default_factory=dict)
    methods: dict[int, SchemaMethod] = field(default_factory=dict)
    m_seqs: set[int] = field(default_factory=set)
    counter: int = 0

    def add(self, schema: Schema) -> Schema:
        self.schemas[schema.key] = schema
        return schema


@st.composite
def class_keys(draw: Any, reg: Registry | None = None) -> ClassKey:
    """A class key; with a registry, one no other schema of it has (the hash ends in a counter)."""
    package, name = draw(texts()), draw(texts())
    if reg is None:
        return ClassKey(package, name, draw(st.binary(min_size=16, max_size=16)))
    reg.counter += 1
    return ClassKey(package, name, draw(st.binary(min_size=12, max_size=12)) + reg.counter.to_bytes(4, "big"))


@cache
def numbers() -> st.SearchStrategy[int | float | None]:
    """min/max of a property or argument: anything a map's int64/uint64/double can carry."""
    return st.one_of(st.none(), st.integers(I64_MIN, U64), floats64())


@cache
def extras(known: tuple[str, ...], extras_mode: str) -> st.SearchStrategy[dict[str, Any]]:
    """A record's unknown keys: "any" AMQP values, "safe" ones (equal after a round trip in every
    map style, see `plain_scalars`) or "none" at all (a decoded schema keeps no memory of how its
    maps were typed, so only then does re-encoding it in a non-default style give the same bytes)."""
    if extras_mode == "none":
        return st.just({})
    keys = map_keys().filter(lambda k: k not in known)
    values = amqp_values(1, extras_mode == "safe")
    return st.one_of(st.just({}), st.dictionaries(keys, values, max_size=3))


@cache
def _opt_text() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), texts(U16))


@cache
def typecodes(depth: int) -> st.SearchStrategy[int]:
    """Typecodes whose values nest at most `depth` more levels: all of them from depth 0 on (a map,
    list, array or object at depth 0 holds only scalars), scalars only below."""
    return st.sampled_from(QMF_TYPECODES if depth >= 0 else SCALAR_TYPECODES)


@st.composite
def properties(draw: Any, name: str, tc: int, extras_mode: str = "any") -> SchemaProperty:
    return SchemaProperty(
        name=name, type=tc, access=draw(st.sampled_from([Access.RC, Access.RW, Access.RO, 1, 2, 3])),
        index=draw(st.booleans()), optional=draw(st.booleans()), unit=draw(_opt_text()),
        min=draw(numbers()), max=draw(numbers()), maxlen=draw(st.one_of(st.none(), st.integers(0, U32))),
        desc=draw(_opt_text()), ref_package=draw(st.one_of(st.none(), texts())),
        ref_class=draw(st.one_of(st.none(), texts())), extra=draw(extras(SchemaProperty.KEYS, extras_mode)))


@st.composite
def statistics(draw: Any, name: str, tc: int, extras_mode: str = "any") -> SchemaStatistic:
    return SchemaStatistic(name=name, type=tc, unit=draw(_opt_text()), desc=draw(_opt_text()),
                           extra=draw(extras(SchemaStatistic.KEYS, extras_mode)))


@st.composite
def method_arguments(draw: Any, name: str, tc: int, extras_mode: str = "any", direction: str | None = None
                     ) -> SchemaArgument:
    return SchemaArgument(
        name=name, type=tc, dir=direction or draw(st.sampled_from(["I", "O", "IO"])), unit=draw(_opt_text()),
        min=draw(numbers()), max=draw(numbers()), maxlen=draw(st.one_of(st.none(), st.integers(0, U32))),
        default=draw(_opt_text()), desc=draw(_opt_text()), extra=draw(extras(SchemaArgument.KEYS, extras_mode)))


@st.composite
def event_arguments(draw: Any, name: str, tc: int, extras_mode: str = "any") -> SchemaArgument:
    return SchemaArgument(name=name, type=tc, dir=None, unit=draw(_opt_text()), desc=draw(_opt_text()),
                          extra=draw(extras(SchemaArgument.KEYS, extras_mode)))


@st.composite
def methods(draw: Any, name: str, depth: int = 1, extras_mode: str = "any", max_args: int = 4) -> SchemaMethod:
    arg_names = draw(st.lists(names(), unique=True, max_size=max_args))
    args = tuple(draw(method_arguments(n, draw(typecodes(depth)), extras_mode)) for n in arg_names)
    return SchemaMethod(name=name, args=args, desc=draw(_opt_text()),
                        extra=draw(extras(SchemaMethod.KEYS, extras_mode)))


@st.composite
def object_classes(draw: Any, reg: Registry | None = None, depth: int = 1, extras_mode: str = "any",
                   max_properties: int = 12, max_statistics: int = 4, max_methods: int = 3,
                   min_methods: int = 0) -> ObjectClass:
    """An object class; up to 12 properties so that presence masks run past one byte."""
    n_props = draw(st.integers(0, max_properties))
    n_stats = draw(st.integers(0, max_statistics))
    record_names = draw(st.lists(names(), unique=True, min_size=n_props + n_stats, max_size=n_props + n_stats))
    props = tuple(draw(properties(n, draw(typecodes(depth)), extras_mode)) for n in record_names[:n_props])
    stats = tuple(draw(statistics(n, draw(typecodes(depth)), extras_mode)) for n in record_names[n_props:])
    method_names = draw(st.lists(names(), unique=True, min_size=min_methods, max_size=max_methods))
    meths = tuple(draw(methods(n, depth, extras_mode)) for n in method_names)
    return ObjectClass(draw(class_keys(reg)), props, stats, meths)


@st.composite
def event_classes(draw: Any, reg: Registry | None = None, depth: int = 1, extras_mode: str = "any"
                  ) -> EventClass:
    arg_names = draw(st.lists(names(), unique=True, max_size=6))
    args = tuple(draw(event_arguments(n, draw(typecodes(depth)), extras_mode)) for n in arg_names)
    return EventClass(draw(class_keys(reg)), args)


def schemas(reg: Registry | None = None, extras_mode: str = "any") -> st.SearchStrategy[Schema]:
    return st.one_of(object_classes(reg, extras_mode=extras_mode), event_classes(reg, extras_mode=extras_mode))


# -- QMF values by typecode ------------------------------------------------------------------------
_QMF_INTS = {1: (0, U8), 2: (0, U16), 3: (0, U32), 4: (0, U64), 8: (I64_MIN, 2**63 - 1), 9: (0, U64),
             16: (-(2**7), 2**7 - 1), 17: (-(2**15), 2**15 - 1), 18: (-(2**31), 2**31 - 1),
             19: (I64_MIN, 2**63 - 1)}


@st.composite
def qmf_values(draw: Any, tc: int, reg: Registry, depth: int = 1, allow_none: bool = True) -> Any:
    """A value of QMF typecode `tc`. Nested schemas (typecode 20) are added to `reg`. `allow_none`
    False leaves out None for maps and lists (a property whose value is None is absent)."""
    if tc in _QMF_INTS:
        return draw(st.integers(*_QMF_INTS[tc]))
    if tc == 6:
        return draw(texts(U8))
    if tc == 7:
        return draw(texts(U16))
    if tc == 10:
        return draw(object_ids())
    if tc == 11:
        return draw(st.booleans())
    if tc == 12:
        return draw(floats32())
    if tc == 13:
        return draw(floats64())
    if tc == 14:
        return draw(uuids())
    if tc == 15:
        maps = amqp_maps(max(depth, 0))
        return draw(st.one_of(st.none(), maps) if allow_none else maps)
    if tc == 21:
        lists = amqp_lists(max(depth, 0))
        return draw(st.one_of(st.none(), lists) if allow_none else lists)
    if tc == 22:
        return draw(qmf_arrays(reg, depth))
    if tc == 20:
        return draw(qmf_objects(reg, depth))
    raise AssertionError(f"no QMF typecode {tc}")


@st.composite
def qmf_arrays(draw: Any, reg: Registry, depth: int = 1) -> QmfArray:
    """A typecode-22 array: elements of one explicit typecode, or empty (typed or not)."""
    kind = draw(st.sampled_from(["typed", "typed", "typed", "empty-typed", "empty"]))
    if kind == "empty":
        return QmfArray()
    tc = draw(typecodes(depth - 1))
    if kind == "empty-typed":
        return QmfArray([], typecode=tc)
    return QmfArray(draw(st.lists(qmf_values(tc, reg, depth - 1), min_size=1, max_size=3)), typecode=tc)


@st.composite
def qmf_objects(draw: Any, reg: Registry, depth: int = 1) -> Tagged | Unmanaged:
    """A typecode-20 value: another typecode tagged with its type byte, or an unmanaged object
    of a class (registered in `reg`) whose values may nest further."""
    if depth > 0 and draw(st.booleans()):
        schema = reg.add(draw(object_classes(reg, depth - 1, max_properties=4, max_statistics=3, max_methods=0)))
        return Unmanaged(schema, draw(property_values(schema, reg, depth - 1)),
                         draw(statistic_values(schema, reg, depth - 1)))
    tc = draw(typecodes(depth - 1).filter(lambda c: c != 20))
    return Tagged(tc, draw(qmf_values(tc, reg, depth - 1)))


@st.composite
def property_values(draw: Any, schema: ObjectClass, reg: Registry, depth: int = 1) -> dict[str, Any]:
    """Every mandatory property and some optional ones; an absent property is left out (None
    means absent, so present maps and lists are never None)."""
    values = {}
    for p in schema.properties:
        if p.optional and not draw(st.booleans()):
            continue
        values[p.name] = draw(qmf_values(p.type, reg, depth, allow_none=False))
    return values


@st.composite
def statistic_values(draw: Any, schema: ObjectClass, reg: Registry, depth: int = 1) -> dict[str, Any]:
    return {s.name: draw(qmf_values(s.type, reg, depth)) for s in schema.statistics}


@st.composite
def argument_values(draw: Any, args: tuple[SchemaArgument, ...], reg: Registry, depth: int = 1) -> dict[str, Any]:
    return {a.name: draw(qmf_values(a.type, reg, depth)) for a in args}


# -- messages --------------------------------------------------------------------------------------
@cache
def seqs() -> st.SearchStrategy[int]:
    return st.one_of(st.just(0), st.just(U32), u32s())


@st.composite
def get_queries(draw: Any) -> dict[str, Any]:
    realistic = st.fixed_dictionaries({"_class": texts()}, optional={"_package": texts()})
    by_id = object_ids().map(lambda oid: {"_objectid": str(oid)})
    return draw(st.one_of(realistic, by_id, amqp_maps(2)))


@st.composite
def _records(draw: Any, reg: Registry, cls: type) -> Message:
    schema = reg.add(draw(object_classes(reg)))
    common = dict(seq=draw(seqs()), schema=schema, object_id=draw(object_ids()), update_time=draw(u64s()),
                  create_time=draw(u64s()), delete_time=draw(st.one_of(st.just(0), u64s())))
    if cls is PropertyIndication:
        return cls(**common, properties=draw(property_values(schema, reg)))
    if cls is StatisticIndication:
        return cls(**common, statistics=draw(statistic_values(schema, reg)))
    return cls(**common, properties=draw(property_values(schema, reg)),
               statistics=draw(statistic_values(schema, reg)))


@st.composite
def _method_requests(draw: Any, reg: Registry) -> MethodRequest:
    schema = reg.add(draw(object_classes(reg, min_methods=1)))
    method = draw(st.sampled_from(schema.methods))
    return MethodRequest(seq=draw(seqs()), object_id=draw(object_ids()), schema=schema, method=method.name,
                         args=draw(argument_values(method.in_args, reg)))


def _fresh_seq(reg: Registry) -> st.SearchStrategy[int]:
    return seqs().filter(lambda s: s not in reg.m_seqs)


@st.composite
def _method_responses(draw: Any, reg: Registry) -> MethodResponse:
    """A method response; its sequence number is one no other response of the example uses, and
    the registry's `methods` lookup answers it with the response's method (None: not pending)."""
    seq = draw(_fresh_seq(reg))
    status = draw(st.one_of(st.just(0), st.sampled_from([1, 2, 3, 4, 5, 6, 7, 0x10000]), u32s()))
    text = draw(st.one_of(st.sampled_from(["OK", "UnknownMethod", ""]), texts(U16)))
    method = None
    out = None
    if draw(st.booleans()):
        schema = draw(object_classes(reg, min_methods=1, max_properties=0, max_statistics=0))
        method = draw(st.sampled_from(schema.methods))
        if status == 0 or draw(st.booleans()):
            out = draw(argument_values(method.out_args, reg))
    try:
        m = MethodResponse(seq=seq, status=status, text=text, method=method, out_args=out)
    except EncodeError as exc:
        # Out-arguments after a non-zero status that begin with the bytes "AM2" cannot be told
        # from the next message's header: the codec refuses to build such a response.
        if "AM2" not in exc.reason:
            raise
        reject()
    reg.m_seqs.add(seq)
    if method is not None:
        reg.methods[seq] = method
    return m


@st.composite
def _events(draw: Any, reg: Registry) -> EventIndication:
    schema = reg.add(draw(event_classes(reg)))
    return EventIndication(seq=draw(seqs()), schema=schema, timestamp=draw(u64s()),
                           severity=draw(st.integers(0, U8)), arguments=draw(argument_values(schema.arguments, reg)))


def messages(op: str, reg: Registry, extras_mode: str = "any") -> st.SearchStrategy[Message]:
    """Valid messages of opcode `op`, registering what their decoding needs in `reg`.
    `extras_mode` applies to the `extra` keys of schema responses (see `extras`)."""
    seq = seqs()
    simple: dict[str, st.SearchStrategy[Message]] = {
        "B": st.builds(BrokerRequest, seq=seq),
        "b": st.builds(BrokerResponse, seq=seq, broker_id=uuids()),
        "P": st.builds(PackageQuery, seq=seq),
        "p": st.builds(PackageIndication, seq=seq, package=texts()),
        "Q": st.builds(ClassQuery, seq=seq, package=texts()),
        "q": st.builds(ClassIndication, seq=seq, kind=st.sampled_from([1, 2, ClassKind.OBJECT, ClassKind.EVENT]),
                       key=class_keys()),
        "S": st.builds(SchemaRequest, seq=seq, key=class_keys()),
        "s": st.builds(SchemaResponse, seq=seq, schema=schemas(None, extras_mode)),
        "z": st.builds(CommandComplete, seq=seq, code=st.one_of(st.sampled_from([0, 1]), u32s()),
                       text=st.one_of(st.just("OK"), texts())),
        "h": st.builds(Heartbeat, seq=seq, timestamp=u64s()),
        "G": st.builds(GetQuery, seq=seq, query=get_queries()),
        "A": st.builds(AgentAttachRequest, seq=seq, label=st.one_of(st.just("RemoteAgent [C++]"), texts()),
                       system_id=uuids(), broker_bank=u32s(), agent_bank=u32s()),
        "a": st.builds(AgentAttachResponse, seq=seq, broker_bank=u32s(), agent_bank=u32s()),
        "x": st.builds(ConsoleAddedIndication, seq=seq),
    }
    if op in simple:
        return simple[op]
    if op == "c":
        return _records(reg, PropertyIndication)
    if op == "i":
        return _records(reg, StatisticIndication)
    if op == "g":
        return _records(reg, ObjectIndication)
    if op == "M":
        return _method_requests(reg)
    if op == "m":
        return _method_responses(reg)
    if op == "e":
        return _events(reg)
    raise AssertionError(f"no QMFv1 opcode {op!r}")


@dataclass(frozen=True)
class Case:
    """Messages for one body and the lookups the decoder needs for them."""

    messages: list[Message]
    schemas: dict[ClassKey, Schema]
    methods: dict[int, SchemaMethod]

    def lookups(self) -> dict[str, Any]:
        return {"schemas": self.schemas.get, "methods": self.methods.get}


@st.composite
def cases(draw: Any, op: str, extras_mode: str = "any") -> Case:
    reg = Registry()
    m = draw(messages(op, reg, extras_mode))
    return Case([m], reg.schemas, reg.methods)


@st.composite
def bodies(draw: Any, ops: str = OPCODES, min_size: int = 1, max_size: int = 6, extras_mode: str = "any") -> Case:
    """Several messages of any opcodes for one body."""
    reg = Registry()
    chosen = draw(st.lists(st.sampled_from(ops), min_size=min_size, max_size=max_size))
    return Case([draw(messages(op, reg, extras_mode)) for op in chosen], reg.schemas, reg.methods)


STYLES = tuple(MapStyle)


# -- one fixed example of everything (fuzzing seeds and lookups) ------------------------------------
SAMPLE_SCALARS: dict[int, Any] = {
    1: 7, 2: 300, 3: 70000, 4: 2**40, 6: "short", 7: "long text é", 8: -5, 9: 10**18, 10: ObjectId(2**60 + 1, 9),
    11: True, 12: 0.5, 13: -2.25, 14: uuid.UUID(int=12345), 16: -7, 17: -300, 18: -70000, 19: -(2**40),
}


def sample_case() -> Case:
    """One deterministic message of every opcode, built on classes that use every typecode in
    every place (optional and mandatory properties, statistics, I/O/IO arguments, event
    arguments), with nested objects and arrays: seeds for fuzzing, and the lookups to go with them."""
    reg = Registry()
    leaf = reg.add(ObjectClass(ClassKey("org.example", "leaf", b"L" * 16),
                               (SchemaProperty(name="opt", type=7, optional=True), SchemaProperty(name="n", type=3)),
                               (SchemaStatistic(name="count", type=4),)))
    leaf_value = Unmanaged(leaf, {"n": 1, "opt": "here"}, {"count": 2})
    values: dict[int, Any] = {
        **SAMPLE_SCALARS,
        15: {"k": t.Int32(5), "s": "v", "l": [1, t.UInt8(2)], "a": t.Array(0x21, [1, 2])},
        20: leaf_value,
        21: [None, True, 1.5, {"x": b"y"}],
        22: QmfArray([leaf_value, Tagged(3, 9)], typecode=20),
    }
    props = []
    for tc in QMF_TYPECODES:
        props.append(SchemaProperty(name=f"p{tc}", type=tc))
        props.append(SchemaProperty(name=f"o{tc}", type=tc, optional=True))
    stats = tuple(SchemaStatistic(name=f"s{tc}", type=tc) for tc in QMF_TYPECODES)
    args = tuple(SchemaArgument(name=f"a{tc}{d}", type=tc, dir=d) for tc in QMF_TYPECODES for d in ("I", "O", "IO"))
    method = SchemaMethod(name="call", args=args, desc="every typecode")
    big = reg.add(ObjectClass(ClassKey("org.example", "big", b"B" * 16), tuple(props), stats,
                              (method, SchemaMethod(name="nothing"))))
    event = reg.add(EventClass(ClassKey("org.example", "happened", b"E" * 16),
                               tuple(SchemaArgument(name=f"e{tc}", type=tc, dir=None) for tc in QMF_TYPECODES)))
    prop_values = {f"p{tc}": values[tc] for tc in QMF_TYPECODES}
    prop_values.update({f"o{tc}": values[tc] for tc in QMF_TYPECODES if tc % 2})
    stat_values = {f"s{tc}": values[tc] for tc in QMF_TYPECODES}
    oid = ObjectId.make(sequence=3, broker_bank=1, agent_bank=10, object=42)
    reg.methods[77] = method
    common = dict(schema=big, object_id=oid, update_time=3, create_time=2, delete_time=0)
    msgs: list[Message] = [
        BrokerRequest(), BrokerResponse(seq=1, broker_id=uuid.UUID(int=1)), PackageQuery(seq=2),
        PackageIndication(seq=2, package="org.example"), ClassQuery(seq=3, package="org.example"),
        ClassIndication(seq=3, kind=1, key=big.key), SchemaRequest(seq=4, key=big.key),
        SchemaResponse(seq=4, schema=big), SchemaResponse(seq=4, schema=event), CommandComplete(seq=4),
        Heartbeat(timestamp=10**18), GetQuery(seq=5, query={"_class": "big", "_package": "org.example"}),
        ObjectIndication(seq=5, **common, properties=prop_values, statistics=stat_values),
        PropertyIndication(**common, properties=prop_values), StatisticIndication(**common, statistics=stat_values),
        MethodRequest(seq=77, object_id=oid, schema=big, method="call",
                      args={a.name: values[a.type] for a in method.in_args}),
        MethodResponse(seq=77, method=method, out_args={a.name: values[a.type] for a in method.out_args}),
        EventIndication(schema=event, timestamp=5, severity=3,
                        arguments={f"e{tc}": values[tc] for tc in QMF_TYPECODES}),
        AgentAttachRequest(seq=6, label="RemoteAgent [C++]", system_id=uuid.UUID(int=2)),
        AgentAttachResponse(seq=6, broker_bank=1, agent_bank=10), ConsoleAddedIndication(),
    ]
    return Case(msgs, reg.schemas, reg.methods)
