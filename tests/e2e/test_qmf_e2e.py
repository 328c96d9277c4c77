"""End to end over the real RabbitMQ: broker role, two agents and the console in separate processes
(the console is this test process). Every assertion is on what came back over the wire."""

from __future__ import annotations

import asyncio
import math
import uuid

import pytest
from qmf_env import QmfEnv

from codec import ClassKey, ObjectId, QmfArray
from qmf.console import AgentChange, Console, Event, Indication, Target
from qmf.errors import CommandError, MethodError, QmfError, Timeout
from qmf.sync import Console as SyncConsole


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _console(env: QmfEnv) -> Console:
    c = Console(env.url)
    await c.start()
    await c.wait_for_agents(["demo1", "demo2"], timeout=15)
    return c


def test_discovery_broker_id_agents_and_banks(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            assert isinstance(c.broker_id, uuid.UUID)
            agents = {a.name: a for a in await c.refresh_agents()}
            assert {"demo1", "demo2"} <= set(agents)
            banks = {agents["demo1"].agent_bank, agents["demo2"].agent_bank}
            assert len(banks) == 2 and min(banks) >= 10
            assert all(a.broker_bank == 1 and a.alive for a in agents.values())
        finally:
            await c.close()
    run(go())


def test_schema_browse_through_broker_role_and_agent(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            pkgs = await c.packages()
            assert "org.example.demo" in pkgs and "org.apache.qpid.broker" in pkgs
            classes = await c.classes("org.example.demo")
            names = {(kind, key.name) for kind, key in classes}
            assert names == {(1, "thing"), (2, "note")}
            key = next(k for _kind, k in classes if k.name == "thing")
            schema = await c.schema(key)
            assert [m.name for m in schema.methods][:3] == ["echo", "add", "every_type"]
            # the agent answers P, Q and S directly too, with the same classes
            assert await c.packages("demo1") == ["org.example.demo"]
            assert {k for _kind, k in await c.classes("org.example.demo", "demo2")} == {k for _kind, k in classes}
            c.schemas = type(c.schemas)()
            assert (await c.schema(key, "demo2")).key == key
        finally:
            await c.close()
    run(go())


def test_unknown_schema_is_a_clear_error(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            with pytest.raises(CommandError, match=r"Schema not available|Class key not found|Package not found"):
                await c.schema(ClassKey("org.example.demo", "nope", bytes(16)))
            with pytest.raises(CommandError, match="Package not found"):
                await c.schema(ClassKey("no.such", "nope", bytes(16)), "demo1")
        finally:
            await c.close()
    run(go())


def test_get_objects_properties_and_statistics(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            objs = await c.get_objects("demo1", class_name="thing")
            assert sorted(o.properties["name"] for o in objs) == ["alpha", "beta"]
            beta = next(o for o in objs if o.properties["name"] == "beta")
            alpha = next(o for o in objs if o.properties["name"] == "alpha")
            assert beta.properties["note"] == "has a note" and "note" not in alpha.properties
            assert set(beta.statistics) == {"calls", "load"}
            assert beta.object_id.agent_bank == c.agent("demo1").agent_bank
            one = await c.get_objects("demo1", object_id=beta.object_id)
            assert [o.object_id for o in one] == [beta.object_id]
            everywhere = await c.get_objects(class_name="thing", package="org.example.demo")
            assert sorted({o.agent for o in everywhere}) == ["demo1", "demo2"]
            assert await c.get_objects("demo1", class_name="nothing") == []
        finally:
            await c.close()
    run(go())


EVERY = {
    "u8": 255, "u16": 65535, "u32": 2**32 - 1, "u64": 2**64 - 1, "sstr": "short ✓", "lstr": "long " * 100,
    "abstime": 1_700_000_000_123_456_789, "deltatime": 5_000_000_000, "ref": ObjectId.make(agent_bank=10, object=7),
    "bool": True, "float": 1.5, "double": math.pi, "uuid": uuid.UUID(int=12345),
    "map": {"a": 1, "b": [1, "x"], "c": None},
    "s8": -128, "s16": -32768, "s32": -2**31, "s64": -2**63, "list": [1, "two", 3.0, None, {"k": b"v"}],
    "array": QmfArray([1, 2, 3], typecode=4),
}


def test_method_calls_of_every_argument_type(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            [alpha] = [o for o in await c.get_objects("demo1", class_name="thing") if o.properties["name"] == "alpha"]
            assert await c.call(alpha, "echo", "héllo") == {"reply": "héllo"}
            assert await c.call(alpha, "add", a=-5, b=2**62) == {"sum": 2**62 - 5}
            out = await c.call(alpha, "every_type", **EVERY)
            assert set(out) == set(EVERY)
            for k, v in EVERY.items():
                assert out[k] == v, k
            assert type(out["ref"]) is ObjectId and type(out["uuid"]) is uuid.UUID
            many = await asyncio.gather(*(c.call(alpha, "add", i, i) for i in range(200)))
            assert [m["sum"] for m in many] == [2 * i for i in range(200)]
        finally:
            await c.close()
    run(go())


def test_method_errors_have_status_and_text(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            [alpha] = [o for o in await c.get_objects("demo2", class_name="thing") if o.properties["name"] == "alpha"]
            with pytest.raises(MethodError) as e:
                await c.call(alpha, "fail", 0x10001, "user said no")
            assert (e.value.status, e.value.text) == (0x10001, "user said no")
            with pytest.raises(MethodError) as e:
                await c.call(alpha, "crash")
            assert e.value.status == 7 and "ZeroDivisionError" in e.value.text
            gone = type(alpha)(alpha.agent, alpha.schema, ObjectId.make(agent_bank=alpha.object_id.agent_bank,
                                                                         object=999))
            with pytest.raises(MethodError) as e:
                await c.call(gone, "echo", "x")
            assert e.value.status == 1 and "999" in e.value.text
            with pytest.raises(Timeout):
                await c.call(alpha, "sleep", 1.5, timeout=0.5)
            assert await c.call(alpha, "sleep", 0.2) == {"slept": 0.2}
            await asyncio.sleep(1.3)  # the late reply to the first sleep arrives: dropped, counted
            assert c.counters["dropped"] >= 1
            assert await c.call(alpha, "echo", "after") == {"reply": "after"}
        finally:
            await c.close()
    run(go())


def test_invoke_all_gives_one_entry_per_target(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            a1, a2 = [next(o for o in await c.get_objects(n, class_name="thing") if o.properties["name"] == "alpha")
                      for n in ("demo1", "demo2")]
            gone = ObjectId.make(agent_bank=a1.object_id.agent_bank, broker_bank=a1.object_id.broker_bank, object=999)
            targets = [Target("demo1", a1.object_id), Target("demo2", a2.object_id), Target("demo1", gone),
                       Target("nobody", a1.object_id)]
            seen: list[int] = []
            entries = await c.invoke_all(a1.schema, "sleep", {"seconds": 0.05}, targets, timeout=5,
                                         on_each=lambda i, _e: seen.append(i))
            assert entries[0] == entries[1] == {"slept": 0.05}
            assert isinstance(entries[2], MethodError) and entries[2].status == 1 and "999" in entries[2].text
            assert isinstance(entries[3], QmfError) and "nobody" in str(entries[3])
            assert sorted(seen) == [0, 1, 2, 3]
            # one deadline for all: a slow method times out on every target at once
            started = asyncio.get_running_loop().time()
            entries = await c.invoke_all(a1.schema, "sleep", {"seconds": 1.5}, targets[:2], timeout=0.5)
            assert all(isinstance(e, Timeout) for e in entries)
            assert asyncio.get_running_loop().time() - started < 1.4
            # a verifier's refusal drops that reply: its target waits, the other's is taken
            before = c.counters["unverified"]
            refuse_demo2 = [Target("demo1", a1.object_id, verifier=lambda *_: True),
                            Target("demo2", a2.object_id, verifier=lambda *_: False)]
            entries = await c.invoke_all(a1.schema, "echo", {"text": "x"}, refuse_demo2, timeout=1)
            assert entries[0] == {"reply": "x"} and isinstance(entries[1], Timeout)
            assert "1 reply that did not verify dropped" in str(entries[1])
            assert c.counters["unverified"] == before + 1
        finally:
            await c.close()
    run(go())


def test_events_and_indications_reach_followers(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            await c.follow()
            seen: list = []
            c.on_notice(seen.append)
            [beta] = [o for o in await c.get_objects("demo2", class_name="thing") if o.properties["name"] == "beta"]
            await c.call(beta, "set_load", 0.75)
            await c.call(beta, "set_note", "changed")
            await c.call(beta, "emit", "something happened", 3)
            for _ in range(100):
                if any(isinstance(n, Event) for n in seen) and any(
                        isinstance(n, Indication) and n.kind == "properties"
                        and n.object.properties.get("note") == "changed" for n in seen):
                    break
                await asyncio.sleep(0.05)
            [ev] = [n for n in seen if isinstance(n, Event)]
            assert (ev.agent, ev.schema.key.name, ev.severity) == ("demo2", "note", 3)
            assert ev.arguments == {"text": "something happened", "source": "demo2"}
            stats = [n for n in seen if isinstance(n, Indication) and n.kind == "statistics"
                     and n.object.object_id == beta.object_id]
            assert any(n.object.statistics["load"] == 0.75 for n in stats)
            by_bank = {a.agent_bank: a.name for a in c.list_agents()}
            for n in seen:
                if isinstance(n, Indication) and n.object.schema.key.name == "thing":
                    assert n.object.agent == by_bank[n.object.object_id.agent_bank]
        finally:
            await c.close()
    run(go())


def test_async_iterator_of_notices(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            await c.follow(objects=False)
            it = c.notices()
            [alpha] = [o for o in await c.get_objects("demo1", class_name="thing") if o.properties["name"] == "alpha"]
            first = asyncio.ensure_future(it.__anext__())
            await asyncio.sleep(0.1)
            await c.call(alpha, "emit", "via iterator", 6)
            notice = await asyncio.wait_for(first, 10)
            while not isinstance(notice, Event):
                notice = await asyncio.wait_for(it.__anext__(), 10)
            assert notice.arguments["text"] == "via iterator"
            await it.aclose()
        finally:
            await c.close()
    run(go())


def test_sync_console_for_scripts(qmf_env: QmfEnv) -> None:
    with SyncConsole(qmf_env.url) as c:
        c.wait_for_agents(["demo1"], timeout=15)
        assert "demo1" in {a.name for a in c.agents()}
        [alpha] = [o for o in c.get_objects("demo1", class_name="thing") if o.properties["name"] == "alpha"]
        assert c.call(alpha, "add", 2, 3) == {"sum": 5}
        assert c.counters["dropped"] == 0


def test_a_new_agent_is_noticed_and_its_classes_cached(qmf_env: QmfEnv) -> None:
    async def go():
        c = await _console(qmf_env)
        try:
            changes: list = []
            c.on_notice(lambda n: changes.append(n) if isinstance(n, AgentChange) else None)
            qmf_env.start_agent("demo3")
            await c.wait_for_agents(["demo3"], timeout=15)
            assert any(n.kind == "new" and n.agent.name == "demo3" for n in changes)
            objs = await c.get_objects("demo3", class_name="thing")
            assert len(objs) == 2
        finally:
            await c.close()
    run(go())
