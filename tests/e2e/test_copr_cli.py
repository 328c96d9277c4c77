"""The real copr-cli, command by command, against a real server: what the user sees, and what changed.

One project (alice/tools) is shared by most tests and deleted by the last one, so the tests run in
file order. copr-cli's waiting form polls every 30 s, so builds are submitted with ``--nowait`` and
followed over the API; the one waiting ``copr-cli build`` runs in the background meanwhile.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.coprcli import CoprCli
from tests.support.server import Server
from tests.support.srpms import make_srpm
from tests.support.waiting import static_http_server

T = TypeVar("T")

PROJECT = "tools"
CHROOTS = ["epel-9-x86_64", "fedora-43-x86_64", "fedora-44-x86_64"]
CHROOTS_AFTER_MODIFY = ["fedora-43-x86_64", "fedora-44-x86_64", "fedora-45-x86_64"]
DIST = {"fedora-43-x86_64": "fc43", "fedora-44-x86_64": "fc44", "fedora-45-x86_64": "fc45", "epel-9-x86_64": "el9"}
FINAL_STATES = {"succeeded", "failed", "canceled", "skipped"}
EXTRA_REPO = "https://repos.example.org/extra/$chroot/"
NEW_CHROOT = "fedora-46-x86_64"
NEW_CHROOT_COMMENT = "Branched Fedora 46\nbuilds may break"


# -- helpers -----------------------------------------------------------------------------------------


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60, interval: float = 0.2) -> T:
    """Call ``check`` until it returns something other than None/False; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def api(server: Server, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}/api_3/{path}", params=params, timeout=30)


def created_ids(stdout: str) -> list[int]:
    match = re.search(r"^Created builds: ([\d ]+)$", stdout, re.M)
    assert match, f"no 'Created builds:' line in:\n{stdout}"
    return [int(i) for i in match.group(1).split()]


def wait_build(server: Server, build_id: int, timeout: float = 240) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        build = api(server, f"build/{build_id}").json()
        return build if build["state"] in FINAL_STATES else None

    return wait_for(final, f"build {build_id} to finish", timeout=timeout, interval=0.3)


def submit(cli: CoprCli, project: str, *args: str) -> int:
    """``copr-cli build --nowait``; returns the one build id it printed."""
    r = cli("build", project, *args, "--nowait")
    assert r.returncode == 0, r.stdout + r.stderr
    (build_id,) = created_ids(r.stdout)
    return build_id


def repo_packages(server: Server, owner: str, project: str, chroot: str) -> set[str] | None:
    """NVRA of every package in the chroot's published primary.xml.gz, or None while there is none."""
    base = f"{server.url}/results/{owner}/{project}/{chroot}/"
    repomd = httpx.get(base + "repodata/repomd.xml", timeout=30)
    if repomd.status_code == 404:
        return None
    repomd.raise_for_status()
    ns = {"repo": "http://linux.duke.edu/metadata/repo", "c": "http://linux.duke.edu/metadata/common"}
    hrefs = [d.find("repo:location", ns).get("href")  # type: ignore[union-attr]
             for d in ET.fromstring(repomd.content).findall("repo:data", ns) if d.get("type") == "primary"]
    primary = httpx.get(base + str(hrefs[0]), timeout=30)
    if primary.status_code == 404:  # replaced between the two requests
        return None
    found = set()
    for pkg in ET.fromstring(gzip.decompress(primary.content)).findall("c:package", ns):
        name, arch, version = pkg.findtext("c:name", "", ns), pkg.findtext("c:arch", "", ns), pkg.find("c:version", ns)
        assert version is not None
        found.add(f"{name}-{version.get('ver')}-{version.get('rel')}.{arch}")
    return found


def sandbox_processes(server: Server) -> dict[int, str]:
    """Processes of the server's builds: their command lines name a task work directory."""
    marker = f"{server.data_dir.resolve() / 'work'}/task-"
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found[int(entry.name)] = cmdline
    return found


def still_running(procs: dict[int, str]) -> dict[int, str]:
    """Those of ``procs`` (pid: command line) that still exist with the same command line."""
    out = {}
    for pid, cmdline in procs.items():
        try:
            now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if now == cmdline:
            out[pid] = cmdline
    return out


def worst_latency(server: Server, build_id: int, seconds: float, clients: int) -> float:
    """Several clients read the build and its project for ``seconds``; the slowest answer's time."""
    worst = [0.0]
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=f"{server.url}/api_3/", timeout=60) as http:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for path, params in ((f"build/{build_id}", {}),
                                     ("project", {"ownername": "alice", "projectname": PROJECT})):
                    start = time.monotonic()
                    r = http.get(path, params=params)
                    worst[0] = max(worst[0], time.monotonic() - start)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return worst[0]


