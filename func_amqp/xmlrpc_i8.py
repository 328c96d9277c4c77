"""XML-RPC with 64-bit integers: `<i8>` for ints outside int32 (Python's reader already takes
`<i8>`; its writer refuses them), so func's `test.bigint()` and 64-bit values cross XML-RPC as
they cross AMQP. Everything else is the standard library's xmlrpc."""

from __future__ import annotations

import xmlrpc.client
from typing import Any, ClassVar

_I32 = 2**31
_I64 = 2**63


class I8Marshaller(xmlrpc.client.Marshaller):
    def dump_long(self, value: int, write: Any) -> None:
        if -_I32 <= value < _I32:
            write(f"<value><int>{value}</int></value>\n")
        elif -_I64 <= value < _I64:
            write(f"<value><i8>{value}</i8></value>\n")
        else:
            raise OverflowError("int exceeds 64 bits: XML-RPC cannot carry it")

    dispatch: ClassVar[dict[type, Any]] = dict(xmlrpc.client.Marshaller.dispatch)
    dispatch[int] = dump_long


def dumps(params: Any, methodname: str | None = None, methodresponse: bool = False, allow_none: bool = True) -> str:
    """xmlrpc.client.dumps with I8Marshaller."""
    if isinstance(params, xmlrpc.client.Fault):
        body = I8Marshaller("utf-8", allow_none).dumps(params)
        return f"<?xml version='1.0'?>\n<methodResponse>\n{body}</methodResponse>\n"
    body = I8Marshaller("utf-8", allow_none).dumps(params)
    if methodresponse:
        return f"<?xml version='1.0'?>\n<methodResponse>\n{body}</methodResponse>\n"
    return (f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{xmlrpc.client.escape(methodname or '')}"
            f"</methodName>\n{body}</methodCall>\n")
