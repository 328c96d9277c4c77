"""Python values for AMQP 0-10 typed fields (the values inside maps, lists and arrays).

Plain Python values encode by one rule (see `default_code`): None -> void, bool -> boolean,
int -> int64 (uint64 from 2**63), float -> double, str -> str16 (UTF-8), bytes -> vbin16 (vbin32
past 65535 bytes), dict -> map, list and tuple -> list, UUID -> uuid, `Array` -> array.

Every other AMQP type is a small subclass of the natural Python type (`Int32(5)` is an int that
encodes as int32), so a typed value works wherever a plain one does and compares equal to it.
Decoding is lossless: a field comes back as the plain value when the rule above would write it
with the same type code, and as the typed subclass otherwise, so re-encoding a decoded map gives
back the same bytes.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar


class _TypedInt(int):
    code: ClassVar[int]
    lo: ClassVar[int]
    hi: ClassVar[int]
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class Int8(_TypedInt):
    code, lo, hi = 0x01, -(2**7), 2**7 - 1


class UInt8(_TypedInt):
    code, lo, hi = 0x02, 0, 2**8 - 1


class Int16(_TypedInt):
    code, lo, hi = 0x11, -(2**15), 2**15 - 1


class UInt16(_TypedInt):
    code, lo, hi = 0x12, 0, 2**16 - 1


class Int32(_TypedInt):
    code, lo, hi = 0x21, -(2**31), 2**31 - 1


class UInt32(_TypedInt):
    code, lo, hi = 0x22, 0, 2**32 - 1


class Int64(_TypedInt):
    code, lo, hi = 0x31, -(2**63), 2**63 - 1


class UInt64(_TypedInt):
    code, lo, hi = 0x32, 0, 2**64 - 1


class Datetime(_TypedInt):
    """AMQP datetime (0x38): a uint64, seconds since the epoch in AMQP 0-10, kept as the raw number."""

    code, lo, hi = 0x38, 0, 2**64 - 1


class Float32(float):
    """IEEE-754 single precision (0x23); a plain float is written as a double."""

    code: ClassVar[int] = 0x23
    __slots__ = ()

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"


class Double(float):
    """An explicit double (0x33), the same as a plain float."""

    code: ClassVar[int] = 0x33
    __slots__ = ()


class Boolean(int):
    """An explicit boolean (0x08). A plain bool is one in every style but `MapStyle.ENGINE`, which
    writes bools as int32 (FieldTable::setInt); this stays a boolean there too. Holds 0 or 1."""

    code: ClassVar[int] = 0x08
    __slots__ = ()

    def __new__(cls, value: object = False) -> Boolean:
        return super().__new__(cls, bool(value))

    def __repr__(self) -> str:
        return f"Boolean({bool(self)})"


class _TypedStr(str):
    code: ClassVar[int]
    encoding: ClassVar[str]
    width: ClassVar[int]  # bytes of the length prefix
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class Str8(_TypedStr):
    code, encoding, width = 0x85, "utf-8", 1


class Str8Latin(_TypedStr):
    code, encoding, width = 0x84, "iso-8859-15", 1


class Str8Utf16(_TypedStr):
    code, encoding, width = 0x86, "utf-16-be", 1


class Str16(_TypedStr):
    """An explicit str16 (0x95), the same as a plain str."""

    code, encoding, width = 0x95, "utf-8", 2


class Str16Latin(_TypedStr):
    """str16 in ISO-8859-15 (0x94), the charset Qpid's Python codec uses for it."""

    code, encoding, width = 0x94, "iso-8859-15", 2


class Str16Utf16(_TypedStr):
    code, encoding, width = 0x96, "utf-16-be", 2


class Char(_TypedStr):
    """One ISO-8859-15 character (0x04)."""

    code, encoding, width = 0x04, "iso-8859-15", 0


class CharUtf32(_TypedStr):
    """One UTF-32 character (0x27)."""

    code, encoding, width = 0x27, "utf-32-be", 0


