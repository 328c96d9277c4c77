"""A build's whole life on a real server: chroot macros, subpackages, failures, the sandbox's network,
live logs, cancel, timeout, an arch nobody can build, upgrades through dnf, and concurrent publishing.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import credentials
from tests.support.coprcli import CoprCli
from tests.support.dnf import add_repo_file, dnf
from tests.support.server import Server
from tests.support.srpms import make_srpm
from tests.support.waiting import wait_for

FEDORA = "fedora-43-x86_64"
EPEL = "epel-9-x86_64"
AARCH64 = "fedora-43-aarch64"
FINISHED = ("succeeded", "failed", "canceled", "skipped")
RPM_NS = "{http://linux.duke.edu/metadata/common}"


# -- helpers ---------------------------------------------------------------------------------------


def upload(client: httpx.Client, project: str, srpm: Path, **opts: Any) -> int:
    """Submit an SRPM as copr-cli does (multipart ``pkgs`` + ``json``); returns the build id."""
    data = {"ownername": "alice", "projectname": project, "project_dirname": project, **opts}
    files = {"pkgs": (srpm.name, srpm.read_bytes(), "application/x-rpm"),
             "json": ("json", json.dumps(data), "application/json")}
    r = client.post("/api_3/build/create/upload", files=files)
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def cli_build(cli: CoprCli, project: str, srpm: Path, *args: str) -> int:
    r = cli("build", project, str(srpm), "--nowait", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    match = re.search(r"Created builds: (\d+)", r.stdout)
    assert match, r.stdout
    return int(match.group(1))


def build(client: httpx.Client, build_id: int) -> dict[str, Any]:
    r = client.get(f"/api_3/build/{build_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def build_chroot(client: httpx.Client, build_id: int, chroot: str) -> dict[str, Any]:
    r = client.get("/api_3/build-chroot", params={"build_id": build_id, "chrootname": chroot})
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_finished(client: httpx.Client, build_id: int, timeout: float = 180) -> str:
    def done() -> str | None:
        state = build(client, build_id)["state"]
        return state if state in FINISHED else None

    return str(wait_for(f"build {build_id} to finish", done, timeout))


def wait_running(client: httpx.Client, build_id: int, chroot: str) -> str:
    """Wait until the chroot runs and its live log shows the build ticking; returns the result URL."""
    def ticking() -> str | None:
        bc = build_chroot(client, build_id, chroot)
        if bc["state"] != "running" or not bc["result_url"]:
            return None
        log = httpx.get(bc["result_url"] + "builder-live.log", timeout=30)
        return bc["result_url"] if log.status_code == 200 and "slow-build: tick" in log.text else None

    return str(wait_for(f"build {build_id} to run", ticking, 60))


def fetch(url: str) -> httpx.Response:
    r = httpx.get(url, timeout=30, follow_redirects=True)
    assert r.status_code == 200, f"{url}: {r.status_code}"
    return r


def build_page(server: Server, build_id: int) -> str:
    return html.unescape(fetch(f"{server.url}/coprs/build/{build_id}/").text)


def repo_packages(server: Server, project: str, chroot: str) -> list[str]:
    """NEVRAs in the chroot's published repodata (primary.xml), as dnf would see them."""
    base = f"{server.url}/results/alice/{project}/{chroot}/"
    ns = "{http://linux.duke.edu/metadata/repo}"

    def primary_xml() -> bytes | None:
        repomd = ET.fromstring(fetch(base + "repodata/repomd.xml").content)
        href = next(d.find(f"{ns}location").get("href")  # type: ignore[union-attr]
                    for d in repomd.findall(f"{ns}data") if d.get("type") == "primary")
        r = httpx.get(base + str(href), timeout=30)
        # createrepo_c replaces the whole repodata/ while it updates: then read repomd.xml again.
        return r.content if r.status_code == 200 else None

    primary = ET.fromstring(gzip.decompress(wait_for("a consistent repodata", primary_xml, 30)))
    out = []
    for pkg in primary.findall(f"{RPM_NS}package"):
        v = pkg.find(f"{RPM_NS}version")
        assert v is not None
        out.append(f"{pkg.findtext(f'{RPM_NS}name')}-{v.get('ver')}-{v.get('rel')}.{pkg.findtext(f'{RPM_NS}arch')}")
    return sorted(out)


