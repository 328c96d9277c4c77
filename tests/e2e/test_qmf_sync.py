"""`qmf.sync.Console`, the blocking facade, on the real broker and a real agent process.

The calling thread runs the loop itself for the length of its call; between calls a service
thread pumps it; a caller that finds the loop taken hands its call over. What a script sees must
not depend on which of these ran: concurrent callers do not wait for each other, notices arrive
while no call is in flight, Ctrl-C cancels the call and leaves the console usable, and a blocking
call from the loop itself is refused instead of hanging.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest
from qmf_env import QmfEnv

from qmf.console import Event
from qmf.sync import Console as SyncConsole

pytestmark = pytest.mark.timeout(120)


def _thing(c: SyncConsole, agent: str = "demo1", name: str = "alpha"):
    c.wait_for_agents([agent], timeout=15)
    [obj] = [o for o in c.get_objects(agent, class_name="thing") if o.properties["name"] == name]
    return obj


def test_a_long_call_on_one_thread_does_not_hold_up_calls_on_others(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        alpha = _thing(c)
        slow: dict[str, float] = {}

        def sleeper() -> None:
            t = time.monotonic()
            slow["out"] = c.call(alpha, "sleep", 2.0, timeout=10)["slept"]
            slow["took"] = time.monotonic() - t

        threads = [threading.Thread(target=sleeper) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.2)  # both sleeps are in flight: one thread runs the loop, the other handed its call over
        t0 = time.monotonic()
        sums = [c.call(alpha, "add", i, 1)["sum"] for i in range(50)]
        quick = time.monotonic() - t0
        for t in threads:
            t.join(15)
        assert sums == [i + 1 for i in range(50)]
        assert quick < 1.5, f"50 short calls took {quick:.2f} s beside two 2 s calls"
        assert slow["out"] == 2.0 and slow["took"] < 5


def test_calls_from_many_threads_at_once_each_get_their_own_answer(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        alpha = _thing(c)
        got: dict[int, list[int]] = {}

        def worker(k: int) -> None:
            got[k] = [c.call(alpha, "add", k, i)["sum"] for i in range(40)]

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert got == {k: [k + i for i in range(40)] for k in range(6)}


def test_notices_arrive_while_no_call_is_in_flight(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as idle, SyncConsole(qmf_env.url) as other:
        _thing(idle)
        idle.follow()
        seen = threading.Event()
        threads: list[str] = []

        def on_notice(n: object) -> None:
            if isinstance(n, Event) and n.arguments.get("text") == "between calls":
                threads.append(threading.current_thread().name)
                seen.set()

        idle.on_notice(on_notice)
        other.call(_thing(other), "emit", "between calls", 3)  # `idle` makes no call meanwhile
        assert seen.wait(10), "an event raised while no call was in flight never reached the callback"
        assert threads == ["qmf-console"]


def test_a_blocking_call_from_the_loop_is_refused_not_hung(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        alpha = _thing(c)

        async def inner() -> str:
            try:
                c.call(alpha, "add", 1, 1)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert "would wait forever" in c.run(inner())
        assert c.call(alpha, "add", 1, 1) == {"sum": 2}


def test_a_thread_with_its_own_running_loop_can_call(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        alpha = _thing(c)

        async def from_another_loop() -> dict:
            return c.call(alpha, "add", 20, 22)  # blocks that loop, as any blocking call would

        assert asyncio.run(from_another_loop()) == {"sum": 42}


def test_ctrl_c_cancels_the_call_and_the_console_still_works(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        alpha = _thing(c)
        cancelled = threading.Event()

        async def long_call() -> None:
            try:
                await c.aio.call(alpha, "sleep", 5.0, timeout=20)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        def interrupt(_sig: int, _frame: object) -> None:
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            t0 = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                c.run(long_call())
            assert time.monotonic() - t0 < 3
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert cancelled.wait(5), "the interrupted call's task was not cancelled"
        assert c.call(alpha, "add", 2, 3) == {"sum": 5}
