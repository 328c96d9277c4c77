"""func's module API (func/minion/modules/func_module.py), in Python 3.

A module is a class deriving from `FuncModule` with public methods; the loader names it after its
file. Every module also answers the base methods (`list_methods`, `module_version`,
`module_api_version`, `module_description`, `get_method_args`, `grep`). Two additions, which old
modules simply do not use: `self.progress(current, total)` and `self.output(text)` report on a
running call, so an overlord can follow it live (`jobs.get_progress`, `jobs.tail_output`).
"""

from __future__ import annotations

import configparser
import functools
import inspect
import logging
import os
import threading
import types
from collections.abc import Callable
from typing import Any, TypeVar

from .. import filestamp
from . import progress as _progress

BASE_METHODS = ("module_version", "module_api_version", "module_description", "list_methods", "grep",
                "get_method_args")
_NOT_RPC = frozenset({"register_rpc", "register_method_args", "progress", "output"})
MODULE_CONF_DIR = os.environ.get("FUNC_MODULE_CONF_DIR", "/etc/func/modules")
_F = TypeVar("_F", bound=Callable[..., Any])


def nonblocking(fn: _F) -> _F:
    """Marks a method that never waits (no I/O, no sleep, no lock held by another call): the AMQP
    interface runs it on its event loop instead of handing it to a worker thread, which saves two
    thread hand-offs per call. Unmarked methods, the default for func's modules, run in a worker."""
    fn._func_nonblocking = True  # type: ignore[attr-defined]
    return fn


def is_nonblocking(fn: Callable[..., Any]) -> bool:
    return getattr(fn, "_func_nonblocking", False) is True


