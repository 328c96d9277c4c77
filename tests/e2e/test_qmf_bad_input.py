"""Bad input on the wire, end to end: what an agent and the broker role answer to bodies they
cannot read, requests they cannot serve and floods of garbage, over the real RabbitMQ.

The peer here is raw pika, not the project's console, so nothing between the test and the wire
can smooth over a wrong reply: every body is built by hand or with the codec, every reply is read
back with `codec.decode_body`, and the only things asserted are what a peer sees: which replies
came (opcode, sequence number, code or status, text), which did not, and that the role goes on
answering correctly afterwards with bounded memory (the agent's VmRSS, read from /proc).

"No reply" is observed with a sentinel: a request the role answers, sent after the body under
test from the same channel. The role reads its queue in order and publishes on one channel, so
once the sentinel's answer is in, any answer to the earlier body would already have arrived.
"""

from __future__ import annotations

import random
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest
from pika.spec import BasicProperties
from qmf_env import Proc, QmfEnv

from codec import (
    DEFAULT_LIMITS,
    BrokerRequest,
    BrokerResponse,
    ClassKey,
    ClassQuery,
    CommandComplete,
    DecodeError,
    GetQuery,
    Message,
    MethodRequest,
    MethodResponse,
    ObjectClass,
    ObjectId,
    ObjectIndication,
    PackageQuery,
    QmfArray,
    SchemaMethod,
    SchemaRequest,
    SchemaResponse,
    decode_body,
    encode,
    encode_body,
)
from codec.errors import (
    COMPLETE_FAILED,
    STATUS_PARAMETER_INVALID,
    STATUS_UNKNOWN_METHOD,
    STATUS_UNKNOWN_OBJECT,
)
from qmf.schemas import Registry

DEMO = "org.example.demo"
BROKER_PACKAGE = "org.apache.qpid.broker"
MANAGEMENT = "qpid.management"
REPLY_WAIT = 15.0  # seconds a sentinel's answer may take, even behind a flood
MAX_BODY = DEFAULT_LIMITS.max_body  # what both roles decode with (16 MiB)
QMF_LETTERS = "BbPpQqSszhGgciMmeAax"
AGENT_ANSWERS = "zmgpqs"  # what an agent sends to a reply_to
BROKER_ANSWERS = "zmgpqsbS"  # the broker role also answers B, and asks for the schema of a class it hears of
# in-and-out arguments of every_type, one per QMF typecode it has
EVERY = {"u8": 1, "u16": 2, "u32": 3, "u64": 4, "sstr": "s", "lstr": "l", "abstime": 5, "deltatime": 6,
         "ref": ObjectId.make(agent_bank=10, object=7), "bool": False, "float": 0.5, "double": 0.25,
         "uuid": uuid.UUID(int=1), "map": {"k": 1}, "s8": -1, "s16": -2, "s32": -3, "s64": -4, "list": [1, "x"],
         "array": QmfArray([1, 2], typecode=4)}


# -- a raw peer -------------------------------------------------------------------------------------
@dataclass
class Reply:
    """One AMQP message that came back, decoded (or the error that stopped decoding it)."""

    body: bytes
    props: BasicProperties
    messages: list[Message]
    error: DecodeError | None


class Peer:
    """A console reduced to pika: publishes bodies to `qpid.management` and reads its own queue,
    bound to `amq.direct` under its own name as QMFv1 requires of a reply_to."""

    def __init__(self, url: str, registry: Registry) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.queue = f"bad-input-{uuid.uuid4().hex[:10]}"
        self.ch.queue_declare(self.queue, exclusive=True, auto_delete=True)
        self.ch.queue_bind(self.queue, "amq.direct", self.queue)
        self.ch.basic_consume(self.queue, self._on_message, auto_ack=True)
        self.registry = registry
        self.methods: dict[int, SchemaMethod] = {}  # seq → method of the well-formed M requests sent
        self.inbox: list[Reply] = []
        self._seqs = iter(range(100_000, 1 << 31))

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()

    def seq(self) -> int:
        """A sequence number no other request of this peer carries."""
        return next(self._seqs)

    def _on_message(self, _ch: Any, _method: Any, props: BasicProperties, body: bytes) -> None:
        try:
            msgs, err = decode_body(body, schemas=self.registry, methods=self.methods.get), None
        except DecodeError as exc:
            msgs, err = [], exc
        self.inbox.append(Reply(body, props, msgs, err))

    def send(self, key: str, body: bytes, *, reply: bool = True, headers: dict[str, Any] | None = None) -> None:
        props = BasicProperties(content_type="x-application/qmf", reply_to=self.queue if reply else None,
                                headers=headers)
        self.ch.basic_publish(MANAGEMENT, key, body, props)

    def pump(self, seconds: float = 0.0) -> None:
        self.conn.process_data_events(time_limit=seconds)

    def wait(self, done: Callable[[list[Reply]], bool], timeout: float = REPLY_WAIT) -> list[Reply]:
        """Reads replies until `done(inbox)` holds; fails with what came if it never does."""
        deadline = time.monotonic() + timeout
        while not done(self.inbox):
            if time.monotonic() > deadline:
                raise AssertionError(f"no expected reply within {timeout} s; got {self.describe(self.inbox)}")
            self.pump(0.02)
        return self.inbox

    def take(self) -> list[Reply]:
        got, self.inbox = self.inbox, []
        return got

    @staticmethod
    def describe(replies: list[Reply]) -> str:
        return "; ".join(repr(r.messages) if r.error is None else f"undecodable {r.error}" for r in replies)


