"""Round trips: valid messages come back equal, with the same Python types, and bytes come back
byte for byte.

- `decode_body(encode(m), schemas=..., methods=...) == [m]` for every opcode, every QMF typecode
  and every AMQP type code, and for schema responses in every map style;
- several messages in one body (`encode_body`) decode to the same list;
- `encode(decode(b)) == b` for bytes the encoder wrote in each map style (schema responses are
  re-encoded in the style that wrote them: a decoded schema keeps no memory of its maps' typing);
- type fidelity: `Int32(5) == 5` in Python, so every decoded value is also compared by its exact
  type against what the documented decoding rule (`codec.amqptypes`) says it must be.

Floats are drawn exactly representable (single precision for typecode 12 and `Float32`) and
never NaN, except in the byte-level tests.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from strategies import (
    AMQP_CODES,
    OPCODES,
    QMF_TYPECODES,
    STYLES,
    Case,
    Registry,
    amqp_arrays,
    amqp_maps,
    amqp_scalar_for,
    amqp_value_for,
    argument_values,
    bodies,
    cases,
    event_classes,
    messages,
    object_classes,
    object_ids,
    property_values,
    qmf_values,
    statistic_values,
)

import codec
from codec import (
    BIT,
    Array,
    ClassKey,
    Datetime,
    EncodeError,
    EventClass,
    EventIndication,
    Float32,
    GetQuery,
    Int8,
    Int16,
    Int32,
    MapStyle,
    Message,
    MethodRequest,
    MethodResponse,
    ObjectClass,
    ObjectId,
    ObjectIndication,
    PropertyIndication,
    QmfArray,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaResponse,
    SchemaStatistic,
    StatisticIndication,
    Tagged,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Unmanaged,
    VBin32,
    decode_body,
    encode,
    encode_body,
    iter_messages,
)
from codec import amqptypes as t

SETTINGS = settings(deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
FAST = settings(SETTINGS, max_examples=100)
FEWER = settings(SETTINGS, max_examples=35)


# -- what the decoder must give back, type for type ----------------------------------------------
def default_code(value: Any) -> int:
    """The AMQP code the default rule writes `value` with (the module doc of `codec.amqptypes`),
    written out here independently of `codec.amqp.code_for`."""
    code = getattr(type(value), "code", None)
    if code is not None:
        return code
    if value is None:
        return 0xF0
    if isinstance(value, bool):
        return 0x08
    if isinstance(value, int):
        return 0x31 if value < 2**63 else 0x32
    if isinstance(value, float):
        return 0x33
    if isinstance(value, str):
        return 0x95
    if isinstance(value, bytes):
        return 0x90 if len(value) <= 0xFFFF else 0xA0
    if isinstance(value, uuid.UUID):
        return 0x48
    if isinstance(value, Mapping):
        return 0xA8
    if isinstance(value, Array):
        return 0xAA
    if isinstance(value, list | tuple):
        return 0xA9
    raise AssertionError(f"no default AMQP code for {value!r}")


_INT_CLASSES = {0x01: Int8, 0x02: UInt8, 0x11: Int16, 0x12: UInt16, 0x21: Int32, 0x22: UInt32, 0x38: Datetime}


def decoded_amqp(code: int, value: Any) -> Any:
    """`value` written as AMQP `code`, as the decoder must return it: the plain type where the
    default rule would write the same code, the typed class otherwise (lossless decoding)."""
    if code in _INT_CLASSES:
        return _INT_CLASSES[code](value)
    if code == 0x31:
        return int(value)
    if code == 0x32:
        return int(value) if value >= 2**63 else UInt64(value)
    if code == 0x08:
        return bool(value)
    if code == 0x23:
        return Float32(value)
    if code == 0x33:
        return float(value)
    if code == 0x95:
        return str(value)
    if code == 0x90:
        return bytes(value)
    if code == 0xA0:
        return bytes(value) if len(value) > 0xFFFF else VBin32(value)
    if code == 0x48:
        return value
    if code == 0xA8:
        return {k: expected_amqp(v) for k, v in value.items()}
    if code == 0xA9:
        return [expected_amqp(v) for v in value]
    if code == 0xAA:
        return Array(value.type, [decoded_amqp(value.type, v) for v in value])
    if code == 0xF0:
        return None
    if code == 0xF1:
        return BIT
    return t.CLASS_BY_CODE[code](value)


def expected_amqp(value: Any) -> Any:
    return decoded_amqp(default_code(value), value)


def expected_qmf(tc: int, value: Any) -> Any:
    """A value of QMF typecode `tc` as the decoder must return it."""
    if tc in (1, 2, 3, 4, 8, 9, 16, 17, 18, 19):
        return int(value)
    if tc in (6, 7):
        return str(value)
    if tc == 11:
        return bool(value)
    if tc in (12, 13):
        return float(value)
    if tc in (10, 14):
        return value
    if tc == 15:
        return None if value is None else {k: expected_amqp(v) for k, v in value.items()}
    if tc == 21:
        return None if value is None else [expected_amqp(v) for v in value]
    if tc == 22:
        etc = value.typecode if isinstance(value, QmfArray) else codec.QmfArray(value).typecode
        if etc is None:
            return QmfArray()
        return QmfArray([expected_qmf(etc, v) for v in value], typecode=etc)
    if tc == 20:
        if isinstance(value, Tagged):
            return Tagged(value.typecode, expected_qmf(value.typecode, value.value))
        return Unmanaged(value.schema, expected_properties(value.schema, value.properties),
                         expected_statistics(value.schema, value.statistics))
    raise AssertionError(tc)


def expected_properties(schema: ObjectClass, values: Mapping[str, Any]) -> dict[str, Any]:
    return {p.name: expected_qmf(p.type, values[p.name]) for p in schema.properties
            if values.get(p.name) is not None}


def expected_statistics(schema: ObjectClass, values: Mapping[str, Any]) -> dict[str, Any]:
    return {s.name: expected_qmf(s.type, values[s.name]) for s in schema.statistics}


def expected_args(args: tuple[SchemaArgument, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    return {a.name: expected_qmf(a.type, values[a.name]) for a in args}


def assert_same(got: Any, want: Any, path: str = "value") -> None:
    """Equal AND of the same type, all the way down (dict order included)."""
    assert type(got) is type(want), f"{path}: got {type(got).__name__} {got!r}, want {type(want).__name__} {want!r}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{path}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]")
    elif isinstance(want, list):
        if isinstance(want, QmfArray):
            assert got.typecode == want.typecode, f"{path}: typecode {got.typecode} != {want.typecode}"
        if isinstance(want, Array):
            assert got.type == want.type, f"{path}: element type {got.type:#x} != {want.type:#x}"
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, Unmanaged):
        assert got.schema == want.schema, f"{path}: schema"
        assert_same(got.properties, want.properties, f"{path}.properties")
        assert_same(got.statistics, want.statistics, f"{path}.statistics")
    elif isinstance(want, Tagged):
        assert got.typecode == want.typecode, f"{path}: tag {got.typecode} != {want.typecode}"
        assert_same(got.value, want.value, f"{path}.value")
    elif isinstance(want, float):
        assert struct.pack(">d", got) == struct.pack(">d", want), f"{path}: {got!r} != {want!r}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def expected_values(m: Message) -> list[tuple[str, Any, Any]]:
    """(label, decoded-side container, expected) for the values a message carries."""
    if isinstance(m, GetQuery):
        return [("query", m.query, {k: expected_amqp(v) for k, v in m.query.items()})]
    if isinstance(m, MethodRequest):
        return [("args", m.args, expected_args(m.schema_method().in_args, m.args))]
    if isinstance(m, MethodResponse):
        if m.out_args is None or m.method is None:
            return []
        return [("out_args", m.out_args, expected_args(m.method.out_args, m.out_args))]
    if isinstance(m, EventIndication):
        return [("arguments", m.arguments, expected_args(m.schema.arguments, m.arguments))]
    out = []
    if isinstance(m, PropertyIndication | ObjectIndication):
        out.append(("properties", m.properties, expected_properties(m.schema, m.properties)))
    if isinstance(m, StatisticIndication | ObjectIndication):
        out.append(("statistics", m.statistics, expected_statistics(m.schema, m.statistics)))
    if isinstance(m, SchemaResponse):
        for i, rec in enumerate(_records(m.schema)):
            want = {k: expected_amqp(v) for k, v in rec.extra.items()}
            out.append((f"schema record {i} extra", dict(rec.extra), want))
    return out


def _records(schema: Any) -> list[Any]:
    if isinstance(schema, EventClass):
        return list(schema.arguments)
    recs: list[Any] = [*schema.properties, *schema.statistics]
    for meth in schema.methods:
        recs += [meth, *meth.args]
    return recs


def assert_types_kept(decoded: list[Message], sent: list[Message]) -> None:
    for got, want in zip(decoded, sent, strict=True):
        for (label, got_values, _), (_, _, expected) in zip(expected_values(got), expected_values(want), strict=True):
            assert_same(dict(got_values), expected, f"{want.opcode!r} {label}")


def roundtrip(case: Case, style: MapStyle = MapStyle.DEFAULT) -> list[Message]:
    body = encode_body(case.messages, style=style)
    decoded = decode_body(body, **case.lookups())
    assert decoded == case.messages
    return decoded


# -- one test per opcode -------------------------------------------------------------------------
def test_opcodes_are_the_twenty() -> None:
    assert sorted(OPCODES) == sorted(codec.MESSAGE_TYPES)
    assert len(OPCODES) == 20


@pytest.mark.parametrize("op", list(OPCODES))
@SETTINGS
@given(data=st.data())
def test_every_opcode_round_trips(op: str, data: st.DataObject) -> None:
    case = data.draw(cases(op))
    [m] = case.messages
    assert type(m) is codec.MESSAGE_TYPES[op]
    body = encode(m)
    assert body[:4] == b"AM2" + op.encode()
    decoded = decode_body(body, **case.lookups())
    assert decoded == [m]
    assert type(decoded[0]) is type(m)
    assert_types_kept(decoded, [m])
    assert list(iter_messages(body, **case.lookups())) == [m]


# -- every QMF typecode in every place a schema puts one -----------------------------------------
@pytest.mark.parametrize("tc", QMF_TYPECODES)
@FEWER
@given(data=st.data())
def test_every_typecode_round_trips(tc: int, data: st.DataObject) -> None:
    reg = Registry()
    key = ClassKey("pkg", f"tc{tc}", b"\xee" * 15 + bytes([tc]))
    schema = ObjectClass(
        key,
        properties=(SchemaProperty(name="mandatory", type=tc), SchemaProperty(name="optional", type=tc, optional=True)),
        statistics=(SchemaStatistic(name="stat", type=tc),),
        methods=(SchemaMethod(name="call", args=(SchemaArgument(name="i", type=tc, dir="I"),
                                                SchemaArgument(name="o", type=tc, dir="O"),
                                                SchemaArgument(name="io", type=tc, dir="IO"))),))
    event = EventClass(ClassKey("pkg", f"ev{tc}", b"\xee" * 14 + bytes([1, tc])),
                       (SchemaArgument(name="arg", type=tc, dir=None),))
    reg.add(schema)
    reg.add(event)
    method = schema.methods[0]
    reg.methods[7] = method
    sent = [
        ObjectIndication(seq=1, schema=schema, object_id=data.draw(object_ids()),
                         properties=data.draw(property_values(schema, reg)),
                         statistics=data.draw(statistic_values(schema, reg))),
        MethodRequest(seq=2, object_id=ObjectId(1, 2), schema=schema, method="call",
                      args=data.draw(argument_values(method.in_args, reg))),
        MethodResponse(seq=7, method=method, out_args=data.draw(argument_values(method.out_args, reg))),
        EventIndication(seq=0, schema=event, timestamp=1, severity=3,
                        arguments=data.draw(argument_values(event.arguments, reg))),
        SchemaResponse(schema=schema),
        SchemaResponse(schema=event),
    ]
    case = Case(sent, reg.schemas, reg.methods)
    decoded = roundtrip(case)
    assert_types_kept(decoded, sent)
    # the value alone, tagged as a typecode-20 value
    if tc != 20:
        value = data.draw(qmf_values(tc, reg))
        holder = ObjectClass(ClassKey("pkg", "holder", b"\xff" * 16), statistics=(SchemaStatistic(name="v", type=20),))
        reg.add(holder)
        m = StatisticIndication(schema=holder, object_id=ObjectId(0, 1), statistics={"v": Tagged(tc, value)})
        decoded = roundtrip(Case([m], reg.schemas, reg.methods))
        assert_types_kept(decoded, [m])


# -- every AMQP type code, plain and typed, in maps, lists and arrays ----------------------------
def test_strategies_cover_every_amqp_code_the_codec_knows() -> None:
    from codec import amqp

    assert set(AMQP_CODES) == set(amqp._KNOWN_CODES) | set(amqp._FIXED_READ)


@pytest.mark.parametrize("code", AMQP_CODES, ids=[f"0x{c:02x}" for c in AMQP_CODES])
@SETTINGS
@given(data=st.data())
def test_every_amqp_code_round_trips_with_its_type(code: int, data: st.DataObject) -> None:
    value = data.draw(amqp_value_for(code, 1))
    typed = data.draw(amqp_scalar_for(code, typed=True)) if code not in (0xA8, 0xA9, 0xAA) else value
    array = data.draw(amqp_arrays(1, code=code))
    query = {"value": value, "typed": typed, "array": array, "list": [value, typed, array],
             "nested": {"value": value, "array": array}}
    m = GetQuery(seq=1, query=query)
    [got] = decode_body(encode(m))
    assert got == m
    assert_same(got.query, expected_amqp(query), "query")
    assert got.query["array"].type == code


@FAST
@given(amqp_maps(3))
def test_nested_maps_keep_types(query: dict[str, Any]) -> None:
    [got] = decode_body(encode(GetQuery(query=query)))
    assert_same(got.query, expected_amqp(query), "query")


@pytest.mark.parametrize(("value", "want_type"), [
    (Int8(-1), Int8), (UInt8(255), UInt8), (Int16(-2), Int16), (UInt16(2), UInt16), (Int32(5), Int32),
    (UInt32(5), UInt32), (codec.Int64(5), int), (UInt64(5), UInt64), (UInt64(2**64 - 1), int), (2**63, int),
    (2**64 - 1, int), (-(2**63), int), (Datetime(1), Datetime), (Float32(0.5), Float32), (codec.Double(0.5), float),
    (0.5, float), (True, bool), (codec.Str8("x"), codec.Str8), (codec.Str16("x"), str), ("x", str),
    (codec.Str8Latin("é"), codec.Str8Latin), (codec.Str16Utf16("x"), codec.Str16Utf16), (codec.Char("a"), codec.Char),
    (codec.CharUtf32("\U0001f600"), codec.CharUtf32), (b"x", bytes), (codec.VBin16(b"x"), bytes),
    (VBin32(b"x"), VBin32), (VBin32(b"x" * 70000), bytes), (b"x" * 70000, bytes), (codec.VBin8(b"x"), codec.VBin8),
    (codec.Bin128(bytes(16)), codec.Bin128), (codec.Dec64(bytes(9)), codec.Dec64),
    (codec.Struct32(b"s"), codec.Struct32),
    (BIT, type(BIT)), (None, type(None)), (uuid.UUID(int=1), uuid.UUID), (Array(0x21, [1, 2]), Array),
    ([Int32(1)], list), ((1, 2), list), ({"k": Int8(1)}, dict),
])
def test_decoded_types(value: Any, want_type: type) -> None:
    [got] = decode_body(encode(GetQuery(query={"k": value})))
    assert type(got.query["k"]) is want_type
    assert got.query["k"] == (list(value) if isinstance(value, tuple) else value)


def test_long_strings_and_binaries() -> None:
    query = {"str16": "é" * 32767 + "x", "vbin16": b"\0" * 65535, "vbin32": b"\1" * 65536, "str8": codec.Str8("€" * 85)}
    [got] = decode_body(encode(GetQuery(query=query)))
    assert_same(got.query, expected_amqp(query))
    assert got.query == query


# -- schema responses in every style --------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES, ids=[s.value for s in STYLES])
@FEWER
@given(data=st.data())
def test_schema_responses_round_trip_in_every_style(style: MapStyle, data: st.DataObject) -> None:
    # equal: with `extra` values that every style writes and reads back equal
    [m] = data.draw(cases("s", extras_mode="safe")).messages
    decoded = decode_body(encode(m, style=style))
    assert decoded == [m]
    if style is MapStyle.DEFAULT:
        assert_types_kept(decoded, [m])
    # the same bytes, re-encoded in the style that wrote them: a decoded schema's `extra` values
    # are typed by the default rule (the decoder cannot know the writer's), so only records
    # without them, or the default style, can give back the very same bytes
    [m] = data.draw(cases("s", extras_mode="any" if style is MapStyle.DEFAULT else "none")).messages
    body = encode(m, style=style)
    [got] = decode_body(body)
    assert got == m
    assert encode(got, style=style) == body


# -- several messages in one body -------------------------------------------------------------------
@SETTINGS
@given(bodies(max_size=8))
def test_bodies_of_several_messages(case: Case) -> None:
    body = encode_body(case.messages)
    assert body == b"".join(encode(m) for m in case.messages)
    decoded = decode_body(body, **case.lookups())
    assert decoded == case.messages
    assert [type(m) for m in decoded] == [type(m) for m in case.messages]
    assert_types_kept(decoded, case.messages)
    assert list(iter_messages(body, **case.lookups())) == case.messages


# -- bytes come back byte for byte -------------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES, ids=[s.value for s in STYLES])
@SETTINGS
@given(data=st.data())
def test_encoded_bytes_come_back_in_every_style(style: MapStyle, data: st.DataObject) -> None:
    """Decoding is lossless: whatever style wrote the maps, the decoded values re-encoded by the
    default rule give back the same bytes. Schema responses are re-encoded in their own style."""
    case = data.draw(bodies(max_size=5, extras_mode="any" if style is MapStyle.DEFAULT else "none"))
    body = encode_body(case.messages, style=style)
    decoded = decode_body(body, **case.lookups())
    again = b"".join(encode(d, style=style if isinstance(d, SchemaResponse) else MapStyle.DEFAULT) for d in decoded)
    assert again == body


NAN_BITS32 = [0x7FC00000, 0xFFC00001, 0x7F800001 | 0x400000]
NAN_BITS64 = [0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000001]


@pytest.mark.parametrize("style", STYLES, ids=[s.value for s in STYLES])
def test_nan_bytes_come_back(style: MapStyle) -> None:
    nan32 = [struct.unpack(">f", struct.pack(">I", b))[0] for b in NAN_BITS32]
    nan64 = [struct.unpack(">d", struct.pack(">Q", b))[0] for b in NAN_BITS64]
    key = ClassKey("pkg", "nan", b"n" * 16)
    schema = ObjectClass(key, statistics=(SchemaStatistic(name="f", type=12), SchemaStatistic(name="d", type=13),
                                          SchemaStatistic(name="m", type=15)))
    sent = [StatisticIndication(schema=schema, object_id=ObjectId(0, 1),
                                statistics={"f": f, "d": d, "m": {"f": Float32(f), "d": d, "a": Array(0x33, [d])}})
            for f, d in zip(nan32, nan64, strict=True)]
    sent.append(GetQuery(query={"nan": math.nan, "f32": Float32(math.nan), "inf": -math.inf}))
    body = encode_body(sent, style=style)
    decoded = decode_body(body, schemas={key: schema}.get)
    assert math.isnan(decoded[0].statistics["f"]) and math.isnan(decoded[0].statistics["d"])
    assert encode_body(decoded) == body
    assert encode_body(decoded, style=style) == body or style is MapStyle.PYTHON


# -- particular shapes ----------------------------------------------------------------------------------
def _optional_class(n: int) -> ObjectClass:
    props = [SchemaProperty(name=f"p{i}", type=1, optional=i % 3 != 2) for i in range(n)]
    return ObjectClass(ClassKey("pkg", f"opt{n}", bytes(16)), tuple(props))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 12, 16, 17, 24])
@SETTINGS
@given(data=st.data())
def test_presence_masks_of_every_width(n: int, data: st.DataObject) -> None:
    schema = _optional_class(n)
    values = data.draw(property_values(schema, Registry()))
    m = PropertyIndication(schema=schema, object_id=ObjectId(0, 1), properties=values)
    body = encode(m)
    n_optional = sum(p.optional for p in schema.properties)
    mask = body[8 + 1 + len(schema.key.package) + 1 + len(schema.key.name) + 16 + 24 + 16:][: (n_optional + 7) // 8]
    bits = [mask[i // 8] >> (i % 8) & 1 for i in range(n_optional)]
    assert bits == [1 if p.name in values else 0 for p in schema.properties if p.optional]
    assert decode_body(body, schemas={schema.key: schema}.get) == [m]


def test_empty_arrays_both_ways() -> None:
    key = ClassKey("pkg", "arr", b"a" * 16)
    schema = ObjectClass(key, statistics=(SchemaStatistic(name="a", type=22),))
    for value, tail in ((QmfArray(), b"\0\0\0\4\0\0\0\0"), (QmfArray([], typecode=7), b"\0\0\0\5\0\0\0\0\7")):
        m = StatisticIndication(schema=schema, object_id=ObjectId(0, 1), statistics={"a": value})
        body = encode(m)
        assert body.endswith(tail)
        [got] = decode_body(body, schemas={key: schema}.get)
        assert got == m
        assert got.statistics["a"].typecode == value.typecode


def test_method_response_without_out_arguments() -> None:
    """A method with no out-arguments: status 0 decodes with `out_args == {}`, another status with
    None, whichever the message was built with (no bytes follow the text either way)."""
    method = SchemaMethod(name="noop")
    for status in (0, 1, 7):
        for out in (None, {}):
            m = MethodResponse(seq=3, status=status, method=method, out_args=out)
            assert decode_body(encode(m), methods={3: method}.get) == [m]


def test_method_response_with_out_arguments_after_a_failure() -> None:
    method = SchemaMethod(name="f", args=(SchemaArgument(name="a", type=7, dir="O"),))
    sent = [MethodResponse(seq=1, status=7, text="boom", method=method, out_args={"a": "partial"}),
            MethodResponse(seq=2, status=7, text="boom", method=method),
            MethodResponse(seq=3, status=0, method=method, out_args={"a": ""})]
    pending = {1: method, 2: method, 3: method}.get
    assert decode_body(encode_body(sent), methods=pending) == sent


def test_method_response_out_arguments_that_look_like_a_header_are_refused() -> None:
    """After a non-zero status the decoder tells out-arguments from the next message by the magic
    'AM2'; a response whose out-argument bytes begin with it could not be read back."""
    method = SchemaMethod(name="f", args=tuple(SchemaArgument(name=n, type=1, dir="O") for n in "abc"))
    with pytest.raises(EncodeError, match="AM2"):
        MethodResponse(seq=1, status=1, method=method, out_args={"a": 0x41, "b": 0x4D, "c": 0x32})
    ok = MethodResponse(seq=1, status=0, method=method, out_args={"a": 0x41, "b": 0x4D, "c": 0x32})
    assert decode_body(encode(ok), methods={1: method}.get) == [ok]


def test_unmanaged_objects_nest() -> None:
    leaf = ObjectClass(ClassKey("pkg", "leaf", b"l" * 16), (SchemaProperty(name="x", type=7, optional=True),),
                       (SchemaStatistic(name="n", type=4),))
    node = ObjectClass(ClassKey("pkg", "node", b"n" * 16), (SchemaProperty(name="child", type=20),),
                       (SchemaStatistic(name="kids", type=22),))
    value = Unmanaged(node, {"child": Unmanaged(leaf, {}, {"n": 1})},
                      {"kids": QmfArray([Unmanaged(leaf, {"x": "a"}, {"n": 2}), Tagged(15, {"k": Int8(1)})],
                                        typecode=20)})
    holder = ObjectClass(ClassKey("pkg", "holder", b"h" * 16), statistics=(SchemaStatistic(name="v", type=20),))
    lookup = {s.key: s for s in (leaf, node, holder)}.get
    m = StatisticIndication(schema=holder, object_id=ObjectId(0, 1), statistics={"v": value})
    [got] = decode_body(encode(m), schemas=lookup)
    assert got == m
    assert_same(got.statistics, expected_statistics(holder, m.statistics))


@SETTINGS
@given(data=st.data())
def test_schemas_with_every_part(data: st.DataObject) -> None:
    """Schemas drawn on their own, object and event classes, through an 's' in the default style."""
    for schema in (data.draw(object_classes(min_methods=1)), data.draw(event_classes())):
        m = SchemaResponse(seq=5, schema=schema)
        [got] = decode_body(encode(m))
        assert got == m
        assert_types_kept([got], [m])


@SETTINGS
@given(case=cases("G"), style=st.sampled_from(STYLES))
@example(case=Case([GetQuery(query={"b": True, "i": 5, "s": "é", "x": b"ab"})], {}, {}), style=MapStyle.ENGINE)
def test_get_query_in_every_style(case: Case, style: MapStyle) -> None:
    """Every writer style can write any query map (the styles change type codes, not values)."""
    [m] = case.messages
    body = encode(m, style=style)
    [got] = decode_body(body)
    assert encode(got) == body
    assert len(got.query) == len(m.query)


@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_messages_in_one_registry(data: st.DataObject) -> None:
    """Messages that share a registry (nested schemas, pending methods) decode from one body in any order."""
    reg = Registry()
    sent = [data.draw(messages(op, reg)) for op in data.draw(st.permutations(list("cigMmeG")))]
    case = Case(sent, reg.schemas, reg.methods)
    decoded = roundtrip(case)
    assert_types_kept(decoded, sent)


@given(st.data())
@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
def test_readdress_is_the_request_encoded_for_that_seq_and_object(data: st.DataObject) -> None:
    reg = Registry()
    schema = reg.add(data.draw(object_classes(reg, min_methods=1)))
    method = data.draw(st.sampled_from(schema.methods))
    args = data.draw(argument_values(method.in_args, reg))
    first, other = data.draw(object_ids()), data.draw(object_ids())
    seq = data.draw(st.integers(0, 2**32 - 1))
    template = codec.encode(MethodRequest(seq=1, object_id=first, schema=schema, method=method.name, args=args))
    direct = codec.encode(MethodRequest(seq=seq, object_id=other, schema=schema, method=method.name, args=args))
    assert codec.readdress(template, seq, other) == direct


def test_readdress_refuses_what_is_not_a_method_request() -> None:
    with pytest.raises(EncodeError):
        codec.readdress(codec.encode(GetQuery(seq=1, query={"_class": "x"})), 2, ObjectId(0, 0))
    with pytest.raises(EncodeError):
        codec.readdress(b"AM2M\x00\x00\x00\x01", 2, ObjectId(0, 0))
