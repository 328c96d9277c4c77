"""Bad input gets a clear error and leaves nothing behind (issue 2).

Every rejected request is checked twice: for what the user sees (status code, the ``{"error": ...}``
body, copr-cli's output and exit code) and for what is left on the server afterwards (no build
row, no package row, no file or directory under ``results/`` or ``spool/``).
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import api_client, credentials, error_of, leaves_nothing, snapshot
from tests.support.coprcli import CoprCli
from tests.support.server import Server, running_server
from tests.support.srpms import corrupt_copies, make_crafted_srpm, make_srpm_with_file_name
from tests.support.waiting import static_http_server, wait_for

CHROOT = "fedora-43-x86_64"
FOREIGN = "fedora-43-aarch64"  # enabled, but no worker on this x86_64 host builds arch packages for it
PROJECT = "bad"
MISSING_BUILD = 999999


# -- helpers ---------------------------------------------------------------------------------------


def login_invalid(server: Server) -> str:
    return f"Login invalid/expired. Please visit {server.url}/api to get or renew your API token."


def upload(client: httpx.Client, owner: str, project: str, srpm: Path, **opts: Any) -> httpx.Response:
    """POST build/create/upload exactly as copr-cli sends it: a ``pkgs`` file part and a ``json`` part."""
    data = {"ownername": owner, "projectname": project, "project_dirname": project, **opts}
    files = {
        "pkgs": (srpm.name, srpm.read_bytes(), "application/x-rpm"),
        "json": ("json", json.dumps(data), "application/json"),
    }
    return client.post("/api_3/build/create/upload", files=files)


def refused_build(project: str) -> str:
    return (f"You (bob) are not allowed to build in alice/{project}. "
            f"Ask for the builder role: copr-cli request-permissions alice/{project} --builder")


def refused_edit(project: str) -> str:
    return f"Only the owner and admins of alice/{project} can do that; you are bob."


def created_build_id(proc_stdout: str) -> int:
    match = re.search(r"Created builds: (\d+)", proc_stdout)
    assert match, proc_stdout
    return int(match.group(1))


def wait_published(server: Server, owner: str, project: str, chroots: list[str]) -> None:
    def done() -> bool:
        dirs = [server.data_dir / "results" / owner / project / c for c in chroots]
        return all((d / "repodata/repomd.xml").is_file() and not any(d.glob(".repodata*")) for d in dirs)

    wait_for(f"empty repodata of {owner}/{project}", done, timeout=60)


def build_state(client: httpx.Client, build_id: int) -> str:
    r = client.get(f"/api_3/build/{build_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anonymous(server: Server) -> Iterator[httpx.Client]:
    with api_client(server, None) as client:
        yield client


@pytest.fixture(scope="module")
def project(server: Server, alice: CoprCli) -> str:
    alice("create", PROJECT, "--chroot", CHROOT, "--chroot", FOREIGN, "--description", "bad input", check=True)
    wait_published(server, "alice", PROJECT, [CHROOT, FOREIGN])
    return PROJECT


@pytest.fixture(scope="module")
def broken(srpms: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uploads that are not usable source RPMs, keyed by what is wrong with them."""
    out = tmp_path_factory.mktemp("broken")
    files = corrupt_copies(srpms["hello-noarch"], out)
    files["unsafe-dotdot"] = make_srpm_with_file_name("../x", out)
    files["unsafe-newline"] = make_srpm_with_file_name("a\nbc", out)
    return files


