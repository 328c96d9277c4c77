"""AMQP 0-10 maps, lists and arrays as QMFv1 carries them (qmf-v1.md §3.2).

Encoding picks each value's type code by a `MapStyle`:

- `DEFAULT`, this codec's rule (see `codec.amqptypes`): keys in insertion order, int -> int64,
  str -> str16, bytes -> vbin16. Decoding is its exact inverse, so decode then encode gives back
  the bytes of any map, whoever wrote it.
- `PYTHON`, Qpid's Python console (`codec010.write_map`): keys in CPython 2.7's dict order, int
  -> int64, str and bytes -> str16 when all bytes are ASCII, else vbin16.
- `CPP`, the C++ broker (`amqp_0_10::MapCodec` over a Variant::Map): keys sorted bytewise, int ->
  int32 when it fits, else int64, str and bytes -> vbin16 (vbin32 past 65535 bytes).
- `ENGINE`, the qmf engine (`framing::FieldTable` setString/setInt): keys sorted, int and bool ->
  int32 when it fits, str -> str16.

A typed value (`Int32(5)`, `VBin32(b"..")`) keeps its own code in every style. A value a style's
writer could not write (an int past int64 for the Python console) follows the default rule.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from . import amqptypes as t
from .errors import DecodeError, EncodeError, InvalidValue, UnknownTypecode
from .py27order import py27_dict_order
from .wire import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
    Reader,
    begin_sized,
    check_int,
    end_sized,
    utf8,
)

ENCODE_MAX_DEPTH = 100
_SIZE_COUNT = struct.Struct(">II")


class MapStyle(enum.Enum):
    """Which writer's typing and key order maps follow (see the module doc)."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is a Python call per lookup

    DEFAULT = "default"
    PYTHON = "python"
    CPP = "cpp"
    ENGINE = "engine"


_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)


def code_for(value: object, style: MapStyle = MapStyle.DEFAULT) -> int:
    """The AMQP type code `value` is written with in maps and lists of `style`."""
    cls = type(value)
    code = _EXACT_CODES[style].get(cls)
    if code is not None:
        return code
    if cls is int and style is not MapStyle.CPP and style is not MapStyle.ENGINE and _INT64[0] <= value <= _INT64[1]:
        return 0x31
    code = getattr(cls, "code", None)
    if code is not None and cls is not bool:
        return code
    if value is None:
        return 0xF0
    if cls is bool:
        return 0x21 if style is MapStyle.ENGINE else 0x08
    if isinstance(value, int):
        if style in (MapStyle.CPP, MapStyle.ENGINE) and _INT32[0] <= value <= _INT32[1]:
            return 0x21
        if _INT64[0] <= value <= _INT64[1]:
            return 0x31
        if 0 <= value < 2**64:
            return 0x32
        raise EncodeError(f"int {value} does not fit in 64 bits")
    if isinstance(value, float):
        return 0x33
    if isinstance(value, str):
        if style is MapStyle.CPP:
            return 0x90 if len(value) <= 0x3FFF or len(value.encode()) <= 0xFFFF else 0xA0
        if style is MapStyle.PYTHON and not value.isascii():
            return 0x90
        return 0x95
    if isinstance(value, bytes | bytearray | memoryview):
        if style is MapStyle.PYTHON and bytes(value).isascii():
            return 0x95
        return 0x90 if len(value) <= 0xFFFF else 0xA0
    if isinstance(value, uuid.UUID):
        return 0x48
    if isinstance(value, Mapping):
        return 0xA8
    if isinstance(value, t.Array):
        return 0xAA
    if isinstance(value, list | tuple):
        return 0xA9
    if isinstance(value, t.Bit):
        return 0xF1
    raise EncodeError(f"no AMQP 0-10 type for a {cls.__name__} value ({value!r:.60})")


def _exact_codes(style: MapStyle) -> dict[type, int]:
    """Type codes decided by a value's exact type alone, for `code_for`'s first look."""
    codes: dict[type, int] = {cls: cls.code for cls in t.TYPED_CLASSES}  # type: ignore[attr-defined]
    codes.update({type(None): 0xF0, float: 0x33, dict: 0xA8, list: 0xA9, tuple: 0xA9, uuid.UUID: 0x48,
                  t.Array: 0xAA, t.Bit: 0xF1, t.Boolean: 0x08, bool: 0x21 if style is MapStyle.ENGINE else 0x08})
    if style in (MapStyle.DEFAULT, MapStyle.ENGINE):
        codes[str] = 0x95
    return codes


