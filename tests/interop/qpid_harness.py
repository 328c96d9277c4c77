#!/usr/bin/env python2.7
# -*- coding: utf-8 -*-
"""func_amqp's QMFv1 interop harness: Apache Qpid's own Python code as a live peer.

Runs under Python 2.7 and imports Qpid's code from an install made by install_qpid.sh:

  * qpid-python 1.36.0-1  ``qpid.codec010``  (the AMQP 0-10 primitive codec: maps, lists, ...)
  * qpid-tools  1.36.0-1  ``qmf.console``    (the QMFv1 console: encoders, handlers)

Start it as::

    PYENV_VERSION=2.7.18 python2.7 tests/interop/qpid_harness.py build/qpid
    # or QPID_DIR=build/qpid; the folder holds site/qpid and site/qmf

It reads one JSON request per line on stdin and writes one JSON reply per line on stdout
(flushed after each).  Every reply echoes the request's "id" if it had one.  An exception in a
request becomes {"error": "Type: text"}; the process keeps serving.  Commands:

  encode        {"messages": [...]}           -> {"messages": [{"hex"}|{"error"}], "body_hex"}
  decode        {"hex"|"bodies", ...}         -> {"bodies": [{"body_hex", "records": [...]}]}
  encode_value  {"typecode", "value"}         -> {"hex"}             (Session._encodeValue)
  decode_value  {"typecode", "hex"}           -> {"value", "consumed"} (Session._decodeValue)
  encode_map / decode_map / encode_list / decode_list / encode_array / decode_array
                                              (codec010 write_map/read_map, ...)
  info                                        -> versions and paths

Nothing here opens a socket.  Console-side messages are produced by console.py's own methods
(the AMQP session under the console's Broker is replaced by a recorder); agent-side messages,
which console.py never writes, are written with codec010 primitives in the order qpid-cpp's
management agent writes them, with typed values going through Session._encodeValue.
Decoding mirrors Broker._v1DispatchProtected's loop and calls console.py's real handlers.
"""
from __future__ import print_function

import binascii
import copy
import json
import math
import os
import struct
import sys


# ---------------------------------------------------------------------------------------------
# start-up: deterministic dicts, Qpid's code on sys.path
# ---------------------------------------------------------------------------------------------
def _hash_randomised():
    # sys.flags.hash_randomization is also non-zero for PYTHONHASHSEED=0, which disables it
    seed = os.environ.get("PYTHONHASHSEED", "")
    return seed not in ("", "0") or (seed == "" and bool(sys.flags.hash_randomization))


def _reexec_without_hash_randomisation():
    # Python 2 dict order decides the byte order of codec010.write_map; Qpid ran without
    # hash randomisation (the 2.7 default).  Make sure we do too (argv drops a -R flag).
    if _hash_randomised() and os.environ.get("QPID_HARNESS_REEXEC") != "1":
        env = dict(os.environ, PYTHONHASHSEED="0", QPID_HARNESS_REEXEC="1")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def _qpid_site():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    base = args[0] if args else os.environ.get("QPID_DIR")
    if not base:
        sys.stderr.write("qpid_harness: give the install folder (argv[1] or $QPID_DIR)\n")
        sys.exit(2)
    base = os.path.abspath(base)
    for cand in (os.path.join(base, "site"), base):
        if os.path.isfile(os.path.join(cand, "qpid", "codec010.py")) and \
           os.path.isfile(os.path.join(cand, "qmf", "console.py")):
            return cand
    sys.stderr.write("qpid_harness: no qpid/codec010.py + qmf/console.py under %s "
                     "(run tests/interop/install_qpid.sh %s)\n" % (base, base))
    sys.exit(2)


_reexec_without_hash_randomisation()
QPID_SITE = _qpid_site()
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [QPID_SITE] + [p for p in sys.path if p not in ("", _here, os.getcwd())]

from qpid.codec010 import StringCodec  # noqa: E402
from qpid.datatypes import UUID, Message, timestamp  # noqa: E402
from qpid.ops import PRIMITIVE, DeliveryProperties, MessageProperties, ReplyTo  # noqa: E402
import qmf.console as qc  # noqa: E402

hexlify = binascii.hexlify


def unhex(text):
    return binascii.unhexlify("".join(text.split()))


def exc_text(e):
    try:
        msg = unicode(e)
    except Exception:
        msg = repr(e)
    return u"%s: %s" % (e.__class__.__name__, msg)


# ---------------------------------------------------------------------------------------------
# ObjectId: console.py's class, plus a note of the 128 bits it was read from
# ---------------------------------------------------------------------------------------------
_ConsoleObjectId = qc.ObjectId


class WireObjectId(_ConsoleObjectId):
    """Behaves exactly like qmf.console.ObjectId; when built from a codec it also remembers
    the 16 bytes it read, so decode replies can show both the wire bits and what the console
    keeps (it keeps only agent bank, epoch and object number).  Installed as qc.ObjectId."""

    def __init__(self, constructor, first=0, second=0, agentName=None):
        self._wire = None
        if constructor is not None and constructor.__class__ is not dict and \
           hasattr(constructor, "read_uint64"):
            raw = constructor.encoded[:16]
            if len(raw) == 16:
                self._wire = struct.unpack("!QQ", raw)
        _ConsoleObjectId.__init__(self, constructor, first, second, agentName)


qc.ObjectId = WireObjectId


class RawObjectId(WireObjectId):
    """An ObjectId that encodes exactly the 128 bits it was given (qpid-cpp's
    ObjectId::encode); console.ObjectId.encode() would drop the flags and force broker bank 1."""

    def __init__(self, first, second):
        WireObjectId.__init__(self, None, first=first, second=second)
        self._raw = (first, second)

    def encode(self, codec):
        codec.write_uint64(self._raw[0])
        codec.write_uint64(self._raw[1])


def split_first(first):
    return {"flags": first >> 60, "seq": (first >> 48) & 0xFFF,
            "brokerBank": (first >> 28) & 0xFFFFF, "agentBank": first & 0xFFFFFFF}


def join_first(flags, seq, broker_bank, agent_bank):
    for name, val, bits in (("flags", flags, 4), ("seq", seq, 12),
                            ("brokerBank", broker_bank, 20), ("agentBank", agent_bank, 28)):
        if not 0 <= val < (1 << bits):
            raise ValueError("object id field %s=%r does not fit in %d bits" % (name, val, bits))
    return (flags << 60) | (seq << 48) | (broker_bank << 28) | agent_bank


def oid_bits(v):
    """(first, second) from the JSON forms of an object id."""
    if isinstance(v, dict) and set(v.keys()) == set(["objectId"]):
        v = v["objectId"]
    if isinstance(v, basestring):
        parts = [int(x) for x in v.split("-")]
        if len(parts) != 5:
            raise ValueError("object id text must be flags-seq-brokerBank-agentBank-object: %r" % v)
        v = dict(zip(("flags", "seq", "brokerBank", "agentBank", "object"), parts))
    if not isinstance(v, dict):
        raise ValueError("object id must be a dict or 'f-s-b-a-o' text, got %r" % (v,))
    if "first" in v:
        first, second = int(v["first"]), int(v.get("second", 0))
    else:
        first = join_first(int(v.get("flags", 0)), int(v.get("seq", 0)),
                           int(v.get("brokerBank", 1)), int(v.get("agentBank", 0)))
        second = int(v.get("object", 0))
    if not (0 <= first < 1 << 64 and 0 <= second < 1 << 64):
        raise ValueError("object id halves must be uint64")
    return first, second


