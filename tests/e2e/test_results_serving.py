"""Serving result files while a publish replaces them: every response is one whole file."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server, running_server
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("serving"), RPMYARD_WORKERS="0") as srv:
        yield srv


def test_a_file_replaced_while_it_is_read_is_served_whole(server: Server) -> None:
    """repomd.xml is renamed over at every publish: a reader gets the old or the new one, never a
    Content-Length of one with the bytes of the other (dnf would see a cut-off repomd.xml)."""
    repodata = server.data_dir / "results" / "someone" / "proj" / "fedora-43-x86_64" / "repodata"
    repodata.mkdir(parents=True)
    versions = [b"<repomd>" + bytes([65 + i]) * (1000 + i * 37) + b"</repomd>\n" for i in range(5)]
    live = repodata / "repomd.xml"
    live.write_bytes(versions[0])
    stop = threading.Event()

    def publish_forever() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tmp = repodata / f".repomd.xml.{n}"
            tmp.write_bytes(versions[n % len(versions)])
            os.replace(tmp, live)

    writer = threading.Thread(target=publish_forever, daemon=True)
    writer.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(400):
                r = client.get("/results/someone/proj/fedora-43-x86_64/repodata/repomd.xml")
                assert r.status_code == 200
                assert r.content in versions, f"a mixed or cut-off body of {len(r.content)} bytes"
                assert int(r.headers["content-length"]) == len(r.content)
                assert r.headers["content-type"].startswith(("application/xml", "text/xml"))
    finally:
        stop.set()
        writer.join()
    wait_for("the server to close every result file it served", lambda: _open_results(server) == [], 10)


def _open_results(server: Server) -> list[str]:
    """Descriptors the server still holds on result files (each response closes its own)."""
    assert server.proc is not None
    fds = Path(f"/proc/{server.proc.pid}/fd")
    results = str(server.data_dir / "results")
    held = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(results):
            held.append(target)
    return held
