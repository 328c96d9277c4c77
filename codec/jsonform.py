"""Messages as JSON, in the input format of the Qpid reference peer, for people and conformance work.

`messages_from_json` reads what the peer's encoder reads: a list of messages (or
`{"schemas": [...], "messages": [...]}`), schemas given once in an 's' with an `"id"` and
referred to by `"schema"`; value maps typed the way Qpid's Python console types them (the
message's `map_style`, default `python`) and schema maps per their `map_style` (default `cpp`).
`body_to_json` writes decoded messages back in that format, annotated so that encoding the JSON
gives back the same bytes: maps use `"map_style": "default"` (this codec's lossless rule) with
`{"t": type, "v": value}` wherever a value's type is not the default one, and a schema response
names the writer style that reproduces its bytes.

Where the peer shows one of Qpid's bugs this module does the right thing instead (see README):
keyword and defaulted method arguments are filled in by name, typecode-20 objects and empty
typecode-22 arrays are written correctly, and requests for Qpid's broken layouts (a superclass
octet, a str8 method-response text, an overridden presence mask) are refused.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from . import amqptypes as t
from . import messages as msg
from .amqp import MapStyle, code_for
from .body import encode, iter_messages
from .errors import CodecError, EncodeError
from .objectid import ObjectId
from .py27order import py27_dict_order
from .schema import (
    ClassKey,
    ClassKind,
    EventClass,
    ObjectClass,
    Schema,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaStatistic,
)
from .values import QmfArray, Tagged, Unmanaged, element_typecode

AMQP_NAMES: dict[str, int] = {
    "bin8": 0x00, "int8": 0x01, "uint8": 0x02, "char": 0x04, "boolean": 0x08, "bin16": 0x10, "int16": 0x11,
    "uint16": 0x12, "bin32": 0x20, "int32": 0x21, "uint32": 0x22, "float": 0x23, "char_utf32": 0x27,
    "bin64": 0x30, "int64": 0x31, "uint64": 0x32, "double": 0x33, "datetime": 0x38, "bin128": 0x40,
    "uuid": 0x48, "bin256": 0x50, "bin512": 0x60, "bin1024": 0x70, "vbin8": 0x80, "str8_latin": 0x84,
    "str8": 0x85, "str8_utf16": 0x86, "vbin16": 0x90, "str16_latin": 0x94, "str16": 0x95, "str16_utf16": 0x96,
    "vbin32": 0xA0, "map": 0xA8, "list": 0xA9, "array": 0xAA, "struct32": 0xAB, "bin40": 0xC0, "dec32": 0xC8,
    "bin72": 0xD0, "dec64": 0xD8, "void": 0xF0, "bit": 0xF1,
}
AMQP_CODE_NAMES = {code: name for name, code in AMQP_NAMES.items()}
STYLES = {s.value: s for s in MapStyle}


def _style(doc: Mapping[str, Any], default: str) -> MapStyle:
    name = doc.get("map_style", default)
    if name not in STYLES:
        raise EncodeError(f"map_style {name!r} is not one of {sorted(STYLES)}")
    return STYLES[name]


def _hash(text: object) -> bytes:
    raw = bytes.fromhex(str(text).replace("-", ""))
    if len(raw) != 16:
        raise EncodeError(f"a hash/uuid is 16 bytes, not {text!r}")
    return raw


def _uuid(text: object) -> uuid.UUID:
    return uuid.UUID(bytes=_hash(text))


def _oid(doc: object, console: bool) -> ObjectId:
    """An object id from its text form or fields; the console side normalises it as console.py does."""
    if isinstance(doc, str):
        oid = ObjectId.parse(doc)
    elif isinstance(doc, Mapping):
        if "first" in doc:
            oid = ObjectId(int(doc["first"]), int(doc["second"]))
        else:
            oid = ObjectId.make(flags=int(doc.get("flags", 0)), sequence=int(doc.get("seq", 0)),
                                broker_bank=int(doc.get("brokerBank", 1)), agent_bank=int(doc.get("agentBank", 0)),
                                object=int(doc.get("object", 0)))
        if doc.get("console_encode"):
            console = True
        if doc.get("raw"):
            console = False
    else:
        raise EncodeError(f"an object id is a text or a mapping, not {doc!r:.40}")
    return oid.console_normalised() if console else oid


# -- JSON -> Python values -------------------------------------------------------------------------
def amqp_from_json(v: Any, style: MapStyle) -> Any:
    """A JSON value inside a map or list, as the peer's encoder turns it into a Python value."""
    if isinstance(v, Mapping):
        if set(v) in ({"t", "v"}, {"t", "v", "element"}):
            return _typed_from_json(v, style)
        if set(v) == {"uuid"}:
            return _uuid(v["uuid"])
        if set(v) == {"bytes_hex"}:
            return bytes.fromhex(v["bytes_hex"])
        keys = list(v)
        if style is MapStyle.PYTHON:  # the peer re-builds every JSON object into a fresh Python 2 dict
            keys = py27_dict_order(keys)  # type: ignore[assignment]
        return {k: amqp_from_json(v[k], style) for k in keys}
    if isinstance(v, list):
        return [amqp_from_json(x, style) for x in v]
    return v


