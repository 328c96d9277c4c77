"""func end to end: real funcd processes (three, plus some made for one test), the broker role,
a CA that signed every certificate, the overlord API and the func CLI, over the real RabbitMQ,
over AMQP and over XML-RPC (mutual TLS). Assertions are on what an overlord script or a func
user sees."""

from __future__ import annotations

import ast
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

from local_fleet import LocalFleet  # noqa: E402
from qmf_env import check_rabbitmq  # noqa: E402

from func_amqp import codes  # noqa: E402
from func_amqp.minion.jobs import JOB_ID_FINISHED, JOB_ID_PARTIAL  # noqa: E402
from func_amqp.overlord.client import Overlord  # noqa: E402
from func_amqp.xmlrpc_i8 import xml_safe  # noqa: E402

MINIONS = ["web1", "web2", "db1"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    check_rabbitmq()
    f = LocalFleet(Path(tmp_path_factory.mktemp("fleet")))
    try:
        (f.root / "groups").write_text("[webs]\nhost = web1, web2\n\n[everything]\nhost = db1\nsubgroups = webs\n")
        f.start_minions(MINIONS)
        yield f
    finally:
        f.close()


def _norm(v: Any) -> Any:
    """XML-RPC has no tuple and no control characters: compare with tuples as lists and those
    characters as U+FFFD (what our XML-RPC writes); tracebacks differ by transport."""
    if isinstance(v, str):
        return xml_safe(v)
    if isinstance(v, tuple | list):
        if v and v[0] == "REMOTE_ERROR":
            return ["REMOTE_ERROR", v[1], v[2]]
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def test_spec_expansion_and_one_entry_per_minion(fleet: LocalFleet) -> None:
    assert fleet.overlord("*").list_minions() == sorted(MINIONS)
    assert fleet.overlord("web*").list_minions() == ["web1", "web2"]
    assert fleet.overlord("web1;db1").list_minions() == ["db1", "web1"]
    assert fleet.overlord("@webs").list_minions() == ["web1", "web2"]
    assert fleet.overlord("@everything").list_minions() == sorted(MINIONS)
    assert fleet.overlord("@everything:web*").list_minions() == ["web1", "web2"]
    assert fleet.overlord("*", exclude_spec="db*").list_minions() == ["web1", "web2"]
    assert fleet.overlord("WEB1").list_minions() == ["web1"]
    with pytest.raises(codes.Func_Client_Exception):
        fleet.overlord("nosuch*")
    assert fleet.overlord("*").test.ping() == {"db1": 1, "web1": 1, "web2": 1}
    assert fleet.overlord("web1", noglobs=True).test.ping() == 1


def test_delegation_is_switched_off_aloud_and_every_minion_called_directly(fleet: LocalFleet,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="func.overlord"):
        o = fleet.overlord("web*", delegate=True, mapfile="/nonexistent/map")
    assert "delegation is not supported, switching it off" in caplog.text
    assert o.test.ping() == {"web1": 1, "web2": 1}


STANDARD_CALLS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("test", "ping", ()), ("test", "add", (2, 40)), ("test", "echo", ("héllo",)), ("test", "bigint", ()),
    ("test", "module_version", ()), ("test", "list_methods", ()), ("test", "get_method_args", ()),
    ("test", "module_description", ()), ("test", "grep", ("add",)),
    ("command", "run", ("echo out; echo err >&2; exit 3",)), ("command", "exists", ("sh",)),
    ("command", "exists", ("no-such-command-here",)),
    ("process", "info", ("-o pid= -p 1",)),
    ("service", "get_enabled", ()),
    ("hardware", "info", ()),
    ("copyfile", "checksum", ("/etc/hostname",)),
    ("getfile", "chunkslen", ("/etc/hostname",)), ("getfile", "getchunk", ("/etc/hostname", 0)),
    ("jobs", "job_status", ("1-minion",)),
    ("system", "list_modules", ()), ("system", "inventory", ()), ("system", "grep", ("ping",)),
    ("networktest", "isportopen", ("127.0.0.1", 5672)), ("networktest", "isportopen", ("127.0.0.1", 1)),
    ("fact", "list_fact_methods", ()), ("fact", "call_fact", ("os_id",)), ("fact", "show_fact_module", ("hardware",)),
    ("test", "config_items", ()),
]


