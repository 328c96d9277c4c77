"""func's XML-RPC interface over mutual TLS (func/minion/server.py), on the shared dispatcher.

`POST /` with `methodName` = `module.method` (or `async.module.method`), positional arguments,
`None` allowed, port 51234 by default, so an old func overlord still works. The TLS handshake
runs in the connection's own thread; the caller is the client certificate (CN and `CN-hash`,
the ACL key). An ACL refusal is an XML-RPC fault, as func sent it; every other failure is a
REMOTE_ERROR value.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import xmlrpc.client
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from cryptography import x509

from .. import codes
from ..certs.names import acl_key, common_name
from ..xmlrpc_i8 import dumps
from .dispatcher import Caller, Dispatcher

log = logging.getLogger("func.xmlrpc")


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # func ignored the path
    protocol_version = "HTTP/1.1"

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> Any:
        server: XmlRpcServer = self.server  # type: ignore[assignment]
        der = self.request.getpeercert(binary_form=True) if isinstance(self.request, ssl.SSLSocket) else None
        if der is None:
            raise xmlrpc.client.Fault(1, "a client certificate is required")
        cert = x509.load_der_x509_certificate(der)
        caller = Caller(common_name(cert), acl_key(cert), self.client_address[0], "xmlrpc")
        async_call = method.startswith("async.")
        name = method[len("async."):] if async_call else method
        try:
            if async_call:
                return server.dispatcher.call_async(caller, name, params)
            return server.dispatcher.call(caller, name, params)
        except codes.AccessToMethodDenied:
            raise xmlrpc.client.Fault(1, "<class 'func.minion.codes.AccessToMethodDenied'>:") from None

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)


class XmlRpcServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, context: ssl.SSLContext) -> None:
        self.dispatcher = dispatcher
        self.context = context
        super().__init__(address, requestHandler=_Handler, allow_none=True, logRequests=False,
                         use_builtin_types=True)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(30)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address[0], exc)
            self.shutdown_request(request)
            return
        super().process_request_thread(tls, client_address)

    def _marshaled_dispatch(self, data: bytes, dispatch_method: Any = None, path: Any = None) -> bytes:
        try:
            params, method = xmlrpc.client.loads(data, use_builtin_types=True)
            response = dispatch_method(method, params) if dispatch_method else self._dispatch(method, params)
            body = dumps((response,), methodresponse=True, allow_none=True)
        except xmlrpc.client.Fault as fault:
            body = dumps(fault, methodresponse=True)
        except Exception as exc:  # unreadable XML, unencodable result
            body = dumps(xmlrpc.client.Fault(1, f"{type(exc).__name__}: {exc}"), methodresponse=True)
        return body.encode("utf-8", "xmlcharrefreplace")

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"


def serve_in_thread(address: tuple[str, int], dispatcher: Dispatcher, context: ssl.SSLContext) -> XmlRpcServer:
    server = XmlRpcServer(address, dispatcher, context)
    threading.Thread(target=server.serve_forever, name="funcd-xmlrpc", daemon=True).start()
    return server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