_EXACT_CODES = {style: _exact_codes(style) for style in MapStyle}


# -- encoding -------------------------------------------------------------------------------------
_INT_STRUCTS = {0x01: I8, 0x02: None, 0x11: I16, 0x12: U16, 0x21: I32, 0x22: U32, 0x31: I64,
                0x32: U64, 0x38: U64}
_INT_RANGES = {0x01: t.Int8, 0x02: t.UInt8, 0x11: t.Int16, 0x12: t.UInt16, 0x21: t.Int32,
               0x22: t.UInt32, 0x31: t.Int64, 0x32: t.UInt64, 0x38: t.Datetime}
_STR_CLASSES = {cls.code: cls for cls in t.TYPED_CLASSES if issubclass(cls, t._TypedStr)}
_BYTES_CLASSES = {cls.code: cls for cls in t.TYPED_CLASSES if issubclass(cls, t._TypedBytes)}


def write_value(buf: bytearray, code: int, value: Any, style: MapStyle, depth: int = 0) -> None:
    """Writes `value` as AMQP type `code` (no type byte)."""
    if code in _INT_RANGES:
        rng = _INT_RANGES[code]
        if type(value) is not int or not rng.lo <= value <= rng.hi:
            if isinstance(value, bool):  # MapStyle.ENGINE writes booleans as int32 (FieldTable::setInt)
                value = int(value)
            check_int(int(value) if isinstance(value, t._TypedInt) else value, rng.lo, rng.hi,
                      f"AMQP 0x{code:02x} value")
        st = _INT_STRUCTS[code]
        if st is None:
            buf.append(value)
        else:
            buf += st.pack(value)
    elif code == 0x95 or code in _STR_CLASSES:
        cls = _STR_CLASSES.get(code, t.Str16)
        if not isinstance(value, str):
            if code == 0x95 and isinstance(value, bytes | bytearray | memoryview):
                value = _ascii_or_fail(bytes(value))
            else:
                raise EncodeError(f"AMQP 0x{code:02x} needs a str, not {type(value).__name__}")
        try:
            raw = value.encode(cls.encoding)
        except UnicodeEncodeError as exc:
            raise EncodeError(f"{value!r:.40} cannot be written in {cls.encoding}: {exc.reason}") from None
        if cls.width == 0:
            if len(value) != 1:
                raise EncodeError(f"AMQP 0x{code:02x} holds exactly one character, not {len(value)}")
            buf += raw
        else:
            _put_len(buf, len(raw), cls.width, code)
            buf += raw
    elif code in _BYTES_CLASSES:
        cls = _BYTES_CLASSES[code]
        if isinstance(value, str) and code in (0x90, 0xA0):
            value = utf8(value, f"AMQP 0x{code:02x} value")
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncodeError(f"AMQP 0x{code:02x} needs bytes, not {type(value).__name__}")
        if cls.size >= 0:
            if len(value) != cls.size:
                raise EncodeError(f"AMQP 0x{code:02x} holds exactly {cls.size} bytes, not {len(value)}")
        else:
            _put_len(buf, len(value), cls.width, code)
        buf += value
    elif code == 0x08:
        if not isinstance(value, bool | t.Boolean):
            raise EncodeError(f"AMQP boolean needs a bool, not {type(value).__name__}")
        buf.append(1 if value else 0)
    elif code == 0x33 or code == 0x23:
        if not isinstance(value, float | int) or isinstance(value, bool):
            raise EncodeError(f"AMQP 0x{code:02x} needs a float, not {type(value).__name__}")
        try:
            buf += (F64 if code == 0x33 else F32).pack(value)
        except OverflowError:
            raise EncodeError(f"{value!r} is too large for a single-precision float") from None
    elif code == 0x48:
        if not isinstance(value, uuid.UUID):
            raise EncodeError(f"AMQP uuid needs a uuid.UUID, not {type(value).__name__}")
        buf += value.bytes
    elif code == 0xA8:
        write_map(buf, value, style, depth + 1)
    elif code == 0xA9:
        write_list(buf, value, style, depth + 1)
    elif code == 0xAA:
        write_array(buf, value, style, depth + 1)
    elif code == 0xF0:
        if value is not None:
            raise EncodeError(f"AMQP void holds only None, not {value!r:.40}")
    elif code == 0xF1:
        if not isinstance(value, t.Bit):
            raise EncodeError("AMQP bit holds only BIT")
    else:
        raise EncodeError(f"no AMQP 0-10 type code 0x{code:02x}")


