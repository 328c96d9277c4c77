"""The publisher: requests to update a chroot's repodata, batched per chroot, run by worker threads.

Many builds finishing together queue many requests for one chroot; while a run for that chroot is
in progress new requests pile up, and the next run takes them all: one metadata rewrite for the
whole burst. Different chroots are published in parallel (``threads``); one chroot never by two
threads at once, and the chroot's file lock (``engine.chroot_lock``) keeps other processes out too.

Requests are also written to ``queue_dir`` (one small file per chroot) and removed once done, so a
restart finishes what a crash interrupted, deletions included. A run that fails for a passing
reason (full disk, gpg trouble) is retried with backoff for ``retry_seconds``; meanwhile
``on_retry`` tells the requesters why they wait, and only then does ``on_done`` report the error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

from rpmyard.publish.engine import KeyFor, PublishError, PublishResult, publish_chroot
from rpmyard.publish.usage import refresh_usage

log = logging.getLogger(__name__)

# on_done(chroot_dir, tokens, error): error None means every token's build is in the repodata.
Done = Callable[[Path, list[Hashable], str | None], None]


@dataclass
class _Work:
    tokens: list[tuple[Hashable, str | None]] = field(default_factory=list)
    hints: set[str] = field(default_factory=set)
    full: bool = False
    attempts: int = 0
    first_failure: float | None = None
    not_before: float = 0.0


class Publisher:
    """Background publishing of chroot directories, batched per chroot."""

    def __init__(self, on_done: Done | None = None, *, key_for: KeyFor | None = None,
                 queue_dir: Path | None = None, threads: int = 2, retry_seconds: float = 600.0) -> None:
        self.on_done = on_done
        self.on_retry: Done | None = None
        self.key_for = key_for
        self.queue_dir = queue_dir
        self.retry_seconds = retry_seconds
        self.runs = 0                      # metadata generations written (a figure for benchmarks)
        self.last_result: dict[Path, PublishResult] = {}
        self._pending: dict[Path, _Work] = {}
        self._busy: set[Path] = set()
        self._usage_dirty: set[Path] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._threads = [threading.Thread(target=self._run, name=f"publisher-{i}", daemon=True)
                         for i in range(max(1, threads))]
        if queue_dir is not None:
            queue_dir.mkdir(parents=True, exist_ok=True)

    # -- API ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the threads, first re-queuing what a previous process left unfinished."""
        if self.queue_dir is not None:
            for leftover in self.queue_dir.glob("*.tmp"):  # a write cut short by a crash
                leftover.unlink(missing_ok=True)
            for entry in sorted(self.queue_dir.glob("*.req")):
                try:
                    path, _, flags = entry.read_text().partition("\n")
                except OSError:
                    continue
                if path:
                    self.request(Path(path), full="full" in flags)
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=30)

    def request(self, chroot_dir: Path, token: Hashable | None = None, *, build_dir: str | None = None,
                full: bool = False) -> None:
        """Ask for ``chroot_dir`` to be published. ``build_dir``: the directory the token waits for."""
        self._persist(chroot_dir, full)
        with self._cond:
            work = self._pending.setdefault(chroot_dir, _Work())
            if token is not None:
                work.tokens.append((token, build_dir))
            if build_dir:
                work.hints.add(build_dir)
            work.full = work.full or full
            work.not_before = 0.0  # something new: do not wait out a backoff
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy

    def wait_idle(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.01)
        return self.idle()

    # -- persistence -------------------------------------------------------------------------------------
    def _queue_file(self, chroot_dir: Path) -> Path | None:
        if self.queue_dir is None:
            return None
        return self.queue_dir / (hashlib.sha1(str(chroot_dir).encode()).hexdigest() + ".req")

    def _persist(self, chroot_dir: Path, full: bool) -> None:
        path = self._queue_file(chroot_dir)
        if path is None:
            return
        try:
            if full or not path.exists():
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(f"{chroot_dir}\n{'full' if full else ''}")
                os.replace(tmp, path)
        except OSError as exc:  # a full disk must not stop the request itself
            log.warning("could not record the publish request for %s: %s", chroot_dir, exc)

    def _unpersist(self, chroot_dir: Path) -> None:
        path = self._queue_file(chroot_dir)
        if path is not None:
            path.unlink(missing_ok=True)

    # -- the threads -------------------------------------------------------------------------------------
    def _take(self) -> tuple[Path, _Work] | None:
        """Under the condition: the oldest pending chroot nobody is publishing and not backing off."""
        now = time.monotonic()
        for chroot_dir, work in self._pending.items():
            if chroot_dir not in self._busy and work.not_before <= now:
                del self._pending[chroot_dir]
                self._busy.add(chroot_dir)
                return chroot_dir, work
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    taken = self._take()
                    if taken is not None:
                        break
                    if not self._pending and not self._busy and self._usage_dirty:
                        break
                    waits = [w.not_before - time.monotonic() for p, w in self._pending.items()
                             if p not in self._busy]
                    self._cond.wait(timeout=max(0.05, min(waits)) if waits else None)
                if taken is None:
                    dirty, self._usage_dirty = self._usage_dirty, set()
            if taken is None:
                for project_dir in dirty:
                    refresh_usage(project_dir)
                continue
            chroot_dir, work = taken
            try:
                self._publish(chroot_dir, work)
            finally:
                with self._cond:
                    self._busy.discard(chroot_dir)
                    self._cond.notify_all()

    def _publish(self, chroot_dir: Path, work: _Work) -> None:
        try:
            result = publish_chroot(chroot_dir, self.key_for, hints=work.hints, full=work.full)
        except PublishError as exc:
            if "does not exist" in str(exc) and not chroot_dir.parent.exists():
                self._unpersist(chroot_dir)  # the project is gone: nothing to publish, nobody to tell
                self._report(self.on_done, chroot_dir, [t for t, _ in work.tokens], None)
                return
            self._failed(chroot_dir, work, exc)
            return
        except Exception as exc:  # a bug must not kill the thread; report it like any failure
            log.exception("publishing %s crashed", chroot_dir)
            self._failed(chroot_dir, work, PublishError(f"{type(exc).__name__}: {exc}", retryable=False))
            return
        with self._cond:
            if result.wrote:
                self.runs += 1
            self.last_result[chroot_dir] = result
            if chroot_dir not in self._pending:
                self._unpersist(chroot_dir)
            self._usage_dirty.add(chroot_dir.parent)
        log.info("published %s: revision %d, %d packages, +%d/-%d build dirs%s in %.3f s", chroot_dir,
                 result.revision, result.packages, result.added, result.removed,
                 f", {len(result.rejected)} rejected" if result.rejected else "", result.seconds)
        for name, reason in result.rejected.items():
            log.warning("kept %s out of %s: %s", name, chroot_dir, reason)
        ok = [t for t, d in work.tokens if d not in result.rejected]
        self._report(self.on_done, chroot_dir, ok, None)
        for token, d in work.tokens:
            if d in result.rejected:
                self._report(self.on_done, chroot_dir, [token], result.rejected[d])

    def _failed(self, chroot_dir: Path, work: _Work, exc: PublishError) -> None:
        now = time.monotonic()
        work.attempts += 1
        work.first_failure = work.first_failure or now
        tokens = [t for t, _ in work.tokens]
        if exc.retryable and now - work.first_failure < self.retry_seconds:
            delay = min(30.0, 0.5 * 2 ** min(work.attempts, 6))
            log.warning("publishing %s failed (attempt %d), retrying in %.0f s: %s",
                        chroot_dir, work.attempts, delay, exc)
            self._report(self.on_retry, chroot_dir, tokens, f"{exc} (retrying)")
            with self._cond:
                merged = self._pending.pop(chroot_dir, None)
                if merged is not None:  # requests that came in meanwhile join the retry
                    work.tokens += merged.tokens
                    work.hints |= merged.hints
                    work.full = work.full or merged.full
                work.not_before = now + delay
                self._pending[chroot_dir] = work
                self._cond.notify_all()
            return
        log.error("publishing %s failed: %s", chroot_dir, exc)
        with self._cond:
            if chroot_dir not in self._pending:
                self._unpersist(chroot_dir)
        self._report(self.on_done, chroot_dir, tokens, str(exc))

    @staticmethod
    def _report(callback: Done | None, chroot_dir: Path, tokens: list[Hashable], error: str | None) -> None:
        if callback is None:
            return
        try:
            callback(chroot_dir, tokens, error)
        except Exception:
            log.exception("publish callback failed for %s", chroot_dir)