def test_every_standard_module_gives_the_same_over_amqp_and_xmlrpc(fleet: LocalFleet) -> None:
    amqp = fleet.overlord("*", transport="amqp")
    xmlrpc = fleet.overlord("*", transport="xmlrpc")
    modules = amqp.system.list_modules()
    for name in ("test", "command", "process", "service", "hardware", "copyfile", "getfile", "jobs", "fact",
                 "networktest"):
        assert all(name in mods for mods in modules.values()), name
    for module, method, args in STANDARD_CALLS:
        a = amqp.run(module, method, args)
        x = xmlrpc.run(module, method, args)
        assert set(a) == set(x) == set(MINIONS), (module, method)
        assert _norm(a) == _norm(x), (module, method, a, x)
        assert not any(codes.is_error(v) for v in a.values()), (module, method, a)
    r = amqp.command.run("echo out; echo err >&2; exit 3")["web1"]
    assert list(r) == [3, "out\n", "err\n"]
    assert amqp.test.bigint() == {m: 2**32 for m in MINIONS}


def test_values_come_back_exactly_over_amqp(fleet: LocalFleet) -> None:
    o = fleet.overlord("web2", noglobs=True)
    values = [None, True, False, 0, -2**63, 2**64 - 1, 2**80, 1.25, "ünïcode", b"\x00\xffbytes", [1, [2, [3]]],
              (1, "a", (None, 2.5)), {"k": {"n": [1, 2]}}, {1: "int key", (1, 2): "tuple key"}, {}, [], ()]
    for v in values:
        back = o.test.echo(v)
        assert back == v and type(back) is type(v), (v, back)


def test_remote_error_shapes_over_both_transports(fleet: LocalFleet) -> None:
    for transport in ("amqp", "xmlrpc"):
        o = fleet.overlord("web1", transport=transport)
        err = o.test.explode()["web1"]
        assert err[:3] == ["REMOTE_ERROR", "builtins.Exception", "khhhhhhaaaaaan!!!!!!"], transport
        assert "explode" in err[3], transport
        err = o.test.nosuchmethod()["web1"]
        assert err[0] == "REMOTE_ERROR" and err[1] == "func.minion.codes.InvalidMethodException", (transport, err)
        err = o.nosuchmodule.foo()["web1"]
        assert err[0] == "REMOTE_ERROR" and err[1] == "func.minion.codes.ModuleNotFoundException", (transport, err)
        err = o.test.add(1)["web1"]  # a missing argument: func's TypeError
        assert err[0] == "REMOTE_ERROR" and err[1] == "builtins.TypeError" and "numb2" in err[2], (transport, err)
        assert len(err) == 4 and all(isinstance(x, str) for x in err)


