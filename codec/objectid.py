"""QMFv1 object ids (qmf-v1.md §5.1): two uint64, with bit fields in the first.

The codec keeps all 128 bits as received. Qpid's Python console rebuilds ids with the flags
dropped and the broker bank forced to 1 (`console_normalised` reproduces that for byte
comparisons); the broker compares all 128 bits, and so does `==` here.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import EncodeError

_U64 = 2**64 - 1


class _ObjectIdFields(NamedTuple):
    first: int
    second: int


class ObjectId(_ObjectIdFields):
    """A tuple of the two uint64 halves, so hashing and comparing ids run in C."""

    __slots__ = ()

    def __new__(cls, first: int, second: int) -> ObjectId:
        for name, v in (("first", first), ("second", second)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _U64:
                raise EncodeError(f"ObjectId.{name} must be a uint64, not {v!r}")
        return super().__new__(cls, int(first), int(second))

    @classmethod
    def make(cls, *, flags: int = 0, sequence: int = 0, broker_bank: int = 1, agent_bank: int = 0,
             object: int = 0) -> ObjectId:
        """Builds an id from its fields; each must fit its bit width."""
        for name, value, bits in (("flags", flags, 4), ("sequence", sequence, 12),
                                  ("broker_bank", broker_bank, 20), ("agent_bank", agent_bank, 28),
                                  ("object", object, 64)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
                raise EncodeError(f"ObjectId {name} {value!r} does not fit in {bits} bits")
        return cls((flags << 60) | (sequence << 48) | (broker_bank << 28) | agent_bank, object)

    @classmethod
    def parse(cls, text: str) -> ObjectId:
        """Reads the text form `flags-seq-brokerBank-agentBank-object` (exactly five numbers)."""
        parts = text.split("-")
        if len(parts) != 5 or not all(p.isdigit() and p.isascii() for p in parts):
            raise EncodeError(f"object id text must be five dash-separated numbers, not {text!r:.60}")
        f, s, b, a, o = (int(p) for p in parts)
        return cls.make(flags=f, sequence=s, broker_bank=b, agent_bank=a, object=o)

    @property
    def flags(self) -> int:
        return self.first >> 60

    @property
    def sequence(self) -> int:
        return (self.first >> 48) & 0xFFF

    @property
    def broker_bank(self) -> int:
        return (self.first >> 28) & 0xFFFFF

    @property
    def agent_bank(self) -> int:
        return self.first & 0xFFFFFFF

    @property
    def object(self) -> int:
        return self.second

    def console_normalised(self) -> ObjectId:
        """The id as Qpid's console re-encodes it: flags 0, broker bank 1."""
        return ObjectId((self.sequence << 48) | (1 << 28) | self.agent_bank, self.second)

    def __str__(self) -> str:
        return f"{self.flags}-{self.sequence}-{self.broker_bank}-{self.agent_bank}-{self.object}"

    def __repr__(self) -> str:
        return f"ObjectId({self})"