def has_seq(seq: int) -> Callable[[list[Reply]], bool]:
    return lambda inbox: any(m.seq == seq for r in inbox for m in r.messages)


def completes(seq: int) -> Callable[[list[Reply]], bool]:
    """Until the 'z' that ends a request of records (p, q, g) has come."""
    return lambda inbox: any(isinstance(m, CommandComplete) and m.seq == seq for r in inbox for m in r.messages)


@dataclass
class Target:
    """A role as the peer addresses it, with what the peer learnt about it over the wire."""

    key: str
    proc: Proc
    sentinel: Callable[[Peer, int], bytes]  # a request it answers, given the peer and a seq
    objects: dict[str, ObjectId]  # by name


def ask(peer: Peer, target: Target, body: bytes, *, reply: bool = True,
        headers: dict[str, Any] | None = None) -> list[Message]:
    """Sends `body`, then a sentinel; returns every message that came back before the sentinel's
    answer, so a test sees all and only what the role said about `body`."""
    assert not peer.inbox, f"stray replies: {peer.describe(peer.inbox)}"
    peer.send(target.key, body, reply=reply, headers=headers)
    s = peer.seq()
    peer.send(target.key, target.sentinel(peer, s))
    peer.wait(has_seq(s))
    before: list[Message] = []
    for i, r in enumerate(peer.inbox):
        assert r.error is None, f"a reply that does not decode: {r.error} ({r.body[:64]!r})"
        if any(m.seq == s for m in r.messages):
            del peer.inbox[:i + 1]  # anything later stays, for the next ask to report as stray
            break
        before.extend(r.messages)
    return before


def only_reply(peer: Peer, target: Target, body: bytes) -> Message:
    got = ask(peer, target, body)
    assert len(got) == 1, f"expected exactly one reply, got {got}"
    return got[0]


def assert_z(m: Message, seq: int, *words: str) -> None:
    assert isinstance(m, CommandComplete), m
    assert (m.seq, m.code) == (seq, COMPLETE_FAILED), m
    for w in words:
        assert w.lower() in m.text.lower(), f"{w!r} not in {m.text!r}"


def assert_m(m: Message, seq: int, statuses: int | tuple[int, ...], *words: str) -> None:
    assert isinstance(m, MethodResponse), m
    allowed = statuses if isinstance(statuses, tuple) else (statuses,)
    assert m.seq == seq and m.status in allowed, m
    for w in words:
        assert w.lower() in m.text.lower(), f"{w!r} not in {m.text!r}"


# -- bodies by hand ---------------------------------------------------------------------------------
def header(op: str | bytes, seq: int) -> bytes:
    return b"AM2" + (op.encode("latin-1") if isinstance(op, str) else op) + struct.pack(">I", seq)


