"""Faults, with real processes: an agent killed, the broker role restarted (or started twice),
RabbitMQ absent or restarted, a reconnection that fails half-way.

What these tests hold the code to is what an operator relies on when something dies: a call
always ends by its deadline, with its result or a typed qmf error that says what happened; a dead
agent is reported gone; nothing a console and an agent need from each other depends on the broker
role (it is a directory, not a relay); and after RabbitMQ comes back every role is reachable again
at the same routing key without anyone restarting anything.

The broker role and the agents run as subprocesses (`QmfEnv`), the console in this process. The
RabbitMQ restart uses a private node (`rabbit_node.RabbitNode`) so that the machine's broker is
never touched; every other test uses the machine's RabbitMQ, a vhost each. No test skips: a
RabbitMQ that cannot be reached fails them loudly.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pika.spec import BasicProperties
from qmf_env import QmfEnv, rabbitmqctl, ready_banks
from rabbit_node import RabbitNode, free_port

from qmf import protocol as p
from qmf.broker_role import MISSED_BEATS
from qmf.console import AgentChange, Console, Event, Indication, Notice, QmfObject
from qmf.errors import BrokerUnreachable, ConnectionLost, NotConnected, QmfError, Timeout, Unroutable
from qmf.transport import Connection

pytestmark = pytest.mark.timeout(180)

T = TypeVar("T")

HEARTBEAT = 1.0  # seconds between heartbeats of every process here
GONE_GRACE = MISSED_BEATS * HEARTBEAT + 3.0  # generous: when an agent must have been declared gone
SLACK = 1.5  # how late past its deadline a call may end (scheduling on a busy 2-core machine)


def run(coro: Coroutine[Any, Any, T], limit: float = 120.0) -> T:
    """Runs a test's coroutine with an outer bound, so a hang fails the test instead of stalling it."""
    return asyncio.run(asyncio.wait_for(coro, limit))


async def alpha(c: Console, agent: str) -> QmfObject:
    """The example agent's object `alpha` (persistent: same id across agent restarts)."""
    [obj] = [o for o in await c.get_objects(agent, class_name="thing", timeout=5) if o.properties["name"] == "alpha"]
    return obj


async def eventually(check: Callable[[], bool], timeout: float, what: str | Callable[[], str]) -> float:
    """Polls `check` until it holds; returns when (monotonic) it did, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        await asyncio.sleep(0.05)
    return time.monotonic()


async def answered(make: Callable[[], Coroutine[Any, Any, T]], within: float, what: str) -> T:
    """Repeats a request until it is answered: for a peer that reconnects on its own schedule."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await make()
        except QmfError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {within:g} s: {exc!r}") from exc
        await asyncio.sleep(0.2)


async def timed(aw: Coroutine[Any, Any, Any]) -> tuple[Any, float]:
    """(result or the QmfError raised, seconds taken)."""
    t0 = time.monotonic()
    try:
        out: Any = await aw
    except QmfError as exc:
        out = exc
    return out, time.monotonic() - t0


