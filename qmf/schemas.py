"""Building class schemas, and the registry every role keeps of them.

An application describes a class once (`object_class`, `event_class`); the hash that names it on
the wire is the MD5 of its schema record written with a zero hash, so the same description gives
the same key in every process and on every restart, and any change to it gives a new one (QMF's
rule: the (package, class, hash) triple identifies a class).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from codec import ClassKey, EventClass, ObjectClass, Schema, SchemaArgument, SchemaMethod, SchemaProperty
from codec import SchemaStatistic as Statistic
from codec.schema import write_schema

_ZERO = bytes(16)

Property = SchemaProperty
Method = SchemaMethod
Argument = SchemaArgument


def object_class(package: str, name: str, *, properties: Iterable[SchemaProperty] = (),
                 statistics: Iterable[Statistic] = (), methods: Iterable[SchemaMethod] = ()) -> ObjectClass:
    """An object class whose hash is derived from its description."""
    draft = ObjectClass(ClassKey(package, name, _ZERO), tuple(properties), tuple(statistics), tuple(methods))
    return ObjectClass(ClassKey(package, name, _digest(draft)), draft.properties, draft.statistics, draft.methods)


def event_class(package: str, name: str, arguments: Iterable[SchemaArgument] = ()) -> EventClass:
    """An event class whose hash is derived from its description; arguments have `dir=None`."""
    draft = EventClass(ClassKey(package, name, _ZERO), tuple(arguments))
    return EventClass(ClassKey(package, name, _digest(draft)), draft.arguments)


def method(name: str, *args: SchemaArgument, desc: str | None = None) -> SchemaMethod:
    return SchemaMethod(name=name, args=args, desc=desc)


def arg(name: str, type: int, dir: str | None = "I", **kw: Any) -> SchemaArgument:
    return SchemaArgument(name=name, type=type, dir=dir, **kw)


def _digest(schema: Schema) -> bytes:
    buf = bytearray()
    write_schema(buf, schema)
    return hashlib.md5(bytes(buf), usedforsecurity=False).digest()


class Registry:
    """The classes a role knows, by key and by package, in the order they were added."""

    def __init__(self) -> None:
        self._by_key: dict[ClassKey, Schema] = {}
        self._packages: dict[str, dict[ClassKey, Schema]] = {}
        self._by_name: dict[tuple[str, str], Schema] = {}

    def add(self, schema: Schema) -> bool:
        """Adds a class; True if it was new."""
        if schema.key in self._by_key:
            return False
        self._by_key[schema.key] = schema
        self._packages.setdefault(schema.key.package, {})[schema.key] = schema
        self._by_name[(schema.key.package, schema.key.name)] = schema
        return True

    def get(self, key: ClassKey) -> Schema | None:
        return self._by_key.get(key)

    __call__ = get  # a registry is the codec's schema lookup

    def by_name(self, package: str | None, name: str) -> list[Schema]:
        if package is not None:
            s = self._by_name.get((package, name))
            return [s] if s is not None else []
        return [s for (_p, n), s in self._by_name.items() if n == name]

    def packages(self) -> list[str]:
        return list(self._packages)

    def classes(self, package: str) -> list[Schema]:
        return list(self._packages.get(package, {}).values())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Schema]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)
