"""func's facts end to end: real funcd processes with fact modules of their own (a `rack` and a
`slots` fact from a folder each minion's minion.conf names in `facts_dirs`), the overlord's
`filter` family and the CLI's `--filter`, over AMQP and over XML-RPC, on the real RabbitMQ."""

from __future__ import annotations

import ast
import json
import signal
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

from local_fleet import LocalFleet  # noqa: E402
from qmf_env import check_rabbitmq  # noqa: E402

from func_amqp import codes  # noqa: E402
from func_amqp.facts import registry  # noqa: E402
from func_amqp.facts.query import Q  # noqa: E402
from func_amqp.minion.jobs import JOB_ID_FINISHED  # noqa: E402

RACKS = {"rk1": ("r1", 4), "rk2": ("r1", 16), "rk3": ("r2", 16)}
TRANSPORTS = ("amqp", "xmlrpc")


def _facts_dir(root: Path, rack: str, slots: int) -> Path:
    d = root / f"facts-{rack}-{slots}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "site.py").write_text(
        "from func_amqp.facts import fact_module\n\n\n"
        "class SiteFacts(fact_module.BaseFactModule):\n"
        "    description = 'where the minion stands'\n\n"
        f"    def rack(self):\n        return {rack!r}\n    rack.tag = 'rack'\n\n"
        f"    @fact_module.tag('slots')\n    def slots(self):\n        return {slots!r}\n")
    return d


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    check_rabbitmq()
    f = LocalFleet(Path(tmp_path_factory.mktemp("facts")))
    try:
        f.start_broker_role()
        for name, (rack, slots) in RACKS.items():
            f.start_minion(name, facts_dirs=str(_facts_dir(f.root, rack, slots)))
        yield f
    finally:
        f.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filter_targets_the_minions_whose_facts_match(fleet: LocalFleet, transport: str) -> None:
    o = fleet.overlord("rk[123]", transport=transport)
    assert o.test.ping() == {"rk1": 1, "rk2": 1, "rk3": 1}
    assert o.filter(rack="r1").test.ping() == {"rk1": 1, "rk2": 1}
    assert o.filter(rack="r1", slots__gte=8).test.add(1, 2) == {"rk2": 3}
    assert o.filter_or(rack="r2", slots__lt=8).test.ping() == {"rk1": 1, "rk3": 1}
    assert o.filter(rack="r1").filter_or(slots=16).test.ping() == {"rk1": 1, "rk2": 1, "rk3": 1}
    assert o.filter(rack="r1").and_or(slots__gt=8, rack="r9").test.ping() == {"rk2": 1}
    assert o.exclude(rack="r1").test.ping() == {"rk3": 1}
    assert o.set_complexq(~Q.of(rack="r2") & Q.of(slots="16")).test.ping() == {"rk2": 1}
    assert o.filter(rack="r7").test.ping() == {}
    assert o.filter(rack__startswith="r").filter(slots__lte=4).test.echo([1, "x"]) == {"rk1": [1, "x"]}
    # the standard facts describe the machine they run on: all three here
    here = registry.load()
    assert set(o.filter(os_id=here.value("os_id"), cpus__gte=1).test.ping()) == set(RACKS)
    assert o.filter(kernel__contains=here.value("kernel"), memory__gt=0).test.ping() == {m: 1 for m in RACKS}
    assert fleet.overlord("rk3", noglobs=True, transport=transport).filter(rack="r2").test.ping() == 1
    assert fleet.overlord("rk3", noglobs=True, transport=transport).filter(rack="r1").test.ping() is None
    assert o.test.ping() == {"rk1": 1, "rk2": 1, "rk3": 1}  # a filter makes a new overlord; this one has none


def test_a_skipped_minion_ran_nothing_and_its_audit_line_says_so(fleet: LocalFleet) -> None:
    o = fleet.overlord("rk1;rk3")
    started = time.monotonic()
    result = o.filter(rack="r1").test.sleep(3)
    assert list(result) == ["rk1"] and isinstance(result["rk1"], float)
    lines = fleet.audit_lines("rk3")
    assert "test.sleep called with (3,) -> skipped: the facts do not match" in lines[-1]
    assert "-> ok in 3" in fleet.audit_lines("rk1")[-1] and time.monotonic() - started < 3 + 5


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_query_a_minion_cannot_answer_is_its_remote_error(fleet: LocalFleet, transport: str) -> None:
    o = fleet.overlord("rk[123]", transport=transport)
    for filtered, says in ((o.filter(nosuchfact=1), "no fact named 'nosuchfact'"),
                           (o.filter(rack__about="r1"), "'about' is not a query keyword"),
                           (o.filter(slots__gt="many"), "fact 'slots' is a int")):
        result = filtered.test.ping()
        assert set(result) == set(RACKS), result
        for value in result.values():
            assert value[:2] == ["REMOTE_ERROR", "func_amqp.facts.query.QueryError"] and says in value[2], value
    err = o.filter(rack="r2").test.explode()
    assert list(err) == ["rk3"] and err["rk3"][:3] == ["REMOTE_ERROR", "builtins.Exception", "khhhhhhaaaaaan!!!!!!"]


