"""XML-RPC with 64-bit integers: `<i8>` for ints outside int32 (Python's reader already takes
`<i8>`; its writer refuses them), so func's `test.bigint()` and 64-bit values cross XML-RPC as
they cross AMQP. XML 1.0 cannot hold most control characters (an init script's colour codes,
say): each is written as U+FFFD, so the answer still parses (func's minion sent them as they
were and its overlord failed to read the reply). AMQP carries such strings exactly."""

from __future__ import annotations

import re
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

    def dump_unicode(self, value: str, write: Any) -> None:
        write("<value><string>")
        write(xmlrpc.client.escape(xml_safe(value)).replace("\r", "&#13;"))  # a bare CR would read as LF
        write("</string></value>\n")

    dispatch: ClassVar[dict[type, Any]] = dict(xmlrpc.client.Marshaller.dispatch)
    dispatch[int] = dump_long
    dispatch[str] = dump_unicode


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


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