def make_oid(v, console=False):
    """Agent-side messages write the bits as given (C++ ObjectId::encode); console-side ones
    ('M', 'G') use qmf.console.ObjectId, which renormalises.  {"raw": true} / {"console_encode":
    true} in the JSON override the default."""
    if isinstance(v, dict):
        if v.get("raw"):
            console = False
        elif v.get("console_encode"):
            console = True
    first, second = oid_bits(v)
    if console:
        return qc.ObjectId(None, first=first, second=second)
    return RawObjectId(first, second)


def oid_json(o):
    if o is None:
        return None
    c = StringCodec()
    o.encode(c)
    first, second = struct.unpack("!QQ", c.encoded)
    d = split_first(first)
    d.update(first=first, second=second, object=second, console_repr=repr(o))
    wire = getattr(o, "_wire", None)
    if wire is not None:
        w = split_first(wire[0])
        w.update(first=wire[0], second=wire[1], object=wire[1])
        d["wire"] = w
    return d


# ---------------------------------------------------------------------------------------------
# JSON -> Python values
# ---------------------------------------------------------------------------------------------
def to_uuid(v):
    if isinstance(v, UUID):
        return v
    if isinstance(v, dict) and "uuid" in v:
        v = v["uuid"]
    digits = str(v).replace("-", "")
    if len(digits) != 32:
        raise ValueError("uuid/bin128 must be 16 bytes (32 hex digits): %r" % (v,))
    return UUID(bytes=binascii.unhexlify(digits))


def to_bin128(v):
    return to_uuid(v).bytes


def to_unicode(v):
    if isinstance(v, str):
        return v.decode("utf8")
    return v


def to_bytes(v):
    if isinstance(v, dict) and set(v.keys()) == set(["bytes_hex"]):
        return unhex(v["bytes_hex"])
    if isinstance(v, unicode):
        return v.encode("utf8")
    return v


def is_annotation(v):
    return isinstance(v, dict) and set(v.keys()) == set(["t", "v"])


def has_annotation(v):
    if is_annotation(v):
        return True
    if isinstance(v, dict):
        return any(has_annotation(x) for x in v.values())
    if isinstance(v, list):
        return any(has_annotation(x) for x in v)
    return False


class Typed(object):
    """A value with an explicit AMQP 0-10 type name (a key of qpid.ops.PRIMITIVE)."""

    def __init__(self, t, v):
        self.t, self.v = t, v


STRING_TYPES = ("str8", "str16", "str8_latin", "str16_latin")
BINARY_TYPES = ("vbin8", "vbin16", "vbin32")


def agent_value(v, style="python"):
    """JSON -> Python for the agent-side writers and codec010.  Plain JSON strings become
    byte strings (codec010: str16 when ASCII, else vbin16; C++ Variant: vbin16);
    {"t": name, "v": value} pins the AMQP type; {"uuid": ...}; {"bytes_hex": ...}."""
    if isinstance(v, dict):
        if is_annotation(v):
            t, x = v["t"], v["v"]
            if t == "map":
                if style == "python":
                    return Typed(t, dict((to_unicode(k), agent_value(y, style)) for k, y in x.items()))
                return Typed(t, dict((to_bytes(k), agent_value(y, style)) for k, y in x.items()))
            if t == "list":
                return Typed(t, [agent_value(y, style) for y in x])
            if t in ("uuid", "bin128"):
                return Typed(t, to_uuid(x))
            if t in STRING_TYPES:
                return Typed(t, to_unicode(to_bytes(x)))
            if t in BINARY_TYPES:
                return Typed(t, to_bytes(x))
            if t == "char":
                return Typed(t, to_bytes(x))
            if t == "datetime" and isinstance(x, float):
                return Typed(t, timestamp(x))
            return Typed(t, x)
        if set(v.keys()) == set(["uuid"]):
            return to_uuid(v["uuid"])
        if set(v.keys()) == set(["bytes_hex"]):
            return unhex(v["bytes_hex"])
        return dict((to_unicode(k), agent_value(x, style)) for k, x in v.items())
    if isinstance(v, list):
        return [agent_value(x, style) for x in v]
    if isinstance(v, unicode):
        return v.encode("utf8")
    return v


_CONSOLE_ANNOTATION = {
    # the Python value codec010's type inference turns into that AMQP type
    "str16": lambda x: to_unicode(to_bytes(x)),
    "vbin16": lambda x: to_bytes(x),
    "vbin32": lambda x: buffer(to_bytes(x)),
    "int64": lambda x: int(x),
    "double": lambda x: float(x),
    "boolean": lambda x: bool(x),
    "void": lambda x: None,
    "uuid": lambda x: to_uuid(x),
    "datetime": lambda x: timestamp(x),
}


def console_value(v):
    """JSON -> the plain Python values a console.py user would pass (codec010 infers the
    AMQP types, so only annotations that map onto a Python type can be honoured)."""
    if isinstance(v, dict):
        if is_annotation(v):
            conv = _CONSOLE_ANNOTATION.get(v["t"])
            if conv is None:
                raise ValueError("console.py lets codec010 infer AMQP types; the annotation %r "
                                 "has no Python type it would infer it from" % v["t"])
            return conv(v["v"])
        if set(v.keys()) == set(["uuid"]):
            return to_uuid(v["uuid"])
        if set(v.keys()) == set(["bytes_hex"]):
            return unhex(v["bytes_hex"])
        return dict((to_unicode(k), console_value(x)) for k, x in v.items())
    if isinstance(v, list):
        return [console_value(x) for x in v]
    if isinstance(v, unicode):
        return v.encode("utf8")
    return v


# ---------------------------------------------------------------------------------------------
# AMQP 0-10 maps and lists in the three writer styles
# ---------------------------------------------------------------------------------------------
def cpp_type(v):
    """The AMQP type qpid-cpp's amqp_0_10 MapCodec gives a qpid::types::Variant built the way
    qmf-gen's generated code builds it."""
    if isinstance(v, Typed):
        return v.t
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, long)):
        return "int32" if -2 ** 31 <= v < 2 ** 31 else "int64"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "vbin16"          # Variant(const char*) / std::string without an encoding
    if isinstance(v, unicode):
        return "str16"
    if isinstance(v, UUID):
        return "uuid"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, (list, tuple)):
        return "list"
    if v is None:
        return "void"
    raise ValueError("no qpid-cpp Variant type for %r" % (v,))


def engine_type(v):
    """framing::FieldTable typing as the qmf engine (pre-0.7 C++ agent library) uses it:
    setString -> str16, setInt -> int32 (also for booleans)."""
    if isinstance(v, Typed):
        return v.t
    if isinstance(v, basestring):
        return "str16"
    if isinstance(v, (bool, int, long)):
        return "int32"
    return cpp_type(v)


def value_type(codec, v, style):
    if style == "cpp":
        return cpp_type(v)
    if style == "engine":
        return engine_type(v)
    if isinstance(v, Typed):
        return v.t
    return codec.encoding(v).NAME


