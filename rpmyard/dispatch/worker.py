"""The worker runtime: the same code for the embedded slots of `rpmyard serve` and `rpmyard worker`.

It registers its inventory on the bus, heartbeats the leases it holds, runs each assigned task in
its own thread with the kind's runner, streams logs and uploads files to the frontend over HTTP
with the task's lease token, and ends every task with a ``done`` message (code and text).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from rpmyard.dispatch.bus import DISPATCH_QUEUE, Bus, Message, worker_queue
from rpmyard.dispatch.kinds import Outcome, Runner, TaskContext

log = logging.getLogger(__name__)


class LogStreamer:
    """Buffers a task's log output and ships it in chunks, so a chatty build is not one POST a line."""

    def __init__(self, send: Any, interval: float = 0.3, max_chunk: int = 256 * 1024) -> None:
        self._send = send
        self._buf: dict[str, bytearray] = {}
        self._offsets: dict[str, int] = {}
        self._lock = threading.Lock()
        self._interval = interval
        self._max_chunk = max_chunk
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="log-streamer")
        self._thread.start()

    def write(self, data: bytes, stream: str) -> None:
        with self._lock:
            self._buf.setdefault(stream, bytearray()).extend(data)
            large = len(self._buf[stream]) >= self._max_chunk
        if large:
            self.flush()

    def flush(self) -> None:
        """Ship what every stream gathered, in one call: ``send([(stream, offset, data), ...])``."""
        with self._lock:
            pending = {k: bytes(v) for k, v in self._buf.items() if v}
            for k in pending:
                self._buf[k].clear()
        if not pending:
            return
        chunks = [(stream, self._offsets.get(stream, 0), data) for stream, data in pending.items()]
        try:
            self._send(chunks)
        except Exception as exc:  # the build goes on; the log shows the gap
            log.warning("could not ship %d log bytes: %s", sum(len(c[2]) for c in chunks), exc)
        for stream, offset, data in chunks:
            self._offsets[stream] = offset + len(data)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


