"""A third party with only pika and the QMFv1 spec can call our agents: examples/pika_client.py.

The example runs as a separate process, outside the repository and with no PYTHONPATH, so it
could not import the project even by accident. Its output is checked against what our own
console sees. A static check makes sure it imports nothing but pika and the standard library.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
import uuid

import pika
from qmf_env import REPO, QmfEnv, rabbitmqctl

from qmf.sync import Console

CLIENT = REPO / "examples" / "pika_client.py"
ECHO = "héllo, wörld ✓ 日本語 🚀"


def run_client(url: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Runs the example the way a stranger would, from a directory of its own with no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, str(CLIENT), "--url", url, *args], capture_output=True, text=True,
                          encoding="utf-8", env=env, cwd="/", timeout=timeout)


def field(out: str, prefix: str) -> str:
    """The rest of the one stdout line that starts with `prefix`."""
    lines = [line for line in out.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting {prefix!r} in:\n{out}"
    return lines[0][len(prefix):]


def test_example_imports_only_pika_and_the_standard_library() -> None:
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import at line {node.lineno}"
            assert node.module is not None
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("__import__", "exec", "eval"), f"dynamic code at line {node.lineno}"
    allowed = set(sys.stdlib_module_names) | {"pika", "__future__"}
    assert "pika" in imported
    assert imported <= allowed, f"not pika or stdlib: {sorted(imported - allowed)}"
    assert not imported & {"codec", "qmf", "func_amqp"}
    assert "sys.path" not in CLIENT.read_text(encoding="utf-8")


def test_pika_client_calls_add_and_echo(qmf_env: QmfEnv) -> None:
    big = 2**62
    r = run_client(qmf_env.url, "--add", str(big), str(-(big + 7)), "--echo", ECHO, "demo1")
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    out = r.stdout

    broker_id = uuid.UUID(field(out, "broker id: "))
    with Console(qmf_env.url) as console:
        assert console.broker() == broker_id
        agents = {a.name: a for a in console.agents()}
        thing = console.find_class("thing", "org.example.demo", agent="demo1")

    for name in ("demo1", "demo2"):
        banks = field(out, f"agent {name}: banks ").split(",")[0]
        assert banks == agents[name].banks
    demo1 = agents["demo1"]
    assert field(out, "object alpha: ") == f"0-0-1-{demo1.agent_bank}-1"
    assert field(out, "class org.example.demo:thing hash ").split()[0] == thing.key.hash.hex()
    assert field(out, f"add({big}, {-(big + 7)}): ") == "status 0 (OK) sum -7"
    assert field(out, "echo: ") == f"status 0 (OK) reply {ECHO!r}"


def test_pika_client_reaches_the_agent_named_on_the_command_line(qmf_env: QmfEnv) -> None:
    r = run_client(qmf_env.url, "--add", "-5", "3", "--echo", "", "demo2")
    assert r.returncode == 0, r.stdout + r.stderr
    with Console(qmf_env.url) as console:
        bank = {a.name: a for a in console.agents()}["demo2"].agent_bank
    assert field(r.stdout, "object alpha: ") == f"0-0-1-{bank}-1"
    assert field(r.stdout, "add(-5, 3): ") == "status 0 (OK) sum -2"
    assert field(r.stdout, "echo: ") == "status 0 (OK) reply ''"


def test_pika_client_names_an_unknown_agent(qmf_env: QmfEnv) -> None:
    r = run_client(qmf_env.url, "nobody")
    assert r.returncode == 1
    assert "no agent named 'nobody'" in r.stderr
    uuid.UUID(field(r.stdout, "broker id: "))


def test_unroutable_request_fails_at_once(fresh_env: QmfEnv) -> None:
    """Nothing is bound to `broker` in an empty vhost: mandatory + confirms report it immediately."""
    started = time.monotonic()
    r = run_client(fresh_env.url, "--timeout", "30")
    assert r.returncode == 1
    assert "nothing is bound to routing key 'broker'" in r.stderr
    assert time.monotonic() - started < 15


def test_request_properties_and_timeout(fresh_env: QmfEnv) -> None:
    """A queue that takes requests to `broker` but never answers: the client gives up after its
    timeout, and the request it left carries the properties the protocol section describes."""
    conn = pika.BlockingConnection(pika.URLParameters(fresh_env.url))
    try:
        ch = conn.channel()
        ch.exchange_declare("qpid.management", exchange_type="topic", durable=True)
        ch.queue_declare("silent", exclusive=True)
        ch.queue_bind("silent", "qpid.management", routing_key="broker")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        client = subprocess.Popen([sys.executable, str(CLIENT), "--url", fresh_env.url, "--timeout", "3"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/")
        try:
            got = (None, None, None)
            deadline = time.monotonic() + 10
            while got[0] is None and time.monotonic() < deadline:
                got = ch.basic_get("silent", auto_ack=True)
                time.sleep(0.05)
            _method, props, body = got
            assert body[:4] == b"AM2B" and len(body) == 8  # header only: 'B' has no payload
            assert props.content_type == "x-application/qmf"
            assert props.reply_to and props.reply_to.startswith("amq.gen-")
            assert props.expiration == "3000"
            deadline_ms = props.headers["qmf.deadline"]
            assert abs(deadline_ms - (time.time() * 1000 + 3000)) < 2500
            _, stderr = client.communicate(timeout=30)
        finally:
            client.kill()
            client.wait()
        assert client.returncode == 1
        assert "no reply to 'B' sent to 'broker' within 3 s" in stderr
    finally:
        conn.close()


def test_reply_queue_vanishes_with_the_client(qmf_env: QmfEnv) -> None:
    """The exclusive, auto-delete reply queue goes when the client's connection does."""
    r = run_client(qmf_env.url)
    assert r.returncode == 0, r.stdout + r.stderr
    for _ in range(50):
        left = [q for q in _queue_names(qmf_env) if q.startswith("amq.gen-")]
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def _queue_names(env: QmfEnv) -> list[str]:
    out = rabbitmqctl("list_queues", "-p", env.vhost, "-q", "name", node=env.node).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and line.strip() != "name"]
