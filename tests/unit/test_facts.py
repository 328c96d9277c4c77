"""func's facts: the query's wire form against func 0.30's own code, its evaluation, the CLI's
--filter text, the fact modules and the dispatcher's facts rule.

The expected lists and verdicts below were produced by func 0.30's code itself (func/minion/facts/
overlord_query.py `OverlordQuery.serialize_query`, minion_query.py `FactsMinion.exec_query`, and
cmd_modules/call.py `FactsCommand.do`), run under Python 2.7 on the facts in `FUNC_FACTS`; the
test then asks this code the same questions. Where func's answer was a bug (a negated group of one
condition was never negated), the test says so and asserts the correct answer.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from func_amqp import codes
from func_amqp.facts import fact_module, registry
from func_amqp.facts.evaluate import evaluate
from func_amqp.facts.filter_text import parse_filter
from func_amqp.facts.query import FactQuery, Q, QueryError, deserialize, serialize
from func_amqp.minion import loader
from func_amqp.minion.dispatcher import ANONYMOUS, Dispatcher
from func_amqp.overlord.client import matching

FUNC_FACTS = {"os": "Fedora 10", "runlevel": "5", "cpus": 2, "kernel": "2.6.27.fc10", "a": 1, "b": 3}


def fact(name: str) -> Any:
    return FUNC_FACTS[name]


# func's overlord: what it sent for each query, and what func's minion answered for it
FUNC_SENT = [
    ("filter_one", ["AND", [["os", "Fedora"]]], [False, {"os": "Fedora 10"}]),
    ("filter_or_two", ["OR", [["runlevel__gt", 3], ["kernel__contains", "fc"]]],
     [True, {"kernel": "2.6.27.fc10", "runlevel": "5"}]),
    ("filter_then_filter_or", ["OR", [["os", "Fedora"], ["cpus__gte", 2]]], [True, {"os": "Fedora 10", "cpus": 2}]),
    ("and_or", ["AND", [["os", "Fedora"], ["OR", [["a", 1], ["b", 2]]]]], [False, {"a": 1, "b": 3, "os": "Fedora 10"}]),
    ("or_and", ["OR", [["os", "Fedora"], ["AND", [["a", 1], ["b", 2]]]]], [False, {"a": 1, "b": 3, "os": "Fedora 10"}]),
]


@pytest.mark.parametrize(("name", "sent", "answer"), FUNC_SENT, ids=[c[0] for c in FUNC_SENT])
def test_a_query_func_sent_gets_funcs_answer(name: str, sent: list[Any], answer: list[Any]) -> None:
    matched, seen = evaluate(deserialize(sent), fact)
    assert [matched, seen] == answer


def test_a_negated_group_of_one_is_negated_where_func_forgot_to() -> None:
    # func's list for os="Fedora" | ~Q(runlevel="3")
    sent = ["OR", [["os", "Fedora"], ["NOT", ["AND", [["runlevel", "3"]]]]]]
    # func 0.30 answered [False, ...]: its NOT flipped the running result only from a group's second child on
    assert evaluate(deserialize(sent), fact) == (True, {"os": "Fedora 10", "runlevel": "5"})
    q = FactQuery().set_complexq(Q.of(os="Fedora") | ~Q.of(runlevel="3"))
    assert q.serialize() == ["OR", [["AND", [["os", "Fedora"]]], ["NOT", ["AND", [["runlevel", "3"]]]]]]
    assert evaluate(deserialize(q.serialize()), fact)[0] is True


# this overlord's queries: what it sends, and what func 0.30's minion answered for exactly these lists
OURS = [
    (FactQuery().filter(os="Fedora"), ["AND", [["os", "Fedora"]]], False),
    (FactQuery().filter_or(runlevel__gt=3, kernel__contains="fc"),
     ["OR", [["runlevel__gt", 3], ["kernel__contains", "fc"]]], True),
    (FactQuery().filter(os="Fedora").filter_or(cpus__gte=2),
     ["OR", [["AND", [["os", "Fedora"]]], ["OR", [["cpus__gte", 2]]]]], True),
    (FactQuery().filter(os="Fedora").and_or(a=1, b=2),
     ["AND", [["AND", [["os", "Fedora"]]], ["OR", [["a", 1], ["b", 2]]]]], False),
    (FactQuery().filter(os="Fedora").or_and(a=1, b=2),
     ["OR", [["AND", [["os", "Fedora"]]], ["AND", [["a", 1], ["b", 2]]]]], False),
    (FactQuery().filter(os__startswith="Fedora").and_or(a=1, b=2),
     ["AND", [["AND", [["os__startswith", "Fedora"]]], ["OR", [["a", 1], ["b", 2]]]]], True),
    (FactQuery().filter(os__icontains="fedora").filter_or(cpus__lt=1).and_and(kernel__contains="fc", b__gte=3),
     ["AND", [["OR", [["AND", [["os__icontains", "fedora"]]], ["OR", [["cpus__lt", 1]]]]],
              ["AND", [["kernel__contains", "fc"], ["b__gte", 3]]]]], True),
]


@pytest.mark.parametrize(("query", "wire", "func_verdict"), OURS)
def test_what_this_overlord_sends_func_minions_read_alike(query: FactQuery, wire: list[Any],
                                                          func_verdict: bool) -> None:
    assert query.serialize() == wire
    assert deserialize(wire) == query.q  # and it reads back as the same tree
    assert evaluate(deserialize(wire), fact)[0] is func_verdict


def test_flat_conditions_func_minions_accepted_are_read() -> None:
    assert evaluate(deserialize(["AND", ["os__contains", "Fedora", "cpus", 2]]), fact)[0] is True
    assert evaluate(deserialize(["OR", ["os", "x", "cpus", 3]]), fact)[0] is False


def test_a_negated_top_level_travels() -> None:
    q = FactQuery().exclude(os__contains="Fedora")
    assert q.serialize() == ["NOT", ["AND", [["os__contains", "Fedora"]]]]
    assert evaluate(deserialize(q.serialize()), fact)[0] is False
    assert evaluate(deserialize(FactQuery().exclude(os="x").serialize()), fact)[0] is True


@pytest.mark.parametrize(("keyword", "wanted", "name", "expected"), [
    ("", "5", "runlevel", True), ("", 5, "runlevel", True), ("", "2", "cpus", True), ("", "3", "cpus", False),
    ("contains", "27", "kernel", True), ("icontains", "FEDORA", "os", True), ("iexact", "fedora 10", "os", True),
    ("startswith", "Fed", "os", True), ("startswith", "10", "os", False),
    ("gt", 1, "cpus", True), ("gte", 2, "cpus", True), ("lt", "3", "cpus", True), ("lte", 1, "cpus", False),
])
def test_each_keyword_converts_the_wanted_value_to_the_facts_type(keyword: str, wanted: Any, name: str,
                                                                    expected: bool) -> None:
    key = f"{name}__{keyword}" if keyword else name
    assert evaluate(Q.of((key, wanted)), fact)[0] is expected


def test_contains_on_a_list_fact_is_membership() -> None:
    services = {"services": ["sshd", "httpd"]}
    assert evaluate(Q.of(services__contains="httpd"), services.__getitem__)[0] is True
    assert evaluate(Q.of(services__contains="http"), services.__getitem__)[0] is False
    assert evaluate(Q.of(services__icontains="SSHD"), services.__getitem__)[0] is True


@pytest.mark.parametrize(("sent", "says"), [
    ("AND", "non-empty list"), ([], "non-empty list"), (["AND", [["os"]]], "pairs"),
    (["AND", ["os", "x", "cpus"]], "pairs"), (["NOT"], "NOT takes one group"), (["AND"], "takes one list"),
    (["AND", "os"], "takes a list"), (["AND", [["", 1]]], "not a fact condition"),
    (["AND", []], "no conditions"),
])
def test_a_malformed_query_is_a_query_error(sent: Any, says: str) -> None:
    with pytest.raises(QueryError, match=says):
        evaluate(deserialize(sent), fact)


def test_a_query_nested_too_deeply_is_refused_before_it_is_walked() -> None:
    sent: Any = ["AND", [["os", "x"]]]
    for _ in range(100):
        sent = ["AND", [sent]]
    with pytest.raises(QueryError, match="too deeply"):
        deserialize(sent)


def test_unknown_facts_keywords_and_uncomparable_values_are_named() -> None:
    with pytest.raises(QueryError, match="no fact named 'memory'"):
        evaluate(Q.of(memory__gt=1), fact)
    with pytest.raises(QueryError, match="'about' is not a query keyword"):
        evaluate(Q.of(os__about="x"), fact)
    with pytest.raises(QueryError, match="fact 'cpus' is a int; 'many' is not one"):
        evaluate(Q.of(cpus__gt="many"), fact)
    with pytest.raises(QueryError, match="cannot be compared"):
        evaluate(Q.of(services__gt=1), {"services": ["a"]}.__getitem__)


# func's FactsCommand.do on the same texts gave these (False for what it refused)
FUNC_CLI = [
    ("os=Fedora", {"os__": "Fedora"}),
    ("runlevel>3,kernel<2.6.30", {"kernel__lt": "2.6.30", "runlevel__gt": "3"}),
    ("cpus>=2,memory<=4096", {"cpus__gte": "2", "memory__lte": "4096"}),
    ("Fed in os", {"os__contains": "Fed"}),
    ("fed ini os,runlevel=5", {"os__icontains": "fed", "runlevel__": "5"}),
    ("os=", {"os__": ""}),
    ("a=b,,c=d", False),
    ("os Fedora", False),
]


@pytest.mark.parametrize(("text", "func_gave"), FUNC_CLI)
def test_the_cli_filter_text_reads_as_funcs(text: str, func_gave: Any) -> None:
    if func_gave is False:
        with pytest.raises(QueryError):
            parse_filter(text)
    else:
        assert parse_filter(text) == func_gave


def test_a_trailing_double_underscore_is_equality() -> None:
    assert evaluate(Q.of(**parse_filter("os=Fedora 10,cpus>=2")), fact) == (True, {"os": "Fedora 10", "cpus": 2})


# -- fact modules ----------------------------------------------------------------------------------
def test_the_standard_facts_describe_this_machine() -> None:
    facts = registry.load()
    assert set(facts.modules) == {"hardware"}
    for tag in ("os", "os_id", "os_version", "runlevel", "cpuvendor", "cpumodel", "kernel", "arch", "hostname",
                "cpus", "memory"):
        assert tag in facts.methods
    import os
    import platform
    import socket

    assert facts.value("kernel") == platform.release()
    assert facts.value("arch") == platform.machine()
    assert facts.value("cpus") == os.cpu_count()
    assert facts.value("hostname") == socket.gethostname()
    with open("/etc/os-release") as fh:
        release = dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)
    assert facts.value("os_id") == release["ID"].strip('"')
    assert facts.value("os") == release["PRETTY_NAME"].strip('"')
    with open("/proc/meminfo") as fh:
        total_kib = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1])
    assert facts.value("memory") == total_kib // 1024
    assert facts.value("hardware.os_name") == facts.value("os")
    assert facts.value("runlevel") in {"0", "1", "2", "3", "4", "5", "6", "Unknown"}


def test_a_func_style_fact_module_loads_with_its_import_line_changed(tmp_path: Any, caplog: Any) -> None:
    (tmp_path / "rack.py").write_text(
        "from func_amqp.facts import fact_module\n\n"
        "class RackFacts(fact_module.BaseFactModule):\n"
        "    version = '1.0'\n"
        "    description = 'where the machine stands'\n\n"
        "    def rack(self):\n"
        "        return 'r12'\n"
        "    rack.tag = 'rack'\n\n"
        "    @fact_module.tag('os')\n"
        "    def pretend_os(self):\n"
        "        return 'Plan 9'\n\n"
        "    def _helper(self):\n"
        "        return 'private'\n")
    (tmp_path / "broken.py").write_text("import does_not_exist\n")
    (tmp_path / "fact_module.py").write_text("raise RuntimeError('func ships its base class here: not a module')\n")
    with caplog.at_level(logging.ERROR, logger="func.loader"):
        facts = registry.load([tmp_path])
    assert set(facts.modules) == {"hardware", "rack"}
    assert "module broken" in caplog.text and "fact_module.py" not in caplog.text
    assert facts.value("rack") == "r12" and facts.value("rack.rack") == "r12"
    assert facts.value("os") == "Plan 9"  # the later module's tag wins, as in func
    assert facts.replaced == ["os"]
    assert "rack._helper" not in facts.methods
    with pytest.raises(KeyError):
        facts.value("nope")


def test_a_fact_that_raises_keyerror_is_not_taken_for_a_missing_fact() -> None:
    class Bad(fact_module.BaseFactModule):
        def broken(self) -> str:
            return {}["x"]

    facts = registry.Facts({"bad": Bad()})
    facts.modules["bad"].register_facts(facts.methods, "bad")
    with pytest.raises(RuntimeError, match=r"fact 'bad\.broken' failed"):
        facts.value("bad.broken")


# -- the dispatcher's facts rule and the fact module -----------------------------------------------
@pytest.fixture()
def dispatcher(tmp_path: Any) -> Dispatcher:
    (tmp_path / "rack.py").write_text(
        "from func_amqp.facts import fact_module\n"
        "class RackFacts(fact_module.BaseFactModule):\n"
        "    @fact_module.tag('rack')\n"
        "    def rack(self):\n"
        "        return 'r12'\n")
    registry.install(registry.load([tmp_path]))
    try:
        yield Dispatcher(loader.load_modules())
    finally:
        registry.install(registry.load())


def test_a_matching_query_runs_the_method_and_a_failing_one_does_not(dispatcher: Dispatcher) -> None:
    q = FactQuery().filter(rack="r12", cpus__gte=1).serialize()
    value = dispatcher.call(ANONYMOUS, "test.add", [{"__fact__": q}, 1, 2])
    assert value[1] == 3 and value[0]["__fact__"][0] is True
    assert value[0]["__fact__"][1]["rack"] == "r12"
    sleeping = dispatcher.call(ANONYMOUS, "test.sleep", [{"__fact__": FactQuery().filter(rack="r13").serialize()}, 5])
    assert sleeping == [{"__fact__": [False, {"rack": "r12"}]}]  # and it did not sleep: the test would take 5 s


def test_a_bad_query_is_a_remote_error_and_runs_nothing(dispatcher: Dispatcher, tmp_path: Any) -> None:
    for bad in (FactQuery().filter(nope=1).serialize(), "AND", ["AND", [["cpus__gt", "many"]]]):
        value = dispatcher.call(ANONYMOUS, "test.add", [{"__fact__": bad}, 1, 2])
        assert codes.is_error(value) and value[1] == "func_amqp.facts.query.QueryError", value


def test_the_audit_line_says_a_call_was_skipped(dispatcher: Dispatcher) -> None:
    lines: list[str] = []
    dispatcher.audit.write = lines.append  # type: ignore[method-assign]
    dispatcher.call(ANONYMOUS, "test.ping", [{"__fact__": FactQuery().filter(rack="r1").serialize()}])
    assert "test.ping called with () -> skipped: the facts do not match" in lines[-1]


def test_the_fact_module_lists_shows_and_calls(dispatcher: Dispatcher) -> None:
    def call(method: str, *args: Any) -> Any:
        return dispatcher.call(ANONYMOUS, f"fact.{method}", list(args))

    assert call("list_fact_modules") == ["hardware", "rack"]
    assert {"rack", "rack.rack", "os", "hardware.os_name"} <= set(call("list_fact_methods"))
    assert call("list_fact_methods", True) == call("list_fact_methods")  # no tag defined twice
    assert call("show_fact_module", "rack") == {"name": "rack", "description": "Base module of all facts",
                                                "version": "0.0.0"}
    assert call("show_fact_method", "rack") == {"name": "rack", "tag": "rack"}
    assert call("call_fact", "rack") == "r12"
    assert call("call_fact", "nope") == {} and call("show_fact_module", "nope") == {}
    assert call("grep", "rack") == {"list_fact_modules": ["rack"], "list_fact_methods": ["rack: r12",
                                                                                          "rack.rack: r12"]}


def test_the_overlord_keeps_matches_and_errors_and_drops_the_rest() -> None:
    err = ["REMOTE_ERROR", "x", "y", ""]
    results = {"a": [{"__fact__": [True, {}]}, 1], "b": [{"__fact__": [False, {}]}], "c": err,
               "d": [{"__fact__": [True, {}]}, None]}
    assert matching(results) == {"a": 1, "c": err, "d": None}


def test_query_objects_combine_like_funcs() -> None:
    assert serialize(Q.of(a=1) & Q.of(b=2)) == ["AND", [["AND", [["a", 1]]], ["AND", [["b", 2]]]]]
    assert serialize(Q.of(a=1) | Q()) == ["AND", [["a", 1]]]
    with pytest.raises(TypeError):
        FactQuery().filter(("a",))


def test_a_malformed_facts_header_over_amqp_is_a_remote_error_and_runs_nothing() -> None:
    """What a peer with a valid credential could put in `func.facts`: not JSON, JSON nested past
    any limit, JSON that is no query. Each is a REMOTE_ERROR method error; the method never runs."""
    from func_amqp.minion.amqp_interface import AmqpInterface
    from func_amqp.minion.auth import Authenticator
    from func_amqp.qmfmap import H_FACTS, STATUS_REMOTE_ERROR, encode_args
    from func_amqp.values import unbox
    from qmf.agent import CallContext
    from qmf.errors import MethodError

    lines: list[str] = []
    dispatcher = Dispatcher(loader.load_modules(module_list=["test"]))
    dispatcher.audit.write = lines.append  # type: ignore[method-assign]
    iface = AmqpInterface(dispatcher, "m1", url="amqp://guest:guest@127.0.0.1:5672/%2F",
                          auth=Authenticator(None, allow_unsigned=True))
    iface.build()
    obj = next(o for o in iface.agent.objects.values() if o.schema.key.name == "test")
    args = encode_args(obj.schema.method("add"), (1, 2))
    for header, says in (("{not json", "JSONDecodeError"), ("[" * 100_000 + "]" * 100_000, "RecursionError"),
                         ('["AND"]', "QueryError"), ('{"a": 1}', "QueryError"), ("[]", "QueryError")):
        ctx = CallContext(1, {H_FACTS: header}, "reply", None, "agent.1.1", b"", None, False)
        with pytest.raises(MethodError) as refused:
            iface._serve(obj, "add", "test.add", args, ctx)
        assert refused.value.status == STATUS_REMOTE_ERROR and says in refused.value.text, (header[:20], refused.value)
    assert not any("-> ok" in line for line in lines), lines
    ok = iface._serve(obj, "add", "test.add", args, CallContext(1, {}, "reply", None, "agent.1.1", b"", None, False))
    assert unbox(ok["result"]) == 3 and "test.add called with (1, 2) -> ok" in lines[-1]
