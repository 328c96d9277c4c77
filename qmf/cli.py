"""`qmf-tool`: look at QMF agents and drive them from a shell, in the spirit of Qpid's qpid-tool.

Why: an operator needs to see which agents are attached, what classes they publish and what their
objects hold, and to call a method, without writing a script; scripts and monitoring need the same
answers as JSON and an exit code that says what kind of thing went wrong. Each subcommand is one
short console session (qmf.console.Console): connect, discover, ask, print, close.

Method arguments are typed by the class schema, so they are given as text and converted by the
argument's QMF typecode (see `convert`). With `--json` every subcommand prints JSON on stdout:
`agents`, `packages`, `classes` and `objects` print a list of objects, `schema` and `call` one
object, `watch` one object per line. In JSON, bytes are `{"hex": "<lowercase hex>"}`, UUIDs and
object ids are strings (object ids in their text form flags-seq-brokerBank-agentBank-object),
times are integers in ns, and non-finite floats are the strings "nan", "inf" and "-inf".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from codec import (
    Access,
    ClassKind,
    CodecError,
    EventClass,
    ObjectClass,
    ObjectId,
    Schema,
    SchemaArgument,
    SchemaMethod,
    SchemaProperty,
    SchemaStatistic,
    Tagged,
    Typecode,
    Unmanaged,
)
from codec.errors import STATUS_TEXT, STATUS_USER

from .console import AgentChange, AgentInfo, Console, Event, Indication, Notice, QmfObject
from .errors import BrokerUnreachable, CommandError, ConnectionLost, MethodError, NotConnected, QmfError, Timeout
from .transport import DEFAULT_URL

PROG = "qmf-tool"

EXIT_OK = 0
EXIT_ERROR = 1  # the peer said no, or what was asked does not exist or does not convert
EXIT_USAGE = 2  # argparse: the command line itself is malformed
EXIT_TIMEOUT = 3  # no reply within --timeout
EXIT_UNREACHABLE = 4  # the AMQP broker cannot be reached, or the connection dropped
EXIT_INTERRUPTED = 130  # Ctrl-C (except for `watch`, where it is the normal end)

EPILOG = f"""\
exit codes:
  {EXIT_OK}    success
  {EXIT_ERROR}    error: unknown agent, package, class, method or object; a bad argument value;
       a method that failed (its status and text are printed); a request the peer refused
  {EXIT_USAGE}    usage error in the command line (argparse)
  {EXIT_TIMEOUT}    timeout: no reply within --timeout seconds
  {EXIT_UNREACHABLE}    the AMQP broker cannot be reached (or the connection was lost)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C), except for watch

method arguments (call) are positional or name=value, converted by the argument's QMF type:
  integer types, ABSTIME, DELTATIME (ns)  int (0x.. and 0o.. accepted)
  FLOAT, DOUBLE                           float
  BOOL                                    true/false, yes/no, 1/0
  SSTR, LSTR                              the text as given
  UUID                                    a UUID
  REF                                     an object id: flags-seq-brokerBank-agentBank-object
  MAP, LIST, ARRAY                        JSON (an object, a list, a list)
  a word containing '=' is name=value only when the name is one of the method's in-arguments;
  put -- before values that start with '-' but are not numbers.

