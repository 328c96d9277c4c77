"""`py27_dict_order` against the real CPython 2.7: the same insertions, the same `d.keys()`.

One `python2.7` process serves the whole session: it reads one JSON request a line on stdin (a
batch of key lists, each key a flag - "u" for `unicode`, "b" for `str` - and its code points or
bytes, so no JSON string escaping can change a key) and answers one JSON line: each dict's
`keys()` in the same form, and Python 2's `hash()` of the keys asked for. The hand-picked cases
go in one batch; each hypothesis example is a batch of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.py27order import _hash, py27_dict_order

Key = str | bytes

HOW_TO_GET_PY27 = (
    "these tests compare with the real CPython 2.7.18 and need `python2.7` on PATH: install it with "
    "`pyenv install 2.7.18` (pyenv's shim is then run with PYENV_VERSION=2.7.18), or put any 64-bit "
    "UCS4 CPython 2.7 build on PATH as python2.7"
)

PY2_ORACLE = r"""
import json, sys, warnings
warnings.simplefilter('ignore')  # comparing a non-ASCII str with unicode warns

def build(k):
    if k[0] == 'u':
        return u''.join([unichr(c) for c in k[1]])
    return ''.join([chr(c) for c in k[1]])

def dump(k):
    return ['u' if isinstance(k, unicode) else 'b', [ord(c) for c in k]]