def contains_typed(v):
    if isinstance(v, Typed):
        return True
    if isinstance(v, dict):
        return any(contains_typed(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(contains_typed(x) for x in v)
    return False


def write_typed(codec, t, v, style):
    if isinstance(v, Typed):
        v = v.v
    if t == "map":
        write_map(codec, v, style)
    elif t == "list":
        write_list(codec, v, style)
    elif t in ("uuid", "bin128"):
        codec.write_uuid(to_uuid(v))
    elif t in BINARY_TYPES:
        getattr(codec, "write_" + t)(to_bytes(v))
    elif t in STRING_TYPES:
        getattr(codec, "write_" + t)(to_unicode(v))
    else:
        codec.write_primitive(PRIMITIVE[t], v)


def write_map(codec, m, style="python"):
    """style "python": codec010.write_map exactly (dict order, codec010 typing); a map with
    {"t",...} annotations anywhere is written entry by entry in the same order and typing.
    style "cpp": qpid-cpp Variant::Map (std::map: keys in byte order, Variant typing).
    style "engine": framing::FieldTable as the qmf engine fills it (byte-ordered keys)."""
    if isinstance(m, Typed):
        m = m.v
    if style == "python" and not contains_typed(m):
        codec.write_map(m)
        return
    if m is None:
        codec.write_vbin32("")
        return
    keys = list(m.keys())
    if style != "python":
        keys.sort(key=lambda k: k.encode("utf8") if isinstance(k, unicode) else k)
    body = StringCodec()
    body.write_uint32(len(m))
    for k in keys:
        v = m[k]
        t = value_type(codec, v, style)
        body.write_str8(to_unicode(k))
        body.write_uint8(PRIMITIVE[t].CODE)
        write_typed(body, t, v, style)
    codec.write_vbin32(body.encoded)


def write_list(codec, items, style="python"):
    if isinstance(items, Typed):
        items = items.v
    if style == "python" and not contains_typed(items):
        codec.write_list(items)
        return
    if items is None:
        codec.write_vbin32("")
        return
    body = StringCodec()
    body.write_uint32(len(items))
    for v in items:
        t = value_type(codec, v, style)
        body.write_uint8(PRIMITIVE[t].CODE)
        write_typed(body, t, v, style)
    codec.write_vbin32(body.encoded)


# ---------------------------------------------------------------------------------------------
# Console environment: console.py's Session and Broker with a recording AMQP session
# ---------------------------------------------------------------------------------------------
def _safe_repr(x):
    try:
        return repr(x)
    except Exception as e:
        return "<repr failed: %s>" % exc_text(e)


class RecordingConsole(qc.Console):
    """A console.py Console that notes every callback it receives."""

    def __init__(self):
        self.calls = []

    def _note(self, *args):
        self.calls.append([a if isinstance(a, (int, long, float)) and not isinstance(a, bool)
                           else jsonable(a) for a in args])

    def brokerConnected(self, broker): self._note("brokerConnected")
    def brokerConnectionFailed(self, broker): self._note("brokerConnectionFailed")
    def brokerDisconnected(self, broker): self._note("brokerDisconnected")
    def brokerInfo(self, broker): self._note("brokerInfo", str(broker.brokerId))
    def newPackage(self, name): self._note("newPackage", name)
    def newClass(self, kind, classKey): self._note("newClass", kind, _safe_repr(classKey))
    def newAgent(self, agent): self._note("newAgent", _safe_repr(agent))
    def delAgent(self, agent): self._note("delAgent", _safe_repr(agent))
    def objectProps(self, broker, record): self._note("objectProps", _safe_repr(record))
    def objectStats(self, broker, record): self._note("objectStats", _safe_repr(record))
    def event(self, broker, event): self._note("event", _safe_repr(event))
    def heartbeat(self, agent, timestamp): self._note("heartbeat", _safe_repr(agent), timestamp)
    def methodResponse(self, broker, seq, response):
        self._note("methodResponse", seq, _safe_repr(response))


class RecordingAmqpSession(object):
    """Stands in for the qpid.session.Session under qmf.console.Broker: builds the real
    AMQP 0-10 header structs and records message_transfer instead of sending."""

    def __init__(self):
        self.transfers = []

    def delivery_properties(self, **kw):
        return DeliveryProperties(**kw)

    def message_properties(self, **kw):
        return MessageProperties(**kw)

    def reply_to(self, exchange, routing_key):
        return ReplyTo(exchange, routing_key)

    def message_transfer(self, destination=None, message=None, **kw):
        self.transfers.append((destination, message))

    def exchange_bind(self, **kw):
        pass


def transfer_json(dest, msg):
    dp = msg.get("delivery_properties")
    mp = msg.get("message_properties")
    rt = mp.reply_to if mp is not None else None
    return {"exchange": dest,
            "routing_key": dp.routing_key if dp is not None else None,
            "reply_to": [rt.exchange, rt.routing_key] if rt is not None else None,
            "content_type": mp.content_type if mp is not None else None,
            "hex": hexlify(msg.body)}


class HarnessBroker(qc.Broker):
    """qmf.console.Broker without its connection thread: every method the handlers call is
    console.py's own, except _clearSequence (see below); the AMQP session is recorded."""

    def __init__(self, session, strict_clear=False):
        # deliberately not calling Broker.__init__ (it starts a thread and connects)
        self.session = session
        self.host, self.port = "localhost", 5672
        self.ssl = False
        self.authUser, self.authPass, self.saslUser = "guest", "guest", None
        self.cv = qc.Condition()
        self.seqToAgentMap = {}
        self.error = None
        self.brokerId = None
        self.connected = True
        self.brokerSupportsV2 = False
        self.amqpSession = RecordingAmqpSession()
        self.amqpSessionId = "<session>"
        self.replyName = "reply-<session>"
        self.topicName = "topic-<session>"
        self.syncInFlight = False
        self.syncSequence = None
        self.syncResult = None
        self.reqsOutstanding = 0
        self.topicBound = True
        self.strict_clear = strict_clear
        self.brokerAgent = qc.Agent(self, 0, "BrokerAgent", isV2=False)
        self.agents = {"0": self.brokerAgent}

    def _clearSequence(self, sequence):
        # console.py pops without a default, so it raises KeyError for a sequence that was
        # never registered.  The real dispatch loop only has an agent for 'm'/'z' when the
        # first sequence of the body was registered; the harness' default agent model
        # ("agent": "broker") always has one, so it needs the tolerant version.
        if self.strict_clear:
            return qc.Broker._clearSequence(self, sequence)
        try:
            self.cv.acquire()
            self.seqToAgentMap.pop(sequence, None)
        finally:
            self.cv.release()

    def sent(self, start=0):
        return [transfer_json(d, m) for d, m in self.amqpSession.transfers[start:]]


class Env(object):
    def __init__(self, with_console=True, strict_clear=False):
        self.console = RecordingConsole()
        self.session = qc.Session(console=self.console)
        self.session.seqMgr.sequence = 1000    # console seeds it with long(time())
        self.broker = HarnessBroker(self.session, strict_clear)
        self.session.brokers.append(self.broker)


# ---------------------------------------------------------------------------------------------
# Python -> JSON
# ---------------------------------------------------------------------------------------------
def jsonable(v):
    if v is None or isinstance(v, (bool, int, long)):
        return v
    if isinstance(v, timestamp):
        return {"datetime": float(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return v
    if isinstance(v, unicode):
        return v
    if isinstance(v, str):
        try:
            return v.decode("utf8")
        except UnicodeDecodeError:
            return {"bytes_hex": hexlify(v)}
    if isinstance(v, buffer):
        return {"bytes_hex": hexlify(str(v))}
    if isinstance(v, UUID):
        return {"uuid": str(v)}
    if isinstance(v, _ConsoleObjectId):
        return {"objectId": oid_json(v)}
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            k = jsonable(k)
            out[k if isinstance(k, basestring) else json.dumps(k, sort_keys=True)] = jsonable(x)
        return out
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, _ConsoleObject):
        return {"object": _safe_repr(v)}
    return {"repr": _safe_repr(v)}


def schema_json(sc):
    key = sc.getKey()
    out = {"kind": sc.kind, "key": repr(key), "package": key.getPackageName(),
           "class": key.getClassName(), "hash": str(key.getHash())}
    if sc.kind == qc.SchemaClass.CLASS_KIND_TABLE:
        out["properties"] = [
            dict((f, jsonable(getattr(p, f))) for f in
                 ("name", "type", "access", "index", "optional", "unit", "min", "max",
                  "maxlen", "desc", "refPackage", "refClass")) for p in sc.properties]
        out["statistics"] = [dict((f, jsonable(getattr(s, f))) for f in ("name", "type", "unit", "desc"))
                             for s in sc.statistics]
        out["methods"] = [{"name": me.name, "desc": jsonable(me.desc),
                           "args": [argument_json(a, True) for a in me.arguments]}
                          for me in sc.methods]
    else:
        out["arguments"] = [argument_json(a, False) for a in sc.arguments]
    return out


def argument_json(a, method):
    fields = ["name", "type", "unit", "min", "max", "maxlen", "desc", "default"]
    if method:
        fields.append("dir")
    return dict((f, jsonable(getattr(a, f))) for f in fields)


# ---------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------
SRC_CONSOLE = "qmf.console"
SRC_AGENT = "codec010 primitives in qpid-cpp write order"

_ConsoleObject = qc.Object


def type_default(typecode):
    """Value written for a statistic / argument the message leaves out."""
    return {6: u"", 7: u"", 10: {"first": 0, "second": 0}, 11: False, 12: 0.0, 13: 0.0,
            14: "00" * 16, 15: {}, 21: [], 22: []}.get(int(typecode), 0)


class HashBytes(str):
    """A class hash as the 16 raw bytes, still answering .bytes like a UUID (ClassKey.encode
    uses hash.bytes, Object._encodeUnmanaged passes getHash() straight to write_bin128)."""

    @property
    def bytes(self):
        return str(self)


def bytes_hash_schema(schema):
    """A copy of a SchemaClass whose ClassKey hash is raw bytes -- the one change that lets
    console.py's Object._encodeUnmanaged run (it hands a UUID to write_bin128)."""
    key = copy.copy(schema.getKey())
    key.hash = HashBytes(key.hash.bytes)
    sc = copy.copy(schema)
    sc.classKey = key
    return sc


class Encoder(object):
    def __init__(self):
        self.env = Env()
        self.schemas = {}

    # ---- helpers ---------------------------------------------------------------------------
    def header(self, codec, op, seq):
        self.env.broker._setHeader(codec, str(op), seq)     # qmf.console.Broker._setHeader

    def schema_of(self, m):
        s = m.get("schema")
        if isinstance(s, basestring):
            if s not in self.schemas:
                raise KeyError("no schema with id %r given earlier in this request" % s)
            return self.schemas[s]
        if isinstance(s, dict):
            return s
        raise ValueError("message needs 'schema': the id of an earlier 's' or an inline schema")

    def schema_record(self, d):
        """Schema record bytes after the header (qmf-gen writeSchema / qmf engine / Python)."""
        style = d.get("map_style", "cpp")
        kind = int(d.get("kind", 1))
        c = StringCodec()
        c.write_uint8(kind)
        c.write_str8(to_unicode(d["package"]))
        c.write_str8(to_unicode(d["class"]))
        c.write_bin128(to_bin128(d["hash"]))
        if d.get("superclass_octet") is not None:     # AM3-era trunk layout
            c.write_uint8(int(d["superclass_octet"]))

        def val(x):
            return agent_value(x, style)

        def octet(x):
            return Typed("uint8", int(x)) if style == "cpp" else int(x)

        def put(m, src, keys):
            for k in keys:
                if k in src:
                    m[k] = val(src[k])

        if kind == 1:
            props, stats, meths = d.get("properties", []), d.get("statistics", []), d.get("methods", [])
            c.write_uint16(len(props))
            c.write_uint16(len(stats))
            c.write_uint16(len(meths))
            for p in props:
                # the insertion order decides codec010's dict order in style "python"
                m = {"name": val(p["name"]), "type": octet(p["type"]), "access": octet(p.get("access", 3)),
                     "index": val(p.get("index", 0)), "optional": val(p.get("optional", 0))}
                put(m, p, ("unit", "desc", "min", "max", "maxlen", "refPackage", "refClass"))
                for k, x in p.get("extra", {}).items():
                    m[k] = val(x)
                write_map(c, m, style)
            for s in stats:
                m = {"name": val(s["name"]), "type": octet(s["type"])}
                put(m, s, ("unit", "desc"))
                for k, x in s.get("extra", {}).items():
                    m[k] = val(x)
                write_map(c, m, style)
            for me in meths:
                args = me.get("args", [])
                m = {"name": val(me["name"]), "argCount": val(me.get("argCount", len(args)))}
                put(m, me, ("desc",))
                write_map(c, m, style)
                for a in args:
                    write_map(c, self.argument_map(a, style, True), style)
        else:
            args = d.get("arguments", [])
            c.write_uint16(len(args))
            for a in args:
                write_map(c, self.argument_map(a, style, False), style)
        return c.encoded

    def argument_map(self, a, style, method):
        def val(x):
            return agent_value(x, style)
        m = {"name": val(a["name"]),
             "type": Typed("uint8", int(a["type"])) if style == "cpp" else int(a["type"])}
        if method:
            m["dir"] = val(a.get("dir", "I"))
        if "unit" in a:
            m["unit"] = val(a["unit"])
        if method:
            for k in ("min", "max", "maxlen", "default"):
                if k in a:
                    m[k] = val(a[k])
        if "desc" in a:
            m["desc"] = val(a["desc"])
        for k, x in a.get("extra", {}).items():
            m[k] = val(x)
        return m

    def console_schema(self, d):
        """The schema as console.py itself parses it (qmf.console.SchemaClass), in its cache."""
        codec = StringCodec(self.schema_record(d))
        kind = codec.read_uint8()
        key = qc.ClassKey(codec)
        key._setType(kind)
        sc = qc.SchemaClass(kind, key, codec, self.env.session)
        self.env.session.schemaCache.declareClass(key, sc)
        return sc

    # ---- typed values ----------------------------------------------------------------------
    def write_value(self, codec, typecode, v, style="python"):
        """One agent-side typed value (c/i/g/m/e bodies, encode_value)."""
        typecode = int(typecode)
        if typecode == 10:
            v = make_oid(v)
        elif typecode == 14:
            v = to_uuid(v)
        elif typecode in (6, 7):
            v = to_unicode(to_bytes(v))
        elif typecode == 15:
            if style != "python" or has_annotation(v):
                write_map(codec, agent_value(v, style), style)
                return "codec010 primitives (typed map, style %s)" % style
            v = agent_value(v)
        elif typecode == 21:
            if style != "python" or has_annotation(v):
                write_list(codec, agent_value(v, style), style)
                return "codec010 primitives (typed list, style %s)" % style
            v = agent_value(v)
        elif typecode == 22:
            v = self.array_items(v)
        elif typecode == 20:
            return self.write_unmanaged(codec, self.unmanaged_object(v))
        self.env.session._encodeValue(codec, v, typecode)
        return "Session._encodeValue"

    def array_items(self, v):
        if not isinstance(v, list):
            raise ValueError("typecode 22 needs a JSON list")
        return [to_uuid(x["uuid"]) if isinstance(x, dict) and "uuid" in x else agent_value(x)
                for x in v]

    def unmanaged_object(self, v):
        """typecode 20: an unmanaged qmf.console.Object of the given schema."""
        if not isinstance(v, dict) or "schema" not in v:
            raise ValueError("typecode 20 needs {\"schema\": ..., \"properties\": {...}, "
                             "\"statistics\": {...}}")
        sc = self.console_schema(self.schema_of(v))
        obj = _ConsoleObject.__new__(_ConsoleObject)
        for k, x in (("_agent", None), ("_session", self.env.session), ("_broker", None),
                     ("_schema", sc), ("_currentTime", None), ("_createTime", None),
                     ("_deleteTime", 0), ("_objectId", None)):
            object.__setattr__(obj, k, x)
        pv, sv = v.get("properties", {}), v.get("statistics", {})
        object.__setattr__(obj, "_properties",
                           [(p, self.console_arg(p.type, pv.get(p.name))) for p in sc.getProperties()])
        object.__setattr__(obj, "_statistics",
                           [(s, self.console_arg(s.type, sv.get(s.name, type_default(s.type))))
                            for s in sc.getStatistics()])
        return obj

    def write_unmanaged(self, codec, obj):
        trial = StringCodec()
        try:
            self.env.session._encodeValue(trial, obj, 20)
            codec.write(trial.encoded)
            return "Session._encodeValue"
        except Exception as e:
            first_error = exc_text(e)
        schema = obj._schema
        object.__setattr__(obj, "_schema", bytes_hash_schema(schema))
        try:
            trial = StringCodec()
            self.env.session._encodeValue(trial, obj, 20)
        finally:
            object.__setattr__(obj, "_schema", schema)
        codec.write(trial.encoded)
        return ("Session._encodeValue -> Object._encodeUnmanaged, run with the class hash as raw "
                "bytes (unmodified it raises %s)" % first_error)

    def console_arg(self, typecode, v):
        """A console.py user's Python value for one argument / unmanaged property."""
        if v is None:
            return None
        typecode = int(typecode)
        if typecode == 10:
            return make_oid(v, console=True)
        if typecode == 14:
            return to_uuid(v)
        if typecode in (6, 7):
            return to_unicode(to_bytes(v))
        if typecode == 22:
            return self.array_items(v)
        if typecode == 20:
            return self.unmanaged_object(v)
        return console_value(v)

    # ---- dispatch --------------------------------------------------------------------------
    def encode(self, m):
        op = m["op"]
        if not isinstance(op, basestring) or len(op) != 1:
            raise ValueError("op must be one letter, got %r" % (op,))
        op = str(op)
        seq = int(m.get("seq", 0))
        name = ("console_" if op in "BPQSGM" else "agent_") + op
        fn = getattr(self, name, None)
        if fn is None:
            return self.raw(m, op, seq)
        return fn(m, seq)

    def raw(self, m, op, seq):
        c = StringCodec()
        self.header(c, op, seq)
        if "payload_hex" in m:
            c.write(unhex(m["payload_hex"]))
        return c.encoded, "Broker._setHeader + payload_hex", None

    # ---- console -> broker / agent: console.py's own code ----------------------------------
    def console_B(self, m, seq):
        c = StringCodec()
        self.header(c, 'B', seq)        # Broker._tryToConnect: _setHeader(codec, 'B') and nothing else
        return c.encoded, SRC_CONSOLE + " Broker._setHeader (as Broker._tryToConnect)", \
            {"exchange": "qpid.management", "routing_key": "broker"}

    def _console_reply(self, handler, payload, seq):
        """Feed an agent message body to a fresh console and return what it sends back."""
        env = Env()
        env.session.console = None
        env.session.seqMgr.sequence = seq
        getattr(env.session, handler)(env.broker, StringCodec(payload), 0)
        sent = env.broker.amqpSession.transfers
        if not sent:
            raise RuntimeError("console.py sent nothing from %s" % handler)
        dest, msg = sent[-1]
        t = transfer_json(dest, msg)
        return msg.body, SRC_CONSOLE + " Session." + handler, \
            {"exchange": t["exchange"], "routing_key": t["routing_key"]}

    def console_P(self, m, seq):
        # the console sends 'P' from Session._handleBrokerResp, on receipt of 'b'
        return self._console_reply("_handleBrokerResp", "\0" * 16, seq)

    def console_Q(self, m, seq):
        # ... 'Q' from Session._handlePackageInd, on receipt of 'p'
        c = StringCodec()
        c.write_str8(to_unicode(m["package"]))
        return self._console_reply("_handlePackageInd", c.encoded, seq)

    def console_S(self, m, seq):
        # ... 'S' from Session._handleClassInd, on receipt of 'q' for a class it lacks
        c = StringCodec()
        c.write_uint8(int(m.get("kind", 1)))
        c.write_str8(to_unicode(m["package"]))
        c.write_str8(to_unicode(m["class"]))
        c.write_bin128(to_bin128(m["hash"]))
        return self._console_reply("_handleClassInd", c.encoded, seq)

    def console_G(self, m, seq):
        broker = self.env.broker
        n = len(broker.amqpSession.transfers)
        if "query" in m:
            c = StringCodec()
            self.header(c, 'G', seq)
            style = m.get("map_style", "python")
            write_map(c, agent_value(m["query"], style), style)
            return c.encoded, SRC_CONSOLE + " Broker._setHeader + codec010 write_map(query)", \
                {"exchange": "qpid.management", "routing_key": "agent.1.%d" % int(m.get("agentBank", 0))}
        agent = qc.Agent(broker, int(m.get("agentBank", 0)), "harness")
        kwargs = {}
        for k in ("_class", "_package"):
            if k in m:
                kwargs[k] = str(m[k])
        if "_key" in m:
            key = m["_key"]
            kwargs["_key"] = qc.ClassKey({"_package_name": str(key["package"]),
                                          "_class_name": str(key["class"]),
                                          "_hash": to_uuid(key["hash"])})
        if "_objectId" in m:
            kwargs["_objectId"] = make_oid(m["_objectId"], console=True)
        agent._v1SendGetQuery(seq, kwargs)
        dest, msg = broker.amqpSession.transfers[n]
        t = transfer_json(dest, msg)
        return msg.body, SRC_CONSOLE + " Agent._v1SendGetQuery", \
            {"exchange": t["exchange"], "routing_key": t["routing_key"]}

    def console_M(self, m, seq):
        env = self.env
        schema = self.console_schema(self.schema_of(m))
        first, second = oid_bits(m["objectId"])
        wire_oid = struct.pack("!QQQQQ", 0, 0, 0, first, second)
        bank = str(first & 0xFFFFFFF)
        if bank not in env.broker.agents:
            env.broker.agents[bank] = qc.Agent(env.broker, int(bank), "harness")
        agent = env.broker.agents[bank]
        # a managed object as the console holds it after receiving it from the agent
        obj = _ConsoleObject(agent, schema, StringCodec(wire_oid), False, False)
        if isinstance(m["objectId"], dict) and m["objectId"].get("raw"):
            obj._objectId = RawObjectId(first, second)      # bypass the console's renormalising
        meth = [x for x in schema.getMethods() if x.name == m["method"]]
        if not meth:
            raise ValueError("method %r is not in the schema" % m["method"])
        inargs = [a for a in meth[0].arguments if a.dir.find("I") != -1]
        types = dict((a.name, a.type) for a in inargs)
        args = [self.console_arg(inargs[i].type, v) if i < len(inargs) else console_value(v)
                for i, v in enumerate(m.get("args", []))]
        kwargs = dict((str(k), self.console_arg(types[k], v) if k in types else console_value(v))
                      for k, v in m.get("kwargs", {}).items())
        source = SRC_CONSOLE + " Object._sendMethodRequest"
        env.session.seqMgr.sequence = seq
        try:
            got = obj._sendMethodRequest(str(m["method"]), list(args), dict(kwargs), False)
        except Exception as e:
            objs = [a for a in args if isinstance(a, _ConsoleObject)]
            if not objs:
                raise
            # typecode-20 argument: Object._encodeUnmanaged hands a UUID to write_bin128
            for a in objs:
                object.__setattr__(a, "_schema", bytes_hash_schema(a._schema))
            env.session.seqMgr.sequence = seq
            got = obj._sendMethodRequest(str(m["method"]), list(args), dict(kwargs), False)
            source += (", object-typed argument run with the class hash as raw bytes "
                       "(unmodified it raises %s)" % exc_text(e))
        if got is None:
            raise RuntimeError("console.py sent no method request")
        env.session.seqMgr._release(got)
        dest, msg = env.broker.amqpSession.transfers[-1]
        t = transfer_json(dest, msg)
        return msg.body, source, {"exchange": t["exchange"], "routing_key": t["routing_key"]}

    # ---- agent / broker -> console: qpid-cpp write order -----------------------------------
    def agent_b(self, m, seq):
        c = StringCodec()
        self.header(c, 'b', seq)
        c.write_uuid(to_uuid(m["brokerId"]))                          # ManagementAgent::handleBrokerRequest
        return c.encoded, SRC_AGENT + " (handleBrokerRequest)", None

    def agent_p(self, m, seq):
        c = StringCodec()
        self.header(c, 'p', seq)
        c.write_str8(to_unicode(m["package"]))                        # encodePackageIndication
        return c.encoded, SRC_AGENT + " (encodePackageIndication)", None

    def agent_q(self, m, seq):
        c = StringCodec()
        self.header(c, 'q', seq)
        c.write_uint8(int(m.get("kind", 1)))                          # encodeClassIndication
        c.write_str8(to_unicode(m["package"]))
        c.write_str8(to_unicode(m["class"]))
        c.write_bin128(to_bin128(m["hash"]))
        return c.encoded, SRC_AGENT + " (encodeClassIndication)", None

    def agent_s(self, m, seq):
        if "id" in m:
            self.schemas[m["id"]] = m
        c = StringCodec()
        self.header(c, 's', seq)
        c.write(self.schema_record(m))
        return c.encoded, SRC_AGENT + " (writeSchema, map_style %s)" % m.get("map_style", "cpp"), None

    def agent_z(self, m, seq):
        c = StringCodec()
        self.header(c, 'z', seq)
        c.write_uint32(int(m.get("code", 0)))                         # sendCommandComplete
        c.write_str8(to_unicode(m.get("text", u"OK")))
        return c.encoded, SRC_AGENT + " (sendCommandComplete)", None

    def agent_h(self, m, seq):
        c = StringCodec()
        self.header(c, 'h', seq)
        c.write_uint64(int(m["timestamp"]))                           # periodicProcessing
        return c.encoded, SRC_AGENT + " (periodicProcessing heartbeat)", None

    def agent_x(self, m, seq):
        c = StringCodec()
        self.header(c, 'x', seq)                                      # clientAdded
        return c.encoded, SRC_AGENT + " (clientAdded)", None

    def agent_a(self, m, seq):
        c = StringCodec()
        self.header(c, 'a', seq)
        c.write_uint32(int(m.get("brokerBank", 1)))                   # handleAttachRequest
        c.write_uint32(int(m["agentBank"]))
        return c.encoded, SRC_AGENT + " (handleAttachRequest)", None

    def agent_A(self, m, seq):
        c = StringCodec()
        self.header(c, 'A', seq)
        c.write_str8(to_unicode(m.get("label", u"RemoteAgent [C++]")))  # pre-0.7 ManagementAgentImpl
        c.write_uuid(to_uuid(m["systemId"]))
        c.write_uint32(int(m.get("brokerBank", 0)))
        c.write_uint32(int(m.get("agentBank", 0)))
        return c.encoded, SRC_AGENT + " (pre-0.7 ManagementAgentImpl::startProtocol)", None

    def _record(self, m, seq, op):
        d = self.schema_of(m)
        style = m.get("map_style", "python")
        c = StringCodec()
        self.header(c, op, seq)
        used = set()
        # ManagementObject::writeTimestamps
        c.write_str8(to_unicode(d["package"]))
        c.write_str8(to_unicode(d["class"]))
        c.write_bin128(to_bin128(d["hash"]))
        for t in m.get("timestamps", [0, 0, 0]):
            c.write_uint64(int(t))
        make_oid(m["objectId"]).encode(c)
        if op in "cg":                                                # writeProperties
            vals = m.get("properties", {})
            optional = [p for p in d.get("properties", []) if p.get("optional")]
            masks = [0] * ((len(optional) + 7) // 8)
            for i, p in enumerate(optional):
                if vals.get(p["name"]) is not None:
                    masks[i // 8] |= 1 << (i % 8)
            if "presence_override" in m:
                masks = m["presence_override"]
            for x in masks:
                c.write_uint8(int(x))
            for p in d.get("properties", []):
                v = vals.get(p["name"])
                if v is None:
                    if p.get("optional"):
                        continue
                    raise ValueError("missing mandatory property %s" % p["name"])
                used.add(self.write_value(c, p["type"], v, style))
        if op in "ig":                                                # writeStatistics(skipHeaders)
            vals = m.get("statistics", {})
            for s in d.get("statistics", []):
                used.add(self.write_value(c, s["type"], vals.get(s["name"], type_default(s["type"])), style))
        return c.encoded, SRC_AGENT + " (writeTimestamps/writeProperties/writeStatistics), values via " + \
            ", ".join(sorted(used) or ["-"]), None

    def agent_c(self, m, seq):
        return self._record(m, seq, 'c')

    def agent_i(self, m, seq):
        return self._record(m, seq, 'i')

    def agent_g(self, m, seq):
        return self._record(m, seq, 'g')

    def agent_m(self, m, seq):
        d = self.schema_of(m)
        style = m.get("map_style", "python")
        c = StringCodec()
        self.header(c, 'm', seq)
        code = int(m.get("code", 0))
        c.write_uint32(code)
        text = to_unicode(m.get("text", u"OK"))
        if m.get("text_as_str8"):         # qmf-gen doMethod's "unknown method" branch
            c.write_str8(text)
        else:
            c.write_str16(text)
        used = set()
        if m.get("include_out_args", code == 0):
            meth = [x for x in d.get("methods", []) if x["name"] == m["method"]]
            if not meth:
                raise ValueError("method %r is not in the schema" % m["method"])
            outs = m.get("outArgs", {})
            for a in meth[0].get("args", []):
                if "O" in a.get("dir", "I").upper():
                    v = outs.get(a["name"], type_default(a["type"]))
                    used.add(self.write_value(c, a["type"], v, style))
        return c.encoded, SRC_AGENT + " (handleMethodRequest + doMethod), out-args via " + \
            ", ".join(sorted(used) or ["-"]), None

    def agent_e(self, m, seq):
        d = self.schema_of(m)
        style = m.get("map_style", "python")
        c = StringCodec()
        self.header(c, 'e', seq)
        c.write_str8(to_unicode(d["package"]))                         # ManagementAgent::raiseEvent
        c.write_str8(to_unicode(d["class"]))
        c.write_bin128(to_bin128(d["hash"]))
        c.write_uint64(int(m.get("timestamp", 0)))
        c.write_uint8(int(m.get("severity", 6)))
        used = set()
        vals = m.get("arguments", {})
        for a in d.get("arguments", []):
            used.add(self.write_value(c, a["type"], vals.get(a["name"], type_default(a["type"])), style))
        return c.encoded, SRC_AGENT + " (raiseEvent), args via " + ", ".join(sorted(used) or ["-"]), None


def cmd_encode(req):
    msgs = req.get("messages")
    if not isinstance(msgs, list):
        raise ValueError("encode needs \"messages\": a list")
    enc = Encoder()
    out, body = [], []
    for m in msgs:
        try:
            if not isinstance(m, dict) or "op" not in m:
                raise ValueError("a message must be an object with an \"op\"")
            data, source, route = enc.encode(m)
            r = {"hex": hexlify(data), "source": source}
            if route:
                r["route"] = route
            out.append(r)
            body.append(data)
        except Exception as e:
            out.append({"error": exc_text(e)})
    return {"messages": out, "body_hex": hexlify("".join(body))}


# ---------------------------------------------------------------------------------------------
# Decoder: the loop of Broker._v1DispatchProtected around console.py's own handlers
# ---------------------------------------------------------------------------------------------
class Captured(object):
    """While a handler runs, console.py's Object / Event / MethodResult names point at
    subclasses that note each instance as it is built (partial ones too)."""

    def __init__(self):
        self.objects, self.events, self.results = [], [], []

    def __enter__(self):
        cap = self
        self._saved = (qc.Object, qc.Event, qc.MethodResult)
        base_obj, base_ev, base_res = self._saved

        class NotedObject(base_obj):
            def __init__(self, *a, **k):
                cap.objects.append(self)
                base_obj.__init__(self, *a, **k)

        class NotedEvent(base_ev):
            def __init__(self, *a, **k):
                cap.events.append(self)
                base_ev.__init__(self, *a, **k)

        class NotedResult(base_res):
            def __init__(self, *a, **k):
                base_res.__init__(self, *a, **k)
                cap.results.append(self)

        qc.Object, qc.Event, qc.MethodResult = NotedObject, NotedEvent, NotedResult
        return self

    def __exit__(self, *exc):
        qc.Object, qc.Event, qc.MethodResult = self._saved
        return False


def object_json(o):
    d = o.__dict__
    schema = d.get("_schema")
    return {"classKey": repr(schema.getKey()) if schema is not None else None,
            "timestamps": [d.get("_currentTime"), d.get("_createTime"), d.get("_deleteTime")],
            "objectId": oid_json(d.get("_objectId")),
            "properties": [[p.name, jsonable(v)] for p, v in d.get("_properties", [])],
            "statistics": [[s.name, jsonable(v)] for s, v in d.get("_statistics", [])]}


def event_json(ev):
    key = getattr(ev, "classKey", None)
    return {"classKey": repr(key) if key is not None else None,
            "timestamp": getattr(ev, "timestamp", None),
            "severity": getattr(ev, "severity", None),
            "schema_known": getattr(ev, "schema", None) is not None,
            "arguments": jsonable(getattr(ev, "arguments", {}))}


def _peek(codec, reader):
    try:
        return reader(StringCodec(codec.encoded))
    except Exception:
        return None


def _read_z(c):
    return {"code": c.read_uint32(), "text": c.read_str8()}


def _read_class_ind(c):
    kind = c.read_uint8()
    key = qc.ClassKey(c)
    key._setType(kind)
    return kind, key


class Decoder(object):
    def __init__(self, agent_mode="broker"):
        if agent_mode not in ("broker", "none", "lookup"):
            raise ValueError("agent must be 'broker', 'none' or 'lookup'")
        self.agent_mode = agent_mode
        self.env = Env(strict_clear=(agent_mode == "lookup"))

    def preload_schema(self, hex_text):
        recs = self.dispatch(unhex(hex_text), "broker", None)
        bad = [r for r in recs if "exception" in r]
        if bad:
            raise ValueError("preload schema failed: %s" % bad[0]["exception"])

    def register_method(self, pm):
        key = qc.ClassKey({"_package_name": str(pm["package"]), "_class_name": str(pm["class"]),
                           "_hash": to_uuid(pm["hash"])})
        sc = self.env.session.schemaCache.getSchema(key)
        if sc is None:
            raise ValueError("pending method: schema %r not loaded (give it in preload_schemas_hex)" % key)
        meth = [x for x in sc.getMethods() if x.name == pm["method"]]
        if not meth:
            raise ValueError("pending method: %r not in %r" % (pm["method"], key))
        seq = int(pm["seq"])
        seqmgr = self.env.session.seqMgr
        saved, seqmgr.sequence = seqmgr.sequence, seq
        seqmgr._reserve((meth[0], bool(pm.get("synchronous", False))))   # as _sendMethodRequest
        seqmgr.sequence = saved
        self.env.broker._setSequence(seq, self.env.broker.brokerAgent)

    def find_agent(self, msg, first_seq):
        """agent (and agent_addr) the way _v1DispatchProtected finds them."""
        broker = self.env.broker
        mp = msg.get("message_properties")
        ah = mp.application_headers if mp is not None else None
        agent_addr = ah.get("qmf.agent") if ah else None
        if not agent_addr:
            dp = msg.get("delivery_properties")
            if dp is not None and dp.routing_key:
                items = dp.routing_key.split('.')
                if len(items) >= 4 and items[0] == 'console' and items[3].isdigit():
                    agent_addr = str(items[3])
        agent = None
        if self.agent_mode == "broker":
            agent = broker.brokerAgent
        elif self.agent_mode == "lookup":
            if agent_addr is not None and agent_addr in broker.agents:
                agent = broker.agents[agent_addr]
            elif first_seq in broker.seqToAgentMap:
                agent = broker.seqToAgentMap[first_seq]
        return agent, agent_addr, mp, ah

    def dispatch(self, body, routing_key, app_headers):
        env = self.env
        b, con = env.broker, env.console
        msg = Message(DeliveryProperties(routing_key=routing_key),
                      MessageProperties(application_headers=app_headers), body)
        codec = qc.Codec(body)
        records = []
        agent = agent_addr = mp = ah = None
        first = True
        while True:
            start = len(body) - len(codec.encoded)
            opcode, seq = b._checkHeader(codec)
            if first:
                agent, agent_addr, mp, ah = self.find_agent(msg, seq)
                first = False
            rec = {"offset": start, "op": opcode, "seq": seq}
            if opcode is None:
                rest = body[start:]
                if not rest:
                    rec["stop"] = "end of body"
                elif "AM2".startswith(rest[:3]):
                    rec["stop"] = ("fewer than 8 bytes: Broker._checkHeader returned (None, None), "
                                   "the rest is ignored")
                else:
                    rec["stop"] = ("bad magic: Broker._checkHeader returned (None, None), "
                                   "the rest is ignored")
                rec["ignored_hex"] = hexlify(rest)
                records.append(rec)
                break
            nsent, ncalls = len(b.amqpSession.transfers), len(con.calls)
            cap = Captured()
            try:
                with cap:
                    rec.update(self.handle(opcode, seq, codec, agent, agent_addr, msg, mp, ah, cap))
            except Exception as e:
                rec["exception"] = exc_text(e)
                rec["consumed"] = len(body) - start - len(codec.encoded)
                partial = self.partial(opcode, cap)
                if partial is not None:
                    rec["decoded_partial"] = partial
                rec["note"] = ("the exception leaves _v1DispatchProtected; Broker._v1Dispatch prints "
                               "'EXCEPTION in Broker._v1Cb' and a traceback; the rest of the body is lost")
                rec["console_would_send"] = b.sent(nsent)
                rec["callbacks"] = con.calls[ncalls:]
                records.append(rec)
                break
            rec["consumed"] = len(body) - start - len(codec.encoded)
            rec["console_would_send"] = b.sent(nsent)
            rec["callbacks"] = con.calls[ncalls:]
            records.append(rec)
        return records

    def partial(self, op, cap):
        if op in "cig" and cap.objects:
            return object_json(cap.objects[0])
        if op == "e" and cap.events:
            return event_json(cap.events[0])
        return None

    def handle(self, op, seq, codec, agent, agent_addr, msg, mp, ah, cap):
        s, b = self.env.session, self.env.broker
        if op == 'b':
            s._handleBrokerResp(b, codec, seq)
            return {"decoded": {"brokerId": jsonable(b.brokerId)}}
        if op == 'p':
            pkg = _peek(codec, lambda c: c.read_str8())
            s._handlePackageInd(b, codec, seq)
            return {"decoded": {"package": pkg}}
        if op == 'q':
            kind, key = _peek(codec, _read_class_ind) or (None, None)
            s._handleClassInd(b, codec, seq)
            return {"decoded": {"kind": kind, "classKey": repr(key)}}
        if op == 's':
            kind, key = _peek(codec, _read_class_ind) or (None, None)
            s._handleSchemaResp(b, codec, seq, agent_addr)
            sc = s.schemaCache.getSchema(key) if key is not None else None
            return {"decoded": schema_json(sc) if sc is not None else None}
        if op == 'h':
            before = len(codec.encoded)
            ts = _peek(codec, lambda c: c.read_uint64())
            s._handleHeartbeatInd(b, codec, seq, msg)
            if before - len(codec.encoded) >= 8:
                return {"decoded": {"timestamp": ts}}
            return {"decoded": {"timestamp": None},
                    "note": "console did not read the timestamp (no console object, rcvHeartbeats "
                            "off, or no agent for the routing key); the next header is read from it"}
        if op == 'z':
            fields = _peek(codec, _read_z)
            s._handleCommandComplete(b, codec, seq, agent)
            return {"decoded": fields}
        if agent is None:
            return {"decoded": None,
                    "note": "no agent identified: console ignores the opcode without reading its payload"}
        pending = op == 'm' and seq in s.seqMgr.pending
        agent._handleQmfV1Message(op, seq, mp, ah, codec)
        agent.touch()
        if op == 'm':
            if not pending or not cap.results:
                return {"decoded": None,
                        "note": "sequence not pending: console read status and text, left the rest"}
            r = cap.results[0]
            return {"decoded": {"code": r.status, "text": jsonable(r.text), "outArgs": jsonable(r.outArgs)}}
        if op in 'cig':
            if not cap.objects:
                return {"decoded": None,
                        "note": "schema unknown: console returned after reading the class key only"}
            return {"decoded": object_json(cap.objects[0])}
        if op == 'e':
            return {"decoded": event_json(cap.events[0]) if cap.events else None}
        return {"decoded": None,
                "note": "opcode not handled by the console: nothing consumed, the next header is "
                        "read from its payload"}


def cmd_decode(req):
    mode = req.get("agent")
    if mode is None:
        mode = "none" if req.get("no_agent") else "broker"
    dec = Decoder(mode)
    for h in req.get("preload_schemas_hex", []):
        dec.preload_schema(h)
    for pm in req.get("pending_methods", []):
        dec.register_method(pm)
    if not req.get("with_console", True):
        dec.env.session.console = None
    bodies = []
    if "hex" in req:
        bodies.append(req["hex"])
    bodies.extend(req.get("bodies", []))
    rk = req.get("routing_key", "broker")
    ah = req.get("application_headers")
    out = []
    for h in bodies:
        out.append({"body_hex": "".join(h.split()).lower(),
                    "records": dec.dispatch(unhex(h), rk, ah)})
    reply = {"bodies": out}
    if len(out) == 1:
        reply["records"] = out[0]["records"]
    return reply


# ---------------------------------------------------------------------------------------------
# single values, maps, lists
# ---------------------------------------------------------------------------------------------
def cmd_encode_value(req):
    tc = int(req["typecode"])
    enc = Encoder()
    for sch in req.get("schemas", []):
        enc.schemas[sch["id"]] = sch
    c = StringCodec()
    source = enc.write_value(c, tc, req.get("value"), req.get("map_style", "python"))
    return {"hex": hexlify(c.encoded), "source": source}


def _decode_with(codec_reader, data):
    c = StringCodec(data)
    try:
        v = codec_reader(c)
    except Exception as e:
        return {"error": exc_text(e), "consumed": len(data) - len(c.encoded)}
    return {"value": jsonable(v), "consumed": len(data) - len(c.encoded)}


def cmd_decode_value(req):
    tc = int(req["typecode"])
    dec = Decoder("broker")
    for h in req.get("preload_schemas_hex", []):
        dec.preload_schema(h)
    with Captured():
        return _decode_with(lambda c: dec.env.session._decodeValue(c, tc, dec.env.broker), unhex(req["hex"]))


def _encode_container(writer, req):
    style = req.get("map_style", "python")
    c = StringCodec()
    writer(c, agent_value(req.get("value"), style), style)
    return {"hex": hexlify(c.encoded)}


def cmd_encode_array(req):
    c = StringCodec()
    c.write_array(agent_value(req.get("value")))
    return {"hex": hexlify(c.encoded)}


def cmd_info(req):
    import qpid
    return {"python": sys.version.split()[0], "qpid_site": QPID_SITE,
            "codec010": os.path.abspath(sys.modules["qpid.codec010"].__file__),
            "console": os.path.abspath(qc.__file__), "qpid_package": os.path.dirname(qpid.__file__),
            "hash_randomization": _hash_randomised()}


COMMANDS = {
    "encode": cmd_encode,
    "decode": cmd_decode,
    "encode_value": cmd_encode_value,
    "decode_value": cmd_decode_value,
    "encode_map": lambda r: _encode_container(write_map, r),
    "decode_map": lambda r: _decode_with(lambda c: c.read_map(), unhex(r["hex"])),
    "encode_list": lambda r: _encode_container(write_list, r),
    "decode_list": lambda r: _decode_with(lambda c: c.read_list(), unhex(r["hex"])),
    "encode_array": cmd_encode_array,
    "decode_array": lambda r: _decode_with(lambda c: c.read_array(), unhex(r["hex"])),
    "info": cmd_info,
    "ping": lambda r: {"ok": True},
}


def serve_one(line):
    try:
        req = json.loads(line)
    except Exception as e:
        return {"error": exc_text(e)}
    rid = req.get("id") if isinstance(req, dict) else None
    try:
        if not isinstance(req, dict):
            raise ValueError("a request must be a JSON object")
        fn = COMMANDS.get(req.get("cmd"))
        if fn is None:
            raise ValueError("unknown cmd %r (known: %s)" % (req.get("cmd"), ", ".join(sorted(COMMANDS))))
        reply = fn(req)
    except Exception as e:
        reply = {"error": exc_text(e)}
    if rid is not None:
        reply["id"] = rid
    return reply


def main():
    out = sys.stdout
    sys.stdout = sys.stderr          # stray prints from Qpid's code must not reach the protocol
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        reply = serve_one(line)
        try:
            text = json.dumps(reply, sort_keys=True)
        except Exception as e:
            text = json.dumps({"error": exc_text(e), "id": reply.get("id")}, sort_keys=True)
        out.write(text + "\n")
        out.flush()


if __name__ == "__main__":
    main()
