"""The overlord's AMQP transport: func calls as QMF method requests, all minions at once.

One qmf console (one connection, one reply queue) serves every call; a fan-out to N minions is
N requests in flight on one event loop, each with the call's deadline, and yields exactly N
entries. Failures become func's REMOTE_ERROR list in that minion's slot, built here when the
minion cannot say it (no such module or method in its schema, not connected, no answer in time).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import queue
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codec import ClassKey, ObjectClass, ObjectId
from qmf.console import Console, Event, Target, refused_text
from qmf.errors import MethodError, QmfError, Timeout
from qmf.protocol import H_DEADLINE
from qmf.sync import Console as SyncConsole

from .. import codes
from ..qmfmap import (
    H_ASYNC,
    H_FACTS,
    H_FOLLOW,
    H_REQUEST_ID,
    PACKAGE,
    RESULT,
    STATUS_FORBIDDEN,
    STATUS_REMOTE_ERROR,
    SYSTEM_CLASS,
    encode_args,
    object_number,
    parse_remote_error,
)
from ..values import unbox
from . import session_store
from .sessions import Sessions

log = logging.getLogger("func.overlord.amqp")

EventCallback = Callable[[dict[str, Any]], None]
ResultCallback = Callable[[str, Any], None]


def remote_error(exc_type: str, message: str) -> list[Any]:
    return ["REMOTE_ERROR", exc_type, message, ""]


class AmqpTransport:
    def __init__(self, url: str, *, tls: Any = None, sessions: Sessions | None = None,
                 session_dir: str | None = None, connect_timeout: float = 10.0) -> None:
        self.sessions = sessions  # None: requests go unsigned (minions with allow_unsigned take them)
        self.session_dir = session_dir  # where sessions are kept between processes (session_store)
        if sessions is not None and session_dir:
            session_store.load(sessions, session_dir)
        self.sync = SyncConsole(url, timeout=connect_timeout, tls=tls)
        self.console: Console = self.sync.aio
        self._schemas: dict[tuple[str, str], ObjectClass] = {}  # (minion, module) -> its class
        # the class last learnt for each module: tried first on other minions (a fleet mostly runs the same
        # version), so a fan-out to N new minions costs no N schema queries; a minion whose class differs
        # answers "no schema", and then its own is fetched
        self._by_module: dict[str, ObjectClass] = {}
        self._guess_failed: set[tuple[str, str]] = set()
        self._listeners: list[EventCallback] = []
        self._following = False
        self._oids: dict[tuple[int, int, str], ObjectId] = {}  # (broker bank, agent bank, module) -> its object id

    def close(self) -> None:
        try:
            self.sync.close()
        finally:
            if self.sessions is not None and self.session_dir:
                session_store.save(self.sessions, self.session_dir)

    # -- inventory --------------------------------------------------------------------------------
    def minions(self) -> list[str]:
        """The funcd agents the broker role lists (label `funcd ...`), alive or not."""
        self.sync.run(self._refresh())
        return sorted(a.name for a in self.console.list_agents() if a.label.startswith("funcd"))

    async def _refresh(self) -> None:
        try:
            await self.console.refresh_agents(timeout=5.0)
        except QmfError as exc:
            log.info("no agent list from the broker role: %s", exc)

    def xmlrpc_address(self, name: str, timeout: float = 5.0) -> str | None:
        async def go() -> str | None:
            objs = await self.console.get_objects(name, class_name=SYSTEM_CLASS, package=PACKAGE, timeout=timeout)
            return objs[0].properties.get("xmlrpc") if objs else None
        try:
            return self.sync.run(go())
        except QmfError:
            return None

    # -- calls ------------------------------------------------------------------------------------
    def call(self, names: list[str], module: str, method: str, params: tuple[Any, ...], *, timeout: float,
             async_: bool = False, on_event: EventCallback | None = None,
             on_result: ResultCallback | None = None, facts: list[Any] | None = None) -> dict[str, Any]:
        """{name: value or REMOTE_ERROR} for every name; never raises for a minion's failure.
        `on_result(name, value)` runs (on the thread that runs the transport's loop: the caller's,
        as a rule) as each minion's entry is known. `facts`: a serialised facts query (header
        `func.facts`), which the minions evaluate before running the method."""
        return self.sync.run(self.call_async(names, module, method, params, timeout=timeout, async_=async_,
                                             on_event=on_event, on_result=on_result, facts=facts))

    async def call_async(self, names: list[str], module: str, method: str, params: tuple[Any, ...], *,
                         timeout: float, async_: bool = False, on_event: EventCallback | None = None,
                         on_result: ResultCallback | None = None, facts: list[Any] | None = None
                         ) -> dict[str, Any]:
        module, _, method = f"{module}.{method}".rpartition(".")  # func: the method is after the last dot
        if on_event is not None:
            await self._follow()
        # one request id and one deadline for the whole fan-out
        headers: dict[str, Any] = {H_REQUEST_ID: _request_ids.next(), H_DEADLINE: int((time.time() + timeout) * 1000)}
        if async_:
            headers[H_ASYNC] = 1
        if facts is not None:
            headers[H_FACTS] = json.dumps(facts, separators=(",", ":"))
        call = _Call(module, method, params, timeout, time.monotonic() + timeout, headers, {}, on_result)
        listener = None
        if on_event is not None:
            headers[H_FOLLOW] = 1
            wanted = call.request_ids

            def listener(ev: dict[str, Any]) -> None:
                if ev.get("request_id") in wanted.values() or ev.get("job_id") in wanted.values():
                    on_event(ev)

            self._listeners.append(listener)
        try:
            if len(names) == 1:  # the common single-minion call: no task, no gather
                results = [await self._one(names[0], call)]
            else:
                results = await self._fan_out(names, call)
        finally:
            if listener is not None:
                self._listeners.remove(listener)
        return dict(zip(names, results, strict=True))

    async def _fan_out(self, names: list[str], call: _Call) -> list[Any]:
        """The minions whose class for the module is known (or guessed: a fleet mostly runs one
        version) in one `Console.invoke_all` per class, the others one by one, all at once; then,
        one by one, those whose call needs another try (not their class after all, a lost session)."""
        results: list[Any] = [None] * len(names)
        if call.module not in self._by_module:
            await self._learn_class(names, call)
        groups: dict[ClassKey, tuple[ObjectClass, list[int]]] = {}
        alone: list[int] = []
        for i, name in enumerate(names):
            schema = self._schemas.get((name, call.module))
            if schema is None and (name, call.module) not in self._guess_failed:
                schema = self._by_module.get(call.module)
            if schema is None or name not in self.console.agents or schema.method(call.method) is None:
                alone.append(i)
            else:
                groups.setdefault(schema.key, (schema, []))[1].append(i)
        again: list[int] = []
        await asyncio.gather(*(self._group(names, schema, members, call, results, again)
                               for schema, members in groups.values()),
                             *(self._alone(names, i, call, results) for i in alone))
        if again:
            await asyncio.gather(*(self._alone(names, i, call, results) for i in again))
        return results

    async def _learn_class(self, names: list[str], call: _Call) -> None:
        """A cold overlord (every CLI process) asks a few live minions at once which classes they
        have and takes the first answer, so that the fan-out guesses the module's class for the
        others instead of asking each: a few class queries, not one per minion. Bounded: a quarter
        of the call's time, at most 2 s; without an answer every minion is asked on its own."""
        candidates = [n for n in names if (a := self.console.agents.get(n)) is not None and a.alive][:3]
        if not candidates:
            return
        cap = min(call.remaining() / 4, 2.0)
        tasks = [asyncio.ensure_future(self._schema(n, call.module, cap)) for n in candidates]
        try:
            for first in asyncio.as_completed(tasks, timeout=cap):
                with contextlib.suppress(QmfError):
                    if await first is not None:
                        return
        except TimeoutError:
            return
        finally:
            for t in tasks:
                t.cancel()

    async def _alone(self, names: list[str], i: int, call: _Call, results: list[Any]) -> None:
        results[i] = await self._one(names[i], call)

    async def _group(self, names: list[str], schema: ObjectClass, members: list[int], call: _Call,
                     results: list[Any], again: list[int]) -> None:
        """Minions of one class in one `invoke_all`; those to try again on their own go to `again`."""
        try:
            args = encode_args(schema.method(call.method), call.params)  # type: ignore[arg-type]
        except TypeError as exc:
            for i in members:
                results[i] = self._settled(names[i], codes.nice_exception(exc), call)
            return
        targets = []
        for i in members:
            name = names[i]
            peer = self._peer(name)
            targets.append(Target(name, self._object_id(name, call.module), peer.sign if peer else None,
                                  peer.verify if peer else None))
            call.request_ids[name] = call.headers[H_REQUEST_ID]

        def each(j: int, entry: Any) -> None:
            i = members[j]
            try:
                value = self._value(names[i], schema, entry, call)
            except Exception as exc:  # a value that does not unbox: still one entry for this minion
                value = codes.nice_exception(exc)
            if value is _AGAIN:
                again.append(i)
            else:
                results[i] = self._settled(names[i], value, call)

        await self.console.invoke_all(schema, call.method, args, targets, timeout=call.remaining(),
                                      headers=call.headers, on_each=each)

    def _value(self, name: str, schema: ObjectClass, entry: Any, call: _Call) -> Any:
        """A minion's entry from `invoke_all`: its value or REMOTE_ERROR, or `_AGAIN` to try it alone."""
        if isinstance(entry, dict):
            self._schemas.setdefault((name, call.module), schema)
            return self._unboxed(name, entry, call)
        if isinstance(entry, MethodError):
            if not_its_class(entry):
                self._schemas.pop((name, call.module), None)
                self._guess_failed.add((name, call.module))
                return _AGAIN
            peer = self._peer(name)
            if peer is not None and peer.session_lost(entry.status, entry.text):
                return _AGAIN
            return self._method_error(name, entry)
        return self._failure(name, entry, call)

    def _unboxed(self, name: str, out: dict[str, Any], call: _Call) -> Any:
        value = unbox(out[RESULT])
        if async_job(call.headers) and isinstance(value, str):
            call.request_ids[name] = value  # events of an async job carry its minion job id
        return value

    def _failure(self, name: str, exc: BaseException, call: _Call) -> list[Any]:
        if isinstance(exc, Timeout):
            refused = ""
            if exc.refused:
                refused = f" ({refused_text(exc.refused)}: is its certificate one our CA issued, and not revoked?)"
            return remote_error("func.minion.codes.TimeoutException",
                                f"no answer from {name} within {call.timeout:g} s{refused}")
        if isinstance(exc, QmfError):
            return remote_error(f"qmf.errors.{type(exc).__name__}", f"{name}: {exc}")
        return codes.nice_exception(exc)  # an encoding problem of ours: still one entry for this minion

    def _settled(self, name: str, value: Any, call: _Call) -> Any:
        if call.on_result is not None:
            call.on_result(name, value)
        return value

    async def _one(self, name: str, call: _Call) -> Any:
        return self._settled(name, await self._entry(name, call), call)

    async def _entry(self, name: str, call: _Call) -> Any:
        module, method = call.module, call.method
        try:
            for attempt in (1, 2):
                # a minion this console has not heard of yet (it attached a moment ago) is looked
                # up first: `_schema` asks the broker role, which knows every attached agent
                guessed = ((name, module) not in self._schemas and module in self._by_module
                           and (name, module) not in self._guess_failed and name in self.console.agents)
                schema = self._by_module[module] if guessed else await self._schema(name, module, call.remaining())
                if schema is None:
                    return codes.nice_exception(codes.ModuleNotFoundException(f"no module named {module!r} on {name}"))
                m = schema.method(method)
                if m is None and guessed:
                    schema = await self._schema(name, module, call.remaining())
                    m = schema.method(method) if schema is not None else None
                if m is None:
                    return codes.nice_exception(codes.InvalidMethodException(
                        f"module {module!r} on {name} has no method {method!r}"))
                try:
                    args = encode_args(m, call.params)
                except TypeError as exc:
                    return codes.nice_exception(exc)
                oid = self._object_id(name, module)
                call.request_ids[name] = call.headers[H_REQUEST_ID]
                try:
                    out = await self._invoke(name, schema, oid, method, args, call)
                except MethodError as exc:
                    if not_its_class(exc):
                        self._schemas.pop((name, module), None)
                        if guessed and attempt == 1 and call.remaining() > 0.01:
                            self._guess_failed.add((name, module))
                            continue
                    return self._method_error(name, exc)
                if guessed:
                    self._schemas[(name, module)] = schema
                return self._unboxed(name, out, call)
            return remote_error("func.minion.codes.FuncException", f"{name}: no usable schema for {module}")
        except Exception as exc:
            return self._failure(name, exc, call)

    async def _invoke(self, name: str, schema: ObjectClass, oid: ObjectId, method: str, args: dict[str, Any],
                      call: _Call) -> dict[str, Any]:
        """One method request, signed or MACed and its reply checked; a minion that lost our
        session (it restarted) is sent the request again with a handshake."""
        peer = self._peer(name)
        for attempt in (1, 2):
            try:
                return await self.console.invoke(name, schema, oid, method, args, timeout=call.remaining(),
                                                 headers=call.headers, signer=peer.sign if peer else None,
                                                 verifier=peer.verify if peer else None)
            except MethodError as exc:
                if (attempt == 2 or peer is None or not peer.session_lost(exc.status, exc.text)
                        or call.remaining() <= 0.001):
                    raise
        raise AssertionError("unreachable")

    def _peer(self, name: str) -> Any:
        """The minion's `sessions.Peer` (its signer and verifier), or None when requests go unsigned."""
        return self.sessions.peer(name) if self.sessions is not None else None

    def _object_id(self, name: str, module: str) -> ObjectId:
        """The module's object on that minion; keyed by its banks, which a restarted minion may change."""
        agent = self.console.agent(name)
        key = (agent.broker_bank, agent.agent_bank, module)
        oid = self._oids.get(key)
        if oid is None:
            if len(self._oids) >= 100_000:
                self._oids.clear()
            oid = self._oids[key] = ObjectId.make(broker_bank=agent.broker_bank, agent_bank=agent.agent_bank,
                                                  object=object_number(module))
        return oid

    def _method_error(self, name: str, exc: MethodError) -> list[Any]:
        if exc.status == STATUS_REMOTE_ERROR:
            return parse_remote_error(exc.text)
        if exc.status == STATUS_FORBIDDEN:
            return remote_error("func.minion.codes.AccessToMethodDenied", exc.text)
        return remote_error("qmf.errors.MethodError", f"{name}: status {exc.status}: {exc.text}")

    async def _schema(self, name: str, module: str, timeout: float) -> ObjectClass | None:
        """The minion's class for `module`: asked of the minion itself once, then cached."""
        known = self._schemas.get((name, module))
        if known is not None:
            return known
        agent = self.console.agents.get(name)
        if agent is None:
            await self._refresh()
            agent = self.console.agents.get(name)
            if agent is None:
                raise QmfError(f"minion {name} is not attached to the broker (unknown to the broker role)")
        classes = await self.console.classes(PACKAGE, name, timeout=timeout)
        for _kind, key in classes:
            if key.name == module:
                schema = await self.console.schema(key, name, timeout=timeout)
                if isinstance(schema, ObjectClass):
                    self._schemas[(name, module)] = schema
                    self._by_module[module] = schema
                    return schema
        return None

    # -- live progress ----------------------------------------------------------------------------
    async def _follow(self) -> None:
        if not self._following:
            self._following = True
            self.console.on_notice(self._on_notice)
            await self.console.follow(objects=False, events=True, pattern=f"*.*.{PACKAGE}.job")

    def _on_notice(self, notice: Any) -> None:
        if not isinstance(notice, Event) or notice.schema.key.package != PACKAGE:
            return
        a = notice.arguments
        try:
            data = unbox(a.get("data", []))
        except TypeError:
            data = None
        ev = {"host": notice.agent, "job_id": a.get("job_id"), "request_id": a.get("request_id"),
              "method": a.get("method"), "kind": a.get("kind"), "data": data, "timestamp": notice.timestamp}
        for listener in list(self._listeners):
            listener(ev)

    def subscribe(self, job_ids: set[str]) -> queue.Queue[dict[str, Any]]:
        """A queue that receives the events of these minion jobs (thread-safe), until `unsubscribe`."""
        q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=100_000)

        def listener(ev: dict[str, Any]) -> None:
            if ev.get("job_id") in job_ids and not q.full():
                q.put_nowait(ev)

        async def add() -> None:
            await self._follow()
            self._listeners.append(listener)

        self.sync.run(add())
        q.listener = listener  # type: ignore[attr-defined]
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        async def remove() -> None:
            if q.listener in self._listeners:  # type: ignore[attr-defined]
                self._listeners.remove(q.listener)  # type: ignore[attr-defined]

        self.sync.run(remove())


