"""func's exception types (func/minion/codes.py), under the names callers test for.

A remote error reaches the overlord as `["REMOTE_ERROR", type, message, traceback]`; the type
string is the exception's dotted name, as `certmaster.utils.nice_exception` printed it.
"""

from __future__ import annotations

import traceback
from typing import Any


class FuncException(Exception):
    """Base of func's own errors."""


class ModuleNotFoundException(FuncException):
    """The module part of `module.method` names no loaded module."""


class InvalidMethodException(FuncException):
    """The module exists; the method does not."""


class AccessToMethodDenied(FuncException):
    """The caller's certificate is not allowed this method by the minion's ACLs."""


class Func_Client_Exception(FuncException):  # func's own name, kept for callers
    """Raised by the overlord: nothing matched the host spec."""


class TimeoutException(FuncException):
    """No answer from a minion by the call's deadline."""


class InvalidArguments(FuncException):
    """The arguments do not fit the method (count, names or types)."""


def type_name(exc: BaseException | type[BaseException]) -> str:
    """The dotted name of an exception type, as func printed it (`exceptions.Exception` in Python 2,
    `builtins.Exception` here; func's own types keep `func.minion.codes.X`)."""
    cls = exc if isinstance(exc, type) else type(exc)
    module = cls.__module__
    if module == __name__:
        module = "func.minion.codes"
    return f"{module}.{cls.__qualname__}"


def nice_exception(exc: BaseException) -> list[Any]:
    """func's REMOTE_ERROR list: marker, type name, message, formatted stack (frames joined by a space)."""
    stack = " ".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    return ["REMOTE_ERROR", type_name(exc), str(exc), stack]


def is_error(value: Any) -> bool:
    """func.utils.is_error: a non-empty list whose first element is "REMOTE_ERROR"."""
    return isinstance(value, list | tuple) and len(value) > 0 and value[0] == "REMOTE_ERROR"
