"""Reading an uploaded SRPM without trusting it.

An upload may be anything: a text file, a binary RPM, a truncated transfer, or a package crafted
so that unpacking it writes outside the build directory. The checks run cheapest and least
exposed first: the 96-byte lead is read in Python before any tool sees the file, then rpm verifies
the digests (which is what catches truncation), and only then is the header queried.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpmyard.builder.rpmtools import run_rpm_tool

LEAD_MAGIC = b"\xed\xab\xee\xdb"
LEAD_SIZE = 96
LEAD_TYPE_BINARY = 0
LEAD_TYPE_SOURCE = 1

#: Seconds allowed for each rpm call; reading a header or hashing a payload is quick.
RPM_TIMEOUT = 120

# Digest lines of `rpmkeys -Kv` that cover the payload; at least one must be present and OK,
# otherwise a package whose payload was cut off could pass on its header digests alone.
_PAYLOAD_DIGEST_OK = re.compile(r"^\s*(Payload \S+( ALT)?|MD5) digest: OK\s*$", re.MULTILINE)

# Names and versions end up in file and directory names downstream; allow what rpm packaging
# guidelines allow and nothing that a shell or a path could misread.
_NAME_RE = re.compile(r"[A-Za-z0-9_+.][A-Za-z0-9._+-]*")
_VERSION_RE = re.compile(r"[A-Za-z0-9._+~^]+")

# One token per value: key=value, with every value shell-quoted by rpm (`:shescape`), so
# newlines or spaces inside a crafted file name cannot be confused with separators.
_QUERY_FORMAT = (
    "name=%{NAME:shescape} version=%{VERSION:shescape} release=%{RELEASE:shescape} "
    "epoch=%|EPOCH?{%{EPOCH}}:{none}| kind=%|SOURCERPM?{binary}:{source}| "
    "[file=%{FILENAMES:shescape} ][buildarch=%{BUILDARCHS:shescape} ]"
    "[exclusivearch=%{EXCLUSIVEARCH:shescape} ][excludearch=%{EXCLUDEARCH:shescape} ]"
)


class InvalidSrpm(ValueError):
    """An upload that is not a usable source RPM; the message is meant for the user."""


@dataclass
class SrpmInfo:
    """What the header of a checked SRPM says about the package."""

    name: str
    epoch: int | None
    version: str
    release: str
    files: list[str]
    build_archs: list[str] = field(default_factory=list)
    exclusive_archs: list[str] = field(default_factory=list)
    exclude_archs: list[str] = field(default_factory=list)

    @property
    def nvr(self) -> str:
        """name-version-release, as package names are shown and compared."""
        return f"{self.name}-{self.version}-{self.release}"

    @property
    def is_noarch(self) -> bool:
        """True when the package builds once for all architectures (BuildArch: noarch)."""
        return self.build_archs == ["noarch"]

    @property
    def spec_file(self) -> str:
        """The one spec file inside (inspect_srpm guarantees there is exactly one)."""
        return next(name for name in self.files if name.endswith(".spec"))

    def buildable_on(self, arch: str) -> bool:
        """Whether ExclusiveArch/ExcludeArch allow a build for chroot architecture ``arch``.

        A noarch package that lists only "noarch" in ExclusiveArch is fine everywhere; otherwise
        the chroot arch itself must be allowed, as Copr decides which chroots to skip.
        """
        if arch in self.exclude_archs:
            return False
        if not self.exclusive_archs:
            return True
        if arch in self.exclusive_archs:
            return True
        return self.is_noarch and self.exclusive_archs == ["noarch"]

    def to_payload(self) -> dict[str, Any]:
        """The header facts a worker needs, so it need not inspect the SRPM a second time."""
        return {"name": self.name, "epoch": self.epoch, "version": self.version, "release": self.release,
                "build_archs": self.build_archs, "exclusive_archs": self.exclusive_archs,
                "exclude_archs": self.exclude_archs}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> SrpmInfo:
        return cls(name=str(data["name"]), epoch=data.get("epoch"), version=str(data["version"]),
                   release=str(data["release"]), files=[], build_archs=list(data.get("build_archs", [])),
                   exclusive_archs=list(data.get("exclusive_archs", [])),
                   exclude_archs=list(data.get("exclude_archs", [])))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file: how a worker knows its download is the SRPM the frontend checked."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def inspect_srpm(path: Path, *, max_files: int = 10000) -> SrpmInfo:
    """Check that ``path`` is a complete, safe source RPM and return what its header says.

    Raises InvalidSrpm with a user-facing reason otherwise.
    """
    _check_lead(path)
    with tempfile.TemporaryDirectory(prefix="rpmyard-srpm-") as tmp:
        home = Path(tmp)
        # rpm expands glob characters in package arguments and prints paths in its errors; a link
        # with a fixed name avoids both surprises with whatever the upload was called.
        link = home / "package.src.rpm"
        os.symlink(path.resolve(), link)
        _verify_digests(link, home)
        fields = _query(link, home)
    info = _to_info(fields)
    if len(info.files) > max_files:
        raise InvalidSrpm(f"too many files inside the SRPM ({len(info.files)}; the limit is {max_files})")
    for name in info.files:
        check_file_name(name)
    specs = [name for name in info.files if name.endswith(".spec")]
    if not specs:
        raise InvalidSrpm("no spec file inside the SRPM")
    if len(specs) > 1:
        raise InvalidSrpm(f"more than one spec file inside the SRPM: {', '.join(sorted(specs))}")
    return info


def check_file_name(name: str) -> None:
    """Reject a file name that could escape the source directory or confuse a tool.

    Files of a source RPM are stored flat, so a legitimate one never contains a slash.
    """
    unsafe = (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or ".." in name
        or name.startswith("-")
        or not name.isprintable()
    )
    if unsafe:
        raise InvalidSrpm(f"unsafe file name inside the SRPM: {name!r}")


def _check_lead(path: Path) -> None:
    """Read the RPM lead ourselves: it says "RPM" and "source or binary" before any tool runs."""
    try:
        with path.open("rb") as handle:
            lead = handle.read(LEAD_SIZE)
    except OSError as exc:
        raise InvalidSrpm(f"cannot read the uploaded file: {exc.strerror}") from exc
    if not lead.startswith(LEAD_MAGIC):
        raise InvalidSrpm("not an RPM package")
    if len(lead) < LEAD_SIZE:
        raise InvalidSrpm("truncated or corrupt: the file ends inside the RPM lead")
    package_type = int.from_bytes(lead[6:8], "big")
    if package_type == LEAD_TYPE_BINARY:
        raise InvalidSrpm("is a binary RPM, a source RPM (.src.rpm) is expected")
    if package_type != LEAD_TYPE_SOURCE:
        raise InvalidSrpm(f"truncated or corrupt: unknown package type {package_type} in the RPM lead")


def _verify_digests(link: Path, home: Path) -> None:
    """Check the header and payload digests; a truncated or altered file fails here.

    Signatures are not checked (``--nosignature``): uploads are rarely signed and the service
    signs its own builds.
    """
    result = _run(["rpmkeys", "--checksig", "--nosignature", "--verbose", str(link)], home)
    output = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0:
        raise InvalidSrpm(f"truncated or corrupt: {_first_problem(result, link)}")
    if not _PAYLOAD_DIGEST_OK.search(output):
        raise InvalidSrpm("truncated or corrupt: the package carries no digest of its payload")


def _query(link: Path, home: Path) -> dict[str, list[str]]:
    """Query the header once and split it into key -> values."""
    argv = ["rpm", "-qp", "--nosignature", "--nodigest", "--queryformat", _QUERY_FORMAT, str(link)]
    result = _run(argv, home)
    if result.returncode != 0:
        raise InvalidSrpm(f"truncated or corrupt: {_first_problem(result, link)}")
    try:
        tokens = shlex.split(result.stdout.decode("utf-8", "surrogateescape"))
    except ValueError as exc:
        raise InvalidSrpm(f"truncated or corrupt: unreadable header ({exc})") from exc
    fields: dict[str, list[str]] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise InvalidSrpm("truncated or corrupt: unreadable header")
        fields.setdefault(key, []).append(value)
    return fields


def _to_info(fields: dict[str, list[str]]) -> SrpmInfo:
    """Validate the queried header values and build the SrpmInfo."""

    def single(key: str) -> str:
        values = fields.get(key, [])
        if len(values) != 1:
            raise InvalidSrpm(f"truncated or corrupt: the header has no usable {key}")
        return values[0]

    if single("kind") != "source":
        raise InvalidSrpm("is a binary RPM, a source RPM (.src.rpm) is expected")
    name, version, release = single("name"), single("version"), single("release")
    if not _NAME_RE.fullmatch(name):
        raise InvalidSrpm(f"unsafe package name in the SRPM: {name!r}")
    for label, value in (("version", version), ("release", release)):
        if not _VERSION_RE.fullmatch(value):
            raise InvalidSrpm(f"unsafe package {label} in the SRPM: {value!r}")
    epoch_text = single("epoch")
    if epoch_text != "none" and not re.fullmatch(r"[0-9]+", epoch_text):
        raise InvalidSrpm(f"truncated or corrupt: invalid epoch {epoch_text!r}")
    epoch = None if epoch_text == "none" else int(epoch_text)
    return SrpmInfo(
        name=name,
        epoch=epoch,
        version=version,
        release=release,
        files=fields.get("file", []),
        build_archs=fields.get("buildarch", []),
        exclusive_archs=fields.get("exclusivearch", []),
        exclude_archs=fields.get("excludearch", []),
    )


def _run(argv: list[str], home: Path) -> subprocess.CompletedProcess[bytes]:
    """Run an rpm tool on the upload, turning a hang into a rejection."""
    try:
        return run_rpm_tool(argv, timeout=RPM_TIMEOUT, home=home)
    except subprocess.TimeoutExpired as exc:
        raise InvalidSrpm(f"truncated or corrupt: rpm did not finish reading it in {RPM_TIMEOUT} s") from exc


def _first_problem(result: subprocess.CompletedProcess[bytes], link: Path) -> str:
    """The most telling line of rpm's complaint, without our temporary path in it."""
    text = (result.stderr + b"\n" + result.stdout).decode("utf-8", "replace").replace(f"{link}:", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for marker in ("BAD", "NOT OK", "error:"):
        for line in lines:
            if marker in line:
                # The expected/actual hashes mean nothing to the user; the digest's name does.
                return re.sub(r"\s*\(Expected [^)]*\)", "", line.removeprefix("error:")).strip()
    return lines[0] if lines else f"rpm exited with status {result.returncode}"
