"""func's ACLs (func/minion/acls.py): `<acl_dir>/*.acl`, lines `HOSTMATCH = method, method ...`.

The key matched is the caller certificate's `CN-subjecthash` (what `func-ca --list-cert-hash`
prints); host and method parts are fnmatch globs; there is no deny rule. With
`certmaster_overrides_acls` the CA's own key is allowed everything (func's overlord presents the
CA certificate). Files are re-read when the folder or a file changes.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from pathlib import Path

log = logging.getLogger("func.acls")


class Acls:
    def __init__(self, acl_dir: str | os.PathLike[str], ca_key: str | None = None, ca_overrides: bool = True) -> None:
        self.acl_dir = Path(acl_dir)
        self.ca_key = ca_key
        self.ca_overrides = ca_overrides
        self._entries: list[tuple[str, list[str]]] = []
        self._stamp: tuple[float, ...] | None = None

    def _stamps(self) -> tuple[float, ...]:
        if not self.acl_dir.is_dir():
            return ()
        files = sorted(self.acl_dir.glob("*.acl"))
        return (self.acl_dir.stat().st_mtime, *(f.stat().st_mtime for f in files), len(files))

    def _load(self) -> None:
        stamp = self._stamps()
        if stamp == self._stamp:
            return
        entries: list[tuple[str, list[str]]] = []
        for f in sorted(self.acl_dir.glob("*.acl")) if self.acl_dir.is_dir() else []:
            try:
                lines = f.read_text().splitlines()
            except OSError as exc:
                log.warning("cannot read %s: %s", f, exc)
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                host, methods = line.split("=", 1)
                entries.append((host.strip().lower(), methods.replace(",", " ").split()))
        self._entries = entries
        self._stamp = stamp

    def allowed(self, caller_key: str, method: str) -> bool:
        """Whether the caller `CN-hash` may call `method` (`module.method`, no `async.` prefix)."""
        if self.ca_overrides and self.ca_key is not None and caller_key.lower() == self.ca_key.lower():
            return True
        self._load()
        key = caller_key.lower()
        for host, globs in self._entries:
            if fnmatch.fnmatch(key, host) and any(fnmatch.fnmatch(method, g) for g in globs):
                return True
        return False
