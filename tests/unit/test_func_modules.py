"""The standard minion modules, loaded by the loader and called directly, with real effects on this
machine: real commands and processes, files copied into temporary folders, /proc and /sys read,
the init scripts that are installed here queried (status only: nothing real is started or stopped;
start/stop run against a fake init script in a temporary folder), a tmpfs mounted and unmounted.

Also the loader itself: a broken module is skipped while the others load, a package gives `pkg`
and `pkg.sub`, and `module_list` globs choose what loads.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import logging
import os
import platform
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from func_amqp import codes
from func_amqp.minion import func_module, loader, progress

OURS = ("test", "command", "process", "service", "hardware", "copyfile", "getfile", "disk", "sysctl", "mount",
        "users", "fact", "networktest")
CHUNK = 60000


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def modules() -> dict[str, func_module.FuncModule]:
    return loader.load_modules()


def fresh(modules: dict[str, func_module.FuncModule], name: str) -> Any:
    """A new instance of a loaded module's class (what the dispatcher makes for each call), so that a
    test may change its options."""
    return type(modules[name])()


@pytest.fixture()
def reports() -> Iterator[list[tuple[str, Any]]]:
    """What the module reported through self.progress / self.output during the test."""
    got: list[tuple[str, Any]] = []
    token = progress.current_sink.set(lambda kind, data: got.append((kind, data)))
    yield got
    progress.current_sink.reset(token)


def outputs(reports: list[tuple[str, Any]]) -> list[str]:
    return [data for kind, data in reports if kind == "output"]


def progresses(reports: list[tuple[str, Any]]) -> list[tuple[int, int]]:
    return [data for kind, data in reports if kind == "progress"]


def assert_plain(value: Any) -> None:
    """Only what XML-RPC and AMQP carry: None, bool, int, float, str, list, tuple, dict with str keys."""
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list | tuple):
        for item in value:
            assert_plain(item)
        return
    assert isinstance(value, dict), f"not plain data: {type(value).__name__} {value!r}"
    for key, item in value.items():
        assert isinstance(key, str), f"dict key {key!r} is not a string"
        assert_plain(item)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- loading -------------------------------------------------------------------------------------
def test_every_standard_module_loads_with_the_base_methods(modules: dict[str, func_module.FuncModule]) -> None:
    for name in OURS:
        assert name in modules, f"module {name} did not load"
        mod = modules[name]
        assert isinstance(mod, func_module.FuncModule)
        methods = mod.list_methods()
        for base in func_module.BASE_METHODS:
            assert base in methods
        assert mod.module_version() == type(mod).version and mod.module_version() != "0.0.0"
        assert mod.module_api_version() == type(mod).api_version
        assert mod.module_description() == type(mod).description != "No Description provided"
        args = mod.get_method_args()
        assert args, f"{name} describes no method"
        for method, entry in args.items():
            assert method in methods
            orders = sorted(a["order"] for a in entry["args"].values())
            assert orders == list(range(len(orders)))
            for arg in entry["args"].values():
                assert arg["type"] in ("int", "string", "boolean", "float", "hash", "list", "list*")
        assert_plain(args)
        assert all(m in methods for m in mod.grep(""))  # a dict's keys: fact and networktest search their data
        found = mod.grep("zzz-no-such-method")
        assert found == [] or (isinstance(found, dict) and found and not any(found.values())), (name, found)


def test_helpers_are_not_remote_methods(modules: dict[str, func_module.FuncModule]) -> None:
    for name in OURS:
        for method in modules[name].list_methods():
            assert not method.startswith("_")
            assert method not in ("progress", "output", "register_rpc", "register_method_args")


def test_register_rpc_names_module_dot_method(modules: dict[str, func_module.FuncModule]) -> None:
    handlers: dict[str, Any] = {}
    modules["test"].register_rpc(handlers, "test")
    assert handlers["test.ping"]() == 1
    assert handlers["test.list_methods"]() == modules["test"].list_methods()
    assert set(handlers) == {f"test.{m}" for m in modules["test"].list_methods()}


def test_module_list_globs_pick_standard_modules() -> None:
    assert set(loader.load_modules(module_list=["co*"])) == {"command", "copyfile"}
    assert set(loader.load_modules(module_list=["test", "get*"])) == {"test", "getfile"}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


MODULE = """
    from func_amqp.minion import func_module


    class {cls}(func_module.FuncModule):
        version = "1.2.3"

        def hello(self):
            return "{answer}"
