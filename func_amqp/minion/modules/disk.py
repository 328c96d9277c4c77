"""func's `disk` module: how full the minion's filesystems are, the first thing an admin asks.

`usage(partition=None)` runs `df -PT` (POSIX output, so one line per filesystem whatever the
locale and name lengths) without a shell and answers func's shape:
{mount point: {"device", "fstype", "total", "used", "available" (1K-blocks, as strings, as func
gave them), "percentage" (int, None when df shows "-")}}.
"""

from __future__ import annotations

import subprocess
from typing import Any

from func_amqp.minion import func_module

_ENV = {"LANG": "C", "LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


class DiskModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Gathering disk related information"

    class Config:
        timeout = 60.0  # seconds; a hung NFS mount can make df wait

    def usage(self, partition: str | None = None) -> dict[str, dict[str, Any]]:
        """df -PT, for every filesystem or only the one holding `partition` (a mount point, device or path)."""
        argv = ["df", "-PT"]
        if partition not in (None, ""):
            if not isinstance(partition, str) or "\x00" in partition:
                raise TypeError(f"partition must be a path string, not {partition!r}")
            argv += ["--", partition]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=_ENV,
                                  timeout=self.options.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"df took longer than {self.options.timeout:g} s (a hung network mount?)") from None
        result = _parse(proc.stdout)
        if not result and proc.returncode != 0:
            raise ValueError(f"df: {proc.stderr.strip() or f'exit {proc.returncode}'}")
        return result

    def inventory(self) -> dict[str, dict[str, Any]]:
        """The filesystems and their sizes (func-inventory); usage figures change, so only the layout."""
        return {mount: {k: v for k, v in row.items() if k in ("device", "fstype", "total")}
                for mount, row in self.usage().items()}

    def register_method_args(self) -> dict[str, Any]:
        return {
            "usage": {"args": {"partition": {"type": "string", "optional": True, "default": None,
                                             "description": "A specific partition to get usage data for"}},
                      "description": "Gather disk usage information"},
            "inventory": {"args": {}, "description": "The filesystems and their sizes"},
        }


def _parse(text: str) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for line in text.splitlines()[1:]:
        parts = line.split(None, 6)  # the mount point, last, may contain spaces
        if len(parts) < 7:
            continue
        device, fstype, total, used, available, percent, mount = parts
        results[mount] = {"device": device, "fstype": fstype, "total": total, "used": used,
                          "available": available,
                          "percentage": int(percent[:-1]) if percent[:-1].isdigit() else None}
    return results
