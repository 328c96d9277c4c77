"""Chroot names ("fedora-41-x86_64") and what they mean for rpmbuild.

Copr clients name build targets by chroot; rpmyard has no chroots of its own, so a chroot name is
turned into the few macros (%dist, %fedora, %rhel, ...) that make a rebuilt package look like one
built for that release, plus the architecture to pass to ``rpmbuild --target``.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass

#: The Fedora release number that "rawhide" stands for; bumped when Fedora branches.
RAWHIDE_VERSION = "46"

OS_NAMES = ("fedora", "epel", "centos-stream", "rhel", "opensuse-leap", "mageia", "openeuler")
ARCHES = ("x86_64", "aarch64", "ppc64le", "s390x", "i386", "armhfp", "riscv64")

# The os name may itself contain a dash (centos-stream, opensuse-leap), so match it by alternation
# rather than by splitting on "-".
_CHROOT_RE = re.compile(
    r"(?P<os>{oses})-(?P<version>rawhide|[0-9]+(?:\.[0-9]+)*)-(?P<arch>[a-z0-9_]+)".format(
        oses="|".join(re.escape(name) for name in OS_NAMES)
    )
)

# Distributions whose packages use the Enterprise Linux %dist (".el9") and %rhel macros.
_EL_FAMILY = ("epel", "centos-stream", "rhel")


class InvalidChroot(ValueError):
    """A chroot name that rpmyard cannot build for; the message is shown to the user as is."""


@dataclass(frozen=True)
class Target:
    """One build target, parsed from its chroot name."""

    chroot: str
    os_name: str
    os_version: str
    arch: str

    @classmethod
    def parse(cls, chroot: str) -> Target:
        """Parse ``<os>-<version>-<arch>``, raising InvalidChroot with the reason when it is not one."""
        match = _CHROOT_RE.fullmatch(chroot)
        if match is None:
            raise InvalidChroot(_explain(chroot))
        arch = match["arch"]
        if arch not in ARCHES:
            raise InvalidChroot(
                f"unknown architecture {arch!r} in chroot {chroot!r}; expected one of {', '.join(ARCHES)}"
            )
        return cls(chroot=chroot, os_name=match["os"], os_version=match["version"], arch=arch)

    @property
    def release_name(self) -> str:
        """The chroot without its architecture ("fedora-41"), as Copr names a release."""
        return f"{self.os_name}-{self.os_version}"

    @property
    def _major(self) -> str:
        """The numeric major version, with rawhide resolved, as used in %dist and %fedora/%rhel."""
        version = RAWHIDE_VERSION if self.os_version == "rawhide" else self.os_version
        return version.split(".")[0]

    @property
    def dist(self) -> str:
        """The %dist tag rpmbuild appends to Release, e.g. ".fc41" or ".el9"."""
        if self.os_name == "fedora":
            return f".fc{self._major}"
        if self.os_name in _EL_FAMILY:
            return f".el{self._major}"
        if self.os_name == "mageia":
            return f".mga{self._major}"
        if self.os_name == "openeuler":
            return f".oe{self.os_version.replace('.', '')}"
        # openSUSE does not use %dist in Release; an empty value keeps "%{?dist}" harmless.
        return ""

    def macros(self) -> dict[str, str]:
        """rpmbuild ``--define`` values that make specs take the branches meant for this release.

        Specs test ``%{?fedora}`` / ``%{?rhel}`` / ``%{?el9}``; on a host that is not the target
        release (Debian included) nothing defines them, so they are supplied here.
        """
        # An empty %dist must still be defined (as %{nil}) so a host-wide value cannot leak in.
        macros = {"dist": self.dist or "%{nil}"}
        if self.os_name == "fedora":
            macros["fedora"] = self._major
        elif self.os_name in _EL_FAMILY:
            macros["rhel"] = self._major
            macros[f"el{self._major}"] = "1"
        elif self.os_name == "mageia":
            macros["mageia"] = self._major
        elif self.os_name == "opensuse-leap":
            macros["suse_version"] = "1500"
        elif self.os_name == "openeuler":
            macros["openEuler"] = "1"
        return macros


def _explain(chroot: str) -> str:
    """Say which part of a malformed chroot name is wrong, so the user can fix it."""
    if not chroot:
        return "empty chroot name; expected <os>-<version>-<arch>, e.g. fedora-41-x86_64"
    if not any(chroot == name or chroot.startswith(f"{name}-") for name in OS_NAMES):
        return (
            f"unknown distribution in chroot {chroot!r}; expected one of {', '.join(OS_NAMES)} "
            "(e.g. fedora-41-x86_64)"
        )
    return f"malformed chroot {chroot!r}; expected <os>-<version>-<arch>, e.g. fedora-41-x86_64"


def host_arches() -> list[str]:
    """Architectures this host builds natively: its own machine type, in chroot spelling.

    No emulation is set up, so a worker only advertises what its CPU runs.
    """
    machine = platform.machine()
    aliases = {"amd64": "x86_64", "arm64": "aarch64", "i686": "i386", "i586": "i386", "armv7l": "armhfp"}
    return [aliases.get(machine, machine)]
