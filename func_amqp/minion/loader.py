"""func's module loader (func/module_loader.py): files become modules named after their paths.

`x.py` is module `x`, `pkg/__init__.py` is `pkg`, `pkg/sub.py` is `pkg.sub`. With a non-empty
`module_list`, only names matching one of its globs load. Every class in a file that derives
from `FuncModule` is instantiated (the last one wins, as in func). A module that fails to import
or to build is logged and skipped: one broken file never stops a minion.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .func_module import FuncModule

log = logging.getLogger("func.loader")

STANDARD_MODULES = Path(__file__).resolve().parent / "modules"
_BASE_FILES = ("func_module", "fact_module")  # func's module folders carry their base classes' files


def module_name(root: Path, file: Path) -> str:
    rel = file.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(dirs: Iterable[Path]) -> dict[str, Path]:
    """Module name → file, over every folder (a later folder's module replaces an earlier one's)."""
    found: dict[str, Path] = {}
    for root in dirs:
        root = Path(root)
        if not root.is_dir():
            log.warning("module folder %s does not exist", root)
            continue
        for file in sorted(root.rglob("*.py")):
            if any(part.startswith((".", "__pycache__")) for part in file.relative_to(root).parts[:-1]):
                continue
            name = module_name(root, file)
            if name and name not in _BASE_FILES:
                found[name] = file
    return found


def load_modules(dirs: Iterable[Path] = (STANDARD_MODULES,), module_list: Iterable[str] = (),
                 base: type = FuncModule, namespace: str = "func_amqp_modules") -> dict[str, Any]:
    """Imports and instantiates the modules; returns {name: instance}. `namespace` keeps the
    imported files of one kind (func modules, fact modules) apart in `sys.modules`."""
    globs = [g for g in module_list if g]
    modules: dict[str, FuncModule] = {}
    for name, file in discover(dirs).items():
        if globs and not any(fnmatch.fnmatch(name, g) for g in globs):
            continue
        try:
            instance = _load(name, file, base, namespace)
        except Exception as exc:
            log.error("module %s (%s) failed to load, skipped: %s: %s", name, file, type(exc).__name__, exc)
            continue
        if instance is not None:
            modules[name] = instance
    return modules


def _load(name: str, file: Path, base: type, namespace: str) -> Any:
    qual = f"{namespace}.{name.replace('.', '__')}"
    spec = importlib.util.spec_from_file_location(
        qual, file, submodule_search_locations=[str(file.parent)] if file.name == "__init__.py" else None)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[qual] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(qual, None)
        raise
    instance = None
    for _n, cls in inspect.getmembers(mod, inspect.isclass):
        if issubclass(cls, base) and cls is not base and cls.__module__ == qual:
            instance = cls()
    return instance
