"""Hostile bytes: whatever a peer sends, `decode_body` raises a `DecodeError` or returns messages.

Nothing else may escape it (struct.error, IndexError, UnicodeDecodeError, RecursionError,
MemoryError, KeyError, TypeError, AttributeError...), and no input may make it work much more
than in proportion to its size. The inputs: random bytes, random payloads behind valid headers
and class keys, valid bodies mutated (bit flips, every truncation, inserted and deleted bytes,
length fields set to huge values), nesting and count attacks, and, when atheris is installed, a
short coverage-guided run in a subprocess.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import OPCODES, Case, bodies, sample_case

import codec
from codec import (
    ClassKey,
    DecodeError,
    LimitExceeded,
    Limits,
    ObjectClass,
    SchemaStatistic,
    Truncated,
    decode_body,
    encode,
    encode_body,
)

SETTINGS = settings(deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
SAMPLE = sample_case()
SAMPLE_BODIES = [encode(m) for m in SAMPLE.messages]
SAMPLE_BODY = b"".join(SAMPLE_BODIES)


class Deadline(BaseException):
    """Raised by `deadline` (a BaseException, so that no `except Exception` in the codec eats it)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fails the test if the block takes longer than `seconds` (a guard against hangs, not a benchmark)."""
    def expire(signum: int, frame: Any) -> None:
        raise Deadline(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def decode_or_decode_error(body: bytes, lookups: dict[str, Any] | None = None, **kw: Any) -> list | DecodeError:
    """Decodes `body`; a DecodeError is returned (checked for its fields), anything else propagates."""
    try:
        return decode_body(body, **(SAMPLE.lookups() if lookups is None else lookups), **kw)
    except DecodeError as err:
        assert isinstance(err.reason, str) and err.reason
        assert isinstance(err.offset, int) and 0 <= err.offset <= len(body), err
        assert err.opcode is None or (isinstance(err.opcode, str) and len(err.opcode) == 1), err
        assert str(err)
        return err


# -- random input -------------------------------------------------------------------------------------
@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes(body: bytes) -> None:
    decode_or_decode_error(body)


def headers() -> st.SearchStrategy[bytes]:
    return st.builds(lambda op, seq: b"AM2" + op.encode() + struct.pack(">I", seq),
                     st.sampled_from(OPCODES), st.sampled_from([0, 1, 77, 2**32 - 1]))


KEYS = [k for k in SAMPLE.schemas]


def key_bytes(key: ClassKey) -> bytes:
    pkg, name = key.package.encode(), key.name.encode()
    return bytes([len(pkg)]) + pkg + bytes([len(name)]) + name + key.hash


@SETTINGS
@given(headers(), st.binary(max_size=400))
def test_random_payloads_behind_valid_headers(header: bytes, payload: bytes) -> None:
    decode_or_decode_error(header + payload)


@SETTINGS
@given(op=st.sampled_from("cigeM"), key=st.sampled_from(KEYS), head=st.binary(max_size=40),
       payload=st.binary(max_size=400))
def test_random_values_behind_known_class_keys(op: str, key: ClassKey, head: bytes, payload: bytes) -> None:
    """Record, event and method bodies whose class is known, so that the values are read."""
    if op in "cig":
        fixed = key_bytes(key) + head[:40].ljust(40, b"\0")  # timestamps and object id
    elif op == "e":
        fixed = key_bytes(key) + head[:9].ljust(9, b"\0")  # timestamp and severity
    else:
        fixed = head[:16].ljust(16, b"\0") + key_bytes(key) + b"\x04call"
    decode_or_decode_error(b"AM2" + op.encode() + b"\0\0\0\x4d" + fixed + payload)


# -- mutated valid bodies -----------------------------------------------------------------------------------
HUGE32 = [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x01000000, 0x0000FFFF, 0]
HUGE16 = [0xFFFF, 0x8000, 0x7FFF, 0x0100]


@st.composite
def mutated(draw: Any, case: Case, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "u32", "u16", "u8"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "u32":
            data[at:at + 4] = struct.pack(">I", draw(st.sampled_from(HUGE32)))
        elif kind == "u16":
            data[at:at + 2] = struct.pack(">H", draw(st.sampled_from(HUGE16)))
        else:
            data[at:at + 1] = bytes([draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF]))])
    return bytes(data)


@SETTINGS
@given(data=st.data())
def test_mutated_bodies(data: st.DataObject) -> None:
    case = data.draw(bodies(max_size=4))
    body = encode_body(case.messages, style=data.draw(st.sampled_from(list(codec.MapStyle))))
    decode_or_decode_error(data.draw(mutated(case, body)), case.lookups())


@settings(SETTINGS, max_examples=1500)
@given(data=st.data())
def test_mutated_sample_bodies(data: st.DataObject) -> None:
    body = data.draw(st.sampled_from([*SAMPLE_BODIES, SAMPLE_BODY[:2000]]))
    decode_or_decode_error(data.draw(mutated(SAMPLE, body)))


def test_every_single_bit_flip_of_the_sample() -> None:
    """Every bit of every message of the sample, flipped on its own."""
    for body in SAMPLE_BODIES:
        for i in range(min(len(body), 600)):
            for bit in range(8):
                flipped = bytearray(body)
                flipped[i] ^= 1 << bit
                decode_or_decode_error(bytes(flipped))


def assert_truncations(messages: list, body: bytes, lookups: dict[str, Any]) -> None:
    """Every proper prefix either raises Truncated, or (cut at a message boundary, or after a
    non-zero-status method response's text) decodes to the messages before the cut."""
    for cut in range(len(body)):
        result = decode_or_decode_error(body[:cut], lookups)
        if isinstance(result, DecodeError):
            assert isinstance(result, Truncated), f"cut at {cut}: {result!r}"
        else:
            done = max(len(result) - 1, 0)
            assert result[:done] == messages[:done], f"cut at {cut}"


def test_truncation_at_every_offset_of_the_sample() -> None:
    for m, body in zip(SAMPLE.messages, SAMPLE_BODIES, strict=True):
        assert_truncations([m], body, SAMPLE.lookups())


@settings(SETTINGS, max_examples=40)
@given(bodies(max_size=3))
def test_truncation_at_every_offset(case: Case) -> None:
    assert_truncations(case.messages, encode_body(case.messages), case.lookups())


def test_huge_length_fields_at_every_offset_of_the_sample() -> None:
    """Every uint32 and uint16 position of each sample message (the first 800 bytes of the large
    ones) set to a huge value: whatever field it was, a length, a count or a value."""
    for body in SAMPLE_BODIES:
        for i in range(min(len(body), 800)):
            decode_or_decode_error(body[:i] + b"\xff\xff\xff\xff" + body[i + 4:])
            decode_or_decode_error(body[:i] + b"\x7f\xff" + body[i + 2:])


# -- nesting and count attacks ---------------------------------------------------------------------------
def amqp_map(entries: bytes, count: int) -> bytes:
    return struct.pack(">II", 4 + len(entries), count) + entries


def wrapped(inner: bytes, levels: int, prefix: Callable[[int, int], bytes]) -> bytes:
    """`inner` inside `levels` containers, each one's bytes `prefix(level, size of what it holds)`
    (built inside out and joined once: 10,000 levels must not copy quadratically)."""
    parts, size = [inner], len(inner)
    for level in range(levels):
        part = prefix(level, size)
        parts.append(part)
        size += len(part)
    return b"".join(reversed(parts))


EMPTY_MAP = struct.pack(">II", 4, 0)


def in_map(code: int) -> Callable[[int, int], bytes]:
    return lambda level, size: struct.pack(">II", 4 + 3 + size, 1) + b"\x01k" + bytes([code])  # {'k': <code>}


def in_list(code: int) -> Callable[[int, int], bytes]:
    return lambda level, size: struct.pack(">II", 4 + 1 + size, 1) + bytes([code])  # [<code>]


def in_array(code: int) -> Callable[[int, int], bytes]:
    return lambda level, size: struct.pack(">IBI", 1 + 4 + size, code, 1)  # Array(code, [...])


def in_mixed(level: int, size: int) -> bytes:
    """From the inside out: a map holding the map (or the array) below, a list holding that
    map, an array holding that list, a map holding that array, and so on."""
    if level % 3 == 0:
        return in_map(0xA8 if level == 0 else 0xAA)(level, size)
    return (in_list(0xA8) if level % 3 == 1 else in_array(0xA9))(level, size)


def get_query(value: bytes, code: int) -> bytes:
    """A 'G' whose query map holds `value` (of AMQP type `code`) under the key 'v'."""
    return b"AM2G\0\0\0\0" + amqp_map(b"\x01v" + bytes([code]) + value, 1)


def _maps(depth: int) -> bytes:
    return b"AM2G\0\0\0\0" + wrapped(EMPTY_MAP, depth - 1, in_map(0xA8))


def _lists(depth: int) -> bytes:
    return get_query(wrapped(EMPTY_MAP, depth - 2, in_list(0xA9)), 0xA9) if depth > 1 else get_query(b"", 0xF0)


def _arrays(depth: int) -> bytes:
    empty = struct.pack(">IBI", 5, 0x21, 0)
    return get_query(wrapped(empty, depth - 2, in_array(0xAA)), 0xAA) if depth > 1 else get_query(b"", 0xF0)


def _mixed(depth: int) -> bytes:
    if depth == 1:
        return get_query(b"", 0xF0)
    outer = (0xA8, 0xA9, 0xAA)[(depth - 3) % 3] if depth > 2 else 0xA8
    return get_query(wrapped(EMPTY_MAP, depth - 2, in_mixed), outer)


NODE = ObjectClass(ClassKey("pkg", "node", b"N" * 16), statistics=(SchemaStatistic(name="v", type=20),))
ARRAYS = ObjectClass(ClassKey("pkg", "arrays", b"A" * 16), statistics=(SchemaStatistic(name="v", type=22),))
NESTED_LOOKUP = {NODE.key: NODE, ARRAYS.key: ARRAYS}.get


def _objects(depth: int) -> bytes:
    """An 'i' of class `node`, whose typecode-20 statistic is a `node` object whose statistic is
    ..., `depth` levels, the last a uint8 tagged as typecode 1."""
    return b"AM2i\0\0\0\0" + key_bytes(NODE.key) + bytes(40) + (b"\x14" + key_bytes(NODE.key)) * (depth - 1) + b"\1\0"


def _qmf_arrays(depth: int) -> bytes:
    """An 'i' of class `arrays`: typecode-22 arrays of arrays, `depth` deep, the last empty."""
    empty = struct.pack(">IIB", 5, 0, 3)
    inner = wrapped(empty, depth - 1, lambda level, size: struct.pack(">IIB", 4 + 1 + size, 1, 22))
    return b"AM2i\0\0\0\0" + key_bytes(ARRAYS.key) + bytes(40) + inner


NESTINGS = {"maps": _maps, "lists": _lists, "arrays": _arrays, "mixed": _mixed, "objects": _objects,
            "qmf-arrays": _qmf_arrays}


def test_nestings_are_what_they_say() -> None:
    """The hand-built nestings decode (within the limits) to values that deep."""
    def depth(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, codec.Unmanaged):
            return 1 + depth(v.statistics["v"])
        if isinstance(v, codec.Tagged):
            return 1 + depth(v.value)
        return 0

    for kind, make in NESTINGS.items():
        for d in (1, 2, 3, 4, 5, 6, 7):
            [m] = decode_body(make(d), schemas=NESTED_LOOKUP)
            value = m.query if isinstance(m, codec.GetQuery) else m.statistics["v"]
            assert depth(value) == d, (kind, d)


@pytest.mark.parametrize("kind", list(NESTINGS))
def test_nesting_10000_deep(kind: str) -> None:
    body = NESTINGS[kind](10_000)
    for limits in (codec.DEFAULT_LIMITS, Limits(max_depth=200)):
        with deadline(10):
            err = decode_or_decode_error(body, {"schemas": NESTED_LOOKUP}, limits=limits)
        assert isinstance(err, LimitExceeded), err
        assert f"nested deeper than {limits.max_depth} levels" in err.reason


@pytest.mark.parametrize("kind", list(NESTINGS))
@pytest.mark.parametrize("max_depth", [1, 2, 32, 200])
def test_nesting_exactly_at_the_limit(kind: str, max_depth: int) -> None:
    """`max_depth` levels decode; one more is refused."""
    limits = Limits(max_depth=max_depth)
    ok = NESTINGS[kind](max_depth)
    assert isinstance(decode_or_decode_error(ok, {"schemas": NESTED_LOOKUP}, limits=limits), list)
    err = decode_or_decode_error(NESTINGS[kind](max_depth + 1), {"schemas": NESTED_LOOKUP}, limits=limits)
    assert isinstance(err, LimitExceeded), err


def test_nesting_offset_is_where_the_deep_map_starts() -> None:
    err = decode_or_decode_error(_maps(10_000), {"schemas": None})
    assert isinstance(err, LimitExceeded)
    assert err.offset == 8 + 11 * 32  # the 33rd map: each map adds size, count, key 'k' and a type code
    assert err.opcode == "G"


COUNT_ATTACKS = {
    "map": lambda n: get_query(struct.pack(">II", 4, n), 0xA8),
    "list": lambda n: get_query(struct.pack(">II", 4, n), 0xA9),
    "array of int32": lambda n: get_query(struct.pack(">IBI", 5, 0x21, n), 0xAA),
    "array of void": lambda n: get_query(struct.pack(">IBI", 5, 0xF0, n), 0xAA),
    "array of bit": lambda n: get_query(struct.pack(">IBI", 5, 0xF1, n), 0xAA),
    "array of maps": lambda n: get_query(struct.pack(">IBI", 5, 0xA8, n), 0xAA),
    "qmf array": lambda n: b"AM2i\0\0\0\0" + key_bytes(ARRAYS.key) + bytes(40) + struct.pack(">IIB", 5, n, 3),
    "qmf array of objects": lambda n: (b"AM2i\0\0\0\0" + key_bytes(ARRAYS.key) + bytes(40)
                                       + struct.pack(">IIB", 5, n, 20)),
}


@pytest.mark.parametrize("kind", list(COUNT_ATTACKS))
def test_counts_of_2_to_the_32_minus_1(kind: str) -> None:
    body = COUNT_ATTACKS[kind](2**32 - 1)
    with deadline(10):
        err = decode_or_decode_error(body, {"schemas": NESTED_LOOKUP})
        assert isinstance(err, LimitExceeded), err
        assert "declares 4294967295 entries, the limit is 1000000" in err.reason
        if "void" in kind or "bit" in kind:
            return  # elements of no bytes: only max_entries bounds them (see the test below)
        # with no entry limit to speak of, the bytes that are not there refuse it
        err = decode_or_decode_error(body, {"schemas": NESTED_LOOKUP}, limits=Limits(max_entries=2**40))
        assert isinstance(err, Truncated), err
        assert "4294967295 entries but only" in err.reason


def test_zero_width_elements_are_bounded_per_body() -> None:
    """Void and bit array elements take no bytes: a few bytes that declare a million of them, many
    times over, would make a small body decode into billions of values."""
    array = struct.pack(">IBI", 5, 0xF0, 1_000_000)
    items = b"".join(b"\xaa" + array for _ in range(1000))
    body = get_query(struct.pack(">II", 4 + len(items), 1000) + items, 0xA9)
    assert len(body) < 11_000
    with deadline(10):
        err = decode_or_decode_error(body, {})
    assert isinstance(err, LimitExceeded), err
    # one array of a million voids is within the limits, and decodes
    [m] = decode_body(get_query(array, 0xAA))
    assert len(m.query["v"]) == 1_000_000


def test_schema_counts_past_the_end() -> None:
    for counts in ((0xFFFF, 0xFFFF, 0xFFFF), (0, 0, 0xFFFF), (1, 0, 0)):
        body = b"AM2s\0\0\0\0\x01" + key_bytes(NODE.key) + struct.pack(">HHH", *counts)
        assert isinstance(decode_or_decode_error(body, {}), Truncated)
    body = b"AM2s\0\0\0\0\x02" + key_bytes(NODE.key) + struct.pack(">H", 0xFFFF)
    assert isinstance(decode_or_decode_error(body, {}), Truncated)


def test_method_arg_count_past_the_end() -> None:
    method_map = amqp_map(b"\x04name\x95\0\1m" + b"\x08argCount\x21" + struct.pack(">i", 2**31 - 1), 2)
    body = b"AM2s\0\0\0\0\x01" + key_bytes(NODE.key) + struct.pack(">HHH", 0, 0, 1) + method_map
    err = decode_or_decode_error(body, {})
    assert isinstance(err, LimitExceeded), err


@pytest.mark.parametrize(("body", "what"), [
    (b"AM2p\0\0\0\0\xff" + b"x" * 10, "package name needs 255 bytes, 10 left"),
    (b"AM2m\0\0\0\0\0\0\0\1\xff\xff" + b"x" * 10, "method response text needs 65535 bytes, 10 left"),
    (get_query(b"\xff\xff" + b"x" * 10, 0x95), "needs 65535 bytes, 10 left"),
    (get_query(b"\xff\xff\xff\xff" + b"x" * 10, 0xA0), "needs 4294967295 bytes, 10 left"),
    (get_query(b"\xff\xff\xff\xff" + b"x" * 10, 0xAB), "needs 4294967295 bytes, 10 left"),
    (get_query(b"\xff\xff\xff\xff" + b"x" * 10, 0xA8), "needs 4294967295 bytes"),
])
def test_lengths_past_the_end(body: bytes, what: str) -> None:
    err = decode_or_decode_error(body, {})
    assert isinstance(err, Truncated), err
    assert what in err.reason


# -- time grows with size, not faster ---------------------------------------------------------------------
MIB = 1 << 20
SIZES = (1, 2, 4, 8)


def _concatenated(size: int) -> bytes:
    unit = b"".join(SAMPLE_BODIES[10:18])  # G g c i M m e records: schemas, maps, nested objects
    return unit * (size * MIB // len(unit))


def _one_big_map(size: int) -> bytes:
    entry_values = [b"\x21\0\0\0\5", b"\x95\0\3abc", b"\x08\1", b"\x33" + bytes(8), b"\xf0",
                    b"\xa9" + struct.pack(">II", 6, 1) + b"\x02\7"]
    entries = bytearray()
    n = 0
    while len(entries) < size * MIB - 64:
        key = b"%07x" % n
        entries += b"\x07" + key + entry_values[n % len(entry_values)]
        n += 1
    return b"AM2G\0\0\0\0" + struct.pack(">II", 4 + len(entries), n) + entries


def _seconds_per_byte(body: bytes, runs: int) -> float:
    best = float("inf")
    limits = Limits(max_messages=10**7)
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        decode_body(body, **SAMPLE.lookups(), limits=limits)
        best = min(best, time.perf_counter() - start)
    return best / len(body)


@pytest.mark.parametrize("make", [_concatenated, _one_big_map], ids=["concatenated", "one-big-map"])
def test_decoding_time_grows_linearly(make: Any) -> None:
    per_byte = {size: _seconds_per_byte(make(size), runs=2 if size < 8 else 1) for size in SIZES}
    slowest, fastest = max(per_byte.values()), min(per_byte.values())
    assert slowest <= 4 * fastest, {s: f"{v * 1e9:.0f} ns/byte" for s, v in per_byte.items()}


# -- atheris, when it is installed --------------------------------------------------------------------------
ATHERIS_SCRIPT = textwrap.dedent('''
    import sys

    import atheris

    with atheris.instrument_imports():
        import codec

    from strategies import sample_case

    LOOKUPS = sample_case().lookups()


    def one_input(data: bytes) -> None:
        try:
            codec.decode_body(data, **LOOKUPS)
        except codec.DecodeError as err:
            if not isinstance(err.offset, int) or not 0 <= err.offset <= len(data):
                raise AssertionError(f"bad offset in {err!r}") from None


    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
''')


def test_atheris(tmp_path: Path) -> None:
    """A bounded coverage-guided run (libFuzzer under atheris) seeded with the sample messages."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, body in enumerate([*SAMPLE_BODIES, SAMPLE_BODY]):
        (corpus / f"seed{i}").write_bytes(body)
    script = tmp_path / "fuzz_decode.py"
    script.write_text(ATHERIS_SCRIPT)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(Path(__file__).parent)])}
    proc = subprocess.run([sys.executable, str(script), str(corpus), "-runs=20000", "-max_total_time=8",
                           "-max_len=12000", "-seed=20260101", "-print_final_stats=1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "Done" in output, output[-3000:]
    assert not list(tmp_path.glob("crash-*")), output[-6000:]
