"""Who a spec targets: the CA's inventory (read again whenever its folder changes) and func's globs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from func_amqp.overlord import minions


def _certs(root: Path, *names: str) -> None:
    for n in names:
        (root / f"{n}.cert").write_text("not parsed here")


def test_the_inventory_is_the_certificates_in_certroot(tmp_path: Path) -> None:
    assert minions.certroot_inventory(tmp_path / "missing") is None
    (tmp_path / "file").write_text("")
    assert minions.certroot_inventory(tmp_path / "file") is None
    _certs(tmp_path, "Web1", "web2", "db1")
    (tmp_path / "web3.csr").write_text("")
    assert minions.certroot_inventory(tmp_path) == ["db1", "web1", "web2"]


def test_the_inventory_follows_changes_to_its_folder(tmp_path: Path) -> None:
    _certs(tmp_path, "a")
    old = time.time_ns() - 60 * 10**9
    os.utime(tmp_path, ns=(old, old))  # settled: the cached list may be used
    assert minions.certroot_inventory(tmp_path) == ["a"]
    listing = minions.certroot_inventory(tmp_path)
    assert listing == ["a"]
    listing.append("caller's own")  # a caller's copy, not the cache
    assert minions.certroot_inventory(tmp_path) == ["a"]
    _certs(tmp_path, "b")  # moves the folder's mtime
    assert minions.certroot_inventory(tmp_path) == ["a", "b"]
    (tmp_path / "a.cert").unlink()
    assert minions.certroot_inventory(tmp_path) == ["b"]


def test_a_change_within_the_same_mtime_tick_is_still_seen(tmp_path: Path) -> None:
    """A folder changed in the clock tick of the last read keeps its mtime: recent stamps are not trusted."""
    _certs(tmp_path, "a")
    stamp = os.stat(tmp_path).st_mtime_ns
    assert minions.certroot_inventory(tmp_path) == ["a"]
    _certs(tmp_path, "b")
    os.utime(tmp_path, ns=(stamp, stamp))  # as if both changes fell in one tick
    assert minions.certroot_inventory(tmp_path) == ["a", "b"]


def test_expand_follows_funcs_rules() -> None:
    inv = ["db1", "web1", "web2", "Web3"]
    groups = {"front": ["web1", "web2"]}
    assert minions.expand("web*", inv) == ["web1", "web2", "web3"]
    assert minions.expand("WEB1;db*", inv) == ["db1", "web1"]
    assert minions.expand("@front:*2;db1", inv, groups=groups) == ["db1", "web2"]
    assert minions.expand("*", inv, exclude_spec="web[12]", down=["db1"]) == ["web3"]
    assert minions.expand("nosuch", inv) == []
    assert minions.expand("nosuch", inv, allow_unknown=True) == ["nosuch"]
    assert minions.expand("nosuch*", inv, allow_unknown=True) == []
