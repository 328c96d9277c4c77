"""Events for the outside world, through an outbox: committed with the change they describe,
then relayed to the bus's topic exchange (``rpmyard.events`` on RabbitMQ), at least once.

Consumers (pika, fedora-messaging) bind a queue to routing keys such as ``rpmyard.build.end``
or ``rpmyard.#``; each event carries its outbox ``id`` so a consumer can drop duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.db.engine import Database
from rpmyard.dispatch.bus import Bus
from rpmyard.dispatch.models import OutboxEvent

log = logging.getLogger(__name__)

EXCHANGE = "rpmyard.events"
PREFIX = "rpmyard."
#: How long the relay waits after the first new event for others to join it in one batch.
COALESCE_SECONDS = 0.05


def emit(session: Session, topic: str, body: dict[str, Any]) -> None:
    """Queue an event in the caller's transaction; ``topic`` like ``build.end``."""
    session.add(OutboxEvent(topic=PREFIX + topic, body=body, created_on=time.time()))
    session.info["events"] = True


class EventRelay:
    """Moves committed events from the outbox to the bus, oldest first."""

    def __init__(self, db: Database, bus: Bus, batch: int = 200, gate: threading.Event | None = None) -> None:
        self.db = db
        self.gate = gate  # relay only while this is set (the dispatcher's leadership)
        self.bus = bus
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-relay", daemon=True)

    def start(self) -> None:
        self.db.commit_listeners.append(lambda info: self._wake.set() if info.get("events") else None)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(1.0):
                # Events come in bursts (a build's state changes, many builds at once): gather
                # them into one transaction rather than one each; consumers wait at most this.
                self._stop.wait(COALESCE_SECONDS)
            self._wake.clear()
            if self.gate is not None and not self.gate.is_set():
                continue
            try:
                while self.relay_once() == self.batch:
                    pass
            except Exception:
                log.exception("event relay failed; retrying")
                time.sleep(1.0)

    def relay_once(self) -> int:
        with self.db.session() as s:
            rows = s.scalars(select(OutboxEvent).where(OutboxEvent.published_on.is_(None))
                             .order_by(OutboxEvent.id).limit(self.batch)).all()
            for ev in rows:
                self.bus.publish_event(ev.topic, {"id": ev.id, "topic": ev.topic, "timestamp": ev.created_on,
                                                  **ev.body})
                ev.published_on = time.time()
            return len(rows)
