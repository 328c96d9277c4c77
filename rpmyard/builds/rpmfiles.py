"""Reading the header of a built RPM before it goes into a repository (never trust uploads)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

_QF = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"


class BadRpm(ValueError):
    pass


def read_nevra(path: Path) -> dict[str, Any]:
    """Return ``{name, epoch, version, release, arch}``; raise BadRpm for a corrupt or wrong file."""
    check = subprocess.run(["rpmkeys", "--checksig", "--nosignature", str(path)],
                           capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        raise BadRpm(f"{path.name}: corrupt RPM ({(check.stdout + check.stderr).strip()[-200:]})")
    proc = subprocess.run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf", _QF, str(path)],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or proc.stdout.count("\t") != 5:
        raise BadRpm(f"{path.name}: unreadable RPM header")
    name, epoch, version, release, arch, source = proc.stdout.rstrip("\n").split("\t")
    is_source = source in ("(none)", "")
    return {"name": name, "epoch": int(epoch), "version": version, "release": release,
            "arch": "src" if is_source else arch}
