"""Packages list, one package's page, and the monitor (packages x chroots, newest state in each).

All three page over packages (sorted by name) and then ask only about the builds of the packages
on the page, through the package index; the cost does not grow with the project's history.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds import projects as P
from rpmyard.builds import states
from rpmyard.builds.errors import NotFound
from rpmyard.db.models import Build, Package
from rpmyard.frontend.web import queries as Q
from rpmyard.frontend.web.builds import build_rows
from rpmyard.frontend.web.common import Page, access_of, page_number, read_session, render, yard_of

router = APIRouter()
PACKAGES_PER_PAGE = 50
MONITOR_PER_PAGE = 100


@router.get("/coprs/{owner}/{project}/packages", response_class=HTMLResponse)
def packages(owner: str, project: str, request: Request, name: str = "",
             s: Session = Depends(read_session)) -> HTMLResponse:
    p = P.get_project(s, owner, project)
    page = page_number(request)
    name = name.strip()[:200]
    items, has_next, total = Q.packages_page(s, p.id, page=page, per_page=PACKAGES_PER_PAGE, name=name or None)
    latest = Q.latest_builds(s, [pkg.id for pkg in items])
    rows = []
    for pkg in items:
        b = latest.get(pkg.id)
        rows.append({"name": pkg.name, "build": build_rows([b])[0] if b else None})
    return render(request, "web/packages.html", {
        "project": p, "tab": "packages", "access": access_of(request, s, p),
        "result": Page(rows, page, PACKAGES_PER_PAGE, has_next, total),
        "name": name})


@router.get("/coprs/{owner}/{project}/package/{package}", response_class=HTMLResponse)
def package_page(owner: str, project: str, package: str, request: Request,
                 s: Session = Depends(read_session)) -> HTMLResponse:
    y = yard_of(request)
    p = P.get_project(s, owner, project)
    pkg = s.scalar(select(Package).where(Package.project_id == p.id, Package.name == package))
    if pkg is None:
        raise NotFound(f"There is no package {package} in {p.full_name}.")
    chroots = p.active_chroot_names()
    cells = Q.monitor_cells(s, [pkg.id], chroots)
    per_chroot = []
    for name in chroots:
        cell = cells.get((pkg.id, name))
        url = None
        if cell is not None:
            url = y.layout.build_url(owner, project, name, cell["build_id"], pkg.name)
        per_chroot.append({"chroot": name, "cell": cell, "state": states.NAMES[cell["state"]] if cell else None,
                           "url": url})
    recent = list(s.scalars(select(Build).where(Build.package_id == pkg.id).order_by(Build.id.desc()).limit(15)))
    return render(request, "web/package.html", {
        "project": p, "tab": "packages", "package": pkg, "per_chroot": per_chroot, "builds": build_rows(recent),
        "access": access_of(request, s, p)})


@router.get("/coprs/{owner}/{project}/monitor", response_class=HTMLResponse)
def monitor(owner: str, project: str, request: Request, name: str = "",
            s: Session = Depends(read_session)) -> HTMLResponse:
    p = P.get_project(s, owner, project)
    page = page_number(request)
    name = name.strip()[:200]
    items, has_next, total = Q.packages_page(s, p.id, page=page, per_page=MONITOR_PER_PAGE, name=name or None)
    chroots = p.active_chroot_names()  # Copr's monitor: the chroots the project builds for now
    cells = Q.monitor_cells(s, [pkg.id for pkg in items], chroots)
    rows = []
    for pkg in items:
        row = []
        for c in chroots:
            cell = cells.get((pkg.id, c))
            row.append({**cell, "state_name": states.NAMES[cell["state"]]} if cell else None)
        rows.append({"name": pkg.name, "cells": row})
    return render(request, "web/monitor.html", {
        "project": p, "tab": "monitor", "access": access_of(request, s, p), "chroots": chroots,
        "result": Page(rows, page, MONITOR_PER_PAGE, has_next, total), "name": name})
