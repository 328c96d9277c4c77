"""The audit log: one line per call, written to its file before the call's reply leaves.

A line made on the event loop (the AMQP interface's calls) waits in a buffer until the end of the
loop's current turn, so a burst of calls (a fan-out reaching many minions of one process, a
pipelined client) costs one write, not one per call. The flush is scheduled with the first line
of the turn, before the transport schedules its own socket write for the replies of that turn,
so no reply is sent before its audit line is written. A line made in a worker thread or in the
XML-RPC server is written at once. Without a file, lines go to the `func.audit` logger.

The line format is what func's audit log and `logging`'s `%(asctime)s %(message)s` gave:
`2026-12-02 16:41:09,673 <address> <CN> <ACL key> <method> called with (...) -> ok in 0.1 ms (amqp)`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import IO

log = logging.getLogger("func.audit")


class AuditLog:
    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open as long as the minion runs
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._second = -1
        self._second_text = ""

    def write(self, message: str) -> None:
        if self._file is None:
            log.info("%s", message)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            line = f"{self._stamp()} {message}\n"
            if loop is None:
                self._file.write(line)
                self._file.flush()
                return
            self._pending.append(line)
            if len(self._pending) > 1:
                return
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            if self._file is None or not self._pending:
                return
            self._file.write("".join(self._pending))
            self._pending.clear()
            self._file.flush()

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:  # strftime once a second
            self._second, self._second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._second_text},{int((now - second) * 1000):03d}"
