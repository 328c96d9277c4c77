"""Engines and sessions. SQLite gets WAL and a busy timeout so builder threads and the API share it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, readonly: bool = False) -> Engine:
    """An engine; on SQLite, ``readonly`` engines begin deferred transactions that never block
    on writers (WAL), while the write engine takes the write lock up front."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front: no deadlock between two upgrading readers.
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; `serve` runs it at start)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    """Holds the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        sqlite = self.engine.dialect.name == "sqlite"
        self.read_engine = make_engine(url, readonly=True) if sqlite else self.engine
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        # Called with ``session.info`` after each commit: how the dispatcher learns of new work.
        self.commit_listeners: list[Callable[[dict[str, Any]], None]] = []

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """For requests that only read: on SQLite they then never wait for the write lock."""
        with self.read_sessions() as s:
            try:
                yield s
            finally:
                s.rollback()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                for undo in s.info.get("on_rollback", []):
                    undo()  # e.g. remove files written for rows that were never committed
                raise
            info = dict(s.info)
        for callback in info.get("after_commit", []):
            callback()
        for listener in self.commit_listeners:
            listener(info)
