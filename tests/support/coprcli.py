"""The real copr-cli from PyPI, in its own virtualenv (installed on first use, pinned)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import ROOT

COPR_CLI_VERSION = "2.6"
VENV = ROOT / ".cache" / f"copr-cli-{COPR_CLI_VERSION}"


def copr_cli_path() -> Path:
    exe = VENV / "bin" / "copr-cli"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"copr-cli=={COPR_CLI_VERSION}"], check=True)
    return exe


@dataclass
class CoprCli:
    """Runs copr-cli with one user's config file."""

    exe: Path
    config: Path

    def __call__(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.exe), "--config", str(self.config), *args], capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"copr-cli {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc
