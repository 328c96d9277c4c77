"""The published tree: browsable directory listings (copr-cli download-build mirrors them with
``wget -r``), the files themselves, and ``.repo`` files at Copr's URLs (dnf and `dnf copr enable`).
"""

from __future__ import annotations

import base64
import json
import os
import weakref
from mimetypes import guess_type
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from rpmyard.builds import projects as P
from rpmyard.builds.errors import NotFound
from rpmyard.frontend.deps import session, yard
from rpmyard.frontend.templating import templates
from rpmyard.yard import Yard

router = APIRouter()
TEXT_SUFFIXES = (".log", ".spec", ".json", ".info", ".txt")

def _safe_path(root: Path, rel: str) -> Path:
    if any(part.startswith(".") for part in Path(rel).parts):
        raise NotFound("no such file")  # hidden state: publish cache and lock, repodata being written
    target = (root / rel).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise NotFound("no such file")
    return target

@router.get("/results/{rel:path}", response_model=None)
def browse(rel: str, request: Request, y: Yard = Depends(yard)) -> Response:
    root = y.settings.results_dir
    target = _safe_path(root, rel)
    if target.is_dir():
        if not request.url.path.endswith("/"):
            return RedirectResponse(request.url.path + "/", status_code=301)
        entries = []
        with os.scandir(target) as it:
            for e in sorted(it, key=lambda e: (not e.is_dir(), e.name)):
                if e.name.startswith("."):
                    continue
                st = e.stat()
                entries.append({"name": e.name + ("/" if e.is_dir() else ""), "size": st.st_size,
                                "mtime": st.st_mtime, "is_dir": e.is_dir()})
        return templates.TemplateResponse(request, "listing.html", {"path": "/results/" + rel, "entries": entries})
    if target.is_file():
        media = "text/plain; charset=utf-8" if target.name.endswith(TEXT_SUFFIXES) else None
        return _file_response(target, media, rel)
    raise NotFound(f"/results/{rel} does not exist")


class _Closer:
    """Closes a descriptor once: when the response is sent, or when it is dropped unsent."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def __call__(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def _file_response(target: Path, media: str | None, rel: str) -> Response:
    """Serve the file that is there now, whole. A publish swaps ``repodata/`` while clients read
    it; a stat and a later open by path could pair one generation's Content-Length with the
    next one's bytes. So the file is opened once and FileResponse reads it through that
    descriptor (``/proc/self/fd``), which stays on the same file whatever is renamed meanwhile."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, IsADirectoryError):
        raise NotFound(f"/results/{rel} does not exist") from None
    closer = _Closer(fd)
    response = FileResponse(f"/proc/self/fd/{fd}", media_type=media or guess_type(target.name)[0] or "text/plain",
                            background=BackgroundTask(closer))
    weakref.finalize(response, closer)
    return response

def repo_file(y: Yard, owner: str, project_name: str, chroots: list[str], name_release: str) -> str:
    """The dnf .repo text for a chroot release such as ``fedora-43``."""
    os_name, _, version = name_release.rpartition("-")
    if os_name in ("fedora", "centos-stream", "opensuse-leap") and version != "rawhide":
        release = f"{os_name}-$releasever"
    else:
        release = name_release
    host = urlsplit(y.settings.base_url).hostname or "localhost"
    repo_url = y.layout.project_url(owner, project_name)
    return "\n".join([
        f"[copr:{host}:{owner}:{project_name}]",
        f"name=Copr repo for {project_name} owned by {owner}",
        f"baseurl={repo_url}/{release}-$basearch/",
        "type=rpm-md",
        "skip_if_unavailable=True",
        "gpgcheck=1",
        f"gpgkey={repo_url}/pubkey.gpg",
        "repo_gpgcheck=0",  # as Copr serves it; repomd.xml.asc is there for those who turn it on
        "enabled=1",
        "enabled_metadata=1",
        "",
    ])

@router.get("/coprs/{owner}/{project}/repo/{name_release}/{filename}", response_model=None)
def dotrepo(owner: str, project: str, name_release: str, filename: str, arch: str | None = None,
            s: Session = Depends(session), y: Yard = Depends(yard)) -> Response:
    p = P.get_project(s, owner, project)
    chroots = p.active_chroot_names()
    available = sorted({c for c in chroots if c.rsplit("-", 1)[0] == name_release
                        and (arch is None or c.endswith("-" + arch))})
    if not filename.endswith(".repo") or not available:
        data = base64.b64encode(json.dumps({"available chroots": chroots}).encode()).decode()
        return PlainTextResponse(f"Chroot {name_release} is not enabled in {owner}/{project}; "
                                 f"available: {', '.join(chroots)}\n", status_code=404,
                                 headers={"Copr-Error-Data": data})
    return PlainTextResponse(repo_file(y, owner, project, chroots, name_release))

@router.get("/coprs/{owner}/{project}/repo/{name_release}", response_model=None)
def dotrepo_dir(owner: str, project: str, name_release: str) -> Response:
    return RedirectResponse(f"/coprs/{owner}/{project}/repo/{name_release}/{owner}-{project}-{name_release}.repo")

