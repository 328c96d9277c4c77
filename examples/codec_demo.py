"""A QMFv1 conversation with the codec alone: what a console and an agent would put on the wire.

Run `./run demo` (or `python examples/codec_demo.py`). It builds the startup sequence (B, b, P,
p, z, Q, q, S, s), a method call (M, m) and an event, prints each body's bytes, decodes them
back and checks that nothing changed.
"""

from __future__ import annotations

import uuid

import codec as c

KEY = c.ClassKey("org.example", "widget", bytes.fromhex("00112233445566778899aabbccddeeff"))
WIDGET = c.ObjectClass(
    KEY,
    properties=(c.SchemaProperty(name="name", type=c.Typecode.SSTR, access=c.Access.RC, index=True),),
    statistics=(c.SchemaStatistic(name="hits", type=c.Typecode.U64),),
    methods=(c.SchemaMethod(name="echo", args=(
        c.SchemaArgument(name="text", type=c.Typecode.LSTR, dir="I"),
        c.SchemaArgument(name="times", type=c.Typecode.U32, dir="I"),
        c.SchemaArgument(name="reply", type=c.Typecode.LSTR, dir="O"),
    )),),
)
ALARM = c.EventClass(c.ClassKey("org.example", "alarm", b"\xe0" * 16),
                     arguments=(c.SchemaArgument(name="who", type=c.Typecode.SSTR, dir=None),))
OID = c.ObjectId.make(sequence=3, broker_bank=1, agent_bank=10, object=42)

CONVERSATION = [
    ("console asks who the broker is", [c.BrokerRequest(seq=0)]),
    ("broker answers", [c.BrokerResponse(seq=0, broker_id=uuid.UUID(int=0x0123456789ABCDEF))]),
    ("console asks for packages", [c.PackageQuery(seq=1)]),
    ("broker lists them", [c.PackageIndication(seq=1, package="org.example"), c.CommandComplete(seq=1)]),
    ("console asks for classes", [c.ClassQuery(seq=2, package="org.example")]),
    ("broker lists them", [c.ClassIndication(seq=2, kind=c.ClassKind.OBJECT, key=KEY), c.CommandComplete(seq=2)]),
    ("console asks for a schema", [c.SchemaRequest(seq=3, key=KEY)]),
    ("broker sends it", [c.SchemaResponse(seq=3, schema=WIDGET)]),
    ("console calls widget.echo", [c.MethodRequest(seq=4, object_id=OID, schema=WIDGET, method="echo",
                                                   args={"text": "hello", "times": 2})]),
    ("agent answers", [c.MethodResponse(seq=4, method=WIDGET.method("echo"), out_args={"reply": "hellohello"})]),
    ("agent raises an event", [c.EventIndication(seq=0, schema=ALARM, timestamp=1_700_000_000_000_000_000,
                                                 severity=4, arguments={"who": "widget 42"})]),
]


def main() -> int:
    schemas = {WIDGET.key: WIDGET, ALARM.key: ALARM}
    methods = {4: WIDGET.method("echo")}
    for what, messages in CONVERSATION:
        body = c.encode_body(messages)
        back = c.decode_body(body, schemas=schemas.get, methods=methods.get)
        assert back == messages, (what, back)
        print(f"{what:32} {len(body):4} bytes  {body[:24].hex()}{'…' if len(body) > 24 else ''}")
        for m in back:
            print(f"{'':32} -> {type(m).__name__}(seq={m.seq})")
    try:
        c.decode_body(b"AM2z\x00\x00\x00\x01\x00\x00")
    except c.DecodeError as exc:
        print(f"a truncated 'z' is refused: {type(exc).__name__}: {exc}")
    print("every body decoded back to the messages it was built from")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