def rpm_query(path: Path, fmt: str) -> str:
    r = subprocess.run(["rpm", "-qp", "--nosignature", "--qf", fmt, str(path)], capture_output=True, text=True,
                       env={**os.environ, "HOME": str(path.parent)}, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, start time, command line) for every process we can see."""
    out: dict[int, tuple[int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (int(fields[1]), fields[19], cmdline)
    return out


def build_processes(workdir_marker: str) -> dict[int, tuple[int, str, str]]:
    """The processes whose command line names the build's work directory, and all their descendants."""
    procs = processes()
    tree = {pid for pid, (_, _, cmd) in procs.items() if workdir_marker in cmd}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _, _) in procs.items() if ppid in tree} - tree
        grew = bool(children)
        tree |= children
    return {pid: procs[pid] for pid in tree}


def still_alive(recorded: dict[int, tuple[int, str, str]]) -> list[str]:
    now = processes()
    return [cmd for pid, (_, start, cmd) in recorded.items() if pid in now and now[pid][1] == start]


def running_task_dir(server: Server) -> str:
    """The work directory of the one task running now (data_dir/work/task-<id>-<attempt>)."""
    def one() -> str | None:
        hits = {m.group(0) for _, _, cmd in processes().values()
                if (m := re.search(re.escape(str(server.data_dir / "work")) + r"/task-\d+-\d+", cmd))
                and "rpmbuild" in cmd}
        assert len(hits) <= 1, f"more than one build running: {hits}"
        return hits.pop() if hits else None

    return str(wait_for("the build's rpmbuild process", one, 30))


def pgrep(pattern: str) -> list[str]:
    r = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if "pgrep" not in line]


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice_api(server: Server, alice: CoprCli) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=credentials(alice.config.read_text()), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def life(alice: CoprCli) -> str:
    alice("create", "life", "--chroot", FEDORA, "--chroot", EPEL, "--chroot", AARCH64, check=True)
    return "life"


@pytest.fixture(scope="module")
def slow_srpm(srpm_dir: Path) -> Path:
    return make_srpm("slow", srpm_dir / "slow", defines={"sleep_seconds": "30"})


@pytest.fixture(scope="module")
def c_build(alice: CoprCli, alice_api: httpx.Client, life: str, srpms: dict[str, Path]) -> int:
    """hello-c built once for Fedora 43 and EPEL 9 on x86_64."""
    build_id = cli_build(alice, life, srpms["hello-c"], "-r", FEDORA, "-r", EPEL)
    assert wait_finished(alice_api, build_id) == "succeeded", build(alice_api, build_id)
    return build_id


# -- successful builds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("chroot", "dist"), [(FEDORA, ".fc43"), (EPEL, ".el9")])
def test_c_program_is_compiled_for_the_chroot(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, c_build: int, chroot: str, dist: str
) -> None:
    status = alice("status", str(c_build))
    assert status.stdout.strip() == "succeeded"
    packages = alice_api.get(f"/api_3/build/built-packages/{c_build}").json()
    assert packages == {
        FEDORA: {"packages": [{"name": "hello-c", "epoch": 0, "version": "1.0", "release": "1.fc43",
                               "arch": "x86_64"}]},
        EPEL: {"packages": [{"name": "hello-c", "epoch": 0, "version": "1.0", "release": "1.el9",
                             "arch": "x86_64"}]},
    }
    bc = build_chroot(alice_api, c_build, chroot)
    assert bc["state"] == "succeeded"
    assert bc["result_url"] == f"{server.url}/results/alice/{life}/{chroot}/{c_build:08d}-hello-c/"
    result = server.data_dir / "results/alice" / life / chroot / f"{c_build:08d}-hello-c"
    rpm = result / f"hello-c-1.0-1{dist}.x86_64.rpm"
    assert rpm.is_file(), sorted(p.name for p in result.iterdir())
    assert (result / f"hello-c-1.0-1{dist}.src.rpm").is_file()
    assert rpm_query(rpm, "%{ARCH} %{RELEASE}") == f"x86_64 1{dist}"
    classes = rpm_query(rpm, "[%{FILENAMES} %{FILECLASS}\n]")
    assert re.search(r"/usr/bin/hello-c ELF 64-bit LSB .*x86-64", classes), classes
    assert f"hello-c-1.0-1{dist}.x86_64" in repo_packages(server, life, chroot)
    for log in ("builder-live.log", "backend.log"):
        assert (result / log).is_file()
    assert f"dist: {dist}, arch: x86_64" in fetch(bc["result_url"] + "builder-live.log").text