# -- 1. an agent killed -----------------------------------------------------------------------------
def test_killed_agent_is_reported_gone_and_calls_to_it_end_at_their_deadline(fresh_env: QmfEnv) -> None:
    """SIGKILL leaves no goodbye: only the missing heartbeats tell. The console and the broker role
    must both notice, and calls to the dead agent (whose queue outlives it, so RabbitMQ accepts
    them) must end at their deadline, while the other agent goes on answering."""
    env = fresh_env
    env.start_broker_role(HEARTBEAT)
    victim = env.start_agent("victim", heartbeat=HEARTBEAT)
    env.start_agent("survivor", heartbeat=HEARTBEAT)

    async def go() -> None:
        notices: list[Notice] = []
        c = Console(env.url)
        c.on_notice(notices.append)
        await c.start()
        try:
            await c.wait_for_agents(["victim", "survivor"], timeout=15)
            # the broker role's agent objects: its 'i' broadcasts say when it thinks an agent died
            await c.follow(objects=True, events=False, pattern="1.0.org.apache.qpid.broker.#")
            v, s = await alpha(c, "victim"), await alpha(c, "survivor")
            assert await c.call(v, "echo", "before") == {"reply": "before"}
            bank = c.agent("victim").agent_bank
            # heartbeats carry their interval (a float header) and the console learns it from them
            await eventually(lambda: c.agent("victim").heartbeat_interval == HEARTBEAT, GONE_GRACE,
                             "victim's heartbeat interval, from its heartbeats")

            victim.kill(signal.SIGKILL)
            assert not victim.alive

            await eventually(lambda: any(isinstance(n, AgentChange) and n.kind == "gone" and n.agent.name == "victim"
                                         for n in notices), GONE_GRACE, "the console's 'gone' notice for victim")
            assert c.agent("victim").alive is False
            assert not any(isinstance(n, AgentChange) and n.kind == "gone" and n.agent.name == "survivor"
                           for n in notices)
            await eventually(lambda: any(isinstance(n, Indication) and n.object.schema.key.name == "agent"
                                         and n.object.object_id.object == bank
                                         and n.object.statistics.get("alive") is False for n in notices),
                             GONE_GRACE, "the broker role's statistics broadcast with alive False for victim")
            listed = {a.name: a for a in await c.refresh_agents(timeout=5)}
            assert listed["victim"].alive is False and listed["survivor"].alive is True

            # a console that never heard victim beat learns that it is gone from the role's list alone
            fresh: list[Notice] = []
            c2 = Console(env.url)
            c2.on_notice(fresh.append)
            await c2.start(discover=False)
            try:
                by_name = {a.name: a for a in await c2.refresh_agents(timeout=5)}
                assert by_name["victim"].alive is False
                assert by_name["victim"].agent_bank == bank
                assert not any(isinstance(n, AgentChange) and n.agent.name == "victim" and n.kind == "new"
                               for n in fresh)
            finally:
                await c2.close()

            deadline = 2.0
            lost = [timed(c.call(v, "echo", f"lost {i}", timeout=deadline)) for i in range(5)]
            kept = [timed(c.call(s, "add", i, 1, timeout=deadline)) for i in range(20)]
            results = await asyncio.gather(*lost, *kept)
            for out, took in results[:5]:
                assert isinstance(out, Timeout), out
                assert deadline - 0.05 <= took <= deadline + SLACK, took
            assert [out for out, _took in results[5:]] == [{"sum": i + 1} for i in range(20)]
            assert c._pending == {}  # every request's bookkeeping ended with it
        finally:
            await c.close()

    run(go())


# -- 2. the broker role restarted -------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_role_restart_keeps_id_banks_and_cache_and_stops_no_one(fresh_env: QmfEnv, sig: int) -> None:
    """The role is a directory kept in a state file: while it is down, agents and consoles that know
    each other go on; when it is back (killed cleanly or not) it has the same broker id, the same
    banks and the same schema cache. An agent restarted with its state folder keeps its bank
    whether the role is up (the role remembers its name) or down (its own state file)."""
    env = fresh_env
    role = env.start_broker_role(HEARTBEAT)
    steady_p = env.start_agent("steady", heartbeat=HEARTBEAT)
    phoenix_p = env.start_agent("phoenix", heartbeat=HEARTBEAT)
    banks = {"steady": ready_banks(steady_p), "phoenix": ready_banks(phoenix_p)}

    async def go() -> None:
        nonlocal role, steady_p, phoenix_p
        c = Console(env.url)
        await c.start()
        try:
            await c.wait_for_agents(banks, timeout=15)
            assert {n: (a.broker_bank, a.agent_bank) for n, a in c.agents.items()} == banks
            broker_id = await c.broker(timeout=5)
            steady, phoenix = await alpha(c, "steady"), await alpha(c, "phoenix")
            # the role fetches the agents' schemas after they announce them; wait until it has them
            pkgs: list[str] = []
            for _ in range(100):
                pkgs = await c.packages(timeout=5)
                if "org.example.demo" in pkgs:
                    break
                await asyncio.sleep(0.1)
            assert "org.example.demo" in pkgs

            # first outage: nobody restarts, so what the role says afterwards comes from its state file
            role.kill(sig)
            assert not role.alive
            await _only_the_directory_is_missing(c, steady, phoenix)
            role = env.start_broker_role(HEARTBEAT)
            assert await c.broker(timeout=5) == broker_id
            await _role_knows(env, banks)
            assert await c.call(steady, "add", 1, 2, timeout=5) == {"sum": 3}

            # second outage: an agent restarted meanwhile serves on the banks its state file kept
            role.kill(sig)
            await _only_the_directory_is_missing(c, steady, phoenix)
            phoenix_p.stop()
            phoenix_p = env.start_agent("phoenix", heartbeat=HEARTBEAT)
            assert ready_banks(phoenix_p) == banks["phoenix"]
            assert await c.call(phoenix, "echo", "reborn", timeout=5) == {"reply": "reborn"}
            role = env.start_broker_role(HEARTBEAT)
            assert await c.broker(timeout=5) == broker_id
            await _role_knows(env, banks)

            # an agent restarted with the role up gets its bank from the role
            steady_p.stop()
            steady_p = env.start_agent("steady", heartbeat=HEARTBEAT)
            assert ready_banks(steady_p) == banks["steady"]
            assert await c.call(steady, "add", 20, 22, timeout=5) == {"sum": 42}
            assert await c.call(phoenix, "echo", "still", timeout=5) == {"reply": "still"}
            await _role_knows(env, banks)
        finally:
            await c.close()

    try:
        run(go())
    except Exception as exc:
        raise AssertionError(f"{exc!r}\n{env.output()}") from exc


