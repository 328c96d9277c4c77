"""The QMF console: finds the broker role and the agents, browses schemas, gets objects, calls
methods, follows indications and events.

Requests are correlated by sequence number: each in-flight request owns one number until its
reply completes it or its deadline passes. A reply whose number is not (or no longer) pending is
dropped and counted in `counters["dropped"]`; it is never handed to another caller. Replies are
decoded with the schemas the console has cached; one that needs a schema it lacks is held while
that schema is fetched (from the broker role, else from the agent that sent it), then decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pika.spec import BasicProperties

from codec import (
    DEFAULT_LIMITS,
    BrokerRequest,
    ClassKey,
    ClassQuery,
    DecodeError,
    EncodeError,
    EventClass,
    GetQuery,
    Limits,
    Message,
    MethodRequest,
    ObjectClass,
    ObjectId,
    PackageQuery,
    Schema,
    SchemaMethod,
    SchemaRequest,
    UnknownMethod,
    UnknownSchema,
    encode,
    iter_messages,
    readdress,
)

from . import protocol as p
from .broker_role import AGENT_CLASS, MISSED_BEATS
from .errors import AgentGone, CommandError, MethodError, QmfError, Timeout, UnknownClass
from .schemas import Registry
from .transport import DEFAULT_URL, Connection, Delivery

log = logging.getLogger("qmf.console")

DEFAULT_TIMEOUT = 10.0

Signer = Callable[[str, bytes, dict[str, Any]], dict[str, Any]]  # (routing key, body, headers) -> headers to add
# (headers sent, reply body, reply headers, the decoded reply) -> whether to take it; a reply refused is
# dropped and the request goes on waiting for its genuine one until the deadline
ReplyVerifier = Callable[[Mapping[str, Any], bytes, Mapping[str, Any], Message], bool]


@dataclass
class AgentInfo:
    """An agent as the console knows it: from the broker role's list and from its heartbeats."""

    name: str
    broker_bank: int
    agent_bank: int
    label: str = ""
    system_id: uuid.UUID | None = None
    last_heartbeat: int = 0  # ns since the epoch
    heartbeat_interval: float = 5.0
    alive: bool = True

    @property
    def routing_key(self) -> str:
        return p.agent_key(self.broker_bank, self.agent_bank)

    @property
    def banks(self) -> str:
        return f"{self.broker_bank}.{self.agent_bank}"


@dataclass
class QmfObject:
    """An object as a 'g', 'c' or 'i' record described it."""

    agent: str
    schema: ObjectClass
    object_id: ObjectId
    properties: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    update_time: int = 0
    create_time: int = 0
    delete_time: int = 0

    @property
    def key(self) -> ClassKey:
        return self.schema.key


@dataclass
class Indication:
    """A 'c' (kind "properties") or 'i' (kind "statistics") broadcast."""

    kind: str
    object: QmfObject


@dataclass
class Event:
    agent: str
    schema: EventClass
    timestamp: int
    severity: int
    arguments: dict[str, Any]


@dataclass
class AgentChange:
    """An agent appeared ("new"), stopped beating ("gone") or beat again ("back")."""

    kind: str
    agent: AgentInfo


Notice = Indication | Event | AgentChange


class NoticeStream:
    """What `Console.notices()` returns: registered at once, so nothing sent after the call is missed."""

    def __init__(self, console: Console, queue: asyncio.Queue[Notice]) -> None:
        self._console = console
        self._queue = queue
        console._streams.append(queue)

    def __aiter__(self) -> NoticeStream:
        return self

    async def __anext__(self) -> Notice:
        return await self._queue.get()

    def close(self) -> None:
        if self._queue in self._console._streams:
            self._console._streams.remove(self._queue)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> NoticeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class _Pending:
    __slots__ = ("agent", "backlog", "fut", "hold", "method", "opcode", "records", "refused", "sent_headers",
                 "verifier")

    def __init__(self, fut: asyncio.Future[Any], opcode: str, method: SchemaMethod | None, agent: str | None,
                 verifier: ReplyVerifier | None = None, sent_headers: Mapping[str, Any] | None = None) -> None:
        self.fut = fut
        self.opcode = opcode
        self.method = method
        self.agent = agent
        self.verifier = verifier
        self.sent_headers = sent_headers or {}
        self.records: list[Message] = []
        self.hold = 0  # bodies of this request waiting for a schema: later replies wait behind them
        self.refused = 0  # replies its verifier refused (dropped): a timeout says so
        self.backlog: list[tuple[Message, Delivery]] = []


