"""Task kinds are plugins: each has a server side (where the database is) and a worker side.

The dispatcher only calls these hooks; everything a kind means (RPM builds, publishing, or an
admin's own job) lives in the plugin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from rpmyard.dispatch.models import Task


class ServerHooks(Protocol):
    """What the frontend side of a kind decides: where its logs go and what each state means."""

    def log_path(self, session: Session, task: Task, stream: str) -> Path | None:
        """Where a live log stream of this task is appended (None: refuse the stream)."""
        ...

    def on_state(self, session: Session, task: Task, files_dir: Path) -> None:
        """Called in the dispatcher's transaction after every state change of ``task``.

        ``files_dir`` holds what the worker uploaded for the current attempt.
        """
        ...


@dataclass
class Outcome:
    """A task's completion: ``code`` 0 is success; ``text`` is what a user reads."""

    code: int
    text: str = ""


@dataclass
class TaskContext:
    """What a runner gets on the worker: its input, a cancel flag and ways to report back."""

    worker: str
    task_id: int
    attempt: int
    payload: dict[str, Any]
    workdir: Path
    cancel: threading.Event
    log: Callable[[bytes, str], None]  # (data, stream)
    upload: Callable[[Path, str], None]  # (file, name)
    download: Callable[[str, Path, int], None]  # (url, dest, max_bytes)
    progress: Callable[[str], None]
    hide_paths: list[Path] = field(default_factory=list)


class Runner(Protocol):
    """The worker side of a kind."""

    kind: str
    version: str

    def run(self, ctx: TaskContext) -> Outcome: ...


_server_hooks: dict[str, ServerHooks] = {}


def register_server_hooks(kind: str, hooks: ServerHooks) -> None:
    _server_hooks[kind] = hooks


def server_hooks(kind: str) -> ServerHooks | None:
    return _server_hooks.get(kind)
