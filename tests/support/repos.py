"""Repositories for the publishing tests: RPMs built for real, build directories, and checks that
read the published repodata the way dnf does (checksums, signatures), never through our code."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from rpmyard.builder.rpmtools import clean_env

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"


def build_rpms(outdir: Path, name: str, *, subpackages: int = 0, version: str = "1.0", release: str = "1",
               files: bool = True) -> list[Path]:
    """``rpmbuild -bb`` a noarch package ``name`` with ``subpackages`` (empty) subpackages.

    Empty subpackages build in milliseconds, so thousands of packages cost seconds.
    """
    lines = [f"Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: {name} for tests\nLicense: MIT\n"
             "BuildArch: noarch\nAutoReqProv: no\n%description\nA package for the publishing tests.\n"]
    for i in range(subpackages):
        lines.append(f"%package -n {name}-sub{i:05d}\nSummary: subpackage {i}\nAutoReqProv: no\n"
                     f"Requires: {name} = %{{version}}-%{{release}}\n"
                     f"%description -n {name}-sub{i:05d}\nSubpackage {i} of {name}.\n")
    lines.append("%prep\n%build\n%install\n")
    if files:
        lines.append(f"mkdir -p %{{buildroot}}/usr/share/{name}\n"
                     f"echo {version} > %{{buildroot}}/usr/share/{name}/VERSION\n")
    lines.append("%files\n")
    if files:
        lines.append(f"/usr/share/{name}/VERSION\n")
    lines += [f"%files -n {name}-sub{i:05d}\n" for i in range(subpackages)]
    lines.append(f"%changelog\n* Mon Jan 05 2026 Tester <t@example.org> - {version}-{release}\n- built for tests\n")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rpmyard-rpms-") as tmp:
        top = Path(tmp)
        spec = top / f"{name}.spec"
        spec.write_text("".join(lines))
        proc = subprocess.run(
            ["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {top}", "--define", "_binary_payload w1.gzdio",
             "--define", "__os_install_post %{nil}", str(spec)],
            capture_output=True, text=True, env=clean_env(top), timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"rpmbuild {name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        out = []
        for rpm in sorted((top / "RPMS").rglob("*.rpm")):
            target = outdir / rpm.name
            shutil.move(rpm, target)
            out.append(target)
        return out


def add_build(chroot: Path, build_id: int, pkg: str, rpms: list[Path], *, ready: bool = True) -> Path:
    """A Copr result directory ``<%08d id>-<pkg>/`` holding copies of ``rpms``, ``success`` if ready."""
    d = chroot / f"{build_id:08d}-{pkg}"
    d.mkdir(parents=True, exist_ok=True)
    for rpm in rpms:
        shutil.copy2(rpm, d / rpm.name)
    if ready:
        (d / "success").touch()
    return d


def repodata_packages(chroot: Path) -> list[str]:
    """NEVRA.arch of every package in the published primary.xml, after checking every checksum."""
    root = check_repodata(chroot)
    href = next(d.find(f"{REPO_NS}location").get("href")  # type: ignore[union-attr]
                for d in root.findall(f"{REPO_NS}data") if d.get("type") == "primary")
    primary = ElementTree.fromstring(gzip.decompress((chroot / str(href)).read_bytes()))
    out = []
    for p in primary.findall(f"{COMMON_NS}package"):
        v = p.find(f"{COMMON_NS}version")
        assert v is not None
        out.append(f"{p.findtext(f'{COMMON_NS}name')}-{v.get('ver')}-{v.get('rel')}.{p.findtext(f'{COMMON_NS}arch')}")
    assert int(primary.get("packages", "-1")) == len(out), "packages= disagrees with the package count"
    return sorted(out)


def check_repodata(chroot: Path) -> ElementTree.Element:
    """Parse repomd.xml and verify each file it names: present, size, checksum and open-checksum."""
    repomd = ElementTree.fromstring((chroot / "repodata" / "repomd.xml").read_bytes())
    kinds = set()
    for d in repomd.findall(f"{REPO_NS}data"):
        kinds.add(d.get("type"))
        href = d.find(f"{REPO_NS}location").get("href")  # type: ignore[union-attr]
        data = (chroot / str(href)).read_bytes()
        assert hashlib.sha256(data).hexdigest() == d.findtext(f"{REPO_NS}checksum"), f"{href}: checksum"
        assert len(data) == int(d.findtext(f"{REPO_NS}size") or -1), f"{href}: size"
        plain = gzip.decompress(data)
        assert hashlib.sha256(plain).hexdigest() == d.findtext(f"{REPO_NS}open-checksum"), f"{href}: open"
        assert len(plain) == int(d.findtext(f"{REPO_NS}open-size") or -1), f"{href}: open-size"
        ElementTree.fromstring(plain)  # well-formed
    assert {"primary", "filelists", "other"} <= kinds, kinds
    return repomd


def verify_repomd_signature(chroot: Path, pubkey: Path) -> subprocess.CompletedProcess[str]:
    """``gpgv`` of repomd.xml.asc against the project's pubkey.gpg, as librepo does."""
    with tempfile.TemporaryDirectory(prefix="rpmyard-gpgv-") as tmp:
        keyring = Path(tmp) / "key.gpg"
        subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "--output", str(keyring), str(pubkey)],
                       check=True, capture_output=True)
        return subprocess.run(["gpgv", "--keyring", str(keyring), str(chroot / "repodata/repomd.xml.asc"),
                               str(chroot / "repodata/repomd.xml")], capture_output=True, text=True)


def rpm_signature_check(rpms: list[Path], pubkey: Path) -> subprocess.CompletedProcess[str]:
    """``rpmkeys --checksig`` with only the project's key imported (into a throwaway rpmdb)."""
    with tempfile.TemporaryDirectory(prefix="rpmyard-rpmdb-") as tmp:
        subprocess.run(["rpmkeys", "--root", tmp, "--import", str(pubkey)], check=True, capture_output=True)
        return subprocess.run(["rpmkeys", "--root", tmp, "--checksig", *map(str, rpms)],
                              capture_output=True, text=True)


def repodata_locations(chroot: Path) -> list[str]:
    """location href of every package in the published primary.xml (checksums checked first)."""
    root = check_repodata(chroot)
    href = next(d.find(f"{REPO_NS}location").get("href")  # type: ignore[union-attr]
                for d in root.findall(f"{REPO_NS}data") if d.get("type") == "primary")
    primary = ElementTree.fromstring(gzip.decompress((chroot / str(href)).read_bytes()))
    return sorted(str(p.find(f"{COMMON_NS}location").get("href"))  # type: ignore[union-attr]
                  for p in primary.findall(f"{COMMON_NS}package"))
