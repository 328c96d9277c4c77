"""The whole path once: copr-cli creates a project and builds an SRPM; dnf installs the result."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.coprcli import CoprCli
from tests.support.dnf import add_repo_file, dnf
from tests.support.server import Server


def test_build_and_install_with_dnf(server: Server, alice: CoprCli, srpms: dict[str, Path], tmp_path: Path) -> None:
    r = alice("create", "smoke", "--chroot", "fedora-43-x86_64", "--description", "smoke test", check=True)
    assert f"New project was successfully created: {server.url}/coprs/alice/smoke/" in r.stdout

    r = alice("build", "smoke", str(srpms["hello-noarch"]), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Created builds:" in r.stdout
    build_id = int(r.stdout.split("Created builds:")[1].split()[0])
    assert f"Build {build_id}: succeeded" in r.stdout

    result = server.data_dir / "results/alice/smoke/fedora-43-x86_64" / f"{build_id:08d}-hello-noarch"
    assert (result / "hello-noarch-1.0-1.fc43.noarch.rpm").is_file()
    assert (result / "builder-live.log").read_text().strip()
    primary = httpx.get(f"{server.url}/results/alice/smoke/fedora-43-x86_64/repodata/repomd.xml")
    assert primary.status_code == 200

    root = tmp_path / "root"
    add_repo_file(root, f"{server.url}/coprs/alice/smoke/repo/fedora-43/dnf.repo?arch=x86_64")
    out = dnf(root, "install", "hello-noarch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert (root / "usr/bin/hello-noarch").is_file()