class FuncModule:
    version = "0.0.0"
    api_version = "0.0.0"
    description = "No Description provided"
    _single = False  # True: one instance serves every call (func builds a fresh one per call otherwise)

    class Config:
        """Per-module options, read from `<MODULE_CONF_DIR>/<ClassName>.conf` `[main]`; declare
        them as class attributes with their defaults (the type of the default converts the text)."""

    def __init__(self) -> None:
        self.logger = _logger(type(self))
        self.options = self._load_options()

    # -- the base methods every module answers ---------------------------------------------------
    @nonblocking
    def module_version(self) -> str:
        return self.version

    @nonblocking
    def module_api_version(self) -> str:
        return self.api_version

    @nonblocking
    def module_description(self) -> str:
        return self.description

    @nonblocking
    def list_methods(self) -> list[str]:
        return sorted(self._public()) + list(BASE_METHODS)

    @nonblocking
    def grep(self, word: str) -> list[str]:
        """The module's method names that contain `word` (modules override it to search their data)."""
        w = str(word).lower()
        return [m for m in sorted(self._public()) if w in m.lower()]

    @nonblocking
    def get_method_args(self) -> dict[str, Any]:
        """`register_method_args()` checked against the real signatures, each argument given its
        `order` (its position), as func's funcweb expected it."""
        spec = self.register_method_args() or {}
        out: dict[str, Any] = {}
        for name, entry in spec.items():
            fn = getattr(self, name, None)
            if not callable(fn):
                raise NonExistingMethodRegistered(f"{type(self).__name__}.{name} is registered but does not exist")
            params = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            args = dict(entry.get("args", {}))
            missing = [p.name for p in params if p.name not in args]
            if missing:
                raise IncompatibleTypesException(f"{type(self).__name__}.{name}: arguments {missing} "
                                                 "are not registered")
            order = {p.name: i for i, p in enumerate(params)}
            out[name] = {**entry, "args": {a: {**v, "order": order.get(a, len(order))} for a, v in args.items()}}
        return out

    def register_method_args(self) -> dict[str, Any]:
        """Overridden by modules that describe their methods' arguments (func's format)."""
        return {}

    # -- options (func's helpers; public there, so callable remotely on every module, as here) ----
    def config_items(self) -> list[tuple[str, Any]]:
        """The module's options as (name, value) pairs, sorted by name."""
        return sorted(vars(self.options).items())

    def save_config(self) -> bool:
        """Writes the options back to `<MODULE_CONF_DIR>/<Class>.conf` `[main]` (whole, then renamed
        into place, so a reader never sees half a file); the next call reads them from there."""
        path = os.path.join(MODULE_CONF_DIR, f"{type(self).__name__}.conf")
        cp = configparser.ConfigParser(interpolation=None)
        cp["main"] = {k: _text(v) for k, v in self.config_items()}
        os.makedirs(MODULE_CONF_DIR, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w") as fh:
            cp.write(fh)
        os.replace(tmp, path)
        return True

    def _set_option(self, name: str, value: Any) -> None:
        """Sets one declared option, converted to its default's type (ValueError for an unknown
        name or a value of the wrong kind: nothing is changed then)."""
        defaults = _config_defaults(type(self))
        if name not in defaults:
            raise ValueError(f"no option {name!r}; options are {sorted(defaults)}")
        try:
            converted = _convert(_text(value), defaults[name])
        except ValueError:
            raise ValueError(f"option {name!r} is a {type(defaults[name]).__name__}; {value!r} is not one") from None
        setattr(self.options, name, converted)

    # -- progress of a running call --------------------------------------------------------------
    def progress(self, current: int, total: int) -> None:
        """Reports how far the running call is (`jobs.get_progress` gives back [current, total])."""
        _progress.report_progress(current, total)

    def output(self, text: str) -> None:
        """Adds output to the running call's log (`jobs.tail_output`, and live to a following overlord)."""
        _progress.report_output(text)

    # -- registration ----------------------------------------------------------------------------
    def register_rpc(self, handlers: dict[str, Callable[..., Any]], module_name: str) -> None:
        for base in BASE_METHODS:
            handlers[f"{module_name}.{base}"] = getattr(self, base)
        for name, fn in self._public().items():
            handlers[f"{module_name}.{name}"] = fn

    def _public(self) -> dict[str, Callable[..., Any]]:
        out = {}
        for name in dir(self):
            if name.startswith("_") or name in _NOT_RPC or name in BASE_METHODS:
                continue
            attr = getattr(self, name, None)
            if inspect.ismethod(attr):
                out[name] = attr
        return out

    def _load_options(self) -> Any:
        """The class's options: its `Config` defaults overlaid with its conf file, parsed again only
        when the file changes (func reads it per instance, and an instance is built per call)."""
        defaults = _config_defaults(type(self))
        if not defaults:
            return types.SimpleNamespace()
        path = os.path.join(MODULE_CONF_DIR, f"{type(self).__name__}.conf")
        current = filestamp.stamp(path)
        cached = _OPTIONS.get(type(self))
        if cached is None or not filestamp.unchanged(cached[0], current):
            cached = (current, self._read_options(path, defaults) if current else dict(defaults))
            _OPTIONS[type(self)] = cached
        return types.SimpleNamespace(**cached[1])

    def _read_options(self, path: str, defaults: dict[str, Any]) -> dict[str, Any]:
        values = dict(defaults)
        cp = configparser.ConfigParser()
        try:
            cp.read(path)
            for k, default in defaults.items():
                if cp.has_option("main", k):
                    values[k] = _convert(cp.get("main", k), default)
        except (configparser.Error, ValueError) as exc:
            self.logger.warning("ignoring %s: %s", path, exc)
            return dict(defaults)
        return values


_OPTIONS: dict[type, tuple[filestamp.Stamp | None, dict[str, Any]]] = {}  # class: (file stamp, values)


def _logger(cls: type) -> logging.Logger:
    """func's `func.modules.<Class>` logger; `logging.getLogger` takes a lock, and a module is made per call."""
    logger = _LOGGERS.get(cls)
    if logger is None:
        logger = _LOGGERS[cls] = logging.getLogger(f"func.modules.{cls.__name__}")
    return logger


_LOGGERS: dict[type, logging.Logger] = {}


@functools.cache
def _config_defaults(cls: type) -> dict[str, Any]:
    """A module class's `Config` options and their defaults (read once per class)."""
    return {k: v for k, v in vars(cls.Config).items() if not k.startswith("_")}


def _text(value: Any) -> str:
    """An option's value as its conf file holds it (what `_convert` reads back)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(x) for x in value)
    return str(value)


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        word = raw.strip().lower()
        if word not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"not a boolean: {raw!r}")
        return word in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [x.strip() for x in raw.replace(";", ",").split(",") if x.strip()]
    return raw


class NonExistingMethodRegistered(Exception):
    pass


class IncompatibleTypesException(Exception):
    pass
