"""func's `sysctl` module: read and set kernel parameters at runtime.

func ran `sysctl -a`/`-n`/`-w` and answered the output lines; the shapes are kept: `list()` is
["kernel.ostype = Linux", ...], `get(name)` the value's lines, `set(name, value)` ["name = value"].
The values are read from and written to /proc/sys directly: no command line is built from the
caller's text, and the folder is an option (`proc_sys`), which lets tests use a fake one.
Parameters that cannot be read (write-only ones such as vm.compact_memory), deprecated ones and
vm.stat_refresh are left out of `list`, as `sysctl -a` leaves them out.
"""

from __future__ import annotations

import os
import re
from typing import Any

from func_amqp.minion import func_module

# Left out of list() as `sysctl -a` leaves them out: reading these logs a deprecation warning in the
# kernel (the *_ms forms replace them), and reading vm.stat_refresh makes every CPU flush its counters.
_DEPRECATED = {"base_reachable_time", "retrans_time"}
_COSTLY = {"vm.stat_refresh"}
_NAME = re.compile(r"^[A-Za-z0-9_*@:+-]+([./][A-Za-z0-9_*@:+-]+)*$")


class SysctlModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Configure kernel parameters at runtime"

    class Config:
        proc_sys = "/proc/sys"

    def list(self) -> list[str]:
        """Every readable parameter as "name = value" (multi-line values joined by tabs, as sysctl does)."""
        root = self.options.proc_sys
        out = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for file in sorted(files):
                path = os.path.join(folder, file)
                if file in _DEPRECATED or _name_of(root, path) in _COSTLY:
                    continue
                value = _read(path)
                if value is not None:
                    out.append(f"{_name_of(root, path)} = {_one_line(value)}")
        return out

    def get(self, name: str) -> list[str]:
        """The value of one parameter, as lines."""
        path = self._path(name)
        if os.path.isdir(path):
            raise ValueError(f"{name} is a group of parameters, not one")
        value = _read(path, strict=True)
        return (value or "").split("\n")

    def set(self, name: str, value: Any) -> list[str]:
        """Writes `value` to a parameter; answers ["name = value"] as read back."""
        path = self._path(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"value must be a string or a number, not {type(value).__name__}")
        text = str(value)
        if "\x00" in text:
            raise ValueError("value contains a NUL byte")
        if not os.path.isfile(path):
            raise ValueError(f"no such kernel parameter: {name}")
        with open(path, "w") as fh:
            fh.write(text)
        return [f"{_dotted(name)} = {_one_line(_read(path) or text)}"]

    def _path(self, name: Any) -> str:
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        key = name.strip()
        if not _NAME.match(key) or ".." in key.replace(".", "/").split("/"):
            raise ValueError(f"not a kernel parameter name: {name!r}")
        path = os.path.join(self.options.proc_sys, *key.replace(".", "/").split("/"))
        if not os.path.exists(path):
            raise ValueError(f"no such kernel parameter: {name}")
        return path

    def register_method_args(self) -> dict[str, Any]:
        name = {"type": "string", "optional": False, "description": "A parameter name, e.g. kernel.ostype"}
        return {
            "list": {"args": {}, "description": "All parameters, as name = value"},
            "get": {"args": {"name": name}, "description": "One parameter's value"},
            "set": {"args": {"name": name, "value": {"type": "string", "optional": False,
                                                     "description": "The new value"}},
                    "description": "Changes a parameter"},
        }


def _read(path: str, strict: bool = False) -> str | None:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().rstrip("\n")
    except OSError as exc:
        if strict:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        return None


def _one_line(value: str) -> str:
    return value.replace("\n", "\t")


def _name_of(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace("/", ".")


def _dotted(name: str) -> str:
    return name.strip().replace("/", ".")
