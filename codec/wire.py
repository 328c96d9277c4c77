"""Fixed and length-prefixed primitives: a bounds-checked reader and a bytearray writer.

The reader never lets `struct.error`, `IndexError` or `UnicodeDecodeError` out: every read checks
the bytes left first and raises `Truncated` with the offset, and text is decoded strictly
(`InvalidText`). It also carries the limits and the current nesting depth, so the value decoders
can refuse a deep or huge value before they allocate anything for it.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from .errors import EncodeError, InvalidText, LimitExceeded, Truncated

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
I8 = struct.Struct(">b")
I16 = struct.Struct(">h")
I32 = struct.Struct(">i")
I64 = struct.Struct(">q")
F32 = struct.Struct(">f")
F64 = struct.Struct(">d")
QQ = struct.Struct(">QQ")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a decoder accepts. Each is checked before the memory for it is taken."""

    max_body: int = 16 * 1024 * 1024  # bytes in one AMQP message body
    max_depth: int = 32  # nesting of maps, lists, arrays and embedded objects
    max_entries: int = 1_000_000  # entries in one map, list or array; void/bit array elements in one body
    max_messages: int = 100_000  # QMF messages in one body

    def __post_init__(self) -> None:
        for name in ("max_body", "max_depth", "max_entries", "max_messages"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EncodeError(f"Limits.{name} must be a positive int, not {value!r}")
        if self.max_depth > 200:
            raise EncodeError("Limits.max_depth above 200 would let a peer exhaust the stack")


DEFAULT_LIMITS = Limits()


class Reader:
    """Reads big-endian fields from `data[pos:end]`; offsets in errors are relative to the body."""

    __slots__ = ("data", "depth", "end", "limits", "opcode", "pos", "weightless")

    def __init__(self, data: bytes, limits: Limits = DEFAULT_LIMITS, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.limits = limits
        self.opcode: str | None = None
        self.depth = 0
        self.weightless = limits.max_entries  # void/bit array elements the body may still declare

    # -- bounds --------------------------------------------------------------------------------
    def left(self) -> int:
        return self.end - self.pos

    def need(self, n: int, what: str) -> int:
        """Checks that `n` bytes are left and returns the current position."""
        pos = self.pos
        if pos + n > self.end:
            raise Truncated(f"{what} needs {n} bytes, {self.end - pos} left", opcode=self.opcode, offset=pos)
        return pos

    def enter(self, what: str) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise LimitExceeded(f"{what} nested deeper than {self.limits.max_depth} levels",
                                opcode=self.opcode, offset=self.pos)

    def leave(self) -> None:
        self.depth -= 1

    def check_count(self, count: int, min_size: int, what: str, offset: int) -> None:
        """Refuses a declared count above the limit or larger than the bytes left could hold.

        Elements of no bytes (void, bit) cost no input: those are counted for the whole body, so
        that a few bytes cannot declare millions of values again and again."""
        if count > self.limits.max_entries:
            raise LimitExceeded(f"{what} declares {count} entries, the limit is {self.limits.max_entries}",
                                opcode=self.opcode, offset=offset)
        if min_size == 0:
            self.weightless -= count
            if self.weightless < 0:
                raise LimitExceeded(f"{what} declares {count} more elements of no bytes; a body may declare "
                                    f"{self.limits.max_entries} in all", opcode=self.opcode, offset=offset)
        if count * min_size > self.end - self.pos:
            raise Truncated(f"{what} declares {count} entries but only {self.end - self.pos} bytes follow",
                            opcode=self.opcode, offset=offset)

    # -- fixed width ---------------------------------------------------------------------------
    def _fixed(self, st: struct.Struct, what: str) -> int:
        pos = self.pos
        end = pos + st.size
        if end > self.end:
            raise self._short(st.size, what)
        self.pos = end
        return st.unpack_from(self.data, pos)[0]

    def _short(self, n: int, what: str) -> Truncated:
        return Truncated(f"{what} needs {n} bytes, {self.end - self.pos} left", opcode=self.opcode, offset=self.pos)

    def u8(self, what: str = "uint8") -> int:
        pos = self.pos
        if pos >= self.end:
            raise self._short(1, what)
        self.pos = pos + 1
        return self.data[pos]

    def u16(self, what: str = "uint16") -> int:
        return self._fixed(U16, what)

    def u32(self, what: str = "uint32") -> int:
        return self._fixed(U32, what)

    def u64(self, what: str = "uint64") -> int:
        return self._fixed(U64, what)


    def f32(self, what: str = "float") -> float:
        return self._fixed(F32, what)


    def raw(self, n: int, what: str) -> bytes:
        pos = self.pos
        end = pos + n
        if end > self.end:
            raise self._short(n, what)
        self.pos = end
        return self.data[pos:end]

    def uuid(self, what: str = "uuid") -> uuid.UUID:
        return uuid.UUID(bytes=self.raw(16, what))

    # -- length-prefixed -----------------------------------------------------------------------
    def vbin16(self, what: str = "vbin16") -> bytes:
        return self.raw(self._fixed(U16, what + " length"), what)

    def text(self, raw: bytes, what: str, offset: int, encoding: str = "utf-8") -> str:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InvalidText(f"{what} is not valid {encoding}: {exc.reason} at byte {exc.start}",
                              opcode=self.opcode, offset=offset) from None

    def str8(self, what: str = "str8") -> str:
        data, pos = self.data, self.pos
        if pos >= self.end:
            raise self._short(1, what + " length")
        end = pos + 1 + data[pos]
        if end > self.end:
            self.pos = pos + 1
            raise self._short(data[pos], what)
        self.pos = end
        try:
            return data[pos + 1:end].decode()
        except UnicodeDecodeError:
            return self.text(data[pos + 1:end], what, pos)

    def str16(self, what: str = "str16") -> str:
        data, pos = self.data, self.pos
        if pos + 2 > self.end:
            raise self._short(2, what + " length")
        n = (data[pos] << 8) | data[pos + 1]
        end = pos + 2 + n
        if end > self.end:
            self.pos = pos + 2
            raise self._short(n, what)
        self.pos = end
        try:
            return data[pos + 2:end].decode()
        except UnicodeDecodeError:
            return self.text(data[pos + 2:end], what, pos)


# -- writing ------------------------------------------------------------------------------------
def utf8(text: str, what: str) -> bytes:
    """`text` in UTF-8; a lone surrogate, which has no UTF-8 form, is an EncodeError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{what} {text[:40]!r} cannot be written in UTF-8: {exc.reason}") from None


def put_str8(buf: bytearray, text: str, what: str = "str8") -> None:
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        raw = utf8(text, what)
    if len(raw) > 0xFF:
        raise EncodeError(f"{what} is {len(raw)} bytes of UTF-8; a str8 holds at most 255")
    buf.append(len(raw))
    buf += raw


def put_str16(buf: bytearray, text: str, what: str = "str16") -> None:
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        raw = utf8(text, what)
    if len(raw) > 0xFFFF:
        raise EncodeError(f"{what} is {len(raw)} bytes of UTF-8; a str16 holds at most 65535")
    buf += U16.pack(len(raw))
    buf += raw


def begin_sized(buf: bytearray) -> int:
    """Reserves a uint32 size field; `end_sized` fills it with the bytes written since."""
    buf += b"\0\0\0\0"
    return len(buf)


def end_sized(buf: bytearray, start: int) -> None:
    U32.pack_into(buf, start - 4, len(buf) - start)


def check_int(value: object, lo: int, hi: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{what} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise EncodeError(f"{what} {value} is out of range [{lo}, {hi}]")
    return value