def test_subpackages_are_all_collected(server: Server, alice: CoprCli, alice_api: httpx.Client, life: str,
                                       srpms: dict[str, Path]) -> None:
    build_id = cli_build(alice, life, srpms["multi-sub"], "-r", FEDORA)
    assert wait_finished(alice_api, build_id) == "succeeded"
    r = alice_api.get(f"/api_3/build/built-packages/{build_id}/")
    assert r.status_code == 200
    packages = r.json()[FEDORA]["packages"]
    assert sorted(p["name"] for p in packages) == ["multi-sub", "multi-sub-devel", "multi-sub-libs"]
    assert {(p["version"], p["release"], p["arch"]) for p in packages} == {("1.0", "1.fc43", "noarch")}
    result = server.data_dir / "results/alice" / life / FEDORA / f"{build_id:08d}-multi-sub"
    assert sorted(p.name for p in result.glob("*.noarch.rpm")) == [
        "multi-sub-1.0-1.fc43.noarch.rpm", "multi-sub-devel-1.0-1.fc43.noarch.rpm",
        "multi-sub-libs-1.0-1.fc43.noarch.rpm"]
    published = repo_packages(server, life, FEDORA)
    for name in ("multi-sub", "multi-sub-libs", "multi-sub-devel"):
        assert f"{name}-1.0-1.fc43.noarch" in published


# -- failures --------------------------------------------------------------------------------------


def test_a_failing_spec_fails_and_the_log_says_why(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, srpms: dict[str, Path]
) -> None:
    build_id = cli_build(alice, life, srpms["fails"], "-r", FEDORA)
    assert wait_finished(alice_api, build_id) == "failed"
    bc = build_chroot(alice_api, build_id, FEDORA)
    assert bc["state"] == "failed"
    live = fetch(bc["result_url"] + "builder-live.log").text
    assert "deliberate failure: missing-thing.h not found" in live
    assert "rpmyard: build failed: rpmbuild exited with status 1" in live
    assert "rpmbuild exited with status 1" in build_page(server, build_id)
    assert alice_api.get(f"/api_3/build/built-packages/{build_id}").json() == {FEDORA: {"packages": []}}
    result = server.data_dir / "results/alice" / life / FEDORA / f"{build_id:08d}-fails-to-build"
    assert not list(result.glob("*.rpm"))
    assert not (result / "success").exists()
    assert not any("fails-to-build" in p for p in repo_packages(server, life, FEDORA))
    watch = alice("watch-build", str(build_id))
    assert watch.returncode == 4, watch.stdout + watch.stderr
    assert f"Build {build_id}: failed" in watch.stdout
    assert f"Build error: Build(s) {build_id} failed." in watch.stderr


def test_the_sandbox_has_no_network_by_default(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, srpms: dict[str, Path]
) -> None:
    build_id = cli_build(alice, life, srpms["net-reach"], "-r", FEDORA)
    assert wait_finished(alice_api, build_id) == "failed"
    live = fetch(build_chroot(alice_api, build_id, FEDORA)["result_url"] + "builder-live.log").text
    assert "network: off" in live
    assert "network unreachable" in live
    assert "network reachable" not in live.replace("network unreachable", "")


def test_a_project_with_enable_net_builds_with_the_network_shared(
    server: Server, alice: CoprCli, alice_api: httpx.Client, srpms: dict[str, Path]
) -> None:
    alice("create", "netted", "--chroot", FEDORA, "--enable-net", "on", check=True)
    assert alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": "netted"}).json()[
        "enable_net"] is True
    build_id = cli_build(alice, "netted", srpms["net-reach"])
    # There is no internet here, so the build may still fail; what matters is how it ran.
    wait_finished(alice_api, build_id)
    live = fetch(build_chroot(alice_api, build_id, FEDORA)["result_url"] + "builder-live.log").text
    assert "network: on" in live
    assert "network: off" not in live


# -- running builds: live log, cancel, timeout -----------------------------------------------------


def test_builder_live_log_grows_while_the_build_runs(
    server: Server, alice_api: httpx.Client, life: str, slow_srpm: Path
) -> None:
    build_id = upload(alice_api, life, slow_srpm, chroots=[FEDORA])
    try:
        url = wait_running(alice_api, build_id, FEDORA)
        first = fetch(url + "builder-live.log").text
        time.sleep(2.5)
        second = fetch(url + "builder-live.log").text
        assert second.startswith(first)
        ticks = [len(re.findall(r"^slow-build: tick \d+", text, re.M)) for text in (first, second)]
        assert ticks[1] > ticks[0] >= 1, ticks
        assert len(second.splitlines()) > len(first.splitlines())
        backend = fetch(url + "backend.log").text
        assert f"building slow-build for {FEDORA}" in backend
        listing = fetch(url).text
        assert "builder-live.log" in listing and "backend.log" in listing
    finally:
        alice_api.put(f"/api_3/build/cancel/{build_id}")
        wait_for("the chroot to be canceled", lambda: build_chroot(alice_api, build_id, FEDORA)["state"] == "canceled",
                 30)


