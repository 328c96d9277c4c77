"""The bubblewrap sandbox, exercised with real bwrap and real processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpmyard.builder import sandbox
from rpmyard.builder.sandbox import SandboxResult, mock_available, run_sandboxed, sandbox_backend
from tests.support.dirs import visible_tempdir


class Log:
    """Collects what the sandbox hands to ``log``, with arrival times."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, bytes]] = []

    def __call__(self, chunk: bytes) -> None:
        self.chunks.append((time.monotonic(), chunk))

    @property
    def text(self) -> str:
        return b"".join(chunk for _, chunk in self.chunks).decode("utf-8", "replace")


def run(script: str, workdir: Path, **kwargs: object) -> tuple[SandboxResult, str]:
    log = Log()
    options: dict = {"timeout": 30.0, "cancel": threading.Event(), **kwargs}
    result = run_sandboxed(["bash", "-c", script], workdir=workdir, log=log, **options)
    return result, log.text


def marker_processes(pattern: str) -> list[str]:
    """Command lines of live processes matching ``pattern``, anywhere on the host."""
    found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
    return found.stdout.splitlines()


def wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def visible_dir() -> Iterator[Path]:
    """A directory outside /tmp, which the sandbox would hide anyway."""
    with visible_tempdir() as path:
        yield path


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP server on the host's loopback, accepting in the background; yields its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def test_backend_names() -> None:
    assert sandbox_backend() == "bubblewrap"
    assert mock_available() is (shutil.which("mock") is not None)


def test_workdir_is_writable_and_the_command_runs_there(tmp_path: Path) -> None:
    result, text = run("pwd; echo built > out.txt", tmp_path)
    assert result == SandboxResult(returncode=0, timed_out=False, canceled=False)
    assert text.strip() == str(tmp_path)
    assert (tmp_path / "out.txt").read_text() == "built\n"


def test_the_host_is_read_only(tmp_path: Path) -> None:
    target = Path("/usr") / f"rpmyard-{uuid.uuid4().hex}"
    result, text = run(f"touch {target}", tmp_path)
    assert result.returncode != 0
    assert "Read-only file system" in text
    assert not target.exists()


def test_visible_paths_outside_workdir_are_read_only(tmp_path: Path, visible_dir: Path) -> None:
    (visible_dir / "file").write_text("host data\n")
    result, text = run(f"cat {visible_dir}/file && echo changed > {visible_dir}/file", tmp_path)
    assert "host data" in text
    assert result.returncode != 0
    assert (visible_dir / "file").read_text() == "host data\n"


def test_hidden_paths_are_empty(tmp_path: Path, visible_dir: Path) -> None:
    data = visible_dir / "data"
    data.mkdir()
    (data / "signing.key").write_text("SECRET-KEY\n")
    single = visible_dir / "rpmyard.db"
    single.write_text("SECRET-DB\n")
    script = f"ls -A {data}; cat {data}/signing.key; cat {single}; echo end"

    result, text = run(script, tmp_path)
    assert "SECRET-KEY" in text and "SECRET-DB" in text, "without hiding, the test files must be readable"

    result, text = run(script, tmp_path, hide_paths=[data, single])
    assert "SECRET" not in text
    assert text.splitlines()[0].startswith("cat: "), "ls of the hidden directory must print nothing"
    assert text.rstrip().endswith("end")


def test_a_workdir_inside_a_hidden_data_dir_stays_usable(visible_dir: Path) -> None:
    data = visible_dir / "data"
    workdir = data / "builds" / "42"
    workdir.mkdir(parents=True)
    (data / "signing.key").write_text("SECRET-KEY\n")
    result, text = run(
        f"ls -A {data}; cat {data}/signing.key; echo ok > result.txt", workdir, hide_paths=[data]
    )
    assert result.returncode == 0
    assert "SECRET" not in text
    assert text.splitlines()[0] == "builds", "only the way to the work directory is there"
    assert (workdir / "result.txt").read_text() == "ok\n"


def test_home_run_and_tmp_are_private(tmp_path: Path) -> None:
    result, text = run("ls -A /root /run /var/tmp; echo marker > /tmp/scratch; cat /tmp/scratch", tmp_path)
    assert result.returncode == 0
    lines = [line for line in text.splitlines() if line and not line.endswith(":")]
    assert lines == ["marker"]
    assert not Path("/tmp/scratch").exists()


def test_environment_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPMYARD_WORKER_SECRET", "leak")
    result, text = run("env", tmp_path, env={"EXTRA": "yes"})
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert "RPMYARD_WORKER_SECRET" not in env
    assert env["HOME"] == str(tmp_path)
    assert env["LANG"] == "C.UTF-8"
    assert env["EXTRA"] == "yes"
    assert "/usr/bin" in env["PATH"].split(":")