class WorkerRuntime:
    def __init__(
        self,
        *,
        name: str,
        bus: Bus,
        frontend_url: str | None,
        runners: list[Runner],
        slots: int,
        arches: list[str],
        heartbeat_seconds: float,
        workroot: Path | None = None,
        hide_paths: list[Path] | None = None,
        extra_inventory: dict[str, Any] | None = None,
        token: str = "",
    ) -> None:
        self.name = name
        self.bus = bus
        # None: no frontend (tasks that need no uploads, as in the dispatcher's own tests); logs are dropped.
        self.frontend_url = frontend_url.rstrip("/") if frontend_url else None
        self.runners = {r.kind: r for r in runners}
        self.slots = slots
        self.arches = arches
        self.heartbeat_seconds = heartbeat_seconds
        self.workroot = workroot or Path(tempfile.gettempdir()) / f"rpmyard-worker-{os.getpid()}"
        self.hide_paths = hide_paths or []
        self.extra_inventory = extra_inventory or {}
        self.http_patience = 300.0
        self.token = token  # the frontend's worker token, if it requires one
        self.draining = False
        self.drain_requested = threading.Event()
        self._tasks: dict[int, tuple[str, threading.Event]] = {}  # id -> (token, cancel)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))

    # -- inventory and heartbeats ------------------------------------------------------------
    def inventory(self) -> dict[str, Any]:
        usage = shutil.disk_usage(self.workroot if self.workroot.exists() else Path(tempfile.gettempdir()))
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return {
            "host": socket.gethostname(),
            "arches": self.arches,
            "slots": self.slots,
            "cpus": os.cpu_count() or 1,
            "memory_mb": mem // (1024 * 1024),
            "disk_free_mb": usage.free // (1024 * 1024),
            "os": platform.platform(),
            "kinds": {kind: r.version for kind, r in self.runners.items()},
            **self.extra_inventory,
        }

    def _beat(self, kind: str) -> None:
        with self._lock:
            held = {str(tid): token for tid, (token, _) in self._tasks.items()}
        msg: Message = {"type": kind, "worker": self.name, "tasks": held, "draining": self.draining}
        if kind == "hello":
            msg["inventory"] = self.inventory()
        self.bus.publish(DISPATCH_QUEUE, msg)

    def start(self) -> None:
        self.workroot.mkdir(parents=True, exist_ok=True)
        self.bus.consume(worker_queue(self.name), self.handle)
        self._beat("hello")
        threading.Thread(target=self._heartbeat_loop, name=f"heartbeat:{self.name}", daemon=True).start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self._beat("heartbeat")
            except Exception:
                log.exception("heartbeat failed")

    def drain(self) -> None:
        """Finish what runs, take nothing new."""
        self.draining = True
        self.drain_requested.set()
        self._beat("heartbeat")

    def busy(self) -> int:
        with self._lock:
            return len(self._tasks)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for _, cancel in self._tasks.values():
                cancel.set()
        try:
            self.bus.publish(DISPATCH_QUEUE, {"type": "bye", "worker": self.name})
        except Exception:
            pass

    # -- messages ----------------------------------------------------------------------------
    def handle(self, msg: Message) -> None:
        if msg.get("type") == "assign":
            task_id = int(msg["task_id"])
            if self.draining or self._stop.is_set():
                # Hand it straight back rather than let it wait for a lease to expire.
                self.bus.publish(DISPATCH_QUEUE, {"type": "reject", "task_id": task_id, "token": msg["token"],
                                                  "worker": self.name})
                return
            with self._lock:
                if task_id in self._tasks:
                    return  # a redelivered assignment of a task already running here
                self._tasks[task_id] = (str(msg["token"]), threading.Event())
            threading.Thread(target=self._run_task, args=(msg,), name=f"task:{task_id}", daemon=True).start()
        elif msg.get("type") == "drain":  # from `rpmyard worker --drain --name NAME`
            self.drain()
        elif msg.get("type") == "cancel":
            with self._lock:
                entry = self._tasks.get(int(msg["task_id"]))
            if entry and entry[0] == msg.get("token"):
                entry[1].set()

    def _retrying(self, call: Any, cancel: threading.Event) -> Any:
        """Ride out a frontend restart or a network blip: retry transport errors and 5xx answers
        for up to ``http_patience`` seconds. A 4xx (a refused lease, a bad request) is final."""
        deadline = time.monotonic() + self.http_patience
        delay = 0.2
        while True:
            try:
                result = call()
                if not (isinstance(result, httpx.Response) and result.status_code >= 500):
                    return result
                problem = f"HTTP {result.status_code}"
            except httpx.TransportError as exc:
                problem = str(exc) or type(exc).__name__
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    raise
                problem = f"HTTP {exc.response.status_code}"
            if time.monotonic() + delay > deadline or self._stop.is_set():
                raise RuntimeError(f"frontend unreachable for {self.http_patience:.0f} s: {problem}")
            log.warning("frontend call failed (%s); retrying in %.1f s", problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _run_task(self, msg: Message) -> None:
        task_id, token = int(msg["task_id"]), str(msg["token"])
        cancel = self._tasks[task_id][1]
        headers = {"X-Task-Token": token, **({"X-Worker-Token": self.token} if self.token else {})}
        base = f"{self.frontend_url}/api/worker/tasks/{task_id}"
        workdir = self.workroot / f"task-{task_id}-{msg['attempt']}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)

        def send_log(chunks: list[tuple[str, int, bytes]]) -> None:
            if self.frontend_url is None:
                return
            params = {"stream": [c[0] for c in chunks], "offset": [c[1] for c in chunks],
                      "length": [len(c[2]) for c in chunks]}
            body = b"".join(c[2] for c in chunks)
            r = self._retrying(lambda: self._http.post(f"{base}/log", params=params, content=body,
                                                       headers=headers), cancel)
            r.raise_for_status()

        def upload(path: Path, name: str) -> None:
            def put() -> httpx.Response:
                with open(path, "rb") as fh:
                    return self._http.put(f"{base}/files/{name}", content=fh, headers=headers)

            r = self._retrying(put, cancel)
            if r.status_code != 200:
                raise RuntimeError(f"upload of {name} refused: {r.status_code} {r.text[:200]}")

        def download(url: str, dest: Path, max_bytes: int) -> None:
            def get() -> None:
                got = 0
                with self._http.stream("GET", url) as r, open(dest, "wb") as fh:
                    r.raise_for_status()
                    for chunk in r.iter_bytes(1024 * 1024):
                        got += len(chunk)
                        if got > max_bytes:
                            raise RuntimeError(f"{url} is larger than {max_bytes} bytes")
                        fh.write(chunk)

            self._retrying(get, cancel)

        streamer = LogStreamer(send_log)

        def progress(text: str) -> None:
            self.bus.publish(DISPATCH_QUEUE, {"type": "progress", "task_id": task_id, "token": token,
                                              "text": text})

        ctx = TaskContext(
            worker=self.name, task_id=task_id, attempt=int(msg["attempt"]), payload=msg["payload"], workdir=workdir,
            cancel=cancel, log=streamer.write, upload=upload, download=download, progress=progress,
            hide_paths=self.hide_paths,
        )
        self.bus.publish(DISPATCH_QUEUE, {"type": "started", "task_id": task_id, "token": token,
                                          "worker": self.name})
        started = time.monotonic()
        try:
            runner = self.runners.get(str(msg["kind"]))
            if runner is None:
                outcome = Outcome(1, f"this worker has no runner for {msg['kind']!r}")
            else:
                outcome = runner.run(ctx)
        except Exception as exc:
            log.exception("task %s crashed", task_id)
            outcome = Outcome(1, f"worker error: {exc}")
        if cancel.is_set() and outcome.code == 0:
            outcome = Outcome(2, "canceled")
        streamer.write(f"\n[rpmyard] task finished in {time.monotonic() - started:.1f} s: "
                       f"{outcome.text or 'success'}\n".encode(), "backend")
        streamer.close()
        self.bus.publish(DISPATCH_QUEUE, {"type": "done", "task_id": task_id, "token": token,
                                          "code": outcome.code, "text": outcome.text})
        with self._lock:
            self._tasks.pop(task_id, None)
        shutil.rmtree(workdir, ignore_errors=True)
