"""func's `command` module: run a shell command line on the minion.

func ran the line through a shell and gave back `[rc, stdout, stderr]` once it ended, so a long
command was silent until then. Here each stdout line is also reported with `self.output` as it
comes, so an overlord can follow a long command (`jobs.tail_output`, or live).

Text: stdout and stderr are decoded as UTF-8 with errors="replace": bytes that are not UTF-8
become U+FFFD. Results travel over XML-RPC and AMQP as strings, and a string with lone surrogates
or raw bytes could not; a command whose output is binary should encode it (`base64`, `xxd`).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from typing import Any

from func_amqp.minion import func_module

_READ_SIZE = 65536
_QUIET_AFTER_EXIT = 1.0  # the shell is gone: stop reading after this long without data ...
_DRAIN_AFTER_EXIT = 5.0  # ... or this long in all (a background child may hold the pipes open)


class Command(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.2"
    description = "Works with shell commands."

    class Config:
        shell = "/bin/sh"
        timeout = 0.0  # seconds a command may run; 0 means no limit (func had none)

    def run(self, command: str, env: dict[str, str] | None = None) -> list[Any]:
        """Runs `command` through the shell; returns [rc, stdout, stderr]. `env`, when given, is the
        whole environment of the command, as in func. A negative rc is the signal that ended it."""
        argv_env = _check_env(env)
        line = _check_command(command)
        proc = subprocess.Popen(line, shell=True, executable=self.options.shell, env=argv_env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True)
        deadline = time.monotonic() + self.options.timeout if self.options.timeout > 0 else None
        try:
            out, err = self._collect(proc, deadline)
            _wait(proc, deadline, self.options.timeout)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            _close(proc)
        return [proc.returncode, _text(out), _text(err)]

    def exists(self, command: str) -> bool:
        """True if `command` is an executable file: a path, or a name found on the minion's PATH."""
        name = _check_command(command).strip()
        if "/" in name:
            return os.path.isfile(name) and os.access(name, os.X_OK)
        return shutil.which(name) is not None

    def _collect(self, proc: subprocess.Popen[bytes], deadline: float | None) -> tuple[bytes, bytes]:
        """Reads both pipes until they close (or the shell has exited and they go quiet), sending each
        complete stdout line to `self.output`."""
        assert proc.stdout is not None and proc.stderr is not None
        bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
        pending = bytearray()  # stdout bytes after the last newline already reported
        exited_at: float | None = None
        with selectors.DefaultSelector() as sel:
            for pipe in bufs:
                sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                now = time.monotonic()
                if deadline is not None and now > deadline:
                    raise _timed_out(proc, self.options.timeout)
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _DRAIN_AFTER_EXIT:
                    break
                events = sel.select(timeout=_QUIET_AFTER_EXIT if exited_at is not None else 0.2)
                if not events and exited_at is not None:
                    break
                for key, _mask in events:
                    chunk = os.read(key.fd, _READ_SIZE)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    bufs[key.fileobj] += chunk
                    if key.fileobj is proc.stdout:
                        pending += chunk
                        self._report_lines(pending)
        if pending:
            self.output(_text(bytes(pending)))
        return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr])

    def _report_lines(self, pending: bytearray) -> None:
        """Sends the complete lines at the front of `pending` to `self.output` and drops them."""
        end = pending.rfind(b"\n")
        if end < 0:
            return
        for raw in bytes(pending[:end]).split(b"\n"):
            self.output(_text(raw))
        del pending[:end + 1]

    def register_method_args(self) -> dict[str, Any]:
        command = {"type": "string", "optional": False, "description": "A shell command line"}
        return {
            "run": {"args": {"command": command,
                             "env": {"type": "hash", "optional": True, "default": None,
                                     "description": "The whole environment of the command"}},
                    "description": "Runs a shell command: [rc, stdout, stderr]"},
            "exists": {"args": {"command": {**command, "description": "A command name or path"}},
                       "description": "Checks that a command exists on the minion"},
        }


def _check_command(command: Any) -> str:
    if not isinstance(command, str):
        raise TypeError(f"command must be a string, not {type(command).__name__}")
    if not command.strip():
        raise ValueError("command is empty")
    if "\x00" in command:
        raise ValueError("command contains a NUL byte")
    return command


def _check_env(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    if not isinstance(env, dict):
        raise TypeError(f"env must be a dict of strings, not {type(env).__name__}")
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"env must map strings to strings; {key!r}: {value!r} does not")
        if not key or "=" in key or "\x00" in key or "\x00" in value:
            raise ValueError(f"env has an unusable entry {key!r}")
    return dict(env)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kills the shell and everything it started (it runs in a session of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _timed_out(proc: subprocess.Popen[bytes], limit: float) -> TimeoutError:
    return TimeoutError(f"command ran longer than {limit:g} s and was killed: {proc.args!r}")


def _wait(proc: subprocess.Popen[bytes], deadline: float | None, limit: float) -> None:
    """Waits for the shell, which may still run after closing its output."""
    try:
        proc.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise _timed_out(proc, limit) from None


def _close(proc: subprocess.Popen[bytes]) -> None:
    """Reaps the shell (killed already if the call failed) and closes the pipes."""
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
