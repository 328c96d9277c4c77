"""The overlord's XML-RPC transport: func's own wire (HTTPS + client certificate), kept for
minions that only speak it and as the baseline the AMQP transport is measured against.

Unlike func, it keeps one TLS context for all calls and calls minions concurrently (a thread
each, up to `workers`); like func, every failure (fault, refused connection, TLS error, timeout)
becomes a REMOTE_ERROR in that minion's slot.
"""

from __future__ import annotations

import http.client
import ssl
import xmlrpc.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import codes
from ..certs.tls import client_context
from ..xmlrpc_i8 import dumps


class _Transport(xmlrpc.client.SafeTransport):
    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(context=context, use_builtin_types=True)
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPSConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout
        return conn


class XmlRpcTransport:
    def __init__(self, key_file: str, cert_file: str, ca_file: str, *, port: int = 51234,
                 address_of: Callable[[str], str | None] | None = None, workers: int = 64) -> None:
        self.context = client_context(cert_file, key_file, ca_file)
        self.port = port
        self.address_of = address_of or (lambda name: None)
        self.workers = workers

    def close(self) -> None:
        pass

    def address(self, name: str) -> str:
        return self.address_of(name) or f"{name}:{self.port}"

    def call(self, names: list[str], module: str, method: str, params: tuple[Any, ...], *, timeout: float,
             async_: bool = False, on_event: Any = None,
             on_result: Callable[[str, Any], None] | None = None, facts: list[Any] | None = None
             ) -> dict[str, Any]:
        """Arguments go as given (func's XML-RPC had no schema: CLI arguments stay strings); a
        facts query as func sent it, a leading `{'__fact__': query}` argument."""
        rpc = f"{'async.' if async_ else ''}{module}.{method}"
        if facts is not None:
            params = ({"__fact__": facts}, *params)

        def one(name: str) -> Any:
            value = self._one(name, rpc, params, timeout)
            if on_result is not None:
                on_result(name, value)
            return value

        if len(names) == 1:
            return {names[0]: one(names[0])}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(names)) or 1) as pool:
            futures = {n: pool.submit(one, n) for n in names}
            return {n: f.result() for n, f in futures.items()}

    def _one(self, name: str, rpc: str, params: tuple[Any, ...], timeout: float) -> Any:
        try:
            body = dumps(tuple(params), rpc, allow_none=True).encode("utf-8")
            response = _Transport(self.context, timeout).request(self.address(name), "/", body)
            return response[0] if len(response) == 1 else response
        except TimeoutError:
            return ["REMOTE_ERROR", "func.minion.codes.TimeoutException", f"no answer from {name} within "
                    f"{timeout:g} s", ""]
        except Exception as exc:
            return codes.nice_exception(exc)
