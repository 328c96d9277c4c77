"""Server time of the web pages on a big project: 100,000 builds of 2,000 packages.

The database is filled directly through SQLAlchemy (bulk inserts, no API calls), then a real
`rpmyard serve` (no builder slots) answers the pages and an httpx keep-alive loop measures each
URL: median and p99 of the wall time per request on the loopback interface, which includes the
HTTP round trip, so the figures are an upper bound of the time spent in the server.

    .venv/bin/python -m benchmarks.web_pages [--builds 100000] [--packages 2000] [--requests 100]
    RPMYARD_TEST_DB=postgresql .venv/bin/python -m benchmarks.web_pages    # the same on PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from rpmyard.builds import states
from rpmyard.db.engine import Database, migrate
from rpmyard.db.models import Build, BuildChroot, MockChroot, Package, Project, ProjectChroot, User
from tests.support.server import Server, free_port, scratch_database

CHROOTS = ["fedora-43-x86_64", "fedora-44-x86_64"]
OWNER, PROJECT = "alice", "big"
TARGET_MS = 100.0


def fill(url: str, n_builds: int, n_packages: int, seed: int = 7) -> dict[str, Any]:
    """Bulk-insert one big project (and a few small ones for search); returns ids to ask for."""
    rng = random.Random(seed)
    db = Database(url)
    migrate(db.engine)
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(insert(User), [{"id": i + 1, "name": name, "is_admin": False, "api_login": f"login{i}",
                                     "api_token_hash": "x", "api_token_expiration": date.today() + timedelta(days=9),
                                     "created_on": 0} for i, name in enumerate((OWNER, "bob"))])
        conn.execute(insert(MockChroot), [{"id": i + 1, "name": c, "is_active": True, "comment": ""}
                                          for i, c in enumerate(CHROOTS)])
        projects = [{"id": 1, "owner_id": 1, "name": PROJECT, "description": "A very big project"}]
        projects += [{"id": i, "owner_id": 2, "name": f"small-{i}", "description": f"small project number {i}"}
                     for i in range(2, 52)]
        defaults = {"instructions": "", "additional_repos": [], "unlisted_on_hp": False, "enable_net": False,
                    "persistent": False, "auto_prune": True, "devel_mode": False, "bootstrap": "default",
                    "isolation": "default", "module_hotfixes": False, "appstream": False,
                    "follow_fedora_branching": True, "options": {}, "created_on": 0}
        conn.execute(insert(Project), [{**defaults, **p} for p in projects])
        pc_defaults = {"additional_repos": [], "additional_packages": [], "additional_modules": [],
                       "with_opts": [], "without_opts": [], "isolation": "unchanged"}
        conn.execute(insert(ProjectChroot), [{**pc_defaults, "project_id": p["id"], "mock_chroot_id": m + 1}
                                             for p in projects for m in range(len(CHROOTS))])
        conn.execute(insert(Package), [{"id": i + 1, "project_id": 1, "name": f"pkg-{i:04d}", "source_type": "upload",
                                        "source_dict": {}, "webhook_rebuild": False, "max_builds": 0}
                                       for i in range(n_packages)])
        start = int(time.time()) - n_builds * 60
        chunk = 10_000
        for first in range(0, n_builds, chunk):
            builds, chroots = [], []
            for bid in range(first + 1, min(n_builds, first + chunk) + 1):
                pkg = rng.randrange(n_packages)
                roll = rng.random()
                running = bid > n_builds - 3
                failed = roll < 0.05
                canceled = 0.05 <= roll < 0.06
                submitted = start + bid * 60
                builds.append({
                    "id": bid, "project_id": 1, "package_id": pkg + 1, "submitter_id": 1, "source_type": "upload",
                    "source_dict": {"pkg": f"pkg-{pkg:04d}-1.{bid}-1.src.rpm"}, "source_state": states.SUCCEEDED,
                    "pkg_name": f"pkg-{pkg:04d}", "pkg_version": f"1.{bid}-1", "srpm_name": None, "noarch": False,
                    "fail_reason": "", "canceled": canceled, "is_background": False, "enable_net": False,
                    "timeout": 18000, "submitted_on": submitted, "started_on": submitted + 5,
                    "ended_on": None if running else submitted + 5 + rng.randrange(30, 900),
                })
                for c in CHROOTS:
                    state = (states.RUNNING if running else states.CANCELED if canceled
                             else states.FAILED if failed and c == CHROOTS[0] else states.SUCCEEDED)
                    chroots.append({"build_id": bid, "name": c, "state": state, "task_id": None,
                                    "started_on": submitted + 5, "ended_on": None if running else submitted + 60,
                                    "reason": "", "packages": []})
            conn.execute(insert(Build), builds)
            conn.execute(insert(BuildChroot), chroots)
    if db.engine.dialect.name == "postgresql":  # what autovacuum does to a live database, now
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    db.engine.dispose()
    return {"seconds": time.perf_counter() - t0, "middle_build": n_builds // 2}


def measure(client: httpx.Client, url: str, requests: int) -> dict[str, float]:
    for _ in range(3):  # warm caches and the connection
        r = client.get(url)
        r.raise_for_status()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return {"median_ms": statistics.median(times), "p99_ms": p99, "bytes": len(r.content)}


def shoot(base: str, pages: dict[str, str], kind: str) -> None:
    from tests.support.web import SCREENSHOTS, chromium

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as context:
        page = context.new_page()
        for name, url_path in pages.items():
            page.goto(base + url_path)
            slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
            page.screenshot(path=str(SCREENSHOTS / f"big-{kind}-{slug}.png"), full_page=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", type=int, default=100_000)
    ap.add_argument("--packages", type=int, default=2_000)
    ap.add_argument("--requests", type=int, default=100, help="measured requests per page")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--screenshots", action="store_true",
                    help="save the big project's pages under artifacts/screenshots/ (Debian's Chromium)")
    args = ap.parse_args()
    kind = os.environ.get("RPMYARD_TEST_DB", "sqlite")
    base = Path(tempfile.mkdtemp(prefix="rpmyard-web-bench-"))
    data_dir = base / "data"
    data_dir.mkdir()
    with scratch_database(data_dir) as url:
        filled = fill(url, args.builds, args.packages)
        print(f"{kind}: filled {args.builds:,} builds of {args.packages:,} packages in {filled['seconds']:.1f} s")
        server = Server(data_dir, free_port(), url, {"RPMYARD_WORKERS": "0"})
        server.start()
        try:
            project = f"/coprs/{OWNER}/{PROJECT}"
            pages = {
                "builds list": f"{project}/builds/",
                "builds list, page 2000": f"{project}/builds/?page=2000",
                "builds list, state=failed": f"{project}/builds/?state=failed",
                "builds list, state=running": f"{project}/builds/?state=running",
                "builds list, package": f"{project}/builds/?package=pkg-0042",
                "builds list, sort by end": f"{project}/builds/?sort=ended",
                "build detail": f"/coprs/build/{filled['middle_build']}/",
                "monitor": f"{project}/monitor/",
                "monitor, page 20": f"{project}/monitor/?page=20",
                "packages": f"{project}/packages/",
                "search (package name)": "/coprs/fulltext/?fulltext=pkg-00",
                "search (project)": "/coprs/fulltext/?fulltext=small",
                "project overview": f"{project}/",
                "home": "/coprs/",
            }
            results = {}
            with httpx.Client(base_url=server.url, headers={"Accept": "text/html"}, timeout=60) as client:
                for name, url_path in pages.items():
                    results[name] = {"url": url_path, **measure(client, url_path, args.requests)}
            if args.screenshots:
                shoot(server.url, pages, kind)
        finally:
            server.stop()
    print(f"\n{'page':28} {'median ms':>10} {'p99 ms':>8}   (n={args.requests}, {kind}, target < {TARGET_MS:.0f} ms)")
    for name, r in results.items():
        flag = "" if r["median_ms"] < TARGET_MS else "  <-- over target"
        print(f"{name:28} {r['median_ms']:10.1f} {r['p99_ms']:8.1f}{flag}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"db": kind, "builds": args.builds, "packages": args.packages,
                                         "requests": args.requests, "pages": results}, indent=2))


if __name__ == "__main__":
    main()
