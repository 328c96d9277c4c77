"""One AMQP 0-9-1 connection that recovers by itself, on pika's asyncio adapter.

Why pika's `AsyncioConnection` and not aio-pika: the QMF round trip must stay within 1.25x a bare
pika ping-pong, and aio-pika's futures-per-frame design costs about 1.8x on this path (measured
when this module was written). pika gives callbacks; this module turns the few that matter into
awaitables and adds what pika leaves to its user: reconnection with jittered exponential backoff,
replay of the recorded topology (exchanges, queues, bindings, consumers) on every new connection,
and publisher confirms with `mandatory` so a request nobody can receive fails at once.

Everything runs on one asyncio loop; nothing here is thread-safe, by design (the sync facade in
`qmf.sync` lets one thread at a time run the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.adapters.utils.io_services_utils import _AsyncPlaintextTransport
from pika.spec import BasicProperties

from .errors import BrokerUnreachable, ConnectionLost, NotConnected, QmfError, Unroutable

log = logging.getLogger("qmf.transport")

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class _AsyncioConnection(AsyncioConnection):
    """pika hands every frame to its transport on its own, and the transport sends each with a
    syscall of its own (the broker wakes for each): a message is three frames, and a burst of
    replies many more. Here what one turn of the event loop produces goes out as one write, at the
    end of that turn, in the order it was produced, with the acks due (`before_flush`) last.

    pika's transport also never writes at once: it turns on a writability watcher, and the next
    turn of the loop sends and turns it off again (two epoll_ctl calls and a loop turn per write).
    On a plaintext socket with nothing queued, the write is tried here directly and only what the
    kernel did not take is left to pika; TLS keeps pika's path (its want-read/want-write states)."""

    _out: list[bytes] | None = None
    before_flush: Callable[[], None] | None = None

    def _output_marshaled_frames(self, marshaled_frames: Any) -> None:
        data = b"".join(marshaled_frames)
        self.bytes_sent += len(data)
        self.frames_sent += len(marshaled_frames)
        if self._out is None:
            self._out = [data]
            asyncio.get_running_loop().call_soon(self._flush_out)
        else:
            self._out.append(data)

    def flush_soon(self) -> None:
        """Makes sure this turn ends with a write, even if nothing else is sent (for acks due)."""
        if self._out is None:
            self._out = []
            asyncio.get_running_loop().call_soon(self._flush_out)

    def _flush_out(self) -> None:
        if self.before_flush is not None and self._out is not None:
            self.before_flush()
        out, self._out = self._out, None
        if out:
            with contextlib.suppress(Exception):  # a transport torn down meanwhile: its close says why
                self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        t = self._transport
        if type(t) is _AsyncPlaintextTransport and t.get_write_buffer_size() == 0 and t._state == t._STATE_ACTIVE:
            # would block, interrupted, or broken: what is left goes to pika, whose own write path
            # then waits for the socket or meets the error again and closes the connection with it
            with contextlib.suppress(OSError):
                data = data[t._sock.send(data):]  # type: ignore[union-attr]
        if data:
            self._adapter_emit_data(data)


class Delivery:
    """One message as a consumer sees it."""

    __slots__ = ("body", "generation", "props", "redelivered", "routing_key", "tag")

    def __init__(self, body: bytes, props: BasicProperties, routing_key: str, tag: int, redelivered: bool,
                 generation: int) -> None:
        self.body = body
        self.props = props
        self.routing_key = routing_key
        self.tag = tag
        self.redelivered = redelivered
        self.generation = generation


Handler = Callable[[Delivery], None]


@dataclass
class _Queue:
    name: str
    handler: Handler
    exclusive: bool
    auto_delete: bool
    auto_ack: bool
    arguments: dict[str, Any] | None
    bindings: list[tuple[str, str]] = field(default_factory=list)
    consumer_tag: str | None = None


