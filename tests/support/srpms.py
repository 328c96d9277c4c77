"""Making test SRPMs from the fixture specs, plus deliberately broken ones.

Everything is built with the host's rpmbuild in a throwaway _topdir and a clean environment, so
it works the same on Debian (no rpm macros for %dist) as on Fedora.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from rpmyard.builder.rpmtools import clean_env

SPECS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "specs"

_NO_DEFINES: Mapping[str, str] = MappingProxyType({})
_NO_SOURCES: Mapping[str, bytes] = MappingProxyType({})

# Signature header tags holding digests of the main header (and payload, for MD5).
_SIGTAG_SHA1 = 269
_SIGTAG_SHA256 = 273
_SIGTAG_MD5 = 1004


def spec_path(spec: str) -> Path:
    """A fixture by name ("hello-noarch" or "hello-noarch.spec"), or a path to any spec file."""
    candidate = Path(spec)
    if candidate.is_file():
        return candidate
    name = spec if spec.endswith(".spec") else f"{spec}.spec"
    path = SPECS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no fixture spec {name} in {SPECS_DIR}")
    return path


def make_srpm(
    spec: str,
    outdir: Path,
    *,
    version: str | None = None,
    defines: Mapping[str, str] = _NO_DEFINES,
    sources: Mapping[str, bytes] = _NO_SOURCES,
) -> Path:
    """Build an SRPM from a fixture spec with ``rpmbuild -bs`` and return its path in ``outdir``.

    ``version`` and ``defines`` are written into the spec as %global lines rather than only
    passed with --define: a define given to ``rpmbuild -bs`` is gone when the SRPM is rebuilt,
    so the rebuilt package would fall back to version 1.0. ``sources`` are extra files put in
    SOURCES for specs that list them.
    """
    macros = dict(defines)
    if version is not None:
        macros["pkgversion"] = version
    return _rpmbuild(spec_path(spec), outdir, "-bs", macros, sources)


def make_binary_rpm(spec: str, outdir: Path, *, version: str | None = None) -> Path:
    """Build the binary RPM of a (single-package, noarch) fixture with ``rpmbuild -bb``."""
    macros = {"pkgversion": version} if version is not None else {}
    return _rpmbuild(spec_path(spec), outdir, "-bb", macros, _NO_SOURCES)


def corrupt_copies(srpm: Path, outdir: Path) -> dict[str, Path]:
    """Uploads that must be rejected, keyed by what is wrong with them.

    "truncated": the first 60 % of ``srpm``; "not-rpm": a text file named x.src.rpm;
    "binary": a real binary RPM (hello-noarch), named like a source RPM.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    data = srpm.read_bytes()
    truncated = outdir / f"truncated-{srpm.name}"
    truncated.write_bytes(data[: len(data) * 60 // 100])
    not_rpm = outdir / "x.src.rpm"
    not_rpm.write_text("This is not an RPM package, just text with an .src.rpm name.\n")
    with tempfile.TemporaryDirectory(prefix="rpmyard-binary-") as tmp:
        built = make_binary_rpm("hello-noarch", Path(tmp))
        binary = outdir / "binary.src.rpm"
        shutil.copyfile(built, binary)
    return {"truncated": truncated, "not-rpm": not_rpm, "binary": binary}


def make_srpm_with_file_name(bad_name: str, outdir: Path) -> Path:
    """An SRPM whose header lists a file called ``bad_name``, with all digests still valid.

    rpmbuild refuses such names (it keeps only the basename of a Source), so the SRPM is built
    with a 4-character source name that is then overwritten in the header (see
    :func:`rename_file_in_srpm`). ``bad_name`` must be 4 bytes of UTF-8 without NUL.
    """
    placeholder = "zz-x"
    with tempfile.TemporaryDirectory(prefix="rpmyard-crafted-") as tmp:
        built = make_crafted_srpm(Path(tmp), sources={placeholder: b"placeholder\n"})
        out = outdir / f"crafted-{bad_name.encode().hex()}.src.rpm"
        return rename_file_in_srpm(built, placeholder, bad_name, out)


def make_crafted_srpm(outdir: Path, *, sources: Mapping[str, bytes] = _NO_SOURCES) -> Path:
    """A minimal noarch SRPM "crafted-1.0-1": crafted.spec plus ``sources`` (as Source1..N)."""
    source_lines = "".join(f"Source{number}: {name}\n" for number, name in enumerate(sources, start=1))
    spec = (
        "Name: crafted\nVersion: 1.0\nRelease: 1\nSummary: crafted\nLicense: MIT\nBuildArch: noarch\n"
        f"{source_lines}%description\ncrafted\n%prep\n%build\n%install\n%files\n"
    )
    with tempfile.TemporaryDirectory(prefix="rpmyard-crafted-spec-") as tmp:
        spec_file = Path(tmp) / "crafted.spec"
        spec_file.write_text(spec)
        return make_srpm(str(spec_file), outdir, sources=sources)


def rename_file_in_srpm(srpm: Path, old: str, new: str, out: Path) -> Path:
    """Copy ``srpm`` to ``out`` with file ``old`` renamed to ``new`` in the header, digests fixed.

    Only the header changes (the payload still holds the old name), which is all a check of the
    header sees. The names must have the same length in UTF-8, and ``new`` must contain no NUL.
    """
    old_bytes, new_bytes = old.encode(), new.encode()
    if len(old_bytes) != len(new_bytes) or b"\0" in new_bytes:
        raise ValueError("the new name must have the old one's length and contain no NUL")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_replace_header_string(srpm.read_bytes(), old_bytes, new_bytes))
    return out


def _rpmbuild(
    spec: Path, outdir: Path, mode: str, macros: Mapping[str, str], sources: Mapping[str, bytes]
) -> Path:
    """Run rpmbuild ``mode`` on a copy of ``spec`` with ``macros`` baked in; return the one package."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rpmyard-srpm-build-") as tmp:
        top = Path(tmp) / "top"
        for sub in ("SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS"):
            (top / sub).mkdir(parents=True)
        for name, content in sources.items():
            (top / "SOURCES" / name).write_bytes(content)
        header = "".join(f"%global {name} {value}\n" for name, value in macros.items())
        copy = top / "SPECS" / spec.name
        copy.write_text(header + spec.read_text())
        argv = [
            "rpmbuild",
            mode,
            "--nodeps",
            "--define",
            f"_topdir {top}",
            "--define",
            f"_tmppath {top}",
            str(copy),
        ]
        result = subprocess.run(argv, env=clean_env(Path(tmp)), capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"rpmbuild {mode} {spec.name} failed:\n{result.stdout}\n{result.stderr}")
        built = sorted((top / ("SRPMS" if mode == "-bs" else "RPMS")).rglob("*.rpm"))
        if len(built) != 1:
            raise RuntimeError(f"rpmbuild {mode} {spec.name} made {len(built)} packages, expected one")
        target = outdir / built[0].name
        shutil.move(built[0], target)
        return target


def _replace_header_string(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace a NUL-delimited string in the main header and fix the signature's digests.

    Layout: 96-byte lead, signature header (padded to 8 bytes), main header, payload. Each header
    is magic (8 bytes), index count and data size (4 bytes each), 16-byte index entries
    (tag, type, offset, count), then the data store.
    """
    sig_start = 96
    sig_count, sig_size = _header_sizes(data, sig_start)
    sig_index = sig_start + 16
    sig_store = sig_index + 16 * sig_count
    main_start = sig_store + sig_size
    main_start += -main_start % 8
    main_count, main_size = _header_sizes(data, main_start)
    main_end = main_start + 16 + 16 * main_count + main_size

    header = data[main_start:main_end]
    needle = b"\0" + old + b"\0"
    if needle not in header:
        raise ValueError(f"{old!r} is not a string in the main header")
    header = header.replace(needle, b"\0" + new + b"\0")
    payload = data[main_end:]

    digests = {
        _SIGTAG_SHA1: hashlib.sha1(header).hexdigest().encode(),
        _SIGTAG_SHA256: hashlib.sha256(header).hexdigest().encode(),
        _SIGTAG_MD5: hashlib.md5(header + payload).digest(),
    }
    signature = bytearray(data[sig_start:main_start])
    for entry in range(sig_count):
        at = 16 + 16 * entry
        tag = int.from_bytes(signature[at : at + 4], "big")
        offset = int.from_bytes(signature[at + 8 : at + 12], "big")
        if tag in digests:
            value = digests[tag]
            position = 16 + 16 * sig_count + offset
            signature[position : position + len(value)] = value
    return data[:sig_start] + bytes(signature) + header + payload


def _header_sizes(data: bytes, start: int) -> tuple[int, int]:
    if data[start : start + 4] != b"\x8e\xad\xe8\x01":
        raise ValueError(f"no RPM header magic at offset {start}")
    count = int.from_bytes(data[start + 8 : start + 12], "big")
    size = int.from_bytes(data[start + 12 : start + 16], "big")
    return count, size