def _ascii_or_fail(raw: bytes) -> str:
    if not raw.isascii():
        raise EncodeError("bytes written as str16 must be ASCII (Qpid's Python console rule)")
    return raw.decode("ascii")


def _put_len(buf: bytearray, n: int, width: int, code: int) -> None:
    if n >= 1 << (8 * width):
        raise EncodeError(f"AMQP 0x{code:02x} value is {n} bytes; its {8 * width}-bit length cannot say so")
    buf += n.to_bytes(width, "big")


def _check_depth(depth: int) -> None:
    if depth > ENCODE_MAX_DEPTH:
        raise EncodeError(f"value nested deeper than {ENCODE_MAX_DEPTH} levels (a cycle?)")


def ordered_keys(keys: list[str], style: MapStyle) -> list[str]:
    if style is MapStyle.DEFAULT:
        return keys
    if style is MapStyle.PYTHON:
        return py27_dict_order(keys)  # type: ignore[return-value]
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def write_map(buf: bytearray, value: Mapping[str, Any] | None, style: MapStyle = MapStyle.DEFAULT,
              depth: int = 0) -> None:
    """size (uint32), count (uint32), then key str8, type code, value per entry.

    `None` is written as an empty size (`00000000`), as codec010 does; only a QMF typecode-15
    value may be None, a None inside a map is void."""
    _check_depth(depth)
    if value is None:
        buf += b"\0\0\0\0"
        return
    if type(value) is not dict and not isinstance(value, Mapping):
        raise EncodeError(f"an AMQP map needs a mapping, not {type(value).__name__}")
    start = begin_sized(buf)
    buf += U32.pack(len(value))
    for key in (value if style is MapStyle.DEFAULT else ordered_keys(list(value), style)):
        if type(key) is not str and not isinstance(key, str):
            raise EncodeError(f"map keys must be str, not {type(key).__name__} ({key!r:.40})")
        try:
            raw = key.encode()
        except UnicodeEncodeError:
            raw = utf8(key, "map key")
        if len(raw) > 0xFF:
            raise EncodeError(f"map key {key[:40]!r}... is {len(raw)} bytes; a str8 key holds at most 255")
        buf.append(len(raw))
        buf += raw
        write_field(buf, value[key], style, depth)
    end_sized(buf, start)


def write_field(buf: bytearray, item: Any, style: MapStyle = MapStyle.DEFAULT, depth: int = 0) -> None:
    """A type code and a value, as map entries and list items carry them."""
    plain = _PLAIN_FIELDS.get(type(item)) if style is MapStyle.DEFAULT else None
    if plain is not None and plain(buf, item):
        return
    code = code_for(item, style)
    buf.append(code)
    write_value(buf, code, item, style, depth)


def _plain_int(buf: bytearray, item: int) -> bool:
    if not _INT64[0] <= item <= _INT64[1]:
        return False  # uint64 or too large: code_for decides
    buf.append(0x31)
    buf += I64.pack(item)
    return True


def _plain_str(buf: bytearray, item: str) -> bool:
    try:
        raw = item.encode()
    except UnicodeEncodeError:
        return False  # write_value names the problem
    if len(raw) > 0xFFFF:
        return False
    buf.append(0x95)
    buf += U16.pack(len(raw))
    buf += raw
    return True


def _plain_float(buf: bytearray, item: float) -> bool:
    buf.append(0x33)
    buf += F64.pack(item)
    return True


def _plain_bool(buf: bytearray, item: bool) -> bool:
    buf.append(0x08)
    buf.append(1 if item else 0)
    return True


def _plain_none(buf: bytearray, item: None) -> bool:
    buf.append(0xF0)
    return True


# The default rule for the exact built-in types, written in one step (anything else: code_for).
_PLAIN_FIELDS: dict[type, Callable[[bytearray, Any], bool]] = {
    int: _plain_int, str: _plain_str, float: _plain_float, bool: _plain_bool, type(None): _plain_none,
}


