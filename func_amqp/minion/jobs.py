"""Jobs on a minion: async calls (func's `async.module.method`) and the progress of every call.

func forked twice per async call and kept results in a shelve file; here a job is a thread of
the minion process, its record lives in memory for `RETAIN` seconds after it ends (func's
retention), and its progress and output are kept as they are reported, so `jobs.get_progress`
and `jobs.tail_output` answer while it runs and listeners (the AMQP interface) can publish each
step live. Status codes are func's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JOB_ID_RUNNING = 0
JOB_ID_FINISHED = 1
JOB_ID_LOST_IN_SPACE = 2
JOB_ID_PARTIAL = 3
JOB_ID_REMOTE_ERROR = 4

RETAIN = 3600.0
MAX_OUTPUT_LINES = 2000

Listener = Callable[["Job", str, Any], None]  # (job, kind, data); kinds: started progress output result


@dataclass
class Job:
    job_id: str
    method: str
    started: float = field(default_factory=time.time)
    status: int = JOB_ID_RUNNING
    result: Any = -1
    progress: tuple[int, int] = (0, 0)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_OUTPUT_LINES))
    ended: float | None = None
    listeners: list[Listener] = field(default_factory=list)


class JobStore:
    """Thread-safe: module code reports from worker threads."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._last_id = 0.0

    def new(self, method: str, job_id: str | None = None, listeners: list[Listener] | None = None) -> Job:
        with self._lock:
            self._purge()
            if job_id is None:
                ts = max(time.time(), self._last_id + 1e-6)  # unique even for two jobs in one microsecond
                self._last_id = ts
                job_id = f"{ts!r}-minion"
            job = Job(job_id, method, listeners=list(listeners or []))
            self._jobs[job_id] = job
        self.emit(job, "started", method)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def emit(self, job: Job, kind: str, data: Any) -> None:
        if kind == "progress":
            job.progress = data
        elif kind == "output":
            job.output.append(data)
        for listener in list(job.listeners):
            with contextlib.suppress(Exception):  # a listener (a publisher) must never break the job
                listener(job, kind, data)

    def finish(self, job: Job, result: Any, remote_error: bool = False) -> None:
        job.result = result
        job.status = JOB_ID_REMOTE_ERROR if remote_error else JOB_ID_FINISHED
        job.ended = time.time()
        self.emit(job, "result", result)

    def status(self, job_id: str) -> list[Any]:
        """func's `jobs.job_status`: [code, result]."""
        job = self.get(job_id)
        if job is None:
            return [JOB_ID_LOST_IN_SPACE, -1]
        return [job.status, job.result]

    def ids(self) -> dict[str, int]:
        with self._lock:
            return {j.job_id: j.status for j in self._jobs.values()}

    def _purge(self) -> None:
        now = time.time()
        for jid in [j.job_id for j in self._jobs.values() if j.ended is not None and now - j.ended > RETAIN]:
            del self._jobs[jid]


STORE = JobStore()  # the process's jobs; the `jobs` module reads it
