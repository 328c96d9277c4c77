"""Schema records (qmf-v1.md §4): class keys, object and event classes and their parts.

A schema is what makes QMFv1 values readable: they carry no type bytes, so the reader must know
each property's, statistic's and argument's typecode. Every record on the wire is an AMQP map;
the keys this module knows become fields, and any other key is kept in `extra`, so a record from
a newer writer survives a round trip. `write_schema`/`read_schema` are the whole class body of an
's' message (after the 8-byte header).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

from . import amqptypes as t
from .amqp import MapStyle, read_map, write_map
from .errors import EncodeError, InvalidText, InvalidValue, UnknownTypecode
from .wire import U16, Reader, put_str8, utf8

EMPTY: Mapping[str, Any] = MappingProxyType({})


class Typecode(enum.IntEnum):
    """QMF value typecodes (qmf-v1.md §3.1); 5 is unused."""

    U8 = 1
    U16 = 2
    U32 = 3
    U64 = 4
    SSTR = 6
    LSTR = 7
    ABSTIME = 8
    DELTATIME = 9
    REF = 10
    BOOL = 11
    FLOAT = 12
    DOUBLE = 13
    UUID = 14
    MAP = 15
    S8 = 16
    S16 = 17
    S32 = 18
    S64 = 19
    OBJECT = 20
    LIST = 21
    ARRAY = 22


TYPECODES = frozenset(int(c) for c in Typecode)
STYLED_TYPECODES = frozenset((15, 20, 21, 22))  # values whose bytes depend on the map style


class ClassKind(enum.IntEnum):
    OBJECT = 1
    EVENT = 2


class Access(enum.IntEnum):
    RC = 1  # read-create
    RW = 2
    RO = 3


DIRECTIONS = ("I", "O", "IO")


def _str8_ok(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise EncodeError(f"{what} must be a str, not {type(value).__name__}")
    if len(utf8(value, what)) > 255:
        raise EncodeError(f"{what} {value[:40]!r}... is longer than a str8 (255 bytes of UTF-8)")
    return value


def _opt_text(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise EncodeError(f"{what} must be a str or None, not {type(value).__name__}")
    if value is not None:
        utf8(value, what)


def _typecode_ok(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in TYPECODES:
        raise EncodeError(f"{what} {value!r} is not a QMF typecode (1-4, 6-22)")


def _number_ok(value: object, what: str, integer: bool = False) -> None:
    """A number a record map can carry (int64, uint64 or double); `integer`: no float either."""
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                              or (integer and isinstance(value, float))):
        raise EncodeError(f"{what} must be {'an integer' if integer else 'a number'} or None, not {value!r:.40}")
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise EncodeError(f"{what} {value} does not fit in 64 bits")


def _extra_ok(obj: Any, known: tuple[str, ...]) -> None:
    if not isinstance(obj.extra, Mapping):
        raise EncodeError("extra must be a mapping of the record's other keys")
    clash = [k for k in obj.extra if k in known]
    if clash:
        raise EncodeError(f"extra repeats the record's own keys: {clash}")
    if obj.extra:
        write_map(bytearray(), obj.extra)  # a dry run: the values must be writable AMQP values
    object.__setattr__(obj, "extra", MappingProxyType(dict(obj.extra)))


class _ClassKeyFields(NamedTuple):
    package: str
    name: str
    hash: bytes


class ClassKey(_ClassKeyFields):
    """(package, class name, hash): the triple that names a class on the wire.

    A tuple, so that hashing and comparing it (every schema lookup does both) run in C."""

    __slots__ = ()

    def __new__(cls, package: str, name: str, hash: bytes) -> ClassKey:
        _str8_ok(package, "package name")
        _str8_ok(name, "class name")
        if not isinstance(hash, bytes) or len(hash) != 16:
            raise EncodeError(f"class hash must be 16 bytes, not {hash!r:.60}")
        return super().__new__(cls, package, name, bytes(hash))

    def __str__(self) -> str:
        return f"{self.package}:{self.name}({self.hash.hex()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaProperty:
    name: str
    type: int
    access: int = Access.RO
    index: bool = False
    optional: bool = False
    unit: str | None = None
    min: int | float | None = None
    max: int | float | None = None
    maxlen: int | None = None
    desc: str | None = None
    ref_package: str | None = None
    ref_class: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    label: str = field(init=False, repr=False, compare=False)  # names it in decode errors

    KEYS: ClassVar[tuple[str, ...]] = ("name", "type", "access", "index", "optional", "unit", "desc", "min",
                                       "max", "maxlen", "refPackage", "refClass")

    def __post_init__(self) -> None:
        _opt_text(self.name, "property name")
        if not self.name:
            raise EncodeError("a property needs a name")
        _typecode_ok(self.type, f"property {self.name!r} type")
        if self.access not in (1, 2, 3) or isinstance(self.access, bool):
            raise EncodeError(f"property {self.name!r} access {self.access!r} is not 1 (RC), 2 (RW) or 3 (RO)")
        for f in ("unit", "desc", "ref_package", "ref_class"):
            _opt_text(getattr(self, f), f"property {self.name!r} {f}")
        for f in ("min", "max", "maxlen"):
            _number_ok(getattr(self, f), f"property {self.name!r} {f}", integer=f == "maxlen")
        if not isinstance(self.index, bool) or not isinstance(self.optional, bool):
            raise EncodeError(f"property {self.name!r} index and optional must be bools")
        _extra_ok(self, self.KEYS)
        object.__setattr__(self, "label", f"property {self.name!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaStatistic:
    name: str
    type: int
    unit: str | None = None
    desc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    label: str = field(init=False, repr=False, compare=False)  # names it in decode errors

    KEYS: ClassVar[tuple[str, ...]] = ("name", "type", "unit", "desc")

    def __post_init__(self) -> None:
        _opt_text(self.name, "statistic name")
        if not self.name:
            raise EncodeError("a statistic needs a name")
        _typecode_ok(self.type, f"statistic {self.name!r} type")
        _opt_text(self.unit, "statistic unit")
        _opt_text(self.desc, "statistic desc")
        _extra_ok(self, self.KEYS)
        object.__setattr__(self, "label", f"statistic {self.name!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaArgument:
    """A method argument (with `dir`) or an event argument (`dir` None; no min/max/default)."""

    name: str
    type: int
    dir: str | None = "I"
    unit: str | None = None
    min: int | float | None = None
    max: int | float | None = None
    maxlen: int | None = None
    default: str | None = None
    desc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    label: str = field(init=False, repr=False, compare=False)  # names it in decode errors

    KEYS: ClassVar[tuple[str, ...]] = ("name", "type", "dir", "unit", "min", "max", "maxlen", "default", "desc")

    def __post_init__(self) -> None:
        _opt_text(self.name, "argument name")
        if not self.name:
            raise EncodeError("an argument needs a name")
        _typecode_ok(self.type, f"argument {self.name!r} type")
        if self.dir is not None and self.dir not in DIRECTIONS:
            raise EncodeError(f"argument {self.name!r} dir {self.dir!r} is not 'I', 'O' or 'IO'")
        if self.dir is None:  # an event argument: its map has no such keys (qmf-v1.md §4.2)
            given = [f for f in ("min", "max", "maxlen", "default") if getattr(self, f) is not None]
            if given:
                raise EncodeError(f"event argument {self.name!r} cannot have {given} (only method arguments do)")
        for f in ("unit", "default", "desc"):
            _opt_text(getattr(self, f), f"argument {self.name!r} {f}")
        for f in ("min", "max", "maxlen"):
            _number_ok(getattr(self, f), f"argument {self.name!r} {f}", integer=f == "maxlen")
        _extra_ok(self, self.KEYS)
        object.__setattr__(self, "label", f"argument {self.name!r}")

    @property
    def is_in(self) -> bool:
        return self.dir is not None and "I" in self.dir

    @property
    def is_out(self) -> bool:
        return self.dir is not None and "O" in self.dir


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaMethod:
    name: str
    args: tuple[SchemaArgument, ...] = ()
    desc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    in_args: tuple[SchemaArgument, ...] = field(init=False, repr=False, compare=False)
    out_args: tuple[SchemaArgument, ...] = field(init=False, repr=False, compare=False)
    in_names: frozenset[str] = field(init=False, repr=False, compare=False)
    layouts: dict[str, Any] = field(init=False, repr=False, compare=False)  # filled by codec.values

    KEYS: ClassVar[tuple[str, ...]] = ("name", "argCount", "desc")

    def __post_init__(self) -> None:
        _str8_ok(self.name, "method name")
        if not self.name:
            raise EncodeError("a method needs a name")
        args = tuple(self.args)
        object.__setattr__(self, "args", args)
        _unique(args, f"method {self.name!r} argument")
        for a in args:
            if not isinstance(a, SchemaArgument) or a.dir is None:
                raise EncodeError(f"method {self.name!r} arguments must be SchemaArguments with a dir")
        _opt_text(self.desc, "method desc")
        _extra_ok(self, self.KEYS)
        object.__setattr__(self, "in_args", tuple(a for a in args if a.is_in))
        object.__setattr__(self, "out_args", tuple(a for a in args if a.is_out))
        object.__setattr__(self, "in_names", frozenset(a.name for a in self.in_args))
        object.__setattr__(self, "layouts", {})


def _unique(items: Iterable[Any], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise EncodeError(f"{what} name {item.name!r} appears twice")
        seen.add(item.name)


@dataclass(frozen=True, slots=True)
class ObjectClass:
    """An object (table) class: properties, statistics and methods."""

    key: ClassKey
    properties: tuple[SchemaProperty, ...] = ()
    statistics: tuple[SchemaStatistic, ...] = ()
    methods: tuple[SchemaMethod, ...] = ()
    _methods: Mapping[str, SchemaMethod] = field(init=False, repr=False, compare=False)
    layouts: dict[str, Any] = field(init=False, repr=False, compare=False)  # filled by codec.values

    kind: ClassVar[ClassKind] = ClassKind.OBJECT

    def __post_init__(self) -> None:
        if not isinstance(self.key, ClassKey):
            raise EncodeError("ObjectClass.key must be a ClassKey")
        for name, cls in (("properties", SchemaProperty), ("statistics", SchemaStatistic),
                          ("methods", SchemaMethod)):
            items = tuple(getattr(self, name))
            if len(items) > 0xFFFF:
                raise EncodeError(f"a class holds at most 65535 {name}")
            if not all(isinstance(i, cls) for i in items):
                raise EncodeError(f"ObjectClass.{name} must hold {cls.__name__} records")
            object.__setattr__(self, name, items)
        _unique(self.properties + self.statistics, f"class {self.key.name!r} property/statistic")  # type: ignore[operator]
        _unique(self.methods, f"class {self.key.name!r} method")
        object.__setattr__(self, "_methods", {m.name: m for m in self.methods})
        object.__setattr__(self, "layouts", {})

    def method(self, name: str) -> SchemaMethod | None:
        return self._methods.get(name)


@dataclass(frozen=True, slots=True)
class EventClass:
    """An event class: its arguments, in the order their values are written."""

    key: ClassKey
    arguments: tuple[SchemaArgument, ...] = ()

    layouts: dict[str, Any] = field(init=False, repr=False, compare=False)  # filled by codec.values
    kind: ClassVar[ClassKind] = ClassKind.EVENT

    def __post_init__(self) -> None:
        if not isinstance(self.key, ClassKey):
            raise EncodeError("EventClass.key must be a ClassKey")
        args = tuple(self.arguments)
        if len(args) > 0xFFFF:
            raise EncodeError("an event class holds at most 65535 arguments")
        for a in args:
            if not isinstance(a, SchemaArgument) or a.dir is not None:
                raise EncodeError("event arguments are SchemaArguments with dir=None")
        _unique(args, f"event {self.key.name!r} argument")
        object.__setattr__(self, "arguments", args)
        object.__setattr__(self, "layouts", {})


Schema = ObjectClass | EventClass


# -- writing --------------------------------------------------------------------------------------
def _text(value: str, style: MapStyle) -> Any:
    """Text fields as each writer typed them: the C++ broker wrote them without an encoding."""
    return value.encode("utf-8") if style is MapStyle.CPP else value


def _opt(value: str | None, style: MapStyle) -> Any:
    return None if value is None else _text(value, style)


def _small(value: int, style: MapStyle) -> Any:
    """type and access: uint8 from the C++ broker and by default; plain ints elsewhere."""
    return t.UInt8(value) if style in (MapStyle.CPP, MapStyle.DEFAULT) else value


def _flag(value: bool, style: MapStyle) -> Any:
    return value if style is MapStyle.DEFAULT else int(value)


def _record(pairs: Iterable[tuple[str, Any]], extra: Mapping[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in pairs if v is not None}
    record.update(extra)
    return record


def property_map(p: SchemaProperty, style: MapStyle) -> dict[str, Any]:
    tx = _text
    return _record((("name", tx(p.name, style)), ("type", _small(p.type, style)),
                    ("access", _small(int(p.access), style)), ("index", _flag(p.index, style)),
                    ("optional", _flag(p.optional, style)),
                    ("unit", _opt(p.unit, style)), ("desc", _opt(p.desc, style)),
                    ("min", p.min), ("max", p.max), ("maxlen", p.maxlen),
                    ("refPackage", _opt(p.ref_package, style)),
                    ("refClass", _opt(p.ref_class, style))), p.extra)


def statistic_map(s: SchemaStatistic, style: MapStyle) -> dict[str, Any]:
    return _record((("name", _text(s.name, style)), ("type", _small(s.type, style)),
                    ("unit", _opt(s.unit, style)), ("desc", _opt(s.desc, style))),
                   s.extra)


def method_map(m: SchemaMethod, style: MapStyle) -> dict[str, Any]:
    count = t.Int32(len(m.args)) if style is MapStyle.CPP else len(m.args)
    return _record((("name", _text(m.name, style)), ("argCount", count),
                    ("desc", _opt(m.desc, style))), m.extra)


def argument_map(a: SchemaArgument, style: MapStyle) -> dict[str, Any]:
    tx = _text
    pairs: list[tuple[str, Any]] = [("name", tx(a.name, style)), ("type", _small(a.type, style))]
    if a.dir is not None:
        pairs.append(("dir", tx(a.dir, style)))
    pairs.append(("unit", _opt(a.unit, style)))
    pairs += [("min", a.min), ("max", a.max), ("maxlen", a.maxlen),
              ("default", _opt(a.default, style))]
    pairs.append(("desc", _opt(a.desc, style)))
    return _record(pairs, a.extra)


def write_class_key(buf: bytearray, key: ClassKey) -> None:
    put_str8(buf, key.package, "package name")
    put_str8(buf, key.name, "class name")
    buf += key.hash


def write_schema(buf: bytearray, schema: Schema, style: MapStyle = MapStyle.DEFAULT) -> None:
    """kind, class key, counts, then one map per record (§4.1); no superclass octet."""
    buf.append(schema.kind)
    write_class_key(buf, schema.key)
    if isinstance(schema, ObjectClass):
        buf += U16.pack(len(schema.properties))
        buf += U16.pack(len(schema.statistics))
        buf += U16.pack(len(schema.methods))
        for p in schema.properties:
            write_map(buf, property_map(p, style), style)
        for s in schema.statistics:
            write_map(buf, statistic_map(s, style), style)
        for m in schema.methods:
            write_map(buf, method_map(m, style), style)
            for a in m.args:
                write_map(buf, argument_map(a, style), style)
    else:
        buf += U16.pack(len(schema.arguments))
        for a in schema.arguments:
            write_map(buf, argument_map(a, style), style)


# -- reading --------------------------------------------------------------------------------------
def read_class_key(r: Reader) -> ClassKey:
    # a str8 and 16 raw bytes always make a valid key: no need to check them again
    return tuple.__new__(ClassKey, (r.str8("package name"), r.str8("class name"), r.raw(16, "class hash")))


class _Fields:
    """Takes the known keys out of one decoded record map, checking each, leaving the rest."""

    def __init__(self, r: Reader, record: dict[str, Any], what: str, offset: int) -> None:
        self.r, self.record, self.what, self.offset = r, record, what, offset

    def _missing(self, key: str) -> Exception:
        return InvalidValue(f"{self.what} has no {key!r} key", opcode=self.r.opcode, offset=self.offset)

    def text(self, key: str, required: bool = False) -> str | None:
        v = self.record.pop(key, None)
        if v is None:
            if required:
                raise self._missing(key)
            return None
        if isinstance(v, bytes):
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidText(f"{self.what} {key!r} is not valid UTF-8", opcode=self.r.opcode,
                                  offset=self.offset) from None
        if isinstance(v, str):
            return str(v)
        raise InvalidValue(f"{self.what} {key!r} must be a string, not {type(v).__name__}",
                           opcode=self.r.opcode, offset=self.offset)

    def number(self, key: str, required: bool = False) -> int | float | None:
        v = self.record.pop(key, None)
        if v is None:
            if required:
                raise self._missing(key)
            return None
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v)
        raise InvalidValue(f"{self.what} {key!r} must be a number, not {type(v).__name__}",
                           opcode=self.r.opcode, offset=self.offset)

    def integer(self, key: str, required: bool = False) -> int | None:
        v = self.number(key, required)
        if isinstance(v, float):
            raise InvalidValue(f"{self.what} {key!r} must be an integer, not {v!r}", opcode=self.r.opcode,
                               offset=self.offset)
        return v

    def typecode(self) -> int:
        tc = self.integer("type", True)
        if tc not in TYPECODES:
            raise UnknownTypecode(f"{self.what} has unknown QMF typecode {tc}", opcode=self.r.opcode,
                                  offset=self.offset)
        return tc  # type: ignore[return-value]

    def build(self, cls: type, **fields: Any) -> Any:
        try:
            return cls(**fields, extra=self.record)
        except EncodeError as exc:
            raise InvalidValue(f"{self.what}: {exc.reason}", opcode=self.r.opcode, offset=self.offset) from None


def _record_map(r: Reader, what: str) -> tuple[dict[str, Any], int]:
    offset = r.pos
    return read_map(r, what), offset  # type: ignore[return-value]


def _read_property(r: Reader, i: int) -> SchemaProperty:
    record, offset = _record_map(r, f"property map {i}")
    f = _Fields(r, record, f"property map {i}", offset)
    name = f.text("name", True)
    return f.build(SchemaProperty, name=name, type=f.typecode(), access=f.integer("access", True),
                   index=f.integer("index", True) != 0, optional=f.integer("optional", True) != 0,
                   unit=f.text("unit"), min=f.number("min"), max=f.number("max"), maxlen=f.integer("maxlen"),
                   desc=f.text("desc"), ref_package=f.text("refPackage"), ref_class=f.text("refClass"))


def _read_statistic(r: Reader, i: int) -> SchemaStatistic:
    record, offset = _record_map(r, f"statistic map {i}")
    f = _Fields(r, record, f"statistic map {i}", offset)
    name = f.text("name", True)
    return f.build(SchemaStatistic, name=name, type=f.typecode(), unit=f.text("unit"), desc=f.text("desc"))


def _read_argument(r: Reader, what: str, method: bool) -> SchemaArgument:
    record, offset = _record_map(r, what)
    f = _Fields(r, record, what, offset)
    name = f.text("name", True)
    tc = f.typecode()
    if not method:
        return f.build(SchemaArgument, name=name, type=tc, dir=None, unit=f.text("unit"), desc=f.text("desc"))
    direction = (f.text("dir", True) or "").upper()
    return f.build(SchemaArgument, name=name, type=tc, dir=direction, unit=f.text("unit"),
                   min=f.number("min"), max=f.number("max"), maxlen=f.integer("maxlen"),
                   default=f.text("default"), desc=f.text("desc"))


def _read_method(r: Reader, i: int) -> SchemaMethod:
    record, offset = _record_map(r, f"method map {i}")
    f = _Fields(r, record, f"method map {i}", offset)
    name = f.text("name", True)
    count = f.integer("argCount", True)
    if count is None or count < 0:
        raise InvalidValue(f"method map {i} argCount {count} is negative", opcode=r.opcode, offset=offset)
    r.check_count(count, 8, f"method {name!r} argument list", offset)
    desc = f.text("desc")
    args = tuple(_read_argument(r, f"method {name!r} argument map {j}", True) for j in range(count))
    return f.build(SchemaMethod, name=name, args=args, desc=desc)


def read_schema(r: Reader) -> Schema:
    """Reads a class record (after the header of an 's')."""
    pos = r.pos
    kind = r.u8("class kind")
    key = read_class_key(r)
    try:
        if kind == ClassKind.OBJECT:
            counts = []
            for what in ("property", "statistic", "method"):
                cpos = r.pos
                n = r.u16(f"{what} count")
                counts.append((n, cpos))
            total = sum(n for n, _ in counts)
            r.check_count(total, 8, "schema record list", counts[0][1])
            props = tuple(_read_property(r, i) for i in range(counts[0][0]))
            stats = tuple(_read_statistic(r, i) for i in range(counts[1][0]))
            methods = tuple(_read_method(r, i) for i in range(counts[2][0]))
            return ObjectClass(key, props, stats, methods)
        if kind == ClassKind.EVENT:
            cpos = r.pos
            n = r.u16("argument count")
            r.check_count(n, 8, "event argument list", cpos)
            return EventClass(key, tuple(_read_argument(r, f"event argument map {i}", False) for i in range(n)))
    except EncodeError as exc:  # names repeated across records, and similar whole-class checks
        raise InvalidValue(f"class {key}: {exc.reason}", opcode=r.opcode, offset=pos) from None
    raise InvalidValue(f"class kind {kind} is neither 1 (object) nor 2 (event)", opcode=r.opcode, offset=pos)