def test_a_second_broker_role_refuses_to_start_and_says_why(fresh_env: QmfEnv) -> None:
    """A role restarted while its predecessor still holds the exclusive queue (a stuck process, a
    supervisor starting two) must not take over or fail silently: it exits non-zero naming the
    locked queue, and the first one goes on serving."""
    env = fresh_env
    env.start_broker_role(HEARTBEAT)
    env.start_agent("lone", heartbeat=HEARTBEAT)
    second = env.start_broker_role(HEARTBEAT, wait=False)
    assert second.popen.wait(30) != 0, second.output()
    said = second.output()
    assert "RESOURCE_LOCKED" in said and p.BROKER_QUEUE in said, said

    async def go() -> None:
        c = Console(env.url)
        await c.start()
        try:
            await c.wait_for_agents(["lone"], timeout=15)
            assert await c.broker(timeout=5) == c.broker_id
            assert await c.call(await alpha(c, "lone"), "add", 1, 1, timeout=5) == {"sum": 2}
        finally:
            await c.close()

    run(go())


async def _only_the_directory_is_missing(c: Console, steady: QmfObject, phoenix: QmfObject) -> None:
    """With the role down, requests to it fail with a clear error (`Unroutable` once RabbitMQ has
    dropped the role's exclusive queue; `Timeout` if a request reached it just before), while method
    calls between a console and agents that know each other succeed."""
    with pytest.raises((Unroutable, Timeout)):
        await c.broker(timeout=2)
    with pytest.raises((Unroutable, Timeout)):
        await c.packages(timeout=2)
    for i in range(5):
        assert await c.call(steady, "add", i, i, timeout=5) == {"sum": 2 * i}
    echoed = await asyncio.gather(*(c.call(phoenix, "echo", f"x{i}", timeout=5) for i in range(20)))
    assert echoed == [{"reply": f"x{i}"} for i in range(20)]


async def _role_knows(env: QmfEnv, banks: dict[str, tuple[int, int]]) -> None:
    """A console with an empty schema cache asks the role: same agents and banks, and P, Q and S
    answered from the role's cache."""
    c = Console(env.url)
    await c.start(discover=False)
    try:
        listed = {a.name: (a.broker_bank, a.agent_bank) for a in await c.refresh_agents(timeout=5)}
        assert listed == banks
        assert set(await c.packages(timeout=5)) == {"org.apache.qpid.broker", "org.example.demo"}
        classes = await c.classes("org.example.demo", timeout=5)
        assert {(kind, key.name) for kind, key in classes} == {(1, "thing"), (2, "note")}
        key = next(k for _kind, k in classes if k.name == "thing")
        assert key not in c.schemas
        schema = await c.schema(key, timeout=5)
        assert schema.key == key and "echo" in [m.name for m in schema.methods]
    finally:
        await c.close()


# -- 3. RabbitMQ absent, RabbitMQ restarted ---------------------------------------------------------
def test_no_rabbitmq_at_all_fails_start_by_its_timeout() -> None:
    """Nothing listening where the URL points: `start` must give up by its timeout with an error
    that names the broker, not retry forever or hang."""
    port = free_port()
    c = Console(f"amqp://guest:secret@127.0.0.1:{port}/%2F")

    async def go() -> tuple[Any, float]:
        return await timed(c.start(timeout=2.0))

    out, took = run(go(), 30)
    assert isinstance(out, BrokerUnreachable), out
    assert f"127.0.0.1:{port}" in str(out) and "secret" not in str(out), out
    assert took <= 2.0 + SLACK, took


