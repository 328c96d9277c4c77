"""What the agent and the broker role share: one queue of requests, read, answered or refused.

Every body is decoded with the role's limits; each message goes to the handler for its opcode.
A body that cannot be read, an opcode the role does not answer, an unknown class or method and
arguments that do not fit are refused with a typed reply when the request has a `reply_to`: an
'm' with the §5.3 status for a method request, a 'z' with code 1 otherwise, both with a text that
names the problem. Nothing a peer sends escapes this loop; the role goes on serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pika.spec import BasicProperties

from codec import (
    DEFAULT_LIMITS,
    ClassIndication,
    CodecError,
    CommandComplete,
    DecodeError,
    GetQuery,
    Limits,
    Message,
    MethodResponse,
    ObjectIndication,
    PackageIndication,
    SchemaResponse,
    encode,
    encode_body,
    iter_messages,
)
from codec.errors import COMPLETE_FAILED, STATUS_EXCEPTION

from . import protocol as p
from .objects import ManagedObject, matching
from .schemas import Registry
from .transport import Connection, Delivery

log = logging.getLogger("qmf.endpoint")

BODY_LIMIT = 65536  # 'g' records per body, as qpidd's qmfV1BufferSize
_RESPONSES = frozenset("bpqszhgcimeax")  # what a role never answers with a refusal (no z for a z)

Handler = Callable[[Message, Delivery], Awaitable[None] | None]


class Endpoint:
    """A QMF role bound to one queue of its own on the broker."""

    def __init__(self, name: str, connection: Connection, queue: str, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.name = name
        self.conn = connection
        self.queue = queue
        self.limits = limits
        self.registry = Registry()
        self.objects: dict[Any, ManagedObject] = {}
        self.counters: Counter[str] = Counter()
        self.handlers: dict[str, Handler] = {"P": self._on_P, "Q": self._on_Q, "S": self._on_S, "G": self._on_G}
        self._headers = {p.H_AGENT: name}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- sending ----------------------------------------------------------------------------------
    def props(self, reply_to: str | None = None, headers: dict[str, Any] | None = None) -> BasicProperties:
        return BasicProperties(content_type=p.CONTENT_TYPE, reply_to=reply_to,
                               headers={**self._headers, **headers} if headers else self._headers)

    def reply(self, reply_to: str, messages: Message | Iterable[Message]) -> None:
        """Sends a reply body to a requester's queue through `amq.direct`."""
        body = encode(messages) if isinstance(messages, Message) else encode_body(messages)
        self.send(p.REPLY_EXCHANGE, reply_to, body)

    def send(self, exchange: str, key: str, body: bytes, reply_to: str | None = None,
             headers: dict[str, Any] | None = None) -> None:
        try:
            self.conn.publish(exchange, key, body, self.props(reply_to, headers))
        except Exception as exc:  # the connection is down: the requester's deadline covers it
            self.counters["send_failed"] += 1
            log.debug("%s: cannot send to %s: %s", self.name, key, exc)

    def reply_batched(self, reply_to: str, records: Iterable[Message], seq: int) -> None:
        """Records packed into bodies of at most 64 KiB, then a 'z' code 0 of their own."""
        buf = bytearray()
        for r in records:
            one = encode(r)
            if buf and len(buf) + len(one) > BODY_LIMIT:
                self.send(p.REPLY_EXCHANGE, reply_to, bytes(buf))
                buf = bytearray()
            buf += one
        if buf:
            self.send(p.REPLY_EXCHANGE, reply_to, bytes(buf))
        self.reply(reply_to, CommandComplete(seq=seq))

    # -- receiving --------------------------------------------------------------------------------
    def on_delivery(self, d: Delivery) -> None:
        """The queue's consumer: every message of the body, in order, then the ack."""
        self.counters["bodies"] += 1
        pending: list[Awaitable[None]] = []
        seq = 0
        try:
            for m in iter_messages(d.body, schemas=self.registry, limits=self.limits):
                seq = m.seq
                handler = self.handlers.get(m.opcode)
                if handler is None:
                    self._not_served(m, d)
                    continue
                result = handler(m, d)
                if result is not None:
                    pending.append(result)
        except DecodeError as exc:
            self.refuse(d, exc, seq)
        except Exception as exc:  # a bug in a handler must not stop the queue
            log.exception("%s: handling a body failed", self.name)
            if d.props.reply_to:
                self.reply(d.props.reply_to, CommandComplete(seq=seq, code=COMPLETE_FAILED,
                                                             text=_str8(f"internal error: {exc!r}")))
        if pending:
            task = asyncio.ensure_future(self._finish(pending, d))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.conn.ack(d)

    async def _finish(self, pending: list[Awaitable[None]], d: Delivery) -> None:
        try:
            for aw in pending:
                try:
                    await aw
                except Exception:
                    log.exception("%s: a request handler failed", self.name)
        finally:
            self.conn.ack(d)

    def refuse(self, d: Delivery, exc: CodecError, seq: int) -> None:
        """A typed refusal of what could not be read: 'm' for a method request, 'z' for the rest."""
        self.counters["refused"] += 1
        log.info("%s: refused a message from %s: %s", self.name, d.props.reply_to or "?", exc)
        if not d.props.reply_to or exc.opcode in _RESPONSES:
            return
        if exc.seq is not None:
            seq = exc.seq
        if exc.opcode == "M":
            self.reply(d.props.reply_to, MethodResponse(seq=seq, status=exc.status, text=_str16(str(exc))))
        else:
            self.reply(d.props.reply_to, CommandComplete(seq=seq, code=exc.code, text=_str8(str(exc))))

    def _not_served(self, m: Message, d: Delivery) -> None:
        self.counters["not_served"] += 1
        if d.props.reply_to and m.opcode not in _RESPONSES:
            self.reply(d.props.reply_to, CommandComplete(
                seq=m.seq, code=COMPLETE_FAILED, text=f"opcode {m.opcode!r} is not a request {self.name} answers"))

    def method_failed(self, d: Delivery, seq: int, status: int, text: str) -> None:
        self.counters["method_errors"] += 1
        if d.props.reply_to:
            self.reply(d.props.reply_to, MethodResponse(seq=seq, status=status or STATUS_EXCEPTION,
                                                        text=_str16(text)))

    # -- the queries every role answers from its registry and objects ----------------------------
    def _on_P(self, m: Message, d: Delivery) -> None:
        if d.props.reply_to:
            self.reply(d.props.reply_to, [*(PackageIndication(seq=m.seq, package=pkg)
                                            for pkg in self.registry.packages()), CommandComplete(seq=m.seq)])

    def _on_Q(self, m: Any, d: Delivery) -> None:
        if d.props.reply_to:
            self.reply(d.props.reply_to, [*(ClassIndication(seq=m.seq, kind=s.kind, key=s.key)
                                            for s in self.registry.classes(m.package)), CommandComplete(seq=m.seq)])

    def _on_S(self, m: Any, d: Delivery) -> None:
        if not d.props.reply_to:
            return
        schema = self.registry.get(m.key)
        if schema is None:
            known = self.registry.packages()
            text = "Class key not found" if m.key.package in known else "Package not found"
            self.reply(d.props.reply_to, CommandComplete(seq=m.seq, code=COMPLETE_FAILED, text=f"{text}: {m.key}"))
        else:
            self.reply(d.props.reply_to, SchemaResponse(seq=m.seq, schema=schema))

    def _on_G(self, m: GetQuery, d: Delivery) -> None:
        if not d.props.reply_to:
            return
        chosen = matching(self.objects.values(), m.query)
        if chosen is None:
            self.reply(d.props.reply_to, CommandComplete(seq=m.seq, code=COMPLETE_FAILED,
                                                         text="a get query needs '_class' or '_objectid'"))
            return
        self.reply_batched(d.props.reply_to, (o.record(ObjectIndication, m.seq) for o in chosen), m.seq)


def _str8(text: str) -> str:
    """`text` cut to fit a str8 (255 bytes of UTF-8) without splitting a character."""
    raw = text.encode("utf-8")
    return text if len(raw) <= 255 else raw[:252].decode("utf-8", "ignore") + "..."


def _str16(text: str) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= 65535 else raw[:65530].decode("utf-8", "ignore") + "..."
