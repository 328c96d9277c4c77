"""A blocking facade over the asyncio console, for scripts: the same implementation, run on an
event loop in a background thread; each call hops onto that loop and waits for its result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from . import console as _console
from .console import AgentInfo, Notice, QmfObject
from .transport import DEFAULT_URL

T = TypeVar("T")


class Console:
    """`qmf.console.Console`, blocking. Use as a context manager or call `close()`."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 10.0, discover: bool = True, **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="qmf-console", daemon=True)
        self._thread.start()
        try:
            self.aio: _console.Console = self._run(self._make(url, kw))
            self._run(self.aio.start(timeout, discover=discover))
        except BaseException:
            self._stop_loop()
            raise

    async def _make(self, url: str, kw: dict[str, Any]) -> _console.Console:
        return _console.Console(url, **kw)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs `coro` as a task on the loop and blocks until it ends. A bare lock is the hand-off
        (`run_coroutine_threadsafe` chains a concurrent future with a condition variable, about
        twice the CPU per call); if the wait is interrupted (Ctrl-C), the task is cancelled."""
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise RuntimeError("a blocking qmf.sync call from the console's own thread would wait forever")
        done = threading.Lock()
        done.acquire()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self._loop.create_task(coro)
            tasks.append(task)
            task.add_done_callback(lambda _t: done.release())

        self._loop.call_soon_threadsafe(start)
        try:
            done.acquire()
        except BaseException:
            self._loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise
        return tasks[0].result()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine of yours (using `self.aio`) on the console's loop and waits for it."""
        return self._run(coro)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._run(self.aio.close())
            finally:
                self._stop_loop()

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
        """`callback` runs on the console's thread; keep it short."""
        self._loop.call_soon_threadsafe(self.aio.on_notice, callback)

    @property
    def counters(self) -> Any:
        return self.aio.counters