def _typed_from_json(v: Mapping[str, Any], style: MapStyle) -> Any:
    name, x = v["t"], v["v"]
    code = AMQP_NAMES.get(name)
    if code is None:
        raise EncodeError(f"unknown AMQP type name {name!r}")
    if code == 0xA8:
        return amqp_from_json(dict(x), style)
    if code == 0xA9:
        return [amqp_from_json(i, style) for i in x]
    if code == 0xAA:
        items = [amqp_from_json(i, style) for i in x]
        element = v.get("element")
        ecode = AMQP_NAMES[element] if element else (code_for(items[0], style) if items else 0xF0)
        return t.Array(ecode, items)
    if code == 0xF0:
        return None
    if code == 0xF1:
        return t.BIT
    if code == 0x08:  # a plain bool would be an int32 in the engine style
        return t.Boolean(x) if style is MapStyle.ENGINE else bool(x)
    if code == 0x48:
        return _uuid(x)
    if code == 0x33:
        return t.Double(float(x))
    if code == 0x23:
        return t.Float32(float(x))
    cls = t.CLASS_BY_CODE.get(code)
    if cls is None:
        raise EncodeError(f"AMQP type {name!r} has no JSON form")
    if issubclass(cls, t._TypedBytes):
        if isinstance(x, Mapping) and "bytes_hex" in x:
            return cls(bytes.fromhex(x["bytes_hex"]))
        if code == 0x40 and isinstance(x, str) and len(x.replace("-", "")) == 32:
            return cls(_hash(x))
        return cls(x.encode("utf-8") if isinstance(x, str) else bytes(x))
    return cls(x)


class _Registry:
    """Schemas by id (for JSON) and by class key (for the decoder)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Schema] = {}
        self.by_key: dict[ClassKey, Schema] = {}
        self.ids: dict[ClassKey, str] = {}

    def add(self, schema: Schema, sid: str | None = None) -> str:
        sid = sid or self.ids.get(schema.key) or f"S{len(self.by_id) + 1}"
        self.by_id[sid] = schema
        self.by_key[schema.key] = schema
        self.ids.setdefault(schema.key, sid)
        return sid

    def get(self, sid: object) -> Schema:
        if not isinstance(sid, str) or sid not in self.by_id:
            raise EncodeError(f"message refers to schema {sid!r}, which no earlier 's' defined with that id")
        return self.by_id[sid]


def qmf_from_json(tc: int, v: Any, reg: _Registry, style: MapStyle, console: bool) -> Any:
    """A JSON value laid out by QMF typecode `tc`, coerced as console.py's _encodeValue coerces it."""
    if v is None:
        return None
    if tc in (1, 2, 3, 4, 8, 9, 16, 17, 18, 19):
        return int(v)
    if tc in (12, 13):
        return float(v)
    if tc == 11:
        return bool(v)
    if tc == 10:
        return _oid(v, console)
    if tc == 14:
        return _uuid(v["uuid"] if isinstance(v, Mapping) else v)
    if tc in (15, 21):
        return amqp_from_json(v, style)
    if tc == 22:
        if isinstance(v, Mapping) and "items" in v:
            etc = int(v["typecode"])
            return QmfArray([qmf_from_json(etc, x, reg, style, console) for x in v["items"]], typecode=etc)
        # a plain list: the element typecode comes from its first item, as the console picks it
        return [_uuid(x["uuid"]) if isinstance(x, Mapping) and "uuid" in x else amqp_from_json(x, style) for x in v]
    if tc == 20:
        if not isinstance(v, Mapping):
            raise EncodeError(f"a typecode-20 value is an object (schema, properties, statistics) or a tagged "
                              f"value, not {v!r:.40}")
        if "tagged" in v:
            inner = int(v["tagged"])
            return Tagged(inner, qmf_from_json(inner, v["value"], reg, style, console))
        schema = reg.get(v.get("schema"))
        if not isinstance(schema, ObjectClass):
            raise EncodeError("a typecode-20 object needs an object class schema")
        props = {p.name: qmf_from_json(p.type, v.get("properties", {}).get(p.name), reg, style, True)
                 for p in schema.properties}
        stats = {s.name: qmf_from_json(s.type, v.get("statistics", {}).get(s.name, 0), reg, style, True)
                 for s in schema.statistics}
        return Unmanaged(schema, {k: x for k, x in props.items() if x is not None}, stats)
    return v


