"""func's `getfile` module: read a file off the minion in chunks (the overlord's `local.getfile.get`).

The protocol is func's, so its overlord side keeps working: `chunkslen(filename)` is the number of
60000-byte chunks (-1 if the file cannot be read), `getchunk(chunknum, filename)` answers
[sha1 hex of the base64 text, base64 text of chunk `chunknum`] (chunk number first, as in func;
the other order is accepted too, since a path is never a number),
with [-1, ""] for an unreadable file and an empty chunk past the end. The overlord checks each
chunk's digest and stops at the empty one. `checksum(filename)` (SHA-1 of the whole content, as
`copyfile.checksum`) lets a caller check the reassembled file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from typing import Any

from func_amqp.minion import func_module

CHUNK_SIZE = 60000  # func's bufsize, on both sides


class GetFile(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "Get a file, chunk by chunk."

    def chunkslen(self, filename: str) -> int:
        """How many chunks `getchunk` will give for the file; -1 if it cannot be read."""
        path = _check_path(filename)
        try:
            size = _size(path)
        except OSError as exc:
            self.logger.warning("getfile.chunkslen %s: %s", path, exc)
            return -1
        return -(-size // CHUNK_SIZE)

    def getchunk(self, chunknum: Any, filename: Any) -> list[Any]:
        """[sha1 hex of the chunk's base64 text, base64 text]; [-1, ""] if the file cannot be read.
        getchunk(filename, chunknum) is understood too: a path is never a number."""
        if _is_number(filename) and not _is_number(chunknum):
            chunknum, filename = filename, chunknum
        number = _check_chunk(chunknum)
        path = _check_path(filename)
        try:
            _require_regular(path)
            with open(path, "rb") as fh:
                fh.seek(number * CHUNK_SIZE)
                data = fh.read(CHUNK_SIZE)
        except OSError as exc:
            self.logger.warning("getfile.getchunk %s: %s", path, exc)
            return [-1, ""]
        text = base64.b64encode(data).decode("ascii")
        return [hashlib.sha1(text.encode("ascii")).hexdigest(), text]

    def checksum(self, filename: str) -> str:
        """SHA-1 hex digest of the file's content."""
        path = _check_path(filename)
        _require_regular(path)
        digest = hashlib.sha1()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 16):
                digest.update(block)
        return digest.hexdigest()

    def register_method_args(self) -> dict[str, Any]:
        name = {"type": "string", "optional": False, "description": "Path of the file on the minion"}
        return {
            "chunkslen": {"args": {"filename": name}, "description": "Number of 60000-byte chunks in the file"},
            "getchunk": {"args": {"chunknum": {"type": "int", "optional": False, "min": 0,
                                               "description": "Chunk number, from 0"},
                                  "filename": name},
                         "description": "One chunk: [sha1 of the base64 text, base64 text]"},
            "checksum": {"args": {"filename": name}, "description": "SHA-1 of the file's content"},
        }


def _check_path(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"filename must be a string, not {type(value).__name__}")
    if not value or "\x00" in value:
        raise ValueError(f"not a usable path: {value!r}")
    if os.path.isdir(value):
        raise IsADirectoryError(f"{value} is a folder, not a file")
    return value


def _size(path: str) -> int:
    """The file's length. Files in /proc and /sys say 0 and are read through; devices and pipes,
    which may never end, are refused."""
    size = _require_regular(path)
    if size > 0:
        return size
    with open(path, "rb") as fh:
        return sum(len(block) for block in iter(lambda: fh.read(1 << 16), b""))


def _require_regular(path: str) -> int:
    """Checked before opening: opening a FIFO would wait for a writer."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path} is not a regular file")
    return st.st_size


def _is_number(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.strip().isdigit())


def _check_chunk(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"chunknum must be an int, not {type(value).__name__} (the order is getchunk(chunknum, "
                        f"filename), as in func)")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"chunknum must be an int, not {value!r} (the order is getchunk(chunknum, filename), "
                         f"as in func)") from None
    if number < 0:
        raise ValueError(f"chunknum must be >= 0, not {number}")
    return number
