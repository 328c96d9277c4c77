"""Which minions a host spec names (func's `Minions` and groups): decided before anything is sent.

The spec is split on `;`; each part is a case-insensitive glob over the inventory, or `@group`
(`@group:glob` narrows it) from func's groups file (`[group]` with `host = a,b;c` and optionally
`subgroups = g1,g2`). `exclude_spec` removes hosts the same way; hosts in the down list are
skipped. A plain name not in the inventory is kept only with `allow_unknown_minions`.
"""

from __future__ import annotations

import configparser
import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path

from .. import filestamp

GLOB_CHARS = set("*?[")


def certroot_inventory(certroot: str | Path) -> list[str] | None:
    """The minions the CA signed (`<certroot>/<CN>.cert`), or None when there is no such folder.
    Read again only when the folder changes (its mtime moves whenever a certificate is added,
    removed or renamed): every `Overlord(spec)` asks, and a CA may hold thousands."""
    root = os.fspath(certroot)
    current = filestamp.stamp(root)
    if current is None:
        return None
    cached = _INVENTORIES.get(root)
    if cached is None or not filestamp.unchanged(cached[0], current):
        try:
            with os.scandir(root) as entries:
                names = sorted(e.name[:-len(".cert")].lower() for e in entries if e.name.endswith(".cert"))
        except NotADirectoryError:
            return None
        cached = _INVENTORIES[root] = (current, names)
    return list(cached[1])


_INVENTORIES: dict[str, tuple[filestamp.Stamp, list[str]]] = {}  # certroot: (its stamp, the names in it)


def load_groups(path: str | Path) -> dict[str, list[str]]:
    cp = configparser.ConfigParser(interpolation=None)
    if Path(path).exists():
        cp.read(path)
    raw = {g: cp[g] for g in cp.sections()}

    def hosts(group: str, seen: frozenset[str]) -> list[str]:
        if group not in raw or group in seen:
            return []
        sec = raw[group]
        out = _split(sec.get("host", ""))
        for sub in _split(sec.get("subgroups", "")):
            out += hosts(sub, seen | {group})
        return out

    return {g: sorted(set(hosts(g, frozenset()))) for g in raw}


def _split(text: str) -> list[str]:
    return [h.strip().lower() for h in text.replace(";", ",").split(",") if h.strip()]


def expand(spec: str, inventory: Iterable[str], *, groups: dict[str, list[str]] | None = None,
           exclude_spec: str | None = None, down: Iterable[str] = (), allow_unknown: bool = False) -> list[str]:
    names = sorted(set(n.lower() for n in inventory))
    chosen = _match(spec, names, groups or {}, allow_unknown)
    if exclude_spec:
        chosen -= _match(exclude_spec, names, groups or {}, True)
    chosen -= {d.lower() for d in down}
    return sorted(chosen)


def _match(spec: str, names: list[str], groups: dict[str, list[str]], allow_unknown: bool) -> set[str]:
    out: set[str] = set()
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        if part.startswith("@"):
            group, _, glob = part[1:].partition(":")
            members = groups.get(group, [])
            out.update(m for m in members if not glob or fnmatch.fnmatch(m, glob.lower()))
            continue
        pattern = part.lower()
        hits = fnmatch.filter(names, pattern)
        if hits:
            out.update(hits)
        elif allow_unknown and not GLOB_CHARS & set(pattern):
            out.add(pattern)
    return out


def down_list(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.exists():
        return []
    return [line.strip().lower() for line in p.read_text().splitlines() if line.strip() and not line.startswith("#")]