def test_cancel_stops_a_running_build_and_all_its_processes(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, slow_srpm: Path
) -> None:
    build_id = cli_build(alice, life, slow_srpm, "-r", FEDORA)
    url = wait_running(alice_api, build_id, FEDORA)
    workdir = running_task_dir(server)

    def with_sleep() -> dict[int, tuple[int, str, str]] | None:
        procs = build_processes(workdir)
        return procs if any(cmd.startswith("sleep") for _, _, cmd in procs.values()) else None

    recorded = wait_for("a sleep inside the build", with_sleep, 10, 0.05)
    assert any(cmd.startswith("rpmbuild") for _, _, cmd in recorded.values()), recorded
    assert pgrep(workdir), "pgrep does not see the build"

    started = time.monotonic()
    r = alice("cancel", str(build_id))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "canceled"
    wait_for("the chroot to be canceled", lambda: build_chroot(alice_api, build_id, FEDORA)["state"] == "canceled",
             5, 0.1)
    wait_for("the build's processes to end", lambda: not still_alive(recorded) and not pgrep(workdir), 5, 0.1)
    assert time.monotonic() - started < 6
    assert build(alice_api, build_id)["state"] == "canceled"
    assert build(alice_api, build_id)["ended_on"] is not None
    assert not still_alive(recorded)
    assert not pgrep(workdir)
    assert not pgrep(f"rpmbuild.*{workdir}")
    assert not pgrep(str(server.data_dir / "work"))

    live = fetch(url + "builder-live.log").text
    assert "rpmyard: build failed: build canceled" in live
    assert "canceled" in fetch(url + "backend.log").text
    result = server.data_dir / "results/alice" / life / FEDORA / f"{build_id:08d}-slow-build"
    assert not list(result.glob("*.rpm"))
    assert not Path(workdir).exists()


def test_a_build_timeout_fails_the_build_and_says_so(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, slow_srpm: Path
) -> None:
    build_id = cli_build(alice, life, slow_srpm, "-r", FEDORA, "--timeout", "5")
    assert alice_api.get(f"/api_3/build/source-build-config/{build_id}").json()["timeout"] == 5
    url = wait_running(alice_api, build_id, FEDORA)
    assert wait_finished(alice_api, build_id, 25) == "failed"
    bc = build_chroot(alice_api, build_id, FEDORA)
    assert bc["state"] == "failed"
    assert bc["ended_on"] - bc["started_on"] < 20  # the spec would sleep 30 s
    live = fetch(url + "builder-live.log").text
    assert "rpmyard: build failed: build timed out after 5 s" in live
    assert "build timed out after 5 s" in build_page(server, build_id)
    # Nothing else runs now: no process may still work in any task directory.
    work = str(server.data_dir / "work")
    wait_for("the build's processes to end", lambda: not pgrep(work), 5, 0.1)


# -- an architecture no worker has -----------------------------------------------------------------


def test_an_arch_no_worker_can_build_stays_pending_with_the_reason_shown(
    server: Server, alice: CoprCli, alice_api: httpx.Client, life: str, srpms: dict[str, Path]
) -> None:
    assert os.uname().machine == "x86_64"
    build_id = cli_build(alice, life, srpms["hello-c"], "-r", AARCH64)
    reason = "no worker can run rpm-build tasks for aarch64"
    try:
        wait_for("the reason on the build page", lambda: reason in build_page(server, build_id), 15)
        time.sleep(2)  # several dispatcher passes later it still waits, it did not fail
        assert build(alice_api, build_id)["state"] == "pending"
        assert build_chroot(alice_api, build_id, AARCH64)["state"] == "pending"
        assert alice("status", str(build_id)).stdout.strip() == "pending"
        assert reason in build_page(server, build_id)

        # A noarch package builds for the same chroot: any worker can make it.
        noarch_id = upload(alice_api, life, srpms["hello-noarch"], chroots=[AARCH64])
        assert wait_finished(alice_api, noarch_id) == "succeeded"
        assert "hello-noarch-1.0-1.fc43.noarch" in repo_packages(server, life, AARCH64)
        assert build(alice_api, build_id)["state"] == "pending"
    finally:
        assert alice_api.put(f"/api_3/build/cancel/{build_id}").json()["state"] == "canceled"


