"""A blocking facade over the asyncio console, for scripts: the same implementation, on an event
loop that the calling thread runs itself for the length of each call.

Why not a loop thread that every call hops onto: the hop is two thread wake-ups per call (the
loop thread woken by the caller, the caller woken by the loop thread), which measured 50-80 µs of
CPU and latency on a 2-core VM, about as much as the AMQP round trip's own Python work. So the
caller runs the loop (`run_until_complete` on its own thread) while its call is in flight: one
thread, no wake-ups. Between calls a service thread pumps the loop once it has sat idle for
`IDLE_TICK` seconds (heartbeats, agent indications, notices). A caller that finds the loop taken waits for a pump to
end, and hands its call over to the loop's runner when another thread's call is in flight on it,
so concurrent callers never wait for each other."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from . import console as _console
from .console import AgentInfo, Notice, QmfObject
from .transport import DEFAULT_URL

T = TypeVar("T")

IDLE_TICK = 0.02  # s between pumps of an idle loop: how late a notice or a heartbeat is seen between calls
PUMP_WAIT = 0.005  # s a caller waits for a pump to end before it hands its call over instead


class Console:
    """`qmf.console.Console`, blocking. Use as a context manager or call `close()`."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 10.0, discover: bool = True, **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._owner = threading.Lock()  # held by the thread that runs the loop
        self._hopping = 0  # calls handed to the loop by threads that do not run it (under _count)
        self._count = threading.Lock()
        self._hopped: set[asyncio.Task[Any]] = set()  # their tasks (loop side)
        self._wake = threading.Event()
        self._closing = False
        self._ran = 0.0  # time.monotonic() when a thread last let go of the loop
        self._thread = threading.Thread(target=self._service, name="qmf-console", daemon=True)
        self._thread.start()
        try:
            self.aio: _console.Console = self._run(self._make(url, kw))
            self._run(self.aio.start(timeout, discover=discover))
        except BaseException:
            self._stop_service()
            raise

    async def _make(self, url: str, kw: dict[str, Any]) -> _console.Console:
        return _console.Console(url, **kw)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs `coro` on the loop and blocks until it ends: on this thread when the loop is free,
        else handed to whoever runs it. If the wait is interrupted (Ctrl-C), the task is cancelled."""
        running = asyncio._get_running_loop()
        if running is self._loop:
            coro.close()
            raise RuntimeError("a blocking qmf.sync call from the console's own loop would wait forever")
        if running is None and self._take_loop():
            task = self._loop.create_task(coro)
            try:
                return self._loop.run_until_complete(task)
            except BaseException:
                if not task.done():
                    task.cancel()
                    self._hopped.add(task)  # the service thread runs the loop until the cancel lands
                    task.add_done_callback(self._hopped.discard)
                    self._wake.set()
                raise
            finally:
                self._ran = time.monotonic()
                self._owner.release()
        return self._hop(coro)

    def _take_loop(self) -> bool:
        """True once this thread holds the loop. When the service thread has it only for a pump (no
        handed-over call is running on it), that ends within a few loop turns: waiting for it costs
        less than a hop, and a hop would have the service thread take the loop again right after
        (it is woken to run the hop), so the next call would find it taken too."""
        if self._owner.acquire(blocking=False):
            return True
        return not self._hopped and self._owner.acquire(timeout=PUMP_WAIT)

    def _hop(self, coro: Coroutine[Any, Any, T]) -> T:
        """The call as a task on the loop that another thread runs; a bare lock is the hand-off
        (`run_coroutine_threadsafe` chains a concurrent future with a condition variable, about
        twice the CPU per call)."""
        done = threading.Lock()
        done.acquire()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self._loop.create_task(coro)
            tasks.append(task)
            self._hopped.add(task)
            with self._count:
                self._hopping -= 1
            task.add_done_callback(lambda t: (self._hopped.discard(t), done.release()))

        with self._count:
            self._hopping += 1
        self._loop.call_soon_threadsafe(start)
        self._wake.set()  # the loop's runner may be about to let go of it: the service thread takes over
        try:
            done.acquire()
        except BaseException:
            self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise
        return tasks[0].result()

    def _service(self) -> None:
        """Runs the loop while handed-over calls are pending, and pumps it when it sat idle for an
        IDLE_TICK: a tick soon after a caller ran it is skipped (that caller did the work), so a
        script calling in a tight loop meets no pump and no contention for the GIL."""
        while True:
            handed_over = self._wake.wait(IDLE_TICK)
            self._wake.clear()
            if handed_over or self._closing:
                self._owner.acquire()
            elif time.monotonic() - self._ran < IDLE_TICK or not self._owner.acquire(blocking=False):
                continue
            try:
                if self._closing:
                    return
                self._loop.run_until_complete(self._drain())
            finally:
                self._ran = time.monotonic()
                self._owner.release()

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # one pass over what is ready: I/O, timers
        while True:
            if self._hopped:
                await asyncio.wait(list(self._hopped), return_when=asyncio.FIRST_COMPLETED)
                continue
            with self._count:
                if not self._hopping:
                    return
            await asyncio.sleep(0)  # a hand-over is on its way through the loop's wake-up pipe

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine of yours (using `self.aio`) on the console's loop and waits for it."""
        return self._run(coro)

    def _stop_service(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(5)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._run(self.aio.close())
            finally:
                self._stop_service()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the asyncio API, one blocking call each
    def broker(self, **kw: Any) -> Any:
        return self._run(self.aio.broker(**kw))

    def agents(self, refresh: bool = True, **kw: Any) -> list[AgentInfo]:
        if refresh:
            self._run(self.aio.refresh_agents(**kw))
        return self.aio.list_agents()

    def wait_for_agents(self, names: Any, timeout: float = 10.0) -> list[AgentInfo]:
        return self._run(self.aio.wait_for_agents(names, timeout))

    def packages(self, agent: str | None = None, **kw: Any) -> list[str]:
        return self._run(self.aio.packages(agent, **kw))

    def classes(self, package: str, agent: str | None = None, **kw: Any) -> Any:
        return self._run(self.aio.classes(package, agent, **kw))

    def schema(self, key: Any, agent: str | None = None, **kw: Any) -> Any:
        return self._run(self.aio.schema(key, agent, **kw))

    def find_class(self, name: str, package: str | None = None, agent: str | None = None, **kw: Any) -> Any:
        return self._run(self.aio.find_class(name, package, agent, **kw))

    def get_objects(self, agent: str | None = None, **kw: Any) -> list[QmfObject]:
        return self._run(self.aio.get_objects(agent, **kw))

    def call(self, obj: QmfObject, method: str, *args: Any, **kw: Any) -> dict[str, Any]:
        return self._run(self.aio.call(obj, method, *args, **kw))

    def follow(self, **kw: Any) -> None:
        self._run(self.aio.follow(**kw))

    def on_notice(self, callback: Callable[[Notice], Any]) -> None:
        """`callback` runs on whichever thread runs the loop (a caller's, or the service thread's);
        keep it short."""
        self._loop.call_soon_threadsafe(self.aio.on_notice, callback)

    @property
    def counters(self) -> Any:
        return self.aio.counters
