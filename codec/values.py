"""QMF typed values (typecodes 1-22, qmf-v1.md §3.1) and the property/statistic blocks of objects.

QMF values carry no type byte: the schema says how each is laid out. Python types per typecode:
int (1-4, 8, 9, 16-19), str (6, 7), ObjectId (10), bool (11), float (12, 13), uuid.UUID (14),
dict or None (15), list/tuple or None (21), `QmfArray` or a list (22), and for 20 an
`Unmanaged` object or a `Tagged` value of another typecode.

Two of Qpid's console bugs are done right here: typecode 20 (the console cannot decode it and
cannot encode it, §7) and the empty typecode-22 array (written as only its count; the console
cannot read it back). Qpid's `_encodeUnmanaged` also decides presence with `if value:`, so an
optional property equal to 0 is written without its presence bit; here presence means "not None".
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .amqp import MapStyle, read_list, read_map, write_list, write_map
from .errors import EncodeError, InvalidValue, UnknownSchema, UnknownTypecode
from .objectid import ObjectId
from .schema import TYPECODES, ClassKey, ObjectClass, Schema, read_class_key, write_class_key
from .wire import F32, F64, I8, I16, I32, I64, QQ, U16, U32, U64, Reader, begin_sized, end_sized, put_str8, put_str16

SchemaLookup = Callable[[ClassKey], Schema | None]

_INTS = {1: (None, 0, 2**8 - 1), 2: (U16, 0, 2**16 - 1), 3: (U32, 0, 2**32 - 1), 4: (U64, 0, 2**64 - 1),
         8: (I64, -(2**63), 2**63 - 1), 9: (U64, 0, 2**64 - 1), 16: (I8, -(2**7), 2**7 - 1),
         17: (I16, -(2**15), 2**15 - 1), 18: (I32, -(2**31), 2**31 - 1), 19: (I64, -(2**63), 2**63 - 1)}
_NAMES = {1: "U8", 2: "U16", 3: "U32", 4: "U64", 6: "SSTR", 7: "LSTR", 8: "ABSTIME", 9: "DELTATIME", 10: "REF",
          11: "BOOL", 12: "FLOAT", 13: "DOUBLE", 14: "UUID", 15: "MAP", 16: "S8", 17: "S16", 18: "S32",
          19: "S64", 20: "OBJECT", 21: "LIST", 22: "ARRAY"}


class QmfArray(list):
    """A typecode-22 array: one QMF typecode for every element (None for an empty array that was
    written, as Qpid writes it, with only its count)."""

    __slots__ = ("typecode",)

    def __init__(self, items: Any = (), typecode: int | None = None) -> None:
        super().__init__(items)
        if typecode is not None and (typecode not in TYPECODES or isinstance(typecode, bool)):
            raise EncodeError(f"QmfArray element typecode {typecode!r} is not a QMF typecode")
        if typecode is None and len(self):
            typecode = element_typecode(self[0])
        self.typecode = typecode

    def __repr__(self) -> str:
        return f"QmfArray({list.__repr__(self)}, typecode={self.typecode})"

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Unmanaged:
    """An object embedded as a typecode-20 value: class, presence mask, properties, statistics
    (no timestamps, no object id)."""

    schema: ObjectClass
    properties: Mapping[str, Any]
    statistics: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.schema, ObjectClass):
            raise EncodeError("Unmanaged.schema must be an ObjectClass")


@dataclass(frozen=True, slots=True)
class Tagged:
    """A typecode-20 value whose inner type byte names another typecode."""

    typecode: int
    value: Any

    def __post_init__(self) -> None:
        if self.typecode not in TYPECODES or self.typecode == 20 or isinstance(self.typecode, bool):
            raise EncodeError(f"Tagged typecode {self.typecode!r} must be a QMF typecode other than 20")


def element_typecode(value: object) -> int:
    """The typecode Qpid's console picks for array elements (Session.ENCODINGS), from the first."""
    if isinstance(value, str):
        return 7
    if isinstance(value, int):  # bool included: the console writes booleans as uint64
        return 9
    if isinstance(value, float):
        return 13
    if isinstance(value, uuid.UUID):
        return 14
    if isinstance(value, Unmanaged):
        return 20
    if isinstance(value, list | tuple):
        return 21
    if isinstance(value, ObjectId):
        return 10
    if isinstance(value, Mapping):
        return 15
    raise EncodeError(f"no QMF array element typecode for a {type(value).__name__}")


