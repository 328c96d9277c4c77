"""One test per error kind: the exact error type, its `.offset`, `.opcode` and reason.

Offsets are counted from the start of the body. Bodies are built by hand here, byte by byte, so
that each offset can be checked against the layout in qmf-v1.md, not against the encoder.
"""

from __future__ import annotations

import re
import struct
import uuid
from typing import Any

import pytest

import codec
from codec import (
    Array,
    BadMagic,
    BrokerRequest,
    BrokerResponse,
    ClassIndication,
    ClassKey,
    ClassQuery,
    CodecError,
    CommandComplete,
    DecodeError,
    EncodeError,
    EventClass,
    EventIndication,
    GetQuery,
    Heartbeat,
    InvalidText,
    InvalidValue,
    LimitExceeded,
    Limits,
    MethodRequest,
    MethodResponse,
    ObjectClass,
    ObjectId,
    ObjectIndication,
    PackageIndication,
    PropertyIndication,
    QmfArray,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaRequest,
    SchemaResponse,
    SchemaStatistic,
    StatisticIndication,
    Tagged,
    Truncated,
    UInt8,
    UnknownMethod,
    UnknownOpcode,
    UnknownSchema,
    UnknownTypecode,
    Unmanaged,
    decode_body,
    encode,
)

KEY = ClassKey("pkg", "cls", bytes(range(16)))
KEY_BYTES = b"\x03pkg\x03cls" + bytes(range(16))  # 24 bytes
METHOD = SchemaMethod(name="call", args=(SchemaArgument(name="a", type=3, dir="I"),
                                         SchemaArgument(name="s", type=7, dir="I"),
                                         SchemaArgument(name="r", type=11, dir="O")))
SCHEMA = ObjectClass(KEY, (SchemaProperty(name="o1", type=1, optional=True),
                           SchemaProperty(name="m", type=3),
                           SchemaProperty(name="o2", type=1, optional=True),
                           SchemaProperty(name="o3", type=11, optional=True)),
                     (SchemaStatistic(name="n", type=4),), (METHOD,))
SCHEMAS = {KEY: SCHEMA}.get


def header(op: str, seq: int = 0) -> bytes:
    return b"AM2" + op.encode("latin-1") + struct.pack(">I", seq)


def amqp_map(entries: bytes, count: int, size: int | None = None) -> bytes:
    """A map with `count` in its count field and `size` (default: the true one) in its size field."""
    return struct.pack(">II", 4 + len(entries) if size is None else size, count) + entries


def entry(key: bytes, code: int, value: bytes = b"") -> bytes:
    return bytes([len(key)]) + key + bytes([code]) + value


def raises(cls: type[DecodeError], body: bytes, *, match: str, offset: int, opcode: str | None,
           **kw: object) -> DecodeError:
    with pytest.raises(cls, match=match) as info:
        decode_body(body, **kw)
    err = info.value
    assert type(err) is cls, f"{type(err).__name__} is not exactly {cls.__name__}"
    assert err.offset == offset
    assert err.opcode == opcode
    assert isinstance(err.reason, str) and err.reason
    return err


# -- the header --------------------------------------------------------------------------------------
@pytest.mark.parametrize("magic", [b"AM1", b"AM3", b"XYZ", b"am2", b"\0\0\0"])
def test_bad_magic(magic: bytes) -> None:
    raises(BadMagic, magic + b"B\0\0\0\0", match=r"does not start with 'AM2'", offset=0, opcode=None)


def test_garbage_body() -> None:
    raises(BadMagic, b"GET / HTTP/1.1\r\n", match=r"does not start with 'AM2' \(got b'GET'\)", offset=0, opcode=None)


def test_bad_magic_in_a_later_message() -> None:
    body = encode(BrokerRequest()) + b"AM1B\0\0\0\0"
    raises(BadMagic, body, match="does not start with 'AM2'", offset=8, opcode=None)


@pytest.mark.parametrize("tail", [b"A", b"AM", b"AM2", b"AM2z", b"AM2z\0\0\0"])
def test_short_header(tail: bytes) -> None:
    raises(Truncated, tail, match=rf"message header needs 8 bytes, {len(tail)} left", offset=0, opcode=None)
    raises(Truncated, encode(BrokerRequest()) + tail, match="message header needs 8 bytes", offset=8, opcode=None)


def test_short_garbage_is_bad_magic_not_truncation() -> None:
    raises(BadMagic, b"AX", match="does not start with 'AM2'", offset=0, opcode=None)


@pytest.mark.parametrize("op", ["Y", "j", "k", "Z", "\x00", "\xff"])
def test_unknown_opcode(op: str) -> None:
    err = raises(UnknownOpcode, header(op), match=re.escape(f"unknown opcode {op!r}"), offset=3, opcode=op)
    assert err.status == codec.errors.STATUS_NOT_IMPLEMENTED


