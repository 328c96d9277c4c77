"""Home (search box, recent builds, busiest projects), search, and one user's projects."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds.errors import NotFound
from rpmyard.db.models import Build, Project, User
from rpmyard.frontend.web import queries as Q
from rpmyard.frontend.web.builds import build_rows
from rpmyard.frontend.web.common import Page, page_number, read_session, render, web_user

router = APIRouter()
SEARCH_PER_PAGE = 20


@router.get("/coprs", response_class=HTMLResponse)
def home(request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    recent = list(s.scalars(select(Build).join(Project, Project.id == Build.project_id)
                            .where(Project.unlisted_on_hp.is_(False)).order_by(Build.id.desc()).limit(12)))
    busiest = Q.busiest_projects(s)
    newest = list(s.scalars(select(Project).where(Project.unlisted_on_hp.is_(False))
                            .order_by(Project.id.desc()).limit(8)))
    return render(request, "web/home.html", {
        "recent": build_rows(recent), "busiest": busiest, "newest": newest,
        "counts": Q.build_counts(s, [p.id for p in newest]), "user": web_user(request, s)})


@router.get("/coprs/fulltext", response_class=HTMLResponse)
def search(request: Request, fulltext: str = "", s: Session = Depends(read_session)) -> HTMLResponse:
    term = fulltext.strip()[:200]
    page = page_number(request)
    result = None
    matches: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    if term:
        items, has_next, total = Q.search_projects(s, term, page=page, per_page=SEARCH_PER_PAGE)
        result = Page(items, page, SEARCH_PER_PAGE, has_next, total)
        ids = [p.id for p in items]
        matches = Q.matching_packages(s, ids, term)
        counts = Q.build_counts(s, ids)
    return render(request, "web/search.html", {"term": term, "result": result, "matches": matches,
                                               "counts": counts})


@router.get("/coprs/{owner}", response_class=HTMLResponse)
def user_projects(owner: str, request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    user = User.named(s, owner)
    if user is None:
        raise NotFound(f"There is no user named {owner}.")
    me = web_user(request, s)
    # Like Copr: "unlisted" keeps a project off the home page and search, not off its owner's page.
    projects = list(s.scalars(select(Project).where(Project.owner_id == user.id).order_by(Project.name)))
    return render(request, "web/user.html", {
        "owner": user, "projects": projects, "counts": Q.build_counts(s, [p.id for p in projects]),
        "is_me": me is not None and me.id == user.id})
