"""The chroots a new instance offers before an admin changes anything (`rpmyard chroot ...`)."""

from __future__ import annotations

DEFAULT_CHROOTS = [
    f"{release}-{arch}"
    for release in ("fedora-43", "fedora-44", "fedora-45", "fedora-rawhide", "epel-9", "epel-10")
    for arch in ("x86_64", "aarch64")
]