def test_unknown_opcode_after_a_good_message() -> None:
    raises(UnknownOpcode, encode(BrokerRequest()) + header("j"), match="unknown opcode 'j'", offset=11, opcode="j")


# -- truncated fields ----------------------------------------------------------------------------------
# Qpid's console reads fixed-width fields with struct.unpack (struct.error) and variable-length ones
# by slicing, which silently returns fewer bytes than declared (qmf-v1.md §7). This codec raises
# Truncated for both.
def test_command_complete_without_its_code() -> None:
    raises(Truncated, header("z"), match=r"completion code needs 4 bytes, 0 left", offset=8, opcode="z")
    raises(Truncated, header("z") + b"\0\0", match=r"completion code needs 4 bytes, 2 left", offset=8, opcode="z")


def test_command_complete_without_its_text() -> None:
    raises(Truncated, header("z") + b"\0\0\0\0", match=r"completion text length needs 1 bytes, 0 left", offset=12,
           opcode="z")


def test_broker_response_with_a_short_uuid() -> None:
    raises(Truncated, header("b") + bytes(10), match=r"broker id needs 16 bytes, 10 left", offset=8, opcode="b")


def test_heartbeat_without_its_timestamp() -> None:
    raises(Truncated, header("h") + bytes(7), match=r"heartbeat timestamp needs 8 bytes, 7 left", offset=8,
           opcode="h")


def test_truncated_str8() -> None:
    # Qpid's console would return the 4 bytes there as the package name "pack"; we refuse. The
    # offset is that of the string's bytes, just after its length byte.
    raises(Truncated, header("p") + b"\x0apack", match=r"package name needs 10 bytes, 4 left", offset=9, opcode="p")
    raises(Truncated, header("p"), match=r"package name length needs 1 bytes, 0 left", offset=8, opcode="p")


def test_truncated_str16() -> None:
    # Qpid's console would return the text "short"; we refuse.
    body = header("m", 4) + struct.pack(">IH", 1, 100) + b"short"
    raises(Truncated, body, match=r"method response text needs 100 bytes, 5 left", offset=14, opcode="m")
    raises(Truncated, header("m", 4) + struct.pack(">I", 1) + b"\0", match=r"method response text length needs 2",
           offset=12, opcode="m")


def test_truncated_class_hash() -> None:
    body = header("S") + b"\x03pkg\x03cls" + bytes(15)
    raises(Truncated, body, match=r"class hash needs 16 bytes, 15 left", offset=16, opcode="S")


# -- maps ------------------------------------------------------------------------------------------------
def test_map_length_past_the_end() -> None:
    body = header("G") + struct.pack(">II", 100, 1) + entry(b"a", 0xF0)
    raises(Truncated, body, match=r"get query map needs 100 bytes, 7 left", offset=12, opcode="G")


def test_map_size_too_small_for_its_count() -> None:
    body = header("G") + struct.pack(">I", 3) + b"\0\0\0"
    raises(InvalidValue, body, match=r"size 3 cannot hold its 4-byte count", offset=8, opcode="G")


def test_map_count_smaller_than_its_bytes() -> None:
    body = header("G") + amqp_map(entry(b"a", 0xF0) + entry(b"b", 0xF0), count=1)
    raises(InvalidValue, body, match=r"get query map declares 10 bytes but its entries use 7", offset=8, opcode="G")


def test_map_count_larger_than_its_bytes() -> None:
    # count 3: two entries fit, the third key runs into the map's end
    body = header("G") + amqp_map(entry(b"a", 0xF0) + entry(b"b", 0xF0), count=3)
    raises(Truncated, body, match=r"get query map key length needs 1 bytes, 0 left", offset=22, opcode="G")
    # count 4: more entries than the bytes could hold at 2 bytes each, refused before reading any
    body = header("G") + amqp_map(entry(b"a", 0xF0) + entry(b"b", 0xF0), count=4)
    raises(Truncated, body, match=r"declares 4 entries but only 6 bytes follow", offset=8, opcode="G")


def test_entry_past_the_end_of_its_map() -> None:
    # the int32 value of the only entry needs 4 bytes, the map's size leaves it 2 (the body has more)
    inner = entry(b"a", 0x21, b"\0\0")
    body = header("G") + amqp_map(inner, count=1) + b"\0\0"
    raises(Truncated, body, match=r"get query map\['a'\] needs 4 bytes, 2 left", offset=19, opcode="G")


def test_duplicate_map_keys() -> None:
    body = header("G") + amqp_map(entry(b"a", 0xF0) + entry(b"a", 0x02, b"\1"), count=2)
    raises(InvalidValue, body, match=r"get query map has the key 'a' twice", offset=19, opcode="G")


