"""Publishing one chroot directory: sign what is new, update the cache, swap in new repodata.

A build directory (``<%08d id>-<package>/``) joins the repository once it holds Copr's ``success``
marker, which the importer writes after its RPMs are in place. Each run, under the chroot's lock:

1. scan: one ``scandir`` of the chroot finds build directories that appeared or vanished; a known
   directory is only looked into again when its inode changed, when the caller names it, or on a
   full (``regenerate-repos``) run. The cost follows the number of build directories, never the
   number of packages;
2. every RPM of a new directory is checked (digests: a corrupt one keeps the whole directory out,
   and the run goes on for the others), signed with the project's key unless already signed with
   it, and turned into XML with createrepo_c's bindings;
3. the cache (``cache.py``) takes the changes in one transaction and recompresses the touched
   segments only;
4. new repodata is written into ``.repodata/`` (content-addressed file names, fsync'd),
   ``repomd.xml`` is signed (``repomd.xml.asc``), the previous generation's files are hard-linked
   in so a reader holding the old ``repomd.xml`` can still fetch them, and the directory is
   exchanged with ``repodata/`` in one ``renameat2(RENAME_EXCHANGE)``: a reader sees the old
   repodata or the new one, never a mix, and a crash at any point leaves a complete one.

A full disk fails the run with :class:`PublishError` (``retryable``), removes the partial output
and leaves ``repodata/`` as it was; the next run repairs everything (the cache remembers which
revision ``repodata/`` holds).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import createrepo_c as cr

from rpmyard.publish.cache import KINDS, PackageRow, RepoCache, gzip_member
from rpmyard.publish.signing import ProjectKey, SigningError, rpm_signer_key_id

log = logging.getLogger(__name__)

STATE_DIR = ".rpmyard"
READY_MARKER = "success"
NEW_DIR = ".repodata"  # createrepo_c's name for its work directory: present only while publishing
CHANGELOG_LIMIT = 10
CHECK_BATCH = 200  # packages per rpmkeys call: well below ARG_MAX
_BUILD_ID = re.compile(r"^(\d+)-")
#: How long, and for how many generations, replaced metadata files stay readable (see _carry_over).
RETAIN_SECONDS = 120
RETAIN_GENERATIONS = 8
_TRANSIENT = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.ENOMEM)

HEADERS = {
    "primary": ('<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" '
                'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{n}">\n', "</metadata>\n"),
    "filelists": ('<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.edu/metadata/filelists" '
                  'packages="{n}">\n', "</filelists>\n"),
    "other": ('<?xml version="1.0" encoding="UTF-8"?>\n<otherdata xmlns="http://linux.duke.edu/metadata/other" '
              'packages="{n}">\n', "</otherdata>\n"),
}

KeyFor = Callable[[Path], ProjectKey | None]


class PublishError(RuntimeError):
    """A run that changed nothing visible. ``retryable``: the cause may pass (full disk, gpg hiccup)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class PublishResult:
    revision: int = 0
    wrote: bool = False          # a new repodata generation was swapped in
    added: int = 0               # build directories (re)indexed this run
    removed: int = 0
    packages: int = 0            # packages in the repodata now
    rejected: dict[str, str] = field(default_factory=dict)  # build dir -> why it is kept out
    seconds: float = 0.0


