"""Per-project GPG keys and signing: RPMs with ``rpmsign``, ``repomd.xml`` with a detached signature.

Every project gets its own key, made on first use (the first publish of its repositories, which
project creation triggers), with Copr's identity ``<owner>_<project> (rpmyard) <owner#project@host>``.
Private keys live in one GnuPG home under the data directory (``keys/gnupg``, mode 0700) on the
signing side only: the frontend host, where the publisher runs. Builders never see them (the build
sandbox hides the whole data directory, and remote workers have no data directory). Which key
belongs to which project is recorded in ``keys/projects/<owner>/<project>`` (the fingerprint), so
a change of the public host name does not mint a new key; a project deleted and created again
under the same name gets its old key back, as on Copr.

One GnuPG home (not one per project) means one gpg-agent for the whole service. The keyring starts
it itself, as a child that does not detach (``--daemon --no-detach``), on first use: it then ends
with the service's process group (a service manager's stop, a kill of the group) instead of
outliving it as gpg's own auto-started agent would; ``close`` stops it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# RSA, not EdDSA: rpm before 4.16 (EPEL 8) cannot verify EdDSA signatures. 3072 bits is GnuPG's
# default and good past 2030; 4096 would double the signing time of every package.
KEY_ALGO = "rsa3072"
# rpmsign execs gpg once per package; keep one command line well below ARG_MAX.
SIGN_BATCH = 200
# Tags of the RPM signature header that hold an OpenPGP signature (RSA/DSA header-only, legacy).
_SIG_TAGS = (268, 267, 1002, 1006)


class SigningError(RuntimeError):
    """gpg or rpmsign failed; the message says which files and why."""


def _gpg_binary() -> str:
    for name in ("gpg", "gpg2"):
        found = shutil.which(name)
        if found:
            return found
    raise SigningError("gpg is not installed (apt-get/dnf install gnupg)")


def _sig_file(package: Path) -> Path:
    """Where rpmsign has gpg write a package's signature (and removes it after, unless killed)."""
    return package.with_name(package.name + ".sig")


def _signing_copies(paths: Sequence[Path]) -> dict[Path, Path]:
    """package -> a hidden copy of it beside it, to be signed; packages deleted meanwhile are left out."""
    copies: dict[Path, Path] = {}
    try:
        for path in paths:
            copy = copies[path] = path.with_name(f".{path.name}.signing")
            _sig_file(copy).unlink(missing_ok=True)  # left by a run killed mid-sign: gpg won't overwrite
            try:
                shutil.copyfile(path, copy)
            except FileNotFoundError:
                del copies[path]  # deleted since it was listed (its build, or its project)
                continue
            shutil.copymode(path, copy)
    except OSError:  # a full disk, say: no copy, whole or partial, is left behind
        for copy in copies.values():
            copy.unlink(missing_ok=True)
        raise
    return copies


def _check_name(part: str) -> str:
    if not part or "/" in part or part.startswith(".") or "\0" in part:
        raise ValueError(f"not a valid owner or project name for a key: {part!r}")
    return part


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class ProjectKey:
    """One project's signing key, as the publisher uses it."""

    keyring: Keyring
    owner: str
    project: str
    fingerprint: str

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:].lower()

    def sign_rpms(self, paths: Sequence[Path]) -> None:
        self.keyring.sign_rpms(self.fingerprint, paths)

    def sign_detached(self, path: Path, out: Path) -> None:
        self.keyring.sign_detached(self.fingerprint, path, out)

    def public_key(self) -> bytes:
        return self.keyring.export_public(self.fingerprint)


