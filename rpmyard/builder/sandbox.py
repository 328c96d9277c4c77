"""Running untrusted build commands under bubblewrap.

A spec file is a shell script written by whoever uploaded the SRPM. It runs with the host's
tools but sees the host read-only, gets private /tmp, /run, /root and /home, cannot see the
service's data directory (database, signing keys), and has no network unless the project
allows it. Only the build's own work directory is writable.

Why bubblewrap rather than mock: mock needs a populated chroot per target and root-owned
setup, while bwrap runs anywhere user namespaces work. A mock backend can be added later
behind the same function.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rpmyard.builder.rpmtools import SAFE_PATH

_log = logging.getLogger(__name__)

#: Host directories replaced by an empty tmpfs in every sandbox: scratch space the build may use
#: but must not share with the host, /run because its sockets (docker, dbus) stay connectable
#: through a read-only mount, and the home directories because they hold users' credentials.
ALWAYS_HIDDEN = (Path("/tmp"), Path("/var/tmp"), Path("/run"), Path("/root"), Path("/home"))

#: How often cancel and the deadline are looked at; bounds how late a cancel is noticed.
POLL_SECONDS = 0.1
#: Time between SIGTERM and SIGKILL when stopping a build.
KILL_GRACE_SECONDS = 1.0
#: How long to wait for the last output after the process ended.
DRAIN_SECONDS = 2.0


@dataclass
class SandboxResult:
    """How a sandboxed command ended; returncode is negative when it was killed by a signal."""

    returncode: int
    timed_out: bool
    canceled: bool


def sandbox_backend() -> str:
    """The name of the isolation used for builds, reported in the worker inventory."""
    return "bubblewrap"


def mock_available() -> bool:
    """Whether mock is installed; reported to the dispatcher, not used for building yet."""
    return shutil.which("mock") is not None


def sandbox_command(
    argv: Sequence[str],
    *,
    workdir: Path,
    enable_net: bool = False,
    hide_paths: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The full bwrap command line for ``argv``; separate so it can be logged and inspected."""
    bwrap = shutil.which("bwrap", path=SAFE_PATH)
    if bwrap is None:
        raise RuntimeError(
            "bubblewrap (bwrap) is not installed: builds run only inside its sandbox; "
            "install the 'bubblewrap' package"
        )
    workdir = workdir.resolve()
    cmd = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # bwrap cannot create a mount point on the read-only root, and there is nothing to hide in a
    # path that does not exist, so missing paths are skipped. A hidden file is covered with
    # /dev/null, which cannot even be opened there because bind mounts are nodev.
    for path in [*ALWAYS_HIDDEN, *(Path(p).resolve() for p in hide_paths)]:
        if path.is_dir():
            cmd += ["--tmpfs", str(path)]
        elif path.exists():
            cmd += ["--ro-bind", "/dev/null", str(path)]
    if enable_net:
        # With systemd-resolved, /etc/resolv.conf points into the now hidden /run.
        resolv = Path("/etc/resolv.conf").resolve()
        if resolv.is_relative_to("/run") and resolv.is_file():
            cmd += ["--ro-bind", str(resolv), str(resolv)]
    # Bound last, so a work directory below a hidden path (the data directory) is still there.
    cmd += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    cmd += ["--unshare-all", *(["--share-net"] if enable_net else []), "--die-with-parent", "--new-session"]
    environment = {"PATH": SAFE_PATH, "HOME": str(workdir), "LANG": "C.UTF-8", **(env or {})}
    cmd.append("--clearenv")
    for key, value in environment.items():
        cmd += ["--setenv", key, value]
    return [*cmd, "--", *argv]


def run_sandboxed(
    argv: list[str],
    *,
    workdir: Path,
    log: Callable[[bytes], None],
    timeout: float,
    cancel: threading.Event,
    enable_net: bool = False,
    memory_limit_mb: int | None = None,
    hide_paths: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run ``argv`` in the sandbox, streaming its merged output to ``log`` as it arrives.

    Stops the whole process tree on timeout or when ``cancel`` is set, and returns within about
    a second of either.

    The memory limit is an address-space limit (RLIMIT_AS) applied by ``prlimit`` around bwrap,
    inherited by everything the build starts. prlimit rather than a ``preexec_fn`` because the
    worker is threaded and preexec_fn is not safe there; RLIMIT_AS rather than a cgroup because
    creating cgroups needs privileges or a systemd session that a worker may not have. RLIMIT_AS
    counts reserved as well as used memory, so limits should be generous.
    """
    cmd = sandbox_command(argv, workdir=workdir, enable_net=enable_net, hide_paths=hide_paths, env=env)
    if memory_limit_mb is not None:
        prlimit = shutil.which("prlimit", path=SAFE_PATH)
        if prlimit is None:
            raise RuntimeError(
                "prlimit (util-linux) is needed to enforce a memory limit; it is not installed"
            )
        cmd = [prlimit, f"--as={memory_limit_mb * 1024 * 1024}", "--", *cmd]
    # Its own session, hence its own process group: the group can be killed as a whole without
    # touching the worker.
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={"PATH": SAFE_PATH},
        start_new_session=True,
    )
    assert proc.stdout is not None
    # Output is read in a thread so that a chatty build never blocks on a full pipe while this
    # thread is busy watching the clock.
    reader = threading.Thread(target=_pump, args=(proc.stdout, log), name="sandbox-log", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    timed_out = canceled = False
    while proc.poll() is None:
        if cancel.wait(max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))):
            canceled = True
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
    _kill_group(proc)
    reader.join(DRAIN_SECONDS)
    return SandboxResult(returncode=proc.returncode, timed_out=timed_out, canceled=canceled)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop every process of the group: SIGTERM, then SIGKILL after a grace period.

    Also runs after a normal exit, for anything the build left behind in the group. Killing the
    outer bwrap is enough for the inner tree: --die-with-parent takes the sandbox's init down and
    the kernel then kills every process in its PID namespace.
    """
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(stream: IO[bytes], log: Callable[[bytes], None]) -> None:
    """Copy output chunks to ``log`` until EOF; keep draining even if ``log`` fails."""
    fd = stream.fileno()
    broken = False
    try:
        while chunk := os.read(fd, 65536):
            if broken:
                continue
            try:
                log(chunk)
            except Exception:
                broken = True
                _log.exception("build log callback failed; further output is discarded")
    finally:
        stream.close()
