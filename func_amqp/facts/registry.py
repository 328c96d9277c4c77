"""The minion's facts: fact modules loaded once (func's loader rules), looked up by name or tag.

One set per process, as func had: funcd installs the set its configuration names at start-up
(`install`), and the dispatcher (for queries) and the `fact` module read it (`installed`). A fact
module that fails to load is logged and skipped, like a func module; a fact method that raises
makes the query that read it fail on that minion (a REMOTE_ERROR naming it), nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..minion.loader import load_modules
from .fact_module import BaseFactModule

STANDARD_FACTS = Path(__file__).resolve().parent / "modules"


@dataclass
class Facts:
    modules: dict[str, BaseFactModule] = field(default_factory=dict)
    methods: dict[str, Callable[[], Any]] = field(default_factory=dict)  # "module.method" and tags
    replaced: list[str] = field(default_factory=list)  # tags defined by more than one module

    def value(self, name: str) -> Any:
        """The fact's current value; KeyError for a name the minion does not have (and only then)."""
        fn = self.methods[name]
        try:
            return fn()
        except KeyError as exc:
            raise RuntimeError(f"fact {name!r} failed: KeyError {exc}") from exc


def load(dirs: Iterable[Path | str] = ()) -> Facts:
    facts = Facts(load_modules([STANDARD_FACTS, *map(Path, dirs)], base=BaseFactModule,
                               namespace="func_amqp_facts"))
    for name in sorted(facts.modules):
        facts.replaced += facts.modules[name].register_facts(facts.methods, name)
    return facts


_lock = threading.Lock()
_installed: Facts | None = None


def install(facts: Facts) -> None:
    global _installed
    with _lock:
        _installed = facts


def installed() -> Facts:
    """The set funcd installed; the standard facts when nothing was (a dispatcher built in a test)."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = load()
        return _installed