def test_network_is_off_by_default(tmp_path: Path, host_listener: int) -> None:
    result, text = run(f"exec 3<>/dev/tcp/127.0.0.1/{host_listener} && echo CONNECTED", tmp_path)
    assert result.returncode != 0
    assert "CONNECTED" not in text
    result, text = run("exec 3<>/dev/tcp/1.1.1.1/80 && echo CONNECTED", tmp_path)
    assert result.returncode != 0
    assert "Network is unreachable" in text


def test_loopback_inside_the_sandbox_is_its_own(tmp_path: Path) -> None:
    # A server and a client inside the sandbox still talk over the sandbox's own loopback.
    script = (
        'python3 -c \'import socket,sys; s=socket.create_server(("127.0.0.1", 0)); '
        'c=socket.create_connection(s.getsockname()); print("loopback ok")\''
    )
    result, text = run(script, tmp_path)
    assert result.returncode == 0, text
    assert "loopback ok" in text


def test_enable_net_shares_the_hosts_network(tmp_path: Path, host_listener: int) -> None:
    result, text = run(
        f"exec 3<>/dev/tcp/127.0.0.1/{host_listener} && echo CONNECTED", tmp_path, enable_net=True
    )
    assert result.returncode == 0, text
    assert "CONNECTED" in text


def test_output_is_merged_and_streamed_while_running(tmp_path: Path) -> None:
    log = Log()
    started = time.monotonic()
    script = "echo to-stdout; echo to-stderr >&2; sleep 1.5; echo last"
    result = run_sandboxed(
        ["bash", "-c", script], workdir=tmp_path, log=log, timeout=30, cancel=threading.Event()
    )
    ended = time.monotonic()
    assert result.returncode == 0
    assert "to-stdout" in log.text and "to-stderr" in log.text and "last" in log.text
    first_arrival = log.chunks[0][0]
    assert first_arrival - started < ended - started - 1.0, "the first line must arrive before the end"


def test_a_chatty_build_does_not_deadlock(tmp_path: Path) -> None:
    received = 0

    def count(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)

    result = run_sandboxed(
        ["bash", "-c", "head -c 50000000 /dev/zero"],
        workdir=tmp_path,
        log=count,
        timeout=60,
        cancel=threading.Event(),
    )
    assert result.returncode == 0
    assert received == 50_000_000


def test_a_failing_log_callback_does_not_hang_the_build(tmp_path: Path) -> None:
    def broken(chunk: bytes) -> None:
        raise RuntimeError("log storage is gone")

    result = run_sandboxed(
        ["bash", "-c", "for i in $(seq 1000); do echo line $i; done"],
        workdir=tmp_path,
        log=broken,
        timeout=30,
        cancel=threading.Event(),
    )
    assert result.returncode == 0


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    marker = f"rpmyard-timeout-{uuid.uuid4().hex}"
    # A grandchild in the background, one that even left the process group with setsid.
    script = f"sh -c 'sleep 100; : {marker}' & setsid sh -c 'sleep 100; : {marker}' & sleep 100; : {marker}"
    started = time.monotonic()
    result, _ = run(script, tmp_path, timeout=1.0)
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.canceled
    assert result.returncode != 0
    assert elapsed < 3.5
    assert wait_for(lambda: not marker_processes(marker), 2.0), marker_processes(marker)


def test_cancel_stops_the_tree_within_a_second_and_a_half(tmp_path: Path) -> None:
    marker = f"rpmyard-cancel-{uuid.uuid4().hex}"
    cancel = threading.Event()
    outcome: list[SandboxResult] = []
    script = f"sh -c 'sleep 100; : {marker}' & sleep 100; : {marker}"
    thread = threading.Thread(
        target=lambda: outcome.append(
            run_sandboxed(["bash", "-c", script], workdir=tmp_path, log=Log(), timeout=60, cancel=cancel)
        )
    )
    thread.start()
    # Only when the grandchild exists does the test prove anything about killing it.
    grandchild = f"^sh -c sleep 100; : {marker}"
    assert wait_for(lambda: marker_processes(grandchild), 10.0), marker_processes(marker)
    canceled_at = time.monotonic()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - canceled_at < 1.5
    assert outcome[0].canceled and not outcome[0].timed_out
    assert wait_for(lambda: not marker_processes(marker), 2.0), marker_processes(marker)


def test_memory_limit_applies_to_the_build(tmp_path: Path) -> None:
    allocate = "python3 -c 'bytearray(400 * 1024 * 1024); print(\"allocated\")'"
    result, text = run(allocate, tmp_path, memory_limit_mb=1024)
    assert result.returncode == 0 and "allocated" in text
    result, text = run(allocate, tmp_path, memory_limit_mb=200)
    assert result.returncode != 0
    assert "MemoryError" in text


def test_missing_bwrap_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox looks bwrap up on its own fixed PATH; point that at an empty directory.
    monkeypatch.setattr(sandbox, "SAFE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="bubblewrap \\(bwrap\\) is not installed"):
        run("true", tmp_path)
