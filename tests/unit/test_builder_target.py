"""Chroot names and the rpmbuild macros they stand for."""

from __future__ import annotations

import dataclasses
import platform

import pytest

from rpmyard.builder.target import ARCHES, RAWHIDE_VERSION, InvalidChroot, Target, host_arches


def test_fedora_chroot_is_parsed_into_its_parts() -> None:
    target = Target.parse("fedora-41-x86_64")
    assert target == Target(chroot="fedora-41-x86_64", os_name="fedora", os_version="41", arch="x86_64")
    assert target.release_name == "fedora-41"
    assert target.dist == ".fc41"
    assert target.macros() == {"dist": ".fc41", "fedora": "41"}


def test_rawhide_stands_for_the_configured_fedora_version() -> None:
    target = Target.parse("fedora-rawhide-aarch64")
    assert RAWHIDE_VERSION == "46"
    assert target.os_version == "rawhide"
    assert target.release_name == "fedora-rawhide"
    assert target.dist == ".fc46"
    assert target.macros()["fedora"] == "46"


@pytest.mark.parametrize(
    ("chroot", "dist", "release"),
    [
        ("epel-9-x86_64", ".el9", "epel-9"),
        ("centos-stream-9-ppc64le", ".el9", "centos-stream-9"),
        ("rhel-9-s390x", ".el9", "rhel-9"),
        ("epel-10-aarch64", ".el10", "epel-10"),
    ],
)
def test_enterprise_linux_chroots_get_el_macros(chroot: str, dist: str, release: str) -> None:
    target = Target.parse(chroot)
    major = dist.removeprefix(".el")
    assert target.dist == dist
    assert target.release_name == release
    assert target.macros() == {"dist": dist, "rhel": major, f"el{major}": "1"}


def test_dashed_os_names_and_dotted_versions_parse() -> None:
    target = Target.parse("opensuse-leap-15.6-x86_64")
    assert (target.os_name, target.os_version, target.arch) == ("opensuse-leap", "15.6", "x86_64")
    assert target.release_name == "opensuse-leap-15.6"


def test_an_empty_dist_is_still_defined_so_the_hosts_cannot_leak_in() -> None:
    target = Target.parse("opensuse-leap-15.6-x86_64")
    assert target.dist == ""
    assert target.macros()["dist"] == "%{nil}"


@pytest.mark.parametrize("arch", ARCHES)
def test_every_supported_arch_parses(arch: str) -> None:
    assert Target.parse(f"fedora-41-{arch}").arch == arch


@pytest.mark.parametrize(
    ("chroot", "hint"),
    [
        ("", "empty chroot name"),
        ("fedora", "malformed chroot"),
        ("fedora-41", "malformed chroot"),
        ("fedora-41-mips", "unknown architecture 'mips'"),
        ("debian-12-x86_64", "unknown distribution"),
        ("fedora-forty-x86_64", "malformed chroot"),
        ("fedora--x86_64", "malformed chroot"),
        ("fedora-41-x86_64-extra", "malformed chroot"),
        ("fedora-41-x86_64\n", "malformed chroot"),
        ("Fedora-41-x86_64", "unknown distribution"),
        ("../fedora-41-x86_64", "unknown distribution"),
        ("fedora-4\u0661-x86_64", "malformed chroot"),
    ],
)
def test_malformed_chroots_are_rejected_with_a_reason(chroot: str, hint: str) -> None:
    with pytest.raises(InvalidChroot) as excinfo:
        Target.parse(chroot)
    assert hint in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_targets_are_immutable() -> None:
    target = Target.parse("fedora-41-x86_64")
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.arch = "aarch64"  # type: ignore[misc]


def test_host_arches_is_the_machine_arch_in_chroot_spelling() -> None:
    arches = host_arches()
    assert len(arches) == 1
    assert arches[0] in ARCHES
    if platform.machine() == "x86_64":
        assert arches == ["x86_64"]
