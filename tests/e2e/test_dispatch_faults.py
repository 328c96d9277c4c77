"""Nothing is lost when anything dies: real `rpmyard worker` processes, real RabbitMQ, the real
database (SQLite or PostgreSQL per RPMYARD_TEST_DB), real builds. Leases here are 3 s with 0.5 s
heartbeats (the defaults are 20 s and 2 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.distributed import CHROOT, Cluster, cluster
from tests.support.server import ROOT
from tests.support.srpms import make_srpm


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path) as cl:
        yield cl


@pytest.fixture(scope="module")
def trivial(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("trivial")
    return [make_srpm("hello-noarch", d, version=f"1.{i}") for i in range(30)]


def slow_srpm(tmp: Path, seconds: int) -> Path:
    return make_srpm("slow", tmp / f"slow{seconds}", defines={"sleep_seconds": str(seconds)})


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def test_stale_worker_that_comes_back_is_refused(c: Cluster, tmp_path: Path) -> None:
    c.user("sam")
    stale = c.worker("stale")
    build = c.submit("sam", slow_srpm(tmp_path, 4))
    c.wait([build], ("running",), timeout=60)
    stale.signal(signal.SIGSTOP)  # frozen: no heartbeats, lease expires
    try:
        rescuer = c.worker("rescuer")
        assert c.wait([build])[build] == "succeeded"
        assert "worker rescuer" in c.backend_log("sam", build, "slow-build")
    finally:
        stale.signal(signal.SIGCONT)
    # The stale worker finishes its copy and tries to upload: refused, nothing changes.
    deadline = time.monotonic() + 60
    while "refused: 409" not in stale.log_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "refused: 409" in stale.log_text()
    assert "worker rescuer" in c.backend_log("sam", build, "slow-build")
    assert c.build(build)["state"] == "succeeded"
    c.assert_nothing_lost("sam", [build])
    rescuer.stop()


def test_broker_restart_with_30_builds_in_flight(c: Cluster, trivial: list[Path]) -> None:
    c.user("bea")
    c.worker("w1", "--slots", "2")
    c.worker("w2", "--slots", "2")
    builds = [c.submit("bea", s) for s in trivial]
    c.wait(builds[:2], ("running", "succeeded"), timeout=60)
    rabbitmqctl("stop_app")
    try:
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")
    states = c.wait(builds, timeout=300)
    assert set(states.values()) == {"succeeded"}, states
    c.assert_nothing_lost("bea", builds)


def test_frontend_and_dispatcher_killed_and_restarted(c: Cluster, trivial: list[Path], tmp_path: Path) -> None:
    c.user("fred")
    c.worker("w1", "--slots", "2")
    builds = [c.submit("fred", s) for s in trivial[:10]] + [c.submit("fred", slow_srpm(tmp_path, 5))]
    c.wait(builds[-1:], ("running",), timeout=120)
    c.server.stop(signal.SIGKILL)
    time.sleep(2)
    c.server.start()
    states = c.wait(builds, timeout=300)
    assert set(states.values()) == {"succeeded"}, states
    c.assert_nothing_lost("fred", builds)


def test_build_that_kills_its_worker_is_tried_on_three_hosts_then_fails(c: Cluster, tmp_path: Path) -> None:
    c.user("kim")
    build = c.submit("kim", slow_srpm(tmp_path, 30))
    hosts = []
    for n in range(3):
        w = c.worker(f"victim{n}")
        c.wait([build], ("running",), timeout=60)
        deadline = time.monotonic() + 30
        while f"worker victim{n}" not in c.backend_log("kim", build, "slow-build") and time.monotonic() < deadline:
            time.sleep(0.2)
        w.signal(signal.SIGKILL)  # the build "crashes" its host
        hosts.append(w.name)
        if n < 2:
            c.wait([build], ("pending",), timeout=30)
    assert c.wait([build], timeout=60)[build] == "failed"
    page = httpx.get(f"{c.server.url}/coprs/build/{build}/").text
    assert "gave up after 3 attempts" in page
    built = httpx.get(f"{c.server.url}/api_3/build-chroot?build_id={build}&chrootname={CHROOT}").json()
    assert built["state"] == "failed"


def test_long_build_outlives_the_consumer_ack_timeout(c: Cluster, tmp_path: Path) -> None:
    """RabbitMQ's consumer_timeout lowered to 3 s for this test (30 min by default): a healthy
    build running 4x that long is not redelivered, because workers ack an assignment as soon as
    its build thread starts and report through their own messages."""
    rabbitmqctl("eval", "application:set_env(rabbit, consumer_timeout, 3000).")
    try:
        c.user("lou")
        c.worker("patient")
        build = c.submit("lou", slow_srpm(tmp_path, 12))
        assert c.wait([build], timeout=120)[build] == "succeeded"
        log = c.backend_log("lou", build, "slow-build")
        assert "attempt 1" in log and "attempt 2" not in log
    finally:
        rabbitmqctl("eval", "application:set_env(rabbit, consumer_timeout, 1800000).")


def test_fair_share_with_two_slots(c: Cluster, trivial: list[Path]) -> None:
    c.user("bulk")
    c.user("solo")
    c.worker("w", "--slots", "2")
    batch = [c.submit("bulk", trivial[i % len(trivial)]) for i in range(60)]
    c.wait(batch[:1], ("running", "succeeded"), timeout=60)
    single = c.submit("solo", trivial[0])
    c.wait(batch + [single], timeout=600)
    submitted, started = c.build(single)["submitted_on"], c.build(single)["started_on"]
    # The single build did not wait behind the batch: it started within about one build's time of
    # being submitted (a trivial build takes well under a second; timestamps are whole seconds),
    # and no batch build that was not yet running when it came overtook it.
    assert started - submitted <= 3, f"the single build waited {started - submitted} s for a slot"
    overtook = [b for b in batch if submitted < c.build(b)["started_on"] < started]
    assert not overtook, f"batch builds {overtook} started after the single one came, before it"
    assert all(c.build(b)["state"] == "succeeded" for b in batch + [single])


def test_workers_get_only_their_own_arch(c: Cluster, tmp_path: Path) -> None:
    c.user("ana", chroots=(CHROOT, "fedora-43-aarch64"))
    c.worker("x86", "--arch", "x86_64")
    c.worker("arm", "--arch", "aarch64")
    hello_c = make_srpm("hello-c", tmp_path / "c")
    build = c.submit("ana", hello_c, chroots=(CHROOT, "fedora-43-aarch64"))
    c.wait([build], timeout=120)
    assert "worker x86," in c.backend_log("ana", build, "hello-c", CHROOT)
    arm_log = c.backend_log("ana", build, "hello-c", "fedora-43-aarch64")
    assert "worker arm," in arm_log
    chroots = {bc["name"]: bc["state"] for bc in
               httpx.get(f"{c.server.url}/api_3/build-chroot/list?build_id={build}").json()["items"]}
    assert chroots[CHROOT] == "succeeded"
    # This host cannot run aarch64 code: the arm worker got the task and says why it cannot build it.
    assert chroots["fedora-43-aarch64"] == "failed"
    noarch = c.submit("ana", make_srpm("hello-noarch", tmp_path / "n"), chroots=(CHROOT, "fedora-43-aarch64"))
    assert c.wait([noarch])[noarch] == "succeeded"  # noarch builds anywhere


def test_two_dispatchers_one_leads_the_other_takes_over(tmp_path: Path, trivial: list[Path]) -> None:
    with cluster(tmp_path, RPMYARD_DISPATCHER="false") as c:
        logs = [tmp_path / f"dispatcher{i}.log" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, "-m", "rpmyard.cli", "dispatcher"], env=c.server.env,
                                  cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
                 for log in logs]
        try:
            c.user("dot")
            c.worker("w1", "--slots", "2")
            first = [c.submit("dot", s) for s in trivial[:4]]
            assert set(c.wait(first).values()) == {"succeeded"}
            leaders = [i for i, log in enumerate(logs) if "this dispatcher is the leader" in log.read_text()]
            assert len(leaders) == 1, [log.read_text()[-500:] for log in logs]
            leader = leaders[0]
            os.killpg(procs[leader].pid, signal.SIGKILL)
            second = [c.submit("dot", s) for s in trivial[4:8]]
            assert set(c.wait(second, timeout=120).values()) == {"succeeded"}
            assert "this dispatcher is the leader" in logs[1 - leader].read_text()
            c.assert_nothing_lost("dot", first + second)
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


def test_cancel_reaches_a_remote_build_within_about_a_second(c: Cluster, tmp_path: Path) -> None:
    c.user("cal")
    w = c.worker("far")
    build = c.submit("cal", slow_srpm(tmp_path, 60))
    c.wait([build], ("running",), timeout=60)
    marker = f"{tmp_path}/far/task-"  # the sandbox (bwrap) command line holds the worker's build directory
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", f"bwrap.*{marker}"], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "the build never started rpmbuild"
        time.sleep(0.1)
    t0 = time.monotonic()
    r = c.clients["cal"].put(f"/api_3/build/cancel/{build}")
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    while subprocess.run(["pgrep", "-f", f"bwrap.*{marker}"], capture_output=True).returncode == 0:
        assert time.monotonic() - t0 < 5, "the sandbox still runs 5 s after cancel"
        time.sleep(0.05)
    killed_after = time.monotonic() - t0
    assert killed_after < 2.5, f"sandbox killed {killed_after:.2f} s after cancel"
    chroot = c.wait([build], ("canceled",), timeout=30)
    assert chroot[build] == "canceled"
    assert w.proc.poll() is None  # the worker itself lives on


def test_worker_without_the_frontends_worker_token_is_refused(tmp_path: Path) -> None:
    with cluster(tmp_path, RPMYARD_WORKER_TOKEN="s3cret-worker-token") as c:
        c.user("tom")
        intruder = c.worker("intruder")
        build = c.submit("tom", make_srpm("hello-noarch", tmp_path / "n"))
        assert c.wait([build])[build] == "failed"
        assert "401" in intruder.log_text() or "worker token" in intruder.log_text()
        intruder.stop()
        c.worker("trusted", "--token", "s3cret-worker-token")
        again = c.submit("tom", make_srpm("hello-noarch", tmp_path / "m", version="1.1"))
        assert c.wait([again])[again] == "succeeded"


def test_drain_finishes_the_running_build_then_the_worker_exits(c: Cluster, tmp_path: Path) -> None:
    c.user("dee")
    w = c.worker("drainee")
    build = c.submit("dee", slow_srpm(tmp_path, 4))
    c.wait([build], ("running",), timeout=60)
    subprocess.run([sys.executable, "-m", "rpmyard.cli", "worker", "--broker", c.broker, "--frontend", c.server.url,
                    "--name", "drainee", "--drain"], check=True, cwd=ROOT, capture_output=True, timeout=60)
    later = c.submit("dee", make_srpm("hello-noarch", tmp_path / "n"))
    assert c.wait([build])[build] == "succeeded"
    w.proc.wait(timeout=60)  # it exits once idle
    assert c.build(later)["state"] == "pending"  # and took nothing new
    workers = httpx.get(f"{c.server.url}/api/workers").json()["workers"]
    assert [x["state"] for x in workers if x["name"] == "drainee"] in (["draining"], ["gone"], ["lost"])
    c.worker("fresh")
    assert c.wait([later])[later] == "succeeded"
