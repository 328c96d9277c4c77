"""Leadership: only one dispatcher assigns tasks at a time; a standby takes over when it dies.

On PostgreSQL a session advisory lock held on a dedicated connection (released by the server
the moment that process or its connection dies); on SQLite, where everything shares one host,
an exclusive lock on a file next to the database.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)
LOCK_KEY = 0x7270_6D79  # "rpmy"


class Leadership:
    def __init__(self, engine: Engine, lock_file: Path) -> None:
        self.engine = engine
        self.lock_file = lock_file
        self._conn: Any = None
        self._fh: IO[str] | None = None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if self.postgres:
            conn = self.engine.connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.lock_file, "a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    def acquire(self, stop: threading.Event, poll: float = 1.0) -> bool:
        """Block until leader (True) or until ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            if self.try_acquire():
                log.info("this dispatcher is the leader")
                return True
            if not announced:
                log.info("another dispatcher leads; standing by")
                announced = True
            stop.wait(poll)
        return False

    def still_held(self) -> bool:
        """False once the PostgreSQL connection holding the lock is gone (the lock went with it)."""
        if not self.postgres:
            return self._fh is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            log.error("lost the connection that holds dispatcher leadership")
            self._conn = None
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
