"""The broker role: what qpidd's management agent did for QMFv1, as a process of its own.

It answers 'B' with a broker id that survives restarts, attaches agents ('A' → 'a') and gives
each a bank that it keeps (by agent name), asks agents for the schemas it lacks ('q' → 'S' → 's')
and caches them to answer P, Q and S for everyone, broadcasts 'p'/'q' on `schema.*` when a class
appears, and lists the agents as objects of class `org.apache.qpid.broker:agent` (name, banks,
label, last heartbeat, alive), which G gets and 'c' broadcasts follow. Everything it knows is in
one state file, written atomically after each change. Agents and consoles that already know each
other do not need it: it is a directory, not a relay.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from codec import (
    DEFAULT_LIMITS,
    AgentAttachResponse,
    BrokerResponse,
    ClassIndication,
    Heartbeat,
    Limits,
    ObjectId,
    PackageIndication,
    PropertyIndication,
    SchemaRequest,
    SchemaResponse,
    StatisticIndication,
    Typecode,
    decode_body,
    encode,
)

from . import protocol as p
from .endpoint import Endpoint, ignore
from .objects import ManagedObject, now_ns
from .schemas import Property, Statistic, object_class
from .state import read_state, write_state
from .transport import DEFAULT_URL, Connection, Delivery

log = logging.getLogger("qmf.broker_role")

AGENT_CLASS = object_class(
    "org.apache.qpid.broker", "agent",
    properties=[
        Property(name="name", type=Typecode.LSTR, index=True, desc="the agent's name (its qmf.agent header)"),
        Property(name="label", type=Typecode.LSTR),
        Property(name="systemId", type=Typecode.UUID),
        Property(name="brokerBank", type=Typecode.U32),
        Property(name="agentBank", type=Typecode.U32),
    ],
    statistics=[
        Statistic(name="alive", type=Typecode.BOOL, desc="heartbeats arrive on time"),
        Statistic(name="lastHeartbeat", type=Typecode.ABSTIME, unit="ns"),
        Statistic(name="heartbeatInterval", type=Typecode.DOUBLE, unit="s"),
    ],
)
MISSED_BEATS = 3  # an agent is gone after this many heartbeat intervals without one
MAX_PENDING_SCHEMAS = 1000  # 'S' questions awaiting their 's'; each 'q' of an unknown class adds one


class BrokerRole(Endpoint):
    def __init__(self, *, url: str = DEFAULT_URL, state_dir: str | os.PathLike[str] | None = None,
                 heartbeat_interval: float = 5.0, limits: Limits = DEFAULT_LIMITS, tls: Any = None,
                 connection: Connection | None = None) -> None:
        conn = connection or Connection(url, name="qmf-broker", tls=tls)
        super().__init__(p.BROKER_ROLE_NAME, conn, p.BROKER_QUEUE, limits=limits)
        self.heartbeat_interval = heartbeat_interval
        self.state_path = Path(state_dir) / "broker-role.json" if state_dir else None
        self.handlers.update({"B": self._on_B, "A": self._on_A, "p": ignore, "q": self._on_q, "s": self._on_s,
                              "h": self._on_h, "z": ignore})
        self.registry.add(AGENT_CLASS)
        self._pending_schemas: dict[int, Any] = {}
        self._seqs = itertools.count(1)
        self._agents: dict[str, ManagedObject] = {}
        self._loops: list[asyncio.Task[None]] = []
        state = read_state(self.state_path)
        self.broker_id = uuid.UUID(state["broker_id"]) if "broker_id" in state else uuid.uuid4()
        self._next_bank = state.get("next_bank", p.FIRST_AGENT_BANK)
        for name, a in state.get("agents", {}).items():
            self._add_agent(name, a["bank"], a.get("label", name), uuid.UUID(a["system_id"]), alive=False,
                            last=a.get("last_heartbeat", 0), interval=a.get("interval", 5.0))
        for hexbody in state.get("schemas", []):
            try:
                for m in decode_body(bytes.fromhex(hexbody)):
                    if isinstance(m, SchemaResponse):
                        self.registry.add(m.schema)
            except Exception as exc:
                log.warning("ignoring a cached schema that does not decode: %s", exc)

    async def start(self, timeout: float = 10.0) -> None:
        if self.conn._runner is None:
            await self.conn.start(timeout)
        await self.conn.declare_exchange(p.MANAGEMENT_EXCHANGE)
        await self.conn.add_queue(self.queue, self.on_delivery, exclusive=True, auto_delete=True, auto_ack=False,
                                  bindings=[(p.REPLY_EXCHANGE, self.queue), (p.MANAGEMENT_EXCHANGE, p.BROKER_KEY),
                                            (p.MANAGEMENT_EXCHANGE, p.agent_key(p.BROKER_BANK, p.BROKER_AGENT_BANK)),
                                            (p.MANAGEMENT_EXCHANGE, "console.heartbeat.#")])
        self._save()
        self._loops.append(asyncio.create_task(self._watch()))

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        await self.conn.close()

    # -- requests ---------------------------------------------------------------------------------
    def _on_B(self, m: Any, d: Delivery) -> None:
        if d.props.reply_to:
            self.reply(d.props.reply_to, BrokerResponse(seq=m.seq, broker_id=self.broker_id))

    def _on_A(self, m: Any, d: Delivery) -> None:
        if not d.props.reply_to:
            return
        name = p.agent_header(d.props.headers) or m.label
        agent = self._agents.get(name)
        if agent is None:
            bank = m.agent_bank
            taken = {a.properties["agentBank"] for a in self._agents.values()}
            if bank < p.FIRST_AGENT_BANK or bank in taken or bank > 0xFFFFFFF:
                bank = self._new_bank(taken)
            agent = self._add_agent(name, bank, m.label, m.system_id, alive=True, last=now_ns(), interval=5.0)
        else:
            agent.set(label=m.label, systemId=m.system_id, alive=True, lastHeartbeat=now_ns())
        log.info("attached agent %s as %d.%d", name, p.BROKER_BANK, agent.properties["agentBank"])
        self._save()
        self.reply(d.props.reply_to, AgentAttachResponse(seq=m.seq, broker_bank=p.BROKER_BANK,
                                                         agent_bank=agent.properties["agentBank"]))

    def _new_bank(self, taken: set[int]) -> int:
        while self._next_bank in taken:
            self._next_bank += 1
        bank = self._next_bank
        self._next_bank += 1
        return bank

    def _on_q(self, m: ClassIndication, d: Delivery) -> None:
        """An agent announced a class: ask it for the schema unless it is cached."""
        if m.key in self.registry or not d.props.reply_to:
            return
        if len(self._pending_schemas) >= MAX_PENDING_SCHEMAS:  # a peer announcing made-up classes
            del self._pending_schemas[next(iter(self._pending_schemas))]  # forgets the oldest question
        seq = next(self._seqs)
        self._pending_schemas[seq] = m
        self.send(p.REPLY_EXCHANGE, d.props.reply_to, encode(SchemaRequest(seq=seq, key=m.key)), reply_to=self.queue)

    def _on_s(self, m: SchemaResponse, d: Delivery) -> None:
        want = self._pending_schemas.pop(m.seq, None)
        if want is None or want.key != m.schema.key or want.kind != m.schema.kind:
            log.info("dropped a schema response nobody asked for: %s (seq %d)", m.schema.key, m.seq)
            self.counters["invalid_schema"] += 1
            return
        new_package = m.schema.key.package not in self.registry.packages()
        if not self.registry.add(m.schema):
            return
        self._save()
        if new_package:
            self.send(p.MANAGEMENT_EXCHANGE, p.SCHEMA_PACKAGE_KEY,
                      encode(PackageIndication(package=m.schema.key.package)))
        self.send(p.MANAGEMENT_EXCHANGE, p.SCHEMA_CLASS_KEY,
                  encode(ClassIndication(kind=m.schema.kind, key=m.schema.key)))

    def _on_S(self, m: Any, d: Delivery) -> None:
        if d.props.reply_to and m.key not in self.registry:
            self.command_failed(d, m.seq, f"Schema not available: {m.key}")  # cut to fit its str8 there
            return
        super()._on_S(m, d)

    def _on_h(self, m: Heartbeat, d: Delivery) -> None:
        name = p.agent_header(d.props.headers)
        agent = self._agents.get(name) if name else None
        if agent is None:
            return
        headers = d.props.headers or {}
        interval = headers.get(p.H_INTERVAL)
        values: dict[str, Any] = {"lastHeartbeat": now_ns()}
        if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
            values["heartbeatInterval"] = interval / 1000
        if not agent.statistics["alive"]:
            values["alive"] = True
        agent.set(**values)

    # -- the agent list ---------------------------------------------------------------------------
    def _add_agent(self, name: str, bank: int, label: str, system_id: uuid.UUID, *, alive: bool, last: int,
                   interval: float) -> ManagedObject:
        obj = ManagedObject(AGENT_CLASS, bank, {"name": name, "label": label, "systemId": system_id,
                                                 "brokerBank": p.BROKER_BANK, "agentBank": bank},
                            {"alive": alive, "lastHeartbeat": last, "heartbeatInterval": float(interval)},
                            self._agent_changed, persistent=True)
        obj.object_id = ObjectId.make(broker_bank=p.BROKER_BANK, agent_bank=p.BROKER_AGENT_BANK, object=bank)
        self._agents[name] = obj
        self.objects[obj.object_id] = obj
        self._agent_changed(obj, True, True)
        return obj

    def _agent_changed(self, obj: ManagedObject, props: bool, stats: bool) -> None:
        if not self.conn.connected.is_set():
            return
        key = p.object_key(p.BROKER_BANK, p.BROKER_AGENT_BANK, AGENT_CLASS.key.package, AGENT_CLASS.key.name)
        body = b""
        if props:
            body += encode(obj.record(PropertyIndication))
        if stats:
            body += encode(obj.record(StatisticIndication))
        self.send(p.MANAGEMENT_EXCHANGE, key, body)

    async def _watch(self) -> None:
        """Beats for the broker role itself; marks agents gone after MISSED_BEATS silent intervals."""
        while True:
            self.send(p.MANAGEMENT_EXCHANGE, p.heartbeat_key(p.BROKER_BANK, p.BROKER_AGENT_BANK),
                      encode(Heartbeat(timestamp=now_ns())),
                      headers={p.H_INTERVAL: round(self.heartbeat_interval * 1000)})
            now = now_ns()
            for a in list(self._agents.values()):
                late = now - a.statistics["lastHeartbeat"] > MISSED_BEATS * a.statistics["heartbeatInterval"] * 1e9
                if a.statistics["alive"] and late:
                    log.info("agent %s stopped beating", a.properties["name"])
                    a.set(alive=False)
            await asyncio.sleep(min(1.0, self.heartbeat_interval))

    # -- state ------------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.state_path is None:
            return
        state = {
            "broker_id": str(self.broker_id),
            "next_bank": self._next_bank,
            "agents": {name: {"bank": a.properties["agentBank"], "label": a.properties["label"],
                              "system_id": str(a.properties["systemId"]),
                              "last_heartbeat": a.statistics["lastHeartbeat"],
                              "interval": a.statistics["heartbeatInterval"]}
                       for name, a in self._agents.items()},
            "schemas": [encode(SchemaResponse(schema=s)).hex() for s in self.registry if s is not AGENT_CLASS],
            "saved": time.time(),
        }
        write_state(self.state_path, state)


def main(argv: list[str] | None = None) -> int:
    """`qmf-broker`: runs the broker role in the foreground until interrupted."""
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="qmf-broker", description="The QMFv1 broker role (agent directory) on RabbitMQ.")
    ap.add_argument("--url", default=os.environ.get("QMF_URL", DEFAULT_URL), help="AMQP URL (env QMF_URL)")
    ap.add_argument("--state-dir", default=os.environ.get("QMF_STATE_DIR", "/var/lib/qmf"),
                    help="where the broker id, banks and schema cache are kept")
    ap.add_argument("--heartbeat", type=float, default=5.0, help="seconds between its own heartbeats")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def run() -> None:
        role = BrokerRole(url=args.url, state_dir=args.state_dir, heartbeat_interval=args.heartbeat)
        await role.start()
        print(f"qmf-broker ready: broker id {role.broker_id}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await role.stop()

    try:
        asyncio.run(run())
    except Exception as exc:
        print(f"qmf-broker: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
