"""What the agent and the broker role share: one queue of requests, read, answered or refused.

Every body is decoded whole, with the role's limits, before any of it is acted on; then each
message goes to the handler for its opcode. A body that cannot be read, an opcode the role does
not answer, an unknown class or method and arguments that do not fit are refused with a typed
reply when the request has a `reply_to`: an 'm' with the §5.3 status for a method request, a 'z'
with code 1 otherwise, both with a text that names the problem. Each request gets one answer, a
refusal or a reply, never both. Responses ('z', 'm', 'g' ...) get none, and replies carry no
`reply_to`, so two roles cannot answer each other in a loop. Nothing a peer sends escapes this
loop; the role goes on serving.
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
from codec.body import HEADER, MAGIC
from codec.errors import (
    COMPLETE_FAILED,
    STATUS_EXCEPTION,
    STATUS_NOT_IMPLEMENTED,
    STATUS_PARAMETER_INVALID,
    STATUS_TEXT,
    STATUS_UNKNOWN_OBJECT,
    UnknownOpcode,
)

from . import protocol as p
from .errors import NotConnected
from .objects import ManagedObject, matching
from .schemas import Registry
from .transport import Connection, Delivery

log = logging.getLogger("qmf.endpoint")

MAX_RUNNING = 1000  # method calls in progress at once; beyond, an 'M' is refused (status 7, "busy")
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
        self._plain_props = BasicProperties(content_type=p.CONTENT_TYPE, headers=self._headers)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.max_running = MAX_RUNNING

    # -- sending ----------------------------------------------------------------------------------
    def props(self, reply_to: str | None = None, headers: dict[str, Any] | None = None) -> BasicProperties:
        if reply_to is None and not headers:
            return self._plain_props  # replies and broadcasts: the same properties every time, built once
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
        except NotConnected as exc:  # the connection is down: the requester's deadline covers it
            self.counters["send_failed"] += 1
            log.debug("%s: cannot send to %s: %s", self.name, key, exc)
        except Exception:  # a bug (a header AMQP cannot carry, ...): loud, but the role goes on serving
            self.counters["send_failed"] += 1
            log.exception("%s: cannot send to %s", self.name, key)

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
        """The queue's consumer: the whole body is read first, then every message is handled in
        order, then the ack.

        Reading first is what makes one reply per request possible: a body whose third message is
        garbage is refused as a whole (each request in it gets one refusal) instead of having its
        first two requests answered and then a refusal that repeats one of their sequence numbers.
        It also keeps the codec's promise that a bad body changes nothing."""
        self.counters["bodies"] += 1
        read: list[Message] = []
        try:
            read.extend(iter_messages(d.body, schemas=self.registry, limits=self.limits))
        except DecodeError as exc:
            self.refuse(d, exc, read=read)
            self.conn.ack(d)
            return
        except Exception as exc:  # the codec promises DecodeError only; a bug in it must not stop the queue
            log.exception("%s: reading a body failed", self.name)
            self.refuse(d, DecodeError(f"internal error reading the body: {exc!r}"), read=read)
            self.conn.ack(d)
            return
        self.conn.ack(d)  # read whole: running calls do not hold the queue (prefetch) while they run
        pending: list[tuple[Message, Awaitable[None]]] = []
        for m in read:
            if m.opcode == "M" and len(self._tasks) + len(pending) >= self.max_running:
                self.counters["busy"] += 1
                self.method_failed(d, m.seq, STATUS_EXCEPTION, f"{self.name} is busy: {self.max_running} calls are "
                                                               "running; try again later")
                continue
            result = self._dispatch(m, d)
            if result is not None:
                pending.append((m, result))
        if pending:
            task = asyncio.ensure_future(self._finish(pending, d))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _dispatch(self, m: Message, d: Delivery) -> Awaitable[None] | None:
        """One message to its handler. A bug in a handler must not stop the queue, and its
        requester still gets an answer: 'm' status 7 or 'z' code 1 naming the exception."""
        handler = self.handlers.get(m.opcode)
        try:
            if handler is None:
                self._not_served(m, d)
                return None
            return handler(m, d)
        except Exception as exc:
            log.exception("%s: handling %r (seq %d) failed", self.name, m.opcode, m.seq)
            self._internal_error(m, d, exc)
            return None

    async def _finish(self, pending: list[tuple[Message, Awaitable[None]]], d: Delivery) -> None:
        for m, aw in pending:
            try:
                await aw
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("%s: a request handler failed", self.name)
                self._internal_error(m, d, exc)

    def _internal_error(self, m: Message, d: Delivery, exc: BaseException) -> None:
        self.counters["handler_errors"] += 1
        if not d.props.reply_to or m.opcode in _RESPONSES:
            return
        text = f"internal error: {exc!r}"
        if m.opcode == "M":
            self.method_failed(d, m.seq, STATUS_EXCEPTION, f"{STATUS_TEXT[STATUS_EXCEPTION]}: {text}")
        else:
            self.command_failed(d, m.seq, text)

    def refuse(self, d: Delivery, exc: CodecError, seq: int = 0, *, read: Iterable[Message] = ()) -> None:
        """A typed refusal of a body that could not be read: 'm' for a method request, 'z' for the
        rest, never anything for a response (a refusal of a refusal could loop between peers).

        Every request already read from the body gets one, and so does the message the error is
        in when its header was read, each with its own sequence number, all in one reply body. When
        no header could be read at all, the refusal carries `seq` (0: the body named none)."""
        self.counters["refused"] += 1
        log.info("%s: refused a body from %s: %s", self.name, d.props.reply_to or "?", exc)
        if not d.props.reply_to:
            return
        targets: list[tuple[str | None, int, int, int]] = [
            (m.opcode, m.seq, STATUS_PARAMETER_INVALID, COMPLETE_FAILED) for m in read]
        failed = _failed_header(d.body, exc)
        if failed is None and not targets:  # nothing read: a body too large, say; answer its first header
            failed = _header_at(d.body, 0) or (None, seq)
        if failed is not None:
            targets.append((*failed, exc.status, exc.code))
        replies: list[Message] = []
        for opcode, rseq, status, code in targets:
            if opcode in _RESPONSES:
                continue
            if opcode == "M":
                text = f"{STATUS_TEXT.get(status, 'Error')}: {exc}"
                replies.append(MethodResponse(seq=rseq, status=status or STATUS_EXCEPTION, text=_str16(text)))
            else:
                replies.append(CommandComplete(seq=rseq, code=code or COMPLETE_FAILED, text=_str8(str(exc))))
        if replies:
            self.reply(d.props.reply_to, replies)

    def _not_served(self, m: Message, d: Delivery) -> None:
        """A message of a kind this role does not answer. A method request still gets an 'm':
        the requester waits for one, and a 'z' would not tell it the object is not here."""
        self.counters["not_served"] += 1
        if not d.props.reply_to or m.opcode in _RESPONSES:
            return
        if m.opcode == "M":
            oid = m.object_id  # type: ignore[attr-defined]
            if oid in self.objects:
                status, text = STATUS_NOT_IMPLEMENTED, f"no method of object {oid} is served by {self.name}"
            else:
                status, text = STATUS_UNKNOWN_OBJECT, f"no object {oid} in {self.name}"
            self.reply(d.props.reply_to, MethodResponse(seq=m.seq, status=status,
                                                        text=_str16(f"{STATUS_TEXT[status]}: {text}")))
            return
        self.command_failed(d, m.seq, f"opcode {m.opcode!r} is not a request {self.name} answers")

    def command_failed(self, d: Delivery, seq: int, text: str) -> None:
        """A 'z' code 1 to the requester. The text is cut to its str8 here, once: a text naming a
        255-byte class would otherwise fail to encode and turn the answer into an internal error."""
        if d.props.reply_to:
            self.reply(d.props.reply_to, CommandComplete(seq=seq, code=COMPLETE_FAILED, text=_str8(text)))

    def method_failed(self, d: Delivery, seq: int, status: int, text: str) -> None:
        self.counters["method_errors"] += 1
        if d.props.reply_to:
            self.reply(d.props.reply_to, error_response(seq, status, text))

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
            self.command_failed(d, m.seq, f"{text}: {m.key}")
        else:
            self.reply(d.props.reply_to, SchemaResponse(seq=m.seq, schema=schema))

    def _on_G(self, m: GetQuery, d: Delivery) -> None:
        if not d.props.reply_to:
            return
        chosen = matching(self.objects.values(), m.query)
        if chosen is None:
            self.command_failed(d, m.seq, "a get query needs '_class' or '_objectid'")
            return
        self.reply_batched(d.props.reply_to, (o.record(ObjectIndication, m.seq) for o in chosen), m.seq)


