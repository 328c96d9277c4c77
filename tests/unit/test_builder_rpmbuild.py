"""Rebuilding the fixture SRPMs with the host's rpmbuild inside the real sandbox."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from rpmyard.builder.rpmbuild import NO_RPMDB_NOTE, BuildOutcome, build_srpm, host_has_rpmdb
from rpmyard.builder.srpm import SrpmInfo, file_sha256, inspect_srpm
from rpmyard.builder.target import ARCHES, Target, host_arches
from rpmyard.publish.signing import Keyring
from tests.support.dirs import visible_tempdir
from tests.support.srpms import corrupt_copies, make_srpm

HOST_ARCH = host_arches()[0]
FOREIGN_ARCH = next(arch for arch in ARCHES if arch != HOST_ARCH)


class Log:
    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def srpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("srpms")
    names = ["hello-noarch", "hello-c", "multi-sub", "fails", "net-reach"]
    built = {name: make_srpm(name, out) for name in names}
    built["hello-noarch-2.0"] = make_srpm("hello-noarch", out / "v2", version="2.0")
    built["slow"] = make_srpm("slow", out, defines={"sleep_seconds": "20"})
    built["slow-short"] = make_srpm("slow", out / "short", defines={"sleep_seconds": "1"})
    return built


def build(srpm: Path, chroot: str, workdir: Path, **kwargs: object) -> tuple[BuildOutcome, str]:
    log = Log()
    options: dict = {"timeout": 300.0, "cancel": threading.Event(), **kwargs}
    outcome = build_srpm(srpm, Target.parse(chroot), workdir, log=log, **options)
    return outcome, log.text


def nevra(rpm: Path) -> str:
    query = ["rpm", "-qp", "--nosignature", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}", str(rpm)]
    return subprocess.run(query, capture_output=True, text=True, check=True).stdout


def test_hello_noarch_builds_for_fedora_41(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["hello-noarch"], f"fedora-41-{HOST_ARCH}", tmp_path / "work")
    assert outcome.success, text
    assert outcome.reason == ""
    assert [rpm.name for rpm in outcome.rpms] == ["hello-noarch-1.0-1.fc41.noarch.rpm"]
    assert nevra(outcome.rpms[0]) == "hello-noarch-1.0-1.fc41.noarch"
    assert outcome.srpm is not None and outcome.srpm.name == "hello-noarch-1.0-1.fc41.src.rpm"
    assert all(path.is_relative_to(tmp_path / "work") for path in [*outcome.rpms, outcome.srpm])


def test_the_log_starts_with_a_header_and_is_honest_about_buildrequires(
    srpms: dict[str, Path], tmp_path: Path
) -> None:
    outcome, text = build(srpms["hello-noarch"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert outcome.success
    header = text.split("command:", 1)[0]
    assert f"fedora-41-{HOST_ARCH}" in header
    assert "dist: .fc41" in header and f"arch: {HOST_ARCH}" in header
    assert "sandbox: bubblewrap" in header and "network: off" in header
    assert (NO_RPMDB_NOTE in text) is (not host_has_rpmdb())


def test_host_has_rpmdb_matches_what_rpm_knows() -> None:
    # On Debian the rpm database is empty (its packages are dpkg's); on Fedora rpm knows itself.
    knows_rpm = subprocess.run(["rpm", "-q", "rpm"], capture_output=True).returncode == 0
    assert host_has_rpmdb() is knows_rpm


def test_hello_c_compiles_for_the_host_arch(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["hello-c"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert outcome.success, text
    names = [rpm.name for rpm in outcome.rpms]
    assert f"hello-c-1.0-1.fc41.{HOST_ARCH}.rpm" in names
    assert all(".fc41." in name for name in names)  # debuginfo packages too, where the host makes them
    assert outcome.srpm is not None and outcome.srpm.name == "hello-c-1.0-1.fc41.src.rpm"


def test_an_arch_specific_package_fails_fast_on_a_foreign_arch(
    srpms: dict[str, Path], tmp_path: Path
) -> None:
    started = time.monotonic()
    outcome, text = build(srpms["hello-c"], f"fedora-41-{FOREIGN_ARCH}", tmp_path)
    assert not outcome.success
    assert outcome.reason.startswith(f"cannot build {FOREIGN_ARCH} packages on this {HOST_ARCH} host")
    assert outcome.reason in text
    assert outcome.rpms == [] and outcome.srpm is None
    assert time.monotonic() - started < 10


def test_a_noarch_package_builds_for_any_arch(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["hello-noarch"], f"fedora-41-{FOREIGN_ARCH}", tmp_path)
    assert outcome.success, text
    assert [rpm.name for rpm in outcome.rpms] == ["hello-noarch-1.0-1.fc41.noarch.rpm"]


def test_epel_gets_the_el_dist_and_a_newer_version_survives_the_rebuild(
    srpms: dict[str, Path], tmp_path: Path
) -> None:
    outcome, text = build(srpms["hello-noarch-2.0"], f"epel-9-{HOST_ARCH}", tmp_path)
    assert outcome.success, text
    assert [rpm.name for rpm in outcome.rpms] == ["hello-noarch-2.0-1.el9.noarch.rpm"]


def test_multi_sub_yields_three_rpms(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["multi-sub"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert outcome.success, text
    assert sorted(rpm.name for rpm in outcome.rpms) == [
        "multi-sub-1.0-1.fc41.noarch.rpm",
        "multi-sub-devel-1.0-1.fc41.noarch.rpm",
        "multi-sub-libs-1.0-1.fc41.noarch.rpm",
    ]


def test_a_failing_build_reports_why(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["fails"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert not outcome.success
    assert outcome.reason == "rpmbuild exited with status 1"
    assert "deliberate failure: missing-thing.h not found" in text
    assert outcome.rpms == [] and outcome.srpm is None


def test_the_network_is_cut_off(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["net-reach"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert not outcome.success
    assert "network unreachable" in text
    assert "network reachable" not in text.replace("network unreachable", "")


def test_an_invalid_srpm_fails_without_building(srpms: dict[str, Path], tmp_path: Path) -> None:
    bad = corrupt_copies(srpms["hello-noarch"], tmp_path / "bad")
    outcome, text = build(bad["not-rpm"], f"fedora-41-{HOST_ARCH}", tmp_path / "work")
    assert not outcome.success
    assert outcome.reason == "invalid SRPM: not an RPM package"
    assert "command:" not in text


def test_timeout_stops_the_build(srpms: dict[str, Path], tmp_path: Path) -> None:
    started = time.monotonic()
    outcome, text = build(srpms["slow"], f"fedora-41-{HOST_ARCH}", tmp_path, timeout=3.0)
    assert not outcome.success
    assert outcome.reason == "build timed out after 3 s"
    assert "slow-build: tick 0" in text
    assert time.monotonic() - started < 10


def test_cancel_stops_the_build_promptly_and_the_log_is_live(srpms: dict[str, Path], tmp_path: Path) -> None:
    log = Log()
    cancel = threading.Event()
    outcomes: list[BuildOutcome] = []
    target = Target.parse(f"fedora-41-{HOST_ARCH}")
    thread = threading.Thread(
        target=lambda: outcomes.append(
            build_srpm(srpms["slow"], target, tmp_path, log=log, timeout=300, cancel=cancel)
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while b"slow-build: tick 1 " not in log.data and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"slow-build: tick 1 " in log.data, "ticks must reach the log while the build runs"
    canceled_at = time.monotonic()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - canceled_at < 1.5
    assert outcomes[0].reason == "build canceled" and not outcomes[0].success


def test_a_short_slow_build_finishes(srpms: dict[str, Path], tmp_path: Path) -> None:
    outcome, text = build(srpms["slow-short"], f"fedora-41-{HOST_ARCH}", tmp_path)
    assert outcome.success, text
    assert "slow-build: tick 1 of 2" in text


def test_builds_inside_the_hidden_data_directory(srpms: dict[str, Path]) -> None:
    # The service's layout: SRPM and work directory both below the data directory it hides.
    with visible_tempdir() as data:
        (data / "signing.key").write_text("SECRET\n")
        upload = data / "uploads" / "hello-noarch-1.0-1.src.rpm"
        upload.parent.mkdir()
        shutil.copyfile(srpms["hello-noarch"], upload)
        outcome, text = build(upload, f"fedora-41-{HOST_ARCH}", data / "builds" / "7", hide_paths=[data])
        assert outcome.success, text
        assert outcome.rpms[0].is_relative_to(data / "builds" / "7")


def test_a_build_cannot_write_outside_its_workdir(tmp_path: Path) -> None:
    with visible_tempdir() as outside:
        escape_target = outside / f"escaped-{uuid.uuid4().hex}"
        spec = tmp_path / "escape.spec"
        spec.write_text(
            "Name: escape\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n"
            "%description\nd\n%prep\n%build\n"
            f"echo pwned > {escape_target} || echo 'write refused'\n"
            "echo pwned > $HOME/../escaped-home || echo 'home write refused'\n"
            "%install\n%files\n"
        )
        srpm = make_srpm(str(spec), tmp_path / "srpm")
        workdir = outside / "deep" / "work"
        outcome, text = build(srpm, f"fedora-41-{HOST_ARCH}", workdir)
        assert outcome.success, text
        assert "write refused" in text and "home write refused" in text
        assert not escape_target.exists()
        assert not (outside / "deep" / "escaped-home").exists()


def test_a_checked_srpm_is_built_without_inspecting_it_again(srpms: dict[str, Path], tmp_path: Path) -> None:
    """The frontend's digest and header facts stand in for a second inspection on the worker."""
    info = inspect_srpm(srpms["hello-noarch"])
    checked = (file_sha256(srpms["hello-noarch"]), SrpmInfo.from_payload(info.to_payload()))
    outcome, text = build(srpms["hello-noarch"], f"fedora-41-{HOST_ARCH}", tmp_path, checked=checked)
    assert outcome.success, text
    assert "package: hello-noarch-1.0-1 (noarch)" in text


