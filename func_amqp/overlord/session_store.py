"""Sessions kept between overlord processes, in `session_dir`.

Each `func` command is a process of its own: without this, every one would open with a signed
handshake to each minion it calls (an ECDSA signature each way and the minion's certificate
checked, ~0.2 ms of CPU per minion on each side). The file holds secrets, the ephemeral key and
the session keys, so it is written 0600 in a 0700 folder, as the CA keeps its key; it is good
until the session expires (an hour at most), and a minion that forgot a session (it restarted,
its CRL changed) says so and gets a handshake. Processes of one identity share the file: the
last to exit writes it, adding the keys it learnt to those already there under the same session.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes

from .sessions import Sessions

log = logging.getLogger("func.overlord.sessions")


def path_for(folder: str | os.PathLike[str], sessions: Sessions) -> Path:
    return Path(folder) / f"{sessions.cert.fingerprint(hashes.SHA256()).hex()[:24]}.json"


def load(sessions: Sessions, folder: str | os.PathLike[str]) -> bool:
    """Takes up the identity's kept session, if there is one still good."""
    state = _read(path_for(folder, sessions))
    return bool(state) and sessions.restore(state)


def save(sessions: Sessions, folder: str | os.PathLike[str]) -> None:
    """Writes the current session (merged with what another process kept under it); never raises."""
    state = sessions.snapshot()
    if not state:
        return
    path = path_for(folder, sessions)
    try:
        kept = _read(path)
        if kept.get("sid") == state["sid"]:
            state["peers"] = {**dict(kept.get("peers", {})), **state["peers"]}
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot keep the session in %s: %s", folder, exc)


def _read(path: Path) -> dict[str, Any]:
    """The kept state, only from a file of ours that nobody else may read or write: a session key
    someone else planted or saw would let them MAC requests as this overlord."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                log.warning("ignoring %s: it must belong to this user and be private (0600)", path)
                return {}
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
