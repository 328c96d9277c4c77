"""The transport's coalesced writes: what one turn of the loop publishes goes out as one write.

A burst bigger than the socket's send buffer (three 3 MB messages in one turn) cannot go out in
one send; messages published after it, while it is still going out, must reach the broker after
it, whole and in order. Checked on the real RabbitMQ, through a second connection that consumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from pika.spec import BasicProperties
from qmf_env import QmfEnv, rabbitmqctl

from qmf import protocol as p
from qmf.transport import Connection

pytestmark = pytest.mark.timeout(120)


def test_a_burst_larger_than_the_socket_buffer_arrives_whole_and_in_order(fresh_env: QmfEnv) -> None:
    big = [bytes([i]) * (3 * 1024 * 1024 + i) for i in range(3)]  # each well past a loopback send buffer
    sent = [b"first", big[0], b"between", big[1], big[2], *(b"small %d" % i for i in range(200)), b"confirmed"]

    async def go() -> list[bytes]:
        sender = Connection(fresh_env.url, name="writer")
        receiver = Connection(fresh_env.url, name="reader")
        await sender.start(10)
        await receiver.start(10)
        try:
            got: list[bytes] = []
            done = asyncio.Event()

            def on_message(d: object) -> None:
                got.append(d.body)  # type: ignore[attr-defined]
                if len(got) == len(sent):
                    done.set()

            await receiver.add_queue("writes", on_message, exclusive=True, bindings=[(p.REPLY_EXCHANGE, "writes")])
            for i, body in enumerate(sent[:-1]):
                sender.publish(p.REPLY_EXCHANGE, "writes", body, BasicProperties(message_id=str(i)))
                if i % 50 == 0:
                    await asyncio.sleep(0)  # some in one turn of the loop, some in the next
            confirmed = sender.publish_confirmed(p.REPLY_EXCHANGE, "writes", sent[-1], BasicProperties())
            await asyncio.wait_for(confirmed, 60)
            await asyncio.wait_for(done.wait(), 60)
            return got
        finally:
            await sender.close()
            await receiver.close()

    got = asyncio.run(asyncio.wait_for(go(), 100))
    # the confirmed one travels on the other channel, which the broker does not order with this one
    assert got.count(b"confirmed") == 1
    got.remove(b"confirmed")
    assert [hashlib.sha256(b).hexdigest() for b in got] == [hashlib.sha256(b).hexdigest() for b in sent[:-1]]


def test_every_delivery_is_acked_whether_or_not_its_turn_wrote_a_reply(fresh_env: QmfEnv) -> None:
    """Acks due go out in the write that carries the turn's replies, or on their own when the turn
    wrote nothing; either way the broker ends with nothing unacknowledged, and every reply arrived."""
    n = 300

    async def go() -> tuple[int, list[bytes]]:
        server = Connection(fresh_env.url, name="acker", prefetch=50)
        client = Connection(fresh_env.url, name="asker")
        await server.start(10)
        await client.start(10)
        try:
            replies: list[bytes] = []
            all_in = asyncio.Event()

            def on_request(d: object) -> None:
                body = d.body  # type: ignore[attr-defined]
                if int(body) % 2 == 0:  # half answer in the same turn, half only ack
                    server.publish(p.REPLY_EXCHANGE, "answers", b"re " + body, BasicProperties())
                server.ack(d)  # type: ignore[arg-type]

            def on_reply(d: object) -> None:
                replies.append(d.body)  # type: ignore[attr-defined]
                if len(replies) == n // 2:
                    all_in.set()

            await server.add_queue("acked", on_request, exclusive=False, auto_delete=False, auto_ack=False,
                                   bindings=[(p.REPLY_EXCHANGE, "acked")])
            await client.add_queue("answers", on_reply, exclusive=True, bindings=[(p.REPLY_EXCHANGE, "answers")])
            for i in range(n):
                client.publish(p.REPLY_EXCHANGE, "acked", b"%d" % i, BasicProperties())
                if i % 7 == 0:
                    await asyncio.sleep(0)
            await asyncio.wait_for(all_in.wait(), 60)
            await asyncio.sleep(1.0)  # the last acks reach the broker, and its statistics catch up
            return n, replies
        finally:
            await client.close()
            await server.close()

    _, replies = asyncio.run(asyncio.wait_for(go(), 100))
    assert sorted(replies) == sorted(b"re %d" % i for i in range(0, n, 2))
    listing = ""
    for _ in range(20):  # the management statistics lag a little behind the queue itself
        listing = rabbitmqctl("list_queues", "-p", fresh_env.vhost, "name", "messages_ready",
                              "messages_unacknowledged").stdout
        rows = {line.split()[0]: line.split()[1:] for line in listing.splitlines() if line.startswith("acked")}
        if rows.get("acked") == ["0", "0"]:
            break
        time.sleep(0.5)
    assert rows.get("acked") == ["0", "0"], listing
