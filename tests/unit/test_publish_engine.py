"""Incremental, signed publishing of one chroot (rpmyard.publish.engine), with real rpm, gpg, dnf.

Every check reads what was published the way its consumers do: repomd.xml checksums by hand,
signatures with gpgv and rpmkeys, the repository with createrepo_c and dnf.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpmyard.publish.engine import RETAIN_SECONDS, PublishResult, publish_chroot
from rpmyard.publish.signing import Keyring, rpm_signer_key_id
from tests.support.dnf import dnf
from tests.support.gpgagents import stop_agents
from tests.support.repos import (
    add_build,
    build_rpms,
    repodata_packages,
    rpm_signature_check,
    verify_repomd_signature,
)

CHROOT = "fedora-43-x86_64"


@pytest.fixture(scope="module")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("rpms")
    return {
        "one": build_rpms(out / "one", "one"),
        "two": build_rpms(out / "two", "two", subpackages=3),
        "two-v2": build_rpms(out / "two-v2", "two", subpackages=3, version="2.0"),
        "many": build_rpms(out / "many", "many", subpackages=600),
    }


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    kr = Keyring(tmp_path_factory.mktemp("data") / "keys", "rpmyard.test")
    yield kr
    kr.close()


@pytest.fixture
def chroot(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "results" / "alice" / "tools" / CHROOT
    d.mkdir(parents=True)
    yield d
    stop_agents(tmp_path)  # dnf's repo_gpgcheck keyrings start gpg-agents


def publish(chroot: Path, keyring: Keyring | None, **kw: object) -> PublishResult:
    return publish_chroot(chroot, keyring.key_for_chroot if keyring else None, **kw)  # type: ignore[arg-type]


def test_first_publish_signs_everything_and_the_signatures_verify(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    d = add_build(chroot, 1, "two", rpms["two"])
    result = publish(chroot, keyring)
    assert result.wrote and result.added == 1 and result.packages == 4

    pubkey = chroot.parent / "pubkey.gpg"
    assert pubkey.read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    listing = subprocess.run(["gpg", "--show-keys", "--with-colons", str(pubkey)], capture_output=True, text=True)
    assert "alice_tools (rpmyard) <alice#tools@rpmyard.test>" in listing.stdout

    signed = sorted(d.glob("*.rpm"))
    check = rpm_signature_check(signed, pubkey)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digests signatures OK") == len(signed), check.stdout
    gpgv = verify_repomd_signature(chroot, pubkey)
    assert gpgv.returncode == 0, gpgv.stderr

    assert repodata_packages(chroot) == [
        "two-1.0-1.noarch", "two-sub00000-1.0-1.noarch", "two-sub00001-1.0-1.noarch", "two-sub00002-1.0-1.noarch"]


def test_signing_replaces_packages_whole_while_readers_hold_them(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    """rpmsign rewrites in place; a worker downloading the uploaded SRPM, or a user an RPM, must get
    the old file or the new one, never half of each. The uploaded SRPM is signed too."""
    d = add_build(chroot, 1, "one", rpms["one"])
    srpm_dir = chroot.parent / "srpm-builds" / "00000001"
    srpm_dir.mkdir(parents=True)
    srpm = srpm_dir / "one-1.0-1.src.rpm"
    shutil.copyfile(rpms["one"][0], srpm)  # any package does: only its signature matters here
    before = {p: (p.read_bytes(), p.stat().st_ino) for p in [*d.glob("*.rpm"), srpm]}
    held = {p: open(p, "rb") for p in before}  # noqa: SIM115 (closed below)
    try:
        publish(chroot, keyring)
        for path, (data, inode) in before.items():
            assert held[path].read() == data, f"{path.name}: a reader of the old file saw it change"
            assert path.stat().st_ino != inode and rpm_signer_key_id(path), path.name
    finally:
        for fh in held.values():
            fh.close()
    leftovers = [p.name for p in chroot.parent.rglob(".*.signing")]
    assert leftovers == []


def test_a_run_killed_while_signing_does_not_block_the_next(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    """rpmsign has gpg write ``<package>.sig`` and removes it after; killed, it leaves it, and gpg
    will not overwrite it ("File exists"). The next run must sign anyway."""
    d = add_build(chroot, 1, "one", rpms["one"])
    for rpm in d.glob("*.rpm"):
        (d / f".{rpm.name}.signing").write_bytes(b"half a copy")
        (d / f".{rpm.name}.signing.sig").write_bytes(b"half a signature")
    result = publish(chroot, keyring)
    assert result.wrote and result.packages == 1
    assert all(rpm_signer_key_id(p) for p in d.glob("*.rpm"))
    assert sorted(p.name for p in d.iterdir()) == sorted([*(p.name for p in rpms["one"]), "success"])


def test_private_keys_stay_private(keyring: Keyring, chroot: Path, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "one", rpms["one"])
    publish(chroot, keyring)
    for d in (keyring.dir, keyring.home, keyring.map_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    mapping = keyring.map_dir / "alice" / "tools"
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    secret = list((keyring.home / "private-keys-v1.d").glob("*.key"))
    assert secret and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in secret)
    assert not any(p.name.endswith(".key") for p in chroot.parents[2].rglob("*"))  # nothing under results/
    # A second project gets a key of its own.
    other = chroot.parents[1] / "other" / CHROOT
    other.mkdir(parents=True)
    publish(other, keyring)
    assert keyring.fingerprint("alice", "other") not in (None, keyring.fingerprint("alice", "tools"))


def test_adding_and_removing_builds_is_incremental(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "many", rpms["many"])
    first = publish(chroot, keyring)
    assert first.packages == 601
    segs_before = _segments(chroot)

    add_build(chroot, 2, "one", rpms["one"])
    second = publish(chroot, keyring, hints=["00000002-one"])
    assert (second.added, second.removed, second.packages) == (1, 0, 602)
    changed = {s for s, blob in _segments(chroot).items() if segs_before.get(s) != blob}
    assert len(changed) == 1, "one new package must recompress exactly one segment"
    assert "one-1.0-1.noarch" in repodata_packages(chroot)

    nothing = publish(chroot, keyring)
    assert not nothing.wrote and nothing.revision == second.revision

    shutil.rmtree(chroot / "00000002-one")
    third = publish(chroot, keyring)
    assert (third.added, third.removed, third.packages) == (0, 1, 601)
    assert "one-1.0-1.noarch" not in repodata_packages(chroot)
    assert _segments(chroot) == segs_before


def test_replaced_metadata_stays_readable_for_a_while(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    """dnf reads repomd.xml, then the files it names: builds streaming in may publish several times
    in between, so replaced files stay for RETAIN_SECONDS (createrepo_c's --retain-old-md)."""
    add_build(chroot, 1, "one", rpms["one"])
    publish(chroot, keyring)
    gen1 = _data_files(chroot)
    add_build(chroot, 2, "two", rpms["two"])
    publish(chroot, keyring)
    gen2 = _data_files(chroot)
    add_build(chroot, 3, "two", rpms["two-v2"])
    publish(chroot, keyring)
    gen3 = _data_files(chroot)
    on_disk = {p.name for p in (chroot / "repodata").iterdir()}
    assert gen1 | gen2 | gen3 <= on_disk, "a reader holding an older repomd.xml must still find its files"
    assert not (chroot / ".repodata").exists()

    old = time.time() - RETAIN_SECONDS - 10
    for name in gen1 - gen2 - gen3:  # gen1's own files, written long ago
        os.utime(chroot / "repodata" / name, (old, old))
    add_build(chroot, 4, "one", rpms["one"])
    shutil.rmtree(chroot / "00000001-one")
    publish(chroot, keyring)
    on_disk = {p.name for p in (chroot / "repodata").iterdir()}
    assert not (gen1 - gen2 - gen3) & on_disk and gen2 | gen3 <= on_disk


def test_corrupt_rpm_keeps_its_build_out_and_the_repo_intact(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "one", rpms["one"])
    publish(chroot, keyring)
    before = repodata_packages(chroot)

    bad = add_build(chroot, 2, "two", rpms["two"])
    victim = sorted(bad.glob("two-sub00001*.rpm"))[0]
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit in the payload
    victim.write_bytes(bytes(data))
    good = add_build(chroot, 3, "two", rpms["two-v2"])

    result = publish(chroot, keyring, hints=["00000002-two", "00000003-two"])
    assert list(result.rejected) == ["00000002-two"]
    assert "two-sub00001-1.0-1.noarch.rpm is corrupt" in result.rejected["00000002-two"]
    published = repodata_packages(chroot)
    assert not any(p.startswith("two-") and "-1.0-1" in p for p in published)
    assert set(before) < set(published) and "two-2.0-1.noarch" in published
    assert all(rpm_signer_key_id(p) is None for p in bad.glob("*.rpm")), "a rejected build is not signed"
    assert all(rpm_signer_key_id(p) for p in good.glob("*.rpm"))

    # Asked about again, it is still rejected, with the same reason, and nothing is rewritten.
    again = publish(chroot, keyring, hints=["00000002-two"])
    assert "is corrupt" in again.rejected["00000002-two"] and not again.wrote


def test_a_build_directory_joins_only_once_it_is_ready(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    d = add_build(chroot, 1, "one", rpms["one"], ready=False)
    assert publish(chroot, keyring).packages == 0
    (d / "success").touch()
    assert publish(chroot, keyring).packages == 1


def test_lost_or_corrupt_cache_is_rebuilt_without_signing_again(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    d = add_build(chroot, 1, "two", rpms["two"])
    publish(chroot, keyring)
    expected = repodata_packages(chroot)
    mtimes = {p.name: p.stat().st_mtime_ns for p in d.glob("*.rpm")}

    (chroot / ".rpmyard" / "cache.sqlite").unlink()
    assert publish(chroot, keyring).wrote
    assert repodata_packages(chroot) == expected

    (chroot / ".rpmyard" / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    assert publish(chroot, keyring).wrote
    assert repodata_packages(chroot) == expected
    assert {p.name: p.stat().st_mtime_ns for p in d.glob("*.rpm")} == mtimes, "signed packages were re-signed"


def test_deleted_repodata_is_written_again(chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "one", rpms["one"])
    publish(chroot, keyring)
    shutil.rmtree(chroot / "repodata")
    assert publish(chroot, keyring).wrote
    assert repodata_packages(chroot) == ["one-1.0-1.noarch"]


def test_full_run_picks_up_a_replaced_package(chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]]) -> None:
    d = add_build(chroot, 1, "two", rpms["two"])
    publish(chroot, keyring)
    for p in d.glob("*.rpm"):
        p.unlink()
    for p in rpms["two-v2"]:
        shutil.copy2(p, d / p.name)
    publish(chroot, keyring, full=True)
    assert "two-2.0-1.noarch" in repodata_packages(chroot)
    assert all(rpm_signer_key_id(p) for p in d.glob("*.rpm"))


def test_createrepo_c_reads_and_updates_our_repodata(chroot: Path, rpms: dict[str, list[Path]]) -> None:
    add_build(chroot, 1, "two", rpms["two"])
    publish(chroot, None)
    add_build(chroot, 2, "one", rpms["one"])
    proc = subprocess.run(["createrepo_c", "--update", "--no-database", "--quiet", str(chroot)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(repodata_packages(chroot)) == 5
    # ...and we take over again from createrepo_c's repodata.
    shutil.rmtree(chroot / "00000002-one")
    assert publish(chroot, None).wrote
    assert len(repodata_packages(chroot)) == 4


def test_dnf_installs_with_gpg_checks_and_refuses_tampered_metadata(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]], tmp_path: Path) -> None:
    add_build(chroot, 1, "two", rpms["two"])
    publish(chroot, keyring)
    repos = tmp_path / "repos"
    repos.mkdir()
    (repos / "t.repo").write_text(
        f"[t]\nname=t\nbaseurl=file://{chroot}/\ngpgcheck=1\nrepo_gpgcheck=1\n"
        f"gpgkey=file://{chroot.parent}/pubkey.gpg\nmetadata_expire=0\n")
    root = tmp_path / "root"
    out = dnf(root, "install", "two-sub00002", repo_dir=repos)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Importing GPG key" in out.stdout + out.stderr
    assert (root / "usr/share/two/VERSION").read_text() == "1.0\n"

    # Metadata changed behind the signature's back: dnf must refuse it.
    repomd = chroot / "repodata" / "repomd.xml"
    repomd.write_text(repomd.read_text().replace("<revision>", "<revision>1"))
    out = dnf(tmp_path / "root2", "install", "two-sub00001", repo_dir=repos)
    assert out.returncode != 0
    assert "signature" in (out.stdout + out.stderr).lower() or "gpg" in (out.stdout + out.stderr).lower()


def test_unsigned_package_is_refused_by_dnf(
        chroot: Path, keyring: Keyring, rpms: dict[str, list[Path]], tmp_path: Path) -> None:
    """The other side of gpgcheck=1: consistent metadata, but a package not signed with the key."""
    add_build(chroot, 1, "one", rpms["one"])
    publish(chroot, None)  # no signing at all
    pubkey = tmp_path / "pubkey.gpg"
    pubkey.write_bytes(keyring.ensure("alice", "tools").public_key())
    repos = tmp_path / "repos"
    repos.mkdir()
    (repos / "t.repo").write_text(f"[t]\nname=t\nbaseurl=file://{chroot}/\ngpgcheck=1\ngpgkey=file://{pubkey}\n")
    out = dnf(tmp_path / "root", "install", "one", repo_dir=repos)
    assert out.returncode != 0
    assert "not signed" in out.stdout + out.stderr or "GPG check FAILED" in out.stdout + out.stderr


def _segments(chroot: Path) -> dict[int, bytes]:
    with sqlite3.connect(chroot / ".rpmyard" / "cache.sqlite") as conn:
        return {s: gz for s, gz in conn.execute("SELECT seg, primary_gz FROM segs")}


def _data_files(chroot: Path) -> set[str]:
    text = (chroot / "repodata" / "repomd.xml").read_text()
    return {part.split('"')[0] for part in text.split('href="repodata/')[1:]}
