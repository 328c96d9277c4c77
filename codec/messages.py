"""The twenty QMFv1 messages, one frozen type per opcode (qmf-v1.md §2).

Each type checks its fields when built, so an invalid message cannot exist: a sequence number
outside uint32, a string too long for its str8, a method the class does not have, an argument of
the wrong type. Messages whose values are laid out by a schema (M, m, c, i, g, e) carry the
schema itself and write their values once, when built; the encoder reuses those bytes, and a
decoded message keeps the bytes it was read from, so forwarding one costs no re-encoding.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .amqp import MapStyle, write_map
from .errors import EncodeError
from .objectid import ObjectId
from .schema import STYLED_TYPECODES, ClassKey, ClassKind, EventClass, ObjectClass, Schema, SchemaMethod
from .values import QMF_WRITERS, write_properties, write_statistics
from .wire import check_int, utf8

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


def _seq(obj: Any) -> None:
    seq = obj.seq
    if type(seq) is not int or not 0 <= seq <= U32_MAX:  # the label is built only for the error
        check_int(seq, 0, U32_MAX, f"{type(obj).__name__}.seq")


def _str8(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"{what} must be a str, not {type(value).__name__}")
    if len(utf8(value, what)) > 255:
        raise EncodeError(f"{what} is longer than a str8 (255 bytes of UTF-8)")


def _uuid(value: object, what: str) -> None:
    if not isinstance(value, uuid.UUID):
        raise EncodeError(f"{what} must be a uuid.UUID, not {type(value).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Fields every message has: the sequence number from its header."""

    seq: int = 0
    opcode: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _seq(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerRequest(Message):
    """'B': a console asks the broker role who it is."""

    opcode: ClassVar[str] = "B"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerResponse(Message):
    """'b': the broker role's id, stable across its restarts."""

    broker_id: uuid.UUID
    opcode: ClassVar[str] = "b"

    def __post_init__(self) -> None:
        _seq(self)
        _uuid(self.broker_id, "BrokerResponse.broker_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageQuery(Message):
    """'P': which packages are known?"""

    opcode: ClassVar[str] = "P"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageIndication(Message):
    """'p': one package name (a reply to P, or a broadcast on schema.package)."""

    package: str
    opcode: ClassVar[str] = "p"

    def __post_init__(self) -> None:
        _seq(self)
        _str8(self.package, "PackageIndication.package")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassQuery(Message):
    """'Q': which classes does a package have?"""

    package: str
    opcode: ClassVar[str] = "Q"

    def __post_init__(self) -> None:
        _seq(self)
        _str8(self.package, "ClassQuery.package")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassIndication(Message):
    """'q': one class key and its kind."""

    kind: ClassKind
    key: ClassKey
    opcode: ClassVar[str] = "q"

    def __post_init__(self) -> None:
        _seq(self)
        if self.kind not in (1, 2) or isinstance(self.kind, bool):
            raise EncodeError(f"ClassIndication.kind {self.kind!r} is neither 1 (object) nor 2 (event)")
        object.__setattr__(self, "kind", ClassKind(self.kind))
        if not isinstance(self.key, ClassKey):
            raise EncodeError("ClassIndication.key must be a ClassKey")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaRequest(Message):
    """'S': send me the schema of this class."""

    key: ClassKey
    opcode: ClassVar[str] = "S"

    def __post_init__(self) -> None:
        _seq(self)
        if not isinstance(self.key, ClassKey):
            raise EncodeError("SchemaRequest.key must be a ClassKey")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaResponse(Message):
    """'s': a whole class schema."""

    schema: Schema
    opcode: ClassVar[str] = "s"

    def __post_init__(self) -> None:
        _seq(self)
        if not isinstance(self.schema, ObjectClass | EventClass):
            raise EncodeError("SchemaResponse.schema must be an ObjectClass or an EventClass")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandComplete(Message):
    """'z': the end of a reply, with a code (0 = OK) and a text."""

    code: int = 0
    text: str = "OK"
    opcode: ClassVar[str] = "z"

    def __post_init__(self) -> None:
        _seq(self)
        check_int(self.code, 0, U32_MAX, "CommandComplete.code")
        _str8(self.text, "CommandComplete.text")


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    """'h': an agent is alive; nanoseconds since the epoch."""

    timestamp: int
    opcode: ClassVar[str] = "h"

    def __post_init__(self) -> None:
        _seq(self)
        check_int(self.timestamp, 0, U64_MAX, "Heartbeat.timestamp")


@dataclass(frozen=True, slots=True, kw_only=True)
class GetQuery(Message):
    """'G': a query map (`_class`, `_package`, `_objectid`, §6.1)."""

    query: Mapping[str, Any]
    opcode: ClassVar[str] = "G"

    def __post_init__(self) -> None:
        _seq(self)
        if not isinstance(self.query, Mapping):
            raise EncodeError("GetQuery.query must be a mapping")
        write_map(bytearray(), self.query, MapStyle.DEFAULT)  # validation is a dry-run write of a small map


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAttachRequest(Message):
    """'A': an agent asks the broker role for its banks (agent bank 0 = assign one)."""

    label: str
    system_id: uuid.UUID
    broker_bank: int = 0
    agent_bank: int = 0
    opcode: ClassVar[str] = "A"

    def __post_init__(self) -> None:
        _seq(self)
        _str8(self.label, "AgentAttachRequest.label")
        _uuid(self.system_id, "AgentAttachRequest.system_id")
        check_int(self.broker_bank, 0, U32_MAX, "AgentAttachRequest.broker_bank")
        check_int(self.agent_bank, 0, U32_MAX, "AgentAttachRequest.agent_bank")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAttachResponse(Message):
    """'a': the banks the broker role assigned."""

    broker_bank: int
    agent_bank: int
    opcode: ClassVar[str] = "a"

    def __post_init__(self) -> None:
        _seq(self)
        check_int(self.broker_bank, 0, U32_MAX, "AgentAttachResponse.broker_bank")
        check_int(self.agent_bank, 0, U32_MAX, "AgentAttachResponse.agent_bank")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleAddedIndication(Message):
    """'x': a console appeared; the agent re-publishes everything."""

    opcode: ClassVar[str] = "x"


# -- messages with schema-typed values ------------------------------------------------------------
def _styled(typecodes: Any) -> bool:
    return any(tc in STYLED_TYPECODES for tc in typecodes)


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodRequest(Message):
    """'M': call `method` of the object `object_id`, with every in-argument by name."""

    object_id: ObjectId
    schema: ObjectClass
    method: str
    args: Mapping[str, Any]
    payload: bytes = field(init=False, repr=False, compare=False)
    opcode: ClassVar[str] = "M"

    def __post_init__(self) -> None:
        _seq(self)
        if not isinstance(self.object_id, ObjectId):
            raise EncodeError("MethodRequest.object_id must be an ObjectId")
        if not isinstance(self.schema, ObjectClass):
            raise EncodeError("MethodRequest.schema must be an ObjectClass")
        object.__setattr__(self, "payload", bytes(self.write_args(MapStyle.DEFAULT)))

    @property
    def key(self) -> ClassKey:
        return self.schema.key

    def schema_method(self) -> SchemaMethod:
        m = self.schema.method(self.method) if isinstance(self.method, str) else None
        if m is None:
            raise EncodeError(f"class {self.schema.key.name!r} has no method {self.method!r}")
        return m

    def write_args(self, style: MapStyle) -> bytearray:
        m = self.schema_method()
        if type(self.args) is not dict and not isinstance(self.args, Mapping):
            raise EncodeError("MethodRequest.args must be a mapping of argument name to value")
        if self.args.keys() != m.in_names:
            names = [a.name for a in m.in_args]
            missing = [n for n in names if n not in self.args]
            extra = [n for n in self.args if n not in names]
            raise EncodeError(f"method {m.name!r} takes in-arguments {names}; missing {missing}, unknown {extra}")
        buf = bytearray()
        for a in m.in_args:
            try:
                QMF_WRITERS[a.type](buf, self.args[a.name], style, 0)
            except EncodeError as exc:
                raise EncodeError(f"method {m.name!r} argument {a.name!r}: {exc.reason}") from None
        return buf

    def payload_for(self, style: MapStyle) -> bytes:
        if style is MapStyle.DEFAULT or not _styled(a.type for a in self.schema_method().in_args):
            return self.payload
        return bytes(self.write_args(style))


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodResponse(Message):
    """'m': status, text and, when given, the out-arguments of `method` by name.

    Out-arguments follow the text when `out_args` is not None: always for status 0 (every
    out-argument), and for other statuses only if given (the C++ agent writes them whenever
    the method matched)."""

    status: int = 0
    text: str = "OK"
    method: SchemaMethod | None = None
    out_args: Mapping[str, Any] | None = None
    payload: bytes = field(init=False, repr=False, compare=False)
    opcode: ClassVar[str] = "m"

    def __post_init__(self) -> None:
        _seq(self)
        check_int(self.status, 0, U32_MAX, "MethodResponse.status")
        if not isinstance(self.text, str):
            raise EncodeError("MethodResponse.text must be a str")
        if len(utf8(self.text, "MethodResponse.text")) > 0xFFFF:
            raise EncodeError("MethodResponse.text is longer than a str16 (65535 bytes of UTF-8)")
        if self.method is not None and not isinstance(self.method, SchemaMethod):
            raise EncodeError("MethodResponse.method must be a SchemaMethod or None")
        if self.status == 0 and self.out_args is None and self.method is not None and self.method.out_args:
            raise EncodeError(f"a successful response to {self.method.name!r} needs its out_args")
        if self.method is not None and not self.method.out_args and (
                self.out_args is None or (isinstance(self.out_args, Mapping) and not self.out_args)):
            # no out-argument bytes either way: keep the form a decoder gives back for them
            object.__setattr__(self, "out_args", {} if self.status == 0 else None)
        object.__setattr__(self, "payload", bytes(self.write_args(MapStyle.DEFAULT)))
        if self.status != 0 and self.payload.startswith(b"AM2"):
            raise EncodeError("out-arguments after a non-zero status that begin with the bytes 'AM2' would be read "
                              "as the header of a next message")

    def write_args(self, style: MapStyle) -> bytearray:
        buf = bytearray()
        if self.out_args is None:
            return buf
        if self.method is None:
            raise EncodeError("MethodResponse.out_args need the method (its schema) to be written")
        if type(self.out_args) is not dict and not isinstance(self.out_args, Mapping):
            raise EncodeError("MethodResponse.out_args must be a mapping of argument name to value")
        names = [a.name for a in self.method.out_args]
        if set(self.out_args) != set(names):
            missing = [n for n in names if n not in self.out_args]
            extra = [n for n in self.out_args if n not in names]
            raise EncodeError(f"method {self.method.name!r} has out-arguments {names}; missing {missing}, "
                              f"unknown {extra}")
        for a in self.method.out_args:
            try:
                QMF_WRITERS[a.type](buf, self.out_args[a.name], style, 0)
            except EncodeError as exc:
                raise EncodeError(f"method {self.method.name!r} out-argument {a.name!r}: {exc.reason}") from None
        return buf

    def payload_for(self, style: MapStyle) -> bytes:
        if style is MapStyle.DEFAULT or self.method is None or not _styled(a.type for a in self.method.out_args):
            return self.payload
        return bytes(self.write_args(style))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventIndication(Message):
    """'e': an event of class `schema` with its arguments by name."""

    schema: EventClass
    timestamp: int
    severity: int
    arguments: Mapping[str, Any]
    payload: bytes = field(init=False, repr=False, compare=False)
    opcode: ClassVar[str] = "e"

    def __post_init__(self) -> None:
        _seq(self)
        if not isinstance(self.schema, EventClass):
            raise EncodeError("EventIndication.schema must be an EventClass")
        check_int(self.timestamp, 0, U64_MAX, "EventIndication.timestamp")
        check_int(self.severity, 0, 255, "EventIndication.severity")
        object.__setattr__(self, "payload", bytes(self.write_args(MapStyle.DEFAULT)))

    @property
    def key(self) -> ClassKey:
        return self.schema.key

    def write_args(self, style: MapStyle) -> bytearray:
        if type(self.arguments) is not dict and not isinstance(self.arguments, Mapping):
            raise EncodeError("EventIndication.arguments must be a mapping of argument name to value")
        names = [a.name for a in self.schema.arguments]
        if set(self.arguments) != set(names):
            raise EncodeError(f"event {self.schema.key.name!r} has arguments {names}, given {list(self.arguments)}")
        buf = bytearray()
        for a in self.schema.arguments:
            try:
                QMF_WRITERS[a.type](buf, self.arguments[a.name], style, 0)
            except EncodeError as exc:
                raise EncodeError(f"event argument {a.name!r}: {exc.reason}") from None
        return buf

    def payload_for(self, style: MapStyle) -> bytes:
        if style is MapStyle.DEFAULT or not _styled(a.type for a in self.schema.arguments):
            return self.payload
        return bytes(self.write_args(style))


@dataclass(frozen=True, slots=True, kw_only=True)
class _ObjectRecord(Message):
    """The timestamps block shared by 'c', 'i' and 'g' (§6.2)."""

    schema: ObjectClass
    object_id: ObjectId
    update_time: int = 0
    create_time: int = 0
    delete_time: int = 0  # non-zero: the record announces a deletion
    payload: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _seq(self)
        name = type(self).__name__
        if not isinstance(self.schema, ObjectClass):
            raise EncodeError(f"{name}.schema must be an ObjectClass")
        if not isinstance(self.object_id, ObjectId):
            raise EncodeError(f"{name}.object_id must be an ObjectId")
        for f in ("update_time", "create_time", "delete_time"):
            v = getattr(self, f)
            if type(v) is not int or not 0 <= v <= U64_MAX:
                check_int(v, 0, U64_MAX, f"{name}.{f}")
        object.__setattr__(self, "payload", bytes(self.write_values(MapStyle.DEFAULT)))

    @property
    def key(self) -> ClassKey:
        return self.schema.key

    def write_values(self, style: MapStyle) -> bytearray:
        raise NotImplementedError

    def payload_for(self, style: MapStyle) -> bytes:
        if style is MapStyle.DEFAULT or not _styled(
                [p.type for p in self.schema.properties] + [s.type for s in self.schema.statistics]):
            return self.payload
        return bytes(self.write_values(style))


@dataclass(frozen=True, slots=True, kw_only=True)
class PropertyIndication(_ObjectRecord):
    """'c': an object's properties (its configuration)."""

    properties: Mapping[str, Any]
    opcode: ClassVar[str] = "c"

    def write_values(self, style: MapStyle) -> bytearray:
        buf = bytearray()
        write_properties(buf, self.schema, self.properties, style)
        return buf


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticIndication(_ObjectRecord):
    """'i': an object's statistics (its instrumentation)."""

    statistics: Mapping[str, Any]
    opcode: ClassVar[str] = "i"

    def write_values(self, style: MapStyle) -> bytearray:
        buf = bytearray()
        write_statistics(buf, self.schema, self.statistics, style)
        return buf


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectIndication(_ObjectRecord):
    """'g': a whole object, properties then statistics, in reply to a get query."""

    properties: Mapping[str, Any]
    statistics: Mapping[str, Any]
    opcode: ClassVar[str] = "g"

    def write_values(self, style: MapStyle) -> bytearray:
        buf = bytearray()
        write_properties(buf, self.schema, self.properties, style)
        write_statistics(buf, self.schema, self.statistics, style)
        return buf


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.opcode: cls
    for cls in (BrokerRequest, BrokerResponse, PackageQuery, PackageIndication, ClassQuery, ClassIndication,
                SchemaRequest, SchemaResponse, CommandComplete, Heartbeat, GetQuery, ObjectIndication,
                PropertyIndication, StatisticIndication, MethodRequest, MethodResponse, EventIndication,
                AgentAttachRequest, AgentAttachResponse, ConsoleAddedIndication)
}
