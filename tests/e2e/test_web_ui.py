"""The web UI in a real browser (Debian's Chromium, driven by Playwright) against a real server.

One user's path through the site: log in, create a project, upload an SRPM with the form, follow
the build live (log and state change without a reload) while the builders page shows the worker
busy, find the project by search, copy the install line, renew the API token and use it. Each
main page is saved as a screenshot under artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.dnf import dnf
from tests.support.server import Server
from tests.support.srpms import make_srpm
from tests.support.web import chromium, screenshot_path, set_web_password

PASSWORD = "correct horse battery"
PROJECT = "webui"
CHROOT = "fedora-43-x86_64"
FOREIGN_CHROOT = "fedora-43-aarch64"  # no worker builds aarch64 here: its builds wait, with a reason


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[BrowserContext]:
    server.add_user("alice")
    set_web_password(server, "alice", PASSWORD)
    with chromium() as context:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        yield context


@pytest.fixture(scope="module")
def page(browser: BrowserContext) -> Page:
    p = browser.new_page()
    p.set_default_timeout(30_000)
    p.on("dialog", lambda dialog: dialog.accept())  # the confirm() of cancel, delete, new token
    return p


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(screenshot_path(name)), full_page=True)


def log_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/coprs/")
    page.get_by_role("link", name="Log in").click()
    shot(page, "login")
    page.fill("#l-user", "alice")
    page.fill("#l-pass", "wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".error-box")).to_contain_text("Wrong user name or password.")
    page.fill("#l-pass", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-success")).to_contain_text("Welcome, alice.")
    expect(page.locator(".userbox")).to_contain_text("alice")


def create_project(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/coprs/alice/")
    page.get_by_role("link", name="+ New project").first.click()
    expect(page).to_have_url(re.compile(r"/coprs/alice/add/?$"))
    page.fill("#p-name", "bad name")  # refused by the server's own rule, shown on the form
    page.evaluate("document.getElementById('p-name').removeAttribute('pattern')")
    page.check(f"input[name=chroots][value={CHROOT}]")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".error-box")).to_contain_text("is not a valid project name")
    page.fill("#p-name", PROJECT)
    page.fill("#p-description", "Slow builds for the web UI test, with a searchable description.")
    page.fill("#p-instructions", "Enable the repository, then install slow-build.")
    page.check(f"input[name=chroots][value={FOREIGN_CHROOT}]")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(rf"/coprs/alice/{PROJECT}/?$"))
    expect(page.locator(".flash-success")).to_contain_text(f"Project alice/{PROJECT} was created")


def upload(page: Page, server: Server, srpm: Path, chroots: list[str]) -> int:
    page.goto(f"{server.url}/coprs/alice/{PROJECT}/")
    page.get_by_role("link", name="+ New build").click()
    expect(page.locator("#b-url")).to_be_hidden()  # the URL field shows only for "SRPM from a URL"
    page.set_input_files("#b-pkg", str(srpm))
    for box in page.locator("input[name=chroots]").all():
        box.set_checked(box.get_attribute("value") in chroots)
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page).to_have_url(re.compile(r"/coprs/build/\d+/?$"))
    return int(re.search(r"/coprs/build/(\d+)", page.url).group(1))  # type: ignore[union-attr]


def test_a_user_builds_and_follows_it_live(server: Server, browser: BrowserContext, page: Page,
                                           tmp_path: Path) -> None:
    page.goto(f"{server.url}/coprs/")
    shot(page, "home-empty")
    log_in(page, server)
    create_project(page, server)

    # A build no worker can take waits, and the page says why.
    waiting = upload(page, server, make_srpm("hello-c", tmp_path), [FOREIGN_CHROOT])
    expect(page.locator(f"tr[data-chroot='{FOREIGN_CHROOT}'] .state")).to_have_text("pending")
    expect(page.locator(f"tr[data-chroot='{FOREIGN_CHROOT}'] [data-field=note]")).to_contain_text(
        "no worker can run rpm-build tasks for aarch64", timeout=15_000)

    slow = make_srpm("slow", tmp_path, defines={"sleep_seconds": "8"})
    build_id = upload(page, server, slow, [CHROOT])
    expect(page.locator(".flash-success")).to_contain_text(f"Build {build_id} was submitted.")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    log = page.locator("#live-log")
    expect(log).to_contain_text("slow-build: tick 2", timeout=60_000)
    first = len(log.text_content() or "")
    expect(page.locator("#build-state")).to_have_text("running")
    shot(page, "build-running")

    # Meanwhile, another tab: the builder is busy with this very build; the queue shows the wait.
    other = browser.new_page()
    other.goto(f"{server.url}/status/builders/")
    worker = other.locator(".worker").first
    expect(worker.locator(".worker-head .state")).to_have_text("busy")
    expect(worker).to_contain_text(f"#{build_id}")
    expect(worker).to_contain_text("slow-build")
    shot(other, "builders")
    other.goto(f"{server.url}/status/queue/")
    expect(other.locator("table").first).to_contain_text(f"#{waiting}")
    expect(other.locator("table").first).to_contain_text("no worker can run rpm-build tasks for aarch64")
    shot(other, "queue")
    other.close()

    expect(log).to_contain_text("slow-build: tick 8", timeout=60_000)
    assert len(log.text_content() or "") > first, "the live log did not grow"
    expect(page.locator("#build-state")).to_have_text("succeeded", timeout=180_000)
    expect(page.locator(f"tr[data-chroot='{CHROOT}'] .state")).to_have_text("succeeded")
    expect(page.locator("#live-badge")).to_have_text("finished: succeeded")
    expect(page.locator("[data-build=took]")).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator("#delete-form")).to_be_visible()
    expect(page.locator("#cancel-form")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True, "the build page reloaded"
    full = httpx.get(page.locator("#log a", has_text="Full log").get_attribute("href") or "", timeout=10).text
    assert "slow-build: tick 15 of 16" in full and "slow-build: tick 15 of 16" in (log.text_content() or "")
    shot(page, "build-succeeded")

    # Cancel the waiting build with its button.
    page.goto(f"{server.url}/coprs/build/{waiting}/")
    page.get_by_role("button", name="Cancel build").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Build {waiting} was canceled.")
    expect(page.locator("#build-state")).to_have_text("canceled")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Build {waiting} was deleted.")
    expect(page).to_have_url(re.compile(rf"/coprs/alice/{PROJECT}/builds/?$"))
    expect(page.locator("main table")).not_to_contain_text(f"#{waiting}")

    # Find the project by one of its package names, from the home page's search box.
    page.goto(f"{server.url}/coprs/")
    shot(page, "home")
    page.locator(".hero input[type=search]").fill("slow-build")
    page.locator(".hero input[type=search]").press("Enter")
    results = page.locator("#search-results")
    expect(results).to_contain_text(f"alice/{PROJECT}")
    expect(results).to_contain_text("slow-build")
    shot(page, "search")
    results.get_by_role("link", name=f"alice/{PROJECT}").click()

    # Copy the install line, and run it: dnf's copr plugin enables the repository, dnf installs.
    expected = f"dnf copr enable --hub {server.url} alice/{PROJECT} {CHROOT}"
    line = page.locator(".install-item", has_text=CHROOT)
    expect(line.locator("code")).to_have_text(expected)
    line.locator("button.copy").click()
    expect(line.locator("button.copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == expected
    root = tmp_path / "root"
    (root / "etc/yum.repos.d").mkdir(parents=True)
    enabled = dnf(root, *copied.split()[1:])
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    installed = dnf(root, "install", "slow-build")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (root / "usr/share/slow-build/done.txt").is_file()
    repo = httpx.get(server.url + (page.get_by_role("link", name="fedora-43.repo").first.get_attribute("href") or ""))
    assert repo.status_code == 200 and f"baseurl={server.url}/results/alice/{PROJECT}/" in repo.text
    shot(page, "project")

    for name, path in (("builds", "builds/"), ("packages", "packages/"), ("monitor", "monitor/"),
                       ("package", "package/slow-build/"), ("settings", "edit/"), ("new-build", "add_build/")):
        page.goto(f"{server.url}/coprs/alice/{PROJECT}/{path}")
        expect(page.locator("main")).to_be_visible()
        shot(page, name)
    page.goto(f"{server.url}/coprs/alice/{PROJECT}/monitor/")
    expect(page.locator("table.monitor")).to_contain_text("succeeded")
    page.goto(f"{server.url}/coprs/alice/")
    expect(page.locator("main table")).to_contain_text(PROJECT)
    shot(page, "user")
    page.goto(f"{server.url}/results/alice/{PROJECT}/{CHROOT}/")
    expect(page.locator("main")).to_contain_text("repodata/")
    shot(page, "repository")

    # A new API token, shown once, works with the API at once.
    page.goto(f"{server.url}/api/")
    shot(page, "token")
    page.get_by_role("button", name="Generate a new token").click()
    config = page.locator("#copr-config").text_content() or ""
    login = re.search(r"^login = (\S+)$", config, re.M).group(1)  # type: ignore[union-attr]
    token = re.search(r"^token = (\S+)$", config, re.M).group(1)  # type: ignore[union-attr]
    check = httpx.get(f"{server.url}/api_3/auth-check", auth=(login, token), timeout=10)
    assert check.status_code == 200 and check.json()["name"] == "alice", check.text
    shot(page, "token-new")

    page.goto(f"{server.url}/coprs/build/999999/")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator(".error-box")).to_contain_text("Build 999999 does not exist.")
    shot(page, "error")

    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash-info")).to_contain_text("You are logged out.")
    page.goto(f"{server.url}/coprs/alice/{PROJECT}/edit/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