def _default_value(a: SchemaArgument) -> Any:
    """A schema `default` (always a string on the wire) as the value of its argument's type."""
    text = a.default or ""
    if a.type in (1, 2, 3, 4, 8, 9, 16, 17, 18, 19):
        return int(text, 0)
    if a.type == 11:
        return text.strip().lower() in ("1", "true", "yes", "t", "y")
    if a.type in (12, 13):
        return float(text)
    if a.type in (6, 7):
        return text
    raise EncodeError(f"argument {a.name!r}: a default for typecode {a.type} cannot be read from {text!r}")


# -- JSON -> messages ---------------------------------------------------------------------------
def _schema_from_json(d: Mapping[str, Any], style: MapStyle) -> Schema:
    if d.get("superclass_octet") is not None:
        raise EncodeError("the superclass octet was removed by QPID-2245 (0.6); QMFv1 schemas have none")
    key = ClassKey(str(d["package"]), str(d["class"]), _hash(d["hash"]))

    def extra(r: Mapping[str, Any]) -> dict[str, Any]:
        given = r.get("extra", {})
        keys = list(given)
        if style is MapStyle.PYTHON:  # the peer adds them to the record in its Python 2 dict's order
            keys = py27_dict_order(keys)  # type: ignore[assignment]
        return {k: amqp_from_json(given[k], style) for k in keys}

    def arg(a: Mapping[str, Any], method: bool) -> SchemaArgument:
        return SchemaArgument(name=a["name"], type=int(a["type"]), dir=str(a.get("dir", "I")).upper() if method
                              else None, unit=a.get("unit"), min=a.get("min") if method else None,
                              max=a.get("max") if method else None, maxlen=a.get("maxlen") if method else None,
                              default=a.get("default") if method else None, desc=a.get("desc"), extra=extra(a))

    if int(d.get("kind", 1)) == ClassKind.EVENT:
        return EventClass(key, tuple(arg(a, False) for a in d.get("arguments", [])))
    props = tuple(SchemaProperty(name=p["name"], type=int(p["type"]), access=int(p.get("access", 3)),
                                 index=bool(p.get("index", 0)), optional=bool(p.get("optional", 0)),
                                 unit=p.get("unit"), min=p.get("min"), max=p.get("max"), maxlen=p.get("maxlen"),
                                 desc=p.get("desc"), ref_package=p.get("refPackage"), ref_class=p.get("refClass"),
                                 extra=extra(p)) for p in d.get("properties", []))
    stats = tuple(SchemaStatistic(name=s["name"], type=int(s["type"]), unit=s.get("unit"), desc=s.get("desc"),
                                  extra=extra(s)) for s in d.get("statistics", []))
    methods = []
    for m in d.get("methods", []):
        args = tuple(arg(a, True) for a in m.get("args", []))
        if "argCount" in m and int(m["argCount"]) != len(args):
            raise EncodeError(f"method {m['name']!r}: argCount {m['argCount']} does not match its {len(args)} args")
        methods.append(SchemaMethod(name=m["name"], args=args, desc=m.get("desc"), extra=extra(m)))
    return ObjectClass(key, props, stats, tuple(methods))


