"""Throughput: N trivial builds through the whole service on S local builder slots.

Three figures per slot count, all from this run on this machine:

* ideal: the sum of bare `rpmbuild --rebuild` times of the same SRPMs, one at a time, divided by S
  (the issue's definition);
* bare parallel: the same rpmbuilds run S at a time with nothing else (the floor the hardware
  allows: on a machine with fewer cores than S, or with rpmbuild using more than one core, it is
  above the ideal);
* rpmyard: upload of every SRPM through the API (as copr-cli sends it) until the last build is
  signed, in repodata and shown as succeeded.

It also prints where the CPU went: rpmbuild (inside the sandboxes) against everything else the
service did per build (its own process, gpg-agent, rpm checks, rpmsign, bwrap).

    .venv/bin/python -m benchmarks.throughput [--builds 200] [--slots 2 4]
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.server import running_server
from tests.support.srpms import make_srpm

CHROOT = "fedora-43-x86_64"
FINAL = ("succeeded", "failed", "canceled")


def bare_rpmbuild(srpm: Path, top: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["rpmbuild", "--rebuild", "--nodeps", "--define", f"_topdir {top}", "--define", "dist .fc43",
                    str(srpm)], check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(top)
    return elapsed


def bare_parallel(srpms: list[Path], slots: int, tmp: Path) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        list(pool.map(lambda i: bare_rpmbuild(srpms[i], tmp / f"par{i}"), range(len(srpms))))
    return time.perf_counter() - t0


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores) so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system time of one process (all its threads), without its children."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def run_service(srpms: list[Path], slots: int, tmp: Path) -> tuple[float, float, float]:
    """Wall time, machine CPU and service-process CPU of building every SRPM through the API."""
    with running_server(tmp / f"svc{slots}", RPMYARD_WORKERS=str(slots)) as server:
        assert server.proc is not None
        cfg = configparser.ConfigParser()
        cfg.read_string(server.add_user("tp"))
        with httpx.Client(base_url=server.url, auth=(cfg["copr-cli"]["login"], cfg["copr-cli"]["token"]),
                          timeout=120) as api:
            api.post("/api_3/project/add/tp", json={"name": "p", "chroots": [CHROOT]}).raise_for_status()
            data = json.dumps({"ownername": "tp", "projectname": "p", "chroots": [CHROOT]})
            time.sleep(1)  # let the first publish (the project's signing key) settle
            cpu0, svc0, t0 = machine_cpu_seconds(), process_cpu_seconds(server.proc.pid), time.perf_counter()
            ids = []
            for srpm in srpms:
                with open(srpm, "rb") as fh:
                    r = api.post("/api_3/build/create/upload", files={"json": ("json", data, "application/json"),
                                                                      "pkgs": (srpm.name, fh)})
                r.raise_for_status()
                ids.append(r.json()["id"])
            # Builds finish roughly in order: watch the oldest unfinished one (one cheap request).
            states = []
            while ids:
                state = api.get(f"/api_3/build/{ids[0]}").json()["state"]
                if state in FINAL:
                    states.append(state)
                    ids.pop(0)
                else:
                    time.sleep(0.1)
            wall = time.perf_counter() - t0
            cpu, svc = machine_cpu_seconds() - cpu0, process_cpu_seconds(server.proc.pid) - svc0
            assert states.count("succeeded") == len(srpms), states
            return wall, cpu, svc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", type=int, default=200)
    ap.add_argument("--slots", type=int, nargs="+", default=[2, 4])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpmyard-tp-") as tmp_s:
        tmp = Path(tmp_s)
        srpms = [make_srpm("hello-noarch", tmp / "srpms", version=f"1.{i}") for i in range(args.builds)]
        cpu0 = machine_cpu_seconds()
        bare = sum(bare_rpmbuild(s, tmp / "top") for s in srpms)
        bare_cpu = (machine_cpu_seconds() - cpu0) / args.builds
        print(f"{args.builds} trivial builds on {os.cpu_count()} cores; bare rpmbuild --rebuild one at a time: "
              f"total {bare:.1f} s, {bare / args.builds * 1000:.0f} ms and {bare_cpu * 1000:.0f} ms CPU each")
        for slots in args.slots:
            floor = bare_parallel(srpms, slots, tmp)
            wall, cpu, svc = run_service(srpms, slots, tmp)
            ideal = bare / slots
            n = args.builds
            print(f"  {slots} slots: rpmyard {wall:6.1f} s | ideal {ideal:5.1f} s, ratio {wall / ideal:.2f}x "
                  f"(target <= 1.3x) | bare rpmbuild {slots} at a time {floor:5.1f} s "
                  f"({floor / ideal:.2f}x the ideal), rpmyard/bare {wall / floor:.2f}x")
            print(f"           CPU per build: {cpu / n * 1000:.0f} ms in all, of which rpmbuild ~{bare_cpu * 1000:.0f}"
                  f" ms, the service process {svc / n * 1000:.0f} ms, other tools "
                  f"{(cpu - svc) / n * 1000 - bare_cpu * 1000:.0f} ms (gpg-agent, rpmsign, rpmkeys, bwrap)")


if __name__ == "__main__":
    main()
