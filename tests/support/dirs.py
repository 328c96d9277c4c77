"""Temporary directories the build sandbox does not hide on its own.

The sandbox always puts a tmpfs over /tmp, /var/tmp, /run, /root and /home, so a test that wants
to show that *hide_paths* hides something, or that a visible path is visible, needs a directory
elsewhere, like the service's real data directory would be.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CANDIDATE_PARENTS = (Path("/srv"), Path("/var/lib"), Path("/opt"))


@contextmanager
def visible_tempdir(prefix: str = "rpmyard-test-") -> Iterator[Path]:
    """A fresh directory under the first writable candidate parent, removed afterwards."""
    for parent in CANDIDATE_PARENTS:
        if parent.is_dir() and os.access(parent, os.W_OK):
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)
            return
    raise RuntimeError(f"none of {', '.join(map(str, CANDIDATE_PARENTS))} is writable for a test directory")
