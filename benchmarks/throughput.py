"""Throughput: N trivial builds through the whole service on S local builder slots, against the
ideal (the sum of bare `rpmbuild --rebuild` times of the same SRPMs, divided by S).

    .venv/bin/python -m benchmarks.throughput [--builds 200] [--slots 2 4]
"""

from __future__ import annotations

import argparse
import configparser
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.server import running_server
from tests.support.srpms import make_srpm

CHROOT = "fedora-43-x86_64"


def bare_rpmbuild(srpm: Path, top: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["rpmbuild", "--rebuild", "--nodeps", "--define", f"_topdir {top}", "--define", "dist .fc43",
                    str(srpm)], check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(top)
    return elapsed


def run_service(srpms: list[Path], slots: int, tmp: Path) -> float:
    with running_server(tmp / f"svc{slots}", RPMYARD_WORKERS=str(slots)) as server:
        cfg = configparser.ConfigParser()
        cfg.read_string(server.add_user("tp"))
        with httpx.Client(base_url=server.url, auth=(cfg["copr-cli"]["login"], cfg["copr-cli"]["token"]),
                          timeout=120) as api:
            api.post("/api_3/project/add/tp", json={"name": "p", "chroots": [CHROOT]}).raise_for_status()
            data = json.dumps({"ownername": "tp", "projectname": "p", "chroots": [CHROOT]})
            t0 = time.perf_counter()
            for srpm in srpms:
                with open(srpm, "rb") as fh:
                    api.post("/api_3/build/create/upload", files={"json": ("json", data, "application/json"),
                                                                  "pkgs": (srpm.name, fh)}).raise_for_status()
            while True:
                items = api.get("/api_3/build/list", params={"ownername": "tp", "projectname": "p"}).json()["items"]
                states = [b["state"] for b in items]
                if all(s in ("succeeded", "failed") for s in states) and len(states) == len(srpms):
                    break
                time.sleep(0.2)
            wall = time.perf_counter() - t0
            assert states.count("succeeded") == len(srpms), states
            return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builds", type=int, default=200)
    ap.add_argument("--slots", type=int, nargs="+", default=[2, 4])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpmyard-tp-") as tmp_s:
        tmp = Path(tmp_s)
        srpms = [make_srpm("hello-noarch", tmp / "srpms", version=f"1.{i}") for i in range(args.builds)]
        bare = sum(bare_rpmbuild(s, tmp / "top") for s in srpms)
        print(f"{args.builds} trivial builds; bare rpmbuild --rebuild total {bare:.1f} s")
        for slots in args.slots:
            wall = run_service(srpms, slots, tmp)
            ideal = bare / slots
            print(f"  {slots} slots: wall {wall:6.1f} s, ideal {ideal:6.1f} s, ratio {wall / ideal:.2f}x "
                  f"(target <= 1.3x)")


if __name__ == "__main__":
    main()
