"""Assembles one running service from settings: database, bus, dispatcher, publisher, workers.

`rpmyard serve` builds a Yard; so do the tests. The embedded default and a distributed setup
differ only in the URLs given here, not in the code paths.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

from sqlalchemy import select

from rpmyard.builder.runner import RpmBuildRunner
from rpmyard.builder.sandbox import mock_available, sandbox_backend
from rpmyard.builder.target import host_arches
from rpmyard.builds.chroots import DEFAULT_CHROOTS
from rpmyard.builds.layout import Layout
from rpmyard.builds.rpm_build import RpmBuildHooks
from rpmyard.builds.service import RPM_BUILD, BuildService
from rpmyard.builds.sources import SourceFetcher
from rpmyard.config import Settings
from rpmyard.db.engine import Database, migrate
from rpmyard.db.models import MockChroot
from rpmyard.dispatch import kinds
from rpmyard.dispatch.bus import DISPATCH_QUEUE, make_bus
from rpmyard.dispatch.dispatcher import Dispatcher
from rpmyard.dispatch.events import EventRelay
from rpmyard.dispatch.worker import WorkerRuntime
from rpmyard.publish.lifecycle import Lifecycle
from rpmyard.publish.repodata import Publisher
from rpmyard.publish.signing import Keyring

log = logging.getLogger(__name__)


class Yard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        settings.spool_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        self.bus = make_bus(settings.broker_url)
        self.layout = Layout(settings.results_dir, settings.base_url)
        # Signing keys stay on this (the frontend) host: builders never see data_dir/keys.
        self.keyring = Keyring(settings.data_dir / "keys", urlsplit(settings.base_url).hostname or "localhost")
        self.publisher = Publisher(key_for=self.keyring.key_for_chroot, queue_dir=settings.data_dir / "publish-queue")
        self.builds = BuildService(self.layout, self.publisher, settings.default_timeout, settings.max_attempts,
                                   allow_private_urls=settings.allow_private_urls)
        self.rpm_hooks = RpmBuildHooks(self.db, self.layout, self.publisher, self.builds)
        self.publisher.on_done = self.rpm_hooks.on_published
        self.publisher.on_retry = self.rpm_hooks.on_publish_retry
        self.lifecycle = Lifecycle(self.db, self.layout, self.publisher)
        self.fetcher = SourceFetcher(self.db, self.builds, settings.spool_dir, settings.max_upload_mb * 1024 * 1024)
        self.dispatcher = Dispatcher(
            self.db, self.bus, settings.spool_dir, lease_seconds=settings.lease_seconds,
            max_per_owner=settings.max_running_per_owner, max_per_group=settings.max_running_per_project,
        )
        self.events = EventRelay(self.db, self.bus, gate=self.dispatcher.is_leader)
        self.workers: list[WorkerRuntime] = []
        kinds.register_server_hooks(RPM_BUILD, self.rpm_hooks)

    def init_db(self) -> None:
        migrate(self.db.engine)
        with self.db.session() as s:
            if s.scalar(select(MockChroot).limit(1)) is None:
                s.add_all(MockChroot(name=n, is_active=True) for n in DEFAULT_CHROOTS)

    def start(self, *, dispatcher: bool = True) -> None:
        """Start the background parts that need no HTTP server (call before serving).

        With ``dispatcher=False`` (a frontend whose dispatcher runs as `rpmyard dispatcher`), new
        work is announced on the bus instead, so the remote dispatcher reacts at once.
        """
        self.publisher.start()
        if dispatcher:
            self.dispatcher.start()
            self.events.start()
            self.rpm_hooks.resume_publishing()
            self.lifecycle.start()
        else:
            self.db.commit_listeners.append(self._wake_remote_dispatcher)
        self.fetcher.resume()

    def _wake_remote_dispatcher(self, info: dict[str, object]) -> None:
        if info.get("dispatch_wake"):
            self.bus.publish(DISPATCH_QUEUE, {"type": "wake"})

    def start_local_workers(self, slots: int) -> None:
        """Embedded builder slots: the same worker runtime `rpmyard worker` runs, over the local bus."""
        if slots <= 0:
            return
        worker = WorkerRuntime(
            name=f"{socket.gethostname()}-local",
            bus=self.bus,
            frontend_url=self.settings.base_url,
            runners=[RpmBuildRunner(self.settings.build_memory_mb)],
            slots=slots,
            arches=[*host_arches(), "noarch"],
            heartbeat_seconds=self.settings.heartbeat_seconds,
            workroot=self.settings.data_dir / "work",
            hide_paths=[self.settings.data_dir],
            extra_inventory={"sandbox": sandbox_backend(), "mock": mock_available()},
            token=self.settings.worker_token,
        )
        worker.start()
        self.workers.append(worker)

    def stop(self) -> None:
        """Stop every part once (the HTTP server's shutdown and `serve`'s exit may both call it)."""
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        for w in self.workers:
            w.stop()
        self.dispatcher.stop()
        self.events.stop()
        self.lifecycle.stop()
        self.publisher.stop()
        self.keyring.close()
        self.bus.close()
        self.db.engine.dispose()
        self.db.read_engine.dispose()