def test_invalid_utf8_in_a_map_key() -> None:
    body = header("G") + amqp_map(entry(b"\xff\xfe", 0xF0), count=1)
    raises(InvalidText, body, match=r"get query map key is not valid utf-8", offset=16, opcode="G")


def test_invalid_utf8_in_a_str16_value() -> None:
    body = header("G") + amqp_map(entry(b"k", 0x95, b"\0\2\xc3\x28"), count=1)
    raises(InvalidText, body, match=r"get query map\['k'\] is not valid utf-8", offset=19, opcode="G")


@pytest.mark.parametrize(("code", "raw", "encoding"), [(0x86, b"\x01\x00\xd8", "utf-16-be"),
                                                      (0x27, b"\0\x11\0\0", "utf-32-be")])
def test_invalid_utf16_and_utf32(code: int, raw: bytes, encoding: str) -> None:
    body = header("G") + amqp_map(entry(b"k", code, raw), count=1)
    raises(InvalidText, body, match=rf"is not valid {encoding}", offset=19, opcode="G")


def test_unknown_amqp_type_code_in_a_map() -> None:
    body = header("G") + amqp_map(entry(b"a", 0x99, b"\0"), count=1)
    raises(UnknownTypecode, body, match=r"unknown AMQP 0-10 type code 0x99", offset=18, opcode="G")


def test_unknown_amqp_element_type_in_an_array() -> None:
    array = struct.pack(">IBI", 5, 0x99, 0)
    body = header("G") + amqp_map(entry(b"a", 0xAA, array), count=1)
    raises(UnknownTypecode, body, match=r"unknown AMQP 0-10 element type 0x99", offset=19 + 4, opcode="G")


def test_boolean_byte_two_in_a_map() -> None:
    body = header("G") + amqp_map(entry(b"b", 0x08, b"\2"), count=1)
    raises(InvalidValue, body, match=r"boolean byte is 2", offset=19, opcode="G")


# -- schemas and values -------------------------------------------------------------------------------
def schema_body(prop_map: bytes) -> bytes:
    return header("s") + b"\x01" + KEY_BYTES + struct.pack(">HHH", 1, 0, 0) + prop_map


def prop_map(typecode: int) -> bytes:
    entries = (entry(b"name", 0x95, b"\0\1p") + entry(b"type", 0x02, bytes([typecode])) + entry(b"access", 0x02, b"\3")
               + entry(b"index", 0x08, b"\0") + entry(b"optional", 0x08, b"\0"))
    return amqp_map(entries, count=5)


def test_schema_body_layout_is_what_the_encoder_writes() -> None:
    schema = ObjectClass(KEY, (SchemaProperty(name="p", type=1),))
    assert schema_body(prop_map(1)) == encode(SchemaResponse(schema=schema))


@pytest.mark.parametrize("typecode", [0, 5, 23, 255])
def test_unknown_qmf_typecode_in_a_schema(typecode: int) -> None:
    # the property map starts after header 8, kind 1, class key 24, counts 6
    raises(UnknownTypecode, schema_body(prop_map(typecode)),
           match=rf"property map 0 has unknown QMF typecode {typecode}", offset=39, opcode="s")


def test_schema_record_missing_a_required_key() -> None:
    body = schema_body(amqp_map(entry(b"name", 0x95, b"\0\1p"), count=1))
    raises(InvalidValue, body, match=r"property map 0 has no 'type' key", offset=39, opcode="s")


def test_unknown_class_kind() -> None:
    raises(InvalidValue, header("s") + b"\x03" + KEY_BYTES, match=r"class kind 3 is neither", offset=8, opcode="s")
    raises(InvalidValue, header("q") + b"\x00" + KEY_BYTES, match=r"class kind 0 is neither", offset=8, opcode="q")


def record(op: str, values: bytes, key: bytes = KEY_BYTES) -> bytes:
    return header(op) + key + bytes(24) + bytes(16) + values


# 'c' layout after the header: class key 24 (8..31), timestamps 24 (32..55), object id 16 (56..71),
# then the presence mask at 72 (SCHEMA has 3 optional properties: one mask byte).
VALUES_AT = 8 + 24 + 24 + 16


def test_record_layout_is_what_the_encoder_writes() -> None:
    m = PropertyIndication(schema=SCHEMA, object_id=ObjectId(0, 0), properties={"m": 7, "o3": True})
    assert encode(m) == record("c", b"\x04" + b"\0\0\0\7" + b"\1")


def test_boolean_byte_two_in_a_bool_property() -> None:
    body = record("c", b"\x04" + b"\0\0\0\7" + b"\2")
    raises(InvalidValue, body, match=r"property 'o3': BOOL byte is 2", offset=VALUES_AT + 5, opcode="c",
           schemas=SCHEMAS)


def test_presence_mask_bits_past_the_optional_properties() -> None:
    body = record("c", b"\x08" + b"\0\0\0\7")
    raises(InvalidValue, body, match=r"presence mask sets bits past the class's 3 optional properties",
           offset=VALUES_AT, opcode="c", schemas=SCHEMAS)