@contextmanager
def chroot_lock(chroot_dir: Path) -> Iterator[Path]:
    """The chroot's exclusive lock (threads and processes alike); yields its state directory."""
    state = chroot_dir / STATE_DIR
    state.mkdir(exist_ok=True)  # not its parents: a project deleted meanwhile must stay deleted
    with open(state / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield state
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish_chroot(chroot_dir: Path, key_for: KeyFor | None = None, *, hints: Iterable[str] = (),
                   full: bool = False) -> PublishResult:
    """Bring ``chroot_dir/repodata`` in line with the ready build directories below it."""
    t0 = time.perf_counter()
    if not chroot_dir.parent.is_dir():
        raise PublishError(f"{chroot_dir.parent} does not exist (project deleted?)", retryable=False)
    try:
        chroot_dir.mkdir(exist_ok=True)
        with chroot_lock(chroot_dir) as state:
            result = _Run(chroot_dir, state, key_for, set(hints), full).run()
    except PublishError:
        raise
    except SigningError as exc:
        note = " (no space left on device)" if _disk_full(chroot_dir) else ""
        raise PublishError(f"signing failed in {chroot_dir}{note}: {exc}; the previous repodata is unchanged",
                           retryable=True) from exc
    except sqlite3.OperationalError as exc:
        full_disk = "full" in str(exc) or _disk_full(chroot_dir)
        raise PublishError(f"the publish cache of {chroot_dir} could not be written: {exc}"
                           f"{' (no space left on device)' if full_disk else ''}; repodata is unchanged",
                           retryable=True) from exc
    except OSError as exc:
        what = os.strerror(exc.errno) if exc.errno else str(exc)
        raise PublishError(f"publishing {chroot_dir} failed: {what} ({exc.filename or exc}); "
                           "the previous repodata is unchanged", retryable=exc.errno in _TRANSIENT) from exc
    result.seconds = time.perf_counter() - t0
    return result


class _Run:
    def __init__(self, chroot: Path, state: Path, key_for: KeyFor | None, hints: set[str], full: bool) -> None:
        self.chroot = chroot
        self.state = state
        self.key_for = key_for
        self.hints = hints
        self.full = full
        self.result = PublishResult()

    def run(self) -> PublishResult:
        key = self.key_for(self.chroot) if self.key_for else None
        shutil.rmtree(self.chroot / NEW_DIR, ignore_errors=True)  # a run killed mid-write
        try:
            return self._run(key)
        except sqlite3.OperationalError:
            raise  # locked, full disk: not damage
        except sqlite3.DatabaseError as exc:  # a damaged cache: start it over from the RPMs
            log.warning("publish cache of %s is damaged (%s); rebuilding it", self.chroot, exc)
            RepoCache(self.state / "cache.sqlite").discard()
            self.result = PublishResult()
            return self._run(key)

    def _run(self, key: ProjectKey | None) -> PublishResult:
        with RepoCache(self.state / "cache.sqlite") as cache:
            removed, work, inodes = self._scan(cache)
            replaced = self._index(work, key)
            changed = cache.update(removed=removed, replaced=replaced, inodes=inodes)
            self.result.removed = len(removed)
            self.result.added = sum(1 for _, r, _ in replaced.values() if r is None)
            self.result.rejected.update({n: r for n, (_, r, _) in replaced.items() if r is not None})
            for name, (_, reason) in cache.dirs().items():  # rejected before, and asked about again
                if reason is not None and name in self.hints:
                    self.result.rejected.setdefault(name, reason)
            revision = cache.revision()
            self.result.revision = revision
            self.result.packages = cache.package_count()
            if changed or self.full or not self._published_is(cache, revision):
                self._write(cache, revision, key)
                self.result.wrote = True
        return self.result

    # -- 1. scan -------------------------------------------------------------------------------------
    def _scan(self, cache: RepoCache) -> tuple[list[str], dict[str, int], dict[str, int]]:
        """(removed dirs, dirs to (re)index -> inode, unchanged dirs whose inode to update)."""
        on_disk: dict[str, int] = {}
        with os.scandir(self.chroot) as it:
            for e in it:
                if e.name.startswith(".") or e.name == "repodata" or not e.is_dir(follow_symlinks=False):
                    continue
                on_disk[e.name] = e.inode()
        known = cache.dirs()
        removed = [n for n in known if n not in on_disk]
        work: dict[str, int] = {}
        inodes: dict[str, int] = {}
        for name, inode in on_disk.items():
            look = self.full or name in self.hints or name not in known or known[name][0] != inode
            if not look:
                continue
            d = self.chroot / name
            if not (d / READY_MARKER).is_file():
                if name in known:
                    removed.append(name)  # lost its marker: no longer part of the repository
                continue
            if name in known and known[name][1] is None and not self.full and self._same_files(cache, d, name):
                if known[name][0] != inode:
                    inodes[name] = inode
                continue
            work[name] = inode
        return removed, work, inodes

    @staticmethod
    def _same_files(cache: RepoCache, d: Path, name: str) -> bool:
        cached = cache.files_of(name)
        try:
            now = {p.name: p.stat() for p in d.iterdir() if p.name.endswith(".rpm")}
        except FileNotFoundError:
            return False
        return set(now) == set(cached) and all((st.st_size, st.st_mtime_ns) == cached[n] for n, st in now.items())

    # -- 2. check, sign, describe --------------------------------------------------------------------
    def _index(self, work: dict[str, int], key: ProjectKey | None
               ) -> dict[str, tuple[int, str | None, list[PackageRow]]]:
        out: dict[str, tuple[int, str | None, list[PackageRow]]] = {}
        files: dict[str, list[Path]] = {}
        for name in sorted(work):
            try:
                files[name] = sorted(p for p in (self.chroot / name).iterdir()
                                     if p.name.endswith(".rpm") and p.is_file())
            except FileNotFoundError:
                continue  # deleted while we looked
        for name, reason in _corrupt(files).items():
            out[name] = (work[name], reason, [])
            del files[name]
        if key is not None:
            self._sign([p for ps in files.values() for p in ps] + self._source_rpms(files), key)
        for name, paths in files.items():
            try:
                out[name] = (work[name], None, [_describe(name, p) for p in paths])
            except FileNotFoundError:
                continue
            except (cr.CreaterepoCError, OSError, ValueError) as exc:
                out[name] = (work[name], f"unreadable package: {exc}", [])
        return out

    def _source_rpms(self, files: dict[str, list[Path]]) -> list[Path]:
        """The uploaded SRPMs of these builds (``srpm-builds/<id>/``): signed like everything else."""
        out = []
        for name in files:
            m = _BUILD_ID.match(name)
            if m:
                d = self.chroot.parent / "srpm-builds" / f"{int(m.group(1)):08d}"
                if d.is_dir():
                    out += sorted(p for p in d.iterdir() if p.name.endswith(".src.rpm") and p.is_file())
        return out

    @staticmethod
    def _sign(paths: list[Path], key: ProjectKey) -> None:
        todo = []
        for p in paths:
            try:
                if rpm_signer_key_id(p) != key.key_id:
                    todo.append(p)
            except FileNotFoundError:
                continue
        if todo:
            key.sign_rpms(todo)

    # -- 4. write and swap ---------------------------------------------------------------------------
    def _published_is(self, cache: RepoCache, revision: int) -> bool:
        try:
            st = (self.chroot / "repodata" / "repomd.xml").stat()
        except FileNotFoundError:
            return False
        return cache.meta("published") == f"{revision}:{st.st_ino}:{st.st_mtime_ns}"

    def _write(self, cache: RepoCache, revision: int, key: ProjectKey | None) -> None:
        new = self.chroot / NEW_DIR
        new.mkdir()
        try:
            count = cache.package_count()
            records = [_write_kind(new, kind, count, cache.segments(kind)) for kind in KINDS]
            repomd = new / "repomd.xml"
            _write_synced(repomd, _repomd_xml(records).encode())
            if key is not None:
                key.sign_detached(repomd, new / "repomd.xml.asc")
                _fsync_file(new / "repomd.xml.asc")
            _carry_over(self.chroot / "repodata", new, {r.href.rsplit("/", 1)[1] for r in records})
            _fsync_dir(new)
            # Recorded first, so nothing but the old generation's removal follows the swap. Should the
            # swap not happen, the inode differs from the live repomd.xml's and the next run rewrites.
            st = repomd.stat()
            cache.mark_published(revision, st.st_ino, st.st_mtime_ns)
            _swap(new, self.chroot / "repodata")
            _fsync_dir(self.chroot)
        finally:
            shutil.rmtree(new, ignore_errors=True)  # on success: the previous generation


def _disk_full(path: Path) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _corrupt(files: dict[str, list[Path]]) -> dict[str, str]:
    """Directories holding an RPM whose digests do not match (truncated, altered, not an RPM).

    ``rpmkeys`` checks batches of packages; only a failing batch is looked at file by file.
    """
    bad: dict[str, str] = {}
    owner = {p: name for name, ps in files.items() for p in ps}
    everything = list(owner)
    for start in range(0, len(everything), CHECK_BATCH):
        batch = everything[start:start + CHECK_BATCH]
        if _digests_ok(batch):
            continue
        for p in batch:
            if owner[p] not in bad and p.exists() and not _digests_ok([p]):
                bad[owner[p]] = (f"{p.name} is corrupt (its digests do not match); "
                                 "the build was kept out of the repository")
    return bad


def _digests_ok(paths: list[Path]) -> bool:
    proc = subprocess.run(["rpmkeys", "--checksig", "--nosignature", *map(str, paths)],
                          capture_output=True, text=True, timeout=600)
    return proc.returncode == 0


def _describe(dirname: str, path: Path) -> PackageRow:
    st = path.stat()
    if path.name.endswith(".src.rpm"):
        return PackageRow(dirname, path.name, st.st_size, st.st_mtime_ns, None)
    pkg = cr.package_from_rpm(str(path), cr.SHA256, f"{dirname}/{path.name}", None, CHANGELOG_LIMIT)
    primary, filelists, other = cr.xml_dump(pkg)
    if path.stat().st_mtime_ns != st.st_mtime_ns:
        raise FileNotFoundError(path)  # replaced while we read it; the next run takes it
    return PackageRow(dirname, path.name, st.st_size, st.st_mtime_ns,
                      (primary.encode(), filelists.encode(), other.encode()))


@dataclass
class _Record:
    kind: str
    href: str
    checksum: str
    open_checksum: str
    size: int
    open_size: int
    timestamp: int


def _write_kind(new: Path, kind: str, count: int, segments: Iterable[tuple[bytes, bytes]]) -> _Record:
    head, foot = (s.encode() for s in HEADERS[kind])
    head = head.replace(b"{n}", str(count).encode())
    closed, opened = hashlib.sha256(), hashlib.sha256()
    size = open_size = 0
    tmp = new / f"{kind}.xml.gz"
    with open(tmp, "wb") as fh:
        def put(plain: bytes, member: bytes) -> None:
            nonlocal size, open_size
            fh.write(member)
            closed.update(member)
            opened.update(plain)
            size += len(member)
            open_size += len(plain)

        put(head, gzip_member(head))
        for plain, member in segments:
            put(plain, member)
        put(foot, gzip_member(foot))
        fh.flush()
        os.fsync(fh.fileno())
    name = f"{closed.hexdigest()}-{kind}.xml.gz"
    tmp.rename(new / name)
    return _Record(kind, f"repodata/{name}", closed.hexdigest(), opened.hexdigest(), size, open_size,
                   int(time.time()))


def _repomd_xml(records: list[_Record]) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n',
             f"  <revision>{int(time.time())}</revision>\n"]
    for r in records:
        parts.append(
            f'  <data type="{r.kind}">\n'
            f'    <checksum type="sha256">{r.checksum}</checksum>\n'
            f'    <open-checksum type="sha256">{r.open_checksum}</open-checksum>\n'
            f"    <location href={quoteattr(r.href)}/>\n"
            f"    <timestamp>{r.timestamp}</timestamp>\n"
            f"    <size>{r.size}</size>\n"
            f"    <open-size>{r.open_size}</open-size>\n"
            "  </data>\n")
    parts.append("</repomd>\n")
    return "".join(parts)


