"""The qmf package's pure parts: schema hashes, the registry, object selection, routing keys,
and the console's correlation of replies (fed decoded bytes, no broker needed)."""

from __future__ import annotations

import asyncio

import pytest
from pika.spec import BasicProperties

from codec import CommandComplete, EncodeError, MethodResponse, ObjectId, Typecode, encode
from qmf import protocol
from qmf.console import Console
from qmf.errors import MethodError
from qmf.objects import ManagedObject, matching
from qmf.schemas import Property, Registry, Statistic, arg, method, object_class
from qmf.transport import Delivery, _safe_url


def _thing(extra_method: bool = False):
    methods = [method("go", arg("n", Typecode.U32), arg("out", Typecode.LSTR, dir="O"))]
    if extra_method:
        methods.append(method("stop"))
    return object_class("pkg", "thing", properties=[Property(name="name", type=Typecode.SSTR, index=True)],
                        statistics=[Statistic(name="count", type=Typecode.U64)], methods=methods)


def test_class_hash_is_stable_and_follows_the_description() -> None:
    assert _thing().key == _thing().key
    assert _thing().key.hash != _thing(extra_method=True).key.hash
    assert len(_thing().key.hash) == 16


def test_registry_lists_by_package_and_name() -> None:
    r = Registry()
    a = _thing()
    assert r.add(a) and not r.add(a)
    assert r.packages() == ["pkg"] and r.classes("pkg") == [a]
    assert r(a.key) is a and r.by_name(None, "thing") == [a] and r.by_name("other", "thing") == []


def _obj(number: int, name: str) -> ManagedObject:
    o = ManagedObject(_thing(), number, {"name": name}, None, lambda *_: None)
    o.object_id = ObjectId.make(broker_bank=1, agent_bank=10, object=number)
    return o


def test_get_query_selection() -> None:
    objs = [_obj(1, "a"), _obj(2, "b")]
    assert matching(objs, {"_class": "thing"}) == objs
    assert matching(objs, {"_class": b"thing", "_package": "nope"}) == []
    assert matching(objs, {"_objectid": "0-0-1-10-2"}) == [objs[1]]
    assert matching(objs, {"_objectid": "not an id"}) == []
    assert matching(objs, {}) is None


def test_set_refuses_what_the_schema_cannot_carry_and_changes_nothing() -> None:
    o = _obj(1, "a")
    with pytest.raises(EncodeError):
        o.set(count=-1)
    with pytest.raises(KeyError):
        o.set(nosuch=1)
    assert o.statistics == {"count": 0}
    o.set(count=5)
    assert o.statistics == {"count": 5}


def test_routing_keys() -> None:
    assert protocol.agent_key(1, 10) == "agent.1.10"
    assert protocol.banks_from_key("console.heartbeat.1.12") == (1, 12)
    assert protocol.banks_from_key("console.obj.1.12.pkg.cls") == (1, 12)
    assert protocol.banks_from_key("schema.class") is None
    assert _safe_url("amqp://guest:secret@host:5672/%2F") == "amqp://guest@host:5672/%2F"


def _delivery(body: bytes, headers: dict | None = None) -> Delivery:
    return Delivery(body, BasicProperties(headers=headers), "qmf.console.x", 1, False, 1)


def test_console_drops_late_and_unknown_replies_and_never_misdelivers() -> None:
    async def go() -> None:
        c = Console(name="unit")
        schema = _thing()
        m = schema.method("go")
        loop = asyncio.get_running_loop()
        from qmf.console import _Pending
        mine = _Pending(loop.create_future(), "m", m, "a1")
        c._pending[7] = mine
        # a reply for a sequence nobody waits for: dropped, counted
        c._on_delivery(_delivery(encode(MethodResponse(seq=8, method=m, out_args={"out": "not yours"}))))
        assert c.counters["dropped"] == 1 and not mine.fut.done()
        # a 'z' for an unknown sequence: dropped too
        c._on_delivery(_delivery(encode(CommandComplete(seq=99))))
        assert c.counters["dropped"] == 2
        # the right one completes the right caller
        c._on_delivery(_delivery(encode(MethodResponse(seq=7, method=m, out_args={"out": "yours"}))))
        [reply] = mine.fut.result()
        assert reply.out_args == {"out": "yours"}
        # the same reply again (late duplicate): dropped
        c._on_delivery(_delivery(encode(MethodResponse(seq=7, method=m, out_args={"out": "again"}))))
        assert c.counters["dropped"] == 3
        # a body that does not decode is counted, not raised
        c._on_delivery(_delivery(b"AM2m\x00\x00\x00\x07\x00"))
        assert c.counters["undecodable"] == 1
        del c._pending[7]
        err = MethodError(0x10001, "no")
        assert err.status == 0x10001 and "no" in str(err)
    asyncio.run(go())
