"""The audit log's promise: every line on disk by the end of the loop turn that made it (before the
replies of that turn are written), at once outside a loop, in func's line format."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

from func_amqp.minion.audit import AuditLog
from func_amqp.minion.dispatcher import Caller, Dispatcher

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def test_lines_of_one_loop_turn_are_written_together_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log" / "audit.log"
    audit = AuditLog(str(path))
    seen: list[list[str]] = []

    async def turn() -> None:
        loop = asyncio.get_running_loop()
        for i in range(3):
            audit.write(f"call {i}")
        seen.append(path.read_text().splitlines())  # not yet: the turn is not over
        loop.call_soon(lambda: seen.append(path.read_text().splitlines()))  # after the flush, same turn
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert seen[0] == []
    assert [line[24:] for line in seen[1]] == ["call 0", "call 1", "call 2"]
    assert all(LINE.match(line) for line in seen[1])
    audit.close()


def test_a_line_outside_a_loop_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(str(path))
    t = threading.Thread(target=audit.write, args=("from a worker",))
    t.start()
    t.join()
    assert path.read_text().endswith(" from a worker\n")
    audit.close()


def test_the_dispatcher_writes_func_s_audit_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    d = Dispatcher({}, audit=AuditLog(str(path)))
    d.call(Caller("ops", "ops-123", "10.0.0.1", "xmlrpc"), "system.list_modules", [])
    [line] = path.read_text().splitlines()
    assert LINE.match(line)
    assert re.search(r" 10\.0\.0\.1 ops ops-123 system\.list_modules called with \(\) -> ok in \d+\.\d ms \(xmlrpc\)$",
                     line), line
