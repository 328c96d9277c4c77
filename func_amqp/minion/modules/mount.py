"""func's `mount` module: list, mount and unmount filesystems on the minion.

Shapes are func's: `list()` gives [{"device", "dir", "type", "options"}] from /proc/mounts (with
the kernel's octal escapes such as \\040 for a space undone), `mount` and `umount` answer True or
False, and `umount` of a folder that is not mounted succeeds, as in func. mount(8), umount(8) and
fuser(1) run without a shell, so the caller's text cannot become a command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from func_amqp.minion import func_module

_ENV = {"LANG": "C", "LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
_ESCAPE = re.compile(r"\\([0-7]{3})")
_TYPE = re.compile(r"^[A-Za-z0-9_.,+-]+$")


class MountModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Mounting, unmounting and getting information on mounted filesystems."

    class Config:
        mounts_file = "/proc/mounts"
        timeout = 120.0  # seconds for mount, umount or fuser

    def list(self) -> list[dict[str, str]]:
        mounts = []
        with open(self.options.mounts_file, errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 4:
                    device, folder, fstype, options = (_unescape(f) for f in fields[:4])
                    mounts.append({"device": device, "dir": folder, "type": fstype, "options": options})
        return mounts

    def mount(self, device: str, dir: str, type: str = "auto", options: str | None = None,
              createdir: bool = False) -> bool:
        """mount -t `type` [-o `options`] `device` `dir`; with `createdir`, makes `dir` first."""
        source, target = _text(device, "device"), _folder(dir)
        fstype = _text(type or "auto", "type")
        if not _TYPE.match(fstype):
            raise ValueError(f"not a filesystem type: {type!r}")
        argv = ["mount", "-t", fstype]
        if options not in (None, ""):
            argv += ["-o", _text(options, "options")]
        if createdir:
            os.makedirs(target, exist_ok=True)
        return self._ok([*argv, "--", source, target])

    def umount(self, dir: str, killall: bool = False, force: bool = False, lazy: bool = False) -> bool:
        """Unmounts `dir` (True if it is not mounted). `killall` first kills every process using the
        filesystem (fuser -mk), `force` and `lazy` are umount's -f and -l."""
        target = _folder(dir)
        if not os.path.ismount(target):
            return True
        if killall:
            if shutil.which("fuser", path=_ENV["PATH"]) is None:
                raise FileNotFoundError("killall needs fuser (package psmisc), which is not installed")
            self._ok(["fuser", "-mk", "--", target])
        argv = ["umount", *(["-f"] if force else []), *(["-l"] if lazy else []), "--", target]
        return self._ok(argv)

    def inventory(self, flatten: bool = True) -> list[dict[str, str]]:
        """The mounted filesystems (`flatten` is accepted for func's signature; the list is flat)."""
        return self.list()

    def _ok(self, argv: list[str]) -> bool:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", env=_ENV, timeout=self.options.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{argv[0]} took longer than {self.options.timeout:g} s") from None
        if proc.returncode != 0:
            self.logger.info("%s: exit %s: %s", " ".join(argv), proc.returncode, proc.stderr.strip())
        return proc.returncode == 0

    def register_method_args(self) -> dict[str, Any]:
        folder = {"type": "string", "optional": False, "description": "Mount point (absolute path)"}

        def flag(text: str) -> dict[str, Any]:
            return {"type": "boolean", "optional": True, "default": False, "description": text}

        return {
            "list": {"args": {}, "description": "The mounted filesystems"},
            "mount": {"args": {"device": {"type": "string", "optional": False, "description": "What to mount"},
                               "dir": folder,
                               "type": {"type": "string", "optional": True, "default": "auto",
                                        "description": "Filesystem type"},
                               "options": {"type": "string", "optional": True, "default": None,
                                           "description": "Mount options (-o)"},
                               "createdir": flag("Create the mount point first")},
                      "description": "Mounts a filesystem"},
            "umount": {"args": {"dir": folder, "killall": flag("Kill the processes using it first"),
                                "force": flag("umount -f"), "lazy": flag("umount -l")},
                       "description": "Unmounts a filesystem"},
            "inventory": {"args": {"flatten": flag("Ignored; the list is flat")}, "description": "Same as list"},
        }


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {value.__class__.__name__}")
    if not value or "\x00" in value:
        raise ValueError(f"{name} is not usable: {value!r}")
    return value


def _folder(value: Any) -> str:
    path = _text(value, "dir")
    if not os.path.isabs(path):
        raise ValueError(f"dir must be an absolute path: {value!r}")
    return os.path.normpath(path)