def test_presence_mask_bits_past_a_second_mask_byte() -> None:
    props = tuple(SchemaProperty(name=f"p{i}", type=1, optional=True) for i in range(10))
    schema = ObjectClass(KEY, props)
    body = record("c", b"\xff\x04" + bytes(8))
    raises(InvalidValue, body, match=r"past the class's 10 optional", offset=VALUES_AT + 1, opcode="c",
           schemas={KEY: schema}.get)


@pytest.mark.parametrize("op", ["c", "i", "g"])
def test_unknown_schema_for_an_object_record(op: str) -> None:
    other = ClassKey("pkg", "cls", b"\xff" * 16)
    body = record(op, b"", key=b"\x03pkg\x03cls" + b"\xff" * 16)
    err = raises(UnknownSchema, body, match=r"no schema for class pkg:cls\(f{32}\)", offset=8, opcode=op,
                 schemas=SCHEMAS)
    assert err.key == other
    assert err.status == codec.errors.STATUS_UNKNOWN_OBJECT
    raises(UnknownSchema, body, match="no schema", offset=8, opcode=op)  # no lookup at all


def test_unknown_schema_for_an_event() -> None:
    body = header("e") + KEY_BYTES + bytes(8) + b"\x03"
    err = raises(UnknownSchema, body, match=r"no schema for class pkg:cls", offset=8, opcode="e", schemas={}.get)
    assert err.key == KEY


def test_event_whose_class_is_an_object_class() -> None:
    body = header("e") + KEY_BYTES + bytes(8) + b"\x03"
    raises(InvalidValue, body, match=r"is not an EventClass", offset=8, opcode="e", schemas=SCHEMAS)


def test_unknown_schema_inside_a_typecode_20_value() -> None:
    holder = ObjectClass(ClassKey("pkg", "holder", bytes(16)), statistics=(SchemaStatistic(name="v", type=20),))
    body = record("i", b"\x14" + KEY_BYTES, key=b"\x03pkg\x06holder" + bytes(16))
    err = raises(UnknownSchema, body, match=r"statistic 'v' is an object of class pkg:cls", offset=8 + 27 + 40 + 1,
                 opcode="i", schemas={holder.key: holder}.get)
    assert err.key == KEY


def test_unknown_method_in_a_method_request() -> None:
    body = header("M") + bytes(16) + KEY_BYTES + b"\x04nope"
    err = raises(UnknownMethod, body, match=r"class pkg:cls\(.*\) has no method 'nope'", offset=8 + 16 + 24,
                 opcode="M", schemas=SCHEMAS)
    assert err.status == 2 == codec.errors.STATUS_UNKNOWN_METHOD


def test_unknown_schema_in_a_method_request() -> None:
    body = header("M") + bytes(16) + KEY_BYTES + b"\x04call"
    err = raises(UnknownSchema, body, match="no schema for class pkg:cls", offset=24, opcode="M", schemas={}.get)
    assert err.key == KEY


def test_method_request_with_a_truncated_argument() -> None:
    body = header("M") + bytes(16) + KEY_BYTES + b"\x04call" + b"\0\0\0\1" + b"\0\5ab"
    raises(Truncated, body, match=r"argument 's' needs 5 bytes, 2 left", offset=8 + 16 + 24 + 5 + 4 + 2, opcode="M",
           schemas=SCHEMAS)


def test_method_response_for_an_unknown_sequence_with_out_arguments() -> None:
    body = header("m", 99) + struct.pack(">IH", 0, 2) + b"OK" + b"\1"
    err = raises(UnknownMethod, body, match=r"method response 99 answers no pending call", offset=16, opcode="m",
                 methods={1: METHOD}.get)
    assert err.status == 2


def test_method_response_for_an_unknown_sequence_without_out_arguments_is_fine() -> None:
    body = header("m", 99) + struct.pack(">IH", 0, 2) + b"OK"
    assert decode_body(body) == [MethodResponse(seq=99)]
    body = header("m", 99) + struct.pack(">IH", 7, 2) + b"no" + encode(BrokerRequest())
    assert decode_body(body) == [MethodResponse(seq=99, status=7, text="no"), BrokerRequest()]


def test_invalid_utf8_in_a_package_name() -> None:
    raises(InvalidText, header("p") + b"\x03a\xffb", match=r"package name is not valid utf-8", offset=8, opcode="p")
    raises(InvalidText, header("S") + b"\x02\xc3\x28" + b"\x01c" + bytes(16), match=r"package name is not valid",
           offset=8, opcode="S")


