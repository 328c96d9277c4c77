"""Running the host's rpm command-line tools without the caller's environment leaking in.

rpm reads ~/.rpmmacros and honours variables such as RPM_CONFIGDIR; a worker running as some
user with personal macros must not change how an uploaded package is read or judged. Each call
therefore gets an empty environment and a throwaway HOME.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def clean_env(home: Path) -> dict[str, str]:
    """The whole environment an rpm tool gets: a PATH, a private HOME and a UTF-8 locale."""
    return {"PATH": SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(home)}


def run_rpm_tool(
    argv: Sequence[str], *, timeout: float, home: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with :func:`clean_env`, capturing output; raises subprocess.TimeoutExpired.

    Without ``home`` a temporary one is made and removed, so nothing the tool writes there
    (Debian's rpm creates ~/.rpmdb on first use) outlives the call.
    """
    if home is not None:
        return subprocess.run(
            list(argv), env=clean_env(home), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    with tempfile.TemporaryDirectory(prefix="rpmyard-rpm-") as tmp:
        return run_rpm_tool(argv, timeout=timeout, home=Path(tmp))
