"""Rebuilding an SRPM for one chroot with the host's rpmbuild, inside the sandbox.

There is no per-release chroot: the host's toolchain builds the package and the target's macros
(%dist, %fedora, %rhel) make it look like a build for that release. What this cannot do is said
in the build log instead of being papered over: unchecked BuildRequires, foreign architectures.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rpmyard.builder.rpmtools import run_rpm_tool
from rpmyard.builder.sandbox import run_sandboxed, sandbox_backend
from rpmyard.builder.srpm import InvalidSrpm, SrpmInfo, file_sha256, inspect_srpm
from rpmyard.builder.target import Target, host_arches

NO_RPMDB_NOTE = "BuildRequires not checked: this host has no RPM database"


@dataclass
class BuildOutcome:
    """The result of one chroot build; ``reason`` is "" on success, else one line for the user."""

    success: bool
    rpms: list[Path] = field(default_factory=list)
    srpm: Path | None = None
    reason: str = ""


@functools.cache
def host_has_rpmdb() -> bool:
    """Whether rpm on this host knows installed packages, i.e. BuildRequires can be checked.

    Asked with the same clean environment the build gets: Debian's rpm keeps its database under
    $HOME, so the build would see an empty one there too. Cached: it does not change while the
    worker runs.
    """
    try:
        result = run_rpm_tool(["rpm", "-qa", "--queryformat", "%{NAME}\n"], timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def build_srpm(
    srpm: Path,
    target: Target,
    workdir: Path,
    *,
    log: Callable[[bytes], None],
    timeout: float,
    cancel: threading.Event,
    enable_net: bool = False,
    memory_limit_mb: int | None = None,
    hide_paths: Sequence[Path] = (),
    checked: tuple[str, SrpmInfo] | None = None,
) -> BuildOutcome:
    """Rebuild ``srpm`` for ``target`` in ``workdir`` and collect the binary and source RPMs.

    The SRPM is copied into ``workdir`` first: it may live in the data directory, which the
    sandbox hides. ``checked`` is (SHA-256, header facts) from the frontend, which inspected the
    upload: a copy with that digest is that file, so it is not inspected again; any other copy is,
    and must have the same header facts. Returns a failed outcome (never raises) for anything the
    user can fix.
    """
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        log(f"{line}\n".encode())

    say(f"rpmyard: building for {target.chroot}")
    say(f"  dist: {target.dist or '(none)'}, arch: {target.arch}, host: {', '.join(host_arches())}")
    say(f"  sandbox: {sandbox_backend()}, network: {'on' if enable_net else 'off'}")
    # Checked after copying, so the file that is built is the file that was checked.
    local_srpm = workdir / "input" / "package.src.rpm"
    local_srpm.parent.mkdir(exist_ok=True)
    shutil.copyfile(srpm, local_srpm)
    if checked is not None and file_sha256(local_srpm) == checked[0]:
        info = checked[1]
    else:
        # Unchecked, or changed since: the frontend signs the SRPM once a chroot publishes, which
        # rewrites its signature header only. So it is inspected, and must be the same package.
        try:
            info = inspect_srpm(local_srpm)
        except InvalidSrpm as exc:
            return _fail(say, f"invalid SRPM: {exc}")
        if checked is not None and info.to_payload() != checked[1].to_payload():
            return _fail(say, f"the downloaded SRPM ({info.nvr}) is not the package the frontend checked "
                              f"({checked[1].nvr})")
    say(f"  package: {info.nvr}{' (noarch)' if info.is_noarch else ''}")
    refusal = _refusal(info, target)
    if refusal:
        return _fail(say, refusal)
    topdir = workdir / "rpmbuild"
    (topdir / "tmp").mkdir(parents=True, exist_ok=True)
    argv = _rpmbuild_argv(local_srpm, target, topdir)
    if not host_has_rpmdb():
        argv.insert(1, "--nodeps")
        say(NO_RPMDB_NOTE)
    say(f"  command: {shlex.join(argv)}")

    result = run_sandboxed(
        argv,
        workdir=workdir,
        log=log,
        timeout=timeout,
        cancel=cancel,
        enable_net=enable_net,
        memory_limit_mb=memory_limit_mb,
        hide_paths=hide_paths,
    )
    if result.canceled:
        return _fail(say, "build canceled")
    if result.timed_out:
        return _fail(say, f"build timed out after {timeout:g} s")
    if result.returncode < 0:
        return _fail(say, f"rpmbuild was killed by signal {-result.returncode}")
    if result.returncode != 0:
        return _fail(say, f"rpmbuild exited with status {result.returncode}")
    rpms = _regular_files(topdir / "RPMS", ".rpm")
    srpms = _regular_files(topdir / "SRPMS", ".src.rpm")
    if not rpms:
        return _fail(say, "rpmbuild succeeded but produced no binary RPMs")
    say(f"rpmyard: built {len(rpms)} binary RPM(s)")
    return BuildOutcome(success=True, rpms=rpms, srpm=srpms[0] if srpms else None, reason="")


def _refusal(info: SrpmInfo, target: Target) -> str:
    """Why this package cannot be built for ``target`` here, or "" when it can."""
    if not info.buildable_on(target.arch):
        allowed = " ".join(info.exclusive_archs) or "any"
        excluded = " ".join(info.exclude_archs) or "none"
        return (
            f"{info.name} does not build on {target.arch} (ExclusiveArch: {allowed}; ExcludeArch: {excluded})"
        )
    if not info.is_noarch and target.arch not in host_arches():
        # rpmbuild --target would happily label host binaries as the foreign arch.
        return (
            f"cannot build {target.arch} packages on this {', '.join(host_arches())} host "
            "(no emulation); only noarch packages build for other architectures"
        )
    return ""


def _rpmbuild_argv(srpm: Path, target: Target, topdir: Path) -> list[str]:
    """rpmbuild -ra rather than --rebuild: it also writes the source package, with the new %dist."""
    argv = ["rpmbuild", "-ra", "--clean", "--target", target.arch]
    defines = {"_topdir": str(topdir), "_tmppath": str(topdir / "tmp"), **target.macros()}
    for name, value in defines.items():
        argv += ["--define", f"{name} {value}"]
    return [*argv, str(srpm)]


def _regular_files(directory: Path, suffix: str) -> list[Path]:
    """Files below ``directory`` ending in ``suffix``, never following symlinks.

    The build controls this directory: a symlink named foo.rpm pointing at a host file must not
    be picked up and published.
    """
    found: list[Path] = []
    for root, _dirs, files in os.walk(directory, followlinks=False):
        for name in files:
            path = Path(root) / name
            if name.endswith(suffix) and stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return sorted(found)


def _fail(say: Callable[[str], None], reason: str) -> BuildOutcome:
    say(f"rpmyard: build failed: {reason}")
    return BuildOutcome(success=False, rpms=[], srpm=None, reason=reason)