--json: agents, packages, classes and objects print a JSON list of objects; schema and call one
object; watch one object per line. Bytes are {{"hex": "..."}}, UUIDs and object ids strings, times
integers (ns since the epoch), non-finite floats "nan", "inf" or "-inf".
"""

SEVERITIES = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
AGENT_GRACE = 2.0  # seconds to wait for an agent the broker role does not list yet
HEARTBEAT_WAIT = 6.0  # without a broker role, seconds spent listening to heartbeats

_INT_RANGES: dict[int, tuple[int, int]] = {
    Typecode.U8: (0, 2**8 - 1), Typecode.U16: (0, 2**16 - 1), Typecode.U32: (0, 2**32 - 1),
    Typecode.U64: (0, 2**64 - 1), Typecode.S8: (-(2**7), 2**7 - 1), Typecode.S16: (-(2**15), 2**15 - 1),
    Typecode.S32: (-(2**31), 2**31 - 1), Typecode.S64: (-(2**63), 2**63 - 1),
    Typecode.ABSTIME: (-(2**63), 2**63 - 1), Typecode.DELTATIME: (0, 2**64 - 1),
}


class UsageError(Exception):
    """What was asked cannot be done as asked: an unknown name, a value that does not convert."""


# -- values: to JSON, to text, from text ----------------------------------------------------------
def jsonable(v: Any) -> Any:
    """`v` with every value JSON can carry as itself, the rest in the shapes the module docstring gives."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else str(float(v))
    if isinstance(v, bytes | bytearray):
        return {"hex": bytes(v).hex()}
    if isinstance(v, uuid.UUID | ObjectId):
        return str(v)
    if isinstance(v, Mapping):
        return {_key_text(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, Unmanaged):
        return {"class": str(v.schema.key), "properties": jsonable(v.properties),
                "statistics": jsonable(v.statistics)}
    if isinstance(v, Tagged):
        return {"typecode": _type_name(v.typecode), "value": jsonable(v.value)}
    return str(v)


def _key_text(k: Any) -> str:
    return k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)


def _type_name(tc: int) -> str:
    try:
        return Typecode(tc).name
    except ValueError:
        return str(tc)


