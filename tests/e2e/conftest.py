from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qmf_env import QmfEnv


@pytest.fixture(scope="module")
def qmf_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QmfEnv]:
    """A vhost with the broker role and two example agents (demo1, demo2) running."""
    env = QmfEnv(Path(tmp_path_factory.mktemp("qmf")))
    try:
        env.start_broker_role()
        env.start_agent("demo1")
        env.start_agent("demo2")
        yield env
    finally:
        env.close()


@pytest.fixture()
def fresh_env(tmp_path: Path) -> Iterator[QmfEnv]:
    """An empty vhost of the test's own (start what it needs)."""
    env = QmfEnv(tmp_path)
    try:
        yield env
    finally:
        env.close()