def str8(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return bytes([len(raw)]) + raw


def class_key(package: str, name: str, hash_: bytes = bytes(16)) -> bytes:
    return str8(package) + str8(name) + hash_


def amqp_map(entries: bytes, count: int) -> bytes:
    """An AMQP 0-10 map: size, count, then the entries as given (key str8, type code, value)."""
    inner = struct.pack(">I", count) + entries
    return struct.pack(">I", len(inner)) + inner


def nested_query(depth: int, cls: str | None = "thing") -> bytes:
    """A G query map whose entry "n" holds a map holding a map ... `depth` levels in all."""
    # a map of one nested entry is 11 bytes longer than that entry, so every size is known ahead
    # and the levels can be joined once instead of wrapped one by one (quadratic at 100,000 levels)
    m = b"".join(struct.pack(">II", 8 + 11 * level - 4, 1) + b"\x01n\xa8" for level in range(depth - 1, 0, -1))
    m += amqp_map(b"", 0)
    if cls is None:
        return m
    raw = cls.encode()
    return amqp_map(b"\x06_class\x95" + struct.pack(">H", len(raw)) + raw + b"\x01n\xa8" + m, 2)


def method_request(seq: int, oid: ObjectId, schema: ObjectClass, name: str, args: dict[str, Any]) -> bytes:
    return encode(MethodRequest(seq=seq, object_id=oid, schema=schema, method=name, args=args))


def raw_method(seq: int, oid: ObjectId, key: bytes, name: str, args: bytes = b"") -> bytes:
    return header("M", seq) + struct.pack(">QQ", oid.first, oid.second) + key + str8(name) + args


# -- fixtures ---------------------------------------------------------------------------------------
def _proc(env: QmfEnv, name: str) -> Proc:
    return next(p for p in env.procs if p.name == name)


def _learn(peer: Peer, key: str, package: str, cls: str) -> dict[str, ObjectId]:
    """Asks a role, over the wire, for a class (Q then S, kept in the peer's registry) and for
    its objects (G, returned by name): what the tests need to build requests it can read."""
    seq = peer.seq()
    peer.send(key, encode(ClassQuery(seq=seq, package=package)))
    peer.wait(completes(seq))
    [ckey] = [m.key for r in peer.take() for m in r.messages if m.opcode == "q" and m.key.name == cls]
    seq = peer.seq()
    peer.send(key, encode(SchemaRequest(seq=seq, key=ckey)))
    peer.wait(has_seq(seq))
    [schema] = [m.schema for r in peer.take() for m in r.messages if isinstance(m, SchemaResponse)]
    peer.registry.add(schema)
    seq = peer.seq()
    peer.send(key, encode(GetQuery(seq=seq, query={"_class": cls})))
    peer.wait(completes(seq))
    records = [m for r in peer.take() for m in r.messages if isinstance(m, ObjectIndication)]
    return {o.properties["name"]: o.object_id for o in records}


@dataclass
class World:
    env: QmfEnv
    peer: Peer
    agent: Target  # demo1, for the precise cases
    flooded: Target  # demo2, for the flood and its memory
    broker: Target
    thing: ObjectClass
    broker_id: uuid.UUID


@pytest.fixture(scope="module")
def world(qmf_env: QmfEnv) -> Iterator[World]:
    peer = Peer(qmf_env.url, Registry())
    try:
        seq = peer.seq()
        peer.send("broker", encode(BrokerRequest(seq=seq)))
        [broker_id] = [m.broker_id for r in peer.wait(has_seq(seq)) for m in r.messages
                       if isinstance(m, BrokerResponse)]
        peer.take()
        assert qmf_env.broker_role is not None
        broker = Target("broker", qmf_env.broker_role, lambda _p, s: encode(BrokerRequest(seq=s)),
                        _learn(peer, "broker", BROKER_PACKAGE, "agent"))
        targets = {}
        for name in ("demo1", "demo2"):
            proc = _proc(qmf_env, f"agent {name}")
            key = f"agent.{proc.wait_for('ready ').split()[1]}"  # "ready 1.<bank>"
            objects = _learn(peer, key, DEMO, "thing")
            thing = next(s for s in peer.registry if s.key.name == "thing")
            assert isinstance(thing, ObjectClass)
            targets[name] = Target(key, proc, _echo_sentinel(thing, objects["alpha"]), objects)
        yield World(qmf_env, peer, targets["demo1"], targets["demo2"], broker, thing, broker_id)
    finally:
        peer.close()


def _echo_sentinel(thing: ObjectClass, oid: ObjectId) -> Callable[[Peer, int], bytes]:
    """An agent's sentinel is an M: its answer comes from a task, so it comes after the answers
    of method calls read before it, not only after the synchronous ones."""
    echo = thing.method("echo")
    assert echo is not None

    def make(peer: Peer, seq: int) -> bytes:
        peer.methods[seq] = echo
        return method_request(seq, oid, thing, "echo", {"text": "sentinel"})

    return make


# -- precise cases: an agent ------------------------------------------------------------------------
def test_agent_refuses_bodies_it_cannot_read(world: World) -> None:
    peer, a = world.peer, world.agent
    assert_z(only_reply(peer, a, b"AM3G" + struct.pack(">I", 5) + amqp_map(b"", 0)), 0, "AM2")
    assert_z(only_reply(peer, a, b"\x00\xffjunk that is no header"), 0, "AM2")
    assert_z(only_reply(peer, a, b"AM2G\x00\x00"), 0, "header", "8 bytes")
    seq = peer.seq()
    half = encode(GetQuery(seq=seq, query={"_class": "thing", "_package": DEMO}))
    assert_z(only_reply(peer, a, half[:len(half) // 2]), seq, "get query map", "left", "'G'")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("Y", seq) + b"payload"), seq, "unknown opcode 'Y'")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header(b"\xff", seq)), seq, "unknown opcode", "0xff")
    assert ask(peer, a, b"") == []  # no message at all: nothing to answer


def test_agent_refuses_opcodes_it_does_not_answer(world: World) -> None:
    peer, a = world.peer, world.agent
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(BrokerRequest(seq=seq))), seq, "'B'")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("A", seq) + str8("x") + bytes(24)), seq, "'A'")
    # responses are never answered, neither when well formed nor when broken: no reply loops
    assert ask(peer, a, encode(BrokerResponse(seq=peer.seq(), broker_id=uuid.uuid4()))) == []
    assert ask(peer, a, encode(CommandComplete(seq=peer.seq(), code=1, text="no"))) == []
    assert ask(peer, a, encode(MethodResponse(seq=peer.seq(), status=7, text="late"))) == []
    assert ask(peer, a, header("z", peer.seq()) + b"\x00\x00") == []
    assert ask(peer, a, header("m", peer.seq()) + b"\x00\x00\x00\x00\x00\x10" + b"short") == []
    assert ask(peer, a, encode(CommandComplete(seq=peer.seq())) + b"junk after a response") == []