def iso_ns(ns: int) -> str:
    """An ABSTIME (ns since the epoch) as UTC ISO 8601 with its nanoseconds."""
    try:
        t = dt.datetime.fromtimestamp(ns // 10**9, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{ns % 10**9:09d}Z"


_CONTROL = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def shown(v: Any, tc: int | None = None) -> str:
    """A value as one table cell."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if tc == Typecode.ABSTIME and isinstance(v, int) and v:
        return iso_ns(int(v))
    if isinstance(v, str):
        return str(v).translate(_CONTROL)  # one line per row, whatever the text holds
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    if isinstance(v, uuid.UUID | ObjectId):
        return str(v)
    return json.dumps(jsonable(v), ensure_ascii=False)


def _to_int(text: str, lo: int, hi: int) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        try:
            n = int(text)  # "010" and the like: base 0 refuses leading zeros
        except ValueError:
            raise ValueError("not an integer") from None
    if not lo <= n <= hi:
        raise ValueError(f"out of range [{lo}, {hi}]")
    return n


def _to_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "yes", "1", "on"):
        return True
    if word in ("false", "no", "0", "off"):
        return False
    raise ValueError("not one of true/false, yes/no, 1/0")


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def _to_sstr(text: str) -> str:
    if len(text.encode("utf-8")) > 255:
        raise ValueError("longer than 255 bytes of UTF-8")
    return text


def _to_json(kind: type, what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            v = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
        if v is not None and not isinstance(v, kind):
            raise ValueError(f"needs a JSON {what}")
        return v
    return convert


def _no_object(text: str) -> Any:
    raise ValueError("OBJECT (typecode 20) values cannot be given on the command line")


def _ref(text: str) -> ObjectId:
    try:
        return ObjectId.parse(text.strip())
    except CodecError as exc:
        raise ValueError(str(exc)) from None


CONVERTERS: dict[int, Callable[[str], Any]] = {
    **{tc: (lambda text, r=r: _to_int(text, *r)) for tc, r in _INT_RANGES.items()},
    Typecode.SSTR: _to_sstr, Typecode.LSTR: str, Typecode.REF: _ref, Typecode.BOOL: _to_bool,
    Typecode.FLOAT: _to_float, Typecode.DOUBLE: _to_float, Typecode.UUID: lambda text: uuid.UUID(text.strip()),
    Typecode.MAP: _to_json(dict, "object"), Typecode.LIST: _to_json(list, "list"),
    Typecode.ARRAY: _to_json(list, "list"), Typecode.OBJECT: _no_object,
}


def convert(arg: SchemaArgument, text: str) -> Any:
    """The text of one method argument as the Python value its QMF typecode needs."""
    try:
        return CONVERTERS[arg.type](text)
    except (ValueError, KeyError) as exc:
        reason = exc.args[0] if isinstance(exc, ValueError) and exc.args else "unsupported type"
        raise UsageError(f"bad value for argument {arg.name!r} ({_type_name(arg.type)}): {text!r:.60}: "
                         f"{reason}") from None


def signature(m: SchemaMethod) -> str:
    ins = ", ".join(f"{a.name}: {_type_name(a.type)}" for a in m.in_args)
    outs = ", ".join(f"{a.name}: {_type_name(a.type)}" for a in m.out_args)
    return f"{m.name}({ins})" + (f" -> {outs}" if outs else "")


def bind_args(m: SchemaMethod, given: Sequence[str]) -> dict[str, Any]:
    """Positional and name=value words → every in-argument by name (defaults from the schema)."""
    by_name = {a.name: a for a in m.in_args}
    values: dict[str, Any] = {}
    position = 0
    for word in given:
        name, eq, text = word.partition("=")
        if eq and name in by_name:
            a = by_name[name]
        else:
            if position >= len(m.in_args):
                raise UsageError(f"too many arguments for {signature(m)}")
            a, text = m.in_args[position], word
            position += 1
        if a.name in values:
            raise UsageError(f"argument {a.name!r} given twice for {signature(m)}")
        values[a.name] = convert(a, text)
    for a in m.in_args:
        if a.name not in values and a.default is not None:
            values[a.name] = convert(a, a.default)
    missing = [a.name for a in m.in_args if a.name not in values]
    if missing:
        raise UsageError(f"missing argument{'s' * (len(missing) > 1)} {', '.join(missing)} for {signature(m)}")
    return values


# -- output ---------------------------------------------------------------------------------------
def table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], indent: str = "",
          optional: Iterable[str] = ()) -> str:
    """Rows of cells as aligned columns, a header and a dashed rule on top when `headers` is given;
    columns named in `optional` are left out when every cell of theirs is empty."""
    body = [[c if isinstance(c, str) else shown(c) for c in r] for r in rows]
    if headers is not None:
        keep = [i for i, h in enumerate(headers) if h not in optional or any(r[i] for r in body)]
        body = [[r[i] for i in keep] for r in body]
        head = [headers[i] for i in keep]
        body = [head, ["-" * len(h) for h in head], *body]
    if not body:
        return ""
    widths = [max(len(r[i]) for r in body) for i in range(len(body[0]))]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body)


def note(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


class Output:
    """Prints either the JSON or the text of a result, as --json says."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def result(self, data: Any, text: Callable[[], str]) -> None:
        if self.as_json:
            print(json.dumps(jsonable(data), ensure_ascii=False, indent=2), flush=True)
        else:
            out = text()
            if out:
                print(out, flush=True)

    def line(self, data: Any, text: str) -> None:
        print(json.dumps(jsonable(data), ensure_ascii=False) if self.as_json else text, flush=True)


# -- finding things -------------------------------------------------------------------------------
def _age(a: AgentInfo) -> float | None:
    return (time.time_ns() - a.last_heartbeat) / 1e9 if a.last_heartbeat else None


def _age_text(a: AgentInfo) -> str:
    age = _age(a)
    return "never" if age is None else f"{max(age, 0.0):.1f} s ago"


async def need_agent(c: Console, name: str, timeout: float) -> AgentInfo:
    """The agent called `name`, waiting a little for one the broker role has not listed yet. One
    the broker role believes gone is still asked: its verdict may be stale, and a request to an
    agent that is really gone ends in a clear timeout or 'unroutable' error anyway."""
    a = c.agents.get(name)
    if a is not None:
        return a
    grace = min(timeout, AGENT_GRACE if c.broker_id is not None else timeout)
    with contextlib.suppress(Timeout):
        await c.wait_for_agents([name], grace)
    a = c.agents.get(name)
    if a is not None:
        return a
    known = ", ".join(x.name for x in c.list_agents()) or "none"
    raise UsageError(f"no agent named {name!r} (known agents: {known})")


async def objects_everywhere(c: Console, cls: str, package: str | None, timeout: float) -> list[QmfObject]:
    """The objects of a class from every known agent at once; agents not believed alive get a
    short deadline and are left out quietly when they do not answer."""
    agents = c.list_agents()

    async def one(a: AgentInfo) -> list[QmfObject]:
        t = timeout if a.alive else min(timeout, AGENT_GRACE)
        return await c.get_objects(a.name, class_name=cls, package=package, timeout=t)

    results = await asyncio.gather(*(one(a) for a in agents), return_exceptions=True)
    found: list[QmfObject] = []
    for a, r in zip(agents, results, strict=True):
        if isinstance(r, QmfError):
            if a.alive:
                note(f"agent {a.name!r} did not answer: {r}")
        elif isinstance(r, BaseException):
            raise r
        else:
            found.extend(r)
    return found


async def find_schema(c: Console, name: str, package: str | None, agent: str | None, timeout: float) -> Schema:
    try:
        return await c.find_class(name, package, agent, timeout=timeout)
    except QmfError as exc:
        if type(exc) is not QmfError:  # find_class's own "no class named ..." is a plain QmfError
            raise
        where = f" on agent {agent!r}" if agent else ""
        raise UsageError(f"{exc}{where}") from None


async def find_object_class(c: Console, name: str, package: str | None, agent: str | None,
                            timeout: float) -> ObjectClass:
    schema = await find_schema(c, name, package, agent, timeout)
    if not isinstance(schema, ObjectClass):
        raise UsageError(f"{schema.key.package}:{name} is an event class, not an object class")
    return schema


def _object_hint(o: QmfObject) -> str:
    index = [f"{p.name}={shown(o.properties.get(p.name), p.type)}" for p in o.schema.properties if p.index]
    return f"{o.object_id}" + (f" ({', '.join(index)})" if index else "")


def pick_object(objs: Sequence[QmfObject], agent: str, cls: str, object_id: str | None) -> QmfObject:
    """The object --object names, or the only one."""
    if object_id is not None:
        try:
            want = ObjectId.parse(object_id.strip())
        except CodecError as exc:
            raise UsageError(f"bad --object: {exc}") from None
        for o in objs:
            if o.object_id == want:
                return o
        have = "; ".join(_object_hint(o) for o in objs) or "none"
        raise UsageError(f"agent {agent!r} has no object {want} of class {cls!r} (its objects: {have})")
    if len(objs) == 1:
        return objs[0]
    if not objs:
        raise UsageError(f"agent {agent!r} has no object of class {cls!r}")
    have = "; ".join(_object_hint(o) for o in objs)
    raise UsageError(f"agent {agent!r} has {len(objs)} objects of class {cls!r}; choose one with --object: {have}")


# -- subcommands ----------------------------------------------------------------------------------
async def cmd_agents(c: Console, args: argparse.Namespace, out: Output) -> int:
    if c.broker_id is not None:
        await c.refresh_agents(timeout=args.timeout)
    else:
        wait = min(args.timeout, HEARTBEAT_WAIT)
        note(f"no broker role answered; listing the agents heard from in {wait:g} s")
        await asyncio.sleep(wait)
    agents = c.list_agents()
    data = [{"name": a.name, "banks": a.banks, "broker_bank": a.broker_bank, "agent_bank": a.agent_bank,
             "label": a.label, "system_id": a.system_id, "alive": a.alive, "last_heartbeat": a.last_heartbeat,
             "heartbeat_age": _age(a), "heartbeat_interval": a.heartbeat_interval} for a in agents]
    out.result(data, lambda: table(["name", "banks", "label", "alive", "last heartbeat"],
                                   [[a.name, a.banks, a.label, a.alive, _age_text(a)] for a in agents]))
    return EXIT_OK


async def cmd_packages(c: Console, args: argparse.Namespace, out: Output) -> int:
    if args.agent:
        await need_agent(c, args.agent, args.timeout)
    pkgs = await c.packages(args.agent, timeout=args.timeout)
    out.result([{"package": p} for p in pkgs], lambda: table(["package"], [[p] for p in pkgs]))
    return EXIT_OK


async def cmd_classes(c: Console, args: argparse.Namespace, out: Output) -> int:
    if args.agent:
        await need_agent(c, args.agent, args.timeout)
    found = await c.classes(args.package, args.agent, timeout=args.timeout)
    if not found:
        pkgs = await c.packages(args.agent, timeout=args.timeout)
        if args.package not in pkgs:
            raise UsageError(f"no package named {args.package!r} (known packages: {', '.join(pkgs) or 'none'})")
    rows = [{"package": k.package, "class": k.name, "kind": ClassKind(kind).name.lower(), "hash": k.hash.hex()}
            for kind, k in found]
    out.result(rows, lambda: table(["kind", "package", "class", "hash"],
                                   [[r["kind"], r["package"], r["class"], r["hash"]] for r in rows]))
    return EXIT_OK


def property_json(p: SchemaProperty) -> dict[str, Any]:
    return {"name": p.name, "type": _type_name(p.type), "typecode": int(p.type), "access": Access(p.access).name,
            "index": p.index, "optional": p.optional, "unit": p.unit, "min": p.min, "max": p.max,
            "maxlen": p.maxlen, "desc": p.desc, "ref_package": p.ref_package, "ref_class": p.ref_class}


def statistic_json(s: SchemaStatistic) -> dict[str, Any]:
    return {"name": s.name, "type": _type_name(s.type), "typecode": int(s.type), "unit": s.unit, "desc": s.desc}


def argument_json(a: SchemaArgument) -> dict[str, Any]:
    d: dict[str, Any] = {"name": a.name, "type": _type_name(a.type), "typecode": int(a.type)}
    if a.dir is not None:
        d.update(dir=a.dir, unit=a.unit, min=a.min, max=a.max, maxlen=a.maxlen, default=a.default, desc=a.desc)
    else:
        d.update(unit=a.unit, desc=a.desc)
    return d


def schema_json(s: Schema) -> dict[str, Any]:
    head = {"package": s.key.package, "class": s.key.name, "hash": s.key.hash.hex(), "kind": s.kind.name.lower()}
    if isinstance(s, EventClass):
        return {**head, "arguments": [argument_json(a) for a in s.arguments]}
    return {**head, "properties": [property_json(p) for p in s.properties],
            "statistics": [statistic_json(x) for x in s.statistics],
            "methods": [{"name": m.name, "desc": m.desc, "signature": signature(m),
                         "arguments": [argument_json(a) for a in m.args]} for m in s.methods]}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _section(title: str, lines: str) -> list[str]:
    return ["", title, lines] if lines else ["", f"{title}: none"]


def schema_text(s: Schema) -> str:
    lines = [f"{s.kind.name.lower()} class {s.key.package}:{s.key.name}  (hash {s.key.hash.hex()})"]
    if isinstance(s, EventClass):
        rows = [[a.name, _type_name(a.type), a.unit or "", a.desc or ""] for a in s.arguments]
        return "\n".join(lines + _section("arguments", table(["name", "type", "unit", "desc"], rows, "  ",
                                                               optional={"unit", "desc"}) if rows else ""))
    props = [[p.name, _type_name(p.type), Access(p.access).name, _yes(p.index), _yes(p.optional), p.unit or "",
              p.desc or ""] for p in s.properties]
    stats = [[x.name, _type_name(x.type), x.unit or "", x.desc or ""] for x in s.statistics]
    lines += _section("properties", table(["name", "type", "access", "index", "optional", "unit", "desc"], props,
                                          "  ", optional={"unit", "desc"}) if props else "")
    lines += _section("statistics", table(["name", "type", "unit", "desc"], stats, "  ",
                                          optional={"unit", "desc"}) if stats else "")
    lines += _section("methods", "\n".join(_method_text(m) for m in s.methods))
    return "\n".join(lines)


def _method_text(m: SchemaMethod) -> str:
    head = f"  {signature(m)}" + (f"  -- {m.desc}" if m.desc else "")
    if not m.args:
        return head
    rows = [[a.name, _type_name(a.type), a.dir or "", a.unit or "", a.default or "", a.desc or ""] for a in m.args]
    return head + "\n" + table(["argument", "type", "dir", "unit", "default", "desc"], rows, "      ",
                               optional={"unit", "default", "desc"})


async def cmd_schema(c: Console, args: argparse.Namespace, out: Output) -> int:
    if args.agent:
        await need_agent(c, args.agent, args.timeout)
    s = await find_schema(c, args.cls, args.package, args.agent, args.timeout)
    out.result(schema_json(s), lambda: schema_text(s))
    return EXIT_OK


def object_json(o: QmfObject) -> dict[str, Any]:
    return {"object_id": str(o.object_id), "agent": o.agent, "package": o.key.package, "class": o.key.name,
            "hash": o.key.hash.hex(), "properties": o.properties, "statistics": o.statistics,
            "update_time": o.update_time, "create_time": o.create_time, "delete_time": o.delete_time}


def objects_text(objs: Sequence[QmfObject]) -> str:
    groups: dict[Any, list[QmfObject]] = {}
    for o in objs:
        groups.setdefault(o.key, []).append(o)
    parts = []
    for key, group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        s = group[0].schema
        headers = ["object id", "agent", *(p.name for p in s.properties), *(x.name for x in s.statistics)]
        rows = [[str(o.object_id), o.agent, *(shown(o.properties.get(p.name), p.type) for p in s.properties),
                 *(shown(o.statistics.get(x.name), x.type) for x in s.statistics)] for o in group]
        parts.append(f"class {key.package}:{key.name}  ({len(group)} object{'s' * (len(group) != 1)})\n"
                     + table(headers, rows))
    return "\n\n".join(parts)


async def cmd_objects(c: Console, args: argparse.Namespace, out: Output) -> int:
    if args.agent:
        await need_agent(c, args.agent, args.timeout)
    s = await find_object_class(c, args.cls, args.package, args.agent, args.timeout)
    if args.agent:
        objs = await c.get_objects(args.agent, class_name=args.cls, package=args.package, timeout=args.timeout)
    else:
        objs = await objects_everywhere(c, args.cls, args.package, args.timeout)
    objs.sort(key=lambda o: (o.agent, str(o.key), o.object_id))
    if not objs and not out.as_json:
        note(f"no objects of class {s.key.package}:{s.key.name}")
    out.result([object_json(o) for o in objs], lambda: objects_text(objs))
    return EXIT_OK


async def cmd_call(c: Console, args: argparse.Namespace, out: Output) -> int:
    await need_agent(c, args.agent, args.timeout)
    schema = await find_object_class(c, args.cls, args.package, args.agent, args.timeout)
    m = _method(schema, args.method)
    bind_args(m, args.args)  # a bad value fails here, before any object is fetched
    objs = await c.get_objects(args.agent, class_name=schema.key.name, package=schema.key.package,
                               timeout=args.timeout)
    obj = pick_object(objs, args.agent, schema.key.name, args.object)
    if obj.schema.key != schema.key:  # the agent has another version of the class
        m = _method(obj.schema, args.method)
    values = bind_args(m, args.args)
    # by position: an argument named like a parameter of call_method (agent, timeout, ...) could
    # not be passed by keyword
    result = await c.call_method(obj.agent, obj.schema, obj.object_id, m.name,
                                 *(values[a.name] for a in m.in_args), timeout=args.timeout)
    types = {a.name: a.type for a in m.out_args}
    order = [a.name for a in m.out_args if a.name in result] + [k for k in result if k not in types]
    out.result(result, lambda: table(None, [[k, shown(result[k], types.get(k))] for k in order]) or "OK")
    return EXIT_OK


def _method(schema: ObjectClass, name: str) -> SchemaMethod:
    m = schema.method(name)
    if m is None:
        have = ", ".join(x.name for x in schema.methods) or "none"
        raise UsageError(f"class {schema.key.package}:{schema.key.name} has no method {name!r} (its methods: {have})")
    return m


# -- watch ----------------------------------------------------------------------------------------
def _pairs(values: Mapping[str, Any], types: Mapping[str, int]) -> str:
    def one(k: str, v: Any) -> str:
        return f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) else shown(v, types.get(k))}"
    return " ".join(one(k, v) for k, v in values.items())


