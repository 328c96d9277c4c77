"""func's `jobs` module: the status, progress and output of this minion's jobs."""

from __future__ import annotations

from typing import Any

from func_amqp.minion import func_module
from func_amqp.minion.jobs import STORE


class JobsModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.1.0"
    description = "Status, progress and output of the jobs (async calls) this minion runs."
    _single = True

    def job_status(self, jobid: str) -> list[Any]:
        """[code, result]: 0 running, 1 finished, 2 unknown id, 4 remote error."""
        return STORE.status(str(jobid))

    def get_progress(self, jobid: str) -> list[int]:
        """[current, total] as the running method last reported it ([0, 0] before any report)."""
        job = STORE.get(str(jobid))
        return list(job.progress) if job is not None else [0, 0]

    def tail_output(self, minion_job_id: str, lines: int = 100) -> str:
        """The last `lines` lines the job's method wrote with `self.output`."""
        job = STORE.get(str(minion_job_id))
        if job is None:
            return ""
        return "\n".join(list(job.output)[-int(lines):])

    def list_jobs(self) -> dict[str, int]:
        """{job id: status code} of the jobs kept (finished ones for an hour)."""
        return STORE.ids()
