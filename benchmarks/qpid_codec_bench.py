# -*- coding: utf-8 -*-
"""Qpid's side of benchmarks/codec.py, under Python 2.7 (qpid-python 1.36 codec010, qpid-tools 1.36
qmf.console).

    PYENV_VERSION=2.7.18 python2.7 benchmarks/qpid_codec_bench.py QPID_DIR TARGET REPEAT < spec.json

Reads the workloads (values, schema) as JSON on stdin, and prints JSON: per workload the encode and
decode seconds per message (median of REPEAT timeit loops of >= TARGET seconds, after warm-up), the
bytes Qpid wrote (hex), and notes. It does the same work as our codec, with Qpid's code:

(a) 'M': encode as console.py's Object._sendMethodRequest composes it (Broker._setHeader, ObjectId.encode,
    ClassKey.encode, write_str8, Session._encodeValue per in-argument in schema order); decode with
    codec010 reads and Session._decodeValue in the same order (console.py never reads an 'M').
(b) 's': encode with codec010 primitives and codec010's write_map per record map, typed and ordered as
    the C++ broker writes them (keys sorted; text vbin16, type/access uint8, numbers int32); decode as
    Session._handleSchemaResp does: ClassKey(codec) and console.py's SchemaClass(...).
(c) 100 'c' in one body: encode with codec010 primitives (header, class key, timestamps, object id,
    presence mask) and Session._encodeValue per property; decode as Broker._v1DispatchProtected and
    Agent._v1HandleContentInd do: one codec over the body, _checkHeader, ClassKey, schema lookup in the
    session's SchemaCache, console.py's Object(...) (codec010 reads + Session._decodeValue per property).
"""
import binascii
import json
import os
import sys
import timeit
import time

qdir = sys.argv[1]
for sub in ("qpid-tools-lib", "site"):
    path = os.path.join(qdir, sub)
    if os.path.isdir(path):
        sys.path.insert(0, path)

from qpid.codec010 import StringCodec  # noqa: E402
from qpid.ops import PRIMITIVE  # noqa: E402
import qmf.console as qc  # noqa: E402

TARGET = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
REPEAT = int(sys.argv[3]) if len(sys.argv) > 3 else 7

setHeader = qc.Broker._setHeader.im_func
checkHeader = qc.Broker._checkHeader.im_func


def measure(fn):
    deadline = time.time() + TARGET / 2
    while time.time() < deadline:  # warm-up
        fn()
    timer = timeit.Timer(fn)
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= TARGET / 4:
            break
        number *= 4
    number = max(1, int(number * TARGET / t))
    times = sorted(timer.repeat(REPEAT, number))
    n = len(times)
    mid = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2.0
    return mid / number


# -- the C++ broker's map layout, through codec010's own write_map ------------------------------------
class U8(int):
    """A value the C++ broker writes as uint8 (qmf-gen: ft.setUint8 / Variant(uint8_t))."""


class CppCodec(StringCodec):
    """codec010's StringCodec, typing map values as qpid-cpp's Variant does (codec010's write_map and
    _write_map_elem run unchanged; only `encoding` differs)."""

    def encoding(self, obj):
        klass = obj.__class__
        if klass is U8:
            return PRIMITIVE["uint8"]
        if klass is bool:
            return PRIMITIVE["boolean"]
        if klass is int or klass is long:
            return PRIMITIVE["int32" if -2 ** 31 <= obj < 2 ** 31 else "int64"]
        if klass is str:
            return PRIMITIVE["vbin16"]  # Variant(const char*/std::string) has no encoding: 0x90
        if klass is unicode:
            return PRIMITIVE["str16"]
        if klass is float:
            return PRIMITIVE["double"]
        return StringCodec.encoding(self, obj)


class SortedMap(dict):
    """A std::map's iteration order (bytewise sorted keys) for codec010's write_map, which walks
    m.keys() and m.values()."""

    def keys(self):
        return sorted(dict.keys(self))

    def values(self):
        return [self[k] for k in self.keys()]


def b(text):
    return text.encode("utf8")


def record(d, order):
    """One schema record as the C++ broker builds it (qmf-gen's writeSchema)."""
    m = SortedMap()
    for key, conv in order:
        if key in d:
            m[key] = conv(d[key])
    return m


def t_text(v):
    return b(v)


def t_u8(v):
    return U8(v)


def t_int(v):
    return int(v)


PROP_KEYS = [("name", t_text), ("type", t_u8), ("access", t_u8), ("index", t_int), ("optional", t_int),
             ("unit", t_text), ("min", t_int), ("max", t_int), ("maxlen", t_int), ("desc", t_text)]
STAT_KEYS = [("name", t_text), ("type", t_u8), ("unit", t_text), ("desc", t_text)]
METHOD_KEYS = [("name", t_text), ("argCount", t_int), ("desc", t_text)]
ARG_KEYS = [("name", t_text), ("type", t_u8), ("dir", t_text), ("unit", t_text), ("min", t_int),
            ("max", t_int), ("maxlen", t_int), ("default", t_text), ("desc", t_text)]


