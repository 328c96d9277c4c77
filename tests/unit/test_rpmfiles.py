"""Reading built RPMs at import: one digest check for all of a build's files, headers in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpmyard.builds.rpmfiles import BadRpm, read_nevras
from tests.support.srpms import make_binary_rpm, make_srpm


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rpms")
    return {"srpm": make_srpm("hello-noarch", out / "s", version="2.5"), "rpm": make_binary_rpm("hello-noarch", out)}


def test_names_versions_and_arches_are_read(built: dict[str, Path]) -> None:
    rpm, srpm = read_nevras([built["rpm"], built["srpm"]])
    assert (rpm["name"], rpm["epoch"], rpm["version"], rpm["arch"]) == ("hello-noarch", 0, "1.0", "noarch")
    assert (srpm["name"], srpm["version"], srpm["arch"]) == ("hello-noarch", "2.5", "src")
    assert read_nevras([]) == []


def test_a_truncated_file_among_good_ones_is_named(built: dict[str, Path], tmp_path: Path) -> None:
    data = built["rpm"].read_bytes()
    cut = tmp_path / "cut-1.0-1.noarch.rpm"
    cut.write_bytes(data[: len(data) * 70 // 100])
    with pytest.raises(BadRpm, match=r"^cut-1\.0-1\.noarch\.rpm: corrupt RPM"):
        read_nevras([built["srpm"], cut])


def test_a_file_that_is_no_rpm_at_all_is_refused(built: dict[str, Path], tmp_path: Path) -> None:
    junk = tmp_path / "junk.noarch.rpm"
    junk.write_text("#!/bin/sh\necho not an rpm\n")
    with pytest.raises(BadRpm, match="junk.noarch.rpm"):
        read_nevras([junk])

