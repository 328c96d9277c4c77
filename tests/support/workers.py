"""Real `rpmyard worker` processes, as a builder host would run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT


class WorkerProcess:
    def __init__(self, name: str, broker: str, frontend: str, workdir: Path, *extra: str) -> None:
        self.name = name
        self.log_path = workdir / f"worker-{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPMYARD_")}  # no DB settings at all
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rpmyard.cli", "worker", "--broker", broker, "--frontend", frontend,
             "--name", name, "--workdir", str(workdir / name), "--heartbeat", "0.5", *extra],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True,
        )

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=20)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