def test_the_fact_module_answers_alike_over_both_transports(fleet: LocalFleet) -> None:
    for transport in TRANSPORTS:
        o = fleet.overlord("rk[123]", transport=transport)
        assert o.fact.call_fact("rack") == {"rk1": "r1", "rk2": "r1", "rk3": "r2"}
        assert o.fact.call_fact("site.slots") == {"rk1": 4, "rk2": 16, "rk3": 16}
        assert o.fact.list_fact_modules() == {m: ["hardware", "site"] for m in RACKS}
        methods = o.fact.list_fact_methods()["rk1"]
        assert {"rack", "slots", "site.rack", "os", "hardware.os_name", "memory"} <= set(methods)
        assert o.fact.show_fact_method("rack")["rk2"] == {"name": "rack", "tag": "rack"}
        assert o.fact.show_fact_module("site")["rk3"]["description"] == "where the minion stands"
        assert o.fact.call_fact("nope") == {m: {} for m in RACKS}


def test_a_killed_minion_keeps_its_timeout_entry_under_a_filter(fleet: LocalFleet, tmp_path: Path) -> None:
    fleet.start_minion("rkdead", facts_dirs=str(_facts_dir(tmp_path, "r1", 1)))
    o = fleet.overlord("rk1;rk3;rkdead", timeout=3)
    assert o.filter(rack="r1").test.ping() == {"rk1": 1, "rkdead": 1}
    fleet.minions["rkdead"].kill(signal.SIGKILL)
    result = o.filter(rack="r1").test.ping()
    assert result["rk1"] == 1 and set(result) == {"rk1", "rkdead"}
    assert result["rkdead"][:2] == ["REMOTE_ERROR", "func.minion.codes.TimeoutException"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_async_job_under_a_filter_reports_the_matching_minions(fleet: LocalFleet, transport: str) -> None:
    o = fleet.overlord("rk[123]", async_=True, transport=transport).filter(slots=16)
    job_id = o.test.add(20, 22)
    deadline = time.monotonic() + 20
    code, results = o.job_status(job_id)
    while code != JOB_ID_FINISHED and time.monotonic() < deadline:
        time.sleep(0.2)
        code, results = o.job_status(job_id)
    assert code == JOB_ID_FINISHED and results == {"rk2": 42, "rk3": 42}, results
    # another overlord (as `func --jobstatus` is) reads the job the same way: the job record knows
    assert fleet.overlord("rk1").job_status(job_id) == (JOB_ID_FINISHED, {"rk2": 42, "rk3": 42})


def test_the_cli_filter_and_filteror(fleet: LocalFleet) -> None:
    for transport in TRANSPORTS:
        r = fleet.func("rk[123]", "--transport", transport, "call", "--filter", "rack=r1,slots>=8", "test", "ping")
        assert r.returncode == 0 and ast.literal_eval(r.stdout) == {"rk2": 1}, r
        r = fleet.func("rk[123]", "--transport", transport, "call", "--json", "--filteror", "rack=r2,slots<8",
                       "test", "add", "1", "2")
        assert r.returncode == 0 and json.loads(r.stdout) == {"rk1": "12", "rk3": "12"}, r
    r = fleet.func("rk[123]", "call", "--filter", "1 in rack", "fact", "call_fact", "slots")
    assert r.returncode == 0 and ast.literal_eval(r.stdout) == {"rk1": 4, "rk2": 16}, r
    r = fleet.func("rk[123]", "call", "--filter", "rack", "test", "ping")
    assert r.returncode == 2 and "cannot read the condition 'rack'" in r.stderr, r
    r = fleet.func("rk[123]", "call", "--filter", "nosuch=1", "test", "ping")
    assert r.returncode == 1 and "no fact named 'nosuch'" in r.stdout, r
    r = fleet.func("rk[123]", "call", "--filter", "rack=r1", "--filteror", "rack=r2", "test", "ping")
    assert r.returncode == 2 and "not allowed with" in r.stderr, r
    assert not codes.is_error(fleet.overlord("rk1", noglobs=True).test.ping())