def test_a_func_style_module_from_a_folder_loads_and_answers(fleet: LocalFleet, tmp_path: Path) -> None:
    mods = tmp_path / "mods"
    (mods / "pkgmod").mkdir(parents=True)
    (mods / "greeter.py").write_text(
        "from func_amqp.minion import func_module\n\n\n"
        "class Greeter(func_module.FuncModule):\n"
        "    version = '1.2.3'\n    api_version = '0.0.1'\n    description = 'Says hello.'\n\n"
        "    def hello(self, who, punctuation='!'):\n        return 'hello %s%s' % (who, punctuation)\n\n"
        "    def register_method_args(self):\n"
        "        return {'hello': {'description': 'greets', 'args': {\n"
        "            'who': {'type': 'string', 'optional': False, 'description': 'whom'},\n"
        "            'punctuation': {'type': 'string', 'optional': True, 'default': '!'}}}}\n")
    (mods / "pkgmod" / "__init__.py").write_text(
        "from func_amqp.minion import func_module\n\n\nclass P(func_module.FuncModule):\n"
        "    def top(self):\n        return 'top'\n")
    (mods / "pkgmod" / "sub.py").write_text(
        "from func_amqp.minion import func_module\n\n\nclass S(func_module.FuncModule):\n"
        "    def deep(self, *rest):\n        return list(rest)\n")
    (mods / "broken.py").write_text("import no_such_module_anywhere\n")
    fleet.start_minion("custom1", module_dirs=str(mods))
    for transport in ("amqp", "xmlrpc"):
        o = fleet.overlord("custom1", noglobs=True, transport=transport)
        assert o.greeter.hello("world") == "hello world!"
        assert o.greeter.hello("you", "?") == "hello you?"
        assert o.greeter.module_version() == "1.2.3"
        assert o.greeter.module_description() == "Says hello."
        assert o.greeter.get_method_args()["hello"]["args"]["who"]["order"] == 0
        assert o.pkgmod.top() == "top"
        assert o.pkgmod.sub.deep(1, 2, 3) == [1, 2, 3]
        mods_loaded = o.system.list_modules()
        assert "greeter" in mods_loaded and "pkgmod.sub" in mods_loaded and "broken" not in mods_loaded
        assert "greeter.hello" in o.system.list_methods()


def test_module_options_are_set_and_saved_remotely_over_both_transports(fleet: LocalFleet) -> None:
    conf = fleet.root / "minions" / "db1" / "modules.d" / "Test.conf"  # db1's module_conf_dir
    for transport, value in (("amqp", "7"), ("xmlrpc", "8")):
        o = fleet.overlord("db1", noglobs=True, transport=transport)
        items = o.test.config_set("int_option", value)
        assert ["int_option", int(value)] in [list(p) for p in items], items
        assert f"int_option = {value}\n" in conf.read_text()
        assert o.test.config_get("int_option") == int(value)  # the next call's fresh instance read it
        err = o.test.config_set("int_option", "many")
        assert err[:2] == ["REMOTE_ERROR", "builtins.ValueError"] and "'many' is not one" in err[2]
        assert o.test.config_get("int_option") == int(value)
    assert fleet.overlord("web1", noglobs=True).test.config_get("int_option") == 37  # web1's own file: none
    assert dict(fleet.overlord("db1", noglobs=True).test.config_save())["int_option"] == 8


def test_a_killed_minion_yields_its_timeout_entry_while_the_others_answer(fleet: LocalFleet) -> None:
    fleet.start_minion("victim1")
    o = fleet.overlord("victim1;web1;web2", timeout=3)
    assert o.test.ping() == {"victim1": 1, "web1": 1, "web2": 1}
    fleet.minions["victim1"].kill(signal.SIGKILL)
    started = time.monotonic()
    result = o.test.ping()
    elapsed = time.monotonic() - started
    assert result["web1"] == 1 and result["web2"] == 1
    err = result["victim1"]
    assert err[0] == "REMOTE_ERROR" and err[1] == "func.minion.codes.TimeoutException" and "3 s" in err[2]
    assert elapsed < 3 + 5, elapsed  # ended at its deadline, not hung
    x = fleet.overlord("victim1;web1", timeout=3, transport="xmlrpc").test.ping()
    assert x["web1"] == 1 and codes.is_error(x["victim1"])


