"""Reading the headers of built RPMs before they go into a repository (never trust uploads).

A build's files are checked together: one ``rpmkeys`` run verifies every header and payload
digest, and the headers are then read in-process with the createrepo_c bindings the publisher
uses anyway. One subprocess per build instead of two per file keeps the import off the
critical path of the next build.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import createrepo_c as cr


class BadRpm(ValueError):
    pass


def read_nevras(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """``{name, epoch, version, release, arch}`` of each file ("src" for source packages).

    Raises BadRpm naming the first corrupt or unreadable file.
    """
    if not paths:
        return []
    _verify_digests(paths)
    return [_header(p) for p in paths]


def _verify_digests(paths: Sequence[Path]) -> None:
    check = _checksig(paths)
    if check.returncode == 0:
        return
    for path in paths:  # the rare failure: find the culprit, one file at a time
        single = _checksig([path])
        if single.returncode != 0:
            raise BadRpm(f"{path.name}: corrupt RPM ({(single.stdout + single.stderr).strip()[-200:]})")
    raise BadRpm(f"corrupt RPM among {', '.join(p.name for p in paths)}")


def _checksig(paths: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rpmkeys", "--checksig", "--nosignature", "--", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def _header(path: Path) -> dict[str, Any]:
    try:
        pkg = cr.package_from_rpm(str(path))
    except Exception as exc:  # createrepo_c raises its own error type for a bad header
        raise BadRpm(f"{path.name}: unreadable RPM header ({exc})") from None
    if not pkg.name or not pkg.version or not pkg.release or not pkg.arch:
        raise BadRpm(f"{path.name}: unreadable RPM header")
    try:
        epoch = int(pkg.epoch or 0)
    except ValueError:
        raise BadRpm(f"{path.name}: invalid epoch {pkg.epoch!r}") from None
    return {"name": pkg.name, "epoch": epoch, "version": pkg.version, "release": pkg.release,
            "arch": "src" if not pkg.rpm_sourcerpm else pkg.arch}
