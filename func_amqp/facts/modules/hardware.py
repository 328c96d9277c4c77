"""func's hardware facts (func/minion/facts/modules/hardware.py), from what the `hardware` module reads.

func's came from smolt (gone): `runlevel`, `os`, `cpuvendor`, `cpumodel`, `kernel`, all strings,
as there. Added: `os_id` and `os_version` (os-release's ID and VERSION_ID: `os_id="debian"` is
easier to match than a pretty name), `arch`, `hostname`, `cpus` and `memory` (MiB), the last two
ints, so `memory__gte=4096` compares numbers.
"""

from __future__ import annotations

import os

from func_amqp.facts import fact_module
from func_amqp.minion.modules import hardware

# systemd's default target, as the SysV runlevel smolt reported
_RUNLEVELS = {"poweroff.target": "0", "rescue.target": "1", "multi-user.target": "3", "graphical.target": "5",
              "reboot.target": "6", "runlevel0.target": "0", "runlevel1.target": "1", "runlevel2.target": "2",
              "runlevel3.target": "3", "runlevel4.target": "4", "runlevel5.target": "5", "runlevel6.target": "6"}


class HardwareFacts(fact_module.BaseFactModule):
    version = "0.1.0"
    description = "A module that supplies hardware facts"

    @fact_module.tag("runlevel")
    def run_level(self) -> str:
        """The runlevel the system boots into (systemd's default target, as its SysV number)."""
        for path in ("/etc/systemd/system/default.target", "/lib/systemd/system/default.target",
                     "/usr/lib/systemd/system/default.target"):
            target = os.path.basename(os.path.realpath(path))
            if os.path.exists(path) and target in _RUNLEVELS:
                return _RUNLEVELS[target]
        return "Unknown"

    @fact_module.tag("os")
    def os_name(self) -> str:
        return str(hardware.system_profile()["os"])

    @fact_module.tag("os_id")
    def os_id(self) -> str:
        return str(hardware.system_profile()["osId"])

    @fact_module.tag("os_version")
    def os_version(self) -> str:
        return str(hardware.system_profile()["osVersion"])

    @fact_module.tag("cpuvendor")
    def cpu_vendor(self) -> str:
        return str(hardware.cpu_profile()["cpuVendor"])

    @fact_module.tag("cpumodel")
    def cpu_model(self) -> str:
        return str(hardware.cpu_profile()["cpuModel"])

    @fact_module.tag("kernel")
    def kernel_version(self) -> str:
        return str(hardware.system_profile()["kernelVersion"])

    @fact_module.tag("arch")
    def arch(self) -> str:
        return str(hardware.system_profile()["platform"])

    @fact_module.tag("hostname")
    def hostname(self) -> str:
        return str(hardware.system_profile()["hostname"])

    @fact_module.tag("cpus")
    def cpus(self) -> int:
        return int(hardware.cpu_profile()["numCpus"])

    @fact_module.tag("memory")
    def memory(self) -> int:
        """Total memory, MiB."""
        return int(hardware.memory_profile()["systemMemory"])