def expected_rejection(kind: str, path: Path) -> str:
    messages = {
        "not-rpm": f"{path.name}: not an RPM package",
        "binary": f"{path.name}: is a binary RPM, a source RPM (.src.rpm) is expected",
        "truncated": f"{path.name}: truncated or corrupt",
        "unsafe-dotdot": f"{path.name}: unsafe file name inside the SRPM: '../x'",
        "unsafe-newline": f"{path.name}: unsafe file name inside the SRPM: 'a\\nbc'",
    }
    return messages[kind]


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the file server serves: ``notes.src.rpm`` is text; tests may add more."""
    root = tmp_path_factory.mktemp("www")
    (root / "notes.src.rpm").write_text("Release notes, not a package.\n")
    return root


@pytest.fixture(scope="module")
def file_server(www: Path) -> Iterator[str]:
    """A plain HTTP server for URL builds over ``www``; anything not there is a 404."""
    with static_http_server(www) as url:
        yield url


# -- broken SRPMs ----------------------------------------------------------------------------------

BROKEN_KINDS = ["not-rpm", "binary", "truncated", "unsafe-dotdot", "unsafe-newline"]


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_api_rejects_an_upload_that_is_not_a_usable_srpm(
    server: Server, alice_api: httpx.Client, project: str, broken: dict[str, Path], kind: str
) -> None:
    path = broken[kind]
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        message = error_of(upload(alice_api, "alice", project, path, chroots=[CHROOT]), 400)
    assert message.startswith(expected_rejection(kind, path)), message


@pytest.mark.parametrize("kind", ["not-rpm", "binary", "truncated", "unsafe-dotdot"])
def test_copr_cli_shows_why_an_upload_was_refused(
    server: Server, alice: CoprCli, alice_api: httpx.Client, project: str, broken: dict[str, Path], kind: str
) -> None:
    path = broken[kind]
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = alice("build", project, str(path), "--nowait")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Created builds" not in r.stdout
    assert "Something went wrong:" in r.stderr
    # copr-cli prints the server's message as is (a newline inside it starts a new line).
    assert f"Error: {expected_rejection(kind, path)}" in r.stderr, r.stderr


def test_a_crafted_srpm_is_refused_before_any_file_is_kept(
    server: Server, alice_api: httpx.Client, project: str, tmp_path: Path
) -> None:
    """A valid, well-formed SRPM with a file name that points outside its directory."""
    crafted = make_srpm_with_file_name("/etc", tmp_path)
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        message = error_of(upload(alice_api, "alice", project, crafted), 400)
    assert message == f"{crafted.name}: unsafe file name inside the SRPM: '/etc'"


# -- project names and chroots ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["with/slash", "with space", "", " ", "../up"])
def test_invalid_project_names_are_refused(server: Server, alice_api: httpx.Client, project: str, name: str) -> None:
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = alice_api.post("/api_3/project/add/alice", params={"ownername": "alice", "exist_ok": "False"},
                           json={"name": name, "chroots": [CHROOT], "description": "bad name"})
        message = error_of(r, 400)
    if name:
        assert message.startswith(f"name: {name!r} is not a valid project name"), message
        assert "no spaces or '/'" in message
    else:
        assert message == "name: this field is required"


def test_copr_cli_create_with_a_space_in_the_name(server: Server, alice: CoprCli, alice_api: httpx.Client,
                                                 project: str) -> None:
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = alice("create", "two words", "--chroot", CHROOT)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error: name: 'two words' is not a valid project name" in r.stderr
    assert "successfully created" not in r.stdout


def test_unknown_chroot_for_a_new_project_lists_the_valid_ones(
    server: Server, alice: CoprCli, alice_api: httpx.Client, project: str
) -> None:
    valid = sorted(alice_api.get("/api_3/mock-chroots/list").json())
    assert CHROOT in valid
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = alice_api.post("/api_3/project/add/alice", params={"ownername": "alice"},
                           json={"name": "nochroot", "chroots": ["fedora-99-x86_64"]})
        message = error_of(r, 400)
        cli = alice("create", "nochroot", "--chroot", "fedora-99-x86_64")
    assert message == f"chroots: 'fedora-99-x86_64' is not a valid chroot here. Valid chroots: {', '.join(valid)}"
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"Error: {message}" in cli.stderr
    assert not (server.data_dir / "results/alice/nochroot").exists()


def test_unknown_chroot_for_a_build_lists_the_project_chroots(
    server: Server, alice: CoprCli, alice_api: httpx.Client, project: str, srpms: dict[str, Path]
) -> None:
    expected = (f"chroots: 'fedora-99-x86_64' is not enabled in alice/{project}. "
                f"Valid chroots: {', '.join(sorted([CHROOT, FOREIGN]))}")
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = upload(alice_api, "alice", project, srpms["hello-noarch"], chroots=["fedora-99-x86_64"])
        assert error_of(r, 400) == expected
        cli = alice("build", project, "-r", "fedora-99-x86_64", str(srpms["hello-noarch"]), "--nowait")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"Error: {expected}" in cli.stderr
    assert "Created builds" not in cli.stdout


# -- authentication and permissions ----------------------------------------------------------------


def _auth_requests(project: str, srpm: Path) -> list[tuple[str, str, dict[str, Any]]]:
    data = {"ownername": "alice", "projectname": project, "project_dirname": project}
    files = {"pkgs": (srpm.name, srpm.read_bytes(), "application/x-rpm"),
             "json": ("json", json.dumps(data), "application/json")}
    return [
        ("POST", "/api_3/project/add/alice", {"json": {"name": "sneaky", "chroots": [CHROOT]}}),
        ("POST", "/api_3/build/create/upload", {"files": files}),
        ("POST", "/api_3/build/create/url", {"json": {**data, "pkgs": ["http://127.0.0.1:9/x.src.rpm"]}}),
        ("PUT", f"/api_3/project/edit/alice/{project}", {"json": {"description": "defaced"}}),
        ("DELETE", f"/api_3/project/delete/alice/{project}", {"json": {"verify": True}}),
        ("GET", "/api_3/auth-check", {}),
    ]


@pytest.mark.parametrize("who", ["no-authorization", "wrong-token", "unknown-login"])
def test_missing_or_wrong_credentials_get_401(
    server: Server, alice: CoprCli, alice_api: httpx.Client, project: str, srpms: dict[str, Path], who: str
) -> None:
    login, token = credentials(alice.config.read_text())
    auth = {"no-authorization": None, "wrong-token": (login, "x" * len(token)),
            "unknown-login": ("nobody-at-all", token)}[who]
    with (httpx.Client(base_url=server.url, auth=auth, timeout=60) as client,
          leaves_nothing(server, alice_api, "alice", PROJECT)):
        for method, path, kwargs in _auth_requests(project, srpms["hello-noarch"]):
            r = client.request(method, path, **kwargs)
            assert error_of(r, 401) == login_invalid(server), f"{method} {path}"
    project_now = alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": project}).json()
    assert project_now["description"] != "defaced"


def test_copr_cli_with_a_wrong_token(server: Server, alice: CoprCli, alice_api: httpx.Client, project: str,
                                     srpms: dict[str, Path], tmp_path: Path) -> None:
    login, token = credentials(alice.config.read_text())
    config = tmp_path / "copr-wrong"
    config.write_text(alice.config.read_text().replace(token, "0" * len(token)))
    mallory = CoprCli(alice.exe, config)
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = mallory("build", project, str(srpms["hello-noarch"]), "--nowait")
        created = mallory("create", "by-wrong-token", "--chroot", CHROOT)
    for proc in (r, created):
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"Error: {login_invalid(server)}" in proc.stderr
    assert "Created builds" not in r.stdout


def test_another_users_project_is_forbidden(
    server: Server, bob: CoprCli, bob_api: httpx.Client, alice_api: httpx.Client, project: str,
    srpms: dict[str, Path]
) -> None:
    before = alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": project}).json()
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = upload(bob_api, "alice", project, srpms["hello-noarch"], chroots=[CHROOT])
        assert error_of(r, 403) == refused_build(project)
        r = bob_api.post("/api_3/build/create/url",
                         json={"ownername": "alice", "projectname": project, "pkgs": ["http://127.0.0.1:9/a.src.rpm"]})
        assert error_of(r, 403) == refused_build(project)
        for method in ("PUT", "POST"):
            r = bob_api.request(method, f"/api_3/project/edit/alice/{project}", json={"description": "bob was here"})
            assert error_of(r, 403) == refused_edit(project)
        for method in ("DELETE", "POST"):
            r = bob_api.request(method, f"/api_3/project/delete/alice/{project}", json={"verify": True})
            assert error_of(r, 403) == refused_edit(project)
        r = bob_api.post("/api_3/project/add/alice", json={"name": "planted", "chroots": [CHROOT]})
        assert error_of(r, 403) == "You (bob) cannot create projects for alice."

        cli = bob("build", f"alice/{project}", str(srpms["hello-noarch"]), "--nowait")
        assert cli.returncode == 7, cli.stdout + cli.stderr  # copr-cli's exit code for CoprAuthException
        assert f"Error: {refused_build(project)}" in cli.stderr
        cli = bob("modify", f"alice/{project}", "--description", "bob was here")
        assert cli.returncode == 7, cli.stdout + cli.stderr
        assert refused_edit(project) in cli.stderr
        cli = bob("delete", f"alice/{project}")
        assert cli.returncode == 7, cli.stdout + cli.stderr
        assert refused_edit(project) in cli.stderr
    after = alice_api.get("/api_3/project", params={"ownername": "alice", "projectname": project}).json()
    assert after == before
    assert (server.data_dir / "results/alice" / project / CHROOT / "repodata/repomd.xml").is_file()


def test_another_users_build_cannot_be_canceled_or_deleted(
    server: Server, bob_api: httpx.Client, alice_api: httpx.Client, project: str, srpms: dict[str, Path]
) -> None:
    r = upload(alice_api, "alice", project, srpms["hello-c"], chroots=[FOREIGN])
    assert r.status_code == 200, r.text
    build_id = r.json()["id"]
    try:
        with leaves_nothing(server, alice_api, "alice", PROJECT):
            r = bob_api.put(f"/api_3/build/cancel/{build_id}")
            assert error_of(r, 403) == refused_build(project)
            r = bob_api.delete(f"/api_3/build/delete/{build_id}")
            assert error_of(r, 403) == refused_build(project)
            r = bob_api.request("DELETE", "/api_3/build/delete/list", json={"builds": [build_id]})
            assert error_of(r, 403) == refused_build(project)
        assert build_state(alice_api, build_id) == "pending"
    finally:
        assert alice_api.put(f"/api_3/build/cancel/{build_id}").status_code == 200
        assert alice_api.delete(f"/api_3/build/delete/{build_id}").status_code == 200


# -- builds that do not exist ----------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_build_that_does_not_exist_is_404(
    server: Server, alice_api: httpx.Client, anonymous: httpx.Client, project: str, slash: str
) -> None:
    expected = f"Build {MISSING_BUILD} does not exist."
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        assert error_of(anonymous.get(f"/api_3/build/{MISSING_BUILD}{slash}"), 404) == expected
        assert error_of(anonymous.get(f"/api_3/build/built-packages/{MISSING_BUILD}{slash}"), 404) == expected
        assert error_of(anonymous.get("/api_3/build-chroot/list", params={"build_id": MISSING_BUILD}), 404) == expected
        for method in ("PUT", "POST"):
            assert error_of(alice_api.request(method, f"/api_3/build/cancel/{MISSING_BUILD}{slash}"), 404) == expected
        for method in ("DELETE", "POST"):
            assert error_of(alice_api.request(method, f"/api_3/build/delete/{MISSING_BUILD}{slash}"), 404) == expected
        r = alice_api.request("DELETE", f"/api_3/build/delete/list{slash}", json={"builds": [MISSING_BUILD]})
        assert error_of(r, 404) == expected
        page = anonymous.get(f"/coprs/build/{MISSING_BUILD}{slash}")
        assert page.status_code == 404


def test_copr_cli_on_a_build_that_does_not_exist(server: Server, alice: CoprCli, alice_api: httpx.Client,
                                                 project: str) -> None:
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        for args in (["status", str(MISSING_BUILD)], ["cancel", str(MISSING_BUILD)],
                     ["delete-build", str(MISSING_BUILD)], ["watch-build", str(MISSING_BUILD)]):
            r = alice(*args)
            assert r.returncode == 1, f"{args}: {r.stdout}{r.stderr}"
            assert f"Error: Build {MISSING_BUILD} does not exist." in r.stderr, f"{args}: {r.stderr}"


# -- upload size limit -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("small-server"), RPMYARD_MAX_UPLOAD_MB="1") as srv:
        yield srv


def test_an_upload_over_the_size_limit_is_413(
    small_server: Server, copr_cli_exe: Path, srpms: dict[str, Path], tmp_path: Path, www: Path, file_server: str
) -> None:
    config_text = small_server.add_user("carol")
    config = tmp_path / "copr-carol"
    config.write_text(config_text)
    carol = CoprCli(copr_cli_exe, config)
    carol("create", "limits", "--chroot", CHROOT, check=True)
    wait_published(small_server, "carol", "limits", [CHROOT])
    # A real, valid SRPM whose only fault is its size: 3 MiB of incompressible source.
    big = make_crafted_srpm(tmp_path / "big", sources={"big.bin": os.urandom(3 * 1024 * 1024)})
    assert big.stat().st_size > 1024 * 1024
    expected = re.compile(r"The upload is \d+ MiB; the limit is 1 MiB\.")

    with api_client(small_server, config_text) as client:
        with leaves_nothing(small_server, client, "carol", "limits"):
            message = error_of(upload(client, "carol", "limits", big), 413)
            assert expected.fullmatch(message), message
            cli = carol("build", "limits", str(big), "--nowait")
            assert cli.returncode == 1, cli.stdout + cli.stderr
            assert expected.search(cli.stderr), cli.stderr
            assert "Created builds" not in cli.stdout
        # The same file by URL: the build is accepted, then its source fails with the limit named.
        (www / big.name).write_bytes(big.read_bytes())
        url = f"{file_server}/{big.name}"
        before = snapshot(small_server, client, "carol", "limits")
        r = client.post("/api_3/build/create/url",
                        json={"ownername": "carol", "projectname": "limits", "pkgs": [url]})
        assert r.status_code == 200, r.text
        build_id = r.json()["items"][0]["id"]
        wait_for("the oversized URL build to fail", lambda: build_state(client, build_id) == "failed", 60)
        page = client.get(f"/coprs/build/{build_id}/")
        assert f"{url} is larger than the 1 MiB limit" in html.unescape(page.text)
        after = snapshot(small_server, client, "carol", "limits")
        assert (after.results, after.spool, after.packages) == (before.results, before.spool, before.packages)
        assert client.delete(f"/api_3/build/delete/{build_id}").status_code == 200

        # Under the limit the same server takes the upload: the 413 was about the size alone.
        r = upload(client, "carol", "limits", srpms["hello-noarch"])
        assert r.status_code == 200, r.text
        build_id = r.json()["id"]
        wait_for("the small build to finish", lambda: build_state(client, build_id) in ("succeeded", "failed"))
        assert build_state(client, build_id) == "succeeded"


# -- URL builds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("missing.src.rpm", "cannot download {url}: HTTP 404"),
        ("notes.src.rpm", "notes.src.rpm: not an RPM package"),
    ],
    ids=["404", "not-srpm"],
)
def test_a_url_build_of_a_bad_url_fails_with_the_reason_shown(
    server: Server, alice: CoprCli, alice_api: httpx.Client, anonymous: httpx.Client, project: str,
    file_server: str, path: str, reason: str
) -> None:
    url = f"{file_server}/{path}"
    reason = reason.format(url=url)
    before = snapshot(server, alice_api, "alice", project)
    r = alice("build", project, "-r", CHROOT, url, "--nowait")
    assert r.returncode == 0, r.stdout + r.stderr
    build_id = created_build_id(r.stdout)
    assert f"{server.url}/coprs/build/{build_id}" in r.stdout

    wait_for("the URL build to fail", lambda: build_state(alice_api, build_id) in ("failed", "succeeded"), 60)
    build = alice_api.get(f"/api_3/build/{build_id}").json()
    assert build["state"] == "failed"
    assert build["ended_on"] is not None
    chroot = alice_api.get("/api_3/build-chroot", params={"build_id": build_id, "chrootname": CHROOT}).json()
    assert chroot["state"] == "failed"

    page = anonymous.get(f"/coprs/build/{build_id}/")
    assert page.status_code == 200
    assert reason in html.unescape(page.text)
    status = alice("status", str(build_id))
    assert status.stdout.strip() == "failed"

    # The failed build stays listed with its reason; nothing else was kept.
    after = snapshot(server, alice_api, "alice", project)
    assert after.builds == tuple(sorted([*before.builds, build_id]))
    assert after.packages == before.packages
    assert after.spool == before.spool, sorted(after.spool ^ before.spool)
    assert after.results == before.results, sorted(after.results ^ before.results)
    assert not (server.data_dir / "results/alice" / project / "srpm-builds" / f"{build_id:08d}").exists()

    # And it can be deleted like any finished build.
    assert alice_api.delete(f"/api_3/build/delete/{build_id}").status_code == 200
    assert snapshot(server, alice_api, "alice", project) == before


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.src.rpm", "x.src.rpm"])
def test_a_url_build_needs_an_http_url(server: Server, alice_api: httpx.Client, project: str, url: str) -> None:
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        r = alice_api.post("/api_3/build/create/url",
                           json={"ownername": "alice", "projectname": project, "pkgs": [url], "chroots": [CHROOT]})
        assert error_of(r, 400) == f"pkgs: {url!r} is not an http(s) URL of a source RPM"


# -- unfinished builds, verbs and slashes ----------------------------------------------------------


def pending_build(client: httpx.Client, project: str, srpm: Path) -> int:
    """An arch-specific build for a chroot no worker here can take: it stays pending."""
    r = upload(client, "alice", project, srpm, chroots=[FOREIGN])
    assert r.status_code == 200, r.text
    build_id = int(r.json()["id"])
    assert build_state(client, build_id) == "pending"
    return build_id


def test_deleting_an_unfinished_build_is_refused(
    server: Server, alice: CoprCli, alice_api: httpx.Client, project: str, srpms: dict[str, Path]
) -> None:
    build_id = pending_build(alice_api, project, srpms["hello-c"])
    srpm_dir = server.data_dir / "results/alice" / project / "srpm-builds" / f"{build_id:08d}"
    assert (srpm_dir / "hello-c-1.0-1.src.rpm").is_file()
    expected = f"Build {build_id} is not finished (pending); cancel it first."
    with leaves_nothing(server, alice_api, "alice", PROJECT):
        for method in ("DELETE", "POST"):
            assert error_of(alice_api.request(method, f"/api_3/build/delete/{build_id}"), 400) == expected
        r = alice_api.request("DELETE", "/api_3/build/delete/list", json={"builds": [build_id]})
        assert error_of(r, 400) == expected
        cli = alice("delete-build", str(build_id))
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert f"Error: {expected}" in cli.stderr
    assert build_state(alice_api, build_id) == "pending"
    assert (srpm_dir / "hello-c-1.0-1.src.rpm").is_file()

    # Once canceled it is finished, and deleting it removes every trace.
    assert alice_api.put(f"/api_3/build/cancel/{build_id}").json()["state"] == "canceled"
    assert alice_api.delete(f"/api_3/build/delete/{build_id}").status_code == 200
    assert error_of(alice_api.get(f"/api_3/build/{build_id}"), 404) == f"Build {build_id} does not exist."
    assert not srpm_dir.exists()


@pytest.mark.parametrize("slash", ["", "/"])
def test_put_and_deprecated_post_both_cancel_and_delete(
    server: Server, alice_api: httpx.Client, project: str, srpms: dict[str, Path], slash: str
) -> None:
    before = snapshot(server, alice_api, "alice", project)
    ids = {method: pending_build(alice_api, project, srpms["hello-c"]) for method in ("PUT", "POST")}
    for method, build_id in ids.items():
        r = alice_api.request(method, f"/api_3/build/cancel/{build_id}{slash}")
        assert r.status_code == 200, f"{method}: {r.text}"
        assert r.json()["id"] == build_id
        assert r.json()["state"] == "canceled"
        assert build_state(alice_api, build_id) == "canceled"
        again = alice_api.request(method, f"/api_3/build/cancel/{build_id}{slash}")
        assert error_of(again, 400) == f"Cannot cancel build {build_id}: it has already finished (canceled)."
    for method, build_id in zip(("DELETE", "POST"), ids.values(), strict=True):
        r = alice_api.request(method, f"/api_3/build/delete/{build_id}{slash}")
        assert r.status_code == 200, f"{method}: {r.text}"
        assert r.json()["id"] == build_id
    after = snapshot(server, alice_api, "alice", project)
    assert after.builds == before.builds
    assert after.results == before.results, sorted(after.results ^ before.results)
    assert after.spool == before.spool, sorted(after.spool ^ before.spool)


@pytest.mark.parametrize("slash", ["", "/"])
def test_put_and_deprecated_post_both_edit_a_project(
    alice_api: httpx.Client, anonymous: httpx.Client, project: str, slash: str
) -> None:
    for method in ("PUT", "POST"):
        description = f"edited with {method}{slash}"
        r = alice_api.request(method, f"/api_3/project/edit/alice/{project}{slash}",
                              params={"ownername": "alice", "projectname": project},
                              json={"description": description, "chroots": None})
        assert r.status_code == 200, f"{method}: {r.text}"
        assert r.json()["description"] == description
        got = anonymous.get(f"/api_3/project{slash}", params={"ownername": "alice", "projectname": project})
        assert got.status_code == 200, got.text
        assert got.json()["description"] == description
        assert sorted(got.json()["chroot_repos"]) == sorted([CHROOT, FOREIGN])


def test_paths_with_and_without_trailing_slash(
    server: Server, alice_api: httpx.Client, anonymous: httpx.Client, project: str, srpms: dict[str, Path]
) -> None:
    q = {"ownername": "alice", "projectname": project}
    for path, params in [("/api_3", {}), ("/api_3/project", q), ("/api_3/project/list", {"ownername": "alice"}),
                         ("/api_3/build/list", q), ("/api_3/package/list", q), ("/api_3/mock-chroots/list", {})]:
        bare, slashed = anonymous.get(path, params=params), anonymous.get(path + "/", params=params)
        assert bare.status_code == slashed.status_code == 200, f"{path}: {bare.text} / {slashed.text}"
        assert bare.json() == slashed.json(), path
    for slash in ("", "/"):
        r = alice_api.get(f"/api_3/auth-check{slash}")
        assert r.status_code == 200 and r.json()["name"] == "alice", r.text
        name = f"slash{'-yes' if slash else '-no'}"
        r = alice_api.post(f"/api_3/project/add/alice{slash}", params={"ownername": "alice"},
                           json={"name": name, "chroots": [CHROOT]})
        assert r.status_code == 200, r.text
        assert r.json()["full_name"] == f"alice/{name}"
        wait_published(server, "alice", name, [CHROOT])
        r = alice_api.request("DELETE", f"/api_3/project/delete/alice/{name}{slash}", json={"verify": True})
        assert r.status_code == 200, r.text
        assert error_of(anonymous.get("/api_3/project", params={"ownername": "alice", "projectname": name}),
                        404) == f"Project alice/{name} does not exist."
        assert not (server.data_dir / "results/alice" / name).exists()

    build_id = pending_build(alice_api, project, srpms["hello-c"])
    try:
        bare, slashed = anonymous.get(f"/api_3/build/{build_id}"), anonymous.get(f"/api_3/build/{build_id}/")
        assert bare.status_code == slashed.status_code == 200
        assert bare.json() == slashed.json()
        for page in (f"/coprs/build/{build_id}", f"/coprs/build/{build_id}/"):
            r = anonymous.get(page)
            assert r.status_code == 200 and f"Build {build_id}" in r.text, page
    finally:
        assert alice_api.put(f"/api_3/build/cancel/{build_id}/").status_code == 200
        assert alice_api.delete(f"/api_3/build/delete/{build_id}/").status_code == 200


# -- URL builds may not reach the service's own network (SSRF) -------------------------------------


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the default rule: URL builds fetch from public addresses only."""
    with running_server(tmp_path_factory.mktemp("guarded-server"), RPMYARD_ALLOW_PRIVATE_URLS="0") as srv:
        yield srv