class _TypedBytes(bytes):
    code: ClassVar[int]
    width: ClassVar[int]  # bytes of the length prefix (variable sizes)
    size: ClassVar[int]  # exact length (fixed sizes), or -1
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({bytes(self)!r})"


def _fixed(name: str, code: int, size: int, doc: str) -> type[_TypedBytes]:
    return type(name, (_TypedBytes,), {"code": code, "width": 0, "size": size, "__slots__": (), "__doc__": doc})


def _variable(name: str, code: int, width: int, doc: str) -> type[_TypedBytes]:
    return type(name, (_TypedBytes,), {"code": code, "width": width, "size": -1, "__slots__": (), "__doc__": doc})


Bin8 = _fixed("Bin8", 0x00, 1, "1 opaque byte (0x00).")
Bin16 = _fixed("Bin16", 0x10, 2, "2 opaque bytes (0x10).")
Bin32 = _fixed("Bin32", 0x20, 4, "4 opaque bytes (0x20).")
Bin40 = _fixed("Bin40", 0xC0, 5, "5 opaque bytes (0xc0).")
Dec32 = _fixed("Dec32", 0xC8, 5, "decimal32 (0xc8): exponent octet + int32, kept as its 5 bytes.")
Bin64 = _fixed("Bin64", 0x30, 8, "8 opaque bytes (0x30).")
Bin72 = _fixed("Bin72", 0xD0, 9, "9 opaque bytes (0xd0).")
Dec64 = _fixed("Dec64", 0xD8, 9, "decimal64 (0xd8): exponent octet + int64, kept as its 9 bytes.")
Bin128 = _fixed("Bin128", 0x40, 16, "16 opaque bytes (0x40).")
Bin256 = _fixed("Bin256", 0x50, 32, "32 opaque bytes (0x50).")
Bin512 = _fixed("Bin512", 0x60, 64, "64 opaque bytes (0x60).")
Bin1024 = _fixed("Bin1024", 0x70, 128, "128 opaque bytes (0x70).")
VBin8 = _variable("VBin8", 0x80, 1, "bytes with a uint8 length (0x80).")
VBin16 = _variable("VBin16", 0x90, 2, "An explicit vbin16 (0x90), the same as short plain bytes.")
VBin32 = _variable("VBin32", 0xA0, 4, "bytes with a uint32 length (0xa0).")
Struct32 = _variable("Struct32", 0xAB, 4, "An AMQP struct32 (0xab), kept as the bytes after its size.")


class Void:
    """Nothing; `None` is the way to write void (0xf0). Kept only for the type table."""


class Bit:
    """AMQP bit (0xf1): a type with no value bytes. Decodes to the singleton `BIT`."""

    code: ClassVar[int] = 0xF1
    __slots__ = ()
    _instance: ClassVar[Bit | None] = None

    def __new__(cls) -> Bit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "BIT"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Bit, ())


BIT = Bit()


class Array(list):
    """An AMQP 0-10 array (0xaa): one element type code for all items, no per-item type byte."""

    __slots__ = ("type",)

    def __init__(self, type: int, items: Any = ()) -> None:
        super().__init__(items)
        self.type = type

    def __repr__(self) -> str:
        return f"Array(0x{self.type:02x}, {list.__repr__(self)})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Array) and other.type != self.type:
            return False
        return list.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


TYPED_CLASSES: tuple[type, ...] = (
    Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Datetime, Float32, Double,
    Str8, Str8Latin, Str8Utf16, Str16, Str16Latin, Str16Utf16, Char, CharUtf32,
    Bin8, Bin16, Bin32, Bin40, Dec32, Bin64, Bin72, Dec64, Bin128, Bin256, Bin512, Bin1024,
    VBin8, VBin16, VBin32, Struct32,
)
CLASS_BY_CODE: dict[int, type] = {cls.code: cls for cls in TYPED_CLASSES}  # type: ignore[attr-defined]

UUID = uuid.UUID
