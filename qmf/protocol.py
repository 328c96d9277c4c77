"""How QMFv1 sits on an AMQP 0-9-1 broker: exchanges, routing keys, headers (DESIGN.md, "Addressing").

QMFv1 was defined over AMQP 0-10 (qpidd). The names are kept so the wire stays recognisable:
requests and broadcasts go through the topic exchange `qpid.management`; replies go through
`amq.direct`, routed by the requester's `reply_to` (the name of its private queue, which it binds
to `amq.direct` under that same name). Message bodies are exactly the AM2 bytes; what QMFv1 has
no field for travels in AMQP properties and headers, named here.
"""

from __future__ import annotations

from typing import Any

MANAGEMENT_EXCHANGE = "qpid.management"  # topic exchange: requests and broadcasts
REPLY_EXCHANGE = "amq.direct"  # replies, routing key = the request's reply_to
CONTENT_TYPE = "x-application/qmf"  # what Qpid's Python console set on every body

BROKER_KEY = "broker"  # B P Q S A p q s, all to the broker role
SCHEMA_PACKAGE_KEY = "schema.package"  # broadcast 'p'
SCHEMA_CLASS_KEY = "schema.class"  # broadcast 'q'

BROKER_BANK = 1  # the broker role's bank; its own agent is agent.1.0
BROKER_AGENT_BANK = 0
FIRST_AGENT_BANK = 10  # remote agents get banks from 10 upwards, as qpidd assigned them

# Application headers (AMQP message properties' `headers` table).
H_AGENT = "qmf.agent"  # the sending agent's name, on everything an agent sends (console.py reads it)
H_DEADLINE = "qmf.deadline"  # absolute deadline of a request, ms since the Unix epoch
H_INTERVAL = "qmf.heartbeat_ms"  # on 'h': milliseconds until the next heartbeat is due (an integer)
H_LABEL = "qmf.label"  # on 'h': the agent's label


def agent_key(broker_bank: int, agent_bank: int) -> str:
    """Where G and M for one agent go."""
    return f"agent.{broker_bank}.{agent_bank}"


def heartbeat_key(broker_bank: int, agent_bank: int) -> str:
    return f"console.heartbeat.{broker_bank}.{agent_bank}"


def object_key(broker_bank: int, agent_bank: int, package: str, cls: str) -> str:
    """'c' and 'i' broadcasts."""
    return f"console.obj.{broker_bank}.{agent_bank}.{package}.{cls}"


def event_key(broker_bank: int, agent_bank: int, package: str, event: str) -> str:
    return f"console.event.{broker_bank}.{agent_bank}.{package}.{event}"


def agent_header(headers: Any) -> str | None:
    """The sender's name from its `qmf.agent` header (text or bytes), or None."""
    name = headers.get(H_AGENT) if headers else None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return name if isinstance(name, str) and name else None


def banks_from_key(routing_key: str) -> tuple[int, int] | None:
    """(brokerBank, agentBank) of a `console.<x>.<bb>.<ab>…` key, as console.py worked out who spoke."""
    parts = routing_key.split(".", 4)
    if len(parts) >= 4 and parts[0] == "console" and parts[2].isdigit() and parts[3].isdigit():
        return int(parts[2]), int(parts[3])
    return None

BROKER_ROLE_NAME = "qmf-broker"  # the broker role's qmf.agent header
BROKER_QUEUE = "qmf.broker"
