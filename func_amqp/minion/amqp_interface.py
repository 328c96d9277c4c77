"""The minion's AMQP interface: its modules as QMF classes, served by a qmf agent.

Every call runs in a worker thread (func modules block: they run commands, read files), so one
slow method never holds up another; only methods that never wait (`Dispatcher.nonblocking`: the
built-ins, the base methods, those marked `@func_module.nonblocking`) run on the event loop itself.
Calls run as func ran them, through the dispatcher; what the QMF side adds is the mapping
(`func_amqp.qmfmap`), the caller check (`auth`) before anything runs, and 'job' events carrying a
call's progress, output and result while it runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from codec import ObjectClass, Typecode
from qmf.agent import Agent, CallContext
from qmf.errors import MethodError
from qmf.schemas import Property, object_class
from qmf.transport import Connection

from .. import codes
from ..qmfmap import (
    H_ASYNC,
    H_FACTS,
    H_FOLLOW,
    H_REQUEST_ID,
    JOB_EVENT,
    PACKAGE,
    RESULT,
    STATUS_FORBIDDEN,
    STATUS_REMOTE_ERROR,
    SYSTEM_CLASS,
    decode_args,
    module_class,
    object_number,
    remote_error_text,
)
from ..values import box
from .auth import Authenticator
from .dispatcher import Dispatcher
from .jobs import Job

log = logging.getLogger("func.amqp")


class AmqpInterface:
    def __init__(self, dispatcher: Dispatcher, name: str, *, url: str, auth: Authenticator, tls: Any = None,
                 state_dir: str | None = None, heartbeat: float = 5.0, xmlrpc_address: str = "",
                 workers: int = 64, connection: Connection | None = None) -> None:
        self.dispatcher = dispatcher
        self.name = name
        self.auth = auth
        self.xmlrpc_address = xmlrpc_address
        # a module's object never changes: its periodic 'c' is for late consoles only, so seldom
        # `connection`: one shared with other minions of this process (the benchmarks host many)
        self.agent = Agent(name, url=url, tls=tls, state_dir=state_dir, label=f"funcd {name}",
                           heartbeat_interval=heartbeat, publish_interval=300.0, connection=connection)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="funcd-call")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._classes: dict[str, ObjectClass] = {}

    def build(self) -> None:
        """One class and one object per module, plus the `system` class."""
        by_module: dict[str, dict[str, Callable[..., Any]]] = {}
        for key, fn in self.dispatcher.handlers.items():
            module, _, method = key.rpartition(".")
            by_module.setdefault(module, {})[method] = fn
        for module, methods in sorted(by_module.items()):
            inst = self.dispatcher.modules.get(module)
            spec: dict[str, Any] = {}
            if inst is not None:
                try:
                    spec = inst.get_method_args()
                except Exception as exc:
                    log.warning("module %s: its argument spec is not usable, signatures only: %s", module, exc)
            if module == SYSTEM_CLASS:
                cls = self._system_class(methods)
                values = {"name": self.name, "xmlrpc": self.xmlrpc_address, "modules": len(self.dispatcher.modules)}
            else:
                cls = module_class(module, methods, spec, getattr(inst, "description", ""))
                values = {"name": module, "version": str(getattr(inst, "version", "")),
                          "api_version": str(getattr(inst, "api_version", "")),
                          "description": str(getattr(inst, "description", ""))}
            self._classes[module] = cls
            self.agent.register(cls, self._handle, context=True)
            self.agent.add_object(cls, values, persistent=True, number=object_number(module))
        self.agent.register(JOB_EVENT)

    def _system_class(self, methods: dict[str, Callable[..., Any]]) -> ObjectClass:
        base = module_class(SYSTEM_CLASS, methods)
        return object_class(PACKAGE, SYSTEM_CLASS, properties=[
            Property(name="name", type=Typecode.SSTR, index=True, desc="the minion's name"),
            Property(name="xmlrpc", type=Typecode.SSTR, desc="host:port of its XML-RPC interface, if on"),
            Property(name="modules", type=Typecode.U32)], methods=base.methods)

    async def start(self, timeout: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_default_executor(self.executor)
        self.build()
        await self.agent.start(timeout)

    async def stop(self) -> None:
        await self.agent.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- one call --------------------------------------------------------------------------------
    def _handle(self, obj: Any, method: str, args: dict[str, Any], ctx: CallContext) -> Any:
        """Serves a call on the loop when it never waits, else in a worker thread (an awaitable)."""
        full = f"{obj.schema.key.name}.{method}"
        if self.dispatcher.nonblocking(full) and H_FACTS not in ctx.headers:  # facts read files
            return self._serve(obj, method, full, args, ctx)
        assert self._loop is not None
        return self._loop.run_in_executor(self.executor, contextvars.copy_context().run, self._serve, obj, method,
                                          full, args, ctx)

    def _serve(self, obj: Any, method: str, full: str, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        schema_method = obj.schema.method(method)
        try:
            caller = self.auth.identify(ctx)
        except codes.AccessToMethodDenied as exc:
            raise MethodError(STATUS_FORBIDDEN, f"Forbidden: {exc}") from None
        try:
            params = decode_args(schema_method, args)
            if H_FACTS in ctx.headers:  # the dispatcher takes it as func's leading {'__fact__': query}
                params = [{"__fact__": json.loads(ctx.headers[H_FACTS])}, *params]
        except (TypeError, ValueError, RecursionError) as exc:
            raise MethodError(STATUS_REMOTE_ERROR, remote_error_text(codes.nice_exception(exc))) from None
        request_id = str(ctx.headers.get(H_REQUEST_ID) or ctx.message_id or "")
        try:
            if ctx.headers.get(H_ASYNC):
                job_id = self.dispatcher.call_async(caller, full, params, [self._publisher(request_id)])
                return {RESULT: box(job_id)}
            listeners = [self._publisher(request_id)] if ctx.headers.get(H_FOLLOW) else None
            value = self.dispatcher.call(caller, full, params, listeners)
        except codes.AccessToMethodDenied as exc:
            raise MethodError(STATUS_FORBIDDEN, f"Forbidden: {exc}") from None
        if codes.is_error(value):
            raise MethodError(STATUS_REMOTE_ERROR, remote_error_text(value))
        try:
            return {RESULT: box(value)}
        except TypeError as exc:
            raise MethodError(STATUS_REMOTE_ERROR, remote_error_text(codes.nice_exception(exc))) from None

    def _publisher(self, request_id: str) -> Callable[[Job, str, Any], None]:
        """A job listener that broadcasts each step as a 'job' event (from the worker thread)."""
        loop = self._loop
        assert loop is not None

        def publish(job: Job, kind: str, data: Any) -> None:
            try:
                boxed = box(list(data) if kind == "progress" else data)
            except TypeError:
                boxed = box(repr(data))
            loop.call_soon_threadsafe(self.agent.raise_event, JOB_EVENT, {
                "job_id": job.job_id, "request_id": request_id, "method": job.method, "kind": kind, "data": boxed})

        return publish