def notice_json(n: Notice) -> dict[str, Any]:
    if isinstance(n, Event):
        k = n.schema.key
        return {"type": "event", "time": n.timestamp, "agent": n.agent, "package": k.package, "class": k.name,
                "hash": k.hash.hex(), "severity": n.severity, "severity_name": _severity(n.severity),
                "arguments": n.arguments}
    if isinstance(n, Indication):
        o = n.object
        values = o.properties if n.kind == "properties" else o.statistics
        return {"type": n.kind, "time": o.update_time, "agent": o.agent, "package": o.key.package,
                "class": o.key.name, "hash": o.key.hash.hex(), "object_id": str(o.object_id), n.kind: values}
    a = n.agent
    return {"type": "agent", "time": time.time_ns(), "change": n.kind, "agent": a.name, "banks": a.banks,
            "label": a.label}


def _severity(n: int) -> str:
    return SEVERITIES[n] if 0 <= n < len(SEVERITIES) else str(n)


def notice_text(n: Notice) -> str:
    if isinstance(n, Event):
        types = {a.name: a.type for a in n.schema.arguments}
        return (f"{iso_ns(n.timestamp or time.time_ns())} event {n.agent} {n.schema.key.package}:"
                f"{n.schema.key.name} severity={_severity(n.severity)} {_pairs(n.arguments, types)}").rstrip()
    if isinstance(n, Indication):
        o = n.object
        items = o.schema.properties if n.kind == "properties" else o.schema.statistics
        values = o.properties if n.kind == "properties" else o.statistics
        types = {x.name: x.type for x in items}
        return (f"{iso_ns(o.update_time or time.time_ns())} {n.kind} {o.agent} {o.key.package}:{o.key.name} "
                f"{o.object_id} {_pairs(values, types)}").rstrip()
    a = n.agent
    return f"{iso_ns(time.time_ns())} agent {n.kind} {a.name} banks={a.banks} label={json.dumps(a.label)}"


