"""The main job (`./run demo`): a CA, the broker role and three funcd minions on the local RabbitMQ,
then an overlord script and the func CLI against them, printing what they got.

Everything runs as separate processes on a fresh vhost; build/demo keeps the CA, the minions'
configs, certificates, state and audit logs for a look afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from local_fleet import LocalFleet  # noqa: E402

MINIONS = ["web1", "web2", "db1"]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    root = HERE.parent / "build" / "demo"
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    with LocalFleet(root) as fleet:
        step(f"a CA in {fleet.ca.config.cadir}, the broker role and minions {MINIONS} on vhost {fleet.vhost}")
        fleet.start_minions(MINIONS)
        for proc in fleet.minions.values():
            print(" ", next(line for line in proc.lines if line.startswith("funcd ")))
        print("  signed certificates (the overlord's inventory):", fleet.ca.list_signed())
        step("an overlord script (examples/overlord_script.py)")
        env = {**os.environ, "FUNC_OVERLORD_CONFIG": str(fleet.overlord_conf), "PYTHONPATH": str(HERE.parent)}
        script = subprocess.run([sys.executable, str(HERE / "overlord_script.py"), "*"], env=env, text=True,
                                capture_output=True, timeout=120)
        print(script.stdout.rstrip())
        if script.returncode != 0:
            print(script.stderr, file=sys.stderr)
            return 1
        step("the func CLI")
        for args in (["*", "ping"], ["web*", "call", "test", "add", "1", "2"],
                     ["db1", "call", "--json", "command", "run", "echo hello from $(hostname)"],
                     ["*", "call", "--async", "--progress", "test", "sleep", "2"],
                     ["*", "call", "--filter", "cpus>=1,os_id=" + _os_id(), "networktest", "isportopen", "127.0.0.1",
                      "5672"],
                     ["web1", "--transport", "xmlrpc", "call", "system", "list_modules"]):
            print("$ func", " ".join(f'"{a}"' if " " in a or "*" in a else a for a in args))
            r = fleet.func(*args)
            print(r.stdout.rstrip())
            if r.stderr.strip():
                print(r.stderr.rstrip())
            if r.returncode != 0:
                print(f"(exit status {r.returncode})")
                return 1
        step("the audit log of web1 (one line per call)")
        for line in fleet.audit_lines("web1")[-3:]:
            print(" ", line)
    print(f"\ndone in {time.monotonic() - started:.1f} s; files under {root}")
    return 0


def _os_id() -> str:
    """This machine's os-release ID: what the demo's three local minions all report as `os_id`."""
    from func_amqp.facts import registry

    return str(registry.load().value("os_id"))


if __name__ == "__main__":
    raise SystemExit(main())
