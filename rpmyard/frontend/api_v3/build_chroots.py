"""Build chroots: one build's result in one chroot."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds.errors import NotFound
from rpmyard.db.models import BuildChroot
from rpmyard.frontend.api_v3.builds import get_build
from rpmyard.frontend.deps import session, yard
from rpmyard.frontend.pagination import paginate
from rpmyard.frontend.schemas import build_chroot_dict
from rpmyard.yard import Yard

router = APIRouter()


def get_build_chroot(s: Session, build_id: int, chrootname: str) -> BuildChroot:
    build = get_build(s, build_id)
    for bc in build.chroots:
        if bc.name == chrootname:
            return bc
    raise NotFound(f"Build {build_id} has no chroot {chrootname}; it has: "
                   f"{', '.join(bc.name for bc in build.chroots)}")


@router.get("/api_3/build-chroot")
def get_one(build_id: int, chrootname: str, s: Session = Depends(session),
            y: Yard = Depends(yard)) -> dict[str, Any]:
    return build_chroot_dict(get_build_chroot(s, build_id, chrootname), y.layout)


@router.get("/api_3/build-chroot/list")
def get_list(request: Request, build_id: int, s: Session = Depends(session),
             y: Yard = Depends(yard)) -> dict[str, Any]:
    get_build(s, build_id)
    q = select(BuildChroot).where(BuildChroot.build_id == build_id)
    items, meta = paginate(s, request, q, {"id": BuildChroot.id, "name": BuildChroot.name}, "name")
    return {"items": [build_chroot_dict(bc, y.layout) for bc in items], "meta": meta}


@router.get("/api_3/build-chroot/build-config")
def build_config(build_id: int, chrootname: str, s: Session = Depends(session),
                 y: Yard = Depends(yard)) -> dict[str, Any]:
    bc = get_build_chroot(s, build_id, chrootname)
    b = bc.build
    p = b.project
    repo = {"baseurl": y.layout.chroot_url(p.owner.name, p.name, bc.name), "id": "copr_base",
            "name": "Copr repository", "priority": None, "module_hotfixes": p.module_hotfixes}
    return {"additional_repos": p.additional_repos or [], "additional_packages": [], "with_opts": [],
            "without_opts": [], "enable_net": b.enable_net, "is_background": b.is_background,
            "memory_limit": 2048, "timeout": b.timeout, "bootstrap": p.bootstrap, "repos": [repo]}


@router.get("/api_3/build-chroot/built-packages")
def built_packages(build_id: int, chrootname: str, s: Session = Depends(session)) -> dict[str, Any]:
    return {"packages": get_build_chroot(s, build_id, chrootname).packages or []}


@router.get("/api_3/build-chroot/{build_id}/{chrootname}")
def get_one_old(build_id: int, chrootname: str, s: Session = Depends(session),
                y: Yard = Depends(yard)) -> dict[str, Any]:
    return build_chroot_dict(get_build_chroot(s, build_id, chrootname), y.layout)