def wanted(n: Notice, args: argparse.Namespace) -> bool:
    if isinstance(n, Event):
        return not args.objects_only
    if isinstance(n, Indication):
        return not args.events_only
    return isinstance(n, AgentChange) and not (args.events_only or args.objects_only)


def print_notice(n: Notice, args: argparse.Namespace, out: Output) -> None:
    if wanted(n, args):
        out.line(notice_json(n), notice_text(n))


async def _print_notices(q: asyncio.Queue[Notice], args: argparse.Namespace, out: Output) -> None:
    while True:
        print_notice(await q.get(), args, out)


async def cmd_watch(c: Console, args: argparse.Namespace, out: Output) -> int:
    q: asyncio.Queue[Notice] = asyncio.Queue()
    c.on_notice(q.put_nowait)
    await c.follow(objects=not args.events_only, events=not args.objects_only)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        what = "events" if args.events_only else "object indications" if args.objects_only else "everything"
        until = f"for {args.seconds:g} s" if args.seconds else "until Ctrl-C"
        note(f"watching {what} {until}")
        stopper = asyncio.create_task(stop.wait())
        printer = asyncio.create_task(_print_notices(q, args, out))
        await asyncio.wait({stopper, printer}, timeout=args.seconds, return_when=asyncio.FIRST_COMPLETED)
        if printer.done():
            printer.result()  # it only ends by failing (a closed stdout, say)
        for task in (stopper, printer):
            task.cancel()
        while not q.empty():  # what came in before the end, not printed yet
            print_notice(q.get_nowait(), args, out)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return EXIT_OK


