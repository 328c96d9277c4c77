"""The distributed bus: RabbitMQ through pika, behind the same interface as the in-process bus.

Queues are durable and messages persistent; every publish waits for the broker's confirm, so a
message the caller thinks was sent survived a broker crash. pika's connections are not thread
safe: publishing shares one connection under a lock, and every consumer owns its own connection
on its own thread. Both reconnect after the broker goes away. A consumer acknowledges a message
after its handler returns, and handlers return quickly (a build runs on its own thread), so
RabbitMQ's consumer ack timeout never fires on a long build.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pika
import pika.exceptions

from rpmyard.dispatch.bus import Handler, Message

log = logging.getLogger(__name__)

# Per-worker queues vanish when their worker has been gone an hour; the dispatcher re-sends
# whatever such a worker held once its lease expires, so nothing of value is lost with them.
WORKER_QUEUE_ARGS = {"x-expires": 3600 * 1000}
RECONNECT_DELAY = 1.0


def _queue_args(name: str) -> dict[str, Any]:
    return WORKER_QUEUE_ARGS if ".worker." in name else {}


class AmqpBus:
    def __init__(self, url: str) -> None:
        self.params = pika.URLParameters(url)
        self.params.heartbeat = 30
        self.params.blocked_connection_timeout = 30
        self._lock = threading.Lock()
        self._conn: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._closing = threading.Event()

    # -- publishing ------------------------------------------------------------------------------
    def _publish_channel(self) -> Any:
        if self._conn is None or self._conn.is_closed or self._channel is None or self._channel.is_closed:
            self._conn = pika.BlockingConnection(self.params)
            self._channel = self._conn.channel()
            self._channel.confirm_delivery()
            self._declared.clear()
        return self._channel

    def publish(self, queue_name: str, message: Message) -> None:
        def declare(ch: Any) -> None:
            ch.queue_declare(queue=queue_name, durable=True, arguments=_queue_args(queue_name))

        self._confirmed_publish("", queue_name, message, declare)

    def publish_event(self, topic: str, message: Message) -> None:
        from rpmyard.dispatch.events import EXCHANGE

        def declare(ch: Any) -> None:
            ch.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)

        self._confirmed_publish(EXCHANGE, topic, message, declare)

    def _confirmed_publish(self, exchange: str, routing_key: str, message: Message, declare: Any,
                           attempts: int = 30) -> None:
        """Publish persistently and wait for the broker's confirm; reconnect and retry meanwhile."""
        body = json.dumps(message).encode()
        target = exchange or routing_key  # what must be declared once per connection
        with self._lock:
            for attempt in range(attempts):
                try:
                    ch = self._publish_channel()
                    if target not in self._declared:
                        declare(ch)
                        self._declared.add(target)
                    ch.basic_publish(exchange=exchange, routing_key=routing_key, body=body,
                                     properties=pika.BasicProperties(delivery_mode=2,
                                                                     content_type="application/json"))
                    return
                except (pika.exceptions.AMQPError, OSError) as exc:
                    self._conn = None
                    if attempt + 1 == attempts or self._closing.is_set():
                        raise
                    log.warning("publish to %s failed (%s); reconnecting", routing_key, exc)
                    time.sleep(RECONNECT_DELAY)

    def subscribe_events(self, pattern: str, handler: Handler) -> None:
        """A private auto-delete queue bound to ``pattern`` (what an outside consumer would do)."""
        from rpmyard.dispatch.events import EXCHANGE

        def run() -> None:
            while not self._closing.is_set():
                try:
                    conn = pika.BlockingConnection(self.params)
                    ch = conn.channel()
                    ch.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)
                    q = ch.queue_declare(queue="", exclusive=True).method.queue
                    ch.queue_bind(queue=q, exchange=EXCHANGE, routing_key=pattern)
                    for method, _props, body in ch.consume(q, inactivity_timeout=0.5, auto_ack=True):
                        if self._closing.is_set():
                            break
                        if method is not None:
                            handler(json.loads(body))
                    conn.close()
                except (pika.exceptions.AMQPError, OSError):
                    time.sleep(RECONNECT_DELAY)

        threading.Thread(target=run, name=f"amqp-events:{pattern}", daemon=True).start()

    # -- consuming -------------------------------------------------------------------------------
    def consume(self, queue_name: str, handler: Handler) -> None:
        t = threading.Thread(target=self._consume_forever, args=(queue_name, handler),
                             name=f"amqp:{queue_name}", daemon=True)
        t.start()

    def _consume_forever(self, queue_name: str, handler: Handler) -> None:
        while not self._closing.is_set():
            try:
                conn = pika.BlockingConnection(self.params)
                ch = conn.channel()
                ch.queue_declare(queue=queue_name, durable=True, arguments=_queue_args(queue_name))
                ch.basic_qos(prefetch_count=50)
                for method, _props, body in ch.consume(queue_name, inactivity_timeout=0.5):
                    if self._closing.is_set():
                        break
                    if method is None:
                        continue
                    try:
                        handler(json.loads(body))
                    except Exception:
                        log.exception("handler for %s failed", queue_name)
                    ch.basic_ack(method.delivery_tag)
                try:
                    conn.close()
                except Exception:
                    pass
            except (pika.exceptions.AMQPError, OSError) as exc:
                if not self._closing.is_set():
                    log.warning("consumer of %s lost the broker (%s); reconnecting", queue_name, exc)
                    time.sleep(RECONNECT_DELAY)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            if self._conn is not None and self._conn.is_open:
                try:
                    self._conn.close()
                except Exception:
                    pass