def write_list(buf: bytearray, value: list[Any] | tuple[Any, ...] | None, style: MapStyle = MapStyle.DEFAULT,
               depth: int = 0) -> None:
    """size, count, then a type code and a value per item. None is written as `00000000`."""
    _check_depth(depth)
    if value is None:
        buf += b"\0\0\0\0"
        return
    if not isinstance(value, list | tuple):
        raise EncodeError(f"an AMQP list needs a list or tuple, not {type(value).__name__}")
    start = begin_sized(buf)
    buf += U32.pack(len(value))
    for item in value:
        write_field(buf, item, style, depth)
    end_sized(buf, start)


def write_array(buf: bytearray, value: t.Array, style: MapStyle = MapStyle.DEFAULT, depth: int = 0) -> None:
    """size, element type code, count, then the values with no per-item type byte."""
    _check_depth(depth)
    if not isinstance(value, t.Array):
        raise EncodeError(f"an AMQP array needs an Array, not {type(value).__name__}")
    check_int(value.type, 0, 0xFF, "array element type code")
    if value.type not in _FIXED_READ and value.type not in _KNOWN_CODES:  # checked even with no elements
        raise EncodeError(f"no AMQP 0-10 type code 0x{value.type:02x} for array elements")
    start = begin_sized(buf)
    buf.append(value.type)
    buf += U32.pack(len(value))
    for item in value:
        write_value(buf, value.type, item, style, depth)
    end_sized(buf, start)


# -- decoding -------------------------------------------------------------------------------------
_FIXED_READ = {0x01: I8, 0x11: I16, 0x12: U16, 0x21: I32, 0x22: U32, 0x31: I64, 0x32: U64, 0x38: U64}


def read_value(r: Reader, code: int, what: str = "value") -> Any:
    """Reads one AMQP value of type `code`, lossless (see the module doc of `codec.amqptypes`)."""
    if code == 0x95:  # the commonest first: str16, int64, double
        return r.str16(what)
    if code == 0x31:
        return r._fixed(I64, what)
    if code == 0x33:
        return r._fixed(F64, what)
    st = _FIXED_READ.get(code)
    if st is not None:
        v = r._fixed(st, what)
        if code == 0x31:
            return v
        if code == 0x32 and v > _INT64[1]:
            return v
        return _INT_RANGES[code](v)
    if code == 0x90:
        return r.vbin16(what)
    if code == 0x08:
        pos = r.pos
        b = r.u8(what)
        if b > 1:
            raise InvalidValue(f"boolean byte is {b}; only 0 and 1 are booleans", opcode=r.opcode, offset=pos)
        return b == 1
    if code == 0x02:
        return t.UInt8(r.u8(what))
    if code == 0x23:
        return t.Float32(r.f32(what))
    if code == 0xA8:
        return read_map(r, what)
    if code == 0xA9:
        return read_list(r, what)
    if code == 0xAA:
        return read_array(r, what)
    if code == 0x48:
        return r.uuid(what)
    if code == 0xF0:
        return None
    if code == 0xF1:
        return t.BIT
    cls = _STR_CLASSES.get(code)
    if cls is not None:
        start = r.pos
        if cls.width == 0:
            raw = r.raw(1 if code == 0x04 else 4, what)
        else:
            raw = r.raw(r._fixed(U16, what + " length") if cls.width == 2 else r.u8(what + " length"), what)
        return cls(r.text(raw, what, start, cls.encoding))
    bcls = _BYTES_CLASSES.get(code)
    if bcls is not None:
        if bcls.size >= 0:
            return bcls(r.raw(bcls.size, what))
        raw = r.raw(int.from_bytes(r.raw(bcls.width, what + " length"), "big"), what)
        if code == 0xA0 and len(raw) > 0xFFFF:
            return raw
        return bcls(raw)
    raise UnknownTypecode(f"{what} has unknown AMQP 0-10 type code 0x{code:02x}", opcode=r.opcode,
                          offset=r.pos - 1)


def _sized(r: Reader, what: str) -> tuple[int, int, int]:
    """Reads a uint32 size and count; returns (start offset, end of the value, count)."""
    start = r.pos
    if start + 8 <= r.end:  # both fields at once when the value fits; else field by field, for the error
        size, count = _SIZE_COUNT.unpack_from(r.data, start)
        if size >= 4 and start + 4 + size <= r.end:
            r.pos = start + 8
            return start, start + 4 + size, count
    size = r.u32(what + " size")
    if size < 4:
        raise InvalidValue(f"{what} size {size} cannot hold its 4-byte count", opcode=r.opcode, offset=start)
    r.need(size, what)
    end = r.pos + size
    count = r.u32(what + " count")
    return start, end, count