def _carry_over(current: Path, new: Path, fresh: set[str]) -> None:
    """Hard-link older metadata files into the new generation: a grace period for clients.

    dnf reads repomd.xml and then the files it names; while builds stream in, the repodata can
    change several times between the two. So the files the current repomd.xml names are kept, and
    so are those of earlier generations written in the last ``RETAIN_SECONDS`` (at most
    ``RETAIN_GENERATIONS`` generations' worth), as createrepo_c's --retain-old-md does.
    """
    try:
        text = (current / "repomd.xml").read_text(errors="replace")
        mtimes = {e.name: e.stat().st_mtime for e in os.scandir(current) if e.is_file(follow_symlinks=False)}
    except (FileNotFoundError, NotADirectoryError):
        return
    named = set(re.findall(r'<location href="repodata/([^"/]+)"', text))
    cutoff = time.time() - RETAIN_SECONDS
    older = [n for n, t in mtimes.items() if n not in named and t >= cutoff]
    recent = sorted(older, key=mtimes.__getitem__, reverse=True)[: RETAIN_GENERATIONS * len(KINDS)]
    for name in named | set(recent):
        if name in fresh or name.startswith(".") or name.startswith("repomd.xml"):
            continue
        try:
            os.link(current / name, new / name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno in _TRANSIENT:
                raise
            log.debug("could not carry %s over: %s", name, exc)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _swap(new: Path, live: Path) -> None:
    """Make ``new`` the live ``repodata/`` atomically; afterwards ``new`` holds the old generation."""
    if live.is_symlink() or (live.exists() and not live.is_dir()):
        live.unlink()
    if not live.exists():
        os.rename(new, live)
        new.mkdir()  # callers remove it afterwards, as they would the old generation
        return
    if _renameat2 is not None:
        rc = _renameat2(-100, os.fsencode(new), -100, os.fsencode(live), _RENAME_EXCHANGE)  # AT_FDCWD
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(live))
    # A filesystem without RENAME_EXCHANGE: two renames, with a moment where repodata/ is absent.
    old = live.with_name(".repodata.old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(live, old)
    os.rename(new, live)
    os.rename(old, new)
