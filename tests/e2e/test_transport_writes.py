"""The transport's coalesced writes: what one turn of the loop publishes goes out as one write.

A burst bigger than the socket's send buffer (three 3 MB messages in one turn) cannot go out in
one send; messages published after it, while it is still going out, must reach the broker after
it, whole and in order. Checked on the real RabbitMQ, through a second connection that consumes.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from pika.spec import BasicProperties
from qmf_env import QmfEnv

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