def test_a_reconnection_that_fails_half_way_leaves_one_working_connection(fresh_env: QmfEnv) -> None:
    """When replaying the topology fails with the new connection still open (as when a slow broker
    leaves a declare unanswered), the transport gives that connection up and makes another. The
    given-up connection's close, arriving late, must not take the next one down: it did, and the
    transport then reconnected again while the leftover connection still held the exclusive queue,
    and every attempt after that failed with RESOURCE_LOCKED. No backoff here, to make that race
    certain."""
    async def go() -> None:
        conn = Connection(fresh_env.url, name="half-way", min_backoff=0.0)
        await conn.start(5)
        try:
            got: list[bytes] = []
            await conn.add_queue("half-way", lambda d: got.append(d.body), exclusive=True,
                                 bindings=[(p.REPLY_EXCHANGE, "half-way")])
            replay = conn._declare_queue
            fail_once = [TimeoutError("pretend queue.declare went unanswered")]

            async def flaky(q: Any) -> None:
                if fail_once:
                    raise fail_once.pop()
                await replay(q)

            conn._declare_queue = flaky  # type: ignore[method-assign]
            assert conn._conn is not None
            conn._conn.close()  # the connection is lost; the first replay after it fails half-way
            await eventually(lambda: conn.reconnects >= 1 and conn.connected.is_set(), 15, "a new connection")
            await asyncio.sleep(1.0)  # long enough for a late close of the given-up connection to land
            assert conn.connected.is_set() and conn._ch is not None and conn.reconnects == 1
            await asyncio.wait_for(conn.publish_confirmed(p.REPLY_EXCHANGE, "half-way", b"still here",
                                                          BasicProperties()), 5)
            await eventually(lambda: got == [b"still here"], 5, "the delivery on the new connection")
        finally:
            await conn.close()

    run(go(), 60)


@pytest.fixture(scope="module")
def rabbit_node() -> Iterator[RabbitNode]:
    """A RabbitMQ node of this module's own, shut down (and its folder removed) whatever happens."""
    with RabbitNode() as node:
        yield node


DEADLINE = 5.0  # each call's timeout in the run across the restart
RECONNECTED = 20.0  # by when every process must be back: backoff tops out at 5 s, times 1.5 of jitter
WORKERS = 20
PAUSE = 0.05  # between one worker's calls, so the run is bounded and spans the restart
FAILED_PAUSE = 0.2  # after a failed call, as a client backs off
MAX_CALLS = 8000  # an upper bound on the run whatever happens
EXPECTED = (ConnectionLost, NotConnected, Timeout, Unroutable)


@dataclass
class Outcome:
    started: float
    ended: float
    kind: str  # "ok", the qmf error's class name, "hung", or "unexpected ..."
    detail: str = ""


@pytest.mark.parametrize("how", ["stop_app", "node"])
def test_rabbitmq_restart_during_a_run_of_calls(rabbit_node: RabbitNode, tmp_path: Path, how: str) -> None:
    """RabbitMQ goes away under 20 callers and comes back (`stop_app`/`start_app`, or the whole node
    stopped and started on the same port and database). Every call must end by its deadline, with
    its answer or a typed qmf error; afterwards the console, the agent and the broker role have all
    reconnected by themselves, their queues, bindings and consumers are back, the agent answers at
    the same routing key, it re-attached to the role, and the role answers again."""
    env = QmfEnv(tmp_path, host=rabbit_node.host, port=rabbit_node.port, node=rabbit_node.name)
    try:
        role = env.start_broker_role(HEARTBEAT, "--verbose")
        agent_p = env.start_agent("through", heartbeat=HEARTBEAT)
        banks = ready_banks(agent_p)
        restart = rabbit_node.restart_app if how == "stop_app" else rabbit_node.restart_node
        run(_calls_across_restart(env, restart, banks), 150)
        assert role.alive and agent_p.alive, env.output()
        bindings = rabbitmqctl("list_bindings", "-p", env.vhost, "source_name", "destination_name", "routing_key",
                               node=rabbit_node.name).stdout
        assert f"{p.MANAGEMENT_EXCHANGE}\tqmf.agent.through\t{p.agent_key(*banks)}" in bindings, bindings
        assert f"{p.MANAGEMENT_EXCHANGE}\t{p.BROKER_QUEUE}\t{p.BROKER_KEY}" in bindings, bindings
        consumers = rabbitmqctl("list_consumers", "-p", env.vhost, "queue_name", node=rabbit_node.name).stdout
        assert {"qmf.agent.through", p.BROKER_QUEUE} <= set(consumers.split()), consumers
    except Exception as exc:
        raise AssertionError(f"{exc!r}\n{env.output()}") from exc
    finally:
        env.close()