# -- the repository --------------------------------------------------------------------------------


def test_a_later_version_upgrades_with_dnf(
    server: Server, alice: CoprCli, alice_api: httpx.Client, srpm_dir: Path, srpms: dict[str, Path], tmp_path: Path
) -> None:
    alice("create", "upgrades", "--chroot", FEDORA, check=True)
    first = cli_build(alice, "upgrades", srpms["hello-noarch"])
    assert wait_finished(alice_api, first) == "succeeded"

    root = tmp_path / "root"
    add_repo_file(root, f"{server.url}/coprs/alice/upgrades/repo/fedora-43/dnf.repo?arch=x86_64")
    out = dnf(root, "install", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Hello from hello-noarch 1.0" in (root / "usr/bin/hello-noarch").read_text()

    v2 = make_srpm("hello-noarch", srpm_dir / "v2", version="2.0")
    second = cli_build(alice, "upgrades", v2)
    assert wait_finished(alice_api, second) == "succeeded"
    assert repo_packages(server, "upgrades", FEDORA) == ["hello-noarch-1.0-1.fc43.noarch",
                                                        "hello-noarch-2.0-1.fc43.noarch"]
    out = dnf(root, "--refresh", "upgrade", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Hello from hello-noarch 2.0" in (root / "usr/bin/hello-noarch").read_text()
    pkg = alice_api.get("/api_3/package", params={"ownername": "alice", "projectname": "upgrades",
                                                  "packagename": "hello-noarch", "with_latest_build": "True"})
    assert pkg.json()["builds"]["latest"]["id"] == second


def test_builds_finishing_together_both_reach_the_repodata(
    server: Server, alice_api: httpx.Client, alice: CoprCli, srpm_dir: Path, srpms: dict[str, Path]
) -> None:
    alice("create", "together", "--chroot", FEDORA, check=True)
    # Two builds of the same length fill both builder slots and finish within moments of each other.
    quick = [make_srpm("slow", srpm_dir / f"quick-{v}", version=v, defines={"sleep_seconds": "2"})
             for v in ("1.0", "1.1")]
    ids = [upload(alice_api, "together", srpm) for srpm in quick]
    ids.append(upload(alice_api, "together", srpms["multi-sub"]))
    for build_id in ids:
        assert wait_finished(alice_api, build_id) == "succeeded"
    ends = [build(alice_api, i)["ended_on"] for i in ids[:2]]
    assert abs(ends[0] - ends[1]) <= 3, ends
    assert repo_packages(server, "together", FEDORA) == [
        "multi-sub-1.0-1.fc43.noarch", "multi-sub-devel-1.0-1.fc43.noarch", "multi-sub-libs-1.0-1.fc43.noarch",
        "slow-build-1.0-1.fc43.noarch", "slow-build-1.1-1.fc43.noarch"]

    # Deleting one of them takes it out of the repodata and off the disk, and nothing stays behind.
    gone = ids[0]
    r = alice_api.request("DELETE", "/api_3/build/delete/list", json={"builds": [gone]})
    assert r.status_code == 200 and r.json() == {"builds": [gone]}
    result = server.data_dir / "results/alice/together" / FEDORA / f"{gone:08d}-slow-build"
    assert not result.exists()
    assert not (server.data_dir / "results/alice/together/srpm-builds" / f"{gone:08d}").exists()
    wait_for("the deleted build to leave the repodata",
             lambda: "slow-build-1.0-1.fc43.noarch" not in repo_packages(server, "together", FEDORA), 30)
    assert "slow-build-1.1-1.fc43.noarch" in repo_packages(server, "together", FEDORA)


def test_finished_builds_leave_nothing_in_the_spool(server: Server, alice_api: httpx.Client) -> None:
    """Runs last: every build above has finished, so no upload or task staging may remain.

    Only the service's own lock files (``spool/*.lock``) and the ``tasks`` folder belong there for good.
    """
    spool = server.data_dir / "spool"

    def leftovers() -> list[str]:
        return sorted(str(p.relative_to(spool)) for p in spool.rglob("*")
                      if not (p.parent == spool and (p.suffix == ".lock" and p.is_file() or p.name == "tasks")))

    deadline = time.monotonic() + 10  # a completion may still be being handled
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers() == []