@pytest.fixture(scope="module")
def guarded_api(guarded_server: Server) -> Iterator[httpx.Client]:
    with api_client(guarded_server, guarded_server.add_user("dave")) as client:
        assert client.post("/api_3/project/add/dave", json={"name": "guarded", "chroots": [CHROOT]}).status_code == 200
        wait_published(guarded_server, "dave", "guarded", [CHROOT])  # its key and first repodata, before snapshots
        yield client


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("{file_server}/notes.src.rpm", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/x.src.rpm", "169.254.169.254 is a link-local address"),
        ("http://10.1.2.3/x.src.rpm", "10.1.2.3 is a private address"),
        ("http://[::1]:5432/x.src.rpm", "::1 is a loopback address"),
        ("http://localhost:5672/x.src.rpm", "localhost is this host"),
    ],
    ids=["loopback", "cloud-metadata", "private", "ipv6-loopback", "localhost"],
)
def test_a_url_build_may_not_fetch_from_the_service_s_own_network(
    guarded_server: Server, guarded_api: httpx.Client, file_server: str, url: str, reason: str
) -> None:
    url = url.format(file_server=file_server)
    with leaves_nothing(guarded_server, guarded_api, "dave", "guarded"):
        r = guarded_api.post("/api_3/build/create/url",
                             json={"ownername": "dave", "projectname": "guarded", "pkgs": [url]})
        message = error_of(r, 400)
    assert message == (f"pkgs: {reason}; this service fetches SRPMs only from public addresses "
                       "(an admin can allow others: allow_private_urls)"), message