def _method_args(d: Mapping[str, Any], schema: ObjectClass, reg: _Registry, style: MapStyle) -> dict[str, Any]:
    method = schema.method(d["method"])
    if method is None:
        raise EncodeError(f"class {schema.key.name!r} has no method {d['method']!r}")
    given = list(d.get("args", []))
    kwargs = dict(d.get("kwargs", {}))
    if len(given) > len(method.in_args):
        raise EncodeError(f"method {method.name!r} takes {len(method.in_args)} in-arguments, {len(given)} given")
    args: dict[str, Any] = {}
    for i, a in enumerate(method.in_args):
        if i < len(given):
            args[a.name] = qmf_from_json(a.type, given[i], reg, style, True)
        elif a.name in kwargs:
            args[a.name] = qmf_from_json(a.type, kwargs.pop(a.name), reg, style, True)
        elif a.default is not None:
            args[a.name] = _default_value(a)
        else:
            raise EncodeError(f"method {method.name!r} argument {a.name!r} has no value and no default")
    if kwargs:
        raise EncodeError(f"method {method.name!r} has no in-arguments {sorted(kwargs)}")
    return args


def _values(schema_items: Any, given: Mapping[str, Any], reg: _Registry, style: MapStyle, fill: Any) -> dict:
    """Values by name; `fill` for a missing one. None leaves a property out (`fill` None), but is the
    value of a typecode-15/21 statistic or argument (written as an empty size, as codec010 writes it)."""
    out = {}
    for item in schema_items:
        v = given.get(item.name, fill)
        if v is not None or (fill is not None and item.type in (15, 21)):
            out[item.name] = qmf_from_json(item.type, v, reg, style, False)
    return out


def message_from_json(d: Mapping[str, Any], reg: _Registry) -> tuple[msg.Message, MapStyle]:
    """One peer-format JSON message as a message and the map style to write it with."""
    op = d.get("op")
    seq = int(d.get("seq", 0))
    if op == "s":
        style = _style(d, "cpp")
        schema = _schema_from_json(d, style)
        reg.add(schema, d.get("id"))
        return msg.SchemaResponse(seq=seq, schema=schema), style
    style = _style(d, "python")
    simple: dict[str, Callable[[], msg.Message]] = {
        "B": lambda: msg.BrokerRequest(seq=seq),
        "P": lambda: msg.PackageQuery(seq=seq),
        "x": lambda: msg.ConsoleAddedIndication(seq=seq),
        "b": lambda: msg.BrokerResponse(seq=seq, broker_id=_uuid(d["brokerId"])),
        "p": lambda: msg.PackageIndication(seq=seq, package=d["package"]),
        "Q": lambda: msg.ClassQuery(seq=seq, package=d["package"]),
        "q": lambda: msg.ClassIndication(seq=seq, kind=int(d.get("kind", 1)),
                                         key=ClassKey(d["package"], d["class"], _hash(d["hash"]))),
        "S": lambda: msg.SchemaRequest(seq=seq, key=ClassKey(d["package"], d["class"], _hash(d["hash"]))),
        "z": lambda: msg.CommandComplete(seq=seq, code=int(d.get("code", 0)), text=d.get("text", "OK")),
        "h": lambda: msg.Heartbeat(seq=seq, timestamp=int(d["timestamp"])),
        "A": lambda: msg.AgentAttachRequest(seq=seq, label=d.get("label", "RemoteAgent [C++]"),
                                            system_id=_uuid(d["systemId"]), broker_bank=int(d.get("brokerBank", 0)),
                                            agent_bank=int(d.get("agentBank", 0))),
        "a": lambda: msg.AgentAttachResponse(seq=seq, broker_bank=int(d.get("brokerBank", 1)),
                                             agent_bank=int(d["agentBank"])),
        "G": lambda: msg.GetQuery(seq=seq, query=_get_query(d, style)),
    }
    if op in simple:
        return simple[op](), style
    if op not in ("c", "i", "g", "M", "m", "e"):
        raise EncodeError(f"no QMFv1 opcode {op!r}")
    if d.get("presence_override") is not None:
        raise EncodeError("presence_override writes a mask that contradicts the values; refused")
    schema = reg.get(d.get("schema"))
    if op in "cig":
        if not isinstance(schema, ObjectClass):
            raise EncodeError(f"'{op}' needs an object class schema")
        ts = [int(x) for x in d.get("timestamps", [0, 0, 0])]
        common = dict(seq=seq, schema=schema, object_id=_oid(d["objectId"], False), update_time=ts[0],
                      create_time=ts[1], delete_time=ts[2])
        props = _values(schema.properties, d.get("properties", {}), reg, style, None) if op in "cg" else {}
        stats = _values(schema.statistics, d.get("statistics", {}), reg, style, 0) if op in "ig" else {}
        if op == "c":
            return msg.PropertyIndication(**common, properties=props), style
        if op == "i":
            return msg.StatisticIndication(**common, statistics=stats), style
        return msg.ObjectIndication(**common, properties=props, statistics=stats), style
    if op == "M":
        if not isinstance(schema, ObjectClass):
            raise EncodeError("'M' needs an object class schema")
        return msg.MethodRequest(seq=seq, object_id=_oid(d["objectId"], True), schema=schema, method=d["method"],
                                 args=_method_args(d, schema, reg, style)), style
    if op == "m":
        if d.get("text_as_str8"):
            raise EncodeError("text_as_str8 reproduces qmf-gen's unknown-method bug (a str8 where the layout "
                              "has a str16); this codec writes str16")
        code = int(d.get("code", 0))
        method = schema.method(d["method"]) if isinstance(schema, ObjectClass) else None
        if method is None:
            raise EncodeError(f"schema has no method {d.get('method')!r}")
        out = None
        if d.get("include_out_args", code == 0):
            out = _values(method.out_args, d.get("outArgs", {}), reg, style, 0)
        return msg.MethodResponse(seq=seq, status=code, text=d.get("text", "OK"), method=method,
                                  out_args=out), style
    if not isinstance(schema, EventClass):
        raise EncodeError("'e' needs an event class schema")
    return msg.EventIndication(seq=seq, schema=schema, timestamp=int(d.get("timestamp", 0)),
                               severity=int(d.get("severity", 6)),
                               arguments=_values(schema.arguments, d.get("arguments", {}), reg, style, 0)), style