class Console:
    """An asyncio QMF console. `qmf.sync.Console` wraps it for scripts."""

    def __init__(self, url: str = DEFAULT_URL, *, name: str | None = None, tls: Any = None,
                 limits: Limits = DEFAULT_LIMITS, connection: Connection | None = None,
                 notice_queue: int = 10_000) -> None:
        self.name = name or f"console-{uuid.uuid4().hex[:12]}"
        self.conn = connection or Connection(url, name=f"qmf {self.name}", tls=tls)
        self.queue = f"qmf.console.{self.name}"
        self.limits = limits
        self.schemas = Registry()
        self.schemas.add(AGENT_CLASS)
        self.agents: dict[str, AgentInfo] = {}
        self.broker_id: uuid.UUID | None = None
        self.counters: Counter[str] = Counter()
        self._pending: dict[int, _Pending] = {}
        self._seq = itertools.count(random.randrange(1, 1 << 30))
        self._callbacks: list[Callable[[Notice], Any]] = []
        self._streams: list[asyncio.Queue[Notice]] = []
        self._notice_queue = notice_queue
        self._following: set[str] = set()
        self._fetching: dict[ClassKey, asyncio.Future[Schema]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, timeout: float = 10.0, *, discover: bool = True) -> None:
        """Connects and, with `discover`, learns the broker id and the agent list from the broker
        role (a console can also work without one, from heartbeats alone)."""
        if self.conn._runner is None:
            await self.conn.start(timeout)
        self.conn.on_disconnect.append(self._fail_all)
        await self.conn.declare_exchange(p.MANAGEMENT_EXCHANGE)
        await self.conn.add_queue(self.queue, self._on_delivery, exclusive=True, auto_delete=True, auto_ack=True,
                                  bindings=[(p.REPLY_EXCHANGE, self.queue),
                                            (p.MANAGEMENT_EXCHANGE, "console.heartbeat.#"),
                                            (p.MANAGEMENT_EXCHANGE, "schema.#"),
                                            (p.MANAGEMENT_EXCHANGE, "console.obj.1.0.org.apache.qpid.broker.#")])
        self._watchdog = asyncio.create_task(self._watch())
        if discover:
            with contextlib.suppress(QmfError):
                await self.broker(timeout=min(timeout, 3.0))
                await self.refresh_agents(timeout=min(timeout, 3.0))

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.conn.close()

    async def __aenter__(self) -> Console:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- following broadcasts ---------------------------------------------------------------------
    async def follow(self, *, objects: bool = True, events: bool = True, pattern: str = "#") -> None:
        """Binds the broadcasts of indications ('c', 'i') and events ('e'); `pattern` narrows them
        (`<bb>.<ab>.<package>.<class>`, topic wildcards allowed)."""
        for kind, on in (("obj", objects), ("event", events)):
            key = f"console.{kind}.{pattern}"
            if on and key not in self._following:
                self._following.add(key)
                await self.conn.bind(self.queue, p.MANAGEMENT_EXCHANGE, key)

    def on_notice(self, callback: Callable[[Notice], Any]) -> None:
        """Calls `callback(notice)` for every indication, event and agent change."""
        self._callbacks.append(callback)

    def notices(self) -> NoticeStream:
        """An async iterator of notices, receiving from this call on; a slow reader loses the
        oldest (counted as `counters["notices_dropped"]`) rather than growing without bound.
        `async with console.notices() as stream:` (or `stream.close()`) stops it."""
        return NoticeStream(self, asyncio.Queue(self._notice_queue))

    def _notify(self, notice: Notice) -> None:
        for cb in list(self._callbacks):
            try:
                r = cb(notice)
                if asyncio.iscoroutine(r):
                    self._spawn(r)
            except Exception:
                log.exception("notice callback failed")
        for q in self._streams:
            if q.full():
                q.get_nowait()
                self.counters["notices_dropped"] += 1
            q.put_nowait(notice)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- discovery and browsing -------------------------------------------------------------------
    async def broker(self, timeout: float = DEFAULT_TIMEOUT) -> uuid.UUID:
        """'B' → 'b': the broker role's id."""
        [b] = await self._request(p.BROKER_KEY, lambda s: BrokerRequest(seq=s), "b", timeout=timeout)
        self.broker_id = b.broker_id
        return b.broker_id

    async def refresh_agents(self, timeout: float = DEFAULT_TIMEOUT) -> list[AgentInfo]:
        """The broker role's agent list (G on class `agent` at agent.1.0)."""
        records = await self._request(p.agent_key(p.BROKER_BANK, p.BROKER_AGENT_BANK),
                                      lambda s: GetQuery(seq=s, query={"_class": "agent"}), "g", timeout=timeout)
        for r in records:
            self._agent_record(r.properties, r.statistics)
        return self.list_agents()

    def list_agents(self, *, alive_only: bool = False) -> list[AgentInfo]:
        return sorted((a for a in self.agents.values() if a.alive or not alive_only), key=lambda a: a.name)

    def agent(self, name: str) -> AgentInfo:
        a = self.agents.get(name)
        if a is None:
            raise AgentGone(f"no agent named {name!r} is known")
        return a

    async def packages(self, agent: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """'P' → 'p'… 'z', from the broker role or from one agent."""
        records = await self._request(self._key_of(agent), lambda s: PackageQuery(seq=s), "p", timeout=timeout)
        return [r.package for r in records]

    async def classes(self, package: str, agent: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> list[tuple[int, ClassKey]]:
        """'Q' → 'q'… 'z': (kind, key) of each class of `package`."""
        records = await self._request(self._key_of(agent), lambda s: ClassQuery(seq=s, package=package), "q",
                                      timeout=timeout)
        return [(int(r.kind), r.key) for r in records]

    async def schema(self, key: ClassKey, agent: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> Schema:
        """'S' → 's', cached. Asks `agent` (or the broker role, then nobody else)."""
        known = self.schemas.get(key)
        if known is not None:
            return known
        [s] = await self._request(self._key_of(agent), lambda q: SchemaRequest(seq=q, key=key), "s", timeout=timeout)
        self.schemas.add(s.schema)
        return s.schema

    async def find_class(self, name: str, package: str | None = None, agent: str | None = None,
                         timeout: float = DEFAULT_TIMEOUT) -> Schema:
        """The schema of the class called `name` (in `package`), found by browsing."""
        cached = self.schemas.by_name(package, name)
        if cached:
            return cached[-1]
        pkgs = [package] if package else await self.packages(agent, timeout)
        for pkg in pkgs:
            for _kind, key in await self.classes(pkg, agent, timeout):
                if key.name == name:
                    return await self.schema(key, agent, timeout)
        raise UnknownClass(f"no class named {name!r}" + (f" in package {package!r}" if package else ""))

    # -- objects and methods ----------------------------------------------------------------------
    async def get_objects(self, agent: str | None = None, *, class_name: str | None = None,
                          package: str | None = None, object_id: ObjectId | None = None,
                          timeout: float = DEFAULT_TIMEOUT) -> list[QmfObject]:
        """'G' → 'g'… 'z': the objects of a class (or one object), from one agent or from every
        live agent at once."""
        query: dict[str, Any] = {}
        if class_name is not None:
            query["_class"] = class_name
            if package is not None:
                query["_package"] = package
        elif object_id is not None:
            query["_objectid"] = str(object_id)
        else:
            raise QmfError("get_objects needs a class_name or an object_id")
        names = [agent] if agent else [a.name for a in self.list_agents(alive_only=True)]
        results = await asyncio.gather(*(self._get_from(n, query, timeout) for n in names), return_exceptions=True)
        out: list[QmfObject] = []
        for name, r in zip(names, results, strict=True):
            if isinstance(r, BaseException):
                if agent:
                    raise r
                log.info("get from %s failed: %s", name, r)
                continue
            out.extend(r)
        return out

    async def _get_from(self, name: str, query: dict[str, Any], timeout: float) -> list[QmfObject]:
        a = self.agent(name)
        records = await self._request(a.routing_key, lambda s: GetQuery(seq=s, query=query), "g", timeout=timeout,
                                      agent=name)
        return [_object(name, r) for r in records]

    async def call(self, obj: QmfObject, method: str, /, *args: Any, timeout: float = DEFAULT_TIMEOUT,
                   **kwargs: Any) -> dict[str, Any]:
        """Calls `method` of `obj` with its in-arguments by position and/or name; returns the
        out-arguments by name, or raises `MethodError` (non-zero status) or `Timeout`."""
        return await self.call_method(obj.agent, obj.schema, obj.object_id, method, *args, timeout=timeout, **kwargs)

    async def call_method(self, agent: str, schema: ObjectClass, object_id: ObjectId, method: str, /, *args: Any,
                          timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> dict[str, Any]:
        m = schema.method(method)
        if m is None:
            raise EncodeError(f"class {schema.key.name!r} has no method {method!r}")
        if len(args) > len(m.in_args):
            raise EncodeError(f"{method} takes {len(m.in_args)} in-arguments, {len(args)} given")
        values = dict(zip((a.name for a in m.in_args), args, strict=False))
        for k, v in kwargs.items():
            if k in values:
                raise EncodeError(f"{method} got argument {k!r} twice")
            values[k] = v
        return await self.invoke(agent, schema, object_id, method, values, timeout=timeout)

    async def invoke(self, agent: str, schema: ObjectClass, object_id: ObjectId, method: str,
                     args: dict[str, Any], *, timeout: float = DEFAULT_TIMEOUT, headers: dict[str, Any] | None = None,
                     signer: Signer | None = None, verifier: ReplyVerifier | None = None) -> dict[str, Any]:
        """`call_method` with the in-arguments as one mapping, plus AMQP `headers` to send, a
        `signer(routing_key, body, headers)` that may add headers computed over the exact bytes sent,
        and a `verifier` that checks the reply (its body and headers) before it is taken."""
        m = schema.method(method)
        if m is None:
            raise EncodeError(f"class {schema.key.name!r} has no method {method!r}")
        a = self.agent(agent)
        [reply] = await self._request(
            a.routing_key, lambda s: MethodRequest(seq=s, object_id=object_id, schema=schema, method=method,
                                                   args=args),
            "m", timeout=timeout, method=m, agent=agent, headers=headers, signer=signer, verifier=verifier)
        return _out_args(reply)

    async def invoke_all(self, schema: ObjectClass, method: str, args: dict[str, Any], calls: list[Target], *,
                         timeout: float = DEFAULT_TIMEOUT, headers: dict[str, Any] | None = None,
                         on_each: Callable[[int, Any], None] | None = None) -> list[Any]:
        """One method with the same in-arguments on many objects at once (a fan-out): for each
        target, in order, its out-arguments or the exception that ended its call (`MethodError`,
        `Timeout`, `CommandError`, `Unroutable`...); never raises for one target's failure.

        The request is encoded once and readdressed per target (`codec.readdress`), and the calls
        share one deadline and one wait: no task and no timer per target. `on_each(i, entry)`
        runs as each target's entry is known."""
        m = schema.method(method)
        if m is None:
            raise EncodeError(f"class {schema.key.name!r} has no method {method!r}")
        if not calls:
            return []
        deadline = time.monotonic() + timeout
        if not self.conn.connected.is_set():
            await self.conn.wait_connected(timeout)
        template = encode(MethodRequest(seq=1, object_id=calls[0].object_id, schema=schema, method=method,
                                        args=args))
        loop = asyncio.get_running_loop()
        remaining = max(deadline - time.monotonic(), 0.001)
        deadline_ms = int(time.time() * 1000 + remaining * 1000)
        expiration = str(max(int(remaining * 1000), 1))
        futs: list[asyncio.Future[list[Any]]] = []
        pends: list[_Pending] = []
        seqs: list[int] = []
        mids: list[str] = []
        entries: list[Any] = [None] * len(calls)
        index: dict[asyncio.Future[list[Any]], int] = {}

        def done(fut: asyncio.Future[list[Any]]) -> None:
            i = index[fut]
            entries[i] = _entry_of(fut)
            if on_each is not None:
                on_each(i, entries[i])

        try:
            for call in calls:
                seq = next(self._seq) & 0xFFFFFFFF or next(self._seq)
                body = readdress(template, seq, call.object_id)
                fut = loop.create_future()
                sent = {**headers} if headers else {}
                sent.setdefault(p.H_DEADLINE, deadline_ms)
                pend = self._pending[seq] = _Pending(fut, "m", m, call.agent, call.verifier, sent)
                pends.append(pend)
                seqs.append(seq)
                futs.append(fut)
                index[fut] = len(futs) - 1
                fut.add_done_callback(done)
                try:
                    key = self.agent(call.agent).routing_key
                    if call.signer is not None:
                        sent.update(call.signer(key, body, sent))
                    props = BasicProperties(content_type=p.CONTENT_TYPE, reply_to=self.queue, expiration=expiration,
                                            headers=sent)
                    mids.append(self.conn.publish_watched(p.MANAGEMENT_EXCHANGE, key, body, props,
                                                          functools.partial(_fail, fut)))
                except Exception as exc:  # this target only: unknown agent, not connected, a signer's refusal
                    _fail(fut, exc)
            if futs:
                await asyncio.wait(futs, timeout=max(deadline - time.monotonic(), 0))
            for i, fut in enumerate(futs):
                if not fut.done():
                    fut.remove_done_callback(done)
                    fut.cancel()
                    self.counters["timeouts"] += 1
                    entries[i] = Timeout(f"no reply from agent {calls[i].agent!r} within {timeout:g} s"
                                         f"{_refused(pends[i])}", pends[i].refused)
                    if on_each is not None:
                        on_each(i, entries[i])
        finally:
            for seq in seqs:
                self._pending.pop(seq, None)
            for mid in mids:
                self.conn.unwatch(mid)
        return entries

    # -- the request engine -----------------------------------------------------------------------
    def _key_of(self, agent: str | None) -> str:
        return self.agent(agent).routing_key if agent else p.BROKER_KEY

    async def _request(self, key: str, build: Callable[[int], Message], opcode: str, *, timeout: float,
                       method: SchemaMethod | None = None, agent: str | None = None,
                       headers: dict[str, Any] | None = None, signer: Signer | None = None,
                       verifier: ReplyVerifier | None = None) -> list[Any]:
        """Sends one request and waits for what completes it: the single reply for 'b', 's' and
        'm', or every record up to the 'z' for 'p', 'q' and 'g'."""
        deadline = time.monotonic() + timeout
        if not self.conn.connected.is_set():
            await self.conn.wait_connected(timeout)
        seq = next(self._seq) & 0xFFFFFFFF or next(self._seq)
        body = encode(build(seq))  # an EncodeError here means nothing was sent
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Any]] = loop.create_future()
        remaining = max(deadline - time.monotonic(), 0.001)
        sent_headers = {**headers} if headers else {}
        pend = self._pending[seq] = _Pending(fut, opcode, method, agent, verifier, sent_headers)
        sent_headers.setdefault(p.H_DEADLINE, int(time.time() * 1000 + remaining * 1000))  # a caller's own stays
        props = BasicProperties(content_type=p.CONTENT_TYPE, reply_to=self.queue,
                                expiration=str(max(int(remaining * 1000), 1)), headers=sent_headers)
        mid = None
        expiry = loop.call_later(remaining, _expire, fut)  # cheaper than wait_for: no task, no shield
        try:
            if signer is not None:
                sent_headers.update(signer(key, body, sent_headers))
            mid = self.conn.publish_watched(p.MANAGEMENT_EXCHANGE, key, body, props, lambda exc: _fail(fut, exc))
            return await fut
        except _Expired:
            self.counters["timeouts"] += 1
            who = f"agent {agent!r}" if agent else f"the broker role ({key})"
            raise Timeout(f"no reply from {who} within {timeout:g} s{_refused(pend)}", pend.refused) from None
        finally:
            expiry.cancel()
            self._pending.pop(seq, None)
            if mid is not None:
                self.conn.unwatch(mid)

    def _fail_all(self, exc: BaseException) -> None:
        for pend in list(self._pending.values()):
            if not pend.fut.done():
                pend.fut.set_exception(exc)

    def _on_delivery(self, d: Delivery) -> None:
        self._decode(d, False)

    def _decode(self, d: Delivery, retried: bool) -> None:
        try:
            msgs = list(iter_messages(d.body, schemas=self.schemas, methods=self._method_of, limits=self.limits))
        except UnknownSchema as exc:
            if isinstance(exc.key, ClassKey) and not retried:
                pend = self._pending.get(exc.seq) if exc.seq is not None else None
                if pend is not None:
                    pend.hold += 1
                self._spawn(self._decode_later(d, exc.key, pend))
            else:
                self.counters["undecodable"] += 1
            return
        except UnknownMethod as exc:  # an 'm' for a call that is no longer pending: a late reply
            self.counters["dropped" if exc.opcode == "m" else "undecodable"] += 1
            return
        except DecodeError as exc:
            self.counters["undecodable"] += 1
            log.info("dropped a body that does not decode: %s", exc)
            return
        for m in msgs:
            self._dispatch(m, d, retried)

    async def _decode_later(self, d: Delivery, key: ClassKey, pend: _Pending | None) -> None:
        """Fetches the schema a body needs, then decodes it; replies that came after it for the
        same request are dispatched only then, in order."""
        sender = _sender(d, self.agents)
        try:
            try:
                await self.schema(key, None, timeout=5.0)
            except QmfError:
                if sender is None:
                    raise
                await self.schema(key, sender, timeout=5.0)
            self._decode(d, True)
        except QmfError as exc:
            self.counters["undecodable"] += 1
            log.info("cannot decode a body: schema %s unavailable: %s", key, exc)
        finally:
            if pend is not None:
                pend.hold -= 1
                if pend.hold == 0:
                    backlog, pend.backlog = pend.backlog, []
                    for m, later in backlog:
                        self._dispatch(m, later, True)

    def _verified(self, pend: _Pending, m: Message, d: Delivery) -> bool:
        """The request's verifier on a reply; a reply it refuses (or that makes it fail) is dropped."""
        try:
            ok = pend.verifier(pend.sent_headers, d.body, d.props.headers or {}, m)  # type: ignore[misc]
        except Exception:  # a verifier's bug must not end the request: the genuine reply may follow
            log.exception("reply verifier failed on a reply from %s", pend.agent)
            ok = False
        if not ok:
            pend.refused += 1
            self.counters["unverified"] += 1
            log.warning("dropped a reply from %s that does not verify", pend.agent or "the broker role")
        return ok

    def _method_of(self, seq: int) -> SchemaMethod | None:
        pend = self._pending.get(seq)
        return pend.method if pend is not None else None

    def _dispatch(self, m: Message, d: Delivery, in_order: bool = False) -> None:
        op = m.opcode
        if op == "h":
            self._heartbeat(d)
            return
        if m.seq == 0 and op in "cieqp":
            self._broadcast(m, d)
            return
        pend = self._pending.get(m.seq)
        if pend is None or pend.fut.done():
            self.counters["dropped"] += 1
            return
        if pend.hold and not in_order:
            pend.backlog.append((m, d))
            return
        if pend.verifier is not None and not self._verified(pend, m, d):
            return
        if op == "z":
            if m.code != 0:  # type: ignore[attr-defined]
                pend.fut.set_exception(CommandError(m.code, m.text))  # type: ignore[attr-defined]
            elif pend.opcode in "pqg":
                pend.fut.set_result(pend.records)
            else:
                pend.fut.set_exception(CommandError(0, f"the request ended without its {pend.opcode!r} reply"))
        elif op == pend.opcode:
            if op in "pqg":
                pend.records.append(m)
            else:
                pend.fut.set_result([m])
        else:
            self.counters["dropped"] += 1

    # -- broadcasts -------------------------------------------------------------------------------
    def _heartbeat(self, d: Delivery) -> None:
        banks = p.banks_from_key(d.routing_key)
        name = p.agent_header(d.props.headers)
        if banks is None or name is None or banks == (p.BROKER_BANK, p.BROKER_AGENT_BANK):
            return
        headers = d.props.headers or {}
        a = self.agents.get(name)
        interval = headers.get(p.H_INTERVAL)
        if a is None:
            a = AgentInfo(name, banks[0], banks[1], label=str(headers.get(p.H_LABEL, name)))
            self.agents[name] = a
            self._notify(AgentChange("new", a))
        elif not a.alive:
            a.alive = True
            self._notify(AgentChange("back", a))
        a.broker_bank, a.agent_bank = banks
        a.last_heartbeat = time.time_ns()
        if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
            a.heartbeat_interval = interval / 1000

    def _broadcast(self, m: Any, d: Delivery) -> None:
        if m.opcode in "pq":
            return  # a new package or class on schema.*: browsing asks again when it needs to
        name = _sender(d, self.agents) or "?"
        if m.opcode == "e":
            self._notify(Event(name, m.schema, m.timestamp, m.severity, dict(m.arguments)))
            return
        obj = _object(name, m)
        if m.schema.key == AGENT_CLASS.key:
            if m.opcode == "c":
                self._agent_record(obj.properties, None)
            else:  # the broker role's agent objects are numbered by agent bank
                bank = obj.object_id.object
                for a in self.agents.values():
                    if a.agent_bank == bank:
                        self._agent_stats(a, obj.statistics)
                        break
        if d.routing_key.startswith("console.obj.1.0.org.apache.qpid.broker") and not self._following:
            return
        self._notify(Indication("properties" if m.opcode == "c" else "statistics", obj))

    def _agent_record(self, props: Mapping[str, Any], stats: Mapping[str, Any] | None) -> None:
        name = props.get("name")
        if not isinstance(name, str):
            return
        a = self.agents.get(name)
        if a is None:
            a = AgentInfo(name, props.get("brokerBank", 1), props.get("agentBank", 0))
            a.alive = bool(stats.get("alive")) if stats else True
            self.agents[name] = a
            if a.alive:
                self._notify(AgentChange("new", a))
        a.broker_bank = props.get("brokerBank", a.broker_bank)
        a.agent_bank = props.get("agentBank", a.agent_bank)
        a.label = props.get("label", a.label)
        a.system_id = props.get("systemId", a.system_id)
        if stats:
            self._agent_stats(a, stats)

    def _agent_stats(self, a: AgentInfo, stats: Mapping[str, Any]) -> None:
        if stats.get("lastHeartbeat", 0) > a.last_heartbeat:
            a.last_heartbeat = stats["lastHeartbeat"]
        if stats.get("heartbeatInterval"):
            a.heartbeat_interval = stats["heartbeatInterval"]

    async def _watch(self) -> None:
        """Marks agents gone when they miss MISSED_BEATS heartbeats."""
        while True:
            await asyncio.sleep(0.5)
            now = time.time_ns()
            for a in list(self.agents.values()):
                if a.alive and a.last_heartbeat and now - a.last_heartbeat > MISSED_BEATS * a.heartbeat_interval * 1e9:
                    a.alive = False
                    self._notify(AgentChange("gone", a))

    async def wait_for_agents(self, names: Iterable[str], timeout: float = DEFAULT_TIMEOUT) -> list[AgentInfo]:
        """Waits until every named agent is known and alive (by list or heartbeat)."""
        want = list(names)
        deadline = time.monotonic() + timeout
        while True:
            missing = [n for n in want if n not in self.agents or not self.agents[n].alive]
            if not missing:
                return [self.agents[n] for n in want]
            if time.monotonic() > deadline:
                raise Timeout(f"agents not seen within {timeout:g} s: {missing}")
            with contextlib.suppress(QmfError):
                await self.refresh_agents(timeout=min(1.0, max(deadline - time.monotonic(), 0.05)))
            await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class Target:
    """One call of `Console.invoke_all`: the agent and object, and the call's own signer and verifier."""

    agent: str
    object_id: ObjectId
    signer: Signer | None = None
    verifier: ReplyVerifier | None = None


def _refused(pend: _Pending) -> str:
    return f" ({refused_text(pend.refused)})" if pend.refused else ""


def refused_text(n: int) -> str:
    """How a timeout names the replies that came but did not verify."""
    return f"{n} repl{'y' if n == 1 else 'ies'} that did not verify dropped"


def _entry_of(fut: asyncio.Future[list[Any]]) -> Any:
    """A finished 'm' request as `invoke_all` gives it: the out-arguments, or the exception."""
    if fut.cancelled():
        return Timeout("the request was cancelled")
    exc = fut.exception()
    if exc is not None:
        return exc
    [reply] = fut.result()
    try:
        return _out_args(reply)
    except MethodError as error:
        return error


def _out_args(reply: Any) -> dict[str, Any]:
    """An 'm' reply's out-arguments; MethodError for a non-zero status."""
    if reply.status != 0:
        raise MethodError(reply.status, reply.text)
    return dict(reply.out_args or {})


class _Expired(Exception):
    """A request's deadline passed (raised as `Timeout`, with who did not answer)."""


def _expire(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(_Expired())


def _fail(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def _object(agent: str, r: Any) -> QmfObject:
    return QmfObject(agent, r.schema, r.object_id, dict(getattr(r, "properties", {}) or {}),
                     dict(getattr(r, "statistics", {}) or {}), r.update_time, r.create_time, r.delete_time)


def _sender(d: Delivery, agents: Mapping[str, AgentInfo]) -> str | None:
    """Who spoke, as console.py worked it out: the qmf.agent header, else the routing key's banks."""
    name = p.agent_header(d.props.headers)
    if name:
        return name
    banks = p.banks_from_key(d.routing_key)
    if banks:
        for a in agents.values():
            if (a.broker_bank, a.agent_bank) == banks:
                return a.name
    return None

