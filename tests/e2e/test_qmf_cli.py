"""End to end for `qmf-tool` (qmf/cli.py): the CLI runs as a real subprocess against the broker role and
the example agents demo1 and demo2 on a RabbitMQ vhost of its own; every assertion is on what it
printed and the exit code it returned."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from qmf_env import QmfEnv

from qmf.cli import jsonable, table
from qmf.sync import Console as SyncConsole

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ENV.pop("QMF_URL", None)


def command(url: str | None, *args: str) -> list[str]:
    return [sys.executable, "-m", "qmf.cli", *(["--url", url] if url else []), *args]


def cli(env: QmfEnv, *args: str, timeout: float = 60, extra_env: dict[str, str] | None = None,
        url: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(env.url if url else None, *args), cwd=REPO, env={**ENV, **(extra_env or {})},
                          capture_output=True, text=True, timeout=timeout)


def ok(env: QmfEnv, *args: str) -> str:
    r = cli(env, *args)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def ok_json(env: QmfEnv, *args: str) -> Any:
    return json.loads(ok(env, "--json", *args))


def fails(env: QmfEnv, code: int, *args: str, timeout: float = 60) -> str:
    """Runs a command that must fail with `code`; returns its one-line message."""
    r = cli(env, *args, timeout=timeout)
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    if code != 2:  # argparse prints its usage line too
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith("qmf-tool: "), r.stderr
    return r.stderr.strip()


@pytest.fixture(scope="module")
def ids(qmf_env: QmfEnv) -> dict[tuple[str, str], str]:
    """(agent, thing name) → object id text, as the CLI itself lists them."""
    found = {}
    for agent in ("demo1", "demo2"):
        for o in ok_json(qmf_env, "objects", "thing", "--agent", agent):
            found[(agent, o["properties"]["name"])] = o["object_id"]
    return found


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


# -- browsing -------------------------------------------------------------------------------------
def test_agents_lists_both_demo_agents(qmf_env: QmfEnv) -> None:
    out = ok(qmf_env, "agents")
    table_rows = rows(out)
    assert table_rows[0][:4] == ["name", "banks", "label", "alive"]
    by_name = {r[0]: r for r in table_rows[2:]}
    assert {"demo1", "demo2"} <= set(by_name)
    assert re.fullmatch(r"1\.\d+", by_name["demo1"][1]) and by_name["demo1"][2] == "demo1"
    data = {a["name"]: a for a in ok_json(qmf_env, "agents")}
    assert {"demo1", "demo2"} <= set(data)
    assert data["demo1"]["banks"] == f"1.{data['demo1']['agent_bank']}" and data["demo1"]["broker_bank"] == 1
    assert data["demo1"]["agent_bank"] != data["demo2"]["agent_bank"]
    assert isinstance(data["demo2"]["alive"], bool)
    uuid.UUID(data["demo2"]["system_id"])


def test_url_from_the_environment(qmf_env: QmfEnv) -> None:
    r = cli(qmf_env, "--json", "agents", url=False, extra_env={"QMF_URL": qmf_env.url})
    assert r.returncode == 0, r.stderr
    assert {"demo1", "demo2"} <= {a["name"] for a in json.loads(r.stdout)}


def test_packages_from_the_broker_role_and_from_an_agent(qmf_env: QmfEnv) -> None:
    listed = [r[0] for r in rows(ok(qmf_env, "packages"))[2:]]
    assert "org.example.demo" in listed and "org.apache.qpid.broker" in listed
    assert ok_json(qmf_env, "packages", "--agent", "demo1") == [{"package": "org.example.demo"}]


def test_classes_of_a_package(qmf_env: QmfEnv) -> None:
    got = {tuple(r[:3]) for r in rows(ok(qmf_env, "classes", "org.example.demo"))[2:]}
    assert got == {("object", "org.example.demo", "thing"), ("event", "org.example.demo", "note")}
    data = ok_json(qmf_env, "classes", "org.example.demo", "--agent", "demo2")
    assert {(c["kind"], c["class"]) for c in data} == {("object", "thing"), ("event", "note")}
    assert all(re.fullmatch(r"[0-9a-f]{32}", c["hash"]) for c in data)
    msg = fails(qmf_env, 1, "classes", "no.such.package")
    assert "no package named 'no.such.package'" in msg and "org.example.demo" in msg


def test_schema_of_thing_shows_methods_and_argument_types(qmf_env: QmfEnv) -> None:
    out = ok(qmf_env, "schema", "thing")
    assert out.startswith("object class org.example.demo:thing")
    assert re.search(r"^\s+name\s+SSTR\s+RO\s+yes\s+no\s+which thing$", out, re.M)
    assert re.search(r"^\s+note\s+LSTR\s+RW\s+no\s+yes$", out, re.M)
    assert re.search(r"^\s+calls\s+U64\s+method calls so far$", out, re.M)
    assert "echo(text: LSTR) -> reply: LSTR  -- gives back its argument" in out
    assert "add(a: S64, b: S64) -> sum: S64" in out
    assert "every_type(u8: U8, u16: U16," in out
    assert re.search(r"^\s+sum\s+S64\s+O$", out, re.M)
    assert re.search(r"^\s+deltatime\s+DELTATIME\s+IO$", out, re.M)

    data = ok_json(qmf_env, "schema", "thing", "--package", "org.example.demo", "--agent", "demo2")
    assert (data["kind"], data["package"], data["class"]) == ("object", "org.example.demo", "thing")
    methods = {m["name"]: m for m in data["methods"]}
    assert [m["name"] for m in data["methods"]][:3] == ["echo", "add", "every_type"]
    assert [(a["name"], a["type"], a["dir"]) for a in methods["add"]["arguments"]] == [
        ("a", "S64", "I"), ("b", "S64", "I"), ("sum", "S64", "O")]
    every = {a["name"]: (a["type"], a["typecode"], a["dir"]) for a in methods["every_type"]["arguments"]}
    assert every["uuid"] == ("UUID", 14, "IO") and every["array"] == ("ARRAY", 22, "IO") and len(every) == 20
    assert {p["name"]: p["access"] for p in data["properties"]} == {"name": "RO", "kind": "RO", "note": "RW"}
    assert [s["name"] for s in data["statistics"]] == ["calls", "load"]


def test_schema_of_an_event_class_shows_its_arguments(qmf_env: QmfEnv) -> None:
    out = ok(qmf_env, "schema", "note")
    assert out.startswith("event class org.example.demo:note")
    assert re.search(r"^\s+text\s+LSTR$", out, re.M) and re.search(r"^\s+source\s+SSTR$", out, re.M)
    data = ok_json(qmf_env, "schema", "note")
    assert [(a["name"], a["type"]) for a in data["arguments"]] == [("text", "LSTR"), ("source", "SSTR")]


def test_objects_of_thing_with_properties_and_statistics(qmf_env: QmfEnv) -> None:
    out = ok(qmf_env, "objects", "thing", "--agent", "demo1")
    lines = out.splitlines()
    assert lines[0].startswith("class org.example.demo:thing")
    assert rows(lines[1])[0] == ["object id", "agent", "name", "kind", "note", "calls", "load"]
    body = {r[2]: r for r in rows("\n".join(lines[3:]))}
    assert set(body) == {"alpha", "beta"}
    assert body["alpha"][1] == "demo1" and body["alpha"][3] == "first" and body["alpha"][4] == "-"
    assert body["beta"][3:5] == ["second", "has a note"]
    assert re.fullmatch(r"\d+-\d+-1-\d+-\d+", body["beta"][0])

    everywhere = ok_json(qmf_env, "objects", "thing", "--package", "org.example.demo")
    assert sorted((o["agent"], o["properties"]["name"]) for o in everywhere) == [
        ("demo1", "alpha"), ("demo1", "beta"), ("demo2", "alpha"), ("demo2", "beta")]
    beta = next(o for o in everywhere if o["agent"] == "demo1" and o["properties"]["name"] == "beta")
    assert beta["properties"] == {"name": "beta", "kind": "second", "note": "has a note"}
    assert set(beta["statistics"]) == {"calls", "load"} and beta["class"] == "thing"
    assert isinstance(beta["update_time"], int) and beta["update_time"] > 0


# -- calling methods ------------------------------------------------------------------------------
def test_call_add_positional_and_json(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    alpha = ids[("demo1", "alpha")]
    assert re.fullmatch(r"sum\s+5\n", ok(qmf_env, "call", "demo1", "thing", "add", "2", "3", "--object", alpha))
    assert ok_json(qmf_env, "call", "demo1", "thing", "add", "2", "3", "--object", alpha) == {"sum": 5}
    # options first, then the values; negative numbers are values, not options
    assert ok_json(qmf_env, "call", "--object", alpha, "demo1", "thing", "add", "--", "-5", "-6") == {"sum": -11}
    assert ok_json(qmf_env, "call", "demo1", "thing", "add", "--object", alpha, "-5", "0x10") == {"sum": 11}


def test_call_with_name_value_arguments(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    beta = ids[("demo2", "beta")]
    assert ok_json(qmf_env, "call", "demo2", "thing", "add", f"b={2**62}", "a=-5", "--object", beta) == {
        "sum": 2**62 - 5}
    assert ok_json(qmf_env, "call", "demo2", "thing", "add", "1", "b=2", "--object", beta) == {"sum": 3}
    # '=' in a value: only a known argument name before it makes a name=value word
    assert ok_json(qmf_env, "call", "demo2", "thing", "echo", "x=y", "--object", beta) == {"reply": "x=y"}
    assert ok_json(qmf_env, "call", "demo2", "thing", "echo", "text=x=y", "--object", beta) == {"reply": "x=y"}
    out = ok(qmf_env, "call", "demo2", "thing", "echo", "--object", beta, "text=héllo wörld")
    assert re.fullmatch(r"reply\s+héllo wörld\n", out)
    assert ok(qmf_env, "call", "demo2", "thing", "set_load", "0.5", "--object", beta) == "OK\n"


EVERY_IN = {
    "u8": "0xff", "u16": "65535", "u32": "4294967295", "u64": str(2**64 - 1), "sstr": "short ✓",
    "lstr": "long " * 100, "abstime": "1700000000123456789", "deltatime": "5000000000", "ref": "0-0-1-10-7",
    "bool": "yes", "float": "1.5", "double": repr(math.pi), "uuid": str(uuid.UUID(int=12345)),
    "map": '{"a": 1, "b": [1, "x"], "c": null}', "s8": "-128", "s16": "-32768", "s32": str(-(2**31)),
    "s64": str(-(2**63)), "list": '[1, "two", 3.5, null, {"k": "v"}]', "array": "[1, 2, 3]",
}
EVERY_OUT = {
    "u8": 255, "u16": 65535, "u32": 2**32 - 1, "u64": 2**64 - 1, "sstr": "short ✓", "lstr": "long " * 100,
    "abstime": 1700000000123456789, "deltatime": 5000000000, "ref": "0-0-1-10-7", "bool": True, "float": 1.5,
    "double": math.pi, "uuid": str(uuid.UUID(int=12345)), "map": {"a": 1, "b": [1, "x"], "c": None},
    "s8": -128, "s16": -32768, "s32": -(2**31), "s64": -(2**63), "list": [1, "two", 3.5, None, {"k": "v"}],
    "array": [1, 2, 3],
}
EVERY_TYPE_INDEX = {name: i for i, name in enumerate(EVERY_IN)}


def test_call_converts_every_qmf_type(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    words = [f"{k}={v}" for k, v in EVERY_IN.items()]
    alpha = ids[("demo1", "alpha")]
    assert ok_json(qmf_env, "call", "demo1", "thing", "every_type", "--object", alpha, *words) == EVERY_OUT
    positional = list(EVERY_IN.values())
    positional[EVERY_TYPE_INDEX["bool"]] = "false"
    positional[EVERY_TYPE_INDEX["map"]] = "null"
    out = ok(qmf_env, "call", "demo1", "thing", "every_type", "--object", alpha, *positional)
    got = {r[0]: r[1] if len(r) > 1 else "" for r in rows(out)}
    assert got["bool"] == "false" and got["map"] == "-" and got["uuid"] == str(uuid.UUID(int=12345))
    assert got["abstime"] == "2023-11-14T22:13:20.123456789Z" and got["ref"] == "0-0-1-10-7"
    assert got["list"] == '[1, "two", 3.5, null, {"k": "v"}]'


def test_call_needs_object_when_the_agent_has_several(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    msg = fails(qmf_env, 1, "call", "demo1", "thing", "add", "1", "2")
    assert "2 objects of class 'thing'" in msg and "--object" in msg
    assert f"{ids[('demo1', 'alpha')]} (name=alpha)" in msg and f"{ids[('demo1', 'beta')]} (name=beta)" in msg
    missing = ids[("demo1", "alpha")].rsplit("-", 1)[0] + "-999"
    msg = fails(qmf_env, 1, "call", "demo1", "thing", "add", "1", "2", "--object", missing)
    assert f"no object {missing}" in msg
    msg = fails(qmf_env, 1, "call", "demo1", "thing", "add", "1", "2", "--object", "1-2-3")
    assert "bad --object" in msg and "five dash-separated numbers" in msg


def test_failing_methods_exit_1_with_status_and_text(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    alpha = ids[("demo2", "alpha")]
    msg = fails(qmf_env, 1, "call", "demo2", "thing", "fail", "0x10001", "user said no", "--object", alpha)
    assert "status 65537" in msg and msg.endswith(": user said no")
    msg = fails(qmf_env, 1, "call", "demo2", "thing", "crash", "--object", alpha)
    assert "status 7 (Exception)" in msg and "ZeroDivisionError" in msg


def test_a_slow_method_times_out_with_exit_3(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    alpha = ids[("demo1", "alpha")]
    start = time.monotonic()
    msg = fails(qmf_env, 3, "call", "demo1", "thing", "sleep", "5", "--object", alpha, "--timeout", "1",
                timeout=30)
    assert time.monotonic() - start < 30  # it ended, well before the 5 s sleep plus start-up could
    assert "timed out" in msg and "no reply from agent 'demo1' within 1 s" in msg


def test_unknown_agent_class_and_method_exit_1(qmf_env: QmfEnv, ids: dict[tuple[str, str], str]) -> None:
    msg = fails(qmf_env, 1, "call", "nosuch", "thing", "add", "1", "2")
    assert "no agent named 'nosuch'" in msg and "demo1" in msg and "demo2" in msg
    assert "no agent named 'nosuch'" in fails(qmf_env, 1, "objects", "thing", "--agent", "nosuch")
    assert "no agent named 'nosuch'" in fails(qmf_env, 1, "packages", "--agent", "nosuch")
    assert "no class named 'widget'" in fails(qmf_env, 1, "call", "demo1", "widget", "add", "1", "2")
    assert "no class named 'widget'" in fails(qmf_env, 1, "schema", "widget")
    assert "no class named 'widget'" in fails(qmf_env, 1, "objects", "widget")
    assert "in package 'no.such'" in fails(qmf_env, 1, "schema", "thing", "--package", "no.such")
    assert "is an event class" in fails(qmf_env, 1, "objects", "note")
    msg = fails(qmf_env, 1, "call", "demo1", "thing", "launch", "--object", ids[("demo1", "alpha")])
    assert "has no method 'launch'" in msg and "echo, add, every_type" in msg


@pytest.mark.parametrize(("words", "expect"), [
    (["add", "x", "3"], "bad value for argument 'a' (S64): 'x': not an integer"),
    (["add", "1.5", "3"], "bad value for argument 'a' (S64): '1.5': not an integer"),
    (["add", "1"], "missing argument b for add(a: S64, b: S64) -> sum: S64"),
    (["add", "1", "2", "3"], "too many arguments for add("),
    (["add", "1", "a=2"], "argument 'a' given twice"),
    (["set_load", "fast"], "bad value for argument 'load' (DOUBLE): 'fast': not a number"),
    (["emit", "hi", "256"], "bad value for argument 'severity' (U8): '256': out of range [0, 255]"),
    (["fail", "-1", "x"], "bad value for argument 'status' (U32): '-1': out of range"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "bool"), "bool=maybe"],
     "bad value for argument 'bool' (BOOL): 'maybe': not one of true/false"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "map"), "map=[1]"],
     "bad value for argument 'map' (MAP): '[1]': needs a JSON object"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "list"), "list={oops"],
     "bad value for argument 'list' (LIST): '{oops': not JSON"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "uuid"), "uuid=123"],
     "bad value for argument 'uuid' (UUID)"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "ref"), "ref=1-2"],
     "bad value for argument 'ref' (REF): '1-2'"),
    (["every_type", *(f"{k}={v}" for k, v in EVERY_IN.items() if k != "sstr"), "sstr=" + "x" * 256],
     "longer than 255 bytes"),
])
def test_bad_argument_values_exit_1(qmf_env: QmfEnv, ids: dict[tuple[str, str], str], words: list[str],
                                    expect: str) -> None:
    msg = fails(qmf_env, 1, "call", "demo1", "thing", *words, "--object", ids[("demo1", "beta")])
    assert expect in msg


@pytest.mark.parametrize("words", [
    [], ["frobnicate"], ["call", "demo1"], ["classes"], ["--timeout", "-1", "agents"], ["--timeout", "soon", "agents"],
    ["watch", "--events-only", "--objects-only"], ["agents", "--bogus"], ["call", "demo1", "thing", "add", "--nope"],
])
def test_command_line_usage_errors_exit_2(qmf_env: QmfEnv, words: list[str]) -> None:
    msg = fails(qmf_env, 2, *words)
    assert "usage: qmf-tool" in msg and "error:" in msg


def test_help_documents_the_exit_codes(qmf_env: QmfEnv) -> None:
    out = ok(qmf_env, "--help")
    assert "exit codes:" in out
    for line in ("0    success", "1    error:", "2    usage error", "3    timeout", "4    the AMQP broker cannot"):
        assert line in out
    assert "exit codes:" in ok(qmf_env, "call", "--help")


def test_an_unreachable_broker_is_a_clear_error(qmf_env: QmfEnv) -> None:
    for words in (["agents"], ["--json", "call", "demo1", "thing", "add", "1", "2"]):
        r = subprocess.run(command("amqp://guest:guest@127.0.0.1:1/%2F", "--timeout", "2", *words), cwd=REPO,
                           env=ENV, capture_output=True, text=True, timeout=60)
        assert r.returncode == 4, r
        assert r.stdout == "" and "Traceback" not in r.stderr
        [line] = r.stderr.splitlines()
        assert line.startswith("qmf-tool: cannot reach the AMQP broker at amqp://guest@127.0.0.1:1/")
        assert "within 2 s" in line and "guest:guest" not in line


# -- watch ----------------------------------------------------------------------------------------
class Running:
    """A CLI subprocess left running (watch), its stdout and stderr read line by line."""

    def __init__(self, env: QmfEnv, *args: str) -> None:
        self.popen = subprocess.Popen(command(env.url, *args), cwd=REPO, env=ENV, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(s, lines), daemon=True)
                         for s, lines in ((self.popen.stdout, self.out), (self.popen.stderr, self.err))]
        for t in self._readers:
            t.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            with self._cond:
                lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_ready(self, timeout: float = 30) -> None:
        """Until it says (on stderr) that it is following the broadcasts."""
        with self._cond:
            if not self._cond.wait_for(lambda: any("watching" in line for line in self.err), timeout):
                raise AssertionError(f"watch never got ready: {self.err} {self.out}")

    def wait_out(self, pred: Any, timeout: float = 30) -> None:
        """Until some stdout line satisfies `pred`."""
        with self._cond:
            if not self._cond.wait_for(lambda: any(pred(line) for line in self.out), timeout):
                raise AssertionError(f"no such line within {timeout} s: {self.out} {self.err}")

    def finish(self, timeout: float = 30) -> int:
        code = self.popen.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@pytest.fixture()
def demo2_beta(qmf_env: QmfEnv) -> Any:
    """A console of the test's own on demo2's beta, to make things happen while the CLI watches."""
    with SyncConsole(qmf_env.url) as c:
        [beta] = [o for o in c.get_objects("demo2", class_name="thing") if o.properties["name"] == "beta"]
        yield c, beta


def test_watch_shows_events_and_indications(qmf_env: QmfEnv, demo2_beta: Any) -> None:
    c, beta = demo2_beta
    everything = Running(qmf_env, "--json", "watch", "--seconds", "3")
    events = Running(qmf_env, "watch", "--seconds", "3", "--events-only")
    try:
        everything.wait_ready()
        events.wait_ready()
        c.call(beta, "emit", "something happened", 3)
        c.call(beta, "set_load", 0.25)
        assert everything.finish() == 0 and events.finish() == 0
    finally:
        everything.kill()
        events.kill()
    seen = [json.loads(line) for line in everything.out]  # every line is one JSON object
    [ev] = [n for n in seen if n["type"] == "event"]
    assert (ev["agent"], ev["package"], ev["class"], ev["severity"]) == ("demo2", "org.example.demo", "note", 3)
    assert ev["arguments"] == {"text": "something happened", "source": "demo2"} and ev["severity_name"] == "error"
    assert any(n["type"] == "statistics" and n["object_id"] == str(beta.object_id)
               and n["statistics"]["load"] == 0.25 for n in seen)
    [line] = events.out
    assert re.fullmatch(r"\S+Z event demo2 org\.example\.demo:note severity=error text=\"something happened\" "
                        r"source=\"demo2\"", line), line


def test_watch_objects_only_and_ctrl_c(qmf_env: QmfEnv, demo2_beta: Any) -> None:
    c, beta = demo2_beta
    w = Running(qmf_env, "watch", "--objects-only")
    try:
        w.wait_ready()
        c.call(beta, "set_load", 0.5)
        c.call(beta, "emit", "not for this watcher", 6)
        w.wait_out(lambda line: line.endswith("load=0.5"))
        w.popen.send_signal(signal.SIGINT)
        assert w.finish() == 0
    finally:
        w.kill()
    assert w.out and not any(" event " in line for line in w.out)
    assert any(re.search(rf" statistics demo2 org\.example\.demo:thing {beta.object_id} calls=\d+ load=0\.5$", line)
               for line in w.out), w.out
    assert not any("Traceback" in line for line in w.err)


# -- the pieces, without a broker -----------------------------------------------------------------
def test_json_shapes_of_values_the_demo_agent_cannot_send() -> None:
    assert jsonable({"b": b"\x00\xff", "n": float("nan"), "i": float("-inf"), "u": uuid.UUID(int=1)}) == {
        "b": {"hex": "00ff"}, "n": "nan", "i": "-inf", "u": "00000000-0000-0000-0000-000000000001"}


def test_table_aligns_columns_and_drops_empty_optional_ones() -> None:
    out = table(["name", "type", "desc"], [["a", "U8", ""], ["longer", "LSTR", ""]], optional={"desc"})
    assert out.splitlines() == ["name    type", "----    ----", "a       U8", "longer  LSTR"]
