"""Whole AMQP message bodies: the 8-byte header, each opcode's layout, and concatenation.

A body is one or more QMF messages back to back (§1.2). `decode_body` reads all of them or
raises: a receiver acts on a body only when every message in it was read, so a bad body
changes nothing. Messages whose values need a schema (M, m, c, i, g, e) get it from the
caller's `schemas` lookup; a method response gets its method from `methods`, keyed by the
sequence number the caller is waiting on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator

from . import messages as msg
from .amqp import MapStyle, read_map, write_map
from .errors import (
    BadMagic,
    CodecError,
    DecodeError,
    EncodeError,
    InvalidValue,
    LimitExceeded,
    Truncated,
    UnknownMethod,
    UnknownOpcode,
    UnknownSchema,
)
from .objectid import ObjectId
from .schema import ClassKey, ClassKind, EventClass, ObjectClass, SchemaMethod, read_class_key, read_schema
from .schema import write_class_key as _key
from .schema import write_schema as _schema
from .values import SchemaLookup, layout, read_object_id, read_properties, read_statistics
from .wire import DEFAULT_LIMITS, QQ, U32, U64, Limits, Reader, put_str8, put_str16

MAGIC = b"AM2"
HEADER = struct.Struct(">3scI")
MethodLookup = Callable[[int], SchemaMethod | None]
_new = object.__new__
_set = object.__setattr__


# -- encoding -------------------------------------------------------------------------------------
def encode(message: msg.Message, *, style: MapStyle = MapStyle.DEFAULT) -> bytes:
    """The bytes of one message, header included."""
    buf = bytearray()
    _write(buf, message, style)
    return bytes(buf)


def readdress(body: bytes, seq: int, object_id: ObjectId) -> bytes:
    """An encoded 'M' method request with another sequence number and object id. A fan-out calls
    one method with the same arguments on many objects, and these are the only fields that differ
    (bytes 4-8 and 8-24), so it encodes the request once."""
    if len(body) < 24 or body[:4] != b"AM2M":
        raise EncodeError("not an encoded method request ('M')")
    if not 0 <= seq <= 0xFFFFFFFF or not isinstance(object_id, ObjectId):
        raise EncodeError("seq must be a u32 and object_id an ObjectId")
    return b"AM2M" + U32.pack(seq) + QQ.pack(object_id.first, object_id.second) + body[24:]


def encode_body(messages: Iterable[msg.Message], *, style: MapStyle = MapStyle.DEFAULT) -> bytes:
    """The bytes of several messages in one body."""
    buf = bytearray()
    for m in messages:
        _write(buf, m, style)
    return bytes(buf)


def _write(buf: bytearray, m: msg.Message, style: MapStyle) -> None:
    writer = _WRITERS.get(type(m))
    if writer is None:
        raise EncodeError(f"{type(m).__name__} is not a QMFv1 message")
    buf += HEADER.pack(MAGIC, m.opcode.encode("ascii"), m.seq)
    writer(buf, m, style)


def _nothing(buf: bytearray, m: msg.Message, style: MapStyle) -> None:
    pass


def _w_b(buf: bytearray, m: msg.BrokerResponse, style: MapStyle) -> None:
    buf += m.broker_id.bytes


def _w_p(buf: bytearray, m: msg.PackageIndication | msg.ClassQuery, style: MapStyle) -> None:
    put_str8(buf, m.package, "package name")


def _w_q(buf: bytearray, m: msg.ClassIndication, style: MapStyle) -> None:
    buf.append(m.kind)
    _key(buf, m.key)


def _w_S(buf: bytearray, m: msg.SchemaRequest, style: MapStyle) -> None:
    _key(buf, m.key)


def _w_s(buf: bytearray, m: msg.SchemaResponse, style: MapStyle) -> None:
    _schema(buf, m.schema, style)


def _w_z(buf: bytearray, m: msg.CommandComplete, style: MapStyle) -> None:
    buf += U32.pack(m.code)
    put_str8(buf, m.text, "command completion text")


def _w_h(buf: bytearray, m: msg.Heartbeat, style: MapStyle) -> None:
    buf += U64.pack(m.timestamp)


def _w_G(buf: bytearray, m: msg.GetQuery, style: MapStyle) -> None:
    write_map(buf, m.query, style)


def _w_record(buf: bytearray, m: msg._ObjectRecord, style: MapStyle) -> None:
    _key(buf, m.schema.key)
    buf += U64.pack(m.update_time) + U64.pack(m.create_time) + U64.pack(m.delete_time)
    buf += QQ.pack(m.object_id.first, m.object_id.second)
    buf += m.payload_for(style)


def _w_M(buf: bytearray, m: msg.MethodRequest, style: MapStyle) -> None:
    buf += QQ.pack(m.object_id.first, m.object_id.second)
    _key(buf, m.schema.key)
    put_str8(buf, m.method, "method name")
    buf += m.payload_for(style)


def _w_m(buf: bytearray, m: msg.MethodResponse, style: MapStyle) -> None:
    buf += U32.pack(m.status)
    put_str16(buf, m.text, "method response text")
    buf += m.payload_for(style)


def _w_e(buf: bytearray, m: msg.EventIndication, style: MapStyle) -> None:
    _key(buf, m.schema.key)
    buf += U64.pack(m.timestamp)
    buf.append(m.severity)
    buf += m.payload_for(style)


def _w_A(buf: bytearray, m: msg.AgentAttachRequest, style: MapStyle) -> None:
    put_str8(buf, m.label, "agent label")
    buf += m.system_id.bytes
    buf += U32.pack(m.broker_bank) + U32.pack(m.agent_bank)


def _w_a(buf: bytearray, m: msg.AgentAttachResponse, style: MapStyle) -> None:
    buf += U32.pack(m.broker_bank) + U32.pack(m.agent_bank)


_WRITERS = {
    msg.BrokerRequest: _nothing, msg.BrokerResponse: _w_b, msg.PackageQuery: _nothing,
    msg.PackageIndication: _w_p, msg.ClassQuery: _w_p, msg.ClassIndication: _w_q, msg.SchemaRequest: _w_S,
    msg.SchemaResponse: _w_s, msg.CommandComplete: _w_z, msg.Heartbeat: _w_h, msg.GetQuery: _w_G,
    msg.ObjectIndication: _w_record, msg.PropertyIndication: _w_record, msg.StatisticIndication: _w_record,
    msg.MethodRequest: _w_M, msg.MethodResponse: _w_m, msg.EventIndication: _w_e,
    msg.AgentAttachRequest: _w_A, msg.AgentAttachResponse: _w_a, msg.ConsoleAddedIndication: _nothing,
}


# -- decoding -------------------------------------------------------------------------------------
def decode_body(body: bytes, *, schemas: SchemaLookup | None = None, methods: MethodLookup | None = None,
                limits: Limits = DEFAULT_LIMITS) -> list[msg.Message]:
    """Every message in `body`, or a `DecodeError` for the first thing wrong in it."""
    r = _reader(body, limits)
    out = []
    while r.pos < r.end:
        if len(out) >= limits.max_messages:
            _too_many(r)
        out.append(_read_one(r, schemas, methods))
    return out


def iter_messages(body: bytes, *, schemas: SchemaLookup | None = None, methods: MethodLookup | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> Iterator[msg.Message]:
    """Yields the messages of `body` one by one, for a caller that must act on one (register the
    schema an 's' carried) before the next is read. Raises `DecodeError` where the body goes wrong."""
    r = _reader(body, limits)
    count = 0
    while r.pos < r.end:
        if count >= limits.max_messages:
            _too_many(r)
        count += 1
        yield _read_one(r, schemas, methods)


def _reader(body: bytes, limits: Limits) -> Reader:
    if type(body) is not bytes:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise DecodeError(f"a body is bytes, not {type(body).__name__}")
        body = bytes(body)
    if len(body) > limits.max_body:
        raise LimitExceeded(f"body is {len(body)} bytes, the limit is {limits.max_body}", offset=0)
    return Reader(body, limits)


def _too_many(r: Reader) -> None:
    raise LimitExceeded(f"body holds more than {r.limits.max_messages} messages", offset=r.pos)


def _read_one(r: Reader, schemas: SchemaLookup | None, methods: MethodLookup | None) -> msg.Message:
    start = r.pos
    r.opcode = None
    if r.end - start < 8:
        if r.data.startswith(MAGIC[: r.end - start], start):
            raise Truncated(f"message header needs 8 bytes, {r.end - start} left", offset=start)
        raise BadMagic(f"message does not start with 'AM2' (got {r.data[start:start + 3]!r})", offset=start)
    magic, op, seq = HEADER.unpack_from(r.data, start)
    if magic != MAGIC:
        raise BadMagic(f"message does not start with 'AM2' (got {magic!r})", offset=start)
    entry = _BY_BYTE.get(op)
    if entry is None:
        opcode = op.decode("latin-1")
        unknown = UnknownOpcode(f"unknown opcode {opcode!r} (0x{op[0]:02x})", opcode=opcode, offset=start + 3)
        unknown.seq = seq  # the header was read whole: a refusal can answer its sequence number
        raise unknown
    opcode, reader = entry
    r.opcode = opcode
    r.pos = start + 8
    try:
        return reader(r, seq, schemas, methods)
    except CodecError as exc:
        exc.seq = seq
        raise
    except (EncodeError, ValueError, TypeError) as exc:  # a decoded field the message type refused
        err: CodecError = InvalidValue(f"invalid {opcode!r} message: {exc}", opcode=opcode, offset=start)
    except RecursionError:
        err = LimitExceeded("value nested too deeply", opcode=opcode, offset=r.pos)
    except MemoryError:
        err = LimitExceeded("value too large to hold in memory", opcode=opcode, offset=r.pos)
    err.seq = seq
    raise err from None


def _raw(cls: type, **fields: object) -> msg.Message:
    """Builds a decoded message without re-running its checks: the reader has made them."""
    m = _new(cls)
    for k, v in fields.items():
        _set(m, k, v)
    return m


def _schema_of(r: Reader, schemas: SchemaLookup | None, key: ClassKey, offset: int, kind: type) -> object:
    schema = schemas(key) if schemas is not None else None
    if schema is None:
        raise UnknownSchema(f"no schema for class {key}", key=key, opcode=r.opcode, offset=offset)
    if not isinstance(schema, kind):
        raise InvalidValue(f"class {key} is not an {kind.__name__}", opcode=r.opcode, offset=offset)
    return schema


def _r_B(r, seq, schemas, methods):
    return _raw(msg.BrokerRequest, seq=seq)


def _r_b(r, seq, schemas, methods):
    return _raw(msg.BrokerResponse, seq=seq, broker_id=r.uuid("broker id"))


def _r_P(r, seq, schemas, methods):
    return _raw(msg.PackageQuery, seq=seq)


def _r_p(r, seq, schemas, methods):
    return _raw(msg.PackageIndication, seq=seq, package=r.str8("package name"))


def _r_Q(r, seq, schemas, methods):
    return _raw(msg.ClassQuery, seq=seq, package=r.str8("package name"))


def _r_q(r, seq, schemas, methods):
    pos = r.pos
    kind = r.u8("class kind")
    if kind not in (1, 2):
        raise InvalidValue(f"class kind {kind} is neither 1 (object) nor 2 (event)", opcode="q", offset=pos)
    return _raw(msg.ClassIndication, seq=seq, kind=ClassKind(kind), key=read_class_key(r))


def _r_S(r, seq, schemas, methods):
    return _raw(msg.SchemaRequest, seq=seq, key=read_class_key(r))


def _r_s(r, seq, schemas, methods):
    return _raw(msg.SchemaResponse, seq=seq, schema=read_schema(r))


def _r_z(r, seq, schemas, methods):
    code = r.u32("completion code")
    return _raw(msg.CommandComplete, seq=seq, code=code, text=r.str8("completion text"))


def _r_h(r, seq, schemas, methods):
    return _raw(msg.Heartbeat, seq=seq, timestamp=r.u64("heartbeat timestamp"))


def _r_G(r, seq, schemas, methods):
    return _raw(msg.GetQuery, seq=seq, query=read_map(r, "get query map"))


def _read_record(r, seq, schemas, cls, props, stats):
    kpos = r.pos
    key = read_class_key(r)
    times = r.raw(24, "timestamps")
    update, create, delete = struct.unpack(">QQQ", times)
    oid = read_object_id(r, "object id")
    schema = _schema_of(r, schemas, key, kpos, ObjectClass)
    start = r.pos
    fields = {}
    if props:
        fields["properties"] = read_properties(r, schema, schemas)
    if stats:
        fields["statistics"] = read_statistics(r, schema, schemas)
    return _raw(cls, seq=seq, schema=schema, object_id=oid, update_time=update, create_time=create,
                delete_time=delete, payload=r.data[start:r.pos], **fields)


def _r_c(r, seq, schemas, methods):
    return _read_record(r, seq, schemas, msg.PropertyIndication, True, False)


def _r_i(r, seq, schemas, methods):
    return _read_record(r, seq, schemas, msg.StatisticIndication, False, True)


def _r_g(r, seq, schemas, methods):
    return _read_record(r, seq, schemas, msg.ObjectIndication, True, True)


def _r_M(r, seq, schemas, methods):
    oid = read_object_id(r, "object id")
    kpos = r.pos
    key = read_class_key(r)
    mpos = r.pos
    name = r.str8("method name")
    schema = _schema_of(r, schemas, key, kpos, ObjectClass)
    method = schema.method(name)
    if method is None:
        raise UnknownMethod(f"class {key} has no method {name!r}", opcode="M", offset=mpos)
    start = r.pos
    args = (method.layouts.get("in") or layout(method, "in", method.in_args)).read(r, schemas)
    return _raw(msg.MethodRequest, seq=seq, object_id=oid, schema=schema, method=name, args=args,
                payload=r.data[start:r.pos])


def _r_m(r, seq, schemas, methods):
    status = r.u32("method status")
    text = r.str16("method response text")
    method = methods(seq) if methods is not None else None
    start = r.pos
    out = None
    ahead = r.data[r.pos:min(r.pos + 3, r.end)]
    more = bool(ahead) and not MAGIC.startswith(ahead)  # bytes that cannot begin the next header
    if method is None:
        if status == 0 and more:
            raise UnknownMethod(f"method response {seq} answers no pending call; its out-arguments cannot "
                                "be read", opcode="m", offset=start)
    elif status == 0 or more:
        out = (method.layouts.get("out") or layout(method, "out", method.out_args)).read(r, schemas)
    return _raw(msg.MethodResponse, seq=seq, status=status, text=text, method=method, out_args=out,
                payload=r.data[start:r.pos])


def _r_e(r, seq, schemas, methods):
    kpos = r.pos
    key = read_class_key(r)
    timestamp = r.u64("event timestamp")
    severity = r.u8("event severity")
    schema = _schema_of(r, schemas, key, kpos, EventClass)
    start = r.pos
    args = (schema.layouts.get("args") or layout(schema, "args", schema.arguments)).read(r, schemas)
    return _raw(msg.EventIndication, seq=seq, schema=schema, timestamp=timestamp, severity=severity,
                arguments=args, payload=r.data[start:r.pos])


def _r_A(r, seq, schemas, methods):
    label = r.str8("agent label")
    system_id = r.uuid("system id")
    return _raw(msg.AgentAttachRequest, seq=seq, label=label, system_id=system_id,
                broker_bank=r.u32("broker bank"), agent_bank=r.u32("agent bank"))


def _r_a(r, seq, schemas, methods):
    return _raw(msg.AgentAttachResponse, seq=seq, broker_bank=r.u32("broker bank"),
                agent_bank=r.u32("agent bank"))


def _r_x(r, seq, schemas, methods):
    return _raw(msg.ConsoleAddedIndication, seq=seq)


_READERS = {
    "B": _r_B, "b": _r_b, "P": _r_P, "p": _r_p, "Q": _r_Q, "q": _r_q, "S": _r_S, "s": _r_s, "z": _r_z,
    "h": _r_h, "G": _r_G, "g": _r_g, "c": _r_c, "i": _r_i, "M": _r_M, "m": _r_m, "e": _r_e, "A": _r_A,
    "a": _r_a, "x": _r_x,
}
_BY_BYTE = {op.encode("ascii"): (op, reader) for op, reader in _READERS.items()}