def test_agent_get_query_errors(world: World) -> None:
    peer, a = world.peer, world.agent
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(GetQuery(seq=seq, query={}))), seq, "_class", "_objectid")
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(GetQuery(seq=seq, query={"_package": DEMO, "_class": 7}))), seq,
             "_class")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("G", seq) + nested_query(40)), seq, "nested deeper", "32")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("G", seq) + nested_query(100_000, None)), seq, "nested deeper")
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("G", seq) + amqp_map(b"", 0xFFFFFFFF)), seq, "declares")
    seq = peer.seq()
    dup = b"\x06_class\x95\x00\x05thing" * 2
    assert_z(only_reply(peer, a, header("G", seq) + amqp_map(dup, 2)), seq, "'_class' twice")
    # a nested query within the limits is a query like any other
    seq = peer.seq()
    got = ask(peer, a, header("G", seq) + nested_query(20))
    assert sorted(m.properties["name"] for m in got if isinstance(m, ObjectIndication)) == ["alpha", "beta"]
    assert isinstance(got[-1], CommandComplete) and (got[-1].seq, got[-1].code) == (seq, 0)


def test_agent_schema_request_for_unknown_classes(world: World) -> None:
    peer, a = world.peer, world.agent
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(SchemaRequest(seq=seq, key=ClassKey(DEMO, "nope", bytes(16))))), seq,
             "Class key not found", "nope")
    seq = peer.seq()
    wrong_hash = ClassKey(DEMO, "thing", bytes(16))
    assert_z(only_reply(peer, a, encode(SchemaRequest(seq=seq, key=wrong_hash))), seq, "Class key not found")
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(SchemaRequest(seq=seq, key=ClassKey("no.such", "x", bytes(16))))), seq,
             "Package not found", "no.such")


def test_agent_method_request_errors(world: World) -> None:
    peer, a, thing = world.peer, world.agent, world.thing
    alpha = a.objects["alpha"]
    good = class_key(DEMO, "thing", thing.key.hash)
    seq = peer.seq()
    assert_m(only_reply(peer, a, raw_method(seq, alpha, class_key(DEMO, "nosuch"), "echo")), seq,
             STATUS_UNKNOWN_OBJECT, "UnknownObject:", "nosuch")
    seq = peer.seq()
    assert_m(only_reply(peer, a, raw_method(seq, alpha, class_key(DEMO, "thing"), "echo")), seq,
             STATUS_UNKNOWN_OBJECT, "thing", "0" * 32)  # the right class name, a wrong hash
    seq = peer.seq()
    assert_m(only_reply(peer, a, raw_method(seq, alpha, good, "nope", b"\x00\x01x")), seq, STATUS_UNKNOWN_METHOD,
             "UnknownMethod:", "'nope'")
    seq = peer.seq()
    echo = method_request(seq, alpha, thing, "echo", {"text": "cut short"})
    assert_m(only_reply(peer, a, echo[:-3]), seq, STATUS_PARAMETER_INVALID, "InvalidParameter:", "needs", "left")
    seq = peer.seq()
    assert_m(only_reply(peer, a, raw_method(seq, alpha, good, "echo", b"\x00\x02\xc3\x28")), seq,
             STATUS_PARAMETER_INVALID, "utf-8")
    seq = peer.seq()
    bad_bool = _every_type_with_bool_byte(seq, alpha, thing, 2)
    reply = only_reply(peer, a, bad_bool)
    assert_m(reply, seq, STATUS_PARAMETER_INVALID, "bool")
    seq = peer.seq()  # an event class is no class of objects
    note = _class_key_of(peer, a, "note")
    assert_m(only_reply(peer, a, raw_method(seq, alpha, class_key(DEMO, "note", note.hash), "echo")), seq,
             STATUS_PARAMETER_INVALID, "note", "ObjectClass")
    seq = peer.seq()
    gone = ObjectId.make(sequence=alpha.sequence, broker_bank=alpha.broker_bank, agent_bank=alpha.agent_bank,
                         object=999)
    assert_m(only_reply(peer, a, method_request(seq, gone, thing, "echo", {"text": "anyone?"})), seq,
             STATUS_UNKNOWN_OBJECT, "999")
    # surplus bytes after the arguments are no next message: the M is refused as a whole
    seq = peer.seq()
    assert_m(only_reply(peer, a, method_request(seq, alpha, thing, "echo", {"text": "x"}) + b"tail"), seq,
             STATUS_PARAMETER_INVALID, "AM2")