def test_an_srpm_that_is_not_the_checked_one_is_refused(srpms: dict[str, Path], tmp_path: Path) -> None:
    info = inspect_srpm(srpms["hello-noarch"])
    checked = (file_sha256(srpms["hello-noarch"]), info)
    # The download is another package: inspected, and refused because its header facts differ.
    outcome, text = build(srpms["hello-c"], f"fedora-41-{HOST_ARCH}", tmp_path, checked=checked)
    assert not outcome.success
    assert outcome.reason == ("the downloaded SRPM (hello-c-1.0-1) is not the package the frontend checked "
                              "(hello-noarch-1.0-1)")
    assert "command:" not in text


def test_the_checked_srpm_signed_since_is_built(srpms: dict[str, Path], tmp_path: Path) -> None:
    """The frontend signs the uploaded SRPM once a chroot publishes: later chroots download that."""
    original = srpms["hello-noarch"]
    checked = (file_sha256(original), inspect_srpm(original))
    keyring = Keyring(tmp_path / "keys", "rpmyard.test")
    try:
        key = keyring.ensure("alice", "tools")
        signed = tmp_path / "signed" / original.name
        signed.parent.mkdir()
        shutil.copyfile(original, signed)
        key.sign_rpms([signed])
    finally:
        keyring.close()
    assert file_sha256(signed) != checked[0]
    outcome, text = build(signed, f"fedora-41-{HOST_ARCH}", tmp_path / "work", checked=checked)
    assert outcome.success, text
    assert "package: hello-noarch-1.0-1 (noarch)" in text
