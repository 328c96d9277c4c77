"""Project permissions end to end, with the real copr-cli and a real browser against a real server.

bob asks for the builder role in alice/shared with ``copr-cli request-permissions``; alice sees it
with ``list-permissions`` and approves it with ``edit-permissions``; then bob's ``copr-cli build``
really builds there. Before that his build is refused and leaves nothing behind, and he cannot
approve himself. As an approved admin he edits the project. A mistyped user name changes nothing.
Last, carol asks on the web page and alice approves her there. The tests share alice/shared and
run in file order, as the people in them would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.api import error_of, leaves_nothing
from tests.support.coprcli import CoprCli
from tests.support.server import Server
from tests.support.waiting import wait_for
from tests.support.web import chromium, screenshot_path, set_web_password

PROJECT = "shared"
FULL = f"alice/{PROJECT}"
CHROOT = "fedora-43-x86_64"
PERMS = f"/api_3/project/permissions/{{}}/alice/{PROJECT}/"  # as copr-cli sends it: trailing slash
PASSWORD = "a long web password"
REFUSED_EDIT = f"Only the owner and admins of {FULL} can do that; you are bob."


@pytest.fixture(scope="module")
def project(alice: CoprCli) -> str:
    alice("create", PROJECT, "--chroot", CHROOT, "--description", "alice's tools, shared", check=True)
    return FULL


def can_build_in(server: Server, who: str, project: str = PROJECT) -> bool:
    r = httpx.get(f"{server.url}/api_3/project/permissions/can_build_in/{who}/alice/{project}/",
                  params={"who": who, "ownername": "alice", "projectname": project}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"who": who, "ownername": "alice", "projectname": project, "can_build_in": body["can_build_in"]}
    return bool(body["can_build_in"])


def listed(cli: CoprCli, name: str = FULL) -> str:
    return cli("list-permissions", name, check=True).stdout


def final_build(alice_api: httpx.Client, build_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        build = alice_api.get(f"/api_3/build/{build_id}").json()
        return build if build["state"] in ("succeeded", "failed", "canceled") else None

    return wait_for(f"build {build_id} to finish", done, timeout=240)  # type: ignore[no-any-return]


# -- copr-cli ----------------------------------------------------------------------------------------


def test_bob_requests_the_builder_role_and_alice_sees_it(server: Server, alice: CoprCli, bob: CoprCli,
                                                        project: str) -> None:
    r = alice("list-permissions", PROJECT)
    assert r.returncode == 1 and f"Error: No permissions set on {FULL} project" in r.stderr, r.stderr
    r = bob("list-permissions", FULL)
    assert r.returncode == 7 and REFUSED_EDIT in r.stderr, r.stderr  # copr-cli's exit code for 403
    r = alice("request-permissions", PROJECT, "--builder")
    assert r.returncode == 1 and f"You own {FULL}: the owner has every right already." in r.stderr, r.stderr

    r = bob("request-permissions", FULL, "--builder")
    assert (r.returncode, r.stdout) == (0, "success\n"), r.stderr
    assert listed(alice, PROJECT) == "bob:\n  admin: nothing\n  builder: request\n"
    assert (can_build_in(server, "bob"), can_build_in(server, "alice"), can_build_in(server, "nobody")) == (
        False, True, False)
    missing = httpx.get(f"{server.url}/api_3/project/permissions/can_build_in/bob/alice/nope/", timeout=30)
    assert error_of(missing, 404) == "Project alice/nope does not exist."


def test_before_approval_bob_is_refused_and_cannot_approve_himself(
    server: Server, alice: CoprCli, bob: CoprCli, alice_api: httpx.Client, bob_api: httpx.Client, project: str,
    srpms: dict[str, Path]
) -> None:
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = bob("build", FULL, str(srpms["hello-noarch"]), "--nowait")
        assert r.returncode == 7, r.stdout + r.stderr
        assert (f"Error: You (bob) are not allowed to build in {FULL}. Ask for the builder role: "
                f"copr-cli request-permissions {FULL} --builder") in r.stderr
        assert "Created builds" not in r.stdout

    r = bob("edit-permissions", FULL, "--builder", "bob=approved")
    assert r.returncode == 7 and REFUSED_EDIT in r.stderr, r.stderr
    r = bob("request-permissions", FULL, "--builder", "approved")  # copr-cli refuses before asking...
    assert r.returncode == 2 and "--builder can be 'nothing' or 'request', not 'approved'" in r.stderr, r.stderr
    for method in ("PUT", "POST"):  # ...and the server the same, whatever the client sends
        r = bob_api.request(method, PERMS.format("request"), json={"builder": "approved"})
        assert error_of(r, 400) == "request: builder cannot be 'approved'; use one of True, False"
        r = bob_api.request(method, PERMS.format("set"), json={"bob": {"builder": "approved"}})
        assert error_of(r, 403) == REFUSED_EDIT
    assert listed(alice, PROJECT) == "bob:\n  admin: nothing\n  builder: request\n"
    assert not can_build_in(server, "bob")


def test_an_unknown_user_or_state_changes_nothing(alice: CoprCli, project: str) -> None:
    refused = {
        ("--builder", "bob=approved", "--admin", "nobody"): "User 'nobody' does not exist; no permission was changed.",
        ("--builder", "bob=maybe"): "bob: builder cannot be 'maybe'; use one of nothing, request, approved",
        ("--builder", "bob=approved", "--admin", "alice=nothing"):
            f"alice owns {FULL}; the owner's rights cannot be changed.",
    }
    for args, message in refused.items():
        r = alice("edit-permissions", PROJECT, *args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stderr == f"\nSomething went wrong:\nError: {message}\n", r.stderr
    assert listed(alice, PROJECT) == "bob:\n  admin: nothing\n  builder: request\n"


def test_an_approved_builder_builds_with_copr_cli(server: Server, alice: CoprCli, bob: CoprCli,
                                                  alice_api: httpx.Client, project: str,
                                                  srpms: dict[str, Path]) -> None:
    r = alice("edit-permissions", PROJECT, "--builder", "bob=approved")
    assert (r.returncode, r.stdout) == (0, "success\n"), r.stderr
    assert listed(alice, PROJECT) == "bob:\n  admin: nothing\n  builder: approved\n"
    assert can_build_in(server, "bob")

    r = bob("build", FULL, str(srpms["hello-noarch"]), "--nowait")
    assert r.returncode == 0, r.stdout + r.stderr
    match = re.search(r"^Created builds: (\d+)$", r.stdout, re.M)
    assert match, r.stdout
    build = final_build(alice_api, int(match.group(1)))
    assert (build["state"], build["submitter"], build["projectname"]) == ("succeeded", "bob", PROJECT)
    built = alice_api.get(f"/api_3/build/built-packages/{build['id']}").json()
    assert [p["name"] for p in built[CHROOT]["packages"]] == ["hello-noarch"]
    assert list((server.data_dir / "results" / FULL / CHROOT).glob(f"{build['id']:08d}-hello-noarch/*.noarch.rpm"))

    r = bob("modify", FULL, "--description", "bob was here")  # a builder builds; he does not edit
    assert r.returncode == 7 and REFUSED_EDIT in r.stderr, r.stderr


def test_an_approved_admin_edits_the_project(server: Server, alice: CoprCli, bob: CoprCli, alice_api: httpx.Client,
                                             bob_api: httpx.Client, project: str) -> None:
    r = alice_api.put(PERMS.format("set"), json={"bob": {"admin": "approved"}})
    assert r.status_code == 200 and r.json() == {"updated": ["bob"]}, r.text
    r = alice_api.post(PERMS.format("set"), json={"bob": {"admin": "approved", "builder": "approved"}})
    assert r.json() == {"updated": []}  # nothing changed, nobody updated

    r = bob("modify", FULL, "--description", "edited by bob, an admin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": PROJECT}).json()[
        "description"] == "edited by bob, an admin"
    assert listed(bob) == "bob:\n  admin: approved\n  builder: approved\n"
    r = bob("edit-permissions", FULL, "--admin", "alice=nothing")
    assert r.returncode == 1 and f"alice owns {FULL}; the owner's rights cannot be changed." in r.stderr

    # bob gives the admin role up (copr-cli: --admin nothing) and keeps building, no longer editing.
    r = bob("request-permissions", FULL, "--admin", "nothing")
    assert (r.returncode, r.stdout) == (0, "success\n"), r.stderr
    assert bob_api.put(PERMS.format("request"), json={"admin": False}).json() == {"updated": False}
    assert listed(alice, PROJECT) == "bob:\n  admin: nothing\n  builder: approved\n"
    assert can_build_in(server, "bob")
    r = bob("modify", FULL, "--description", "bob was here")
    assert r.returncode == 7 and REFUSED_EDIT in r.stderr, r.stderr


# -- the web page -------------------------------------------------------------------------------------


def log_in(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#l-user", name)
    page.fill("#l-pass", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Welcome, {name}.")


def test_the_owner_approves_a_request_on_the_web_page(server: Server, alice_api: httpx.Client, project: str) -> None:
    server.add_user("carol")
    for name in ("alice", "carol"):
        set_web_password(server, name, PASSWORD)
    with chromium() as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("dialog", lambda dialog: dialog.accept())

        # carol asks from the project page; she sees her own roles, not everyone's.
        log_in(page, server, "carol")
        page.goto(f"{server.url}/coprs/{FULL}/")
        page.get_by_role("link", name="Ask for the builder role").click()
        expect(page).to_have_url(re.compile(rf"/coprs/{FULL}/permissions/?$"))
        expect(page.locator("#roles")).to_have_count(0)
        page.get_by_role("button", name="Request builder role").click()
        expect(page.locator(".flash-success")).to_contain_text(f"You asked for the builder role in {FULL}")
        expect(page.locator("[data-role=builder] .state")).to_have_text("Requested")
        page.screenshot(path=str(screenshot_path("permissions-request")), full_page=True)
        # Her session cannot approve her through the owner's form either: forged, or with her own token.
        form = {"builder:carol": "approved", "was:builder:carol": "request"}
        forged = page.request.post(f"{server.url}/coprs/{FULL}/permissions", form=form)
        assert forged.status == 403 and "CSRF check failed" in forged.json()["error"]
        token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        own = page.request.post(f"{server.url}/coprs/{FULL}/permissions", form={**form, "csrf_token": token})
        assert own.status == 403 and own.json() == {
            "error": f"Only the owner and admins of {FULL} can do that; you are carol."}
        page.get_by_role("button", name="Log out").click()

        # alice finds the request on the Permissions tab and approves it.
        log_in(page, server, "alice")
        page.goto(f"{server.url}/coprs/{FULL}/")
        page.locator("nav.tabs").get_by_role("link", name="Permissions").click()
        expect(page.locator(".perm-requests")).to_contain_text("carol asks for the builder role")
        carol = page.locator("select[name='builder:carol']")
        expect(carol).to_have_value("request")
        page.fill("#new-user", "nobdy")  # a typo: refused, nothing saved, her choice kept on the form
        carol.select_option("approved")
        page.get_by_role("button", name="Save permissions").click()
        expect(page.locator(".error-box")).to_have_text("User 'nobdy' does not exist; no permission was changed.")
        expect(carol).to_have_value("approved")
        page.screenshot(path=str(screenshot_path("permissions-refused")), full_page=True)
        assert alice_api.get(PERMS.format("get")).json()["permissions"]["carol"]["builder"] == "request"
        page.fill("#new-user", "")
        page.get_by_role("button", name="Save permissions").click()
        expect(page.locator(".flash-success")).to_have_text("Saved: new roles for carol.")
        page.reload()
        expect(carol).to_have_value("approved")
        expect(page.locator(".perm-requests")).to_have_count(0)
        page.screenshot(path=str(screenshot_path("permissions")), full_page=True)
        page.get_by_role("button", name="Log out").click()

        # carol may now build: the new-build form and the build page's buttons are hers; settings are not.
        log_in(page, server, "carol")
        build_id = alice_api.get("/api_3/build/list", params={"ownername": "alice", "projectname": PROJECT}
                                 ).json()["items"][0]["id"]
        page.goto(f"{server.url}/coprs/build/{build_id}/")
        expect(page.locator("#delete-form")).to_be_visible()
        page.get_by_role("button", name="Rebuild").click()
        expect(page.locator(".flash-success")).to_contain_text(f"a rebuild of {build_id}.")
        page.goto(f"{server.url}/coprs/{FULL}/")
        tabs = page.locator("nav.tabs")
        expect(tabs.get_by_role("link", name="Settings")).to_have_count(0)
        tabs.get_by_role("link", name="New build").click()
        expect(page.locator("#b-pkg")).to_be_visible()
    perms = alice_api.get(PERMS.format("get")).json()["permissions"]
    assert perms == {"bob": {"admin": "nothing", "builder": "approved"},
                     "carol": {"admin": "nothing", "builder": "approved"}}
    assert can_build_in(server, "carol")
    rebuilt = alice_api.get("/api_3/build/list", params={"ownername": "alice", "projectname": PROJECT}).json()
    assert rebuilt["items"][0]["submitter"] == "carol"
