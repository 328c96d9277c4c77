"""What the publisher keeps between runs for one chroot: package XML, and compressed segments.

The repodata files (primary, filelists, other) must each be rewritten whole on every change, but
their *content* need not be recomputed whole. Packages are spread over a fixed number of segments
(by a hash of their path); each segment keeps its packages' XML both plain and as one gzip member.
A gzip file may be a concatenation of members (RFC 1952; zlib, libsolv, createrepo_c and Python
all read them), so a new ``primary.xml.gz`` is a small header member, every segment's stored
member, and a footer member: publishing one package recompresses one segment (about 1/256 of the
repository) and merely copies the rest.

The cache is an SQLite file in the chroot's hidden state directory: a crash mid-update rolls back,
and a corrupt or missing cache is rebuilt from the RPMs on disk (without re-signing: packages
already signed with the project's key are recognised).
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT = "1"
SEGMENTS = 256
KINDS = ("primary", "filelists", "other")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dirs (
    name TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    rejected TEXT          -- NULL: in the repository; else why it was kept out
);
CREATE TABLE IF NOT EXISTS pkgs (
    dir TEXT NOT NULL,
    file TEXT NOT NULL,
    seg INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    primary_xml BLOB,      -- NULL for packages kept out of repodata (source RPMs)
    filelists_xml BLOB,
    other_xml BLOB,
    PRIMARY KEY (dir, file)
);
CREATE INDEX IF NOT EXISTS pkgs_seg ON pkgs (seg);
CREATE TABLE IF NOT EXISTS segs (
    seg INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    primary_xml BLOB NOT NULL, filelists_xml BLOB NOT NULL, other_xml BLOB NOT NULL,
    primary_gz BLOB NOT NULL, filelists_gz BLOB NOT NULL, other_gz BLOB NOT NULL
);
"""


def segment_of(dirname: str, filename: str) -> int:
    return zlib.crc32(f"{dirname}/{filename}".encode()) % SEGMENTS


def gzip_member(data: bytes, level: int = 6) -> bytes:
    """One complete gzip member (header, deflate stream, trailer); mtime 0 keeps it reproducible."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


@dataclass(frozen=True)
class PackageRow:
    dir: str
    file: str
    size: int
    mtime_ns: int
    xml: tuple[bytes, bytes, bytes] | None  # primary, filelists, other; None: on disk, not in repodata


class CorruptCache(RuntimeError):
    pass


class RepoCache:
    """The SQLite state of one chroot. Use as a context manager; all writes go through ``update``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        """Open (or create) the cache; a file that is no database, or another format, is started over.

        Damage deeper inside surfaces as ``sqlite3.DatabaseError`` while it is used: the engine then
        calls ``discard`` and runs again (a full ``quick_check`` here would read the whole file).
        """
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            fmt = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if fmt is None:
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            elif fmt[0] != FORMAT:
                raise CorruptCache(f"cache format {fmt[0]}, expected {FORMAT}")
            return conn
        except (sqlite3.DatabaseError, CorruptCache) as exc:
            log.warning("publish cache %s is unusable (%s); rebuilding it from the RPMs", self.path, exc)
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection may not even exist
                pass
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            return conn

    def close(self) -> None:
        self.conn.close()

    def discard(self) -> None:
        """Throw the cache away (it is only ever a copy of what the RPMs on disk say)."""
        self.conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def __enter__(self) -> RepoCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------------------
    def meta(self, key: str, default: str = "") -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def revision(self) -> int:
        return int(self.meta("revision", "0"))

    def dirs(self) -> dict[str, tuple[int, str | None]]:
        """name -> (inode, rejected reason or None)."""
        return {n: (i, r) for n, i, r in self.conn.execute("SELECT name, inode, rejected FROM dirs")}

    def files_of(self, dirname: str) -> dict[str, tuple[int, int]]:
        rows = self.conn.execute("SELECT file, size, mtime_ns FROM pkgs WHERE dir=?", (dirname,))
        return {f: (s, m) for f, s, m in rows}

    def package_count(self) -> int:
        row = self.conn.execute("SELECT COALESCE(SUM(count), 0) FROM segs").fetchone()
        return int(row[0])

    def segments(self, kind: str) -> Iterator[tuple[bytes, bytes]]:
        """(plain XML, gzip member) of every non-empty segment, in segment order."""
        if kind not in KINDS:
            raise ValueError(kind)
        yield from self.conn.execute(f"SELECT {kind}_xml, {kind}_gz FROM segs ORDER BY seg")

    # -- writes --------------------------------------------------------------------------------------
    def update(self, *, removed: Iterable[str], replaced: dict[str, tuple[int, str | None, list[PackageRow]]],
               inodes: dict[str, int]) -> bool:
        """Apply one publish's changes in a single transaction; returns whether repodata changed.

        ``removed``: directories gone from disk. ``replaced``: directory -> (inode, rejected reason,
        packages), re-read from disk. ``inodes``: unchanged directories whose inode moved on.
        """
        conn = self.conn
        touched: set[int] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in removed:
                touched.update(s for (s,) in conn.execute("SELECT seg FROM pkgs WHERE dir=?", (name,)))
                conn.execute("DELETE FROM pkgs WHERE dir=?", (name,))
                conn.execute("DELETE FROM dirs WHERE name=?", (name,))
            for name, (inode, rejected, rows) in replaced.items():
                touched.update(s for (s,) in conn.execute("SELECT seg FROM pkgs WHERE dir=?", (name,)))
                conn.execute("DELETE FROM pkgs WHERE dir=?", (name,))
                conn.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?, ?)", (name, inode, rejected))
                for r in rows:
                    seg = segment_of(r.dir, r.file)
                    xml = r.xml or (None, None, None)
                    conn.execute("INSERT INTO pkgs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (r.dir, r.file, seg, r.size, r.mtime_ns, *xml))
                    if r.xml is not None:
                        touched.add(seg)
            for name, inode in inodes.items():
                conn.execute("UPDATE dirs SET inode=? WHERE name=?", (inode, name))
            for seg in sorted(touched):
                self._rebuild_segment(seg)
            if touched:
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('revision', ?)", (str(self.revision() + 1),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (e.g. SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
        return bool(touched)

    def _rebuild_segment(self, seg: int) -> None:
        rows = self.conn.execute(
            "SELECT primary_xml, filelists_xml, other_xml FROM pkgs WHERE seg=? AND primary_xml IS NOT NULL "
            "ORDER BY dir, file", (seg,)).fetchall()
        if not rows:
            self.conn.execute("DELETE FROM segs WHERE seg=?", (seg,))
            return
        plain = [b"".join(r[i] for r in rows) for i in range(3)]
        self.conn.execute("INSERT OR REPLACE INTO segs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (seg, len(rows), *plain, *(gzip_member(p) for p in plain)))

    def mark_published(self, revision: int, inode: int, mtime_ns: int) -> None:
        """Remember which revision ``repodata/`` holds (and which repomd.xml file), to skip no-op runs."""
        # One row, one statement: a kill can never leave a new revision paired with the old file.
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('published', ?)", (f"{revision}:{inode}:{mtime_ns}",))
