"""Real dnf against a served repository, in a throwaway --installroot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx


def dnf(installroot: Path, *args: str, releasever: str = "43", repo_dir: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run dnf with only the given repo files (no host repos), as root in ``installroot``."""
    repos = repo_dir or installroot / "etc" / "yum.repos.d"
    cmd = ["dnf", "-y", "--installroot", str(installroot), "--releasever", releasever,
           f"--setopt=reposdir={repos}", "--setopt=cachedir=" + str(installroot / "var/cache/dnf"),
           "--setopt=install_weak_deps=False", "--disableplugin=local", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def add_repo_file(installroot: Path, url: str) -> Path:
    """Download a served .repo file into the installroot's repo dir."""
    repos = installroot / "etc" / "yum.repos.d"
    repos.mkdir(parents=True, exist_ok=True)
    r = httpx.get(url, follow_redirects=True, timeout=30)
    r.raise_for_status()
    path = repos / "rpmyard.repo"
    path.write_text(r.text)
    return path