def _every_type_with_bool_byte(seq: int, oid: ObjectId, thing: ObjectClass, value: int) -> bytes:
    """An every_type request whose boolean argument is the byte `value`: the one byte where the
    encodings with False and with True differ."""
    f = method_request(seq, oid, thing, "every_type", {**EVERY, "bool": False})
    t = method_request(seq, oid, thing, "every_type", {**EVERY, "bool": True})
    [i] = [i for i in range(len(f)) if f[i] != t[i]]
    return f[:i] + bytes([value]) + f[i + 1:]


def _class_key_of(peer: Peer, target: Target, name: str) -> ClassKey:
    seq = peer.seq()
    peer.send(target.key, encode(ClassQuery(seq=seq, package=DEMO)))
    peer.wait(completes(seq))
    [key] = [m.key for r in peer.take() for m in r.messages if m.opcode == "q" and m.key.name == name]
    return key


def test_agent_ignores_requests_without_reply_to_and_keeps_serving(world: World) -> None:
    peer, a, thing = world.peer, world.agent, world.thing
    alpha = a.objects["alpha"]
    for body in (b"garbage", encode(GetQuery(seq=peer.seq(), query={})), header("Y", peer.seq()),
                 raw_method(peer.seq(), alpha, class_key(DEMO, "nosuch"), "echo"),
                 method_request(peer.seq(), alpha, thing, "echo", {"text": "unheard"})):
        assert ask(peer, a, body, reply=False) == []
    seq = peer.seq()
    peer.methods[seq] = thing.method("add")  # type: ignore[assignment]
    [m] = ask(peer, a, method_request(seq, alpha, thing, "add", {"a": 40, "b": 2}))
    assert isinstance(m, MethodResponse) and (m.seq, m.status, m.out_args) == (seq, 0, {"sum": 42})


def test_agent_bodies_of_several_messages(world: World) -> None:
    """A body is read whole before anything in it is acted on: a bad message gets every request in
    the body one refusal (not an answer and then a refusal of the same seq); a good body gets every
    request answered."""
    peer, a, thing = world.peer, world.agent, world.thing
    s1, s2 = peer.seq(), peer.seq()
    [z1, z2] = ask(peer, a, encode(PackageQuery(seq=s1)) + header("Y", s2))
    assert_z(z1, s1, "unknown opcode 'Y'")
    assert_z(z2, s2, "unknown opcode 'Y'")
    s1 = peer.seq()
    assert_z(only_reply(peer, a, encode(PackageQuery(seq=s1)) + b"AM2"), s1, "header")
    s1, s2 = peer.seq(), peer.seq()
    got = ask(peer, a, encode_body([PackageQuery(seq=s1), BrokerRequest(seq=s2)]))
    assert [(m.opcode, m.seq) for m in got] == [("p", s1), ("z", s1), ("z", s2)]
    assert got[0].package == DEMO and got[1].code == 0  # type: ignore[attr-defined]
    assert_z(got[2], s2, "'B'")
    s1, s2 = peer.seq(), peer.seq()
    alpha = a.objects["alpha"]
    body = method_request(s1, alpha, thing, "echo", {"text": "x"}) + encode(GetQuery(seq=s2, query={}))[:-2]
    [m, z] = ask(peer, a, body)
    assert_m(m, s1, STATUS_PARAMETER_INVALID, "'G'")
    assert_z(z, s2, "get query map", "'G'")
    # a response among requests gets nothing, the requests get their refusals
    s1, s2 = peer.seq(), peer.seq()
    [z] = ask(peer, a, encode(CommandComplete(seq=s1)) + encode(PackageQuery(seq=s2)) + b"\x00")
    assert_z(z, s2, "AM2")