def async_job(headers: dict[str, Any]) -> bool:
    return bool(headers.get(H_ASYNC))


def not_its_class(exc: MethodError) -> bool:
    """The minion has no schema for the class we sent: it runs another version of the module."""
    return exc.status == 1 and "no schema" in exc.text.lower()


_AGAIN = object()  # a fan-out entry to try again on its own


class _RequestIds:
    """func.request_id values: 32 hex digits, a random 64-bit prefix and a counter. Unique for as
    long as a minion remembers ids against replays (one per call, one call per id: the minions'
    replay guard refuses an id seen before), and a tenth of the cost of `uuid4()` per call. A
    forked child draws a prefix of its own (its parent's counter would give the same ids)."""

    def __init__(self) -> None:
        self._renew()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (ids := ref()) is not None and ids._renew())

    def _renew(self) -> None:
        self._prefix, self._count = os.urandom(8).hex(), itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_request_ids = _RequestIds()


@dataclass(slots=True)
class _Call:
    """One call to one or many minions: what to call, and what every minion's request shares."""

    module: str
    method: str
    params: tuple[Any, ...]
    timeout: float
    deadline: float  # time.monotonic()
    headers: dict[str, Any]  # request id and deadline (and async, follow): the same for every minion
    request_ids: dict[str, str]  # minion -> the id its job events carry
    on_result: ResultCallback | None

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)
