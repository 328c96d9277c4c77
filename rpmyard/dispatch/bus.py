"""The message bus between the dispatcher and its workers.

Two-way: the dispatcher sends ``assign``/``cancel`` to a worker's own queue; workers send
``hello``/``heartbeat``/``started``/``progress``/``done`` to the dispatcher's queue, each carrying
the task id and its lease token as the correlation. The database stays the truth: a lost message
costs at most one lease period, never a task.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], None]

DISPATCH_QUEUE = "rpmyard.dispatch"


def worker_queue(worker_name: str) -> str:
    return f"rpmyard.worker.{worker_name}"


class Bus(Protocol):
    def publish(self, queue_name: str, message: Message) -> None: ...

    def publish_event(self, topic: str, message: Message) -> None:
        """Publish to the events topic exchange (see dispatch.events)."""
        ...

    def subscribe_events(self, pattern: str, handler: Handler) -> None:
        """Deliver events whose topic matches ``pattern`` (AMQP syntax: ``*`` one word, ``#`` any)."""
        ...

    def consume(self, queue_name: str, handler: Handler) -> None:
        """Deliver every message of ``queue_name`` to ``handler`` on a background thread."""
        ...

    def close(self) -> None: ...


class InProcessBus:
    """The embedded bus: a thread-safe queue per name, one delivery thread per consumer."""

    def __init__(self) -> None:
        self._queues: dict[str, queue.Queue[Message | None]] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._subscribers: list[tuple[str, Handler]] = []

    def _queue(self, name: str) -> queue.Queue[Message | None]:
        with self._lock:
            return self._queues.setdefault(name, queue.Queue())

    def publish(self, queue_name: str, message: Message) -> None:
        self._queue(queue_name).put(dict(message))

    def consume(self, queue_name: str, handler: Handler) -> None:
        q = self._queue(queue_name)

        def deliver() -> None:
            while (msg := q.get()) is not None:
                try:
                    handler(msg)
                except Exception:  # a bad message must not stop the consumer
                    log.exception("handler for %s failed on %r", queue_name, msg.get("type"))

        t = threading.Thread(target=deliver, name=f"bus:{queue_name}", daemon=True)
        t.start()
        self._threads.append(t)

    def publish_event(self, topic: str, message: Message) -> None:
        for pattern, handler in list(self._subscribers):
            if topic_matches(pattern, topic):
                try:
                    handler(dict(message))
                except Exception:
                    log.exception("event subscriber %s failed", pattern)

    def subscribe_events(self, pattern: str, handler: Handler) -> None:
        self._subscribers.append((pattern, handler))

    def close(self) -> None:
        with self._lock:
            for q in self._queues.values():
                q.put(None)


def topic_matches(pattern: str, topic: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one dot-separated word, ``#`` zero or more."""
    return _match(pattern.split("."), topic.split("."))


def _match(pat: list[str], words: list[str]) -> bool:
    if not pat:
        return not words
    if pat[0] == "#":
        return any(_match(pat[1:], words[i:]) for i in range(len(words) + 1))
    return bool(words) and pat[0] in ("*", words[0]) and _match(pat[1:], words[1:])


def make_bus(url: str) -> Bus:
    """``memory://`` for the embedded bus, ``amqp://user:pass@host:5672/vhost`` for RabbitMQ."""
    if url in ("", "memory://"):
        return InProcessBus()
    if url.startswith(("amqp://", "amqps://")):
        from rpmyard.dispatch.amqp import AmqpBus

        return AmqpBus(url)
    raise ValueError(f"unsupported broker_url {url!r}: use memory:// or amqp://")
