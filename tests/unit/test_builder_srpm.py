"""Inspecting uploaded SRPMs with the real rpm tools, including broken and crafted ones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rpmyard.builder.srpm import InvalidSrpm, SrpmInfo, check_file_name, inspect_srpm
from tests.support.srpms import (
    corrupt_copies,
    make_crafted_srpm,
    make_srpm,
    make_srpm_with_file_name,
    rename_file_in_srpm,
)


@pytest.fixture(scope="module")
def srpm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("srpms")


@pytest.fixture(scope="module")
def hello_noarch(srpm_dir: Path) -> Path:
    return make_srpm("hello-noarch", srpm_dir, version="2.0")


@pytest.fixture(scope="module")
def corrupt(hello_noarch: Path, srpm_dir: Path) -> dict[str, Path]:
    return corrupt_copies(hello_noarch, srpm_dir / "corrupt")


def digests_ok(path: Path) -> bool:
    """What rpm itself thinks of the file, to show a crafted SRPM is otherwise intact."""
    result = subprocess.run(["rpmkeys", "--checksig", "--nosignature", str(path)], capture_output=True)
    return result.returncode == 0


def test_a_valid_noarch_srpm_is_described(hello_noarch: Path) -> None:
    info = inspect_srpm(hello_noarch)
    assert (info.name, info.epoch, info.version, info.release) == ("hello-noarch", None, "2.0", "1")
    assert info.nvr == "hello-noarch-2.0-1"
    assert info.files == ["hello-noarch.spec"]
    assert info.spec_file == "hello-noarch.spec"
    assert info.build_archs == ["noarch"]
    assert info.is_noarch
    assert info.exclusive_archs == [] and info.exclude_archs == []
    assert info.buildable_on("x86_64") and info.buildable_on("s390x")


def test_an_arch_specific_srpm_is_not_noarch(srpm_dir: Path) -> None:
    info = inspect_srpm(make_srpm("hello-c", srpm_dir))
    assert info.nvr == "hello-c-1.0-1"
    assert info.build_archs == []
    assert not info.is_noarch


def test_epoch_and_arch_restrictions_are_read(tmp_path: Path) -> None:
    spec = tmp_path / "restricted.spec"
    spec.write_text(
        "Name: restricted\nEpoch: 3\nVersion: 4.5~rc1\nRelease: 2\nSummary: s\nLicense: MIT\n"
        "ExclusiveArch: x86_64 aarch64 s390x\nExcludeArch: s390x\n"
        "%description\nd\n%prep\n%build\n%install\n%files\n"
    )
    info = inspect_srpm(make_srpm(str(spec), tmp_path / "out"))
    assert info.epoch == 3
    assert info.nvr == "restricted-4.5~rc1-2"
    assert info.exclusive_archs == ["x86_64", "aarch64", "s390x"]
    assert info.exclude_archs == ["s390x"]
    assert info.buildable_on("x86_64") and info.buildable_on("aarch64")
    assert not info.buildable_on("s390x")
    assert not info.buildable_on("ppc64le")


def test_buildable_on_lets_a_noarch_only_package_build_everywhere() -> None:
    info = SrpmInfo("p", None, "1", "1", ["p.spec"], build_archs=["noarch"], exclusive_archs=["noarch"])
    assert info.buildable_on("x86_64") and info.buildable_on("aarch64")
    info.exclude_archs = ["aarch64"]
    assert not info.buildable_on("aarch64")


def test_the_file_name_does_not_matter(hello_noarch: Path, tmp_path: Path) -> None:
    # rpm would expand glob characters in a package argument; the upload's name is never used.
    odd = tmp_path / "-x [1] *?.src.rpm"
    shutil.copyfile(hello_noarch, odd)
    assert inspect_srpm(odd).name == "hello-noarch"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "truncated or corrupt: "),
        ("not-rpm", "not an RPM package"),
        ("binary", "is a binary RPM, a source RPM (.src.rpm) is expected"),
    ],
)
def test_corrupt_copies_are_rejected(corrupt: dict[str, Path], kind: str, message: str) -> None:
    with pytest.raises(InvalidSrpm) as excinfo:
        inspect_srpm(corrupt[kind])
    assert str(excinfo.value).startswith(message)


@pytest.mark.parametrize("percent", [30, 60, 90, 99])
def test_truncation_anywhere_is_detected(srpm_dir: Path, tmp_path: Path, percent: int) -> None:
    # hello-c has the larger payload; cutting at 90 % and 99 % leaves both headers intact, so
    # only the payload digest can tell.
    data = make_srpm("hello-c", srpm_dir / f"cut-{percent}").read_bytes()
    cut = tmp_path / "cut.src.rpm"
    cut.write_bytes(data[: len(data) * percent // 100])
    with pytest.raises(InvalidSrpm, match="^truncated or corrupt: "):
        inspect_srpm(cut)


def test_a_flipped_payload_byte_is_detected(hello_noarch: Path, tmp_path: Path) -> None:
    data = bytearray(hello_noarch.read_bytes())
    data[-10] ^= 0xFF
    damaged = tmp_path / "damaged.src.rpm"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InvalidSrpm, match="^truncated or corrupt: .*BAD"):
        inspect_srpm(damaged)


def test_a_file_cut_inside_the_lead_is_truncated(hello_noarch: Path, tmp_path: Path) -> None:
    cut = tmp_path / "lead.src.rpm"
    cut.write_bytes(hello_noarch.read_bytes()[:50])
    with pytest.raises(InvalidSrpm, match="^truncated or corrupt: the file ends inside the RPM lead"):
        inspect_srpm(cut)


def test_empty_and_missing_files_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.src.rpm"
    empty.write_bytes(b"")
    with pytest.raises(InvalidSrpm, match="not an RPM package"):
        inspect_srpm(empty)
    with pytest.raises(InvalidSrpm, match="cannot read the uploaded file"):
        inspect_srpm(tmp_path / "missing.src.rpm")


@pytest.mark.parametrize("bad_name", ["../x", "/etc", "-rfx", "a\x01bc", "a\nbc", "a\x1b[m", "x/..", "a..b"])
def test_crafted_unsafe_file_names_are_rejected(tmp_path: Path, bad_name: str) -> None:
    crafted = make_srpm_with_file_name(bad_name, tmp_path)
    assert digests_ok(crafted), "the crafted SRPM must be intact apart from the name"
    with pytest.raises(InvalidSrpm) as excinfo:
        inspect_srpm(crafted)
    assert str(excinfo.value) == f"unsafe file name inside the SRPM: {bad_name!r}"


def test_the_crafting_itself_keeps_a_safe_srpm_valid(tmp_path: Path) -> None:
    crafted = make_srpm_with_file_name("zz-y", tmp_path)
    assert inspect_srpm(crafted).files == ["crafted.spec", "zz-y"]


def test_quotes_and_spaces_in_names_do_not_confuse_the_parser(tmp_path: Path) -> None:
    crafted = make_srpm_with_file_name("a' b", tmp_path)
    assert sorted(inspect_srpm(crafted).files) == ["a' b", "crafted.spec"]


def test_an_srpm_without_a_spec_is_rejected(tmp_path: Path) -> None:
    built = make_crafted_srpm(tmp_path)
    no_spec = rename_file_in_srpm(built, "crafted.spec", "crafted.spek", tmp_path / "nospec.src.rpm")
    assert digests_ok(no_spec)
    with pytest.raises(InvalidSrpm, match="^no spec file inside the SRPM$"):
        inspect_srpm(no_spec)


def test_an_srpm_with_two_specs_is_rejected(tmp_path: Path) -> None:
    two = make_crafted_srpm(tmp_path, sources={"other.spec": b"Name: other\n"})
    with pytest.raises(
        InvalidSrpm, match="more than one spec file inside the SRPM: crafted.spec, other.spec"
    ):
        inspect_srpm(two)


def test_too_many_files_are_rejected(tmp_path: Path) -> None:
    many = make_crafted_srpm(tmp_path, sources={f"file{i}.txt": b"x" for i in range(5)})
    assert len(inspect_srpm(many).files) == 6
    with pytest.raises(InvalidSrpm, match=r"too many files inside the SRPM \(6; the limit is 5\)"):
        inspect_srpm(many, max_files=5)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "a\tb", "-n", "x\u2028y"])
def test_check_file_name_rejects(name: str) -> None:
    with pytest.raises(InvalidSrpm, match="unsafe file name inside the SRPM"):
        check_file_name(name)


@pytest.mark.parametrize(
    "name", ["hello.spec", "foo-1.0.tar.gz", "patch 1.patch", "caf\u00e9.txt", "a-b_c+d"]
)
def test_check_file_name_accepts(name: str) -> None:
    check_file_name(name)
