"""A third party's QMF console in one file: pika, the standard library and the QMFv1 spec, nothing else.

It imports nothing from this project on purpose. It is the README's "Protocol" section as running
code, and it shows that the wire is plain QMFv1 ('AM2') over RabbitMQ. In order, it:

1. asks the broker role who it is: 'B' to `broker`, answered with 'b' (the broker id);
2. reads the agent list. It first learns the layout of class `org.apache.qpid.broker:agent`
   ('Q' → 'q'…'z', then 'S' → 's'), then gets its objects ('G' to `agent.1.0` → 'g'…'z');
3. reads the schema of `org.example.demo:thing` from the chosen agent itself (at `agent.<bb>.<ab>`);
4. calls `add` and `echo` on that agent's object alpha ('M' → 'm').

    python examples/pika_client.py [--url URL] [--add A B] [--echo TEXT] [--timeout S] [AGENT]

All integers are big-endian. The byte layouts follow the sections of qmf-v1.md cited below.
"""

from __future__ import annotations

import argparse
import itertools
import os
import struct
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pika
import pika.exceptions

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
EXCHANGE = "qpid.management"  # topic exchange that carries every request
REPLY_EXCHANGE = "amq.direct"  # replies come back through it, routed by our reply_to (= our queue's name)
CONTENT_TYPE = "x-application/qmf"

# QMF typecodes that struct can lay out alone (§3.1). 6 and 7 are str8 and str16; 10 (object
# reference) and 14 (uuid) are 16 raw bytes; 15 is an AMQP map.
QMF_FIXED = {1: "B", 2: "H", 3: "I", 4: "Q", 8: "q", 9: "Q", 11: "?", 12: "f", 13: "d",
             16: "b", 17: "h", 18: "i", 19: "q"}
# AMQP 0-10 type codes of fixed width that may appear inside a map (§3.2)
AMQP_FIXED = {0x01: "b", 0x02: "B", 0x08: "?", 0x11: "h", 0x12: "H", 0x21: "i", 0x22: "I", 0x23: "f",
              0x31: "q", 0x32: "Q", 0x33: "d", 0x38: "Q"}


def fail(text: str) -> NoReturn:
    """Ends the program with exit status 1 and the message on stderr."""
    raise SystemExit(f"pika_client: {text}")


# -- writing ------------------------------------------------------------------------------------
def header(opcode: str, seq: int) -> bytes:
    """§1.1: magic 'AM2', one opcode letter, then the sequence number as a uint32."""
    return b"AM2" + opcode.encode("ascii") + struct.pack(">I", seq)


def str8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">B", len(raw)) + raw


