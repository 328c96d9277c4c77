"""Unit-test fixtures: ``db``, a fresh database per test (SQLite, or PostgreSQL with
``RPMYARD_TEST_DB=postgresql``), migrated as ``rpmyard serve`` migrates it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rpmyard.db.engine import Database, migrate
from tests.support.server import scratch_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with scratch_database(tmp_path) as url:
        database = Database(url)
        migrate(database.engine)
        try:
            yield database
        finally:
            database.engine.dispose()
