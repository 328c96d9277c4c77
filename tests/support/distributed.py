"""A distributed deployment for tests: `rpmyard serve` on RabbitMQ (private vhost) with no local
slots, plus real `rpmyard worker` processes; and the checks every fault test ends with."""

from __future__ import annotations

import configparser
import gzip
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.rabbit import rabbit_vhost
from tests.support.server import Server, running_server
from tests.support.workers import WorkerProcess

CHROOT = "fedora-43-x86_64"
FINAL = ("succeeded", "failed", "canceled", "skipped")


class Cluster:
    def __init__(self, server: Server, broker: str, tmp: Path) -> None:
        self.server = server
        self.broker = broker
        self.tmp = tmp
        self.workers: list[WorkerProcess] = []
        self.clients: dict[str, httpx.Client] = {}

    def user(self, name: str, chroots: tuple[str, ...] = (CHROOT,)) -> httpx.Client:
        """A user with an API client and a project named like the user."""
        cfg = configparser.ConfigParser()
        cfg.read_string(self.server.add_user(name))
        client = httpx.Client(base_url=self.server.url, timeout=60,
                              auth=(cfg["copr-cli"]["login"], cfg["copr-cli"]["token"]))
        client.post(f"/api_3/project/add/{name}", json={"name": "p", "chroots": list(chroots)}).raise_for_status()
        self.clients[name] = client
        return client

    def worker(self, name: str, *extra: str) -> WorkerProcess:
        w = WorkerProcess(name, self.broker, self.server.url, self.tmp, *extra)
        self.workers.append(w)
        return w

    def submit(self, owner: str, srpm: Path, chroots: tuple[str, ...] = (CHROOT,), **opts: Any) -> int:
        data = {"ownername": owner, "projectname": "p", "chroots": list(chroots), **opts}
        with open(srpm, "rb") as fh:
            r = self.clients[owner].post("/api_3/build/create/upload",
                                         files={"json": ("json", json.dumps(data), "application/json"),
                                                "pkgs": (srpm.name, fh, "application/x-rpm")})
        assert r.status_code == 200, r.text
        return int(r.json()["id"])

    def build(self, build_id: int) -> dict[str, Any]:
        for _ in range(100):  # the server may be restarting in some tests
            try:
                r = httpx.get(f"{self.server.url}/api_3/build/{build_id}", timeout=10)
                return dict(r.json())
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("server unreachable")

    def wait(self, build_ids: list[int], states: tuple[str, ...] = FINAL, timeout: float = 180) -> dict[int, str]:
        deadline = time.monotonic() + timeout
        seen: dict[int, str] = {}
        while time.monotonic() < deadline:
            seen = {b: self.build(b)["state"] for b in build_ids}
            if all(s in states for s in seen.values()):
                return seen
            time.sleep(0.3)
        raise AssertionError(f"builds did not reach {states}: {seen}")

    def backend_log(self, owner: str, build_id: int, pkg: str, chroot: str = CHROOT) -> str:
        path = self.server.data_dir / "results" / owner / "p" / chroot / f"{build_id:08d}-{pkg}" / "backend.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def repodata_nevras(self, owner: str, chroot: str = CHROOT) -> list[str]:
        """Every package in the chroot's primary.xml, duplicates kept (to prove there are none)."""
        chroot_dir = self.server.data_dir / "results" / owner / "p" / chroot
        repomd = (chroot_dir / "repodata" / "repomd.xml").read_text()
        href = re.search(r'<data type="primary">.*?<location href="([^"]+)"', repomd, re.S).group(1)  # type: ignore[union-attr]
        xml = gzip.decompress((chroot_dir / href).read_bytes()).decode()
        return re.findall(r'<location href="([^"]+\.rpm)"', xml)

    def assert_nothing_lost(self, owner: str, build_ids: list[int]) -> None:
        """Every build final; each succeeded build's RPM in the repodata exactly once."""
        states = self.wait(build_ids)
        hrefs = self.repodata_nevras(owner)
        assert len(hrefs) == len(set(hrefs)), f"duplicate packages in repodata: {hrefs}"
        for b, state in states.items():
            if state == "succeeded":
                mine = [h for h in hrefs if h.startswith(f"{b:08d}-")]
                assert len(mine) == 1, f"build {b}: {mine}"

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        for c in self.clients.values():
            c.close()


@contextmanager
def cluster(tmp: Path, **env: str) -> Iterator[Cluster]:
    with rabbit_vhost() as broker:
        settings = {"RPMYARD_BROKER_URL": broker, "RPMYARD_LEASE_SECONDS": "3",
                    "RPMYARD_HEARTBEAT_SECONDS": "0.5", **env}
        with running_server(tmp / "srv", **settings) as server:
            c = Cluster(server, broker, tmp)
            try:
                yield c
            finally:
                c.close()