def _get_query(d: Mapping[str, Any], style: MapStyle) -> dict[str, Any]:
    """The query map as console.py's `_v1SendGetQuery` builds it."""
    if "query" in d:
        return amqp_from_json(d["query"], style)
    query: dict[str, Any] = {}
    if "_class" in d:
        query["_class"] = d["_class"]
        if "_package" in d:
            query["_package"] = d["_package"]
    elif "_key" in d:
        query["_class"] = d["_key"]["class"]
        query["_package"] = d["_key"]["package"]
    elif "_objectId" in d:
        query["_objectid"] = str(_oid(d["_objectId"], True))
    return query


def encode_json(doc: Any) -> dict[str, Any]:
    """The peer's encode: per message its hex or an error, and the concatenated body."""
    reg = _Registry()
    if isinstance(doc, Mapping):
        for s in doc.get("schemas", []):
            reg.add(_schema_from_json(s, _style(s, "cpp")), s.get("id"))
        items = doc.get("messages", [])
    else:
        items = doc
    out, body = [], bytearray()
    for d in items:
        try:
            m, style = message_from_json(d, reg)
            raw = encode(m, style=style)
        except (CodecError, KeyError, ValueError, TypeError) as exc:
            out.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        out.append({"hex": raw.hex()})
        body += raw
    return {"messages": out, "body_hex": body.hex()}


# -- messages -> JSON -----------------------------------------------------------------------------
def amqp_to_json(v: Any) -> Any:
    """A decoded map/list value as JSON that `amqp_from_json(..., MapStyle.DEFAULT)` reads back."""
    if v is None or isinstance(v, bool) or type(v) in (int, str):
        return v
    if type(v) is float:
        return v if math.isfinite(v) else {"t": "double", "v": repr(v)}
    if isinstance(v, bytes) and type(v) is bytes:
        return {"bytes_hex": v.hex()}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, dict):
        return {k: amqp_to_json(x) for k, x in v.items()}
    if isinstance(v, t.Array):
        return {"t": "array", "element": AMQP_CODE_NAMES[v.type], "v": [_scalar_json(x) for x in v]}
    if isinstance(v, list):
        return [amqp_to_json(x) for x in v]
    if isinstance(v, t.Bit):
        return {"t": "bit", "v": True}
    return {"t": AMQP_CODE_NAMES[type(v).code], "v": _scalar_json(v)}


def _scalar_json(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"bytes_hex": bytes(v).hex()}
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    return amqp_to_json(v)


def _oid_json(oid: ObjectId, raw: bool) -> dict[str, Any]:
    d = {"flags": oid.flags, "seq": oid.sequence, "brokerBank": oid.broker_bank, "agentBank": oid.agent_bank,
         "object": oid.object}
    if raw:
        d["raw"] = True
    return d