def test_unknown_qmf_typecode_inside_values() -> None:
    holder = ObjectClass(ClassKey("pkg", "holder", bytes(16)), statistics=(SchemaStatistic(name="v", type=20),
                                                                           SchemaStatistic(name="a", type=22)))
    lookup = {holder.key: holder}.get
    key = b"\x03pkg\x06holder" + bytes(16)
    at = 8 + 27 + 40  # header, the holder's key, timestamps and object id
    raises(UnknownTypecode, record("i", b"\x05", key=key), match=r"unknown inner QMF typecode 5", offset=at,
           opcode="i", schemas=lookup)
    array = struct.pack(">IIB", 5, 1, 23)
    raises(UnknownTypecode, record("i", b"\x01\x00" + array, key=key), match=r"unknown QMF element typecode 23",
           offset=at + 2 + 8, opcode="i", schemas=lookup)


# -- limits ------------------------------------------------------------------------------------------------
def test_body_larger_than_the_limit() -> None:
    body = encode(CommandComplete(text="x" * 100))
    raises(LimitExceeded, body, match=rf"body is {len(body)} bytes, the limit is 64", offset=0, opcode=None,
           limits=Limits(max_body=64))
    assert decode_body(body, limits=Limits(max_body=len(body)))


def nested_maps(depth: int) -> bytes:
    inner = amqp_map(b"", count=0)
    for _ in range(depth - 1):
        inner = amqp_map(entry(b"k", 0xA8, inner), count=1)
    return inner


def test_nesting_deeper_than_the_limit() -> None:
    # map n (n = 1, 2, ...) starts at 8 + 11 * (n - 1): size, count, key 'k' and type code before it
    raises(LimitExceeded, header("G") + nested_maps(4), match=r"nested deeper than 3 levels", offset=8 + 33,
           opcode="G", limits=Limits(max_depth=3))
    assert decode_body(header("G") + nested_maps(3), limits=Limits(max_depth=3))


def test_entry_count_larger_than_the_limit() -> None:
    entries = b"".join(entry(bytes([c]), 0xF0) for c in b"abcde")
    raises(LimitExceeded, header("G") + amqp_map(entries, count=5), match=r"declares 5 entries, the limit is 4",
           offset=8, opcode="G", limits=Limits(max_entries=4))
    assert decode_body(header("G") + amqp_map(entries, count=5), limits=Limits(max_entries=5))


def test_message_count_larger_than_the_limit() -> None:
    body = encode(BrokerRequest()) * 4
    raises(LimitExceeded, body, match=r"more than 3 messages", offset=24, opcode=None, limits=Limits(max_messages=3))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1"])
def test_limits_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(EncodeError, match="must be a positive int"):
        Limits(max_depth=bad)  # type: ignore[arg-type]


def test_a_body_must_be_bytes() -> None:
    with pytest.raises(DecodeError, match="a body is bytes, not str"):
        decode_body("AM2B\0\0\0\0")  # type: ignore[arg-type]


# -- every decode error is a CodecError with the QMF codes a responder needs ----------------------------
def test_error_hierarchy() -> None:
    for cls in (BadMagic, Truncated, InvalidText, UnknownOpcode, UnknownTypecode, InvalidValue, LimitExceeded,
                UnknownSchema, UnknownMethod):
        assert issubclass(cls, DecodeError) and issubclass(cls, CodecError)
        assert not issubclass(cls, EncodeError)
    assert issubclass(EncodeError, CodecError) and issubclass(EncodeError, ValueError)
    err = Truncated("x", opcode="z", offset=3)
    assert str(err) == "x (opcode 'z', offset 3)"
    assert (err.status, err.code) == (codec.errors.STATUS_PARAMETER_INVALID, codec.errors.COMPLETE_FAILED)


# -- EncodeError: invalid messages cannot be built ---------------------------------------------------
@pytest.mark.parametrize("seq", [-1, 2**32, True, 1.0, "1", None])
def test_sequence_out_of_range(seq: object) -> None:
    with pytest.raises(EncodeError, match=r"BrokerRequest\.seq"):
        BrokerRequest(seq=seq)  # type: ignore[arg-type]


@pytest.mark.parametrize("build", [
    lambda: CommandComplete(code=2**32),
    lambda: CommandComplete(code=-1),
    lambda: Heartbeat(timestamp=2**64),
    lambda: Heartbeat(timestamp=-1),
    lambda: codec.AgentAttachRequest(label="a", system_id=uuid.uuid4(), broker_bank=2**32),
    lambda: codec.AgentAttachResponse(broker_bank=1, agent_bank=-1),
    lambda: MethodResponse(status=2**32),
    lambda: EventIndication(schema=EventClass(KEY), timestamp=0, severity=256, arguments={}),
], ids=["z code 2**32", "z code -1", "h 2**64", "h -1", "A broker bank", "a agent bank", "m status", "e severity"])
def test_integers_out_of_range(build: object) -> None:
    with pytest.raises(EncodeError, match=r"out of range"):
        build()  # type: ignore[operator]


