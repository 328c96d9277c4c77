"""func's fact-module API (func/minion/facts/modules/fact_module.py), in Python 3.

A fact module is a class deriving from `BaseFactModule` whose public methods each return one fact
(no arguments). A fact is reachable as `<module>.<method>` and, when the method has a `tag`
attribute (func's convention: `os_name.tag = "os"`, or `@tag("os")` here), by that short name:
the one queries use (`filter(os__contains="Debian")`). Porting a func fact module means changing
its import line to `from func_amqp.facts import fact_module`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def tag(name: str) -> Callable[[_F], _F]:
    """Gives a fact method its short name (the same as setting `method.tag = name`)."""

    def mark(fn: _F) -> _F:
        fn.tag = name  # type: ignore[attr-defined]
        return fn

    return mark


class BaseFactModule:
    version = "0.0.0"
    description = "Base module of all facts"

    def __init__(self) -> None:
        self.logger = logging.getLogger(f"func.facts.{type(self).__name__}")

    def register_facts(self, facts: dict[str, Callable[[], Any]], module_name: str) -> list[str]:
        """Adds `<module>.<method>` and each tag to `facts`; returns the tags that replaced another
        module's fact of the same name (func logged those and let the later one win; so does this)."""
        replaced = []
        for name in dir(self):
            if name.startswith("_") or name == "register_facts":
                continue
            fn = getattr(self, name)
            if not inspect.ismethod(fn):
                continue
            facts[f"{module_name}.{name}"] = fn
            short = getattr(fn, "tag", None)
            if isinstance(short, str) and short:
                if short in facts:
                    replaced.append(short)
                    self.logger.warning("fact tag %r was registered before; %s.%s replaces it", short,
                                        module_name, name)
                facts[short] = fn
        return replaced