def _type_error(tc: int, value: object, want: str) -> EncodeError:
    return EncodeError(f"typecode {tc} ({_NAMES.get(tc, '?')}) needs {want}, not {type(value).__name__} "
                       f"({value!r:.40})")


def write_qmf(buf: bytearray, tc: int, value: Any, style: MapStyle = MapStyle.DEFAULT, depth: int = 0) -> None:
    """Writes `value` laid out as QMF typecode `tc` (no type byte)."""
    writer = QMF_WRITERS.get(tc)
    if writer is None:
        raise EncodeError(f"{tc!r} is not a QMF typecode (1-4, 6-22)")
    writer(buf, value, style, depth)


QmfWriter = Callable[[bytearray, Any, MapStyle, int], None]


def _int_writer(tc: int) -> QmfWriter:
    st, lo, hi = _INTS[tc]
    pack = None if st is None else st.pack

    def write(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
        if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
            raise _type_error(tc, value, "an int")
        if not lo <= value <= hi:
            raise EncodeError(f"typecode {tc} ({_NAMES[tc]}) value {value} is out of range [{lo}, {hi}]")
        if pack is None:
            buf.append(value)
        else:
            buf += pack(value)
    return write


def _text_writer(tc: int) -> QmfWriter:
    put = put_str8 if tc == 6 else put_str16
    label = f"typecode {tc} ({_NAMES[tc]}) value"

    def write(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
        if not isinstance(value, str):
            raise _type_error(tc, value, "a str")
        put(buf, value, label)
    return write


def _float_writer(tc: int) -> QmfWriter:
    pack = (F32 if tc == 12 else F64).pack

    def write(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
        if type(value) is not float and (not isinstance(value, float | int) or isinstance(value, bool)):
            raise _type_error(tc, value, "a float")
        try:
            buf += pack(value)
        except OverflowError:
            raise EncodeError(f"typecode 12 (FLOAT) value {value!r} is too large for single precision") from None
    return write


def _w_bool(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if value is True:
        buf.append(1)
    elif value is False:
        buf.append(0)
    else:
        raise _type_error(11, value, "a bool")


def _w_ref(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if not isinstance(value, ObjectId):
        raise _type_error(10, value, "an ObjectId")
    buf += QQ.pack(value.first, value.second)


def _w_uuid(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if not isinstance(value, uuid.UUID):
        raise _type_error(14, value, "a uuid.UUID")
    buf += value.bytes


def _w_map(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if value is not None and type(value) is not dict and not isinstance(value, Mapping):
        raise _type_error(15, value, "a mapping or None")
    write_map(buf, value, style, depth + 1)


def _w_list(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if value is not None and not isinstance(value, list | tuple):
        raise _type_error(21, value, "a list, a tuple or None")
    write_list(buf, value, style, depth + 1)


def _write_array(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if not isinstance(value, list | tuple):
        raise _type_error(22, value, "a QmfArray, list or tuple")
    if depth > 100:
        raise EncodeError("typecode 22 arrays nested deeper than 100 levels")
    tc = value.typecode if isinstance(value, QmfArray) else (element_typecode(value[0]) if value else None)
    items = value
    if tc == 9 and not isinstance(value, QmfArray):
        items = [int(v) if isinstance(v, bool) else v for v in value]  # as the console writes them
    start = begin_sized(buf)
    buf += U32.pack(len(items))
    if tc is not None:
        buf.append(tc)
        for item in items:
            write_qmf(buf, tc, item, style, depth)
    end_sized(buf, start)


def _write_object(buf: bytearray, value: Any, style: MapStyle, depth: int) -> None:
    if depth > 100:
        raise EncodeError("typecode 20 objects nested deeper than 100 levels")
    if isinstance(value, Tagged):
        buf.append(value.typecode)
        write_qmf(buf, value.typecode, value.value, style, depth)
    elif isinstance(value, Unmanaged):
        buf.append(20)
        write_class_key(buf, value.schema.key)
        write_properties(buf, value.schema, value.properties, style, depth)
        write_statistics(buf, value.schema, value.statistics, style, depth)
    else:
        raise _type_error(20, value, "an Unmanaged object or a Tagged value")


QMF_WRITERS: dict[int, QmfWriter] = {
    **{tc: _int_writer(tc) for tc in _INTS},
    6: _text_writer(6), 7: _text_writer(7), 10: _w_ref, 11: _w_bool, 12: _float_writer(12),
    13: _float_writer(13), 14: _w_uuid, 15: _w_map, 21: _w_list,
    20: lambda buf, value, style, depth: _write_object(buf, value, style, depth + 1),
    22: lambda buf, value, style, depth: _write_array(buf, value, style, depth + 1),
}


def write_properties(buf: bytearray, schema: ObjectClass, values: Mapping[str, Any],
                     style: MapStyle = MapStyle.DEFAULT, depth: int = 0) -> None:
    """Presence mask (one bit per optional property, LSB first), then the present properties."""
    if type(values) is not dict and not isinstance(values, Mapping):
        raise EncodeError("properties must be a mapping of name to value")
    known = 0
    mask = bits = 0
    for p in schema.properties:
        if p.optional:
            if values.get(p.name) is not None:
                mask |= 1 << bits
            bits += 1
            if bits == 8:
                buf.append(mask)
                mask = bits = 0
    if bits:
        buf.append(mask)
    for p in schema.properties:
        v = values.get(p.name)
        if v is None:
            if not p.optional:
                raise EncodeError(f"class {schema.key.name!r} property {p.name!r} is mandatory")
            continue
        known += 1
        try:
            QMF_WRITERS[p.type](buf, v, style, depth)  # schema typecodes are checked when built
        except EncodeError as exc:
            raise EncodeError(f"property {p.name!r}: {exc.reason}") from None
    if known != sum(1 for v in values.values() if v is not None):
        extra = sorted(set(values) - {p.name for p in schema.properties})
        raise EncodeError(f"class {schema.key.name!r} has no properties {extra}")


def write_statistics(buf: bytearray, schema: ObjectClass, values: Mapping[str, Any],
                     style: MapStyle = MapStyle.DEFAULT, depth: int = 0) -> None:
    """Every statistic, in schema order; none is optional."""
    if type(values) is not dict and not isinstance(values, Mapping):
        raise EncodeError("statistics must be a mapping of name to value")
    for s in schema.statistics:
        if s.name not in values:
            raise EncodeError(f"class {schema.key.name!r} statistic {s.name!r} has no value")
        try:
            QMF_WRITERS[s.type](buf, values[s.name], style, depth)
        except EncodeError as exc:
            raise EncodeError(f"statistic {s.name!r}: {exc.reason}") from None
    if len(values) != len(schema.statistics):
        extra = sorted(set(values) - {s.name for s in schema.statistics})
        raise EncodeError(f"class {schema.key.name!r} has no statistics {extra}")


# -- reading --------------------------------------------------------------------------------------
def read_qmf(r: Reader, tc: int, lookup: SchemaLookup | None = None, what: str = "value") -> Any:
    """Reads one value laid out as QMF typecode `tc`."""
    reader = _QMF_READERS.get(tc)
    if reader is None:
        raise UnknownTypecode(f"{what} has unknown QMF typecode {tc}", opcode=r.opcode, offset=r.pos)
    return reader(r, lookup, what)


def _fixed_reader(st: Any) -> Callable[[Reader, Any, str], Any]:
    if st is None:
        return lambda r, lookup, what: r.u8(what)
    return lambda r, lookup, what: r._fixed(st, what)


def _read_bool(r: Reader, lookup: Any, what: str) -> bool:
    pos = r.pos
    b = r.u8(what)
    if b > 1:
        raise InvalidValue(f"{what}: BOOL byte is {b}; only 0 and 1 are booleans", opcode=r.opcode, offset=pos)
    return b == 1


def read_object_id(r: Reader, what: str = "object id") -> ObjectId:
    pos = r.pos
    if pos + 16 > r.end:
        raise r._short(16, what)
    r.pos = pos + 16
    return tuple.__new__(ObjectId, QQ.unpack_from(r.data, pos))  # two uint64s: valid by construction


_QMF_READERS: dict[int, Callable[[Reader, Any, str], Any]] = {
    **{tc: _fixed_reader(spec[0]) for tc, spec in _INTS.items()},
    6: lambda r, lookup, what: r.str8(what),
    7: lambda r, lookup, what: r.str16(what),
    10: lambda r, lookup, what: read_object_id(r, what),
    11: _read_bool,
    12: lambda r, lookup, what: r._fixed(F32, what),
    13: lambda r, lookup, what: r._fixed(F64, what),
    14: lambda r, lookup, what: r.uuid(what),
    15: lambda r, lookup, what: read_map(r, what, allow_none=True),
    21: lambda r, lookup, what: read_list(r, what, allow_none=True),
}  # 20 and 22 are added below their readers, called directly: each nesting level costs stack


_MIN_QMF_SIZE = {1: 1, 2: 2, 3: 4, 4: 8, 6: 1, 7: 2, 8: 8, 9: 8, 10: 16, 11: 1, 12: 4, 13: 8, 14: 16, 15: 4,
                 16: 1, 17: 2, 18: 4, 19: 8, 20: 1, 21: 4, 22: 4}


def _read_array(r: Reader, lookup: SchemaLookup | None, what: str) -> QmfArray:
    start = r.pos
    size = r.u32(what + " size")
    r.need(size, what)
    end = r.pos + size
    outer_end, r.end = r.end, end
    r.enter(what)
    count = r.u32(what + " count")
    if count == 0 and r.pos == end:
        result = QmfArray()
    else:
        tpos = r.pos
        tc = r.u8(what + " element typecode")
        if tc not in TYPECODES:
            raise UnknownTypecode(f"{what} has unknown QMF element typecode {tc}", opcode=r.opcode, offset=tpos)
        r.check_count(count, _MIN_QMF_SIZE[tc], what, start)
        result = QmfArray([read_qmf(r, tc, lookup, f"{what}[{i}]") for i in range(count)], typecode=tc)
    if r.pos != end:
        raise InvalidValue(f"{what} declares {size} bytes but its elements use {r.pos - start - 4}",
                           opcode=r.opcode, offset=start)
    r.leave()
    r.end = outer_end
    return result


def _read_object(r: Reader, lookup: SchemaLookup | None, what: str) -> Unmanaged | Tagged:
    r.enter(what)
    tpos = r.pos
    inner = r.u8(what + " inner typecode")
    if inner != 20:
        if inner not in TYPECODES:
            raise UnknownTypecode(f"{what} has unknown inner QMF typecode {inner}", opcode=r.opcode, offset=tpos)
        result: Unmanaged | Tagged = Tagged(inner, read_qmf(r, inner, lookup, what))
    else:
        kpos = r.pos
        key = read_class_key(r)
        schema = lookup(key) if lookup is not None else None
        if not isinstance(schema, ObjectClass):
            raise UnknownSchema(f"{what} is an object of class {key}, whose schema is not known", key=key,
                                opcode=r.opcode, offset=kpos)
        result = Unmanaged(schema, read_properties(r, schema, lookup), read_statistics(r, schema, lookup))
    r.leave()
    return result


_QMF_READERS.update({20: _read_object, 22: _read_array})


def read_properties(r: Reader, schema: ObjectClass, lookup: SchemaLookup | None = None) -> dict[str, Any]:
    optional = [p for p in schema.properties if p.optional]
    mpos = r.pos
    masks = r.raw((len(optional) + 7) // 8, "presence mask")
    if optional and masks[-1] >> (len(optional) - 8 * (len(masks) - 1)):
        raise InvalidValue(f"presence mask sets bits past the class's {len(optional)} optional properties",
                           opcode=r.opcode, offset=mpos + len(masks) - 1)
    values: dict[str, Any] = {}
    n = 0
    for p in schema.properties:
        if p.optional:
            present = masks[n >> 3] >> (n & 7) & 1
            n += 1
            if not present:
                continue
        values[p.name] = read_qmf(r, p.type, lookup, p.label)
    return values


def read_statistics(r: Reader, schema: ObjectClass, lookup: SchemaLookup | None = None) -> dict[str, Any]:
    found = schema.layouts.get("statistics") or layout(schema, "statistics", schema.statistics)
    return found.read(r, lookup)


# -- layouts: a schema's list of values, read in as few steps as possible --------------------------
_FIXED_FORMATS = {1: "B", 2: "H", 3: "I", 4: "Q", 8: "q", 9: "Q", 11: "B", 12: "f", 13: "d", 16: "b", 17: "h",
                  18: "i", 19: "q"}


class ValueLayout:
    """How a schema lays out a list of values (method arguments, event arguments, statistics).

    Consecutive fixed-width numbers are read with one struct, the rest value by value; the layout
    is worked out once per schema and kept in its `layouts`. Errors are the same as reading each
    value with `read_qmf`: a run that does not fit is re-read value by value to find where."""

    __slots__ = ("steps",)

    def __init__(self, items: Any) -> None:
        steps: list[tuple[Any, Any]] = []
        run: list[tuple[str, int, str, int]] = []
        fmt = ""
        for name, tc, label in items:
            if tc in _FIXED_FORMATS:
                run.append((name, tc, label, struct.calcsize(">" + fmt)))
                fmt += _FIXED_FORMATS[tc]
                continue
            if run:
                steps.append((struct.Struct(">" + fmt), tuple(run)))
                run, fmt = [], ""
            steps.append((None, (name, tc, label)))
        if run:
            steps.append((struct.Struct(">" + fmt), tuple(run)))
        self.steps = tuple(steps)

    def read(self, r: Reader, lookup: SchemaLookup | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for st, part in self.steps:
            if st is None:
                name, tc, label = part
                out[name] = read_qmf(r, tc, lookup, label)
                continue
            pos = r.pos
            if pos + st.size > r.end:
                for _name, tc, label, _ in part:  # raises Truncated at the value that does not fit
                    read_qmf(r, tc, lookup, label)
            r.pos = pos + st.size
            for (name, tc, label, offset), v in zip(part, st.unpack_from(r.data, pos), strict=True):
                if tc == 11:
                    if v > 1:
                        raise InvalidValue(f"{label}: BOOL byte is {v}; only 0 and 1 are booleans",
                                           opcode=r.opcode, offset=pos + offset)
                    v = v == 1
                out[name] = v
        return out


def layout(owner: Any, which: str, parts: Any) -> ValueLayout:
    """Builds and keeps the layout of `parts` (statistics or arguments) in `owner.layouts[which]`."""
    found = owner.layouts[which] = ValueLayout(tuple((p.name, p.type, p.label) for p in parts))
    return found
