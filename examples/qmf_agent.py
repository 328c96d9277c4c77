"""A QMF agent with one class of every kind of thing a console can see: properties, statistics,
methods with arguments of every QMF type, a slow method, failing methods and an event.

    python examples/qmf_agent.py --name demo1 --url amqp://guest:guest@127.0.0.1:5672/%2F

It prints `ready <brokerBank>.<agentBank>` once attached, then serves until SIGTERM or SIGINT.
The end-to-end tests, the benchmark and `./run demo` run it as a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from codec import Typecode as T
from qmf.agent import Agent
from qmf.errors import MethodError
from qmf.schemas import Property, Statistic, arg, event_class, method, object_class
from qmf.transport import DEFAULT_URL

PACKAGE = "org.example.demo"

# one in-and-out argument per QMF typecode a schema can carry (5 is unused; 20 needs a class)
EVERY_TYPE = [("u8", T.U8), ("u16", T.U16), ("u32", T.U32), ("u64", T.U64), ("sstr", T.SSTR), ("lstr", T.LSTR),
              ("abstime", T.ABSTIME), ("deltatime", T.DELTATIME), ("ref", T.REF), ("bool", T.BOOL),
              ("float", T.FLOAT), ("double", T.DOUBLE), ("uuid", T.UUID), ("map", T.MAP), ("s8", T.S8),
              ("s16", T.S16), ("s32", T.S32), ("s64", T.S64), ("list", T.LIST), ("array", T.ARRAY)]

THING = object_class(
    PACKAGE, "thing",
    properties=[Property(name="name", type=T.SSTR, index=True, desc="which thing"),
                Property(name="kind", type=T.LSTR),
                Property(name="note", type=T.LSTR, optional=True, access=2)],
    statistics=[Statistic(name="calls", type=T.U64, desc="method calls so far"),
                Statistic(name="load", type=T.DOUBLE)],
    methods=[
        method("echo", arg("text", T.LSTR), arg("reply", T.LSTR, dir="O"), desc="gives back its argument"),
        method("add", arg("a", T.S64), arg("b", T.S64), arg("sum", T.S64, dir="O")),
        method("every_type", *[arg(n, t, dir="IO") for n, t in EVERY_TYPE], desc="returns every argument as given"),
        method("set_load", arg("load", T.DOUBLE), desc="changes a statistic: an 'i' indication follows"),
        method("set_note", arg("note", T.LSTR), desc="changes a property: a 'c' indication follows"),
        method("sleep", arg("seconds", T.DOUBLE), arg("slept", T.DOUBLE, dir="O")),
        method("fail", arg("status", T.U32), arg("text", T.LSTR), desc="answers with that status and text"),
        method("crash", desc="raises an exception (status 7)"),
        method("emit", arg("text", T.LSTR), arg("severity", T.U8), desc="raises a 'note' event"),
    ])
NOTE = event_class(PACKAGE, "note", [arg("text", T.LSTR, dir=None), arg("source", T.SSTR, dir=None)])


def build(agent: Agent) -> None:
    """Registers the class and event and adds two objects."""

    async def handle(obj: Any, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        obj.set(calls=obj.statistics["calls"] + 1)
        if name == "echo":
            return {"reply": args["text"]}
        if name == "add":
            return {"sum": args["a"] + args["b"]}
        if name == "every_type":
            return args
        if name == "set_load":
            obj.set(load=args["load"])
            return None
        if name == "set_note":
            obj.set(note=args["note"])
            return None
        if name == "sleep":
            await asyncio.sleep(args["seconds"])
            return {"slept": args["seconds"]}
        if name == "fail":
            raise MethodError(args["status"], args["text"])
        if name == "crash":
            raise ZeroDivisionError("the crash method divides by zero")
        if name == "emit":
            agent.raise_event(NOTE, {"text": args["text"], "source": agent.name}, severity=args["severity"])
            return None
        raise MethodError(2, f"UnknownMethod: {name}")

    agent.register(THING, handle)
    agent.register(NOTE)
    agent.add_object(THING, {"name": "alpha", "kind": "first"}, persistent=True, number=1)
    agent.add_object(THING, {"name": "beta", "kind": "second", "note": "has a note"}, persistent=True, number=2)


def fast_echo(agent: Agent) -> None:
    """Replaces the handler by a plain function answering `echo` alone: the benchmark's agent does
    no more work per call than the bare pika server it is measured against."""

    def handle(obj: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"reply": args["text"]}

    agent.register(THING, handle)


async def serve(args: argparse.Namespace) -> None:
    agent = Agent(args.name, url=args.url, state_dir=args.state_dir, heartbeat_interval=args.heartbeat,
                  publish_interval=args.publish)
    build(agent)
    if args.fast:
        fast_echo(agent)
    await agent.start(timeout=args.timeout)
    print(f"ready {agent.broker_bank}.{agent.agent_bank}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await agent.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="demo1")
    ap.add_argument("--url", default=os.environ.get("QMF_URL", DEFAULT_URL))
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    ap.add_argument("--publish", type=float, default=10.0, help="seconds between periodic indications")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker role")
    ap.add_argument("--fast", action="store_true", help="a minimal echo handler (benchmarks)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
