"""Storage used per project: measured by the publisher when it is idle, read by the API.

Walking a project's tree costs one ``stat`` per file, so it is never done while serving a request:
the publisher refreshes a project's figure after publishing into it (when its queue is empty),
and the API reads the small JSON file it leaves in ``<data_dir>/usage/<owner>/<project>.json``:
beside ``results/``, not in it, so the published tree changes only when something is published.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


def usage_file(project_dir: Path) -> Path:
    """Where the figure of ``<data_dir>/results/<owner>/<project>`` is kept."""
    results = project_dir.parent.parent
    return results.parent / "usage" / project_dir.parent.name / f"{project_dir.name}.json"


def measure(root: Path) -> int:
    """Bytes on disk below ``root`` (allocated blocks; hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def refresh_usage(project_dir: Path) -> int | None:
    """Measure ``project_dir`` and record the figure; None (and no figure) if the project is gone."""
    target = usage_file(project_dir)
    if not project_dir.is_dir():
        target.unlink(missing_ok=True)
        return None
    total = measure(project_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"bytes": total, "measured_on": int(time.time())}))
        os.replace(tmp, target)
    except OSError as exc:  # a full disk: the old figure stays
        log.warning("could not record the storage used by %s: %s", project_dir, exc)
    return total


def read_usage(project_dir: Path) -> int:
    """The last recorded figure (0 for a project that never had anything published)."""
    try:
        return int(json.loads(usage_file(project_dir).read_text())["bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
