"""func's sessions on the wire: real funcd processes, the real overlord, the real RabbitMQ, and a
sniffer queue bound beside them (as a broker account allowed to bind could) that sees every
request to a minion and every reply to the overlord, and publishes forgeries and re-sends."""

from __future__ import annotations

import json
import signal
import struct
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pika
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

from local_fleet import LocalFleet  # noqa: E402
from qmf_env import check_rabbitmq  # noqa: E402

from codec import MethodResponse, ObjectId, encode  # noqa: E402
from func_amqp.certs import request_certificate  # noqa: E402
from func_amqp.overlord.client import Overlord  # noqa: E402
from func_amqp.qmfmap import object_number  # noqa: E402
from func_amqp.values import box  # noqa: E402


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    check_rabbitmq()
    f = LocalFleet(Path(tmp_path_factory.mktemp("sessions")))
    try:
        f.start_minions(["ses1", "ses2", "ses3", "ses4"])
        yield f
    finally:
        f.close()


class Sniffer:
    """A queue bound to a minion's routing key on qpid.management and to the overlord's reply queue
    name on amq.direct: a copy of each request and reply, in order."""

    def __init__(self, fleet: LocalFleet, overlord: Overlord, minion: str) -> None:
        transport = overlord.amqp()
        transport.minions()  # the agent list: the minion's routing key
        self.minion_key = transport.console.agent(minion).routing_key
        self.reply_queue = transport.console.queue
        self.conn = pika.BlockingConnection(pika.URLParameters(fleet.url))
        self.ch = self.conn.channel()
        self.queue = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.queue, "qpid.management", self.minion_key)
        self.ch.queue_bind(self.queue, "amq.direct", self.reply_queue)

    def take(self, n: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any], bytes, Any]]:
        """The next `n` method requests and replies ('M' and 'm'; schema queries are passed over):
        (exchange, headers, body, properties)."""
        out: list[tuple[str, dict[str, Any], bytes, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            method, props, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.conn.sleep(0.01)
                continue
            if body[:4] in (b"AM2M", b"AM2m"):
                out.append((method.exchange, dict(props.headers or {}), body, props))
        assert len(out) == n, f"saw {len(out)} of {n} messages"
        return out

    def close(self) -> None:
        self.conn.close()


def status_and_text(body: bytes) -> tuple[int, str]:
    """An 'm' reply's status and text, read as bytes: 8-byte header, u32 status, str16 text."""
    assert body[:4] == b"AM2m", body[:4]
    (status,) = struct.unpack(">I", body[8:12])
    (length,) = struct.unpack(">H", body[12:14])
    return status, body[14:14 + length].decode()


def test_one_signed_handshake_then_macs_both_ways(fleet: LocalFleet) -> None:
    o = fleet.overlord("ses1")
    sniff = Sniffer(fleet, o, "ses1")
    try:
        assert o.test.ping() == {"ses1": 1}
        (_, req1, _, _), (_, rep1, body1, _) = sniff.take(2)
        assert {"func.cert", "func.signature", "func.session", "func.session_expires"} <= req1.keys()
        assert "func.mac" not in req1
        assert {"func.cert", "func.signature", "func.session_accept"} <= rep1.keys()
        assert "ses1" in rep1["func.cert"] or rep1["func.cert"].startswith("-----BEGIN CERTIFICATE")
        assert status_and_text(body1)[0] == 0
        assert o.test.ping() == {"ses1": 1}
        (_, req2, _, _), (_, rep2, _, _) = sniff.take(2)
        assert {"func.session", "func.mac"} <= req2.keys() and "func.cert" not in req2
        assert req2["func.session"] == req1["func.session"]
        assert "func.mac" in rep2 and "func.signature" not in rep2
    finally:
        sniff.close()


def test_a_forged_reply_is_dropped_and_the_genuine_value_taken(fleet: LocalFleet) -> None:
    o = fleet.overlord("ses2", timeout=20)
    transport = o.amqp()
    assert o.test.ping() == {"ses2": 1}  # the session is up
    o.test.sleep(0)  # the class is known: the forgery below can be encoded
    sleep = transport._schemas[("ses2", "test")].method("sleep")
    sniff = Sniffer(fleet, o, "ses2")
    before = transport.console.counters["unverified"]
    got: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: got.update(o.test.sleep(2)))
    caller.start()
    try:
        [(_, _, body, props)] = sniff.take(1)
        seq = struct.unpack(">I", body[4:8])[0]
        forged = encode(MethodResponse(seq=seq, method=sleep, out_args={"result": box(99.0)}))
        ch = sniff.ch
        ch.basic_publish("amq.direct", props.reply_to, forged)  # no MAC at all
        ch.basic_publish("amq.direct", props.reply_to, forged,
                         pika.BasicProperties(headers={"func.mac": "bm90IGEgbWFj"}))  # a wrong one
        caller.join(30)
        assert not caller.is_alive()
    finally:
        sniff.close()
    value = got["ses2"]
    assert isinstance(value, float) and value != 99.0 and abs(value - time.time()) < 30
    assert transport.console.counters["unverified"] - before == 2


def test_a_restarted_minion_says_unknown_session_and_the_overlord_signs_again(fleet: LocalFleet) -> None:
    o = fleet.overlord("ses3")
    assert o.test.ping() == {"ses3": 1}
    fleet.minions["ses3"].kill(signal.SIGTERM)
    fleet.minions["ses3"].popen.wait(30)
    fleet.start_minion("ses3")
    sniff = Sniffer(fleet, o, "ses3")
    try:
        assert o.test.ping() == {"ses3": 1}
        seen = sniff.take(4)
    finally:
        sniff.close()
    (_, req1, _, _), (_, _, refusal, _), (_, req2, _, _), (_, rep2, reply, _) = seen
    assert "func.mac" in req1  # the overlord still held the session
    status, text = status_and_text(refusal)
    assert status == 6 and "unknown session" in text
    assert "func.signature" in req2 and "func.mac" not in req2 and req2["func.request_id"] == req1["func.request_id"]
    assert "func.session_accept" in rep2 and status_and_text(reply)[0] == 0
    assert o.test.ping() == {"ses3": 1}


def test_a_request_re_sent_to_another_minion_is_refused_there(fleet: LocalFleet) -> None:
    o = fleet.overlord("ses4;ses1")
    assert o.test.ping() == {"ses4": 1, "ses1": 1}  # both hold a session with this overlord
    one = fleet.overlord("ses4")
    sniff = Sniffer(fleet, one, "ses4")
    ses1_key = one.amqp().console.agent("ses1").routing_key
    calls_before = [line for line in fleet.audit_lines("ses1") if "test.ping" in line]
    try:
        assert one.test.ping() == {"ses4": 1}
        [(_, req, body, props), _] = sniff.take(2)
        assert "func.mac" in req
        mine = sniff.ch.queue_declare("", exclusive=True).method.queue
        sniff.ch.queue_bind(mine, "amq.direct", mine)  # where minions send replies
        # the same request, its object id rewritten to ses1's test object (the bytes no MAC covers)
        agent = one.amqp().console.agent("ses1")
        oid = ObjectId.make(broker_bank=agent.broker_bank, agent_bank=agent.agent_bank, object=object_number("test"))
        body = body[:8] + struct.pack(">QQ", oid.first, oid.second) + body[24:]
        for headers in (req, {**req, "func.request_id": uuid.uuid4().hex}):
            sniff.ch.basic_publish("qpid.management", ses1_key, body, pika.BasicProperties(
                reply_to=mine, headers=headers, content_type=props.content_type))
        replies = []
        deadline = time.monotonic() + 10
        while len(replies) < 2 and time.monotonic() < deadline:
            method, _props, reply = sniff.ch.basic_get(mine, auto_ack=True)
            if method is None:
                sniff.conn.sleep(0.01)
            else:
                replies.append(status_and_text(reply))
    finally:
        sniff.close()
    assert [s for s, _ in replies] == [6, 6], replies
    assert all("does not verify" in t for _, t in replies), replies
    assert [line for line in fleet.audit_lines("ses1") if "test.ping" in line] == calls_before


def test_a_cold_overlord_learns_a_class_from_a_few_minions_not_from_each(fleet: LocalFleet, tmp_path: Path) -> None:
    # a new identity: a transport of its own, which knows no class yet (as every func CLI process)
    _, files = request_certificate(fleet.ca, tmp_path / "ops", "ops")
    [key] = fleet.ca.list_cert_hash(["ops"])
    (fleet.acl_dir / "ops.acl").write_text(f"{key} = *\n")
    cfg = fleet.config()
    cfg.key_file, cfg.cert_file, cfg.ca_file = str(files.key_file), str(files.cert_file), str(files.ca_file)
    names = ["ses1", "ses2", "ses3", "ses4"]
    o = Overlord(";".join(names), config=cfg)
    transport = o.amqp()
    transport.minions()
    conn = pika.BlockingConnection(pika.URLParameters(fleet.url))
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        for name in names:
            ch.queue_bind(q, "qpid.management", transport.console.agent(name).routing_key)
        assert o.test.ping() == dict.fromkeys(names, 1)
        opcodes = []
        while True:
            method, _props, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                break
            opcodes.append(body[3:4])
    finally:
        conn.close()
    assert opcodes.count(b"M") == 4
    assert 1 <= opcodes.count(b"Q") <= 3, opcodes  # asked of at most three, then guessed for the rest


def test_the_next_func_command_reuses_the_session_the_last_one_kept(fleet: LocalFleet) -> None:
    o = fleet.overlord("ses1")
    sniff = Sniffer(fleet, o, "ses1")
    try:
        kinds = []
        for _ in range(2):
            run = fleet.func("ses1", "ping")  # its replies go to its own queue: exit 0 says they verified
            assert run.returncode == 0 and "ses1" in run.stdout, run.stderr
            [(_, req, _, _)] = sniff.take(1)
            kinds.append(("func.signature" in req, "func.mac" in req))
    finally:
        sniff.close()
    assert kinds == [(True, False), (False, True)]  # a handshake, then the kept session
    assert list((fleet.root / "sessions").iterdir())


def test_a_minion_revoked_since_its_handshake_is_not_believed(fleet: LocalFleet) -> None:
    fleet.start_minion("rev9")
    o = fleet.overlord("rev9", timeout=3)
    assert o.test.ping() == {"rev9": 1}
    fleet.ca.revoke(["rev9"])  # the minion still runs with its certificate; the overlord's CRL says no
    time.sleep(1.1)  # the overlord reads the CRL again at most once a second
    [err] = o.test.ping().values()
    assert err[0] == "REMOTE_ERROR" and err[1] == "func.minion.codes.TimeoutException", err
    assert "did not verify" in err[2] and "revoked" in err[2], err


def test_the_mac_covers_the_facts_query(fleet: LocalFleet) -> None:
    """Someone able to publish takes a request that a facts query kept from running on ses2 and sends
    it again with the query changed to one that matches, or with none: ses2 refuses both, the MAC does
    not verify, and nothing runs."""
    o = fleet.overlord("ses2")
    assert o.test.ping() == {"ses2": 1}  # a session
    sniff = Sniffer(fleet, o, "ses2")
    try:
        assert o.filter(os_id="no-such-os").test.ping() == {}
        [(_, req, body, props), _] = sniff.take(2)
        assert req["func.facts"] == '["AND",[["os_id","no-such-os"]]]' and "func.mac" in req
        ran_before = [line for line in fleet.audit_lines("ses2") if "test.ping" in line and "-> ok" in line]
        mine = sniff.ch.queue_declare("", exclusive=True).method.queue
        sniff.ch.queue_bind(mine, "amq.direct", mine)
        key = o.amqp().console.agent("ses2").routing_key
        matching = {**req, "func.facts": json.dumps(["AND", [["os_id__contains", ""]]])}
        stripped = {k: v for k, v in req.items() if k != "func.facts"}
        for headers in (matching, stripped, req):
            sniff.ch.basic_publish("qpid.management", key, body, pika.BasicProperties(
                reply_to=mine, headers=headers, content_type=props.content_type))
        replies = []
        deadline = time.monotonic() + 10
        while len(replies) < 3 and time.monotonic() < deadline:
            method, _props, reply = sniff.ch.basic_get(mine, auto_ack=True)
            if method is None:
                sniff.conn.sleep(0.01)
            else:
                replies.append(status_and_text(reply))
    finally:
        sniff.close()
    assert [s for s, _ in replies] == [6, 6, 6], replies
    # in any order (a request with a facts query is served off the event loop): the two changed
    # ones fail their MAC, the genuine one (whose MAC is good) fails as the replay it is
    assert sorted("does not verify" in t for _, t in replies) == [False, True, True], replies
    assert sum("replayed request id" in t for _, t in replies) == 1, replies
    assert [line for line in fleet.audit_lines("ses2") if "test.ping" in line and "-> ok" in line] == ran_before