async def _calls_across_restart(env: QmfEnv, restart: Callable[[], None], banks: tuple[int, int]) -> None:
    c = Console(env.url)
    notices: list[Notice] = []
    c.on_notice(notices.append)
    await c.start()
    try:
        await c.wait_for_agents(["through"], timeout=15)
        await c.follow(objects=False, events=True)  # a binding added after start: it must come back too
        broker_id = await c.broker(timeout=5)
        obj = await alpha(c, "through")
        key = c.agent("through").routing_key
        outcomes: list[Outcome] = []
        stop = asyncio.Event()

        async def worker(w: int) -> None:
            i = 0
            while not stop.is_set() and len(outcomes) < MAX_CALLS:
                i += 1
                text = f"{w}.{i}"
                t0 = time.monotonic()
                detail = ""
                try:
                    # the outer bound only tells a hang from a late answer; it must never fire
                    out = await asyncio.wait_for(c.call(obj, "echo", text, timeout=DEADLINE), DEADLINE + 10)
                    kind = "ok" if out == {"reply": text} else "unexpected answer"
                    detail = repr(out)
                except TimeoutError:
                    kind = "hung"
                except EXPECTED as exc:
                    kind, detail = type(exc).__name__, str(exc)
                except Exception as exc:
                    kind, detail = f"unexpected {type(exc).__name__}", repr(exc)
                outcomes.append(Outcome(t0, time.monotonic(), kind, detail))
                await asyncio.sleep(PAUSE if kind == "ok" else FAILED_PAUSE)

        def ok_since(t: float) -> int:
            return sum(1 for o in outcomes if o.kind == "ok" and o.started >= t)

        workers = [asyncio.create_task(worker(w)) for w in range(WORKERS)]
        try:
            started = time.monotonic()
            await eventually(lambda: ok_since(started) >= 100, 30, "100 calls answered before the restart")
            down = time.monotonic()
            await asyncio.to_thread(restart)
            back = time.monotonic()
            await eventually(lambda: ok_since(back) >= 200, 30 + RECONNECTED,
                             lambda: f"200 calls answered after RabbitMQ came back; so far: {_summary(outcomes, down)}")
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), DEADLINE + 15)

        summary = _summary(outcomes, down)
        print(f"RabbitMQ down for {back - down:.1f} s; {summary}")  # shown with -s, or on failure
        bad = [o for o in outcomes if o.kind not in {"ok", *(e.__name__ for e in EXPECTED)}]
        assert not bad, f"calls that hung or failed oddly: {bad[:10]}; {summary}"
        late = [o for o in outcomes if o.ended - o.started > DEADLINE + SLACK]
        assert not late, f"calls that ended past their deadline: {late[:10]}; {summary}"
        early = [o for o in outcomes if o.kind != "ok" and o.ended < down]
        assert not early, f"calls failed before RabbitMQ was restarted: {early[:10]}"
        assert len(outcomes) >= 300, summary

        # everything reconnected, by itself, to the same addresses
        assert c.conn.reconnects >= 1
        assert c.agent("through").routing_key == key == p.agent_key(*banks)
        assert await c.call(obj, "add", 40, 2, timeout=5) == {"sum": 42}
        # the broker role reconnects on its own backoff, which may be behind the console's and agent's
        assert await answered(lambda: c.broker(timeout=2), RECONNECTED, "the broker role after the restart") \
            == broker_id
        listed = {a.name: a for a in await c.refresh_agents(timeout=5)}
        assert (listed["through"].broker_bank, listed["through"].agent_bank) == banks
        assert await c.call(obj, "emit", "after the restart", 5, timeout=5) == {}
        await eventually(lambda: any(isinstance(n, Event) and n.arguments.get("text") == "after the restart"
                                     for n in notices), 10, "the event raised after the restart")
        # the agent's reconnect hook attached it to the role again (the role logs each attach)
        role = env.broker_role
        assert role is not None
        attach = f"attached agent through as {banks[0]}.{banks[1]}"
        await eventually(lambda: sum(attach in line for line in role.lines) >= 2, 30 + RECONNECTED,
                         "the agent re-attaching to the broker role after the restart")
    finally:
        await c.close()


def _summary(outcomes: list[Outcome], down: float) -> str:
    """Counts of outcomes before and after the restart began, for failure messages."""
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for o in outcomes:
        side = before if o.started < down else after
        side[o.kind] = side.get(o.kind, 0) + 1
    return f"{len(outcomes)} calls; before the restart {before}; from it on {after}"
