"""func's `copyfile` module: put a file on the minion, whole or in chunks.

`copyfile` writes the whole file atomically: the data goes to a temporary file in the target's
folder, is flushed to disk, gets its mode and owner, and only then replaces the target by a rename,
so a reader sees the old file or the new one, never half of one. uid/gid -1 (and for `open` a
mode of None) keep what the replaced file had, as writing in place did; a symlink's target is
written, not the link replaced. Paths must be absolute. As in func it answers 1 when it
wrote and 0 when the file already had that content, and keeps a dated copy of a file it replaces
(`<path>.YYYY-MM-DD@HH:MM~`; option `backup = false` to turn that off).

`open` + `append` are func's chunked protocol (its overlord's `local.copyfile.send` calls them
with 60000-byte chunks and nothing after the last): `open` atomically replaces the target with an
empty file of the right mode and owner, each `append` adds a chunk to it. The file therefore grows
in place while the chunks arrive; whoever needs all-or-nothing sends one `copyfile`.

Data: a str is base64 text (newlines allowed, as `base64.encodebytes` writes them); bytes, or an
`xmlrpc.client.Binary`, is the content itself (XML-RPC's base64 type arrives that way). Errors
(bad arguments, a target that cannot be written) raise, so the caller gets a REMOTE_ERROR that says
why, where func answered -1. `checksum` is func's: the SHA-1 hex digest of the file (md5 on request).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from typing import Any

from func_amqp.minion import func_module

_CHUNK = 1 << 16


class CopyFile(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.2"
    description = "Allows for smart copying of a file."

    class Config:
        backup = True  # keep a dated copy of a file that copyfile replaces, as func did

    def copyfile(self, filepath: str, filebuf: Any, mode: Any = "0644", uid: Any = -1, gid: Any = -1,
                 force: Any = None) -> int:
        """Writes `filebuf` to `filepath` atomically; 1 if written, 0 if it already held that content
        (with `force` it is written anyway). uid/gid -1 keep the replaced file's owner."""
        path = _check_path(filepath)
        data = _decode(filebuf)
        perms, owner, group = _mode(mode, "0644"), _id(uid, "uid"), _id(gid, "gid")
        if not force and os.path.isfile(path) and _digest_file(path, "sha1") == hashlib.sha1(data).hexdigest():
            return 0
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.options.backup and os.path.isfile(path):
            _backup(path)
        _write_atomic(path, data, perms, owner, group)
        return 1

    def open(self, filepath: str, mode: Any = None, uid: Any = -1, gid: Any = -1) -> str:
        """Starts a chunked copy: `filepath` becomes an empty file (mode/owner applied). Answers the path."""
        path = _check_path(filepath)
        perms = None if mode is None else _mode(mode, None)
        owner, group = _id(uid, "uid"), _id(gid, "gid")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_atomic(path, b"", perms, owner, group)
        return path

    def append(self, filepath: str, filebuf: Any) -> int:
        """Adds a chunk at the end of a file begun with `open`; 1 when written."""
        path = _check_path(filepath)
        data = _decode(filebuf)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{filepath} does not exist: call copyfile.open first")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return 1

    def checksum(self, filepath: str, algorithm: str = "sha1") -> str:
        """The hex digest of a file's content: SHA-1 as in func, or "md5"/"sha256"."""
        path = _check_path(filepath)
        if algorithm not in ("sha1", "md5", "sha256"):
            raise ValueError(f"algorithm must be sha1, md5 or sha256, not {algorithm!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file: {path}")
        return _digest_file(path, algorithm)

    def register_method_args(self) -> dict[str, Any]:
        path = {"type": "string", "optional": False, "description": "Absolute path on the minion"}
        buf = {"type": "string", "optional": False, "description": "The content, base64-encoded"}
        mode = {"type": "string", "optional": True, "default": "0644", "description": "Octal mode, e.g. 0644"}
        uid = {"type": "int", "optional": True, "default": -1, "description": "Owner uid, -1 to leave it"}
        gid = {"type": "int", "optional": True, "default": -1, "description": "Group gid, -1 to leave it"}
        return {
            "copyfile": {"args": {"filepath": path, "filebuf": buf, "mode": mode, "uid": uid, "gid": gid,
                                  "force": {"type": "boolean", "optional": True, "default": None,
                                            "description": "Write even if the content is unchanged"}},
                         "description": "Writes a whole file atomically: 1 written, 0 unchanged"},
            "open": {"args": {"filepath": path, "mode": {**mode, "default": None}, "uid": uid, "gid": gid},
                     "description": "Starts a chunked copy with an empty file"},
            "append": {"args": {"filepath": path, "filebuf": buf}, "description": "Adds a chunk to the file"},
            "checksum": {"args": {"filepath": path,
                                  "algorithm": {"type": "string", "optional": True, "default": "sha1",
                                                "options": ["sha1", "md5", "sha256"],
                                                "description": "Digest algorithm"}},
                         "description": "Hex digest of a file"},
        }


