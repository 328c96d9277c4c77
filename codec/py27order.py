"""The order in which a CPython 2.7 dict lists its keys, computed from Python 3.

Why this exists: Qpid's Python 2.7 console writes an AMQP map with ``codec010.write_map(d)``,
which emits the entries in ``d.keys()`` order. That order is CPython 2.7's hash-table slot
order: deterministic (2.7 has no hash randomisation unless ``-R``/``PYTHONHASHSEED`` is used)
but neither sorted nor insertion order. To produce maps byte-identical to Qpid's from Python 3
we replay the insertions into a model of the 2.7 table and read the slots back.

What is modelled (Objects/dictobject.c, stringobject.c and unicodeobject.c of 2.7, on a 64-bit
Linux build with UCS4 unicode):

- the string hash: ``x = s[0] << 7``; ``x = (1000003 * x) ^ c`` for every byte / code point;
  ``x ^= len``; ``-1`` becomes ``-2``; arithmetic wraps as a 64-bit C ``long``; the empty
  string hashes to 0. ``str`` and ``unicode`` share the formula, so an ASCII ``unicode`` and
  the equal ``str`` collide and, comparing equal, are one key;
- open addressing from slot ``hash & mask``, then ``i = 5*i + perturb + 1`` with ``perturb``
  starting at the hash taken as an unsigned ``size_t`` and shifted right by 5 each step;
- a fresh dict has 8 slots; after an insertion that adds a key, if ``fill*3 >= size*2`` the
  table is resized to the smallest power of two (from 8) above ``used*4`` (``used*2`` when
  ``used > 50000``), re-inserting the entries in old-slot order.

Only insertion into an empty dict (``d = {}; d[k] = v`` ...) is modelled: no deletions, and not
the presizing done by a 2.7 dict display (``{a: 1, ...}`` with more than 5 entries) nor by
``dict.update(other_dict)`` / ``dict.copy()``, which can give another order. Python 2's default
encoding is taken to be ASCII (so a non-ASCII ``str`` never equals a ``unicode``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["py27_dict_order"]

_MASK64 = (1 << 64) - 1
_PERTURB_SHIFT = 5
_MINSIZE = 8


def _hash(key: str | bytes) -> int:
    """``hash(key)`` in 64-bit CPython 2.7 (``str`` as ``unicode``, ``bytes`` as ``str``)."""
    codes = key if isinstance(key, bytes) else [ord(c) for c in key]
    if not codes:
        return 0
    x = codes[0] << 7
    for c in codes:
        x = ((1000003 * x) ^ c) & _MASK64
    x ^= len(codes)
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


def _identity(key: str | bytes) -> str | bytes | tuple[bytes]:
    """A value equal for exactly the keys that Python 2 would find equal."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        if key.isascii():
            return key.decode("ascii")  # an ASCII str equals the same unicode
        return (key,)  # compares unequal to every unicode
    raise TypeError(f"dict keys must be str or bytes, not {type(key).__name__}")


def _free_or_equal_slot(
    table: list[int | None], mask: int, hashes: list[int], idents: list[object], h: int, ident: object
) -> int:
    """The slot holding a key equal to ``ident``, else the first empty slot on its probe path."""
    i = perturb = h & _MASK64
    while True:
        slot = i & mask
        entry = table[slot]
        if entry is None or (hashes[entry] == h and idents[entry] == ident):
            return slot
        i = ((i << 2) + i + perturb + 1) & _MASK64
        perturb >>= _PERTURB_SHIFT


def py27_dict_order(keys: Iterable[str | bytes]) -> list[str | bytes]:
    """The keys as CPython 2.7's ``d.keys()`` lists them after ``d = {}; for k in keys: d[k] = v``.

    A ``str`` stands for a Python 2 ``unicode``, a ``bytes`` for a Python 2 ``str``. A key equal
    to one already inserted (including an ASCII ``str`` equal to an earlier ``bytes``, or the
    reverse) adds nothing: the earlier object is the one listed, as in Python 2.
    """
    mask = _MINSIZE - 1
    table: list[int | None] = [None] * _MINSIZE  # slot -> index into the lists below
    originals: list[str | bytes] = []
    hashes: list[int] = []
    idents: list[object] = []
    for key in keys:
        ident = _identity(key)
        h = _hash(key)
        slot = _free_or_equal_slot(table, mask, hashes, idents, h, ident)
        if table[slot] is not None:
            continue
        table[slot] = len(originals)
        originals.append(key)
        hashes.append(h)
        idents.append(ident)
        used = len(originals)  # no deletions, so fill == used
        if used * 3 >= (mask + 1) * 2:
            minused = used * (2 if used > 50000 else 4)
            size = _MINSIZE
            while size <= minused:
                size <<= 1
            new_table: list[int | None] = [None] * size
            mask = size - 1
            for entry in table:  # old slots in index order; each lands in a free slot
                if entry is not None:
                    i = perturb = hashes[entry] & _MASK64
                    while new_table[i & mask] is not None:
                        i = ((i << 2) + i + perturb + 1) & _MASK64
                        perturb >>= _PERTURB_SHIFT
                    new_table[i & mask] = entry
            table = new_table
    return [originals[entry] for entry in table if entry is not None]
