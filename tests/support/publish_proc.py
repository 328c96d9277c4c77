"""A publisher in a process of its own, for tests that kill it or race two of them.

    python -m tests.support.publish_proc CHROOT [--keys DIR] [--add-builds FIRST:COUNT:RPM]

Prints ``ready`` once imported (so a test can time its kill from there), then, for each build of
``--add-builds`` (or once, without it), adds the build directory and publishes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rpmyard.publish.engine import publish_chroot
from rpmyard.publish.signing import Keyring


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("chroot", type=Path)
    ap.add_argument("--keys", type=Path)
    ap.add_argument("--add-builds", help="FIRST:COUNT:RPM: add builds FIRST.. each holding RPM, publishing after each")
    args = ap.parse_args()
    keyring = Keyring(args.keys, "rpmyard.test") if args.keys else None
    key_for = keyring.key_for_chroot if keyring else None
    print("ready", flush=True)
    if args.add_builds:
        first, count, rpm = args.add_builds.split(":", 2)
        for build_id in range(int(first), int(first) + int(count)):
            d = args.chroot / f"{build_id:08d}-racer"
            d.mkdir()
            shutil.copy2(rpm, d / Path(rpm).name)
            (d / "success").touch()
            publish_chroot(args.chroot, key_for, hints=[d.name])
    else:
        result = publish_chroot(args.chroot, key_for)
        print(f"done {result.revision} {result.packages}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
