"""The QMF agent: publishes classes and objects, answers queries and method calls.

Life of an agent (qmf-v1.md §2, "Remote-agent flow"): it attaches through the broker role ('A' →
'a') asking for the banks it had last time (kept in its state file), binds
`agent.<brokerBank>.<agentBank>`, announces its packages and classes ('p', 'q'; the broker role
asks with 'S' for those it lacks), then answers P, Q, S, G and M sent to it directly, beats ('h')
and publishes property and statistic indications ('c', 'i') when objects change and on a period.
Once attached it needs the broker role no more: stopping the role stops nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codec import (
    DEFAULT_LIMITS,
    AgentAttachRequest,
    ClassIndication,
    EncodeError,
    EventClass,
    EventIndication,
    Heartbeat,
    Limits,
    MethodRequest,
    MethodResponse,
    ObjectClass,
    ObjectId,
    PackageIndication,
    PropertyIndication,
    Schema,
    StatisticIndication,
    encode,
)
from codec.errors import STATUS_EXCEPTION, STATUS_PARAMETER_INVALID, STATUS_UNKNOWN_OBJECT

from . import protocol as p
from .endpoint import Endpoint, error_response, ignore
from .errors import MethodError, QmfError
from .objects import ManagedObject, now_ns
from .state import read_state, write_state
from .transport import DEFAULT_URL, Connection, Delivery

log = logging.getLogger("qmf.agent")

PROPERTY_PERIODS = 6  # unchanged properties are re-broadcast every 6th publish period (1 min by default)

MethodHandler = Callable[..., Mapping[str, Any] | Awaitable[Any] | None]


ReplySigner = Callable[[bytes], Mapping[str, Any]]  # the reply body -> headers to send with it


@dataclass(slots=True)
class CallContext:
    """What a handler registered with `context=True` learns about the request beyond its arguments:
    the AMQP properties the caller set (headers carry signatures, request ids, deadlines). A handler
    that sets `sign_reply` has it called on the encoded reply (its value or its error) for headers
    to send with it: a signature or a MAC over the exact bytes the caller receives."""

    seq: int
    headers: Mapping[str, Any]
    reply_to: str | None
    message_id: str | None
    routing_key: str
    body: bytes
    deadline_ms: int | None
    redelivered: bool
    sign_reply: ReplySigner | None = None


class Agent(Endpoint):
    """A named QMF agent on one AMQP connection.

    `handler(obj, method, args)` receives the in-arguments by name and returns the out-arguments by
    name (or None when there are none); raising `MethodError(status, text)` answers with that status,
    any other exception with status 7 and the exception's type and text. A coroutine handler runs
    as a task, so slow methods do not hold up others; `blocking=True` runs a plain function in a
    thread."""

    def __init__(self, name: str, *, url: str = DEFAULT_URL, label: str | None = None,
                 state_dir: str | os.PathLike[str] | None = None, heartbeat_interval: float = 5.0,
                 publish_interval: float = 10.0, limits: Limits = DEFAULT_LIMITS, tls: Any = None,
                 connection: Connection | None = None) -> None:
        conn = connection or Connection(url, name=f"qmf-agent {name}", tls=tls)
        super().__init__(name, conn, f"qmf.agent.{name}", limits=limits)
        self._owns_connection = connection is None  # a shared one stays up for the others on it
        self.label = label or name
        self.heartbeat_interval = heartbeat_interval
        self.publish_interval = publish_interval
        self.state_path = Path(state_dir) / f"agent-{_safe(name)}.json" if state_dir else None
        state = read_state(self.state_path)
        self.system_id = uuid.UUID(state["system_id"]) if "system_id" in state else uuid.uuid4()
        self.broker_bank: int = state.get("broker_bank", 0)
        self.agent_bank: int = state.get("agent_bank", 0)
        self.boot_sequence = (state.get("boot_sequence", 0) % 4095) + 1
        self.attached = asyncio.Event()
        self.handlers.update({"M": self._on_M, "a": self._on_a, "x": self._on_x, "z": ignore})
        self._handlers_by_class: dict[Any, tuple[MethodHandler, bool, bool]] = {}
        self._numbers = itertools.count(1)
        self._attach_seq = itertools.count(1)
        self._attach_wait: dict[int, asyncio.Future[tuple[int, int]]] = {}
        self._dirty: dict[ManagedObject, list[bool]] = {}
        self._flush_scheduled = False
        self._loops: list[asyncio.Task[None]] = []
        self._started = False

    # -- what the application declares -----------------------------------------------------------
    def register(self, schema: Schema, handler: MethodHandler | None = None, *, blocking: bool = False,
                 context: bool = False) -> None:
        """Adds an object or event class; `handler` answers the methods of every object of it
        (`handler(obj, method, args)`, or `handler(obj, method, args, ctx)` with `context=True`)."""
        new = self.registry.add(schema)
        if handler is not None:
            self._handlers_by_class[schema.key] = (handler, blocking, context)
        if new and self.attached.is_set():
            self._announce([schema])

    def add_object(self, schema: ObjectClass, properties: Mapping[str, Any] | None = None,
                   statistics: Mapping[str, Any] | None = None, *, handler: MethodHandler | None = None,
                   blocking: bool = False, context: bool = False, persistent: bool = False,
                   number: int | None = None) -> ManagedObject:
        """Adds an object; a `persistent` one keeps its id across restarts (sequence 0 and a fixed
        `number`), any other gets this boot's sequence. `handler` overrides the class's."""
        if schema.key not in self.registry:
            self.register(schema)
        obj = ManagedObject(schema, number if number is not None else next(self._numbers), properties or {},
                            statistics, self._changed, persistent)
        if handler is not None:
            self._handlers_by_class[obj] = (handler, blocking, context)
        self._place(obj)
        self._changed(obj, True, True)
        return obj

    def remove_object(self, obj: ManagedObject) -> None:
        """Deletes an object: one last 'c' with its delete time, then it is gone."""
        if self.objects.pop(obj.object_id, None) is None:
            return
        obj.delete_time = now_ns()
        self._handlers_by_class.pop(obj, None)
        self._dirty.pop(obj, None)
        if self.attached.is_set():
            self._broadcast_records([obj], PropertyIndication)

    def raise_event(self, schema: EventClass, arguments: Mapping[str, Any], severity: int = 6) -> None:
        """Broadcasts an 'e' on `console.event.<bb>.<ab>.<package>.<event>` (severity as syslog's)."""
        if schema.key not in self.registry:
            self.register(schema)
        e = EventIndication(schema=schema, timestamp=now_ns(), severity=severity, arguments=arguments)
        self.send(p.MANAGEMENT_EXCHANGE, p.event_key(self.broker_bank, self.agent_bank, *schema.key[:2]), encode(e))

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0) -> None:
        """Connects, attaches and starts beating. Without an answer from the broker role within
        `timeout` the agent serves on the banks it had last time, or raises if it never had any."""
        if not self.conn.connected.is_set() and self.conn._runner is None:
            await self.conn.start(timeout)
        self.conn.on_reconnect.append(self._reattach)
        await self.conn.declare_exchange(p.MANAGEMENT_EXCHANGE)
        await self.conn.add_queue(self.queue, self.on_delivery, exclusive=False, auto_delete=False, auto_ack=False,
                                  arguments={"x-expires": 60_000}, bindings=[(p.REPLY_EXCHANGE, self.queue)])
        self._started = True
        try:
            await self._attach(timeout)
        except QmfError:
            if not self.agent_bank:
                raise
            log.warning("%s: no broker role answered; serving on banks %d.%d", self.name, self.broker_bank,
                        self.agent_bank)
            await self._attached(self.broker_bank, self.agent_bank)
            self._loops.append(asyncio.create_task(self._attach_later()))
        self._loops.append(asyncio.create_task(self._beat()))
        self._loops.append(asyncio.create_task(self._publish_periodically()))

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        for t in list(self._tasks):
            t.cancel()
        self._loops.clear()
        if self._owns_connection:
            await self.conn.close()
        else:
            with contextlib.suppress(ValueError):
                self.conn.on_reconnect.remove(self._reattach)
            with contextlib.suppress(Exception):
                await self.conn.remove_queue(self.queue)

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- attaching --------------------------------------------------------------------------------
    async def _attach(self, timeout: float) -> None:
        seq = next(self._attach_seq)
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._attach_wait[seq] = fut
        req = AgentAttachRequest(seq=seq, label=self.label, system_id=self.system_id,
                                 broker_bank=self.broker_bank, agent_bank=self.agent_bank)
        try:
            try:
                await asyncio.wait_for(self.conn.publish_confirmed(
                    p.MANAGEMENT_EXCHANGE, p.BROKER_KEY, encode(req), self.props(self.queue)), timeout)
                bb, ab = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise QmfError(f"no broker role answered the attach request of {self.name} in {timeout:g} s") from None
        finally:
            self._attach_wait.pop(seq, None)
        await self._attached(bb, ab)

    async def _attached(self, bb: int, ab: int) -> None:
        old = (self.broker_bank, self.agent_bank)
        if old != (bb, ab) and old[1]:
            with contextlib.suppress(Exception):
                await self.conn.unbind(self.queue, p.MANAGEMENT_EXCHANGE, p.agent_key(*old))
        self.broker_bank, self.agent_bank = bb, ab
        await self.conn.bind(self.queue, p.MANAGEMENT_EXCHANGE, p.agent_key(bb, ab))
        for obj in list(self.objects.values()):
            self.objects.pop(obj.object_id, None)
            self._place(obj)
        self._save_state()
        self.attached.set()
        self._announce(list(self.registry))
        self._beat_once()

    async def _attach_later(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._attach(5.0)
                return
            except QmfError:
                delay = min(delay * 2, 30.0)

    async def _reattach(self) -> None:
        """After a reconnection: attach again (the role gives the same banks) and re-announce."""
        try:
            await self._attach(5.0)
        except QmfError:
            self._loops.append(asyncio.create_task(self._attach_later()))

    def _on_a(self, m: Any, d: Delivery) -> None:
        fut = self._attach_wait.get(m.seq)
        if fut is not None and not fut.done():
            fut.set_result((m.broker_bank, m.agent_bank))

    def _on_x(self, m: Any, d: Delivery) -> None:
        self._broadcast_records(list(self.objects.values()), PropertyIndication)
        self._broadcast_records(list(self.objects.values()), StatisticIndication)

    def _announce(self, schemas: list[Schema]) -> None:
        """'p' and 'q' for each class, to the broker role, which asks with 'S' for what it lacks."""
        msgs: list[Any] = []
        for pkg in dict.fromkeys(s.key.package for s in schemas):
            msgs.append(PackageIndication(package=pkg))
        msgs.extend(ClassIndication(kind=s.kind, key=s.key) for s in schemas)
        for m in msgs:
            self.send(p.MANAGEMENT_EXCHANGE, p.BROKER_KEY, encode(m), reply_to=self.queue)

    # -- objects ----------------------------------------------------------------------------------
    def _place(self, obj: ManagedObject) -> None:
        obj.object_id = ObjectId.make(sequence=0 if obj.persistent else self.boot_sequence,
                                      broker_bank=self.broker_bank or p.BROKER_BANK, agent_bank=self.agent_bank,
                                      object=obj.number)
        self.objects[obj.object_id] = obj

    def _changed(self, obj: ManagedObject, props: bool, stats: bool) -> None:
        flags = self._dirty.setdefault(obj, [False, False])
        flags[0] |= props
        flags[1] |= stats
        if not self._flush_scheduled and self._started:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self.attached.is_set():
            return
        dirty, self._dirty = self._dirty, {}
        self._broadcast_records([o for o, f in dirty.items() if f[0]], PropertyIndication)
        self._broadcast_records([o for o, f in dirty.items() if f[1]], StatisticIndication)

    def _broadcast_records(self, objs: list[ManagedObject], cls: type) -> None:
        """'c' or 'i' records on `console.obj.<bb>.<ab>.<package>.<class>`, up to 100 of one class a body."""
        by_class: dict[Any, list[ManagedObject]] = {}
        for o in objs:
            if cls is StatisticIndication and not o.schema.statistics:
                continue
            by_class.setdefault(o.schema.key, []).append(o)
        for key, group in by_class.items():
            rk = p.object_key(self.broker_bank, self.agent_bank, key.package, key.name)
            for i in range(0, len(group), 100):
                body = b"".join(encode(o.record(cls)) for o in group[i:i + 100])
                self.send(p.MANAGEMENT_EXCHANGE, rk, body)

    async def _publish_periodically(self) -> None:
        """Statistics every period; properties, which are broadcast when they change anyway, every
        PROPERTY_PERIODS periods only (for consoles that joined since). The first period is
        jittered, so that agents started together do not all publish in the same instant."""
        await asyncio.sleep(random.uniform(0.5, 1.5) * self.publish_interval)
        for n in itertools.count():
            if self.attached.is_set():
                objs = list(self.objects.values())
                if n % PROPERTY_PERIODS == 0:
                    self._broadcast_records(objs, PropertyIndication)
                self._broadcast_records(objs, StatisticIndication)
            await asyncio.sleep(self.publish_interval)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            self._beat_once()

    def _beat_once(self) -> None:
        self.send(p.MANAGEMENT_EXCHANGE, p.heartbeat_key(self.broker_bank, self.agent_bank),
                  encode(Heartbeat(timestamp=now_ns())),
                  headers={p.H_INTERVAL: round(self.heartbeat_interval * 1000), p.H_LABEL: self.label})

    # -- methods ----------------------------------------------------------------------------------
    def _on_M(self, m: MethodRequest, d: Delivery) -> Awaitable[None] | None:
        headers = d.props.headers
        deadline = headers.get(p.H_DEADLINE) if headers else None
        if isinstance(deadline, int) and deadline < time.time() * 1000:
            self.counters["expired"] += 1
            log.info("%s: dropped %s.%s: its deadline has passed", self.name, m.schema.key.name, m.method)
            return None
        if d.redelivered:  # it reached this agent before, which may have run it: never run a call twice
            self.counters["redelivered"] += 1
            self.method_failed(d, m.seq, STATUS_EXCEPTION, "redelivered request refused: an earlier delivery of it "
                                                           "may have run")
            return None
        obj = self.objects.get(m.object_id)
        if obj is None:
            self.method_failed(d, m.seq, STATUS_UNKNOWN_OBJECT,
                               f"UnknownObject: no object {m.object_id} in {self.name}")
            return None
        if obj.schema.key != m.schema.key:
            self.method_failed(d, m.seq, STATUS_PARAMETER_INVALID, f"InvalidParameter: object {m.object_id} is "
                                                                   f"of class {obj.schema.key}, not {m.schema.key}")
            return None
        entry = self._handlers_by_class.get(obj) or self._handlers_by_class.get(obj.schema.key)
        if entry is None:
            self.method_failed(d, m.seq, 3, f"NotImplemented: nothing handles {m.schema.key.name}.{m.method}")
            return None
        handler, blocking, wants_context = entry
        args: tuple[Any, ...] = (obj, m.method, dict(m.args))
        ctx = None
        if wants_context:
            p_ = d.props
            ctx = CallContext(m.seq, p_.headers or {}, p_.reply_to, p_.message_id, d.routing_key, d.body,
                              deadline if isinstance(deadline, int) else None, d.redelivered)
            args += (ctx,)
        if blocking:
            fut = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, handler, *args)
            return self._answer_later(fut, m, d, ctx)
        try:
            result = handler(*args)
        except Exception as exc:
            self._method_raised(d, m, exc, ctx)
            return None
        if inspect.isawaitable(result):
            return self._answer_later(result, m, d, ctx)
        self._answer(d, m, result, ctx)
        return None

    async def _answer_later(self, aw: Awaitable[Any], m: MethodRequest, d: Delivery, ctx: CallContext | None) -> None:
        try:
            result = await aw
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._method_raised(d, m, exc, ctx)
            return
        self._answer(d, m, result, ctx)

    def _answer(self, d: Delivery, m: MethodRequest, result: Any, ctx: CallContext | None) -> None:
        self.counters["methods"] += 1
        if not d.props.reply_to:
            return
        method = m.schema.method(m.method)
        try:
            reply = MethodResponse(seq=m.seq, method=method, out_args=result if result is not None else {})
            body = encode(reply)
        except (EncodeError, TypeError, ValueError) as exc:
            self._method_failed(d, m.seq, STATUS_EXCEPTION, f"{m.method} returned out-arguments that do not fit "
                                                            f"its schema: {exc}", ctx)
            return
        self._send_reply(d.props.reply_to, body, ctx)

    def _method_raised(self, d: Delivery, m: MethodRequest, exc: BaseException, ctx: CallContext | None) -> None:
        if isinstance(exc, MethodError):
            self._method_failed(d, m.seq, exc.status, exc.text, ctx)
        else:
            self._method_failed(d, m.seq, STATUS_EXCEPTION, f"{type(exc).__name__}: {exc}", ctx)

    def _method_failed(self, d: Delivery, seq: int, status: int, text: str, ctx: CallContext | None) -> None:
        """`method_failed`, the error signed as a value would be when the handler asked for it."""
        self.counters["method_errors"] += 1
        if d.props.reply_to:
            self._send_reply(d.props.reply_to, encode(error_response(seq, status, text)), ctx)

    def _send_reply(self, reply_to: str, body: bytes, ctx: CallContext | None) -> None:
        headers = None
        if ctx is not None and ctx.sign_reply is not None:
            try:
                headers = dict(ctx.sign_reply(body))
            except Exception:  # the caller then gets an unsigned reply, which it may refuse
                log.exception("%s: cannot sign a reply to %s", self.name, reply_to)
        self.send(p.REPLY_EXCHANGE, reply_to, body, headers=headers)

    # -- state ------------------------------------------------------------------------------------
    def _save_state(self) -> None:
        write_state(self.state_path, {"system_id": str(self.system_id), "broker_bank": self.broker_bank,
                                      "agent_bank": self.agent_bank, "boot_sequence": self.boot_sequence})


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
