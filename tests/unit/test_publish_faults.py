"""Publishing under faults: kill -9 at any moment, a full filesystem, racing publishers, readers
polling while repodata is replaced. Real processes, a real (small) tmpfs, real rpm and gpg."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Hashable, Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rpmyard.publish.engine import PublishError, publish_chroot
from rpmyard.publish.repodata import Publisher
from rpmyard.publish.signing import Keyring
from tests.support.repos import (
    REPO_NS,
    add_build,
    build_rpms,
    check_repodata,
    repodata_locations,
    rpm_signature_check,
)
from tests.support.server import ROOT

CHROOT = "fedora-43-x86_64"


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("rpms")
    return {
        "one": build_rpms(out / "one", "one"),
        "two": build_rpms(out / "two", "two", subpackages=3),
        "bulk": build_rpms(out / "bulk", "bulk", subpackages=3000, files=False),
        "signme": build_rpms(out / "signme", "signme", subpackages=150, files=False),
    }


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("data") / "keys"
    kr = Keyring(d, "rpmyard.test")
    kr.ensure("alice", "tools")  # made once: the processes below share it
    yield d
    kr.close()


@pytest.fixture
def chroot(tmp_path: Path) -> Path:
    d = tmp_path / "results" / "alice" / "tools" / CHROOT
    d.mkdir(parents=True)
    return d


def spawn(chroot: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.publish_proc", str(chroot), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def finish(proc: subprocess.Popen[str]) -> int:
    """Wait for a publisher run; its exit status, its stderr shown should it fail."""
    _out, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        print(f"publisher exited with {proc.returncode}:\n{err}")
    return proc.returncode


def kill_group(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL the publisher and everything it started (rpmsign, gpg); True if it was still running."""
    running = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    return running


def probe_duration(chroot: Path, build: tuple[int, str, list[Path]], *args: str) -> float:
    """How long publishing ``build`` into a copy of ``chroot`` takes here, uninterrupted."""
    probe = chroot.parents[3] / "probe" / "alice" / "tools" / CHROOT
    shutil.copytree(chroot, probe, symlinks=True)
    add_build(probe, *build)
    t0 = time.monotonic()
    proc = spawn(probe, *args)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    return time.monotonic() - t0


def kill_repeatedly(chroot: Path, duration: float, times: int, old: list[str], new_count: int, *args: str) -> None:
    """Start and SIGKILL a publisher ``times`` times, at moments spread over ``duration``."""
    interrupted = 0
    for i in range(times):
        proc = spawn(chroot, *args)
        time.sleep(duration * (i + 0.5) / times)
        interrupted += kill_group(proc)
        now = repodata_locations(chroot)  # raises if a file is missing or a checksum is wrong
        assert now == old or len(now) == new_count, len(now)
    assert interrupted, "no kill landed while a publisher ran"


def test_kill_9_while_writing_leaves_valid_repodata(chroot: Path, rpms: dict[str, list[Path]]) -> None:
    """Kills spread over indexing and writing 3,000 packages: repodata is always complete (every
    checksum right) and shows the old state or the new one, never a mix; the next run finishes."""
    add_build(chroot, 1, "one", rpms["one"])
    publish_chroot(chroot)
    old = repodata_locations(chroot)
    bulk = (2, "bulk", rpms["bulk"])
    duration = probe_duration(chroot, bulk)
    add_build(chroot, *bulk)
    kill_repeatedly(chroot, duration, 20, old, 3002)
    assert finish(spawn(chroot)) == 0
    assert len(repodata_locations(chroot)) == 3002
    assert not (chroot / ".repodata").exists()