def say(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()

say({'maxunicode': sys.maxunicode, 'maxsize': sys.maxsize, 'version': sys.version,
     'hash_randomization': sys.flags.hash_randomization,
     'encoding': sys.getdefaultencoding()})
for line in iter(sys.stdin.readline, ''):
    request = json.loads(line)
    orders = []
    for case in request['orders']:
        d = {}
        for k in case:
            d[build(k)] = None
        orders.append([dump(k) for k in d.keys()])
    say({'orders': orders, 'hashes': [hash(build(k)) for k in request['hashes']]})
"""


def to_wire(key: Key) -> list[Any]:
    if isinstance(key, bytes):
        return ["b", list(key)]
    return ["u", [ord(c) for c in key]]


def from_wire(item: list[Any]) -> Key:
    flag, values = item
    return bytes(values) if flag == "b" else "".join(map(chr, values))


class Python27:
    """The session's python2.7 child; `error` says why there is none."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.error: str | None = None
        self.info: dict[str, Any] = {}
        self._handpicked: list[list[Key]] | None = None

    def start(self) -> None:
        if shutil.which("python2.7") is None:
            self.error = f"python2.7 is not on PATH; {HOW_TO_GET_PY27}"
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYENV_VERSION"] = "2.7.18"
        # -E: no PYTHON* variables (PYTHONHASHSEED would change every hash); -S: no site
        # customisation (a sitecustomize could change the default encoding).
        self.proc = subprocess.Popen(
            ["python2.7", "-E", "-S", "-c", PY2_ORACLE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        first = self.proc.stdout.readline() if self.proc.stdout else ""
        if not first:
            self.proc.wait(timeout=10)
            stderr = self.proc.stderr.read().strip() if self.proc.stderr else ""
            self.error = f"python2.7 did not start ({stderr or 'no output'}); {HOW_TO_GET_PY27}"
            self.proc = None
            return
        self.info = json.loads(first)
        wanted = {"maxunicode": 1114111, "maxsize": 2**63 - 1, "hash_randomization": 0, "encoding": "ascii"}
        wrong = {k: self.info[k] for k, v in wanted.items() if self.info[k] != v}
        if wrong:
            self.error = f"python2.7 is not the build modelled ({wrong}, want {wanted}); {HOW_TO_GET_PY27}"

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

    def ask(
        self, orders: Sequence[Sequence[Key]], hashes: Sequence[Key] = ()
    ) -> tuple[list[list[Key]], list[int]]:
        """Python 2's `keys()` after inserting each list into `{}`, and `hash()` of each of `hashes`."""
        if self.error is not None:
            pytest.fail(self.error, pytrace=False)
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        request = {
            "orders": [[to_wire(k) for k in case] for case in orders],
            "hashes": list(map(to_wire, hashes)),
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(
                f"python2.7 died: {self.proc.stderr.read() if self.proc.stderr else ''}", pytrace=False
            )
        answer = json.loads(line)
        return [[from_wire(k) for k in keys] for keys in answer["orders"]], answer["hashes"]

    def handpicked(self) -> list[list[Key]]:
        """The orders for HANDPICKED, asked for in one batch the first time."""
        if self._handpicked is None:
            self._handpicked, _ = self.ask([case for _, case in HANDPICKED])
        return self._handpicked


@pytest.fixture(scope="session")
def py27() -> Iterator[Python27]:
    oracle = Python27()
    oracle.start()  # never raises: a missing python2.7 fails each test (`ask`), it does not skip
    yield oracle
    oracle.stop()


# --- hand-picked cases -------------------------------------------------------------------------

PROPERTY_KEYS = [
    "name",
    "type",
    "access",
    "index",
    "optional",
    "unit",
    "desc",
    "min",
    "max",
    "maxlen",
    "refPackage",
    "refClass",
]
ARG_KEYS = [
    "name",
    "type",
    "dir",
    "unit",
    "min",
    "max",
    "maxlen",
    "desc",
    "default",
    "refPackage",
    "refClass",
]
METHOD_KEYS = ["name", "argCount", "desc"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def as_bytes(keys: Sequence[str]) -> list[Key]:
    return [k.encode() for k in keys]


def alternate(keys: Sequence[str]) -> list[Key]:
    return [k.encode() if i % 2 else k for i, k in enumerate(keys)]


def word(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()[: 1 + i % 9]


def named_cases() -> list[tuple[str, list[Key]]]:
    cases: list[tuple[str, list[Key]]] = []
    for name, keys in [
        ("property", PROPERTY_KEYS),
        ("arg", ARG_KEYS),
        ("method", METHOD_KEYS),
        ("property+argCount", [*PROPERTY_KEYS, "argCount"]),
        ("property+dir", [*PROPERTY_KEYS, "dir"]),
        ("property+default", [*PROPERTY_KEYS, "default"]),
        ("property+all", [*PROPERTY_KEYS, "argCount", "dir", "default"]),
        ("property-reversed", PROPERTY_KEYS[::-1]),
        ("class,package", ["_class", "_package"]),
        ("package,class", ["_package", "_class"]),
        ("letters", LETTERS),
        ("letters-reversed", LETTERS[::-1]),
    ]:
        cases += [(name, list(keys)), (f"{name}-bytes", as_bytes(keys)), (f"{name}-mixed", alternate(keys))]
    cases += [(f"letter-{c}", [c]) for c in "aAzZ_"]
    cases += [(f"letters-{n}", list(LETTERS[:n])) for n in range(1, len(LETTERS) + 1)]
    cases += [
        ("empty-dict", []),
        ("empty-key", ["", b"", "a", b"a"]),
        ("duplicates", ["name", "type", "name", b"type", "desc", "name", b"desc", "type"]),
        ("bytes-then-unicode", [b"name", "name", b"_class", "_class"]),
        ("latin1-vs-unicode", ["\xe9", b"\xe9", "\xe9t\xe9", b"\xe9t\xe9", "é".encode(), b"\xff", "\xff"]),
        ("non-bmp", ["\U0001f600", "\U0001f600".encode(), "\ud83d\ude00", "\U0010ffff", "\x00", b"\x00"]),
        ("long-key", ["x" * 1000, b"y" * 1000, "z" * 999 + "\u20ac"]),
    ]
    return cases


def size_cases() -> list[tuple[str, list[Key]]]:
    """1..200 keys of three kinds, crossing the 8 -> 32 -> 128 -> 512 resizes."""
    cases: list[tuple[str, list[Key]]] = []
    for n in range(1, 201):
        cases.append((f"k{n}", [f"k{i}" for i in range(n)]))
        cases.append((f"digits{n}", [str(i).encode() for i in range(n)]))
        cases.append((f"words{n}", alternate([word(i) for i in range(n)])))
    # past used > 50000, where a resize only doubles (the 87382nd key)
    cases.append(("big", [f"key{i}" for i in range(100_000)]))
    return cases


NAMED_CASES = named_cases()
HANDPICKED = NAMED_CASES + size_cases()
NAMED = range(len(NAMED_CASES))
SIZED = range(len(NAMED_CASES), len(HANDPICKED))


@pytest.mark.parametrize("index", NAMED, ids=[HANDPICKED[i][0] for i in NAMED])
def test_named_cases(py27: Python27, index: int) -> None:
    _, keys = HANDPICKED[index]
    assert py27_dict_order(keys) == py27.handpicked()[index]


def test_sizes_1_to_200_and_past_50000(py27: Python27) -> None:
    expected = py27.handpicked()
    wrong = [HANDPICKED[i][0] for i in SIZED if py27_dict_order(HANDPICKED[i][1]) != expected[i]]
    assert not wrong, f"orders differ from python2.7 for: {wrong}"


def test_hashes(py27: Python27) -> None:
    keys = sorted({k for i in NAMED for k in HANDPICKED[i][1]}, key=repr)
    _, hashes = py27.ask([], keys)
    assert {k: _hash(k) for k in keys} == dict(zip(keys, hashes, strict=True))


def test_a_missing_python27_fails_and_says_how_to_get_it() -> None:
    oracle = Python27()
    oracle.error = f"python2.7 is not on PATH; {HOW_TO_GET_PY27}"
    with pytest.raises(pytest.fail.Exception, match=r"pyenv install 2\.7\.18"):
        oracle.ask([["a"]])


# --- random key lists --------------------------------------------------------------------------

# Near misses: ASCII that a unicode and a str share, Latin-1 bytes whose hash equals the unicode
# with the same code points (but which compare unequal), surrogates, the top code point.
ALPHABET = "ab_Z\x00\x7f\x80\xe9\xff\u0100\u20ac\ud800\udc00\U0001f600\U0010ffff"


def flavour(text: str, as_bytes: bool) -> Key:
    if not as_bytes:
        return text
    if all(ord(c) < 256 for c in text):
        return text.encode("latin-1")
    return text.encode("utf-8", "surrogatepass")


near_keys = st.builds(flavour, st.text(st.sampled_from(ALPHABET), max_size=3), st.booleans())
qmf_keys = st.builds(flavour, st.sampled_from([*PROPERTY_KEYS, "argCount", "dir", "default"]), st.booleans())
free_keys = st.one_of(st.text(max_size=8), st.binary(max_size=8))
key_lists = st.lists(st.one_of(near_keys, qmf_keys, free_keys), max_size=120).flatmap(
    lambda ks: st.lists(st.sampled_from(ks), max_size=10).map(lambda again: ks + again) if ks else st.just(ks)
)


def test_random_key_lists(py27: Python27) -> None:
    py27.ask([])  # fail here, once, if there is no python2.7

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(key_lists)
    def same_as_python27(keys: list[Key]) -> None:
        (expected,), hashes = py27.ask([keys], keys)
        assert [_hash(k) for k in keys] == hashes
        assert py27_dict_order(keys) == expected

    same_as_python27()
