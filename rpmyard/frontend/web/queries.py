"""The queries behind the listings, written to stay fast with 100,000 builds in one project.

Rules kept everywhere: fetch one page (LIMIT n+1 tells whether there is a next page) instead of
loading and slicing; count only where an index makes counting cheap; derive a build's state in
SQL with the same rule as :func:`rpmyard.builds.states.build_state`, so filtering by state never
loads builds into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, union
from sqlalchemy.orm import Session

from rpmyard.builds import states
from rpmyard.db.models import Build, BuildChroot, Package, Project, User

# The two orders of states.build_state, kept here as SQL.
SOURCE_DOMINATES = (states.STARTING, states.PENDING, states.RUNNING, states.IMPORTING, states.FAILED)
CHROOT_ORDER = (states.RUNNING, states.STARTING, states.PENDING, states.FAILED, states.SUCCEEDED,
                states.SKIPPED, states.FORKED)
FILTER_STATES = ("succeeded", "failed", "running", "pending", "waiting", "importing", "canceled", "skipped")
SORTS = {"id": Build.id, "submitted": Build.submitted_on, "ended": Build.ended_on}
RARE_LIMIT = 2_000  # chroots in a state; below this, a state filter starts from the state index


def derived_state() -> ColumnElement[int]:
    """A build's state as SQL, with the rule of :func:`rpmyard.builds.states.build_state`.

    A CASE, not an OR of EXISTS: a database evaluates it row by row with one index lookup into
    the build's chroots, and only for the rows it reaches (newest first, stopping at the page).
    """
    rank = case({state: i for i, state in enumerate(CHROOT_ORDER)}, value=BuildChroot.state, else_=None)
    best = (select(func.min(rank)).where(BuildChroot.build_id == Build.id)
            .correlate(Build).scalar_subquery())
    from_chroots = case({i: state for i, state in enumerate(CHROOT_ORDER)}, value=best, else_=Build.source_state)
    return case(
        (Build.canceled.is_(True), states.CANCELED),
        (Build.source_state.in_(SOURCE_DOMINATES), Build.source_state),
        else_=from_chroots,
    )


def state_condition(code: int) -> ColumnElement[bool]:
    """SQL that is true exactly when ``BuildService.state(build) == code``."""
    if code == states.CANCELED:
        return Build.canceled.is_(True)
    return and_(Build.canceled.is_(False), derived_state() == code)


def _rare_state_candidates(s: Session, project_id: int, code: int) -> Any | None:
    """For a state few builds are in (running, pending, ...): the ids that may be in it, from indexes.

    Scanning builds newest first finds 25 succeeded builds at once but walks the whole project to
    find the three running ones; so when the state is rare, the query starts from the rows that can
    produce it (chroots in that state, builds whose source is in it) and checks only those.
    """
    if code == states.CANCELED:
        return None  # (project_id, canceled) is an index already: the scan is a range scan
    sample = select(BuildChroot.id).where(BuildChroot.state == code).limit(RARE_LIMIT + 1).subquery()
    if (s.scalar(select(func.count()).select_from(sample)) or 0) > RARE_LIMIT:
        return None
    return union(select(BuildChroot.build_id).where(BuildChroot.state == code),
                 select(Build.id).where(Build.project_id == project_id, Build.source_state == code))


def builds_page(s: Session, project_id: int, *, page: int, per_page: int, state: str | None,
                package_id: int | None, sort: str, descending: bool) -> tuple[list[Build], bool, int | None]:
    """One page of a project's builds, whether a next page exists, and the total when it is cheap."""
    conds: list[ColumnElement[bool]] = [Build.project_id == project_id]
    if package_id is not None:
        conds.append(Build.package_id == package_id)  # the package index, ordered by build id
    if state:
        code = states.BY_NAME[state]
        candidates = _rare_state_candidates(s, project_id, code)
        if candidates is not None:
            conds.append(Build.id.in_(candidates))
        conds.append(state_condition(code))
    column = SORTS[sort]
    order = [column.desc() if descending else column.asc()]
    if sort != "id":
        order.append(Build.id.desc() if descending else Build.id.asc())
    q = select(Build.id).where(*conds).order_by(*order).offset((page - 1) * per_page).limit(per_page + 1)
    ids = list(s.scalars(q))
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    builds = {b.id: b for b in s.scalars(select(Build).where(Build.id.in_(ids)))} if ids else {}
    total = None
    if not state:  # an index-only count; counting a derived state would scan every build
        total = s.scalar(select(func.count()).select_from(Build).where(*conds))
    return [builds[i] for i in ids if i in builds], has_next, total


def latest_builds(s: Session, package_ids: Sequence[int]) -> dict[int, Build]:
    """The newest build of each package (one grouped query over the package index)."""
    if not package_ids:
        return {}
    newest = select(func.max(Build.id)).where(Build.package_id.in_(package_ids)).group_by(Build.package_id)
    return {b.package_id: b for b in s.scalars(select(Build).where(Build.id.in_(newest))) if b.package_id}


