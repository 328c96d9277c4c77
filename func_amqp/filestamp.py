"""When to read a file or folder again: its stamp, compared with the one it had when last read.

funcd and the overlord keep what they parsed from a file (the CRL, a module's options, the CA's
certificate list) and read it again only when it changes. A stamp is (mtime, ctime, size, inode),
so a rewrite, a replacement by rename or a changed listing all show. A change within the same
clock tick as the last read leaves mtime as it was, so a stamp younger than `RACY_NS` is never
trusted (as git treats its "racily clean" index entries).
"""

from __future__ import annotations

import os
import time

RACY_NS = 2_000_000_000

Stamp = tuple[int, int, int, int]


def stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """The path's stamp, or None when it does not exist (or cannot be looked at)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def unchanged(cached: Stamp | None, current: Stamp | None) -> bool:
    """True when what was read under `cached` is still what `current` names."""
    return cached == current and (current is None or time.time_ns() - current[0] >= RACY_NS)
