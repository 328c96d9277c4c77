"""State files (an agent's banks, the broker role's directory, an overlord's jobs): JSON, written
whole to a temporary file and renamed, so a crash leaves the old state or the new, never half."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("qmf.state")


def read_state(path: Path | None) -> dict[str, Any]:
    """The saved state, or {} when there is none or it cannot be read (logged)."""
    if path is None or not path.exists():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return {}
    return state if isinstance(state, dict) else {}


def write_state(path: Path | None, state: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)