def test_kill_9_while_signing_leaves_valid_repodata_and_signed_packages(
        chroot: Path, keys: Path, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "one", rpms["one"])
    assert finish(spawn(chroot, "--keys", str(keys))) == 0
    old = repodata_locations(chroot)
    build = (2, "signme", rpms["signme"])
    duration = probe_duration(chroot, build, "--keys", str(keys))
    d = add_build(chroot, *build)
    kill_repeatedly(chroot, duration, 6, old, 152, "--keys", str(keys))
    assert finish(spawn(chroot, "--keys", str(keys))) == 0
    assert len(repodata_locations(chroot)) == 152
    check = rpm_signature_check(sorted(d.glob("*.rpm")), chroot.parent / "pubkey.gpg")
    assert check.returncode == 0 and check.stdout.count("signatures OK") == 151, check.stdout[-2000:]
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []  # no copy or .sig left


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(fs: Path) -> Path:
    """Write until the filesystem is full; returns the filler file."""
    filler = fs / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_filesystem_fails_clearly_keeps_old_repodata_and_recovers(
        small_fs: Path, tmp_path: Path, rpms: dict[str, list[Path]]) -> None:
    keyring = Keyring(tmp_path / "keys", "rpmyard.test")  # keys live elsewhere, as under data_dir
    try:
        chroot = small_fs / "alice" / "tools" / CHROOT
        chroot.mkdir(parents=True)
        add_build(chroot, 1, "one", rpms["one"])
        publish_chroot(chroot, keyring.key_for_chroot)
        before = (chroot / "repodata" / "repomd.xml").read_bytes()

        add_build(chroot, 2, "two", rpms["two"])
        filler = fill(small_fs)
        with pytest.raises(PublishError) as err:
            publish_chroot(chroot, keyring.key_for_chroot)
        assert err.value.retryable
        assert "no space left on device" in str(err.value).lower(), str(err.value)
        assert (chroot / "repodata" / "repomd.xml").read_bytes() == before
        assert repodata_locations(chroot) == ["00000001-one/one-1.0-1.noarch.rpm"]
        assert not (chroot / ".repodata").exists()

        filler.unlink()
        publish_chroot(chroot, keyring.key_for_chroot)
        assert len(repodata_locations(chroot)) == 5

        # Packages that need no signing: now the cache or the repodata writing meets the full disk.
        add_build(chroot, 3, "two", sorted((chroot / "00000002-two").glob("*.rpm")))
        before = (chroot / "repodata" / "repomd.xml").read_bytes()
        filler = fill(small_fs)
        with pytest.raises(PublishError) as err:
            publish_chroot(chroot, keyring.key_for_chroot)
        assert err.value.retryable and "no space left on device" in str(err.value).lower(), str(err.value)
        assert (chroot / "repodata" / "repomd.xml").read_bytes() == before
        assert len(repodata_locations(chroot)) == 5
        filler.unlink()
        publish_chroot(chroot, keyring.key_for_chroot)
        assert len(repodata_locations(chroot)) == 9
    finally:
        keyring.close()


def test_publisher_retries_a_full_disk_and_reports_when_space_is_back(
        small_fs: Path, tmp_path: Path, rpms: dict[str, list[Path]]) -> None:
    keyring = Keyring(tmp_path / "keys", "rpmyard.test")
    done: list[tuple[list[Hashable], str | None]] = []
    retries: list[str | None] = []
    publisher = Publisher(lambda _d, tokens, error: done.append((tokens, error)), key_for=keyring.key_for_chroot,
                          queue_dir=tmp_path / "queue")
    publisher.on_retry = lambda _d, _tokens, error: retries.append(error)
    publisher.start()
    try:
        chroot = small_fs / "alice" / "tools" / CHROOT
        chroot.mkdir(parents=True)
        add_build(chroot, 1, "two", rpms["two"])
        filler = fill(small_fs)
        publisher.request(chroot, "build-1", build_dir="00000001-two")
        _wait(lambda: len(retries) >= 2, "two retries")
        assert not done
        assert "no space left on device" in str(retries[0]).lower()
        assert list((tmp_path / "queue").glob("*.req")), "the request is recorded until it succeeds"
        filler.unlink()
        _wait(lambda: bool(done), "the publish after space came back", timeout=90)
        assert done == [(["build-1"], None)]
        assert len(repodata_locations(chroot)) == 4
        assert publisher.wait_idle()
        assert not list((tmp_path / "queue").glob("*.req"))
    finally:
        publisher.stop()
        keyring.close()


def test_racing_publishers_lose_no_package(chroot: Path, keys: Path, rpms: dict[str, list[Path]]) -> None:
    rpm = str(rpms["one"][0])
    racers = [spawn(chroot, "--keys", str(keys), "--add-builds", f"{first}:15:{rpm}") for first in (100, 200)]
    for proc in racers:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    expected = [f"{i:08d}-racer/one-1.0-1.noarch.rpm" for i in [*range(100, 115), *range(200, 215)]]
    assert repodata_locations(chroot) == expected


def test_readers_never_see_partial_metadata(chroot: Path, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "bulk", rpms["bulk"])
    publish_chroot(chroot)
    stop = threading.Event()
    seen: set[bytes] = set()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                raw = (chroot / "repodata" / "repomd.xml").read_bytes()
            except FileNotFoundError:
                problems.append("repomd.xml missing")
                continue
            try:
                root = ElementTree.fromstring(raw)
            except ElementTree.ParseError as exc:
                problems.append(f"partial repomd.xml: {exc}")
                continue
            seen.add(raw)
            for d in root.findall(f"{REPO_NS}data"):
                href = str(d.find(f"{REPO_NS}location").get("href"))  # type: ignore[union-attr]
                try:
                    data = (chroot / href).read_bytes()
                except FileNotFoundError:
                    continue  # two generations went by since we read repomd.xml: a reader retries
                if hashlib.sha256(data).hexdigest() != d.findtext(f"{REPO_NS}checksum"):
                    problems.append(f"{href}: wrong checksum")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(2, 22):
            add_build(chroot, i, "one", rpms["one"])
            publish_chroot(chroot, hints=[f"{i:08d}-one"])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not problems, problems[:5]
    assert len(seen) >= 2
    check_repodata(chroot)


def _wait(cond: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