def test_agent_refuses_a_body_over_the_codec_limit(world: World) -> None:
    peer, a, thing = world.peer, world.agent, world.thing
    seq = peer.seq()
    big = method_request(seq, a.objects["alpha"], thing, "echo", {"text": "x"})
    big += bytes(MAX_BODY + 1 - len(big))
    assert_m(only_reply(peer, a, big), seq, STATUS_PARAMETER_INVALID, "limit", str(MAX_BODY))
    seq = peer.seq()
    assert_z(only_reply(peer, a, header("G", seq) + bytes(MAX_BODY)), seq, "limit")


def test_agent_refusal_texts_fit_their_strings(world: World) -> None:
    """Texts that quote 255-byte names still fit their str8 or str16, and still say what went
    wrong and where: a long text loses its middle, not its reason."""
    peer, a = world.peer, world.agent
    seq = peer.seq()
    key = b"\xff" + b"k" * 255
    assert_z(only_reply(peer, a, header("G", seq) + amqp_map(key + b"\x95\x00\x10x", 1)), seq,
             "get query map['kkk", "needs 16 bytes, 1 left", "'G'")
    seq = peer.seq()
    assert_z(only_reply(peer, a, encode(SchemaRequest(seq=seq, key=ClassKey("p" * 255, "c" * 255, bytes(16))))),
             seq, "Package not found: ppp", "ccc")
    seq = peer.seq()
    oid = a.objects["alpha"]
    assert_m(only_reply(peer, a, raw_method(seq, oid, class_key("p" * 255, "c" * 255), "m" * 255)), seq,
             STATUS_UNKNOWN_OBJECT, "p" * 255 + ":" + "c" * 255, "'M'")


# -- precise cases: the broker role -----------------------------------------------------------------
def test_broker_role_refusals(world: World) -> None:
    peer, b = world.peer, world.broker
    assert_z(only_reply(peer, b, b"AM3B\x00\x00\x00\x01"), 0, "AM2")
    assert_z(only_reply(peer, b, b"AM2"), 0, "header")
    seq = peer.seq()
    assert_z(only_reply(peer, b, header("Y", seq)), seq, "unknown opcode 'Y'")
    seq = peer.seq()
    assert_z(only_reply(peer, b, encode(GetQuery(seq=seq, query={}))), seq, "_class")
    seq = peer.seq()
    assert_z(only_reply(peer, b, header("G", seq) + nested_query(33)), seq, "nested deeper")
    seq = peer.seq()
    assert_z(only_reply(peer, b, encode(SchemaRequest(seq=seq, key=ClassKey(DEMO, "nope", bytes(16))))), seq,
             "nope")
    seq = peer.seq()
    assert_z(only_reply(peer, b, header("Q", seq) + b"\x05ab"), seq, "package name", "left")
    seq = peer.seq()
    assert_z(only_reply(peer, b, header("A", seq) + str8("agent") + bytes(10)), seq, "system id", "left")
    seq = peer.seq()
    assert_z(only_reply(peer, b, header("S", seq) + class_key(BROKER_PACKAGE, "agent")[:-4]), seq, "class hash")
    assert ask(peer, b, encode(BrokerResponse(seq=peer.seq(), broker_id=uuid.uuid4()))) == []
    assert ask(peer, b, header("a", peer.seq()) + b"\x00") == []
    assert ask(peer, b, b"AM2Y\x00\x00\x00\x09", reply=False) == []
    seq = peer.seq()
    got = ask(peer, b, encode(GetQuery(seq=seq, query={"_class": "agent"})))
    names = sorted(m.properties["name"] for m in got if isinstance(m, ObjectIndication))
    assert {"demo1", "demo2"} <= set(names)


def test_broker_role_method_requests(world: World) -> None:
    """The broker role holds objects (the agent list) but no methods: every M gets an 'm'."""
    peer, b, thing = world.peer, world.broker, world.thing
    some_agent = next(iter(b.objects.values()))
    seq = peer.seq()
    assert_m(only_reply(peer, b, raw_method(seq, some_agent, class_key(DEMO, "nosuch"), "echo")), seq,
             STATUS_UNKNOWN_OBJECT, "nosuch")
    agent_class = next(s for s in peer.registry if s.key.name == "agent")
    seq = peer.seq()
    assert_m(only_reply(peer, b, raw_method(seq, some_agent, class_key(BROKER_PACKAGE, "agent", agent_class.key.hash),
                                           "restart")), seq, STATUS_UNKNOWN_METHOD, "'restart'")
    # a class the broker role caches for an agent, but an object it does not hold
    seq = peer.seq()
    assert_m(only_reply(peer, b, method_request(seq, world.agent.objects["alpha"], thing, "echo", {"text": "x"})),
             seq, STATUS_UNKNOWN_OBJECT, "UnknownObject:", str(world.agent.objects["alpha"]))