class Connection:
    """A self-healing AMQP connection: one channel for everything, one in confirm mode for
    `publish_confirmed`.

    `start()` connects (raising `BrokerUnreachable` if the first connection cannot be made in time);
    after that, a lost connection is re-made in the background until `close()`. Queues declared
    with `add_queue` are re-declared, re-bound and re-consumed on each new connection, then the
    `on_reconnect` hooks run; `on_disconnect` hooks run as soon as the loss is seen."""

    def __init__(self, url: str = DEFAULT_URL, *, name: str = "qmf", tls: ssl.SSLContext | None = None,
                 heartbeat: int = 20, prefetch: int = 256, min_backoff: float = 0.05,
                 max_backoff: float = 5.0) -> None:
        self.url = url
        self.name = name
        self.tls = tls
        self.heartbeat = heartbeat
        self.prefetch = prefetch
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.on_reconnect: list[Callable[[], Awaitable[None]]] = []
        self.on_disconnect: list[Callable[[BaseException], None]] = []
        self.generation = 0  # bumped on every new channel; deliveries from an old one cannot be acked
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._queues: dict[str, _Queue] = {}
        self._exchanges: dict[str, str] = {}
        self._conn: AsyncioConnection | None = None
        self._ch: Any = None
        self._lost: asyncio.Future[BaseException] | None = None
        self._ops: set[asyncio.Future[Any]] = set()
        self._confirms: dict[int, asyncio.Future[None]] = {}
        self._watched: dict[str, Callable[[BaseException], None]] = {}
        self._cch: Any = None
        self._acks_due = 0
        self._returned: set[str] = set()
        self._next_tag = 1
        self._ids = itertools.count(1)
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._last_error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> None:
        """Connects; raises `BrokerUnreachable` naming the broker if that fails for `timeout` s."""
        self._runner = asyncio.create_task(self._run(), name=f"amqp-{self.name}")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            await self.close()
            raise BrokerUnreachable(f"cannot reach the AMQP broker at {_safe_url(self.url)} within {timeout:g} s: "
                                    f"{self._last_error or 'no answer'}") from None

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        conn = self._conn
        if conn is not None and not conn.is_closed and not conn.is_closing:
            was_open = conn.is_open  # one still opening is aborted at once, without on_close
            closed = asyncio.get_running_loop().create_future()
            self._lost = closed
            with contextlib.suppress(Exception):
                conn.close()
                if was_open:
                    await asyncio.wait_for(closed, 2.0)
        self._fail_pending(ConnectionLost("connection closed"))

    async def wait_connected(self, timeout: float) -> None:
        if not self.connected.is_set():
            try:
                await asyncio.wait_for(self.connected.wait(), timeout)
            except TimeoutError:
                raise NotConnected(f"not connected to the AMQP broker at {_safe_url(self.url)} "
                                   f"(reconnecting: {self._last_error})") from None

    async def _run(self) -> None:
        delay = self.min_backoff
        first = True
        while not self._closing:
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = exc
                log.debug("%s: connect failed: %s", self.name, exc)
                await self._abandon(self._conn)
                self._drop(exc)
            else:
                delay = self.min_backoff
                if not first:
                    self.reconnects += 1
                    log.info("%s: reconnected to %s", self.name, _safe_url(self.url))
                    for hook in list(self.on_reconnect):
                        try:
                            await hook()
                        except Exception:
                            log.exception("%s: reconnect hook failed", self.name)
                first = False
                assert self._lost is not None
                reason = await self._lost
                self._last_error = reason
                log.warning("%s: connection lost: %s", self.name, reason)
            if self._closing:
                return
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.max_backoff)

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        params = pika.URLParameters(self.url)
        params.heartbeat = self.heartbeat
        params.client_properties = {"connection_name": self.name}
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.blocked_connection_timeout = 30
        if self.tls is not None:
            params.ssl_options = pika.SSLOptions(self.tls, params.host)
        opened: asyncio.Future[None] = loop.create_future()
        self._lost = loop.create_future()

        def on_open(_c: Any) -> None:
            _settle(opened, None)

        def on_open_error(_c: Any, exc: BaseException) -> None:
            _settle(opened, exc if isinstance(exc, BaseException) else QmfError(str(exc)))

        def on_close(c: Any, exc: BaseException) -> None:
            if not opened.done():
                _settle(opened, exc)
            if c is self._conn:  # a connection given up earlier must not take the current one down
                self._drop(exc)

        self._conn = _AsyncioConnection(params, on_open, on_open_error, on_close, custom_ioloop=loop)
        self._conn.before_flush = self._flush_acks
        try:
            await asyncio.wait_for(opened, 10)
        except TimeoutError:
            raise QmfError("timed out opening the AMQP connection") from None
        ch = await self._open_channel(loop)
        ch.add_on_return_callback(self._on_return)
        self._ch = ch
        cch = await self._open_channel(loop)  # the confirmed one: publish_confirmed only
        cch.add_on_return_callback(self._on_confirmed_return)
        self._cch = cch
        self._next_tag = 1
        self._acks_due = 0
        self.generation += 1
        await self._op(lambda cb: cch.confirm_delivery(self._on_confirm, callback=cb))
        await self._op(lambda cb: ch.basic_qos(prefetch_count=self.prefetch, callback=cb))
        for name, kind in self._exchanges.items():
            await self._declare_exchange(name, kind)
        for q in list(self._queues.values()):
            await self._declare_queue(q)
        self.connected.set()

    async def _open_channel(self, loop: asyncio.AbstractEventLoop) -> Any:
        opened: asyncio.Future[Any] = loop.create_future()
        assert self._conn is not None
        self._conn.channel(on_open_callback=lambda ch: _settle(opened, None, ch))
        ch = await asyncio.wait_for(opened, 10)
        ch.add_on_close_callback(self._on_channel_closed)
        return ch

    async def _abandon(self, conn: AsyncioConnection | None) -> None:
        """Closes a connection that failed half-way (opening, or replaying the topology) and waits,
        briefly, until the broker has let go of it: its exclusive queues are not free before."""
        if conn is None or conn.is_closed:
            return
        lost = self._lost
        opened = conn.is_open or conn.is_closing  # one still opening ends without calling on_close
        with contextlib.suppress(Exception):
            if not conn.is_closing:
                conn.close()
            if opened and lost is not None:
                await asyncio.wait_for(asyncio.shield(lost), 5)

    def _drop(self, reason: BaseException, *, lost_now: bool = True) -> None:
        """The channel or connection is gone: pending work fails with `ConnectionLost`, and the
        `on_disconnect` hooks run once per loss of a working connection (not on every failed
        attempt to make a new one). With `lost_now`, `_run` goes on to reconnect."""
        was_up = self.connected.is_set()
        self.connected.clear()
        self._ch = self._cch = None
        lost = ConnectionLost(f"connection to the AMQP broker lost: {reason}")
        self._fail_pending(lost)
        if lost_now and self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        if not was_up:
            return
        for hook in list(self.on_disconnect):
            try:
                hook(lost)
            except Exception:
                log.exception("%s: disconnect hook failed", self.name)

    def _fail_pending(self, exc: BaseException) -> None:
        for fut in list(self._ops) + list(self._confirms.values()):
            if not fut.done():
                fut.set_exception(exc)
        self._ops.clear()
        self._confirms.clear()
        self._returned.clear()
        self._watched.clear()  # their requesters fail through their own disconnect hooks

    def _on_channel_closed(self, ch: Any, reason: BaseException) -> None:
        if ch is not self._ch and ch is not self._cch:
            return
        if not self._closing:
            log.warning("%s: channel closed: %s", self.name, reason)
        conn = self._conn
        if conn is not None and conn.is_open and not self._closing:
            # the channels live and die with the connection: start over with all of it. What was pending fails now, with
            # the channel's reason (a 405 or 406 says more than the connection's own 200)
            self._drop(reason, lost_now=False)
            conn.close()
        elif conn is not None and conn.is_closing:
            # `_run` reconnects when on_close says the connection is gone, not before: until then
            # the broker still holds its exclusive queues, and declaring them again would fail
            self._drop(reason, lost_now=False)
        else:
            self._drop(reason)

    # -- topology ---------------------------------------------------------------------------------
    async def declare_exchange(self, name: str, kind: str = "topic") -> None:
        self._exchanges[name] = kind
        if self._ch is not None:
            await self._declare_exchange(name, kind)

    async def _declare_exchange(self, name: str, kind: str) -> None:
        if name.startswith("amq."):
            return
        await self._op(lambda cb: self._ch.exchange_declare(name, exchange_type=kind, durable=True, callback=cb))

    async def add_queue(self, name: str, handler: Handler, *, exclusive: bool = True, auto_delete: bool = True,
                        auto_ack: bool = True, arguments: dict[str, Any] | None = None,
                        bindings: list[tuple[str, str]] | None = None) -> None:
        """Declares, binds and consumes `name` now and on every reconnection."""
        q = _Queue(name, handler, exclusive, auto_delete, auto_ack, arguments, list(bindings or []))
        self._queues[name] = q
        if self._ch is not None:
            await self._declare_queue(q)

    async def bind(self, queue: str, exchange: str, key: str) -> None:
        q = self._queues[queue]
        if (exchange, key) in q.bindings:
            return
        q.bindings.append((exchange, key))
        if self._ch is not None:
            await self._op(lambda cb: self._ch.queue_bind(queue, exchange, routing_key=key, callback=cb))

    async def unbind(self, queue: str, exchange: str, key: str) -> None:
        q = self._queues[queue]
        if (exchange, key) in q.bindings:
            q.bindings.remove((exchange, key))
            if self._ch is not None:
                await self._op(lambda cb: self._ch.queue_unbind(queue, exchange, routing_key=key, callback=cb))

    async def _declare_queue(self, q: _Queue) -> None:
        ch = self._ch
        await self._op(lambda cb: ch.queue_declare(q.name, exclusive=q.exclusive, auto_delete=q.auto_delete,
                                                   arguments=q.arguments, callback=cb))
        for exchange, key in q.bindings:
            await self._op(lambda cb, e=exchange, k=key: ch.queue_bind(q.name, e, routing_key=k, callback=cb))
        gen = self.generation
        handler = q.handler

        def on_message(_ch: Any, method: Any, props: BasicProperties, body: bytes) -> None:
            try:
                handler(Delivery(body, props, method.routing_key, method.delivery_tag, method.redelivered, gen))
            except Exception:
                log.exception("%s: handler for %s failed", self.name, q.name)

        q.consumer_tag = f"ctag-{q.name}"
        await self._op(lambda cb: ch.basic_consume(q.name, on_message, auto_ack=q.auto_ack, callback=cb,
                                                   consumer_tag=q.consumer_tag))

    async def remove_queue(self, name: str) -> None:
        """Stops consuming `name` and forgets it (it is not declared again on reconnection); the
        queue itself stays until its own expiry or auto-delete."""
        q = self._queues.pop(name, None)
        if q is not None and q.consumer_tag and self._ch is not None:
            await self._op(lambda cb: self._ch.basic_cancel(q.consumer_tag, callback=cb))

    async def _op(self, start: Callable[[Callable[[Any], None]], None]) -> Any:
        """Runs one pika RPC (declare, bind, ...) and waits for its reply or the channel's end."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._ops.add(fut)
        try:
            try:
                start(lambda frame: _settle(fut, None, frame))
            except (pika.exceptions.AMQPError, OSError) as exc:  # a channel that closed under our feet
                raise NotConnected(f"not connected to the AMQP broker at {_safe_url(self.url)}: {exc!r}") from None
            return await asyncio.wait_for(fut, 10)
        finally:
            self._ops.discard(fut)

    # -- messages ---------------------------------------------------------------------------------
    def publish(self, exchange: str, key: str, body: bytes, props: BasicProperties, mandatory: bool = False,
                channel: Any = None) -> None:
        """Sends one message now. Raises `NotConnected` when down."""
        ch = channel or self._ch
        if ch is None:
            raise NotConnected(f"not connected to the AMQP broker at {_safe_url(self.url)}")
        try:
            ch.basic_publish(exchange, key, body, props, mandatory)
        except pika.exceptions.UnsupportedAMQPFieldException as exc:
            # the caller's mistake, not the connection's (pika marshals before it writes, so nothing
            # was sent and the channel is fine): pika 1.4 cannot put a float in a header table
            raise TypeError(f"a header value AMQP cannot carry here: {exc.args[-1]!r} "
                            f"({type(exc.args[-1]).__name__})") from None
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise NotConnected(f"cannot publish: {exc}") from None

    def publish_watched(self, exchange: str, key: str, body: bytes, props: BasicProperties,
                        on_return: Callable[[BaseException], None]) -> str:
        """Sends with `mandatory` on the unconfirmed channel: a request whose reply is its
        confirmation. If no queue takes it the broker returns it, and `on_return(Unroutable)` runs
        at once. Returns the message id; `unwatch(id)` when the request is over."""
        mid = props.message_id = f"{self.name}.{next(self._ids)}"
        self._watched[mid] = on_return
        try:
            self.publish(exchange, key, body, props, mandatory=True)
        except BaseException:
            self._watched.pop(mid, None)
            raise
        return mid

    def unwatch(self, message_id: str) -> None:
        self._watched.pop(message_id, None)

    def _on_return(self, _ch: Any, method: Any, props: BasicProperties, _body: bytes) -> None:
        callback = self._watched.pop(props.message_id, None) if props.message_id else None
        if callback is not None:
            callback(Unroutable(f"nothing is bound to routing key {method.routing_key!r}"))

    def publish_confirmed(self, exchange: str, key: str, body: bytes, props: BasicProperties) -> asyncio.Future[None]:
        """Sends with `mandatory` on the confirmed channel (for what must not be lost unnoticed):
        the future ends when the broker confirms, with `Unroutable` if no queue took the message,
        or `ConnectionLost` if the connection dropped first."""
        if props.message_id is None:
            props.message_id = f"{self.name}.{next(self._ids)}"
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._cch is None:
            raise NotConnected(f"not connected to the AMQP broker at {_safe_url(self.url)}")
        self.publish(exchange, key, body, props, mandatory=True, channel=self._cch)
        tag = self._next_tag
        self._next_tag += 1
        self._confirms[tag] = fut
        fut.message_id = props.message_id  # type: ignore[attr-defined]
        fut.routing_key = key  # type: ignore[attr-defined]
        return fut

    def _on_confirmed_return(self, _ch: Any, method: Any, props: BasicProperties, _body: bytes) -> None:
        if props.message_id:
            self._returned.add(props.message_id)

    def _on_confirm(self, frame: Any) -> None:
        m = frame.method
        acked = m.NAME == "Basic.Ack"
        tags = [t for t in self._confirms if t <= m.delivery_tag] if m.multiple else [m.delivery_tag]
        for t in tags:
            fut = self._confirms.pop(t, None)
            if fut is None or fut.done():
                continue
            mid = fut.message_id  # type: ignore[attr-defined]
            if mid in self._returned:
                self._returned.discard(mid)
                fut.set_exception(Unroutable(f"nothing is bound to routing key {fut.routing_key!r}"))  # type: ignore[attr-defined]
            elif acked:
                fut.set_result(None)
            else:
                fut.set_exception(QmfError("the broker refused the message (basic.nack)"))

    def ack(self, delivery: Delivery) -> None:
        """Acknowledges a delivery (and every earlier one: consumers ack in delivery order) once the
        loop's current turn ends: one basic.ack for a burst, sent after the replies it produced. A
        delivery of an older channel is already requeued and is not acked."""
        if delivery.generation != self.generation or self._ch is None:
            return
        if not self._acks_due and isinstance(self._conn, _AsyncioConnection):
            self._conn.flush_soon()
        self._acks_due = max(self._acks_due, delivery.tag)

    def _flush_acks(self) -> None:
        """The acks due, at the end of the turn's write (`before_flush`): in the same write as the
        replies that turn produced, after them."""
        tag, self._acks_due = self._acks_due, 0
        if tag and self._ch is not None:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                self._ch.basic_ack(tag, multiple=True)

def _settle(fut: asyncio.Future[Any], exc: BaseException | None, value: Any = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url
