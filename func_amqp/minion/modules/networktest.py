"""func's `networktest` module: ping, netstat, traceroute and dig run on the minion, and a TCP check.

As func's: each tool gets the caller's arguments as its argv (no shell) and the answer is its
standard output split on newlines (the last element is "" when the output ends with one);
`ping` needs a count (`-c N`), so a call always ends; `isportopen(host, port)` answers
`[0, text]` when a TCP connection succeeds, `[1, (text, error)]` when it is refused or fails,
`[2, text]` when it times out (3 s). New: each output line is also reported with `self.output`
as it comes, so a traceroute can be followed live; a tool that is not installed is a clear
FuncException naming the Debian package that has it, rather than func's OSError.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from typing import Any

from func_amqp import codes
from func_amqp.minion import func_module

PORT_TIMEOUT = 3.0
_PACKAGES = {"ping": "iputils-ping", "netstat": "net-tools", "traceroute": "traceroute", "dig": "bind9-dnsutils"}


class NetworkTest(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Defines various network testing tools."

    def ping(self, *args: Any) -> list[str]:
        argv = [str(a) for a in args]
        if not any(a == "-c" or (a.startswith("-c") and a[2:].isdigit()) for a in argv):
            raise codes.FuncException("You must define a count with -c!")
        return self._run("ping", argv)

    def netstat(self, *args: Any) -> list[str]:
        return self._run("netstat", [str(a) for a in args])

    def traceroute(self, *args: Any) -> list[str]:
        return self._run("traceroute", [str(a) for a in args])

    def dig(self, *args: Any) -> list[str]:
        return self._run("dig", [str(a) for a in args])

    def isportopen(self, host: str, port: Any) -> list[Any]:
        try:
            number = int(port)
        except (TypeError, ValueError):
            raise ValueError(f"port must be a number, not {port!r}") from None
        if not 0 <= number <= 65535:
            raise ValueError(f"port must be 0..65535, not {number}")
        where = f"{host}:{number}"
        try:
            with socket.create_connection((str(host), number), timeout=PORT_TIMEOUT):
                pass
        except TimeoutError:
            return [2, f"connection to {where} timed out after {PORT_TIMEOUT} seconds"]
        except OSError as exc:
            return [1, (f"connection to {where} failed", str(exc))]
        return [0, f"connection to {where} succeeded"]

    def grep(self, word: str) -> dict[str, list[str]]:
        """The lines of `netstat -a` that contain `word` (func's grep searched netstat's output)."""
        w = str(word).lower()
        return {"netstat": [line for line in self._run("netstat", ["-a"]) if w in line.lower()]}

    def _run(self, tool: str, argv: list[str]) -> list[str]:
        path = shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if path is None:
            raise codes.FuncException(f"{tool} is not installed on this minion (Debian package "
                                      f"{_PACKAGES[tool]})")
        lines: list[str] = []
        with subprocess.Popen([path, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, close_fds=True, text=True, errors="replace") as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                self.output(line)
        return "".join(lines).split("\n")

    def register_method_args(self) -> dict[str, Any]:
        def tool(what: str) -> dict[str, Any]:
            return {"args": {"args": {"type": "list*", "optional": False, "description": f"Options for {what}"}},
                    "description": f"The {what} utility"}

        return {
            "ping": tool("ping command"), "netstat": tool("netstat command"),
            "traceroute": tool("traceroute command"), "dig": tool("dig command"),
            "isportopen": {"args": {"host": {"type": "string", "optional": False,
                                             "description": "The name of the host to be checked"},
                                    "port": {"type": "int", "optional": False, "min": 0, "max": 65535,
                                             "description": "The port to be checked on specified host"}},
                           "description": "Checks if port is open for specified host"},
        }