def test_a_host_name_that_resolves_to_the_service_s_own_network_is_refused_when_fetched(
    guarded_server: Server, guarded_api: httpx.Client, file_server: str
) -> None:
    """A name passes submission (DNS is asked when fetching); the fetch then refuses it, so the
    build fails with the reason shown, and nothing is downloaded or kept."""
    name = socket.gethostname()
    port = file_server.rsplit(":", 1)[1]
    addresses = {info[4][0] for info in socket.getaddrinfo(name, int(port), type=socket.SOCK_STREAM)}
    assert addresses and not any(ipaddress.ip_address(a).is_global for a in addresses), (
        f"this test needs the host's own name to resolve to a non-public address, not {addresses}")
    url = f"http://{name}:{port}/notes.src.rpm"
    before = snapshot(guarded_server, guarded_api, "dave", "guarded")
    r = guarded_api.post("/api_3/build/create/url", json={"ownername": "dave", "projectname": "guarded", "pkgs": [url]})
    assert r.status_code == 200, r.text
    build_id = r.json()["items"][0]["id"]
    wait_for("the URL build to fail", lambda: build_state(guarded_api, build_id) in ("failed", "succeeded"), 60)
    assert build_state(guarded_api, build_id) == "failed"
    page = html.unescape(guarded_api.get(f"/coprs/build/{build_id}/").text)
    assert re.search(rf"{re.escape(name)} \([0-9a-f.:]+\) is a (loopback|private|link-local) address; "
                     r"this service fetches SRPMs only from public addresses", page), page[-2000:]
    after = snapshot(guarded_server, guarded_api, "dave", "guarded")
    assert (after.results, after.spool, after.packages) == (before.results, before.spool, before.packages)