"""


@pytest.fixture()
def module_dir(tmp_path: Path) -> Path:
    write(tmp_path / "good.py", MODULE.format(cls="Good", answer="good"))
    write(tmp_path / "broken.py", "from func_amqp.minion import func_module\nraise RuntimeError('broken on purpose')\n")
    write(tmp_path / "syntax.py", "def (:\n")
    write(tmp_path / "failing_init.py", """
        from func_amqp.minion import func_module


        class FailingInit(func_module.FuncModule):
            def __init__(self):
                raise ValueError("cannot build")
    """)
    write(tmp_path / "plain.py", "X = 1\n")
    write(tmp_path / "pkg" / "__init__.py", MODULE.format(cls="Pkg", answer="pkg"))
    write(tmp_path / "pkg" / "sub.py", MODULE.format(cls="Sub", answer="sub"))
    return tmp_path


def test_broken_modules_are_skipped_and_the_rest_load(module_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="func.loader"):
        mods = loader.load_modules([module_dir])
    assert set(mods) == {"good", "pkg", "pkg.sub"}
    assert mods["good"].hello() == "good" and mods["good"].module_version() == "1.2.3"
    logged = caplog.text
    for name in ("broken", "syntax", "failing_init"):
        assert f"module {name} " in logged
    assert "broken on purpose" in logged and "cannot build" in logged


def test_a_package_gives_pkg_and_pkg_sub(module_dir: Path) -> None:
    mods = loader.load_modules([module_dir])
    assert mods["pkg"].hello() == "pkg"
    assert mods["pkg.sub"].hello() == "sub"
    handlers: dict[str, Any] = {}
    mods["pkg.sub"].register_rpc(handlers, "pkg.sub")
    assert handlers["pkg.sub.hello"]() == "sub"


def test_module_list_globs(module_dir: Path) -> None:
    assert set(loader.load_modules([module_dir], module_list=["pkg*"])) == {"pkg", "pkg.sub"}
    assert set(loader.load_modules([module_dir], module_list=["pkg.*"])) == {"pkg.sub"}
    assert set(loader.load_modules([module_dir], module_list=["g?od", "nothing*"])) == {"good"}
    assert set(loader.load_modules([module_dir], module_list=["", "good"])) == {"good"}


def test_a_later_folder_replaces_a_module_of_the_same_name(tmp_path: Path) -> None:
    write(tmp_path / "a" / "test.py", MODULE.format(cls="Test", answer="mine"))
    mods = loader.load_modules([loader.STANDARD_MODULES, tmp_path / "a"], module_list=["test", "echo*"])
    assert set(mods) == {"test"}
    assert mods["test"].hello() == "mine"


# -- module options and the dispatcher's inline calls ---------------------------------------------
def test_module_options_follow_the_conf_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Options are cached per class, but a changed, removed or broken conf file is seen by the next call."""
    from func_amqp.minion.modules.test import Test

    monkeypatch.setattr(func_module, "MODULE_CONF_DIR", str(tmp_path))
    assert dict(Test().configfoo())["int_option"] == 37  # no file: the Config defaults
    conf = tmp_path / "Test.conf"
    conf.write_text("[main]\nint_option = 5\nbool_option = no\n")
    first = Test()
    assert (first.options.int_option, first.options.bool_option, first.options.example) == (5, False, "1")
    first.options.int_option = 99  # one instance's change stays its own
    assert Test().options.int_option == 5
    conf.write_text("[main]\nint_option = 123456\n")
    assert Test().config_get("int_option") == 123456
    conf.write_text("[main]\nint_option = many\n")
    with caplog.at_level(logging.WARNING):
        assert Test().options.int_option == 37
    assert "ignoring" in caplog.text and "Test.conf" in caplog.text
    conf.unlink()
    assert Test().options.int_option == 37


