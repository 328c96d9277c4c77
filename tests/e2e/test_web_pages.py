"""The web pages over plain HTTP against a real server: CSRF, permissions, accounts, listings.

What a browser test would only show slowly is checked here request by request: a form without
its token is refused, another user's build cannot be cancelled, a new password ends old
sessions, the builds list pages, filters and sorts, the event stream ends with the build.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server
from tests.support.srpms import make_srpm
from tests.support.web import set_web_password

CHROOT = "fedora-43-aarch64"  # no worker here builds aarch64: builds stay pending, which is what we want
PROJECT = "pages"
HTML = {"Accept": "text/html"}


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


def text_of(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


class Browser:
    """An httpx client that keeps cookies and speaks forms, as a browser would."""

    def __init__(self, server: Server) -> None:
        self.client = httpx.Client(base_url=server.url, headers=HTML, timeout=30)

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.client.get(path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, data: dict[str, str] | None = None, *, form_page: str | None = None,
             token: bool = True, **kw: object) -> httpx.Response:
        data = dict(data or {})
        if token:
            data["csrf_token"] = csrf_of(self.get(form_page or "/login"))
        return self.client.post(path, data=data, **kw)  # type: ignore[arg-type]

    def log_in(self, name: str, password: str) -> httpx.Response:
        return self.post("/login", {"username": name, "password": password, "next": "/coprs/"})


def api_auth(config: str) -> tuple[str, str]:
    login = re.search(r"^login = (\S+)$", config, re.M)
    token = re.search(r"^token = (\S+)$", config, re.M)
    assert login and token
    return login.group(1), token.group(1)


@pytest.fixture(scope="module")
def accounts(server: Server) -> dict[str, tuple[str, str]]:
    auth = {name: api_auth(server.add_user(name)) for name in ("alice", "bob")}
    for name in auth:
        set_web_password(server, name, f"{name}-password")
    server.add_user("carol")  # no web password
    return auth


@pytest.fixture(scope="module")
def alice_api(server: Server, accounts: dict[str, tuple[str, str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=accounts["alice"], timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def builds(alice_api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    """27 pending builds in alice/pages, the first two of them canceled."""
    r = alice_api.post("/api_3/project/add/alice", json={"name": PROJECT, "chroots": [CHROOT],
                                                        "description": "pending builds for page tests"})
    assert r.status_code == 200, r.text
    srpm = make_srpm("hello-c", tmp_path_factory.mktemp("srpm"))
    ids = []
    for _ in range(27):
        with open(srpm, "rb") as fh:
            r = alice_api.post("/api_3/build/create/upload", files={
                "json": (None, json.dumps({"ownername": "alice", "projectname": PROJECT, "chroots": [CHROOT]})),
                "pkgs": (srpm.name, fh, "application/x-rpm")})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    for build_id in ids[:2]:
        assert alice_api.put(f"/api_3/build/cancel/{build_id}").status_code == 200
    return ids


def build_state(api: httpx.Client, build_id: int) -> str:
    return str(api.get(f"/api_3/build/{build_id}").json()["state"])


def test_pages_anyone_can_read(server: Server, builds: list[int]) -> None:
    anon = Browser(server)
    for path in ("/coprs/", "/coprs/alice/", f"/coprs/alice/{PROJECT}/", f"/coprs/alice/{PROJECT}/builds/",
                 f"/coprs/alice/{PROJECT}/packages/", f"/coprs/alice/{PROJECT}/package/hello-c/",
                 f"/coprs/alice/{PROJECT}/monitor/", f"/coprs/build/{builds[-1]}/", "/coprs/fulltext/?fulltext=hello",
                 "/status/builders/", "/status/queue/", "/results/", f"/results/alice/{PROJECT}/", "/login"):
        r = anon.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        assert r.headers["content-type"].startswith("text/html") and "<title>" in r.text, path
    waiting = text_of(anon.get(f"/coprs/build/{builds[-1]}/"))
    assert "no worker can run rpm-build tasks for aarch64" in waiting or "waiting for a free worker slot" in waiting
    for path in ("/api/", f"/coprs/alice/{PROJECT}/edit/", f"/coprs/alice/{PROJECT}/add_build/", "/coprs/alice/add/",
                 f"/coprs/alice/{PROJECT}/permissions/"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_errors_are_pages_for_browsers_and_json_for_the_api(server: Server) -> None:
    page = httpx.get(f"{server.url}/coprs/build/987654/", headers=HTML)
    assert page.status_code == 404 and "Build 987654 does not exist." in page.text and "<h1>" in page.text
    plain = httpx.get(f"{server.url}/coprs/build/987654/")
    assert plain.status_code == 404 and plain.json() == {"error": "Build 987654 does not exist."}
    api = httpx.get(f"{server.url}/api_3/build/987654", headers=HTML)
    assert api.status_code == 404 and api.json() == {"error": "Build 987654 does not exist."}
    bad = httpx.get(f"{server.url}/coprs/alice/nope/builds/", headers=HTML)
    assert bad.status_code == 404 and "Project alice/nope does not exist." in bad.text


def test_log_in_and_out(server: Server, accounts: dict[str, tuple[str, str]]) -> None:
    b = Browser(server)
    wrong = b.log_in("alice", "not-her-password")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    nobody = b.log_in("mallory", "whatever-password")
    assert nobody.status_code == 401 and "Wrong user name or password." in nobody.text
    carol = b.log_in("carol", "whatever-password")
    assert carol.status_code == 401 and "carol has no web password yet" in carol.text
    ok = b.log_in("alice", "alice-password")
    assert ok.status_code == 303 and ok.headers["location"] == "/coprs/"
    assert "Welcome, alice." in b.get("/coprs/").text
    token_page = b.get("/api/")
    assert token_page.status_code == 200 and f"login = {accounts['alice'][0]}" in token_page.text
    # A new password ends the sessions opened with the old one.
    set_web_password(server, "alice", "alice-new-password")
    assert b.get("/api/").status_code == 303
    assert b.log_in("alice", "alice-password").status_code == 401
    assert b.log_in("alice", "alice-new-password").status_code == 303
    set_web_password(server, "alice", "alice-password")
    # Open redirects are refused: `next` must be a local path.
    b2 = Browser(server)
    r = b2.post("/login", {"username": "bob", "password": "bob-password", "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/coprs/"
    out = b2.post("/logout", form_page="/coprs/")
    assert out.status_code == 303 and b2.get("/api/").status_code == 303


def test_forms_without_the_csrf_token_are_refused(server: Server, alice_api: httpx.Client,
                                                  builds: list[int]) -> None:
    b = Browser(server)
    assert b.log_in("alice", "alice-password").status_code == 303
    r = b.post("/coprs/alice/add", {"name": "forged", "chroots": CHROOT}, token=False)
    assert r.status_code == 403 and "CSRF check failed" in r.text
    r = b.post("/coprs/alice/add", {"name": "forged", "chroots": CHROOT, "csrf_token": "made-up"}, token=False)
    assert r.status_code == 403
    assert alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": "forged"}).status_code == 404
    r = b.post(f"/coprs/build/{builds[-1]}/cancel", token=False)
    assert r.status_code == 403 and build_state(alice_api, builds[-1]) == "pending"
    # The cookie alone does not authorize the API.
    assert b.client.get("/api_3/auth-check").status_code == 401


def test_only_the_owner_changes_a_project(server: Server, alice_api: httpx.Client, builds: list[int]) -> None:
    bob = Browser(server)
    assert bob.log_in("bob", "bob-password").status_code == 303
    target = builds[-1]
    for action in ("cancel", "rebuild"):
        r = bob.post(f"/coprs/build/{target}/{action}", form_page=f"/coprs/build/{target}/")
        assert r.status_code == 303 and r.headers["location"] == f"/coprs/build/{target}/"
        assert f"You (bob) are not allowed to build in alice/{PROJECT}." in text_of(bob.get(r.headers["location"]))
    assert build_state(alice_api, target) == "pending"
    page = text_of(bob.get(f"/coprs/build/{target}/"))
    assert "Cancel build" not in page and "Rebuild" not in page
    for path in (f"/coprs/alice/{PROJECT}/edit", f"/coprs/alice/{PROJECT}/add_build"):
        r = bob.get(path)
        assert r.status_code == 403 and "bob" in text_of(r), path
    r = bob.post(f"/coprs/alice/{PROJECT}/delete", {"confirm": PROJECT}, form_page="/coprs/")
    assert r.status_code == 403 and f"Only the owner and admins of alice/{PROJECT} can do that" in text_of(r)
    r = bob.post("/coprs/alice/add", {"name": "intruder", "chroots": CHROOT}, form_page="/coprs/")
    assert r.status_code == 403 and "You (bob) cannot create projects for alice." in text_of(r)
    assert alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": PROJECT}).status_code == 200


def test_builds_list_pages_filters_and_sorts(server: Server, builds: list[int]) -> None:
    anon = Browser(server)
    base = f"/coprs/alice/{PROJECT}/builds/"

    def ids(r: httpx.Response) -> list[int]:
        assert r.status_code == 200, r.text
        return [int(i) for i in re.findall(r'<a href="/coprs/build/(\d+)/">#', r.text)]

    first = anon.get(base)
    assert ids(first) == sorted(builds, reverse=True)[:25]
    assert "Showing 1–25 of 27 builds" in text_of(first)
    assert ids(anon.get(base, params={"page": 2})) == sorted(builds, reverse=True)[25:]
    assert ids(anon.get(base, params={"state": "canceled"})) == sorted(builds[:2], reverse=True)
    assert ids(anon.get(base, params={"state": "pending", "page": 2})) == []
    assert len(ids(anon.get(base, params={"state": "pending"}))) == 25
    assert ids(anon.get(base, params={"state": "succeeded"})) == []
    assert ids(anon.get(base, params={"package": "hello-c", "sort": "submitted", "dir": "asc"}))[0] == builds[0]
    nothing = anon.get(base, params={"package": "no-such-package"})
    assert ids(nothing) == [] and "No build matches these filters." in nothing.text
    bad = anon.get(base, params={"state": "sleeping"})
    assert bad.status_code == 400 and "state: unknown state 'sleeping'" in text_of(bad)
    assert anon.get(base, params={"page": "x"}).status_code == 400
    packages = anon.get(f"/coprs/alice/{PROJECT}/packages/")
    assert "hello-c" in packages.text and f"#{builds[-1]}" in packages.text
    monitor = anon.get(f"/coprs/alice/{PROJECT}/monitor/")
    assert CHROOT in monitor.text and f"/coprs/build/{builds[-1]}/" in monitor.text


def test_search_finds_projects_by_package_name(server: Server, builds: list[int]) -> None:
    anon = Browser(server)
    for term in ("hello-c", "PENDING BUILDS", "pages", "alic"):
        r = anon.get("/coprs/fulltext/", params={"fulltext": term})
        assert f"alice/{PROJECT}" in r.text, term
    none = anon.get("/coprs/fulltext/", params={"fulltext": "100%_nothing"})
    assert "No project matches" in text_of(none)


def test_the_event_stream_ends_with_the_build(server: Server, builds: list[int]) -> None:
    canceled = builds[0]
    with httpx.stream("GET", f"{server.url}/coprs/build/{canceled}/events", params={"chroot": CHROOT},
                      timeout=20) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = re.findall(r"^event: (\w+)$", body, re.M)
    assert events[0] == "state" and events[-1] == "end"
    assert json.loads(re.findall(r"^data: (.*)$", body, re.M)[-1]) == {"state": "canceled"}
    assert httpx.get(f"{server.url}/coprs/build/987654/events", timeout=10).status_code == 404


def test_settings_form_and_delete(server: Server, alice_api: httpx.Client) -> None:
    b = Browser(server)
    assert b.log_in("alice", "alice-password").status_code == 303
    new = b.post("/coprs/alice/add", {"name": "scratch", "description": "to be edited", "chroots": CHROOT},
                 form_page="/coprs/alice/add/")
    assert new.status_code == 303 and new.headers["location"] == "/coprs/alice/scratch/"
    dup = b.post("/coprs/alice/add", {"name": "scratch", "chroots": CHROOT}, form_page="/coprs/alice/add/")
    assert dup.status_code == 409 and "You already have a project named 'scratch'." in text_of(dup)
    edit = "/coprs/alice/scratch/edit/"
    r = b.client.post(edit.rstrip("/"), data={"csrf_token": csrf_of(b.get(edit)), "description": "edited",
                                              "instructions": "dnf install it", "homepage": "https://example.org",
                                              "chroots": ["fedora-43-x86_64", CHROOT], "enable_net": "on"})
    assert r.status_code == 303, r.text
    got = alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": "scratch"}).json()
    assert got["description"] == "edited" and got["enable_net"] is True and got["homepage"] == "https://example.org"
    assert sorted(got["chroot_repos"]) == ["fedora-43-aarch64", "fedora-43-x86_64"]
    none = b.client.post(edit.rstrip("/"), data={"csrf_token": csrf_of(b.get(edit)), "description": "x"})
    assert none.status_code == 400 and "at least one chroot" in text_of(none)
    wrong = b.post("/coprs/alice/scratch/delete", {"confirm": "scrat"}, form_page=edit)
    assert wrong.status_code == 303 and "Type the project name (scratch)" in text_of(b.get(wrong.headers["location"]))
    gone = b.post("/coprs/alice/scratch/delete", {"confirm": "scratch"}, form_page=edit)
    assert gone.status_code == 303 and gone.headers["location"] == "/coprs/alice/"
    assert alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": "scratch"}).status_code == 404


def test_new_build_form_reports_bad_input(server: Server, alice_api: httpx.Client, tmp_path: Path) -> None:
    b = Browser(server)
    assert b.log_in("alice", "alice-password").status_code == 303
    form = f"/coprs/alice/{PROJECT}/add_build/"
    bogus = tmp_path / "bogus.src.rpm"
    bogus.write_text("not an rpm\n")
    with open(bogus, "rb") as fh:
        r = b.client.post(form.rstrip("/"), data={"csrf_token": csrf_of(b.get(form)), "source": "upload",
                                                  "chroots": CHROOT}, files={"pkg": (bogus.name, fh)})
    assert r.status_code == 400 and "bogus.src.rpm" in text_of(r)
    r = b.client.post(form.rstrip("/"), data={"csrf_token": csrf_of(b.get(form)), "source": "url",
                                              "url": "ftp://example.org/x.src.rpm", "chroots": CHROOT})
    assert r.status_code == 400 and "is not an http(s) URL of a source RPM" in text_of(r)
    assert 'value="ftp://example.org/x.src.rpm"' in r.text  # the form keeps what was typed
    r = b.client.post(form.rstrip("/"), data={"csrf_token": csrf_of(b.get(form)), "source": "upload"})
    assert r.status_code == 400 and "choose at least one chroot" in text_of(r)
