"""The codec's errors: one base class, two sides, a few precise kinds.

`EncodeError` means "you asked me to build or write something illegal" (a value out of range, a
string too long for its length prefix); it is raised before any byte exists. `DecodeError` means
"the peer sent something illegal". Every decode error carries the opcode of the message being
read (None while reading the header), the offset in the body where the problem was found and a
reason, plus the QMF codes a responder should send back: `status` for a method response ('m',
qmf-v1.md §5.3) and `code` for a command completion ('z', code 1 = failure). Nothing else ever
escapes the codec: struct, index, Unicode, recursion and memory errors are turned into these.
"""

from __future__ import annotations

# Method-response status codes (Manageable.h, qmf-v1.md §5.3).
STATUS_OK = 0
STATUS_UNKNOWN_OBJECT = 1
STATUS_UNKNOWN_METHOD = 2
STATUS_NOT_IMPLEMENTED = 3
STATUS_PARAMETER_INVALID = 4
STATUS_FEATURE_NOT_IMPLEMENTED = 5
STATUS_FORBIDDEN = 6
STATUS_EXCEPTION = 7
STATUS_USER = 0x10000

STATUS_TEXT = {
    STATUS_OK: "OK",
    STATUS_UNKNOWN_OBJECT: "UnknownObject",
    STATUS_UNKNOWN_METHOD: "UnknownMethod",
    STATUS_NOT_IMPLEMENTED: "NotImplemented",
    STATUS_PARAMETER_INVALID: "InvalidParameter",
    STATUS_FEATURE_NOT_IMPLEMENTED: "FeatureNotImplemented",
    STATUS_FORBIDDEN: "Forbidden",
    STATUS_EXCEPTION: "Exception",
}

# Command-completion codes ('z').
COMPLETE_OK = 0
COMPLETE_FAILED = 1


class CodecError(Exception):
    """Base of every error the codec raises."""

    status: int = STATUS_PARAMETER_INVALID
    code: int = COMPLETE_FAILED
    seq: int | None = None  # the sequence number of the message being read, once its header was read

    def __init__(self, reason: str, *, opcode: str | None = None, offset: int | None = None) -> None:
        self.reason = reason
        self.opcode = opcode
        self.offset = offset
        super().__init__(self._text())

    def within(self, what: str, item: str) -> CodecError:
        """Names the map entry or list item the error happened in: a reader labels values by
        their container only, and the container adds `[key]` here, on the (rare) error path."""
        if self.reason.startswith(what):
            self.reason = f"{what}{item}{self.reason[len(what):]}"
            self.args = (self._text(),)
        return self

    def _text(self) -> str:
        where = []
        if self.opcode is not None:
            where.append(f"opcode {self.opcode!r}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason


class EncodeError(CodecError, ValueError):
    """A message or value cannot be built or written as given (caught before any byte is sent)."""


class DecodeError(CodecError):
    """The bytes received are not a valid QMFv1 body."""


class BadMagic(DecodeError):
    """A message header does not start with 'AM2'."""


class Truncated(DecodeError):
    """A field (fixed or variable length) runs past the end of the body or its enclosing value."""


class InvalidText(DecodeError):
    """A string that must be text is not valid in its encoding (UTF-8, ISO-8859-15, UTF-16)."""


class UnknownOpcode(DecodeError):
    """The header's opcode letter is not one of QMFv1's."""

    status = STATUS_NOT_IMPLEMENTED


class UnknownTypecode(DecodeError):
    """A QMF typecode (schema) or AMQP 0-10 type code (map, list, array) that has no layout."""


class InvalidValue(DecodeError):
    """A field is well-framed but its value is illegal (a boolean byte of 2, a count that does not
    match the bytes, a duplicate map key, a schema record missing a required key)."""


class LimitExceeded(DecodeError):
    """The body, a nesting level or an entry count is larger than the configured limits allow."""


class UnknownSchema(DecodeError):
    """The message needs a class schema the caller's lookup does not have."""

    status = STATUS_UNKNOWN_OBJECT

    def __init__(self, reason: str, *, key: object = None, opcode: str | None = None,
                 offset: int | None = None) -> None:
        self.key = key
        super().__init__(reason, opcode=opcode, offset=offset)


class UnknownMethod(DecodeError):
    """A method request names a method its class does not have, or a method response answers a
    sequence number nobody is waiting for."""

    status = STATUS_UNKNOWN_METHOD