# -- the flood --------------------------------------------------------------------------------------
def _templates(t: Target, thing: ObjectClass) -> list[bytes]:
    """Well-formed requests to mutate: what a console sends an agent (no sleeping or crashing)."""
    alpha, beta = t.objects["alpha"], t.objects["beta"]
    s = iter(range(1, 1 << 20))
    return [
        encode(BrokerRequest(seq=next(s))), encode(PackageQuery(seq=next(s))),
        encode(ClassQuery(seq=next(s), package=DEMO)), encode(SchemaRequest(seq=next(s), key=thing.key)),
        encode(GetQuery(seq=next(s), query={"_class": "thing", "_package": DEMO})),
        encode(GetQuery(seq=next(s), query={"_objectid": str(beta)})),
        method_request(next(s), alpha, thing, "echo", {"text": "flood"}),
        method_request(next(s), beta, thing, "add", {"a": 1, "b": -1}),
        method_request(next(s), alpha, thing, "every_type", EVERY),
        encode_body([PackageQuery(seq=next(s)), GetQuery(seq=next(s), query={"_class": "thing"})]),
    ]


def _broker_templates(peer: Peer) -> list[bytes]:
    s = iter(range(1, 1 << 20))
    agent_class = next(x for x in peer.registry if x.key.name == "agent")
    return [
        encode(BrokerRequest(seq=next(s))), encode(PackageQuery(seq=next(s))),
        encode(ClassQuery(seq=next(s), package=BROKER_PACKAGE)),
        encode(SchemaRequest(seq=next(s), key=agent_class.key)),
        encode(GetQuery(seq=next(s), query={"_class": "agent"})),
    ]


