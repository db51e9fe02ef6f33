"""Jobs: cancel one, and say at once what failed, where, and where its log is."""

from __future__ import annotations

from pressluft_core.records import JobRecord
from pressluft_tui.context import in_worker
from pressluft_tui.controllers.base import Controller


class Jobs(Controller):
    def cancel_job(self, job: JobRecord) -> None:
        if job.status not in ("queued", "running"):
            self.ctx.notify(f"job {job.id[:8]} is {job.status}; only queued or running jobs "
                            "can be cancelled", severity="warning", markup=False)
            return
        self.confirm("Cancel this job?", [
            f"job {job.id[:8]} ({job.job_type}) is {job.status}",
            "a running job's remote process is stopped; nothing is rolled back",
            "an environment it was changing is marked failed"],
            lambda: self._cancel_job(job.id), danger=True)

    @in_worker("action")
    def _cancel_job(self, job_id: str) -> None:
        job = self.core.jobs.cancel(self.token, job_id)
        self.tell(f"job {job.id[:8]} cancelled")

    @in_worker("job-failures", exclusive=False)
    def report_failure(self, job_id: str) -> None:
        """Say what failed, where, and where the log is — as soon as it happens."""
        job = self.core.jobs.get(self.token, job_id)
        sentence = (job.error_message or "no details").split("\n--- last output ---")[0]
        self.ctx.call_from_thread(self.ctx.notify, f"{job.job_type} {job.id[:8]} failed "
                                  f"({job.error_code}): {sentence}\nThe log: Jobs (j), then l.",
                                  title="Job failed", severity="error", timeout=15,
                                  markup=False)