def result_dir(server: Server, chroot: str, build_id: int, pkg: str, project: str = PROJECT) -> Path:
    return server.data_dir / "results" / "alice" / project / chroot / f"{build_id:08d}-{pkg}"


def wait_running_with_log(server: Server, build_id: int, chroot: str, pkg: str, project: str) -> Path:
    """Until the build runs and its live log shows the spec's %build going; returns that log."""
    log = result_dir(server, chroot, build_id, pkg, project) / "builder-live.log"
    wait_for(lambda: api(server, f"build/{build_id}").json()["state"] == "running", f"build {build_id} to run")
    wait_for(lambda: log.is_file() and "slow-build: tick" in log.read_text(errors="replace"),
             f"the %build of build {build_id} to start")
    return log


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools(alice: CoprCli) -> subprocess.CompletedProcess[str]:
    """alice/tools, created by copr-cli; test_create checks what it printed."""
    args = ["create", PROJECT, "--description", "Handy tools", "--instructions", "dnf copr enable alice/tools",
            "--enable-net", "on", "--repo", EXTRA_REPO]
    for chroot in CHROOTS:
        args += ["--chroot", chroot]
    return alice(*args)


@pytest.fixture(scope="module")
def srpm_server(srpm_dir: Path, srpms: dict[str, Path]) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 serving the test SRPMs; yields its base URL."""
    with static_http_server(srpm_dir) as url:
        yield url


@pytest.fixture(scope="module")
def extra_srpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("extra-srpms")
    return {
        "hello-noarch-2.0": make_srpm("hello-noarch", out, version="2.0"),
        "slow": make_srpm("slow", out, defines={"sleep_seconds": "30"}),
    }


@pytest.fixture(scope="module")
def noarch_build(server: Server, alice: CoprCli, tools: subprocess.CompletedProcess[str],
                 srpms: dict[str, Path]) -> dict[str, Any]:
    """hello-noarch uploaded by ``copr-cli build --nowait`` into every chroot; waited for over the API."""
    srpm = srpms["hello-noarch"]
    r = alice("build", PROJECT, str(srpm), "--nowait")
    assert r.returncode == 0, r.stdout + r.stderr
    (build_id,) = created_ids(r.stdout)
    return {"id": build_id, "stdout": r.stdout, "stderr": r.stderr, "final": wait_build(server, build_id)}


@pytest.fixture(scope="module")
def url_build(server: Server, alice: CoprCli, tools: subprocess.CompletedProcess[str], srpms: dict[str, Path],
              srpm_server: str) -> dict[str, Any]:
    """hello-c (compiled with gcc) given to ``copr-cli build`` as an SRPM URL, fedora-43 only, no network."""
    url = f"{srpm_server}/{srpms['hello-c'].name}"
    r = alice("build", PROJECT, url, "--nowait", "-r", "fedora-43-x86_64", "--enable-net", "off")
    assert r.returncode == 0, r.stdout + r.stderr
    (build_id,) = created_ids(r.stdout)
    return {"id": build_id, "url": url, "stdout": r.stdout, "final": wait_build(server, build_id)}


@pytest.fixture(scope="module")
def waiting_failed_build(alice: CoprCli, tools: subprocess.CompletedProcess[str],
                         srpms: dict[str, Path]) -> Iterator[subprocess.Popen[str]]:
    """``copr-cli build`` in its waiting form, of a spec that fails; it runs while other tests go on."""
    proc = subprocess.Popen(
        [str(alice.exe), "--config", str(alice.config), "build", PROJECT, str(srpms["fails"]),
         "-r", "fedora-43-x86_64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


# -- identity and projects ---------------------------------------------------------------------------


def test_whoami(alice: CoprCli, bob: CoprCli) -> None:
    r = alice("whoami")
    assert (r.returncode, r.stdout, r.stderr) == (0, "alice\n", "")
    assert bob("whoami").stdout == "bob\n"


def test_create(server: Server, tools: subprocess.CompletedProcess[str]) -> None:
    assert tools.returncode == 0, tools.stdout + tools.stderr
    assert tools.stdout == f"New project was successfully created: {server.url}/coprs/alice/{PROJECT}/\n"
    project = api(server, "project", ownername="alice", projectname=PROJECT).json()
    assert project["full_name"] == f"alice/{PROJECT}"
    assert project["description"] == "Handy tools"
    assert project["instructions"] == "dnf copr enable alice/tools"
    assert project["enable_net"] is True
    assert project["additional_repos"] == [EXTRA_REPO]
    assert project["chroot_repos"] == {
        c: f"{server.url}/results/alice/{PROJECT}/{c}/" for c in CHROOTS
    }
    # Each enabled chroot is a (still empty) dnf repository at once.
    for chroot in CHROOTS:
        assert wait_for(lambda c=chroot: repo_packages(server, "alice", PROJECT, c) == set(),  # type: ignore[misc]
                        f"empty repodata in {chroot}")


def test_create_unknown_chroot_lists_valid_ones(server: Server, alice: CoprCli) -> None:
    r = alice("create", "nowhere", "--chroot", "fedora-43-x86_64", "--chroot", "fedora-99-x86_64")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "fedora-99-x86_64" in r.stderr and "Valid chroots:" in r.stderr
    listed = r.stderr.split("Valid chroots:", 1)[1]
    assert all(c in listed for c in server.rpmyard("chroot", "list").stdout.split()), r.stderr
    assert api(server, "project", ownername="alice", projectname="nowhere").status_code == 404
    assert not (server.data_dir / "results" / "alice" / "nowhere").exists()


def test_get(server: Server, alice: CoprCli, bob: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    r = alice("get", PROJECT)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == [f"Name: {PROJECT}", "  Description: Handy tools", "  Repo(s):"]
    repos = lines[3:3 + len(CHROOTS)]
    assert sorted(repos) == [f"    {c}: {server.url}/results/alice/{PROJECT}/{c}/" for c in CHROOTS]
    assert lines[3 + len(CHROOTS):] == [f"  Additional repo: {EXTRA_REPO}", ""]
    # Anyone may read a project, with the full owner/project name.
    assert bob("get", f"alice/{PROJECT}").stdout == r.stdout


def test_modify(server: Server, alice: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    args = ["modify", PROJECT, "--description", "Handy tools, second edition"]
    for chroot in CHROOTS_AFTER_MODIFY:
        args += ["--chroot", chroot]
    r = alice(*args)
    assert (r.returncode, r.stderr) == (0, ""), r.stdout + r.stderr
    shown = alice("get", PROJECT, check=True).stdout
    assert "  Description: Handy tools, second edition\n" in shown
    for chroot in CHROOTS_AFTER_MODIFY:
        assert f"    {chroot}: {server.url}/results/alice/{PROJECT}/{chroot}/\n" in shown
    assert "epel-9-x86_64" not in shown
    project = api(server, "project", ownername="alice", projectname=PROJECT).json()
    assert sorted(project["chroot_repos"]) == CHROOTS_AFTER_MODIFY
    # What modify was not given stays as it was.
    assert project["instructions"] == "dnf copr enable alice/tools"
    assert project["enable_net"] is True
    assert project["additional_repos"] == [EXTRA_REPO]
    assert wait_for(lambda: repo_packages(server, "alice", PROJECT, "fedora-45-x86_64") == set(),
                    "empty repodata in the added chroot")


def test_list_own_and_other_users(server: Server, alice: CoprCli, bob: CoprCli,
                                  tools: subprocess.CompletedProcess[str]) -> None:
    own = alice("list")
    assert own.returncode == 0, own.stdout + own.stderr
    assert f"Name: {PROJECT}\n  Description: Handy tools, second edition\n" in own.stdout
    assert own.stdout.count("Name: ") == 1
    # bob lists alice's projects and sees what she sees; he has none of his own.
    other = bob("list", "alice")
    assert (other.returncode, other.stdout) == (0, own.stdout)
    mine = bob("list")
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, "", "No copr retrieved for user: 'bob'\n")


def test_list_chroots(server: Server, alice: CoprCli) -> None:
    server.rpmyard("chroot", "add", NEW_CHROOT, "--comment", NEW_CHROOT_COMMENT)
    r = alice("list-chroots")
    assert r.returncode == 0, r.stdout + r.stderr
    active = server.rpmyard("chroot", "list").stdout.split()
    expected = []
    for name in active:
        expected.append(name)
        if name == NEW_CHROOT:
            expected += ["    Branched Fedora 46", "    builds may break"]
    assert r.stdout.splitlines() == expected
    assert {"fedora-43-x86_64", "fedora-44-x86_64", "epel-9-x86_64", NEW_CHROOT} <= set(active)


def test_get_and_edit_chroot(alice: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    path = f"{PROJECT}/fedora-43-x86_64"
    before = alice("get-chroot", path)
    assert before.returncode == 0, before.stdout + before.stderr
    data = json.loads(before.stdout)
    assert data["mock_chroot"] == "fedora-43-x86_64"
    assert (data["ownername"], data["projectname"]) == ("alice", PROJECT)
    assert data["additional_packages"] == [] and data["additional_repos"] == []

    repos = ["https://repos.example.org/one/", "copr://bob/stuff"]
    r = alice("edit-chroot", path, "--packages", "gcc make", "--repos", " ".join(repos))
    assert (r.returncode, r.stdout) == (0, "Edit chroot operation was successful.\n"), r.stdout + r.stderr

    after = json.loads(alice("get-chroot", f"alice/{path}", check=True).stdout)
    assert after["additional_packages"] == ["gcc", "make"]
    assert after["additional_repos"] == repos
    text = alice("get-chroot", path, "--output-format", "text", check=True).stdout
    assert "additional_packages: ['gcc', 'make']\n" in text
    assert "mock_chroot: fedora-43-x86_64\n" in text
    # Only that chroot changed.
    other = json.loads(alice("get-chroot", f"{PROJECT}/fedora-44-x86_64", check=True).stdout)
    assert other["additional_packages"] == [] and other["additional_repos"] == []


def test_edit_chroot_reset(alice: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    path = f"{PROJECT}/fedora-44-x86_64"
    alice("edit-chroot", path, "--isolation", "simple", "--packages", "vim", check=True)
    edited = json.loads(alice("get-chroot", path, check=True).stdout)
    assert (edited["isolation"], edited["additional_packages"]) == ("simple", ["vim"])
    r = alice("edit-chroot", path, "--reset", "isolation", "--reset", "additional_packages")
    assert (r.returncode, r.stdout) == (0, "Edit chroot operation was successful.\n"), r.stdout + r.stderr
    reset = json.loads(alice("get-chroot", path, check=True).stdout)
    assert (reset["isolation"], reset["additional_packages"]) == ("unchanged", [])


def test_get_chroot_not_enabled(alice: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    r = alice("get-chroot", f"{PROJECT}/epel-9-x86_64")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "epel-9-x86_64" in r.stderr and "fedora-43-x86_64" in r.stderr


def test_mock_config(server: Server, alice: CoprCli, tools: subprocess.CompletedProcess[str]) -> None:
    r = alice("mock-config", PROJECT, "fedora-43-x86_64")
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = r.stdout
    assert "include('/etc/mock/fedora-43-x86_64.cfg')\n" in cfg
    assert f"config_opts['root'] = 'alice-{PROJECT}_fedora-43-x86_64'\n" in cfg
    assert "config_opts['chroot_additional_packages'] = 'gcc make'\n" in cfg
    # The project's repo first, then the additional ones as mock can use them: copr:// and $chroot resolved.
    assert re.findall(r"^baseurl=(.*)$", cfg, re.M) == [
        f"{server.url}/results/alice/{PROJECT}/fedora-43-x86_64/",
        "https://repos.example.org/extra/fedora-43-x86_64/",
        "https://repos.example.org/one/",
        f"{server.url}/results/bob/stuff/fedora-43-x86_64/",
    ]
    # The file is Python that mock can execute: run it with stand-ins for mock's names.
    namespace: dict[str, Any] = {"config_opts": {"dnf.conf": ""}, "include": lambda path: None}
    exec(compile(cfg, "mock.cfg", "exec"), namespace)
    assert f"baseurl={server.url}/results/alice/{PROJECT}/fedora-43-x86_64/" in namespace["config_opts"]["dnf.conf"]

    missing = alice("mock-config", PROJECT, "epel-9-x86_64")
    assert missing.returncode == 1
    assert "epel-9-x86_64" in missing.stderr


# -- builds ------------------------------------------------------------------------------------------


def test_build_upload(server: Server, noarch_build: dict[str, Any], srpms: dict[str, Path],
                      waiting_failed_build: subprocess.Popen[str]) -> None:
    # (waiting_failed_build is requested here only so that its 30 s poll starts early.)
    build_id = noarch_build["id"]
    assert noarch_build["stdout"] == (
        f"Uploading package {srpms['hello-noarch']}\n"
        f"Build was added to {PROJECT}:\n"
        f"  {server.url}/coprs/build/{build_id}\n"
        f"Created builds: {build_id}\n"
    )
    final = noarch_build["final"]
    assert final["state"] == "succeeded", (final, server.log_text()[-4000:])
    assert sorted(final["chroots"]) == CHROOTS_AFTER_MODIFY
    assert final["source_package"]["name"] == "hello-noarch"
    assert final["submitter"] == "alice"
    for chroot in CHROOTS_AFTER_MODIFY:
        rpm = f"hello-noarch-1.0-1.{DIST[chroot]}.noarch.rpm"
        assert (result_dir(server, chroot, build_id, "hello-noarch") / rpm).is_file()
        assert rpm.removesuffix(".rpm") in (repo_packages(server, "alice", PROJECT, chroot) or set())
    # --enable-net on: the project's builds get the network.
    for chroot in CHROOTS_AFTER_MODIFY:
        config = api(server, "build-chroot/build-config", build_id=build_id, chrootname=chroot).json()
        assert config["enable_net"] is True
    page = httpx.get(f"{server.url}/coprs/build/{build_id}", follow_redirects=True, timeout=30)
    assert page.status_code == 200 and "hello-noarch" in page.text


def test_build_from_url(server: Server, url_build: dict[str, Any]) -> None:
    build_id = url_build["id"]
    assert url_build["stdout"] == (
        f"Build was added to {PROJECT}:\n"
        f"  {server.url}/coprs/build/{build_id}\n"
        f"Created builds: {build_id}\n"
    )
    final = url_build["final"]
    assert final["state"] == "succeeded", final
    assert final["chroots"] == ["fedora-43-x86_64"]
    assert (final["source_package"]["name"], final["source_package"]["version"]) == ("hello-c", "1.0-1")
    built = api(server, f"build/built-packages/{build_id}").json()
    arches = {p["arch"] for p in built["fedora-43-x86_64"]["packages"]}
    assert arches == {"x86_64"}
    rpm = result_dir(server, "fedora-43-x86_64", build_id, "hello-c") / "hello-c-1.0-1.fc43.x86_64.rpm"
    assert rpm.is_file()
    # --enable-net off overrides the project's setting for this build.
    config = api(server, "build-chroot/build-config", build_id=build_id, chrootname="fedora-43-x86_64").json()
    assert config["enable_net"] is False


def test_status(alice: CoprCli, noarch_build: dict[str, Any]) -> None:
    r = alice("status", str(noarch_build["id"]))
    assert (r.returncode, r.stdout, r.stderr) == (0, "succeeded\n", "")
    missing = alice("status", "987654")
    assert missing.returncode == 1
    assert "Error: Build 987654 does not exist." in missing.stderr


def test_watch_build(alice: CoprCli, noarch_build: dict[str, Any], url_build: dict[str, Any]) -> None:
    ids = [noarch_build["id"], url_build["id"]]
    r = alice("watch-build", *map(str, ids), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Watching build(s): (this may be safely interrupted)"
    for build_id in ids:
        assert any(re.fullmatch(rf"  \d\d:\d\d:\d\d Build {build_id}: succeeded", line) for line in lines), r.stdout


def test_list_builds(alice: CoprCli, bob: CoprCli, noarch_build: dict[str, Any], url_build: dict[str, Any]) -> None:
    r = alice("list-builds", PROJECT)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [str(noarch_build["id"]), "hello-noarch", "succeeded"] in rows
    assert [str(url_build["id"]), "hello-c", "succeeded"] in rows
    assert "The default setting will be changed from text-row to json" in r.stderr
    as_json = json.loads(bob("list-builds", f"alice/{PROJECT}", "--output-format", "json", check=True).stdout)
    assert {"id": url_build["id"], "name": "hello-c", "state": "succeeded"} in as_json
    assert {"id": noarch_build["id"], "name": "hello-noarch", "state": "succeeded"} in as_json


def test_download_build(server: Server, alice: CoprCli, noarch_build: dict[str, Any], tmp_path: Path) -> None:
    build_id = noarch_build["id"]
    dest = tmp_path / "all"
    r = alice("download-build", str(build_id), "--dest", str(dest), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in dest.iterdir()) == CHROOTS_AFTER_MODIFY
    for chroot in CHROOTS_AFTER_MODIFY:
        rpm = f"hello-noarch-1.0-1.{DIST[chroot]}.noarch.rpm"
        served = result_dir(server, chroot, build_id, "hello-noarch")
        assert (dest / chroot / rpm).read_bytes() == (served / rpm).read_bytes()
        assert "rpmyard: building for" in (dest / chroot / "builder-live.log").read_text()
        assert (dest / chroot / "backend.log").is_file()

    only = tmp_path / "one"
    r = alice("download-build", str(build_id), "--dest", str(only), "-r", "fedora-44-x86_64", "--rpms", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p.name for p in only.iterdir()] == ["fedora-44-x86_64"]
    assert sorted(p.name for p in (only / "fedora-44-x86_64").iterdir()) == [
        "hello-noarch-1.0-1.fc44.noarch.rpm", "hello-noarch-1.0-1.fc44.src.rpm"]


def test_monitor(server: Server, alice: CoprCli, noarch_build: dict[str, Any], url_build: dict[str, Any]) -> None:
    fields = ["name", "chroot", "build_id", "state", "pkg_version", "url_build_log"]
    r = alice("monitor", PROJECT, "--fields", ",".join(fields))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert all(set(row) == set(fields) for row in rows), rows
    by_key = {(row["name"], row["chroot"]): row for row in rows}
    for chroot in CHROOTS_AFTER_MODIFY:
        row = by_key[("hello-noarch", chroot)]
        assert (row["build_id"], row["state"], row["pkg_version"]) == (noarch_build["id"], "succeeded", "1.0-1")
    row = by_key[("hello-c", "fedora-43-x86_64")]
    assert (row["build_id"], row["state"]) == (url_build["id"], "succeeded")
    log = httpx.get(row["url_build_log"], timeout=30)
    assert log.status_code == 200 and "rpmyard: building for fedora-43-x86_64" in log.text
    assert ("hello-c", "fedora-44-x86_64") not in by_key

    text = alice("monitor", PROJECT, "--output-format", "text-row", check=True).stdout
    assert f"hello-c\tfedora-43-x86_64\t{url_build['id']}\tsucceeded\t1.0-1\n" in text


def test_regenerate_repos(server: Server, alice: CoprCli, noarch_build: dict[str, Any]) -> None:
    repodata = server.data_dir / "results" / "alice" / PROJECT / "fedora-43-x86_64" / "repodata"
    shutil.rmtree(repodata)
    assert repo_packages(server, "alice", PROJECT, "fedora-43-x86_64") is None
    r = alice("regenerate-repos", PROJECT)
    assert (r.returncode, r.stdout) == (
        0, f"Submitted action to regenerate repository metadata for the 'alice/{PROJECT}' project.\n"
    ), r.stdout + r.stderr
    packages = wait_for(lambda: repo_packages(server, "alice", PROJECT, "fedora-43-x86_64"), "regenerated repodata")
    assert {"hello-noarch-1.0-1.fc43.noarch", "hello-c-1.0-1.fc43.x86_64"} <= packages


def test_delete_build(server: Server, alice: CoprCli, noarch_build: dict[str, Any], extra_srpms: dict[str, Path],
                      srpms: dict[str, Path]) -> None:
    chroot = "fedora-43-x86_64"
    newer = submit(alice, PROJECT, str(extra_srpms["hello-noarch-2.0"]), "-r", chroot)
    assert wait_build(server, newer)["state"] == "succeeded"
    assert wait_for(lambda: "hello-noarch-2.0-1.fc43.noarch" in (repo_packages(server, "alice", PROJECT, chroot)
                                                                 or set()), "version 2.0 in the repository")
    newer_dir = result_dir(server, chroot, newer, "hello-noarch")
    assert newer_dir.is_dir()

    # All or nothing: with one unknown id in the list, nothing is deleted.
    r = alice("delete-build", str(newer), "987654")
    assert r.returncode == 1 and "Error: Build 987654 does not exist." in r.stderr, r.stdout + r.stderr
    assert newer_dir.is_dir() and api(server, f"build/{newer}").json()["state"] == "succeeded"

    r = alice("delete-build", str(newer))
    assert (r.returncode, r.stdout) == (0, f"Build(s) {newer} were deleted.\n"), r.stdout + r.stderr
    wait_for(lambda: not newer_dir.exists(), "the build's result directory to go")
    assert not (server.data_dir / "results" / "alice" / PROJECT / "srpm-builds" / f"{newer:08d}").exists()
    packages = wait_for(
        lambda: (p := repo_packages(server, "alice", PROJECT, chroot)) is not None
        and "hello-noarch-2.0-1.fc43.noarch" not in p and p,
        "version 2.0 to leave the repository",
    )
    # The other build of the same package is untouched.
    assert "hello-noarch-1.0-1.fc43.noarch" in packages
    gone = alice("status", str(newer))
    assert gone.returncode == 1 and f"Build {newer} does not exist." in gone.stderr
    assert api(server, f"build/{noarch_build['id']}").json()["state"] == "succeeded"

    # A build id is never given out twice, even the newest one after its deletion.
    again = submit(alice, PROJECT, str(srpms["hello-noarch"]), "-r", chroot)
    assert again > newer
    assert wait_build(server, again)["state"] == "succeeded"
    alice("delete-build", str(again), check=True)


def test_cancel_stops_the_build(server: Server, alice: CoprCli, extra_srpms: dict[str, Path]) -> None:
    wait_for(lambda: not sandbox_processes(server), "earlier builds' processes to end", timeout=120)
    chroot = "fedora-43-x86_64"
    build_id = submit(alice, PROJECT, str(extra_srpms["slow"]), "-r", chroot)
    log = wait_running_with_log(server, build_id, chroot, "slow-build", PROJECT)
    procs = sandbox_processes(server)
    assert any(" rpmbuild " in f" {cmd}" for cmd in procs.values()), procs
    workdirs = {Path(m) for cmd in procs.values() for m in re.findall(r"(/\S+/work/task-\d+-\d+)", cmd)}
    assert workdirs
    # While the build streams its log, the API answers promptly (copr-cli polls it meanwhile).
    assert worst_latency(server, build_id, seconds=8, clients=8) < 10


    r = alice("cancel", str(build_id))
    assert (r.returncode, r.stdout) == (0, "canceled\n"), r.stdout + r.stderr
    wait_for(lambda: not still_running(procs), "the build's processes to be gone", timeout=30)
    assert not sandbox_processes(server)
    wait_for(lambda: all(not w.exists() for w in workdirs), "the task work directory to be removed")

    build = api(server, f"build/{build_id}").json()
    assert build["state"] == "canceled" and build["ended_on"] is not None
    wait_for(lambda: api(server, "build-chroot", build_id=build_id, chrootname=chroot).json()["state"] == "canceled",
             "the chroot to be canceled")
    size = log.stat().st_size
    time.sleep(1.5)
    assert log.stat().st_size == size, "the log still grows after the cancel"
    assert "slow-build: tick 59 of 60" not in log.read_text()

    assert alice("status", str(build_id)).stdout == "canceled\n"
    watched = alice("watch-build", str(build_id), timeout=120)
    assert watched.returncode == 4
    assert re.search(rf"  \d\d:\d\d:\d\d Build {build_id}: canceled", watched.stdout)
    assert f"Build error: Build(s) {build_id} canceled." in watched.stderr
    again = alice("cancel", str(build_id))
    assert again.returncode == 1 and f"Cannot cancel build {build_id}" in again.stderr


def test_build_waits_and_reports_failure(server: Server, waiting_failed_build: subprocess.Popen[str]) -> None:
    stdout, stderr = waiting_failed_build.communicate(timeout=180)
    assert waiting_failed_build.returncode == 4, stdout + stderr
    (build_id,) = created_ids(stdout)
    assert f"Build was added to {PROJECT}:\n  {server.url}/coprs/build/{build_id}\n" in stdout
    assert "Watching build(s): (this may be safely interrupted)\n" in stdout
    assert re.search(rf"^  \d\d:\d\d:\d\d Build {build_id}: failed$", stdout, re.M), stdout
    assert f"Build error: Build(s) {build_id} failed." in stderr
    log = result_dir(server, "fedora-43-x86_64", build_id, "fails-to-build") / "builder-live.log"
    assert "deliberate failure: missing-thing.h not found" in log.read_text()
    assert "rpmbuild exited with status" in log.read_text()


# -- what copr-cli prints when something is wrong ----------------------------------------------------


def test_unknown_project(server: Server, alice: CoprCli, srpms: dict[str, Path]) -> None:
    r = alice("get", "nope")
    assert r.returncode == 1
    assert r.stderr == "\nSomething went wrong:\nError: Project alice/nope does not exist.\n"
    r = alice("build", "nope", str(srpms["hello-noarch"]), "--nowait")
    assert r.returncode == 1
    assert "Error: Project alice/nope does not exist." in r.stderr
    assert "Uploading" not in r.stdout
    r = alice("list-builds", "bob/nope")
    assert r.returncode == 1 and "Error: Project bob/nope does not exist." in r.stderr


def test_build_in_unknown_chroot(server: Server, alice: CoprCli, srpms: dict[str, Path]) -> None:
    before = api(server, "build/list", ownername="alice", projectname=PROJECT).json()["items"]
    r = alice("build", PROJECT, str(srpms["hello-noarch"]), "--nowait", "-r", "epel-9-x86_64")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "epel-9-x86_64" in r.stderr
    assert "Valid chroots: " + ", ".join(CHROOTS_AFTER_MODIFY) in r.stderr
    assert api(server, "build/list", ownername="alice", projectname=PROJECT).json()["items"] == before


def test_other_users_project_is_not_allowed(server: Server, alice: CoprCli, bob: CoprCli, srpms: dict[str, Path],
                                            noarch_build: dict[str, Any]) -> None:
    before = api(server, "build/list", ownername="alice", projectname=PROJECT).json()["items"]
    project_before = api(server, "project", ownername="alice", projectname=PROJECT).json()
    auth_line = "Error: Operation requires API authentication."

    r = bob("build", f"alice/{PROJECT}", str(srpms["hello-noarch"]), "--nowait")
    assert r.returncode == 7, r.stdout + r.stderr
    assert auth_line in r.stderr
    assert f"Error: You (bob) are not allowed to build in alice/{PROJECT}." in r.stderr
    assert "Uploading" not in r.stdout

    for args in (["modify", f"alice/{PROJECT}", "--description", "bob was here"],
                 ["edit-chroot", f"alice/{PROJECT}/fedora-43-x86_64", "--packages", "evil"],
                 ["regenerate-repos", f"alice/{PROJECT}"],
                 ["delete", f"alice/{PROJECT}"],
                 ["cancel", str(noarch_build["id"])],
                 ["delete-build", str(noarch_build["id"])]):
        r = bob(*args)
        assert r.returncode == 7, f"{args}: {r.stdout}{r.stderr}"
        assert auth_line in r.stderr, args
        assert "not allowed" in r.stderr or f"Only the owner and admins of alice/{PROJECT}" in r.stderr, r.stderr

    assert api(server, "build/list", ownername="alice", projectname=PROJECT).json()["items"] == before
    assert api(server, "project", ownername="alice", projectname=PROJECT).json() == project_before
    chroot = json.loads(alice("get-chroot", f"{PROJECT}/fedora-43-x86_64", check=True).stdout)
    assert "evil" not in chroot["additional_packages"]
    assert api(server, f"build/{noarch_build['id']}").json()["state"] == "succeeded"


def test_invalid_token(server: Server, alice: CoprCli, srpms: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "copr-bad-token"
    config.write_text(re.sub(r"^token = .*$", "token = " + "x" * 30, alice.config.read_text(), flags=re.M))
    mallory = CoprCli(alice.exe, config)
    expected = (f"Error: Login invalid/expired. Please visit {server.url}/api to get or renew your API token.\n")
    for args in (["create", "stolen", "--chroot", "fedora-43-x86_64"],
                 ["build", PROJECT, str(srpms["hello-noarch"]), "--nowait"],
                 ["delete", PROJECT]):
        r = mallory(*args)
        assert r.returncode == 1, f"{args}: {r.stdout}{r.stderr}"
        assert r.stderr == "\nSomething went wrong:\n" + expected, r.stderr
    assert api(server, "project", ownername="alice", projectname="stolen").status_code == 404
    assert api(server, "project", ownername="alice", projectname=PROJECT).status_code == 200


# -- deleting projects -------------------------------------------------------------------------------


def test_delete_project_with_a_running_build(server: Server, alice: CoprCli, extra_srpms: dict[str, Path]) -> None:
    """Deleting a project stops its builds and leaves no directory behind, even as they wind down."""
    wait_for(lambda: not sandbox_processes(server), "earlier builds' processes to end", timeout=120)
    alice("create", "doomed", "--chroot", "fedora-43-x86_64", check=True)
    build_id = submit(alice, "doomed", str(extra_srpms["slow"]))
    wait_running_with_log(server, build_id, "fedora-43-x86_64", "slow-build", "doomed")
    procs = sandbox_processes(server)
    assert procs

    r = alice("delete", "doomed")
    assert (r.returncode, r.stdout) == (0, "Project doomed has been deleted.\n"), r.stdout + r.stderr
    wait_for(lambda: not still_running(procs), "the build's processes to be gone", timeout=30)
    project_dir = server.data_dir / "results" / "alice" / "doomed"
    wait_for(lambda: not project_dir.exists(), "the project's results to be removed")
    time.sleep(2)  # the canceled build's last log lines and completion arrive after the deletion
    assert not project_dir.exists(), sorted(str(p) for p in project_dir.rglob("*"))
    assert alice("status", str(build_id)).returncode == 1


def test_delete(server: Server, alice: CoprCli, noarch_build: dict[str, Any]) -> None:
    project_dir = server.data_dir / "results" / "alice" / PROJECT
    assert project_dir.is_dir()
    r = alice("delete", PROJECT)
    assert (r.returncode, r.stdout) == (0, f"Project {PROJECT} has been deleted.\n"), r.stdout + r.stderr

    gone = alice("get", PROJECT)
    assert gone.returncode == 1
    assert gone.stderr == f"\nSomething went wrong:\nError: Project alice/{PROJECT} does not exist.\n"
    wait_for(lambda: not project_dir.exists(), "the project's results directory to be removed")
    assert httpx.get(f"{server.url}/results/alice/{PROJECT}/", timeout=30).status_code == 404
    status = alice("status", str(noarch_build["id"]))
    assert status.returncode == 1 and "does not exist" in status.stderr
    listed = alice("list")
    assert (listed.stdout, listed.stderr) == ("", "No copr retrieved for user: 'alice'\n")
    assert os.listdir(server.data_dir / "results" / "alice") == []
