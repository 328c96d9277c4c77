"""The worker side of the ``rpm-build`` task: fetch the SRPM, check it, build it, upload the RPMs."""

from __future__ import annotations

from rpmyard.builder.rpmbuild import build_srpm
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
            ctx.log(f"[rpmyard] {line}\n".encode(), "backend")

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