def qmf_to_json(tc: int, v: Any, ids: Mapping[ClassKey, str], console: bool) -> Any:
    if tc == 10:
        return _oid_json(v, console)
    if tc == 14:
        return str(v)
    if tc in (15, 21):
        return amqp_to_json(v)
    if tc == 12 or tc == 13:
        return v if math.isfinite(v) else repr(v)
    if tc == 22:
        items = [qmf_to_json(v.typecode, x, ids, console) for x in v]
        inferred = element_typecode(v[0]) if len(v) else None
        if v.typecode != inferred or v.typecode in (10, 15, 20, 22):
            return {"typecode": v.typecode, "items": items}
        return [{"uuid": x} for x in items] if v.typecode == 14 else items
    if tc == 20:
        if isinstance(v, Tagged):
            return {"tagged": v.typecode, "value": qmf_to_json(v.typecode, v.value, ids, console)}
        return {"schema": ids[v.schema.key],
                "properties": _values_json(v.schema.properties, v.properties, ids, True),
                "statistics": _values_json(v.schema.statistics, v.statistics, ids, True)}
    return v


def _values_json(items: Any, values: Mapping[str, Any], ids: Mapping[ClassKey, str], console: bool) -> dict:
    return {i.name: qmf_to_json(i.type, values[i.name], ids, console) for i in items if i.name in values}