def test_config_set_and_save_write_the_conf_file_the_next_call_reads(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from func_amqp.minion.dispatcher import ANONYMOUS, Dispatcher
    from func_amqp.minion.modules.test import Test

    monkeypatch.setattr(func_module, "MODULE_CONF_DIR", str(tmp_path / "modules"))  # made when first saved
    d = Dispatcher({"test": Test(), "command": loader.load_modules(module_list=["command"])["command"]})
    after = d.call(ANONYMOUS, "test.config_set", ["int_option", "41"])
    assert dict(after)["int_option"] == 41
    conf = tmp_path / "modules" / "Test.conf"
    assert "int_option = 41\n" in conf.read_text() and conf.read_text().startswith("[main]\n")
    assert d.call(ANONYMOUS, "test.config_get", ["int_option"]) == 41  # a fresh instance, from the file
    d.call(ANONYMOUS, "test.config_set", ["bool_option", "off"])
    assert d.call(ANONYMOUS, "test.config_get", ["bool_option"]) is False
    assert d.call(ANONYMOUS, "test.config_set", ["float_option", 2.5])[2] == ("float_option", 2.5)
    before = conf.read_text()
    for bad, says in ((["int_option", "many"], "option 'int_option' is a int; 'many' is not one"),
                      (["bool_option", "maybe"], "option 'bool_option' is a bool"),
                      (["nope", "1"], "no option 'nope'")):
        err = d.call(ANONYMOUS, "test.config_set", bad)
        assert err[:2] == ["REMOTE_ERROR", "builtins.ValueError"] and says in err[2], err
    assert conf.read_text() == before  # a refused value changes nothing
    conf.unlink()
    assert dict(d.call(ANONYMOUS, "test.config_save", []))["int_option"] == 37  # the defaults, now on disk
    assert "int_option = 37\n" in conf.read_text()
    # every module has func's helpers, remotely too: save_config writes a module's options back
    assert d.call(ANONYMOUS, "test.config_items", []) == Test().config_items()
    assert d.call(ANONYMOUS, "test.save_config", []) is True
    assert "test.save_config" in d.list_methods() and "command.config_items" in d.list_methods()
    assert not list(tmp_path.glob("modules/*.tmp"))


def test_dispatcher_runs_only_never_waiting_methods_inline(modules: dict[str, func_module.FuncModule]) -> None:
    from func_amqp.minion.dispatcher import Dispatcher

    d = Dispatcher(modules)
    inline = ["test.ping", "test.add", "test.echo", "test.list_methods", "command.module_version",
              "system.list_modules", "system.inventory", "nosuch.method"]
    worker = ["test.sleep", "test.slow_progress", "command.run", "service.status", "hardware.info"]
    assert [m for m in inline if not d.nonblocking(m)] == []
    assert [m for m in worker if d.nonblocking(m)] == []


# -- test ----------------------------------------------------------------------------------------
def test_test_module_answers(modules: dict[str, func_module.FuncModule]) -> None:
    t = modules["test"]
    assert t.ping() == 1
    assert t.add(1, 2) == 3
    assert t.add("1", "2") == "12"  # func's CLI sends strings
    assert t.add(1.5, 2) == 3.5
    value = {"a": [1, 2.5, None, True, "x"], "b": {"c": []}}
    assert t.echo(value) == value
    assert t.bigint() == 2**32
    assert t.configfoo() == [("bool_option", True), ("example", "1"), ("float_option", 3.14159), ("int_option", 37),
                             ("string_option", "some string here"),
                             ("testvalue", "this is a test. It is only a test")]  # func's pairs
    assert t.config_get("example") == "1"
    assert t.config_get_test() == "this is a test. It is only a test"


def test_test_module_errors(modules: dict[str, func_module.FuncModule]) -> None:
    t = modules["test"]
    with pytest.raises(Exception, match=r"^khhhhhhaaaaaan!!!!!!$") as boom:
        t.explode()
    assert type(boom.value) is Exception
    assert codes.nice_exception(boom.value)[:3] == ["REMOTE_ERROR", "builtins.Exception", "khhhhhhaaaaaan!!!!!!"]
    with pytest.raises(Exception) as quiet:
        t.explode_no_string()
    assert type(quiet.value) is Exception and str(quiet.value) == ""
    with pytest.raises(TypeError, match="cannot add str and int"):
        t.add("a", 1)
    with pytest.raises(ValueError, match="no option"):
        t.config_get("nope")


def test_sleep_reports_progress_each_second_and_returns_the_time(
        modules: dict[str, func_module.FuncModule], reports: list[tuple[str, Any]]) -> None:
    import time

    before = time.time()
    result = modules["test"].sleep(2)
    assert isinstance(result, float) and result >= before
    assert progresses(reports) == [(0, 2), (1, 2), (2, 2)]
    assert outputs(reports) == ["slept 1 of 2 seconds", "slept 2 of 2 seconds"]


def test_sleep_takes_strings_and_fractions_and_refuses_nonsense(
        modules: dict[str, func_module.FuncModule], reports: list[tuple[str, Any]]) -> None:
    t = modules["test"]
    assert isinstance(t.sleep("0"), float)
    assert progresses(reports) == [(0, 1), (1, 1)]
    t.sleep(0.01)
    for bad, error in (("x", TypeError), (None, TypeError), (True, TypeError), (-1, ValueError),
                       (float("nan"), ValueError), (float("inf"), ValueError)):
        with pytest.raises(error, match="t must be"):
            t.sleep(bad)


def test_slow_progress(modules: dict[str, func_module.FuncModule], reports: list[tuple[str, Any]]) -> None:
    assert modules["test"].slow_progress(3, 0) == 3
    assert progresses(reports) == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert outputs(reports) == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    with pytest.raises(ValueError, match="steps must be >= 0"):
        modules["test"].slow_progress(-1, 0)
    with pytest.raises(TypeError, match="steps must be an int"):
        modules["test"].slow_progress(2.5, 0)


def test_test_method_args_in_funcs_format(modules: dict[str, func_module.FuncModule]) -> None:
    args = modules["test"].get_method_args()
    assert args["add"]["args"]["numb1"] == {"type": "int", "optional": False, "description": "An int", "order": 0}
    assert args["add"]["args"]["numb2"]["order"] == 1
    assert args["echo"]["args"]["data"]["type"] == "string"
    assert args["sleep"]["args"]["t"]["type"] == "float"
    assert args["add"]["description"] == "Gives back the sum of 2 integers"


# -- command -------------------------------------------------------------------------------------
def test_command_run_gives_rc_stdout_stderr(modules: dict[str, func_module.FuncModule]) -> None:
    c = modules["command"]
    assert c.run("echo hello; echo oops >&2; exit 3") == [3, "hello\n", "oops\n"]
    assert c.run("printf 'b\\na\\n' | sort | tr a-z A-Z") == [0, "A\nB\n", ""]  # a real shell
    assert c.run("true") == [0, "", ""]
    rc, _out, err = c.run("/no/such/program")
    assert rc == 127 and "not found" in err
    result = c.run("kill -9 $$")
    assert result[0] == -signal.SIGKILL
    assert_plain(result)


def test_command_streams_stdout_lines_as_output(modules: dict[str, func_module.FuncModule],
                                                reports: list[tuple[str, Any]]) -> None:
    rc, out, _err = modules["command"].run("for i in 1 2 3; do echo line$i; done; echo hidden >&2; printf tail")
    assert rc == 0 and out == "line1\nline2\nline3\ntail"
    assert outputs(reports) == ["line1", "line2", "line3", "tail"]


def test_command_output_that_is_not_utf8_is_replaced(modules: dict[str, func_module.FuncModule],
                                                     reports: list[tuple[str, Any]]) -> None:
    rc, out, err = modules["command"].run("printf '\\377\\376ok\\n'; printf 'caf\\303\\251\\n'; printf '\\377' >&2")
    assert rc == 0
    assert out == "\ufffd\ufffdok\ncafé\n"
    assert err == "\ufffd"
    assert outputs(reports) == ["\ufffd\ufffdok", "café"]


def test_command_env_is_the_whole_environment(modules: dict[str, func_module.FuncModule],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNC_TEST_LEAK", "leaked")
    c = modules["command"]
    assert c.run('echo "$FOO|$FUNC_TEST_LEAK"', {"FOO": "bar"}) == [0, "bar|\n", ""]
    assert c.run('echo "$FUNC_TEST_LEAK"') == [0, "leaked\n", ""]


def test_command_does_not_wait_for_background_children(modules: dict[str, func_module.FuncModule]) -> None:
    rc, out, _err = modules["command"].run("sleep 60 & echo $!")
    child = int(out)
    try:
        assert rc == 0
    finally:
        os.kill(child, signal.SIGTERM)


def test_command_waits_for_a_shell_that_closed_its_output(modules: dict[str, func_module.FuncModule]) -> None:
    assert modules["command"].run("exec >/dev/null 2>&1; sleep 1; exit 5") == [5, "", ""]


def test_command_timeout_kills_the_command(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    c = fresh(modules, "command")
    c.options.timeout = 0.5
    pidfile = tmp_path / "pid"
    with pytest.raises(TimeoutError, match=r"longer than 0\.5 s and was killed"):
        c.run(f"echo $$ > {pidfile}; exec sleep 60")
    assert gone(int(pidfile.read_text()))


def test_command_refuses_bad_arguments(modules: dict[str, func_module.FuncModule]) -> None:
    c = modules["command"]
    for bad, error, text in ((None, TypeError, "command must be a string"), (["ls"], TypeError, "must be a string"),
                             ("", ValueError, "empty"), ("  ", ValueError, "empty"), ("a\x00b", ValueError, "NUL")):
        with pytest.raises(error, match=text):
            c.run(bad)
    with pytest.raises(TypeError, match="env must be a dict"):
        c.run("true", ["A=1"])
    with pytest.raises(TypeError, match="strings to strings"):
        c.run("true", {"A": 1})
    with pytest.raises(ValueError, match="unusable entry"):
        c.run("true", {"A=B": "1"})


def test_command_exists(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    c = modules["command"]
    assert c.exists("sh") is True
    assert c.exists(shutil.which("ls")) is True
    assert c.exists("no-such-command-here") is False
    plain = tmp_path / "notexec"
    plain.write_text("x")
    assert c.exists(str(plain)) is False
    assert c.exists(str(tmp_path)) is False
    with pytest.raises(TypeError):
        c.exists(3)


# -- process -------------------------------------------------------------------------------------
def test_process_info_lists_ps_rows(modules: dict[str, func_module.FuncModule]) -> None:
    rows = modules["process"].info()
    assert_plain(rows)
    assert all(isinstance(r, list) and r for r in rows)
    assert str(os.getpid()) in {r[1] for r in rows}
    mine = modules["process"].info(f"-o pid= -o comm= -p {os.getpid()}")
    assert len(mine) == 1 and mine[0][0] == str(os.getpid())
    assert mine[0][1] == Path("/proc/self/comm").read_text().strip()
    with pytest.raises(ValueError, match="ps --no-such-option"):
        modules["process"].info("--no-such-option")
    with pytest.raises(TypeError):
        modules["process"].info(["-a"])


def test_process_mem_rows(modules: dict[str, func_module.FuncModule]) -> None:
    rows = modules["process"].mem()
    assert_plain(rows)
    assert len(rows) >= 2
    *programs, total = rows
    assert total[:3] == ["", "", ""] and total[3].endswith("iB")
    for private, shared, both, name in programs:
        for size in (private, shared, both):
            number, unit = size.split()
            float(number)
            assert unit in ("KiB", "MiB", "GiB", "TiB")
        assert name


def test_process_kill(modules: dict[str, func_module.FuncModule]) -> None:
    p = modules["process"]
    child = subprocess.Popen(["sleep", "60"])
    assert p.kill(child.pid) == 0
    assert child.wait() == -signal.SIGTERM
    assert p.kill(child.pid) == 1  # gone now
    child = subprocess.Popen(["sleep", "60"])
    assert p.kill(str(child.pid), "-9") == 0
    assert child.wait() == -signal.SIGKILL
    child = subprocess.Popen(["sleep", "60"])
    assert p.kill(child.pid, "SIGHUP") == 0
    assert child.wait() == -signal.SIGHUP


def test_process_kill_refuses_groups_and_nonsense(modules: dict[str, func_module.FuncModule]) -> None:
    p = modules["process"]
    for pid in (0, "0", -1):
        with pytest.raises(ValueError, match="process group"):
            p.kill(pid)
    for pid, error in (("abc", ValueError), (None, TypeError), (True, TypeError), (1.5, TypeError)):
        with pytest.raises(error, match="pid must be an int"):
            p.kill(pid)
    with pytest.raises(ValueError, match="unknown signal"):
        p.kill(os.getpid(), "NOSUCH")
    with pytest.raises(ValueError, match="out of range"):
        p.kill(os.getpid(), 999)


def test_process_pkill(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    name = "fpk" + secrets.token_hex(5)  # a process name nothing else has (comm: 15 characters at most)
    link = tmp_path / name
    link.symlink_to(shutil.which("sleep"))
    p = modules["process"]
    children = [subprocess.Popen([str(link), "60"]) for _ in range(2)]
    assert p.pkill(name) == 0
    assert [c.wait() for c in children] == [-signal.SIGTERM] * 2
    assert p.pkill(name) == 1
    child = subprocess.Popen([str(link), "60"])
    assert p.pkill(name, "KILL") == 0
    assert child.wait() == -signal.SIGKILL
    with pytest.raises(ValueError, match="non-empty"):
        p.pkill("")
    with pytest.raises(ValueError, match="pkill"):
        p.pkill("[")


def test_process_loadavg(modules: dict[str, func_module.FuncModule]) -> None:
    load = modules["process"].loadavg()
    assert len(load) == 3 and all(isinstance(x, float) and x >= 0 for x in load)


# -- service -------------------------------------------------------------------------------------
FAKE_SERVICE = """\
#!/bin/sh
STATE="$(dirname "$0")/../fakesvc.state"
case "$1" in
  start) touch "$STATE" ;;
  stop) rm -f "$STATE" ;;
  restart) rm -f "$STATE"; touch "$STATE" ;;
  reload) [ -e "$STATE" ] || exit 7 ;;
  status)
    if [ -e "$STATE" ]; then echo "fakesvc is running LANG=$LANG leak=$FUNC_TEST_LEAK"; exit 0; fi
    echo "fakesvc is not running"; exit 3 ;;
  *) echo "Usage: $0 {start|stop|restart|reload|status}"; exit 2 ;;
esac
"""


@pytest.fixture()
def fake_init(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> Any:
    """A Service module looking at a temporary init folder: fakesvc (full), nostat (no status action:
    must never be run by get_running), dead (status 1), a non-executable file, rc2.d and rc3.d links."""
    init = tmp_path / "init.d"
    init.mkdir()
    scripts = {"fakesvc": FAKE_SERVICE,
               "nostat": '#!/bin/sh\ntouch "$(dirname "$0")/../nostat.ran"\n',
               "dead": "#!/bin/sh\ncase \"$1\" in status) echo dead; exit 1;; esac\n"}
    for name, text in scripts.items():
        (init / name).write_text(text)
        (init / name).chmod(0o755)
    (init / "README").write_text("not a service")
    (init / "notexec").write_text("#!/bin/sh\n")
    for level in ("2", "3"):
        (tmp_path / f"rc{level}.d").mkdir()
        (tmp_path / f"rc{level}.d" / "S01fakesvc").symlink_to("../init.d/fakesvc")
    (tmp_path / "rc0.d").mkdir()
    (tmp_path / "rc0.d" / "K01fakesvc").symlink_to("../init.d/fakesvc")
    svc = fresh(modules, "service")
    svc.options.manager = "sysv"
    svc.options.init_dir = str(init)
    svc.options.rc_root = str(tmp_path)
    return svc


def test_service_actions_run_the_init_script(fake_init: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNC_TEST_LEAK", "leaked")
    svc = fake_init
    assert svc.status("fakesvc") == 3
    assert svc.reload("fakesvc") == 7
    assert svc.start("fakesvc") == 0
    assert (tmp_path / "fakesvc.state").exists()
    assert svc.status(" fakesvc ") == 0
    assert svc.reload("fakesvc") == 0
    assert svc.restart("fakesvc") == 0
    assert svc.stop("fakesvc") == 0
    assert svc.status("fakesvc") == 3
    assert svc.status("dead") == 1


def test_service_listings_from_the_init_folder(fake_init: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNC_TEST_LEAK", "leaked")
    svc = fake_init
    svc.start("fakesvc")
    enabled = svc.get_enabled()
    assert enabled == [["dead", [f"{n}:off" for n in range(7)]],
                       ["fakesvc", ["0:off", "1:off", "2:on", "3:on", "4:off", "5:off", "6:off"]],
                       ["nostat", [f"{n}:off" for n in range(7)]]]
    running = svc.get_running()
    assert running == [["dead", "dead", "dead\n"],
                       ["fakesvc", "running", "fakesvc is running LANG=C leak=\n"],
                       ["nostat", "unknown", ""]]
    assert not (tmp_path / "nostat.ran").exists()
    inventory = svc.inventory()
    assert inventory == {"running": [row[:2] for row in running], "enabled": enabled}
    assert_plain(inventory)


def test_service_refuses_unknown_and_bad_names(fake_init: Any) -> None:
    svc = fake_init
    with pytest.raises(codes.FuncException, match="Service not installed: nosuch"):
        svc.status("nosuch")
    with pytest.raises(codes.FuncException, match="Service not installed: notexec"):
        svc.start("notexec")
    for bad in ("../fakesvc", "a/b", "", "-x", "a b", "x;reboot"):
        with pytest.raises(ValueError, match="not a service name"):
            svc.status(bad)
    with pytest.raises(TypeError, match="service_name must be a string"):
        svc.status(None)


def test_service_without_a_service_manager_says_so(modules: dict[str, func_module.FuncModule], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    svc = fresh(modules, "service")
    monkeypatch.setattr(sys.modules[type(svc).__module__], "_systemd_is_init", lambda: False)
    svc.options.init_dir = str(tmp_path / "missing")
    for call in (svc.inventory, svc.get_enabled, lambda: svc.status("x")):
        with pytest.raises(codes.FuncException, match="no service manager found on this host"):
            call()
    svc.options.manager = "systemd"
    with pytest.raises(codes.FuncException, match="no service manager found"):
        svc.get_running()
    svc.options.manager = "upstart"
    with pytest.raises(codes.FuncException, match="manager must be auto, systemd or sysv"):
        svc.get_running()


def test_service_systemd_path(modules: dict[str, func_module.FuncModule], monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd is not init on this machine, so systemctl's answers are canned; what is checked is the
    commands sent and how their output becomes func's shapes."""
    svc = fresh(modules, "service")
    monkeypatch.setattr(sys.modules[type(svc).__module__], "_systemd_is_init", lambda: True)
    sent: list[list[str]] = []
    canned = {
        "list-unit-files": "cron.service enabled enabled\nssh.service disabled enabled\nx.socket enabled -\n",
        "list-units": "cron.service loaded active running Regular background program\n"
                      "ssh.service loaded inactive dead OpenBSD Secure Shell server\n"
                      "bad.service loaded failed failed Broken\n",
    }

    def run(argv: list[str]) -> tuple[int, str]:
        sent.append(argv)
        if argv[1] == "show":
            return 0, "loaded\n" if argv[-1] == "cron.service" else "not-found\n"
        return (0, canned.get(argv[1], ""))

    svc._run = run
    assert svc.get_enabled() == [["cron", ["enabled"]], ["ssh", ["disabled"]]]
    assert svc.get_running() == [["cron", "running", "loaded active running Regular background program"],
                                 ["ssh", "stopped", "loaded inactive dead OpenBSD Secure Shell server"],
                                 ["bad", "dead", "loaded failed failed Broken"]]
    assert svc.restart("cron.service") == 0
    assert sent[-1] == ["systemctl", "restart", "--no-pager", "cron.service"]
    with pytest.raises(codes.FuncException, match="Service not installed: nosuch"):
        svc.status("nosuch")


def status_scripts() -> list[str]:
    """The init scripts installed here that have a status action."""
    folder = Path("/etc/init.d")
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and os.access(p, os.X_OK) and b"status" in p.read_bytes()) if folder.is_dir() else []


def test_service_status_and_inventory_on_this_machine(modules: dict[str, func_module.FuncModule]) -> None:
    """Read-only calls against the real init scripts (nothing is started or stopped)."""
    scripts = status_scripts()
    assert scripts, "this test needs SysV init scripts in /etc/init.d (Debian without systemd)"
    name = "rabbitmq-server" if "rabbitmq-server" in scripts else scripts[0]
    svc = modules["service"]
    expected = subprocess.run(["/etc/init.d/" + name, "status"], capture_output=True, check=False,
                              env={"LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}).returncode
    assert svc.status(name) == expected
    inventory = svc.inventory()
    assert_plain(inventory)
    names = [row[0] for row in inventory["enabled"]]
    assert name in names and names == sorted(names)
    assert [row[0] for row in inventory["running"]] == names
    for _name, levels in inventory["enabled"]:
        assert [lv.split(":")[0] for lv in levels] == list("0123456")
        assert {lv.split(":")[1] for lv in levels} <= {"on", "off"}
    states = {row[0]: row[1] for row in inventory["running"]}
    assert states[name] == {0: "running", 1: "dead", 2: "locked", 3: "stopped"}.get(expected, "unknown")


# -- hardware ------------------------------------------------------------------------------------
def test_hardware_info_matches_the_machine(modules: dict[str, func_module.FuncModule]) -> None:
    info = modules["hardware"].info()
    assert_plain(info)
    assert info["hostname"] == socket.gethostname()
    assert info["kernelVersion"] == os.uname().release
    assert info["platform"] == platform.machine()
    assert info["numCpus"] == os.cpu_count()
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert info["systemMemory"] == int(meminfo["MemTotal"].split()[0]) // 1024
    assert info["systemSwap"] == int(meminfo["SwapTotal"].split()[0]) // 1024
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert info["cpuModel"] in cpuinfo or info["cpuModel"] == platform.processor()
    release = Path("/etc/os-release").read_text()
    assert info["os"] in release and info["osId"] in release
    assert isinstance(info["bogomips"], float) and isinstance(info["cpuSpeed"], int)
    pci = sorted(os.listdir("/sys/bus/pci/devices")) if os.path.isdir("/sys/bus/pci/devices") else []
    assert [d["slot"] for d in info["devices"]] == pci
    for device in info["devices"]:
        assert device["vendor"].startswith("0x") and device["class"].startswith("0x")


def test_hardware_inventory_and_hal(modules: dict[str, func_module.FuncModule]) -> None:
    hw = modules["hardware"]
    assert hw.inventory() == hw.info() == hw.info(True)  # nothing in it changes by itself
    assert "devices" not in hw.info(with_devices=False)
    assert "devices" not in hw.info("false")
    assert hw.hal_info() == {}
    with pytest.raises(ValueError, match="not a boolean"):
        hw.info("perhaps")
    with pytest.raises(TypeError):
        hw.info([1])


# -- copyfile ------------------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_copyfile_writes_and_reports_unchanged(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    target = tmp_path / "new" / "dir" / "file.conf"
    data = b"line one\nline two\n\x00\xff binary too\n"
    assert cf.copyfile(str(target), b64(data)) == 1
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert cf.copyfile(str(target), b64(data)) == 0
    assert [p.name for p in target.parent.iterdir()] == ["file.conf"]  # no temporary file, no backup
    assert cf.copyfile(str(target), b64(data), "0600", -1, -1, True) == 1  # force
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    backups = [p for p in target.parent.iterdir() if p.name != "file.conf"]
    assert len(backups) == 1 and backups[0].name.startswith("file.conf.") and backups[0].name.endswith("~")
    assert backups[0].read_bytes() == data


def test_copyfile_replaces_atomically(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    cf.options.backup = False
    target = tmp_path / "f"
    target.write_bytes(b"old content")
    with open(target, "rb") as reader:  # a reader that opened the old file keeps seeing all of it
        assert cf.copyfile(str(target), b64(b"new content")) == 1
        assert reader.read() == b"old content"
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["f"]


def test_copyfile_failure_leaves_the_old_file_and_no_temporary(
        modules: dict[str, func_module.FuncModule], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cf = fresh(modules, "copyfile")
    cf.options.backup = False
    target = tmp_path / "f"
    target.write_bytes(b"old")
    mod = sys.modules[type(cf).__module__]

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        cf.copyfile(str(target), b64(b"new"))
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_copyfile_data_forms(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    data = os.urandom(500)
    target = str(tmp_path / "f")
    assert cf.copyfile(target, base64.encodebytes(data).decode()) == 1  # with newlines every 76 characters
    assert Path(target).read_bytes() == data
    assert cf.copyfile(target, data) == 0  # bytes are the content itself
    assert cf.copyfile(target, xmlrpc.client.Binary(b"via binary"), 0o640) == 1  # an int mode is the mode
    assert Path(target).read_bytes() == b"via binary"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert cf.copyfile(target, b64(b"x"), "0o600") == 1
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_copyfile_keeps_owner_and_writes_through_symlinks(modules: dict[str, func_module.FuncModule],
                                                          tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    cf.options.backup = False
    real = tmp_path / "real"
    link = tmp_path / "link"
    real.write_bytes(b"a")
    link.symlink_to(real)
    assert cf.copyfile(str(link), b64(b"through the link")) == 1
    assert link.is_symlink() and real.read_bytes() == b"through the link"
    assert os.geteuid() == 0, "changing a file's owner needs root: run the tests as root, as CI does"
    daemon = pwd.getpwnam("daemon")
    assert cf.copyfile(str(real), b64(b"owned"), "0644", daemon.pw_uid, daemon.pw_gid) == 1
    assert cf.copyfile(str(real), b64(b"still owned"), "0644", -1, -1) == 1
    st = real.stat()
    assert (st.st_uid, st.st_gid) == (daemon.pw_uid, daemon.pw_gid)


def test_copyfile_refuses_bad_arguments(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    target = str(tmp_path / "f")
    cases = [
        (("relative/path", b64(b"x")), ValueError, "must be absolute"),
        ((str(tmp_path), b64(b"x")), IsADirectoryError, "is a folder"),
        ((None, b64(b"x")), TypeError, "filepath must be a string"),
        ((target, "not base64!"), ValueError, "not valid base64"),
        ((target, 12), TypeError, "filebuf must be base64 text or bytes"),
        ((target, b64(b"x"), "0999"), ValueError, "mode must be octal"),
        ((target, b64(b"x"), "17777"), ValueError, "outside"),
        ((target, b64(b"x"), 1.5), TypeError, "mode must be"),
        ((target, b64(b"x"), "0644", "root"), ValueError, "uid must be an int"),
        ((target, b64(b"x"), "0644", -1, -5), ValueError, "gid must be >= -1"),
    ]
    for args, error, text in cases:
        with pytest.raises(error, match=text):
            cf.copyfile(*args)
    assert not os.path.exists(target)


def test_copyfile_chunked_open_append(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    cf = fresh(modules, "copyfile")
    data = os.urandom(2 * CHUNK + 123)
    target = tmp_path / "sub" / "big.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous content that must go")
    assert cf.open(str(target), 0o600) == str(target)
    assert target.read_bytes() == b""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    for n in range(0, len(data), CHUNK):
        chunk = data[n:n + CHUNK]
        assert cf.append(str(target), b64(chunk) if n else xmlrpc.client.Binary(chunk)) == 1
    assert target.read_bytes() == data
    assert cf.checksum(str(target)) == hashlib.sha1(data).hexdigest()
    assert cf.checksum(str(target), "md5") == hashlib.md5(data).hexdigest()
    assert cf.open(str(target)) == str(target)  # mode None keeps the file's mode
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileNotFoundError, match=r"call copyfile\.open first"):
        cf.append(str(tmp_path / "never-opened"), b64(b"x"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        cf.checksum(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="algorithm must be"):
        cf.checksum(str(target), "crc32")


# -- getfile -------------------------------------------------------------------------------------
def fetch(gf: Any, path: str) -> bytes:
    """What func's overlord `local.getfile.get` does: chunkslen, then each chunk checked by its digest."""
    count = gf.chunkslen(path)
    parts = []
    for n in range(count):
        digest, text = gf.getchunk(n, path)
        assert hashlib.sha1(text.encode("ascii")).hexdigest() == digest
        parts.append(base64.b64decode(text))
    return b"".join(parts)


def test_getfile_chunks(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    gf = modules["getfile"]
    data = os.urandom(2 * CHUNK + 1)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    assert gf.chunkslen(str(path)) == 3
    assert fetch(gf, str(path)) == data
    assert len(base64.b64decode(gf.getchunk("1", str(path))[1])) == CHUNK
    assert gf.getchunk(3, str(path)) == [hashlib.sha1(b"").hexdigest(), ""]  # past the end: func's end marker
    assert gf.checksum(str(path)) == hashlib.sha1(data).hexdigest()
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * CHUNK)
    assert gf.chunkslen(str(exact)) == 1
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert gf.chunkslen(str(empty)) == 0 and fetch(gf, str(empty)) == b""
    assert fetch(gf, "/proc/version") == Path("/proc/version").read_bytes()  # size 0 in stat, read through


def test_getfile_unreadable_files_answer_funcs_markers(modules: dict[str, func_module.FuncModule],
                                                       tmp_path: Path) -> None:
    gf = modules["getfile"]
    missing = str(tmp_path / "missing")
    assert gf.chunkslen(missing) == -1
    assert gf.getchunk(0, missing) == [-1, ""]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert gf.chunkslen(str(fifo)) == -1  # a pipe could block or never end
    assert gf.getchunk(0, str(fifo)) == [-1, ""]
    with pytest.raises(IsADirectoryError):
        gf.chunkslen(str(tmp_path))
    for bad, error in ((-1, ValueError), ("x", ValueError), (None, TypeError), (True, TypeError)):
        with pytest.raises(error, match="chunknum"):
            gf.getchunk(bad, missing)
    with pytest.raises(ValueError, match="getchunk\\(chunknum, filename\\)"):
        gf.getchunk("x", "y")


def test_getfile_getchunk_takes_either_order(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    gf = modules["getfile"]
    path = tmp_path / "f"
    path.write_bytes(os.urandom(CHUNK + 5))
    assert gf.getchunk(str(path), 1) == gf.getchunk(1, str(path)) == gf.getchunk(str(path), "1")
    assert base64.b64decode(gf.getchunk(str(path), 1)[1]) == path.read_bytes()[CHUNK:]


def test_getfile_to_copyfile_round_trip(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    gf, cf = modules["getfile"], fresh(modules, "copyfile")
    source = tmp_path / "source"
    source.write_bytes(os.urandom(CHUNK * 3 + 7))
    dest = str(tmp_path / "copy")
    cf.open(dest, "0644")
    for n in range(gf.chunkslen(str(source))):
        cf.append(dest, gf.getchunk(n, str(source))[1])
    assert cf.checksum(dest) == gf.checksum(str(source))


# -- disk ----------------------------------------------------------------------------------------
def test_disk_usage(modules: dict[str, func_module.FuncModule]) -> None:
    disk = modules["disk"]
    everything = disk.usage()
    assert_plain(everything)
    root = everything["/"]
    vfs = os.statvfs("/")
    assert int(root["total"]) == vfs.f_blocks * vfs.f_frsize // 1024
    assert set(root) == {"device", "fstype", "total", "used", "available", "percentage"}
    assert isinstance(root["percentage"], int) and 0 <= root["percentage"] <= 100
    assert list(disk.usage("/")) == ["/"]
    assert disk.inventory()["/"] == {k: root[k] for k in ("device", "fstype", "total")}
    with pytest.raises(ValueError, match="df:"):
        disk.usage("/no/such/path")
    with pytest.raises(TypeError):
        disk.usage(5)


# -- sysctl --------------------------------------------------------------------------------------
def test_sysctl_reads_proc_sys(modules: dict[str, func_module.FuncModule]) -> None:
    sc = modules["sysctl"]
    ostype = Path("/proc/sys/kernel/ostype").read_text().strip()
    assert f"kernel.ostype = {ostype}" in sc.list()
    assert sc.get("kernel.ostype") == [ostype]
    assert sc.get("kernel/osrelease") == [os.uname().release]
    for bad, error in (("../../etc/passwd", ValueError), ("kernel..ostype", ValueError), ("", ValueError),
                       ("kernel/../kernel/ostype", ValueError), (5, TypeError)):
        with pytest.raises(error):
            sc.get(bad)
    with pytest.raises(ValueError, match="no such kernel parameter"):
        sc.get("kernel.no_such_parameter")
    with pytest.raises(ValueError, match="group of parameters"):
        sc.get("kernel")


def test_sysctl_set_on_a_fake_proc_sys(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    sc = fresh(modules, "sysctl")
    sc.options.proc_sys = str(tmp_path)
    (tmp_path / "net" / "ipv4").mkdir(parents=True)
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("0\n")
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "multi").write_text("a\nb\n")
    assert sc.list() == ["kernel.multi = a\tb", "net.ipv4.ip_forward = 0"]
    assert sc.get("kernel.multi") == ["a", "b"]
    assert sc.set("net.ipv4.ip_forward", 1) == ["net.ipv4.ip_forward = 1"]
    assert (tmp_path / "net" / "ipv4" / "ip_forward").read_text() == "1"
    with pytest.raises(ValueError, match="no such kernel parameter"):
        sc.set("net.ipv4", "1")
    with pytest.raises(TypeError, match="value must be"):
        sc.set("net.ipv4.ip_forward", [1])


# -- mount ---------------------------------------------------------------------------------------
def test_mount_list(modules: dict[str, func_module.FuncModule], tmp_path: Path) -> None:
    mounts = modules["mount"].list()
    assert_plain(mounts)
    assert any(m["dir"] == "/" for m in mounts)
    assert modules["mount"].inventory() == mounts
    fake = tmp_path / "mounts"
    fake.write_text("/dev/sdb1 /mnt/my\\040disk ext4 rw,relatime 0 0\nshort line\n")
    mt = fresh(modules, "mount")
    mt.options.mounts_file = str(fake)
    assert mt.list() == [{"device": "/dev/sdb1", "dir": "/mnt/my disk", "type": "ext4", "options": "rw,relatime"}]


@pytest.fixture()
def mount_point(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt with space"
    yield point
    if os.path.ismount(point):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_mount_and_umount_a_tmpfs(modules: dict[str, func_module.FuncModule], mount_point: Path) -> None:
    assert os.geteuid() == 0, "mounting needs root: run the tests as root, as CI does"
    mt = modules["mount"]
    assert mt.umount(str(mount_point)) is True  # not mounted: nothing to do, as in func
    assert mt.mount("none", str(mount_point), "tmpfs", "size=1m,mode=0700", True) is True
    assert os.path.ismount(mount_point)
    entry = [m for m in mt.list() if m["dir"] == str(mount_point)]
    assert len(entry) == 1 and entry[0]["type"] == "tmpfs" and "size=1024k" in entry[0]["options"]
    assert str(mount_point) in modules["disk"].usage()
    assert mt.umount(str(mount_point)) is True
    assert not os.path.ismount(mount_point)
    assert mt.mount("none", str(mount_point), "nosuchfs") is False


def test_mount_refuses_bad_arguments(modules: dict[str, func_module.FuncModule]) -> None:
    mt = modules["mount"]
    with pytest.raises(ValueError, match="absolute"):
        mt.mount("none", "relative", "tmpfs")
    with pytest.raises(ValueError, match="not a filesystem type"):
        mt.mount("none", "/mnt/x", "tmpfs;reboot")
    with pytest.raises(TypeError, match="device must be a string"):
        mt.mount(None, "/mnt/x")
    with pytest.raises(TypeError, match="dir must be a string"):
        mt.umount(5)


# -- users ---------------------------------------------------------------------------------------
def test_users_read_the_databases(modules: dict[str, func_module.FuncModule]) -> None:
    us = modules["users"]
    root = pwd.getpwuid(0)
    group0 = grp.getgrgid(0)
    assert us.user_exists(root.pw_name) is True and us.user_exists("no-such-user-x") is False
    unused_uid = max(p.pw_uid for p in pwd.getpwall() if p.pw_uid < 2**31) + 1
    unused_gid = max(g.gr_gid for g in grp.getgrall() if g.gr_gid < 2**31) + 1
    assert us.uid_exists(0) is True and us.uid_exists("0") is True and us.uid_exists(unused_uid) is False
    assert us.group_exists(group0.gr_name) is True and us.gid_exists(0) is True
    assert us.users_exist(root.pw_name, "no-such-user-x") == [True, False]
    assert us.user_info(root.pw_name) == list(root) == us.uid_info(0)
    assert us.group_info(group0.gr_name) == [group0.gr_name, group0.gr_passwd, 0, list(group0.gr_mem)]
    assert us.user_info("no-such-user-x") is False and us.gid_info(unused_gid) is False
    assert us.uid_to_user(unused_uid) is False and us.gid_exists(unused_gid) is False
    assert us.user_to_uid(root.pw_name) == 0 and us.uid_to_user(0) == root.pw_name
    assert us.group_to_gid(group0.gr_name) == 0 and us.gid_to_group("0") == group0.gr_name
    assert us.users_to_uids(root.pw_name, "no-such-user-x") == [0, False]
    assert us.user_list() == [p.pw_name for p in pwd.getpwall()] == us.users_list()
    assert us.gid_list() == [g.gr_gid for g in grp.getgrall()]
    inventory = us.inventory()
    assert_plain(inventory)
    assert inventory["users"] == [list(p) for p in pwd.getpwall()]


def test_users_refuse_bad_arguments(modules: dict[str, func_module.FuncModule]) -> None:
    us = modules["users"]
    with pytest.raises(TypeError, match="user must be a name"):
        us.user_info(5)
    with pytest.raises(ValueError, match="uid must be an int"):
        us.uid_info("root")
    with pytest.raises(ValueError, match="out of range"):
        us.uid_exists(-1)
    with pytest.raises(TypeError, match="gid must be an int"):
        us.gid_info(None)
    with pytest.raises(ValueError, match="not a group name"):
        us.group_exists("")


# -- networktest ---------------------------------------------------------------------------------
def test_networktest_runs_the_tools_on_this_machine(modules: dict[str, func_module.FuncModule],
                                                    reports: list[tuple[str, Any]]) -> None:
    n = modules["networktest"]
    out = n.ping("-c", 1, "-W", "2", "127.0.0.1")
    assert out[-1] == "" and any("1 packets transmitted, 1 received" in line for line in out), out
    assert outputs(reports)[0].startswith("PING 127.0.0.1")  # each line also reported as it came
    assert n.ping("-c1", "-W", "2", "127.0.0.1")[0].startswith("PING 127.0.0.1")
    trace = n.traceroute("-n", "-m", "2", "-w", "1", "127.0.0.1")
    assert trace[0].startswith("traceroute to 127.0.0.1") and any(line.strip().startswith("1  127.0.0.1")
                                                                  for line in trace), trace
    with socket.socket() as s:  # a port nobody serves DNS on: dig says it could not reach it
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dug = n.dig("+time=1", "+tries=1", "-p", closed, "@127.0.0.1", "example.org")
    assert any("DiG" in line for line in dug) and any("connection refused" in line.lower()
                                                      or "no servers could be reached" in line for line in dug), dug
    listening = n.netstat("-ltn")
    assert any(":5672 " in line and "LISTEN" in line for line in listening), listening
    assert n.grep("LISTEN")["netstat"] and all("listen" in line.lower() for line in n.grep("LISTEN")["netstat"])


def test_networktest_isportopen_answers_funcs_shapes(modules: dict[str, func_module.FuncModule]) -> None:
    n = modules["networktest"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert n.isportopen("127.0.0.1", port) == [0, f"connection to 127.0.0.1:{port} succeeded"]
        assert n.isportopen("127.0.0.1", str(port))[0] == 0  # the CLI's text
    code, (text, error) = n.isportopen("127.0.0.1", port)
    assert code == 1 and text == f"connection to 127.0.0.1:{port} failed" and "refused" in error.lower()
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        n.isportopen("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="must be a number"):
        n.isportopen("127.0.0.1", "http")


def test_networktest_refuses_an_endless_ping_and_names_a_missing_tool(modules: dict[str, func_module.FuncModule],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    n = modules["networktest"]
    with pytest.raises(codes.FuncException, match="count with -c"):
        n.ping("127.0.0.1")
    with pytest.raises(codes.FuncException, match="count with -c"):
        n.ping("-cx", "127.0.0.1")
    from func_amqp.minion.modules import networktest

    monkeypatch.setattr(networktest.shutil, "which", lambda *a, **k: None)
    with pytest.raises(codes.FuncException, match=r"traceroute is not installed on this minion \(Debian package "
                                                  r"traceroute\)"):
        n.traceroute("127.0.0.1")
