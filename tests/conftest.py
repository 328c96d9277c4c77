"""Shared fixtures: a real server per test module, copr-cli users and their API clients, SRPMs built
from the test specs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import api_client
from tests.support.coprcli import CoprCli, copr_cli_path
from tests.support.server import Server, running_server
from tests.support.srpms import make_srpm


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def copr_cli_exe() -> Path:
    return copr_cli_path()


def make_cli(server: Server, name: str, exe: Path, tmp: Path) -> CoprCli:
    config = tmp / f"copr-{name}"
    config.write_text(server.add_user(name))
    return CoprCli(exe, config)


@pytest.fixture(scope="module")
def alice(server: Server, copr_cli_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> CoprCli:
    return make_cli(server, "alice", copr_cli_exe, tmp_path_factory.mktemp("alice"))


@pytest.fixture(scope="module")
def bob(server: Server, copr_cli_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> CoprCli:
    return make_cli(server, "bob", copr_cli_exe, tmp_path_factory.mktemp("bob"))


@pytest.fixture(scope="module")
def alice_api(server: Server, alice: CoprCli) -> Iterator[httpx.Client]:
    with api_client(server, alice.config.read_text()) as client:
        yield client


@pytest.fixture(scope="module")
def bob_api(server: Server, bob: CoprCli) -> Iterator[httpx.Client]:
    with api_client(server, bob.config.read_text()) as client:
        yield client


@pytest.fixture(scope="session")
def srpm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srpms")


@pytest.fixture(scope="session")
def srpms(srpm_dir: Path) -> dict[str, Path]:
    """One SRPM per test spec, built once per session."""
    names = ["hello-noarch", "hello-c", "multi-sub", "fails", "net-reach"]
    return {n: make_srpm(n, srpm_dir) for n in names}