def _check_path(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"filepath must be a string, not {type(value).__name__}")
    if not value or "\x00" in value:
        raise ValueError(f"not a usable path: {value!r}")
    if not os.path.isabs(value):
        raise ValueError(f"filepath must be absolute (the minion's working folder is not yours): {value!r}")
    if value.endswith("/") or os.path.isdir(value):
        raise IsADirectoryError(f"{value} is a folder, not a file")
    return os.path.realpath(value)  # a symlink's target is what gets written, as writing through it did


def _decode(filebuf: Any) -> bytes:
    """base64 text -> bytes; bytes and xmlrpc Binary are the content already."""
    raw = getattr(filebuf, "data", filebuf)
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    if not isinstance(raw, str):
        raise TypeError(f"filebuf must be base64 text or bytes, not {type(filebuf).__name__}")
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"filebuf is not valid base64: {exc}") from None


def _mode(value: Any, default: str | None) -> int:
    """An octal string ("0644", "644", "0o644") or an int that is the mode itself (0o644 == 420, what
    func's overlord sends from stat)."""
    if value is None or value == "":
        if default is None:
            raise ValueError("mode is empty")
        value = default
    if isinstance(value, bool):
        raise TypeError("mode must be an octal string or an int, not a bool")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            number = int(text, 8)
        except ValueError:
            raise ValueError(f"mode must be octal, like 0644: {value!r}") from None
    else:
        raise TypeError(f"mode must be an octal string or an int, not {type(value).__name__}")
    if not 0 <= number <= 0o7777:
        raise ValueError(f"mode {value!r} is outside 0..07777")
    return number


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an int, not {value!r}") from None
    if number < -1:
        raise ValueError(f"{name} must be >= -1, not {number}")
    return number


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_atomic(path: str, data: bytes, mode: int | None, uid: int, gid: int) -> None:
    """Temporary file beside the target, content, fsync, mode and owner, rename over the target.
    A mode of None or an id of -1 keeps what the file being replaced had (as writing it in place
    did in func); a new file gets the umask's mode and the minion's ids."""
    mode, uid, gid = _attributes(path, mode, uid, gid)
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".func-tmp")
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd != -1:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _attributes(path: str, mode: int | None, uid: int, gid: int) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (_default_mode() if mode is None else mode), uid, gid
    return ((st.st_mode & 0o7777) if mode is None else mode, st.st_uid if uid == -1 else uid,
            st.st_gid if gid == -1 else gid)


def _default_mode() -> int:
    """0666 less the umask, read from /proc (os.umask would change it for every thread meanwhile)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backup(path: str) -> str:
    """A dated copy beside the file, named as func named it; a second one the same minute is numbered."""
    stamp = time.strftime("%Y-%m-%d@%H:%M~", time.localtime())
    dest, n = f"{path}.{stamp}", 1
    while os.path.exists(dest):
        dest, n = f"{path}.{stamp}{n}", n + 1
    tmp = f"{dest}.func-tmp"
    try:
        shutil.copy2(path, tmp)
        st = os.stat(path)
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def _digest_file(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
