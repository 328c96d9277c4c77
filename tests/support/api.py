"""Talking to the API as a test: clients from copr-cli configs, Copr's error bodies, and the check
that a refused request left nothing behind (no build, package or project row, no file)."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import Server


def credentials(config_text: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(config_text)
    section = parser["copr-cli"]
    return section["login"], section["token"]


def api_client(server: Server, config_text: str | None) -> httpx.Client:
    """An HTTP client for the server, logged in with the config's login:token (or anonymous)."""
    auth = credentials(config_text) if config_text is not None else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=60)


def error_of(response: httpx.Response, status: int) -> str:
    """The error message of a Copr-style error response, after checking its status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


def tree(root: Path, *, skip_repo_metadata: bool = False) -> set[str]:
    """Every file and directory below ``root``.

    ``skip_repo_metadata``: leave out ``repodata/`` and the publisher's hidden working state inside a
    project (its lock, cache and half-written metadata), which change whenever a repository is
    republished. Hidden entries directly below an owner still count.
    """
    if not root.exists():
        return set()
    out = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if skip_repo_metadata and ("repodata" in rel.parts or any(p.startswith(".") for p in rel.parts[2:])):
            continue
        out.add(str(rel))
    return out


@dataclass(frozen=True)
class Snapshot:
    results: frozenset[str]
    spool: frozenset[str]
    builds: tuple[int, ...]
    packages: tuple[str, ...]
    projects: tuple[str, ...]


def snapshot(server: Server, client: httpx.Client, owner: str, project: str) -> Snapshot:
    q = {"ownername": owner, "projectname": project}
    builds = client.get("/api_3/build/list", params=q)
    packages = client.get("/api_3/package/list", params=q)
    projects = client.get("/api_3/project/list", params={"ownername": owner})
    for r in (builds, packages, projects):
        assert r.status_code == 200, r.text
    return Snapshot(
        results=frozenset(tree(server.data_dir / "results", skip_repo_metadata=True)),
        spool=frozenset(tree(server.data_dir / "spool")),
        builds=tuple(sorted(b["id"] for b in builds.json()["items"])),
        packages=tuple(sorted(p["name"] for p in packages.json()["items"])),
        projects=tuple(sorted(p["name"] for p in projects.json()["items"])),
    )


@contextmanager
def leaves_nothing(server: Server, client: httpx.Client, owner: str, project: str) -> Iterator[None]:
    """Assert that the block adds no build, package, project, file or directory."""
    before = snapshot(server, client, owner, project)
    yield
    after = snapshot(server, client, owner, project)
    assert after.builds == before.builds, "a build row was left behind"
    assert after.packages == before.packages, "a package row was left behind"
    assert after.projects == before.projects, "a project row was left behind"
    assert after.results == before.results, f"left in results/: {sorted(after.results ^ before.results)}"
    assert after.spool == before.spool, f"left in spool/: {sorted(after.spool ^ before.spool)}"