def _close(r: Reader, end: int, outer_end: int, what: str, start: int) -> None:
    if r.pos != end:
        raise InvalidValue(f"{what} declares {end - start - 4} bytes but its entries use {r.pos - start - 4}",
                           opcode=r.opcode, offset=start)
    r.end = outer_end


def read_map(r: Reader, what: str = "map", allow_none: bool = False) -> dict[str, Any] | None:
    if allow_none and r.left() >= 4 and r.data[r.pos:r.pos + 4] == b"\0\0\0\0":
        r.pos += 4
        return None
    r.enter(what)
    start, end, count = _sized(r, what)
    outer_end, r.end = r.end, end
    r.check_count(count, 2, what, start)
    result: dict[str, Any] = {}
    data = r.data
    for _ in range(count):
        kpos = r.pos
        kend = kpos + 1 + data[kpos] if kpos < end else end
        try:
            if kend >= end:
                raise IndexError
            key = data[kpos + 1:kend].decode()
            code = data[kend]
            r.pos = kend + 1
        except (IndexError, UnicodeDecodeError):  # read again, field by field, for the precise error
            r.str8(what + " key")
            r.u8(what + " type code")
            raise InvalidValue(f"{what} entry runs past the map", opcode=r.opcode, offset=kpos) from None
        if key in result:
            raise InvalidValue(f"{what} has the key {key!r} twice", opcode=r.opcode, offset=kpos)
        try:
            result[key] = read_value(r, code, what)
        except DecodeError as exc:
            raise exc.within(what, f"[{key!r}]") from None
    _close(r, end, outer_end, what, start)
    r.leave()
    return result


def read_list(r: Reader, what: str = "list", allow_none: bool = False) -> list[Any] | None:
    if allow_none and r.left() >= 4 and r.data[r.pos:r.pos + 4] == b"\0\0\0\0":
        r.pos += 4
        return None
    r.enter(what)
    start, end, count = _sized(r, what)
    outer_end, r.end = r.end, end
    r.check_count(count, 1, what, start)
    result = []
    code_label = what + " type code"
    for i in range(count):
        code = r.u8(code_label)
        try:
            result.append(read_value(r, code, what))
        except DecodeError as exc:
            raise exc.within(what, f"[{i}]") from None
    _close(r, end, outer_end, what, start)
    r.leave()
    return result


def read_array(r: Reader, what: str = "array") -> t.Array:
    r.enter(what)
    start = r.pos
    size = r.u32(what + " size")
    if size < 5:
        raise InvalidValue(f"{what} size {size} cannot hold its type code and count", opcode=r.opcode,
                           offset=start)
    r.need(size, what)
    end = r.pos + size
    outer_end, r.end = r.end, end
    code = r.u8(what + " element type")
    count = r.u32(what + " count")
    if code not in _FIXED_READ and code not in _KNOWN_CODES:
        raise UnknownTypecode(f"{what} has unknown AMQP 0-10 element type 0x{code:02x}", opcode=r.opcode,
                              offset=start + 4)
    r.check_count(count, _MIN_SIZE.get(code, 0), what, start)
    items = t.Array(code)
    for i in range(count):
        try:
            items.append(read_value(r, code, what))
        except DecodeError as exc:
            raise exc.within(what, f"[{i}]") from None
    _close(r, end, outer_end, what, start)
    r.leave()
    return items


_KNOWN_CODES = frozenset([0x02, 0x08, 0x23, 0x33, 0x48, 0x90, 0x95, 0xA8, 0xA9, 0xAA, 0xF0, 0xF1]) | frozenset(
    _STR_CLASSES) | frozenset(_BYTES_CLASSES)
_MIN_SIZE = {**{c: s.size for c, s in _FIXED_READ.items()}, 0x02: 1, 0x08: 1, 0x23: 4, 0x33: 8, 0x48: 16,
             0x90: 2, 0x95: 2, 0xA8: 8, 0xA9: 8, 0xAA: 9, 0xF0: 0, 0xF1: 0,
             **{c: max(cls.width, 1) for c, cls in _STR_CLASSES.items()},
             **{c: cls.size if cls.size >= 0 else cls.width for c, cls in _BYTES_CLASSES.items()}}
