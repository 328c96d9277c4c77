"""Submit-to-repodata latency of rpmyard against the bare floor, in one run.

Floor: ``rpmbuild --rebuild`` of the SRPM, then ``createrepo_c --update`` on a directory holding
the result: what any build service must do at the least. Service: upload the same SRPM through the
Copr API (exactly the multipart request copr-cli sends) to a fresh `rpmyard serve` (SQLite,
in-process bus, local bubblewrap slots) and poll the chroot's repodata until the package is in it.

    .venv/bin/python -m benchmarks.build_to_repo [--runs 7]
"""

from __future__ import annotations

import argparse
import configparser
import gzip
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import httpx

from tests.support.server import running_server
from tests.support.srpms import make_srpm

CHROOT = "fedora-43-x86_64"


def floor_once(srpm: Path, work: Path) -> float:
    top = work / "top"
    repo = work / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["rpmbuild", "--rebuild", "--nodeps", "--define", f"_topdir {top}", "--define", "dist .fc43",
                    "--target", "x86_64", str(srpm)], check=True, capture_output=True)
    for rpm in (top / "RPMS").rglob("*.rpm"):
        shutil.copy(rpm, repo)
    subprocess.run(["createrepo_c", "--update", "--no-database", "--quiet", str(repo)], check=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(top)
    return elapsed


def repodata_versions(base: str, name: str) -> set[str]:
    repomd = httpx.get(f"{base}/repodata/repomd.xml", timeout=5)
    if repomd.status_code != 200:
        return set()
    ns = {"r": "http://linux.duke.edu/metadata/repo", "c": "http://linux.duke.edu/metadata/common"}
    root = ElementTree.fromstring(repomd.content)
    href = next(d.find("r:location", ns).get("href") for d in root.findall("r:data", ns)  # type: ignore[union-attr]
                if d.get("type") == "primary")
    got = httpx.get(f"{base}/{href}", timeout=5)
    if got.status_code != 200:  # repodata was replaced between the two reads: poll again
        return set()
    primary = ElementTree.fromstring(gzip.decompress(got.content))
    return {p.find("c:version", ns).get("ver") for p in primary.findall("c:package", ns)  # type: ignore[union-attr]
            if p.findtext("c:name", namespaces=ns) == name}


def service_once(client: httpx.Client, url: str, srpm: Path, version: str) -> float:
    repo = f"{url}/results/bench/bench/{CHROOT}"
    data = {"ownername": "bench", "projectname": "bench", "project_dirname": "bench", "chroots": [CHROOT]}
    t0 = time.perf_counter()
    with open(srpm, "rb") as fh:
        r = client.post(f"{url}/api_3/build/create/upload",
                        files={"json": ("json", json.dumps(data), "application/json"),
                               "pkgs": (srpm.name, fh, "application/x-rpm")})
    r.raise_for_status()
    while version not in repodata_versions(repo, "hello-noarch"):
        time.sleep(0.01)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpmyard-bench-") as tmp_s:
        tmp = Path(tmp_s)
        srpms = [make_srpm("hello-noarch", tmp / "srpms", version=f"1.{i}") for i in range(args.runs + 1)]
        floor = [floor_once(s, tmp / "floor") for s in srpms]
        with running_server(tmp / "svc") as server:
            cfg = configparser.ConfigParser()
            cfg.read_string(server.add_user("bench"))
            auth = (cfg["copr-cli"]["login"], cfg["copr-cli"]["token"])
            with httpx.Client(auth=auth, timeout=60) as client:
                client.post(f"{server.url}/api_3/project/add/bench",
                            json={"name": "bench", "chroots": [CHROOT]}).raise_for_status()
                svc = [service_once(client, server.url, s, f"1.{i}") for i, s in enumerate(srpms)]
    floor, svc = floor[1:], svc[1:]  # the first run of each warms caches
    f_med, s_med = statistics.median(floor), statistics.median(svc)
    print(f"runs: {len(svc)} (trivial noarch SRPM, chroot {CHROOT})")
    print(f"floor   rpmbuild --rebuild + createrepo_c --update: median {f_med * 1000:7.1f} ms  "
          f"(min {min(floor) * 1000:.1f}, max {max(floor) * 1000:.1f})")
    print(f"rpmyard API upload -> package in repodata:          median {s_med * 1000:7.1f} ms  "
          f"(min {min(svc) * 1000:.1f}, max {max(svc) * 1000:.1f})")
    print(f"ratio {s_med / f_med:.2f}x; overhead over the floor {(s_med - f_med) * 1000:+.1f} ms (target: <= +500 ms)")


if __name__ == "__main__":
    main()