def test_async_jobs_status_and_live_progress(fleet: LocalFleet) -> None:
    o = fleet.overlord("web*", async_=True)
    job_id = o.test.sleep(3)
    assert job_id.startswith("web*-test-sleep-")
    code, partial = o.job_status(job_id)
    assert code == JOB_ID_PARTIAL and partial == {}
    assert job_id in o.open_job_ids()
    events: list[dict[str, Any]] = []
    code, results = o.follow(job_id, events.append, timeout=20)
    assert code == JOB_ID_FINISHED and set(results) == {"web1", "web2"}
    for host in ("web1", "web2"):
        mine = [e for e in events if e["host"] == host]
        kinds = [e["kind"] for e in mine]
        assert "progress" in kinds and "output" in kinds and kinds[-1] == "result", (host, kinds)
        progress = [e["data"] for e in mine if e["kind"] == "progress"]
        assert progress[-1] == [3, 3]
        stamps = [e["timestamp"] for e in mine if e["kind"] == "progress"]
        assert stamps[-1] - stamps[0] > 1.5e9  # they came while it ran, not all at the end
    assert o.open_job_ids()[job_id] == JOB_ID_FINISHED
    # the same over XML-RPC: func's async path and jobs.job_status
    x = fleet.overlord("db1", async_=True, transport="xmlrpc")
    jid = x.test.sleep(1)
    deadline = time.monotonic() + 15
    while x.job_status(jid)[0] != JOB_ID_FINISHED and time.monotonic() < deadline:
        time.sleep(0.3)
    code, results = x.job_status(jid)
    assert code == JOB_ID_FINISHED and isinstance(results["db1"], float)


def test_a_synchronous_call_can_be_followed_as_it_runs(fleet: LocalFleet) -> None:
    events: list[dict[str, Any]] = []
    o = fleet.overlord("web1;db1", on_event=events.append, timeout=20)
    result = o.test.sleep(2)
    assert set(result) == {"web1", "db1"}
    for host in ("web1", "db1"):
        kinds = [e["kind"] for e in events if e["host"] == host]
        assert kinds[0] == "started" and "progress" in kinds and kinds[-1] == "result", kinds


def test_a_ping_from_the_minions_is_followed_line_by_line(fleet: LocalFleet) -> None:
    events: list[dict[str, Any]] = []
    o = fleet.overlord("web*", on_event=events.append, timeout=20)
    result = o.networktest.ping("-c", "3", "-i", "0.5", "127.0.0.1")
    for host in ("web1", "web2"):
        lines = result[host]
        assert lines[0].startswith("PING 127.0.0.1") and any("3 received" in x for x in lines), lines
        outputs = [e for e in events if e["host"] == host and e["kind"] == "output"]
        assert [e["data"].rstrip("\n") for e in outputs] == lines[:-1]  # every line, as it came
        replies = [e["timestamp"] for e in outputs if "bytes from 127.0.0.1" in e["data"]]
        assert len(replies) == 3 and replies[-1] - replies[0] > 0.8e9, replies  # ~0.5 s apart, not at the end


def test_signed_requests_acls_and_the_audit_log(fleet: LocalFleet, tmp_path: Path) -> None:
    cfg = fleet.config()
    # an overlord with no key at all: unsigned, refused by every minion
    cfg.cadir = str(tmp_path / "no-ca")
    refused = Overlord("web1", config=cfg).test.ping()["web1"]
    assert refused[0] == "REMOTE_ERROR" and refused[1] == "func.minion.codes.AccessToMethodDenied"
    assert "unsigned" in refused[2]
    # a minion's own certificate: valid, but no ACL line lets it in
    pki = fleet.root / "minions" / "db1" / "pki"
    cfg = fleet.config()
    cfg.key_file, cfg.cert_file, cfg.ca_file = str(pki / "db1.pem"), str(pki / "db1.cert"), str(pki / "ca.cert")
    for transport in ("amqp", "xmlrpc"):
        denied = Overlord("web1", config=cfg, transport=transport).test.ping()["web1"]
        assert denied[0] == "REMOTE_ERROR" and "AccessToMethodDenied" in denied[1] + denied[2], (transport, denied)
    # an ACL line for db1's key allows test.* only
    [db1_key] = fleet.ca.list_cert_hash(["db1"])
    (fleet.acl_dir / "db1.acl").write_text(f"{db1_key} = test.*\n")
    assert Overlord("web1", config=cfg).test.ping() == {"web1": 1}
    assert codes.is_error(Overlord("web1", config=cfg).command.run("true")["web1"])
    audit = fleet.audit_lines("web1")
    assert any("db1" in line and "test.ping called with ()" in line and "-> ok" in line and " ms " in line
               for line in audit)
    assert any("denied" in line for line in audit)


