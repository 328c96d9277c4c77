"""A live Qpid peer for interop tests: runs tests/interop/qpid_harness.py under Python 2.7.

    with QpidPeer() as qpid:
        reply = qpid.request({"cmd": "encode_value", "typecode": 3, "value": 7})
        assert reply == {"hex": "00000007", "source": "Session._encodeValue"}

The first use installs Qpid's Python code (qpid-python and qpid-tools 1.36.0-1 from PyPI) into
<repo>/build/qpid with tests/interop/install_qpid.sh.  Without a Python 2.7 this raises
QpidPeerUnavailable (tests must fail loudly, never skip); its message says how to get one.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INSTALL_SCRIPT = HERE / "install_qpid.sh"
HARNESS = HERE / "qpid_harness.py"
DEFAULT_QPID_DIR = REPO / "build" / "qpid"
PYENV_VERSION = "2.7.18"

HOW_TO_GET_PY27 = (
    "Qpid's QMFv1 console (qpid-tools 1.36) and codec (qpid-python 1.36) are Python 2 only, so the "
    "interop tests need a Python 2.7: install it with `pyenv install 2.7.18` (the tests run "
    "`python2.7` with PYENV_VERSION=2.7.18), or set QPID_PY27 to any Python 2.7 interpreter with pip."
)


class QpidPeerUnavailable(RuntimeError):
    """No Python 2.7, or Qpid's code could not be installed or started."""


class QpidPeerError(RuntimeError):
    """The harness process died or answered something that is not a JSON reply."""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # a Python 3 started through pyenv has PYENV_VERSION set to 3.x: override, do not default
    env["PYENV_VERSION"] = PYENV_VERSION
    # Python 2 dict order decides codec010.write_map's byte order; Qpid runs without randomisation
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def python27() -> str:
    exe = os.environ.get("QPID_PY27", "python2.7")
    if shutil.which(exe) is None and not Path(exe).is_file():
        raise QpidPeerUnavailable(f"no `{exe}` on PATH. {HOW_TO_GET_PY27}")
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise QpidPeerUnavailable(f"cannot run `{exe}`: {e}. {HOW_TO_GET_PY27}") from e
    if out.returncode != 0 or out.stdout.strip() != "2.7":
        detail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["?"]
        raise QpidPeerUnavailable(
            f"`{exe}` (PYENV_VERSION={PYENV_VERSION}) is not a working Python 2.7 ({detail[0]}). {HOW_TO_GET_PY27}"
        )
    return exe


def ensure_installed(qpid_dir: Path = DEFAULT_QPID_DIR, py27: str | None = None) -> Path:
    """Run install_qpid.sh (a fast no-op when Qpid's code is already there)."""
    env = child_env()
    if py27 is not None:
        env["PY27"] = py27
    proc = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), str(qpid_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise QpidPeerUnavailable(
            f"{INSTALL_SCRIPT.name} {qpid_dir} failed (exit {proc.returncode}):\n{proc.stderr.strip()}\n"
            + (HOW_TO_GET_PY27 if proc.returncode == 1 else "")
        )
    return Path(proc.stdout.strip().splitlines()[-1])


class QpidPeer:
    """One persistent qpid_harness.py process; request() sends a JSON line and reads one back."""

    def __init__(self, qpid_dir: Path | str = DEFAULT_QPID_DIR, timeout: float = 120.0) -> None:
        self.timeout = timeout
        py27 = python27()
        self.qpid_dir = ensure_installed(Path(qpid_dir), py27)
        self._stderr: list[str] = []
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [py27, str(HARNESS), str(self.qpid_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            cwd=str(self.qpid_dir),
            bufsize=0,
        )
        assert self._proc.stdout is not None
        self._stdout_fd = self._proc.stdout.fileno()
        self._buf = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout_fd, selectors.EVENT_READ)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        info = self.request({"cmd": "info"})
        if "error" in info or info.get("python", "").split(".")[:2] != ["2", "7"]:
            self.close()
            raise QpidPeerUnavailable(f"qpid_harness.py did not start properly: {info}")
        self.info = info

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))
            del self._stderr[:-200]

    def stderr_tail(self) -> str:
        return "".join(self._stderr[-40:])

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request, return its reply (a dict; {"error": "Type: text"} on failure)."""
        with self._lock:
            proc = self._proc
            if proc.poll() is not None:
                raise QpidPeerError(f"qpid harness exited ({proc.returncode}):\n{self.stderr_tail()}")
            assert proc.stdin is not None
            try:
                proc.stdin.write((json.dumps(req) + "\n").encode("utf-8"))
                proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                raise QpidPeerError(f"qpid harness is gone ({e}):\n{self.stderr_tail()}") from e
            line = self._readline()
        try:
            return json.loads(line)
        except ValueError as e:
            raise QpidPeerError(f"qpid harness sent a non-JSON line {line!r}:\n{self.stderr_tail()}") from e

    def _readline(self) -> bytes:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                if time.monotonic() >= deadline:
                    self.close()
                    raise QpidPeerError(f"qpid harness did not answer within {self.timeout}s:\n{self.stderr_tail()}")
                continue
            chunk = os.read(self._stdout_fd, 1 << 16)
            if not chunk:
                raise QpidPeerError(f"qpid harness closed its output:\n{self.stderr_tail()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError, ValueError):
            self._selector.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> QpidPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