def main():
    spec = json.load(sys.stdin)
    sch = spec["schema"]
    pkg, cname, chash = sch["package"], sch["class"], binascii.unhexlify(sch["hash"])
    out = {"python": "Python %d.%d.%d" % sys.version_info[:3] + ", qpid-python/qpid-tools 1.36", "notes": []}

    # -- (b) 's' ---------------------------------------------------------------------------------------
    b_seq = spec["b"]["seq"]
    methods = [dict(m, argCount=len(m["args"])) for m in sch["methods"]]

    def enc_b():
        c = CppCodec()
        setHeader(None, c, 's', b_seq)
        c.write_uint8(1)
        c.write_str8(pkg)
        c.write_str8(cname)
        c.write_bin128(chash)
        c.write_uint16(len(sch["properties"]))
        c.write_uint16(len(sch["statistics"]))
        c.write_uint16(len(methods))
        for p in sch["properties"]:
            c.write_map(record(p, PROP_KEYS))
        for s in sch["statistics"]:
            c.write_map(record(s, STAT_KEYS))
        for m in methods:
            c.write_map(record(m, METHOD_KEYS))
            for a in m["args"]:
                c.write_map(record(a, ARG_KEYS))
        return c.encoded

    session = qc.Session(console=None)

    body_b = enc_b()

    def dec_b():
        c = StringCodec(body_b)
        opcode, seq = checkHeader(None, c)
        kind = c.read_uint8()
        key = qc.ClassKey(c)
        key._setType(kind)
        return qc.SchemaClass(kind, key, c, session)

    schema = dec_b()
    assert len(schema.methods) == len(methods) and len(schema.properties) == len(sch["properties"])
    session.schemaCache.declareClass(schema.getKey(), schema)
    ckey = schema.getKey()
    out["b"] = {"enc": measure(enc_b), "dec": measure(dec_b), "hex": binascii.hexlify(body_b),
                "bytes": len(body_b)}

    def py_value(v):
        if isinstance(v, dict) and "oid" in v:
            return qc.ObjectId(None, first=v["oid"][0], second=v["oid"][1])
        if isinstance(v, dict) and "map" in v:
            d = {}
            for k, x in v["map"]:
                d[k] = x
            return d
        return v

    # -- (a) 'M' ---------------------------------------------------------------------------------------
    a = spec["a"]
    a_seq, a_name = a["seq"], a["method"]
    a_oid = qc.ObjectId(None, first=a["oid"][0], second=a["oid"][1])
    a_args = [py_value(v) for v in a["args"]]
    method = [m for m in schema.getMethods() if m.name == a_name][0]

    def enc_a():
        c = StringCodec()
        setHeader(None, c, 'M', a_seq)
        a_oid.encode(c)
        ckey.encode(c)
        c.write_str8(a_name)
        i = 0
        for arg in method.arguments:
            if arg.dir.find("I") != -1:
                session._encodeValue(c, a_args[i], arg.type)
                i += 1
        return c.encoded

    body_a = enc_a()

    def dec_a():
        c = StringCodec(body_a)
        opcode, seq = checkHeader(None, c)
        oid = qc.ObjectId(c)
        key = qc.ClassKey(c)
        name = c.read_str8()
        sc = session.schemaCache.getSchema(key)
        for m in sc.getMethods():
            if m.name == name:
                break
        args = {}
        for arg in m.arguments:
            if arg.dir.find("I") != -1:
                args[arg.name] = session._decodeValue(c, arg.type)
        return opcode, seq, oid, args

    got = dec_a()[3]
    assert [got[x.name] for x in method.arguments if "I" in x.dir] == a_args, got
    out["a"] = {"enc": measure(enc_a), "dec": measure(dec_a), "hex": binascii.hexlify(body_a),
                "bytes": len(body_a)}

    # -- (c) 100 'c' in one body ----------------------------------------------------------------------
    cspec = spec["c"]
    c_seq = cspec["seq"]
    props = schema.getProperties()
    recs = [(r["update"], r["create"], r["delete"], r["oid"][0], r["oid"][1], [py_value(v) for v in r["values"]])
            for r in cspec["records"]]

    def enc_c():
        c = StringCodec()
        for upd, crt, dlt, first, second, values in recs:
            setHeader(None, c, 'c', c_seq)
            ckey.encode(c)
            c.write_uint64(upd)
            c.write_uint64(crt)
            c.write_uint64(dlt)
            c.write_uint64(first)  # the agent's ObjectId::encode: all 128 bits as they are
            c.write_uint64(second)
            mask = bit = 0
            for prop, value in zip(props, values):
                if prop.optional:
                    if value is not None:
                        mask |= 1 << bit
                    bit += 1
                    if bit == 8:
                        c.write_uint8(mask)
                        mask = bit = 0
            if bit:
                c.write_uint8(mask)
            for prop, value in zip(props, values):
                if value is not None:
                    session._encodeValue(c, value, prop.type)
        return c.encoded

    body_c = enc_c()

    class Agent(object):
        """What console.py's Object(...) takes from its agent."""
        def __init__(self):
            self.session = session
            self.broker = None

    agent = Agent()

    def dec_c():
        c = StringCodec(body_c)
        objs = []
        while True:
            opcode, seq = checkHeader(None, c)
            if opcode is None:
                break
            key = qc.ClassKey(c)
            sc = session.schemaCache.getSchema(key)
            objs.append(qc.Object(agent, sc, c, True, False))
        return objs

    objs = dec_c()
    assert len(objs) == len(recs)
    out["c"] = {"enc": measure(enc_c), "dec": measure(dec_c), "hex": binascii.hexlify(body_c),
                "bytes": len(body_c)}
    out["notes"].append("StringCodec appends with 'encoded += s' and reads with 'encoded = encoded[n:]', "
                        "so its cost grows with the body size (it shows most in (c))")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
