"""Signed repositories through a real `rpmyard serve`, read by the real dnf and copr-cli.

Every project has its own key; built packages, SRPMs and repomd.xml are signed with it, the .repo
file turns GPG checks on, and dnf installs, upgrades and loses packages as builds come and go.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.coprcli import CoprCli
from tests.support.dnf import add_repo_file, dnf
from tests.support.gpgagents import stop_agents
from tests.support.repos import repodata_locations, repodata_packages, rpm_signature_check, verify_repomd_signature
from tests.support.server import Server
from tests.support.srpms import make_srpm

FEDORA = "fedora-43-x86_64"
PROJECT = "signed"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def api(server: Server, alice: CoprCli) -> Iterator[httpx.Client]:
    cfg = configparser.ConfigParser()
    cfg.read(alice.config)
    with httpx.Client(base_url=server.url, auth=(cfg["copr-cli"]["login"], cfg["copr-cli"]["token"]),
                      timeout=60) as client:
        yield client


def build(alice: CoprCli, project: str, srpm: Path) -> int:
    r = alice("build", project, str(srpm), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    build_id = int(r.stdout.split("Created builds:")[1].split()[0])
    assert f"Build {build_id}: succeeded" in r.stdout, r.stdout
    return build_id


def chroot_dir(server: Server, project: str, chroot: str = FEDORA) -> Path:
    return server.data_dir / "results" / "alice" / project / chroot


def project(api: httpx.Client, name: str) -> dict[str, Any]:
    r = api.get("/api_3/project", params={"ownername": "alice", "projectname": name})
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture(autouse=True)
def _stop_dnf_agents(tmp_path: Path) -> Iterator[None]:
    yield
    stop_agents(tmp_path)  # dnf's repo_gpgcheck keyrings start gpg-agents


@pytest.fixture(scope="module")
def signed(server: Server, alice: CoprCli) -> str:
    alice("create", PROJECT, "--chroot", FEDORA, check=True)
    return PROJECT


def test_project_key_signs_packages_srpms_and_repodata(
        server: Server, alice: CoprCli, signed: str, srpm_dir: Path) -> None:
    pubkey_url = f"{server.url}/results/alice/{signed}/pubkey.gpg"
    key = wait_for("the project's pubkey.gpg", lambda: (r := httpx.get(pubkey_url)).status_code == 200 and r.text)
    assert key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons"], input=key, capture_output=True, text=True)
    assert "alice_signed (rpmyard) <alice#signed@127.0.0.1>" in shown.stdout

    build_id = build(alice, signed, make_srpm("hello-noarch", srpm_dir / "sig", version="1.0"))
    pubkey = server.data_dir / "results/alice" / signed / "pubkey.gpg"
    result = chroot_dir(server, signed) / f"{build_id:08d}-hello-noarch"
    srpm = sorted((server.data_dir / "results/alice" / signed / "srpm-builds" / f"{build_id:08d}").glob("*.rpm"))
    packages = sorted(result.glob("*.rpm")) + srpm
    assert len(packages) == 3  # the binary RPM, the chroot's SRPM, the uploaded SRPM
    check = rpm_signature_check(packages, pubkey)
    assert check.returncode == 0 and check.stdout.count("signatures OK") == 3, check.stdout + check.stderr
    assert verify_repomd_signature(chroot_dir(server, signed), pubkey).returncode == 0
    asc = httpx.get(f"{server.url}/results/alice/{signed}/{FEDORA}/repodata/repomd.xml.asc")
    assert asc.status_code == 200 and "BEGIN PGP SIGNATURE" in asc.text

    # The private key is nowhere below results/, and hidden state is not served.
    assert not [p for p in (server.data_dir / "results").rglob("*") if "private-keys" in str(p)]
    hidden = httpx.get(f"{server.url}/results/alice/{signed}/{FEDORA}/.rpmyard/cache.sqlite")
    assert hidden.status_code == 404


def test_repo_file_turns_gpg_checks_on(server: Server, signed: str) -> None:
    text = httpx.get(f"{server.url}/coprs/alice/{signed}/repo/fedora-43/dnf.repo?arch=x86_64").text
    assert "gpgcheck=1" in text.splitlines() and "repo_gpgcheck=0" in text.splitlines()  # as Copr's
    assert f"gpgkey={server.url}/results/alice/{signed}/pubkey.gpg" in text.splitlines()


def test_dnf_installs_upgrades_and_loses_deleted_builds(
        server: Server, alice: CoprCli, signed: str, srpm_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    repo = add_repo_file(root, f"{server.url}/coprs/alice/{signed}/repo/fedora-43/dnf.repo?arch=x86_64")
    repo.write_text(repo.read_text().replace("repo_gpgcheck=0", "repo_gpgcheck=1"))  # metadata checked too
    out = dnf(root, "install", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Importing GPG key" in out.stdout + out.stderr
    assert "hello-noarch 1.0" in (root / "usr/bin/hello-noarch").read_text()

    newer = build(alice, signed, make_srpm("hello-noarch", srpm_dir / "v2", version="2.0"))
    out = dnf(root, "--refresh", "upgrade", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hello-noarch 2.0" in (root / "usr/bin/hello-noarch").read_text()

    r = alice("delete-build", str(newer))
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for("build 2.0 to leave the repodata",
             lambda: "hello-noarch-2.0-1.fc43.noarch" not in repodata_packages(chroot_dir(server, signed)), 60)
    out = dnf(root, "--refresh", "list", "--available", "--showduplicates", "hello-noarch")
    assert "2.0-1.fc43" not in out.stdout and "1.0-1.fc43" in out.stdout, out.stdout + out.stderr
    assert not (chroot_dir(server, signed) / f"{newer:08d}-hello-noarch").exists()


def test_dnf_copr_enable_with_hub(server: Server, signed: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    repos = root / "etc" / "yum.repos.d"
    repos.mkdir(parents=True)
    out = dnf(root, "copr", "enable", "--hub", server.url, f"alice/{signed}", FEDORA, repo_dir=repos)
    assert out.returncode == 0, out.stdout + out.stderr
    repo_files = list(repos.glob("*.repo"))
    assert [p.name for p in repo_files] == [f"_copr:127.0.0.1:alice:{signed}.repo"]
    assert "gpgcheck=1" in repo_files[0].read_text()
    out = dnf(root, "install", "hello-noarch", repo_dir=repos)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (root / "usr/bin/hello-noarch").is_file()


def test_corrupted_rpm_in_results_is_kept_out_and_the_repo_stays_valid(
        server: Server, alice: CoprCli, signed: str, tmp_path: Path) -> None:
    chroot = chroot_dir(server, signed)
    before = repodata_locations(chroot)
    good = next(d for d in sorted(chroot.iterdir()) if d.name.endswith("-hello-noarch"))
    broken = chroot / "99999999-hello-noarch"  # a result directory damaged on disk
    shutil.copytree(good, broken)
    rpm = next(p for p in broken.glob("*.noarch.rpm"))
    rpm.write_bytes(rpm.read_bytes()[:-200])
    r = alice("regenerate-repos", signed)
    assert r.returncode == 0, r.stdout + r.stderr
    line = wait_for("the publisher to reject it", lambda: next(
        (ln for ln in server.log_text().splitlines() if "kept 99999999-hello-noarch out" in ln), None), 60)
    assert "is corrupt" in line
    assert repodata_locations(chroot) == before
    root = tmp_path / "root"
    add_repo_file(root, f"{server.url}/coprs/alice/{signed}/repo/fedora-43/dnf.repo?arch=x86_64")
    out = dnf(root, "install", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    shutil.rmtree(broken)


def test_delete_package_empties_it_from_the_repo(
        server: Server, alice: CoprCli, api: httpx.Client, srpm_dir: Path, srpms: dict[str, Path]) -> None:
    alice("create", "pkgdel", "--chroot", FEDORA, check=True)
    build(alice, "pkgdel", srpms["hello-noarch"])
    multi = build(alice, "pkgdel", srpms["multi-sub"])
    chroot = chroot_dir(server, "pkgdel")
    assert "hello-noarch-1.0-1.fc43.noarch" in repodata_packages(chroot)

    r = alice("delete-package", "pkgdel", "--name", "hello-noarch")
    assert r.returncode == 0 and "Package hello-noarch was successfully deleted." in r.stdout, r.stdout + r.stderr
    wait_for("hello-noarch to leave the repodata",
             lambda: not any(p.startswith("hello-noarch") for p in repodata_packages(chroot)), 60)
    assert any(p.startswith("multi-sub") for p in repodata_packages(chroot))
    assert not [d for d in chroot.iterdir() if d.name.endswith("-hello-noarch")]
    got = api.get("/api_3/package", params={"ownername": "alice", "projectname": "pkgdel",
                                            "packagename": "hello-noarch"})
    assert got.status_code == 404
    builds = api.get("/api_3/build/list", params={"ownername": "alice", "projectname": "pkgdel"}).json()
    assert [b["id"] for b in builds["items"]] == [multi]
    r = alice("delete-package", "pkgdel", "--name", "hello-noarch")
    assert r.returncode != 0 and "No package hello-noarch" in r.stderr


def test_keep_builds_prunes_older_builds_from_disk_and_repodata(
        server: Server, alice: CoprCli, api: httpx.Client, srpm_dir: Path) -> None:
    alice("create", "keep", "--chroot", FEDORA, check=True)
    r = api.post("/api_3/project/edit/alice/keep", json={"keep_builds": 2})
    assert r.status_code == 200 and r.json()["keep_builds"] == 2, r.text
    assert api.post("/api_3/project/edit/alice/keep", json={"keep_builds": -1}).status_code == 400
    ids = [build(alice, "keep", make_srpm("hello-noarch", srpm_dir / f"keep{v}", version=f"3.{v}"))
           for v in range(3)]
    chroot = chroot_dir(server, "keep")
    wait_for("the oldest build to be pruned",
             lambda: repodata_packages(chroot) == ["hello-noarch-3.1-1.fc43.noarch", "hello-noarch-3.2-1.fc43.noarch"],
             60)
    assert not (chroot / f"{ids[0]:08d}-hello-noarch").exists()
    listed = api.get("/api_3/build/list", params={"ownername": "alice", "projectname": "keep"}).json()
    assert sorted(b["id"] for b in listed["items"]) == ids[1:]


def test_delete_after_days_and_storage_used(
        server: Server, alice: CoprCli, api: httpx.Client, srpms: dict[str, Path]) -> None:
    alice("create", "temp", "--chroot", FEDORA, "--delete-after-days", "5", check=True)
    assert project(api, "temp")["delete_after_days"] == 5
    build(alice, "temp", srpms["hello-noarch"])
    used = wait_for("storage used to be measured", lambda: project(api, "temp")["storage_used_bytes"], 60)
    rpms = sum(p.stat().st_size for p in (server.data_dir / "results/alice/temp").rglob("*.rpm"))
    assert used >= rpms > 0

    r = alice("modify", "temp", "--delete-after-days", "-1")
    assert r.returncode == 0 and project(api, "temp")["delete_after_days"] is None, r.stderr
    r = alice("modify", "temp", "--delete-after-days", "0")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for("the expired project to be deleted",
             lambda: api.get("/api_3/project", params={"ownername": "alice", "projectname": "temp"}).status_code
             == 404, 60)
    wait_for("its files to go", lambda: not (server.data_dir / "results/alice/temp").exists(), 30)
