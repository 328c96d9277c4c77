"""The worker side of the ``rpm-build`` task: fetch the SRPM, check it, build it, upload the RPMs."""

from __future__ import annotations

import time
from typing import Any

from rpmyard.builder.rpmbuild import build_srpm
from rpmyard.builder.srpm import SrpmInfo
from rpmyard.builder.target import InvalidChroot, Target
from rpmyard.dispatch.kinds import Outcome, TaskContext

MAX_SRPM_BYTES = 4 * 1024**3


class RpmBuildRunner:
    kind = "rpm-build"
    version = "1"

    def __init__(self, memory_limit_mb: int | None = None) -> None:
        self.memory_limit_mb = memory_limit_mb or None

    def run(self, ctx: TaskContext) -> Outcome:
        p = ctx.payload

        def backend(line: str) -> None:
            ctx.log(f"[{stamp()}] {line}\n".encode(), "backend")

        backend(f"worker {ctx.worker}, task {ctx.task_id} attempt {ctx.attempt}: "
                f"building {p['pkg_name']} for {p['chroot']}")
        try:
            target = Target.parse(p["chroot"])
        except InvalidChroot as exc:
            return Outcome(1, str(exc))
        srpm_dir = ctx.workdir / "srpm"
        srpm_dir.mkdir()
        srpm = srpm_dir / p["srpm_url"].rsplit("/", 1)[-1]
        backend(f"downloading {p['srpm_url']}")
        try:
            ctx.download(p["srpm_url"], srpm, MAX_SRPM_BYTES)  # build_srpm inspects it before building
        except Exception as exc:
            return Outcome(1, f"cannot fetch the SRPM: {exc}")
        backend("building in the sandbox; see builder-live.log")
        result = build_srpm(
            srpm, target, ctx.workdir / "build",
            log=lambda data: ctx.log(data, "builder-live"),
            timeout=float(p.get("timeout") or 18000),
            cancel=ctx.cancel,
            enable_net=bool(p.get("enable_net")),
            memory_limit_mb=self.memory_limit_mb,
            hide_paths=ctx.hide_paths,
            checked=_checked(p),
        )
        if ctx.cancel.is_set():
            return Outcome(2, "canceled")
        if not result.success:
            backend(f"build failed: {result.reason}")
            return Outcome(1, result.reason)
        files = [*result.rpms, *([result.srpm] if result.srpm else [])]
        for path in files:
            backend(f"uploading {path.name}")
            ctx.upload(path, path.name)
        backend(f"uploaded {len(files)} files")
        return Outcome(0, "")


def _checked(payload: dict[str, Any]) -> tuple[str, SrpmInfo] | None:
    """What the frontend found when it inspected the SRPM, if the task says (tasks queued by an
    older frontend do not: the worker inspects the SRPM itself then)."""
    digest, info = payload.get("srpm_sha256"), payload.get("srpm_info")
    if not isinstance(digest, str) or not isinstance(info, dict):
        return None
    return digest, SrpmInfo.from_payload(info)


def stamp() -> str:
    """UTC wall-clock time with milliseconds, as backend.log lines start (where the time went)."""
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