def mutants(rng: random.Random, templates: list[bytes], n: int) -> Iterator[bytes]:
    """`n` bodies: random bytes, and valid requests with bits flipped, cut, grown, spliced, or
    with their payload replaced; every opcode letter (and a few that are none) with random bytes."""
    letters = [c.encode() for c in QMF_LETTERS] + [b"Y", b"\x00", b"\xff", b"j"]
    for i in range(n):
        t = bytearray(rng.choice(templates))
        kind = i % 8
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 300))
        elif kind == 1:
            for _ in range(rng.randrange(1, 9)):
                t[rng.randrange(len(t))] ^= 1 << rng.randrange(8)
            yield bytes(t)
        elif kind == 2:
            yield bytes(t[:rng.randrange(len(t))])
        elif kind == 3:
            at = rng.randrange(len(t) + 1)
            yield bytes(t[:at] + rng.randbytes(rng.randrange(1, 40)) + t[at:])
        elif kind == 4:
            yield bytes(t[:8]) + rng.randbytes(rng.randrange(0, 200))
        elif kind == 5:
            yield header(letters[(i // 8) % len(letters)], rng.randrange(1 << 32)) + rng.randbytes(rng.randrange(0, 64))
        elif kind == 6:
            for _ in range(rng.randrange(1, 5)):
                t[rng.randrange(len(t))] = rng.randrange(256)
            yield bytes(t)
        else:
            other = rng.choice(templates)
            yield bytes(t) + other[:rng.randrange(len(other) + 1)]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def _flood(peer: Peer, t: Target, bodies: list[bytes]) -> list[Reply]:
    """Sends every body with a reply_to, then waits for a sentinel's answer behind them all."""
    assert not peer.inbox
    for i, body in enumerate(bodies):
        peer.send(t.key, body)
        if i % 200 == 199:
            peer.pump()
    s = peer.seq()
    peer.send(t.key, t.sentinel(peer, s))
    peer.wait(has_seq(s), timeout=60)
    return [r for r in peer.take() if not any(m.seq == s for m in r.messages)]


def _check_flood_replies(replies: list[Reply], bodies: list[bytes], candidates: list[SchemaMethod],
                         registry: Registry, answers: str) -> None:
    """Every reply decodes, asks for no reply itself, and is a refusal with a text or an answer
    to a request that survived its mutation; no request got two final answers.

    Each request ends with exactly one 'z', 'm' or 's', and a body refused before any header
    could be read gets one 'z' with seq 0; so, seq by seq, there are never more final answers
    than headers carrying that seq (counting every "AM2" in a body as one, an upper bound)."""
    carried: Counter[int] = Counter()
    for b in bodies:
        carried[0] += 1
        at = b.find(b"AM2")
        while at != -1:
            if at + 8 <= len(b):
                carried[struct.unpack_from(">I", b, at + 4)[0]] += 1
            at = b.find(b"AM2", at + 1)
    unreadable = sum(1 for b in bodies if b and not b"AM2".startswith(b[:3]))
    finals: Counter[int] = Counter()
    refusals = 0
    for r in replies:
        msgs = r.messages
        if r.error is not None:  # an 'm' with out-arguments: the peer did not know which method
            msgs = _decode_with_any_method(r.body, candidates, registry)
        assert msgs, r.body[:64]
        # a reply that asks for a reply could start a loop; only the broker role's question for
        # the schema of a class it heard of ('q' → 'S') is a request, and it must be one
        assert r.props.reply_to is None or [m.opcode for m in msgs] == ["S"], msgs
        for m in msgs:
            assert m.opcode in answers, m
            if m.opcode in "zms":
                finals[m.seq] += 1
            if isinstance(m, CommandComplete) and m.code:
                assert m.code == COMPLETE_FAILED and m.text, m
                refusals += 1
            elif isinstance(m, MethodResponse) and m.status:
                assert m.text, m
                refusals += 1
    assert refusals >= unreadable, (refusals, unreadable)
    twice = {seq: n for seq, n in finals.items() if n > carried[seq]}
    assert not twice, f"more final answers than requests for seq(s) {twice}"


def _decode_with_any_method(body: bytes, candidates: list[SchemaMethod], registry: Registry) -> list[Message]:
    for method in candidates:
        try:
            return decode_body(body, schemas=registry, methods=lambda _seq, m=method: m)
        except DecodeError:
            continue
    raise AssertionError(f"a reply no method's out-arguments decode: {body[:80]!r}")


def test_flood_of_bad_bodies_to_an_agent(world: World) -> None:
    peer, t, thing = world.peer, world.flooded, world.thing
    rng = random.Random(20240601)
    templates = _templates(t, thing)
    candidates = [m for m in (thing.method(n) for n in ("echo", "add", "every_type")) if m is not None]
    pid = t.proc.popen.pid
    warm = list(mutants(rng, templates, 1_000))
    _check_flood_replies(_flood(peer, t, warm), warm, candidates, peer.registry, AGENT_ANSWERS)
    before = _rss_kib(pid)
    bodies = list(mutants(rng, templates, 5_000))
    replies = _flood(peer, t, bodies)
    after = _rss_kib(pid)
    print(f"flood: {len(bodies)} bodies, {len(replies)} replies, agent RSS {before} -> {after} KiB")
    _check_flood_replies(replies, bodies, candidates, peer.registry, AGENT_ANSWERS)
    assert len(replies) >= len(bodies) // 4, len(replies)
    assert after - before < 20 * 1024, f"agent RSS grew from {before} KiB to {after} KiB over the flood"
    assert t.proc.popen.poll() is None, "the agent died"

    # it still answers correctly
    alpha = t.objects["alpha"]
    seq = peer.seq()
    peer.methods[seq] = thing.method("echo")  # type: ignore[assignment]
    [m] = ask(peer, t, method_request(seq, alpha, thing, "echo", {"text": "still here ✓"}))
    assert isinstance(m, MethodResponse) and (m.seq, m.status, m.out_args) == (seq, 0, {"reply": "still here ✓"})
    seq = peer.seq()
    peer.methods[seq] = thing.method("add")  # type: ignore[assignment]
    [m] = ask(peer, t, method_request(seq, t.objects["beta"], thing, "add", {"a": 2**40, "b": 3}))
    assert isinstance(m, MethodResponse) and m.out_args == {"sum": 2**40 + 3}
    seq = peer.seq()
    got = ask(peer, t, encode(GetQuery(seq=seq, query={"_class": "thing"})))
    assert sorted(m.properties["name"] for m in got if isinstance(m, ObjectIndication)) == ["alpha", "beta"]
    assert isinstance(got[-1], CommandComplete) and (got[-1].seq, got[-1].code) == (seq, 0)


def test_flood_of_bad_bodies_to_the_broker_role(world: World) -> None:
    peer, b = world.peer, world.broker
    rng = random.Random(7)
    bodies = list(mutants(rng, _broker_templates(peer), 1_000))
    replies = _flood(peer, b, bodies)
    _check_flood_replies(replies, bodies, [], peer.registry, BROKER_ANSWERS)
    assert world.env.broker_role is not None and world.env.broker_role.popen.poll() is None
    seq = peer.seq()
    [m] = ask(peer, b, encode(BrokerRequest(seq=seq)))
    assert isinstance(m, BrokerResponse) and (m.seq, m.broker_id) == (seq, world.broker_id)
    seq = peer.seq()
    got = ask(peer, b, encode(GetQuery(seq=seq, query={"_class": "agent"})))
    assert {"demo1", "demo2"} <= {m.properties["name"] for m in got if isinstance(m, ObjectIndication)}
    assert isinstance(got[-1], CommandComplete) and (got[-1].seq, got[-1].code) == (seq, 0)