def _failed_header(body: bytes, exc: CodecError) -> tuple[str | None, int] | None:
    """(opcode, seq) of the message an error happened in, when its header was read. The codec
    leaves `seq` unset on an unknown opcode, though the header that names it holds one."""
    if exc.opcode is None:
        return None
    if exc.seq is not None:
        return exc.opcode, exc.seq
    if isinstance(exc, UnknownOpcode) and exc.offset is not None:
        found = _header_at(body, exc.offset - 3)
        if found is not None:
            return exc.opcode, found[1]
    return exc.opcode, 0


def _header_at(body: bytes, offset: int) -> tuple[str | None, int] | None:
    """(opcode, seq) of a complete header at `offset`, if there is one."""
    if offset < 0 or len(body) < offset + HEADER.size or body[offset:offset + 3] != MAGIC:
        return None
    _magic, op, seq = HEADER.unpack_from(body, offset)
    return op.decode("latin-1"), seq


def _fit(text: str, limit: int) -> str:
    """`text` in at most `limit` bytes of UTF-8, cut in the middle without splitting a character.

    A refusal's text says what was being read first and why it failed, and where, last
    ("get query map['<255-byte key>'] needs 16 bytes, 1 left (opcode 'G', offset 20)"): what
    grows is the middle, the names a peer chose, so that is what goes."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    keep = limit - 3  # "..."
    head = raw[:keep * 2 // 5].decode("utf-8", "ignore")
    tail = raw[len(raw) - (keep - len(head.encode("utf-8"))):].decode("utf-8", "ignore")
    return f"{head}...{tail}"


def ignore(m: Message, d: Delivery) -> None:
    """The handler of a message a role takes in silence (a 'z' answering its own request, ...)."""
    return None


def _str8(text: str) -> str:
    """`text` cut to fit a str8 (255 bytes of UTF-8)."""
    return _fit(text, 255)


def error_response(seq: int, status: int, text: str) -> MethodResponse:
    """An 'm' with a non-zero status (7, an exception, when none is given); the text cut to its str16."""
    return MethodResponse(seq=seq, status=status or STATUS_EXCEPTION, text=_str16(text))


def _str16(text: str) -> str:
    """`text` cut to fit a str16 (65535 bytes of UTF-8)."""
    return _fit(text, 65535)