def str16(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def amqp_map(entries: dict[str, str]) -> bytes:
    """§3.2: a uint32 byte size (counting the count), a uint32 count, then per entry: key (str8),
    type code and value. Every value here is a string, type 0x95 (str16 UTF-8), as console.py sent."""
    body = b"".join(str8(k) + b"\x95" + str16(v) for k, v in entries.items())
    return struct.pack(">II", 4 + len(body), len(entries)) + body


def qmf_value(typecode: int, value: Any) -> bytes:
    """One method argument laid out by its schema typecode. Values carry no type byte (§3.1)."""
    if typecode in QMF_FIXED:
        return struct.pack(">" + QMF_FIXED[typecode], value)
    if typecode == 6:
        return str8(value)
    if typecode == 7:
        return str16(value)
    if typecode == 14:
        return value.bytes
    raise NotImplementedError(f"this example does not write QMF typecode {typecode}")


# -- reading ------------------------------------------------------------------------------------
@dataclass
class Schema:
    """An object class as an 's' describes it (§4). Each part is the AMQP map it came in, e.g.
    {"name": "a", "type": 19, "dir": "I"}."""

    package: str
    name: str
    hash: bytes
    properties: list[dict[str, Any]] = field(default_factory=list)
    statistics: list[dict[str, Any]] = field(default_factory=list)
    methods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # method name -> its arguments


class Reader:
    """A cursor over one AMQP body. Reading past its end raises instead of returning short data."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"body truncated at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(">" + fmt, self.take(struct.calcsize(">" + fmt)))[0]

    def str8(self) -> str:
        return self.take(self.unpack("B")).decode("utf-8")

    def str16(self) -> str:
        return self.take(self.unpack("H")).decode("utf-8")

    def qmf(self, typecode: int) -> Any:
        """One QMF value of a known typecode (§3.1)."""
        if typecode in QMF_FIXED:
            return self.unpack(QMF_FIXED[typecode])
        if typecode == 6:
            return self.str8()
        if typecode == 7:
            return self.str16()
        if typecode == 10:
            return struct.unpack(">QQ", self.take(16))
        if typecode == 14:
            return uuid.UUID(bytes=self.take(16))
        if typecode == 15:
            return self.amqp_map()
        raise NotImplementedError(f"this example does not read QMF typecode {typecode}")

    def amqp_map(self) -> dict[str, Any]:
        size, count = self.unpack("I"), self.unpack("I")
        end = self.pos + size - 4
        out: dict[str, Any] = {}
        for _ in range(count):
            key = self.str8()
            out[key] = self.amqp_value(self.unpack("B"))
        if self.pos != end:
            raise ValueError("an AMQP map's size does not match its entries")
        return out

    def amqp_value(self, code: int) -> Any:
        """§3.2. Schema records use 0x90/0x95 for text (C++ wrote 0x90, Python 0x95) and small ints."""
        if code in AMQP_FIXED:
            return self.unpack(AMQP_FIXED[code])
        if code in (0x90, 0x95):
            return self.take(self.unpack("H")).decode("utf-8")
        if code == 0xA0:
            return self.take(self.unpack("I"))
        if code == 0x48:
            return uuid.UUID(bytes=self.take(16))
        if code == 0xA8:
            return self.amqp_map()
        if code == 0xF0:
            return None
        raise NotImplementedError(f"this example does not read AMQP type 0x{code:02x}")

    def schema(self) -> Schema:
        """§4.1: kind, class key, three counts, then one map per property, statistic and method,
        each method's map followed by `argCount` argument maps."""
        kind = self.unpack("B")
        s = Schema(self.str8(), self.str8(), self.take(16))
        if kind != 1:
            raise ValueError(f"{s.package}:{s.name} is an event class; this example reads object classes only")
        n_props, n_stats, n_methods = self.unpack("H"), self.unpack("H"), self.unpack("H")
        s.properties = [self.amqp_map() for _ in range(n_props)]
        s.statistics = [self.amqp_map() for _ in range(n_stats)]
        for _ in range(n_methods):
            m = self.amqp_map()
            s.methods[m["name"]] = [self.amqp_map() for _ in range(m["argCount"])]
        return s

    def object(self, schemas: dict[tuple[str, str, bytes], Schema]) -> dict[str, Any]:
        """§6.2, a 'g' record: class key, three timestamps, object id, presence mask of the optional
        properties (least significant bit first), properties, then statistics, all in schema order."""
        key = (self.str8(), self.str8(), self.take(16))
        schema = schemas[key]  # values carry no types: without the schema the record is unreadable
        _update, _create, _delete = self.unpack("Q"), self.unpack("Q"), self.unpack("Q")
        values: dict[str, Any] = {"_object_id": (self.unpack("Q"), self.unpack("Q"))}
        optional = [p["name"] for p in schema.properties if p.get("optional")]
        mask = self.take((len(optional) + 7) // 8)
        for prop in schema.properties:
            if prop.get("optional"):
                n = optional.index(prop["name"])
                if not mask[n // 8] >> (n % 8) & 1:
                    continue
            values[prop["name"]] = self.qmf(prop["type"])
        for stat in schema.statistics:
            values[stat["name"]] = self.qmf(stat["type"])
        return values


def object_id_text(first: int, second: int) -> str:
    """§5.1: flags-sequence-brokerBank-agentBank-object."""
    return f"{first >> 60}-{first >> 48 & 0xFFF}-{first >> 28 & 0xFFFFF}-{first & 0xFFFFFFF}-{second}"


# -- the client ---------------------------------------------------------------------------------
class Client:
    """One connection, one reply queue, one request at a time."""

    def __init__(self, url: str, timeout: float) -> None:
        self.timeout = timeout
        try:
            self.conn = pika.BlockingConnection(pika.URLParameters(url))
        except pika.exceptions.AMQPError as exc:
            fail(f"cannot connect to {url.split('@')[-1]}: {exc!r}")
        self.channel = self.conn.channel()
        # Publisher confirms + mandatory: a request that no queue is bound to fails at once
        # (UnroutableError) instead of waiting for a reply that cannot come.
        self.channel.confirm_delivery()
        # Every role declares the exchange the same way; so may we (it makes "unroutable" meaningful).
        self.channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        # The reply queue: a server-named, exclusive, auto-deleted queue, bound to amq.direct under
        # its own name. That name is what every request carries as reply_to.
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, REPLY_EXCHANGE, routing_key=self.queue)
        self.replies = self.channel.consume(self.queue, auto_ack=True, inactivity_timeout=0.2)
        self.schemas: dict[tuple[str, str, bytes], Schema] = {}
        self.seqs = itertools.count(1)

    def close(self) -> None:
        self.conn.close()

    def request(self, key: str, opcode: str, payload: bytes = b"", *, last: str = "z",
                out_args: list[dict[str, Any]] | None = None) -> list[Any]:
        """Sends one request to `key` and returns what answers it: the replies carrying its
        sequence number, up to a 'z' (code 0, else this fails with its text) or one of opcode `last`."""
        seq = next(self.seqs)
        deadline = time.time() + self.timeout
        props = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            reply_to=self.queue,
            expiration=str(int(self.timeout * 1000)),  # RabbitMQ drops it unread after this many ms
            headers={"qmf.deadline": int(deadline * 1000)},  # the agent will not execute it after this
        )
        try:
            self.channel.basic_publish(EXCHANGE, key, header(opcode, seq) + payload, props, mandatory=True)
        except pika.exceptions.UnroutableError:
            fail(f"nothing is bound to routing key {key!r} on {EXCHANGE}: is the broker role or agent running?")
        answers: list[Any] = []
        while time.time() < deadline:
            _method, _props, body = next(self.replies)
            if body is None:  # 0.2 s without a message: look at the clock again
                continue
            r = Reader(body)
            while r.more():  # several QMF messages may be concatenated in one body (§1.2)
                magic, op, rseq = r.take(3), r.take(1).decode("ascii"), r.unpack("I")
                if magic != b"AM2":
                    fail(f"a reply does not start with 'AM2': {body[:16]!r}")
                value = self.read(op, r, out_args if rseq == seq else None)
                if rseq != seq:  # a late answer to an earlier request
                    continue
                if op == "z":
                    code, text = value
                    if code != 0:
                        fail(f"{opcode!r} to {key!r} failed: code {code}: {text}")
                    return answers
                answers.append(value)
                if op == last:
                    return answers
        fail(f"no reply to {opcode!r} sent to {key!r} within {self.timeout:g} s")

    def read(self, op: str, r: Reader, out_args: list[dict[str, Any]] | None) -> Any:
        """The payload of one reply, by opcode (§2)."""
        if op == "b":
            return uuid.UUID(bytes=r.take(16))
        if op == "z":
            return r.unpack("I"), r.str8()
        if op == "p":
            return r.str8()
        if op == "q":
            return r.unpack("B"), r.str8(), r.str8(), r.take(16)  # kind, package, class, hash
        if op == "s":
            return r.schema()
        if op == "g":
            return r.object(self.schemas)
        if op == "m":  # §5.3: status, text (str16), then the out-arguments when the status is 0
            status, text = r.unpack("I"), r.str16()
            out = {a["name"]: r.qmf(a["type"]) for a in out_args or []} if status == 0 else {}
            return status, text, out
        fail(f"unexpected opcode {op!r} in a reply")

    def schema(self, key: str, package: str, name: str) -> Schema:
        """'Q' lists a package's classes with their hashes; 'S' asks for one class by its
        (package, class, hash) key. `key` is `broker` (the broker role) or an agent's own key."""
        for kind, pkg, cls, hash_ in self.request(key, "Q", str8(package)):
            if kind == 1 and cls == name:
                [schema] = self.request(key, "S", str8(pkg) + str8(cls) + hash_, last="s")
                self.schemas[(pkg, cls, hash_)] = schema
                return schema
        fail(f"{key!r} knows no object class {package}:{name}")

    def call(self, key: str, object_id: tuple[int, int], schema: Schema, method: str,
             *args: Any) -> tuple[int, str, dict[str, Any]]:
        """§5.2: object id, class key, method name, then the in-arguments in schema order, each laid
        out by its typecode. Returns the 'm': status, text and out-arguments by name."""
        arg_maps = schema.methods[method]
        ins = [a for a in arg_maps if "I" in a["dir"]]
        outs = [a for a in arg_maps if "O" in a["dir"]]
        payload = (struct.pack(">QQ", *object_id) + str8(schema.package) + str8(schema.name) + schema.hash
                   + str8(method) + b"".join(qmf_value(a["type"], v) for a, v in zip(ins, args, strict=True)))
        [answer] = self.request(key, "M", payload, last="m", out_args=outs)
        return answer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Calls the example agent with nothing but pika (see the README's "
                                             "Protocol section).")
    ap.add_argument("agent", nargs="?", default="demo1", help="the agent to call (default demo1)")
    ap.add_argument("--url", default=os.environ.get("QMF_URL", DEFAULT_URL), help="AMQP URL (env QMF_URL)")
    ap.add_argument("--add", nargs=2, type=int, default=[20, 22], metavar=("A", "B"))
    ap.add_argument("--echo", default="hello, QMF", metavar="TEXT")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply")
    args = ap.parse_args(argv)

    client = Client(args.url, args.timeout)
    try:
        [broker_id] = client.request("broker", "B", last="b")
        print(f"broker id: {broker_id}")

        # The agent list: objects of class org.apache.qpid.broker:agent, served by the broker role
        # as its own agent, agent.1.0. Its schema comes from the broker role too.
        client.schema("broker", "org.apache.qpid.broker", "agent")
        agents = client.request("agent.1.0", "G", amqp_map({"_class": "agent"}))
        for a in agents:
            print(f"agent {a['name']}: banks {a['brokerBank']}.{a['agentBank']}, alive {a['alive']}")
        me = next((a for a in agents if a["name"] == args.agent), None)
        if me is None:
            fail(f"no agent named {args.agent!r} in the broker role's list")
        bb, ab = me["brokerBank"], me["agentBank"]
        key = f"agent.{bb}.{ab}"

        # The agent answers P, Q and S itself, so its schema is the one its objects use.
        thing = client.schema(key, "org.example.demo", "thing")
        print(f"class {thing.package}:{thing.name} hash {thing.hash.hex()} methods {', '.join(thing.methods)}")

        # alpha is object number 1 with a persistent id: sequence 0, then the agent's banks
        alpha = (0 << 48 | bb << 28 | ab, 1)
        print(f"object alpha: {object_id_text(*alpha)}")
        a, b = args.add
        status, text, out = client.call(key, alpha, thing, "add", a, b)
        print(f"add({a}, {b}): status {status} ({text}) sum {out.get('sum')}")
        ok = status == 0
        status, text, out = client.call(key, alpha, thing, "echo", args.echo)
        print(f"echo: status {status} ({text}) reply {out.get('reply')!r}")
        ok = ok and status == 0
    finally:
        client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
