"""func's `process` module: what runs on the minion, how much memory it takes, and killing it.

Shapes follow func: `info` is ps's output split into whitespace-separated fields (one list per
line, so a command line with spaces spans several fields, as in func), `mem` is ps_mem-style rows
of human-readable sizes, `kill`/`pkill` answer the exit code of kill/pkill (0 done, 1 nothing
signalled). `ps` and `pkill` run without a shell, so their arguments cannot inject commands.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from typing import Any

from func_amqp.minion import func_module

_ENV = {"LANG": "C", "LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
_TIMEOUT = 60


class ProcessModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Process related reporting and control."

    def info(self, flags: str = "-auxh") -> list[list[str]]:
        """ps with `flags`, each output line split on whitespace."""
        if not isinstance(flags, str):
            raise TypeError(f"flags must be a string, not {type(flags).__name__}")
        proc = subprocess.run(["ps", *shlex.split(flags.replace(";", ""))], capture_output=True, text=True,
                              errors="replace", env=_ENV, timeout=_TIMEOUT, check=False)
        problem = proc.stderr.strip()
        if proc.returncode != 0 or (problem and not problem.startswith("Warning")):
            raise ValueError(f"ps {flags}: {problem.splitlines()[0] if problem else f'exit {proc.returncode}'}")
        return [line.split() for line in proc.stdout.splitlines() if line.strip()]

    def mem(self) -> list[list[str]]:
        """Memory per program, smallest first: [private, shared, total, "program (count)"], sizes like
        "1.5 MiB". Shared is the program's proportional share (PSS); a last row ["", "", "", total]
        sums everything. Processes this user cannot read are left out."""
        usage: dict[str, list[int]] = {}  # program -> [private KiB, shared KiB, count]
        for pid in _pids():
            sample = _memory_of(pid)
            if sample is None:
                continue
            name, private, shared = sample
            row = usage.setdefault(name, [0, 0, 0])
            row[0] += private
            row[1] += shared
            row[2] += 1
        rows = sorted(((p + s, p, s, n, c) for n, (p, s, c) in usage.items() if p + s), key=lambda r: (r[0], r[3]))
        out = [[_human(p), _human(s), _human(total), f"{n} ({c})" if c > 1 else n] for total, p, s, n, c in rows]
        out.append(["", "", "", _human(sum(r[0] for r in rows))])
        return out

    def kill(self, pid: Any, signal: Any = "TERM") -> int:  # `signal`: func's argument name
        """Sends `signal` (a name like "TERM", "-9", "SIGHUP" or a number) to `pid`; 0 if sent, 1 if not
        (no such process, or not allowed). Process groups (pid <= 0) are refused."""
        target = _pid(pid)
        signum = _signal(signal)
        try:
            os.kill(target, signum)
        except (ProcessLookupError, PermissionError) as exc:
            self.logger.info("kill %s %s: %s", target, signum, exc)
            return 1
        return 0

    def pkill(self, name: str, signal: Any = "TERM") -> int:  # `signal`: func's argument name
        """pkill: signals every process whose name matches the pattern `name`; 0 if any, 1 if none."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty process name pattern")
        signum = _signal(signal)
        proc = subprocess.run(["pkill", f"-{signum}", "--", name], capture_output=True, text=True,
                              errors="replace", env=_ENV, timeout=_TIMEOUT, check=False)
        if proc.returncode > 1:
            raise ValueError(f"pkill {name!r}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
        return proc.returncode

    def loadavg(self) -> list[float]:
        """The 1, 5 and 15 minute load averages, as the kernel prints them (two decimals)."""
        try:
            with open("/proc/loadavg") as fh:
                return [float(x) for x in fh.read().split()[:3]]
        except (OSError, ValueError):
            return [round(x, 2) for x in os.getloadavg()]

    def register_method_args(self) -> dict[str, Any]:
        sig = {"type": "string", "optional": True, "default": "TERM",
               "description": "Signal name (TERM, KILL, HUP...) or number"}
        return {
            "info": {"args": {"flags": {"type": "string", "optional": True, "default": "-auxh",
                                        "description": "Options for ps"}},
                     "description": "The process list from ps, split into fields"},
            "mem": {"args": {}, "description": "Memory used per program"},
            "kill": {"args": {"pid": {"type": "int", "optional": False, "min": 1, "description": "Process id"},
                              "signal": sig},
                     "description": "Sends a signal to a process"},
            "pkill": {"args": {"name": {"type": "string", "optional": False,
                                        "description": "Process name pattern"}, "signal": sig},
                      "description": "Sends a signal to the processes matching a name"},
            "loadavg": {"args": {}, "description": "The load averages"},
        }


def _pid(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"pid must be an int, not {type(value).__name__}")
    try:
        pid = int(value)
    except ValueError:
        raise ValueError(f"pid must be an int, not {value!r}") from None
    if pid <= 0:
        raise ValueError(f"pid {pid} would signal a process group; refused")
    return pid


def _signal(value: Any) -> int:
    """A signal number from a name ("TERM", "SIGTERM", "-TERM"), a number, or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"signal must be a name or a number, not {type(value).__name__}")
    text = str(value).strip().lstrip("-").upper() or "TERM"
    if text.isdigit():
        number = int(text)
        if not 0 <= number < signal.NSIG:
            raise ValueError(f"signal number {number} is out of range 0..{signal.NSIG - 1}")
        return number
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {value!r}") from None


def _pids() -> list[int]:
    own = os.getpid()
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and int(d) != own]


def _memory_of(pid: int) -> tuple[str, int, int] | None:
    """(program name, private KiB, proportional shared KiB), or None for kernel threads and processes
    that are gone or unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            fields = dict(_kib(line) for line in fh if line.rstrip().endswith("kB"))
        name = _program(pid)
    except OSError:
        return None
    if name is None or "Rss" not in fields:
        return None
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    shared = max(0, fields.get("Pss", 0) - private) if "Pss" in fields else fields.get("Shared_Clean", 0)
    return name, private, shared


def _kib(line: str) -> tuple[str, int]:
    key, _, rest = line.partition(":")
    return key.strip(), int(rest.split()[0])


def _program(pid: int) -> str | None:
    """The program's name: the executable's name when `comm` is its truncation, else `comm`."""
    with open(f"/proc/{pid}/comm") as fh:
        comm = fh.read().strip()
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None  # kernel threads have no executable
    exe = exe.removesuffix(" (deleted)")
    return exe if exe.startswith(comm) else comm


def _human(kib: int) -> str:
    value, unit = float(kib), "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1000:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"
