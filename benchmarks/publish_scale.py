"""Publishing at scale: rpmyard's incremental, signed publisher against ``createrepo_c --update``.

1. Builds a test repository of ``--packages`` (default 20,000) real RPMs with rpmbuild: a few
   specs with thousands of empty subpackages each, laid out as Copr build directories.
2. rpmyard's first publish of it: every package signed with the project's key, indexed, written.
3. Publishing one new package, alternately with rpmyard (signing included) and with
   ``createrepo_c --update`` (what Copr runs; with and without its sqlite databases) on the same
   repository in the same run, ``--runs`` times each; medians reported.
4. 100 builds finishing at once into that repository, through rpmyard's Publisher (the thread
   pool the service runs): total time until every build is in the repodata, and how many
   metadata generations it wrote.

    .venv/bin/python -m benchmarks.publish_scale [--packages 20000] [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rpmyard.publish.engine import publish_chroot
from rpmyard.publish.repodata import Publisher
from rpmyard.publish.signing import Keyring
from tests.support.repos import add_build, build_rpms, repodata_locations

CHROOT = "fedora-43-x86_64"
PER_SPEC = 2000


def make_repo(chroot: Path, rpm_dir: Path, packages: int) -> int:
    """Build ``packages`` RPMs (+1 per spec for the main package) into build dirs; returns the count."""
    specs = max(1, -(-packages // PER_SPEC))

    def one(i: int) -> list[Path]:
        return build_rpms(rpm_dir / f"big{i:02d}", f"big{i:02d}", subpackages=min(PER_SPEC, packages - i * PER_SPEC),
                          files=False)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        built = list(pool.map(one, range(specs)))
    for i, rpms in enumerate(built):
        add_build(chroot, i + 1, f"big{i:02d}", rpms)
    return sum(len(r) for r in built)


def createrepo(chroot: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["createrepo_c", "--update", "--quiet", "--excludes=*.src.rpm", *extra, str(chroot)],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--burst", type=int, default=100, help="builds finishing at once")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rpmyard-bench-publish-"))
    try:
        run(work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> None:
    chroot = work / "results" / "bench" / "big" / CHROOT
    chroot.mkdir(parents=True, exist_ok=True)
    keyring = Keyring(work / "keys", "bench.example")
    key_for = keyring.key_for_chroot
    try:
        t0 = time.perf_counter()
        total = make_repo(chroot, work / "rpms", args.packages)
        built = time.perf_counter() - t0
        print(f"test repository: {total} packages in {len(list(chroot.iterdir()))} build dirs, "
              f"built with rpmbuild in {built:.1f} s")

        t0 = time.perf_counter()
        first = publish_chroot(chroot, key_for)
        print(f"rpmyard first publish (sign every package, index, write): {time.perf_counter() - t0:.1f} s, "
              f"{first.packages} packages")

        t0 = time.perf_counter()
        createrepo(chroot)
        print(f"createrepo_c --update on it, nothing new (reads rpmyard's repodata): {time.perf_counter() - t0:.2f} s")
        publish_chroot(chroot, key_for)  # take the repository back

        singles = [build_rpms(work / "single" / f"s{i}", f"single{i:03d}") for i in range(3 * args.runs + 1)]
        ours: list[float] = []
        theirs: list[float] = []
        theirs_nodb: list[float] = []
        build_id = 1000
        for _ in range(args.runs):
            for label, times in (("rpmyard", ours), ("createrepo", theirs), ("createrepo-nodb", theirs_nodb)):
                build_id += 1
                add_build(chroot, build_id, "single", singles[build_id - 1001])
                if label == "rpmyard":
                    t0 = time.perf_counter()
                    result = publish_chroot(chroot, key_for, hints=[f"{build_id:08d}-single"])
                    times.append(time.perf_counter() - t0)
                    assert result.wrote and result.added == 1, result
                else:
                    times.append(createrepo(chroot, *(["--no-database"] if label.endswith("nodb") else [])))
                    publish_chroot(chroot, key_for)  # untimed: sign and take in what createrepo_c added
        publish_chroot(chroot, key_for)
        count = len(repodata_locations(chroot))
        ours_m, theirs_m, nodb_m = statistics.median(ours), statistics.median(theirs), statistics.median(theirs_nodb)
        print(f"\npublish one new package into {count} packages (median of {args.runs}):")
        print(f"  rpmyard (incl. signing it, signed repomd.xml): {ours_m * 1000:8.1f} ms  "
              f"(min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f})")
        print(f"  createrepo_c --update:                         {theirs_m * 1000:8.1f} ms  "
              f"(min {min(theirs) * 1000:.1f}, max {max(theirs) * 1000:.1f})   {theirs_m / ours_m:5.1f}x slower")
        print(f"  createrepo_c --update --no-database:           {nodb_m * 1000:8.1f} ms  "
              f"(min {min(theirs_nodb) * 1000:.1f}, max {max(theirs_nodb) * 1000:.1f})   "
              f"{nodb_m / ours_m:5.1f}x slower")
        print("  target: rpmyard under 1 s and at least 10x faster than createrepo_c --update")

        burst(chroot, work, key_for, args.burst)
    finally:
        keyring.close()


def burst(chroot: Path, work: Path, key_for: object, n: int) -> None:
    """``n`` builds finish at once: n result dirs appear and n requests reach the Publisher together."""
    rpms = [build_rpms(work / "burst" / f"b{i}", f"burst{i:03d}") for i in range(n)]
    done: dict[Hashable, str | None] = {}
    all_done = threading.Event()

    def on_done(_chroot: Path, tokens: list[Hashable], error: str | None) -> None:
        for t in tokens:
            done[t] = error
        if len(done) == n:
            all_done.set()

    before = len(repodata_locations(chroot))
    publisher = Publisher(on_done, key_for=key_for)  # type: ignore[arg-type]
    publisher.start()
    try:
        names = [add_build(chroot, 5000 + i, f"burst{i:03d}", rpms[i], ready=False) for i in range(n)]
        t0 = time.perf_counter()
        for i, d in enumerate(names):  # the importer's last step for each finished build
            (d / "success").touch()
            publisher.request(chroot, i, build_dir=d.name)
        all_done.wait(timeout=3600)
        elapsed = time.perf_counter() - t0
        rewrites = publisher.runs
    finally:
        publisher.stop()
    errors = [e for e in done.values() if e]
    after = len(repodata_locations(chroot))
    assert not errors and after == before + n, (errors[:3], before, after)
    print(f"\n{n} builds finishing at once into {before} packages: all in repodata after {elapsed:.2f} s, "
          f"{rewrites} metadata rewrite{'s' if rewrites != 1 else ''} (each new package signed)")

    extra = [add_build(chroot, 6000 + i, f"burst{i:03d}", rpms[i]) for i in range(n)]
    t = createrepo(chroot)
    print(f"  reference: one createrepo_c --update taking {len(extra)} new packages at once: {t:.2f} s "
          f"(unsigned; Copr runs one per build)")


if __name__ == "__main__":
    main()
