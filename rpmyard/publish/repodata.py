"""Repodata updates, batched per chroot directory and serialized by a lock file.

Many builds finishing together queue many requests for one directory; the publisher thread
collapses them into one ``createrepo_c --update`` run, then tells every requester it is done.
The lock file keeps two processes (or a `regenerate-repos` and a build) from racing on one repo.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import threading
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Done = Callable[[Path, list[Hashable], str | None], None]

CREATEREPO = [
    "createrepo_c",
    "--update",
    "--no-database",
    "--general-compress-type=gz",
    "--excludes=*.src.rpm",
    "--quiet",
]


@contextmanager
def repo_lock(chroot_dir: Path) -> Any:
    chroot_dir.mkdir(parents=True, exist_ok=True)
    with open(chroot_dir / ".publish.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def createrepo(chroot_dir: Path) -> None:
    """Bring ``chroot_dir/repodata`` in line with the RPMs below it. Raises RuntimeError on failure."""
    with repo_lock(chroot_dir):
        proc = subprocess.run(
            [*CREATEREPO, str(chroot_dir)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"createrepo_c failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


class Publisher:
    """A background thread that publishes requested chroot directories, in batches."""

    def __init__(self, on_done: Done | None = None) -> None:
        self.on_done = on_done
        self._pending: dict[Path, list[Hashable]] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def request(self, chroot_dir: Path, token: Hashable | None = None) -> None:
        with self._cond:
            tokens = self._pending.setdefault(chroot_dir, [])
            if token is not None:
                tokens.append(token)
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                chroot_dir, tokens = next(iter(self._pending.items()))
                del self._pending[chroot_dir]
                self._busy = True
            error: str | None = None
            try:
                createrepo(chroot_dir)
            except Exception as exc:
                log.exception("publishing %s failed", chroot_dir)
                error = str(exc)
            if self.on_done is not None:
                try:
                    self.on_done(chroot_dir, tokens, error)
                except Exception:
                    log.exception("publish callback failed for %s", chroot_dir)
            with self._cond:
                self._busy = False
