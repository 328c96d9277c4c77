"""gpg-agents that our tests cause to be started, stopped again.

With ``repo_gpgcheck=1`` dnf (librepo, through gpgme) keeps a keyring per repository in its cache
and starts a gpg-agent there, which outlives dnf; so does our own keyring's agent in a test that
has no server to stop it. A test calls :func:`stop_agents` on the directories it made.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def stop_agents(*roots: Path) -> None:
    """``gpgconf --kill gpg-agent`` for every GnuPG home below ``roots`` (a dnf cache's ``pubring``
    directories, a ``keys/gnupg``)."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf is None:
        return
    for root in roots:
        if not root.exists():
            continue
        homes = {p.parent for p in root.rglob("pubring.kbx")} | {p.parent for p in root.rglob("S.gpg-agent")}
        for home in sorted(homes):
            subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True,
                           timeout=30)