Command = Callable[[Console, argparse.Namespace, Output], Awaitable[int]]
COMMANDS: dict[str, Command] = {"agents": cmd_agents, "packages": cmd_packages, "classes": cmd_classes,
                                "schema": cmd_schema, "objects": cmd_objects, "call": cmd_call, "watch": cmd_watch}


# -- the command line -----------------------------------------------------------------------------
def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return v


def _add_common(p: argparse.ArgumentParser, top: bool) -> None:
    """The global options; sub-parsers take them too (after the subcommand) without overriding
    the ones given before it."""
    def default(v: Any) -> Any:
        return v if top else argparse.SUPPRESS
    p.add_argument("--url", default=default(os.environ.get("QMF_URL", DEFAULT_URL)),
                   help="AMQP URL of the broker (default: env QMF_URL, else %(default)s)" if top else argparse.SUPPRESS)
    p.add_argument("--timeout", type=_positive, default=default(10.0), metavar="SECONDS",
                   help="seconds to wait for the broker and for each reply (default 10)" if top else argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", default=default(False),
                   help="machine-readable JSON on stdout" if top else argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", default=default(False),
                   help="log what the console does on stderr" if top else argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description="Browse QMF agents, their schemas and objects, call "
                                 "methods and watch events, over RabbitMQ.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(ap, True)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_common(p, False)
        return p

    command("agents", "list the agents: name, banks, label, alive, age of the last heartbeat")
    p = command("packages", "list the packages (of the broker role's cache, or of one agent)")
    p.add_argument("--agent", metavar="NAME", help="ask this agent instead of the broker role")
    p = command("classes", "list the classes of a package")
    p.add_argument("package", metavar="PACKAGE")
    p.add_argument("--agent", metavar="NAME", help="ask this agent instead of the broker role")
    p = command("schema", "show a class: properties, statistics, methods and their arguments")
    p.add_argument("cls", metavar="CLASS")
    p.add_argument("--package", metavar="P")
    p.add_argument("--agent", metavar="A", help="ask this agent instead of the broker role")
    p = command("objects", "show the objects of a class: object id, agent, every property and statistic")
    p.add_argument("cls", metavar="CLASS")
    p.add_argument("--agent", metavar="A", help="only this agent's objects (default: every live agent)")
    p.add_argument("--package", metavar="P")
    p = command("call", "call a method of an object and print its out-arguments")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("cls", metavar="CLASS")
    p.add_argument("method", metavar="METHOD")
    p.add_argument("args", metavar="ARGS", nargs="*", help="in-arguments, positional or name=value")
    p.add_argument("--object", metavar="OBJECTID", help="the object (flags-seq-bb-ab-obj); needed when the "
                   "agent has more than one object of the class")
    p.add_argument("--package", metavar="P")
    p = command("watch", "print indications and events as they come, one line each")
    p.add_argument("--seconds", type=_positive, metavar="N", help="stop after N seconds (default: at Ctrl-C)")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--events-only", action="store_true", help="events only")
    only.add_argument("--objects-only", action="store_true", help="object indications only")
    return ap


def parse(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that `call` also takes method arguments after its options
    (`call A C M --object X 1 2`), which argparse's sub-parsers would refuse."""
    args, extra = ap.parse_known_args(argv)
    if args.command == "call":
        cut = extra.index("--") if "--" in extra else len(extra)
        stray = [w for w in extra[:cut] if w.startswith("-") and not _is_number(w)]
        if not stray:
            args.args = [*args.args, *extra[:cut], *extra[cut + 1:]]
            return args
        extra = stray
    if extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


async def run(args: argparse.Namespace) -> int:
    c = Console(args.url)
    try:
        await c.start(args.timeout)
        return await COMMANDS[args.command](c, args, Output(args.json))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.close(), 5)


def status_name(status: int) -> str:
    if status in STATUS_TEXT:
        return STATUS_TEXT[status]
    return f"{status:#x}, an application status" if status >= STATUS_USER else "unknown status"


def error_exit(exc: BaseException) -> int:
    """The exit code of an error, and its one line on stderr."""
    if isinstance(exc, MethodError):
        note(f"method failed with status {exc.status} ({status_name(exc.status)}): {exc.text}")
        return EXIT_ERROR
    if isinstance(exc, CommandError):
        note(f"request refused (code {exc.code}): {exc.text}")
        return EXIT_ERROR
    if isinstance(exc, Timeout):
        note(f"timed out: {exc}")
        return EXIT_TIMEOUT
    if isinstance(exc, BrokerUnreachable | NotConnected | ConnectionLost):
        text = str(exc)
        note(text[:-2] if text.endswith(": ") else text)  # transport leaves ": " when pika's reason is blank
        return EXIT_UNREACHABLE
    if isinstance(exc, UsageError | QmfError | CodecError):
        note(str(exc))
        return EXIT_ERROR
    note(f"unexpected error: {type(exc).__name__}: {exc}")
    return EXIT_ERROR


def _quiet_logging(verbose: bool) -> None:
    """Without -v nothing but the tool's own one-line messages reaches stderr (pika logs every
    failed connection attempt)."""
    root = logging.getLogger()
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    try:
        args = parse(ap, argv)
    except SystemExit as exc:  # --help, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _quiet_logging(args.verbose)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`| head`): not worth a message
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        return error_exit(exc)


if __name__ == "__main__":
    raise SystemExit(main())
