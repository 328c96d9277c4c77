"""The func CLI's `--filter` / `--filteror` text (func/overlord/cmd_modules/call.py `FactsCommand`)."""

from __future__ import annotations

from .query import QueryError

_OPERATORS = (("<=", "lte"), (">=", "gte"), ("=", ""), ("<", "lt"), (">", "gt"))
_WORDS = {"in": "contains", "ini": "icontains"}


def parse_filter(text: str) -> dict[str, str]:
    """func's `--filter "os=Fedora,runlevel>3,Fed in os"` → {"os__": "Fedora", "runlevel__gt": "3",
    "os__contains": "Fed"}. Raises QueryError naming the part it cannot read."""
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise QueryError(f"empty condition in {text!r}")
        out.update([_one_condition(part)])
    return out


def _one_condition(part: str) -> tuple[str, str]:
    words = part.split()
    if len(words) == 3 and words[1] in _WORDS:
        return f"{words[2]}__{_WORDS[words[1]]}", words[0]
    for op, keyword in _OPERATORS:
        if op in part:
            key, _, value = part.partition(op)
            if key.strip() and " " not in key.strip():  # an empty value is func's too: "os=" is os == ""
                return f"{key.strip()}__{keyword}", value.strip()
            break
    raise QueryError(f"cannot read the condition {part!r} (fact=value, fact<value, fact>=value, "
                     "value in fact, value ini fact)")
