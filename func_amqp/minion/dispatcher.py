"""One dispatcher behind both interfaces: `module.method` + positional arguments → a value.

It follows func's `XmlRpcInterface`: handlers keyed `module.method`, the `system.*` built-ins, a
fresh module instance per call unless the class sets `_single`, the ACL check before anything
runs, and every exception turned into func's REMOTE_ERROR list (a value, not a fault). It adds
what func lacked: one audit line per call with its outcome and duration, and a job record that
carries the call's progress and output to whoever listens (the AMQP interface publishes them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import codes
from ..facts import evaluate as facts_evaluate
from ..facts import query as facts_query
from ..facts import registry as facts_registry
from . import progress
from .acls import Acls
from .audit import AuditLog
from .func_module import FuncModule, is_nonblocking
from .jobs import STORE, Job, JobStore, Listener


@dataclass(frozen=True)
class Caller:
    """Who is calling: the certificate's CN and `CN-hash` ACL key, where from, over what."""

    name: str
    key: str
    address: str = "-"
    transport: str = "-"


ANONYMOUS = Caller("anonymous", "anonymous")


class Dispatcher:
    def __init__(self, modules: dict[str, FuncModule], *, acls: Acls | None = None, store: JobStore = STORE,
                 audit: AuditLog | None = None) -> None:
        self.modules = modules
        self.acls = acls
        self.store = store
        self.audit = audit or AuditLog()
        self.handlers: dict[str, Callable[..., Any]] = {}
        for name in sorted(modules):
            modules[name].register_rpc(self.handlers, name)
        self.handlers.update({"system.list_methods": self.list_methods, "system.listMethods": self.list_methods,
                              "system.list_modules": self.list_modules, "system.inventory": self.inventory,
                              "system.grep": self.grep})

    # -- the system.* built-ins -------------------------------------------------------------------
    def list_modules(self) -> list[str]:
        return sorted(self.modules)

    def list_methods(self) -> list[str]:
        return sorted(self.handlers)

    def inventory(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key in sorted(self.handlers):
            mod, _, meth = key.rpartition(".")
            out.setdefault(mod, []).append(meth)
        return out

    def grep(self, word: str) -> list[str]:
        w = str(word).lower()
        return [k for k in sorted(self.handlers) if w in k.lower()]

    # -- calls ------------------------------------------------------------------------------------
    def resolve(self, method: str) -> Callable[..., Any]:
        """The handler, on a fresh instance unless the module is `_single`; func's exceptions otherwise."""
        fn = self.handlers.get(method)
        if fn is None:
            module = method.rpartition(".")[0]
            if module not in self.modules and module != "system":
                raise codes.ModuleNotFoundException(f"no module named {module!r} on this minion")
            raise codes.InvalidMethodException(f"module {module!r} has no method {method.rpartition('.')[2]!r}")
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, FuncModule) and not type(owner)._single and not fn.__name__.startswith("_"):
            fresh = type(owner)()
            return getattr(fresh, fn.__name__)
        return fn

    def nonblocking(self, method: str) -> bool:
        """True for a call that never waits: the `system.*` built-ins, the base methods, and module
        methods marked `@func_module.nonblocking`; an unknown method too (it only raises)."""
        fn = self.handlers.get(method)
        return fn is None or getattr(fn, "__self__", None) is self or is_nonblocking(fn)

    def authorise(self, caller: Caller, method: str) -> None:
        if self.acls is not None and not self.acls.allowed(caller.key, method):
            self._audit(caller, method, (), "denied", 0.0)
            raise codes.AccessToMethodDenied(f"{caller.key} may not call {method}")

    def call(self, caller: Caller, method: str, params: list[Any] | tuple[Any, ...],
             listeners: list[Listener] | None = None, job: Job | None = None) -> Any:
        """Runs one call; returns its value or the REMOTE_ERROR list. Raises only AccessToMethodDenied."""
        self.authorise(caller, method)
        params = _strip_logger(params)
        facts, params = split_facts(params)
        if job is None and listeners:
            job = self.store.new(method, listeners=listeners)
        started = time.monotonic()
        token = progress.current_sink.set((lambda kind, data: self.store.emit(job, kind, data)) if job else None)
        failed = False
        try:
            value, outcome = self._run(method, params, facts)
        except Exception as exc:
            value = codes.nice_exception(exc)
            outcome = f"error {codes.type_name(exc)}: {exc}"
            failed = True
        finally:
            progress.current_sink.reset(token)
        self._audit(caller, method, params, outcome, time.monotonic() - started)
        if job is not None:
            self.store.finish(job, value, remote_error=failed)
        return value

    def _run(self, method: str, params: list[Any], facts: Any) -> tuple[Any, str]:
        """func's facts rule: with a query, the method runs only where it matches, and the value
        is `[{'__fact__': [matched, {fact: value}]}, result]`, or that first element alone."""
        if facts is None:
            return self.resolve(method)(*params), "ok"
        matched, seen = facts_evaluate.evaluate(facts_query.deserialize(facts), facts_registry.installed().value)
        entry = {"__fact__": [matched, seen]}
        if not matched:
            return [entry], "skipped: the facts do not match"
        return [entry, self.resolve(method)(*params)], "ok"

    def call_async(self, caller: Caller, method: str, params: list[Any] | tuple[Any, ...],
                   listeners: list[Listener] | None = None) -> str:
        """func's async path: the job id at once, the call in a thread of its own."""
        self.authorise(caller, method)
        job = self.store.new(method, listeners=listeners)
        threading.Thread(target=self.call, args=(caller, method, params, None, job), daemon=True,
                         name=f"job {job.job_id}").start()
        return job.job_id

    def _audit(self, caller: Caller, method: str, params: Any, outcome: str, seconds: float) -> None:
        self.audit.write(f"{caller.address} {caller.name} {caller.key} {method} called with {_short(params)} -> "
                         f"{outcome[:300]} in {seconds * 1000:.1f} ms ({caller.transport})")


def _strip_logger(params: Any) -> list[Any]:
    """func's async wrapper appended `{'__logger__': True, 'job_id': ...}`; old overlords may too."""
    params = list(params)
    if params and isinstance(params[-1], dict) and params[-1].get("__logger__") is True:
        params.pop()
    return params


def split_facts(params: list[Any]) -> tuple[Any, list[Any]]:
    """func's facts query rides as a leading `{'__fact__': query}` argument: (query or None, the rest)."""
    if params and isinstance(params[0], dict) and "__fact__" in params[0]:
        return params[0]["__fact__"], params[1:]
    return None, params


def _short(params: Any) -> str:
    text = repr(tuple(params))
    return text if len(text) <= 500 else text[:497] + "..."
