"""The uploaded SRPM is signed in place on the server once a chroot of its build publishes; the
chroots that start later must still build it, and nobody may ever read a half-signed file.

One builder slot makes the order certain: the build's chroots run one after another, so every chroot
after the first downloads the SRPM after the first chroot's publish signed it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import api_client
from tests.support.server import Server, running_server
from tests.support.waiting import wait_for

CHROOTS = ["fedora-43-x86_64", "fedora-44-x86_64", "fedora-45-x86_64"]
FINISHED = ("succeeded", "failed", "canceled", "skipped")


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("one-slot"), RPMYARD_WORKERS="1") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(one_slot: Server) -> Iterator[httpx.Client]:
    with api_client(one_slot, one_slot.add_user("carol")) as c:
        c.post("/api_3/project/add/carol", json={"name": "signed", "chroots": CHROOTS}).raise_for_status()
        yield c


def signer_of(rpm: Path) -> str:
    out = subprocess.run(["rpm", "-qp", "--nosignature", "--qf", "%{SIGPGP:pgpsig}|%{RSAHEADER:pgpsig}", str(rpm)],
                         capture_output=True, text=True, check=True).stdout
    return out


def test_chroots_that_start_after_the_srpm_was_signed_still_build_it(
        one_slot: Server, client: httpx.Client, srpms: dict[str, Path], tmp_path: Path) -> None:
    with open(srpms["hello-noarch"], "rb") as fh:
        r = client.post("/api_3/build/create/upload", files={
            "json": ("json", '{"ownername": "carol", "projectname": "signed"}', "application/json"),
            "pkgs": (srpms["hello-noarch"].name, fh, "application/x-rpm")})
    assert r.status_code == 200, r.text
    build_id = r.json()["id"]

    def finished() -> dict | None:
        b = client.get(f"/api_3/build/{build_id}").json()
        return b if b["state"] in FINISHED else None

    build = wait_for(f"build {build_id} to finish", finished, timeout=180)
    states = {c: client.get(f"/api_3/build-chroot/{build_id}/{c}").json()["state"] for c in CHROOTS}
    assert states == dict.fromkeys(CHROOTS, "succeeded"), (states, one_slot.log_text()[-3000:])
    assert build["state"] == "succeeded"

    # The source package users download is the signed one, whole.
    srpm_url = build["source_package"]["url"]
    served = tmp_path / "served.src.rpm"
    served.write_bytes(httpx.get(srpm_url, timeout=30).content)
    assert "Key ID" in signer_of(served), signer_of(served)
    check = subprocess.run(["rpmkeys", "--checksig", "--nosignature", str(served)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
