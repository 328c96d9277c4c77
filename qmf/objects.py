"""Managed objects: what an agent holds, what 'g', 'c' and 'i' records are made from."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from codec import ObjectClass, ObjectId, ObjectIndication, PropertyIndication, StatisticIndication


def now_ns() -> int:
    return time.time_ns()


class ManagedObject:
    """One object of an object class, with its properties and statistics by name.

    `set()` changes values and tells the owner (the agent), which publishes a 'c' for changed
    properties and an 'i' for changed statistics on its next turn. Values are checked against the
    schema when a record is built, so a wrong type fails in the application's call, not later."""

    def __init__(self, schema: ObjectClass, number: int, properties: Mapping[str, Any],
                 statistics: Mapping[str, Any] | None, on_change: Callable[[ManagedObject, bool, bool], None],
                 persistent: bool = False) -> None:
        self.schema = schema
        self.number = number
        self.persistent = persistent
        self.properties = dict(properties)
        self.statistics = {s.name: 0 for s in schema.statistics}
        self.statistics.update(statistics or {})
        self.create_time = self.update_time = now_ns()
        self.delete_time = 0
        self.object_id = ObjectId(0, number)  # set by the agent once it has its banks
        self._on_change = on_change
        self.record(ObjectIndication)  # refuse values the schema cannot carry now, not when first published

    def set(self, **values: Any) -> None:
        props = {k: v for k, v in values.items() if k in self.properties or _is_prop(self.schema, k)}
        stats = {k: v for k, v in values.items() if k not in props}
        unknown = [k for k in stats if k not in self.statistics]
        if unknown:
            raise KeyError(f"class {self.schema.key.name!r} has no property or statistic {unknown}")
        old_p, old_s = dict(self.properties), dict(self.statistics)
        self.properties.update(props)
        self.statistics.update(stats)
        try:
            self.record(ObjectIndication)
        except Exception:
            self.properties, self.statistics = old_p, old_s
            raise
        self.update_time = now_ns()
        self._on_change(self, bool(props), bool(stats))

    def record(self, cls: type, seq: int = 0) -> Any:
        """The object as a 'g', 'c' or 'i' message."""
        common = dict(seq=seq, schema=self.schema, object_id=self.object_id, update_time=self.update_time,
                      create_time=self.create_time, delete_time=self.delete_time)
        if cls is ObjectIndication:
            return ObjectIndication(properties=self.properties, statistics=self.statistics, **common)
        if cls is PropertyIndication:
            return PropertyIndication(properties=self.properties, **common)
        return StatisticIndication(statistics=self.statistics, **common)

    def __repr__(self) -> str:
        return f"<ManagedObject {self.schema.key.package}:{self.schema.key.name} {self.object_id}>"


def _is_prop(schema: ObjectClass, name: str) -> bool:
    return any(p.name == name for p in schema.properties)


def matching(objects: Iterable[ManagedObject], query: Mapping[str, Any]) -> list[ManagedObject] | None:
    """The objects a 'G' query selects (qmf-v1.md §6.1), or None when it names neither `_class` nor
    `_objectid` (the broker answered such a query with nothing; we answer with a 'z' code 1)."""
    cls = query.get("_class")
    pkg = query.get("_package")
    oid = query.get("_objectid")
    if isinstance(cls, bytes):
        cls = cls.decode("utf-8", "replace")
    if isinstance(pkg, bytes):
        pkg = pkg.decode("utf-8", "replace")
    if isinstance(cls, str):
        return [o for o in objects if o.schema.key.name == cls and (not isinstance(pkg, str)
                                                                     or o.schema.key.package == pkg)]
    if isinstance(oid, bytes):
        oid = oid.decode("utf-8", "replace")
    if isinstance(oid, str):
        try:
            want = ObjectId.parse(oid)
        except ValueError:
            return []
        return [o for o in objects if o.object_id == want or o.object_id.console_normalised() == want]
    if isinstance(oid, ObjectId):
        return [o for o in objects if o.object_id == oid]
    return None