class Keyring:
    """The signing side's GnuPG home and the project-to-key map."""

    def __init__(self, keys_dir: Path, host: str, *, algo: str = KEY_ALGO) -> None:
        self.dir = keys_dir
        self.home = keys_dir / "gnupg"
        self.map_dir = keys_dir / "projects"
        self.host = host
        self.algo = algo
        self._lock = threading.Lock()
        self._agent_lock = threading.Lock()
        self._fprs: dict[tuple[str, str], str] = {}
        self._pubkeys: dict[str, bytes] = {}
        self._agent: subprocess.Popen[bytes] | None = None
        self._agent_checked = False
        for d in (self.dir, self.home, self.map_dir):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)

    # -- keys ----------------------------------------------------------------------------------------
    def identity(self, owner: str, project: str) -> str:
        return f"{owner}_{project} (rpmyard) <{owner}#{project}@{self.host}>"

    def _map_file(self, owner: str, project: str) -> Path:
        return self.map_dir / _check_name(owner) / _check_name(project)

    def fingerprint(self, owner: str, project: str) -> str | None:
        """The project's key, or None if it has none yet."""
        cached = self._fprs.get((owner, project))
        if cached:
            return cached
        try:
            fpr = self._map_file(owner, project).read_text().strip()
        except FileNotFoundError:
            return None
        if fpr:
            self._fprs[(owner, project)] = fpr
        return fpr or None

    def ensure(self, owner: str, project: str) -> ProjectKey:
        """The project's key, generated now if it has none (serialized across threads and processes)."""
        fpr = self.fingerprint(owner, project)
        if fpr is None:
            with self._lock, _flock(self.dir / ".lock"):
                fpr = self.fingerprint(owner, project) or self._generate(owner, project)
        return ProjectKey(self, owner, project, fpr)

    def _generate(self, owner: str, project: str) -> str:
        uid = self.identity(owner, project)
        proc = self._gpg("--quick-generate-key", uid, self.algo, "sign", "never", check=False)
        if proc.returncode != 0:
            raise SigningError(f"generating the key of {owner}/{project} failed: {_tail(proc)}")
        listing = self._gpg("--with-colons", "--list-secret-keys", "=" + uid)
        fprs = [line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:")]
        if not fprs:
            raise SigningError(f"gpg made no key for {uid}")
        fpr = fprs[-1]  # the newest one, should an older key carry the same identity
        path = self._map_file(owner, project)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(fpr + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        self._fprs[(owner, project)] = fpr
        log.info("generated signing key %s for %s/%s", fpr, owner, project)
        return fpr

    def key_for_chroot(self, chroot_dir: Path) -> ProjectKey:
        """The key of the project ``results/<owner>/<project>/<chroot>`` belongs to, its ``pubkey.gpg``
        published at the project's results root (the publisher's ``key_for``)."""
        project_dir = chroot_dir.parent
        key = self.ensure(project_dir.parent.name, project_dir.name)
        write_pubkey(project_dir, key.public_key())
        return key

    def export_public(self, fingerprint: str) -> bytes:
        cached = self._pubkeys.get(fingerprint)
        if cached is None:
            proc = self._gpg("--armor", "--export", fingerprint, text=False)
            if not proc.stdout:
                raise SigningError(f"no public key {fingerprint} in {self.home}")
            cached = self._pubkeys[fingerprint] = proc.stdout
        return cached

    # -- signing -------------------------------------------------------------------------------------
    def sign_rpms(self, fingerprint: str, paths: Sequence[Path]) -> None:
        """Add (or replace) the header signature of each package.

        rpmsign rewrites a package in place, and these files are served while it runs (a worker
        downloads the uploaded SRPM, a user the RPMs): a reader could get half of each. So copies
        are signed and renamed over the originals; a reader sees the old file or the new one, whole.
        A package deleted meanwhile is skipped.
        """
        self._ensure_agent()
        for start in range(0, len(paths), SIGN_BATCH):
            copies = _signing_copies(paths[start:start + SIGN_BATCH])
            try:
                if copies:
                    self._rpmsign(fingerprint, copies)
                    for path, copy in copies.items():
                        if path.exists():  # not deleted while it was signed
                            with contextlib.suppress(FileNotFoundError):
                                os.replace(copy, path)
            finally:
                for copy in copies.values():
                    copy.unlink(missing_ok=True)
                    _sig_file(copy).unlink(missing_ok=True)

    def _rpmsign(self, fingerprint: str, copies: dict[Path, Path]) -> None:
        """One rpmsign run over the copies; never prompts (a non-interactive signer)."""
        proc = subprocess.run(
            ["rpmsign", "--addsign", "--define", f"__gpg {_gpg_binary()}",
             "--define", f"_gpg_path {self.home}", "--define", f"_gpg_name {fingerprint}",
             "--define", "_gpg_sign_cmd_extra_args --batch --no-tty --pinentry-mode loopback",
             *map(str, copies.values())],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, env=self._env(),
        )
        if proc.returncode != 0:
            names = [p.name for p in copies]
            raise SigningError(f"rpmsign failed on {', '.join(names[:3])}"
                               f"{' ...' if len(names) > 3 else ''}: {_tail(proc)}")

    def sign_detached(self, fingerprint: str, path: Path, out: Path) -> None:
        """An ASCII-armored detached signature of ``path`` (what ``repo_gpgcheck`` checks)."""
        proc = self._gpg("--yes", "--local-user", fingerprint, "--armor", "--detach-sign",
                         "--output", str(out), str(path), check=False)
        if proc.returncode != 0:
            raise SigningError(f"signing {path.name} failed: {_tail(proc)}")

    def close(self) -> None:
        """Stop the gpg-agent of this home (ours, or one gpg started on its own)."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run([gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"],
                           capture_output=True, timeout=30, env=self._env())
        if self._agent is not None:
            try:
                self._agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._agent.kill()
                self._agent.wait()
            self._agent = None
        self._agent_checked = False

    def _ensure_agent(self) -> None:
        """Start this home's agent as our child unless one already runs (e.g. another process's)."""
        if self._agent_checked:
            return
        with self._agent_lock:
            if self._agent_checked:
                return
            self._agent_checked = True
            agent, connect = shutil.which("gpg-agent"), shutil.which("gpg-connect-agent")
            if agent is None or connect is None or self._agent_running(connect):
                return  # gpg will start (or use) one by itself
            self._agent = subprocess.Popen([agent, "--homedir", str(self.home), "--daemon", "--no-detach"],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, env=self._env())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._agent.poll() is None and not self._agent_running(connect):
                time.sleep(0.02)

    def _agent_running(self, connect: str) -> bool:
        probe = subprocess.run([connect, "--homedir", str(self.home), "--no-autostart", "GETINFO pid", "/bye"],
                               capture_output=True, text=True, timeout=30, env=self._env())
        return probe.stdout.startswith("D ")

    # -- plumbing ------------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("GPG_AGENT_INFO", "GPG_TTY")}
        env["GNUPGHOME"] = str(self.home)
        return env

    def _gpg(self, *args: str, check: bool = True, text: bool = True) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        self._ensure_agent()
        proc = subprocess.run(
            [_gpg_binary(), "--homedir", str(self.home), "--batch", "--no-tty", "--pinentry-mode", "loopback",
             "--passphrase", "", *args],
            capture_output=True, text=text, stdin=subprocess.DEVNULL, timeout=300, env=self._env(),
        )
        if check and proc.returncode != 0:
            raise SigningError(f"gpg {args[0]} failed: {_tail(proc)}")
        return proc


def _tail(proc: subprocess.CompletedProcess) -> str:  # type: ignore[type-arg]
    err = proc.stderr if isinstance(proc.stderr, str) else (proc.stderr or b"").decode(errors="replace")
    out = proc.stdout if isinstance(proc.stdout, str) else (proc.stdout or b"").decode(errors="replace")
    lines = []
    for ln in (err + "\n" + out).splitlines():
        ln = ln.strip()
        if ln and not ln.endswith(":") and "GPG_TTY" not in ln and "Inappropriate ioctl" not in ln and ln not in lines:
            lines.append(ln)  # bare "file.rpm:" lines say nothing; repeated errors once
    return " / ".join(lines)[:600] or f"exit status {proc.returncode}"


def rpm_signer_key_id(path: Path) -> str | None:
    """The key id (16 hex digits) of the OpenPGP signature in an RPM's signature header, or None.

    Reads only the lead and the signature header, so the publisher can tell a package it already
    signed (after a crash, a regenerate, a second chroot of the same build) without running gpg.
    """
    with open(path, "rb") as fh:
        head = fh.read(96 + 16)
        if len(head) < 112 or head[:4] != b"\xed\xab\xee\xdb" or head[96:99] != b"\x8e\xad\xe8":
            return None
        count = int.from_bytes(head[104:108], "big")
        size = int.from_bytes(head[108:112], "big")
        if count > 10000 or size > 64 << 20:
            return None
        index = fh.read(16 * count)
        store = fh.read(size)
    for i in range(count):
        entry = index[16 * i:16 * i + 16]
        tag = int.from_bytes(entry[0:4], "big")
        if tag not in _SIG_TAGS:
            continue
        offset, length = int.from_bytes(entry[8:12], "big"), int.from_bytes(entry[12:16], "big")
        key_id = _pgp_issuer(store[offset:offset + length])
        if key_id:
            return key_id
    return None


def _pgp_issuer(packet: bytes) -> str | None:
    """The issuer key id of a v4 OpenPGP signature packet (subpacket 16, or 33's fingerprint)."""
    if not packet:
        return None
    tag_byte = packet[0]
    pos = 1
    if tag_byte & 0x40:  # new-format length
        first = packet[pos]
        pos += 1 if first < 192 else 2 if first < 224 else 5
    else:
        pos += {0: 1, 1: 2, 2: 4}.get(tag_byte & 0x03, 0)
    body = packet[pos:]
    if len(body) < 6 or body[0] != 4:
        return None
    hashed_len = int.from_bytes(body[4:6], "big")
    hashed = body[6:6 + hashed_len]
    rest = body[6 + hashed_len:]
    unhashed = rest[2:2 + int.from_bytes(rest[0:2], "big")] if len(rest) >= 2 else b""
    for area in (hashed, unhashed):
        for kind, data in _subpackets(area):
            if kind == 16 and len(data) == 8:
                return data.hex()
            if kind == 33 and len(data) >= 9:
                return data[-8:].hex()
    return None


def _subpackets(area: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(area):
        first = area[pos]
        if first < 192:
            length, pos = first, pos + 1
        elif first < 255:
            length, pos = ((first - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            length, pos = int.from_bytes(area[pos + 1:pos + 5], "big"), pos + 5
        if length == 0 or pos + length > len(area):
            return
        yield area[pos] & 0x7F, area[pos + 1:pos + length]
        pos += length


def write_pubkey(project_dir: Path, armored: bytes) -> None:
    """``pubkey.gpg`` at the project's results root, where the .repo file's ``gpgkey=`` points."""
    target = project_dir / "pubkey.gpg"
    try:
        if target.read_bytes() == armored:
            return
    except FileNotFoundError:
        pass
    tmp = project_dir / f".pubkey.gpg.{os.getpid()}.{threading.get_ident()}.tmp"  # publishers may race
    tmp.write_bytes(armored)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