def _record_json(r: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in r.extra.items():
        d.setdefault("extra", {})[k] = amqp_to_json(v)
    return d


def schema_to_json(schema: Schema, sid: str, seq: int, style: str) -> dict[str, Any]:
    d: dict[str, Any] = {"op": "s", "seq": seq, "id": sid, "kind": int(schema.kind), "package": schema.key.package,
                         "class": schema.key.name, "hash": schema.key.hash.hex(), "map_style": style}

    def opt(out: dict[str, Any], pairs: Any) -> dict[str, Any]:
        out.update({k: v for k, v in pairs if v is not None})
        return out

    def arg(a: SchemaArgument) -> dict[str, Any]:
        return opt({"name": a.name, "type": a.type}, (("dir", a.dir), ("unit", a.unit), ("min", a.min),
                   ("max", a.max), ("maxlen", a.maxlen), ("default", a.default), ("desc", a.desc))) | _record_json(a)

    if isinstance(schema, EventClass):
        d["arguments"] = [arg(a) for a in schema.arguments]
        return d
    d["properties"] = [opt({"name": p.name, "type": p.type, "access": int(p.access), "index": int(p.index),
                            "optional": int(p.optional)},
                           (("unit", p.unit), ("desc", p.desc), ("min", p.min), ("max", p.max),
                            ("maxlen", p.maxlen), ("refPackage", p.ref_package), ("refClass", p.ref_class)))
                       | _record_json(p) for p in schema.properties]
    d["statistics"] = [opt({"name": s.name, "type": s.type}, (("unit", s.unit), ("desc", s.desc))) | _record_json(s)
                       for s in schema.statistics]
    d["methods"] = [opt({"name": m.name}, (("desc", m.desc),)) | {"args": [arg(a) for a in m.args]}
                    | _record_json(m) for m in schema.methods]
    return d


def message_to_json(m: msg.Message, ids: Mapping[ClassKey, str], method_schema: str | None = None) -> dict[str, Any]:
    """A decoded message (not 's', which `body_to_json` handles) in the peer's input format;
    `method_schema` is the id of the class a method response's method belongs to."""
    d: dict[str, Any] = {"op": m.opcode, "seq": m.seq}
    if isinstance(m, msg.BrokerResponse):
        d["brokerId"] = str(m.broker_id)
    elif isinstance(m, msg.PackageIndication | msg.ClassQuery):
        d["package"] = m.package
    elif isinstance(m, msg.ClassIndication | msg.SchemaRequest):
        if isinstance(m, msg.ClassIndication):
            d["kind"] = int(m.kind)
        d.update({"package": m.key.package, "class": m.key.name, "hash": m.key.hash.hex()})
    elif isinstance(m, msg.CommandComplete):
        d.update(code=m.code, text=m.text)
    elif isinstance(m, msg.Heartbeat):
        d["timestamp"] = m.timestamp
    elif isinstance(m, msg.GetQuery):
        d.update(query=amqp_to_json(m.query), map_style="default")
    elif isinstance(m, msg.AgentAttachRequest):
        d.update(label=m.label, systemId=m.system_id.hex, brokerBank=m.broker_bank, agentBank=m.agent_bank)
    elif isinstance(m, msg.AgentAttachResponse):
        d.update(brokerBank=m.broker_bank, agentBank=m.agent_bank)
    elif isinstance(m, msg._ObjectRecord):
        d.update(schema=ids[m.schema.key], timestamps=[m.update_time, m.create_time, m.delete_time],
                 objectId=_oid_json(m.object_id, False), map_style="default")
        if isinstance(m, msg.PropertyIndication | msg.ObjectIndication):
            d["properties"] = _values_json(m.schema.properties, m.properties, ids, False)
        if isinstance(m, msg.StatisticIndication | msg.ObjectIndication):
            d["statistics"] = _values_json(m.schema.statistics, m.statistics, ids, False)
    elif isinstance(m, msg.MethodRequest):
        method = m.schema_method()
        d.update(schema=ids[m.schema.key], objectId=_oid_json(m.object_id, True), method=m.method,
                 args=[qmf_to_json(a.type, m.args[a.name], ids, True) for a in method.in_args], map_style="default")
    elif isinstance(m, msg.MethodResponse):
        d.update(code=m.status, text=m.text)
        if m.method is not None:
            d.update(schema=method_schema, method=m.method.name, map_style="default")
            if m.out_args is not None:
                d["outArgs"] = _values_json(m.method.out_args, m.out_args, ids, False)
            d["include_out_args"] = m.out_args is not None
    elif isinstance(m, msg.EventIndication):
        d.update(schema=ids[m.schema.key], timestamp=m.timestamp, severity=m.severity,
                 arguments=_values_json(m.schema.arguments, m.arguments, ids, False), map_style="default")
    return d


def body_to_json(body: bytes, reg: _Registry | None = None,
                 pending: Mapping[int, tuple[ClassKey, str]] | None = None) -> dict[str, Any]:
    """Decodes one body into peer-format JSON; a decode error is reported after what was read."""
    reg = reg or _Registry()
    pending = pending or {}
    method_ids: dict[int, str] = {}

    def method_for(seq: int) -> SchemaMethod | None:
        if seq not in pending:
            return None
        key, name = pending[seq]
        schema = reg.by_key.get(key)
        method_ids[seq] = reg.ids.get(key, "")
        return schema.method(name) if isinstance(schema, ObjectClass) else None

    out: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"schemas": [schema_to_json(s, sid, 0, "default") for sid, s in reg.by_id.items()],
                           "messages": out}
    offset = 0
    try:
        for m in iter_messages(body, schemas=reg.by_key.get, methods=method_for):
            if isinstance(m, msg.SchemaResponse):
                style = next((s for s in ("cpp", "engine", "python", "default")
                              if body.startswith(encode(m, style=STYLES[s]), offset)), "default")
                d = schema_to_json(m.schema, reg.add(m.schema), m.seq, style)
            else:
                d = message_to_json(m, reg.ids, method_ids.get(m.seq))
            offset += len(encode(m, style=STYLES[d.get("map_style", "default")]))
            out.append(d)
    except CodecError as exc:
        doc["error"] = {"type": type(exc).__name__, "opcode": getattr(exc, "opcode", None),
                        "offset": getattr(exc, "offset", None), "reason": exc.reason}
    return doc


def decode_json(doc: Mapping[str, Any] | list[str]) -> list[dict[str, Any]]:
    """The peer's decode input (hex bodies, or a document with preloaded schemas and pending methods)."""
    reg = _Registry()
    if isinstance(doc, list):
        return [body_to_json(bytes.fromhex("".join(h.split())), reg) for h in doc]
    for h in doc.get("preload_schemas_hex", []):
        for m in iter_messages(bytes.fromhex(h)):
            if isinstance(m, msg.SchemaResponse):
                reg.add(m.schema)
    pending = {int(p["seq"]): (ClassKey(p["package"], p["class"], _hash(p["hash"])), p["method"])
               for p in doc.get("pending_methods", [])}
    bodies = ([doc["hex"]] if "hex" in doc else []) + list(doc.get("bodies", []))
    return [body_to_json(bytes.fromhex("".join(h.split())), reg, pending) for h in bodies]
