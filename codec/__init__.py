"""A sans-IO codec for Qpid's QMF version 1 ("AM2") wire format.

Bytes in, frozen message objects out, and back: no sockets, no threads, no knowledge of what
carries the bytes or of func. The layout it implements is `shared/docs/qmf-v1.md`; the README's
"Wire format" section says where this codec departs from Qpid's own (buggy) code.

    from codec import encode, decode_body, BrokerRequest
    body = encode(BrokerRequest(seq=0))
    [msg] = decode_body(body)
"""

from .amqp import MapStyle
from .amqptypes import (
    BIT,
    Array,
    Bin8,
    Bin16,
    Bin32,
    Bin40,
    Bin64,
    Bin72,
    Bin128,
    Bin256,
    Bin512,
    Bin1024,
    Char,
    CharUtf32,
    Datetime,
    Dec32,
    Dec64,
    Double,
    Float32,
    Int8,
    Int16,
    Int32,
    Int64,
    Str8,
    Str8Latin,
    Str8Utf16,
    Str16,
    Str16Latin,
    Str16Utf16,
    Struct32,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    VBin8,
    VBin16,
    VBin32,
)
from .body import decode_body, encode, encode_body, iter_messages, readdress
from .errors import (
    BadMagic,
    CodecError,
    DecodeError,
    EncodeError,
    InvalidText,
    InvalidValue,
    LimitExceeded,
    Truncated,
    UnknownMethod,
    UnknownOpcode,
    UnknownSchema,
    UnknownTypecode,
)
from .messages import (
    MESSAGE_TYPES,
    AgentAttachRequest,
    AgentAttachResponse,
    BrokerRequest,
    BrokerResponse,
    ClassIndication,
    ClassQuery,
    CommandComplete,
    ConsoleAddedIndication,
    EventIndication,
    GetQuery,
    Heartbeat,
    Message,
    MethodRequest,
    MethodResponse,
    ObjectIndication,
    PackageIndication,
    PackageQuery,
    PropertyIndication,
    SchemaRequest,
    SchemaResponse,
    StatisticIndication,
)
from .objectid import ObjectId
from .schema import (
    Access,
    ClassKey,
    ClassKind,
    EventClass,
    ObjectClass,
    Schema,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaStatistic,
    Typecode,
)
from .values import QmfArray, Tagged, Unmanaged
from .wire import DEFAULT_LIMITS, Limits

__all__ = [
    "BIT", "DEFAULT_LIMITS", "MESSAGE_TYPES", "Access", "AgentAttachRequest", "AgentAttachResponse", "Array",
    "BadMagic", "Bin8", "Bin16", "Bin32", "Bin40", "Bin64", "Bin72", "Bin128", "Bin256", "Bin512", "Bin1024",
    "BrokerRequest", "BrokerResponse", "Char", "CharUtf32", "ClassIndication", "ClassKey", "ClassKind",
    "ClassQuery", "CodecError", "CommandComplete", "ConsoleAddedIndication", "Datetime", "Dec32", "Dec64",
    "DecodeError", "Double", "EncodeError", "EventClass", "EventIndication", "Float32", "GetQuery", "Heartbeat",
    "Int8", "Int16", "Int32", "Int64", "InvalidText", "InvalidValue", "LimitExceeded", "Limits", "MapStyle",
    "Message", "MethodRequest", "MethodResponse", "ObjectClass", "ObjectId", "ObjectIndication",
    "PackageIndication", "PackageQuery", "PropertyIndication", "QmfArray", "Schema", "SchemaArgument",
    "SchemaMethod", "SchemaProperty", "SchemaRequest", "SchemaResponse", "SchemaStatistic",
    "StatisticIndication", "Str8", "Str8Latin", "Str8Utf16", "Str16", "Str16Latin", "Str16Utf16", "Struct32",
    "Tagged", "Truncated", "Typecode", "UInt8", "UInt16", "UInt32", "UInt64", "UnknownMethod", "UnknownOpcode",
    "UnknownSchema", "UnknownTypecode", "Unmanaged", "VBin8", "VBin16", "VBin32", "decode_body", "encode",
    "encode_body", "iter_messages", "readdress",
]
