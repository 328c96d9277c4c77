"""Where results live on disk and under which URLs: Copr's layout, so its clients find them.

``results/<owner>/<project>/<chroot>/<%08d build id>-<package>/`` with ``repodata/`` per chroot,
and the uploaded source RPM under ``srpm-builds/<%08d build id>/``.
"""

from __future__ import annotations

from pathlib import Path


def build_dirname(build_id: int, pkg_name: str) -> str:
    return f"{build_id:08d}-{pkg_name}"


class Layout:
    def __init__(self, results_dir: Path, base_url: str) -> None:
        self.root = results_dir
        self.base_url = base_url.rstrip("/")

    def project_dir(self, owner: str, project: str) -> Path:
        return self.root / owner / project

    def chroot_dir(self, owner: str, project: str, chroot: str) -> Path:
        return self.project_dir(owner, project) / chroot

    def build_dir(self, owner: str, project: str, chroot: str, build_id: int, pkg: str) -> Path:
        return self.chroot_dir(owner, project, chroot) / build_dirname(build_id, pkg)

    def srpm_dir(self, owner: str, project: str, build_id: int) -> Path:
        return self.project_dir(owner, project) / "srpm-builds" / f"{build_id:08d}"

    def project_url(self, owner: str, project: str) -> str:
        return f"{self.base_url}/results/{owner}/{project}"

    def chroot_url(self, owner: str, project: str, chroot: str) -> str:
        return f"{self.project_url(owner, project)}/{chroot}/"

    def build_url(self, owner: str, project: str, chroot: str, build_id: int, pkg: str) -> str:
        return f"{self.chroot_url(owner, project, chroot)}{build_dirname(build_id, pkg)}/"

    def srpm_url(self, owner: str, project: str, build_id: int, filename: str) -> str:
        return f"{self.project_url(owner, project)}/srpm-builds/{build_id:08d}/{filename}"
