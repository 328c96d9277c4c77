"""Where a running call's progress and output go: the job it runs in, found through a context
variable, so module code needs no handle on the dispatcher (func modules are plain classes)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

Sink = Callable[[str, Any], None]  # (kind, data): ("progress", (current, total)) or ("output", text)

current_sink: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("func_progress_sink", default=None)


def report_progress(current: int, total: int) -> None:
    sink = current_sink.get()
    if sink is not None:
        sink("progress", (int(current), int(total)))


def report_output(text: str) -> None:
    sink = current_sink.get()
    if sink is not None:
        sink("output", str(text))
