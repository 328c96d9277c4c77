"""func's `service` module: start, stop and query the minion's services.

func called `/sbin/service` and `chkconfig`, which only Red Hat systems had. Here the service
manager is found on the host: systemd when it runs as init (systemctl fails otherwise, e.g. in a
container), else SysV init scripts in `init_dir` with their rc<N>.d links, else a clear error.

Shapes are func's: the actions answer the script's exit code (for `status`, LSB's: 0 running,
1 dead with a pid file, 2 dead with a lock, 3 stopped, 4 unknown); `get_enabled` lists
[name, ["0:off", "1:off", "2:on", ...]] as chkconfig printed it (systemd: [name, [unit state]]);
`get_running` lists [name, state, status output] with state running/dead/locked/stopped/unknown;
`inventory` gives both, without the status output, which changes from one call to the next.
Options (`/etc/func/modules/Service.conf` [main]): manager = auto|systemd|sysv, init_dir, rc_root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from func_amqp import codes
from func_amqp.minion import func_module

ACTIONS = ("start", "stop", "restart", "reload", "status")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9@._+:-]*$")
_STATES = {0: "running", 1: "dead", 2: "locked", 3: "stopped"}
_ENV = {"LANG": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"}
_RUNLEVELS = "0123456"
_NOT_SERVICES = {"README", "skeleton", "rc", "rcS", "functions", "halt", "single"}


class Service(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Allows for service control via func."

    class Config:
        manager = "auto"  # auto, systemd or sysv
        init_dir = "/etc/init.d"
        rc_root = "/etc"  # holds rc0.d .. rc6.d
        timeout = 120.0  # seconds for one init script or systemctl call

    # -- the actions ----------------------------------------------------------------------------
    def start(self, service_name: str) -> int:
        return self._action(service_name, "start")

    def stop(self, service_name: str) -> int:
        return self._action(service_name, "stop")

    def restart(self, service_name: str) -> int:
        return self._action(service_name, "restart")

    def reload(self, service_name: str) -> int:
        return self._action(service_name, "reload")

    def status(self, service_name: str) -> int:
        return self._action(service_name, "status")

    # -- listings -------------------------------------------------------------------------------
    def inventory(self) -> dict[str, list[Any]]:
        """{"running": [[name, state]], "enabled": get_enabled()}: func-inventory keeps this in git,
        so the status scripts' text (pids, uptimes, memory figures) is left out."""
        return {"running": [row[:2] for row in self.get_running()], "enabled": self.get_enabled()}

    def get_enabled(self) -> list[list[Any]]:
        """Each service with the runlevels it starts in (SysV), or its unit-file state (systemd)."""
        if self._manager() == "systemd":
            return self._systemd_enabled()
        return [[name, self._runlevels(name)] for name in self._scripts()]

    def get_running(self) -> list[list[Any]]:
        """Each service with its state and what its status command printed."""
        if self._manager() == "systemd":
            return self._systemd_running()
        return [self._sysv_state(name) for name in self._scripts()]

    # -- helpers --------------------------------------------------------------------------------
    def _manager(self) -> str:
        wanted = str(self.options.manager).strip().lower()
        if wanted not in ("auto", "systemd", "sysv"):
            raise codes.FuncException(f"Service.conf: manager must be auto, systemd or sysv, not {wanted!r}")
        if wanted in ("auto", "systemd") and _systemd_is_init():
            return "systemd"
        if wanted in ("auto", "sysv") and os.path.isdir(self.options.init_dir):
            return "sysv"
        raise codes.FuncException(f"no service manager found on this host (manager={wanted}: systemd is not "
                                  f"running as init and there is no init script folder {self.options.init_dir})")

    def _action(self, service_name: Any, action: str) -> int:
        name = _check_name(service_name)
        if self._manager() == "systemd":
            self._systemd_unit(name)
            return self._run(["systemctl", action, "--no-pager", f"{name}.service"])[0]
        return self._run([self._script(name), action])[0]

    def _run(self, argv: list[str]) -> tuple[int, str]:
        """Runs a manager command without a shell, in a clean C-locale environment; (rc, stdout+stderr)."""
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=_ENV, timeout=self.options.timeout, close_fds=True, check=False)
        except subprocess.TimeoutExpired:
            raise codes.FuncException(f"{' '.join(argv)} took longer than {self.options.timeout:g} s") from None
        except OSError as exc:
            raise codes.FuncException(f"cannot run {argv[0]}: {exc}") from None
        return proc.returncode, proc.stdout.decode("utf-8", errors="replace")

    # SysV
    def _script(self, name: str) -> str:
        path = os.path.join(self.options.init_dir, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise codes.FuncException(f"Service not installed: {name}")
        return path

    def _scripts(self) -> list[str]:
        folder = self.options.init_dir
        return sorted(n for n in os.listdir(folder) if _NAME.match(n) and n not in _NOT_SERVICES
                      and not n.endswith((".dpkg-old", ".dpkg-new", ".dpkg-dist", ".rpmsave", ".rpmnew", "~"))
                      and os.path.isfile(os.path.join(folder, n)) and os.access(os.path.join(folder, n), os.X_OK))

    def _runlevels(self, name: str) -> list[str]:
        return [f"{level}:{'on' if self._starts_in(name, level) else 'off'}" for level in _RUNLEVELS]

    def _starts_in(self, name: str, level: str) -> bool:
        folder = os.path.join(self.options.rc_root, f"rc{level}.d")
        try:
            entries = os.listdir(folder)
        except OSError:
            return False
        return any(re.fullmatch(rf"S\d\d{re.escape(name)}", e) for e in entries)

    def _sysv_state(self, name: str) -> list[Any]:
        """Scripts without a status action (e.g. hwclock.sh) are not run: they would print usage or
        do their default work, so their state is "unknown", as `service --status-all` shows [ ? ]."""
        path = os.path.join(self.options.init_dir, name)
        if not _has_status(path):
            return [name, "unknown", ""]
        rc, text = self._run([path, "status"])
        return [name, _STATES.get(rc, "unknown"), text]

    # systemd
    def _systemd_unit(self, name: str) -> None:
        rc, text = self._run(["systemctl", "show", "--property=LoadState", "--value", f"{name}.service"])
        if rc != 0 or text.strip() in ("not-found", ""):
            raise codes.FuncException(f"Service not installed: {name}")

    def _systemd_enabled(self) -> list[list[Any]]:
        _rc, text = self._run(["systemctl", "list-unit-files", "--type=service", "--no-legend", "--no-pager"])
        out = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(".service"):
                out.append([parts[0].removesuffix(".service"), [parts[1]]])
        return out

    def _systemd_running(self) -> list[list[Any]]:
        argv = ["systemctl", "list-units", "--type=service", "--all", "--no-legend", "--no-pager", "--plain"]
        _rc, text = self._run(argv)
        out = []
        for line in text.splitlines():
            parts = line.split(None, 4)
            if len(parts) >= 4 and parts[0].endswith(".service"):
                state = {"active": "running", "inactive": "stopped", "failed": "dead"}.get(parts[2], parts[2])
                out.append([parts[0].removesuffix(".service"), state, " ".join(parts[1:])])
        return out

    def register_method_args(self) -> dict[str, Any]:
        name = {"type": "string", "optional": False, "description": "The name of a service",
                "validator": _NAME.pattern}
        spec: dict[str, Any] = {a: {"args": {"service_name": name}, "description": f"{a.capitalize()}s a service"}
                                for a in ACTIONS}
        spec["status"]["description"] = "The status of a service: 0 running, 3 stopped"
        spec["get_running"] = {"args": {}, "description": "Each service's state"}
        spec["get_enabled"] = {"args": {}, "description": "The runlevels each service starts in"}
        spec["inventory"] = {"args": {}, "description": "Running and enabled services"}
        return spec


def _check_name(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"service_name must be a string, not {type(value).__name__}")
    name = value.strip()
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"not a service name: {value!r}")
    return name.removesuffix(".service")


def _systemd_is_init() -> bool:
    """systemd's own test (sd_booted): it runs as init when /run/systemd/system exists."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None


def _has_status(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return False
    return re.search(rb"\bstatus\b", text) is not None
