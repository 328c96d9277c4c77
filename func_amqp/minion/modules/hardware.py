"""func's `hardware` module: what the minion is (CPU, memory, OS, devices), for func-inventory.

func got this from smolt and HAL, both long gone; here it comes from /proc, /sys, os-release and
`platform`, under smolt's key names so that old callers find what they read (`cpuModel`,
`numCpus`, `systemMemory`...). Sizes are MiB ints. Only what stays put until the hardware or the
OS changes is reported (no free memory, no uptime, the CPU's rated clock rather than its current
one), so two calls agree and func-inventory's git history moves only when the machine does;
`inventory` is therefore `info` with devices. `hal_info` answers {}: there is no HAL any more.
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Any

from func_amqp.minion import func_module

_UNKNOWN = "Unknown"


class HardwareModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Hardware profiler."

    def info(self, with_devices: bool = True) -> dict[str, Any]:
        """The machine's profile; with `with_devices`, also its PCI devices."""
        if not isinstance(with_devices, bool | int | str):
            raise TypeError(f"with_devices must be a bool, not {type(with_devices).__name__}")
        data = {**system_profile(), **cpu_profile(), **memory_profile()}
        if _as_bool(with_devices):
            data["devices"] = _pci_devices()
        return data

    def inventory(self) -> dict[str, Any]:
        """`info` with devices (func-inventory's call)."""
        return self.info(with_devices=True)

    def hal_info(self) -> dict[str, Any]:
        """HAL's device tree in func; HAL no longer exists, so there is nothing to give back."""
        self.logger.info("hal_info: HAL is not available on modern systems; returning {}")
        return {}

    def register_method_args(self) -> dict[str, Any]:
        return {
            "info": {"args": {"with_devices": {"type": "boolean", "optional": True, "default": True,
                                               "description": "Also list PCI devices"}},
                     "description": "CPU, memory, OS and devices of the minion"},
            "inventory": {"args": {}, "description": "info() with devices"},
            "hal_info": {"args": {}, "description": "Always {}: HAL is gone"},
        }


def _as_bool(value: bool | int | str) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ValueError(f"not a boolean: {value!r}")
        return text in ("1", "true", "yes", "on")
    return bool(value)


def _read(path: str, default: str = "") -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return default


def _os_release() -> dict[str, str]:
    text = _read("/etc/os-release") or _read("/usr/lib/os-release")
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip().strip("\"'")
    return out


def system_profile() -> dict[str, Any]:
    release = _os_release()
    selinux = os.path.isdir("/sys/fs/selinux")
    return {
        "hostname": socket.gethostname(),
        "os": release.get("PRETTY_NAME", platform.system()),
        "osId": release.get("ID", ""),
        "osVersion": release.get("VERSION_ID", ""),
        "kernelVersion": platform.release(),
        "platform": platform.machine(),
        "systemVendor": _read("/sys/class/dmi/id/sys_vendor", _UNKNOWN),
        "systemModel": _read("/sys/class/dmi/id/product_name", _UNKNOWN),
        "uuid": _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id"),
        "selinux_enabled": selinux,
        "selinux_enforce": _read("/sys/fs/selinux/enforce") == "1" if selinux else False,
    }


def cpu_profile() -> dict[str, Any]:
    """From the first processor block of /proc/cpuinfo (x86 names; ARM and others fall back)."""
    first: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        if not line.strip():
            if first:
                break
            continue
        key, _, value = line.partition(":")
        first.setdefault(key.strip(), value.strip())
    model = first.get("model name") or first.get("Hardware") or first.get("cpu") or platform.processor()
    return {
        "cpuVendor": first.get("vendor_id") or first.get("CPU implementer") or _UNKNOWN,
        "cpuModel": model or _UNKNOWN,
        "cpuSpeed": _cpu_mhz(first),
        "numCpus": os.cpu_count() or 1,
        "bogomips": float(first.get("bogomips") or first.get("BogoMIPS") or 0),
    }


def _cpu_mhz(first: dict[str, str]) -> int:
    """The rated clock (cpufreq's maximum); without cpufreq (e.g. in a VM), what cpuinfo says."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz.isdigit():
        return int(khz) // 1000
    try:
        return int(float(first.get("cpu MHz", "0")))
    except ValueError:
        return 0


def memory_profile() -> dict[str, Any]:
    kib: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kib[key.strip()] = int(parts[0])
    return {
        "systemMemory": kib.get("MemTotal", 0) // 1024,
        "systemSwap": kib.get("SwapTotal", 0) // 1024,
    }


def _pci_devices() -> list[dict[str, str]]:
    """One entry per PCI function in sysfs: slot, class, vendor and device ids, driver."""
    root = "/sys/bus/pci/devices"
    try:
        slots = sorted(os.listdir(root))
    except OSError:
        return []
    devices = []
    for slot in slots:
        path = os.path.join(root, slot)
        driver = os.path.realpath(os.path.join(path, "driver"))
        devices.append({
            "bus": "pci",
            "slot": slot,
            "class": _read(os.path.join(path, "class")),
            "vendor": _read(os.path.join(path, "vendor")),
            "device": _read(os.path.join(path, "device")),
            "driver": os.path.basename(driver) if os.path.exists(os.path.join(path, "driver")) else "",
        })
    return devices
