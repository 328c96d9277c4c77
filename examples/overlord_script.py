"""An overlord script as func users wrote them; the only change is the import line
(`from func.overlord.client import Overlord` becomes the one below).

    FUNC_OVERLORD_CONFIG=/etc/func/overlord.conf python examples/overlord_script.py "web*"
"""

from __future__ import annotations

import sys

from func_amqp.overlord.client import Overlord


def main(spec: str = "*") -> None:
    overlord = Overlord(spec, transport="amqp", timeout=10)
    print("minions:", overlord.list_minions())
    print("test.ping:", overlord.test.ping())
    print("test.add(1, 2):", overlord.test.add(1, 2))
    for host, (rc, out, _err) in sorted(overlord.command.run("uname -sr; id -un").items()):
        print(f"command.run on {host}: rc={rc} out={out.split()}")
    for host, info in sorted(overlord.hardware.info().items()):
        print(f"hardware.info on {host}: {info.get('cpuModel') or info.get('cpu_model') or ''} "
              f"{info.get('systemMemory') or info.get('memory_total_mb') or ''}")
    print("an exception comes back as func's REMOTE_ERROR:", overlord.test.explode()[overlord.list_minions()[0]][:3])
    print("over XML-RPC too:", Overlord(spec, transport="xmlrpc").test.add(20, 22))
    os_id = overlord.fact.call_fact("os_id")
    first = overlord.list_minions()[0]
    print("facts: os_id", os_id, "-> filter(os_id=...).test.ping():",
          overlord.filter(os_id=os_id[first]).test.ping(), "| filter(memory__lt=1).test.ping():",
          overlord.filter(memory__lt=1).test.ping())
    events = []
    jobs = Overlord(spec, async_=True)
    job_id = jobs.test.sleep(2)
    code, results = jobs.follow(job_id, events.append, timeout=20)
    print(f"async job {job_id}: status {code}, {len(events)} live events "
          f"({sorted({e['kind'] for e in events})}), results {sorted(results)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