def test_a_revoked_certificate_is_refused(fleet: LocalFleet) -> None:
    fleet.start_minion("rev1")
    pki = fleet.root / "minions" / "rev1" / "pki"
    cfg = fleet.config()
    cfg.key_file, cfg.cert_file, cfg.ca_file = str(pki / "rev1.pem"), str(pki / "rev1.cert"), str(pki / "ca.cert")
    [key] = fleet.ca.list_cert_hash(["rev1"])
    (fleet.acl_dir / "rev1.acl").write_text(f"{key} = *\n")
    assert Overlord("web2", config=cfg).test.ping() == {"web2": 1}
    fleet.ca.revoke(["rev1"])
    refused = Overlord("web2", config=cfg).test.ping()["web2"]
    assert refused[0] == "REMOTE_ERROR" and "revoked" in refused[2].lower()


def test_the_func_cli(fleet: LocalFleet) -> None:
    r = fleet.func("web*;db1", "ping")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[ ok ... ] db1", "[ ok ... ] web1", "[ ok ... ] web2"]
    fleet.start_minion("down1")
    fleet.minions["down1"].kill(signal.SIGKILL)
    r = fleet.func("--timeout", "2", "down1;web1", "ping")
    assert r.returncode == 1 and r.stdout.splitlines() == ["[ FAILED ] down1", "[ ok ... ] web1"]
    for transport in ("amqp", "xmlrpc"):  # arguments are text, as in func: "1" + "2"
        r = fleet.func("web*", "--transport", transport, "call", "test", "add", "1", "2")
        assert r.returncode == 0 and ast.literal_eval(r.stdout) == {"web1": "12", "web2": "12"}, r
    r = fleet.func("web1", "call", "--json", "test", "echo", "hi")
    assert r.returncode == 0 and r.stdout.strip() == '{"web1": "hi"}'
    r = fleet.func("web1", "call", "--basic", "test", "ping")
    assert r.stdout.strip() == "web1: 1"
    r = fleet.func("web1", "call", "test", "explode")
    assert r.returncode == 1 and "REMOTE_ERROR" in r.stdout
    r = fleet.func("nosuch*", "ping")
    assert r.returncode == 3 and "Can't find any minions" in r.stderr
    r = fleet.func("web*", "list_minions")
    assert r.returncode == 0 and r.stdout.split() == ["web1", "web2"]
    r = fleet.func("web1", "call", "--async", "--nopoll", "test", "ping")
    assert r.returncode == 0 and r.stdout.startswith("web1-test-ping-")
    r = fleet.func("web1", "call", "--async", "--progress", "test", "sleep", "2")
    assert r.returncode == 0 and "web1: progress: 2/2" in r.stderr and "web1" in r.stdout
    r = fleet.func("web1", "--timeout", "1", "call", "test", "sleep", "3")
    assert r.returncode == 1 and "TimeoutException" in r.stdout
    r = fleet.func("web1", "call", "--forks", "4", "test", "ping")
    assert r.returncode == 0


def test_a_progress_line_on_a_terminal_for_a_slow_fan_out(fleet: LocalFleet) -> None:
    import os
    import subprocess

    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "func_amqp.overlord.cli", "-c", str(fleet.overlord_conf),
                                 "web*", "call", "test", "sleep", "2"], stdout=subprocess.PIPE, stderr=slave,
                                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True)
        os.close(slave)
        out, _ = proc.communicate(timeout=60)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0 and "web1" in out
    text = seen.decode("utf-8", "replace")
    assert "test.sleep: " in text and "/2 answered" in text and "failed" in text, text
