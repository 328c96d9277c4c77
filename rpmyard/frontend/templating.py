"""Jinja2 templates, with the filters the pages share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.templating import Jinja2Templates

from rpmyard.builds import states

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _time(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


templates.env.filters["time"] = _time
templates.env.filters["size"] = _size
templates.env.globals["state_name"] = states.NAMES.get
templates.env.globals["state_description"] = states.DESCRIPTIONS.get