def monitor_cells(s: Session, package_ids: Sequence[int],
                  chroots: Sequence[str]) -> dict[tuple[int, str], dict[str, Any]]:
    """For each (package, chroot): the newest build of that package in that chroot.

    The newest build of a package usually covers every chroot, so its chroots are read first;
    only packages with a chroot left uncovered have their older builds read. Build ids come from
    the (package_id, id) index alone; a grouped join over every build would read them all.
    """
    if not package_ids or not chroots:
        return {}
    cells: dict[tuple[int, str], dict[str, Any]] = {}

    def load(build_ids: list[int]) -> None:
        for first in range(0, len(build_ids), 5000):
            rows = s.execute(
                select(BuildChroot.build_id, BuildChroot.name, BuildChroot.state, BuildChroot.reason,
                       Build.package_id, Build.pkg_version)
                .join(Build, Build.id == BuildChroot.build_id)
                .where(BuildChroot.build_id.in_(build_ids[first:first + 5000]), BuildChroot.name.in_(chroots)))
            for build_id, name, state, reason, pkg_id, version in rows:
                key = (pkg_id, name)
                if key not in cells or cells[key]["build_id"] < build_id:
                    cells[key] = {"state": state, "build_id": build_id, "pkg_version": version, "reason": reason}

    newest = dict(s.execute(select(Build.package_id, func.max(Build.id)).where(Build.package_id.in_(package_ids))
                            .group_by(Build.package_id)).all())
    load(list(newest.values()))
    uncovered = [pkg for pkg in newest if any((pkg, c) not in cells for c in chroots)]
    if uncovered:
        older = s.scalars(select(Build.id).where(Build.package_id.in_(uncovered), Build.id.not_in(newest.values())))
        load(list(older))
    return cells


def packages_page(s: Session, project_id: int, *, page: int, per_page: int,
                  name: str | None) -> tuple[list[Package], bool, int]:
    conds: list[ColumnElement[bool]] = [Package.project_id == project_id]
    if name:
        conds.append(Package.name.contains(name, autoescape=True))
    q = select(Package).where(*conds).order_by(Package.name).offset((page - 1) * per_page).limit(per_page + 1)
    items = list(s.scalars(q))
    total = s.scalar(select(func.count()).select_from(Package).where(*conds)) or 0
    return items[:per_page], len(items) > per_page, total


def search_projects(s: Session, term: str, *, page: int, per_page: int) -> tuple[list[Project], bool, int]:
    """Projects whose owner, name, description or one of whose packages matches ``term``."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f"%{escaped}%"
    # One pass over package names, not one per project: an IN list the database hashes once.
    by_package = Project.id.in_(select(Package.project_id).where(Package.name.ilike(like, escape="\\")))
    conds: Any = and_(
        Project.unlisted_on_hp.is_(False),
        or_(Project.name.ilike(like, escape="\\"), Project.description.ilike(like, escape="\\"),
            User.name.ilike(like, escape="\\"), by_package),
    )
    base = select(Project).join(User, Project.owner_id == User.id).where(conds)
    items = list(s.scalars(base.order_by(Project.name, Project.id).offset((page - 1) * per_page)
                           .limit(per_page + 1)))
    total = s.scalar(select(func.count()).select_from(Project).join(User, Project.owner_id == User.id)
                     .where(conds)) or 0
    return items[:per_page], len(items) > per_page, total


def matching_packages(s: Session, project_ids: Sequence[int], term: str) -> dict[int, list[str]]:
    """Up to five package names per project that matched the search, to show why it matched."""
    if not project_ids or not term:
        return {}
    rows = s.execute(select(Package.project_id, Package.name)
                     .where(Package.project_id.in_(project_ids), Package.name.contains(term, autoescape=True))
                     .order_by(Package.name).limit(200)).all()
    out: dict[int, list[str]] = {}
    for pid, name in rows:
        names = out.setdefault(pid, [])
        if len(names) < 5:
            names.append(name)
    return out


def busiest_projects(s: Session, window: int = 1000, limit: int = 6) -> list[tuple[Project, int]]:
    """Projects with most builds among the newest ``window`` builds: bounded work at any size."""
    recent = select(Build.project_id).order_by(Build.id.desc()).limit(window).subquery()
    rows = s.execute(select(recent.c.project_id, func.count()).group_by(recent.c.project_id)
                     .order_by(func.count().desc()).limit(limit * 3)).all()
    if not rows:
        return []
    projects = {p.id: p for p in s.scalars(select(Project).where(Project.id.in_([r[0] for r in rows]),
                                                                 Project.unlisted_on_hp.is_(False)))}
    return [(projects[pid], n) for pid, n in rows if pid in projects][:limit]


def build_counts(s: Session, project_ids: Sequence[int]) -> dict[int, int]:
    if not project_ids:
        return {}
    rows = s.execute(select(Build.project_id, func.count()).where(Build.project_id.in_(project_ids))
                     .group_by(Build.project_id)).all()
    return {pid: n for pid, n in rows}
