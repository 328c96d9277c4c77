"""func on QMF: how modules, methods, arguments, results and errors map onto QMF classes.

- Every module is an object class of package `org.fedorahosted.func`, named after the module
  (`test`, `iptables.port`); the `system.*` built-ins are class `system`. Each class has one
  object, with the persistent id `0-0-<bb>-<ab>-<crc32(module name)>`, so a caller computes it.
- Every method is a QMF method of the same name. Its in-arguments are the Python signature's
  positional parameters, in order (a `*args` parameter becomes one argument named `*args`,
  holding the rest), each a *box*: a QMF LIST holding one value (`func_amqp.values`), or none
  for "not given, use the default". The module's `register_method_args()` spec, if any, gives each
  argument's description (with its func type: "int: An int"); func never enforced those types, so
  neither does this mapping. The out-argument `result` is a box.
- Any other typecode in an in-argument is taken as the value itself (for classes written by hand).
- A REMOTE_ERROR comes back as status `STATUS_REMOTE_ERROR` (0x10001) with the text the JSON of
  func's list `["REMOTE_ERROR", type, message, traceback]`; an ACL refusal as status 6 Forbidden.
"""

from __future__ import annotations

import inspect
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from codec import ObjectClass, SchemaArgument, SchemaMethod, Typecode
from qmf.schemas import Property, arg, event_class, object_class

from .values import ABSENT, box, unbox

PACKAGE = "org.fedorahosted.func"
SYSTEM_CLASS = "system"
STATUS_REMOTE_ERROR = 0x10001
STATUS_FORBIDDEN = 6
RESULT = "result"

# AMQP headers func adds to a method request (beside qmf's qmf.deadline)
H_ASYNC = "func.async"  # 1: run as a job, answer with its id at once
H_FOLLOW = "func.follow"  # 1: publish the call's progress as 'job' events while it runs
H_REQUEST_ID = "func.request_id"
H_FACTS = "func.facts"  # a facts query (JSON of func's serialised list): run only where the facts match
H_CERT = "func.cert"  # the caller's certificate (PEM)
H_SIGNATURE = "func.signature"  # the caller's signature (base64) over the signed text

JOB_EVENT = event_class(PACKAGE, "job", [
    arg("job_id", Typecode.LSTR, dir=None), arg("request_id", Typecode.LSTR, dir=None),
    arg("method", Typecode.LSTR, dir=None), arg("kind", Typecode.SSTR, dir=None),
    arg("data", Typecode.LIST, dir=None, desc="a box: [current, total] for progress, text for output, "
                                              "the value for result")])


def object_number(module: str) -> int:
    return zlib.crc32(module.encode("utf-8")) or 1


def module_class(name: str, methods: Mapping[str, Callable[..., Any]], spec: Mapping[str, Any] | None = None,
                 description: str = "") -> ObjectClass:
    """The QMF class of one module: its methods by name (bound callables) and its argument spec."""
    spec = spec or {}
    qmf_methods = [_method(m, fn, spec.get(m, {})) for m, fn in sorted(methods.items())]
    return object_class(PACKAGE, name, properties=[
        Property(name="name", type=Typecode.SSTR, index=True),
        Property(name="version", type=Typecode.SSTR),
        Property(name="api_version", type=Typecode.SSTR),
        Property(name="description", type=Typecode.LSTR, desc=description[:200] or None)],
        methods=qmf_methods)


def _method(name: str, fn: Callable[..., Any], spec: Mapping[str, Any]) -> SchemaMethod:
    args: list[SchemaArgument] = []
    arg_spec = spec.get("args", {}) if isinstance(spec, Mapping) else {}
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(_argument(p, arg_spec.get(p.name, {})))
        elif p.kind == p.VAR_POSITIONAL:
            args.append(arg("*" + p.name, Typecode.LIST, desc="the remaining positional arguments, as a list"))
    args.append(arg(RESULT, Typecode.LIST, dir="O", desc="the return value, boxed"))
    desc = spec.get("description") if isinstance(spec, Mapping) else None
    return SchemaMethod(name=name, args=tuple(args), desc=str(desc)[:500] if desc else _first_line(fn))


def _argument(p: inspect.Parameter, spec: Mapping[str, Any]) -> SchemaArgument:
    """A box, whatever the spec says: func never enforced its argument specs (they described
    forms for funcweb) and callers pass what XML-RPC carried, so the spec's type, description and
    default are documentation here (`desc` reads "int: An int"), not a check."""
    spec = spec if isinstance(spec, Mapping) else {}
    kind, desc = spec.get("type"), spec.get("description")
    text = ": ".join(str(x) for x in (kind, desc) if x) or "a boxed func value"
    has_default = p.default is not inspect.Parameter.empty or "default" in spec
    return arg(p.name, Typecode.LIST, desc=text[:200], default="[]" if has_default else None)


def _first_line(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    return doc.splitlines()[0][:200] if doc else None


# -- the overlord side: positional values → QMF arguments, and back -----------------------------
def encode_args(method: SchemaMethod, params: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """Positional func arguments as the method's QMF in-arguments. Raises TypeError (nothing sent)."""
    ins = method.in_args
    star = ins[-1] if ins and ins[-1].name.startswith("*") else None
    fixed = ins[:-1] if star else ins
    if len(params) > len(fixed) and star is None:
        raise TypeError(f"{method.name}() takes {len(fixed)} arguments ({len(params)} given)")
    out: dict[str, Any] = {}
    for i, a in enumerate(fixed):
        if i < len(params):
            out[a.name] = box(params[i]) if a.type == Typecode.LIST else params[i]
        elif a.type == Typecode.LIST:
            out[a.name] = box(ABSENT)
        elif a.default is not None:
            out[a.name] = json.loads(a.default)
        else:
            raise TypeError(f"{method.name}() missing required argument {a.name!r}")
    if star is not None:
        out[star.name] = box(list(params[len(fixed):]))
    return out


def decode_args(method: SchemaMethod, args: Mapping[str, Any]) -> list[Any]:
    """The minion side: QMF in-arguments back into positional parameters (trailing absent ones dropped)."""
    ins = method.in_args
    star = ins[-1] if ins and ins[-1].name.startswith("*") else None
    values = [unbox(args[a.name]) if a.type == Typecode.LIST else args[a.name] for a in (ins[:-1] if star else ins)]
    while values and values[-1] is ABSENT:
        values.pop()
    if any(v is ABSENT for v in values):
        raise TypeError(f"{method.name}(): an argument left out before one that was given")
    if star is not None:
        rest = unbox(args[star.name])
        values.extend(rest if isinstance(rest, list) else [])
    return values


def remote_error_text(value: list[Any]) -> str:
    return json.dumps([str(x) for x in value[:4]])


def parse_remote_error(text: str) -> list[Any]:
    try:
        value = json.loads(text)
        if isinstance(value, list) and value and value[0] == "REMOTE_ERROR":
            return value
    except ValueError:
        pass
    return ["REMOTE_ERROR", "func.minion.codes.FuncException", text, ""]
