"""The distributed setup: `rpmyard serve` with RabbitMQ and no local slots, builds done by
separate `rpmyard worker` processes that hold no database credentials."""

from __future__ import annotations

import configparser
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.rabbit import rabbit_vhost
from tests.support.server import Server, running_server
from tests.support.srpms import make_srpm
from tests.support.workers import WorkerProcess

CHROOT = "fedora-43-x86_64"


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    with rabbit_vhost() as url:
        yield url


@pytest.fixture(scope="module")
def dist_server(tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("dist"), RPMYARD_BROKER_URL=broker,
                        RPMYARD_LEASE_SECONDS="3", RPMYARD_HEARTBEAT_SECONDS="0.5") as srv:
        yield srv


@pytest.fixture(scope="module")
def api(dist_server: Server) -> Iterator[httpx.Client]:
    cfg = configparser.ConfigParser()
    cfg.read_string(dist_server.add_user("dana"))
    with httpx.Client(base_url=dist_server.url, auth=(cfg["copr-cli"]["login"], cfg["copr-cli"]["token"]),
                      timeout=60) as client:
        client.post("/api_3/project/add/dana", json={"name": "dist", "chroots": [CHROOT]}).raise_for_status()
        yield client


def submit(api: httpx.Client, srpm: Path) -> int:
    data = {"ownername": "dana", "projectname": "dist", "chroots": [CHROOT]}
    with open(srpm, "rb") as fh:
        r = api.post("/api_3/build/create/upload", files={"json": ("json", json.dumps(data), "application/json"),
                                                          "pkgs": (srpm.name, fh, "application/x-rpm")})
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def wait_state(api: httpx.Client, build_id: int, states: tuple[str, ...], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/api_3/build/{build_id}").json()["state"]
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} did not reach {states}; last state {state}")


def test_remote_worker_builds_over_rabbitmq(dist_server: Server, api: httpx.Client, broker: str,
                                            tmp_path: Path) -> None:
    assert "0 local builder slots" in dist_server.log_text()
    w = WorkerProcess("remote-a", broker, dist_server.url, tmp_path)
    try:
        build_id = submit(api, make_srpm("hello-noarch", tmp_path / "s"))
        assert wait_state(api, build_id, ("succeeded", "failed")) == "succeeded"
        result = dist_server.data_dir / "results/dana/dist" / CHROOT / f"{build_id:08d}-hello-noarch"
        assert (result / "hello-noarch-1.0-1.fc43.noarch.rpm").is_file()
        assert "remote-a" in (result / "backend.log").read_text() or (result / "builder-live.log").stat().st_size
    finally:
        w.stop()


def test_killed_worker_build_is_requeued_and_succeeds_elsewhere(dist_server: Server, api: httpx.Client,
                                                                broker: str, tmp_path: Path) -> None:
    slow = make_srpm("slow", tmp_path / "s", defines={"sleep_seconds": "6"})
    doomed = WorkerProcess("doomed", broker, dist_server.url, tmp_path)
    try:
        build_id = submit(api, slow)
        assert wait_state(api, build_id, ("running",), timeout=60) == "running"
        time.sleep(1)
        doomed.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        rescuer = WorkerProcess("rescuer", broker, dist_server.url, tmp_path)
        try:
            assert wait_state(api, build_id, ("succeeded", "failed"), timeout=120) == "succeeded"
        finally:
            rescuer.stop()
        # lease 3 s + the 6 s build + start-up: well under a minute, not Koji's 15.
        assert time.monotonic() - killed_at < 40
        built = api.get(f"/api_3/build/built-packages/{build_id}").json()
        assert [p["name"] for p in built[CHROOT]["packages"]] == ["slow-build"]
    finally:
        doomed.stop()


def test_events_reach_an_outside_pika_consumer(dist_server: Server, api: httpx.Client, broker: str,
                                               tmp_path: Path) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(broker))
    ch = conn.channel()
    ch.exchange_declare(exchange="rpmyard.events", exchange_type="topic", durable=True)
    queue = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(queue=queue, exchange="rpmyard.events", routing_key="rpmyard.#")
    w = WorkerProcess("eventful", broker, dist_server.url, tmp_path)
    try:
        api.post("/api_3/project/add/dana", json={"name": "evt", "chroots": [CHROOT]}).raise_for_status()
        data = {"ownername": "dana", "projectname": "evt", "chroots": [CHROOT]}
        srpm = make_srpm("hello-noarch", tmp_path / "s")
        with open(srpm, "rb") as fh:
            build_id = api.post("/api_3/build/create/upload",
                                files={"json": ("json", json.dumps(data), "application/json"),
                                       "pkgs": (srpm.name, fh, "application/x-rpm")}).json()["id"]
        events: list[dict] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e["topic"] == "rpmyard.build.end" for e in events):
            method, _props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            events.append(json.loads(body))
    finally:
        w.stop()
        conn.close()
    mine = [e for e in events if e.get("project") == "evt"]
    topics = [e["topic"] for e in mine]
    assert topics == ["rpmyard.project.created", "rpmyard.build.new", "rpmyard.build.start", "rpmyard.build.end"]
    end = mine[-1]
    assert end["build_id"] == build_id and end["state"] == "succeeded" and end["status"] == 1
    assert end["chroot"] == CHROOT and end["package"] == "hello-noarch" and end["owner"] == "dana"
    assert len({e["id"] for e in mine}) == 4