def _u8_class() -> ObjectClass:
    return ObjectClass(KEY, (SchemaProperty(name="u", type=1),), (SchemaStatistic(name="s", type=16),))


@pytest.mark.parametrize(("props", "stats", "match"), [
    ({"u": 256}, {"s": 0}, r"property 'u': typecode 1 \(U8\) value 256 is out of range \[0, 255\]"),
    ({"u": -1}, {"s": 0}, r"property 'u': typecode 1 \(U8\) value -1 is out of range"),
    ({"u": 1}, {"s": 128}, r"statistic 's': typecode 16 \(S8\) value 128 is out of range \[-128, 127\]"),
    ({"u": True}, {"s": 0}, r"property 'u': typecode 1 \(U8\) needs an int, not bool"),
    ({"u": 1.0}, {"s": 0}, r"property 'u': typecode 1 \(U8\) needs an int, not float"),
    ({}, {"s": 0}, r"property 'u' is mandatory"),
    ({"u": None}, {"s": 0}, r"property 'u' is mandatory"),
    ({"u": 1}, {}, r"statistic 's' has no value"),
    ({"u": 1, "x": 2}, {"s": 0}, r"has no properties \['x'\]"),
    ({"u": 1}, {"s": 0, "y": 1}, r"has no statistics \['y'\]"),
])
def test_object_values_checked_when_built(props: dict, stats: dict, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        ObjectIndication(schema=_u8_class(), object_id=ObjectId(0, 0), properties=props, statistics=stats)


@pytest.mark.parametrize("build", [
    lambda: PackageIndication(package="x" * 256),
    lambda: PackageIndication(package="é" * 128),
    lambda: ClassQuery(package="€" * 86),
    lambda: CommandComplete(text="x" * 256),
    lambda: codec.AgentAttachRequest(label="x" * 256, system_id=uuid.uuid4()),
    lambda: ClassKey("x" * 256, "c", bytes(16)),
    lambda: ClassKey("p", "x" * 256, bytes(16)),
    lambda: SchemaMethod(name="x" * 256),
], ids=["p ascii", "p two-byte", "Q three-byte", "z text", "A label", "key package", "key class", "method name"])
def test_str8_longer_than_255_bytes(build: object) -> None:
    with pytest.raises(EncodeError, match=r"str8"):
        build()  # type: ignore[operator]


def test_str8_of_255_bytes_is_fine() -> None:
    for text in ("x" * 255, "é" * 127 + "x", "€" * 85):
        assert decode_body(encode(PackageIndication(package=text))) == [PackageIndication(package=text)]


def test_str16_longer_than_65535_bytes() -> None:
    with pytest.raises(EncodeError, match=r"str16"):
        MethodResponse(status=1, text="x" * 65536)
    schema = ObjectClass(KEY, statistics=(SchemaStatistic(name="s", type=7),))
    with pytest.raises(EncodeError, match=r"statistic 's'.*at most 65535"):
        StatisticIndication(schema=schema, object_id=ObjectId(0, 0), statistics={"s": "é" * 32768})


@pytest.mark.parametrize(("args", "match"), [
    ({"a": 1, "s": 2}, r"argument 's': typecode 7 \(LSTR\) needs a str, not int"),
    ({"a": "1", "s": "x"}, r"argument 'a': typecode 3 \(U32\) needs an int, not str"),
    ({"a": True, "s": "x"}, r"argument 'a': typecode 3 \(U32\) needs an int, not bool"),
    ({"a": 2**32, "s": "x"}, r"argument 'a': typecode 3 \(U32\) value 4294967296 is out of range"),
    ({"a": 1}, r"missing \['s'\]"),
    ({}, r"missing \['a', 's'\]"),
    ({"a": 1, "s": "x", "r": True}, r"unknown \['r'\]"),
])
def test_method_request_arguments_checked_when_built(args: dict, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        MethodRequest(object_id=ObjectId(0, 0), schema=SCHEMA, method="call", args=args)


def test_method_request_for_an_unknown_method() -> None:
    with pytest.raises(EncodeError, match=r"class 'cls' has no method 'nope'"):
        MethodRequest(object_id=ObjectId(0, 0), schema=SCHEMA, method="nope", args={})


def test_method_response_checked_when_built() -> None:
    with pytest.raises(EncodeError, match=r"a successful response to 'call' needs its out_args"):
        MethodResponse(status=0, method=METHOD)
    with pytest.raises(EncodeError, match=r"out-argument 'r': typecode 11 \(BOOL\) needs a bool, not int"):
        MethodResponse(status=0, method=METHOD, out_args={"r": 1})
    with pytest.raises(EncodeError, match=r"need the method"):
        MethodResponse(status=0, out_args={"r": True})


@pytest.mark.parametrize(("tc", "value"), [
    (10, (0, 1)), (11, 1), (12, 1e300), (12, "1.0"), (13, None), (14, "0" * 32), (15, [1]), (21, {"a": 1}),
    (22, "abc"), (20, 5), (6, b"bytes"), (7, None), (9, -1), (4, 2**64), (19, 2**63), (8, -(2**63) - 1),
])
def test_wrong_value_types_for_a_typecode(tc: int, value: object) -> None:
    schema = ObjectClass(KEY, statistics=(SchemaStatistic(name="v", type=tc),))
    with pytest.raises(EncodeError, match=r"statistic 'v'"):
        StatisticIndication(schema=schema, object_id=ObjectId(0, 0), statistics={"v": value})


REFUSED = {
    "oid first negative": (lambda: ObjectId(-1, 0), r"ObjectId\.first must be a uint64, not -1"),
    "oid second 2**64": (lambda: ObjectId(0, 2**64), r"ObjectId\.second must be a uint64"),
    "oid bool": (lambda: ObjectId(True, 0), r"ObjectId\.first must be a uint64, not True"),
    "oid agent bank": (lambda: ObjectId.make(agent_bank=2**28), r"agent_bank 268435456 does not fit in 28 bits"),
    "oid text": (lambda: ObjectId.parse("1-2-3-4"), r"five dash-separated numbers"),
    "short hash": (lambda: ClassKey("p", "c", bytes(15)), r"class hash must be 16 bytes"),
    "class kind 3": (lambda: ClassIndication(kind=3, key=KEY), r"kind 3 is neither 1 \(object\) nor 2 \(event\)"),
    "class kind bool": (lambda: ClassIndication(kind=True, key=KEY), r"kind True is neither"),
    "key not a ClassKey": (lambda: SchemaRequest(key=("p", "c", bytes(16))), r"SchemaRequest\.key must be a ClassKey"),
    "uuid as text": (lambda: BrokerResponse(broker_id="00000000-0000-0000-0000-000000000000"),
                     r"broker_id must be a uuid\.UUID, not str"),
    "typecode 5": (lambda: SchemaProperty(name="p", type=5), r"type 5 is not a QMF typecode"),
    "typecode bool": (lambda: SchemaProperty(name="p", type=True), r"type True is not a QMF typecode"),
    "access 4": (lambda: SchemaProperty(name="p", type=1, access=4), r"access 4 is not 1 \(RC\), 2 \(RW\) or 3"),
    "optional int": (lambda: SchemaProperty(name="p", type=1, optional=1), r"index and optional must be bools"),
    "no name": (lambda: SchemaProperty(name="", type=1), r"a property needs a name"),
    "extra clash": (lambda: SchemaProperty(name="p", type=1, extra={"name": "again"}),
                    r"extra repeats the record's own keys: \['name'\]"),
    "dir X": (lambda: SchemaArgument(name="a", type=1, dir="X"), r"dir 'X' is not 'I', 'O' or 'IO'"),
    "argument twice": (lambda: SchemaMethod(name="m", args=(SchemaArgument(name="a", type=1),
                                                          SchemaArgument(name="a", type=2))),
                       r"argument name 'a' appears twice"),
    "method arg without dir": (lambda: SchemaMethod(name="m", args=(SchemaArgument(name="a", type=1, dir=None),)),
                               r"arguments must be SchemaArguments with a dir"),
    "event arg with dir": (lambda: EventClass(KEY, (SchemaArgument(name="a", type=1, dir="I"),)),
                           r"event arguments are SchemaArguments with dir=None"),
    "property and statistic": (lambda: ObjectClass(KEY, (SchemaProperty(name="x", type=1),),
                                                   (SchemaStatistic(name="x", type=1),)),
                               r"property/statistic name 'x' appears twice"),
    "array typecode 5": (lambda: QmfArray([1], typecode=5), r"element typecode 5 is not a QMF typecode"),
    "tagged 20": (lambda: Tagged(20, None), r"Tagged typecode 20 must be a QMF typecode other than 20"),
    "unmanaged event": (lambda: Unmanaged(EventClass(KEY), {}, {}), r"Unmanaged\.schema must be an ObjectClass"),
    "int key": (lambda: GetQuery(query={1: "non-str key"}), r"map keys must be str, not int"),
    "object value": (lambda: GetQuery(query={"k": object()}), r"no AMQP 0-10 type for a object value"),
    "UInt8(256)": (lambda: GetQuery(query={"k": UInt8(256)}), r"AMQP 0x02 value 256 is out of range \[0, 255\]"),
    "str in int32 array": (lambda: GetQuery(query={"k": Array(0x21, ["x"])}), r"AMQP 0x21 value must be an int"),
    "int in boolean array": (lambda: GetQuery(query={"k": Array(0x08, [1])}), r"AMQP boolean needs a bool, not int"),
    "int 2**64": (lambda: GetQuery(query={"k": 2**64}), r"int 18446744073709551616 does not fit in 64 bits"),
    "key of 256 bytes": (lambda: GetQuery(query={"x" * 256: 1}), r"is 256 bytes; a str8 key holds at most 255"),
    "char of two": (lambda: GetQuery(query={"k": codec.Char("ab")}), r"holds exactly one character, not 2"),
    "bin128 of 15": (lambda: GetQuery(query={"k": codec.Bin128(bytes(15))}), r"holds exactly 16 bytes, not 15"),
    "str8 of 256": (lambda: GetQuery(query={"k": codec.Str8("x" * 256)}), r"256 bytes; its 8-bit length"),
    "latin CJK": (lambda: GetQuery(query={"k": codec.Str8Latin("\u4e00")}), r"cannot be written in iso-8859-15"),
    "float32 1e300": (lambda: GetQuery(query={"k": codec.Float32(1e300)}), r"too large for a single-precision"),
    "query list": (lambda: GetQuery(query=[("k", 1)]), r"GetQuery\.query must be a mapping"),
    # parts that were accepted once and then could not be read back
    "event arg min": (lambda: SchemaArgument(name="a", type=1, dir=None, min=0), r"event argument 'a' cannot have"),
    "event arg max": (lambda: SchemaArgument(name="a", type=1, dir=None, max=1), r"cannot have \['max'\]"),
    "event arg maxlen": (lambda: SchemaArgument(name="a", type=1, dir=None, maxlen=1), r"cannot have \['maxlen'\]"),
    "event arg default": (lambda: SchemaArgument(name="a", type=1, dir=None, default="1"),
                          r"cannot have \['default'\]"),
    "float maxlen": (lambda: SchemaProperty(name="p", type=7, maxlen=1.5), r"maxlen must be an integer or None"),
    "float arg maxlen": (lambda: SchemaArgument(name="a", type=7, maxlen=2.0), r"maxlen must be an integer"),
    "min 2**64": (lambda: SchemaProperty(name="p", type=4, min=2**64), r"min 18446744073709551616 does not fit"),
    "max below int64": (lambda: SchemaArgument(name="a", type=19, max=-(2**63) - 1), r"max -9223372036854775809"),
    "extra object": (lambda: SchemaProperty(name="p", type=1, extra={"x": object()}), r"no AMQP 0-10 type"),
    "extra 2**64": (lambda: SchemaStatistic(name="s", type=1, extra={"x": 2**64}), r"does not fit in 64 bits"),
    "extra nested object": (lambda: SchemaMethod(name="m", extra={"x": {"y": object()}}), r"no AMQP 0-10 type"),
    "empty array of 0x99": (lambda: GetQuery(query={"k": Array(0x99)}), r"no AMQP 0-10 type code 0x99"),
    # text with a lone surrogate has no UTF-8 form: EncodeError, not UnicodeEncodeError
    "surrogate package": (lambda: PackageIndication(package="\ud800"), r"package '\\ud800' cannot be written in UTF-8"),
    "surrogate key package": (lambda: ClassKey("\udfff", "c", bytes(16)), r"package name .* cannot be written"),
    "surrogate z text": (lambda: CommandComplete(text="a\ud800"), r"CommandComplete\.text .* cannot be written"),
    "surrogate m text": (lambda: MethodResponse(status=1, text="\ud800"), r"MethodResponse\.text .* cannot be"),
    "surrogate map key": (lambda: GetQuery(query={"\ud800": 1}), r"map key .* cannot be written in UTF-8"),
    "surrogate map value": (lambda: GetQuery(query={"k": "\ud800"}), r"cannot be written in utf-8"),
    "surrogate property": (lambda: SchemaProperty(name="\ud800", type=1), r"property name .* cannot be written"),
    "surrogate unit": (lambda: SchemaStatistic(name="s", type=1, unit="\ud800"), r"statistic unit .* cannot be"),
    "surrogate desc": (lambda: SchemaArgument(name="a", type=1, desc="\ud800"), r"argument 'a' desc .* cannot be"),
    "surrogate method": (lambda: SchemaMethod(name="\ud800"), r"method name .* cannot be written in UTF-8"),
}


@pytest.mark.parametrize(("build", "match"), list(REFUSED.values()), ids=list(REFUSED))
def test_invalid_parts_refused_when_built(build: Any, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        build()


def test_opaque_bytes_may_hold_anything() -> None:
    raw = "\ud800".encode("utf-8", "surrogatepass")
    m = GetQuery(query={"k": codec.VBin16(raw)})
    assert decode_body(encode(m)) == [m]


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(EncodeError, match="is not a QMFv1 message"):
        encode(codec.Message())
    with pytest.raises(EncodeError):
        encode("AM2B")  # type: ignore[arg-type]
